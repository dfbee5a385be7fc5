import t from 'tap';
import {
  checksum, csumPartialUpdate16, csumPartialUpdate32, csumPartialUpdate128, csumUpdate16, csumUpdate32,
  csumUpdate128, finish, fold, ipv4HeaderChecksum, ipv4HeaderChecksumOk, l4Checksum4, l4Checksum6,
  pseudoSum4, pseudoSum6, sumRange,
} from './checksum';
import { CAPTURE_NS, CAPTURE_RA, CAPTURE_TCP4, IPV4_HEADER_B861, Prng, RFC1071_BYTES } from './fixtures';

/** Reference: the plain RFC 1071 loop, written independently of checksum.ts. */
function naive(b: Uint8Array, off: number, len: number, init = 0): number {
  let s = init;
  for (let i = 0; i < len; i += 2) {
    const hi = b[off + i];
    const lo = i + 1 < len ? b[off + i + 1] : 0;
    s += hi * 256 + lo;
    while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  }
  return ~s & 0xffff;
}

t.test('RFC 1071 section 3 example', async (t) => {
  t.equal(fold(sumRange(RFC1071_BYTES, 0, 8, 0)), 0xddf2);
  t.equal(checksum(RFC1071_BYTES, 0, 8), 0x220d);
  t.equal(finish(0x2ddf0), 0x220d);
});

t.test('real IPv4 header checksum', async (t) => {
  t.equal(ipv4HeaderChecksum(IPV4_HEADER_B861, 0, 20), 0xb861, 'computed ignoring the field');
  t.ok(ipv4HeaderChecksumOk(IPV4_HEADER_B861, 0, 20));
  t.equal(checksum(IPV4_HEADER_B861, 0, 20), 0, 'verifies to zero');
  const bad = IPV4_HEADER_B861.slice();
  bad[11] ^= 1;
  t.notOk(ipv4HeaderChecksumOk(bad, 0, 20));
  t.ok(ipv4HeaderChecksumOk(CAPTURE_TCP4, 14, 20), 'captured TCP frame');
});

t.test('L4 checksums with pseudo-headers (real captures)', async (t) => {
  const src = 0x68128a43, dst = 0xc0a800eb;
  t.equal(l4Checksum4(CAPTURE_TCP4, 34, 45, 6, src, dst), 0, 'TCP/IPv4 verifies');
  t.equal(pseudoSum4(src, dst, 6, 45), 0x6812 + 0x8a43 + 0xc0a8 + 0x00eb + 6 + 45);
  t.equal(l4Checksum6(CAPTURE_NS, 14, 54, 32, 58), 0, 'ICMPv6 NS verifies');
  t.equal(l4Checksum6(CAPTURE_RA, 14, 54, 64, 58), 0, 'ICMPv6 RA verifies');
  t.equal(pseudoSum6(CAPTURE_NS, 22, 38, 58, 0x12345), sumRange(CAPTURE_NS, 22, 32, 0) + 1 + 0x2345 + 58,
    '32-bit upper-layer length');
});

t.test('sumRange matches the naive loop on random ranges, odd lengths and 64 KiB', async (t) => {
  const r = new Prng(1071);
  const buf = r.bytes(70000);
  let bad = 0;
  for (let i = 0; i < 2000; i++) {
    const off = r.below(1000);
    const len = r.below(3000);
    if (checksum(buf, off, len) !== naive(buf, off, len)) bad++;
  }
  t.equal(bad, 0);
  const ff = new Uint8Array(65553).fill(0xff);
  t.equal(checksum(ff, 0, 65553), naive(ff, 0, 65553), 'all-ones 65553 bytes');
  t.equal(checksum(buf, 3, 65535), naive(buf, 3, 65535), 'random 65535 bytes');
  t.equal(fold(0x1_0000_0000 * 3 + 5), fold(((3 + 5) & 0xffff)), 'fold above 2^32');
});

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v & 0xff;
}
function get16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

t.test('RFC 1624 incremental update equals full recompute (random cases)', async (t) => {
  const r = new Prng(1624);
  let bad16 = 0, bad32 = 0, bad128 = 0;
  for (let i = 0; i < 20000; i++) {
    const len = 2 * r.range(6, 40);
    const b = r.bytes(len);
    // field at 0..1 is the checksum
    put16(b, 0, 0);
    put16(b, 0, checksum(b, 0, len));
    // 16-bit change at an even offset
    const o = 2 * r.range(1, len / 2 - 1);
    const oldV = get16(b, o);
    const newV = r.chance(0.1) ? (r.chance(0.5) ? 0 : 0xffff) : r.below(65536);
    put16(b, o, newV);
    const inc = csumUpdate16(get16(b, 0), oldV, newV);
    put16(b, 0, 0);
    if (inc !== checksum(b, 0, len)) bad16++;
    put16(b, 0, inc);
    // 32-bit change
    if (len >= 8) {
      const o32 = 2 * r.range(1, len / 2 - 2);
      const old32 = ((get16(b, o32) << 16) | get16(b, o32 + 2)) >>> 0;
      const new32 = r.u32();
      put16(b, o32, new32 >>> 16);
      put16(b, o32 + 2, new32 & 0xffff);
      const inc32 = csumUpdate32(get16(b, 0), old32, new32);
      put16(b, 0, 0);
      if (inc32 !== checksum(b, 0, len)) bad32++;
      put16(b, 0, inc32);
    }
    // 128-bit change
    if (len >= 20) {
      const o128 = 2 * r.range(1, len / 2 - 8);
      const old = b.slice(o128, o128 + 16);
      const nw = r.bytes(16);
      b.set(nw, o128);
      const inc128 = csumUpdate128(get16(b, 0), old, 0, nw, 0);
      put16(b, 0, 0);
      if (inc128 !== checksum(b, 0, len)) bad128++;
    }
  }
  t.equal(bad16, 0, '16-bit');
  t.equal(bad32, 0, '32-bit');
  t.equal(bad128, 0, '128-bit');
});

t.test('partial (non-complemented) checksum updates track the pseudo-header sum', async (t) => {
  const r = new Prng(7);
  let bad = 0;
  for (let i = 0; i < 5000; i++) {
    const src = r.u32(), dst = r.u32(), nsrc = r.u32(), len = r.below(65536);
    const p = fold(pseudoSum4(src, dst, 6, len));
    const want = fold(pseudoSum4(nsrc, dst, 6, len));
    const got = csumPartialUpdate32(p, src, nsrc);
    // one's complement: 0 and 0xffff are the same value
    if ((got % 0xffff) !== (want % 0xffff)) bad++;
    const nlen = r.below(65536);
    const got16 = csumPartialUpdate16(p, len, nlen);
    if ((got16 % 0xffff) !== (fold(pseudoSum4(src, dst, 6, nlen)) % 0xffff)) bad++;
    const a = r.bytes(32), b = r.bytes(16);
    const p6 = fold(pseudoSum6(a, 0, 16, 17, len));
    const a2 = a.slice();
    a2.set(b, 0);
    const got128 = csumPartialUpdate128(p6, a, 0, b, 0);
    if ((got128 % 0xffff) !== (fold(pseudoSum6(a2, 0, 16, 17, len)) % 0xffff)) bad++;
  }
  t.equal(bad, 0);
});
