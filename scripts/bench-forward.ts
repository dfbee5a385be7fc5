/**
 * Forwarding benchmark: client → pod through tapflow and through kernel routing in the same
 * topology (scripts/testbed.ts), side by side.
 *
 *   node dist/scripts/bench-forward.js [--only tapflow|kernel] [--tcp-seconds 10] [--udp-seconds 5]
 *                                      [--[no-]vnet-hdr] [--out results/bench-forward.json]
 *
 * Runs, per forwarder: iperf3 TCP (1 stream), iperf3 UDP with 64-byte and 1400-byte payloads
 * (-b 10G: offered load as high as the sender manages). For UDP it reports three rates: offered
 * (iperf3 sender), reached the pod's eth0 (what the forwarder delivered: RX counter delta) and
 * delivered to the iperf3 receiver (after the pod's socket; on 2 cores the receiving app is
 * often the bottleneck, so the eth0 rate is the one that measures the forwarder).
 * Prints progress lines, a table with both forwarders and the tapflow/kernel ratio, and writes
 * the JSON. Every step is bounded (iperf3 -t plus a hard timeout); a failing forwarder is
 * reported, not fatal. Needs root, iperf3, /dev/net/tun (tapflow half).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execIn, findRepoRoot, Forwarder, Testbed, waitFor } from './testbed';

interface TcpResult {
  gbps: number;
  retransmits: number | null;
  seconds: number;
}
interface UdpResult {
  payload: number;
  /** Frames that reached the pod's eth0 per second (forwarder throughput, before the receiving app's socket). */
  podRxPps: number | null;
  sentPps: number;
  deliveredPps: number;
  lossPercent: number;
  deliveredGbps: number;
  seconds: number;
}
interface ForwarderResult {
  forwarder: Forwarder;
  tcp?: TcpResult;
  udp64?: UdpResult;
  udp1400?: UdpResult;
  errors: string[];
  agentStats?: unknown;
}

interface BenchOptions {
  only?: Forwarder;
  tcpSeconds: number;
  udpSeconds: number;
  vnetHdr?: boolean;
  out: string;
}

const PORT = 5201;

