import t from 'tap';
import { DropReason } from '../pipeline/drop-reason';
import { buildFrame, buildVnetHdr, inSlot, toHex } from './build';
import { fold, l4Checksum4, l4Checksum6, pseudoSum4, pseudoSum6 } from './checksum';
import { FrameInfo, parseFrame } from './frame-parser';
import {
  checkVnetHdr, checkVnetHdrAgainstFrame, clearVnetHdr, completeChecksum, emitVnetHdr, vnetCsumOffset, vnetCsumStart,
  vnetFlags, vnetGsoSize, vnetGsoType, vnetHdrLen, vnetIsGso, VNET_HDR_F_DATA_VALID, VNET_HDR_F_NEEDS_CSUM,
  VNET_HDR_GSO_ECN, VNET_HDR_GSO_TCPV4, VNET_HDR_GSO_TCPV6, VNET_HDR_GSO_UDP_L4, VNET_HEADER_LEN,
} from './vnet-hdr';

const info = new FrameInfo();

t.test('little-endian fields', async (t) => {
  const h = new Uint8Array(12);
  t.equal(emitVnetHdr(h, 1, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV4 | VNET_HDR_GSO_ECN, 66, 1448, 34, 16), VNET_HEADER_LEN);
  t.equal(toHex(h), '00' + '01' + '81' + '4200' + 'a805' + '2200' + '1000' + '00');
  t.equal(vnetFlags(h, 1), 1);
  t.equal(vnetGsoType(h, 1), 0x81);
  t.equal(vnetHdrLen(h, 1), 66);
  t.equal(vnetGsoSize(h, 1), 1448);
  t.equal(vnetCsumStart(h, 1), 34);
  t.equal(vnetCsumOffset(h, 1), 16);
  t.ok(vnetIsGso(h, 1));
  clearVnetHdr(h, 1);
  t.equal(toHex(h), '000000000000000000000000');
  t.notOk(vnetIsGso(h, 1));
});

t.test('headers that lie', async (t) => {
  const len = 100;
  const bad = (spec: Parameters<typeof buildVnetHdr>[0], m: string) => t.equal(checkVnetHdr(buildVnetHdr(spec), 0, len), DropReason.VnetHdrBad, m);
  const good = (spec: Parameters<typeof buildVnetHdr>[0], m: string) => t.equal(checkVnetHdr(buildVnetHdr(spec), 0, len), DropReason.None, m);
  good({}, 'all zero');
  good({ flags: VNET_HDR_F_DATA_VALID }, 'data valid');
  good({ flags: 1, csumStart: 34, csumOffset: 16 }, 'partial TCP');
  good({ flags: 1, csumStart: 34, csumOffset: 64 }, 'field ends exactly at the frame end');
  bad({ flags: 1, csumStart: 34, csumOffset: 65 }, 'csum field past the frame');
  bad({ flags: 1, csumStart: 100, csumOffset: 0 }, 'csum_start at the frame end');
  bad({ flags: 1, csumStart: 0xffff, csumOffset: 0xffff }, 'huge offsets');
  bad({ flags: 1, csumStart: 10, csumOffset: 6 }, 'csum_start inside Ethernet');
  bad({ flags: 3, csumStart: 34, csumOffset: 16 }, 'NEEDS_CSUM and DATA_VALID');
  bad({ flags: 0x10 }, 'unknown flag');
  bad({ gsoType: VNET_HDR_GSO_ECN }, 'ECN without GSO');
  bad({ gsoType: 2, flags: 1, csumStart: 34, csumOffset: 16, gsoSize: 100 }, 'unknown GSO type');
  bad({ gsoType: VNET_HDR_GSO_TCPV4, flags: 1, csumStart: 34, csumOffset: 16 }, 'gso_size 0 with gso_type set');
  bad({ gsoType: VNET_HDR_GSO_TCPV4, gsoSize: 1448 }, 'GSO without NEEDS_CSUM');
  bad({ gsoType: VNET_HDR_GSO_TCPV4, flags: 1, csumStart: 34, csumOffset: 16, gsoSize: 1448, hdrLen: 101 }, 'hdr_len past the frame');
  good({ gsoType: VNET_HDR_GSO_TCPV6 | VNET_HDR_GSO_ECN, flags: 1, csumStart: 54, csumOffset: 16, gsoSize: 1440, hdrLen: 74 }, 'TCPv6 GSO');
  good({ gsoType: VNET_HDR_GSO_UDP_L4, flags: 1, csumStart: 34, csumOffset: 6, gsoSize: 1400 }, 'UDP GSO');
});

/** Turn a frame with a correct L4 checksum into its NEEDS_CSUM partial form. */
function makePartial(buf: Uint8Array, csumField: number, pseudo: number): void {
  const p = fold(pseudo);
  buf[csumField] = p >>> 8;
  buf[csumField + 1] = p & 0xff;
}

