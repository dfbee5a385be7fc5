/**
 * Hostile traffic through the whole forwarder with Services, a NetworkPolicy and an NSG loaded
 * (test/support/fuzz-world.ts): the short run of `scripts/fuzz-long` (which does ≥ 10M), plus
 * directed cases for what random mutation reaches rarely — vnet headers lying about GSO sizes
 * into plain ports (software segmentation), ICMP errors with truncated inner headers about
 * NATed flows, IPv6 extension chains, every TCP flag combination on a service flow.
 *
 * Nothing may throw; after every batch received = forwarded + delivered + Σ dropped + pending
 * and every table stays within its bound. A crasher found here is saved under
 * native-free-fixtures/crashers/ (replayed by crashers.test.ts from then on).
 *
 * FUZZ_FRAMES (default 400000) / FUZZ_SEED override the run.
 */
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildFrame, buildVnetHdr } from '../wire/build';
import { Forwarder } from './forwarder';
import { MemoryPort } from '../io/memory-port';
import { parseMac } from '../wire/address';
import {
  buildWorld, CLIENT, EMPTY_VIP, fuzzCorpus, GW_MAC, loadCrashers, MACS, NODE_IP, POD_A, POD_A_IP, POD_B, POD_B_IP,
  runFuzz, saveCrasher, UPLINK, WEB_VIP, WEB_VIP6, World, worldProblem,
} from '../../test/support/fuzz-world';

const FRAMES = Number(process.env.FUZZ_FRAMES ?? 400_000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed7f);

/** Drive one frame through a world port (with a vnet header on vnet ports). */
function send(w: World, p: number, frame: Uint8Array, hdr?: Uint8Array): boolean {
  const port = w.ports[p];
  const ok = port.vnetHdr && hdr !== undefined ? port.inject(frame, hdr) : port.inject(frame);
  w.fwd.poll(p);
  return ok;
}

/** Learn every neighbor the world's routes need (client, VNet gateway, pods, host). */
function resolveAll(w: World): void {
  w.fwd.resolveAllPending(parseMac(MACS.client)!);
}

t.test(`hostile fuzz with services + NetworkPolicy + NSG: ${FRAMES} frames, seed ${SEED}`, (t) => {
  const corpus = fuzzCorpus();
  t.ok(corpus.length > 2000, `corpus of ${corpus.length} frames`);
  const r = runFuzz({ frames: FRAMES, seed: SEED, corpus, worldFrames: Math.max(50_000, Math.floor(FRAMES / 6)) });
  for (const c of r.crashers) {
    const file = saveCrasher(c);
    t.fail(`crasher: ${c.error} (saved as ${path.relative(process.cwd(), file)}; ${c.frames.length} frames; reproduces alone: ${c.reproducesAlone})\n${c.stack ?? ''}`);
  }
  t.equal(r.crashers.length, 0, 'no exception, no broken invariant');
  t.equal(r.received, r.injected, `every injected frame was received (${r.refused} refused by full rings)`);
  t.equal(r.received, r.forwarded + r.delivered + r.dropped + r.pending,
    `received ${r.received} = forwarded ${r.forwarded} + delivered ${r.delivered} + dropped ${r.dropped} + pending ${r.pending}`);
  t.ok(r.balanced, 'every world balanced at its end');
  const sumDrops = Object.values(r.drops).reduce((a, b) => a + b, 0);
  t.equal(sumDrops, r.dropped, `Σ dropped by reason ${sumDrops} = dropped ${r.dropped}`);
  t.equal(r.pending, 0, 'nothing left pending after the timers');
  t.ok(r.forwarded > FRAMES / 20, `a fair share forwarded (${r.forwarded})`);
  t.ok(r.flowsEvicted > 0, `flow tables overflowed and evicted (${r.flowsEvicted} of ${r.flowsInserted} inserted)`);
  for (const reason of ['service-rejected', 'service-dropped', 'nsg-denied', 'policy-denied', 'flow-rate-limited', 'vnet-hdr-bad', 'ipv6-bad-ext-header', 'tcp-bad-offset', 'neighbor-queue-full', 'source-spoofed']) {
    t.ok((r.drops[reason] ?? 0) > 0, `reached ${reason} (${r.drops[reason] ?? 0})`);
  }
  t.comment(`${r.received} frames in ${r.ms} ms (${Math.round(r.received / (r.ms / 1000))} frames/s), ${r.worlds} worlds, ${r.generationSwaps} generation swaps`);
  t.end();
});