function progress(line: string): void {
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function iperf(tb: Testbed, args: string[], seconds: number): Promise<Json> {
  const pod = tb.pods[0];
  const server = tb.spawn(pod.ns, ['iperf3', '-s', '-1', '-p', String(PORT), '--forceflush']);
  try {
    await waitFor(
      async () => {
        const r = await tb.exec(pod.ns, ['ss', '-Hltn', `sport = :${PORT}`], { timeoutMs: 3000 });
        return r.stdout.includes(`:${PORT}`);
      },
      { timeoutMs: 10000, intervalMs: 50, what: 'iperf3 server listening' },
    );
    const r = await tb.exec(tb.client.ns, ['iperf3', '-c', pod.ipv4, '-p', String(PORT), '-J', '--connect-timeout', '3000', '-t', String(seconds), ...args], {
      timeoutMs: (seconds + 20) * 1000,
    });
    let j: Json;
    try {
      j = JSON.parse(r.stdout) as Json;
    } catch {
      throw new Error(`iperf3 ${args.join(' ')}: no JSON (exit ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr.trim().slice(0, 300)}`);
    }
    if (j.error) throw new Error(`iperf3 ${args.join(' ')}: ${j.error}`);
    return j;
  } finally {
    server.kill('SIGKILL');
    await server.exited(2000);
  }
}

async function tcp(tb: Testbed, seconds: number): Promise<TcpResult> {
  const j = await iperf(tb, [], seconds);
  const recv = j.end?.sum_received;
  return {
    gbps: (recv?.bits_per_second ?? 0) / 1e9,
    retransmits: j.end?.sum_sent?.retransmits ?? null,
    seconds: recv?.seconds ?? seconds,
  };
}

/** RX packet counter of the pod's eth0 (null if unreadable). */
async function podRxPackets(tb: Testbed): Promise<number | null> {
  const r = await tb.exec(tb.pods[0].ns, ['ip', '-j', '-s', 'link', 'show', 'eth0']);
  try {
    const l = JSON.parse(r.stdout) as { stats64?: { rx?: { packets?: number } } }[];
    return l[0]?.stats64?.rx?.packets ?? null;
  } catch {
    return null;
  }
}

async function udp(tb: Testbed, payload: number, seconds: number): Promise<UdpResult> {
  const rx0 = await podRxPackets(tb);
  const t0 = Date.now();
  const j = await iperf(tb, ['-u', '-l', String(payload), '-b', '10G'], seconds);
  const rx1 = await podRxPackets(tb);
  const wall = (Date.now() - t0) / 1000;
  const s = j.end?.sum ?? {};
  const secs: number = s.seconds || seconds;
  const packets: number = s.packets ?? 0;
  const lost: number = Math.max(0, s.lost_packets ?? 0);
  const delivered = packets - lost;
  return {
    payload,
    // the counter also sees the few control packets; iperf3's data phase is `secs` of the wall time
    podRxPps: rx0 !== null && rx1 !== null ? (rx1 - rx0) / Math.min(wall, secs) : null,
    sentPps: packets / secs,
    deliveredPps: delivered / secs,
    lossPercent: packets ? (100 * lost) / packets : 100,
    deliveredGbps: (delivered * payload * 8) / secs / 1e9,
    seconds: secs,
  };
}

async function runForwarder(forwarder: Forwarder, o: BenchOptions): Promise<ForwarderResult> {
  const res: ForwarderResult = { forwarder, errors: [] };
  const tb = new Testbed({ forwarder, pods: 1, ipv6: false, vnetHdr: o.vnetHdr, log: progress });
  try {
    progress(`${forwarder}: bringing up the testbed`);
    await tb.up();
    await tb.waitReachable(tb.client.ns, tb.pods[0].ipv4, 15000);
    const steps: [string, () => Promise<void>][] = [
      [`TCP 1 stream, ${o.tcpSeconds} s`, async () => void (res.tcp = await tcp(tb, o.tcpSeconds))],
      [`UDP 64-byte payload, ${o.udpSeconds} s`, async () => void (res.udp64 = await udp(tb, 64, o.udpSeconds))],
      [`UDP 1400-byte payload, ${o.udpSeconds} s`, async () => void (res.udp1400 = await udp(tb, 1400, o.udpSeconds))],
    ];
    for (const [what, step] of steps) {
      progress(`${forwarder}: ${what} ...`);
      try {
        await step();
      } catch (e) {
        res.errors.push(`${what}: ${(e as Error).message}`);
        progress(`${forwarder}: ${what} FAILED: ${(e as Error).message}`);
        continue;
      }
      if (what.startsWith('TCP') && res.tcp) progress(`${forwarder}:   ${res.tcp.gbps.toFixed(2)} Gbit/s, ${res.tcp.retransmits ?? '?'} retransmits`);
      const u = what.includes('64-byte') ? res.udp64 : what.includes('1400') ? res.udp1400 : undefined;
      if (u)
        progress(
          `${forwarder}:   offered ${fmtPps(u.sentPps)}, reached pod eth0 ${u.podRxPps === null ? '?' : fmtPps(u.podRxPps)}, ` +
            `delivered to iperf3 ${fmtPps(u.deliveredPps)} (loss ${u.lossPercent.toFixed(1)}%)`,
        );
    }
    if (forwarder === 'tapflow') {
      try {
        res.agentStats = await tb.stats();
      } catch (e) {
        res.errors.push(`stats: ${(e as Error).message}`);
      }
    }
  } catch (e) {
    res.errors.push((e as Error).message);
    progress(`${forwarder}: FAILED: ${(e as Error).message.split('\n')[0]}`);
  } finally {
    await tb.down();
  }
  return res;
}

function fmtPps(pps: number): string {
  return pps >= 1e6 ? `${(pps / 1e6).toFixed(2)} Mpps` : `${(pps / 1e3).toFixed(1)} kpps`;
}

function table(results: ForwarderResult[]): string {
  const t = results.find((r) => r.forwarder === 'tapflow');
  const k = results.find((r) => r.forwarder === 'kernel');
  const rows: [string, (r?: ForwarderResult) => number | undefined, (v: number) => string][] = [
    ['TCP 1 stream (Gbit/s)', (r) => r?.tcp?.gbps, (v) => v.toFixed(2)],
    ['UDP 64 B offered (kpps)', (r) => r?.udp64 && r.udp64.sentPps / 1e3, (v) => v.toFixed(1)],
    ['UDP 64 B at pod eth0 (kpps)', (r) => (r?.udp64?.podRxPps != null ? r.udp64.podRxPps / 1e3 : undefined), (v) => v.toFixed(1)],
    ['UDP 64 B delivered (kpps)', (r) => r?.udp64 && r.udp64.deliveredPps / 1e3, (v) => v.toFixed(1)],
    ['UDP 64 B loss (%)', (r) => r?.udp64?.lossPercent, (v) => v.toFixed(1)],
    ['UDP 1400 B offered (kpps)', (r) => r?.udp1400 && r.udp1400.sentPps / 1e3, (v) => v.toFixed(1)],
    ['UDP 1400 B at pod eth0 (kpps)', (r) => (r?.udp1400?.podRxPps != null ? r.udp1400.podRxPps / 1e3 : undefined), (v) => v.toFixed(1)],
    ['UDP 1400 B delivered (kpps)', (r) => r?.udp1400 && r.udp1400.deliveredPps / 1e3, (v) => v.toFixed(1)],
    ['UDP 1400 B delivered (Gbit/s)', (r) => r?.udp1400?.deliveredGbps, (v) => v.toFixed(2)],
    ['UDP 1400 B loss (%)', (r) => r?.udp1400?.lossPercent, (v) => v.toFixed(1)],
  ];
  const lines = [['metric', 'tapflow', 'kernel', 'tapflow/kernel']];
  for (const [name, get, fmt] of rows) {
    const a = get(t);
    const b = get(k);
    const ratio = a !== undefined && b !== undefined && b > 0 && !name.includes('loss') && !name.includes('offered') ? (a / b).toFixed(2) : '';
    lines.push([name, a === undefined ? '-' : fmt(a), b === undefined ? '-' : fmt(b), ratio]);
  }
  const w = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  return lines.map((l) => l.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ')).join('\n');
}

function parseArgs(argv: string[]): BenchOptions | null {
  const o: BenchOptions = { tcpSeconds: 10, udpSeconds: 5, out: 'results/bench-forward.json' };
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
    } else if (a === '--tcp-seconds') o.tcpSeconds = num(60);
    else if (a === '--udp-seconds') o.udpSeconds = num(60);
    else if (a === '--vnet-hdr') o.vnetHdr = true;
    else if (a === '--no-vnet-hdr') o.vnetHdr = false;
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
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  if (!o) {
    process.stdout.write('usage: node dist/scripts/bench-forward.js [--only tapflow|kernel] [--tcp-seconds N] [--udp-seconds N] [--[no-]vnet-hdr] [--out FILE]\n');
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench-forward needs root (network namespaces)\n');
    return 1;
  }
  if ((await execIn(null, ['iperf3', '--version'])).code !== 0) {
    process.stderr.write('bench-forward needs iperf3\n');
    return 1;
  }
  const forwarders: Forwarder[] = o.only ? [o.only] : ['tapflow', 'kernel'];
  const results: ForwarderResult[] = [];
  const started = new Date().toISOString();
  for (const f of forwarders) results.push(await runForwarder(f, o));
  const out = {
    benchmark: 'bench-forward',
    started,
    finished: new Date().toISOString(),
    host: { cpus: (await import('node:os')).cpus().length, node: process.version },
    options: o,
    results,
    ratio: ratios(results),
  };
  const root = findRepoRoot();
  const file = path.resolve(root, o.out);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  process.stdout.write('\n' + table(results) + '\n\n');
  for (const r of results) for (const e of r.errors) process.stdout.write(`${r.forwarder} error: ${e.split('\n')[0]}\n`);
  process.stdout.write(`wrote ${file}\n`);
  return results.every((r) => r.errors.length === 0) ? 0 : 1;
}

function ratios(results: ForwarderResult[]): Record<string, number | null> {
  const t = results.find((r) => r.forwarder === 'tapflow');
  const k = results.find((r) => r.forwarder === 'kernel');
  const div = (a?: number, b?: number) => (a !== undefined && b ? a / b : null);
  return {
    tcpGbps: div(t?.tcp?.gbps, k?.tcp?.gbps),
    udp64DeliveredPps: div(t?.udp64?.deliveredPps, k?.udp64?.deliveredPps),
    udp64PodRxPps: div(t?.udp64?.podRxPps ?? undefined, k?.udp64?.podRxPps ?? undefined),
    udp1400PodRxPps: div(t?.udp1400?.podRxPps ?? undefined, k?.udp1400?.podRxPps ?? undefined),
    udp1400DeliveredPps: div(t?.udp1400?.deliveredPps, k?.udp1400?.deliveredPps),
  };
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
