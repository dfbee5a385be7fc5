/**
 * The malformed-packet sender of test/integration/malformed.test.ts, run inside the client
 * namespace as its own process (`ip netns exec <client> node malformed-sender.js CONFIG`).
 *
 * IP-level packets go out through `raw-socket` with IP_HDRINCL (IPv4) / IPV6_HDRINCL (IPv6), so
 * the kernel routes them to tapflow's uplink as built. Linux fixes up the IPv4 header checksum
 * and Total Length of a header-included packet (raw(7)) and refuses one whose IHL is below 5 or
 * past the packet (EINVAL), so the lies that need the bytes on the wire exactly — a bad IHL, a
 * bad header checksum, a Total Length longer than the frame — are sent as whole Ethernet frames
 * through `cap` (libpcap, AF_PACKET) when it loads; those classes are reported as skipped
 * otherwise.
 *
 * Prints one JSON line: per class {name, expect (drop reason or "forwarded"), sent, failed,
 * errors}.
 */
import * as path from 'node:path';
import type { FrameSpec } from '../../dataplane/wire/build';

export interface SenderConfig {
  repo: string;
  srcMac: string;
  /** tapflow's MAC on the uplink (the client's neighbor entry for the node IP). */
  gwMac: string;
  client4: string;
  client6: string;
  pod4: string;
  pod6: string;
  /** Repeat each packet this many times. */
  repeat: number;
}

export interface ClassResult {
  name: string;
  /** Drop reason the uplink must count, or 'forwarded' / 'accounted' (any outcome, balanced). */
  expect: string;
  sent: number;
  failed: number;
  skipped?: string;
  errors: string[];
}

interface PacketClass {
  name: string;
  expect: string;
  /** 'ip4' / 'ip6': through raw-socket (the IP packet); 'l2': a whole Ethernet frame through cap. */
  via: 'ip4' | 'ip6' | 'l2';
  packets: Uint8Array[];
}

