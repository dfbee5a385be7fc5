import t from 'tap';
import { DropReason } from '../pipeline/drop-reason';
import { buildFrame, toHex } from './build';
import { checksum } from './checksum';
import { CAPTURE_TCP4, CAPTURE_UDP4_MDNS, IPV4_HEADER_B861, Prng } from './fixtures';
import {
  checkIpv4, decrementTtl, emitIpv4Header, IPPROTO_TCP, IPPROTO_UDP, IPV4_FLAG_DF, IPV4_OPT_RA, ipv4Checksum,
  ipv4DontFrag, ipv4Dscp, ipv4Dst, ipv4Ecn, ipv4FillChecksum, ipv4FindOption, ipv4FlagsFrag, ipv4FragOffset,
  ipv4HeaderLen, ipv4Ident, ipv4IsFragment, ipv4MoreFrags, ipv4Protocol, ipv4RewriteDst, ipv4RewriteSrc,
  ipv4RewriteTos, ipv4RewriteTtl, ipv4Src, ipv4TotalLen, ipv4Ttl, ipv4Version, setIpv4Src,
} from './ipv4';

t.test('deconstruct a real header', async (t) => {
  const b = CAPTURE_TCP4, o = 14;
  t.equal(checkIpv4(b, o, b.length - o), DropReason.None);
  t.equal(ipv4Version(b, o), 4);
  t.equal(ipv4HeaderLen(b, o), 20);
  t.equal(ipv4Dscp(b, o), 0);
  t.equal(ipv4Ecn(b, o), 0);
  t.equal(ipv4TotalLen(b, o), 65);
  t.equal(ipv4Ident(b, o), 0x29da);
  t.equal(ipv4FlagsFrag(b, o), 0x4000);
  t.ok(ipv4DontFrag(b, o));
  t.notOk(ipv4MoreFrags(b, o));
  t.equal(ipv4FragOffset(b, o), 0);
  t.notOk(ipv4IsFragment(b, o));
  t.equal(ipv4Ttl(b, o), 54);
  t.equal(ipv4Protocol(b, o), IPPROTO_TCP);
  t.equal(ipv4Checksum(b, o), 0x66f4);
  t.equal(ipv4Src(b, o), 0x68128a43);
  t.equal(ipv4Dst(b, o), 0xc0a800eb);
  t.equal(ipv4Src(IPV4_HEADER_B861, 0), 0xc0a80001);
  t.equal(ipv4Protocol(CAPTURE_UDP4_MDNS, 14), IPPROTO_UDP);
  t.equal(ipv4Dst(CAPTURE_UDP4_MDNS, 14), 0xe00000fb, 'u32, not negative');
});

t.test('construct', async (t) => {
  const buf = new Uint8Array(24);
  t.equal(emitIpv4Header(buf, 2, 0, 0x73, 0, IPV4_FLAG_DF, 64, IPPROTO_UDP, 0xc0a80001, 0xc0a800c7), 20);
  t.equal(toHex(buf, 2, 20), toHex(IPV4_HEADER_B861), 'equals the real header');
  setIpv4Src(buf, 2, 0x01020304);
  ipv4FillChecksum(buf, 2);
  t.equal(checksum(buf, 2, 20), 0);
});

t.test('truncation at every length and overflowing length fields', async (t) => {
  const f = buildFrame({ ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2', options: [1, 1, 1, 1] }, l4: { proto: 'udp' } });
  const l3 = f.subarray(14);
  for (let len = 0; len < l3.length; len++) {
    const want = len < 24 ? DropReason.Ipv4Truncated : DropReason.Ipv4BadTotalLength;
    t.equal(checkIpv4(l3, 0, len), want, `len ${len}`);
  }
  t.equal(checkIpv4(l3, 0, l3.length), DropReason.None);
  t.equal(checkIpv4(l3, 0, l3.length + 100), DropReason.None, 'padding after the datagram');
});

t.test('options', async (t) => {
  const f = buildFrame({ ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2', options: [1, 148, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0] } });
  t.equal(checkIpv4(f, 14, f.length - 14), DropReason.None);
  t.equal(ipv4FindOption(f, 14, IPV4_OPT_RA), 14 + 21);
  t.equal(ipv4FindOption(f, 14, 7), 14 + 25);
  t.equal(ipv4FindOption(f, 14, 68), -1);
  const bad: number[][] = [[7, 7, 3, 0, 0, 0, 0], [0x44, 8, 4, 0, 0, 0, 0, 0], [148, 3, 0], [148, 5, 0, 0, 0], [0x83, 1], [0x83]];
  for (const o of bad) {
    const g = buildFrame({ ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2', options: o } });
    t.equal(checkIpv4(g, 14, g.length - 14), DropReason.Ipv4BadOptions, `options ${o}`);
  }
});

t.test('fragments', async (t) => {
  const f = buildFrame({ ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2', fragment: { offset: 2960, more: true } } });
  t.ok(ipv4IsFragment(f, 14));
  t.ok(ipv4MoreFrags(f, 14));
  t.equal(ipv4FragOffset(f, 14), 2960);
});

t.test('decrementTtl and rewrites update the checksum like a full recompute (RFC 1624 eqn 3)', async (t) => {
  const r = new Prng(791);
  let bad = 0;
  for (let i = 0; i < 20000; i++) {
    const h = new Uint8Array(20);
    emitIpv4Header(h, 0, r.below(256), r.below(65536), r.below(65536), r.below(65536), r.below(256), r.below(256), r.u32(), r.u32());
    const op = r.below(5);
    if (op === 0) {
      const before = h[8];
      const ttl = decrementTtl(h, 0);
      if (ttl !== ((before - 1) & 0xff) || h[8] !== ttl) bad++;
    } else if (op === 1) ipv4RewriteSrc(h, 0, r.u32());
    else if (op === 2) ipv4RewriteDst(h, 0, r.chance(0.1) ? 0xffffffff : r.u32());
    else if (op === 3) ipv4RewriteTtl(h, 0, r.below(256));
    else ipv4RewriteTos(h, 0, r.below(256));
    if (checksum(h, 0, 20) !== 0) bad++;
    const inc = ipv4Checksum(h, 0);
    ipv4FillChecksum(h, 0);
    if (ipv4Checksum(h, 0) !== inc) bad++;
  }
  t.equal(bad, 0);
  const b = CAPTURE_TCP4.slice();
  t.equal(decrementTtl(b, 14), 53);
  t.equal(checkIpv4(b, 14, 65), DropReason.None);
  t.equal(ipv4Checksum(b, 14), 0x67f4);
});
