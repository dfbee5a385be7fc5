/**
 * Session affinity state (Service sessionAffinity: ClientIP): (client address, service port)
 * → backend, with an expiry. Runtime state, not configuration: it survives generation swaps,
 * because both halves of its key and its value are stable ids (service-port key id and
 * backend key id from the shared KeyInterner, see service-table.ts), not per-generation
 * indices. The service table checks on every use that the remembered backend is still in the
 * pool and healthy, so a stale entry can never send traffic to a backend that left.
 *
 * Hand-written on typed arrays like the neighbor table: keys are five u32 words (client
 * address as an IPv6 address, IPv4 as ::ffff:a.b.c.d; the service-port key id), values a
 * backend key id and an expiry time (ms, Float64). Bucketed open addressing: a key lives in
 * one of the PROBE slots after its home slot. Slots are never emptied (except by clear()),
 * only overwritten, so a lookup stops at the first empty slot or after PROBE slots. Insert
 * reuses, in that order, the key's own slot, an empty slot, an expired slot, and otherwise
 * evicts the slot with the earliest expiry in the window (≈ least recently used, because use
 * refreshes the expiry). So the table never grows, never throws, never allocates.
 *
 *   entry i:  keys[i*5 .. i*5+4] = a0 a1 a2 a3 spKey   backend[i]   expires[i]   used[i]
 */

const WORDS = 5;
/** Slots a key may occupy after its home slot (a cache line of keys is ~3 slots). */
const PROBE = 8;

export class AffinityTable {
  readonly capacity: number;
  private readonly mask: number;
  private readonly keys: Uint32Array;
  /** Backend key id per slot. */
  private readonly backend: Int32Array;
  /** Expiry (ms) per slot; meaningful when used[i] = 1. */
  private readonly expires: Float64Array;
  private readonly used: Uint8Array;
  /** Slots holding a live or expired entry (never decreases except on clear()). */
  occupied = 0;
  /** Entries stored into an empty slot, a slot with an expired entry, or by evicting a live one. */
  inserted = 0;
  reusedExpired = 0;
  evicted = 0;

  /** `capacity` entries (rounded up to a power of two, at least 64). */
  constructor(capacity = 65536) {
    let cap = 64;
    while (cap < capacity) cap <<= 1;
    this.capacity = cap;
    this.mask = cap - 1;
    this.keys = new Uint32Array(cap * WORDS);
    this.backend = new Int32Array(cap);
    this.expires = new Float64Array(cap);
    this.used = new Uint8Array(cap);
  }

  private static hash(a0: number, a1: number, a2: number, a3: number, sp: number): number {
    let h = Math.imul(a3 ^ 0x9e3779b9, 0x85ebca6b);
    h = Math.imul(h ^ a2 ^ (h >>> 13), 0xc2b2ae35);
    h = Math.imul(h ^ a1 ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ a0 ^ (h >>> 13), 0xc2b2ae35);
    h = Math.imul(h ^ sp ^ (h >>> 16), 0x85ebca6b);
    return (h ^ (h >>> 13)) >>> 0;
  }

  /** Slot of the live entry for this key, or -1 (absent or expired at `now`). */
  find(a0: number, a1: number, a2: number, a3: number, sp: number, now: number): number {
    const k = this.keys;
    const m = this.mask;
    a0 >>>= 0; a1 >>>= 0; a2 >>>= 0; a3 >>>= 0; sp >>>= 0;
    let i = AffinityTable.hash(a0, a1, a2, a3, sp) & m;
    for (let n = 0; n < PROBE; n++, i = (i + 1) & m) {
      if (this.used[i] === 0) return -1;
      const b = i * WORDS;
      if (k[b + 3] === a3 && k[b + 4] === sp && k[b + 2] === a2 && k[b + 1] === a1 && k[b] === a0) {
        return this.expires[i] > now ? i : -1;
      }
    }
    return -1;
  }

  /** find() for an IPv4 client (a u32). */
  find4(client: number, sp: number, now: number): number {
    return this.find(0, 0, 0xffff, client, sp, now);
  }

  /** find() for the IPv6 client whose 16 bytes are at buf[off..]. */
  find6(buf: Uint8Array, off: number, sp: number, now: number): number {
    return this.find(read32(buf, off), read32(buf, off + 4), read32(buf, off + 8), read32(buf, off + 12), sp, now);
  }

  /** Backend key id of a slot returned by find(). */
  backendAt(slot: number): number {
    return this.backend[slot];
  }

  /** Expiry (ms) of a slot returned by find(). */
  expiresAt(slot: number): number {
    return this.expires[slot];
  }

  /** Extend a slot's life (on use). */
  refresh(slot: number, expires: number): void {
    this.expires[slot] = expires;
  }

  /** Remember (client, sp) → backend until `expires`. Always succeeds (may evict). Returns the slot. */
  set(a0: number, a1: number, a2: number, a3: number, sp: number, backend: number, expires: number, now: number): number {
    const k = this.keys;
    const m = this.mask;
    a0 >>>= 0; a1 >>>= 0; a2 >>>= 0; a3 >>>= 0; sp >>>= 0;
    const home = AffinityTable.hash(a0, a1, a2, a3, sp) & m;
    let target = -1; // first empty / expired slot in the window
    let targetExpired = false;
    let oldest = -1;
    let i = home;
    for (let n = 0; n < PROBE; n++, i = (i + 1) & m) {
      if (this.used[i] === 0) {
        if (target < 0) target = i;
        break; // nothing of this key beyond an empty slot
      }
      const b = i * WORDS;
      if (k[b + 3] === a3 && k[b + 4] === sp && k[b + 2] === a2 && k[b + 1] === a1 && k[b] === a0) {
        this.backend[i] = backend;
        this.expires[i] = expires;
        return i;
      }
      if (target < 0 && this.expires[i] <= now) {
        target = i;
        targetExpired = true;
      }
      if (oldest < 0 || this.expires[i] < this.expires[oldest]) oldest = i;
    }
    if (target < 0) {
      target = oldest;
      this.evicted++;
    } else if (targetExpired) {
      this.reusedExpired++;
    } else {
      this.occupied++;
      this.used[target] = 1;
    }
    this.inserted++;
    const b = target * WORDS;
    k[b] = a0; k[b + 1] = a1; k[b + 2] = a2; k[b + 3] = a3; k[b + 4] = sp;
    this.backend[target] = backend;
    this.expires[target] = expires;
    return target;
  }

  set4(client: number, sp: number, backend: number, expires: number, now: number): number {
    return this.set(0, 0, 0xffff, client, sp, backend, expires, now);
  }

  set6(buf: Uint8Array, off: number, sp: number, backend: number, expires: number, now: number): number {
    return this.set(read32(buf, off), read32(buf, off + 4), read32(buf, off + 8), read32(buf, off + 12), sp, backend, expires, now);
  }

  /** Expire one entry now (its slot stays occupied and is reused first). */
  expire(slot: number): void {
    this.expires[slot] = -Infinity;
  }

  /** Live entries at `now` (a scan; for stats and tests, not the hot path). */
  liveCount(now: number): number {
    let n = 0;
    for (let i = 0; i < this.capacity; i++) if (this.used[i] === 1 && this.expires[i] > now) n++;
    return n;
  }

  clear(): void {
    this.used.fill(0);
    this.occupied = 0;
  }
}

function read32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}
