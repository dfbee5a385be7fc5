/**
 * Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network
 * Load Balancer", NSDI 2016, section 3.4) — the backend choice of every new service flow.
 *
 * A lookup table of M entries (M prime) maps `hash(flow) % M` to a backend. Each backend i has
 * a preference list, a permutation of 0..M-1:
 *
 *   offset_i = h1(key_i) mod M,   skip_i = h2(key_i) mod (M − 1) + 1
 *   permutation_i[j] = (offset_i + j × skip_i) mod M          (a full cycle because M is prime)
 *
 * Population goes round-robin over the backends; each takes the next entry of its preference
 * list that is still free, until the table is full. Every backend gets ⌊M/N⌋ or ⌈M/N⌉
 * entries (even spread), and because preference lists depend only on the backend's own key,
 * removing one backend mostly moves only its own entries. Not exactly: the round-robin
 * cascades, so some entries of the remaining backends move too — measured here (maglev.test)
 * ≈ 2.5 % of the table for 10 backends (M = 1021), 1.1 % for 200, 0.5 % for 1000; the paper
 * reports the same behaviour. Established flows are unaffected (the flow table pins them);
 * this only changes where a *new* flow with a moved hash goes.
 *
 * Properties this file guarantees (maglev.test.ts checks them):
 * - Deterministic and independent of input order: keys are sorted (by code unit) before the
 *   round-robin, so only the set of keys matters. Returned values are indices into the array
 *   the caller passed. A duplicated key gets entries only at its first index.
 * - Table sizes come from MAGLEV_SIZES, primes just below powers of two (≥ 251). A pool keeps
 *   its size while its backend count moves inside one doubling (e.g. 6..10 backends → 1021),
 *   so adding or removing a backend does not change M — which would reshuffle everything.
 *   `maglevSize(n)` is the smallest listed prime ≥ max(251, 100 n).
 *
 * Hashes are 32-bit FNV-1a over UTF-16 code units with two different seeds, each finished with
 * the murmur3 fmix32 avalanche; no allocation besides the result and the build's scratch.
 */

/** Primes just below powers of two, 2^8 .. 2^26: the table sizes Maglev pools may have. */
export const MAGLEV_SIZES: readonly number[] = [
  251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071, 262139, 524287, 1048573, 2097143, 4194301, 8388593,
  16777213, 33554393, 67108859,
];

/** Entries per backend the table size aims for (the paper's M ≫ N; 100 keeps churn ≲ 1 %). */
export const MAGLEV_ENTRIES_PER_BACKEND = 100;

/** The table size for `backends` backends: smallest MAGLEV_SIZES prime ≥ max(251, 100 × backends). */
export function maglevSize(backends: number): number {
  const want = Math.max(MAGLEV_SIZES[0], backends * MAGLEV_ENTRIES_PER_BACKEND);
  for (const p of MAGLEV_SIZES) if (p >= want) return p;
  return MAGLEV_SIZES[MAGLEV_SIZES.length - 1];
}

/** murmur3 fmix32. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32-bit FNV-1a over the string's UTF-16 code units from `seed`, avalanched. */
export function hashString(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

const SEED_OFFSET = 0x5bd1e995;
const SEED_SKIP = 0x27d4eb2f;

/**
 * Fill `out[off .. off+size)` with positions 0..keys.length-1 into `keys` (already in the
 * order that defines the result — callers sort) by Maglev population. `size` must be prime
 * and > keys.length; with no keys the range is filled with -1.
 */
export function populateMaglev(keys: readonly string[], size: number, out: Int32Array, off: number): void {
  const n = keys.length;
  out.fill(-1, off, off + size);
  if (n === 0) return;
  const next = new Int32Array(n); // current position in each backend's permutation
  const skip = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    next[i] = hashString(keys[i], SEED_OFFSET) % size;
    skip[i] = (hashString(keys[i], SEED_SKIP) % (size - 1)) + 1;
  }
  // Taken entries as a bitset: M/8 bytes stay in cache while the walks probe random entries
  // (a 1M-entry table: 128 KiB of bits instead of 4 MiB of entries).
  const taken = new Int32Array((size + 31) >>> 5);
  let filled = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      let c = next[i];
      const s = skip[i];
      while ((taken[c >>> 5] & (1 << (c & 31))) !== 0) {
        c += s;
        if (c >= size) c -= size;
      }
      taken[c >>> 5] |= 1 << (c & 31);
      out[off + c] = i;
      c += s;
      if (c >= size) c -= size;
      next[i] = c;
      if (++filled === size) return;
    }
  }
}

/**
 * The Maglev lookup table for `backendKeys` (stable ids such as "10.244.0.2:8080/TCP"):
 * entry → index into backendKeys, or -1 everywhere when there are none. `size` must be a prime
 * greater than the number of distinct keys (use maglevSize()); it is not checked for primality
 * beyond membership in MAGLEV_SIZES or a trial division when it is not listed.
 */
export function buildMaglev(backendKeys: readonly string[], size: number): Int32Array {
  if (!Number.isInteger(size) || size < 2 || !isPrime(size)) throw new RangeError(`Maglev table size must be a prime, got ${size}`);
  // Distinct keys, sorted, each remembering its first index in the caller's array.
  const first = new Map<string, number>();
  backendKeys.forEach((k, i) => {
    if (!first.has(k)) first.set(k, i);
  });
  const sorted = [...first.keys()].sort(compareCodeUnits);
  if (sorted.length >= size) throw new RangeError(`Maglev table size ${size} must exceed the backend count ${sorted.length}`);
  const table = new Int32Array(size);
  populateMaglev(sorted, size, table, 0);
  const toInput = Int32Array.from(sorted, (k) => first.get(k) as number);
  for (let i = 0; i < size; i++) if (table[i] >= 0) table[i] = toInput[table[i]];
  return table;
}

/** Plain code-unit order (what Array.prototype.sort does without a comparator), locale-free. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isPrime(n: number): boolean {
  if (MAGLEV_SIZES.includes(n)) return true;
  if (n < 4) return n >= 2;
  if (n % 2 === 0) return false;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}
