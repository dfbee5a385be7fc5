/**
 * ns per 64 KiB GSO super-frame segmented by segmentGso (dataplane/wire/gso.ts).
 *
 *   npx tsc -p tsconfig.json && node dist/scripts/bench-gso.js [--iterations N] [--json out.json]
 *
 * Super-frames as a vnet_hdr TAP delivers them (NEEDS_CSUM, partial checksum in the L4
 * field), each as large as the IP length field allows: TSO over IPv4 (mss 1448 with
 * timestamps: 46 segments), TSO over IPv6 (mss 1428 with timestamps), USO over IPv4
 * (gso_size 1472), legacy UFO over IPv4 (gso_size 1480), plus TSO4 at mss 8948 (jumbo).
 * Output goes into one reused slab of 2048-byte (9216 for jumbo) slots. For scale, a
 * "copy only" line times out.set() of the same bytes (no headers, no checksums).
 * GCs during the timed loops are counted: segmentGso itself allocates nothing.
 * Prints a markdown table (scripts/bench.ts copies it into BENCHMARKS.md).
 */
import * as fs from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { buildFrame, inSlot } from '../dataplane/wire/build';
import { fold, pseudoSum4, pseudoSum6 } from '../dataplane/wire/checksum';
import { FrameInfo, parseFrame } from '../dataplane/wire/frame-parser';
import { segmentGso } from '../dataplane/wire/gso';
import {
  emitVnetHdr, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV4, VNET_HDR_GSO_TCPV6, VNET_HDR_GSO_UDP, VNET_HDR_GSO_UDP_L4,
} from '../dataplane/wire/vnet-hdr';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const ITERATIONS = Number(arg('--iterations') ?? 20_000);
const JSON_OUT = arg('--json');
const TS_OPTS = [1, 1, 8, 10, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0];

interface Case {
  name: string;
  version: 4 | 6;
  proto: 'tcp' | 'udp';
  gsoType: number;
  mss: number;
  slotSize: number;
}

const CASES: Case[] = [
  { name: 'TSO4 mss 1448', version: 4, proto: 'tcp', gsoType: VNET_HDR_GSO_TCPV4, mss: 1448, slotSize: 2048 },
  { name: 'TSO6 mss 1428', version: 6, proto: 'tcp', gsoType: VNET_HDR_GSO_TCPV6, mss: 1428, slotSize: 2048 },
  { name: 'USO4 1472', version: 4, proto: 'udp', gsoType: VNET_HDR_GSO_UDP_L4, mss: 1472, slotSize: 2048 },
  { name: 'UFO4 1480', version: 4, proto: 'udp', gsoType: VNET_HDR_GSO_UDP, mss: 1480, slotSize: 2048 },
  { name: 'TSO4 mss 8948', version: 4, proto: 'tcp', gsoType: VNET_HDR_GSO_TCPV4, mss: 8948, slotSize: 9216 },
];

function superFrame(c: Case): { buf: Uint8Array; off: number; len: number; hdrOff: number; info: FrameInfo } {
  const l4h = c.proto === 'tcp' ? 32 : 8;
  const payloadLen = 65535 - (c.version === 4 ? 20 : 0) - l4h;
  const payload = new Uint8Array(payloadLen);
  for (let i = 0; i < payloadLen; i++) payload[i] = (i * 131 + 7) & 0xff;
  const frame = buildFrame({
    ip: c.version === 4 ? { version: 4, src: '10.1.2.3', dst: '10.9.8.7', df: true, id: 100 } : { version: 6, src: 'fd00::1', dst: 'fd00:1::2' },
    l4: c.proto === 'tcp'
      ? { proto: 'tcp', sport: 40000, dport: 443, seq: 1, ack: 1, flags: 0x18, tcpOptions: TS_OPTS, payload }
      : { proto: 'udp', sport: 5000, dport: 6000, payload },
  });
  const s = inSlot(frame);
  const info = new FrameInfo();
  if (parseFrame(s.buf, s.off, s.len, info) !== 0) throw new Error(`${c.name}: does not parse`);
  const pnum = c.proto === 'tcp' ? 6 : 17;
  const csumOff = c.proto === 'tcp' ? 16 : 6;
  const partial = fold(c.version === 4 ? pseudoSum4(info.src4, info.dst4, pnum, info.l4Len)
    : pseudoSum6(s.buf, info.l3Off + 8, info.l3Off + 24, pnum, info.l4Len));
  s.buf[info.l4Off + csumOff] = partial >>> 8;
  s.buf[info.l4Off + csumOff + 1] = partial & 0xff;
  emitVnetHdr(s.buf, s.hdrOff, VNET_HDR_F_NEEDS_CSUM, c.gsoType, info.l4Off + l4h - s.off, c.mss, info.l4Off - s.off, csumOff);
  return { ...s, info };
}

