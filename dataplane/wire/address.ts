/**
 * Address helpers.
 *
 * Two kinds live here:
 * - parse/format (strings ↔ numbers/bytes): off the hot path (control plane, tests,
 *   logging). They allocate; parse functions return null / -1 on bad input, never throw.
 * - classification and copying (numbers or (buf, off) in, boolean out): hand-written
 *   for the hot path, no allocation.
 *
 * IPv4 addresses are u32 numbers (always `>>> 0`); IPv6 addresses and MACs are bytes
 * at (buf, off).
 */

// ---------------------------------------------------------------------------
// IPv4
// ---------------------------------------------------------------------------

/** Parse dotted-quad "a.b.c.d" (decimal, no leading zeros) to a u32; -1 when malformed. */
export function parseIpv4(s: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46; // virtual trailing '.'
    if (c === 46) {
      if (digits === 0) return -1;
      value = value * 256 + part;
      parts++;
      part = 0;
      digits = 0;
      if (parts > 4) return -1;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // leading zero ("01")
      part = part * 10 + (c - 48);
      digits++;
      if (part > 255) return -1;
    } else {
      return -1;
    }
  }
  return parts === 4 ? value >>> 0 : -1;
}

/** Format a u32 as dotted quad. */
export function formatIpv4(a: number): string {
  return `${(a >>> 24) & 0xff}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/** Parse "a.b.c.d/len" to [addr, len]; null when malformed. The address is not masked. */
export function parseIpv4Cidr(s: string): [number, number] | null {
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const a = parseIpv4(s.slice(0, slash));
  const lenStr = s.slice(slash + 1);
  if (a < 0 || !/^(0|[1-9][0-9]?)$/.test(lenStr)) return null;
  const len = Number(lenStr);
  return len <= 32 ? [a, len] : null;
}

/** Netmask for a prefix length 0..32, as u32. */
export function ipv4Mask(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

/** 0.0.0.0 */
export function isV4Unspecified(a: number): boolean {
  return a === 0;
}

/** 127.0.0.0/8 */
export function isV4Loopback(a: number): boolean {
  return (a >>> 24) === 127;
}

/** 224.0.0.0/4 */
export function isV4Multicast(a: number): boolean {
  return (a >>> 28) === 0xe;
}

/** 255.255.255.255 (limited broadcast). Subnet-directed broadcast needs the route: see isV4SubnetBroadcast. */
export function isV4Broadcast(a: number): boolean {
  return (a >>> 0) === 0xffffffff;
}

/** True when `a` is the all-ones host address of prefix net/prefixLen (prefixLen ≤ 30). */
export function isV4SubnetBroadcast(a: number, net: number, prefixLen: number): boolean {
  if (prefixLen > 30) return false;
  const mask = ipv4Mask(prefixLen);
  return ((a & mask) >>> 0) === ((net & mask) >>> 0) && ((a | mask) >>> 0) === 0xffffffff;
}

/** 169.254.0.0/16 */
export function isV4LinkLocal(a: number): boolean {
  return (a >>> 16) === 0xa9fe;
}

/**
 * Martian *source* (RFC 1812 5.3.7, Linux ip_route_input): 0.0.0.0/8, 127.0.0.0/8,
 * 224.0.0.0/4 (multicast as a source) and 240.0.0.0/4 (incl. 255.255.255.255).
 */
export function isV4Martian(a: number): boolean {
  const top = a >>> 24;
  return top === 0 || top === 127 || top >= 224;
}

/** Martian *destination*: 0.0.0.0/8, 127.0.0.0/8, 240.0.0.0/4 except 255.255.255.255. */
export function isV4MartianDst(a: number): boolean {
  const top = a >>> 24;
  return top === 0 || top === 127 || (top >= 240 && (a >>> 0) !== 0xffffffff);
}

// ---------------------------------------------------------------------------
// IPv6
// ---------------------------------------------------------------------------

/**
 * Parse an IPv6 address (RFC 4291 2.2 text forms: full, "::" compression, trailing
 * dotted IPv4) into 16 bytes. Writes into `out` at `outOff` when given, else allocates.
 * Returns the array written, or null when malformed (zone ids "%eth0" are rejected).
 */
export function parseIpv6(s: string, out?: Uint8Array, outOff = 0): Uint8Array | null {
  const words = new Array<number>(8).fill(0);
  const dbl = s.indexOf('::');
  if (dbl >= 0 && s.indexOf('::', dbl + 1) >= 0) return null;
  const parseSide = (str: string, maxWords: number, allowV4: boolean): number[] | null => {
    if (str === '') return [];
    const parts = str.split(':');
    const res: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (allowV4 && i === parts.length - 1 && p.indexOf('.') >= 0) {
        const v4 = parseIpv4(p);
        if (v4 < 0) return null;
        res.push(v4 >>> 16, v4 & 0xffff);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
      res.push(parseInt(p, 16));
    }
    return res.length <= maxWords ? res : null;
  };
  if (dbl >= 0) {
    const head = parseSide(s.slice(0, dbl), 7, false);
    const tail = parseSide(s.slice(dbl + 2), 7, true);
    if (!head || !tail || head.length + tail.length > 7) return null;
    for (let i = 0; i < head.length; i++) words[i] = head[i];
    for (let i = 0; i < tail.length; i++) words[8 - tail.length + i] = tail[i];
  } else {
    const all = parseSide(s, 8, true);
    if (!all || all.length !== 8) return null;
    for (let i = 0; i < 8; i++) words[i] = all[i];
  }
  const dst = out ?? new Uint8Array(16);
  if (dst.length < outOff + 16) return null;
  for (let i = 0; i < 8; i++) {
    dst[outOff + 2 * i] = words[i] >>> 8;
    dst[outOff + 2 * i + 1] = words[i] & 0xff;
  }
  return dst;
}

/** Parse "addr/len" to [16 bytes, len]; null when malformed. */
export function parseIpv6Cidr(s: string): [Uint8Array, number] | null {
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const a = parseIpv6(s.slice(0, slash));
  const lenStr = s.slice(slash + 1);
  if (!a || !/^(0|[1-9][0-9]{0,2})$/.test(lenStr)) return null;
  const len = Number(lenStr);
  return len <= 128 ? [a, len] : null;
}

/**
 * Format 16 bytes at buf[off] per RFC 5952: lower case, no leading zeros, the longest
 * run (≥ 2) of zero words compressed to "::" (the first on a tie), IPv4-mapped
 * addresses as ::ffff:a.b.c.d.
 */
export function formatIpv6(buf: Uint8Array, off = 0): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((buf[off + 2 * i] << 8) | buf[off + 2 * i + 1]);
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return `::ffff:${formatIpv4(((w[6] << 16) | w[7]) >>> 0)}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out !== '' && !out.endsWith(':')) out += ':';
    out += w[i].toString(16);
  }
  return out;
}

