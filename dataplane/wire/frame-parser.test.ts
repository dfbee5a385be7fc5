import t from 'tap';
import { DropReason, DROP_REASON_COUNT } from '../pipeline/drop-reason';
import { buildArp, buildFrame, FrameSpec } from './build';
import {
  ARP_REQUEST, CAPTURE_NS, CAPTURE_NS_DAD, CAPTURE_RA, CAPTURE_TCP4, CAPTURE_UDP4_MDNS, ECHO6_REQUEST,
  ECHO_REQUEST,
} from './fixtures';
import { FrameInfo, parseFrame } from './frame-parser';
import { TCP_ACK, TCP_SYN } from './tcp';

const info = new FrameInfo();

function parse(f: Uint8Array, len = f.length, off = 0): DropReason {
  return parseFrame(f, off, len, info);
}

/** Parse with the bytes beyond len poisoned two ways: any read past len shows up as a difference. */
function parsePoisoned(f: Uint8Array, len: number): { r: DropReason; same: boolean } {
  const a = new Uint8Array(f.length + 64).fill(0x00);
  const b = new Uint8Array(f.length + 64).fill(0xff);
  a.set(f.subarray(0, len));
  b.set(f.subarray(0, len));
  const ia = new FrameInfo();
  const ib = new FrameInfo();
  const ra = parseFrame(a, 0, len, ia);
  const rb = parseFrame(b, 0, len, ib);
  return { r: ra, same: ra === rb && JSON.stringify(ia) === JSON.stringify(ib) };
}

t.test('real TCP/IPv4 capture', async (t) => {
  t.equal(parse(CAPTURE_TCP4), DropReason.None);
  t.match({ ...info }, {
    frameOff: 0, frameLen: 79, vlanId: -1, vlanTags: 0, ethertype: 0x0800, l3Off: 14, ipVersion: 4,
    src4: 0x68128a43, dst4: 0xc0a800eb, ttl: 54, ipHeaderLen: 20, l3Len: 65, dontFragment: true,
    isFragment: false, isFirstFragment: false, l4Proto: 6, l4Off: 34, l4Len: 45, srcPort: 443, dstPort: 20781,
    tcpFlags: 0x18, icmpType: -1, icmpCode: -1,
  });
});

t.test('real UDP/IPv4 multicast capture, at an offset in a slab', async (t) => {
  const slab = new Uint8Array(200);
  slab.set(CAPTURE_UDP4_MDNS, 10);
  t.equal(parseFrame(slab, 10, CAPTURE_UDP4_MDNS.length, info), DropReason.None);
  t.match({ ...info }, {
    frameOff: 10, l3Off: 24, l4Off: 44, l4Proto: 17, l4Len: 57, srcPort: 5349, dstPort: 5353, ttl: 255,
    dst4: 0xe00000fb, dontFragment: false,
  });
});

t.test('real ICMPv6 ND captures (NS, DAD NS, RA)', async (t) => {
  t.equal(parse(CAPTURE_NS), DropReason.None);
  t.match({ ...info }, { ipVersion: 6, ttl: 255, ipHeaderLen: 40, l3Len: 72, l4Proto: 58, l4Off: 54, l4Len: 32,
    icmpType: 135, icmpCode: 0, dontFragment: true, src4: 0, dst4: 0 });
  t.equal(parse(CAPTURE_NS_DAD), DropReason.None);
  t.equal(info.icmpType, 135);
  t.equal(parse(CAPTURE_RA), DropReason.None);
  t.equal(info.icmpType, 134);
  const padded = new Uint8Array(CAPTURE_RA.length + 2);
  padded.set(CAPTURE_RA);
  t.equal(parse(padded), DropReason.None, 'trailing bytes after the datagram are fine');
  t.equal(info.l4Len, 64);
});

