import t from 'tap';
import { DropReason } from '../pipeline/drop-reason';
import { formatIpv6, parseIpv6 } from './address';
import { buildFrame, hex, toHex } from './build';
import { CAPTURE_NS, CAPTURE_RA } from './fixtures';
import {
  checkIpv6, decrementHopLimit, emitIpv6Header, Ipv6ExtWalk, ipv6DstOff, ipv6FlowLabel, ipv6FragIdent,
  ipv6HopLimit, ipv6NextHeader, ipv6PayloadLen, ipv6SrcOff, ipv6SwapAddrs, ipv6TrafficClass, ipv6Version,
  walkIpv6ExtHeaders, IPV6_MAX_EXT_HEADERS,
} from './ipv6';

const w = new Ipv6ExtWalk();

t.test('deconstruct a real header', async (t) => {
  const b = CAPTURE_NS, o = 14;
  t.equal(checkIpv6(b, o, b.length - o), DropReason.None);
  t.equal(ipv6Version(b, o), 6);
  t.equal(ipv6TrafficClass(b, o), 0xe0);
  t.equal(ipv6FlowLabel(b, o), 0);
  t.equal(ipv6PayloadLen(b, o), 32);
  t.equal(ipv6NextHeader(b, o), 58);
  t.equal(ipv6HopLimit(b, o), 255);
  t.equal(formatIpv6(b, ipv6SrcOff(o)), 'fe80::21f:caff:feb3:75c0');
  t.equal(formatIpv6(b, ipv6DstOff(o)), '2620:0:1005:0:26be:5ff:fe27:b17');
  t.equal(walkIpv6ExtHeaders(b, o, w), DropReason.None);
  t.match({ ...w }, { l4Proto: 58, l4Off: 54, count: 0, fragHdrOff: -1 });
  t.equal(ipv6TrafficClass(CAPTURE_RA, 14), 0xe0);
});

t.test('construct', async (t) => {
  const buf = new Uint8Array(40);
  const src = parseIpv6('fe80::21f:caff:feb3:75c0')!;
  const dst = parseIpv6('2620:0:1005:0:26be:5ff:fe27:b17')!;
  emitIpv6Header(buf, 0, 0xe0, 0, 32, 58, 255, src, 0, dst, 0);
  t.equal(toHex(buf), toHex(CAPTURE_NS, 14, 40));
  emitIpv6Header(buf, 0, 0xab, 0xcdef1, 0, 59, 1, src, 0, dst, 0);
  t.equal(ipv6TrafficClass(buf, 0), 0xab);
  t.equal(ipv6FlowLabel(buf, 0), 0xcdef1);
  ipv6SwapAddrs(buf, 0);
  t.equal(formatIpv6(buf, 8), '2620:0:1005:0:26be:5ff:fe27:b17');
  t.equal(decrementHopLimit(buf, 0), 0);
  t.equal(ipv6HopLimit(buf, 0), 0);
});

t.test('fixed header: truncation and overflowing payload length', async (t) => {
  const l3 = CAPTURE_NS.subarray(14);
  for (let len = 0; len < l3.length; len++) {
    t.equal(checkIpv6(l3, 0, len), len < 40 ? DropReason.Ipv6Truncated : DropReason.Ipv6BadPayloadLength, `len ${len}`);
  }
  const v4 = l3.slice();
  v4[0] = 0x4e;
  t.equal(checkIpv6(v4, 0, v4.length), DropReason.Ipv6BadVersion);
});

t.test('extension header chains', async (t) => {
  const chain = (ext: NonNullable<NonNullable<Parameters<typeof buildFrame>[0]['ip']>['ext']>, payload = 'abcdefgh') =>
    buildFrame({ ip: { version: 6, src: 'fd00::1', dst: 'fd00::2', ext, protocol: 17 }, payload });
  let f = chain([{ type: 'hbh' }, { type: 'routing' }, { type: 'fragment', offset: 0, more: true, id: 0xdeadbeef }, { type: 'ah' }, { type: 'dst' }]);
  t.equal(walkIpv6ExtHeaders(f, 14, w), DropReason.None);
  t.match({ ...w }, { l4Proto: 17, count: 5, fragHdrOff: 14 + 40 + 16, fragOffset: 0, moreFrags: true, routingHdrOff: 14 + 48 });
  t.equal(w.l4Off, 14 + 40 + 8 + 8 + 8 + 16 + 8);
  t.equal(ipv6FragIdent(f, w.fragHdrOff), 0xdeadbeef);
  // non-first fragment: the walk stops right after the fragment header
  f = chain([{ type: 'fragment', offset: 1232, more: false }, { type: 'dst' }]);
  t.equal(walkIpv6ExtHeaders(f, 14, w), DropReason.None);
  t.match({ ...w }, { l4Proto: 60, l4Off: 14 + 48, fragOffset: 1232, moreFrags: false, count: 1 });
  // bound
  const dsts = (n: number) => Array.from({ length: n }, () => ({ type: 'dst' as const }));
  t.equal(walkIpv6ExtHeaders(chain(dsts(IPV6_MAX_EXT_HEADERS)), 14, w), DropReason.None);
  t.equal(walkIpv6ExtHeaders(chain(dsts(IPV6_MAX_EXT_HEADERS + 1)), 14, w), DropReason.Ipv6BadExtHeader);
  // hop-by-hop after another header
  t.equal(walkIpv6ExtHeaders(chain([{ type: 'routing' }, { type: 'hbh' }]), 14, w), DropReason.Ipv6BadExtHeader);
  // an extension header cut by the payload length
  f = chain([{ type: 'dst', data: new Uint8Array(14) }], '');
  t.equal(walkIpv6ExtHeaders(f, 14, w), DropReason.None);
  for (let plen = 0; plen < 16; plen++) {
    const g = f.slice();
    g[18] = 0;
    g[19] = plen;
    t.equal(walkIpv6ExtHeaders(g, 14, w), DropReason.Ipv6BadExtHeader, `payload length ${plen}`);
  }
  // AH length in 4-byte units
  f = chain([{ type: 'ah', data: new Uint8Array(22) }]);
  t.equal(walkIpv6ExtHeaders(f, 14, w), DropReason.None);
  t.equal(w.l4Off, 14 + 40 + 24);
  // the real HBH example of RFC 2460 appendix B style: PadN only
  const hbh = hex('60000000 0008 0040 20010db8000000000000000000000001 20010db8000000000000000000000002 3b00 0104 00000000');
  t.equal(checkIpv6(hbh, 0, hbh.length), DropReason.None);
  t.equal(walkIpv6ExtHeaders(hbh, 0, w), DropReason.None);
  t.match({ ...w }, { l4Proto: 59, l4Off: 48, count: 1 });
});
