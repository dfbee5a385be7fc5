/**
 * MemoryPort: ring semantics (full ring = counted drop, slots reused, never grows),
 * vnet header handling, tx capture / sink, loop mode, and readiness scheduling.
 */
import t from 'tap';
import { MemoryPort } from './memory-port';
import { SLOT_SIZE_GSO, SLOT_SIZE_PLAIN, VNET_HDR_LEN } from './port';

function frame(len: number, tag: number): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (tag + i) & 0xff;
  return f;
}

function rxFrames(p: MemoryPort): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < p.rx.count; i++) {
    out.push(p.rx.slab.slice(p.rx.offsets[i], p.rx.offsets[i] + p.rx.lengths[i]));
  }
  return out;
}

t.test('inject copies into slots; receive hands them out in place, in order, in batches', async (t) => {
  const p = new MemoryPort({ batch: 4, ringSize: 8, notify: 'manual' });
  t.equal(p.slotSize, SLOT_SIZE_PLAIN);
  t.equal(p.rx.slab.length, 8 * SLOT_SIZE_PLAIN, 'slab = ringSize * slotSize');
  const src = [frame(60, 1), frame(1514, 2), frame(42, 3), frame(100, 4), frame(64, 5), frame(9000, 6)];
  for (const f of src) t.ok(p.inject(f));
  src[0].fill(0xee); // the port holds a copy
  t.equal(p.receive(), 4);
  const got = rxFrames(p);
  t.same(got.slice(1), src.slice(1, 4));
  t.same(got[0], frame(60, 1));
  for (let i = 0; i < 4; i++) t.equal(p.rx.offsets[i] % SLOT_SIZE_PLAIN, VNET_HDR_LEN, 'headroom before every frame');
  t.equal(p.receive(), 2);
  t.same(rxFrames(p), src.slice(4));
  t.equal(p.receive(), 0);
  t.equal(p.counters.rxPackets, 6);
  t.equal(p.counters.rxBytes, 60 + 1514 + 42 + 100 + 64 + 9000);
});

t.test('inject(slab, off, len) takes a frame out of a larger buffer', async (t) => {
  const p = new MemoryPort({ notify: 'manual' });
  const slab = frame(200, 9);
  t.ok(p.inject(slab, 50, 70));
  t.equal(p.receive(), 1);
  t.same(rxFrames(p)[0], slab.subarray(50, 120));
  t.notOk(p.inject(slab, 150, 70), 'past the end of the source: refused');
  t.equal(p.rxTooBig, 1);
});

t.test('ring full: inject drops and counts, never grows; slots of the last batch stay reserved', async (t) => {
  const p = new MemoryPort({ batch: 4, ringSize: 4, notify: 'manual' });
  const slabBefore = p.rx.slab;
  for (let i = 0; i < 4; i++) t.ok(p.inject(frame(64, i)));
  t.notOk(p.inject(frame(64, 99)), '5th frame refused');
  t.notOk(p.inject(frame(64, 98)));
  t.equal(p.rxRingFull, 2);
  t.equal(p.receive(), 4);
  // The 4 frames just handed out are still being read: still full.
  t.notOk(p.inject(frame(64, 97)));
  t.equal(p.rxRingFull, 3);
  const first = rxFrames(p);
  t.same(first, [0, 1, 2, 3].map((i) => frame(64, i)), 'batch not overwritten by refused injects');
  t.equal(p.receive(), 0, 'releases the batch');
  for (let i = 0; i < 4; i++) t.ok(p.inject(frame(64, 10 + i)), 'slots reused after release');
  t.equal(p.receive(), 4);
  t.same(rxFrames(p), [0, 1, 2, 3].map((i) => frame(64, 10 + i)));
  t.equal(p.rx.slab, slabBefore, 'same slab: the ring never grows');
  t.equal(p.counters.rxPackets, 8);
});

t.test('frames longer than a slot are dropped and counted', async (t) => {
  const p = new MemoryPort({ slotSize: 128, ringSize: 2, notify: 'manual' });
  t.ok(p.inject(frame(128 - VNET_HDR_LEN, 1)));
  t.notOk(p.inject(frame(128 - VNET_HDR_LEN + 1, 1)));
  t.equal(p.rxTooBig, 1);
  t.throws(() => new MemoryPort({ ringSize: 3 }), RangeError, 'ring must be a power of two');
});

