import t from 'tap';
import { DropReason } from '../pipeline/drop-reason';
import { formatIpv6, formatMac, parseIpv6, parseMac } from './address';
import { buildFrame, toHex } from './build';
import {
  CAPTURE_NS, CAPTURE_NS_DAD, CAPTURE_RA, ECHO6_REPLY, ECHO6_REQUEST, NA_REPLY, PACKET_TOO_BIG,
} from './fixtures';
import { FrameInfo, parseFrame } from './frame-parser';
import {
  checkIcmp6, checkNd, echoToReply, emitIcmp6Error, emitNeighborAdvert, emitNeighborSolicit, ICMP6_ERROR_MAX_IP_LEN,
  ICMP6_PACKET_TOO_BIG, ICMP6_PARAM_PROBLEM, icmp6ChecksumOk, icmp6EchoIdent, icmp6FillChecksum, icmp6EchoSeq, icmp6EchoToReply,
  icmp6IsError, icmp6IsNd, icmp6Mtu, icmp6Pointer, icmp6Type, ND_FRAME_LEN, ND_NA_FLAG_OVERRIDE, ND_NA_FLAG_ROUTER,
  ND_NA_FLAG_SOLICITED, ND_NEIGHBOR_SOLICIT, ND_OPT_MTU, ND_OPT_PREFIX_INFO, ndFindOption, ndNaFlags, ndOptionsOff,
  ndOptLen, ndOptLinkAddrOff, ndRaCurHopLimit, ndRaFlags, ndRaReachableTime, ndRaRetransTimer, ndRaRouterLifetime,
  ndSllaOptionOff, ndTargetOff, ndTllaOptionOff,
} from './icmpv6';

const R = parseMac('02:00:00:00:00:fe')!;
const info = new FrameInfo();

t.test('deconstruct real ND captures', async (t) => {
  // NS with a source link-layer option
  let o = 54;
  t.equal(checkIcmp6(CAPTURE_NS, o, 32), DropReason.None);
  t.equal(checkNd(CAPTURE_NS, 14, o, 32), DropReason.None);
  t.equal(icmp6Type(CAPTURE_NS, o), ND_NEIGHBOR_SOLICIT);
  t.equal(formatIpv6(CAPTURE_NS, ndTargetOff(o)), '2620:0:1005:0:26be:5ff:fe27:b17');
  const slla = ndSllaOptionOff(CAPTURE_NS, o, 32);
  t.equal(slla, o + 24);
  t.equal(formatMac(CAPTURE_NS, ndOptLinkAddrOff(slla)), '00:1f:ca:b3:75:c0');
  t.equal(ndTllaOptionOff(CAPTURE_NS, o, 32), -1);
  // DAD NS: no options
  t.equal(checkNd(CAPTURE_NS_DAD, 14, o, 24), DropReason.None);
  t.equal(ndSllaOptionOff(CAPTURE_NS_DAD, o, 24), -1);
  t.equal(formatIpv6(CAPTURE_NS_DAD, ndTargetOff(o)), 'fe80::20c:29ff:fe0e:4c67');
  // RA
  t.equal(checkNd(CAPTURE_RA, 14, o, 64), DropReason.None);
  t.equal(ndRaCurHopLimit(CAPTURE_RA, o), 64);
  t.equal(ndRaFlags(CAPTURE_RA, o), 0);
  t.equal(ndRaRouterLifetime(CAPTURE_RA, o), 1800);
  t.equal(ndRaReachableTime(CAPTURE_RA, o), 0);
  t.equal(ndRaRetransTimer(CAPTURE_RA, o), 0);
  t.equal(ndOptionsOff(CAPTURE_RA, o), o + 16);
  t.equal(formatMac(CAPTURE_RA, ndOptLinkAddrOff(ndSllaOptionOff(CAPTURE_RA, o, 64))), 'c2:00:54:f5:00:00');
  const mtu = ndFindOption(CAPTURE_RA, o, 64, ND_OPT_MTU);
  t.equal(mtu, o + 24);
  t.equal((CAPTURE_RA[mtu + 6] << 8) | CAPTURE_RA[mtu + 7], 1500);
  const pi = ndFindOption(CAPTURE_RA, o, 64, ND_OPT_PREFIX_INFO);
  t.equal(ndOptLen(CAPTURE_RA, pi), 32);
  t.equal(formatIpv6(CAPTURE_RA, pi + 16), '2001:db8:0:1::');
  o = 54;
  t.ok(icmp6IsNd(135));
  t.notOk(icmp6IsNd(128));
  t.ok(icmp6IsError(2));
  t.notOk(icmp6IsError(128));
});

