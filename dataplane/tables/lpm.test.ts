/**
 * Lpm4/Lpm6 against a naive linear longest-prefix match on seeded random route sets,
 * plus the edges: /0, /32, /128, nested prefixes, later-wins duplicates, lookupAt.
 */
import t from 'tap';
import { Lpm4, Lpm4Entry, Lpm6, Lpm6Entry } from './lpm';

/** mulberry32: small seeded PRNG so failures reproduce. */
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

function mask4(addr: number, len: number): number {
  return len === 0 ? 0 : (addr & (0xffffffff << (32 - len))) >>> 0;
}

function naive4(entries: Lpm4Entry[], addr: number): number {
  let best = -1;
  let bestLen = -1;
  entries.forEach((e) => {
    if (mask4(addr, e.len) === mask4(e.addr, e.len) && e.len >= bestLen) {
      best = e.value;
      bestLen = e.len;
    }
  });
  return best;
}

function covers6(e: Lpm6Entry, a: Uint8Array): boolean {
  for (let bit = 0; bit < e.len; bit++) {
    const m = 0x80 >> (bit & 7);
    if ((e.addr[bit >> 3] & m) !== (a[bit >> 3] & m)) return false;
  }
  return true;
}

function naive6(entries: Lpm6Entry[], a: Uint8Array): number {
  let best = -1;
  let bestLen = -1;
  for (const e of entries) {
    if (covers6(e, a) && e.len >= bestLen) {
      best = e.value;
      bestLen = e.len;
    }
  }
  return best;
}

const ip4 = (s: string): number => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);

function v6(words: number[]): Uint8Array {
  const b = new Uint8Array(16);
  words.forEach((w, i) => {
    b[2 * i] = w >> 8;
    b[2 * i + 1] = w & 255;
  });
  return b;
}

t.test('v4 edges: empty, /0, /32, nested', async (t) => {
  t.equal(Lpm4.build([]).lookup(ip4('1.2.3.4')), -1, 'empty table misses');
  const lpm = Lpm4.build([
    { addr: 0, len: 0, value: 1 },
    { addr: ip4('10.0.0.0'), len: 8, value: 2 },
    { addr: ip4('10.1.0.0'), len: 16, value: 3 },
    { addr: ip4('10.1.2.0'), len: 23, value: 4 },
    { addr: ip4('10.1.2.0'), len: 24, value: 5 },
    { addr: ip4('10.1.2.128'), len: 25, value: 6 },
    { addr: ip4('10.1.2.3'), len: 32, value: 7 },
    { addr: ip4('255.255.255.255'), len: 32, value: 8 },
  ]);
  t.equal(lpm.lookup(ip4('192.168.1.1')), 1, '/0 catches everything else');
  t.equal(lpm.lookup(ip4('10.9.9.9')), 2);
  t.equal(lpm.lookup(ip4('10.1.9.9')), 3);
  t.equal(lpm.lookup(ip4('10.1.3.1')), 4, '/23 covers the upper /24');
  t.equal(lpm.lookup(ip4('10.1.2.1')), 5);
  t.equal(lpm.lookup(ip4('10.1.2.200')), 6);
  t.equal(lpm.lookup(ip4('10.1.2.3')), 7, '/32 host route');
  t.equal(lpm.lookup(ip4('10.1.2.4')), 5, 'neighbour of the /32 falls back to the /24');
  t.equal(lpm.lookup(ip4('255.255.255.255')), 8, 'top address');
  t.equal(lpm.lookup(ip4('255.255.255.255') | 0), 8, 'int32 form of the address works too');
  t.equal(lpm.lookup(ip4('255.255.255.254')), 1);
  t.equal(lpm.lookup(0), 1);
  const buf = Uint8Array.from([0, 0, 10, 1, 2, 3, 0]);
  t.equal(lpm.lookupAt(buf, 2), 7, 'lookupAt reads 4 bytes in network order');
});

t.test('v4: host bits beyond len are ignored; same prefix later wins', async (t) => {
  const lpm = Lpm4.build([
    { addr: ip4('10.1.2.3'), len: 16, value: 1 },
    { addr: ip4('10.1.0.0'), len: 16, value: 2 },
    { addr: ip4('10.1.0.0'), len: 17, value: 3 },
  ]);
  t.equal(lpm.lookup(ip4('10.1.200.1')), 2, 'later /16 replaces the earlier one');
  t.equal(lpm.lookup(ip4('10.1.1.1')), 3);
  t.equal(lpm.size, 3);
});

