/**
 * The long fuzz run (issue #7): the whole forwarder with Services + NetworkPolicies + an NSG
 * loaded, fed ≥ 10M hostile frames (test/support/fuzz-world.ts: the plain fuzz's seeds, service
 * VIP / NodePort / LB traffic and replies, every TCP flag combination, ICMP errors with
 * truncated inner headers, IPv6 extension chains, vnet headers lying about GSO), then the
 * parser fuzz (dataplane/wire/frame-parser.fuzz.test.ts) for as many frames.
 *
 *   npm run build && node dist/scripts/fuzz-long.js [--frames 10000000] [--parser-frames 10000000]
 *                                                   [--seed N] [--time-budget SECONDS] [--json]
 *
 * Checks after every batch: received = forwarded + delivered + Σ dropped + pending, tables
 * within their bounds; at the end the totals over every world. Prints frames/s. A crasher (an
 * exception, a broken invariant) is saved as native-free-fixtures/crashers/seed-S-frame-N.json
 * (frame bytes, ports, vnet headers, seed) and replayed from then on by
 * dataplane/pipeline/crashers.test.ts. Exit status 1 when anything failed.
 * FUZZ_SEED in the environment is the default seed (else one from the clock, printed).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crashersDir, fuzzCorpus, runFuzz, saveCrasher } from '../test/support/fuzz-world';

interface Args {
  frames: number;
  parserFrames: number;
  seed: number;
  timeBudgetS: number | null;
  json: boolean;
}

const USAGE = `usage: node dist/scripts/fuzz-long.js [--frames N] [--parser-frames N] [--seed N] [--time-budget SECONDS] [--json]`;

function parseArgs(argv: string[]): Args {
  const a: Args = {
    frames: 10_000_000,
    parserFrames: 10_000_000,
    seed: process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0,
    timeBudgetS: null,
    json: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${k} needs a non-negative number\n${USAGE}`);
      return v;
    };
    if (k === '--frames') a.frames = Math.floor(num());
    else if (k === '--parser-frames') a.parserFrames = Math.floor(num());
    else if (k === '--seed') a.seed = num() >>> 0;
    else if (k === '--time-budget') a.timeBudgetS = num();
    else if (k === '--json') a.json = true;
    else if (k === '-h' || k === '--help') { process.stdout.write(USAGE + '\n'); process.exit(0); }
    else throw new Error(`unknown argument ${k}\n${USAGE}`);
  }
  return a;
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

/** Run the parser fuzz test file as a child (its TAP output read for the verdict and its speed). */
function parserFuzz(frames: number, seed: number): { ok: boolean; frames: number; ms: number; output: string } {
  const file = path.join(__dirname, '..', 'dataplane', 'wire', 'frame-parser.fuzz.test.js');
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [file], {
    env: { ...process.env, FUZZ_ITERATIONS: String(frames), FUZZ_SEED: String(seed) },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: Math.max(600_000, frames / 50),
  });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const m = /# (\d+) frames in (\d+) ms/.exec(out);
  const ok = r.status === 0 && !/^\s*not ok/m.test(out);
  return { ok, frames: m ? Number(m[1]) : 0, ms: m ? Number(m[2]) : Date.now() - t0, output: out };
}

function main(): number {
  const a = parseArgs(process.argv.slice(2));
  const log = (s: string) => { if (!a.json) process.stdout.write(s + '\n'); };
  log(`tapflow fuzz-long: seed ${a.seed}, ${fmt(a.frames)} forwarder frames (services + NetworkPolicy + NSG), ${fmt(a.parserFrames)} parser frames`);
  log(`  reproduce: FUZZ_SEED=${a.seed} node dist/scripts/fuzz-long.js --frames ${a.frames}`);
  const corpus = fuzzCorpus();
  const saved: string[] = [];
  const r = runFuzz({
    frames: a.frames,
    seed: a.seed,
    corpus,
    ...(a.timeBudgetS !== null ? { timeBudgetMs: a.timeBudgetS * 1000 } : {}),
    onCrash: (c) => {
      const file = saveCrasher(c);
      saved.push(file);
      log(`  CRASHER at frame ${c.frameIndex}: ${c.error} → ${path.relative(process.cwd(), file)} (reproduces alone: ${c.reproducesAlone})`);
    },
    onProgress: (done, ms) => log(`  ${fmt(done)} frames, ${fmt(Math.round(done / (ms / 1000)))} frames/s`),
  });
  const fps = Math.round(r.received / (r.ms / 1000));
  const sum = r.forwarded + r.delivered + r.dropped + r.pending;
  const sumDrops = Object.values(r.drops).reduce((a, b) => a + b, 0);
  const balanced = r.balanced && r.received === sum && r.received === r.injected && sumDrops === r.dropped;
  log(`forwarder: ${fmt(r.received)} frames in ${(r.ms / 1000).toFixed(1)} s = ${fmt(fps)} frames/s over ${r.worlds} worlds (${r.generationSwaps} generation swaps), corpus ${corpus.length}`);
  log(`  received ${fmt(r.received)} = forwarded ${fmt(r.forwarded)} + delivered ${fmt(r.delivered)} + Σ dropped ${fmt(sumDrops)} (by reason; counter ${fmt(r.dropped)}) + pending ${fmt(r.pending)}: ${balanced ? 'balanced' : 'UNBALANCED'}`);
  log(`  flows inserted ${fmt(r.flowsInserted)}, evicted ${fmt(r.flowsEvicted)}; generated ${fmt(r.generated)} (${fmt(r.generatedDropped)} not sent)`);
  log(`  drops: ${Object.entries(r.drops).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k}=${fmt(v)}`).join(' ')}`);
  log(`  crashers: ${r.crashers.length}${saved.length ? ` (saved in ${path.relative(process.cwd(), crashersDir())})` : ''}`);

  let parser: ReturnType<typeof parserFuzz> | null = null;
  if (a.parserFrames > 0) {
    parser = parserFuzz(a.parserFrames, a.seed);
    log(`parser: ${fmt(parser.frames)} frames in ${(parser.ms / 1000).toFixed(1)} s = ${fmt(Math.round(parser.frames / (parser.ms / 1000)))} frames/s: ${parser.ok ? 'ok' : 'FAILED'}`);
    if (!parser.ok) {
      const report = path.join(crashersDir(), `parser-seed-${a.seed}.txt`);
      fs.mkdirSync(crashersDir(), { recursive: true });
      fs.writeFileSync(report, `FUZZ_SEED=${a.seed} FUZZ_ITERATIONS=${a.parserFrames} node dist/dataplane/wire/frame-parser.fuzz.test.js\n\n${parser.output}`);
      log(`  parser failure report: ${path.relative(process.cwd(), report)}\n${parser.output.split('\n').filter((l) => /not ok|# /.test(l)).slice(0, 20).join('\n')}`);
    }
  }
  const ok = balanced && r.crashers.length === 0 && (parser === null || parser.ok);
  const summary = {
    seed: a.seed, ok,
    forwarder: { frames: r.received, ms: r.ms, framesPerSecond: fps, balanced, forwarded: r.forwarded, delivered: r.delivered, dropped: r.dropped, pending: r.pending, worlds: r.worlds, crashers: r.crashers.length, drops: r.drops },
    parser: parser && { frames: parser.frames, ms: parser.ms, framesPerSecond: Math.round(parser.frames / (parser.ms / 1000)), ok: parser.ok },
  };
  if (a.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else log(ok ? 'OK' : 'FAILED');
  return ok ? 0 : 1;
}

if (require.main === module) {
  try {
    process.exitCode = main();
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exitCode = 2;
  }
}