t.test('ND validation (RFC 4861 7.1.1 and friends)', async (t) => {
  const mut = (src: Uint8Array, f: (b: Uint8Array) => void, len = src.length - 54, fix = true) => {
    const b = src.slice();
    f(b);
    if (fix) icmp6FillChecksum(b, 14, 54, b.length - 54);
    return checkNd(b, 14, 54, len);
  };
  t.equal(mut(CAPTURE_NS, (b) => { b[21] = 254; }), DropReason.NdMalformed, 'hop limit 254');
  t.equal(mut(CAPTURE_NS, (b) => { b[55] = 1; }), DropReason.NdMalformed, 'code 1');
  t.equal(mut(CAPTURE_NS, () => {}, 23), DropReason.NdMalformed, 'shorter than 24');
  t.equal(mut(CAPTURE_NS, (b) => { b[79] = 0; }), DropReason.NdMalformed, 'zero-length option');
  t.equal(mut(CAPTURE_NS, (b) => { b[79] = 2; }), DropReason.NdMalformed, 'option past the end');
  t.equal(mut(CAPTURE_NS, (b) => { b[60] ^= 0x20; }, 32, false), DropReason.IcmpBadChecksum, 'bad checksum');
  // multicast target: fix the checksum by building
  const ns = (target: string, src = 'fe80::1', dst = 'ff02::1:ff00:2', opts: number[] = [], hop = 255) =>
    buildFrame({ ip: { version: 6, src, dst, ttl: hop }, l4: { proto: 'icmpv6', type: 135, payload: [...parseIpv6(target)!, ...opts] } });
  const chk = (f: Uint8Array) => checkNd(f, 14, 54, f.length - 54);
  t.equal(chk(ns('fe80::2')), DropReason.None);
  t.equal(chk(ns('ff02::1')), DropReason.NdMalformed, 'multicast target');
  t.equal(chk(ns('fe80::2', '::', 'ff02::1:ff00:2')), DropReason.None, 'DAD');
  t.equal(chk(ns('fe80::2', '::', 'fe80::2')), DropReason.NdMalformed, 'DAD to a unicast address');
  t.equal(chk(ns('fe80::2', '::', 'ff02::1:ff00:2', [1, 1, 1, 2, 3, 4, 5, 6])), DropReason.NdMalformed, 'DAD with SLLA');
  t.equal(chk(ns('fe80::2', 'fe80::1', 'ff02::1:ff00:2', [1, 1, 1, 2, 3, 4, 5, 6, 14, 1, 0, 0, 0, 0, 0, 0])), DropReason.None,
    'unknown options are fine');
  const na = (dst: string, flags: number) => buildFrame({ ip: { version: 6, src: 'fe80::1', dst, ttl: 255 },
    l4: { proto: 'icmpv6', type: 136, rest: flags << 24, payload: parseIpv6('fe80::1')! } });
  t.equal(chk(na('fe80::2', 0xe0)), DropReason.None);
  t.equal(chk(na('ff02::1', 0xa0)), DropReason.None, 'unsolicited to all-nodes');
  t.equal(chk(na('ff02::1', 0x40)), DropReason.NdMalformed, 'S flag to multicast');
  const ra = (src: string) => buildFrame({ ip: { version: 6, src, dst: 'ff02::1', ttl: 255 }, l4: { proto: 'icmpv6', type: 134, payload: new Uint8Array(8) } });
  t.equal(chk(ra('fe80::1')), DropReason.None);
  t.equal(chk(ra('2001:db8::1')), DropReason.NdMalformed, 'RA from a global address');
  const rs = buildFrame({ ip: { version: 6, src: '::', dst: 'ff02::2', ttl: 255 }, l4: { proto: 'icmpv6', type: 133, payload: [1, 1, 1, 2, 3, 4, 5, 6] } });
  t.equal(chk(rs), DropReason.NdMalformed, 'RS from :: with SLLA');
  const redirect = buildFrame({ ip: { version: 6, src: 'fe80::1', dst: 'fe80::2', ttl: 255 }, l4: { proto: 'icmpv6', type: 137, payload: new Uint8Array(31) } });
  t.equal(chk(redirect), DropReason.NdMalformed, 'redirect shorter than 40');
  for (let len = 0; len < 24; len++) t.equal(checkNd(CAPTURE_NS, 14, 54, len), DropReason.NdMalformed, `len ${len}`);
});

