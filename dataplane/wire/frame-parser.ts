/**
 * The pipeline's "validate once" step: Ethernet (+ up to two VLAN tags) → ARP / IPv4 /
 * IPv6 (+ extension headers) → TCP / UDP / SCTP / ICMP / ICMPv6 (+ ND) headers, in one
 * pass, filling a reused FrameInfo.
 *
 * Hand-written because it is the hot path: no allocation, no closures, no strings, no
 * exceptions; every read is bounds-checked against `len` before it happens, so a
 * successful parse means every header offset in FrameInfo is inside the frame and the
 * wire/ accessors may be used on them without further checks.
 *
 * Truncation policy (which reason a short frame gets):
 * - a fixed header that does not fit → that layer's *Truncated (EthTruncated,
 *   Ipv4Truncated, Ipv6Truncated, TcpTruncated, UdpTruncated, SctpTruncated,
 *   IcmpTruncated; ARP has only ArpMalformed);
 * - a length field that claims more than the frame holds → Ipv4BadTotalLength /
 *   Ipv6BadPayloadLength / UdpBadLength / TcpBadOffset (data offset past the segment);
 *   an extension header past the payload → Ipv6BadExtHeader.
 * Trailing bytes after the IP datagram (Ethernet padding) are allowed and ignored.
 */
import { DropReason } from '../pipeline/drop-reason';
import { checkArp } from './arp';
import { checkIcmp4 } from './icmpv4';
import { checkIcmp6, checkNd } from './icmpv6';
import { checkIpv4 } from './ipv4';
import { checkIpv6, Ipv6ExtWalk, walkIpv6ExtHeaders } from './ipv6';
import { checkSctp } from './sctp';
import { checkTcp } from './tcp';
import { checkUdp } from './udp';

/** What parseFrame found. Allocate once per pipeline; parseFrame overwrites every field. */
export class FrameInfo {
  /** Offset of the Ethernet header in the slab. */
  frameOff = 0;
  /** Frame length as received (incl. any Ethernet padding). */
  frameLen = 0;
  /** Outer 802.1Q/802.1ad VID, or -1 when untagged. */
  vlanId = -1;
  /** Number of VLAN tags (0..2). */
  vlanTags = 0;
  /** EtherType after the VLAN tags. */
  ethertype = 0;
  /** Offset of the L3 header (ARP / IPv4 / IPv6) in the slab. */
  l3Off = 0;
  /** 4, 6, or 0 (ARP / other). */
  ipVersion = 0;
  /** IPv4 Source Address as u32 (0 for IPv6). */
  src4 = 0;
  /** IPv4 Destination Address as u32 (0 for IPv6). */
  dst4 = 0;
  /** TTL or Hop Limit. */
  ttl = 0;
  /** v4: IHL*4; v6: 40 + all extension headers before L4 (or before fragment data). */
  ipHeaderLen = 0;
  /** v4 Total Length / v6 40 + Payload Length (validated ≤ frame). */
  l3Len = 0;
  /** v4 DF; always true for v6 (routers never fragment v6). */
  dontFragment = false;
  /** v4 MF or offset ≠ 0; v6 fragment header with M or offset ≠ 0 (atomic fragments are not). */
  isFragment = false;
  /** A fragment with offset 0 (carries the L4 header). */
  isFirstFragment = false;
  /** Fragment offset in bytes (0 when not a fragment). */
  fragOffset = 0;
  /** Upper-layer protocol (after v6 extension headers). */
  l4Proto = 0;
  /** Offset of the L4 header (or of fragment data in a non-first fragment). */
  l4Off = 0;
  /** Bytes from l4Off to the end of the IP datagram. */
  l4Len = 0;
  /** TCP/UDP/SCTP Source Port when present (0 otherwise, and in non-first fragments). */
  srcPort = 0;
  /** TCP/UDP/SCTP Destination Port when present. */
  dstPort = 0;
  /** TCP control bits (byte 13: CWR..FIN), 0 when not TCP. */
  tcpFlags = 0;
  /** ICMP/ICMPv6 Type, or -1. */
  icmpType = -1;
  /** ICMP/ICMPv6 Code, or -1. */
  icmpCode = -1;
}

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_ARP = 0x0806;
const ETHERTYPE_IPV6 = 0x86dd;
const MAX_VLAN_TAGS = 2;