/** :: */
export function isV6Unspecified(buf: Uint8Array, off: number): boolean {
  for (let i = 0; i < 16; i++) if (buf[off + i] !== 0) return false;
  return true;
}

/** ::1 */
export function isV6Loopback(buf: Uint8Array, off: number): boolean {
  for (let i = 0; i < 15; i++) if (buf[off + i] !== 0) return false;
  return buf[off + 15] === 1;
}

/** ff00::/8 */
export function isV6Multicast(buf: Uint8Array, off: number): boolean {
  return buf[off] === 0xff;
}

/** fe80::/10 (unicast link-local) */
export function isV6LinkLocal(buf: Uint8Array, off: number): boolean {
  return buf[off] === 0xfe && (buf[off + 1] & 0xc0) === 0x80;
}

/** Multicast with link-local scope or smaller (ff01::/16 … ff02::/16 scopes 0–2): never forwarded. */
export function isV6MulticastLinkScope(buf: Uint8Array, off: number): boolean {
  return buf[off] === 0xff && (buf[off + 1] & 0x0f) <= 2;
}

/** ff02::1:ff00:0/104 (solicited-node multicast) */
export function isV6SolicitedNode(buf: Uint8Array, off: number): boolean {
  if (buf[off] !== 0xff || buf[off + 1] !== 0x02) return false;
  for (let i = 2; i < 11; i++) if (buf[off + i] !== 0) return false;
  return buf[off + 11] === 0x01 && buf[off + 12] === 0xff;
}

/** ::ffff:0:0/96 (IPv4-mapped) */
export function isV6V4Mapped(buf: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (buf[off + i] !== 0) return false;
  return buf[off + 10] === 0xff && buf[off + 11] === 0xff;
}

/**
 * Martian IPv6 *source* for forwarding (RFC 4291 2.5.2/2.5.3/2.7, RFC 4038):
 * unspecified, loopback, multicast, IPv4-mapped.
 */
export function isV6Martian(buf: Uint8Array, off: number): boolean {
  return buf[off] === 0xff || isV6Unspecified(buf, off) || isV6Loopback(buf, off) || isV6V4Mapped(buf, off);
}

/** Martian IPv6 *destination* for forwarding: unspecified, loopback. */
export function isV6MartianDst(buf: Uint8Array, off: number): boolean {
  return isV6Unspecified(buf, off) || isV6Loopback(buf, off);
}

