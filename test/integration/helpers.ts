/**
 * Shared pieces of the netns integration tests: skip checks, a testbed bound to a tap test,
 * ping/curl/UDP helpers and a tiny pcap reader for "bytes on the wire" assertions.
 *
 * TAPFLOW_TEST_FORWARDER=kernel runs the same tests against kernel routing in the same
 * topology (useful to validate the tests themselves); default: tapflow.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ExecResult, findRepoRoot, Forwarder, PodInfo, Testbed, TestbedOptions, waitFor } from '../../scripts/testbed';

export { waitFor };

/** The forwarder under test (env TAPFLOW_TEST_FORWARDER=kernel|tapflow; default tapflow). */
export const FORWARDER: Forwarder = process.env.TAPFLOW_TEST_FORWARDER === 'kernel' ? 'kernel' : 'tapflow';

function haveCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/** Why these tests cannot run here, or false. */
export function skipReason(tools: string[] = ['ip', 'ping', 'curl', 'tcpdump', 'timeout', 'ss']): string | false {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, TAP devices)';
  if (!fs.existsSync('/dev/net/tun')) return 'needs /dev/net/tun';
  const missing = tools.filter((t) => !haveCommand(t));
  if (missing.length) return `missing tools: ${missing.join(', ')} (.ci/run installs them)`;
  if (FORWARDER === 'tapflow') {
    const root = findRepoRoot(__dirname);
    if (!fs.existsSync(path.join(root, 'dist', 'control', 'cli', 'main.js'))) return 'tapflow agent not built (dist/control/cli/main.js missing)';
  }
  return false;
}

/** Minimal structural type of a tap Test (avoids depending on tap's type exports). */
export interface TapLike {
  teardown(fn: () => unknown): void;
  comment(...args: unknown[]): void;
}

/** Bring a testbed up for this test file; t.teardown brings it down (also on failure). */
export async function testbedFor(t: TapLike, opts: TestbedOptions = {}): Promise<Testbed> {
  const tb = new Testbed({ forwarder: FORWARDER, ...opts, log: process.env.TAPFLOW_TEST_VERBOSE ? (l) => t.comment(l) : undefined });
  t.teardown(async () => {
    const logs = tb.agentLogs();
    await tb.down();
    if (process.env.TAPFLOW_TEST_VERBOSE && logs) t.comment(logs);
  });
  await tb.up();
  return tb;
}

export function isV6(addr: string): boolean {
  return addr.includes(':');
}

/** Addresses of a pod for the families the testbed has. */
export function podAddrs(pod: PodInfo): string[] {
  return pod.ipv6 ? [pod.ipv4, pod.ipv6] : [pod.ipv4];
}

export interface PingOptions {
  count?: number;
  ttl?: number;
  size?: number;
  /** -M do (IPv4: DF set, no local fragmentation). */
  dontFragment?: boolean;
  waitSec?: number;
}

export async function ping(tb: Testbed, ns: string, addr: string, o: PingOptions = {}): Promise<ExecResult> {
  const args = ['ping', '-n'];
  if (isV6(addr)) args.push('-6');
  args.push('-c', String(o.count ?? 1), '-W', String(o.waitSec ?? 2));
  if (o.count && o.count > 1) args.push('-i', '0.2');
  if (o.ttl !== undefined) args.push('-t', String(o.ttl));
  if (o.size !== undefined) args.push('-s', String(o.size));
  if (o.dontFragment) args.push('-M', 'do');
  args.push(addr);
  return tb.exec(ns, args, { timeoutMs: ((o.count ?? 1) * 0.2 + (o.waitSec ?? 2) + 5) * 1000 });
}

/** Ping until one reply (bounded): the first packet of a flow may be spent on ARP/NS. */
export async function pingOk(tb: Testbed, ns: string, addr: string, timeoutMs = 8000): Promise<boolean> {
  const t0 = Date.now();
  try {
    await tb.waitReachable(ns, addr, timeoutMs);
    return true;
  } catch {
    return false;
  } finally {
    slow(`ping ${addr} from ${ns}`, t0);
  }
}

/** Report (stderr) operations that took suspiciously long: a hint when chasing a flaky run. */
export function slow(what: string, t0: number, limitMs = 2000): void {
  const ms = Date.now() - t0;
  if (ms > limitMs) process.stderr.write(`# slow: ${what} took ${ms} ms\n`);
}

export function url(addr: string, port: number, p = '/'): string {
  return `http://${isV6(addr) ? `[${addr}]` : addr}:${port}${p}`;
}

