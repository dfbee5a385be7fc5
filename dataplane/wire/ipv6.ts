/**
 * IPv6 header (RFC 8200) and the extension-header chain.
 *
 * Hand-written because it is the hot path: a packet is (buf, off) with `off` at the
 * IPv6 header; plain functions, byte arithmetic, no allocation, no exceptions.
 * checkIpv6 once; afterwards accessors cannot read past the fixed header.
 * Addresses are returned as offsets of their 16 bytes (no subarray allocation).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Version| Traffic Class |           Flow Label                  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Payload Length        |  Next Header  |   Hop Limit   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * +                                                               +
 * |                                                               |
 * +                         Source Address                        +
 * |                                                               |
 * +                                                               +
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * +                                                               +
 * |                                                               |
 * +                      Destination Address                      +
 * |                                                               |
 * +                                                               +
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Extension headers walked here (generic form; AH counts its length in 4-byte units,
 * RFC 4302; the fragment header is always 8 bytes):
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Next Header  |  Hdr Ext Len  |                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 * .            Options / type-specific data ((Hdr Ext Len+1)*8)   .
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Fragment header (RFC 8200 4.5):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         Identification                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { DropReason } from '../pipeline/drop-reason';

// field offsets
const VER_TC_FLOW = 0;
const PAYLOAD_LEN = 4;
const NEXT_HEADER = 6;
const HOP_LIMIT = 7;
const SRC_ADDR = 8;
const DST_ADDR = 24;
const HEADER_LEN = DST_ADDR + 16;

// extension-header offsets, relative to the extension header
const EXT_NEXT_HEADER = 0;
const EXT_LEN = 1;
const FRAG_OFF_M = 2;
const FRAG_IDENT = 4;
const FRAG_HEADER_LEN = FRAG_IDENT + 4;

/** Length of the fixed IPv6 header. */
export const IPV6_HEADER_LEN = HEADER_LEN;
/** Offsets inside the header. */
export const IPV6_HOP_LIMIT_OFF = HOP_LIMIT;
export const IPV6_SRC_OFF = SRC_ADDR;
export const IPV6_DST_OFF = DST_ADDR;
/** Length of the fragment extension header. */
export const IPV6_FRAG_HEADER_LEN = FRAG_HEADER_LEN;
/** Minimum link MTU (RFC 8200 5). */
export const IPV6_MIN_MTU = 1280;
/** Most extension headers the walk accepts before giving up (Ipv6BadExtHeader). */
export const IPV6_MAX_EXT_HEADERS = 8;

const NH_HOPOPTS = 0;
const NH_ROUTING = 43;
const NH_FRAGMENT = 44;
const NH_AH = 51;
const NH_DSTOPTS = 60;

/**
 * Result of walkIpv6ExtHeaders. Allocate one per pipeline (or per parser) and reuse it;
 * the walk overwrites every field.
 */
export class Ipv6ExtWalk {
  /** Upper-layer protocol (the last Next Header; 59 = no next header, 50 = ESP). */
  l4Proto = 0;
  /** Offset of the upper-layer header (or of the fragment data in a non-first fragment). */
  l4Off = 0;
  /** Number of extension headers walked. */
  count = 0;
  /** Offset of the fragment header, or -1. */
  fragHdrOff = -1;
  /** Fragment Offset in bytes (0 without a fragment header). */
  fragOffset = 0;
  /** M flag of the fragment header. */
  moreFrags = false;
  /** Offset of the routing header, or -1. */
  routingHdrOff = -1;
}

/**
 * Validate the fixed IPv6 header in the `len` bytes available at buf[off]:
 * Ipv6Truncated below 40 bytes, Ipv6BadVersion, Ipv6BadPayloadLength when 40 +
 * Payload Length exceeds the bytes present (trailing Ethernet padding is allowed).
 * Jumbograms (Payload Length 0 + jumbo option) are not supported: their extension
 * chain will not fit in the zero-length payload.
 */