const walk = new Ipv6ExtWalk();

function reset(info: FrameInfo, off: number, len: number): void {
  info.frameOff = off;
  info.frameLen = len;
  info.vlanId = -1;
  info.vlanTags = 0;
  info.ethertype = 0;
  info.l3Off = 0;
  info.ipVersion = 0;
  info.src4 = 0;
  info.dst4 = 0;
  info.ttl = 0;
  info.ipHeaderLen = 0;
  info.l3Len = 0;
  info.dontFragment = false;
  info.isFragment = false;
  info.isFirstFragment = false;
  info.fragOffset = 0;
  info.l4Proto = 0;
  info.l4Off = 0;
  info.l4Len = 0;
  info.srcPort = 0;
  info.dstPort = 0;
  info.tcpFlags = 0;
  info.icmpType = -1;
  info.icmpCode = -1;
}

/**
 * Validate the frame of `len` bytes at buf[off] and fill `info`. Returns
 * DropReason.None when valid. Never throws, never reads at or beyond off + len
 * (a len reaching past the end of buf is EthTruncated).
 * Unknown EtherTypes → EthUnknownType; unknown L4 protocols are valid (ports 0).
 * A non-first fragment is valid with no L4 fields. ND messages (ICMPv6 133–137) are
 * also checked with checkNd (RFC 4861 validity; IcmpBadChecksum on a bad checksum).
 */
export function parseFrame(buf: Uint8Array, off: number, len: number, info: FrameInfo): DropReason {
  reset(info, off, len);
  if (off < 0 || len < 0 || off + len > buf.length) return DropReason.EthTruncated;
  if (len < 14) return DropReason.EthTruncated;
  // Ethernet + VLAN
  let hdr = 14;
  let type = (buf[off + 12] << 8) | buf[off + 13];
  let tags = 0;
  while (type === 0x8100 || type === 0x88a8 || type === 0x9100) {
    if (tags === MAX_VLAN_TAGS) return DropReason.VlanUnsupported;
    if (len < hdr + 4) return DropReason.EthTruncated;
    if (tags === 0) info.vlanId = ((buf[off + hdr] << 8) | buf[off + hdr + 1]) & 0x0fff;
    type = (buf[off + hdr + 2] << 8) | buf[off + hdr + 3];
    hdr += 4;
    tags++;
  }
  info.vlanTags = tags;
  info.ethertype = type;
  const l3 = off + hdr;
  const avail = len - hdr;
  info.l3Off = l3;
  if (type === ETHERTYPE_IPV4) return parseIpv4(buf, l3, avail, info);
  if (type === ETHERTYPE_IPV6) return parseIpv6(buf, l3, avail, info);
  if (type === ETHERTYPE_ARP) {
    const r = checkArp(buf, l3, avail);
    if (r !== DropReason.None) return r;
    info.l3Len = 28;
    return DropReason.None;
  }
  return DropReason.EthUnknownType;
}