t.test('emitNeighborSolicit reproduces the real captures', async (t) => {
  const buf = new Uint8Array(100).fill(0xee);
  // DAD probe, multicast to the solicited-node group
  let n = emitNeighborSolicit(buf, 0, parseMac('00:0c:29:0e:4c:67')!, 0, new Uint8Array(16), 0, parseIpv6('fe80::20c:29ff:fe0e:4c67')!, 0);
  t.equal(n, 78);
  t.equal(toHex(buf, 0, n), toHex(CAPTURE_NS_DAD));
  t.equal(buf[n], 0xee);
  // unicast NUD probe (the capture has traffic class 0xe0; we send 0)
  const expect = CAPTURE_NS.slice();
  expect[14] = 0x60;
  expect[15] = 0x00;
  n = emitNeighborSolicit(buf, 0, parseMac('00:1f:ca:b3:75:c0')!, 0, parseIpv6('fe80::21f:caff:feb3:75c0')!, 0,
    parseIpv6('2620:0:1005:0:26be:5ff:fe27:b17')!, 0, parseMac('24:be:05:27:0b:17')!, 0);
  t.equal(n, ND_FRAME_LEN);
  t.equal(toHex(buf, 0, n), toHex(expect));
  // multicast with a source address: SLLA present, valid
  n = emitNeighborSolicit(buf, 0, R, 0, parseIpv6('fe80::1')!, 0, parseIpv6('2001:db8::abcd:1234')!, 0);
  t.equal(parseFrame(buf, 0, n, info), DropReason.None);
  t.equal(formatMac(buf, 0), '33:33:ff:cd:12:34');
  t.equal(formatIpv6(buf, 38), 'ff02::1:ffcd:1234');
  t.equal(ndSllaOptionOff(buf, 54, n - 54), 54 + 24);
});

t.test('emitNeighborAdvert constructs the expected answer', async (t) => {
  const buf = new Uint8Array(100);
  const target = parseIpv6('2620:0:1005:0:26be:5ff:fe27:b17')!;
  const n = emitNeighborAdvert(buf, 0, R, 0, parseMac('00:1f:ca:b3:75:c0')!, 0, target, 0, parseIpv6('fe80::21f:caff:feb3:75c0')!, 0, true, true);
  t.equal(n, 86);
  t.equal(toHex(buf, 0, n), toHex(NA_REPLY));
  t.equal(parseFrame(buf, 0, n, info), DropReason.None);
  t.equal(ndNaFlags(buf, 54), ND_NA_FLAG_ROUTER | ND_NA_FLAG_SOLICITED | ND_NA_FLAG_OVERRIDE);
  t.equal(formatMac(buf, ndOptLinkAddrOff(ndTllaOptionOff(buf, 54, 32))), '02:00:00:00:00:fe');
  // unsolicited, to all-nodes
  const m = emitNeighborAdvert(buf, 0, R, 0, parseMac('33:33:00:00:00:01')!, 0, target, 0, parseIpv6('ff02::1')!, 0, false, false);
  t.equal(parseFrame(buf, 0, m, info), DropReason.None);
  t.equal(ndNaFlags(buf, 54), ND_NA_FLAG_OVERRIDE);
});

t.test('emitIcmp6Error: expected bytes and the 1280-byte limit', async (t) => {
  const buf = new Uint8Array(1500).fill(0xee);
  const g = parseIpv6('fd00::fe')!;
  let n = emitIcmp6Error(buf, 0, ICMP6_PACKET_TOO_BIG, 0, 1400, R, 0, parseMac('a6:f9:52:b6:1e:69')!, 0, g, 0, ECHO6_REQUEST, 14, 53);
  t.equal(toHex(buf, 0, n), toHex(PACKET_TOO_BIG));
  t.equal(icmp6Mtu(buf, 54), 1400);
  const big = buildFrame({ ip: { version: 6, src: 'fd00::9', dst: 'fd00::2' }, l4: { proto: 'udp', payload: new Uint8Array(1452) } });
  n = emitIcmp6Error(buf, 0, ICMP6_PARAM_PROBLEM, 0, 42, R, 0, R, 0, g, 0, big, 14, 1500);
  t.equal(n, 14 + ICMP6_ERROR_MAX_IP_LEN);
  t.equal(parseFrame(buf, 0, n, info), DropReason.None);
  t.match({ ...info }, { l3Len: 1280, ttl: 64, icmpType: 4 });
  t.equal(formatIpv6(buf, 38), 'fd00::9');
  t.equal(icmp6Pointer(buf, 54), 42);
  t.ok(icmp6ChecksumOk(buf, 14, 54, n - 54));
  t.equal(toHex(buf, 62, 1232), toHex(big, 14, 1232));
  t.equal(buf[n], 0xee);
});

t.test('echoToReply (v6)', async (t) => {
  const f = ECHO6_REQUEST.slice();
  t.equal(parseFrame(f, 0, f.length, info), DropReason.None);
  t.equal(icmp6EchoIdent(f, 54), 7);
  t.equal(icmp6EchoSeq(f, 54), 3);
  t.equal(echoToReply(f, 0, info), f.length);
  t.equal(toHex(f), toHex(ECHO6_REPLY));
  t.equal(icmp6EchoToReply, echoToReply);
  t.match({ ...info }, { ttl: 64, icmpType: 129 });
});