export function checkIpv6(buf: Uint8Array, off: number, len: number): DropReason {
  if (len < HEADER_LEN) return DropReason.Ipv6Truncated;
  if ((buf[off + VER_TC_FLOW] >>> 4) !== 6) return DropReason.Ipv6BadVersion;
  const plen = (buf[off + PAYLOAD_LEN] << 8) | buf[off + PAYLOAD_LEN + 1];
  if (HEADER_LEN + plen > len) return DropReason.Ipv6BadPayloadLength;
  return DropReason.None;
}

/** True when `nh` is an extension header this walk steps over. */
export function isIpv6ExtHeader(nh: number): boolean {
  return nh === NH_HOPOPTS || nh === NH_ROUTING || nh === NH_FRAGMENT || nh === NH_DSTOPTS || nh === NH_AH;
}

/**
 * Walk the extension headers of the checked IPv6 packet at buf[off] (payload ends at
 * off + 40 + Payload Length) and fill `w`. Bounded: at most IPV6_MAX_EXT_HEADERS.
 * Ipv6BadExtHeader when a header runs past the payload, hop-by-hop is not first,
 * a second fragment header appears, or the bound is hit.
 * The walk stops at the first non-extension Next Header, and right after the
 * fragment header of a non-first fragment (what follows is fragment data).
 */
export function walkIpv6ExtHeaders(buf: Uint8Array, off: number, w: Ipv6ExtWalk): DropReason {
  const end = off + HEADER_LEN + ((buf[off + PAYLOAD_LEN] << 8) | buf[off + PAYLOAD_LEN + 1]);
  let nh = buf[off + NEXT_HEADER];
  let p = off + HEADER_LEN;
  let count = 0;
  w.fragHdrOff = -1;
  w.fragOffset = 0;
  w.moreFrags = false;
  w.routingHdrOff = -1;
  while (isIpv6ExtHeader(nh)) {
    if (count === IPV6_MAX_EXT_HEADERS) return DropReason.Ipv6BadExtHeader;
    if (nh === NH_HOPOPTS && count !== 0) return DropReason.Ipv6BadExtHeader;
    if (p + 2 > end) return DropReason.Ipv6BadExtHeader;
    let hlen: number;
    if (nh === NH_FRAGMENT) {
      hlen = FRAG_HEADER_LEN;
    } else if (nh === NH_AH) {
      hlen = (buf[p + EXT_LEN] + 2) << 2;
    } else {
      hlen = (buf[p + EXT_LEN] + 1) << 3;
    }
    if (p + hlen > end) return DropReason.Ipv6BadExtHeader;
    count++;
    const next = buf[p + EXT_NEXT_HEADER];
    if (nh === NH_FRAGMENT) {
      if (w.fragHdrOff >= 0) return DropReason.Ipv6BadExtHeader;
      const fo = (buf[p + FRAG_OFF_M] << 8) | buf[p + FRAG_OFF_M + 1];
      w.fragHdrOff = p;
      w.fragOffset = fo & 0xfff8;
      w.moreFrags = (fo & 1) !== 0;
      if (w.fragOffset !== 0) {
        nh = next;
        p += hlen;
        break;
      }
    } else if (nh === NH_ROUTING) {
      if (w.routingHdrOff < 0) w.routingHdrOff = p;
    }
    nh = next;
    p += hlen;
  }
  w.l4Proto = nh;
  w.l4Off = p;
  w.count = count;
  return DropReason.None;
}

/** Version. */
export function ipv6Version(buf: Uint8Array, off: number): number {
  return buf[off + VER_TC_FLOW] >>> 4;
}

/** Traffic Class. */
export function ipv6TrafficClass(buf: Uint8Array, off: number): number {
  return ((buf[off] & 0x0f) << 4) | (buf[off + 1] >>> 4);
}

/** Flow Label (20 bits). */
export function ipv6FlowLabel(buf: Uint8Array, off: number): number {
  return ((buf[off + 1] & 0x0f) << 16) | (buf[off + 2] << 8) | buf[off + 3];
}

/** Payload Length. */
export function ipv6PayloadLen(buf: Uint8Array, off: number): number {
  return (buf[off + PAYLOAD_LEN] << 8) | buf[off + PAYLOAD_LEN + 1];
}