t.test('vnetHdr: headroom carries the given header, or zeros', async (t) => {
  const p = new MemoryPort({ vnetHdr: true, notify: 'manual' });
  t.equal(p.slotSize, SLOT_SIZE_GSO);
  const hdr = Uint8Array.from([1, 4, 0x36, 0, 0xa8, 0x05, 0x22, 0, 0x10, 0]);
  p.inject(frame(60, 1), hdr);
  const dirty = frame(80, 2);
  p.inject(dirty);
  t.equal(p.receive(), 2);
  const { slab, offsets } = p.rx;
  t.same(slab.subarray(offsets[0] - VNET_HDR_LEN, offsets[0]), hdr);
  t.same(slab.subarray(offsets[1] - VNET_HDR_LEN, offsets[1]), new Uint8Array(VNET_HDR_LEN));
});

t.test('injectBatch feeds one port from another port-shaped batch, headers included', async (t) => {
  const a = new MemoryPort({ vnetHdr: true, notify: 'manual' });
  const b = new MemoryPort({ vnetHdr: true, notify: 'manual' });
  const hdr = Uint8Array.from([1, 0, 0, 0, 0, 0, 34, 0, 16, 0]);
  a.inject(frame(70, 3), hdr);
  a.inject(frame(90, 4));
  a.receive();
  t.equal(b.injectBatch(a.rx.slab, a.rx.offsets, a.rx.lengths, a.rx.count, true), 2);
  b.receive();
  t.same(rxFrames(b), [frame(70, 3), frame(90, 4)]);
  t.same(b.rx.slab.subarray(b.rx.offsets[0] - VNET_HDR_LEN, b.rx.offsets[0]), hdr);
});

t.test('tx capture keeps copies; a full capture ring refuses like a full queue', async (t) => {
  const p = new MemoryPort({ captureSize: 4, notify: 'manual' });
  const slab = new Uint8Array(4096);
  slab.set(frame(60, 1), 100);
  slab.set(frame(70, 2), 1000);
  const offsets = Uint32Array.of(100, 1000, 100, 1000, 100, 1000);
  const lengths = Uint32Array.of(60, 70, 60, 70, 60, 70);
  t.equal(p.send(slab, offsets, lengths, 2, false), 2);
  slab.fill(0); // captured frames are copies
  t.same(p.drainSent(), [frame(60, 1), frame(70, 2)]);
  t.same(p.drainSent(), [], 'drained');
  t.equal(p.send(slab, offsets, lengths, 6, false), 4, 'only 4 fit the capture ring');
  t.equal(p.counters.txErrors, 2);
  t.equal(p.counters.txPackets, 6);
  t.equal(p.counters.txBytes, 60 + 70 + 60 + 70 + 60 + 70);
  t.equal(p.sentPending, 4);
  t.equal(p.drainSent().length, 4);
  t.equal(p.send(slab, offsets, lengths, 1, false), 1, 'room again after drain');
});

t.test('tx capture on a vnetHdr port records the header (zeros when the caller had none)', async (t) => {
  const p = new MemoryPort({ vnetHdr: true, ringSize: 2, notify: 'manual' });
  const slab = new Uint8Array(256);
  const hdr = Uint8Array.from([1, 1, 0x36, 0, 0xa8, 5, 34, 0, 16, 0]);
  slab.set(hdr, 20);
  slab.set(frame(64, 7), 30);
  t.equal(p.send(slab, Uint32Array.of(30, 30), Uint32Array.of(64, 64), 2, false), 1 + 1);
  t.equal(p.send(slab, Uint32Array.of(30), Uint32Array.of(64), 1, true), 1);
  const sent = p.drainSentFrames();
  t.same(sent[0].vnetHdr, new Uint8Array(VNET_HDR_LEN));
  t.same(sent[2].vnetHdr, hdr);
  t.same(sent[2].frame, frame(64, 7));
});

t.test('sink mode counts without capturing', async (t) => {
  const p = new MemoryPort({ tx: 'sink', notify: 'manual' });
  const slab = new Uint8Array(2048);
  const offsets = Uint32Array.of(10, 600);
  const lengths = Uint32Array.of(500, 1000);
  let sent = 0;
  for (let i = 0; i < 1000; i++) sent += p.send(slab, offsets, lengths, 2, false);
  t.equal(sent, 2000);
  t.equal(p.counters.txPackets, 2000);
  t.equal(p.counters.txBytes, 1500 * 1000);
  t.same(p.drainSent(), []);
});

