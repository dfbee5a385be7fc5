/**
 * struct virtio_net_hdr (virtio spec 1.2, 5.1.6; Linux include/uapi/linux/virtio_net.h),
 * the 10-byte header a vnet_hdr TAP puts in front of every frame. Little-endian.
 *
 * Hand-written because it is the hot path: the header is (buf, hdrOff), normally
 * hdrOff = frameOff - VNET_HDR_LEN (the port's headroom). Plain functions, byte
 * arithmetic, no allocation, no exceptions. checkVnetHdr once (and
 * checkVnetHdrAgainstFrame after parseFrame); afterwards completeChecksum cannot
 * read or write outside the frame.
 *
 *  0               1               2               3
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     flags     |   gso_type    |        hdr_len (le16)         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |        gso_size (le16)        |       csum_start (le16)       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |       csum_offset (le16)      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * NEEDS_CSUM: the L4 checksum field at csum_start + csum_offset holds the folded
 * pseudo-header sum; the sum over [csum_start, frame end) must be complemented and
 * stored there. csum_start is relative to the Ethernet header.
 */
import { DropReason } from '../pipeline/drop-reason';
import type { FrameInfo } from './frame-parser';
import { fold, sumRange } from './checksum';

// field offsets
const FLAGS = 0;
const GSO_TYPE = 1;
const HDR_LEN = 2;
const GSO_SIZE = 4;
const CSUM_START = 6;
const CSUM_OFFSET = 8;
const HEADER_LEN = CSUM_OFFSET + 2;

/** sizeof(struct virtio_net_hdr) (without num_buffers). Same as io/port.ts VNET_HDR_LEN. */
export const VNET_HEADER_LEN = HEADER_LEN;

export const VNET_HDR_F_NEEDS_CSUM = 1;
export const VNET_HDR_F_DATA_VALID = 2;
export const VNET_HDR_F_RSC_INFO = 4;

export const VNET_HDR_GSO_NONE = 0;
export const VNET_HDR_GSO_TCPV4 = 1;
export const VNET_HDR_GSO_UDP = 3;
export const VNET_HDR_GSO_TCPV6 = 4;
export const VNET_HDR_GSO_UDP_L4 = 5;
export const VNET_HDR_GSO_ECN = 0x80;

/** Flags. */
export function vnetFlags(buf: Uint8Array, hdrOff: number): number {
  return buf[hdrOff + FLAGS];
}

/** gso_type (incl. the ECN bit). */
export function vnetGsoType(buf: Uint8Array, hdrOff: number): number {
  return buf[hdrOff + GSO_TYPE];
}

/** hdr_len: length of the headers to copy into each segment (a hint). */
export function vnetHdrLen(buf: Uint8Array, hdrOff: number): number {
  return buf[hdrOff + HDR_LEN] | (buf[hdrOff + HDR_LEN + 1] << 8);
}

/** gso_size: payload bytes per segment (the MSS). */
export function vnetGsoSize(buf: Uint8Array, hdrOff: number): number {
  return buf[hdrOff + GSO_SIZE] | (buf[hdrOff + GSO_SIZE + 1] << 8);
}

/** csum_start: where checksumming starts, from the Ethernet header. */
export function vnetCsumStart(buf: Uint8Array, hdrOff: number): number {
  return buf[hdrOff + CSUM_START] | (buf[hdrOff + CSUM_START + 1] << 8);
}

/** csum_offset: where the checksum goes, from csum_start. */
export function vnetCsumOffset(buf: Uint8Array, hdrOff: number): number {
  return buf[hdrOff + CSUM_OFFSET] | (buf[hdrOff + CSUM_OFFSET + 1] << 8);
}

/** True when a GSO type other than NONE is set. */
export function vnetIsGso(buf: Uint8Array, hdrOff: number): boolean {
  return (buf[hdrOff + GSO_TYPE] & ~VNET_HDR_GSO_ECN) !== VNET_HDR_GSO_NONE;
}

function le16(buf: Uint8Array, p: number, v: number): void {
  buf[p] = v & 0xff;
  buf[p + 1] = (v >>> 8) & 0xff;
}

