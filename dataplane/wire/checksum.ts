/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Hand-written because it is the hot path: plain functions over (buf, off, len),
 * byte arithmetic only, no allocation, no exceptions.
 *
 * Conventions:
 * - A "sum" is an unfolded, non-negative integer: the plain sum of 16-bit big-endian
 *   words. Sums of separate ranges add with `+` as long as every range but the last
 *   has an even length. JS numbers keep them exact (a 64 KiB range sums to < 2^32).
 * - `fold(sum)` reduces a sum to 16 bits with end-around carry (not complemented).
 * - `finish(sum)` = ~fold(sum): the value to store in a checksum field.
 * - A received header or segment is valid when `fold(sum over it, checksum field
 *   included) === 0xffff`, i.e. `finish(...) === 0`.
 */

/** One's complement sum of the 16-bit big-endian words of buf[off, off+len), added to `acc`; an odd last byte is padded with zero. */
export function sumRange(buf: Uint8Array, off: number, len: number, acc: number): number {
  let s = 0;
  let i = off;
  const end = off + len;
  const end8 = end - 7;
  // Four words per round; `s` stays below 2^31 for any frame we handle (≤ 64 KiB),
  // but fold the partial every 16 KiB anyway so any length is exact.
  let guard = 0;
  while (i < end8) {
    s += ((buf[i] << 8) | buf[i + 1]) + ((buf[i + 2] << 8) | buf[i + 3]) +
      ((buf[i + 4] << 8) | buf[i + 5]) + ((buf[i + 6] << 8) | buf[i + 7]);
    i += 8;
    if (++guard === 2048) {
      s = (s & 0xffff) + (s >>> 16);
      guard = 0;
    }
  }
  while (i + 1 < end) {
    s += (buf[i] << 8) | buf[i + 1];
    i += 2;
  }
  if (i < end) s += buf[i] << 8;
  return acc + s;
}