t.test('v4: bad entries throw at build time', async (t) => {
  t.throws(() => Lpm4.build([{ addr: 0, len: 33, value: 0 }]), RangeError);
  t.throws(() => Lpm4.build([{ addr: 0, len: 8, value: -1 }]), RangeError);
  t.throws(() => Lpm4.build([{ addr: 0, len: 8, value: 2 ** 31 }]), RangeError);
  t.throws(() => Lpm4.build([{ addr: 2 ** 32, len: 8, value: 0 }]), RangeError);
});

t.test('v4 randomized against naive LPM', async (t) => {
  for (const seed of [1, 2, 3, 42]) {
    const rnd = prng(seed);
    const entries: Lpm4Entry[] = [];
    // Clustered prefixes so nesting and shared blocks really happen.
    const bases = Array.from({ length: 8 }, () => Math.floor(rnd() * 2 ** 32) >>> 0);
    for (let i = 0; i < 600; i++) {
      const base = bases[Math.floor(rnd() * bases.length)];
      const len = Math.floor(rnd() * 33);
      const noise = Math.floor(rnd() * 2 ** 32) >>> Math.min(31, 8 + Math.floor(rnd() * 24));
      entries.push({ addr: (base ^ noise) >>> 0, len, value: Math.floor(rnd() * 1000) });
    }
    // some exact duplicates with different values (later wins)
    for (let i = 0; i < 20; i++) {
      const e = entries[Math.floor(rnd() * entries.length)];
      entries.push({ addr: e.addr, len: e.len, value: 5000 + i });
    }
    const lpm = Lpm4.build(entries);
    let bad = 0;
    for (let i = 0; i < 20000; i++) {
      const pick = rnd();
      let a: number;
      if (pick < 0.5) a = (entries[Math.floor(rnd() * entries.length)].addr ^ (Math.floor(rnd() * 256) >>> Math.floor(rnd() * 8))) >>> 0;
      else a = Math.floor(rnd() * 2 ** 32) >>> 0;
      const want = naive4(entries, a);
      const have = lpm.lookup(a);
      if (want !== have && bad++ < 5) t.fail(`seed ${seed}: ${a.toString(16)} want ${want} got ${have}`);
    }
    t.equal(bad, 0, `seed ${seed}: 20000 lookups agree with naive LPM`);
  }
});

t.test('v6 edges: ::/0, /128, nested, non-octet lengths', async (t) => {
  t.equal(Lpm6.build([]).lookup(new Uint8Array(16), 0), -1);
  const lpm = Lpm6.build([
    { addr: new Uint8Array(16), len: 0, value: 1 },
    { addr: v6([0xfd00]), len: 8, value: 2 },
    { addr: v6([0xfd00, 0x244]), len: 32, value: 3 },
    { addr: v6([0xfd00, 0x244]), len: 56, value: 4 },
    { addr: v6([0xfd00, 0x244, 0, 0]), len: 64, value: 5 },
    { addr: v6([0xfd00, 0x244, 0, 0, 0, 0, 0, 2]), len: 128, value: 6 },
    { addr: v6([0xfd00, 0x244, 0, 0, 0, 0, 0, 0x80]), len: 121, value: 7 },
    { addr: v6([0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff]), len: 128, value: 8 },
  ]);
  const q = (w: number[]): number => lpm.lookup(v6(w), 0);
  t.equal(q([0x2001, 0xdb8]), 1, '::/0');
  t.equal(q([0xfd12]), 2, '/8');
  t.equal(q([0xfd00, 0x244, 0x100]), 3, '/32');
  t.equal(q([0xfd00, 0x244, 0, 0x00ff]), 4, '/56 (the high byte of the fourth word is inside)');
  t.equal(q([0xfd00, 0x244, 0, 0x0100]), 3, 'just outside the /56');
  t.equal(q([0xfd00, 0x244, 0, 0, 9]), 5, '/64');
  t.equal(q([0xfd00, 0x244, 0, 0, 0, 0, 0, 2]), 6, '/128');
  t.equal(q([0xfd00, 0x244, 0, 0, 0, 0, 0, 3]), 5, 'neighbour of the /128');
  t.equal(q([0xfd00, 0x244, 0, 0, 0, 0, 0, 0xff]), 7, '/121');
  t.equal(q([0xfd00, 0x244, 0, 0, 0, 0, 0, 0x7f]), 5);
  t.equal(q([0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff]), 8);
  const buf = new Uint8Array(40);
  buf.set(v6([0xfd00, 0x244, 0, 0, 0, 0, 0, 2]), 24);
  t.equal(lpm.lookup(buf, 24), 6, 'reads 16 bytes at the offset (IPv6 daddr)');
});

