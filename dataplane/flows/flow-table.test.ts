import t from 'tap';
import { ConnState, FlowTable, MAX_FLOW_CAPACITY, NAT_DST, NAT_SRC } from './flow-table';
import { setRewrite } from './nat';

const v4 = (a: number) => new Uint32Array([0, 0, 0xffff, a >>> 0]);
const ports = (s: number, d: number) => ((s << 16) | d) >>> 0;

/** Create a connection with its reply key, as the forwarder does (no NAT unless given). */
function conn(ft: FlowTable, now: number, proto: number, src: number, dst: number, sp: number, dp: number,
  nat?: { src?: number; sport?: number; dst?: number; dport?: number }): number {
  ft.key4(proto, src, dst, sp, dp);
  const c = ft.create(now, ConnState.New, 1);
  const nSrc = v4(nat?.src ?? src), nDst = v4(nat?.dst ?? dst), nSp = nat?.sport ?? sp, nDp = nat?.dport ?? dp;
  ft.addReplyKey(c, nDst, nSrc, ports(nDp, nSp));
  const f = (nat?.src !== undefined ? NAT_SRC : 0) | (nat?.dst !== undefined ? NAT_DST : 0);
  const rf = ((f & NAT_DST) ? NAT_SRC : 0) | ((f & NAT_SRC) ? NAT_DST : 0);
  setRewrite(ft, c, 0, 4, proto, f, v4(src), v4(dst), sp, dp, nSrc, nDst, nSp, nDp);
  setRewrite(ft, c, 1, 4, proto, rf, nDst, nSrc, nDp, nSp, v4(dst), v4(src), dp, sp);
  return c;
}

t.test('both directions are found; the rewrite is the other direction reversed', (t) => {
  const ft = new FlowTable(64);
  const c = conn(ft, 0, 6, 0x0a000001, 0x0a600064, 40000, 80, { dst: 0x0a010005, dport: 8080, src: 0x0a000004, sport: 1234 });
  ft.key4(6, 0x0a000001, 0x0a600064, 40000, 80);
  t.equal(ft.lookup(0), c * 2, 'original direction');
  ft.key4(6, 0x0a010005, 0x0a000004, 8080, 1234);
  t.equal(ft.lookup(0), c * 2 + 1, 'reply direction');
  ft.key4(17, 0x0a000001, 0x0a600064, 40000, 80);
  t.equal(ft.lookup(0), -1, 'another protocol misses');
  const k = new Uint32Array(10);
  ft.rewrittenKey(c * 2, k);
  t.same([k[3], k[7], k[8] >>> 16, k[8] & 0xffff], [0x0a000004, 0x0a010005, 1234, 8080], 'original leaves SNATed and DNATed');
  ft.rewrittenKey(c * 2 + 1, k);
  t.same([k[3], k[7], k[8] >>> 16, k[8] & 0xffff], [0x0a600064, 0x0a000001, 80, 40000], 'reply leaves as the VIP, to the client');
  ft.origKey(c, k);
  t.same(Array.from(k), [0, 0, 0xffff, 0x0a000001, 0, 0, 0xffff, 0x0a600064, ports(40000, 80), (4 << 8) | 6]);
  t.equal(ft.proto(c), 6);
  t.equal(ft.family(c), 4);
  t.end();
});

