/**
 * Ethernet II header (IEEE 802.3 / RFC 894) with IEEE 802.1Q and 802.1ad (Q-in-Q) tags.
 *
 * Hand-written because it is the hot path: a frame is (buf, off); accessors are plain
 * functions, byte arithmetic, no allocation, no exceptions. Call checkEthernet once;
 * afterwards no accessor here can read out of bounds.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Destination Address                        |
 * +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                               |                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 * |                       Source Address                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           EtherType           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * A VLAN tag sits where the EtherType was (outer tag first, at most two here):
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |      TPID (0x8100/0x88a8)     | PCP |D|         VID           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   EtherType (or next TPID)    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { DropReason } from '../pipeline/drop-reason';

// field offsets
const DST_ADDR = 0;
const SRC_ADDR = 6;
const ETHERTYPE = 12;
const HEADER_LEN = ETHERTYPE + 2;
// VLAN tag offsets, relative to the tag (its TPID)
const TAG_TPID = 0;
const TAG_TCI = 2;
const TAG_LEN = TAG_TCI + 2;

/** Length of an untagged Ethernet header. */
export const ETH_HEADER_LEN = HEADER_LEN;
/** Length of one 802.1Q/802.1ad tag. */
export const VLAN_TAG_LEN = TAG_LEN;
/** Offset of the destination address in the frame. */
export const ETH_DST_OFF = DST_ADDR;
/** Offset of the source address in the frame. */
export const ETH_SRC_OFF = SRC_ADDR;
/** Offset of the (outer) EtherType / first TPID in the frame. */
export const ETH_TYPE_OFF = ETHERTYPE;
/** Most VLAN tags a frame may carry (802.1ad outer + 802.1Q inner). */
export const MAX_VLAN_TAGS = 2;
/** Minimum frame length without FCS; shorter frames get padded on a real wire. */
export const ETH_MIN_FRAME_LEN = 60;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
/** Pre-standard Q-in-Q TPID still seen in the wild. */
export const ETHERTYPE_QINQ_OLD = 0x9100;

/** True when `type` is a VLAN TPID (802.1Q, 802.1ad, or the old 0x9100). */
export function isVlanTpid(type: number): boolean {
  return type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ || type === ETHERTYPE_QINQ_OLD;
}

/**
 * Validate the Ethernet header and its VLAN tags in `len` bytes at buf[off].
 * EthTruncated when the header or a tag does not fit; VlanUnsupported with more than
 * MAX_VLAN_TAGS tags. Does not judge the inner EtherType.
 */
export function checkEthernet(buf: Uint8Array, off: number, len: number): DropReason {
  if (len < HEADER_LEN) return DropReason.EthTruncated;
  let hdr = HEADER_LEN;
  let type = (buf[off + ETHERTYPE] << 8) | buf[off + ETHERTYPE + 1];
  let tags = 0;
  while (isVlanTpid(type)) {
    if (tags === MAX_VLAN_TAGS) return DropReason.VlanUnsupported;
    if (len < hdr + TAG_LEN) return DropReason.EthTruncated;
    type = (buf[off + hdr + 2] << 8) | buf[off + hdr + 3];
    hdr += TAG_LEN;
    tags++;
  }
  return DropReason.None;
}

/** Destination address: offset of its 6 bytes. */
export function ethDstOff(off: number): number {
  return off + DST_ADDR;
}

/** Source address: offset of its 6 bytes. */
export function ethSrcOff(off: number): number {
  return off + SRC_ADDR;
}

/** EtherType field right after the addresses (a TPID when tagged). */
export function ethType(buf: Uint8Array, off: number): number {
  return (buf[off + ETHERTYPE] << 8) | buf[off + ETHERTYPE + 1];
}

/** Number of VLAN tags (0..MAX_VLAN_TAGS after checkEthernet). */
export function ethVlanCount(buf: Uint8Array, off: number): number {
  let n = 0;
  let p = off + ETHERTYPE;
  while (n < MAX_VLAN_TAGS && isVlanTpid((buf[p] << 8) | buf[p + 1])) {
    n++;
    p += TAG_LEN;
  }
  return n;
}

/** Header length including VLAN tags: offset of the L3 header from `off`. */
export function ethHeaderLen(buf: Uint8Array, off: number): number {
  return HEADER_LEN + ethVlanCount(buf, off) * TAG_LEN;
}

/** EtherType of the payload, after all VLAN tags. */
export function ethInnerType(buf: Uint8Array, off: number): number {
  const p = off + ETHERTYPE + ethVlanCount(buf, off) * TAG_LEN;
  return (buf[p] << 8) | buf[p + 1];
}

/** VID of the outer tag, or -1 when untagged. */
export function ethOuterVlanId(buf: Uint8Array, off: number): number {
  const p = off + ETHERTYPE;
  if (!isVlanTpid((buf[p] << 8) | buf[p + 1])) return -1;
  return ((buf[p + TAG_TCI] << 8) | buf[p + TAG_TCI + 1]) & 0x0fff;
}

/** Offset of the n-th VLAN tag (its TPID); tag 0 is the outer one. */
export function ethTagOff(off: number, n: number): number {
  return off + ETHERTYPE + n * TAG_LEN;
}

/** Tag Protocol Identifier of the tag at tagOff. */
export function vlanTpid(buf: Uint8Array, tagOff: number): number {
  return (buf[tagOff + TAG_TPID] << 8) | buf[tagOff + TAG_TPID + 1];
}