t.test('loop mode re-presents the same frames without copying; refill restores bytes', async (t) => {
  const p = new MemoryPort({ batch: 4, notify: 'manual' });
  const frames = [frame(60, 1), frame(1514, 2), frame(42, 3)];
  p.loop(frames);
  for (let round = 0; round < 3; round++) {
    t.equal(p.receive(), 3);
    t.same(rxFrames(p), frames);
  }
  const off0 = p.rx.offsets[0];
  t.equal(off0 % 64, VNET_HDR_LEN, 'packed at 64-byte alignment after the headroom');
  // A pipeline rewriting in place (TTL--) and moving an offset into the headroom.
  p.rx.slab[off0] = 0;
  p.rx.offsets[1] -= 4;
  t.equal(p.receive(), 3);
  t.equal(p.rx.offsets[1] - p.rx.offsets[0] > 0, true, 'offsets reset every receive');
  t.equal(p.rx.slab[off0], 0, 'bytes not restored without refill()');
  p.refill();
  t.same(rxFrames(p), frames, 'refill() restored the bytes');
  t.equal(p.counters.rxPackets, 12);
  p.stopLoop();
  t.equal(p.receive(), 0, 'ring empty after leaving loop mode');
});

t.test('loop mode with more frames than a batch cycles through them', async (t) => {
  const p = new MemoryPort({ batch: 4, notify: 'manual' });
  const frames = Array.from({ length: 6 }, (_, i) => frame(60 + i, i));
  p.loop(frames, { restore: true });
  const seen: Uint8Array[] = [];
  for (let i = 0; i < 3; i++) {
    t.equal(p.receive(), 4);
    seen.push(...rxFrames(p));
  }
  t.same(seen, [...frames, ...frames]);
  t.notOk(p.inject(frame(60, 0)), 'inject refused while looping');
});

t.test('loop mode drives millions of frames per second without allocating', async (t) => {
  const p = new MemoryPort({ batch: 64, tx: 'sink', notify: 'manual' });
  p.loop(Array.from({ length: 64 }, (_, i) => frame(64, i)));
  const start = process.hrtime.bigint();
  let frames = 0;
  while (frames < 5_000_000) {
    const n = p.receive();
    frames += p.send(p.rx.slab, p.rx.offsets, p.rx.lengths, n, false);
  }
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  const mpps = frames / secs / 1e6;
  t.comment(`memory loop -> sink: ${mpps.toFixed(1)} Mpps`);
  t.ok(mpps > 5, `at least 5 Mpps (got ${mpps.toFixed(1)})`);
});

t.test('readiness: microtask / immediate wake once per burst, level-triggered while draining', async (t) => {
  for (const notify of ['microtask', 'immediate'] as const) {
    const p = new MemoryPort({ batch: 2, notify });
    let wakeups = 0;
    let got = 0;
    p.onReadable(() => {
      wakeups++;
      got += p.receive(); // one batch per wakeup: the port must wake us again
    });
    for (let i = 0; i < 5; i++) p.inject(frame(60, i));
    t.equal(wakeups, 0, `${notify}: never synchronous from inject`);
    await new Promise((r) => setTimeout(r, 20));
    t.equal(got, 5, `${notify}: all frames delivered`);
    t.equal(wakeups, 3, `${notify}: 3 wakeups for 5 frames in batches of 2`);
  }
  const m = new MemoryPort({ notify: 'manual' });
  let calls = 0;
  m.onReadable(() => calls++);
  m.inject(frame(60, 0));
  await new Promise((r) => setImmediate(r));
  t.equal(calls, 0, 'manual: no scheduling');
  m.notify();
  t.equal(calls, 1, 'manual: notify() runs the callback');
  // A callback that never receives is not spun on.
  const s = new MemoryPort();
  let spins = 0;
  s.onReadable(() => spins++);
  s.inject(frame(60, 0));
  await new Promise((r) => setTimeout(r, 10));
  t.equal(spins, 1);
});

t.test('close: idempotent, receive returns 0, send counts errors', async (t) => {
  const p = new MemoryPort({ notify: 'manual' });
  p.inject(frame(60, 0));
  p.close();
  p.close();
  t.equal(p.receive(), 0);
  t.equal(p.send(new Uint8Array(100), Uint32Array.of(10), Uint32Array.of(60), 1, false), 0);
  t.equal(p.counters.txErrors, 1);
  t.notOk(p.inject(frame(60, 0)));
});
