/**
 * AffinityTable: set/find for IPv4 and IPv6 clients, expiry and refresh on a fake clock,
 * reuse of expired slots, eviction of the oldest entry when a probe window is full, and a
 * flood far beyond capacity that must never throw and keep the newest entries findable.
 */
import t from 'tap';
import { AffinityTable } from './affinity-table';

t.test('IPv4 and IPv6 clients, per service port', async (t) => {
  const a = new AffinityTable(128);
  t.equal(a.capacity, 128);
  t.equal(a.find4(0x0a000001, 7, 0), -1);
  a.set4(0x0a000001, 7, 42, 1000, 0);
  const s = a.find4(0x0a000001, 7, 10);
  t.ok(s >= 0);
  t.equal(a.backendAt(s), 42);
  t.equal(a.find4(0x0a000001, 8, 10), -1, 'other service port');
  t.equal(a.find4(0x0a000002, 7, 10), -1, 'other client');
  const v6 = new Uint8Array(20);
  v6.set([0xfd, 0, 0, 0x44], 4);
  v6[19] = 9;
  a.set6(v6, 4, 7, 43, 1000, 0);
  t.equal(a.backendAt(a.find6(v6, 4, 7, 10)), 43);
  const mapped = new Uint8Array(16);
  mapped.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]);
  t.equal(a.backendAt(a.find6(mapped, 0, 7, 10)), 42, 'IPv4 is stored as ::ffff:a.b.c.d');
  a.set4(0x0a000001, 7, 44, 2000, 20);
  t.equal(a.backendAt(a.find4(0x0a000001, 7, 30)), 44, 'set overwrites');
  t.equal(a.occupied, 2);
});

t.test('expiry and refresh (fake clock)', async (t) => {
  const a = new AffinityTable(64);
  a.set4(1, 1, 5, 10_000, 0);
  t.ok(a.find4(1, 1, 9_999) >= 0);
  t.equal(a.find4(1, 1, 10_000), -1, 'expired at its expiry time');
  a.set4(2, 1, 6, 10_000, 0);
  const s = a.find4(2, 1, 5_000);
  a.refresh(s, 15_000);
  t.ok(a.find4(2, 1, 14_000) >= 0, 'refreshed');
  t.equal(a.expiresAt(s), 15_000);
  a.expire(s);
  t.equal(a.find4(2, 1, 14_000), -1, 'expire()');
  t.equal(a.liveCount(0), 1);
  a.set4(3, 1, 7, 20_000, 16_000);
  t.ok(a.reusedExpired >= 0);
  a.clear();
  t.equal(a.find4(3, 1, 16_000), -1);
  t.equal(a.occupied, 0);
});

t.test('full window: expired slots reused first, else the oldest evicted; never throws', async (t) => {
  const a = new AffinityTable(64);
  const now = 1_000;
  // Flood: 10,000 clients into 64 slots, increasing expiry.
  for (let i = 0; i < 10_000; i++) a.set4(0x0a000000 + i, 1, i, now + 1_000 + i, now);
  t.equal(a.occupied, 64, 'bounded');
  t.ok(a.evicted > 9_000, `evicted ${a.evicted}`);
  t.equal(a.backendAt(a.find4(0x0a000000 + 9_999, 1, now)), 9_999, 'the newest entry is findable');
  let found = 0;
  for (let i = 9_900; i < 10_000; i++) if (a.find4(0x0a000000 + i, 1, now) >= 0) found++;
  t.ok(found >= 40, `recent entries mostly kept (${found}/100)`);
  // Everything expired: new entries take expired slots, no eviction.
  const ev = a.evicted;
  for (let i = 0; i < 32; i++) a.set4(0x0b000000 + i, 2, i, 1e9, 1e8);
  t.equal(a.evicted, ev, 'expired slots reused, nothing live evicted');
  t.ok(a.reusedExpired >= 32);
  for (let i = 0; i < 32; i++) t.equal(a.backendAt(a.find4(0x0b000000 + i, 2, 1e8)), i);
});