/** Tag Control Information (PCP, DEI, VID) of the tag at tagOff. */
export function vlanTci(buf: Uint8Array, tagOff: number): number {
  return (buf[tagOff + TAG_TCI] << 8) | buf[tagOff + TAG_TCI + 1];
}

/** VLAN Identifier (12 bits). */
export function vlanVid(buf: Uint8Array, tagOff: number): number {
  return vlanTci(buf, tagOff) & 0x0fff;
}

/** Priority Code Point (3 bits). */
export function vlanPcp(buf: Uint8Array, tagOff: number): number {
  return buf[tagOff + TAG_TCI] >>> 5;
}

/** Drop Eligible Indicator. */
export function vlanDei(buf: Uint8Array, tagOff: number): boolean {
  return (buf[tagOff + TAG_TCI] & 0x10) !== 0;
}

/** Set the VID of the tag at tagOff, keeping PCP and DEI. */
export function setVlanVid(buf: Uint8Array, tagOff: number, vid: number): void {
  buf[tagOff + TAG_TCI] = (buf[tagOff + TAG_TCI] & 0xf0) | ((vid >>> 8) & 0x0f);
  buf[tagOff + TAG_TCI + 1] = vid & 0xff;
}

/** Destination address is broadcast ff:ff:ff:ff:ff:ff. */
export function ethDstIsBroadcast(buf: Uint8Array, off: number): boolean {
  return (buf[off] & buf[off + 1] & buf[off + 2] & buf[off + 3] & buf[off + 4] & buf[off + 5]) === 0xff;
}

/** Destination address has the group (I/G) bit: multicast or broadcast. */
export function ethDstIsMulticast(buf: Uint8Array, off: number): boolean {
  return (buf[off + DST_ADDR] & 1) === 1;
}

/** Destination address equals mac[macOff..+6]. */
export function ethDstIs(buf: Uint8Array, off: number, mac: Uint8Array, macOff: number): boolean {
  return buf[off] === mac[macOff] && buf[off + 1] === mac[macOff + 1] && buf[off + 2] === mac[macOff + 2] &&
    buf[off + 3] === mac[macOff + 3] && buf[off + 4] === mac[macOff + 4] && buf[off + 5] === mac[macOff + 5];
}

/** Set the destination address from mac[macOff..+6]. */
export function setEthDst(buf: Uint8Array, off: number, mac: Uint8Array, macOff: number): void {
  const p = off + DST_ADDR;
  for (let i = 0; i < 6; i++) buf[p + i] = mac[macOff + i];
}

/** Set the source address from mac[macOff..+6]. */
export function setEthSrc(buf: Uint8Array, off: number, mac: Uint8Array, macOff: number): void {
  const p = off + SRC_ADDR;
  for (let i = 0; i < 6; i++) buf[p + i] = mac[macOff + i];
}

/** Set the EtherType field right after the addresses. */
export function setEthType(buf: Uint8Array, off: number, type: number): void {
  buf[off + ETHERTYPE] = type >>> 8;
  buf[off + ETHERTYPE + 1] = type & 0xff;
}

/** Swap source and destination addresses in place. */
export function ethSwapAddrs(buf: Uint8Array, off: number): void {
  for (let i = 0; i < 6; i++) {
    const t = buf[off + DST_ADDR + i];
    buf[off + DST_ADDR + i] = buf[off + SRC_ADDR + i];
    buf[off + SRC_ADDR + i] = t;
  }
}

/** Write an untagged Ethernet header; returns its length (14). */
export function emitEthernet(buf: Uint8Array, off: number, dst: Uint8Array, dstOff: number,
  src: Uint8Array, srcOff: number, type: number): number {
  for (let i = 0; i < 6; i++) {
    buf[off + DST_ADDR + i] = dst[dstOff + i];
    buf[off + SRC_ADDR + i] = src[srcOff + i];
  }
  buf[off + ETHERTYPE] = type >>> 8;
  buf[off + ETHERTYPE + 1] = type & 0xff;
  return HEADER_LEN;
}

/**
 * Remove the outer VLAN tag by moving the 12 address bytes 4 bytes forward.
 * Returns the new frame offset (off + 4); the frame is 4 bytes shorter.
 * Only when the frame has a tag (ethVlanCount > 0). Any vnet header in front must be
 * moved by the caller.
 */
export function ethPopVlan(buf: Uint8Array, off: number): number {
  for (let i = ETHERTYPE - 1; i >= 0; i--) buf[off + TAG_LEN + i] = buf[off + i];
  return off + TAG_LEN;
}

/**
 * Insert an outer VLAN tag by moving the 12 address bytes 4 bytes back. The caller
 * guarantees 4 bytes of headroom before `off`. Returns the new frame offset (off - 4);
 * the frame is 4 bytes longer.
 */
export function ethPushVlan(buf: Uint8Array, off: number, tpid: number, tci: number): number {
  const n = off - TAG_LEN;
  for (let i = 0; i < ETHERTYPE; i++) buf[n + i] = buf[off + i];
  buf[n + ETHERTYPE] = tpid >>> 8;
  buf[n + ETHERTYPE + 1] = tpid & 0xff;
  buf[n + ETHERTYPE + 2] = (tci >>> 8) & 0xff;
  buf[n + ETHERTYPE + 3] = tci & 0xff;
  return n;
}