t.test('vnet headers lying about GSO: pod-a (vnet) → pod-b and the host (plain): every segment fits the wire or the frame is dropped by reason', (t) => {
  const w = buildWorld('default');
  const capB = new MemoryPort({ name: 'pod-b', notify: 'manual', captureSize: 4096 });
  const capH = new MemoryPort({ name: 'host', notify: 'manual', captureSize: 4096 });
  w.ports[POD_B] = capB;
  w.ports[1] = capH;
  w.fwd = new Forwarder(w.ports, w.gens[0], { clock: () => w.clock.now });
  // pod-b and the host resolve: answer the ARP the first frames trigger.
  send(w, POD_A, buildFrame({ srcMac: MACS.podA, dstMac: GW_MAC, ip: { version: 4, src: POD_A_IP, dst: POD_B_IP }, l4: { proto: 'udp', sport: 1, dport: 5353 } }));
  send(w, POD_A, buildFrame({ srcMac: MACS.podA, dstMac: GW_MAC, ip: { version: 4, src: POD_A_IP, dst: NODE_IP }, l4: { proto: 'udp', sport: 1, dport: 9 } }));
  resolveAll(w);
  capB.drainSent();
  capH.drainSent();
  let frames = 0, forwarded = 0, oversize = 0, badLen = 0;
  for (const [dst, six] of [[POD_B_IP, false], [NODE_IP, false], ['fd00:244::3', true]] as const) {
    for (const payload of [100, 1448, 3000, 20000, 64000]) {
      for (const proto of ['tcp', 'udp'] as const) {
        const frame = buildFrame({ srcMac: MACS.podA, dstMac: GW_MAC, ip: six ? { version: 6, src: 'fd00:244::2', dst } : { version: 4, src: POD_A_IP, dst, df: proto === 'tcp' },
          l4: { proto, sport: 7000 + payload % 1000, dport: proto === 'tcp' ? 8080 : 5353, flags: 0x18, payload: new Uint8Array(payload) } });
        const l4 = six ? 54 : 34;
        const hdrLen = l4 + (proto === 'tcp' ? 20 : 8);
        const right = proto === 'udp' ? 5 : six ? 4 : 1;
        for (const gsoType of [right, 1, 3, 4, 5, 0x80 | right]) {
          for (const gsoSize of [0, 1, 7, 8, 88, 536, 1448, 1452, 1500, 9000, 65535]) {
            for (const hl of [hdrLen, 0, frame.length, frame.length + 1, 65535]) {
              for (const csumOff of [proto === 'udp' ? 6 : 16, 0, 17]) {
                const before = w.fwd.counters.forwarded;
                send(w, POD_A, frame, buildVnetHdr({ flags: 1, gsoType, gsoSize, hdrLen: hl, csumStart: l4, csumOffset: csumOff }));
                frames++;
                if (w.fwd.counters.forwarded > before) forwarded++;
                for (const f of [...capB.drainSent(), ...capH.drainSent()]) {
                  const et = (f[12] << 8) | f[13];
                  if (et !== 0x0800 && et !== 0x86dd) continue; // ARP/ND the forwarder generated
                  const ipLen = six ? 40 + ((f[18] << 8) | f[19]) : (f[16] << 8) | f[17];
                  if (f.length > 1514) oversize++;
                  if (ipLen + 14 > f.length) badLen++;
                }
              }
            }
          }
        }
      }
    }
  }
  const c = w.fwd.counters;
  t.equal(worldProblem(w, true), null, 'balanced, within bounds');
  t.equal(c.received, frames + 2, `${frames} lying headers, every one accounted for`);
  t.ok(forwarded > 0, `${forwarded} super-frames with a true header were segmented and forwarded`);
  t.equal(oversize, 0, 'no frame larger than the 1500-byte MTU left for a plain port');
  t.equal(badLen, 0, 'every frame sent is as long as its IP header says');
  t.ok((c.dropsOf(POD_A)['vnet-hdr-bad'] ?? 0) > 0, `lies dropped as vnet-hdr-bad: ${JSON.stringify(c.dropsOf(POD_A))}`);
  t.end();
});

