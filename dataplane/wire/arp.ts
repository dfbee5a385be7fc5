/**
 * ARP for IPv4 over Ethernet (RFC 826).
 *
 * Hand-written because it is the hot path: a packet is (buf, off) with `off` at the
 * ARP header (after Ethernet and VLAN tags); plain functions, byte arithmetic, no
 * allocation, no exceptions. checkArp once; afterwards accessors cannot fail.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |      Hardware Type (1)        |     Protocol Type (0x0800)    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | HW Len (6)    | Proto Len (4) |          Operation            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                Sender Hardware Address (6)                    |
 * +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                               | Sender Protocol Address (4)   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 * |                               |                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 * |                Target Hardware Address (6)                    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                Target Protocol Address (4)                    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { DropReason } from '../pipeline/drop-reason';
import { ETH_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from './ethernet';

// field offsets
const HTYPE = 0;
const PTYPE = 2;
const HLEN = 4;
const PLEN = 5;
const OPER = 6;
const SHA = 8;
const SPA = 14;
const THA = 18;
const TPA = 24;
const HEADER_LEN = TPA + 4;

/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_LEN = HEADER_LEN;
/** Length of an untagged Ethernet frame carrying ARP (no padding). */
export const ARP_FRAME_LEN = ETH_HEADER_LEN + HEADER_LEN;

export const ARP_HTYPE_ETHERNET = 1;
export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;

/**
 * Validate `len` bytes at buf[off] as Ethernet/IPv4 ARP: length ≥ 28, htype 1,
 * ptype 0x0800, hlen 6, plen 4, op 1 or 2. Anything else is ArpMalformed.
 */
export function checkArp(buf: Uint8Array, off: number, len: number): DropReason {
  if (len < HEADER_LEN) return DropReason.ArpMalformed;
  if (((buf[off + HTYPE] << 8) | buf[off + HTYPE + 1]) !== ARP_HTYPE_ETHERNET) return DropReason.ArpMalformed;
  if (((buf[off + PTYPE] << 8) | buf[off + PTYPE + 1]) !== ETHERTYPE_IPV4) return DropReason.ArpMalformed;
  if (buf[off + HLEN] !== 6 || buf[off + PLEN] !== 4) return DropReason.ArpMalformed;
  const op = (buf[off + OPER] << 8) | buf[off + OPER + 1];
  if (op !== ARP_OP_REQUEST && op !== ARP_OP_REPLY) return DropReason.ArpMalformed;
  return DropReason.None;
}

/** Hardware Type. */
export function arpHtype(buf: Uint8Array, off: number): number {
  return (buf[off + HTYPE] << 8) | buf[off + HTYPE + 1];
}

/** Protocol Type. */
export function arpPtype(buf: Uint8Array, off: number): number {
  return (buf[off + PTYPE] << 8) | buf[off + PTYPE + 1];
}

/** Hardware Address Length. */
export function arpHlen(buf: Uint8Array, off: number): number {
  return buf[off + HLEN];
}

/** Protocol Address Length. */
export function arpPlen(buf: Uint8Array, off: number): number {
  return buf[off + PLEN];
}

/** Operation (1 request, 2 reply). */
export function arpOp(buf: Uint8Array, off: number): number {
  return (buf[off + OPER] << 8) | buf[off + OPER + 1];
}

/** Sender Hardware Address: offset of its 6 bytes. */
export function arpShaOff(off: number): number {
  return off + SHA;
}

