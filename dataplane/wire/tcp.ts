/**
 * TCP header (RFC 9293 3.1).
 *
 * Hand-written because it is the hot path: a segment is (buf, off) with `off` at the
 * TCP header; plain functions, byte arithmetic, no allocation, no exceptions.
 * checkTcp once; afterwards accessors (incl. the option walk) cannot read past the header.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Source Port          |       Destination Port        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        Sequence Number                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Acknowledgment Number                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Data |       |C|E|U|A|P|R|S|F|                               |
 * | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
 * |       |       |R|E|G|K|H|T|N|N|                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Checksum            |         Urgent Pointer        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                           [Options]                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { DropReason } from '../pipeline/drop-reason';
import { csumUpdate16, csumUpdate32, finish, sumRange, pseudoSum4, pseudoSum6 } from './checksum';

// field offsets
const SRC_PORT = 0;
const DST_PORT = 2;
const SEQ_NUM = 4;
const ACK_NUM = 8;
const DATA_OFF = 12;
const FLAGS = 13;
const WINDOW = 14;
const CHECKSUM = 16;
const URGENT = 18;
const HEADER_LEN = URGENT + 2;

/** Length of a TCP header without options. */
export const TCP_HEADER_LEN = HEADER_LEN;
/** Offsets inside the header. */
export const TCP_SRC_PORT_OFF = SRC_PORT;
export const TCP_DST_PORT_OFF = DST_PORT;
export const TCP_FLAGS_OFF = FLAGS;
/** Offset of the checksum (virtio csum_offset for TCP). */
export const TCP_CHECKSUM_OFF = CHECKSUM;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

export const TCP_OPT_EOL = 0;
export const TCP_OPT_NOP = 1;
export const TCP_OPT_MSS = 2;
export const TCP_OPT_WSCALE = 3;
export const TCP_OPT_SACK_PERMITTED = 4;
export const TCP_OPT_SACK = 5;
export const TCP_OPT_TIMESTAMP = 8;

/**
 * Validate `len` bytes (the L4 length from the IP header) at buf[off] as a TCP header:
 * TcpTruncated below 20 bytes; TcpBadOffset when Data Offset < 5 or the header it
 * claims is longer than `len`.
 */
export function checkTcp(buf: Uint8Array, off: number, len: number): DropReason {
  if (len < HEADER_LEN) return DropReason.TcpTruncated;
  const hlen = (buf[off + DATA_OFF] >>> 4) << 2;
  if (hlen < HEADER_LEN || hlen > len) return DropReason.TcpBadOffset;
  return DropReason.None;
}

/** Source Port. */
export function tcpSrcPort(buf: Uint8Array, off: number): number {
  return (buf[off + SRC_PORT] << 8) | buf[off + SRC_PORT + 1];
}

/** Destination Port. */
export function tcpDstPort(buf: Uint8Array, off: number): number {
  return (buf[off + DST_PORT] << 8) | buf[off + DST_PORT + 1];
}

