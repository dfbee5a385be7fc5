/**
 * Longest-prefix match for IPv4 and IPv6 over one Int32Array each — the route lookup of every
 * slow-path packet.
 *
 * Hand-written, not a library: the lookup runs per packet, so it must not allocate, must not
 * touch a Map or an object per level, and must read the address straight out of the packet
 * slab. Generic JS tries (objects per node, BigInt or string keys) fail all three. The table is
 * immutable after build() (a generation swaps in a new one), so we can spend build time on
 * controlled prefix expansion (Srinivasan & Varghese) and leaf pushing, which leaves lookup as
 * a short chain of array reads with no backtracking.
 *
 * Layout: one Int32Array of 256-entry blocks (the v4 root is 65536 entries: DIR-16-8-8).
 * An entry is
 *   >= 0   a leaf: the value of the longest prefix covering this slot;
 *   == -1  no prefix covers this slot;
 *   <= -2  a pointer to a child block starting at index (-entry - 2).
 * Child blocks are created pre-filled with the parent's leaf (leaf pushing), so the first leaf
 * met on the way down is the answer.
 *
 *   IPv4: root[addr >>> 16] → block[(addr >>> 8) & 255] → block[addr & 255]   (≤ 3 reads)
 *   IPv6: root[b0] → block[b1] → … → block[b15]                              (≤ 16 reads)
 *
 * Semantics:
 * - Bits of `addr` beyond `len` are ignored (the prefix is masked).
 * - Duplicates: when two entries have the same prefix and length, the later one in the input
 *   array wins (control/compile/routes relies on this: user routes after system routes).
 * - Values are integers 0 .. 2^31-1 (route indices); lookup returns -1 for no match.
 *
 * Memory: v4 = 256 KiB + 1 KiB per /16 holding longer prefixes + 1 KiB per /24 holding
 * longer ones; v6 = 1 KiB per distinct (prefix bytes) node on the path of each prefix longer
 * than 8 bits, i.e. ≤ ceil(len/8)-1 blocks per route, shared between routes with common bytes.
 */

const EMPTY = -1;
const MAX_VALUE = 0x7fffffff;

export interface Lpm4Entry {
  /** Prefix address as a u32 (10.0.0.0 = 0x0a000000); bits beyond len are ignored. */
  addr: number;
  /** Prefix length 0..32. */
  len: number;
  /** Non-negative int32 returned by lookup. */
  value: number;
}

export interface Lpm6Entry {
  /** 16 address bytes; bits beyond len are ignored. */
  addr: Uint8Array;
  /** Prefix length 0..128. */
  len: number;
  value: number;
}

/** Growable Int32Array of 256-entry blocks, used only during build. */
class BlockArena {
  buf: Int32Array;
  used: number;
  constructor(initial: number, rootSize: number) {
    this.buf = new Int32Array(Math.max(initial, rootSize)).fill(EMPTY, 0, rootSize);
    this.used = rootSize;
  }
  /** A new 256-entry block filled with `fill`; returns its base index. */
  alloc(fill: number): number {
    if (this.used + 256 > this.buf.length) {
      const next = new Int32Array(this.buf.length * 2);
      next.set(this.buf.subarray(0, this.used));
      this.buf = next;
    }
    const base = this.used;
    this.buf.fill(fill, base, base + 256);
    this.used += 256;
    return base;
  }
  /** The child block under slot `i`, creating it (leaf-pushed) when the slot is a leaf. */
  child(i: number): number {
    const e = this.buf[i];
    if (e <= -2) return -e - 2;
    const base = this.alloc(e);
    this.buf[i] = -base - 2;
    return base;
  }
  /**
   * Set [from, from+count) of one block to a leaf. Entries are inserted shortest first, so the
   * range never holds a child block yet: children are created only by longer prefixes.
   */
  fill(from: number, count: number, value: number): void {
    this.buf.fill(value, from, from + count);
  }
  finish(): Int32Array {
    return this.buf.slice(0, this.used);
  }
}

function checkValue(value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_VALUE) {
    throw new RangeError(`LPM value must be an integer 0..${MAX_VALUE}, got ${value}`);
  }
}

/** Stable sort of entry indices by prefix length (shortest first), keeping input order on ties. */
function orderByLength(lens: number[]): number[] {
  const idx = lens.map((_, i) => i);
  idx.sort((a, b) => lens[a] - lens[b] || a - b);
  return idx;
}

