import t from 'tap';
import { DropReason } from '../pipeline/drop-reason';
import { formatIpv6 } from './address';
import { buildArp, buildFrame, buildVnetHdr, hex, inSlot, toBytes, toHex } from './build';
import { checksum, l4Checksum4, l4Checksum6 } from './checksum';
import { ARP_REQUEST, CAPTURE_TCP4, ECHO_REQUEST } from './fixtures';
import { FrameInfo, parseFrame } from './frame-parser';
import { sctpChecksumOk } from './sctp';
import { TCP_ACK, TCP_PSH } from './tcp';

const info = new FrameInfo();

t.test('rebuilds real captures byte for byte', async (t) => {
  const f = buildFrame({
    dstMac: 'b0:3c:dc:87:c8:5a', srcMac: 'b0:19:21:af:44:10',
    ip: { version: 4, src: '104.18.138.67', dst: '192.168.0.235', id: 0x29da, df: true, ttl: 54 },
    l4: { proto: 'tcp', sport: 443, dport: 20781, seq: 0x0a348e3e, ack: 0x2ab3e697, flags: TCP_PSH | TCP_ACK, window: 11,
      payload: hex('1703 0300 143f ee7e e65c 1fdb 813a 0775 aecb 7666 b6e3 a4bd af') },
  });
  t.equal(toHex(f), toHex(CAPTURE_TCP4));
  const e = buildFrame({ dstMac: 'fa:de:dc:30:96:57', srcMac: 'a6:f9:52:b6:1e:69',
    ip: { version: 4, src: '10.0.10.3', dst: '10.0.50.2', id: 0x1234, df: true, ttl: 62 },
    l4: { proto: 'icmp', type: 8, id: 18178, icmpSeq: 1, payload: ECHO_REQUEST.subarray(42) } });
  t.equal(toHex(e), toHex(ECHO_REQUEST));
  t.equal(toHex(buildArp({ srcMac: 'a6:f9:52:b6:1e:69', srcIp: '10.0.10.3', targetIp: '10.0.10.1' })), toHex(ARP_REQUEST));
});

t.test('every kind of frame comes out valid with correct checksums', async (t) => {
  const v4 = { version: 4 as const, src: '10.0.0.1', dst: '10.0.0.2' };
  const v6 = { version: 6 as const, src: 'fd00::1', dst: 'fd00::2' };
  for (const proto of ['tcp', 'udp', 'icmp', 'sctp'] as const) {
    const f = buildFrame({ ip: { ...v4, options: [1, 1, 1] }, l4: { proto, sport: 1, dport: 2, payload: 'odd' } });
    t.equal(parseFrame(f, 0, f.length, info), DropReason.None, proto);
    if (proto === 'sctp') t.ok(sctpChecksumOk(f, info.l4Off, info.l4Len));
    else if (proto === 'icmp') t.equal(checksum(f, info.l4Off, info.l4Len), 0);
    else t.equal(l4Checksum4(f, info.l4Off, info.l4Len, info.l4Proto, info.src4, info.dst4), 0, `${proto} checksum`);
  }
  for (const proto of ['tcp', 'udp', 'icmpv6', 'sctp'] as const) {
    const f = buildFrame({ vlan: 3, ip: { ...v6, ext: [{ type: 'hbh' }, { type: 'dst', data: [1, 3, 0, 0, 0] }] }, l4: { proto, payload: 'x' } });
    t.equal(parseFrame(f, 0, f.length, info), DropReason.None, proto);
    t.equal(info.ipHeaderLen, 56);
    if (proto === 'sctp') t.ok(sctpChecksumOk(f, info.l4Off, info.l4Len));
    else t.equal(l4Checksum6(f, info.l3Off, info.l4Off, info.l4Len, info.l4Proto), 0, `${proto} checksum`);
  }
  const nocsum = buildFrame({ ip: v4, l4: { proto: 'udp', noChecksum: true } });
  t.equal(toHex(nocsum, 40, 2), '0000');
  const forced = buildFrame({ ip: v4, l4: { proto: 'tcp', checksum: 0xbeef } });
  t.equal(toHex(forced, 50, 2), 'beef');
  t.equal(buildFrame({ ip: v4, padTo: 60 }).length, 60);
  t.equal(buildFrame({ ip: v4 }).length, 34);
  const tc = buildFrame({ ip: { ...v6, tos: 0xe0, flowLabel: 0x12345 } });
  t.equal(toHex(tc, 14, 4), '6e012345');
  t.equal(formatIpv6(tc, 22), 'fd00::1');
});

t.test('helpers', async (t) => {
  t.equal(toHex(hex('0x45, 0x00 4500')), '45004500');
  t.throws(() => hex('abc'));
  t.equal(toHex(toBytes('AB')), '4142');
  t.equal(toHex(toBytes([1, 2])), '0102');
  t.equal(toBytes(undefined).length, 0);
  t.throws(() => buildFrame({ srcMac: 'nope' }));
  t.throws(() => buildFrame({ ip: { version: 4, src: '1.2.3', dst: '1.2.3.4' } }));
  const s = inSlot(CAPTURE_TCP4, { vnet: buildVnetHdr({ flags: 2 }), tailroom: 5 });
  t.equal(s.off, 10);
  t.equal(s.hdrOff, 0);
  t.equal(s.buf.length, 10 + 79 + 5);
  t.equal(s.buf[0], 2);
  t.equal(parseFrame(s.buf, s.off, s.len, info), DropReason.None);
  const reply = buildArp({ op: 2, srcMac: 'fa:de:dc:30:96:57', srcIp: '10.0.10.1', dstMac: 'a6:f9:52:b6:1e:69', targetIp: '10.0.10.3', padTo: 60 });
  t.equal(reply.length, 60);
  t.equal(parseFrame(reply, 0, 60, info), DropReason.None);
});
