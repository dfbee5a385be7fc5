/**
 * Connection tracking and the flow cache, in one structure: every tracked connection has
 * two directions, each findable by its packed 5-tuple. A direction's rewrite is not stored:
 * the rewritten tuple of one direction is the other direction's tuple reversed, so NAT
 * reads the new addresses and ports from the other direction's key, and only the flags and
 * the precomputed RFC 1624 checksum deltas are kept. A cached packet costs one hash, one
 * probe, and a handful of stores.
 *
 * Hand-written on typed arrays because it is the hot path and no library fits. Sized for
 * 1M connections in well under 128 MiB (about 120 bytes per IPv4 connection, see
 * `bytesPerConnection`):
 *
 * - Index: open addressing with linear probing over Int32 entries (load ≤ 50 %),
 *   backward-shift deletion (no tombstones). An entry packs (cd + 1) in its low `cdBits`
 *   and the hash's top bits as a tag, so a probe rarely touches a key that is not the one.
 * - Keys per direction (cd = conn*2 + dir): IPv4 as three words (source, destination,
 *   ports) in `dirKey`; the family and protocol once per connection. IPv6 connections
 *   keep the other 96 bits of each address in `dirKey6`, which exists only for connection
 *   indices below `capacity6` (IPv6 connections are allocated there; IPv4 ones use that
 *   range only when the rest is full) — as Cilium sizes its ct4 and ct6 maps apart.
 * - Connections come from free-list stacks. Bounded: when full, an insert evicts
 *   (unestablished connections first); it never fails and never grows. Expiry happens on
 *   lookup plus a bounded reaper (`reap`), with an injected clock.
 *
 * Scratch keys (`k`, and what origKey/replyKey return) are ten u32 words: 0-3 source
 * address, 4-7 destination address (IPv4 as IPv4-mapped IPv6), 8 (sport << 16 | dport),
 * 9 (family << 8 | protocol). For ICMP echo the "ports" are (identifier, 0).
 */

export const enum ConnState {
  Free = 0,
  /** TCP: SYN seen from the originator. UDP/ICMP/other: packets one way only. */
  New = 1,
  /** TCP: SYN-ACK seen. */
  SynRecv = 2,
  /** TCP three-way handshake done; UDP/ICMP: replies seen. */
  Established = 3,
  /** TCP: FIN seen from one side. */
  FinWait = 4,
  /** TCP: FIN seen from both sides. */
  TimeWait = 5,
  /** TCP: RST seen. */
  Closed = 6,
}

export const CONN_STATE_NAMES = ['free', 'new', 'syn-recv', 'established', 'fin-wait', 'time-wait', 'closed'];

/** NAT flags per direction. */
export const NAT_SRC = 1;
export const NAT_DST = 2;

const KW = 10; // scratch key words
/** Stored words per direction in dirKey: source (IPv4 / word 3), destination (same), ports. */
export const DIR_KEY_WORDS = 3;
/** Extra stored words per IPv6 direction in dirKey6: source words 0-2, destination words 0-2. */
export const DIR_KEY6_WORDS = 6;
const SW = DIR_KEY_WORDS;
const XW = DIR_KEY6_WORDS;
/** Largest capacity: cd + 1 must leave at least 8 tag bits in an entry. */
export const MAX_FLOW_CAPACITY = (1 << 23) - 1;

/** Timeouts in ms (kube-proxy's conntrack settings where it has them). */
export interface FlowTimeouts {
  tcpSyn: number;
  tcpEstablished: number;
  tcpFin: number;
  tcpTimeWait: number;
  tcpClose: number;
  udp: number;
  udpStream: number;
  icmp: number;
  other: number;
}

export const DEFAULT_TIMEOUTS: FlowTimeouts = {
  tcpSyn: 120_000,
  tcpEstablished: 86_400_000, // kube-proxy conntrack.tcpEstablishedTimeout 24h
  tcpFin: 120_000,
  tcpTimeWait: 120_000,
  tcpClose: 10_000,
  udp: 30_000,
  udpStream: 120_000,
  icmp: 30_000,
  other: 600_000,
};

