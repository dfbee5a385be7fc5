import t from 'tap';
import {
  copyBytes, copyIpv6, copyMac, formatIpv4, formatIpv6, formatMac, ipv4Mask, ipv4MulticastMac, ipv6Equal,
  ipv6MulticastMac, isV4Broadcast, isV4LinkLocal, isV4Loopback, isV4Martian, isV4MartianDst, isV4Multicast,
  isV4SubnetBroadcast, isV4Unspecified, isV6LinkLocal, isV6Loopback, isV6Martian, isV6MartianDst, isV6Multicast,
  isV6MulticastLinkScope, isV6SolicitedNode, isV6Unspecified, isV6V4Mapped, macEqual, macIsBroadcast, macIsMulticast,
  macIsZero, macToNumber, parseIpv4, parseIpv4Cidr, parseIpv6, parseIpv6Cidr, parseMac, solicitedNodeAddr,
  solicitedNodeMac,
} from './address';
import { toHex } from './build';

t.test('IPv4 parse/format', async (t) => {
  t.equal(parseIpv4('192.168.0.1'), 0xc0a80001);
  t.equal(parseIpv4('255.255.255.255'), 0xffffffff);
  t.equal(parseIpv4('0.0.0.0'), 0);
  for (const s of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1..2.3', '1.2.3.4.', 'a.b.c.d', ' 1.2.3.4', '1.2.3.-4']) {
    t.equal(parseIpv4(s), -1, JSON.stringify(s));
  }
  t.equal(formatIpv4(0xc0a800c7), '192.168.0.199');
  t.equal(formatIpv4(0xffffffff), '255.255.255.255');
  t.same(parseIpv4Cidr('10.0.0.0/8'), [0x0a000000, 8]);
  t.equal(parseIpv4Cidr('10.0.0.0/33'), null);
  t.equal(ipv4Mask(24), 0xffffff00);
  t.equal(ipv4Mask(0), 0);
  t.equal(ipv4Mask(32), 0xffffffff);
});

t.test('IPv4 classification (numbers in)', async (t) => {
  const a = parseIpv4;
  t.ok(isV4Unspecified(0));
  t.ok(isV4Loopback(a('127.0.0.5')));
  t.ok(isV4Multicast(a('224.0.0.251')));
  t.notOk(isV4Multicast(a('240.0.0.1')));
  t.ok(isV4Broadcast(a('255.255.255.255')));
  t.ok(isV4LinkLocal(a('169.254.1.1')));
  t.ok(isV4SubnetBroadcast(a('10.1.255.255'), a('10.1.0.0'), 16));
  t.notOk(isV4SubnetBroadcast(a('10.1.255.254'), a('10.1.0.0'), 16));
  t.notOk(isV4SubnetBroadcast(a('10.1.0.1'), a('10.1.0.0'), 31));
  for (const s of ['0.1.2.3', '127.0.0.1', '224.0.0.1', '240.0.0.1', '255.255.255.255']) t.ok(isV4Martian(a(s)), `martian src ${s}`);
  for (const s of ['10.0.0.1', '1.1.1.1', '100.64.0.1', '169.254.0.1']) t.notOk(isV4Martian(a(s)), `not martian src ${s}`);
  t.ok(isV4MartianDst(a('127.1.1.1')));
  t.ok(isV4MartianDst(a('0.0.0.1')));
  t.ok(isV4MartianDst(a('250.0.0.1')));
  t.notOk(isV4MartianDst(a('255.255.255.255')));
  t.notOk(isV4MartianDst(a('224.0.0.1')));
});