export interface PodReply {
  pod: string;
  remote: string;
  remotePort: number;
  local: string;
  localPort: number;
}

/** curl a pod-http-server; returns its JSON answer (throws with curl's stderr otherwise). */
export async function curlJson(tb: Testbed, ns: string, addr: string, port = 8080, tries = 3): Promise<PodReply> {
  let last: ExecResult | undefined;
  const t0 = Date.now();
  for (let i = 0; i < tries; i++) {
    last = await tb.exec(ns, ['curl', '-sS', '-g', '--max-time', '5', '--connect-timeout', '3', url(addr, port)], { timeoutMs: 10000 });
    if (last.code === 0) {
      slow(`curl ${url(addr, port)} from ${ns} (${i + 1} tries)`, t0);
      return JSON.parse(last.stdout) as PodReply;
    }
  }
  throw new Error(`curl ${url(addr, port)} from ${ns}: exit ${last?.code}: ${last?.stderr.trim()}`);
}

/** UDP echo server (node -e): argv = [family udp4|udp6, port]. Prints "listening". */
export const UDP_ECHO_SERVER = `
const dgram = require('node:dgram');
const s = dgram.createSocket(process.argv[1]);
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.on('error', (e) => { console.error(e.message); process.exit(1); });
s.bind(Number(process.argv[2]), () => console.log('listening'));
`;

/**
 * UDP client (node -e): argv = [addr, port, count, size, timeoutMs]. Sends count datagrams of
 * size bytes (paced), collects echoes until all are back or the timeout, prints one JSON line.
 */
export const UDP_ECHO_CLIENT = `
const dgram = require('node:dgram');
const [addr, port, count, size, timeoutMs] = process.argv.slice(1);
const s = dgram.createSocket(addr.includes(':') ? 'udp6' : 'udp4');
const n = Number(count), len = Number(size);
let sent = 0, sentBytes = 0, received = 0, receivedBytes = 0, bad = 0;
const done = () => { console.log(JSON.stringify({ sent, sentBytes, received, receivedBytes, bad })); process.exit(0); };
s.on('message', (m) => {
  if (m.length !== len || m.readUInt32BE(0) >= n) bad++;
  received++; receivedBytes += m.length;
  if (received >= n) done();
});
s.on('error', (e) => { console.error(e.message); process.exit(1); });
setTimeout(done, Number(timeoutMs)).unref();
s.connect(Number(port), addr, () => {
  const tick = () => {
    for (let k = 0; k < 10 && sent < n; k++) {
      const b = Buffer.alloc(len, 0x5a); b.writeUInt32BE(sent, 0);
      s.send(b); sent++; sentBytes += len;
    }
    if (sent < n) setTimeout(tick, 2);
  };
  tick();
});
setTimeout(() => {}, Number(timeoutMs) + 1000);
`;

export interface UdpResult {
  sent: number;
  sentBytes: number;
  received: number;
  receivedBytes: number;
  bad: number;
}