/** Next Header (of the fixed header). */
export function ipv6NextHeader(buf: Uint8Array, off: number): number {
  return buf[off + NEXT_HEADER];
}

/** Hop Limit. */
export function ipv6HopLimit(buf: Uint8Array, off: number): number {
  return buf[off + HOP_LIMIT];
}

/** Source Address: offset of its 16 bytes. */
export function ipv6SrcOff(off: number): number {
  return off + SRC_ADDR;
}

/** Destination Address: offset of its 16 bytes. */
export function ipv6DstOff(off: number): number {
  return off + DST_ADDR;
}

/** Fragment header at fragOff: Identification. */
export function ipv6FragIdent(buf: Uint8Array, fragOff: number): number {
  const p = fragOff + FRAG_IDENT;
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

/** Set Payload Length. */
export function setIpv6PayloadLen(buf: Uint8Array, off: number, v: number): void {
  buf[off + PAYLOAD_LEN] = (v >>> 8) & 0xff;
  buf[off + PAYLOAD_LEN + 1] = v & 0xff;
}

/** Set Next Header of the fixed header. */
export function setIpv6NextHeader(buf: Uint8Array, off: number, v: number): void {
  buf[off + NEXT_HEADER] = v;
}

/** Set Hop Limit (IPv6 has no header checksum). */
export function setIpv6HopLimit(buf: Uint8Array, off: number, v: number): void {
  buf[off + HOP_LIMIT] = v;
}

/** Set Source Address from a[aOff..+16]. */
export function setIpv6Src(buf: Uint8Array, off: number, a: Uint8Array, aOff: number): void {
  for (let i = 0; i < 16; i++) buf[off + SRC_ADDR + i] = a[aOff + i];
}

/** Set Destination Address from a[aOff..+16]. */
export function setIpv6Dst(buf: Uint8Array, off: number, a: Uint8Array, aOff: number): void {
  for (let i = 0; i < 16; i++) buf[off + DST_ADDR + i] = a[aOff + i];
}

/** Swap Source and Destination Addresses in place. */
export function ipv6SwapAddrs(buf: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++) {
    const t = buf[off + SRC_ADDR + i];
    buf[off + SRC_ADDR + i] = buf[off + DST_ADDR + i];
    buf[off + DST_ADDR + i] = t;
  }
}

/**
 * Decrement Hop Limit by one (no header checksum in IPv6). Returns the new value;
 * the caller checks hop limit > 1 first (else ICMPv6 time exceeded).
 */
export function decrementHopLimit(buf: Uint8Array, l3Off: number): number {
  const h = (buf[l3Off + HOP_LIMIT] - 1) & 0xff;
  buf[l3Off + HOP_LIMIT] = h;
  return h;
}

/**
 * Write the fixed 40-byte IPv6 header; returns 40. Addresses are copied from
 * src[srcOff..+16] and dst[dstOff..+16] (they may alias buf, but not the written range).
 */
export function emitIpv6Header(buf: Uint8Array, off: number, trafficClass: number, flowLabel: number,
  payloadLen: number, nextHeader: number, hopLimit: number,
  src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number): number {
  buf[off] = 0x60 | ((trafficClass >>> 4) & 0x0f);
  buf[off + 1] = ((trafficClass & 0x0f) << 4) | ((flowLabel >>> 16) & 0x0f);
  buf[off + 2] = (flowLabel >>> 8) & 0xff;
  buf[off + 3] = flowLabel & 0xff;
  buf[off + PAYLOAD_LEN] = (payloadLen >>> 8) & 0xff;
  buf[off + PAYLOAD_LEN + 1] = payloadLen & 0xff;
  buf[off + NEXT_HEADER] = nextHeader;
  buf[off + HOP_LIMIT] = hopLimit;
  for (let i = 0; i < 16; i++) {
    buf[off + SRC_ADDR + i] = src[srcOff + i];
    buf[off + DST_ADDR + i] = dst[dstOff + i];
  }
  return HEADER_LEN;
}