t.test('IPv6 parse and RFC 5952 format', async (t) => {
  const cases: [string, string][] = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of equal runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero word is not compressed
    ['2001:DB8::AbC', '2001:db8::abc'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['fe80::21f:caff:feb3:75c0', 'fe80::21f:caff:feb3:75c0'],
    ['2001:0:0:1::1', '2001:0:0:1::1'], // the longer run wins
    ['::ffff:192.0.2.128', '::ffff:192.0.2.128'],
    ['::ffff:c000:0280', '::ffff:192.0.2.128'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
  ];
  for (const [i, o] of cases) {
    const b = parseIpv6(i);
    t.ok(b, i);
    t.equal(formatIpv6(b!), o, i);
  }
  for (const s of ['', ':', ':::', '1:::2', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'g::', '::1.2.3', '1.2.3.4::', 'fe80::1%eth0', '1:2:3:4:5:6:7::8']) {
    t.equal(parseIpv6(s), null, JSON.stringify(s));
  }
  const out = new Uint8Array(20);
  t.equal(parseIpv6('::2', out, 4), out);
  t.equal(out[19], 2);
  t.equal(parseIpv6('::2', out, 5), null, 'no room');
  t.same(parseIpv6Cidr('fd00::/8')?.[1], 8);
  t.equal(parseIpv6Cidr('fd00::/129'), null);
});

t.test('IPv6 classification and derived addresses', async (t) => {
  const p = (s: string) => parseIpv6(s)!;
  t.ok(isV6Unspecified(p('::'), 0));
  t.ok(isV6Loopback(p('::1'), 0));
  t.ok(isV6Multicast(p('ff02::1'), 0));
  t.ok(isV6LinkLocal(p('fe80::1'), 0));
  t.ok(isV6LinkLocal(p('febf::1'), 0));
  t.notOk(isV6LinkLocal(p('fec0::1'), 0));
  t.ok(isV6MulticastLinkScope(p('ff02::2'), 0));
  t.notOk(isV6MulticastLinkScope(p('ff05::2'), 0));
  t.ok(isV6SolicitedNode(p('ff02::1:ff0e:4c67'), 0));
  t.notOk(isV6SolicitedNode(p('ff02::1:fe0e:4c67'), 0));
  t.ok(isV6V4Mapped(p('::ffff:1.2.3.4'), 0));
  for (const s of ['::', '::1', 'ff02::1', '::ffff:10.0.0.1']) t.ok(isV6Martian(p(s), 0), s);
  for (const s of ['fe80::1', '2001:db8::1', 'fd00::1']) t.notOk(isV6Martian(p(s), 0), s);
  t.ok(isV6MartianDst(p('::'), 0));
  t.notOk(isV6MartianDst(p('ff02::1'), 0));
  const out = new Uint8Array(16);
  solicitedNodeAddr(p('2620:0:1005:0:26be:5ff:fe27:b17'), 0, out, 0);
  t.equal(formatIpv6(out), 'ff02::1:ff27:b17');
  const mac = new Uint8Array(6);
  solicitedNodeMac(p('fe80::20c:29ff:fe0e:4c67'), 0, mac, 0);
  t.equal(formatMac(mac), '33:33:ff:0e:4c:67');
  ipv6MulticastMac(p('ff02::1'), 0, mac, 0);
  t.equal(formatMac(mac), '33:33:00:00:00:01');
  ipv4MulticastMac(parseIpv4('239.255.1.2'), mac, 0);
  t.equal(formatMac(mac), '01:00:5e:7f:01:02');
  ipv4MulticastMac(parseIpv4('224.128.0.251'), mac, 0);
  t.equal(formatMac(mac), '01:00:5e:00:00:fb', 'only 23 bits');
  const c = new Uint8Array(16);
  copyIpv6(c, 0, p('fd00::7'), 0);
  t.ok(ipv6Equal(c, 0, p('fd00::7'), 0));
  t.notOk(ipv6Equal(c, 0, p('fd00::8'), 0));
});

t.test('MAC helpers', async (t) => {
  const m = parseMac('00:1F:ca:b3:75:c0')!;
  t.equal(formatMac(m), '00:1f:ca:b3:75:c0');
  t.equal(formatMac(parseMac('02-00-00-00-00-01')!), '02:00:00:00:00:01');
  for (const s of ['', '00:1f:ca:b3:75', '00:1f:ca:b3:75:c0:11', '00:1f-ca:b3:75:c0', 'zz:00:00:00:00:00', '001fcab375c0']) {
    t.equal(parseMac(s), null, s);
  }
  t.ok(macIsBroadcast(parseMac('ff:ff:ff:ff:ff:ff')!, 0));
  t.ok(macIsMulticast(parseMac('33:33:00:00:00:01')!, 0));
  t.notOk(macIsMulticast(m, 0));
  t.ok(macIsZero(new Uint8Array(6), 0));
  const c = new Uint8Array(8);
  copyMac(c, 1, m, 0);
  t.ok(macEqual(c, 1, m, 0));
  t.equal(macToNumber(parseMac('ff:ff:ff:ff:ff:ff')!, 0), 0xffffffffffff);
  t.equal(macToNumber(m, 0), 0x001fcab375c0);
  const b = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  copyBytes(b, 2, b, 0, 6);
  t.equal(toHex(b), '0102010203040506', 'overlap-safe in one buffer');
  const d = new Uint8Array(4);
  copyBytes(d, 1, b, 0, 3);
  t.equal(toHex(d), '00010201');
});
