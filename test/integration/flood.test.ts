/**
 * Floods (root; skipped otherwise, and when the optional `raw-socket` package is missing): one
 * kubenet node whose agent runs with a small flow table (`--flow-capacity 4096`) and a
 * per-source new-flow limit (`--new-flows-per-source 1000`), Services in `--config`:
 *
 *  - web     ClusterIP 10.96.0.10:80  → both pods :8080 (HTTP, autocannon keep-alive, bounded)
 *  - ticker  ClusterIP 10.96.0.20:7000 → pod-2 :7000, a server that *pushes* a line every
 *            100 ms on each connection. The client reaches both through masquerade, so a
 *            ticker connection whose flow were evicted would break at its next push (the push
 *            would go to the node's own stack and be reset): the tickers surviving is the proof
 *            that eviction takes unestablished flows first.
 *
 * From the client namespace (test/integration/flood-sender.ts, raw-socket, bounded in count and
 * time): a SYN flood of ≥ 1M distinct flows to the web ClusterIP and a UDP flood of ≥ 1M
 * distinct flows to pod-1, each from 16 spoofed sources × 65535 ports; then one source alone
 * floods UDP, which the per-source limit cuts (drop reason flow-rate-limited).
 *
 * Reported: sender rates, what tapflow received, the autocannon error rate, the flow table's
 * occupancy (Prometheus endpoint), the agent's peak RSS (VmHWM) — bounded, not growing with the
 * flood — and the counters balanced.
 */
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findRepoRoot, SpawnedProcess, Testbed } from '../../scripts/testbed';
import { FORWARDER, pingOk, skipReason, statsInvariantProblem, testbedFor, waitFor } from './helpers';
import type { FloodConfig, FloodResult } from './flood-sender';
import { memoryOf } from './proc-stats';

const repo = findRepoRoot(__dirname);
const FLOW_CAPACITY = 4096;
const PER_SOURCE = 1000;
const WEB_VIP = '10.96.0.10';
const TICKER_VIP = '10.96.0.20';
const NODE_IP = '10.0.0.4';
const TICKERS = 8;
const FLOOD_FLOWS = 1_048_560; // 16 sources × 65535 ports
const FLOOD_MAX_MS = 15_000;
const LOAD_SECONDS = 45;

function rawSocketMissing(): string | false {
  try {
    require(path.join(repo, 'node_modules', 'raw-socket'));
    return false;
  } catch (e) {
    return `the optional raw-socket package is not available: ${(e as Error).message.split('\n')[0]}`;
  }
}

const reason = FORWARDER !== 'tapflow' ? 'needs the tapflow forwarder' : skipReason(['ip', 'ping', 'curl', 'timeout']) || rawSocketMissing();

/** Pushes "<n>\n" every 100 ms on every connection: argv = [port]. */
const TICKER_SERVER = `
const net = require('node:net');
const srv = net.createServer((s) => {
  let n = 0;
  const t = setInterval(() => s.write((n++) + '\\n'), 100);
  s.on('error', () => clearInterval(t));
  s.on('close', () => clearInterval(t));
});
srv.listen(Number(process.argv[1]), () => console.log('listening'));
`;

/** Counts UDP datagrams per source address on a port, prints {"counts": {...}} every 250 ms: argv = [port]. */
const UDP_COUNTER = `
const dgram = require('node:dgram');
const counts = {};
const s = dgram.createSocket('udp4');
s.on('message', (m, r) => { counts[r.address] = (counts[r.address] || 0) + 1; });
s.bind(Number(process.argv[1]), () => console.log('listening'));
setInterval(() => console.log(JSON.stringify({ counts })), 250);
`;

/**
 * Opens `count` connections to host:port, counts the lines each receives, notes the longest
 * silence; after `ms` prints one JSON line [{lines, maxGapMs, ended, error}] and exits.
 */
const TICKER_CLIENT = `
const net = require('node:net');
const [host, port, count, ms] = process.argv.slice(1).map((x, i) => i === 0 ? x : Number(x));
const conns = [];
for (let i = 0; i < count; i++) {
  const c = { lines: 0, last: 0, maxGapMs: 0, ended: false, error: null };
  const s = net.connect(port, host);
  s.on('data', (d) => {
    const now = Date.now();
    if (c.last) c.maxGapMs = Math.max(c.maxGapMs, now - c.last);
    c.last = now;
    for (const b of d) if (b === 10) c.lines++;
  });
  s.on('connect', () => console.log(JSON.stringify({ event: 'connected', i })));
  s.on('error', (e) => { c.error = e.code || e.message; });
  s.on('close', () => { c.ended = true; });
  conns.push(c);
}
setTimeout(() => {
  const now = Date.now();
  for (const c of conns) if (c.last) c.maxGapMs = Math.max(c.maxGapMs, now - c.last);
  console.log(JSON.stringify(conns.map(({ last, ...c }) => c)));
  process.exit(0);
}, ms);
`;