t.test('ARP, ICMP echo, VLAN and Q-in-Q', async (t) => {
  t.equal(parse(ARP_REQUEST), DropReason.None);
  t.match({ ...info }, { ethertype: 0x0806, ipVersion: 0, l3Off: 14, l3Len: 28 });
  t.equal(parse(ECHO_REQUEST), DropReason.None);
  t.match({ ...info }, { icmpType: 8, icmpCode: 0, l4Proto: 1, ttl: 62 });
  t.equal(parse(ECHO6_REQUEST), DropReason.None);
  t.match({ ...info }, { icmpType: 128, l4Proto: 58, ttl: 63 });

  const v = buildFrame({ vlan: { id: 100, pcp: 5 }, ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2' },
    l4: { proto: 'udp', sport: 53, dport: 5353, payload: 'x' } });
  t.equal(parse(v), DropReason.None);
  t.match({ ...info }, { vlanId: 100, vlanTags: 1, ethertype: 0x0800, l3Off: 18, l4Off: 38, srcPort: 53 });
  const qq = buildFrame({ vlan: [{ id: 7, tpid: 0x88a8 }, 200], ip: { version: 6, src: 'fd00::1', dst: 'fd00::2' },
    l4: { proto: 'tcp', sport: 1, dport: 2, flags: TCP_SYN } });
  t.equal(parse(qq), DropReason.None);
  t.match({ ...info }, { vlanId: 7, vlanTags: 2, ethertype: 0x86dd, l3Off: 22, l4Off: 62, tcpFlags: TCP_SYN });
  const three = buildFrame({ vlan: [1, 2, 3], ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2' } });
  t.equal(parse(three), DropReason.VlanUnsupported);
  const arpTagged = buildArp({ srcIp: '10.0.0.1', targetIp: '10.0.0.2', vlan: 9, padTo: 64 });
  t.equal(parse(arpTagged), DropReason.None);
  t.equal(info.vlanId, 9);
});

t.test('unknown EtherType, unknown L4, bad ARP', async (t) => {
  t.equal(parse(buildFrame({ ethertype: 0x88cc, payload: new Uint8Array(40) })), DropReason.EthUnknownType);
  t.equal(parse(buildFrame({ ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2', protocol: 47 }, payload: 'gre' })),
    DropReason.None);
  t.match({ ...info }, { l4Proto: 47, srcPort: 0, dstPort: 0, l4Len: 3 });
  t.equal(parse(buildFrame({ ip: { version: 6, src: 'fd00::1', dst: 'fd00::2' } })), DropReason.None, 'no next header');
  t.equal(info.l4Proto, 59);
  const arp = ARP_REQUEST.slice();
  arp[14 + 7] = 3;
  t.equal(parse(arp), DropReason.ArpMalformed, 'op 3');
  arp.set(ARP_REQUEST);
  arp[14 + 4] = 8;
  t.equal(parse(arp), DropReason.ArpMalformed, 'hlen 8');
});

t.test('IPv4 header faults', async (t) => {
  const base: FrameSpec = { ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2' }, l4: { proto: 'udp', sport: 1, dport: 2 } };
  const f = (ip: Partial<FrameSpec['ip']>) => buildFrame({ ...base, ip: { ...base.ip!, ...ip } as FrameSpec['ip'] });
  t.equal(parse(f({ versionField: 5 })), DropReason.Ipv4BadVersion);
  t.equal(parse(f({ ihl: 4 })), DropReason.Ipv4BadIhl);
  t.equal(parse(f({ ihl: 15 })), DropReason.Ipv4Truncated, 'IHL beyond the frame');
  t.equal(parse(f({ totalLength: 19 })), DropReason.Ipv4BadTotalLength);
  t.equal(parse(f({ totalLength: 29 })), DropReason.Ipv4BadTotalLength, 'total length past the frame');
  t.equal(parse(f({ totalLength: 65535 })), DropReason.Ipv4BadTotalLength);
  t.equal(parse(f({ checksum: 0x1234 })), DropReason.Ipv4BadChecksum);
  t.equal(parse(f({ options: [7, 7, 4, 0, 0, 0, 0] })), DropReason.None, 'record route');
  t.equal(parse(f({ options: [0x44, 0x02] })), DropReason.Ipv4BadOptions, 'timestamp too short');
  t.equal(parse(f({ options: [0x82, 0x00] })), DropReason.Ipv4BadOptions, 'zero length');
  t.equal(parse(f({ options: [1, 1, 1, 0x83] })), DropReason.Ipv4BadOptions, 'length byte missing');
  t.equal(parse(f({ options: [0x83, 9, 4, 0] })), DropReason.Ipv4BadOptions, 'length beyond header');
  t.equal(parse(f({ options: [148, 4, 0, 0] })), DropReason.None, 'router alert');
  t.equal(parse(f({ options: [0, 0x44, 0, 0] })), DropReason.None, 'junk after EOL is ignored');
});

t.test('fragments', async (t) => {
  const first = buildFrame({ ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2', id: 5, fragment: { offset: 0, more: true } },
    l4: { proto: 'udp', sport: 1000, dport: 2000, length: 3000, payload: new Uint8Array(32) } });
  t.equal(parse(first), DropReason.None, 'first fragment: UDP length covers the whole datagram');
  t.match({ ...info }, { isFragment: true, isFirstFragment: true, srcPort: 1000, dstPort: 2000, fragOffset: 0 });
  const later = buildFrame({ ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2', id: 5, protocol: 6,
    fragment: { offset: 1480, more: false } }, payload: new Uint8Array(3) });
  t.equal(parse(later), DropReason.None, 'non-first fragment: too short for TCP but valid');
  t.match({ ...info }, { isFragment: true, isFirstFragment: false, srcPort: 0, dstPort: 0, tcpFlags: 0, l4Proto: 6,
    fragOffset: 1480, l4Len: 3 });
  const tiny = buildFrame({ ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2', protocol: 6,
    fragment: { offset: 0, more: true } }, payload: new Uint8Array(8) });
  t.equal(parse(tiny), DropReason.TcpTruncated, 'tiny first fragment (RFC 1858)');
  const v6later = buildFrame({ ip: { version: 6, src: 'fd00::1', dst: 'fd00::2', protocol: 17,
    fragment: { offset: 8, more: true, id: 1 } }, payload: new Uint8Array(4) });
  t.equal(parse(v6later), DropReason.None);
  t.match({ ...info }, { isFragment: true, isFirstFragment: false, l4Proto: 17, ipHeaderLen: 48, srcPort: 0, fragOffset: 8 });
  const v6first = buildFrame({ ip: { version: 6, src: 'fd00::1', dst: 'fd00::2', fragment: { offset: 0, more: true, id: 1 } },
    l4: { proto: 'tcp', sport: 7, dport: 8, flags: TCP_ACK } });
  t.equal(parse(v6first), DropReason.None);
  t.match({ ...info }, { isFragment: true, isFirstFragment: true, srcPort: 7, ipHeaderLen: 48 });
  const atomic = buildFrame({ ip: { version: 6, src: 'fd00::1', dst: 'fd00::2', fragment: { offset: 0, more: false } },
    l4: { proto: 'udp', sport: 7, dport: 8 } });
  t.equal(parse(atomic), DropReason.None);
  t.match({ ...info }, { isFragment: false, srcPort: 7, ipHeaderLen: 48 });
});

t.test('IPv6 faults and extension chains', async (t) => {
  const v6 = (ip: Partial<NonNullable<FrameSpec['ip']>>, l4: FrameSpec['l4'] = { proto: 'udp', sport: 1, dport: 2 }) =>
    buildFrame({ ip: { version: 6, src: 'fd00::1', dst: 'fd00::2', ...ip } as FrameSpec['ip'], l4 });
  t.equal(parse(v6({ versionField: 4 })), DropReason.Ipv6BadVersion);
  t.equal(parse(v6({ totalLength: 9 })), DropReason.Ipv6BadPayloadLength);
  t.equal(parse(v6({ totalLength: 7 })), DropReason.UdpTruncated, 'payload length cuts UDP short');
  t.equal(parse(v6({ ext: [{ type: 'hbh' }, { type: 'dst' }, { type: 'routing' }, { type: 'ah' }, { type: 'dst' }] })),
    DropReason.None);
  t.match({ ...info }, { l4Proto: 17, ipHeaderLen: 40 + 8 + 8 + 8 + 16 + 8, srcPort: 1 });
  const eight = Array.from({ length: 8 }, () => ({ type: 'dst' as const }));
  t.equal(parse(v6({ ext: eight })), DropReason.None, '8 headers is the bound');
  t.equal(parse(v6({ ext: [...eight, { type: 'dst' }] })), DropReason.Ipv6BadExtHeader, '9 is too many');
  t.equal(parse(v6({ ext: [{ type: 'dst' }, { type: 'hbh' }] })), DropReason.Ipv6BadExtHeader, 'hop-by-hop not first');
  t.equal(parse(v6({ ext: [{ type: 'dst', hdrExtLen: 5 }] })), DropReason.Ipv6BadExtHeader, 'length past payload');
  t.equal(parse(v6({ ext: [{ type: 'fragment' }, { type: 'fragment' }] })), DropReason.Ipv6BadExtHeader, 'two fragment headers');
  t.equal(parse(v6({ ext: [{ type: 'hbh', data: [0xc2, 4, 0, 1, 0, 8] }], totalLength: 0 }, undefined)),
    DropReason.Ipv6BadExtHeader, 'jumbogram');
  t.equal(parse(v6({ ext: [{ type: 'hbh', data: [1, 200, ...new Uint8Array(200)] }] })), DropReason.None, 'long hop-by-hop');
  t.equal(info.ipHeaderLen, 40 + 208);
});

t.test('L4 header faults', async (t) => {
  const ip4 = { version: 4 as const, src: '10.0.0.1', dst: '10.0.0.2' };
  t.equal(parse(buildFrame({ ip: ip4, l4: { proto: 'tcp', dataOffset: 4 } })), DropReason.TcpBadOffset);
  t.equal(parse(buildFrame({ ip: ip4, l4: { proto: 'tcp', dataOffset: 6 } })), DropReason.TcpBadOffset);
  t.equal(parse(buildFrame({ ip: ip4, l4: { proto: 'tcp', dataOffset: 6, payload: new Uint8Array(4) } })), DropReason.None);
  t.equal(parse(buildFrame({ ip: ip4, l4: { proto: 'udp', length: 7 } })), DropReason.UdpBadLength);
  t.equal(parse(buildFrame({ ip: ip4, l4: { proto: 'udp', length: 9 } })), DropReason.UdpBadLength);
  t.equal(parse(buildFrame({ ip: ip4, l4: { proto: 'udp', length: 8, payload: 'pad' } })), DropReason.None,
    'UDP length shorter than IP payload is accepted');
  t.equal(parse(buildFrame({ ip: ip4, protocol: 1, payload: new Uint8Array(7) } as FrameSpec)), DropReason.None);
  t.equal(parse(buildFrame({ ip: { ...ip4, protocol: 1 }, payload: new Uint8Array(7) })), DropReason.IcmpTruncated);
  t.equal(parse(buildFrame({ ip: { ...ip4, protocol: 132 }, payload: new Uint8Array(11) })), DropReason.SctpTruncated);
  t.equal(parse(buildFrame({ ip: ip4, l4: { proto: 'sctp', sport: 5, dport: 6 } })), DropReason.None);
  t.match({ ...info }, { srcPort: 5, dstPort: 6, l4Proto: 132 });
  t.equal(parse(buildFrame({ ip: { ...ip4, protocol: 58 }, payload: new Uint8Array(2) })), DropReason.None,
    'ICMPv6 inside IPv4 is just an unknown protocol');
  const ns = CAPTURE_NS.slice();
  ns[21] = 64;
  t.equal(parse(ns), DropReason.NdMalformed, 'ND with hop limit 64');
  const ns2 = CAPTURE_NS.slice();
  ns2[80] ^= 0xff;
  t.equal(parse(ns2), DropReason.IcmpBadChecksum, 'ND with a bad checksum');
});

t.test('every truncation of every fixture: the right reason, no throw, no read past len', async (t) => {
  const frames: [string, Uint8Array][] = [
    ['tcp4', CAPTURE_TCP4], ['udp4', CAPTURE_UDP4_MDNS], ['ns', CAPTURE_NS], ['ra', CAPTURE_RA], ['arp', ARP_REQUEST],
    ['echo', ECHO_REQUEST], ['echo6', ECHO6_REQUEST],
    ['vlan-opts', buildFrame({ vlan: [{ id: 1, tpid: 0x88a8 }, 2], ip: { version: 4, src: '1.1.1.1', dst: '2.2.2.2', options: [1, 1, 148, 4, 0, 0] },
      l4: { proto: 'tcp', tcpOptions: [2, 4, 5, 0xb4], payload: 'abc' } })],
    ['v6-ext', buildFrame({ ip: { version: 6, src: 'fd00::1', dst: 'fd00::2', ext: [{ type: 'hbh' }, { type: 'routing' }, { type: 'fragment', offset: 0, more: true }] },
      l4: { proto: 'sctp', sport: 1, dport: 2, payload: 'x' } })],
  ];
  let bad = 0, leaks = 0;
  for (const [name, f] of frames) {
    for (let len = 0; len < f.length; len++) {
      const { r, same } = parsePoisoned(f, len);
      if (!same) leaks++;
      const ethEnd = name === 'vlan-opts' ? 22 : 14;
      let want: DropReason;
      if (len < ethEnd) want = DropReason.EthTruncated;
      else if (name === 'arp') want = DropReason.ArpMalformed;
      else if (name === 'ns' || name === 'ra' || name === 'echo6' || name === 'v6-ext') {
        want = len < ethEnd + 40 ? DropReason.Ipv6Truncated : DropReason.Ipv6BadPayloadLength;
      } else {
        const ihl = name === 'vlan-opts' ? 28 : 20;
        want = len < ethEnd + ihl ? DropReason.Ipv4Truncated : DropReason.Ipv4BadTotalLength;
      }
      if (r !== want) {
        bad++;
        t.fail(`${name} len ${len}: got ${r} want ${want}`);
        if (bad > 5) break;
      }
    }
    t.equal(parsePoisoned(f, f.length).r, DropReason.None, `${name} whole frame parses`);
  }
  t.equal(bad, 0, 'reasons');
  t.equal(leaks, 0, 'no read beyond len');
});

t.test('length fields that overflow the frame', async (t) => {
  // the L4 layer cut by IP total length, with the frame intact
  const f = buildFrame({ ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2' }, l4: { proto: 'tcp', payload: new Uint8Array(10) } });
  const reasons = new Set<DropReason>();
  for (let tot = 20; tot < 50; tot++) {
    const g = f.slice();
    g[16] = tot >>> 8;
    g[17] = tot & 0xff;
    // fix the header checksum so the L4 check is reached
    g[24] = 0; g[25] = 0;
    let s = 0;
    for (let i = 14; i < 34; i += 2) s += (g[i] << 8) | g[i + 1];
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    g[24] = (~s >>> 8) & 0xff; g[25] = ~s & 0xff;
    const r = parse(g);
    reasons.add(r);
    t.equal(r, tot < 40 ? DropReason.TcpTruncated : DropReason.None, `total ${tot}`);
  }
  t.ok(reasons.size === 2);
});

t.test('GSO super-frames up to 65553 bytes', async (t) => {
  const payload = new Uint8Array(65535 - 20 - 20);
  const f = buildFrame({ vlan: 4094, ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2', df: true },
    l4: { proto: 'tcp', sport: 1, dport: 2, flags: TCP_ACK, payload } });
  t.equal(f.length, 65553);
  t.equal(parse(f), DropReason.None);
  t.match({ ...info }, { l3Len: 65535, l4Len: 65515, vlanId: 4094 });
  const p6 = new Uint8Array(65535 - 8);
  const g = buildFrame({ ip: { version: 6, src: 'fd00::1', dst: 'fd00::2' }, l4: { proto: 'udp', payload: p6 } });
  t.equal(parse(g), DropReason.None);
  t.equal(info.l3Len, 65575);
});

t.test('bad arguments never throw', async (t) => {
  const f = CAPTURE_TCP4;
  t.equal(parseFrame(f, 0, f.length + 1, info), DropReason.EthTruncated, 'len past the buffer');
  t.equal(parseFrame(f, -1, 20, info), DropReason.EthTruncated);
  t.equal(parseFrame(f, 70, 20, info), DropReason.EthTruncated);
  t.equal(parseFrame(new Uint8Array(0), 0, 0, info), DropReason.EthTruncated);
  for (let r = 0; r < DROP_REASON_COUNT; r++) t.ok(r >= 0);
});