/** Fold a sum to 16 bits with end-around carry (not complemented). */
export function fold(sum: number): number {
  if (sum > 0xffffffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The checksum field value for a sum: ~fold(sum) & 0xffff. */
export function finish(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/** Internet checksum of buf[off, off+len): the value to store when the field inside is zero; 0 when verifying a valid range. */
export function checksum(buf: Uint8Array, off: number, len: number): number {
  return finish(sumRange(buf, off, len, 0));
}

// ---------------------------------------------------------------------------
// IPv4 header checksum (RFC 791 3.1)
// ---------------------------------------------------------------------------

/** Offset of the Header Checksum field inside the IPv4 header. */
const IPV4_CHECKSUM = 10;

/**
 * Header checksum for the IPv4 header at `l3Off` of `hdrLen` bytes, computed as if
 * the checksum field were zero (its current content is ignored).
 */
export function ipv4HeaderChecksum(buf: Uint8Array, l3Off: number, hdrLen: number): number {
  const s = sumRange(buf, l3Off, IPV4_CHECKSUM, 0) +
    sumRange(buf, l3Off + IPV4_CHECKSUM + 2, hdrLen - IPV4_CHECKSUM - 2, 0);
  return finish(s);
}

/** True when the IPv4 header at `l3Off` of `hdrLen` bytes has a correct header checksum. */
export function ipv4HeaderChecksumOk(buf: Uint8Array, l3Off: number, hdrLen: number): boolean {
  if (hdrLen !== 20) return fold(sumRange(buf, l3Off, hdrLen, 0)) === 0xffff;
  // No options (nearly every packet): ten words, unrolled; the sum stays below 2^20.
  const o = l3Off;
  let s = ((buf[o] << 8) | buf[o + 1]) + ((buf[o + 2] << 8) | buf[o + 3]) + ((buf[o + 4] << 8) | buf[o + 5]) +
    ((buf[o + 6] << 8) | buf[o + 7]) + ((buf[o + 8] << 8) | buf[o + 9]) + ((buf[o + 10] << 8) | buf[o + 11]) +
    ((buf[o + 12] << 8) | buf[o + 13]) + ((buf[o + 14] << 8) | buf[o + 15]) + ((buf[o + 16] << 8) | buf[o + 17]) +
    ((buf[o + 18] << 8) | buf[o + 19]);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s === 0xffff;
}

// ---------------------------------------------------------------------------
// Pseudo-headers (RFC 9293 3.1, RFC 768, RFC 8200 8.1)
// ---------------------------------------------------------------------------

/** Sum of the IPv4 pseudo-header: source, destination, zero/protocol, upper-layer length. */
export function pseudoSum4(src: number, dst: number, proto: number, l4Len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + l4Len;
}

/**
 * Sum of the IPv6 pseudo-header: source (16 bytes at srcOff), destination (16 bytes at
 * dstOff, both in `buf`), upper-layer packet length (32 bit), next header.
 */
export function pseudoSum6(buf: Uint8Array, srcOff: number, dstOff: number, nextHeader: number, l4Len: number): number {
  return sumRange(buf, srcOff, 16, 0) + sumRange(buf, dstOff, 16, 0) +
    Math.floor(l4Len / 0x10000) + (l4Len & 0xffff) + nextHeader;
}

/**
 * Full L4 checksum over IPv4 pseudo-header + buf[l4Off, l4Off+l4Len). Returns the value
 * to store when the checksum field is zero, or 0 when verifying a valid segment.
 * (UDP: store 0xffff when this returns 0 — see udp.ts.)
 */
export function l4Checksum4(buf: Uint8Array, l4Off: number, l4Len: number, proto: number, src: number, dst: number): number {
  return finish(sumRange(buf, l4Off, l4Len, pseudoSum4(src, dst, proto, l4Len)));
}

/**
 * Full L4 checksum over the IPv6 pseudo-header (addresses from the IPv6 header at
 * `l3Off`) + buf[l4Off, l4Off+l4Len). Same conventions as l4Checksum4.
 * With a routing header the pseudo-header wants the final destination: not handled here.
 */
export function l4Checksum6(buf: Uint8Array, l3Off: number, l4Off: number, l4Len: number, proto: number): number {
  return finish(sumRange(buf, l4Off, l4Len, pseudoSum6(buf, l3Off + 8, l3Off + 24, proto, l4Len)));
}

// ---------------------------------------------------------------------------
// Incremental update (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'))
// ---------------------------------------------------------------------------

/** New checksum field value after a 16-bit word of the covered data changes from `oldVal` to `newVal`. */
export function csumUpdate16(csum: number, oldVal: number, newVal: number): number {
  return ~fold((~csum & 0xffff) + (~oldVal & 0xffff) + (newVal & 0xffff)) & 0xffff;
}

/** New checksum field value after a 32-bit field (two aligned words) changes from `oldVal` to `newVal`. */
export function csumUpdate32(csum: number, oldVal: number, newVal: number): number {
  return ~fold((~csum & 0xffff) + (~oldVal >>> 16) + (~oldVal & 0xffff) + (newVal >>> 16) + (newVal & 0xffff)) & 0xffff;
}

/**
 * New checksum field value after a 16-byte field (an IPv6 address, word-aligned in
 * the covered data) changes from old[oldOff..+16] to nw[newOff..+16].
 */
export function csumUpdate128(csum: number, old: Uint8Array, oldOff: number, nw: Uint8Array, newOff: number): number {
  let s = ~csum & 0xffff;
  for (let i = 0; i < 16; i += 2) {
    s += (~((old[oldOff + i] << 8) | old[oldOff + i + 1]) & 0xffff) + ((nw[newOff + i] << 8) | nw[newOff + i + 1]);
  }
  return ~fold(s) & 0xffff;
}

/**
 * Partial-checksum variants, for a field that holds a *non-complemented* folded sum
 * (virtio NEEDS_CSUM / CHECKSUM_PARTIAL: the TCP/UDP field holds the pseudo-header sum).
 * Only pseudo-header fields (addresses, length) need updating in that state.
 */
export function csumPartialUpdate16(partial: number, oldVal: number, newVal: number): number {
  return fold(partial + (~oldVal & 0xffff) + (newVal & 0xffff));
}

/** As csumPartialUpdate16 for a 32-bit field (an IPv4 address). */
export function csumPartialUpdate32(partial: number, oldVal: number, newVal: number): number {
  return fold(partial + (~oldVal >>> 16) + (~oldVal & 0xffff) + (newVal >>> 16) + (newVal & 0xffff));
}

/** As csumPartialUpdate16 for a 16-byte field (an IPv6 address). */
export function csumPartialUpdate128(partial: number, old: Uint8Array, oldOff: number, nw: Uint8Array, newOff: number): number {
  return ~csumUpdate128(~partial & 0xffff, old, oldOff, nw, newOff) & 0xffff;
}