t.test('v6 later entry with the same prefix wins; bad entries throw', async (t) => {
  const lpm = Lpm6.build([
    { addr: v6([0xfd00]), len: 16, value: 1 },
    { addr: v6([0xfd00, 0xffff]), len: 16, value: 2 },
  ]);
  t.equal(lpm.lookup(v6([0xfd00, 1]), 0), 2);
  t.throws(() => Lpm6.build([{ addr: new Uint8Array(16), len: 129, value: 0 }]), RangeError);
  t.throws(() => Lpm6.build([{ addr: new Uint8Array(4), len: 8, value: 0 }]), RangeError);
});

t.test('v6 randomized against naive LPM', async (t) => {
  for (const seed of [7, 8, 9]) {
    const rnd = prng(seed);
    const entries: Lpm6Entry[] = [];
    const bases = Array.from({ length: 6 }, () => Uint8Array.from({ length: 16 }, () => Math.floor(rnd() * 256)));
    for (let i = 0; i < 400; i++) {
      const a = bases[Math.floor(rnd() * bases.length)].slice();
      // flip a few random bytes past a random depth
      const from = Math.floor(rnd() * 16);
      for (let k = from; k < 16; k++) if (rnd() < 0.3) a[k] = Math.floor(rnd() * 256);
      entries.push({ addr: a, len: Math.floor(rnd() * 129), value: Math.floor(rnd() * 1000) });
    }
    for (let i = 0; i < 10; i++) {
      const e = entries[Math.floor(rnd() * entries.length)];
      entries.push({ addr: e.addr, len: e.len, value: 5000 + i });
    }
    const lpm = Lpm6.build(entries);
    let bad = 0;
    for (let i = 0; i < 10000; i++) {
      let a: Uint8Array;
      if (rnd() < 0.6) {
        a = entries[Math.floor(rnd() * entries.length)].addr.slice();
        const k = Math.floor(rnd() * 16);
        a[k] ^= 1 << Math.floor(rnd() * 8);
        if (rnd() < 0.3) a = entries[Math.floor(rnd() * entries.length)].addr.slice();
      } else a = Uint8Array.from({ length: 16 }, () => Math.floor(rnd() * 256));
      const want = naive6(entries, a);
      const have = lpm.lookup(a, 0);
      if (want !== have && bad++ < 5) t.fail(`seed ${seed}: ${Buffer.from(a).toString('hex')} want ${want} got ${have}`);
    }
    t.equal(bad, 0, `seed ${seed}: 10000 lookups agree with naive LPM`);
  }
});

t.test('v6 tables dense with host routes (/128, pods) and later-wins duplicates agree with naive LPM', async (t) => {
  const rnd = prng(42);
  const base = Uint8Array.from([0xfd, 0, 2, 0x44, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const entries: Lpm6Entry[] = [{ addr: base, len: 64, value: 1 }, { addr: new Uint8Array(16), len: 0, value: 2 }];
  const hosts: Uint8Array[] = [];
  for (let i = 0; i < 300; i++) {
    const a = base.slice();
    a[14] = Math.floor(rnd() * 4); a[15] = Math.floor(rnd() * 256);
    hosts.push(a);
    entries.push({ addr: a, len: rnd() < 0.8 ? 128 : 120 + Math.floor(rnd() * 8), value: 100 + i });
  }
  for (let i = 0; i < 20; i++) entries.push({ addr: hosts[Math.floor(rnd() * hosts.length)], len: 128, value: 9000 + i }); // later /128 wins
  const lpm = Lpm6.build(entries);
  let bad = 0;
  for (let i = 0; i < 20000; i++) {
    const a = rnd() < 0.7 ? hosts[Math.floor(rnd() * hosts.length)].slice() : base.slice();
    if (rnd() < 0.3) { a[15] ^= 1 << Math.floor(rnd() * 8); }
    if (rnd() < 0.1) a[3] ^= 0x10; // outside the /64: only ::/0
    const buf = new Uint8Array(40); buf.set(a, 7); // at an offset, as in a packet
    const want = naive6(entries, a), have = lpm.lookup(buf, 7);
    if (want !== have && bad++ < 5) t.fail(`${Buffer.from(a).toString('hex')} want ${want} got ${have}`);
  }
  t.equal(bad, 0, '20000 lookups agree with naive LPM');
});
