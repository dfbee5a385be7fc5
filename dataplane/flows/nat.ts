/**
 * Header rewrites of a tracked connection: the per-packet part (apply the cached rewrite
 * with precomputed checksum deltas) and the per-flow part (compute those deltas once).
 *
 * Checksums (RFC 1624): the IPv4 header checksum covers the addresses; TCP, UDP and ICMPv6
 * checksums cover the pseudo-header (addresses) and the ports; the ICMPv4 checksum covers
 * only the ICMP message (the echo identifier, not the addresses). A frame from a vnet_hdr
 * TAP with NEEDS_CSUM carries only the folded pseudo-header sum in its L4 checksum field
 * (Linux CHECKSUM_PARTIAL): there only the address part of the delta applies, uncomplemented,
 * and port changes need nothing (the receiver sums the header itself).
 */
import type { FrameInfo } from '../wire/frame-parser';
import { DIR_KEY6_WORDS, DIR_KEY_WORDS, FlowTable, NAT_DST, NAT_SRC, applyDelta, applyPartialDelta, delta16, delta32, foldDelta } from './flow-table';

const TCP = 6, UDP = 17, ICMP = 1, ICMPV6 = 58;

/** Offset of the L4 checksum field for proto, relative to the L4 header; -1 when none we fix. */
function l4CsumOff(proto: number): number {
  if (proto === TCP) return 16;
  if (proto === UDP) return 6;
  if (proto === ICMP || proto === ICMPV6) return 2;
  return -1; // SCTP uses CRC32c over the packet, which addresses do not enter; ports do (not rewritten for SCTP without recomputation)
}

/**
 * Rewrite an IPv4 packet in direction cd (conn*2 + dir) of ft: the new tuple is the other
 * direction's key reversed. `partial`: the frame's L4 checksum is a CHECKSUM_PARTIAL
 * pseudo-header sum (vnet NEEDS_CSUM).
 */
export function applyNat4(ft: FlowTable, cd: number, buf: Uint8Array, info: FrameInfo, partial: boolean): void {
  const f = ft.natFlags[cd];
  if (f === 0) return;
  const l3 = info.l3Off, l4 = info.l4Off, proto = info.l4Proto;
  const dk = ft.dirKey, o = (cd ^ 1) * DIR_KEY_WORDS, op = dk[o + 2];
  const hasL4 = !info.isFragment || info.isFirstFragment;
  const isIcmp = proto === ICMP;
  if ((f & NAT_SRC) !== 0) {
    put32(buf, l3 + 12, dk[o + 1]);
    if (hasL4) {
      if (isIcmp) put16(buf, l4 + 4, op >>> 16);
      else put16(buf, l4, op & 0xffff);
    }
  }
  if ((f & NAT_DST) !== 0) {
    put32(buf, l3 + 16, dk[o]);
    if (hasL4) {
      if (!isIcmp) put16(buf, l4 + 2, op >>> 16);
      else if ((f & NAT_SRC) === 0) put16(buf, l4 + 4, op >>> 16); // echo id back (reply of a SNAT)
    }
  }
  const deltas = ft.csumDelta[cd];
  put16(buf, l3 + 10, applyDelta(get16(buf, l3 + 10), deltas & 0xffff));
  if (!hasL4) return;
  const co = l4CsumOff(proto);
  if (co < 0) return;
  const at = l4 + co;
  const cur = get16(buf, at);
  if (proto === UDP && cur === 0) return; // IPv4 UDP without checksum stays without
  if (partial && proto !== ICMP) { put16(buf, at, applyPartialDelta(cur, ft.partialDelta[cd])); return; }
  let v = applyDelta(cur, deltas >>> 16);
  if (proto === UDP && v === 0) v = 0xffff;
  put16(buf, at, v);
}