function service(name: string, vip: string, port: number, targetPort: number): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { clusterIP: vip, selector: { app: name }, ports: [{ name: 'p', port, targetPort, protocol: 'TCP' }] } };
}
function slice(name: string, ips: string[], port: number): Record<string, unknown> {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `${name}-1`, namespace: 'default', labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4', endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true }, nodeName: 'node-1' })), ports: [{ name: 'p', port, protocol: 'TCP' }],
  };
}

if (reason) {
  t.plan(0, reason);
} else {
  t.test(`SYN + UDP floods of ≥ 1M flows into a ${FLOW_CAPACITY}-flow table: bounded memory, established connections kept, a lone flooder cut`, async (t) => {
    const cfgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-flood-'));
    t.teardown(() => fs.rmSync(cfgDir, { recursive: true, force: true }));
    fs.writeFileSync(path.join(cfgDir, 'services.json'), JSON.stringify({
      apiVersion: 'v1', kind: 'List',
      items: [service('web', WEB_VIP, 80, 8080), slice('web', ['10.244.0.2', '10.244.0.3'], 8080), service('ticker', TICKER_VIP, 7000, 7000), slice('ticker', ['10.244.0.3'], 7000)],
    }));
    const metricsPort = 19100 + (process.pid % 500);
    const tb: Testbed = await testbedFor(t, {
      pods: 2, mode: 'kubenet', nodes: 1, ipv6: false,
      agentArgs: ['--config', cfgDir, '--flow-capacity', String(FLOW_CAPACITY), '--new-flows-per-source', String(PER_SOURCE), '--metrics-listen', `127.0.0.1:${metricsPort}`],
      nodeConfigHook: (doc) => { doc.spec.defaultGateway = { ipv4: '10.0.0.1' }; },
    });
    const node = tb.node(1);
    const pid = node.ready!.pid;
    await tb.execOk(tb.client.ns, ['ip', 'route', 'add', '10.96.0.0/12', 'via', NODE_IP, 'dev', 'eth0']);
    await tb.startHttpServers(8080);
    const ticker = tb.spawn(tb.pods[1].ns, [process.execPath, '-e', TICKER_SERVER, '7000']);
    await ticker.waitFor(/listening/, 10000, 'stdout');
    const udpCounter = tb.spawn(tb.pods[0].ns, [process.execPath, '-e', UDP_COUNTER, '9']);
    await udpCounter.waitFor(/listening/, 10000, 'stdout');
    const udpCounts = (): Record<string, number> => {
      const l = udpCounter.stdout().trim().split('\n').filter((x) => x.startsWith('{"counts"')).pop();
      return l ? (JSON.parse(l) as { counts: Record<string, number> }).counts : {};
    };
    t.ok(await pingOk(tb, tb.client.ns, tb.pods[0].ipv4), 'client reaches pod-1');

    const flowEntries = async (): Promise<number> => {
      const r = await tb.exec(node.ns, ['curl', '-sS', '--max-time', '2', `http://127.0.0.1:${metricsPort}/metrics`], { timeoutMs: 5000 });
      const m = /^tapflow_flow_table_entries (\d+)/m.exec(r.stdout);
      return m ? Number(m[1]) : -1;
    };
    const mem0 = memoryOf(pid)!;
    t.comment(`agent pid ${pid}: VmRSS ${mem0.rssMiB} MiB, VmHWM ${mem0.hwmMiB} MiB after start`);

    // ── the established traffic: tickers (server push) and autocannon, both through ClusterIPs ──
    const tickers: SpawnedProcess = tb.spawn(tb.client.ns, [process.execPath, '-e', TICKER_CLIENT, TICKER_VIP, '7000', String(TICKERS), String((LOAD_SECONDS + 3) * 1000)]);
    await waitFor(() => tickers.stdout().split('\n').filter((l) => l.includes('"connected"')).length >= TICKERS, { timeoutMs: 10000, what: 'the ticker connections' });
    const autocannon = path.join(repo, 'node_modules', 'autocannon', 'autocannon.js');
    const load = tb.exec(tb.client.ns, [process.execPath, autocannon, '-c', '10', '-d', String(LOAD_SECONDS), '-t', '10', '-j', `http://${WEB_VIP}/`], { timeoutMs: (LOAD_SECONDS + 30) * 1000 });

    // Sample memory and flow-table occupancy while it runs (bounded by the load's duration).
    let sampling = true, maxEntries = 0, maxHwm = mem0.hwmMiB;
    const sampler = (async () => {
      const end = Date.now() + (LOAD_SECONDS + 5) * 1000;
      while (sampling && Date.now() < end) {
        const e = await flowEntries();
        maxEntries = Math.max(maxEntries, e);
        const m = memoryOf(pid);
        if (m) maxHwm = Math.max(maxHwm, m.hwmMiB);
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    await new Promise((r) => setTimeout(r, 2000));
    const before = await tb.stats();

    const sender = path.join(repo, 'dist', 'test', 'integration', 'flood-sender.js');
    const flood = async (cfg: Omit<FloodConfig, 'repo'>): Promise<FloodResult> => {
      const r = await tb.exec(tb.client.ns, [process.execPath, sender, JSON.stringify({ repo, ...cfg })], { timeoutMs: cfg.maxMs + 20000 });
      if (r.code !== 0) throw new Error(`flood sender: exit ${r.code}: ${r.stderr.trim().slice(-400)}`);
      return JSON.parse(r.stdout.trim().split('\n').pop()!) as FloodResult;
    };
    const sources = (third: number, from: number, n: number) => Array.from({ length: n }, (_, i) => `10.0.${third}.${from + i}`);
    const upRx = async () => (await tb.stats()).ports.find((p) => p.name === 'uplink')!.rxPackets;

    let rx0 = await upRx();
    const syn = await flood({ kind: 'syn', sources: sources(1, 1, 16), dst: WEB_VIP, dport: 80, count: FLOOD_FLOWS, maxMs: FLOOD_MAX_MS });
    const synRx = (await upRx()) - rx0;
    t.comment(`SYN flood: ${syn.sent} packets = ${syn.flows} distinct flows in ${syn.ms} ms (${syn.pps} pps); tapflow's uplink received ${synRx}`);
    rx0 = await upRx();
    const udp = await flood({ kind: 'udp', sources: sources(1, 17, 16), dst: tb.pods[0].ipv4, dport: 9, count: FLOOD_FLOWS, maxMs: FLOOD_MAX_MS });
    const udpRx = (await upRx()) - rx0;
    t.comment(`UDP flood: ${udp.sent} packets = ${udp.flows} distinct flows in ${udp.ms} ms (${udp.pps} pps); tapflow's uplink received ${udpRx}`);
    t.ok(syn.flows >= 1_000_000 || syn.ms >= FLOOD_MAX_MS, `SYN flood: ${syn.flows} distinct flows (≥ 1M unless the ${FLOOD_MAX_MS} ms bound hit first)`);
    t.ok(udp.flows >= 1_000_000 || udp.ms >= FLOOD_MAX_MS, `UDP flood: ${udp.flows} distinct flows`);
    const mid = await tb.stats();
    await new Promise((r) => setTimeout(r, 400));
    const fromUdpFlood = Object.entries(udpCounts()).filter(([a]) => /^10\.0\.1\./.test(a)).reduce((n, [, c]) => n + c, 0);
    t.ok(fromUdpFlood > 4 * FLOW_CAPACITY, `${fromUdpFlood} distinct UDP flood flows were admitted and reached pod-1: the ${FLOW_CAPACITY}-flow table evicted at least ${fromUdpFlood - FLOW_CAPACITY} flows meanwhile`);
    if (mid.flows && before.flows) t.comment(`flow table: ${mid.flows.entries}/${mid.flows.capacity} entries, ${mid.flows.evicted - before.flows.evicted} evicted during the two floods`);

    // One source alone: the per-source limit cuts it.
    rx0 = await upRx();
    // 60000 distinct flows (one address × 60000 ports: no flow repeats, so every packet needs a token).
    const lone = await flood({ kind: 'udp', sources: ['10.0.2.1'], dst: tb.pods[0].ipv4, dport: 9, count: 60_000, maxMs: 5000 });
    await new Promise((r) => setTimeout(r, 300)); // the last frames read
    const afterLone = await tb.stats();
    const loneRx = afterLone.ports.find((p) => p.name === 'uplink')!.rxPackets - rx0;
    const limited = (s: typeof before) => s.ports.find((p) => p.name === 'uplink')!.drops['flow-rate-limited'] ?? 0;
    const cut = limited(afterLone) - limited(mid);
    // What reached pod-1 from the lone source (its UDP counter, read after its next report).
    await new Promise((r) => setTimeout(r, 400));
    const reached = udpCounts()['10.0.2.1'] ?? 0;
    const allowed = PER_SOURCE * (lone.ms / 1000 + 0.5) + PER_SOURCE; // rate × (duration + slack) + burst
    t.comment(`lone flooder: ${lone.sent} new flows sent in ${lone.ms} ms (${lone.pps} pps); the uplink read ${loneRx} frames in that time (HTTP included), ${cut} cut as flow-rate-limited, ${reached} reached pod-1`);
    t.ok(cut > 0, `the per-source limit cut the lone flooder: ${cut} of its new flows dropped as flow-rate-limited`);
    t.ok(reached <= allowed, `pod-1 got ${reached} of its datagrams: no more than ${PER_SOURCE}/s × ${(lone.ms / 1000).toFixed(1)} s + the burst (${Math.round(allowed)})`);
    t.ok(cut + reached >= lone.sent * 0.9, `cut + delivered account for the flood (${cut} + ${reached} of ${lone.sent} sent; the rest lost before tapflow's queue)`);

    // ── the established traffic went on ──
    const lr = await load;
    sampling = false;
    await sampler;
    const lines = await waitFor(() => tickers.stdout().split('\n').find((l) => l.startsWith('[')), { timeoutMs: (LOAD_SECONDS + 10) * 1000, what: 'the ticker summary' });
    const conns = JSON.parse(lines) as { lines: number; maxGapMs: number; ended: boolean; error: string | null }[];
    const alive = conns.filter((c) => !c.ended && c.error === null);
    t.equal(alive.length, TICKERS, `all ${TICKERS} server-push connections through the ticker ClusterIP survived (their flows were never evicted): ${JSON.stringify(conns)}`);
    t.ok(conns.every((c) => c.lines >= (LOAD_SECONDS * 10) / 2), `each received its pushes all along (min ${Math.min(...conns.map((c) => c.lines))} lines, longest silence ${Math.max(...conns.map((c) => c.maxGapMs))} ms)`);

    t.equal(lr.code, 0, `autocannon ran${lr.code !== 0 ? `: ${lr.stderr.trim().slice(-300)}` : ''}`);
    const j = JSON.parse(lr.stdout) as { errors: number; timeouts: number; non2xx: number; '2xx': number; requests: { average: number; total?: number }; latency: { p50: number; p99: number; max: number } };
    const total = j['2xx'] + j.non2xx + j.errors + j.timeouts;
    const errorRate = total > 0 ? (j.errors + j.timeouts + j.non2xx) / total : 1;
    t.comment(`autocannon through the web ClusterIP during the floods: ${j['2xx']} ok, ${j.errors} errors, ${j.timeouts} timeouts, ${j.non2xx} non-2xx → error rate ${(errorRate * 100).toFixed(3)} %; ${Math.round(j.requests.average)} req/s, p50 ${j.latency.p50} ms, p99 ${j.latency.p99} ms, max ${j.latency.max} ms`);
    t.equal(j.errors, 0, 'no connection errors on the established keep-alive connections');
    t.ok(errorRate < 0.01, `error rate ${(errorRate * 100).toFixed(3)} % (< 1 %)`);

    // ── bounded: table, memory, counters ──
    const after = await tb.stats();
    t.ok(maxEntries > 0 && maxEntries <= FLOW_CAPACITY, `the flow table held at most ${maxEntries} flows (capacity ${FLOW_CAPACITY})`);
    const mem = memoryOf(pid)!;
    maxHwm = Math.max(maxHwm, mem.hwmMiB);
    t.comment(`agent memory: VmHWM ${maxHwm} MiB peak (VmRSS ${mem.rssMiB} MiB now; ${mem0.hwmMiB} MiB before the floods)`);
    t.ok(maxHwm - mem0.hwmMiB < 64, `peak RSS grew by ${(maxHwm - mem0.hwmMiB).toFixed(1)} MiB over ${syn.sent + udp.sent + lone.sent} flood packets (< 64 MiB: nothing grows per flow)`);
    t.equal(statsInvariantProblem(after), null, 'received = forwarded + delivered + dropped + pending');
    const drops: Record<string, number> = {};
    for (const p of after.ports) for (const [k, v] of Object.entries(p.drops)) drops[k] = (drops[k] ?? 0) + v - (before.ports.find((x) => x.name === p.name)!.drops[k] ?? 0);
    t.ok((drops['flow-rate-limited'] ?? 0) > 0, `drops during the floods: ${JSON.stringify(drops)}`);
    t.ok(await pingOk(tb, tb.client.ns, tb.pods[1].ipv4), 'the node still forwards afterwards');
  });
}
