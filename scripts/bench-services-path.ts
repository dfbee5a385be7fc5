/**
 * Service path benchmark: HTTP through a ClusterIP, tapflow vs the kernel doing what kube-proxy
 * programs, in the same namespace topology (scripts/testbed.ts).
 *
 *   node dist/scripts/bench-services-path.js [--only tapflow|kernel] [--seconds 10]
 *                                            [--connections 50] [--pods 2] [--rounds 3]
 *                                            [--out results/bench-services-path.json]
 *
 * The client (VNet, 10.0.0.10) sends to VIP 10.96.0.100:80 through a route via the node IP; the
 * service's endpoints are the pods' scripts/pod-http-server.js on :8080. Off-cluster client →
 * ClusterIP, so both paths DNAT *and* masquerade, as kube-proxy does:
 *  - tapflow: `tapflow run --config DIR` with the Service and its EndpointSlice;
 *  - kernel: the kernel-forwarder testbed plus, in the node namespace, kube-proxy's iptables
 *    rules for that service: mark off-cluster sources for masquerade, DNAT to one endpoint
 *    chosen with `-m statistic --mode random` (kube-proxy's per-endpoint probabilities), and a
 *    MASQUERADE of marked packets in POSTROUTING.
 *
 * Two loads per forwarder, each bounded by --seconds (plus a hard timeout):
 *  - keep-alive: autocannon -c N -d S (HTTP/1.1 keep-alive): req/s, latency p50/p99;
 *  - new connections: N concurrent loops of connect → GET with Connection: close → read to
 *    the server's close, for S seconds (a small client of our own; autocannon's reconnect mode
 *    does not count the responses): connections/s, latency p50/p99 (connect to close).
 * Both testbeds are up at once and the loads alternate between them (round by round), so the
 * host's background load hits both alike; with --rounds N the median round is reported (every
 * round is in the JSON). Prints a table with the tapflow/kernel ratio and writes the JSON.
 * Caveat: on a small host the load generator, the servers and the forwarder share the cores;
 * the kernel path does its forwarding and NAT in softirq context charged to the sending
 * process, tapflow in its own process. Needs root.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findRepoRoot, Forwarder, Testbed, waitFor } from './testbed';

const VIP = '10.96.0.100';
const HTTP = 8080;
const CLUSTER_CIDR = '10.244.0.0/16';
const MASQ_MARK = '0x4000/0x4000';

interface LoadResult {
  /** Completed requests (keep-alive) or connections (new connections) per second. */
  perSecond: number;
  completed: number;
  errors: number;
  non2xx: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  seconds: number;
}

interface ForwarderResult {
  forwarder: Forwarder;
  /** The median round (by rate), with every round in `rounds`. */
  keepAlive?: LoadResult & { rounds: LoadResult[] };
  newConnections?: LoadResult & { rounds: LoadResult[] };
  errors: string[];
  agentStats?: unknown;
}

interface BenchOptions {
  only?: Forwarder;
  seconds: number;
  connections: number;
  pods: number;
  rounds: number;
  out: string;
}

function progress(line: string): void {
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/**
 * The new-connections client (node -e, run in the client namespace): argv = [host, port,
 * concurrency, seconds]. Prints one JSON line.
 */
const NEW_CONN_CLIENT = `
const net = require('node:net');
const [host, port, conc, secs] = process.argv.slice(1);
const req = Buffer.from('GET / HTTP/1.1\\r\\nHost: svc\\r\\nConnection: close\\r\\n\\r\\n');
const t0 = Date.now(), end = t0 + Number(secs) * 1000;
const lat = [];
let completed = 0, errors = 0, non2xx = 0, running = 0;
function finish() {
  if (--running > 0) return;
  const seconds = (Date.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const pct = (p) => lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : 0;
  console.log(JSON.stringify({ completed, errors, non2xx, seconds, perSecond: completed / seconds, latencyP50Ms: pct(0.5), latencyP99Ms: pct(0.99) }));
}
function one() {
  if (Date.now() >= end) return finish();
  const start = process.hrtime.bigint();
  let status = null, failed = false;
  const s = net.connect({ port: Number(port), host, noDelay: true });
  s.setTimeout(5000, () => s.destroy(new Error('timeout')));
  s.on('connect', () => s.write(req));
  s.on('data', (d) => { if (status === null) status = d.toString('latin1', 9, 12); });
  s.on('error', () => { failed = true; });
  s.on('close', () => {
    if (failed) errors++;
    else if (status === '200') { completed++; lat.push(Number(process.hrtime.bigint() - start) / 1e6); }
    else non2xx++;
    setImmediate(one);
  });
}
for (let i = 0; i < Number(conc); i++) { running++; one(); }
`;

async function keepAlive(tb: Testbed, o: BenchOptions): Promise<LoadResult> {
  const bin = path.join(tb.opts.repoRoot, 'node_modules', 'autocannon', 'autocannon.js');
  const r = await tb.exec(tb.client.ns, [process.execPath, bin, '-c', String(o.connections), '-d', String(o.seconds), '-t', '5', '-j', `http://${VIP}/`], {
    timeoutMs: (o.seconds + 30) * 1000,
  });
  let j: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    j = JSON.parse(r.stdout);
  } catch {
    throw new Error(`autocannon: no JSON (exit ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr.trim().slice(-300)}`);
  }
  const seconds = Number(j.duration) || o.seconds;
  return {
    perSecond: j['2xx'] / seconds,
    completed: j['2xx'],
    errors: j.errors + j.timeouts,
    non2xx: j.non2xx,
    latencyP50Ms: j.latency.p50,
    latencyP99Ms: j.latency.p99,
    seconds,
  };
}