/** Sender Protocol Address as u32. */
export function arpSpa(buf: Uint8Array, off: number): number {
  const p = off + SPA;
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

/** Target Hardware Address: offset of its 6 bytes. */
export function arpThaOff(off: number): number {
  return off + THA;
}

/** Target Protocol Address as u32. */
export function arpTpa(buf: Uint8Array, off: number): number {
  const p = off + TPA;
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

/** Gratuitous ARP: sender and target protocol addresses are equal (RFC 5227 3). */
export function arpIsGratuitous(buf: Uint8Array, off: number): boolean {
  return arpSpa(buf, off) === arpTpa(buf, off);
}

/** ARP probe: sender protocol address 0.0.0.0 (RFC 5227 2.1.1). */
export function arpIsProbe(buf: Uint8Array, off: number): boolean {
  return arpSpa(buf, off) === 0;
}

function put32(buf: Uint8Array, p: number, v: number): void {
  buf[p] = v >>> 24;
  buf[p + 1] = (v >>> 16) & 0xff;
  buf[p + 2] = (v >>> 8) & 0xff;
  buf[p + 3] = v & 0xff;
}

/**
 * Write an untagged Ethernet + ARP frame at buf[off]; returns its length (42, not
 * padded to 60: the TAP does not need it).
 *
 * - op 1 (request): Ethernet destination `dstMac` or broadcast when dstMac is null
 *   (unicast requests refresh a cache entry, RFC 1122 2.3.2.1); target hardware
 *   address zero.
 * - op 2 (reply): Ethernet destination and target hardware address `dstMac`
 *   (required; zeros when null).
 */
export function emitArp(buf: Uint8Array, off: number, op: number,
  srcMac: Uint8Array, srcMacOff: number, srcIp: number,
  dstMac: Uint8Array | null, dstMacOff: number, targetIp: number): number {
  // Ethernet
  for (let i = 0; i < 6; i++) {
    buf[off + i] = dstMac === null ? (op === ARP_OP_REQUEST ? 0xff : 0) : dstMac[dstMacOff + i];
    buf[off + 6 + i] = srcMac[srcMacOff + i];
  }
  buf[off + 12] = ETHERTYPE_ARP >>> 8;
  buf[off + 13] = ETHERTYPE_ARP & 0xff;
  const a = off + ETH_HEADER_LEN;
  buf[a + HTYPE] = 0;
  buf[a + HTYPE + 1] = ARP_HTYPE_ETHERNET;
  buf[a + PTYPE] = ETHERTYPE_IPV4 >>> 8;
  buf[a + PTYPE + 1] = ETHERTYPE_IPV4 & 0xff;
  buf[a + HLEN] = 6;
  buf[a + PLEN] = 4;
  buf[a + OPER] = 0;
  buf[a + OPER + 1] = op & 0xff;
  for (let i = 0; i < 6; i++) {
    buf[a + SHA + i] = srcMac[srcMacOff + i];
    buf[a + THA + i] = op === ARP_OP_REPLY && dstMac !== null ? dstMac[dstMacOff + i] : 0;
  }
  put32(buf, a + SPA, srcIp);
  put32(buf, a + TPA, targetIp);
  return ARP_FRAME_LEN;
}

/**
 * Turn the checked ARP request in the frame at buf[frameOff] (ARP header at arpOff)
 * into the reply "TPA is-at mac" in place: Ethernet destination = old source, Ethernet
 * source = mac, op 2, target = old sender, sender = (mac, old TPA). Frame length unchanged.
 */
export function arpRequestToReply(buf: Uint8Array, frameOff: number, arpOff: number, mac: Uint8Array, macOff: number): void {
  const tpa = arpTpa(buf, arpOff);
  const spa = arpSpa(buf, arpOff);
  for (let i = 0; i < 6; i++) {
    const sha = buf[arpOff + SHA + i];
    buf[frameOff + i] = sha; // Ethernet destination
    buf[frameOff + 6 + i] = mac[macOff + i];
    buf[arpOff + THA + i] = sha;
    buf[arpOff + SHA + i] = mac[macOff + i];
  }
  buf[arpOff + OPER] = 0;
  buf[arpOff + OPER + 1] = ARP_OP_REPLY;
  put32(buf, arpOff + SPA, tpa);
  put32(buf, arpOff + TPA, spa);
}
