import t from 'tap';
import { DropReason } from '../pipeline/drop-reason';
import { parseIpv6 } from './address';
import { buildFrame } from './build';
import { l4Checksum4, l4Checksum6 } from './checksum';
import { CAPTURE_UDP4_MDNS, Prng } from './fixtures';
import {
  checkUdp, setUdpChecksum, udpAdjustForAddr4, udpAdjustForAddr6, udpChecksum, udpDstPort, udpFillChecksum4,
  udpFillChecksum6, udpLength, udpRewriteDstPort, udpRewriteSrcPort, udpSrcPort,
} from './udp';

t.test('deconstruct a real datagram', async (t) => {
  const b = CAPTURE_UDP4_MDNS, o = 34;
  t.equal(checkUdp(b, o, 57, false), DropReason.None);
  t.equal(udpSrcPort(b, o), 5349);
  t.equal(udpDstPort(b, o), 5353);
  t.equal(udpLength(b, o), 57);
  t.equal(udpChecksum(b, o), 0xfe31);
});

t.test('truncation and length field', async (t) => {
  for (let len = 0; len < 8; len++) t.equal(checkUdp(CAPTURE_UDP4_MDNS, 34, len, false), DropReason.UdpTruncated);
  const b = CAPTURE_UDP4_MDNS.slice();
  for (const [ulen, want] of [[0, DropReason.UdpBadLength], [7, DropReason.UdpBadLength], [8, DropReason.None],
    [57, DropReason.None], [58, DropReason.UdpBadLength], [0xffff, DropReason.UdpBadLength]] as const) {
    b[38] = ulen >>> 8;
    b[39] = ulen & 0xff;
    t.equal(checkUdp(b, 34, 57, false), want, `length ${ulen}`);
  }
  b[38] = 0x10; b[39] = 0;
  t.equal(checkUdp(b, 34, 57, true), DropReason.None, 'first fragment: length covers the whole datagram');
  b[38] = 0; b[39] = 20;
  t.equal(checkUdp(b, 34, 57, true), DropReason.UdpBadLength, 'first fragment shorter than its own payload');
});

t.test('checksums: fill, zero rules, incremental rewrites', async (t) => {
  const f = buildFrame({ ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2' }, l4: { proto: 'udp', sport: 1, dport: 2, payload: 'hello' } });
  const o = 34, len = 13;
  t.equal(l4Checksum4(f, o, len, 17, 0x0a000001, 0x0a000002), 0, 'builder checksum valid');
  const c = udpChecksum(f, o);
  udpFillChecksum4(f, o, len, 0x0a000001, 0x0a000002);
  t.equal(udpChecksum(f, o), c);
  setUdpChecksum(f, o, 0);
  udpRewriteSrcPort(f, o, 999);
  t.equal(udpChecksum(f, o), 0, 'no checksum stays none');
  udpAdjustForAddr4(f, o, 1, 2);
  t.equal(udpChecksum(f, o), 0);
  const r = new Prng(768);
  let bad = 0, sawFfff = 0;
  for (let i = 0; i < 5000; i++) {
    const g = buildFrame({ ip: { version: 6, src: 'fd00::1', dst: 'fd00::2' }, l4: { proto: 'udp', sport: r.below(65536), dport: r.below(65536), payload: r.bytes(r.below(30)) } });
    const gl = g.length - 54;
    udpRewriteSrcPort(g, 54, r.below(65536));
    udpRewriteDstPort(g, 54, r.below(65536));
    const old = g.slice(22, 38);
    const nw = r.bytes(16);
    g.set(nw, 22);
    udpAdjustForAddr6(g, 54, old, 0, nw, 0);
    if (udpChecksum(g, 54) === 0) bad++;
    if (udpChecksum(g, 54) === 0xffff) sawFfff++;
    if (l4Checksum6(g, 14, 54, gl, 17) !== 0) bad++;
    const keep = udpChecksum(g, 54);
    udpFillChecksum6(g, 14, 54, gl);
    if ((udpChecksum(g, 54) % 0xffff) !== (keep % 0xffff)) bad++;
  }
  t.equal(bad, 0);
  t.comment(`0xffff results: ${sawFfff}`);
  // a datagram whose checksum computes to 0 is sent as 0xffff
  const z = buildFrame({ ip: { version: 6, src: '::', dst: '::' }, l4: { proto: 'udp', sport: 0, dport: 0, payload: [0, 0] } });
  // choose payload so that the sum is 0xffff: pseudo (17 + 10) + header (10 + csum 0) + payload
  const want = 0xffff - (17 + 10 + 10);
  z[62] = want >>> 8;
  z[63] = want & 0xff;
  udpFillChecksum6(z, 14, 54, 10);
  t.equal(udpChecksum(z, 54), 0xffff);
  t.equal(l4Checksum6(z, 14, 54, 10, 17), 0);
  t.ok(parseIpv6('::'));
});
