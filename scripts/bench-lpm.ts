/**
 * ns per lookup of Lpm4/Lpm6 for 10, 1k and 100k routes.
 *
 *   npx tsc -p tsconfig.json && node dist/scripts/bench-lpm.js
 *
 * Route sets are seeded and shaped like real tables: v4 mostly /16../24 with some /32 hosts,
 * v6 like an Internet table: 16 allocations (/32), under them mostly /48, some /56 and /64,
 * and /128 host routes inside a few pod /64s. Destinations are half inside routed prefixes,
 * half random.
 *
 * `--sparse` adds the stride-8 trie's worst case: 100k v6 prefixes /32../64 whose bytes past
 * the first two are random, so almost no child block is shared (~3 KiB per route; ~300 MiB). Lookups go through a pre-generated destination array so the loop
 * measures the lookup, not the address generator.
 */
import { Lpm4, Lpm4Entry, Lpm6, Lpm6Entry } from '../dataplane/tables/lpm';

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const DESTS = 1 << 16;
const LOOKUPS = 20_000_000;

function v4Len(r: number): number {
  if (r < 0.05) return 32;
  if (r < 0.6) return 24;
  return 8 + Math.floor(((r - 0.6) / 0.4) * 16); // 8..23
}

function v6Len(r: number, sparse: boolean): number {
  if (sparse) return 32 + Math.floor(r * 33); // 32..64
  if (r < 0.05) return 128;
  if (r < 0.15) return 64;
  if (r < 0.3) return 56;
  return 48;
}

function bench4(n: number): { ns: number; bytes: number; buildMs: number } {
  const rnd = prng(n);
  const entries: Lpm4Entry[] = [{ addr: 0, len: 0, value: 0 }];
  for (let i = 1; i < n; i++) entries.push({ addr: Math.floor(rnd() * 2 ** 32) >>> 0, len: v4Len(rnd()), value: i });
  const t0 = process.hrtime.bigint();
  const lpm = Lpm4.build(entries);
  const buildMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const dst = new Uint32Array(DESTS);
  for (let i = 0; i < DESTS; i++) {
    dst[i] = rnd() < 0.5 ? (entries[Math.floor(rnd() * n)].addr ^ Math.floor(rnd() * 256)) >>> 0 : Math.floor(rnd() * 2 ** 32) >>> 0;
  }
  let sink = 0;
  for (let i = 0; i < 1_000_000; i++) sink += lpm.lookup(dst[i & (DESTS - 1)]); // warm-up
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < LOOKUPS; i++) sink += lpm.lookup(dst[i & (DESTS - 1)]);
  const ns = Number(process.hrtime.bigint() - t1) / LOOKUPS;
  if (sink === -1) console.log('');
  return { ns, bytes: lpm.byteLength, buildMs };
}

function bench6(n: number, sparse = false): { ns: number; bytes: number; buildMs: number } {
  const rnd = prng(n + 1);
  const byte = (): number => Math.floor(rnd() * 256);
  const allocs = Array.from({ length: 16 }, () => [0x20 | Math.floor(rnd() * 16), byte(), byte(), byte()]);
  const podNets = Array.from({ length: 4 }, () => Uint8Array.from({ length: 8 }, byte));
  const entries: Lpm6Entry[] = [{ addr: new Uint8Array(16), len: 0, value: 0 }];
  for (let i = 1; i < n; i++) {
    const a = Uint8Array.from({ length: 16 }, byte);
    const len = v6Len(rnd(), sparse);
    if (sparse) a[0] = 0x20 | (a[0] & 15);
    else if (len === 128) a.set(podNets[Math.floor(rnd() * podNets.length)], 0);
    else a.set(allocs[Math.floor(rnd() * allocs.length)], 0);
    entries.push({ addr: a, len, value: i });
  }
  const t0 = process.hrtime.bigint();
  const lpm = Lpm6.build(entries);
  const buildMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const slab = new Uint8Array(DESTS * 16);
  for (let i = 0; i < DESTS; i++) {
    if (rnd() < 0.5) {
      slab.set(entries[Math.floor(rnd() * n)].addr, i * 16);
      slab[i * 16 + 15] ^= Math.floor(rnd() * 256);
    } else for (let k = 0; k < 16; k++) slab[i * 16 + k] = Math.floor(rnd() * 256);
  }
  let sink = 0;
  for (let i = 0; i < 1_000_000; i++) sink += lpm.lookup(slab, (i & (DESTS - 1)) << 4);
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < LOOKUPS; i++) sink += lpm.lookup(slab, (i & (DESTS - 1)) << 4);
  const ns = Number(process.hrtime.bigint() - t1) / LOOKUPS;
  if (sink === -1) console.log('');
  return { ns, bytes: lpm.byteLength, buildMs };
}

function main(): void {
  console.log('family  routes   ns/lookup   table      build');
  const runs: [string, (n: number) => { ns: number; bytes: number; buildMs: number }, number[]][] = [
    ['v4', bench4, [10, 1000, 100_000]],
    ['v6', (n) => bench6(n), [10, 1000, 100_000]],
  ];
  if (process.argv.includes('--sparse')) runs.push(['v6/sp', (n) => bench6(n, true), [100_000]]);
  for (const [fam, fn, sizes] of runs) {
    for (const n of sizes) {
      const r = fn(n);
      console.log(
        `${fam.padEnd(6)}  ${String(n).padStart(6)}   ${r.ns.toFixed(2).padStart(9)}   ${(r.bytes / 1024 / 1024).toFixed(2).padStart(6)} MiB  ${r.buildMs.toFixed(1).padStart(6)} ms`,
      );
    }
  }
}

main();
