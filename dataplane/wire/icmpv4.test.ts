import t from 'tap';
import { DropReason } from '../pipeline/drop-reason';
import { parseMac } from './address';
import { buildFrame, toHex } from './build';
import { checksum } from './checksum';
import { CAPTURE_TCP4, ECHO_REPLY, ECHO_REQUEST, FRAG_NEEDED, TIME_EXCEEDED } from './fixtures';
import { FrameInfo, parseFrame } from './frame-parser';
import {
  checkIcmp4, echoToReply, emitIcmp4Error, ICMP4_DEST_UNREACH, ICMP4_ECHO_REQUEST, ICMP4_ERROR_MAX_IP_LEN,
  ICMP4_FRAG_NEEDED, ICMP4_PARAM_PROBLEM, ICMP4_REDIRECT, ICMP4_TIME_EXCEEDED, ICMP4_TTL_EXCEEDED, icmp4Checksum,
  icmp4ChecksumOk, icmp4Code, icmp4EchoIdent, icmp4EchoSeq, icmp4EchoToReply, icmp4FillChecksum, icmp4Gateway,
  icmp4IsError, icmp4NextHopMtu, icmp4Pointer, icmp4QuoteOff, icmp4RewriteEchoIdent, icmp4Type,
} from './icmpv4';

const R = parseMac('02:00:00:00:00:fe')!;
const HOST = parseMac('b0:19:21:af:44:10')!;
const info = new FrameInfo();

t.test('deconstruct', async (t) => {
  const o = 34;
  t.equal(checkIcmp4(ECHO_REQUEST, o, 64), DropReason.None);
  t.equal(icmp4Type(ECHO_REQUEST, o), ICMP4_ECHO_REQUEST);
  t.equal(icmp4Code(ECHO_REQUEST, o), 0);
  t.equal(icmp4Checksum(ECHO_REQUEST, o), 0x463a);
  t.equal(icmp4EchoIdent(ECHO_REQUEST, o), 18178);
  t.equal(icmp4EchoSeq(ECHO_REQUEST, o), 1);
  t.ok(icmp4ChecksumOk(ECHO_REQUEST, o, 64));
  t.equal(icmp4NextHopMtu(FRAG_NEEDED, 34), 1400);
  t.equal(icmp4QuoteOff(34), 42);
  for (let len = 0; len < 8; len++) t.equal(checkIcmp4(ECHO_REQUEST, o, len), DropReason.IcmpTruncated);
  t.notOk(icmp4IsError(0));
  t.notOk(icmp4IsError(8));
  t.ok(icmp4IsError(3));
  t.ok(icmp4IsError(11));
  t.ok(icmp4IsError(200), 'unknown types are treated as errors');
});

t.test('echoToReply turns a request into the expected reply in place', async (t) => {
  const f = ECHO_REQUEST.slice();
  t.equal(parseFrame(f, 0, f.length, info), DropReason.None);
  t.equal(echoToReply(f, 0, info), f.length);
  t.equal(toHex(f), toHex(ECHO_REPLY));
  t.match({ ...info }, { src4: 0x0a003202, dst4: 0x0a000a03, ttl: 64, icmpType: 0 });
  t.equal(icmp4EchoToReply, echoToReply, 'alias');
  // in a VLAN, at an offset
  const g = buildFrame({ vlan: 12, ip: { version: 4, src: '1.2.3.4', dst: '5.6.7.8', ttl: 3, options: [148, 4, 0, 0] },
    l4: { proto: 'icmp', type: 8, id: 9, icmpSeq: 10, payload: 'odd' } });
  const slab = new Uint8Array(g.length + 20);
  slab.set(g, 20);
  t.equal(parseFrame(slab, 20, g.length, info), DropReason.None);
  echoToReply(slab, 20, info);
  t.equal(parseFrame(slab, 20, g.length, info), DropReason.None, 'IP checksum still valid');
  t.ok(icmp4ChecksumOk(slab, info.l4Off, info.l4Len), 'ICMP checksum still valid');
  t.match({ ...info }, { src4: 0x05060708, dst4: 0x01020304, ttl: 64, icmpType: 0 });
});

