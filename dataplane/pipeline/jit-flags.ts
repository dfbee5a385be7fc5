/**
 * V8 inlining budgets for the forwarding path.
 *
 * The per-packet path is many small functions (parse, lookup, rewrite, route, neighbor,
 * enqueue). With V8's default budgets (460 bytes of bytecode per inlinee, 920 cumulative
 * per optimized function) TurboFan stops inlining part-way through processFrame, and every
 * call left costs a frame setup. bench-stages (`--profile-cached`) measured the cached path
 * at 118 → 92 ns/packet with the budgets raised (same build, same run). The flags are
 * read when a function is optimized, so setting them at startup, before the first batch,
 * is enough; they are process-wide (worker threads included).
 */
import * as v8 from 'node:v8';

export const JIT_FLAGS = ['--max-inlined-bytecode-size=1000', '--max-inlined-bytecode-size-cumulative=4000'];

let applied = false;

/** Raise the inlining budgets once per process (idempotent). TAPFLOW_JIT_DEFAULTS=1 keeps V8's. */
export function applyJitFlags(): void {
  if (applied || process.env.TAPFLOW_JIT_DEFAULTS === '1') return;
  applied = true;
  for (const f of JIT_FLAGS) v8.setFlagsFromString(f);
}
