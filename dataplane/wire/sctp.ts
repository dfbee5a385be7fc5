/**
 * SCTP common header (RFC 9260 3.1) and its CRC32c checksum (RFC 9260 appendix A).
 *
 * Hand-written because it is the hot path: a packet is (buf, off) with `off` at the
 * SCTP common header; plain functions, byte arithmetic, no allocation, no exceptions.
 * checkSctp once; afterwards accessors cannot fail. Chunks are not parsed.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Source Port Number        |     Destination Port Number   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                      Verification Tag                         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                           Checksum                            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The checksum is CRC32c, not the Internet checksum: a NAT that changes a port must
 * recompute it (sctpFillChecksum); IP address changes do not affect it.
 */
import { DropReason } from '../pipeline/drop-reason';

// field offsets
const SRC_PORT = 0;
const DST_PORT = 2;
const VERIFICATION_TAG = 4;
const CHECKSUM = 8;
const HEADER_LEN = CHECKSUM + 4;

/** Length of the SCTP common header. */
export const SCTP_HEADER_LEN = HEADER_LEN;
/** Offset of the checksum. */
export const SCTP_CHECKSUM_OFF = CHECKSUM;

/** Validate `len` bytes at buf[off] as an SCTP common header: SctpTruncated below 12 bytes. */
export function checkSctp(_buf: Uint8Array, _off: number, len: number): DropReason {
  return len < HEADER_LEN ? DropReason.SctpTruncated : DropReason.None;
}

/** Source Port Number. */
export function sctpSrcPort(buf: Uint8Array, off: number): number {
  return (buf[off + SRC_PORT] << 8) | buf[off + SRC_PORT + 1];
}

/** Destination Port Number. */
export function sctpDstPort(buf: Uint8Array, off: number): number {
  return (buf[off + DST_PORT] << 8) | buf[off + DST_PORT + 1];
}

/** Verification Tag. */
export function sctpVerificationTag(buf: Uint8Array, off: number): number {
  const p = off + VERIFICATION_TAG;
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

/** Checksum as stored (the CRC32c value, read least significant byte first as RFC 9260 appendix A places it). */
export function sctpChecksum(buf: Uint8Array, off: number): number {
  const p = off + CHECKSUM;
  return (buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16) | (buf[p + 3] << 24)) >>> 0;
}

/** Set Source Port Number (raw: the CRC is not updated). */
export function setSctpSrcPort(buf: Uint8Array, off: number, v: number): void {
  buf[off + SRC_PORT] = (v >>> 8) & 0xff;
  buf[off + SRC_PORT + 1] = v & 0xff;
}

/** Set Destination Port Number (raw). */
export function setSctpDstPort(buf: Uint8Array, off: number, v: number): void {
  buf[off + DST_PORT] = (v >>> 8) & 0xff;
  buf[off + DST_PORT + 1] = v & 0xff;
}

/** Set Verification Tag (raw). */
export function setSctpVerificationTag(buf: Uint8Array, off: number, v: number): void {
  const p = off + VERIFICATION_TAG;
  buf[p] = v >>> 24;
  buf[p + 1] = (v >>> 16) & 0xff;
  buf[p + 2] = (v >>> 8) & 0xff;
  buf[p + 3] = v & 0xff;
}

/** CRC32c (Castagnoli, reflected, poly 0x82f63b78) table: built once at load. */
const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = (c & 1) ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC32c of buf[off..+len) (init ~0, final xor ~0): crc32c("123456789") = 0xe3069283. */
export function crc32c(buf: Uint8Array, off: number, len: number): number {
  let c = 0xffffffff;
  const end = off + len;
  for (let i = off; i < end; i++) c = CRC32C_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (~c) >>> 0;
}

/** CRC32c of the packet at buf[off..+len) computed with the checksum field taken as zero. */
export function sctpComputeChecksum(buf: Uint8Array, off: number, len: number): number {
  let c = 0xffffffff;
  const end = off + len;
  const ck = off + CHECKSUM;
  for (let i = off; i < end; i++) {
    const b = i >= ck && i < ck + 4 ? 0 : buf[i];
    c = CRC32C_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  }
  return (~c) >>> 0;
}

/** True when the stored checksum matches the packet at buf[off..+len). */
export function sctpChecksumOk(buf: Uint8Array, off: number, len: number): boolean {
  return sctpComputeChecksum(buf, off, len) === sctpChecksum(buf, off);
}

/** Compute and store the CRC32c of the packet at buf[off..+len). */
export function sctpFillChecksum(buf: Uint8Array, off: number, len: number): void {
  const c = sctpComputeChecksum(buf, off, len);
  const p = off + CHECKSUM;
  buf[p] = c & 0xff;
  buf[p + 1] = (c >>> 8) & 0xff;
  buf[p + 2] = (c >>> 16) & 0xff;
  buf[p + 3] = c >>> 24;
}