t.test('ICMP errors with truncated inner headers about NATed service flows', (t) => {
  const w = buildWorld('default');
  // A client → VIP flow (DNAT to a pod) and its reply.
  const syn = buildFrame({ srcMac: MACS.client, dstMac: GW_MAC, ip: { version: 4, src: CLIENT, dst: WEB_VIP }, l4: { proto: 'tcp', sport: 4444, dport: 80, flags: 0x02 } });
  send(w, UPLINK, syn);
  resolveAll(w);
  send(w, UPLINK, syn);
  let quoted = 0;
  for (const [qs, qd, qsp, qdp] of [[WEB_VIP, CLIENT, 80, 4444], [CLIENT, WEB_VIP, 4444, 80], [POD_A_IP, CLIENT, 8080, 4444], [POD_B_IP, CLIENT, 8080, 4444]] as const) {
    const inner = buildFrame({ ip: { version: 4, src: qs, dst: qd }, l4: { proto: 'tcp', sport: qsp, dport: qdp, flags: 0x12, payload: 'abc' } }).subarray(14);
    for (let cut = 0; cut <= inner.length; cut++) {
      for (const ihl of [-1, 0x40, 0x44, 0x46, 0x4f]) {
        const q = inner.slice(0, cut);
        if (ihl >= 0 && cut > 0) q[0] = ihl;
        send(w, UPLINK, buildFrame({ srcMac: MACS.client, dstMac: GW_MAC, ip: { version: 4, src: '10.0.0.1', dst: WEB_VIP }, l4: { proto: 'icmp', type: 3, code: 4, rest: 1300, payload: q } }));
        send(w, POD_A, buildFrame({ srcMac: MACS.podA, dstMac: GW_MAC, ip: { version: 4, src: POD_A_IP, dst: CLIENT }, l4: { proto: 'icmp', type: 11, code: 0, payload: q } }));
        quoted += 2;
      }
    }
  }
  const inner6 = buildFrame({ ip: { version: 6, src: WEB_VIP6, dst: 'fd00::10' }, l4: { proto: 'tcp', sport: 80, dport: 4445, flags: 0x12 } }).subarray(14);
  for (let cut = 0; cut <= inner6.length; cut++) {
    send(w, UPLINK, buildFrame({ srcMac: MACS.client, dstMac: GW_MAC, ip: { version: 6, src: 'fd00::1', dst: WEB_VIP6 }, l4: { proto: 'icmpv6', type: 2, code: 0, rest: 1280, payload: inner6.slice(0, cut) } }));
    quoted++;
  }
  for (let i = 0; i < 4; i++) { w.clock.now += 1500; w.fwd.tick(); }
  t.equal(worldProblem(w, true), null, `${quoted} ICMP errors: balanced, within bounds`);
  t.end();
});

t.test('IPv6 extension chains to a VIP, a pod and from a pod: accounted for, long chains dropped by reason', (t) => {
  const w = buildWorld('default');
  resolveAll(w);
  const chains: { type: 'hbh' | 'dst' | 'routing' | 'fragment' | 'ah' | number; hdrExtLen?: number; offset?: number; more?: boolean }[][] = [];
  for (let n = 1; n <= 12; n++) chains.push(Array.from({ length: n }, (_, i) => ({ type: (['hbh', 'dst', 'routing', 'dst'] as const)[i === 0 ? 0 : 1 + (i % 3)] })));
  chains.push([{ type: 'fragment', offset: 0, more: true }], [{ type: 'fragment', offset: 16, more: false }], [{ type: 'ah' }], [{ type: 0x8c }], [{ type: 'hbh', hdrExtLen: 200 }]);
  let n = 0;
  const drops0 = w.fwd.counters.dropsOf(UPLINK)['ipv6-bad-ext-header'] ?? 0;
  for (const ext of chains) {
    for (const dst of [WEB_VIP6, 'fd00:244::2', 'fd00:244::3']) {
      for (const proto of ['tcp', 'udp', 'icmpv6'] as const) {
        send(w, UPLINK, buildFrame({ srcMac: MACS.client, dstMac: GW_MAC, ip: { version: 6, src: 'fd00::10', dst, ext }, l4: { proto, sport: 4000, dport: 80, flags: 0x02, type: 128, payload: 'e' } }));
        n++;
      }
    }
  }
  t.equal(worldProblem(w, true), null, `${n} chains: balanced, within bounds`);
  t.ok((w.fwd.counters.dropsOf(UPLINK)['ipv6-bad-ext-header'] ?? 0) > drops0, 'chains beyond the walk limit are dropped as ipv6-bad-ext-header');
  t.end();
});