/** Sequence Number. */
export function tcpSeq(buf: Uint8Array, off: number): number {
  const p = off + SEQ_NUM;
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

/** Acknowledgment Number. */
export function tcpAck(buf: Uint8Array, off: number): number {
  const p = off + ACK_NUM;
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

/** Data Offset in bytes (header length incl. options). */
export function tcpHeaderLen(buf: Uint8Array, off: number): number {
  return (buf[off + DATA_OFF] >>> 4) << 2;
}

/** Control bits CWR..FIN (byte 13). */
export function tcpFlags(buf: Uint8Array, off: number): number {
  return buf[off + FLAGS];
}

/** Window. */
export function tcpWindow(buf: Uint8Array, off: number): number {
  return (buf[off + WINDOW] << 8) | buf[off + WINDOW + 1];
}

/** Checksum. */
export function tcpChecksum(buf: Uint8Array, off: number): number {
  return (buf[off + CHECKSUM] << 8) | buf[off + CHECKSUM + 1];
}

/** Urgent Pointer. */
export function tcpUrgent(buf: Uint8Array, off: number): number {
  return (buf[off + URGENT] << 8) | buf[off + URGENT + 1];
}

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

/** Set Source Port (raw: checksum not updated). */
export function setTcpSrcPort(buf: Uint8Array, off: number, v: number): void { put16(buf, off + SRC_PORT, v); }
/** Set Destination Port (raw). */
export function setTcpDstPort(buf: Uint8Array, off: number, v: number): void { put16(buf, off + DST_PORT, v); }
/** Set Sequence Number (raw). */
export function setTcpSeq(buf: Uint8Array, off: number, v: number): void { put32(buf, off + SEQ_NUM, v); }
/** Set Acknowledgment Number (raw). */
export function setTcpAck(buf: Uint8Array, off: number, v: number): void { put32(buf, off + ACK_NUM, v); }
/** Set Data Offset from a header length in bytes (raw). */
export function setTcpHeaderLen(buf: Uint8Array, off: number, hlen: number): void {
  buf[off + DATA_OFF] = ((hlen >>> 2) << 4) | (buf[off + DATA_OFF] & 0x0f);
}
/** Set the control bits (raw). */
export function setTcpFlags(buf: Uint8Array, off: number, v: number): void { buf[off + FLAGS] = v; }
/** Set Window (raw). */
export function setTcpWindow(buf: Uint8Array, off: number, v: number): void { put16(buf, off + WINDOW, v); }
/** Set Checksum (raw). */
export function setTcpChecksum(buf: Uint8Array, off: number, v: number): void { put16(buf, off + CHECKSUM, v); }
/** Set Urgent Pointer (raw). */
export function setTcpUrgent(buf: Uint8Array, off: number, v: number): void { put16(buf, off + URGENT, v); }

/** Set Source Port, updating the checksum incrementally (not for NEEDS_CSUM partial checksums: use the raw setter). */
export function tcpRewriteSrcPort(buf: Uint8Array, off: number, port: number): void {
  const old = tcpSrcPort(buf, off);
  put16(buf, off + SRC_PORT, port);
  put16(buf, off + CHECKSUM, csumUpdate16(tcpChecksum(buf, off), old, port & 0xffff));
}

/** Set Destination Port, updating the checksum incrementally. */
export function tcpRewriteDstPort(buf: Uint8Array, off: number, port: number): void {
  const old = tcpDstPort(buf, off);
  put16(buf, off + DST_PORT, port);
  put16(buf, off + CHECKSUM, csumUpdate16(tcpChecksum(buf, off), old, port & 0xffff));
}

/** Update the checksum for an IPv4 pseudo-header address change old → new (NAT). */
export function tcpAdjustForAddr4(buf: Uint8Array, off: number, oldAddr: number, newAddr: number): void {
  put16(buf, off + CHECKSUM, csumUpdate32(tcpChecksum(buf, off), oldAddr, newAddr));
}

/**
 * Offset of the first option of `kind` in the checked header at buf[off], or -1.
 * Malformed option lists (length < 2 or running past the header) end the search.
 */
export function tcpFindOption(buf: Uint8Array, off: number, kind: number): number {
  let p = off + HEADER_LEN;
  const end = off + ((buf[off + DATA_OFF] >>> 4) << 2);
  while (p < end) {
    const k = buf[p];
    if (k === TCP_OPT_EOL) return -1;
    if (k === TCP_OPT_NOP) {
      p++;
      continue;
    }
    if (p + 1 >= end) return -1;
    const olen = buf[p + 1];
    if (olen < 2 || p + olen > end) return -1;
    if (k === kind) return p;
    p += olen;
  }
  return -1;
}

/** MSS option value, or -1 when absent (or not 4 bytes long). */
export function tcpMss(buf: Uint8Array, off: number): number {
  const p = tcpFindOption(buf, off, TCP_OPT_MSS);
  if (p < 0 || buf[p + 1] !== 4) return -1;
  return (buf[p + 2] << 8) | buf[p + 3];
}

/**
 * MSS clamping: when the segment carries an MSS option larger than `mss`, lower it and
 * update the checksum incrementally (the option is 2-byte aligned in practice; an odd
 * offset is handled by updating both affected words). Returns true when changed.
 */
export function tcpClampMss(buf: Uint8Array, off: number, mss: number): boolean {
  const p = tcpFindOption(buf, off, TCP_OPT_MSS);
  if (p < 0 || buf[p + 1] !== 4) return false;
  const old = (buf[p + 2] << 8) | buf[p + 3];
  if (old <= mss) return false;
  const v = p + 2;
  if (((v - off) & 1) === 0) {
    buf[v] = (mss >>> 8) & 0xff;
    buf[v + 1] = mss & 0xff;
    put16(buf, off + CHECKSUM, csumUpdate16(tcpChecksum(buf, off), old, mss & 0xffff));
  } else {
    const w0 = v - 1;
    const oldA = (buf[w0] << 8) | buf[w0 + 1];
    const oldB = (buf[w0 + 2] << 8) | buf[w0 + 3];
    buf[v] = (mss >>> 8) & 0xff;
    buf[v + 1] = mss & 0xff;
    const newA = (buf[w0] << 8) | buf[w0 + 1];
    const newB = (buf[w0 + 2] << 8) | buf[w0 + 3];
    let c = csumUpdate16(tcpChecksum(buf, off), oldA, newA);
    c = csumUpdate16(c, oldB, newB);
    put16(buf, off + CHECKSUM, c);
  }
  return true;
}

/** Compute and store the checksum over IPv4 pseudo-header + segment buf[off..+len). */
export function tcpFillChecksum4(buf: Uint8Array, off: number, len: number, src: number, dst: number): void {
  put16(buf, off + CHECKSUM, 0);
  put16(buf, off + CHECKSUM, finish(sumRange(buf, off, len, pseudoSum4(src, dst, 6, len))));
}

/** Compute and store the checksum over IPv6 pseudo-header (header at l3Off) + segment. */
export function tcpFillChecksum6(buf: Uint8Array, l3Off: number, off: number, len: number): void {
  put16(buf, off + CHECKSUM, 0);
  put16(buf, off + CHECKSUM, finish(sumRange(buf, off, len, pseudoSum6(buf, l3Off + 8, l3Off + 24, 6, len))));
}
