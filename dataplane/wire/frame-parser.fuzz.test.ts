/**
 * Seeded fuzz test of parseFrame: 2,000,000 (≥ 1,000,000) random and mutated frames. Every result
 * must be a valid DropReason, nothing may throw, a successful parse must describe
 * offsets inside the frame, and (on a sample) the result may not depend on bytes past
 * `len` (poisoned with 0x00 and 0xff: any out-of-bounds read shows up as a difference).
 *
 * Seed and count can be overridden: FUZZ_SEED=123 FUZZ_ITERATIONS=5000000.
 */
import t from 'tap';
import { DROP_REASON_COUNT, DROP_REASON_NAMES, DropReason } from '../pipeline/drop-reason';
import { buildArp, buildFrame, FrameSpec } from './build';
import {
  ARP_REPLY, CAPTURE_NS, CAPTURE_NS_DAD, CAPTURE_RA, CAPTURE_TCP4, CAPTURE_UDP4_MDNS, ECHO6_REQUEST, ECHO_REQUEST,
  NA_REPLY, PACKET_TOO_BIG, Prng, TIME_EXCEEDED,
} from './fixtures';
import { FrameInfo, parseFrame } from './frame-parser';

const SEED = Number(process.env.FUZZ_SEED ?? 0x7a9f10) >>> 0;
const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 2_000_000);

function corpus(): Uint8Array[] {
  const out: Uint8Array[] = [
    CAPTURE_TCP4, CAPTURE_UDP4_MDNS, CAPTURE_NS, CAPTURE_NS_DAD, CAPTURE_RA, ECHO_REQUEST, ECHO6_REQUEST, ARP_REPLY,
    TIME_EXCEEDED, PACKET_TOO_BIG, NA_REPLY,
    buildArp({ srcIp: '10.0.0.1', targetIp: '10.0.0.2', vlan: 5 }),
  ];
  const v4 = { version: 4 as const, src: '10.1.2.3', dst: '192.0.2.9' };
  const v6 = { version: 6 as const, src: '2001:db8::1', dst: '2001:db8:1::2' };
  const specs: FrameSpec[] = [
    { ip: { ...v4, options: [1, 148, 4, 0, 0, 7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0] }, l4: { proto: 'tcp', sport: 1, dport: 2, tcpOptions: [2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], flags: 0x12, payload: 'data' } },
    { vlan: 10, ip: { ...v4, df: true }, l4: { proto: 'udp', sport: 53, dport: 53, payload: new Uint8Array(40) } },
    { vlan: [{ id: 3, tpid: 0x88a8 }, 4], ip: v4, l4: { proto: 'icmp', type: 8, id: 1, icmpSeq: 2, payload: 'ping' } },
    { ip: v4, l4: { proto: 'sctp', sport: 9, dport: 10, vtag: 77, payload: new Uint8Array(16) } },
    { ip: { ...v4, fragment: { offset: 0, more: true } }, l4: { proto: 'udp', sport: 1, dport: 2, length: 4000, payload: new Uint8Array(24) } },
    { ip: { ...v4, protocol: 6, fragment: { offset: 1480, more: true } }, payload: new Uint8Array(30) },
    { ip: { ...v4, ttl: 1 }, l4: { proto: 'tcp', sport: 5, dport: 6, flags: 0x02 }, padTo: 60 },
    { ip: v6, l4: { proto: 'tcp', sport: 1, dport: 2, flags: 0x10, payload: 'x' } },
    { vlan: 7, ip: { ...v6, ext: [{ type: 'hbh', data: [5, 2, 0, 0] }, { type: 'dst' }, { type: 'routing' }] }, l4: { proto: 'udp', sport: 3, dport: 4, payload: 'yy' } },
    { ip: { ...v6, ext: [{ type: 'ah' }, { type: 'fragment', offset: 0, more: true, id: 5 }] }, l4: { proto: 'icmpv6', type: 128, payload: 'z' } },
    { ip: { ...v6, protocol: 6, fragment: { offset: 2048, more: false, id: 5 } }, payload: new Uint8Array(20) },
    { ip: { ...v6, ext: Array.from({ length: 7 }, () => ({ type: 'dst' as const })) }, l4: { proto: 'sctp', sport: 1, dport: 1 } },
    { ip: { ...v6, ttl: 255, src: 'fe80::1', dst: 'ff02::1:ff00:2' }, l4: { proto: 'icmpv6', type: 135, payload: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 1, 2, 0, 0, 0, 0, 1] } },
    { ip: { ...v6, ttl: 255, src: 'fe80::1', dst: 'fe80::2' }, l4: { proto: 'icmpv6', type: 137, payload: [...new Uint8Array(32), 2, 1, 1, 2, 3, 4, 5, 6] } },
    { ip: { ...v6, ttl: 255, src: 'fe80::1', dst: 'ff02::2' }, l4: { proto: 'icmpv6', type: 133, payload: [1, 1, 1, 2, 3, 4, 5, 6] } },
  ];
  for (const s of specs) out.push(buildFrame(s));
  return out;
}

