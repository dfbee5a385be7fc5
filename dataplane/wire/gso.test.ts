/**
 * segmentGso on built super-frames (TSO v4/v6, USO, UFO), refusals, a seeded fuzz of
 * lying vnet headers / frames / FrameInfo / output parameters, and (root + /dev/net/tun)
 * a real TSO super-frame from the kernel plus our segments fed to a kernel TCP receiver.
 *
 * Fuzz seed and count: GSO_FUZZ_SEED=123 GSO_FUZZ_ITERATIONS=1000000.
 */
import t from 'tap';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { TapPort } from '../io/tap-port';
import { DropReason } from '../pipeline/drop-reason';
import { buildFrame, buildVnetHdr, inSlot, Ipv6ExtSpec } from './build';
import { fold, ipv4HeaderChecksumOk, l4Checksum4, l4Checksum6, pseudoSum4, pseudoSum6, sumRange, finish } from './checksum';
import { Prng } from './fixtures';
import { FrameInfo, parseFrame } from './frame-parser';
import { segmentCount, segmentGso } from './gso';
import {
  emitVnetHdr, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_ECN, VNET_HDR_GSO_NONE, VNET_HDR_GSO_TCPV4, VNET_HDR_GSO_TCPV6,
  VNET_HDR_GSO_UDP, VNET_HDR_GSO_UDP_L4,
} from './vnet-hdr';

const BAD = -DropReason.VnetHdrBad;
const UNSUP = -DropReason.GsoUnsupported;
const FIN = 0x01, PSH = 0x08, ACK = 0x10, ECE = 0x40, CWR = 0x80;
const TS_OPTS = [1, 1, 8, 10, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0]; // NOP NOP timestamps

function pattern(n: number, seed: number): Uint8Array {
  const p = new Prng(seed);
  const b = new Uint8Array(n);
  p.fill(b);
  return b;
}

interface Super {
  buf: Uint8Array;
  off: number;
  len: number;
  hdrOff: number;
  info: FrameInfo;
  payload: Uint8Array;
  proto: number;
  version: 4 | 6;
}

interface SuperSpec {
  version?: 4 | 6;
  proto?: 'tcp' | 'udp';
  gsoType?: number;
  mss: number;
  payloadLen: number;
  flags?: number;
  seq?: number;
  id?: number;
  tcpOptions?: number[];
  ipOptions?: number[];
  vlan?: number | number[];
  ext?: Ipv6ExtSpec[];
  hdrLen?: number;
  padTo?: number;
  seed?: number;
}

/**
 * A super-frame as a vnet_hdr TAP hands it over: valid IP header, the L4 checksum field
 * holding the folded pseudo-header sum over the whole L4 length (CHECKSUM_PARTIAL),
 * NEEDS_CSUM + gso_type/gso_size/csum_start/csum_offset/hdr_len in the headroom.
 */
function superFrame(s: SuperSpec): Super {
  const version = s.version ?? 4;
  const proto = s.proto ?? 'tcp';
  const payload = pattern(s.payloadLen, s.seed ?? s.payloadLen);
  const ip = version === 4
    ? { version: 4 as const, src: '10.1.2.3', dst: '192.0.2.77', df: true, id: s.id ?? 0x1234, options: s.ipOptions }
    : { version: 6 as const, src: '2001:db8::1', dst: '2001:db8:77::2', ext: s.ext, flowLabel: 0x12345 };
  const frame = buildFrame({
    vlan: s.vlan,
    ip,
    l4: proto === 'tcp'
      ? { proto, sport: 40000, dport: 443, seq: s.seq ?? 1000, ack: 777, flags: s.flags ?? (ACK | PSH), tcpOptions: s.tcpOptions, payload }
      : { proto, sport: 5353, dport: 4789, payload },
    padTo: s.padTo,
  });
  const slot = inSlot(frame, { tailroom: 16 });
  const info = new FrameInfo();
  const r = parseFrame(slot.buf, slot.off, slot.len, info);
  if (r !== DropReason.None) throw new Error(`superFrame does not parse: ${r}`);
  const pnum = proto === 'tcp' ? 6 : 17;
  const csumOff = proto === 'tcp' ? 16 : 6;
  const pseudo = version === 4
    ? pseudoSum4(info.src4, info.dst4, pnum, info.l4Len)
    : pseudoSum6(slot.buf, info.l3Off + 8, info.l3Off + 24, pnum, info.l4Len);
  const partial = fold(pseudo);
  slot.buf[info.l4Off + csumOff] = partial >>> 8;
  slot.buf[info.l4Off + csumOff + 1] = partial & 0xff;
  const l4h = proto === 'tcp' ? (slot.buf[info.l4Off + 12] >>> 4) << 2 : 8;
  const gsoType = s.gsoType ?? (proto === 'udp' ? VNET_HDR_GSO_UDP_L4 : version === 4 ? VNET_HDR_GSO_TCPV4 : VNET_HDR_GSO_TCPV6);
  emitVnetHdr(slot.buf, slot.hdrOff, VNET_HDR_F_NEEDS_CSUM, gsoType, s.hdrLen ?? info.l4Off + l4h - slot.off, s.mss,
    info.l4Off - slot.off, csumOff);
  return { ...slot, info, payload, proto: pnum, version };
}

const SLOT = 2048;

interface Out {
  out: Uint8Array;
  lens: Uint32Array;
  n: number;
}

function segment(f: Super, opts: { slotSize?: number; max?: number; outBase?: number } = {}): Out {
  const slotSize = opts.slotSize ?? SLOT;
  const max = opts.max ?? 64;
  const outBase = opts.outBase ?? 0;
  const out = new Uint8Array(outBase + max * slotSize).fill(0xa5);
  const lens = new Uint32Array(max);
  const n = segmentGso(f.buf, f.off, f.len, f.hdrOff, f.info, out, outBase, slotSize, max, lens);
  return { out, lens, n };
}