export class FlowTable {
  /** Connections the table can hold. */
  readonly capacity: number;
  /** IPv6 connections the table can hold (connection indices 0 … capacity6-1). */
  readonly capacity6: number;
  private readonly emask: number;
  private readonly cdBits: number;
  private readonly cdMask: number;
  /** Index: 0 when empty, else (hash tag << cdBits) | (cd + 1). */
  private readonly entry: Int32Array;

  /** Per direction (cd): source word, destination word, ports word of its tuple. */
  readonly dirKey: Uint32Array;
  /** Per IPv6 direction (cd < 2 * capacity6): source words 0-2, destination words 0-2. */
  readonly dirKey6: Uint32Array;

  // Connection records.
  readonly state: Uint8Array;
  /** family << 8 | protocol (key word 9). */
  readonly famProto: Uint16Array;
  readonly expires: Float64Array;
  /** Generation version the connection was last validated against. */
  readonly gen: Uint32Array;
  /** Stable ids of the service port and backend (-1 when not a service flow). */
  readonly spKey: Int32Array;
  readonly beKey: Int32Array;
  /** Per direction (cd): NAT flags. The new tuple is the other direction's key, reversed. */
  readonly natFlags: Uint8Array;
  /** Per direction: folded one's-complement deltas, IPv4 header (low 16) | L4 checksum (high 16). */
  readonly csumDelta: Uint32Array;
  /** Per direction: the delta for a CHECKSUM_PARTIAL (pseudo-header only) L4 checksum. */
  readonly partialDelta: Uint16Array;
  /** Packets and bytes per direction. */
  readonly packets: Float64Array;
  readonly bytes: Float64Array;
  /** Free connection indices: below capacity6 (IPv6-capable) and the rest. */
  private readonly freeLo: Int32Array;
  private readonly freeHi: Int32Array;
  private freeLoTop: number;
  private freeHiTop: number;
  private reapCursor = 0;
  private lowCursor = 0;

  /** Live connections. */
  size = 0;
  inserted = 0;
  evicted = 0;
  expired = 0;
  readonly timeouts: FlowTimeouts;

  /** Scratch key for lookups (filled by the caller through key4/key6). */
  readonly k = new Uint32Array(KW);
  private readonly rk = new Uint32Array(KW);