t.test('IPv6 connections keep whole addresses and live below capacity6', (t) => {
  const ft = new FlowTable(16, {}, 4);
  const a = Uint8Array.from([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  const b = Uint8Array.from([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
  const buf = new Uint8Array(32); buf.set(a, 0); buf.set(b, 16);
  const made: number[] = [];
  for (let i = 0; i < 6; i++) {
    ft.key6(17, buf, 0, 16, 1000 + i, 53);
    const c = ft.create(0, ConnState.New, 1);
    made.push(c);
    t.ok(c < 4, `IPv6 connection ${c} in the IPv6 range`);
  }
  t.equal(ft.size, 4, 'the IPv6 range holds 4; two were evicted');
  t.equal(ft.evicted, 2);
  ft.key6(17, buf, 0, 16, 1005, 53);
  t.ok(ft.lookup(0) >= 0, 'the newest is found');
  // Same low 32 bits, different upper bits: must not match.
  const c2 = Uint8Array.from(b); c2[0] = 0xfe;
  buf.set(c2, 16);
  ft.key6(17, buf, 0, 16, 1005, 53);
  t.equal(ft.lookup(0), -1, 'an address differing only in its upper 96 bits misses');
  // IPv4 connections fill the rest first, then the IPv6 range.
  const v4c: number[] = [];
  for (let i = 0; i < 12; i++) v4c.push(conn(ft, 0, 6, 0x0a000001, 0x0a000002, 2000 + i, 80));
  t.ok(v4c.every((c) => c >= 4), 'IPv4 connections use the rest of the table first');
  t.equal(ft.size, 16);
  t.end();
});

t.test('random inserts and removals agree with a model (backward-shift deletion under collisions)', (t) => {
  const ft = new FlowTable(512, {}, 64);
  const model = new Map<string, number>(); // key → conn
  let seed = 12345;
  const rnd = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
  const live: number[] = [];
  let mismatches = 0;
  for (let step = 0; step < 20000; step++) {
    if (live.length < 400 && rnd(3) !== 0) {
      const src = 0x0a000000 + rnd(8), sp = 1024 + rnd(64);
      const key = `${src}:${sp}`;
      if (model.has(key)) continue;
      const c = conn(ft, 0, 17, src, 0x0a600001, sp, 53, { dst: 0x0a010000 + rnd(4), dport: 5353 });
      model.set(key, c);
      live.push(c);
    } else if (live.length > 0) {
      const i = rnd(live.length), c = live[i];
      live[i] = live[live.length - 1]; live.pop();
      const k = new Uint32Array(10); ft.origKey(c, k);
      model.delete(`${k[3]}:${k[8] >>> 16}`);
      ft.remove(c);
    }
    if (step % 500 === 0) {
      for (const [key, c] of model) {
        const [src, sp] = key.split(':').map(Number);
        ft.key4(17, src, 0x0a600001, sp, 53);
        if (ft.lookup(0) !== c * 2) mismatches++;
        const k = new Uint32Array(10); ft.replyKey(c, k);
        ft.key4(17, k[3], k[7], k[8] >>> 16, k[8] & 0xffff);
        if (ft.lookup(0) !== c * 2 + 1) mismatches++;
      }
    }
  }
  t.equal(mismatches, 0, 'every live connection is found in both directions');
  t.equal(ft.size, model.size);
  t.end();
});

t.test('expiry on lookup, the reaper, and eviction preferring unestablished connections', (t) => {
  const ft = new FlowTable(4, { udp: 1000 }, 1);
  const a = conn(ft, 0, 17, 1, 2, 10, 20);
  ft.key4(17, 1, 2, 10, 20);
  t.equal(ft.lookup(999), a * 2);
  t.equal(ft.lookup(1001), -1, 'expired');
  t.equal(ft.expired, 1);
  const est: number[] = [];
  for (let i = 0; i < 3; i++) { const c = conn(ft, 0, 6, 1, 2, 100 + i, 80); ft.state[c] = ConnState.Established; est.push(c); }
  conn(ft, 0, 6, 1, 2, 200, 80); // New
  conn(ft, 0, 6, 1, 2, 201, 80); // full: evicts the unestablished one
  t.equal(ft.evicted, 1);
  for (let i = 0; i < 3; i++) { ft.key4(6, 1, 2, 100 + i, 80); t.ok(ft.lookup(1) >= 0, `established ${i} kept`); }
  t.equal(ft.reap(10 ** 12), 4, 'the reaper removes every expired connection');
  t.equal(ft.size, 0);
  t.end();
});

t.test('bad sizes are refused', (t) => {
  t.throws(() => new FlowTable(0), RangeError);
  t.throws(() => new FlowTable(MAX_FLOW_CAPACITY + 1), RangeError);
  t.throws(() => new FlowTable(8, {}, 9), RangeError);
  t.throws(() => new FlowTable(8, {}, 0), RangeError, 'an IPv6 range of at least one connection (a dual-stack packet must never find none)');
  t.end();
});

t.test('1M connections fit in 128 MiB', (t) => {
  const ft = new FlowTable(1_000_000);
  const mib = ft.memoryBytes / 2 ** 20;
  t.ok(mib <= 128, `1M connections (250k of them IPv6-capable): ${mib.toFixed(1)} MiB, ${ft.bytesPerConnection.toFixed(1)} B each`);
  t.end();
});
