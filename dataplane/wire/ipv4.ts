/**
 * IPv4 header (RFC 791), options and fragments.
 *
 * Hand-written because it is the hot path: a packet is (buf, off) with `off` at the
 * IPv4 header; plain functions, byte arithmetic, no allocation, no exceptions.
 * checkIpv4 once; afterwards no accessor can read past the header it validated.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Version|  IHL  |    DSCP   |ECN|          Total Length         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Identification        |Flags|      Fragment Offset    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Time to Live |    Protocol   |         Header Checksum       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Source Address                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Destination Address                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Options                    |    Padding    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Flags: bit 0 reserved (must be zero), bit 1 DF, bit 2 MF.
 */
import { DropReason } from '../pipeline/drop-reason';
import { csumUpdate16, csumUpdate32, ipv4HeaderChecksum, ipv4HeaderChecksumOk } from './checksum';

// field offsets
const VER_IHL = 0;
const DSCP_ECN = 1;
const LENGTH = 2;
const IDENT = 4;
const FLG_OFF = 6;
const TTL = 8;
const PROTOCOL = 9;
const CHECKSUM = 10;
const SRC_ADDR = 12;
const DST_ADDR = 16;
const HEADER_LEN = DST_ADDR + 4;

/** Length of an IPv4 header without options. */
export const IPV4_HEADER_LEN = HEADER_LEN;
/** Longest IPv4 header (IHL 15). */
export const IPV4_MAX_HEADER_LEN = 60;
/** Offsets inside the header, for callers that rewrite fields with incremental checksums. */
export const IPV4_TTL_OFF = TTL;
export const IPV4_PROTOCOL_OFF = PROTOCOL;
export const IPV4_CHECKSUM_OFF = CHECKSUM;
export const IPV4_SRC_OFF = SRC_ADDR;
export const IPV4_DST_OFF = DST_ADDR;

/** Flags bits in the 16-bit flags/fragment-offset word. */
export const IPV4_FLAG_RESERVED = 0x8000;
export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
const FRAG_OFFSET_MASK = 0x1fff;

export const IPPROTO_HOPOPTS = 0;
export const IPPROTO_ICMP = 1;
export const IPPROTO_IGMP = 2;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_ROUTING = 43;
export const IPPROTO_FRAGMENT = 44;
export const IPPROTO_GRE = 47;
export const IPPROTO_ESP = 50;
export const IPPROTO_AH = 51;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_NONE = 59;
export const IPPROTO_DSTOPTS = 60;
export const IPPROTO_SCTP = 132;

/** IPv4 option types (RFC 791 3.1, RFC 2113). */
export const IPV4_OPT_EOL = 0;
export const IPV4_OPT_NOP = 1;
export const IPV4_OPT_RR = 7;
export const IPV4_OPT_TS = 68;
export const IPV4_OPT_LSRR = 131;
export const IPV4_OPT_SSRR = 137;
export const IPV4_OPT_RA = 148;

/**
 * Validate the IPv4 header in the `len` bytes available at buf[off] (to the end of
 * the frame; trailing Ethernet padding allowed):
 * - Ipv4Truncated: fewer than 20 bytes, or fewer than IHL*4;
 * - Ipv4BadVersion: version ≠ 4;  Ipv4BadIhl: IHL < 5;
 * - Ipv4BadTotalLength: Total Length < IHL*4, or larger than the bytes present
 *   (an overflowing length field);
 * - Ipv4BadChecksum: header checksum wrong;
 * - Ipv4BadOptions: an option with a bad length (see checkIpv4Options).
 * Total Length up to 65535 is fine (GSO super-frames carry their real length).
 */
export function checkIpv4(buf: Uint8Array, off: number, len: number): DropReason {
  if (len < HEADER_LEN) return DropReason.Ipv4Truncated;
  const vi = buf[off + VER_IHL];
  if ((vi >>> 4) !== 4) return DropReason.Ipv4BadVersion;
  const hlen = (vi & 0x0f) << 2;
  if (hlen < HEADER_LEN) return DropReason.Ipv4BadIhl;
  if (len < hlen) return DropReason.Ipv4Truncated;
  const total = (buf[off + LENGTH] << 8) | buf[off + LENGTH + 1];
  if (total < hlen || total > len) return DropReason.Ipv4BadTotalLength;
  if (!ipv4HeaderChecksumOk(buf, off, hlen)) return DropReason.Ipv4BadChecksum;
  if (hlen > HEADER_LEN) return checkIpv4Options(buf, off, hlen);
  return DropReason.None;
}