let gcs = 0;
const obs = new PerformanceObserver((list) => { gcs += list.getEntries().length; });
obs.observe({ entryTypes: ['gc'] });

interface Row { case: string; frameBytes: number; segments: number; nsPerSuperFrame: number; nsPerSegment: number; gbps: number; gcs: number }

function main(): void {
  const rows: Row[] = [];
  console.log(`segmentGso, ${ITERATIONS} super-frames per case (node ${process.version})\n`);
  console.log('| case | frame bytes | segments | ns / super-frame | ns / segment | Gbit/s | GCs |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const c of CASES) {
    const f = superFrame(c);
    const out = new Uint8Array(64 * c.slotSize);
    const lens = new Uint32Array(64);
    const n = segmentGso(f.buf, f.off, f.len, f.hdrOff, f.info, out, 0, c.slotSize, 64, lens);
    if (n <= 0) throw new Error(`${c.name}: segmentGso → ${n}`);
    for (let i = 0; i < 2000; i++) segmentGso(f.buf, f.off, f.len, f.hdrOff, f.info, out, 0, c.slotSize, 64, lens);
    const gc0 = gcs;
    const t0 = process.hrtime.bigint();
    let sink = 0;
    for (let i = 0; i < ITERATIONS; i++) sink += segmentGso(f.buf, f.off, f.len, f.hdrOff, f.info, out, 0, c.slotSize, 64, lens);
    const ns = Number(process.hrtime.bigint() - t0) / ITERATIONS;
    if (sink !== n * ITERATIONS) throw new Error('segment count changed');
    const row: Row = { case: c.name, frameBytes: f.len, segments: n, nsPerSuperFrame: Math.round(ns), nsPerSegment: Math.round(ns / n),
      gbps: Math.round(((f.len * 8) / ns) * 10) / 10, gcs: gcs - gc0 };
    rows.push(row);
    console.log(`| ${row.case} | ${row.frameBytes} | ${row.segments} | ${row.nsPerSuperFrame} | ${row.nsPerSegment} | ${row.gbps} | ${row.gcs} |`);
  }
  // reference: a plain copy of the same bytes into the same slots (allocates a view per slot)
  const c = CASES[0];
  const f = superFrame(c);
  const out = new Uint8Array(64 * c.slotSize);
  const copy = (): number => {
    let p = f.off + 66, k = 0;
    const end = f.off + f.len;
    for (; p < end; p += c.mss, k++) out.set(f.buf.subarray(p, Math.min(end, p + c.mss)), k * c.slotSize + 76);
    return k;
  };
  for (let i = 0; i < 2000; i++) copy();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) copy();
  const ns = Number(process.hrtime.bigint() - t0) / ITERATIONS;
  console.log(`| copy only (reference, ${c.name}) | ${f.len} | ${copy()} | ${Math.round(ns)} | | | |`);
  obs.disconnect();
  if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify({ node: process.version, iterations: ITERATIONS, rows, copyOnlyNs: Math.round(ns) }, null, 2) + '\n');
}

main();