/** Set flags. */
export function setVnetFlags(buf: Uint8Array, hdrOff: number, v: number): void { buf[hdrOff + FLAGS] = v; }
/** Set gso_type. */
export function setVnetGsoType(buf: Uint8Array, hdrOff: number, v: number): void { buf[hdrOff + GSO_TYPE] = v; }
/** Set hdr_len. */
export function setVnetHdrLen(buf: Uint8Array, hdrOff: number, v: number): void { le16(buf, hdrOff + HDR_LEN, v); }
/** Set gso_size. */
export function setVnetGsoSize(buf: Uint8Array, hdrOff: number, v: number): void { le16(buf, hdrOff + GSO_SIZE, v); }
/** Set csum_start. */
export function setVnetCsumStart(buf: Uint8Array, hdrOff: number, v: number): void { le16(buf, hdrOff + CSUM_START, v); }
/** Set csum_offset. */
export function setVnetCsumOffset(buf: Uint8Array, hdrOff: number, v: number): void { le16(buf, hdrOff + CSUM_OFFSET, v); }

/** Write a whole header; returns 10. */
export function emitVnetHdr(buf: Uint8Array, hdrOff: number, flags: number, gsoType: number, hdrLen: number,
  gsoSize: number, csumStart: number, csumOffset: number): number {
  buf[hdrOff + FLAGS] = flags;
  buf[hdrOff + GSO_TYPE] = gsoType;
  le16(buf, hdrOff + HDR_LEN, hdrLen);
  le16(buf, hdrOff + GSO_SIZE, gsoSize);
  le16(buf, hdrOff + CSUM_START, csumStart);
  le16(buf, hdrOff + CSUM_OFFSET, csumOffset);
  return HEADER_LEN;
}

/** Write an all-zero header (no offloads): what a plain frame sent to a vnet_hdr TAP needs. */
export function clearVnetHdr(buf: Uint8Array, hdrOff: number): void {
  for (let i = 0; i < HEADER_LEN; i++) buf[hdrOff + i] = 0;
}

/**
 * Validate the header at buf[hdrOff] against a frame of `frameLen` bytes. VnetHdrBad when
 * the header lies:
 * - unknown flag bits, or NEEDS_CSUM together with DATA_VALID;
 * - NEEDS_CSUM with csum_start < 14 (inside Ethernet) or csum_start + csum_offset + 2
 *   beyond the frame;
 * - unknown gso_type, or ECN without a GSO type;
 * - GSO set with gso_size 0, without NEEDS_CSUM, or with hdr_len beyond the frame.
 */
export function checkVnetHdr(buf: Uint8Array, hdrOff: number, frameLen: number): DropReason {
  const flags = buf[hdrOff + FLAGS];
  if ((flags & ~(VNET_HDR_F_NEEDS_CSUM | VNET_HDR_F_DATA_VALID)) !== 0) return DropReason.VnetHdrBad;
  const needsCsum = (flags & VNET_HDR_F_NEEDS_CSUM) !== 0;
  if (needsCsum) {
    if ((flags & VNET_HDR_F_DATA_VALID) !== 0) return DropReason.VnetHdrBad;
    const start = vnetCsumStart(buf, hdrOff);
    if (start < 14 || start + vnetCsumOffset(buf, hdrOff) + 2 > frameLen) return DropReason.VnetHdrBad;
  }
  const gt = buf[hdrOff + GSO_TYPE];
  const base = gt & ~VNET_HDR_GSO_ECN;
  if (base === VNET_HDR_GSO_NONE) {
    if (gt !== VNET_HDR_GSO_NONE) return DropReason.VnetHdrBad; // ECN alone
    return DropReason.None;
  }
  if (base !== VNET_HDR_GSO_TCPV4 && base !== VNET_HDR_GSO_TCPV6 && base !== VNET_HDR_GSO_UDP &&
    base !== VNET_HDR_GSO_UDP_L4) return DropReason.VnetHdrBad;
  if (vnetGsoSize(buf, hdrOff) === 0) return DropReason.VnetHdrBad;
  if (!needsCsum) return DropReason.VnetHdrBad;
  if (vnetHdrLen(buf, hdrOff) > frameLen) return DropReason.VnetHdrBad;
  return DropReason.None;
}