/**
 * Walk the options of the header at buf[off] (hlen bytes, already known to be present):
 * EOL ends the list, NOP is one byte, every other option needs a length byte inside
 * the header with 2 ≤ length ≤ bytes left. Source-route, record-route and timestamp
 * options also need their pointer ≥ 4 (5 for timestamp). Ipv4BadOptions otherwise.
 */
export function checkIpv4Options(buf: Uint8Array, off: number, hlen: number): DropReason {
  let p = off + HEADER_LEN;
  const end = off + hlen;
  while (p < end) {
    const type = buf[p];
    if (type === IPV4_OPT_EOL) break;
    if (type === IPV4_OPT_NOP) {
      p++;
      continue;
    }
    if (p + 1 >= end) return DropReason.Ipv4BadOptions;
    const olen = buf[p + 1];
    if (olen < 2 || olen > end - p) return DropReason.Ipv4BadOptions;
    if (type === IPV4_OPT_RR || type === IPV4_OPT_LSRR || type === IPV4_OPT_SSRR) {
      if (olen < 3 || buf[p + 2] < 4) return DropReason.Ipv4BadOptions;
    } else if (type === IPV4_OPT_TS) {
      if (olen < 4 || buf[p + 2] < 5) return DropReason.Ipv4BadOptions;
    } else if (type === IPV4_OPT_RA) {
      if (olen !== 4) return DropReason.Ipv4BadOptions;
    }
    p += olen;
  }
  return DropReason.None;
}

/**
 * Offset of the first option of `type` in the checked header at buf[off], or -1.
 * (Options were validated by checkIpv4, so the walk cannot run off the header.)
 */
export function ipv4FindOption(buf: Uint8Array, off: number, type: number): number {
  let p = off + HEADER_LEN;
  const end = off + ((buf[off + VER_IHL] & 0x0f) << 2);
  while (p < end) {
    const t = buf[p];
    if (t === IPV4_OPT_EOL) return -1;
    if (t === type) return p;
    if (t === IPV4_OPT_NOP) {
      p++;
      continue;
    }
    const olen = buf[p + 1];
    if (olen < 2) return -1;
    p += olen;
  }
  return -1;
}

/** Version. */
export function ipv4Version(buf: Uint8Array, off: number): number {
  return buf[off + VER_IHL] >>> 4;
}

/** Internet Header Length in bytes (IHL * 4). */
export function ipv4HeaderLen(buf: Uint8Array, off: number): number {
  return (buf[off + VER_IHL] & 0x0f) << 2;
}

/** Differentiated Services Code Point. */
export function ipv4Dscp(buf: Uint8Array, off: number): number {
  return buf[off + DSCP_ECN] >>> 2;
}

/** Explicit Congestion Notification. */
export function ipv4Ecn(buf: Uint8Array, off: number): number {
  return buf[off + DSCP_ECN] & 3;
}

/** Type of Service byte (DSCP and ECN). */
export function ipv4Tos(buf: Uint8Array, off: number): number {
  return buf[off + DSCP_ECN];
}

/** Total Length. */
export function ipv4TotalLen(buf: Uint8Array, off: number): number {
  return (buf[off + LENGTH] << 8) | buf[off + LENGTH + 1];
}

/** Identification. */
export function ipv4Ident(buf: Uint8Array, off: number): number {
  return (buf[off + IDENT] << 8) | buf[off + IDENT + 1];
}

/** Flags and Fragment Offset as one 16-bit word. */
export function ipv4FlagsFrag(buf: Uint8Array, off: number): number {
  return (buf[off + FLG_OFF] << 8) | buf[off + FLG_OFF + 1];
}

