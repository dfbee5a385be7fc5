/**
 * Connection tracking and the flow cache, in one structure: every tracked connection has
 * two entries, one per direction, each mapping a packed 5-tuple to (connection, direction).
 * The connection record holds the whole rewrite for each direction — new addresses and
 * ports plus the precomputed RFC 1624 checksum deltas — so a cached packet costs one hash,
 * one probe, and a handful of stores.
 *
 * Hand-written on typed arrays because it is the hot path and no library fits: open
 * addressing with linear probing (load ≤ 50 %), backward-shift deletion (no tombstones),
 * keys as ten u32 words (IPv4 as IPv4-mapped IPv6, so both families share one table),
 * connections from a free-list stack. Bounded: when full, an insert evicts (unestablished
 * connections first); it never fails and never grows. Expiry happens on lookup plus a
 * bounded reaper (`reap`), with an injected clock.
 *
 * Key words: 0-3 source address, 4-7 destination address, 8 (sport << 16 | dport),
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

const KW = 10; // key words

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
  private readonly emask: number;
  private readonly keys: Uint32Array;
  /** Entry → conn*2 + dir, or -1 when empty. */
  private readonly entry: Int32Array;

  // Connection records.
  readonly state: Uint8Array;
  readonly proto: Uint8Array;
  readonly family: Uint8Array;
  readonly expires: Float64Array;
  readonly created: Float64Array;
  /** Generation version the connection was last validated against. */
  readonly gen: Uint32Array;
  /** Stable ids of the service port and backend (-1 when not a service flow). */
  readonly spKey: Int32Array;
  readonly beKey: Int32Array;
  /** Per direction (conn*2+dir): NAT flags, new addresses (8 words), new ports, deltas. */
  readonly natFlags: Uint8Array;
  readonly natAddr: Uint32Array;
  readonly natPorts: Uint32Array;
  /** One's-complement sums to add for the IPv4 header, the L4 checksum, and a partial L4 checksum. */
  readonly ipDelta: Uint32Array;
  readonly l4Delta: Uint32Array;
  readonly l4PartialDelta: Uint32Array;
  /** Packets and bytes per direction. */
  readonly packets: Float64Array;
  readonly bytes: Float64Array;
  /** Entry slot of each direction (kept current across backward shifts). */
  private readonly slotOf: Int32Array;
  private readonly free: Int32Array;
  private freeTop: number;
  private reapCursor = 0;

  /** Live connections. */
  size = 0;
  inserted = 0;
  evicted = 0;
  expired = 0;
  readonly timeouts: FlowTimeouts;

  /** Scratch key for lookups (filled by the caller through key4/key6). */
  readonly k = new Uint32Array(KW);
  private readonly rk = new Uint32Array(KW);

  constructor(capacity = 262144, timeouts: Partial<FlowTimeouts> = {}) {
    this.capacity = capacity;
    let e = 16;
    while (e < capacity * 4) e <<= 1; // two entries per conn, load ≤ 50 %
    this.emask = e - 1;
    this.keys = new Uint32Array(e * KW);
    this.entry = new Int32Array(e).fill(-1);
    this.state = new Uint8Array(capacity);
    this.proto = new Uint8Array(capacity);
    this.family = new Uint8Array(capacity);
    this.expires = new Float64Array(capacity);
    this.created = new Float64Array(capacity);
    this.gen = new Uint32Array(capacity);
    this.spKey = new Int32Array(capacity);
    this.beKey = new Int32Array(capacity);
    this.natFlags = new Uint8Array(capacity * 2);
    this.natAddr = new Uint32Array(capacity * 16);
    this.natPorts = new Uint32Array(capacity * 2);
    this.ipDelta = new Uint32Array(capacity * 2);
    this.l4Delta = new Uint32Array(capacity * 2);
    this.l4PartialDelta = new Uint32Array(capacity * 2);
    this.packets = new Float64Array(capacity * 2);
    this.bytes = new Float64Array(capacity * 2);
    this.slotOf = new Int32Array(capacity * 2).fill(-1);
    this.free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - 1 - i;
    this.freeTop = capacity;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...timeouts };
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

  private static hash(k: Uint32Array, o: number): number {
    let h = 0x811c9dc5 ^ k[o + 9];
    if ((k[o + 9] >>> 8) === 4) {
      // IPv4 (IPv4-mapped keys): only words 3, 7 and 8 vary — hashing the six constant
      // words cost half of a lookup (profile: bench-stages, flow lookup 26 → 13 ns).
      h = Math.imul(h ^ k[o + 3], 0x01000193); h ^= h >>> 15;
      h = Math.imul(h ^ k[o + 7], 0x01000193); h ^= h >>> 15;
      h = Math.imul(h ^ k[o + 8], 0x01000193); h ^= h >>> 15;
    } else {
      for (let i = 0; i < 9; i++) {
        h = Math.imul(h ^ k[o + i], 0x01000193);
        h ^= h >>> 15;
      }
    }
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }

  /** Hash of the scratch key (also the flow hash the balancer uses). */
  hashKey(): number {
    return FlowTable.hash(this.k, 0);
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

  private findKey(k: Uint32Array): number {
    const keys = this.keys, ent = this.entry, mask = this.emask;
    let i = FlowTable.hash(k, 0) & mask;
    for (;;) {
      const e = ent[i];
      if (e < 0) return -1;
      const b = i * KW;
      if (keys[b + 7] === k[7] && keys[b + 3] === k[3] && keys[b + 8] === k[8] && keys[b + 9] === k[9] &&
        keys[b + 6] === k[6] && keys[b + 2] === k[2] && keys[b + 5] === k[5] && keys[b + 1] === k[1] &&
        keys[b + 4] === k[4] && keys[b] === k[0]) return i;
      i = (i + 1) & mask;
    }
  }

  /**
   * Look up the scratch key: conn*2 + dir, or -1. An expired connection is removed and
   * reported as a miss.
   */
  lookup(now: number): number {
    const slot = this.findKey(this.k);
    if (slot < 0) return -1;
    const cd = this.entry[slot];
    const c = cd >> 1;
    if (now > this.expires[c]) {
      this.remove(c);
      this.expired++;
      return -1;
    }
    return cd;
  }

  /** True when the tuple (given as address words) is a key of some connection. */
  tupleInUse(family: number, proto: number, src: Uint32Array, dst: Uint32Array, sport: number, dport: number): boolean {
    const r = this.rk;
    for (let w = 0; w < 4; w++) { r[w] = src[w]; r[4 + w] = dst[w]; }
    r[8] = ((sport << 16) | dport) >>> 0;
    r[9] = (family << 8) | proto;
    return this.findKey(r) >= 0;
  }

  private insertKey(k: Uint32Array, cd: number): void {
    const keys = this.keys, ent = this.entry, mask = this.emask;
    let i = FlowTable.hash(k, 0) & mask;
    while (ent[i] >= 0) i = (i + 1) & mask;
    const b = i * KW;
    for (let w = 0; w < KW; w++) keys[b + w] = k[w];
    ent[i] = cd;
    this.slotOf[cd] = i;
  }

  private removeSlot(i: number): void {
    const keys = this.keys, ent = this.entry, mask = this.emask;
    ent[i] = -1;
    let hole = i;
    let j = (i + 1) & mask;
    while (ent[j] >= 0) {
      const home = FlowTable.hash(keys, j * KW) & mask;
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        const hb = hole * KW, jb = j * KW;
        for (let w = 0; w < KW; w++) keys[hb + w] = keys[jb + w];
        ent[hole] = ent[j];
        this.slotOf[ent[j]] = hole;
        ent[j] = -1;
        hole = j;
      }
      j = (j + 1) & mask;
    }
  }

  // -------------------------------------------------------------------------------
  // Connections

  /**
   * Create a connection for the scratch key (the original direction) with the reply key
   * given by the original tuple after NAT, reversed. `natOrig` / `natReply` describe the
   * rewrites; call setNat before the first packet is rewritten. Returns the conn index
   * (evicting one when the table is full).
   */
  create(now: number, state: ConnState, genVersion: number): number {
    if (this.freeTop === 0) this.evictOne(now);
    const c = this.free[--this.freeTop];
    const k = this.k;
    this.state[c] = state;
    this.proto[c] = k[9] & 0xff;
    this.family[c] = k[9] >>> 8;
    this.created[c] = now;
    this.gen[c] = genVersion;
    this.spKey[c] = -1;
    this.beKey[c] = -1;
    this.natFlags[c * 2] = 0; this.natFlags[c * 2 + 1] = 0;
    this.packets[c * 2] = 0; this.packets[c * 2 + 1] = 0;
    this.bytes[c * 2] = 0; this.bytes[c * 2 + 1] = 0;
    this.expires[c] = now + this.timeoutFor(c);
    this.slotOf[c * 2 + 1] = -1;
    this.insertKey(k, c * 2);
    this.size++;
    this.inserted++;
    return c;
  }

  /**
   * Insert the reply key of conn c: the original tuple as rewritten by natOrig, reversed.
   * Call after setNat(c, 0, …).
   */
  addReplyKey(c: number): void {
    const k = this.k, r = this.rk, d = c * 2, f = this.natFlags[d];
    // rewritten original: src' = natAddr src if NAT_SRC, dst' likewise
    const src = (f & NAT_SRC) !== 0 ? d * 8 : -1;
    const dst = (f & NAT_DST) !== 0 ? d * 8 + 4 : -1;
    for (let w = 0; w < 4; w++) {
      r[4 + w] = src >= 0 ? this.natAddr[src + w] : k[w];      // reply dst = orig src'
      r[w] = dst >= 0 ? this.natAddr[dst + w] : k[4 + w];      // reply src = orig dst'
    }
    const np = this.natPorts[d];
    const sp = (f & NAT_SRC) !== 0 ? np >>> 16 : k[8] >>> 16;     // s'
    const dp = (f & NAT_DST) !== 0 ? np & 0xffff : k[8] & 0xffff; // d'
    const p = this.proto[c];
    // ICMP echo: the identifier travels both ways in the "source port" word.
    r[8] = p === 1 || p === 58 ? (sp << 16) >>> 0 : ((dp << 16) | sp) >>> 0;
    r[9] = k[9];
    this.insertKey(r, c * 2 + 1);
  }

  /** Rewrite description for direction dir (0 orig, 1 reply) of conn c. */
  setNat(c: number, dir: number, flags: number, srcWords: Uint32Array | null, sport: number, dstWords: Uint32Array | null, dport: number,
    ipDelta: number, l4Delta: number, l4PartialDelta: number): void {
    const d = c * 2 + dir;
    this.natFlags[d] = flags;
    const a = d * 8;
    for (let w = 0; w < 4; w++) {
      this.natAddr[a + w] = srcWords ? srcWords[w] : 0;
      this.natAddr[a + 4 + w] = dstWords ? dstWords[w] : 0;
    }
    this.natPorts[d] = ((sport << 16) | dport) >>> 0;
    this.ipDelta[d] = ipDelta;
    this.l4Delta[d] = l4Delta;
    this.l4PartialDelta[d] = l4PartialDelta;
  }

  timeoutFor(c: number): number {
    const t = this.timeouts;
    const p = this.proto[c];
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
    if (this.proto[c] === 6) {
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

  /** Remove conn c (both entries). */
  remove(c: number): void {
    if (this.state[c] === ConnState.Free) return;
    // The reply entry may be absent if the caller never added it.
    const s0 = this.slotOf[c * 2];
    if (this.entry[s0] === c * 2) this.removeSlot(s0);
    const s1 = this.slotOf[c * 2 + 1];
    if (s1 >= 0 && this.entry[s1] === c * 2 + 1) this.removeSlot(s1);
    this.slotOf[c * 2 + 1] = -1;
    this.state[c] = ConnState.Free;
    this.free[this.freeTop++] = c;
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
   * Make room: scan a bounded window from the reaper cursor; take the first expired or
   * unestablished connection, else the one expiring soonest.
   */
  private evictOne(now: number): void {
    const n = this.capacity;
    let victim = -1, soonest = Infinity;
    for (let i = 0; i < 64; i++) {
      const c = this.reapCursor;
      this.reapCursor = c + 1 === n ? 0 : c + 1;
      const s = this.state[c];
      if (s === ConnState.Free) continue;
      if (now > this.expires[c] || s !== ConnState.Established) { victim = c; break; }
      if (this.expires[c] < soonest) { soonest = this.expires[c]; victim = c; }
    }
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
    const b = this.slotOf[c * 2] * KW;
    for (let w = 0; w < KW; w++) out[w] = this.keys[b + w];
  }

  /** The reply-direction key words of conn c, copied to out (10 words). */
  replyKey(c: number, out: Uint32Array): void {
    const b = this.slotOf[c * 2 + 1] * KW;
    for (let w = 0; w < KW; w++) out[w] = this.keys[b + w];
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
