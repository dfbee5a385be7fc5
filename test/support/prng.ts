/** Seeded PRNG (mulberry32) for fuzzers and benchmarks: same seed, same run. */
export class Prng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  /** Uniform u32. */
  u32(): number {
    let z = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return (z ^ (z >>> 14)) >>> 0;
  }
  /** Integer in [0, n). */
  int(n: number): number { return this.u32() % n; }
  /** True with probability p. */
  chance(p: number): boolean { return this.u32() / 4294967296 < p; }
}
