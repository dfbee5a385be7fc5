/**
 * UDP header (RFC 768; RFC 8200 8.1 for the IPv6 checksum rule).
 *
 * Hand-written because it is the hot path: a datagram is (buf, off) with `off` at the
 * UDP header; plain functions, byte arithmetic, no allocation, no exceptions.
 * checkUdp once; afterwards accessors cannot fail.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Source Port          |       Destination Port        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |            Length             |           Checksum            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Checksum 0 means "none" (IPv4 only); a computed 0 is sent as 0xffff.
 */
import { DropReason } from '../pipeline/drop-reason';
import { csumUpdate16, csumUpdate32, csumUpdate128, finish, sumRange, pseudoSum4, pseudoSum6 } from './checksum';

// field offsets
const SRC_PORT = 0;
const DST_PORT = 2;
const LENGTH = 4;
const CHECKSUM = 6;
const HEADER_LEN = CHECKSUM + 2;

/** Length of the UDP header. */
export const UDP_HEADER_LEN = HEADER_LEN;
/** Offsets inside the header. */
export const UDP_SRC_PORT_OFF = SRC_PORT;
export const UDP_DST_PORT_OFF = DST_PORT;
export const UDP_LENGTH_OFF = LENGTH;
/** Offset of the checksum (virtio csum_offset for UDP). */
export const UDP_CHECKSUM_OFF = CHECKSUM;

/**
 * Validate `len` bytes (the L4 length from the IP header) at buf[off] as UDP:
 * UdpTruncated below 8 bytes; UdpBadLength when the Length field is < 8 or > len
 * (a shorter Length with trailing bytes is accepted, as Linux trims).
 * For the first fragment of a fragmented datagram pass `isFragment` = true: Length
 * then describes the whole datagram and only needs to be ≥ max(8, len).
 */
export function checkUdp(buf: Uint8Array, off: number, len: number, isFragment: boolean): DropReason {
  if (len < HEADER_LEN) return DropReason.UdpTruncated;
  const ulen = (buf[off + LENGTH] << 8) | buf[off + LENGTH + 1];
  if (ulen < HEADER_LEN) return DropReason.UdpBadLength;
  if (isFragment ? ulen < len : ulen > len) return DropReason.UdpBadLength;
  return DropReason.None;
}

/** Source Port. */
export function udpSrcPort(buf: Uint8Array, off: number): number {
  return (buf[off + SRC_PORT] << 8) | buf[off + SRC_PORT + 1];
}

/** Destination Port. */
export function udpDstPort(buf: Uint8Array, off: number): number {
  return (buf[off + DST_PORT] << 8) | buf[off + DST_PORT + 1];
}

/** Length (header + data). */
export function udpLength(buf: Uint8Array, off: number): number {
  return (buf[off + LENGTH] << 8) | buf[off + LENGTH + 1];
}

/** Checksum (0 = none, IPv4). */
export function udpChecksum(buf: Uint8Array, off: number): number {
  return (buf[off + CHECKSUM] << 8) | buf[off + CHECKSUM + 1];
}

function put16(buf: Uint8Array, p: number, v: number): void {
  buf[p] = (v >>> 8) & 0xff;
  buf[p + 1] = v & 0xff;
}

/** Set Source Port (raw: checksum not updated). */
export function setUdpSrcPort(buf: Uint8Array, off: number, v: number): void { put16(buf, off + SRC_PORT, v); }
/** Set Destination Port (raw). */
export function setUdpDstPort(buf: Uint8Array, off: number, v: number): void { put16(buf, off + DST_PORT, v); }
/** Set Length (raw). */
export function setUdpLength(buf: Uint8Array, off: number, v: number): void { put16(buf, off + LENGTH, v); }
/** Set Checksum (raw). */
export function setUdpChecksum(buf: Uint8Array, off: number, v: number): void { put16(buf, off + CHECKSUM, v); }

function adjust16(buf: Uint8Array, off: number, oldVal: number, newVal: number): void {
  const c = udpChecksum(buf, off);
  if (c === 0) return; // no checksum: stays none
  const n = csumUpdate16(c, oldVal, newVal);
  put16(buf, off + CHECKSUM, n === 0 ? 0xffff : n);
}

/** Set Source Port, updating a present checksum incrementally (0 stays 0; a result of 0 becomes 0xffff). */
export function udpRewriteSrcPort(buf: Uint8Array, off: number, port: number): void {
  const old = udpSrcPort(buf, off);
  put16(buf, off + SRC_PORT, port);
  adjust16(buf, off, old, port & 0xffff);
}

/** Set Destination Port, updating a present checksum incrementally. */
export function udpRewriteDstPort(buf: Uint8Array, off: number, port: number): void {
  const old = udpDstPort(buf, off);
  put16(buf, off + DST_PORT, port);
  adjust16(buf, off, old, port & 0xffff);
}

/** Update a present checksum for an IPv4 pseudo-header address change (NAT). */
export function udpAdjustForAddr4(buf: Uint8Array, off: number, oldAddr: number, newAddr: number): void {
  const c = udpChecksum(buf, off);
  if (c === 0) return;
  const n = csumUpdate32(c, oldAddr, newAddr);
  put16(buf, off + CHECKSUM, n === 0 ? 0xffff : n);
}

/** Update the checksum for an IPv6 pseudo-header address change old[oldOff..+16] → nw[newOff..+16]. */
export function udpAdjustForAddr6(buf: Uint8Array, off: number, old: Uint8Array, oldOff: number, nw: Uint8Array, newOff: number): void {
  const n = csumUpdate128(udpChecksum(buf, off), old, oldOff, nw, newOff);
  put16(buf, off + CHECKSUM, n === 0 ? 0xffff : n);
}

/** Compute and store the checksum over IPv4 pseudo-header + datagram buf[off..+len) (0 → 0xffff). */
export function udpFillChecksum4(buf: Uint8Array, off: number, len: number, src: number, dst: number): void {
  put16(buf, off + CHECKSUM, 0);
  const c = finish(sumRange(buf, off, len, pseudoSum4(src, dst, 17, len)));
  put16(buf, off + CHECKSUM, c === 0 ? 0xffff : c);
}

/** Compute and store the checksum over IPv6 pseudo-header (header at l3Off) + datagram (0 → 0xffff). */
export function udpFillChecksum6(buf: Uint8Array, l3Off: number, off: number, len: number): void {
  put16(buf, off + CHECKSUM, 0);
  const c = finish(sumRange(buf, off, len, pseudoSum6(buf, l3Off + 8, l3Off + 24, 17, len)));
  put16(buf, off + CHECKSUM, c === 0 ? 0xffff : c);
}