/** True when the 16 bytes at a[aOff] and b[bOff] are equal. */
export function ipv6Equal(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  for (let i = 0; i < 16; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

/** Copy a 16-byte IPv6 address. */
export function copyIpv6(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number): void {
  for (let i = 0; i < 16; i++) dst[dstOff + i] = src[srcOff + i];
}

/** Write the solicited-node multicast address ff02::1:ffXX:XXXX of addr[addrOff..+16] to out[outOff..+16]. */
export function solicitedNodeAddr(addr: Uint8Array, addrOff: number, out: Uint8Array, outOff: number): void {
  const b13 = addr[addrOff + 13], b14 = addr[addrOff + 14], b15 = addr[addrOff + 15];
  out[outOff] = 0xff;
  out[outOff + 1] = 0x02;
  for (let i = 2; i < 11; i++) out[outOff + i] = 0;
  out[outOff + 11] = 0x01;
  out[outOff + 12] = 0xff;
  out[outOff + 13] = b13;
  out[outOff + 14] = b14;
  out[outOff + 15] = b15;
}

/** Write the MAC 33:33:ff:XX:XX:XX of the solicited-node group of addr[addrOff..+16] to out[outOff..+6]. */
export function solicitedNodeMac(addr: Uint8Array, addrOff: number, out: Uint8Array, outOff: number): void {
  const b13 = addr[addrOff + 13], b14 = addr[addrOff + 14], b15 = addr[addrOff + 15];
  out[outOff] = 0x33;
  out[outOff + 1] = 0x33;
  out[outOff + 2] = 0xff;
  out[outOff + 3] = b13;
  out[outOff + 4] = b14;
  out[outOff + 5] = b15;
}

/** Write the MAC 33:33:XX:XX:XX:XX of the IPv6 multicast group at addr[addrOff..+16] (RFC 2464 7). */
export function ipv6MulticastMac(addr: Uint8Array, addrOff: number, out: Uint8Array, outOff: number): void {
  const b12 = addr[addrOff + 12], b13 = addr[addrOff + 13], b14 = addr[addrOff + 14], b15 = addr[addrOff + 15];
  out[outOff] = 0x33;
  out[outOff + 1] = 0x33;
  out[outOff + 2] = b12;
  out[outOff + 3] = b13;
  out[outOff + 4] = b14;
  out[outOff + 5] = b15;
}

/** Write the MAC 01:00:5e + low 23 bits of the IPv4 multicast group `a` (RFC 1112 6.4). */
export function ipv4MulticastMac(a: number, out: Uint8Array, outOff: number): void {
  out[outOff] = 0x01;
  out[outOff + 1] = 0x00;
  out[outOff + 2] = 0x5e;
  out[outOff + 3] = (a >>> 16) & 0x7f;
  out[outOff + 4] = (a >>> 8) & 0xff;
  out[outOff + 5] = a & 0xff;
}

// ---------------------------------------------------------------------------
// MAC (EUI-48)
// ---------------------------------------------------------------------------

/** Parse "aa:bb:cc:dd:ee:ff" (or '-' separated) into 6 bytes; null when malformed. */
export function parseMac(s: string, out?: Uint8Array, outOff = 0): Uint8Array | null {
  if (!/^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$/.test(s)) return null;
  const dst = out ?? new Uint8Array(6);
  if (dst.length < outOff + 6) return null;
  for (let i = 0; i < 6; i++) dst[outOff + i] = parseInt(s.substr(i * 3, 2), 16);
  return dst;
}

/** Format 6 bytes at buf[off] as "aa:bb:cc:dd:ee:ff". */
export function formatMac(buf: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < 6; i++) {
    if (i) s += ':';
    s += (buf[off + i] < 16 ? '0' : '') + buf[off + i].toString(16);
  }
  return s;
}

/** ff:ff:ff:ff:ff:ff */
export function macIsBroadcast(buf: Uint8Array, off: number): boolean {
  return (buf[off] & buf[off + 1] & buf[off + 2] & buf[off + 3] & buf[off + 4] & buf[off + 5]) === 0xff;
}

/** Group bit (I/G) set: multicast or broadcast. */
export function macIsMulticast(buf: Uint8Array, off: number): boolean {
  return (buf[off] & 1) === 1;
}

/** 00:00:00:00:00:00 */
export function macIsZero(buf: Uint8Array, off: number): boolean {
  return (buf[off] | buf[off + 1] | buf[off + 2] | buf[off + 3] | buf[off + 4] | buf[off + 5]) === 0;
}

/** True when the 6 bytes at a[aOff] and b[bOff] are equal. */
export function macEqual(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  return a[aOff] === b[bOff] && a[aOff + 1] === b[bOff + 1] && a[aOff + 2] === b[bOff + 2] &&
    a[aOff + 3] === b[bOff + 3] && a[aOff + 4] === b[bOff + 4] && a[aOff + 5] === b[bOff + 5];
}

/** Copy a 6-byte MAC. */
export function copyMac(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number): void {
  dst[dstOff] = src[srcOff];
  dst[dstOff + 1] = src[srcOff + 1];
  dst[dstOff + 2] = src[srcOff + 2];
  dst[dstOff + 3] = src[srcOff + 3];
  dst[dstOff + 4] = src[srcOff + 4];
  dst[dstOff + 5] = src[srcOff + 5];
}

/** The MAC as a 48-bit integer (exact in a double); handy as a Map key without strings. */
export function macToNumber(buf: Uint8Array, off: number): number {
  return ((buf[off] << 8) | buf[off + 1]) * 0x100000000 +
    (((buf[off + 2] << 24) | (buf[off + 3] << 16) | (buf[off + 4] << 8) | buf[off + 5]) >>> 0);
}

/**
 * Copy n bytes from src[srcOff] to dst[dstOff] without allocating (overlap-safe when
 * dst and src are the same array).
 */
export function copyBytes(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  if (dst === src) {
    dst.copyWithin(dstOff, srcOff, srcOff + n);
    return;
  }
  for (let i = 0; i < n; i++) dst[dstOff + i] = src[srcOff + i];
}