/**
 * Cross-check the header with what parseFrame found (info filled for this frame).
 * VnetHdrBad when:
 * - NEEDS_CSUM but csum_start is not the L4 header, or csum_offset is not the TCP (16)
 *   / UDP (6) checksum for the frame's protocol (or the protocol is neither, or the frame
 *   is a fragment);
 * - GSO TCPV4 on anything but IPv4/TCP, TCPV6 on anything but IPv6/TCP, UDP/UDP_L4 on
 *   anything but UDP.
 */
export function checkVnetHdrAgainstFrame(buf: Uint8Array, hdrOff: number, info: FrameInfo): DropReason {
  const flags = buf[hdrOff + FLAGS];
  if ((flags & VNET_HDR_F_NEEDS_CSUM) !== 0) {
    if (info.ipVersion === 0 || info.isFragment) return DropReason.VnetHdrBad;
    if (vnetCsumStart(buf, hdrOff) !== info.l4Off - info.frameOff) return DropReason.VnetHdrBad;
    const co = vnetCsumOffset(buf, hdrOff);
    if (info.l4Proto === 6) {
      if (co !== 16) return DropReason.VnetHdrBad;
    } else if (info.l4Proto === 17) {
      if (co !== 6) return DropReason.VnetHdrBad;
    } else {
      return DropReason.VnetHdrBad;
    }
  }
  const base = buf[hdrOff + GSO_TYPE] & ~VNET_HDR_GSO_ECN;
  switch (base) {
    case VNET_HDR_GSO_NONE:
      return DropReason.None;
    case VNET_HDR_GSO_TCPV4:
      return info.ipVersion === 4 && info.l4Proto === 6 ? DropReason.None : DropReason.VnetHdrBad;
    case VNET_HDR_GSO_TCPV6:
      return info.ipVersion === 6 && info.l4Proto === 6 ? DropReason.None : DropReason.VnetHdrBad;
    default:
      return info.l4Proto === 17 ? DropReason.None : DropReason.VnetHdrBad;
  }
}

/**
 * Finish a NEEDS_CSUM partial checksum in software: sum [csum_start, frameLen) of the
 * frame at buf[frameOff] (the checksum field holds the pseudo-header sum), store the
 * complement at csum_start + csum_offset (0 is stored as 0xffff, like Linux
 * skb_checksum_help), then clear NEEDS_CSUM (and csum_start/csum_offset).
 * Returns None (also when there was nothing to do), GsoUnsupported for a GSO frame
 * (segment it first: each segment needs its own checksum), VnetHdrBad when the
 * offsets do not fit the frame (never touches memory outside the frame).
 * `frameLen` is an addition to the (buf, frameOff, hdrOff) of the brief: the sum runs
 * to the end of the frame and nothing else says where that is.
 */
export function completeChecksum(buf: Uint8Array, frameOff: number, hdrOff: number, frameLen: number): DropReason {
  const flags = buf[hdrOff + FLAGS];
  if ((flags & VNET_HDR_F_NEEDS_CSUM) === 0) return DropReason.None;
  if ((buf[hdrOff + GSO_TYPE] & ~VNET_HDR_GSO_ECN) !== VNET_HDR_GSO_NONE) return DropReason.GsoUnsupported;
  const start = vnetCsumStart(buf, hdrOff);
  const field = start + vnetCsumOffset(buf, hdrOff);
  if (start < 14 || field + 2 > frameLen) return DropReason.VnetHdrBad;
  const c = ~fold(sumRange(buf, frameOff + start, frameLen - start, 0)) & 0xffff;
  const v = c === 0 ? 0xffff : c;
  buf[frameOff + field] = v >>> 8;
  buf[frameOff + field + 1] = v & 0xff;
  buf[hdrOff + FLAGS] = flags & ~VNET_HDR_F_NEEDS_CSUM;
  buf[hdrOff + CSUM_START] = 0;
  buf[hdrOff + CSUM_START + 1] = 0;
  buf[hdrOff + CSUM_OFFSET] = 0;
  buf[hdrOff + CSUM_OFFSET + 1] = 0;
  return DropReason.None;
}
