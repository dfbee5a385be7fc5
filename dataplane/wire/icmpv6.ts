/**
 * ICMPv6 (RFC 4443) and Neighbor Discovery (RFC 4861).
 *
 * Hand-written because it is the hot path: a message is (buf, off) with `off` at the
 * ICMPv6 header; the IPv6 header (for the pseudo-header and hop limit) is passed as
 * its offset l3Off. Plain functions, byte arithmetic, no allocation, no exceptions.
 * checkIcmp6 once (≥ 8 bytes); ND messages additionally checkNd; afterwards the
 * accessors cannot fail.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Type      |     Code      |          Checksum             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Message body: echo Identifier/Sequence, Packet Too Big MTU,  |
 * |  Parameter Problem Pointer, or unused (errors)                |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Neighbor Solicitation (135) / Advertisement (136), RFC 4861 4.3/4.4:
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Type      |     Code      |          Checksum             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |R|S|O|                     Reserved (NS: all reserved)         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * +                       Target Address (16)                     +
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   Options ...
 *
 * Router Solicitation (133): 4 reserved bytes, then options (at 8).
 * Router Advertisement (134), RFC 4861 4.2:
 * | Cur Hop Limit |M|O|  Reserved |       Router Lifetime         |
 * |                         Reachable Time                        |
 * |                          Retrans Timer                        |   options at 16
 * Redirect (137): 4 reserved, Target Address, Destination Address, options at 40.
 *
 * Option (RFC 4861 4.6): | Type | Length (units of 8 bytes, > 0) | data ... |
 * Source/Target Link-Layer Address (1/2) for Ethernet: | 1|2 | 1 | 6-byte MAC |
 */
import { DropReason } from '../pipeline/drop-reason';
import type { FrameInfo } from './frame-parser';
import { csumUpdate16, finish, fold, pseudoSum6, sumRange } from './checksum';
import { ETH_HEADER_LEN, ETHERTYPE_IPV6 } from './ethernet';
import { emitIpv6Header, IPV6_HEADER_LEN } from './ipv6';
import { IPPROTO_ICMPV6 } from './ipv4';

// field offsets
const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
const BODY = 4;
const ECHO_IDENT = BODY;
const ECHO_SEQ = BODY + 2;
const MTU = BODY;
const POINTER = BODY;
const HEADER_LEN = BODY + 4;
// ND
const ND_FLAGS = BODY;
const ND_TARGET = 8;
const NS_OPTIONS = ND_TARGET + 16;
const RS_OPTIONS = 8;
const RA_CUR_HOP_LIMIT = 4;
const RA_FLAGS = 5;
const RA_ROUTER_LIFETIME = 6;
const RA_REACHABLE_TIME = 8;
const RA_RETRANS_TIMER = 12;
const RA_OPTIONS = 16;
const REDIRECT_DEST = ND_TARGET + 16;
const REDIRECT_OPTIONS = REDIRECT_DEST + 16;
// options
const OPT_TYPE = 0;
const OPT_LEN = 1;
const OPT_LLADDR = 2;
const LLADDR_OPT_LEN = 8;

/** Length of the ICMPv6 header incl. the first 4 body bytes. */
export const ICMP6_HEADER_LEN = HEADER_LEN;
/** Largest ICMPv6 error packet incl. the IPv6 header (RFC 4443 2.4 (c)). */
export const ICMP6_ERROR_MAX_IP_LEN = 1280;
/** Hop limit of generated ICMPv6 errors and echo replies. */
export const ICMP6_HOP_LIMIT = 64;
/** Hop limit of every ND message (RFC 4861). */
export const ND_HOP_LIMIT = 255;
/** Frame length of emitNeighborAdvert / emitNeighborSolicit with the link-layer option. */
export const ND_FRAME_LEN = ETH_HEADER_LEN + IPV6_HEADER_LEN + NS_OPTIONS + LLADDR_OPT_LEN;