const u16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1];
const u32 = (b: Uint8Array, o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;

/**
 * Every property a TSO/USO segment must have; returns a list of problems (empty = fine).
 * Segment i: parses; IPv4 header checksum and full L4 checksum verify; L2/L3 bytes other
 * than the rewritten fields equal the super-frame's; TCP seq contiguous; flags placement;
 * IPv4 ID + i; payload slices concatenate to the original payload.
 */
function verifySegments(f: Super, o: Out, mss: number, slotSize = SLOT, outBase = 0): string[] {
  const errs: string[] = [];
  const si = new FrameInfo();
  const src = f.buf, fi = f.info;
  const l2Len = fi.l3Off - f.off;
  const l4h = f.proto === 6 ? (src[fi.l4Off + 12] >>> 4) << 2 : 8;
  const hdrs = fi.l4Off + l4h - f.off;
  const seq0 = f.proto === 6 ? u32(src, fi.l4Off + 4) : 0;
  const flags0 = f.proto === 6 ? src[fi.l4Off + 13] : 0;
  const id0 = f.version === 4 ? u16(src, fi.l3Off + 4) : 0;
  const got = new Uint8Array(f.payload.length);
  let at = 0;
  for (let i = 0; i < o.n; i++) {
    const slot = outBase + i * slotSize;
    const eth = slot + 10;
    const len = o.lens[i];
    const e = (m: string): void => { errs.push(`segment ${i}/${o.n}: ${m}`); };
    for (let k = 0; k < 10; k++) if (o.out[slot + k] !== 0) { e('headroom not zeroed'); break; }
    const r = parseFrame(o.out, eth, len, si);
    if (r !== DropReason.None) { e(`parseFrame → ${r}`); continue; }
    if (si.l3Off + si.l3Len !== eth + len) e('IP length does not match the frame length');
    const n = len - hdrs;
    if (n > mss) e(`payload ${n} > mss ${mss}`);
    if (i < o.n - 1 && n !== mss) e(`payload ${n} !== mss ${mss} before the last segment`);
    // unchanged header bytes
    for (let k = 0; k < l2Len; k++) if (o.out[eth + k] !== src[f.off + k]) { e('L2 header differs'); break; }
    if (f.version === 4) {
      if (!ipv4HeaderChecksumOk(o.out, si.l3Off, si.ipHeaderLen)) e('IPv4 header checksum');
      if (u16(o.out, si.l3Off + 4) !== ((id0 + i) & 0xffff)) e(`IPv4 ID ${u16(o.out, si.l3Off + 4)} !== ${(id0 + i) & 0xffff}`);
      for (let k = 0; k < fi.ipHeaderLen; k++) {
        if (k === 2 || k === 3 || k === 4 || k === 5 || k === 10 || k === 11) continue;
        if (o.out[si.l3Off + k] !== src[fi.l3Off + k]) { e(`IPv4 header byte ${k} differs`); break; }
      }
      if (l4Checksum4(o.out, si.l4Off, si.l4Len, f.proto, si.src4, si.dst4) !== 0) e('L4 checksum');
    } else {
      for (let k = 0; k < fi.ipHeaderLen; k++) {
        if (k === 4 || k === 5) continue;
        if (o.out[si.l3Off + k] !== src[fi.l3Off + k]) { e(`IPv6 header byte ${k} differs`); break; }
      }
      if (l4Checksum6(o.out, si.l3Off, si.l4Off, si.l4Len, f.proto) !== 0) e('L4 checksum');
    }
    if (f.proto === 6) {
      if (u32(o.out, si.l4Off + 4) !== ((seq0 + at) >>> 0)) e(`seq ${u32(o.out, si.l4Off + 4)} !== ${(seq0 + at) >>> 0}`);
      let want = flags0;
      if (i !== o.n - 1) want &= ~(FIN | PSH);
      if (i !== 0) want &= ~CWR;
      if (si.tcpFlags !== want) e(`flags ${si.tcpFlags.toString(16)} !== ${want.toString(16)}`);
      for (let k = 0; k < l4h; k++) {
        if (k >= 4 && k < 8) continue;
        if (k === 13 || k === 16 || k === 17) continue;
        if (o.out[si.l4Off + k] !== src[fi.l4Off + k]) { e(`TCP header byte ${k} differs`); break; }
      }
    } else {
      if (u16(o.out, si.l4Off + 4) !== 8 + n) e('UDP length');
      if (u16(o.out, si.l4Off + 6) === 0) e('UDP checksum 0');
      if (u32(o.out, si.l4Off) !== u32(src, fi.l4Off)) e('UDP ports differ');
    }
    if (at + n > got.length) { e('more payload than the original'); break; }
    got.set(o.out.subarray(eth + hdrs, eth + len), at);
    at += n;
  }
  if (at !== f.payload.length) errs.push(`payload total ${at} !== ${f.payload.length}`);
  else if (Buffer.compare(got, f.payload) !== 0) errs.push('payload concatenation differs from the original');
  return errs;
}

function expectOk(t: tap.Test, f: Super, mss: number, expectCount: number, what: string): Out {
  const o = segment(f);
  t.equal(o.n, expectCount, `${what}: ${expectCount} segments`);
  t.same(verifySegments(f, o, mss), [], `${what}: every segment valid`);
  return o;
}

// -------------------------------------------------------------------------------- TCP

t.test('TSO over IPv4: 64 KiB super-frame', async (t) => {
  const payloadLen = 65535 - 20 - 32; // IPv4 total length 65535
  const f = superFrame({ mss: 1448, payloadLen, tcpOptions: TS_OPTS, flags: ACK | PSH | FIN | CWR | ECE, gsoType: VNET_HDR_GSO_TCPV4 | VNET_HDR_GSO_ECN });
  t.equal(f.len, 14 + 65535);
  const o = expectOk(t, f, 1448, Math.ceil(payloadLen / 1448), 'TSO4');
  const si = new FrameInfo();
  parseFrame(o.out, 10, o.lens[0], si);
  t.equal(si.tcpFlags, ACK | CWR | ECE, 'first: CWR kept, no FIN/PSH');
  parseFrame(o.out, SLOT + 10, o.lens[1], si);
  t.equal(si.tcpFlags, ACK | ECE, 'middle: no CWR/FIN/PSH');
  parseFrame(o.out, (o.n - 1) * SLOT + 10, o.lens[o.n - 1], si);
  t.equal(si.tcpFlags, ACK | ECE | FIN | PSH, 'last: FIN/PSH, no CWR');
  t.equal(o.lens[0], 14 + 20 + 32 + 1448, 'full segment length');
  t.equal(o.lens[o.n - 1], 14 + 20 + 32 + (payloadLen - (o.n - 1) * 1448), 'last segment length');
  t.equal(segmentCount(f.len, f.info, 1448, 32), o.n, 'segmentCount exact with the TCP header length');
  t.ok(segmentCount(f.len, f.info, 1448) >= o.n, 'segmentCount without it: an upper bound');
  // the input is not modified
  const g = superFrame({ mss: 1448, payloadLen, tcpOptions: TS_OPTS, flags: ACK | PSH | FIN | CWR | ECE, gsoType: VNET_HDR_GSO_TCPV4 | VNET_HDR_GSO_ECN });
  t.equal(Buffer.compare(f.buf, g.buf), 0, 'input untouched');
});

t.test('TSO: IPv4 ID and sequence number wrap, VLAN tags, IPv4 options, odd mss', async (t) => {
  const f = superFrame({ mss: 1001, payloadLen: 20000, id: 0xfffe, seq: 0xffffd000, vlan: [100, 200], ipOptions: [1, 1, 1, 0] });
  const o = expectOk(t, f, 1001, 20, 'wrap');
  t.equal(u16(o.out, 10 + 22 + 4), 0xfffe);
  t.equal(u16(o.out, SLOT * 2 + 10 + 22 + 4), 0x0000, 'ID wraps to 0 on the third segment');
});

t.test('TSO over IPv6 with hop-by-hop and destination options', async (t) => {
  const f = superFrame({ version: 6, mss: 1440, payloadLen: 40000, tcpOptions: TS_OPTS, flags: ACK | FIN, ext: [{ type: 'hbh' }, { type: 'dst' }] });
  const o = expectOk(t, f, 1440, 28, 'TSO6');
  const si = new FrameInfo();
  parseFrame(o.out, 10, o.lens[0], si);
  t.equal(si.l3Len, 40 + 16 + 32 + 1440, 'payload length counts the extension headers');
  const g = superFrame({ version: 6, mss: 1220, payloadLen: 65535 - 20, seq: 0xfffffff0 });
  expectOk(t, g, 1220, Math.ceil((65535 - 20) / 1220), 'TSO6 max payload');
});

t.test('TSO: payload ≤ mss, empty payload, odd last segment, Ethernet padding dropped', async (t) => {
  expectOk(t, superFrame({ mss: 1448, payloadLen: 1448 }), 1448, 1, 'exactly one mss');
  expectOk(t, superFrame({ mss: 1448, payloadLen: 1449 }), 1448, 2, 'one byte over');
  expectOk(t, superFrame({ mss: 1448, payloadLen: 0, flags: ACK | FIN }), 1448, 1, 'no payload');
  expectOk(t, superFrame({ mss: 7, payloadLen: 3, padTo: 60, flags: ACK }), 7, 1, 'padded runt');
  expectOk(t, superFrame({ version: 6, mss: 1, payloadLen: 63 }), 1, 63, 'mss 1');
  const f = superFrame({ mss: 1448, payloadLen: 1000 });
  t.equal(segmentCount(f.len, f.info, 1448), 1);
  t.equal(segmentCount(f.len, f.info, 0), 0);
});

t.test('TSO: hdr_len is a hint (Linux sends skb_headlen)', async (t) => {
  expectOk(t, superFrame({ mss: 1448, payloadLen: 5000, hdrLen: 0 }), 1448, 4, 'hdr_len 0');
  expectOk(t, superFrame({ mss: 1448, payloadLen: 5000, hdrLen: 1000 }), 1448, 4, 'hdr_len inside the payload');
  const f = superFrame({ mss: 1448, payloadLen: 5000 });
  f.buf[f.hdrOff + 2] = (f.len + 1) & 0xff;
  f.buf[f.hdrOff + 3] = (f.len + 1) >>> 8;
  t.equal(segment(f).n, BAD, 'hdr_len past the frame');
});

t.test('every source / destination alignment and subarray byteOffset gives the same segments', async (t) => {
  for (const mss of [1448, 1001]) {
    const f = superFrame({ mss, payloadLen: 9000, tcpOptions: TS_OPTS });
    const ref = segment(f);
    const problems: string[] = [];
    for (let shift = 0; shift < 4; shift++) {
      for (let viewOff = 0; viewOff < 4; viewOff++) {
        for (let outBase = 0; outBase < 4; outBase++) {
          // input moved by `shift` bytes inside a view that starts `viewOff` bytes into its ArrayBuffer
          const backing = new Uint8Array(viewOff + shift + f.buf.length);
          const buf = backing.subarray(viewOff);
          buf.set(f.buf, shift);
          const info = new FrameInfo();
          parseFrame(buf, f.off + shift, f.len, info);
          const outBacking = new Uint8Array(3 + outBase + 64 * SLOT);
          const out = outBacking.subarray(3 - (viewOff % 4));
          const lens = new Uint32Array(64);
          const n = segmentGso(buf, f.off + shift, f.len, f.hdrOff + shift, info, out, outBase, SLOT, 64, lens);
          let same = n === ref.n;
          for (let i = 0; same && i < n; i++) {
            same = lens[i] === ref.lens[i] &&
              Buffer.compare(out.subarray(outBase + i * SLOT, outBase + i * SLOT + 10 + lens[i]), ref.out.subarray(i * SLOT, i * SLOT + 10 + lens[i])) === 0;
          }
          if (!same) problems.push(`mss ${mss} shift ${shift} viewOff ${viewOff} outBase ${outBase}`);
        }
      }
    }
    t.same(problems, [], `mss ${mss}: 64 placements identical`);
    t.same(verifySegments(f, ref, mss), [], `mss ${mss}: reference valid`);
  }
});

// -------------------------------------------------------------------------------- UDP

t.test('USO (UDP_L4) over IPv4 and IPv6', async (t) => {
  const f = superFrame({ proto: 'udp', mss: 1200, payloadLen: 5001 });
  const o = expectOk(t, f, 1200, 5, 'USO4');
  t.equal(u16(o.out, 4 * SLOT + 10 + 34 + 4), 8 + 201, 'last datagram length');
  t.equal(segmentCount(f.len, f.info, 1200), 5);
  expectOk(t, superFrame({ version: 6, proto: 'udp', mss: 1452, payloadLen: 60000 }), 1452, 42, 'USO6');
  expectOk(t, superFrame({ version: 6, proto: 'udp', mss: 1452, payloadLen: 100 }), 1452, 1, 'USO6 single');
});

/** Reassemble UFO fragments; returns the UDP datagram (header + data) or a problem. */
function reassemble(o: Out, id: number): Uint8Array | string {
  const si = new FrameInfo();
  const parts: Uint8Array[] = [];
  let expectOff = 0;
  for (let i = 0; i < o.n; i++) {
    const eth = i * SLOT + 10;
    const r = parseFrame(o.out, eth, o.lens[i], si);
    if (r !== DropReason.None) return `fragment ${i}: parseFrame → ${r}`;
    if (!ipv4HeaderChecksumOk(o.out, si.l3Off, si.ipHeaderLen)) return `fragment ${i}: IPv4 checksum`;
    if (u16(o.out, si.l3Off + 4) !== id) return `fragment ${i}: ID`;
    const ff = u16(o.out, si.l3Off + 6);
    const more = (ff & 0x2000) !== 0;
    if ((ff & 0x1fff) * 8 !== expectOff) return `fragment ${i}: offset ${(ff & 0x1fff) * 8} !== ${expectOff}`;
    if (more !== (i < o.n - 1)) return `fragment ${i}: MF`;
    if (o.n > 1 && (ff & 0x4000) !== 0) return `fragment ${i}: DF on a fragment`;
    const data = o.out.slice(si.l3Off + si.ipHeaderLen, si.l3Off + si.l3Len);
    if (more && data.length % 8 !== 0) return `fragment ${i}: length ${data.length} not a multiple of 8`;
    parts.push(data);
    expectOff += data.length;
  }
  return Buffer.concat(parts);
}

t.test('legacy UFO over IPv4: fragments of one datagram', async (t) => {
  for (const [mss, len, count] of [[1480, 4000, 3], [1473, 4000, 3], [1480, 1472, 1], [8, 100, 13]] as const) {
    const f = superFrame({ proto: 'udp', gsoType: VNET_HDR_GSO_UDP, mss, payloadLen: len - 8, id: 4242 });
    const o = segment(f);
    t.equal(o.n, count, `UFO mss ${mss}, datagram ${len}: ${count} fragments`);
    const d = reassemble(o, 4242);
    if (typeof d === 'string') { t.fail(d); continue; }
    t.equal(d.length, len, 'reassembled length');
    t.equal(u16(d, 4), len, 'UDP length = the whole datagram');
    t.equal(Buffer.compare(d.subarray(8), f.payload), 0, 'data');
    t.equal(finish(sumRange(d, 0, d.length, pseudoSum4(f.info.src4, f.info.dst4, 17, d.length))), 0, 'UDP checksum over the datagram');
    t.equal(segmentCount(f.len, f.info, mss & ~7, 0), count, 'segmentCount for UFO');
    if (count === 1) t.equal(u16(o.out, 10 + 14 + 6), 0x4000, 'a datagram that fits is not fragmented (DF kept)');
  }
  const f6 = superFrame({ version: 6, proto: 'udp', gsoType: VNET_HDR_GSO_UDP, mss: 1280, payloadLen: 4000 });
  t.equal(segment(f6).n, UNSUP, 'UFO over IPv6 unsupported');
  const tiny = superFrame({ proto: 'udp', gsoType: VNET_HDR_GSO_UDP, mss: 7, payloadLen: 40 });
  t.equal(segment(tiny).n, UNSUP, 'UFO with gso_size < 8');
});

// -------------------------------------------------------------------------------- refusals

t.test('refusals: negative reason, nothing written, no throw', async (t) => {
  const base = (): Super => superFrame({ mss: 1448, payloadLen: 10000 });
  const untouched = (o: Out): boolean => o.out.every((b) => b === 0xa5);
  const check = (f: Super, want: number, what: string, opts: { slotSize?: number; max?: number; outBase?: number } = {}): void => {
    const o = segment(f, opts);
    t.equal(o.n, want, what);
    if (want < 0) t.ok(untouched(o), `${what}: nothing written`);
  };
  const setHdr = (f: Super, fields: Parameters<typeof buildVnetHdr>[0]): Super => {
    const cur = {
      flags: f.buf[f.hdrOff], gsoType: f.buf[f.hdrOff + 1], hdrLen: f.buf[f.hdrOff + 2] | (f.buf[f.hdrOff + 3] << 8),
      gsoSize: f.buf[f.hdrOff + 4] | (f.buf[f.hdrOff + 5] << 8), csumStart: f.buf[f.hdrOff + 6] | (f.buf[f.hdrOff + 7] << 8),
      csumOffset: f.buf[f.hdrOff + 8] | (f.buf[f.hdrOff + 9] << 8),
    };
    f.buf.set(buildVnetHdr({ ...cur, ...fields }), f.hdrOff);
    return f;
  };
  check(setHdr(base(), { gsoType: VNET_HDR_GSO_NONE }), UNSUP, 'gso_type NONE');
  check(setHdr(base(), { gsoType: VNET_HDR_GSO_ECN }), BAD, 'ECN alone');
  check(setHdr(base(), { gsoType: 2 }), BAD, 'unknown gso_type');
  check(setHdr(base(), { gsoSize: 0 }), BAD, 'gso_size 0');
  check(setHdr(base(), { flags: 0 }), BAD, 'no NEEDS_CSUM');
  check(setHdr(base(), { flags: 3 }), BAD, 'NEEDS_CSUM + DATA_VALID');
  check(setHdr(base(), { csumStart: 14 }), BAD, 'csum_start not L4');
  check(setHdr(base(), { csumOffset: 6 }), BAD, 'csum_offset UDP on TCP');
  check(setHdr(base(), { gsoType: VNET_HDR_GSO_TCPV6 }), BAD, 'TCPV6 on IPv4');
  check(setHdr(base(), { gsoType: VNET_HDR_GSO_UDP_L4 }), BAD, 'UDP_L4 on TCP');
  check(setHdr(superFrame({ proto: 'udp', mss: 100, payloadLen: 1000 }), { gsoType: VNET_HDR_GSO_TCPV4, csumOffset: 16 }), BAD, 'TCPV4 on UDP');
  check(base(), UNSUP, 'maxSegments too small', { max: 6 });
  check(base(), 7, 'maxSegments just enough', { max: 7 });
  check(base(), UNSUP, 'slot too small', { slotSize: 10 + 54 + 1447 });
  check(base(), 7, 'slot just big enough', { slotSize: 10 + 54 + 1448 });
  const f = base();
  const lens = new Uint32Array(64);
  t.equal(segmentGso(f.buf, f.off, f.len, f.hdrOff, f.info, new Uint8Array(6 * SLOT + 10 + 54 + 1312 - 1), 0, SLOT, 64, lens), UNSUP, 'out one byte short');
  t.equal(segmentGso(f.buf, f.off, f.len, f.hdrOff, f.info, new Uint8Array(6 * SLOT + 10 + 54 + 1312), 0, SLOT, 64, lens), 7, 'out exactly long enough');
  t.equal(segmentGso(f.buf, f.off, f.len, f.hdrOff, f.info, new Uint8Array(8 * SLOT), 0, SLOT, 64, new Uint32Array(6)), UNSUP, 'outLens too short');
  for (const [what, args] of [
    ['negative outBase', [-1, SLOT, 64]], ['fractional outBase', [0.5, SLOT, 64]], ['NaN slotSize', [0, NaN, 64]],
    ['negative maxSegments', [0, SLOT, -1]],
  ] as const) {
    t.equal(segmentGso(f.buf, f.off, f.len, f.hdrOff, f.info, new Uint8Array(8 * SLOT), args[0], args[1], args[2], lens), UNSUP, what);
  }
  // output overlapping the input (same slab, also through a view)
  const g = base();
  t.equal(segmentGso(g.buf, g.off, g.len, g.hdrOff, g.info, g.buf, 0, 2048, 64, lens), UNSUP, 'out = the input frame');
  const big = new Uint8Array(200000);
  big.set(g.buf, 0);
  const gi = new FrameInfo();
  parseFrame(big, g.off, g.len, gi);
  t.equal(segmentGso(big, g.off, g.len, g.hdrOff, gi, big.subarray(g.off + g.len - 100), 0, SLOT, 64, lens), UNSUP, 'out overlaps the tail');
  t.equal(segmentGso(big, g.off, g.len, g.hdrOff, gi, big.subarray(g.off + g.len), 0, SLOT, 64, lens), 7, 'out right after the input: fine');
  t.same(verifySegments({ ...g, buf: big, info: gi }, { out: big.subarray(g.off + g.len), lens, n: 7 }, 1448), [], '… and correct');
});

t.test('refusals: truncated and lying frames / FrameInfo', async (t) => {
  const f = superFrame({ mss: 1448, payloadLen: 10000 });
  const lens = new Uint32Array(64);
  const out = new Uint8Array(64 * SLOT);
  const seg = (buf: Uint8Array, off: number, len: number, hdrOff: number, info: FrameInfo): number =>
    segmentGso(buf, off, len, hdrOff, info, out, 0, SLOT, 64, lens);
  t.equal(seg(f.buf, f.off, f.len - 1, f.hdrOff, f.info), BAD, 'frameLen not what info says');
  const short = new FrameInfo();
  t.not(parseFrame(f.buf, f.off, f.len - 1, short), DropReason.None, 'a truncated super-frame does not parse');
  t.equal(seg(f.buf, f.off, f.len - 1, f.hdrOff, short), BAD, 'truncated: stale info from a failed parse');
  t.equal(seg(f.buf, f.off, f.buf.length, f.hdrOff, f.info), BAD, 'frame past the end of buf');
  t.equal(seg(f.buf, 0, f.len, 0, f.info), BAD, 'info for another offset');
  t.equal(seg(f.buf, f.off, f.len, f.buf.length - 5, f.info), BAD, 'vnet header past the end of buf');
  t.equal(seg(f.buf, f.off, f.len, -1, f.info), BAD, 'negative hdrOff');
  t.equal(seg(f.buf, 1.5, f.len, f.hdrOff, f.info), BAD, 'fractional frameOff');
  const lie = (what: string, mut: (i: FrameInfo) => void, want = BAD): void => {
    const i = Object.assign(new FrameInfo(), f.info);
    mut(i);
    t.equal(seg(f.buf, f.off, f.len, f.hdrOff, i), want, what);
  };
  lie('l3Len past the frame', (i) => { i.l3Len += 1; });
  lie('l3Off inside Ethernet', (i) => { i.l3Off = f.off + 13; });
  lie('l4Off not after IHL', (i) => { i.l4Off += 4; });
  lie('l4Off past the datagram', (i) => { i.l4Off = f.off + f.len + 10; });
  lie('ipVersion 0', (i) => { i.ipVersion = 0; });
  lie('NaN l3Len', (i) => { i.l3Len = NaN; });
  lie('fragment', (i) => { i.isFragment = true; });
  // TCP data offset past the datagram (bytes lie, info stale)
  const g = superFrame({ mss: 1448, payloadLen: 10 });
  g.buf[g.info.l4Off + 12] = 0xf0; // 60-byte header, 20 + 10 bytes present
  t.equal(segment(g).n, BAD, 'TCP data offset past the datagram');
  g.buf[g.info.l4Off + 12] = 0x40; // 16 bytes < 20
  t.equal(segment(g).n, BAD, 'TCP data offset < 5');
  // IPv6 routing header: pseudo-header destination differs
  const r6 = superFrame({ version: 6, mss: 1200, payloadLen: 3000, ext: [{ type: 'routing' }] });
  t.equal(segment(r6).n, UNSUP, 'IPv6 routing header');
  const h6 = superFrame({ version: 6, mss: 1200, payloadLen: 3000, ext: [{ type: 'hbh' }] });
  const hi = Object.assign(new FrameInfo(), h6.info);
  hi.l4Off -= 8;
  hi.l4Len += 8;
  h6.buf[h6.hdrOff + 6] -= 8; // csum_start follows the lie
  t.equal(segment({ ...h6, info: hi }).n, BAD, 'IPv6 extension chain not ending at l4Off');
});

// -------------------------------------------------------------------------------- fuzz

const SEED = Number(process.env.GSO_FUZZ_SEED ?? 0x65e0) >>> 0;
const ITERATIONS = Number(process.env.GSO_FUZZ_ITERATIONS ?? 100_000);

t.test(`fuzz: ${ITERATIONS} lying vnet headers, frames, FrameInfo and output parameters never throw (seed ${SEED})`, async (t) => {
  const rnd = new Prng(SEED);
  const bases: Super[] = [
    superFrame({ mss: 536, payloadLen: 3000, tcpOptions: TS_OPTS, flags: ACK | PSH | FIN | CWR }),
    superFrame({ mss: 100, payloadLen: 999, vlan: 5, ipOptions: [1, 1, 1, 1] }),
    superFrame({ version: 6, mss: 333, payloadLen: 2000, ext: [{ type: 'hbh' }] }),
    superFrame({ version: 6, mss: 1, payloadLen: 40 }),
    superFrame({ proto: 'udp', mss: 400, payloadLen: 1777 }),
    superFrame({ version: 6, proto: 'udp', mss: 250, payloadLen: 1000 }),
    superFrame({ proto: 'udp', gsoType: VNET_HDR_GSO_UDP, mss: 256, payloadLen: 1500 }),
    superFrame({ mss: 1448, payloadLen: 0, padTo: 80 }),
  ];
  const work = new Uint8Array(8192);
  const poisoned = new Uint8Array(8192);
  const before = new Uint8Array(8192);
  const info = new FrameInfo();
  const OUT_LEN = 48 * 1024;
  const out = new Uint8Array(OUT_LEN);
  const out2 = new Uint8Array(OUT_LEN);
  const lens = new Uint32Array(64);
  const lens2 = new Uint32Array(64);
  const counts = new Map<number, number>();
  const problems: string[] = [];
  const fail = (i: number, m: string): void => { if (problems.length < 10) problems.push(`iteration ${i}: ${m}`); };
  let segmented = 0;

  for (let it = 0; it < ITERATIONS; it++) {
    const b = bases[rnd.below(bases.length)];
    const total = b.off + b.len;
    work.fill(0);
    work.set(b.buf.subarray(0, total), 0);
    let len = b.len;
    // lie in the vnet header
    const m = rnd.below(8);
    if (m === 0) rnd.fill(work, b.hdrOff, 10);
    else if (m <= 4) {
      const k = rnd.below(10);
      work[b.hdrOff + k] = rnd.chance(0.3) ? [0, 1, 0xff, 0x80, 5, 3, 4][rnd.below(7)] : rnd.below(256);
    }
    // lie in the frame
    if (rnd.chance(0.3)) {
      const flips = rnd.range(1, 4);
      const hdrEnd = b.info.l4Off + 64 - b.off;
      for (let k = 0; k < flips; k++) work[b.off + rnd.below(Math.min(b.len, hdrEnd))] = rnd.below(256);
    }
    if (rnd.chance(0.15)) len = rnd.below(b.len + 1);
    // info: fresh parse, stale (the base's), or fresh with a lie
    const pr = parseFrame(work, b.off, len, info);
    const fresh = pr === DropReason.None;
    let infoUsed = info;
    const im = rnd.below(10);
    if (im === 0) infoUsed = b.info;
    else if (im === 1) {
      const keys = ['l3Off', 'l4Off', 'l3Len', 'l4Len', 'ipVersion', 'ipHeaderLen', 'frameOff', 'frameLen', 'l4Proto'] as const;
      const k = keys[rnd.below(keys.length)];
      info[k] = rnd.chance(0.5) ? info[k] + rnd.range(-16, 16) : rnd.below(70000);
    }
    const strict = fresh && im >= 2; // info describes these bytes exactly
    // output parameters
    let slotSize = 2048, maxSeg = 20, outBase = 0;
    const om = rnd.below(10);
    if (om === 0) slotSize = rnd.below(3000);
    else if (om === 1) maxSeg = rnd.below(30);
    else if (om === 2) outBase = rnd.below(OUT_LEN);
    else if (om === 3) outBase = rnd.range(1, 50);
    const check = (it & 31) === 0;
    if (check) {
      out.fill(0xa5);
      before.set(work);
    }
    let n: number;
    try {
      n = segmentGso(work, b.off, len, b.hdrOff, infoUsed, out, outBase, slotSize, maxSeg, lens);
    } catch (e) {
      fail(it, `threw ${(e as Error).message}`);
      continue;
    }
    counts.set(n < 0 ? n : 1, (counts.get(n < 0 ? n : 1) ?? 0) + 1);
    if (!Number.isInteger(n) || (n < 0 && n !== BAD && n !== UNSUP) || n === 0 || n > maxSeg) {
      fail(it, `result ${n}`);
      continue;
    }
    if (n > 0) segmented++;
    if (!check) continue;
    for (let k = 0; k < work.length; k++) if (work[k] !== before[k]) { fail(it, `input modified at ${k}`); break; }
    // writes only inside the segments' slots
    let ok = true;
    let next = 0;
    for (let s = 0; s < (n > 0 ? n : 0) && ok; s++) {
      const lo = outBase + s * slotSize;
      for (let k = next; k < lo; k++) if (out[k] !== 0xa5) { fail(it, `write before slot ${s} at ${k}`); ok = false; break; }
      next = lo + 10 + lens[s];
    }
    for (let k = next; k < OUT_LEN && ok; k++) if (out[k] !== 0xa5) { fail(it, `write outside the segments at ${k}`); ok = false; }
    if (n < 0) continue;
    // no reads past the frame: poison what follows it, same output
    poisoned.set(work);
    poisoned.fill(0xff, b.off + len);
    out2.fill(0xa5);
    const n2 = segmentGso(poisoned, b.off, len, b.hdrOff, infoUsed, out2, outBase, slotSize, maxSeg, lens2);
    if (n2 !== n || Buffer.compare(out, out2) !== 0) fail(it, 'output depends on bytes past the frame');
    if (strict && (work[b.hdrOff + 1] & 0x7f) !== VNET_HDR_GSO_UDP) {
      const sup: Super = { buf: work, off: b.off, len, hdrOff: b.hdrOff, info, proto: info.l4Proto, version: info.ipVersion as 4 | 6,
        payload: work.slice(info.l4Off + (info.l4Proto === 6 ? (work[info.l4Off + 12] >>> 4) << 2 : 8), info.l3Off + info.l3Len) };
      const mss = work[b.hdrOff + 4] | (work[b.hdrOff + 5] << 8);
      const errs = verifySegments(sup, { out, lens, n }, mss, slotSize, outBase);
      if (errs.length) fail(it, errs[0]);
    }
  }
  t.same(problems, [], 'no throws, valid results, no stray writes or reads, valid segments');
  t.ok(segmented > ITERATIONS / 20, `segmented ${segmented} of ${ITERATIONS}`);
  t.comment(`results: ${[...counts].map(([k, v]) => `${k > 0 ? 'ok' : k}=${v}`).join(' ')}`);
});

// -------------------------------------------------------------------------------- live kernel

const canRunLive = process.getuid?.() === 0 && fs.existsSync('/dev/net/tun');
const LIVE_TIMEOUT_MS = 10_000;
const OUR_MAC = '02:00:00:97:00:01';
const OUR_IP = '10.97.0.1';
const NS_IP = '10.97.0.2';

/** argv: ip, port, bytes to send, bytes to expect — sends a pattern on connect, prints {got, sha} of what it read. */
const TCP_PEER = `
const [ip, port, n, m] = [process.argv[1], +process.argv[2], +process.argv[3], +process.argv[4]];
const crypto = require('crypto');
const data = Buffer.alloc(n); for (let i = 0; i < n; i++) data[i] = (i * 7 + 3) & 255;
const done = (o) => { console.log(JSON.stringify(o)); process.exit(0); };
require('net').createServer((c) => {
  c.on('error', () => {});
  c.write(data);
  const h = crypto.createHash('sha256'); let got = 0;
  c.on('data', (d) => { h.update(d); got += d.length; if (got >= m) done({ got, sha: h.digest('hex') }); });
}).listen(port, ip, () => console.log('ready'));
setTimeout(() => done({ got: -1 }), 8000);`;

/** argv: ip, port, datagrams — prints [{len, sha}] of what arrived. */
const UDP_PEER = `
const [ip, port, n] = [process.argv[1], +process.argv[2], +process.argv[3]];
const crypto = require('crypto');
const got = [];
const done = () => { console.log(JSON.stringify(got)); process.exit(0); };
const s = require('dgram').createSocket('udp4');
s.on('message', (m) => { got.push({ len: m.length, sha: crypto.createHash('sha256').update(m).digest('hex') }); if (got.length === n) done(); });
s.bind(port, ip, () => console.log('ready'));
setTimeout(done, 4000);`;

function nsChild(ns: string, script: string, args: string[], children: ChildProcess[]): { ready: Promise<void>; done: Promise<string> } {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], { timeout: LIVE_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  let markReady = (): void => {};
  const ready = new Promise<void>((r) => (markReady = r));
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('ready\n')) markReady(); });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<string>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out.trim().split('\n').pop() ?? '') : reject(new Error(`child exited ${code}: ${err}`))));
  });
  done.catch(() => markReady());
  return { ready, done };
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