function classes(c: SenderConfig): PacketClass[] {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { buildFrame } = require(path.join(c.repo, 'dist', 'dataplane', 'wire', 'build')) as typeof import('../../dataplane/wire/build');
  const v4 = (spec: Omit<FrameSpec, 'ip'> & { ip?: Partial<NonNullable<FrameSpec['ip']>> }): Uint8Array =>
    buildFrame({ ...spec, ip: { version: 4, src: c.client4, dst: c.pod4, ...spec.ip } as NonNullable<FrameSpec['ip']> }).subarray(14);
  const v6 = (spec: Omit<FrameSpec, 'ip'> & { ip?: Partial<NonNullable<FrameSpec['ip']>> }): Uint8Array =>
    buildFrame({ ...spec, ip: { version: 6, src: c.client6, dst: c.pod6, ...spec.ip } as NonNullable<FrameSpec['ip']> }).subarray(14);
  const l2 = (spec: FrameSpec): Uint8Array => buildFrame({ srcMac: c.srcMac, dstMac: c.gwMac, ...spec });
  const udp = { proto: 'udp' as const, sport: 40000, dport: 9, payload: 'malformed' };
  const inner = v4({ ip: { src: c.pod4, dst: c.client4 }, l4: { proto: 'tcp', sport: 8080, dport: 40001, flags: 0x12, payload: 'quoted' } });
  const out: PacketClass[] = [
    // Linux refuses a header-included IPv4 packet whose IHL is below 5 or past its length (EINVAL): whole frames.
    { name: 'IHL 0..4 (shorter than the 20-byte header)', expect: 'ipv4-bad-ihl', via: 'l2', packets: [0, 1, 2, 3, 4].map((ihl) => l2({ ip: { version: 4, src: c.client4, dst: c.pod4, ihl }, l4: udp })) },
    { name: 'IHL 15 (a 60-byte header) in a 23-byte packet', expect: 'ipv4-truncated', via: 'l2', packets: [l2({ ip: { version: 4, src: c.client4, dst: c.pod4, ihl: 15 }, l4: udp })] },
    { name: 'version 6 in an IPv4 packet', expect: 'ipv4-bad-version', via: 'ip4', packets: [v4({ ip: { versionField: 6 }, l4: udp }), v4({ ip: { versionField: 15 }, l4: udp })] },
    { name: 'bad IP options (length past the header, RR pointer 1, timestamp length 3)', expect: 'ipv4-bad-options', via: 'ip4', packets: [
      v4({ ip: { options: [7, 40, 4, 0] }, l4: udp }), v4({ ip: { options: [7, 7, 1, 0, 0, 0, 0, 0] }, l4: udp }), v4({ ip: { options: [68, 3, 5, 0] }, l4: udp }), v4({ ip: { options: [130, 0, 0, 0] }, l4: udp }),
    ] },
    { name: 'good IP options (NOP, record route, timestamp)', expect: 'forwarded', via: 'ip4', packets: [
      v4({ ip: { options: [1, 1, 1, 0] }, l4: udp }), v4({ ip: { options: [7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0] }, l4: udp }), v4({ ip: { options: [68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0] }, l4: udp }),
    ] },
    { name: 'fragments: first, middle, last, overlapping, tiny', expect: 'forwarded', via: 'ip4', packets: [
      v4({ ip: { fragment: { offset: 0, more: true, id: 0x4242 } }, l4: { ...udp, length: 3000, payload: new Uint8Array(1000) } }),
      v4({ ip: { protocol: 17, fragment: { offset: 1008, more: true, id: 0x4242 } }, payload: new Uint8Array(1000) }),
      v4({ ip: { protocol: 17, fragment: { offset: 2008, more: false, id: 0x4242 } }, payload: new Uint8Array(1000) }),
      v4({ ip: { protocol: 17, fragment: { offset: 1000, more: true, id: 0x4242 } }, payload: new Uint8Array(64) }),
      v4({ ip: { protocol: 6, fragment: { offset: 8, more: false, id: 0x4343 } }, payload: new Uint8Array(8) }),
    ] },
    { name: 'first fragment cutting the TCP header', expect: 'tcp-truncated', via: 'ip4', packets: [
      v4({ ip: { fragment: { offset: 0, more: true, id: 0x4444 }, totalLength: 28 }, l4: { proto: 'tcp', sport: 40002, dport: 8080, flags: 0x02 } }).subarray(0, 28),
    ] },
    { name: 'ICMP errors quoting a truncated inner header', expect: 'forwarded', via: 'ip4', packets: [0, 4, 8, 12, 19, 20, 24, 27].map((cut) =>
      v4({ l4: { proto: 'icmp', type: 3, code: 3, payload: inner.subarray(0, cut) } })) },
    { name: 'ICMP shorter than its 8-byte header', expect: 'icmp-truncated', via: 'ip4', packets: [1, 4, 7].map((n) => v4({ ip: { protocol: 1 }, payload: new Uint8Array(n).fill(3) })) },
    { name: 'TCP, every flag combination', expect: 'forwarded', via: 'ip4', packets: Array.from({ length: 256 }, (_, f) =>
      v4({ l4: { proto: 'tcp', sport: 41000 + f, dport: 8080, flags: f, seq: 1, ack: f & 0x10 ? 1 : 0 } })) },
    { name: 'TCP data offset < 5 or past the segment', expect: 'tcp-bad-offset', via: 'ip4', packets: [0, 2, 4, 15].map((dataOffset) =>
      v4({ l4: { proto: 'tcp', sport: 42000, dport: 8080, flags: 0x02, dataOffset } })) },
    { name: 'TCP shorter than 20 bytes', expect: 'tcp-truncated', via: 'ip4', packets: [v4({ ip: { protocol: 6 }, payload: new Uint8Array(12) })] },
    { name: 'UDP length below 8 or past the datagram', expect: 'udp-bad-length', via: 'ip4', packets: [v4({ l4: { ...udp, length: 4 } }), v4({ l4: { ...udp, length: 400 } })] },
    { name: 'IPv6 payload length past the packet', expect: 'ipv6-bad-payload-length', via: 'ip6', packets: [v6({ ip: { totalLength: 600 }, l4: udp })] },
    { name: 'IPv6 extension header past the packet / chain too long', expect: 'ipv6-bad-ext-header', via: 'ip6', packets: [
      v6({ ip: { ext: [{ type: 'dst', hdrExtLen: 200 }] }, l4: udp }), v6({ ip: { ext: Array.from({ length: 12 }, () => ({ type: 'dst' as const })) }, l4: udp }),
    ] },
    { name: 'IPv6 TCP, every flag combination', expect: 'forwarded', via: 'ip6', packets: Array.from({ length: 256 }, (_, f) =>
      v6({ l4: { proto: 'tcp', sport: 43000 + f, dport: 8080, flags: f } })) },
    // Whole frames: the lies the kernel would fix in a header-included IPv4 packet.
    { name: 'bad IPv4 header checksum', expect: 'ipv4-bad-checksum', via: 'l2', packets: [l2({ ip: { version: 4, src: c.client4, dst: c.pod4, checksum: 0x1234 }, l4: udp })] },
    { name: 'IPv4 Total Length past the frame / below the header', expect: 'ipv4-bad-total-length', via: 'l2', packets: [
      l2({ ip: { version: 4, src: c.client4, dst: c.pod4, totalLength: 1400 }, l4: udp }), l2({ ip: { version: 4, src: c.client4, dst: c.pod4, totalLength: 12 }, l4: udp }),
    ] },
  ];
  return out;
}