export class Lpm4 {
  /** The table (see the header for the encoding). Exposed for inlining by hot loops. */
  readonly table: Int32Array;
  /** Number of entries built from (duplicates included). */
  readonly size: number;

  private constructor(table: Int32Array, size: number) {
    this.table = table;
    this.size = size;
  }

  static build(entries: readonly Lpm4Entry[]): Lpm4 {
    for (const e of entries) {
      checkValue(e.value);
      if (!Number.isInteger(e.len) || e.len < 0 || e.len > 32) throw new RangeError(`IPv4 prefix length must be 0..32, got ${e.len}`);
      if (!Number.isInteger(e.addr) || e.addr < -0x80000000 || e.addr > 0xffffffff) throw new RangeError(`IPv4 address must be a u32, got ${e.addr}`);
    }
    const arena = new BlockArena(65536 + 256 * 16, 65536);
    for (const i of orderByLength(entries.map((e) => e.len))) {
      const { len, value } = entries[i];
      const addr = (len === 0 ? 0 : entries[i].addr & (0xffffffff << (32 - len))) >>> 0;
      if (len <= 16) {
        arena.fill(addr >>> 16, 1 << (16 - len), value);
      } else if (len <= 24) {
        const l2 = arena.child(addr >>> 16);
        arena.fill(l2 + ((addr >>> 8) & 255), 1 << (24 - len), value);
      } else {
        const l2 = arena.child(addr >>> 16);
        const l3 = arena.child(l2 + ((addr >>> 8) & 255));
        arena.fill(l3 + (addr & 255), 1 << (32 - len), value);
      }
    }
    return new Lpm4(arena.finish(), entries.length);
  }

  /** The value of the longest prefix containing `addr` (a u32; int32 also accepted), or -1. */
  lookup(addr: number): number {
    const t = this.table;
    let e = t[addr >>> 16];
    if (e >= EMPTY) return e;
    e = t[-e - 2 + ((addr >>> 8) & 255)];
    if (e >= EMPTY) return e;
    return t[-e - 2 + (addr & 255)];
  }

  /** lookup() of the 4 address bytes at buf[off..off+3] (network order), e.g. an IPv4 header's daddr. */
  lookupAt(buf: Uint8Array, off: number): number {
    const t = this.table;
    let e = t[(buf[off] << 8) | buf[off + 1]];
    if (e >= EMPTY) return e;
    e = t[-e - 2 + buf[off + 2]];
    if (e >= EMPTY) return e;
    return t[-e - 2 + buf[off + 3]];
  }

  /** Bytes held by the table. */
  get byteLength(): number {
    return this.table.byteLength;
  }
}

export class Lpm6 {
  readonly table: Int32Array;
  readonly size: number;

  private constructor(table: Int32Array, size: number) {
    this.table = table;
    this.size = size;
  }

  static build(entries: readonly Lpm6Entry[]): Lpm6 {
    for (const e of entries) {
      checkValue(e.value);
      if (!Number.isInteger(e.len) || e.len < 0 || e.len > 128) throw new RangeError(`IPv6 prefix length must be 0..128, got ${e.len}`);
      if (!(e.addr instanceof Uint8Array) || e.addr.length < 16) throw new RangeError('IPv6 address must be a 16-byte Uint8Array');
    }
    const arena = new BlockArena(256 * 64, 256);
    for (const i of orderByLength(entries.map((e) => e.len))) {
      const { addr, len, value } = entries[i];
      // The prefix ends in byte `last` (0-based); bytes before it select child blocks.
      const last = len === 0 ? 0 : (len - 1) >>> 3;
      let base = 0;
      for (let k = 0; k < last; k++) base = arena.child(base + addr[k]);
      const bits = len - 8 * last; // 0..8 significant bits of byte `last`
      const mask = (0xff00 >> bits) & 0xff;
      arena.fill(base + (addr[last] & mask), 1 << (8 - bits), value);
    }
    return new Lpm6(arena.finish(), entries.length);
  }

  /** The value of the longest prefix containing the 16 address bytes at buf[off..off+15], or -1. */
  lookup(buf: Uint8Array, off: number): number {
    const t = this.table;
    let e = t[buf[off]];
    let k = off + 1;
    while (e < EMPTY) e = t[-e - 2 + buf[k++]];
    return e;
  }

  get byteLength(): number {
    return this.table.byteLength;
  }
}