/** Rewrite an IPv6 packet in direction cd (no IP header checksum in IPv6). */
export function applyNat6(ft: FlowTable, cd: number, buf: Uint8Array, info: FrameInfo, partial: boolean): void {
  const f = ft.natFlags[cd];
  if (f === 0) return;
  const l3 = info.l3Off, l4 = info.l4Off, proto = info.l4Proto;
  const dk = ft.dirKey, x = ft.dirKey6, o = (cd ^ 1) * DIR_KEY_WORDS, xo = (cd ^ 1) * DIR_KEY6_WORDS, op = dk[o + 2];
  const hasL4 = !info.isFragment || info.isFirstFragment;
  const isIcmp = proto === ICMPV6;
  if ((f & NAT_SRC) !== 0) {
    // New source: the other direction's destination (words 0-2 in dirKey6, word 3 in dirKey).
    put32(buf, l3 + 8, x[xo + 3]); put32(buf, l3 + 12, x[xo + 4]); put32(buf, l3 + 16, x[xo + 5]); put32(buf, l3 + 20, dk[o + 1]);
    if (hasL4) {
      if (isIcmp) put16(buf, l4 + 4, op >>> 16);
      else put16(buf, l4, op & 0xffff);
    }
  }
  if ((f & NAT_DST) !== 0) {
    put32(buf, l3 + 24, x[xo]); put32(buf, l3 + 28, x[xo + 1]); put32(buf, l3 + 32, x[xo + 2]); put32(buf, l3 + 36, dk[o]);
    if (hasL4) {
      if (!isIcmp) put16(buf, l4 + 2, op >>> 16);
      else if ((f & NAT_SRC) === 0) put16(buf, l4 + 4, op >>> 16);
    }
  }
  if (!hasL4) return;
  const co = l4CsumOff(proto);
  if (co < 0) return;
  const at = l4 + co;
  const cur = get16(buf, at);
  if (partial && proto !== ICMPV6) { put16(buf, at, applyPartialDelta(cur, ft.partialDelta[cd])); return; }
  let v = applyDelta(cur, ft.csumDelta[cd] >>> 16);
  if (proto === UDP && v === 0) v = 0xffff;
  put16(buf, at, v);
}

/**
 * Compute and store the rewrite of direction dir of conn c: from the tuple (oldSrc, oldDst,
 * oldSport, oldDport) — addresses as 4 words (IPv4 in word 3) — to the new values for the
 * fields flagged. proto decides which checksum covers what. The new values must be the
 * other direction's key reversed (that is where applyNat reads them).
 */
export function setRewrite(ft: FlowTable, c: number, dir: number, family: number, proto: number, flags: number,
  oldSrc: Uint32Array, oldDst: Uint32Array, oldSport: number, oldDport: number,
  newSrc: Uint32Array, newDst: Uint32Array, newSport: number, newDport: number): void {
  let addr = 0, ports = 0;
  const first = family === 4 ? 3 : 0;
  if ((flags & NAT_SRC) !== 0) {
    for (let w = first; w < 4; w++) addr = delta32(addr, oldSrc[w], newSrc[w]);
    ports = delta16(ports, oldSport, newSport);
  }
  if ((flags & NAT_DST) !== 0) {
    for (let w = first; w < 4; w++) addr = delta32(addr, oldDst[w], newDst[w]);
    // ICMP echo: the identifier is one field; a DNAT direction rewrites it only when no SNAT does.
    if ((proto !== ICMP && proto !== ICMPV6) || (flags & NAT_SRC) === 0) ports = delta16(ports, oldDport, newDport);
  }
  addr = foldDelta(addr);
  ports = foldDelta(ports);
  const ip = family === 4 ? addr : 0;
  let l4: number;
  if (proto === ICMP) l4 = ports;                  // ICMPv4: no pseudo-header
  else l4 = foldDelta(addr + ports);               // TCP, UDP, ICMPv6 (SCTP: CRC32c, see l4CsumOff)
  ft.setNat(c, dir, flags, ip, l4, addr);
}

function get16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24; b[o + 1] = (v >>> 16) & 0xff; b[o + 2] = (v >>> 8) & 0xff; b[o + 3] = v & 0xff;
}