export const ICMP6_DEST_UNREACH = 1;
export const ICMP6_PACKET_TOO_BIG = 2;
export const ICMP6_TIME_EXCEEDED = 3;
export const ICMP6_PARAM_PROBLEM = 4;
export const ICMP6_ECHO_REQUEST = 128;
export const ICMP6_ECHO_REPLY = 129;
export const ND_ROUTER_SOLICIT = 133;
export const ND_ROUTER_ADVERT = 134;
export const ND_NEIGHBOR_SOLICIT = 135;
export const ND_NEIGHBOR_ADVERT = 136;
export const ND_REDIRECT = 137;

/** Destination unreachable codes. */
export const ICMP6_NO_ROUTE = 0;
export const ICMP6_ADMIN_PROHIBITED = 1;
export const ICMP6_BEYOND_SCOPE = 2;
export const ICMP6_ADDR_UNREACH = 3;
export const ICMP6_PORT_UNREACH = 4;
export const ICMP6_REJECT_ROUTE = 6;
/** Time exceeded codes. */
export const ICMP6_HOP_LIMIT_EXCEEDED = 0;
export const ICMP6_FRAG_TIME_EXCEEDED = 1;
/** Parameter problem codes. */
export const ICMP6_ERRONEOUS_HEADER = 0;
export const ICMP6_UNRECOGNIZED_NEXT_HEADER = 1;
export const ICMP6_UNRECOGNIZED_OPTION = 2;

/** NA flags (byte 4). */
export const ND_NA_FLAG_ROUTER = 0x80;
export const ND_NA_FLAG_SOLICITED = 0x40;
export const ND_NA_FLAG_OVERRIDE = 0x20;
/** RA flags (byte 5). */
export const ND_RA_FLAG_MANAGED = 0x80;
export const ND_RA_FLAG_OTHER = 0x40;

/** ND option types. */
export const ND_OPT_SOURCE_LLADDR = 1;
export const ND_OPT_TARGET_LLADDR = 2;
export const ND_OPT_PREFIX_INFO = 3;
export const ND_OPT_REDIRECTED_HEADER = 4;
export const ND_OPT_MTU = 5;

/** Validate `len` bytes at buf[off] as an ICMPv6 message: IcmpTruncated below 8 bytes. */
export function checkIcmp6(_buf: Uint8Array, _off: number, len: number): DropReason {
  return len < HEADER_LEN ? DropReason.IcmpTruncated : DropReason.None;
}

/** True when the message at buf[off..+len) has a correct checksum (pseudo-header from the IPv6 header at l3Off). */
export function icmp6ChecksumOk(buf: Uint8Array, l3Off: number, off: number, len: number): boolean {
  return fold(sumRange(buf, off, len, pseudoSum6(buf, l3Off + 8, l3Off + 24, IPPROTO_ICMPV6, len))) === 0xffff;
}

/** Recompute and store the checksum of the message at buf[off..+len) (pseudo-header from l3Off). */
export function icmp6FillChecksum(buf: Uint8Array, l3Off: number, off: number, len: number): void {
  buf[off + CHECKSUM] = 0;
  buf[off + CHECKSUM + 1] = 0;
  const c = finish(sumRange(buf, off, len, pseudoSum6(buf, l3Off + 8, l3Off + 24, IPPROTO_ICMPV6, len)));
  buf[off + CHECKSUM] = c >>> 8;
  buf[off + CHECKSUM + 1] = c & 0xff;
}

/** Error messages are types 0–127 (RFC 4443 2.1): never answered with an error. */
export function icmp6IsError(type: number): boolean {
  return type < 128;
}

/** Neighbor Discovery message (RS, RA, NS, NA, Redirect). */
export function icmp6IsNd(type: number): boolean {
  return type >= ND_ROUTER_SOLICIT && type <= ND_REDIRECT;
}

/** Type. */
export function icmp6Type(buf: Uint8Array, off: number): number {
  return buf[off + TYPE];
}

/** Code. */
export function icmp6Code(buf: Uint8Array, off: number): number {
  return buf[off + CODE];
}

