/**
 * Neighbor table: (port, IP) → MAC, for IPv4 (ARP) and IPv6 (neighbor discovery), with the
 * bookkeeping neighbor resolution needs (state, last confirmation, probes sent).
 *
 * Hand-written on typed arrays because it sits on the hot path (one lookup per forwarded
 * packet that misses no cache): open addressing with linear probing over a power-of-two
 * capacity, keys packed as four u32 words (IPv4 as an IPv4-mapped IPv6 address) plus the
 * port, so a lookup allocates nothing. Full table = the learn is refused and counted; the
 * table never grows. Entries are removed with backward-shift deletion (no tombstones).
 */

export const enum NeighborState {
  Empty = 0,
  /** Resolution in progress: a request was sent, packets may be waiting. */
  Incomplete = 1,
  /** MAC known. */
  Reachable = 2,
}

const WORDS = 5; // a0..a3 (address), port

export class NeighborTable {
  readonly capacity: number;
  private readonly mask: number;
  /** keys[i*5 .. i*5+4]: address words a0..a3, port. */
  private readonly keys: Uint32Array;
  readonly state: Uint8Array;
  /** macs[i*6 .. i*6+5]: the neighbor's link-layer address (valid when Reachable). */
  readonly macs: Uint8Array;
  /** Time (ms) the entry was last confirmed, or created for Incomplete entries. */
  readonly updatedAt: Float64Array;
  /** Requests sent for an Incomplete entry. */
  readonly probes: Uint8Array;
  /** Time (ms) of the last request sent. */
  readonly probedAt: Float64Array;
  size = 0;
  /** Learns refused because the table was full. */
  refused = 0;

  constructor(capacity = 16384) {
    let cap = 16;
    while (cap < capacity * 2) cap <<= 1; // keep load ≤ 50 %
    this.capacity = cap;
    this.mask = cap - 1;
    this.keys = new Uint32Array(cap * WORDS);
    this.state = new Uint8Array(cap);
    this.macs = new Uint8Array(cap * 6);
    this.updatedAt = new Float64Array(cap);
    this.probes = new Uint8Array(cap);
    this.probedAt = new Float64Array(cap);
  }