t.test('emitIcmp4Error constructs the expected frames', async (t) => {
  const buf = new Uint8Array(700).fill(0xee);
  let n = emitIcmp4Error(buf, 0, ICMP4_TIME_EXCEEDED, ICMP4_TTL_EXCEEDED, 0, R, 0, HOST, 0, 0xc0a80001, CAPTURE_TCP4, 14, 65);
  t.equal(n, TIME_EXCEEDED.length);
  t.equal(toHex(buf, 0, n), toHex(TIME_EXCEEDED));
  t.equal(buf[n], 0xee, 'nothing written past the frame');
  n = emitIcmp4Error(buf, 0, ICMP4_DEST_UNREACH, ICMP4_FRAG_NEEDED, 1400, R, 0, HOST, 0, 0xc0a80001, CAPTURE_TCP4, 14, 65);
  t.equal(toHex(buf, 0, n), toHex(FRAG_NEEDED));
  n = emitIcmp4Error(buf, 0, ICMP4_PARAM_PROBLEM, 0, 9, R, 0, HOST, 0, 0xc0a80001, CAPTURE_TCP4, 14, 65);
  t.equal(icmp4Pointer(buf, 34), 9);
  t.equal(toHex(buf, 39, 3), '000000');
  n = emitIcmp4Error(buf, 0, ICMP4_REDIRECT, 1, 0x0a000001, R, 0, HOST, 0, 0xc0a80001, CAPTURE_TCP4, 14, 65);
  t.equal(icmp4Gateway(buf, 34), 0x0a000001);
  t.equal(parseFrame(buf, 0, n, info), DropReason.None);
  t.ok(icmp4ChecksumOk(buf, 34, n - 34));
});

t.test('the quote stops at 576 bytes of IP; quoting from the same buffer', async (t) => {
  const big = buildFrame({ ip: { version: 4, src: '10.9.8.7', dst: '10.0.0.2' }, l4: { proto: 'udp', sport: 1, dport: 2, payload: new Uint8Array(1472).fill(0x61) } });
  const buf = new Uint8Array(2000);
  const n = emitIcmp4Error(buf, 0, ICMP4_DEST_UNREACH, 3, 0, R, 0, HOST, 0, 0x0a000001, big, 14, 1500);
  t.equal(n, 14 + ICMP4_ERROR_MAX_IP_LEN);
  t.equal(parseFrame(buf, 0, n, info), DropReason.None);
  t.match({ ...info }, { l3Len: 576, dst4: 0x0a090807, src4: 0x0a000001, ttl: 64, icmpType: 3, icmpCode: 3, dontFragment: true });
  t.equal(checksum(buf, 34, 556), 0);
  t.equal(toHex(buf, 42, 548), toHex(big, 14, 548));
  // same buffer: original in slot 1, error written to slot 0
  const slab = new Uint8Array(4096);
  slab.set(big, 2048);
  const m = emitIcmp4Error(slab, 0, ICMP4_DEST_UNREACH, 3, 0, R, 0, HOST, 0, 0x0a000001, slab, 2048 + 14, 1500);
  t.equal(toHex(slab, 0, m), toHex(buf, 0, n));
  // tiny original
  const k = emitIcmp4Error(buf, 0, ICMP4_DEST_UNREACH, 1, 0, R, 0, HOST, 0, 0x0a000001, big, 14, 20);
  t.equal(k, 14 + 20 + 8 + 20);
});

t.test('rewrite echo identifier incrementally; fill checksum', async (t) => {
  const f = ECHO_REQUEST.slice();
  icmp4RewriteEchoIdent(f, 34, 0xffff);
  t.equal(icmp4EchoIdent(f, 34), 0xffff);
  t.ok(icmp4ChecksumOk(f, 34, 64));
  f[40] = 0x12;
  icmp4FillChecksum(f, 34, 64);
  t.ok(icmp4ChecksumOk(f, 34, 64));
});
