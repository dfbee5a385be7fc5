/**
 * The `tapflow` command: one executable, subcommands. Exit codes as kubectl: 0 ok,
 * 1 error (with a message naming the field or the failing step), 2 usage.
 */
import { parseArgs } from 'node:util';
import { TapflowError, ValidationError } from '../model/errors';

const USAGE = `tapflow — userspace data plane for Kubernetes-style node networking on TAP devices

Usage: tapflow <command> [options]

Commands:
  run       run the node agent: open the TAPs of a NodeConfig and forward
  demo      bring up a demo node in network namespaces (3 pods serving HTTP)
  stats     print a running agent's counters
  trace     what tapflow does with a packet, offline (-f) or through a running agent (--node)
  flows     a running agent's connection table (through the controller)
  serve     run the controller (desired state store + gRPC API for the CLI and the agents)
  apply     apply manifests to the controller (-f FILE|DIR|-), all or nothing
  get       print objects of the desired state, or the agents (tapflow get agents)
  delete    delete objects from the desired state
  version   print the client and controller versions

Run 'tapflow <command> --help' for a command's options.
`;

const STATS_USAGE = `Usage: tapflow stats --admin-socket PATH [-o json|table]

Prints a running agent's counters: per port rx/tx and drops by reason, and the totals
(received = forwarded + delivered + dropped + pending).
`;

/**
 * A long-running child (agent, controller) started by the demo or a test testbed carries
 * TAPFLOW_PARENT_PID: when that parent is gone (SIGKILLed, so it could not stop us), exit
 * through the normal SIGTERM path instead of running on as an orphan.
 */
function exitWithParent(): void {
  const want = Number(process.env.TAPFLOW_PARENT_PID);
  if (!Number.isInteger(want) || want <= 1) return;
  const t = setInterval(() => {
    if (process.ppid !== want) { clearInterval(t); process.kill(process.pid, 'SIGTERM'); }
  }, 1000);
  t.unref();
}

export async function main(argv: string[]): Promise<void> {
  exitWithParent();
  const cmd = argv[0];
  const rest = argv.slice(1);
  let code: number;
  try {
    switch (cmd) {
      case 'run': code = await (await import('./run')).runCommand(rest); break;
      case 'demo': {
        const { demoCommand } = await import('./demo');
        code = await demoCommand(rest);
        break;
      }
      case 'stats': code = await statsCommand(rest); break;
      case 'trace': code = await (await import('./trace')).traceCommand(rest); break;
      case 'flows': code = await (await import('./flows')).flowsCommand(rest); break;
      case 'serve': code = await (await import('./serve')).serveCommand(rest); break;
      case 'apply': code = await (await import('./apply')).applyCommand(rest); break;
      case 'get': code = await (await import('./get')).getCommand(rest); break;
      case 'delete': code = await (await import('./delete')).deleteCommand(rest); break;
      case 'version': code = await (await import('./version')).versionCommand(rest); break;
      case '--version':
        process.stdout.write(`tapflow ${version()}\n`); code = 0; break;
      case undefined: case 'help': case '--help': case '-h':
        process.stdout.write(USAGE); code = cmd === undefined ? 2 : 0; break;
      default:
        process.stderr.write(`error: unknown command "${cmd}"\n\n${USAGE}`); code = 2;
    }
  } catch (err) {
    process.stderr.write(formatError(err) + '\n');
    code = err instanceof UsageError ? 2 : 1;
  }
  process.exitCode = code;
}

export class UsageError extends Error {}

type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

export function parse(args: string[], options: OptionSpec, usage: string): { values: Record<string, string | boolean | undefined> } {
  try {
    const r = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: false, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined> };
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${usage}`);
  }
}

export function formatError(err: unknown): string {
  if (err instanceof ValidationError) {
    return `error: ${err.message}\n` + err.issues.map((i) => `  ${i.path}: ${i.message}`).join('\n');
  }
  if (err instanceof TapflowError) return `error: ${err.code}: ${err.message}`;
  if (err instanceof UsageError) return `error: ${err.message}`;
  const e = err as NodeJS.ErrnoException;
  return `error: ${e && e.code ? e.code + ': ' : ''}${e && e.message ? e.message : String(err)}`;
}

function version(): string {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return (require('../../../package.json') as { version: string }).version;
}

async function statsCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { 'admin-socket': { type: 'string' }, output: { type: 'string', short: 'o' } }, STATS_USAGE);
  if (values.help) { process.stdout.write(STATS_USAGE); return 0; }
  const sock = values['admin-socket'] as string | undefined;
  if (!sock) throw new UsageError(`--admin-socket is required\n\n${STATS_USAGE}`);
  const { adminGet } = await import('../../dataplane/agent/admin-server');
  const s = await adminGet(sock, '/stats') as import('../../dataplane/agent/stats').StatsSnapshot;
  const out = (values.output as string | undefined) ?? 'json';
  if (out === 'json') { process.stdout.write(JSON.stringify(s, null, 2) + '\n'); return 0; }
  if (out !== 'table') throw new UsageError(`-o must be json or table, got "${out}"`);
  const rows = [['PORT', 'TAP', 'ROLE', 'RX', 'TX', 'TX-ERR', 'DROPS']];
  for (const p of s.ports) {
    rows.push([p.name, p.tap, p.role, String(p.rxPackets), String(p.txPackets), String(p.txErrors),
      Object.entries(p.drops).map(([k, v]) => `${k}=${v}`).join(',') || '-']);
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(w[i])).join('  ').trimEnd() + '\n');
  const t = s.totals;
  process.stdout.write(`\nreceived ${t.received} = forwarded ${t.forwarded} + delivered ${t.delivered} + dropped ${t.dropped} + pending ${t.pending}` +
    ` (${t.balanced ? 'balanced' : 'UNBALANCED'}); generated ${t.generated}\n`);
  return 0;
}
