/**
 * ICMP for IPv4 (RFC 792, RFC 1191 next-hop MTU, RFC 1812 4.3 for routers).
 *
 * Hand-written because it is the hot path: a message is (buf, off) with `off` at the
 * ICMP header; plain functions, byte arithmetic, no allocation, no exceptions.
 * checkIcmp4 once (≥ 8 bytes); afterwards the header accessors cannot fail.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Type      |     Code      |          Checksum             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        Rest of Header                         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |      Data (errors: internet header + leading octets of the    |
 * |      original datagram)                                       |
 *
 * Rest of Header:
 *   echo (8/0):            | Identifier | Sequence Number |
 *   dest unreachable (3):  |   unused   | Next-Hop MTU (code 4) |
 *   redirect (5):          |      Gateway Internet Address      |
 *   parameter problem (12):| Pointer |         unused           |
 */
import { DropReason } from '../pipeline/drop-reason';
import type { FrameInfo } from './frame-parser';
import { checksum, csumUpdate16, fold, sumRange } from './checksum';
import { ETH_HEADER_LEN, ETHERTYPE_IPV4 } from './ethernet';
import { emitIpv4Header, IPPROTO_ICMP, IPV4_FLAG_DF, IPV4_HEADER_LEN } from './ipv4';

// field offsets
const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
const REST = 4;
const ECHO_IDENT = REST;
const ECHO_SEQ = REST + 2;
const NEXT_HOP_MTU = REST + 2;
const POINTER = REST;
const GATEWAY = REST;
const HEADER_LEN = REST + 4;

/** Length of the ICMP header (type, code, checksum, rest of header). */
export const ICMP4_HEADER_LEN = HEADER_LEN;
/** Largest ICMP error datagram (IP header + ICMP + quote), RFC 1812 4.3.2.3. */
export const ICMP4_ERROR_MAX_IP_LEN = 576;
/** TTL of generated ICMP messages. */
export const ICMP4_TTL = 64;

export const ICMP4_ECHO_REPLY = 0;
export const ICMP4_DEST_UNREACH = 3;
export const ICMP4_SOURCE_QUENCH = 4;
export const ICMP4_REDIRECT = 5;
export const ICMP4_ECHO_REQUEST = 8;
export const ICMP4_ROUTER_ADVERT = 9;
export const ICMP4_ROUTER_SOLICIT = 10;
export const ICMP4_TIME_EXCEEDED = 11;
export const ICMP4_PARAM_PROBLEM = 12;
export const ICMP4_TIMESTAMP = 13;
export const ICMP4_TIMESTAMP_REPLY = 14;

/** Destination unreachable codes. */
export const ICMP4_NET_UNREACH = 0;
export const ICMP4_HOST_UNREACH = 1;
export const ICMP4_PROTO_UNREACH = 2;
export const ICMP4_PORT_UNREACH = 3;
export const ICMP4_FRAG_NEEDED = 4;
export const ICMP4_NET_PROHIBITED = 9;
export const ICMP4_HOST_PROHIBITED = 10;
export const ICMP4_ADMIN_PROHIBITED = 13;
/** Time exceeded codes. */
export const ICMP4_TTL_EXCEEDED = 0;
export const ICMP4_FRAG_TIME_EXCEEDED = 1;

/** Validate `len` bytes at buf[off] as an ICMP message header: IcmpTruncated below 8 bytes. */
export function checkIcmp4(_buf: Uint8Array, _off: number, len: number): DropReason {
  return len < HEADER_LEN ? DropReason.IcmpTruncated : DropReason.None;
}

/** True when the message at buf[off..+len) has a correct checksum. */
export function icmp4ChecksumOk(buf: Uint8Array, off: number, len: number): boolean {
  return fold(sumRange(buf, off, len, 0)) === 0xffff;
}

/**
 * True for error messages (unreachable, source quench, redirect, time exceeded,
 * parameter problem), to which no ICMP error may be sent (RFC 1812 4.3.2.7).
 * Unknown types count as errors too, to be safe.
 */
export function icmp4IsError(type: number): boolean {
  return type !== ICMP4_ECHO_REPLY && type !== ICMP4_ECHO_REQUEST && type !== ICMP4_ROUTER_ADVERT &&
    type !== ICMP4_ROUTER_SOLICIT && type !== ICMP4_TIMESTAMP && type !== ICMP4_TIMESTAMP_REPLY &&
    type !== 15 && type !== 16 && type !== 17 && type !== 18;
}

/** Type. */
export function icmp4Type(buf: Uint8Array, off: number): number {
  return buf[off + TYPE];
}