/** Don't Fragment flag. */
export function ipv4DontFrag(buf: Uint8Array, off: number): boolean {
  return (buf[off + FLG_OFF] & 0x40) !== 0;
}

/** More Fragments flag. */
export function ipv4MoreFrags(buf: Uint8Array, off: number): boolean {
  return (buf[off + FLG_OFF] & 0x20) !== 0;
}

/** Fragment Offset in bytes (field * 8). */
export function ipv4FragOffset(buf: Uint8Array, off: number): number {
  return (((buf[off + FLG_OFF] << 8) | buf[off + FLG_OFF + 1]) & FRAG_OFFSET_MASK) << 3;
}

/** A fragment: MF set or a non-zero offset. */
export function ipv4IsFragment(buf: Uint8Array, off: number): boolean {
  return (((buf[off + FLG_OFF] << 8) | buf[off + FLG_OFF + 1]) & (IPV4_FLAG_MF | FRAG_OFFSET_MASK)) !== 0;
}

/** Time to Live. */
export function ipv4Ttl(buf: Uint8Array, off: number): number {
  return buf[off + TTL];
}

/** Protocol. */
export function ipv4Protocol(buf: Uint8Array, off: number): number {
  return buf[off + PROTOCOL];
}

/** Header Checksum. */
export function ipv4Checksum(buf: Uint8Array, off: number): number {
  return (buf[off + CHECKSUM] << 8) | buf[off + CHECKSUM + 1];
}