  /**
   * @param capacity connections (both directions each), at most MAX_FLOW_CAPACITY
   * @param capacity6 how many of them may be IPv6 (default a quarter, at least 1)
   */
  constructor(capacity = 262144, timeouts: Partial<FlowTimeouts> = {}, capacity6?: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_FLOW_CAPACITY) {
      throw new RangeError(`flow table capacity must be an integer in [1, ${MAX_FLOW_CAPACITY}], got ${capacity}`);
    }
    const c6 = capacity6 ?? Math.max(1, capacity >>> 2);
    if (!Number.isInteger(c6) || c6 < 1 || c6 > capacity) {
      throw new RangeError(`flow table IPv6 capacity must be an integer in [1, ${capacity}], got ${c6}`);
    }
    this.capacity = capacity;
    this.capacity6 = c6;
    let e = 16;
    while (e < capacity * 4) e *= 2; // two entries per conn, load ≤ 50 %
    this.emask = e - 1;
    let bits = 1;
    while (2 ** bits < capacity * 2 + 1) bits++;
    this.cdBits = bits;
    this.cdMask = 2 ** bits - 1;
    this.entry = new Int32Array(e);
    this.dirKey = new Uint32Array(capacity * 2 * SW);
    this.dirKey6 = new Uint32Array(c6 * 2 * XW);
    this.state = new Uint8Array(capacity);
    this.famProto = new Uint16Array(capacity);
    this.expires = new Float64Array(capacity);
    this.gen = new Uint32Array(capacity);
    this.spKey = new Int32Array(capacity);
    this.beKey = new Int32Array(capacity);
    this.natFlags = new Uint8Array(capacity * 2);
    this.csumDelta = new Uint32Array(capacity * 2);
    this.partialDelta = new Uint16Array(capacity * 2);
    this.packets = new Float64Array(capacity * 2);
    this.bytes = new Float64Array(capacity * 2);
    this.freeLo = new Int32Array(c6);
    this.freeHi = new Int32Array(capacity - c6);
    // Pop order: lowest index first (keeps a small table's working set together).
    for (let i = 0; i < c6; i++) this.freeLo[i] = c6 - 1 - i;
    for (let i = 0; i < capacity - c6; i++) this.freeHi[i] = capacity - 1 - i;
    this.freeLoTop = c6;
    this.freeHiTop = capacity - c6;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...timeouts };
  }

  /** Bytes of typed-array memory the table holds (it never grows). */
  get memoryBytes(): number {
    let n = this.entry.byteLength + this.dirKey.byteLength + this.dirKey6.byteLength;
    for (const a of [this.state, this.famProto, this.expires, this.gen, this.spKey, this.beKey, this.natFlags,
      this.csumDelta, this.partialDelta, this.packets, this.bytes, this.freeLo, this.freeHi]) n += a.byteLength;
    return n;
  }

  /** memoryBytes / capacity. */
  get bytesPerConnection(): number {
    return this.memoryBytes / this.capacity;
  }

  // -------------------------------------------------------------------------------
  // Keys

  /** Fill the scratch key `k` for an IPv4 tuple. */
  key4(proto: number, src: number, dst: number, sport: number, dport: number): void {
    const k = this.k;
    k[0] = 0; k[1] = 0; k[2] = 0xffff; k[3] = src >>> 0;
    k[4] = 0; k[5] = 0; k[6] = 0xffff; k[7] = dst >>> 0;
    k[8] = ((sport << 16) | dport) >>> 0;
    k[9] = (4 << 8) | proto;
  }

  /** Fill the scratch key `k` for an IPv6 tuple (addresses read from buf). */
  key6(proto: number, buf: Uint8Array, srcOff: number, dstOff: number, sport: number, dport: number): void {
    const k = this.k;
    for (let w = 0; w < 4; w++) {
      const s = srcOff + w * 4, d = dstOff + w * 4;
      k[w] = ((buf[s] << 24) | (buf[s + 1] << 16) | (buf[s + 2] << 8) | buf[s + 3]) >>> 0;
      k[4 + w] = ((buf[d] << 24) | (buf[d + 1] << 16) | (buf[d + 2] << 8) | buf[d + 3]) >>> 0;
    }
    k[8] = ((sport << 16) | dport) >>> 0;
    k[9] = (6 << 8) | proto;
  }

  /**
   * IPv4 keys: only words 3, 7 and 8 vary — hashing the six constant words cost half of a
   * lookup (profile: bench-stages, flow lookup 26 → 13 ns).
   */
  private static hash4(w9: number, src: number, dst: number, ports: number): number {
    let h = 0x811c9dc5 ^ w9;
    h = Math.imul(h ^ src, 0x01000193); h ^= h >>> 15;
    h = Math.imul(h ^ dst, 0x01000193); h ^= h >>> 15;
    h = Math.imul(h ^ ports, 0x01000193); h ^= h >>> 15;
    return FlowTable.finish(h);
  }

  private static hash(k: Uint32Array): number {
    const w9 = k[9];
    if ((w9 >>> 8) === 4) return FlowTable.hash4(w9, k[3], k[7], k[8]);
    let h = 0x811c9dc5 ^ w9;
    for (let i = 0; i < 9; i++) {
      h = Math.imul(h ^ k[i], 0x01000193);
      h ^= h >>> 15;
    }
    return FlowTable.finish(h);
  }

  private static finish(h: number): number {
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }

  /** Hash of the scratch key (also the flow hash the balancer uses). */
  hashKey(): number {
    return FlowTable.hash(this.k);
  }

  /** Direction-independent flow hash of the scratch key (same for both directions). */
  symmetricHash(): number {
    const k = this.k;
    let a = 0x9e3779b9, b = 0x85ebca6b;
    for (let i = 0; i < 4; i++) { a = Math.imul(a ^ k[i], 0x01000193); b = Math.imul(b ^ k[4 + i], 0x01000193); }
    const p = k[8];
    let h = (a ^ b) ^ Math.imul((p >>> 16) ^ (p & 0xffff), 0x27d4eb2d) ^ k[9];
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    return (h ^ (h >>> 13)) >>> 0;
  }

  /** The direction (cd) whose key is k, or -1. */
  private findKey(k: Uint32Array): number {
    if ((k[9] >>> 8) === 4) return this.findKey4(k[9], k[3], k[7], k[8]);
    const ent = this.entry, mask = this.emask, bits = this.cdBits, dk = this.dirKey;
    const h = FlowTable.hash(k);
    const tag = h >>> bits;
    const w3 = k[3], w7 = k[7], w8 = k[8], w9 = k[9];
    let i = h & mask;
    for (;;) {
      const e = ent[i];
      if (e === 0) return -1;
      if ((e >>> bits) === tag) {
        const cd = (e & this.cdMask) - 1, b = cd * SW;
        if (dk[b] === w3 && dk[b + 1] === w7 && dk[b + 2] === w8 && this.famProto[cd >> 1] === w9 && this.sameKey6(cd, k)) return cd;
      }
      i = (i + 1) & mask;
    }
  }

  private sameKey6(cd: number, k: Uint32Array): boolean {
    const x = this.dirKey6, b = cd * XW;
    return x[b] === k[0] && x[b + 1] === k[1] && x[b + 2] === k[2] && x[b + 3] === k[4] && x[b + 4] === k[5] && x[b + 5] === k[6];
  }

  /**
   * Look up the scratch key: conn*2 + dir, or -1. An expired connection is removed and
   * reported as a miss.
   */
  lookup(now: number): number {
    return this.unlessExpired(this.findKey(this.k), now);
  }

  /** cd, or -1 when cd is -1 or its connection has expired (then removed). */
  private unlessExpired(cd: number, now: number): number {
    if (cd < 0) return -1;
    const c = cd >> 1;
    if (now > this.expires[c]) {
      this.remove(c);
      this.expired++;
      return -1;
    }
    return cd;
  }

  /**
   * lookup() for an IPv4 tuple given as values (ports: sport << 16 | dport), without the
   * scratch key: the cached path's form. Fill `k` with key4 before a slow path needs it.
   */
  lookup4(proto: number, src: number, dst: number, ports: number, now: number): number {
    return this.unlessExpired(this.findKey4((4 << 8) | proto, src, dst, ports), now);
  }

  /** The IPv4 direction (cd) with this tuple (w9: family << 8 | protocol), or -1. */
  private findKey4(w9: number, src: number, dst: number, ports: number): number {
    const ent = this.entry, mask = this.emask, bits = this.cdBits, dk = this.dirKey;
    // hash4, written out: the profile showed it left as a call here.
    let h = 0x811c9dc5 ^ w9;
    h = Math.imul(h ^ src, 0x01000193); h ^= h >>> 15;
    h = Math.imul(h ^ dst, 0x01000193); h ^= h >>> 15;
    h = Math.imul(h ^ ports, 0x01000193); h ^= h >>> 15;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h = (h ^ (h >>> 16)) >>> 0;
    const tag = h >>> bits;
    let i = h & mask;
    for (;;) {
      const e = ent[i];
      if (e === 0) return -1;
      if ((e >>> bits) === tag) {
        const cd = (e & this.cdMask) - 1, b = cd * SW;
        if (dk[b] === src && dk[b + 1] === dst && dk[b + 2] === ports && this.famProto[cd >> 1] === w9) return cd;
      }
      i = (i + 1) & mask;
    }
  }

  /** True when the tuple (given as address words) is a key of some connection. */
  tupleInUse(family: number, proto: number, src: Uint32Array, dst: Uint32Array, sport: number, dport: number): boolean {
    const r = this.rk;
    for (let w = 0; w < 4; w++) { r[w] = src[w]; r[4 + w] = dst[w]; }
    r[8] = ((sport << 16) | dport) >>> 0;
    r[9] = (family << 8) | proto;
    return this.findKey(r) >= 0;
  }

  /** Store k as direction cd's key and index it. */
  private insertKey(k: Uint32Array, cd: number): void {
    const ent = this.entry, mask = this.emask;
    const h = FlowTable.hash(k);
    let i = h & mask;
    while (ent[i] !== 0) i = (i + 1) & mask;
    ent[i] = (h & ~this.cdMask) | (cd + 1);
    const b = cd * SW, dk = this.dirKey;
    dk[b] = k[3]; dk[b + 1] = k[7]; dk[b + 2] = k[8];
    if ((k[9] >>> 8) === 6) {
      const x = this.dirKey6, xb = cd * XW;
      x[xb] = k[0]; x[xb + 1] = k[1]; x[xb + 2] = k[2]; x[xb + 3] = k[4]; x[xb + 4] = k[5]; x[xb + 5] = k[6];
    }
  }

  /** Hash of direction cd's stored key (the same value insertKey indexed it by). */
  private storedHash(cd: number): number {
    const w9 = this.famProto[cd >> 1];
    if ((w9 >>> 8) === 4) {
      const b = cd * SW, dk = this.dirKey;
      return FlowTable.hash4(w9, dk[b], dk[b + 1], dk[b + 2]);
    }
    this.loadKey(cd, this.rk);
    return FlowTable.hash(this.rk);
  }

  /** The index slot holding cd, or -1 when cd is not indexed. */
  private slotOf(cd: number): number {
    const ent = this.entry, mask = this.emask, want = cd + 1;
    let i = this.storedHash(cd) & mask;
    for (;;) {
      const e = ent[i];
      if (e === 0) return -1;
      if ((e & this.cdMask) === want) return i;
      i = (i + 1) & mask;
    }
  }

  private removeSlot(i: number): void {
    const ent = this.entry, mask = this.emask, cdMask = this.cdMask;
    ent[i] = 0;
    let hole = i;
    let j = (i + 1) & mask;
    while (ent[j] !== 0) {
      const home = this.storedHash((ent[j] & cdMask) - 1) & mask;
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        ent[hole] = ent[j];
        ent[j] = 0;
        hole = j;
      }
      j = (j + 1) & mask;
    }
  }

  /** Direction cd's key as ten words into out. */
  private loadKey(cd: number, out: Uint32Array): void {
    const b = cd * SW, dk = this.dirKey, w9 = this.famProto[cd >> 1];
    if ((w9 >>> 8) === 6) {
      const x = this.dirKey6, xb = cd * XW;
      out[0] = x[xb]; out[1] = x[xb + 1]; out[2] = x[xb + 2]; out[4] = x[xb + 3]; out[5] = x[xb + 4]; out[6] = x[xb + 5];
    } else {
      out[0] = 0; out[1] = 0; out[2] = 0xffff; out[4] = 0; out[5] = 0; out[6] = 0xffff;
    }
    out[3] = dk[b]; out[7] = dk[b + 1]; out[8] = dk[b + 2]; out[9] = w9;
  }

  // -------------------------------------------------------------------------------
  // Connections

  /**
   * Create a connection whose original direction is the scratch key. Add the reply key
   * with addReplyKey and the rewrites with setNat before its first packet is rewritten.
   * Returns the conn index (evicting one when the table is full).
   */
  create(now: number, state: ConnState, genVersion: number): number {
    const k = this.k;
    let c: number;
    if ((k[9] >>> 8) === 6) {
      if (this.freeLoTop === 0) this.evictOne(now, true);
      c = this.freeLo[--this.freeLoTop];
    } else {
      if (this.freeHiTop === 0 && this.freeLoTop === 0) this.evictOne(now, false);
      c = this.freeHiTop > 0 ? this.freeHi[--this.freeHiTop] : this.freeLo[--this.freeLoTop];
    }
    this.state[c] = state;
    this.famProto[c] = k[9];
    this.gen[c] = genVersion;
    this.spKey[c] = -1;
    this.beKey[c] = -1;
    const d = c * 2;
    this.natFlags[d] = 0; this.natFlags[d + 1] = 0;
    this.csumDelta[d] = 0; this.csumDelta[d + 1] = 0;
    this.partialDelta[d] = 0; this.partialDelta[d + 1] = 0;
    this.packets[d] = 0; this.packets[d + 1] = 0;
    this.bytes[d] = 0; this.bytes[d + 1] = 0;
    this.expires[c] = now + this.timeoutFor(c);
    this.insertKey(k, d);
    this.size++;
    this.inserted++;
    return c;
  }

  /**
   * Index the reply direction of conn c: the tuple a reply carries, i.e. the original
   * tuple after NAT, reversed — source `src`, destination `dst` (four address words each),
   * ports word (sport << 16 | dport; ICMP echo: identifier << 16).
   */
  addReplyKey(c: number, src: Uint32Array, dst: Uint32Array, ports: number): void {
    const r = this.rk;
    for (let w = 0; w < 4; w++) { r[w] = src[w]; r[4 + w] = dst[w]; }
    r[8] = ports >>> 0;
    r[9] = this.famProto[c];
    this.insertKey(r, c * 2 + 1);
  }

  /** Rewrite of direction dir (0 orig, 1 reply) of conn c: which fields, and the checksum deltas. */
  setNat(c: number, dir: number, flags: number, ipDelta: number, l4Delta: number, l4PartialDelta: number): void {
    const d = c * 2 + dir;
    this.natFlags[d] = flags;
    this.csumDelta[d] = ((l4Delta << 16) | (ipDelta & 0xffff)) >>> 0;
    this.partialDelta[d] = l4PartialDelta;
  }

  /**
   * The tuple packets of direction cd leave with, after its rewrite (ten words into out):
   * the other direction's key reversed; fields the rewrite leaves alone as they came.
   */
  rewrittenKey(cd: number, out: Uint32Array): void {
    const r = this.rk;
    this.loadKey(cd ^ 1, r);
    this.loadKey(cd, out);
    const f = this.natFlags[cd], icmp = (out[9] & 0xff) === 1 || (out[9] & 0xff) === 58;
    let sp = out[8] >>> 16, dp = out[8] & 0xffff;
    if ((f & NAT_SRC) !== 0) {
      for (let w = 0; w < 4; w++) out[w] = r[4 + w];
      sp = icmp ? r[8] >>> 16 : r[8] & 0xffff;
    }
    if ((f & NAT_DST) !== 0) {
      for (let w = 0; w < 4; w++) out[4 + w] = r[w];
      if (!icmp) dp = r[8] >>> 16;
      else if ((f & NAT_SRC) === 0) sp = r[8] >>> 16;
    }
    out[8] = ((sp << 16) | dp) >>> 0;
  }

  timeoutFor(c: number): number {
    const t = this.timeouts;
    const p = this.famProto[c] & 0xff;
    const s = this.state[c];
    if (p === 6) {
      switch (s) {
        case ConnState.Established: return t.tcpEstablished;
        case ConnState.FinWait: return t.tcpFin;
        case ConnState.TimeWait: return t.tcpTimeWait;
        case ConnState.Closed: return t.tcpClose;
        default: return t.tcpSyn;
      }
    }
    if (p === 17 || p === 132) return s === ConnState.Established ? t.udpStream : t.udp;
    if (p === 1 || p === 58) return t.icmp;
    return t.other;
  }

  /** Protocol of conn c. */
  proto(c: number): number {
    return this.famProto[c] & 0xff;
  }

  /** Address family (4 or 6) of conn c. */
  family(c: number): number {
    return this.famProto[c] >>> 8;
  }

  /**
   * Advance conn c's state for a packet in direction dir with TCP flags (0 for non-TCP),
   * and push its expiry. Per packet; no allocation.
   */
  touch(c: number, dir: number, tcpFlags: number, len: number, now: number): void {
    const d = c * 2 + dir;
    this.packets[d]++;
    this.bytes[d] += len;
    const s = this.state[c];
    let ns = s;
    if ((this.famProto[c] & 0xff) === 6) {
      if ((tcpFlags & 0x04) !== 0) ns = ConnState.Closed;                       // RST
      else if ((tcpFlags & 0x01) !== 0) ns = s === ConnState.FinWait ? ConnState.TimeWait : (s === ConnState.TimeWait ? s : ConnState.FinWait);
      else if (s === ConnState.New && dir === 1 && (tcpFlags & 0x12) === 0x12) ns = ConnState.SynRecv;
      else if ((s === ConnState.SynRecv && dir === 0 && (tcpFlags & 0x10) !== 0)) ns = ConnState.Established;
      else if (s === ConnState.New && (tcpFlags & 0x02) === 0 && (tcpFlags & 0x10) !== 0 && dir === 1) ns = ConnState.Established; // picked up mid-stream
    } else if (s === ConnState.New && dir === 1) {
      ns = ConnState.Established;
    }
    if (ns !== s) this.state[c] = ns;
    this.expires[c] = now + this.timeoutFor(c);
  }

  /** Remove conn c (both directions). */
  remove(c: number): void {
    if (this.state[c] === ConnState.Free) return;
    const s0 = this.slotOf(c * 2);
    if (s0 >= 0) this.removeSlot(s0);
    const s1 = this.slotOf(c * 2 + 1); // absent if the caller never added it
    if (s1 >= 0) this.removeSlot(s1);
    this.state[c] = ConnState.Free;
    if (c < this.capacity6) this.freeLo[this.freeLoTop++] = c;
    else this.freeHi[this.freeHiTop++] = c;
    this.size--;
  }

  /** Remove up to `budget` expired connections, resuming where the last call stopped. */
  reap(now: number, budget = 4096): number {
    let removed = 0;
    const n = this.capacity;
    for (let i = 0; i < budget; i++) {
      const c = this.reapCursor;
      this.reapCursor = c + 1 === n ? 0 : c + 1;
      if (this.state[c] !== ConnState.Free && now > this.expires[c]) { this.remove(c); this.expired++; removed++; }
    }
    return removed;
  }

  /**
   * Make room (in the IPv6-capable range when `low`): scan a bounded window from a cursor;
   * take the first expired or unestablished connection, else the one expiring soonest.
   */
  private evictOne(now: number, low: boolean): void {
    const n = low ? this.capacity6 : this.capacity;
    let cur = low ? this.lowCursor : this.reapCursor;
    let victim = -1, soonest = Infinity;
    for (let i = 0; i < 64; i++) {
      const c = cur;
      cur = c + 1 >= n ? 0 : c + 1;
      const s = this.state[c];
      if (s === ConnState.Free) continue;
      if (now > this.expires[c] || s !== ConnState.Established) { victim = c; break; }
      if (this.expires[c] < soonest) { soonest = this.expires[c]; victim = c; }
    }
    if (low) this.lowCursor = cur; else this.reapCursor = cur;
    if (victim < 0) victim = 0;
    this.remove(victim);
    this.evicted++;
  }

  /** Visit live connections (off the hot path: `tapflow flows`, generation sweeps). */
  forEach(fn: (c: number) => void): void {
    for (let c = 0; c < this.capacity; c++) if (this.state[c] !== ConnState.Free) fn(c);
  }

  /** The original-direction key words of conn c, copied to out (10 words). */
  origKey(c: number, out: Uint32Array): void {
    this.loadKey(c * 2, out);
  }

  /** The reply-direction key words of conn c, copied to out (10 words). */
  replyKey(c: number, out: Uint32Array): void {
    this.loadKey(c * 2 + 1, out);
  }
}

// ---------------------------------------------------------------------------------
// Checksum deltas (RFC 1624): the sum of ~old + new over every changed 16-bit word.

/** Add the delta of a 32-bit value change to acc. */
export function delta32(acc: number, oldV: number, newV: number): number {
  return acc + (~(oldV >>> 16) & 0xffff) + (~oldV & 0xffff) + (newV >>> 16) + (newV & 0xffff);
}

/** Add the delta of a 16-bit value change to acc. */
export function delta16(acc: number, oldV: number, newV: number): number {
  return acc + (~oldV & 0xffff) + (newV & 0xffff);
}

/** Fold a delta to 16 bits (kept folded so per-packet sums never overflow). */
export function foldDelta(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return acc;
}

/** Apply a folded delta to a stored (complemented) checksum: HC' = ~(~HC + delta). */
export function applyDelta(csum: number, delta: number): number {
  let s = (~csum & 0xffff) + delta;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Apply a folded delta to a partial (uncomplemented) checksum, as in CHECKSUM_PARTIAL. */
export function applyPartialDelta(partial: number, delta: number): number {
  let s = partial + delta;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s;
}