/** Positions of interesting header bytes in a valid template (from its parse). */
function hotPositions(f: Uint8Array, info: FrameInfo): number[] {
  const pos: number[] = [12, 13, 14, 15, 16, 17, 18, 19, 20, 21];
  parseFrame(f, 0, f.length, info);
  const end = Math.min(f.length, info.l4Off + 48);
  for (let i = info.l3Off; i < end; i++) pos.push(i);
  return pos;
}

function fixIpv4Checksum(b: Uint8Array, len: number): void {
  // find the L3 offset the way the parser would (0–2 tags)
  let o = 12;
  for (let k = 0; k < 3 && o + 2 <= len; k++) {
    const ty = (b[o] << 8) | b[o + 1];
    if (ty === 0x8100 || ty === 0x88a8 || ty === 0x9100) o += 4;
    else break;
  }
  if (o + 2 > len || ((b[o] << 8) | b[o + 1]) !== 0x0800) return;
  const l3 = o + 2;
  if (l3 + 20 > len) return;
  const ihl = (b[l3] & 0x0f) << 2;
  if (ihl < 20 || l3 + ihl > len) return;
  b[l3 + 10] = 0;
  b[l3 + 11] = 0;
  let s = 0;
  for (let i = 0; i < ihl; i += 2) s += (b[l3 + i] << 8) | b[l3 + i + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  b[l3 + 10] = (~s >>> 8) & 0xff;
  b[l3 + 11] = ~s & 0xff;
}

const INFO_KEYS: (keyof FrameInfo)[] = [
  'frameOff', 'frameLen', 'vlanId', 'vlanTags', 'ethertype', 'l3Off', 'ipVersion', 'src4', 'dst4', 'ttl', 'ipHeaderLen',
  'l3Len', 'dontFragment', 'isFragment', 'isFirstFragment', 'fragOffset', 'l4Proto', 'l4Off', 'l4Len', 'srcPort',
  'dstPort', 'tcpFlags', 'icmpType', 'icmpCode',
];

t.test(`parseFrame survives ${ITERATIONS} random and mutated frames (seed ${SEED})`, async (t) => {
  const rng = new Prng(SEED);
  const info = new FrameInfo();
  const infoB = new FrameInfo();
  const templates = corpus();
  const hot = templates.map((f) => hotPositions(f, info));
  for (const f of templates) t.equal(parseFrame(f, 0, f.length, info), DropReason.None, 'template is valid');
  const MAX = 66000;
  const OFF = 10; // frames sit after vnet-style headroom
  const buf = new Uint8Array(OFF + MAX + 64);
  const counts = new Array<number>(DROP_REASON_COUNT).fill(0);
  let thrown = 0, invalid = 0, broken = 0, leaks = 0, firstError = '';
  let flagSweep = 0;
  const start = Date.now();

  for (let it = 0; it < ITERATIONS; it++) {
    let len: number;
    const mode = rng.below(100);
    if (mode < 8) {
      // pure random frame with a plausible EtherType
      len = rng.below(200);
      rng.fill(buf, OFF, len);
      if (len >= 14) {
        const types = [0x0800, 0x86dd, 0x0806, 0x8100, 0x88a8];
        const ty = rng.chance(0.8) ? types[rng.below(types.length)] : rng.below(65536);
        buf[OFF + 12] = ty >>> 8;
        buf[OFF + 13] = ty & 0xff;
        if (rng.chance(0.5) && len >= 15) buf[OFF + 14] = rng.chance(0.5) ? 0x45 : 0x60;
      }
    } else {
      const ti = rng.below(templates.length);
      const tpl = templates[ti];
      const hp = hot[ti];
      buf.set(tpl, OFF);
      len = tpl.length;
      const nmut = 1 + rng.below(3);
      for (let m = 0; m < nmut; m++) {
        const kind = rng.below(10);
        if (kind === 0) {
          len = rng.below(len + 1); // truncate
        } else if (kind === 1) {
          const extra = rng.below(64); // extend with whatever lies behind (garbage)
          len = Math.min(MAX, len + extra);
        } else if (kind === 2 || kind === 3) {
          const p = hp[rng.below(hp.length)]; // bit flip in a header
          if (p < len) buf[OFF + p] ^= 1 << rng.below(8);
        } else if (kind === 4) {
          const p = hp[rng.below(hp.length)]; // header byte := boundary or random value
          const vals = [0, 1, 2, 4, 5, 8, 0x0f, 0x10, 0x40, 0x45, 0x4f, 0x60, 0x7f, 0x80, 0xfe, 0xff];
          if (p < len) buf[OFF + p] = rng.chance(0.5) ? vals[rng.below(vals.length)] : rng.below(256);
        } else if (kind === 5) {
          // a 16-bit field := around the real length
          const p = hp[rng.below(hp.length)];
          if (p + 1 < len) {
            const v = (len - p + rng.range(-24, 24)) & 0xffff;
            buf[OFF + p] = v >>> 8;
            buf[OFF + p + 1] = v & 0xff;
          }
        } else if (kind === 6) {
          // every TCP flag byte, in turn
          parseFrame(buf, OFF, len, info);
          if (info.l4Proto === 6 && info.l4Off + 13 < OFF + len) buf[info.l4Off + 13] = flagSweep++ & 0xff;
        } else if (kind === 7) {
          const p = rng.below(len || 1); // anywhere
          if (p < len) buf[OFF + p] = rng.below(256);
        } else if (kind === 8) {
          // IHL / IPv6 ext header length: small values
          parseFrame(buf, OFF, len, info);
          if (info.l3Off > 0 && info.l3Off < OFF + len) {
            if (info.ipVersion === 4 || buf[info.l3Off] >>> 4 === 4) buf[info.l3Off] = 0x40 | rng.below(16);
            else if (info.l3Off + 41 < OFF + len) buf[info.l3Off + 41] = rng.below(8);
          }
        } else {
          // swap a run of header bytes with random ones
          const p = hp[rng.below(hp.length)];
          const n = rng.range(1, 8);
          for (let i = 0; i < n && p + i < len; i++) buf[OFF + p + i] = rng.below(256);
        }
      }
      if (rng.chance(0.6)) fixIpv4Checksum(buf.subarray(OFF), len);
    }

    let r: number;
    try {
      r = parseFrame(buf, OFF, len, info);
    } catch (e) {
      thrown++;
      if (!firstError) firstError = String(e);
      continue;
    }
    if (!Number.isInteger(r) || r < 0 || r >= DROP_REASON_COUNT) {
      invalid++;
      continue;
    }
    counts[r]++;
    if (r === DropReason.None) {
      const end = OFF + len;
      const ok = info.frameOff === OFF && info.l3Off >= OFF + 14 && info.l3Off <= end &&
        (info.ipVersion === 0 || (info.l3Off + info.l3Len <= end && info.l4Off >= info.l3Off + 20 &&
          info.l4Off + info.l4Len === info.l3Off + info.l3Len && info.l4Len >= 0 &&
          info.ipHeaderLen === info.l4Off - info.l3Off)) &&
        (info.srcPort === 0 || info.l4Off + 4 <= end) &&
        (!info.isFirstFragment || info.isFragment) && (info.fragOffset === 0 || info.isFragment);
      if (!ok) {
        broken++;
        if (!firstError) firstError = `inconsistent info at iteration ${it}: ${JSON.stringify(info)}`;
      }
    }
    if ((it & 7) === 0) {
      // poison the bytes behind the frame: the result must not change
      for (let i = 0; i < 64; i++) buf[OFF + len + i] = 0;
      const ra = parseFrame(buf, OFF, len, info);
      for (let i = 0; i < 64; i++) buf[OFF + len + i] = 0xff;
      const rb = parseFrame(buf, OFF, len, infoB);
      let same = ra === rb && ra === r;
      for (const k of INFO_KEYS) if (info[k] !== infoB[k]) same = false;
      if (!same) {
        leaks++;
        if (!firstError) firstError = `read past len at iteration ${it}`;
      }
    }
  }
  const ms = Date.now() - start;
  t.equal(thrown, 0, `no exceptions ${firstError}`);
  t.equal(invalid, 0, 'every result is a DropReason');
  t.equal(broken, 0, `successful parses are consistent ${firstError}`);
  t.equal(leaks, 0, `no read past len ${firstError}`);
  const seen = counts.map((n, i) => [DROP_REASON_NAMES[i], n] as const).filter(([, n]) => n > 0);
  t.comment(`${ITERATIONS} frames in ${ms} ms; outcomes: ${seen.map(([k, n]) => `${k}=${n}`).join(' ')}`);
  t.ok(counts[DropReason.None] > ITERATIONS / 20, 'a fair share still parses');
  t.ok(seen.length >= 20, 'most reasons are reached');
});