t.test('every TCP flag combination on a service flow, its reply and a policy-checked pod flow', (t) => {
  const w = buildWorld('open');
  resolveAll(w);
  const c = w.fwd.counters;
  for (let f = 0; f < 256; f++) {
    send(w, UPLINK, buildFrame({ srcMac: MACS.client, dstMac: GW_MAC, ip: { version: 4, src: CLIENT, dst: WEB_VIP }, l4: { proto: 'tcp', sport: 5000 + f, dport: 80, flags: f } }));
    send(w, UPLINK, buildFrame({ srcMac: MACS.client, dstMac: GW_MAC, ip: { version: 4, src: CLIENT, dst: WEB_VIP }, l4: { proto: 'tcp', sport: 4999, dport: 80, flags: f } }));
    send(w, POD_A, buildFrame({ srcMac: MACS.podA, dstMac: GW_MAC, ip: { version: 4, src: POD_A_IP, dst: CLIENT }, l4: { proto: 'tcp', sport: 8080, dport: 4999, flags: f } }));
    send(w, POD_A, buildFrame({ srcMac: MACS.podA, dstMac: GW_MAC, ip: { version: 4, src: POD_A_IP, dst: POD_B_IP }, l4: { proto: 'tcp', sport: 6000, dport: 8080, flags: f } }));
  }
  const generated = c.generated;
  for (let f = 0; f < 256; f++) {
    send(w, UPLINK, buildFrame({ srcMac: MACS.client, dstMac: GW_MAC, ip: { version: 4, src: CLIENT, dst: EMPTY_VIP }, l4: { proto: 'tcp', sport: 6000 + f, dport: 80, flags: f } }));
  }
  t.equal(c.received, 5 * 256, 'every frame received');
  t.equal(worldProblem(w, true), null, 'balanced, within bounds');
  t.equal(c.dropsOf(UPLINK)['service-rejected'], 256, 'every flag combination to a VIP without endpoints is rejected');
  // A RST is never answered with a RST: 128 of the 256 combinations carry RST.
  t.equal(c.generated - generated, 128, 'a TCP RST for each of the 128 combinations without RST, none for the others');
  t.end();
});

t.test('the harness: a forwarder exception becomes a crasher with its batch, and the run goes on', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-crashers-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const orig = Forwarder.prototype.processBatch;
  let thrown = 0;
  Forwarder.prototype.processBatch = function (this: Forwarder, p: number) {
    orig.call(this, p);
    if (thrown < 2 && this.counters.received > 5000) { thrown++; throw new Error('injected failure'); }
  };
  let r;
  try {
    r = runFuzz({ frames: 30_000, seed: 7, onCrash: (c) => saveCrasher(c, dir) });
  } finally {
    Forwarder.prototype.processBatch = orig;
  }
  t.equal(r.crashers.length, 2, 'two crashers recorded');
  t.equal(r.crashers[0].error, 'injected failure');
  t.ok(r.crashers[0].frames.length > 0 && r.crashers[0].frames.length <= 64, `the batch is kept (${r.crashers[0].frames.length} frames)`);
  t.ok(r.crashers[0].frames.every((f) => /^[0-9a-f]*$/.test(f.frame) && f.port >= 0 && f.port < 4), 'frames as hex with their ports');
  t.equal(r.worlds >= 3, true, 'a fresh world after each crash');
  t.equal(r.injected + r.refused, 30_000, 'and the run went on to the end');
  const byIndex = (a: number, b: number) => a - b;
  t.same(loadCrashers(dir).map((x) => x.crasher.frameIndex).sort(byIndex), r.crashers.map((c) => c.frameIndex).sort(byIndex), 'saved as fixtures');
  t.end();
});