interface RawSocket {
  setOption(level: number, option: number, value: number): void;
  send(buf: Buffer, off: number, len: number, addr: string, cb: (err: Error | null, bytes: number) => void): void;
  close(): void;
  on(ev: string, f: (...a: unknown[]) => void): void;
}

async function main(): Promise<void> {
  const c = JSON.parse(process.argv[2]) as SenderConfig;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const raw = require(path.join(c.repo, 'node_modules', 'raw-socket')) as {
    createSocket(o: { protocol: number; addressFamily?: number }): RawSocket;
    AddressFamily: { IPv4: number; IPv6: number };
  };
  const s4 = raw.createSocket({ protocol: 255 });
  s4.setOption(0, 3, 1); // IP_HDRINCL (implied by IPPROTO_RAW; explicit anyway)
  s4.on('error', () => undefined);
  const s6 = raw.createSocket({ protocol: 255, addressFamily: raw.AddressFamily.IPv6 });
  s6.setOption(41, 36, 1); // IPV6_HDRINCL
  s6.on('error', () => undefined);
  let cap: { send(b: Buffer, n?: number): void; close(): void } | null = null;
  let capWhy = '';
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { Cap } = require(path.join(c.repo, 'node_modules', 'cap')) as { Cap: new () => { open(d: string, f: string, n: number, b: Buffer): string; send(b: Buffer, n?: number): void; close(): void } };
    const h = new Cap();
    h.open('eth0', 'ether proto 0x88b5', 65536, Buffer.alloc(65536));
    cap = h;
  } catch (e) {
    capWhy = `cap unavailable: ${(e as Error).message.split('\n')[0]}`;
  }
  const send = (s: RawSocket, b: Uint8Array, addr: string) => new Promise<string | null>((resolve) => {
    try {
      s.send(Buffer.from(b), 0, b.length, addr, (err) => resolve(err ? String(err.message ?? err) : null));
    } catch (e) {
      resolve((e as Error).message);
    }
  });
  const results: ClassResult[] = [];
  for (const k of classes(c)) {
    const r: ClassResult = { name: k.name, expect: k.expect, sent: 0, failed: 0, errors: [] };
    if (k.via === 'l2' && cap === null) { r.skipped = capWhy; results.push(r); continue; }
    for (let i = 0; i < c.repeat; i++) {
      for (const p of k.packets) {
        let err: string | null = null;
        if (k.via === 'l2') {
          try { cap!.send(Buffer.from(p), p.length); } catch (e) { err = (e as Error).message; }
        } else {
          err = await send(k.via === 'ip4' ? s4 : s6, p, k.via === 'ip4' ? c.pod4 : c.pod6);
        }
        if (err === null) r.sent++;
        else { r.failed++; if (r.errors.length < 3 && !r.errors.includes(err)) r.errors.push(err); }
      }
      await new Promise((res) => setTimeout(res, 2)); // paced: the TAP queue is never the bottleneck
    }
    results.push(r);
  }
  s4.close();
  s6.close();
  cap?.close();
  process.stdout.write(JSON.stringify(results) + '\n');
  setTimeout(() => process.exit(0), 50);
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}