  private static hash(a0: number, a1: number, a2: number, a3: number, port: number): number {
    let h = Math.imul(a3 ^ 0x9e3779b9, 0x85ebca6b);
    h = Math.imul(h ^ a2 ^ (h >>> 13), 0xc2b2ae35);
    h = Math.imul(h ^ a1 ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ a0 ^ port ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }

  private find(a0: number, a1: number, a2: number, a3: number, port: number): number {
    const k = this.keys;
    let i = NeighborTable.hash(a0, a1, a2, a3, port) & this.mask;
    for (;;) {
      if (this.state[i] === NeighborState.Empty) return -1;
      const b = i * WORDS;
      if (k[b + 3] === a3 && k[b + 4] === port && k[b + 2] === a2 && k[b + 1] === a1 && k[b] === a0) return i;
      i = (i + 1) & this.mask;
    }
  }

  private insert(a0: number, a1: number, a2: number, a3: number, port: number, now: number): number {
    if (this.size * 2 >= this.capacity) {
      this.refused++;
      return -1;
    }
    const k = this.keys;
    let i = NeighborTable.hash(a0, a1, a2, a3, port) & this.mask;
    while (this.state[i] !== NeighborState.Empty) i = (i + 1) & this.mask;
    const b = i * WORDS;
    k[b] = a0; k[b + 1] = a1; k[b + 2] = a2; k[b + 3] = a3; k[b + 4] = port;
    this.state[i] = NeighborState.Incomplete;
    this.updatedAt[i] = now;
    this.probes[i] = 0;
    this.probedAt[i] = 0;
    this.size++;
    return i;
  }

  /** Entry index for an IPv4 neighbor on `port`, or -1. */
  find4(port: number, ip: number): number {
    return this.find(0, 0, 0xffff, ip >>> 0, port);
  }

  /** Entry index for the IPv6 neighbor whose 16 address bytes are at buf[off..], or -1. */
  find6(port: number, buf: Uint8Array, off: number): number {
    return this.find(read32(buf, off), read32(buf, off + 4), read32(buf, off + 8), read32(buf, off + 12), port);
  }

  /** Existing entry or a new Incomplete one; -1 when the table is full. */
  findOrCreate4(port: number, ip: number, now: number): number {
    const i = this.find4(port, ip);
    return i >= 0 ? i : this.insert(0, 0, 0xffff, ip >>> 0, port, now);
  }

  findOrCreate6(port: number, buf: Uint8Array, off: number, now: number): number {
    const a0 = read32(buf, off), a1 = read32(buf, off + 4), a2 = read32(buf, off + 8), a3 = read32(buf, off + 12);
    const i = this.find(a0, a1, a2, a3, port);
    return i >= 0 ? i : this.insert(a0, a1, a2, a3, port, now);
  }

  /** Record a confirmed MAC for entry i (from an ARP/NA or a solicitation's source option). */
  confirm(i: number, mac: Uint8Array, macOff: number, now: number): void {
    const m = this.macs, b = i * 6;
    m[b] = mac[macOff]; m[b + 1] = mac[macOff + 1]; m[b + 2] = mac[macOff + 2];
    m[b + 3] = mac[macOff + 3]; m[b + 4] = mac[macOff + 4]; m[b + 5] = mac[macOff + 5];
    this.state[i] = NeighborState.Reachable;
    this.updatedAt[i] = now;
    this.probes[i] = 0;
  }

  /** Learn (or refresh) an IPv4 neighbor; returns the entry index or -1 when full. */
  learn4(port: number, ip: number, mac: Uint8Array, macOff: number, now: number): number {
    const i = this.findOrCreate4(port, ip, now);
    if (i >= 0) this.confirm(i, mac, macOff, now);
    return i;
  }

  learn6(port: number, ip: Uint8Array, ipOff: number, mac: Uint8Array, macOff: number, now: number): number {
    const i = this.findOrCreate6(port, ip, ipOff, now);
    if (i >= 0) this.confirm(i, mac, macOff, now);
    return i;
  }

  /** Port of entry i. */
  portOf(i: number): number {
    return this.keys[i * WORDS + 4];
  }

  /** True when entry i is an IPv4 neighbor (IPv4-mapped key). */
  isV4(i: number): boolean {
    const b = i * WORDS;
    return this.keys[b] === 0 && this.keys[b + 1] === 0 && this.keys[b + 2] === 0xffff;
  }

  /** IPv4 address of entry i (valid when isV4). */
  addr4(i: number): number {
    return this.keys[i * WORDS + 3];
  }

  /** Write entry i's IPv6 address (16 bytes) to out[off..]. */
  addr6(i: number, out: Uint8Array, off: number): void {
    const b = i * WORDS;
    for (let w = 0; w < 4; w++) {
      const v = this.keys[b + w];
      out[off + w * 4] = v >>> 24; out[off + w * 4 + 1] = (v >>> 16) & 0xff;
      out[off + w * 4 + 2] = (v >>> 8) & 0xff; out[off + w * 4 + 3] = v & 0xff;
    }
  }

  /** Remove entry i (backward-shift deletion keeps probe chains intact). */
  remove(i: number): void {
    const k = this.keys, mask = this.mask;
    this.state[i] = NeighborState.Empty;
    this.size--;
    let hole = i;
    let j = (i + 1) & mask;
    while (this.state[j] !== NeighborState.Empty) {
      const b = j * WORDS;
      const home = NeighborTable.hash(k[b], k[b + 1], k[b + 2], k[b + 3], k[b + 4]) & mask;
      // j may move into the hole if its home slot is not in (hole, j] cyclically.
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        const h = hole * WORDS;
        for (let w = 0; w < WORDS; w++) k[h + w] = k[b + w];
        this.state[hole] = this.state[j];
        for (let w = 0; w < 6; w++) this.macs[hole * 6 + w] = this.macs[j * 6 + w];
        this.updatedAt[hole] = this.updatedAt[j];
        this.probes[hole] = this.probes[j];
        this.probedAt[hole] = this.probedAt[j];
        this.state[j] = NeighborState.Empty;
        hole = j;
      }
      j = (j + 1) & mask;
    }
  }

  /** Visit every non-empty entry (off the hot path: timers, stats). */
  forEach(fn: (i: number) => void): void {
    for (let i = 0; i < this.capacity; i++) if (this.state[i] !== NeighborState.Empty) fn(i);
  }
}

function read32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}