/** Checksum. */
export function icmp6Checksum(buf: Uint8Array, off: number): number {
  return (buf[off + CHECKSUM] << 8) | buf[off + CHECKSUM + 1];
}

/** Echo: Identifier. */
export function icmp6EchoIdent(buf: Uint8Array, off: number): number {
  return (buf[off + ECHO_IDENT] << 8) | buf[off + ECHO_IDENT + 1];
}

/** Echo: Sequence Number. */
export function icmp6EchoSeq(buf: Uint8Array, off: number): number {
  return (buf[off + ECHO_SEQ] << 8) | buf[off + ECHO_SEQ + 1];
}

/** Packet Too Big: MTU. */
export function icmp6Mtu(buf: Uint8Array, off: number): number {
  const p = off + MTU;
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

/** Parameter Problem: Pointer. */
export function icmp6Pointer(buf: Uint8Array, off: number): number {
  const p = off + POINTER;
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

/** Errors: offset of the quoted original packet. */
export function icmp6QuoteOff(off: number): number {
  return off + HEADER_LEN;
}

// ---------------------------------------------------------------------------
// Neighbor Discovery
// ---------------------------------------------------------------------------

/** Offset of the options of the ND message at buf[off] (by type); -1 for non-ND types. */
export function ndOptionsOff(buf: Uint8Array, off: number): number {
  switch (buf[off + TYPE]) {
    case ND_ROUTER_SOLICIT: return off + RS_OPTIONS;
    case ND_ROUTER_ADVERT: return off + RA_OPTIONS;
    case ND_NEIGHBOR_SOLICIT:
    case ND_NEIGHBOR_ADVERT: return off + NS_OPTIONS;
    case ND_REDIRECT: return off + REDIRECT_OPTIONS;
    default: return -1;
  }
}

function ndMinLen(type: number): number {
  switch (type) {
    case ND_ROUTER_SOLICIT: return RS_OPTIONS;
    case ND_ROUTER_ADVERT: return RA_OPTIONS;
    case ND_NEIGHBOR_SOLICIT:
    case ND_NEIGHBOR_ADVERT: return NS_OPTIONS;
    case ND_REDIRECT: return REDIRECT_OPTIONS;
    default: return 0x7fffffff;
  }
}

/**
 * Validate the ND message (types 133–137) at buf[off..+len), the IPv6 header at l3Off,
 * per RFC 4861 6.1.1/6.1.2/7.1.1/7.1.2/8.1:
 * NdMalformed unless hop limit 255, code 0, length ≥ the message's fixed part
 * (RS 8, RA 16, NS/NA 24, Redirect 40), every option inside the message with
 * length > 0, NS/NA target not multicast, NA to a multicast destination without S,
 * RA/Redirect from a link-local source, NS from :: only to a solicited-node group
 * and without a source link-layer option, RS from :: without it.
 * IcmpBadChecksum when the checksum is wrong.
 */
export function checkNd(buf: Uint8Array, l3Off: number, off: number, len: number): DropReason {
  const type = buf[off + TYPE];
  if (len < HEADER_LEN || buf[l3Off + 7] !== ND_HOP_LIMIT || buf[off + CODE] !== 0) return DropReason.NdMalformed;
  const min = ndMinLen(type);
  if (len < min) return DropReason.NdMalformed;
  if (!icmp6ChecksumOk(buf, l3Off, off, len)) return DropReason.IcmpBadChecksum;
  // options: each length > 0 and inside the message
  const end = off + len;
  let p = off + min;
  let hasSlla = false;
  while (p < end) {
    if (p + 2 > end) return DropReason.NdMalformed;
    const olen = buf[p + OPT_LEN] << 3;
    if (olen === 0 || p + olen > end) return DropReason.NdMalformed;
    if (buf[p + OPT_TYPE] === ND_OPT_SOURCE_LLADDR) hasSlla = true;
    p += olen;
  }
  const src = l3Off + 8;
  const dst = l3Off + 24;
  let srcUnspec = true;
  for (let i = 0; i < 16; i++) {
    if (buf[src + i] !== 0) {
      srcUnspec = false;
      break;
    }
  }
  const srcLinkLocal = buf[src] === 0xfe && (buf[src + 1] & 0xc0) === 0x80;
  switch (type) {
    case ND_ROUTER_SOLICIT:
      if (srcUnspec && hasSlla) return DropReason.NdMalformed;
      break;
    case ND_ROUTER_ADVERT:
      if (!srcLinkLocal) return DropReason.NdMalformed;
      break;
    case ND_NEIGHBOR_SOLICIT:
      if (buf[off + ND_TARGET] === 0xff) return DropReason.NdMalformed;
      if (srcUnspec) {
        if (hasSlla) return DropReason.NdMalformed;
        // destination must be solicited-node multicast ff02::1:ffXX:XXXX
        if (buf[dst] !== 0xff || buf[dst + 1] !== 0x02 || buf[dst + 11] !== 0x01 || buf[dst + 12] !== 0xff) {
          return DropReason.NdMalformed;
        }
        for (let i = 2; i < 11; i++) if (buf[dst + i] !== 0) return DropReason.NdMalformed;
      }
      break;
    case ND_NEIGHBOR_ADVERT:
      if (buf[off + ND_TARGET] === 0xff) return DropReason.NdMalformed;
      if (buf[dst] === 0xff && (buf[off + ND_FLAGS] & ND_NA_FLAG_SOLICITED) !== 0) return DropReason.NdMalformed;
      break;
    case ND_REDIRECT:
      if (!srcLinkLocal) return DropReason.NdMalformed;
      if (buf[off + REDIRECT_DEST] === 0xff) return DropReason.NdMalformed;
      break;
    default:
      return DropReason.NdMalformed;
  }
  return DropReason.None;
}

/** NS/NA/Redirect: Target Address, offset of its 16 bytes. */
export function ndTargetOff(off: number): number {
  return off + ND_TARGET;
}

/** Redirect: Destination Address, offset of its 16 bytes. */
export function ndRedirectDstOff(off: number): number {
  return off + REDIRECT_DEST;
}

/** NA: flags byte (ND_NA_FLAG_ROUTER | _SOLICITED | _OVERRIDE). */
export function ndNaFlags(buf: Uint8Array, off: number): number {
  return buf[off + ND_FLAGS] & 0xe0;
}

/** RA: Cur Hop Limit. */
export function ndRaCurHopLimit(buf: Uint8Array, off: number): number {
  return buf[off + RA_CUR_HOP_LIMIT];
}

/** RA: flags byte (M, O, ...). */
export function ndRaFlags(buf: Uint8Array, off: number): number {
  return buf[off + RA_FLAGS];
}

/** RA: Router Lifetime (seconds). */
export function ndRaRouterLifetime(buf: Uint8Array, off: number): number {
  return (buf[off + RA_ROUTER_LIFETIME] << 8) | buf[off + RA_ROUTER_LIFETIME + 1];
}

/** RA: Reachable Time (ms). */
export function ndRaReachableTime(buf: Uint8Array, off: number): number {
  const p = off + RA_REACHABLE_TIME;
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

/** RA: Retrans Timer (ms). */
export function ndRaRetransTimer(buf: Uint8Array, off: number): number {
  const p = off + RA_RETRANS_TIMER;
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

/**
 * Offset of the first option of `optType` in the ND message at buf[off..+len), or -1.
 * Bounds-checked on its own (safe before checkNd too); stops at a zero-length option.
 */
export function ndFindOption(buf: Uint8Array, off: number, len: number, optType: number): number {
  let p = ndOptionsOff(buf, off);
  if (p < 0) return -1;
  const end = off + len;
  while (p + 2 <= end) {
    const olen = buf[p + OPT_LEN] << 3;
    if (olen === 0 || p + olen > end) return -1;
    if (buf[p + OPT_TYPE] === optType) return p;
    p += olen;
  }
  return -1;
}

/**
 * Offset of the Source Link-Layer Address option, or -1. The MAC is at +2
 * (ndOptLinkAddrOff); only when the option is ≥ 8 bytes, so the MAC fits.
 */
export function ndSllaOptionOff(buf: Uint8Array, off: number, len: number): number {
  return ndFindOption(buf, off, len, ND_OPT_SOURCE_LLADDR);
}

/** Offset of the Target Link-Layer Address option, or -1. The MAC is at +2. */
export function ndTllaOptionOff(buf: Uint8Array, off: number, len: number): number {
  return ndFindOption(buf, off, len, ND_OPT_TARGET_LLADDR);
}

/** Offset of the link-layer address inside a link-layer address option at optOff. */
export function ndOptLinkAddrOff(optOff: number): number {
  return optOff + OPT_LLADDR;
}

/** Option length in bytes (Length field * 8). */
export function ndOptLen(buf: Uint8Array, optOff: number): number {
  return buf[optOff + OPT_LEN] << 3;
}

// ---------------------------------------------------------------------------
// Emitters
// ---------------------------------------------------------------------------

/** Scratch for addresses read before a write may overwrite them (module-level: no per-packet allocation). */
const scratchAddr = new Uint8Array(16);
const allNodes = new Uint8Array([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

function putEth(buf: Uint8Array, off: number, dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number): void {
  for (let i = 0; i < 6; i++) {
    buf[off + i] = dst[dstOff + i];
    buf[off + 6 + i] = src[srcOff + i];
  }
  buf[off + 12] = ETHERTYPE_IPV6 >>> 8;
  buf[off + 13] = ETHERTYPE_IPV6 & 0xff;
}

/**
 * Write an untagged Ethernet + IPv6 + ICMPv6 error frame at buf[off]; returns the frame
 * length. Quotes as much of orig[origL3Off .. +origL3Len) as keeps the IPv6 packet
 * ≤ 1280 bytes (RFC 4443 2.4 (c)). IPv6 destination = the original source; source
 * srcIp[srcIpOff..+16]; hop limit 64. `param` is the 32-bit body word: the MTU for
 * Packet Too Big, the Pointer for Parameter Problem, 0 otherwise.
 * The caller decides whether an error may be sent (RFC 4443 2.4 (e)) and rate-limits.
 * Write into a different slot than orig.
 */
export function emitIcmp6Error(buf: Uint8Array, off: number, type: number, code: number, param: number,
  srcMac: Uint8Array, srcMacOff: number, dstMac: Uint8Array, dstMacOff: number,
  srcIp: Uint8Array, srcIpOff: number, orig: Uint8Array, origL3Off: number, origL3Len: number): number {
  const maxQuote = ICMP6_ERROR_MAX_IP_LEN - IPV6_HEADER_LEN - HEADER_LEN;
  const quote = origL3Len < maxQuote ? (origL3Len > 0 ? origL3Len : 0) : maxQuote;
  for (let i = 0; i < 16; i++) scratchAddr[i] = orig[origL3Off + 8 + i];
  const ip = off + ETH_HEADER_LEN;
  const ic = ip + IPV6_HEADER_LEN;
  if (orig === buf) buf.copyWithin(ic + HEADER_LEN, origL3Off, origL3Off + quote);
  else for (let i = 0; i < quote; i++) buf[ic + HEADER_LEN + i] = orig[origL3Off + i];
  putEth(buf, off, dstMac, dstMacOff, srcMac, srcMacOff);
  const icmpLen = HEADER_LEN + quote;
  emitIpv6Header(buf, ip, 0, 0, icmpLen, IPPROTO_ICMPV6, ICMP6_HOP_LIMIT, srcIp, srcIpOff, scratchAddr, 0);
  buf[ic + TYPE] = type;
  buf[ic + CODE] = code;
  buf[ic + BODY] = (param >>> 24) & 0xff;
  buf[ic + BODY + 1] = (param >>> 16) & 0xff;
  buf[ic + BODY + 2] = (param >>> 8) & 0xff;
  buf[ic + BODY + 3] = param & 0xff;
  icmp6FillChecksum(buf, ip, ic, icmpLen);
  return ETH_HEADER_LEN + IPV6_HEADER_LEN + icmpLen;
}

/**
 * Write an untagged Ethernet + IPv6 + Neighbor Advertisement at buf[off]; returns the
 * frame length (86). Target = source address srcIp (the address we answer for);
 * flags R (router), S (solicited), O (override, always set); Target Link-Layer
 * Address option = srcMac; hop limit 255. For an unsolicited NA to ff02::1 pass
 * solicited = false (RFC 4861 7.2.6).
 */
export function emitNeighborAdvert(buf: Uint8Array, off: number, srcMac: Uint8Array, srcMacOff: number,
  dstMac: Uint8Array, dstMacOff: number, srcIp: Uint8Array, srcIpOff: number,
  dstIp: Uint8Array, dstIpOff: number, solicited: boolean, router: boolean): number {
  const ip = off + ETH_HEADER_LEN;
  const ic = ip + IPV6_HEADER_LEN;
  const icmpLen = NS_OPTIONS + LLADDR_OPT_LEN;
  putEth(buf, off, dstMac, dstMacOff, srcMac, srcMacOff);
  emitIpv6Header(buf, ip, 0, 0, icmpLen, IPPROTO_ICMPV6, ND_HOP_LIMIT, srcIp, srcIpOff, dstIp, dstIpOff);
  buf[ic + TYPE] = ND_NEIGHBOR_ADVERT;
  buf[ic + CODE] = 0;
  buf[ic + ND_FLAGS] = (router ? ND_NA_FLAG_ROUTER : 0) | (solicited ? ND_NA_FLAG_SOLICITED : 0) | ND_NA_FLAG_OVERRIDE;
  buf[ic + ND_FLAGS + 1] = 0;
  buf[ic + ND_FLAGS + 2] = 0;
  buf[ic + ND_FLAGS + 3] = 0;
  for (let i = 0; i < 16; i++) buf[ic + ND_TARGET + i] = srcIp[srcIpOff + i];
  const o = ic + NS_OPTIONS;
  buf[o + OPT_TYPE] = ND_OPT_TARGET_LLADDR;
  buf[o + OPT_LEN] = 1;
  for (let i = 0; i < 6; i++) buf[o + OPT_LLADDR + i] = srcMac[srcMacOff + i];
  icmp6FillChecksum(buf, ip, ic, icmpLen);
  return ETH_HEADER_LEN + IPV6_HEADER_LEN + icmpLen;
}

/**
 * Write an untagged Ethernet + IPv6 + Neighbor Solicitation for target[targetOff..+16]
 * at buf[off]; returns the frame length (86, or 78 from :: without the option).
 * Multicast (address resolution): to the target's solicited-node group and its
 * 33:33:ff:.. MAC. Unicast (unreachability probe, RFC 4861 7.3.3): pass unicastMac, and
 * it goes to the target address at that MAC. Source Link-Layer Address option = srcMac,
 * omitted when srcIp is :: (DAD, RFC 4862 5.4.2). Hop limit 255.
 */
export function emitNeighborSolicit(buf: Uint8Array, off: number, srcMac: Uint8Array, srcMacOff: number,
  srcIp: Uint8Array, srcIpOff: number, target: Uint8Array, targetOff: number,
  unicastMac: Uint8Array | null = null, unicastMacOff = 0): number {
  let unspec = true;
  for (let i = 0; i < 16; i++) {
    if (srcIp[srcIpOff + i] !== 0) {
      unspec = false;
      break;
    }
  }
  const ip = off + ETH_HEADER_LEN;
  const ic = ip + IPV6_HEADER_LEN;
  const icmpLen = NS_OPTIONS + (unspec ? 0 : LLADDR_OPT_LEN);
  for (let i = 0; i < 16; i++) scratchAddr[i] = target[targetOff + i];
  if (unicastMac === null) {
    // ff02::1:ffXX:XXXX and 33:33:ff:XX:XX:XX
    buf[off] = 0x33;
    buf[off + 1] = 0x33;
    buf[off + 2] = 0xff;
    buf[off + 3] = scratchAddr[13];
    buf[off + 4] = scratchAddr[14];
    buf[off + 5] = scratchAddr[15];
    for (let i = 0; i < 6; i++) buf[off + 6 + i] = srcMac[srcMacOff + i];
    buf[off + 12] = ETHERTYPE_IPV6 >>> 8;
    buf[off + 13] = ETHERTYPE_IPV6 & 0xff;
    emitIpv6Header(buf, ip, 0, 0, icmpLen, IPPROTO_ICMPV6, ND_HOP_LIMIT, srcIp, srcIpOff, allNodes, 0);
    const d = ip + 24;
    buf[d + 11] = 0x01;
    buf[d + 12] = 0xff;
    buf[d + 13] = scratchAddr[13];
    buf[d + 14] = scratchAddr[14];
    buf[d + 15] = scratchAddr[15];
  } else {
    putEth(buf, off, unicastMac, unicastMacOff, srcMac, srcMacOff);
    emitIpv6Header(buf, ip, 0, 0, icmpLen, IPPROTO_ICMPV6, ND_HOP_LIMIT, srcIp, srcIpOff, scratchAddr, 0);
  }
  buf[ic + TYPE] = ND_NEIGHBOR_SOLICIT;
  buf[ic + CODE] = 0;
  buf[ic + BODY] = 0;
  buf[ic + BODY + 1] = 0;
  buf[ic + BODY + 2] = 0;
  buf[ic + BODY + 3] = 0;
  for (let i = 0; i < 16; i++) buf[ic + ND_TARGET + i] = scratchAddr[i];
  if (!unspec) {
    const o = ic + NS_OPTIONS;
    buf[o + OPT_TYPE] = ND_OPT_SOURCE_LLADDR;
    buf[o + OPT_LEN] = 1;
    for (let i = 0; i < 6; i++) buf[o + OPT_LLADDR + i] = srcMac[srcMacOff + i];
  }
  icmp6FillChecksum(buf, ip, ic, icmpLen);
  return ETH_HEADER_LEN + IPV6_HEADER_LEN + icmpLen;
}

/**
 * Turn the parsed ICMPv6 echo request in the frame at buf[frameOff] into an echo reply
 * in place: swap MACs and IPv6 addresses (the pseudo-header sum does not change),
 * hop limit 64, type 129 (checksum updated incrementally). `info` is the FrameInfo
 * parseFrame filled (ipVersion 6, icmpType 128). Returns the frame length (unchanged).
 * The caller checks the destination was one of our unicast addresses (a reply to a
 * multicast echo needs a unicast source instead).
 */
export function echoToReply(buf: Uint8Array, frameOff: number, info: FrameInfo): number {
  for (let i = 0; i < 6; i++) {
    const t = buf[frameOff + i];
    buf[frameOff + i] = buf[frameOff + 6 + i];
    buf[frameOff + 6 + i] = t;
  }
  const ip = info.l3Off;
  for (let i = 0; i < 16; i++) {
    const t = buf[ip + 8 + i];
    buf[ip + 8 + i] = buf[ip + 24 + i];
    buf[ip + 24 + i] = t;
  }
  buf[ip + 7] = ICMP6_HOP_LIMIT;
  info.ttl = ICMP6_HOP_LIMIT;
  const ic = info.l4Off;
  const oldTc = (buf[ic + TYPE] << 8) | buf[ic + CODE];
  buf[ic + TYPE] = ICMP6_ECHO_REPLY;
  info.icmpType = ICMP6_ECHO_REPLY;
  const c = csumUpdate16((buf[ic + CHECKSUM] << 8) | buf[ic + CHECKSUM + 1], oldTc, (ICMP6_ECHO_REPLY << 8) | buf[ic + CODE]);
  buf[ic + CHECKSUM] = c >>> 8;
  buf[ic + CHECKSUM + 1] = c & 0xff;
  return info.frameLen;
}

/** Alias of echoToReply, for callers importing both ICMP modules by name. */
export { echoToReply as icmp6EchoToReply };
