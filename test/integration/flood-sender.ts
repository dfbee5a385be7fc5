/**
 * A fast SYN / UDP flood sender for test/integration/flood.test.ts, run inside the client
 * namespace (`ip netns exec <client> node flood-sender.js CONFIG`): IPv4 packets through
 * `raw-socket` with IP_HDRINCL, up to 256 in flight, every packet a distinct flow (source
 * address × source port), valid TCP/UDP checksums so the pods' kernels take them.
 * Bounded: stops after `count` packets or `maxMs`, whichever first.
 * Prints one JSON line {sent, failed, ms, pps, flows, firstError}.
 */
import * as path from 'node:path';

export interface FloodConfig {
  repo: string;
  kind: 'syn' | 'udp';
  /** Source addresses, rotated per packet (each × the port range = the distinct flows). */
  sources: string[];
  dst: string;
  dport: number;
  count: number;
  maxMs: number;
  /** First source port (ports wrap inside [portBase, 65535]). */
  portBase?: number;
}

export interface FloodResult {
  sent: number;
  failed: number;
  ms: number;
  pps: number;
  /** Distinct (source, port) pairs sent. */
  flows: number;
  firstError: string | null;
}

function ip4(s: string): number {
  return s.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);
}

interface RawSocket {
  setOption(level: number, option: number, value: number): void;
  send(buf: Buffer, off: number, len: number, addr: string, cb: (err: Error | null, bytes: number) => void): void;
  close(): void;
  on(ev: string, f: (...a: unknown[]) => void): void;
}

function main(): void {
  const c = JSON.parse(process.argv[2]) as FloodConfig;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const raw = require(path.join(c.repo, 'node_modules', 'raw-socket')) as { createSocket(o: { protocol: number }): RawSocket };
  const s = raw.createSocket({ protocol: 255 });
  s.setOption(0, 3, 1);
  s.on('error', () => undefined);
  const tcp = c.kind === 'syn';
  const len = tcp ? 40 : 36; // UDP: 8 bytes of payload
  const srcs = c.sources.map(ip4);
  const dst = ip4(c.dst);
  const base = c.portBase ?? 1024;
  const span = 65536 - base;
  const INFLIGHT = 256;
  const pool = Array.from({ length: INFLIGHT }, () => Buffer.alloc(len));
  const free: number[] = pool.map((_, i) => i);
  for (const b of pool) {
    b[0] = 0x45; b.writeUInt16BE(len, 2); b[8] = 64; b[9] = tcp ? 6 : 17;
    b.writeUInt32BE(dst, 16);
    b.writeUInt16BE(c.dport, 22);
    if (tcp) { b[32] = 0x50; b[33] = 0x02; b.writeUInt16BE(64240, 34); }
    else b.writeUInt16BE(16, 24);
  }
  let i = 0, sent = 0, failed = 0, done = false, firstError: string | null = null;
  const t0 = Date.now();
  const flows = Math.min(c.count, srcs.length * span);

  const fill = (b: Buffer, n: number): void => {
    const src = srcs[n % srcs.length];
    const sport = base + (Math.floor(n / srcs.length) % span);
    b.writeUInt32BE(src, 12);
    b.writeUInt16BE(n & 0xffff, 4); // IP ID
    b.writeUInt16BE(sport, 20);
    if (tcp) b.writeUInt32BE(n >>> 0, 24); // sequence number
    // L4 checksum over the pseudo header + segment.
    const l4 = len - 20;
    let sum = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + (tcp ? 6 : 17) + l4;
    const ck = tcp ? 36 : 26;
    b[ck] = 0; b[ck + 1] = 0;
    for (let o = 20; o < len; o += 2) sum += (b[o] << 8) | b[o + 1];
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    let v = ~sum & 0xffff;
    if (!tcp && v === 0) v = 0xffff;
    b.writeUInt16BE(v, ck);
  };

  const finish = (): void => {
    if (done) return;
    done = true;
    const ms = Date.now() - t0;
    const r: FloodResult = { sent, failed, ms, pps: Math.round(sent / (ms / 1000)), flows: Math.min(flows, sent), firstError };
    process.stdout.write(JSON.stringify(r) + '\n');
    s.close();
    setTimeout(() => process.exit(0), 20);
  };

  const pump = (): void => {
    while (!done && free.length > 0 && i < c.count) {
      if ((i & 1023) === 0 && Date.now() - t0 > c.maxMs) break;
      const k = free.pop()!;
      const b = pool[k];
      fill(b, i++);
      s.send(b, 0, len, c.dst, (err) => {
        free.push(k);
        if (err) { failed++; firstError ??= String(err.message ?? err); } else sent++;
        if (sent + failed >= i && (i >= c.count || Date.now() - t0 > c.maxMs)) finish();
        else if (free.length === INFLIGHT || free.length >= 64) pump();
      });
    }
    if (i >= c.count || Date.now() - t0 > c.maxMs) {
      if (free.length === INFLIGHT) finish();
    }
  };
  pump();
  setTimeout(finish, c.maxMs + 5000).unref();
}

if (require.main === module) main();