function parseIpv4(buf: Uint8Array, l3: number, avail: number, info: FrameInfo): DropReason {
  const r = checkIpv4(buf, l3, avail);
  if (r !== DropReason.None) return r;
  const ihl = (buf[l3] & 0x0f) << 2;
  const total = (buf[l3 + 2] << 8) | buf[l3 + 3];
  const ff = (buf[l3 + 6] << 8) | buf[l3 + 7];
  info.ipVersion = 4;
  info.src4 = ((buf[l3 + 12] << 24) | (buf[l3 + 13] << 16) | (buf[l3 + 14] << 8) | buf[l3 + 15]) >>> 0;
  info.dst4 = ((buf[l3 + 16] << 24) | (buf[l3 + 17] << 16) | (buf[l3 + 18] << 8) | buf[l3 + 19]) >>> 0;
  info.ttl = buf[l3 + 8];
  info.ipHeaderLen = ihl;
  info.l3Len = total;
  info.dontFragment = (ff & 0x4000) !== 0;
  const fragOffset = (ff & 0x1fff) << 3;
  const isFragment = (ff & 0x2000) !== 0 || fragOffset !== 0;
  info.isFragment = isFragment;
  info.isFirstFragment = isFragment && fragOffset === 0;
  info.fragOffset = fragOffset;
  info.l4Proto = buf[l3 + 9];
  info.l4Off = l3 + ihl;
  info.l4Len = total - ihl;
  if (fragOffset !== 0) return DropReason.None;
  return parseL4(buf, info, isFragment);
}

function parseIpv6(buf: Uint8Array, l3: number, avail: number, info: FrameInfo): DropReason {
  let r = checkIpv6(buf, l3, avail);
  if (r !== DropReason.None) return r;
  const l3Len = 40 + ((buf[l3 + 4] << 8) | buf[l3 + 5]);
  info.ipVersion = 6;
  info.ttl = buf[l3 + 7];
  info.l3Len = l3Len;
  info.dontFragment = true;
  r = walkIpv6ExtHeaders(buf, l3, walk);
  if (r !== DropReason.None) return r;
  const l4Off = walk.l4Off;
  info.l4Proto = walk.l4Proto;
  info.l4Off = l4Off;
  info.l4Len = l3 + l3Len - l4Off;
  info.ipHeaderLen = l4Off - l3;
  let isFragment = false;
  if (walk.fragHdrOff >= 0) {
    isFragment = walk.fragOffset !== 0 || walk.moreFrags;
    info.isFragment = isFragment;
    info.isFirstFragment = isFragment && walk.fragOffset === 0;
    info.fragOffset = walk.fragOffset;
    if (walk.fragOffset !== 0) return DropReason.None;
  }
  return parseL4(buf, info, isFragment);
}

function parseL4(buf: Uint8Array, info: FrameInfo, isFragment: boolean): DropReason {
  const o = info.l4Off;
  const n = info.l4Len;
  let r: DropReason;
  switch (info.l4Proto) {
    case 6:
      r = checkTcp(buf, o, n);
      if (r !== DropReason.None) return r;
      info.srcPort = (buf[o] << 8) | buf[o + 1];
      info.dstPort = (buf[o + 2] << 8) | buf[o + 3];
      info.tcpFlags = buf[o + 13];
      return DropReason.None;
    case 17:
      r = checkUdp(buf, o, n, isFragment);
      if (r !== DropReason.None) return r;
      info.srcPort = (buf[o] << 8) | buf[o + 1];
      info.dstPort = (buf[o + 2] << 8) | buf[o + 3];
      return DropReason.None;
    case 132:
      r = checkSctp(buf, o, n);
      if (r !== DropReason.None) return r;
      info.srcPort = (buf[o] << 8) | buf[o + 1];
      info.dstPort = (buf[o + 2] << 8) | buf[o + 3];
      return DropReason.None;
    case 1:
      if (info.ipVersion !== 4) return DropReason.None;
      r = checkIcmp4(buf, o, n);
      if (r !== DropReason.None) return r;
      info.icmpType = buf[o];
      info.icmpCode = buf[o + 1];
      return DropReason.None;
    case 58:
      if (info.ipVersion !== 6) return DropReason.None;
      r = checkIcmp6(buf, o, n);
      if (r !== DropReason.None) return r;
      info.icmpType = buf[o];
      info.icmpCode = buf[o + 1];
      if (info.icmpType >= 133 && info.icmpType <= 137) {
        if (isFragment) return DropReason.NdMalformed; // RFC 6980
        return checkNd(buf, info.l3Off, o, n);
      }
      return DropReason.None;
    default:
      return DropReason.None;
  }
}