async function newConnections(tb: Testbed, o: BenchOptions): Promise<LoadResult> {
  const r = await tb.exec(tb.client.ns, [process.execPath, '-e', NEW_CONN_CLIENT, VIP, '80', String(o.connections), String(o.seconds)], {
    timeoutMs: (o.seconds + 30) * 1000,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as LoadResult;
  } catch {
    throw new Error(`new-connections client: no JSON (exit ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr.trim().slice(-300)}`);
  }
}

/** kube-proxy's rules for one ClusterIP service (iptables mode, same semantics as nftables mode). */
async function installKubeProxyRules(tb: Testbed): Promise<void> {
  const ns = tb.node(1).ns;
  const ipt = (...args: string[]) => tb.execOk(ns, ['iptables', '-w', '5', '-t', 'nat', ...args]);
  await ipt('-N', 'KUBE-SVC-BENCH');
  await ipt('-A', 'PREROUTING', '-d', `${VIP}/32`, '-p', 'tcp', '--dport', '80', '-j', 'KUBE-SVC-BENCH');
  // off-cluster traffic to the ClusterIP is masqueraded (KUBE-MARK-MASQ … KUBE-POSTROUTING)
  await ipt('-A', 'KUBE-SVC-BENCH', '!', '-s', CLUSTER_CIDR, '-j', 'MARK', '--set-xmark', MASQ_MARK);
  const pods = tb.pods;
  for (let i = 0; i < pods.length; i++) {
    const left = pods.length - i;
    const pick = left > 1 ? ['-m', 'statistic', '--mode', 'random', '--probability', (1 / left).toFixed(5)] : [];
    await ipt('-A', 'KUBE-SVC-BENCH', '-p', 'tcp', ...pick, '-j', 'DNAT', '--to-destination', `${pods[i].ipv4}:${HTTP}`);
  }
  await ipt('-A', 'POSTROUTING', '-m', 'mark', '--mark', MASQ_MARK, '-j', 'MASQUERADE');
}

function writeTapflowConfig(dir: string, tb: Testbed): void {
  const objects = [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'bench', namespace: 'default' },
      spec: { type: 'ClusterIP', clusterIP: VIP, selector: { app: 'bench' }, ports: [{ name: 'http', port: 80, targetPort: HTTP, protocol: 'TCP' }] },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'bench-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'bench' } },
      addressType: 'IPv4',
      endpoints: tb.pods.map((p) => ({ addresses: [p.ipv4], nodeName: 'node-1', conditions: { ready: true } })),
      ports: [{ name: 'http', port: HTTP, protocol: 'TCP' }],
    },
  ];
  fs.writeFileSync(path.join(dir, 'bench.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 1));
}

interface Bed {
  forwarder: Forwarder;
  tb: Testbed;
  cfgDir: string;
  res: ForwarderResult;
  keepAlive: LoadResult[];
  newConnections: LoadResult[];
  /** Up and answering on the VIP. */
  up: boolean;
}

async function bringUp(forwarder: Forwarder, o: BenchOptions): Promise<Bed> {
  const cfgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-bench-services-'));
  const tb = new Testbed({ forwarder, pods: o.pods, ipv6: false, log: progress, agentArgs: forwarder === 'tapflow' ? ['--config', cfgDir] : [] });
  const bed: Bed = { forwarder, tb, cfgDir, res: { forwarder, errors: [] }, keepAlive: [], newConnections: [], up: false };
  // The pod addresses are known before up() (the address plan), so the agent starts with the service.
  writeTapflowConfig(cfgDir, tb);
  try {
    progress(`${forwarder}: bringing up the testbed (${o.pods} pods)`);
    await tb.up();
    if (forwarder === 'kernel') await installKubeProxyRules(tb);
    await tb.startHttpServers(HTTP);
    await tb.execOk(tb.client.ns, ['ip', 'route', 'add', '10.96.0.0/12', 'via', tb.node(1).ipv4, 'dev', 'eth0']);
    // Many short connections: a wide ephemeral range on the client (the server closes first, so
    // TIME_WAIT stays on the pods' side).
    await tb.execOk(tb.client.ns, ['sysctl', '-qw', 'net.ipv4.ip_local_port_range=1024 65000']);
    await waitFor(async () => (await tb.exec(tb.client.ns, ['curl', '-sS', '--max-time', '2', `http://${VIP}/`], { timeoutMs: 5000 })).code === 0, {
      timeoutMs: 15000,
      intervalMs: 100,
      what: `http://${VIP}/ answering`,
    });
    bed.up = true;
  } catch (e) {
    bed.res.errors.push((e as Error).message);
    progress(`${forwarder}: FAILED: ${(e as Error).message.split('\n')[0]}`);
  }
  return bed;
}

async function measure(bed: Bed, kind: 'keepAlive' | 'newConnections', o: BenchOptions, round: number): Promise<void> {
  const what = kind === 'keepAlive' ? `keep-alive, autocannon -c ${o.connections} -d ${o.seconds}` : `new connections, ${o.connections} concurrent, ${o.seconds} s`;
  progress(`${bed.forwarder}: round ${round + 1}: ${what} ...`);
  try {
    const l = kind === 'keepAlive' ? await keepAlive(bed.tb, o) : await newConnections(bed.tb, o);
    bed[kind].push(l);
    progress(`${bed.forwarder}:   ${l.perSecond.toFixed(0)}/s, p50 ${l.latencyP50Ms} ms, p99 ${l.latencyP99Ms} ms, ${l.errors} errors, ${l.non2xx} non-2xx`);
  } catch (e) {
    bed.res.errors.push(`round ${round + 1}: ${what}: ${(e as Error).message}`);
    progress(`${bed.forwarder}: ${what} FAILED: ${(e as Error).message}`);
  }
}

/** The round with the median rate (its latencies with it), plus every round. */
function median(rounds: LoadResult[]): (LoadResult & { rounds: LoadResult[] }) | undefined {
  if (rounds.length === 0) return undefined;
  const sorted = [...rounds].sort((a, b) => a.perSecond - b.perSecond);
  return { ...sorted[Math.floor((sorted.length - 1) / 2)], rounds };
}

async function tearDown(bed: Bed): Promise<void> {
  if (bed.forwarder === 'tapflow' && bed.up) {
    try {
      bed.res.agentStats = await bed.tb.stats();
    } catch (e) {
      bed.res.errors.push(`stats: ${(e as Error).message}`);
    }
  }
  await bed.tb.down();
  fs.rmSync(bed.cfgDir, { recursive: true, force: true });
  bed.res.keepAlive = median(bed.keepAlive);
  bed.res.newConnections = median(bed.newConnections);
}

function table(results: ForwarderResult[]): string {
  const t = results.find((r) => r.forwarder === 'tapflow');
  const k = results.find((r) => r.forwarder === 'kernel');
  const rows: [string, (r?: ForwarderResult) => number | undefined, (v: number) => string, boolean][] = [
    ['keep-alive req/s', (r) => r?.keepAlive?.perSecond, (v) => v.toFixed(0), true],
    ['keep-alive latency p50 (ms)', (r) => r?.keepAlive?.latencyP50Ms, (v) => v.toFixed(2), true],
    ['keep-alive latency p99 (ms)', (r) => r?.keepAlive?.latencyP99Ms, (v) => v.toFixed(2), true],
    ['keep-alive errors', (r) => r?.keepAlive && r.keepAlive.errors + r.keepAlive.non2xx, (v) => String(v), false],
    ['new connections/s', (r) => r?.newConnections?.perSecond, (v) => v.toFixed(0), true],
    ['new conn latency p50 (ms)', (r) => r?.newConnections?.latencyP50Ms, (v) => v.toFixed(2), true],
    ['new conn latency p99 (ms)', (r) => r?.newConnections?.latencyP99Ms, (v) => v.toFixed(2), true],
    ['new conn errors', (r) => r?.newConnections && r.newConnections.errors + r.newConnections.non2xx, (v) => String(v), false],
  ];
  const lines = [['metric', 'tapflow', 'kernel', 'tapflow/kernel']];
  for (const [name, get, fmt, ratio] of rows) {
    const a = get(t);
    const b = get(k);
    lines.push([name, a === undefined ? '-' : fmt(a), b === undefined ? '-' : fmt(b), ratio && a !== undefined && b !== undefined && b > 0 ? (a / b).toFixed(2) : '']);
  }
  const w = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  return lines.map((l) => l.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ')).join('\n');
}

function ratios(results: ForwarderResult[]): Record<string, number | null> {
  const t = results.find((r) => r.forwarder === 'tapflow');
  const k = results.find((r) => r.forwarder === 'kernel');
  const div = (a?: number, b?: number) => (a !== undefined && b ? a / b : null);
  return {
    keepAliveReqPerSecond: div(t?.keepAlive?.perSecond, k?.keepAlive?.perSecond),
    keepAliveP50: div(t?.keepAlive?.latencyP50Ms, k?.keepAlive?.latencyP50Ms),
    keepAliveP99: div(t?.keepAlive?.latencyP99Ms, k?.keepAlive?.latencyP99Ms),
    newConnectionsPerSecond: div(t?.newConnections?.perSecond, k?.newConnections?.perSecond),
    newConnectionsP50: div(t?.newConnections?.latencyP50Ms, k?.newConnections?.latencyP50Ms),
    newConnectionsP99: div(t?.newConnections?.latencyP99Ms, k?.newConnections?.latencyP99Ms),
  };
}

const USAGE = 'usage: node dist/scripts/bench-services-path.js [--only tapflow|kernel] [--seconds N] [--connections N] [--pods N] [--rounds N] [--out FILE]\n';

function parseArgs(argv: string[]): BenchOptions | null {
  const o: BenchOptions = { seconds: 10, connections: 50, pods: 2, rounds: 3, out: 'results/bench-services-path.json' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (max: number): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`${a}: 1..${max}`);
      return v;
    };
    if (a === '--only') {
      const f = argv[++i];
      if (f !== 'tapflow' && f !== 'kernel') throw new Error('--only tapflow|kernel');
      o.only = f;
    } else if (a === '--seconds') o.seconds = num(60);
    else if (a === '--connections') o.connections = num(500);
    else if (a === '--pods') o.pods = num(8);
    else if (a === '--rounds') o.rounds = num(10);
    else if (a === '--out') o.out = argv[++i] ?? o.out;
    else if (a === '-h' || a === '--help') return null;
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

export async function main(argv: string[]): Promise<number> {
  let o: BenchOptions | null;
  try {
    o = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!o) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench-services-path needs root (network namespaces)\n');
    return 1;
  }
  const forwarders: Forwarder[] = o.only ? [o.only] : ['tapflow', 'kernel'];
  const started = new Date().toISOString();
  // Both testbeds up at once and the loads interleaved (tapflow, kernel, tapflow, …), so a
  // change in the host's background load hits both sides alike; the median round is reported.
  const beds: Bed[] = [];
  try {
    for (const f of forwarders) beds.push(await bringUp(f, o));
    for (let round = 0; round < o.rounds; round++) {
      for (const kind of ['keepAlive', 'newConnections'] as const) {
        for (const bed of beds) if (bed.up) await measure(bed, kind, o, round);
      }
    }
  } finally {
    for (const bed of beds) await tearDown(bed);
  }
  const results = beds.map((b) => b.res);
  const out = {
    benchmark: 'bench-services-path',
    started,
    finished: new Date().toISOString(),
    host: { cpus: os.cpus().length, node: process.version },
    options: o,
    service: { vip: `${VIP}:80`, endpoints: o.pods, masquerade: 'off-cluster client → ClusterIP (both paths)' },
    results,
    ratio: ratios(results),
  };
  const file = path.resolve(findRepoRoot(), o.out);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  process.stdout.write('\n' + table(results) + '\n\n');
  for (const r of results) for (const e of r.errors) process.stdout.write(`${r.forwarder} error: ${e.split('\n')[0]}\n`);
  process.stdout.write(`wrote ${file}\n`);
  return results.every((r) => r.errors.length === 0) ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (c) => process.exit(c),
    (e: Error) => {
      process.stderr.write(`${e.stack ?? e.message}\n`);
      process.exit(1);
    },
  );
}