/** Echo `count` datagrams of `size` bytes from fromNs to addr:port (server in toNs). */
export async function udpEcho(tb: Testbed, fromNs: string, toNs: string, addr: string, count = 50, size = 1000, port = 9999): Promise<UdpResult> {
  const server = tb.spawn(toNs, [process.execPath, '-e', UDP_ECHO_SERVER, isV6(addr) ? 'udp6' : 'udp4', String(port)]);
  try {
    await server.waitFor(/listening/, 10000, 'stdout');
    const r = await tb.exec(fromNs, [process.execPath, '-e', UDP_ECHO_CLIENT, addr, String(port), String(count), String(size), '5000'], { timeoutMs: 15000 });
    if (r.code !== 0) throw new Error(`udp client: exit ${r.code}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as UdpResult;
  } finally {
    server.kill('SIGKILL');
    await server.exited(2000);
  }
}

/** MAC the namespace's kernel has for `addr` on `dev` (e.g. the gateway tapflow answered for). */
export async function neighMac(tb: Testbed, ns: string, addr: string, dev = 'eth0'): Promise<string | undefined> {
  const r = await tb.exec(ns, ['ip', '-j', 'neigh', 'show', addr, 'dev', dev]);
  try {
    const l = JSON.parse(r.stdout) as { lladdr?: string }[];
    return l.find((e) => e.lladdr)?.lladdr?.toLowerCase();
  } catch {
    return undefined;
  }
}

export async function linkMac(tb: Testbed, ns: string, dev = 'eth0'): Promise<string> {
  const r = await tb.execOk(ns, ['ip', '-j', 'link', 'show', dev]);
  return (JSON.parse(r.stdout) as { address: string }[])[0].address.toLowerCase();
}

/** Forget cached path MTUs (so a second "frag needed" test is not answered locally). */
export async function flushRouteCache(tb: Testbed, ns: string): Promise<void> {
  await tb.exec(ns, ['ip', 'route', 'flush', 'cache']);
  await tb.exec(ns, ['ip', '-6', 'route', 'flush', 'cache']);
}

// ---------------------------------------------------------------- capture + pcap

export interface Frame {
  data: Buffer;
  dstMac: string;
  srcMac: string;
  etherType: number;
  /** IPv4 TTL or IPv6 hop limit; undefined for non-IP. */
  ttl?: number;
  src?: string;
  dst?: string;
  /** IPv4 protocol / IPv6 next header. */
  proto?: number;
}

function mac(b: Buffer, off: number): string {
  return [...b.subarray(off, off + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function ipv6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // compress the longest run of zero groups (RFC 5952)
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

export function parseFrame(data: Buffer): Frame {
  const f: Frame = { data, dstMac: mac(data, 0), srcMac: mac(data, 6), etherType: data.readUInt16BE(12) };
  const ip = data.subarray(14);
  if (f.etherType === 0x0800 && ip.length >= 20) {
    f.ttl = ip[8];
    f.proto = ip[9];
    f.src = [...ip.subarray(12, 16)].join('.');
    f.dst = [...ip.subarray(16, 20)].join('.');
  } else if (f.etherType === 0x86dd && ip.length >= 40) {
    f.ttl = ip[7];
    f.proto = ip[6];
    f.src = ipv6Text(ip.subarray(8, 24));
    f.dst = ipv6Text(ip.subarray(24, 40));
  }
  return f;
}

/** Frames of a classic pcap file (Ethernet link type only). */
export function readPcap(buf: Buffer): Frame[] {
  if (buf.length < 24) return [];
  const magic = buf.readUInt32LE(0);
  let le: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (buf.readUInt32BE(0) === 0xa1b2c3d4 || buf.readUInt32BE(0) === 0xa1b23c4d) le = false;
  else throw new Error(`not a pcap file (magic ${magic.toString(16)})`);
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linkType = u32(20);
  if (linkType !== 1) throw new Error(`pcap link type ${linkType}, expected 1 (Ethernet)`);
  const frames: Frame[] = [];
  for (let off = 24; off + 16 <= buf.length; ) {
    const incl = u32(off + 8);
    if (off + 16 + incl > buf.length) break;
    frames.push(parseFrame(buf.subarray(off + 16, off + 16 + incl)));
    off += 16 + incl;
  }
  return frames;
}

/**
 * tcpdump `filter` on `dev` in `ns` (bounded: -c count, 10 s timeout) while `action` runs;
 * returns the captured frames.
 */
export async function capture(tb: Testbed, ns: string, filter: string, count: number, action: () => Promise<unknown>, dev = 'eth0'): Promise<Frame[]> {
  const file = path.join(tb.tmpDir, `cap-${ns}-${Date.now()}.pcap`);
  const dump = tb.spawn(ns, ['timeout', '10', 'tcpdump', '-Z', 'root', '-i', dev, '-n', '-U', '-c', String(count), '-w', file, filter]);
  await dump.waitFor(/listening on/, 10000, 'stderr');
  await action();
  await dump.exited(12000);
  if (!fs.existsSync(file)) throw new Error(`tcpdump wrote nothing: ${dump.stderr().trim()}`);
  return readPcap(fs.readFileSync(file));
}

// ---------------------------------------------------------------- agent stats

/** received = forwarded + delivered + dropped + pending; returns a message when it fails. */
export function statsInvariantProblem(s: { totals?: Record<string, number> }): string | null {
  const t = s.totals;
  if (!t) return 'no totals in /stats';
  for (const k of ['received', 'forwarded', 'delivered', 'dropped', 'pending']) {
    if (typeof t[k] !== 'number') return `totals.${k} is not a number: ${JSON.stringify(t)}`;
  }
  const sum = t.forwarded + t.delivered + t.dropped + t.pending;
  return t.received === sum ? null : `received ${t.received} != forwarded ${t.forwarded} + delivered ${t.delivered} + dropped ${t.dropped} + pending ${t.pending} (= ${sum})`;
}