/** Source Address as u32. */
export function ipv4Src(buf: Uint8Array, off: number): number {
  const p = off + SRC_ADDR;
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

/** Destination Address as u32. */
export function ipv4Dst(buf: Uint8Array, off: number): number {
  const p = off + DST_ADDR;
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

// --- setters (raw: the header checksum is NOT updated; see ipv4FillChecksum) -------

function put16(buf: Uint8Array, p: number, v: number): void {
  buf[p] = (v >>> 8) & 0xff;
  buf[p + 1] = v & 0xff;
}

function put32(buf: Uint8Array, p: number, v: number): void {
  buf[p] = v >>> 24;
  buf[p + 1] = (v >>> 16) & 0xff;
  buf[p + 2] = (v >>> 8) & 0xff;
  buf[p + 3] = v & 0xff;
}

/** Set Total Length (raw). */
export function setIpv4TotalLen(buf: Uint8Array, off: number, v: number): void {
  put16(buf, off + LENGTH, v);
}

/** Set Identification (raw). */
export function setIpv4Ident(buf: Uint8Array, off: number, v: number): void {
  put16(buf, off + IDENT, v);
}

/** Set the Flags/Fragment Offset word (raw); offset in 8-byte units in the low 13 bits. */
export function setIpv4FlagsFrag(buf: Uint8Array, off: number, v: number): void {
  put16(buf, off + FLG_OFF, v);
}

/** Set Time to Live (raw). */
export function setIpv4Ttl(buf: Uint8Array, off: number, v: number): void {
  buf[off + TTL] = v;
}

/** Set Protocol (raw). */
export function setIpv4Protocol(buf: Uint8Array, off: number, v: number): void {
  buf[off + PROTOCOL] = v;
}

/** Set the Type of Service byte (raw). */
export function setIpv4Tos(buf: Uint8Array, off: number, v: number): void {
  buf[off + DSCP_ECN] = v;
}

/** Set Header Checksum (raw). */
export function setIpv4Checksum(buf: Uint8Array, off: number, v: number): void {
  put16(buf, off + CHECKSUM, v);
}

/** Set Source Address (raw). */
export function setIpv4Src(buf: Uint8Array, off: number, a: number): void {
  put32(buf, off + SRC_ADDR, a);
}

/** Set Destination Address (raw). */
export function setIpv4Dst(buf: Uint8Array, off: number, a: number): void {
  put32(buf, off + DST_ADDR, a);
}

/** Recompute and store the header checksum. */
export function ipv4FillChecksum(buf: Uint8Array, off: number): void {
  put16(buf, off + CHECKSUM, ipv4HeaderChecksum(buf, off, (buf[off + VER_IHL] & 0x0f) << 2));
}

// --- rewrites with incremental header checksum (RFC 1624 eqn. 3) --------------------

/**
 * Decrement Time to Live by one and update the header checksum incrementally.
 * Returns the new TTL. The caller checks TTL > 1 first (else ICMP time exceeded).
 */
export function decrementTtl(buf: Uint8Array, l3Off: number): number {
  const oldWord = (buf[l3Off + TTL] << 8) | buf[l3Off + PROTOCOL];
  const ttl = (buf[l3Off + TTL] - 1) & 0xff;
  buf[l3Off + TTL] = ttl;
  const c = (buf[l3Off + CHECKSUM] << 8) | buf[l3Off + CHECKSUM + 1];
  put16(buf, l3Off + CHECKSUM, csumUpdate16(c, oldWord, (ttl << 8) | buf[l3Off + PROTOCOL]));
  return ttl;
}

/** Set Time to Live, updating the header checksum incrementally. */
export function ipv4RewriteTtl(buf: Uint8Array, off: number, ttl: number): void {
  const oldWord = (buf[off + TTL] << 8) | buf[off + PROTOCOL];
  buf[off + TTL] = ttl;
  const c = (buf[off + CHECKSUM] << 8) | buf[off + CHECKSUM + 1];
  put16(buf, off + CHECKSUM, csumUpdate16(c, oldWord, ((ttl & 0xff) << 8) | buf[off + PROTOCOL]));
}

/** Set Source Address, updating the header checksum incrementally. Returns the old address. */
export function ipv4RewriteSrc(buf: Uint8Array, off: number, a: number): number {
  const old = ipv4Src(buf, off);
  put32(buf, off + SRC_ADDR, a);
  const c = (buf[off + CHECKSUM] << 8) | buf[off + CHECKSUM + 1];
  put16(buf, off + CHECKSUM, csumUpdate32(c, old, a >>> 0));
  return old;
}

/** Set Destination Address, updating the header checksum incrementally. Returns the old address. */
export function ipv4RewriteDst(buf: Uint8Array, off: number, a: number): number {
  const old = ipv4Dst(buf, off);
  put32(buf, off + DST_ADDR, a);
  const c = (buf[off + CHECKSUM] << 8) | buf[off + CHECKSUM + 1];
  put16(buf, off + CHECKSUM, csumUpdate32(c, old, a >>> 0));
  return old;
}

/** Set the Type of Service byte, updating the header checksum incrementally. */
export function ipv4RewriteTos(buf: Uint8Array, off: number, tos: number): void {
  const oldWord = (buf[off + VER_IHL] << 8) | buf[off + DSCP_ECN];
  buf[off + DSCP_ECN] = tos;
  const c = (buf[off + CHECKSUM] << 8) | buf[off + CHECKSUM + 1];
  put16(buf, off + CHECKSUM, csumUpdate16(c, oldWord, (buf[off + VER_IHL] << 8) | (tos & 0xff)));
}

/**
 * Write a 20-byte IPv4 header (no options) with a correct checksum; returns 20.
 * `flagsFrag` is the Flags/Fragment Offset word (e.g. IPV4_FLAG_DF).
 */
export function emitIpv4Header(buf: Uint8Array, off: number, tos: number, totalLen: number, ident: number,
  flagsFrag: number, ttl: number, proto: number, src: number, dst: number): number {
  buf[off + VER_IHL] = 0x45;
  buf[off + DSCP_ECN] = tos;
  put16(buf, off + LENGTH, totalLen);
  put16(buf, off + IDENT, ident);
  put16(buf, off + FLG_OFF, flagsFrag);
  buf[off + TTL] = ttl;
  buf[off + PROTOCOL] = proto;
  buf[off + CHECKSUM] = 0;
  buf[off + CHECKSUM + 1] = 0;
  put32(buf, off + SRC_ADDR, src);
  put32(buf, off + DST_ADDR, dst);
  put16(buf, off + CHECKSUM, ipv4HeaderChecksum(buf, off, HEADER_LEN));
  return HEADER_LEN;
}