t.test('completeChecksum finishes partial checksums like the kernel', async (t) => {
  // TCP over IPv4
  const f = buildFrame({ ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2' }, l4: { proto: 'tcp', sport: 1, dport: 2, payload: 'payload!' } });
  const want = toHex(f);
  const s = inSlot(f, { vnet: buildVnetHdr({ flags: VNET_HDR_F_NEEDS_CSUM, csumStart: 34, csumOffset: 16 }) });
  makePartial(s.buf, s.off + 34 + 16, pseudoSum4(0x0a000001, 0x0a000002, 6, 28));
  t.equal(checkVnetHdr(s.buf, s.hdrOff, s.len), DropReason.None);
  t.equal(parseFrame(s.buf, s.off, s.len, info), DropReason.None);
  t.equal(checkVnetHdrAgainstFrame(s.buf, s.hdrOff, info), DropReason.None);
  t.equal(completeChecksum(s.buf, s.off, s.hdrOff, s.len), DropReason.None);
  t.equal(toHex(s.buf, s.off, s.len), want);
  t.equal(vnetFlags(s.buf, s.hdrOff), 0, 'NEEDS_CSUM cleared');
  t.equal(completeChecksum(s.buf, s.off, s.hdrOff, s.len), DropReason.None, 'nothing left to do');
  t.equal(toHex(s.buf, s.off, s.len), want);
  // UDP over IPv6 in a VLAN
  const g = buildFrame({ vlan: 5, ip: { version: 6, src: 'fd00::1', dst: 'fd00::2' }, l4: { proto: 'udp', sport: 3, dport: 4, payload: 'xyz' } });
  const s6 = inSlot(g, { vnet: buildVnetHdr({ flags: VNET_HDR_F_NEEDS_CSUM, csumStart: 58, csumOffset: 6 }) });
  makePartial(s6.buf, s6.off + 58 + 6, pseudoSum6(g, 18 + 8, 18 + 24, 17, 11));
  t.equal(parseFrame(s6.buf, s6.off, s6.len, info), DropReason.None);
  t.equal(checkVnetHdrAgainstFrame(s6.buf, s6.hdrOff, info), DropReason.None);
  t.equal(completeChecksum(s6.buf, s6.off, s6.hdrOff, s6.len), DropReason.None);
  t.equal(l4Checksum6(s6.buf, s6.off + 18, s6.off + 58, 11, 17), 0);
  t.equal(toHex(s6.buf, s6.off, s6.len), toHex(g));
  // GSO frames must be segmented first
  const big = buildFrame({ ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2' }, l4: { proto: 'tcp', payload: new Uint8Array(60000) } });
  const sg = inSlot(big, { vnet: buildVnetHdr({ flags: 1, gsoType: VNET_HDR_GSO_TCPV4, gsoSize: 1448, hdrLen: 54, csumStart: 34, csumOffset: 16 }) });
  t.equal(checkVnetHdr(sg.buf, sg.hdrOff, sg.len), DropReason.None);
  t.equal(parseFrame(sg.buf, sg.off, sg.len, info), DropReason.None);
  t.equal(checkVnetHdrAgainstFrame(sg.buf, sg.hdrOff, info), DropReason.None);
  t.equal(completeChecksum(sg.buf, sg.off, sg.hdrOff, sg.len), DropReason.GsoUnsupported);
  // lies caught by completeChecksum itself
  const sl = inSlot(f, { vnet: buildVnetHdr({ flags: 1, csumStart: 60, csumOffset: 16 }) });
  t.equal(completeChecksum(sl.buf, sl.off, sl.hdrOff, sl.len), DropReason.VnetHdrBad);
  t.equal(l4Checksum4(f, 34, 28, 6, 0x0a000001, 0x0a000002), 0);
});

t.test('header vs frame cross-check', async (t) => {
  const tcp4 = buildFrame({ ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2' }, l4: { proto: 'tcp' } });
  const udp6 = buildFrame({ ip: { version: 6, src: 'fd00::1', dst: 'fd00::2' }, l4: { proto: 'udp' } });
  const icmp = buildFrame({ ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2' }, l4: { proto: 'icmp' } });
  const check = (f: Uint8Array, spec: Parameters<typeof buildVnetHdr>[0]) => {
    parseFrame(f, 0, f.length, info);
    return checkVnetHdrAgainstFrame(buildVnetHdr(spec), 0, info);
  };
  t.equal(check(tcp4, { flags: 1, csumStart: 34, csumOffset: 16 }), DropReason.None);
  t.equal(check(tcp4, { flags: 1, csumStart: 34, csumOffset: 6 }), DropReason.VnetHdrBad, 'UDP offset on TCP');
  t.equal(check(tcp4, { flags: 1, csumStart: 30, csumOffset: 20 }), DropReason.VnetHdrBad, 'csum_start not at L4');
  t.equal(check(udp6, { flags: 1, csumStart: 54, csumOffset: 6 }), DropReason.None);
  t.equal(check(icmp, { flags: 1, csumStart: 34, csumOffset: 2 }), DropReason.VnetHdrBad, 'partial ICMP');
  t.equal(check(udp6, { flags: 1, csumStart: 54, csumOffset: 6, gsoType: VNET_HDR_GSO_TCPV6, gsoSize: 100 }), DropReason.VnetHdrBad, 'TCPV6 on UDP');
  t.equal(check(tcp4, { flags: 1, csumStart: 34, csumOffset: 16, gsoType: VNET_HDR_GSO_TCPV6, gsoSize: 100 }), DropReason.VnetHdrBad, 'TCPV6 on IPv4');
  t.equal(check(tcp4, { flags: 1, csumStart: 34, csumOffset: 16, gsoType: VNET_HDR_GSO_TCPV4, gsoSize: 100 }), DropReason.None);
  t.equal(check(udp6, { flags: 1, csumStart: 54, csumOffset: 6, gsoType: VNET_HDR_GSO_UDP_L4, gsoSize: 100 }), DropReason.None);
  t.equal(check(tcp4, { flags: VNET_HDR_F_DATA_VALID }), DropReason.None);
});