t.test('live: a kernel TSO super-frame segmented; our segments accepted by kernel TCP and UDP', { skip: canRunLive ? false : 'needs root and /dev/net/tun' }, async (t) => {
  const run = (cmd: string, args: string[]): string =>
    execFileSync(cmd, args, { timeout: LIVE_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  const children: ChildProcess[] = [];
  const port = TapPort.open('tfg' + randomBytes(3).toString('hex'), { vnetHdr: true, batch: 16 });
  const ns = `tfg-${process.pid}-${randomBytes(3).toString('hex')}`;
  t.teardown(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    port.close();
    try { run('ip', ['netns', 'del', ns]); } catch { /* gone */ }
  });
  run('ip', ['netns', 'add', ns]);
  try { run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']); } catch { /* no IPv6 */ }
  run('ip', ['link', 'set', port.name, 'netns', ns]);
  run('ip', ['-n', ns, 'addr', 'add', `${NS_IP}/24`, 'dev', port.name]);
  run('ip', ['-n', ns, 'link', 'set', port.name, 'up']);
  run('ip', ['-n', ns, 'neigh', 'replace', OUR_IP, 'lladdr', OUR_MAC, 'dev', port.name, 'nud', 'permanent']);
  const tapMac = run('ip', ['-n', ns, '-br', 'link', 'show', port.name]).trim().split(/\s+/)[2];

  // every received frame, with its 10-byte vnet header in front
  const frames: Uint8Array[] = [];
  let wake: (() => void) | null = null;
  port.onReadable(() => {
    const rx = port.rx;
    for (let n = port.receive(); n > 0; n = port.receive()) {
      for (let i = 0; i < n; i++) frames.push(rx.slab.slice(rx.offsets[i] - 10, rx.offsets[i] + rx.lengths[i]));
    }
    wake?.();
  });
  const take = async (what: string, match: (f: Uint8Array) => boolean): Promise<Uint8Array> => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const i = frames.findIndex((f) => match(f.subarray(10)));
      if (i >= 0) return frames.splice(i, 1)[0];
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${frames.length} other frames)`);
      await new Promise<void>((r) => { const tm = setTimeout(r, 100); wake = () => { clearTimeout(tm); r(); }; });
      wake = null;
    }
  };
  const fi = new FrameInfo();
  const isTcpFrom = (f: Uint8Array, sport: number): boolean =>
    parseFrame(f, 0, f.length, fi) === DropReason.None && fi.l4Proto === 6 && fi.srcPort === sport;
  const send = (frame: Uint8Array): void => {
    const slab = new Uint8Array(10 + frame.length);
    slab.set(frame, 10);
    t.equal(port.send(slab, Uint32Array.of(10), Uint32Array.of(frame.length), 1, false), 1);
  };
  const tcp = (seq: number, ack: number, flags: number, payload?: Uint8Array, opts?: number[]): Uint8Array => buildFrame({
    srcMac: OUR_MAC, dstMac: tapMac, ip: { version: 4, src: OUR_IP, dst: NS_IP, df: true, id: 7 },
    l4: { proto: 'tcp', sport: 40000, dport: 8080, seq, ack, flags, window: 65535, tcpOptions: opts, payload },
  });

  // --- kernel → us: the kernel's first flight arrives as a TSO super-frame
  const UPLOAD = 30000;
  const peer = nsChild(ns, TCP_PEER, [NS_IP, '8080', '60000', String(UPLOAD)], children);
  await peer.ready;
  const ISS = 0x10000000;
  send(tcp(ISS, 0, 0x02, undefined, [2, 4, 0x05, 0xb4]));
  const synAck = (await take('SYN-ACK', (f) => isTcpFrom(f, 8080) && (f[47] & 0x12) === 0x12)).subarray(10);
  const serverIss = u32(synAck, 38);
  send(tcp(ISS + 1, serverIss + 1, ACK));
  const gso = await take('TSO super-frame', (f) => isTcpFrom(f, 8080) && f.length > 1514);
  const gsoInfo = new FrameInfo();
  t.equal(parseFrame(gso, 10, gso.length - 10, gsoInfo), DropReason.None);
  const gsoSize = gso[4] | (gso[5] << 8);
  t.equal(gso[1] & 0x7f, VNET_HDR_GSO_TCPV4, 'kernel sent gso_type TCPV4');
  t.comment(`kernel super-frame: vnet ${Buffer.from(gso.subarray(0, 10)).toString('hex')} (hdr_len ${gso[2] | (gso[3] << 8)}, gso_size ${gsoSize}), ${gso.length - 10} bytes`);
  const thl = (gso[10 + 34 + 12] >>> 4) << 2;
  const kernelPayload = gso.slice(10 + 34 + thl, 10 + 14 + gsoInfo.l3Len);
  const seq0 = u32(gso, 10 + 34 + 4);
  const expect = new Uint8Array(kernelPayload.length);
  for (let i = 0; i < expect.length; i++) expect[i] = ((seq0 - serverIss - 1 + i) * 7 + 3) & 255;
  t.equal(Buffer.compare(kernelPayload, expect), 0, 'super-frame payload is the peer\'s byte stream');
  const kf: Super = { buf: gso, off: 10, len: gso.length - 10, hdrOff: 0, info: gsoInfo, payload: kernelPayload, proto: 6, version: 4 };
  const ko = segment(kf);
  t.equal(ko.n, Math.ceil(kernelPayload.length / gsoSize), `segmented into ${ko.n}`);
  t.same(verifySegments(kf, ko, gsoSize), [], 'every segment of the kernel\'s super-frame valid');

  // --- us → kernel: a TSO super-frame of ours, segmented, into the kernel's TCP
  const upload = pattern(UPLOAD, 99);
  const mine = superFrameFrom(tcp(ISS + 1, serverIss + 1, ACK | PSH, upload), VNET_HDR_GSO_TCPV4, 1400);
  const mo = segment(mine);
  t.equal(mo.n, Math.ceil(UPLOAD / 1400));
  const offsets = new Uint32Array(mo.n);
  for (let i = 0; i < mo.n; i++) offsets[i] = i * SLOT + 10;
  t.equal(port.send(mo.out, offsets, mo.lens, mo.n, true), mo.n, 'segments written (zeroed vnet headers)');
  t.same(JSON.parse(await peer.done), { got: UPLOAD, sha: sha256(upload) }, 'kernel TCP received our byte stream intact');

  // --- USO and UFO into a kernel UDP socket
  const uso = pattern(5000, 5);
  const udpPeer = nsChild(ns, UDP_PEER, [NS_IP, '9000', '6'], children);
  await udpPeer.ready;
  const udpFrame = (payload: Uint8Array): Uint8Array => buildFrame({
    srcMac: OUR_MAC, dstMac: tapMac, ip: { version: 4, src: OUR_IP, dst: NS_IP, id: 99 },
    l4: { proto: 'udp', sport: 5555, dport: 9000, payload },
  });
  const uo = segment(superFrameFrom(udpFrame(uso), VNET_HDR_GSO_UDP_L4, 1200));
  const big = pattern(3992, 6);
  const fo = segment(superFrameFrom(udpFrame(big), VNET_HDR_GSO_UDP, 1480));
  t.equal(uo.n, 5);
  t.equal(fo.n, 3);
  t.equal(port.send(uo.out, offsets.subarray(0, uo.n), uo.lens, uo.n, true), uo.n);
  t.equal(port.send(fo.out, offsets.subarray(0, fo.n), fo.lens, fo.n, true), fo.n);
  const want = [0, 1, 2, 3, 4].map((i) => uso.subarray(i * 1200, Math.min(5000, (i + 1) * 1200)));
  want.push(big);
  t.same(JSON.parse(await udpPeer.done), want.map((w) => ({ len: w.length, sha: sha256(w) })), 'USO datagrams and the reassembled UFO datagram arrived intact');
});

/** Turn a complete frame (valid checksums) into a super-frame: partial checksum + vnet header in a slot. */
function superFrameFrom(frame: Uint8Array, gsoType: number, mss: number): Super {
  const slot = inSlot(frame);
  const info = new FrameInfo();
  if (parseFrame(slot.buf, slot.off, slot.len, info) !== DropReason.None) throw new Error('superFrameFrom: does not parse');
  const proto = info.l4Proto;
  const csumOff = proto === 6 ? 16 : 6;
  const partial = fold(pseudoSum4(info.src4, info.dst4, proto, info.l4Len));
  slot.buf[info.l4Off + csumOff] = partial >>> 8;
  slot.buf[info.l4Off + csumOff + 1] = partial & 0xff;
  const l4h = proto === 6 ? (slot.buf[info.l4Off + 12] >>> 4) << 2 : 8;
  emitVnetHdr(slot.buf, slot.hdrOff, VNET_HDR_F_NEEDS_CSUM, gsoType, info.l4Off + l4h - slot.off, mss, info.l4Off - slot.off, csumOff);
  return { ...slot, info, payload: slot.buf.slice(info.l4Off + l4h, info.l3Off + info.l3Len), proto, version: 4 };
}