/** Code. */
export function icmp4Code(buf: Uint8Array, off: number): number {
  return buf[off + CODE];
}

/** Checksum. */
export function icmp4Checksum(buf: Uint8Array, off: number): number {
  return (buf[off + CHECKSUM] << 8) | buf[off + CHECKSUM + 1];
}

/** Echo: Identifier. */
export function icmp4EchoIdent(buf: Uint8Array, off: number): number {
  return (buf[off + ECHO_IDENT] << 8) | buf[off + ECHO_IDENT + 1];
}

/** Echo: Sequence Number. */
export function icmp4EchoSeq(buf: Uint8Array, off: number): number {
  return (buf[off + ECHO_SEQ] << 8) | buf[off + ECHO_SEQ + 1];
}

/** Destination unreachable / fragmentation needed: Next-Hop MTU. */
export function icmp4NextHopMtu(buf: Uint8Array, off: number): number {
  return (buf[off + NEXT_HOP_MTU] << 8) | buf[off + NEXT_HOP_MTU + 1];
}

/** Parameter problem: Pointer. */
export function icmp4Pointer(buf: Uint8Array, off: number): number {
  return buf[off + POINTER];
}

/** Redirect: Gateway Internet Address as u32. */
export function icmp4Gateway(buf: Uint8Array, off: number): number {
  const p = off + GATEWAY;
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

/** Errors: offset of the quoted original IP header. */
export function icmp4QuoteOff(off: number): number {
  return off + HEADER_LEN;
}

/** Set the Echo Identifier, updating the checksum incrementally (ICMP query NAT). */
export function icmp4RewriteEchoIdent(buf: Uint8Array, off: number, ident: number): void {
  const old = icmp4EchoIdent(buf, off);
  buf[off + ECHO_IDENT] = (ident >>> 8) & 0xff;
  buf[off + ECHO_IDENT + 1] = ident & 0xff;
  const c = csumUpdate16(icmp4Checksum(buf, off), old, ident & 0xffff);
  buf[off + CHECKSUM] = c >>> 8;
  buf[off + CHECKSUM + 1] = c & 0xff;
}

/** Recompute and store the checksum of the message at buf[off..+len). */
export function icmp4FillChecksum(buf: Uint8Array, off: number, len: number): void {
  buf[off + CHECKSUM] = 0;
  buf[off + CHECKSUM + 1] = 0;
  const c = checksum(buf, off, len);
  buf[off + CHECKSUM] = c >>> 8;
  buf[off + CHECKSUM + 1] = c & 0xff;
}

/**
 * Write an untagged Ethernet + IPv4 + ICMP error frame at buf[off]; returns the frame
 * length. The quote is the leading bytes of the original datagram
 * orig[origL3Off .. origL3Off+origL3Len), as many as fit in a 576-byte IP datagram
 * (RFC 1812 4.3.2.3). The IP destination is the original source; TOS 0xc0
 * (internetwork control, RFC 1812 4.3.2.5), TTL 64, DF set, Identification 0
 * (atomic datagram, RFC 6864). `param` fills the rest of header by type:
 * 3 → Next-Hop MTU (low 16 bits; code 4), 12 → Pointer (byte 4), 5 → gateway (u32),
 * otherwise the full 32-bit word (normally 0).
 * The caller decides whether an error may be sent at all (not for errors, non-first
 * fragments, broadcast/multicast, martian sources: RFC 1812 4.3.2.7) and rate-limits.
 * `orig` may be `buf` (quotes are copied with copyWithin then) but the ranges must not
 * overlap in a way that the frame header overwrites the quote before it is copied:
 * write into a different slot.
 */
export function emitIcmp4Error(buf: Uint8Array, off: number, type: number, code: number, param: number,
  srcMac: Uint8Array, srcMacOff: number, dstMac: Uint8Array, dstMacOff: number, srcIp: number,
  orig: Uint8Array, origL3Off: number, origL3Len: number): number {
  const maxQuote = ICMP4_ERROR_MAX_IP_LEN - IPV4_HEADER_LEN - HEADER_LEN;
  const quote = origL3Len < maxQuote ? (origL3Len > 0 ? origL3Len : 0) : maxQuote;
  const origSrc = ((orig[origL3Off + 12] << 24) | (orig[origL3Off + 13] << 16) |
    (orig[origL3Off + 14] << 8) | orig[origL3Off + 15]) >>> 0;
  const ip = off + ETH_HEADER_LEN;
  const ic = ip + IPV4_HEADER_LEN;
  // Copy the quote first: if orig aliases buf at a later offset, the headers must not clobber it.
  if (orig === buf) buf.copyWithin(ic + HEADER_LEN, origL3Off, origL3Off + quote);
  else for (let i = 0; i < quote; i++) buf[ic + HEADER_LEN + i] = orig[origL3Off + i];
  for (let i = 0; i < 6; i++) {
    buf[off + i] = dstMac[dstMacOff + i];
    buf[off + 6 + i] = srcMac[srcMacOff + i];
  }
  buf[off + 12] = ETHERTYPE_IPV4 >>> 8;
  buf[off + 13] = ETHERTYPE_IPV4 & 0xff;
  const icmpLen = HEADER_LEN + quote;
  emitIpv4Header(buf, ip, 0xc0, IPV4_HEADER_LEN + icmpLen, 0, IPV4_FLAG_DF, ICMP4_TTL, IPPROTO_ICMP, srcIp, origSrc);
  buf[ic + TYPE] = type;
  buf[ic + CODE] = code;
  buf[ic + CHECKSUM] = 0;
  buf[ic + CHECKSUM + 1] = 0;
  if (type === ICMP4_DEST_UNREACH) {
    buf[ic + REST] = 0;
    buf[ic + REST + 1] = 0;
    buf[ic + REST + 2] = (param >>> 8) & 0xff;
    buf[ic + REST + 3] = param & 0xff;
  } else if (type === ICMP4_PARAM_PROBLEM) {
    buf[ic + REST] = param & 0xff;
    buf[ic + REST + 1] = 0;
    buf[ic + REST + 2] = 0;
    buf[ic + REST + 3] = 0;
  } else {
    buf[ic + REST] = (param >>> 24) & 0xff;
    buf[ic + REST + 1] = (param >>> 16) & 0xff;
    buf[ic + REST + 2] = (param >>> 8) & 0xff;
    buf[ic + REST + 3] = param & 0xff;
  }
  const c = checksum(buf, ic, icmpLen);
  buf[ic + CHECKSUM] = c >>> 8;
  buf[ic + CHECKSUM + 1] = c & 0xff;
  return ETH_HEADER_LEN + IPV4_HEADER_LEN + icmpLen;
}

/**
 * Turn the parsed echo request in the frame at buf[frameOff] into an echo reply in
 * place: swap MACs and IP addresses (the header checksum does not change), TTL 64
 * (header checksum updated incrementally), type 0 (ICMP checksum updated incrementally).
 * `info` is the FrameInfo parseFrame filled for this frame (ipVersion 4, icmpType 8).
 * Returns the frame length (unchanged). The caller checks the destination was ours
 * (not broadcast/multicast).
 */
export function echoToReply(buf: Uint8Array, frameOff: number, info: FrameInfo): number {
  // MACs
  for (let i = 0; i < 6; i++) {
    const t = buf[frameOff + i];
    buf[frameOff + i] = buf[frameOff + 6 + i];
    buf[frameOff + 6 + i] = t;
  }
  const ip = info.l3Off;
  for (let i = 0; i < 4; i++) {
    const t = buf[ip + 12 + i];
    buf[ip + 12 + i] = buf[ip + 16 + i];
    buf[ip + 16 + i] = t;
  }
  const s = info.src4;
  info.src4 = info.dst4;
  info.dst4 = s;
  // TTL (shares its word with Protocol)
  const oldWord = (buf[ip + 8] << 8) | buf[ip + 9];
  buf[ip + 8] = ICMP4_TTL;
  info.ttl = ICMP4_TTL;
  let c = (buf[ip + 10] << 8) | buf[ip + 11];
  c = csumUpdate16(c, oldWord, (ICMP4_TTL << 8) | buf[ip + 9]);
  buf[ip + 10] = c >>> 8;
  buf[ip + 11] = c & 0xff;
  // ICMP type (shares its word with Code)
  const ic = info.l4Off;
  const oldTc = (buf[ic + TYPE] << 8) | buf[ic + CODE];
  buf[ic + TYPE] = ICMP4_ECHO_REPLY;
  info.icmpType = ICMP4_ECHO_REPLY;
  c = (buf[ic + CHECKSUM] << 8) | buf[ic + CHECKSUM + 1];
  c = csumUpdate16(c, oldTc, (ICMP4_ECHO_REPLY << 8) | buf[ic + CODE]);
  buf[ic + CHECKSUM] = c >>> 8;
  buf[ic + CHECKSUM + 1] = c & 0xff;
  return info.frameLen;
}

/** Alias of echoToReply, for callers importing both ICMP modules by name. */
export { echoToReply as icmp4EchoToReply };
