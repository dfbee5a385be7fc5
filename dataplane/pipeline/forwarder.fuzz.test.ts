/**
 * Seeded fuzz of the whole forwarder: ≥ 1M random and mutated frames on every port, with
 * time advancing (neighbor retries, pending expiry). Nothing may throw, and every received
 * frame must be accounted for: received = forwarded + delivered + Σ dropped + pending.
 *
 * FUZZ_FRAMES / FUZZ_SEED override the defaults (scripts/fuzz-long runs 10M+).
 */
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildArp, buildFrame } from '../wire/build';
import { PcapReader } from '../io/pcap-file';
import { memNode, GW_MAC, MAC } from '../../test/support/node-fixture';
import { Prng } from '../../test/support/prng';
import { parseMac } from '../wire/address';

const FRAMES = Number(process.env.FUZZ_FRAMES ?? 1_000_000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x7a9f10);

function corpus(): Uint8Array[] {
  const c: Uint8Array[] = [];
  const macs = [MAC.client, MAC.host, MAC.podA, MAC.podB];
  const srcs4 = ['10.0.0.10', '10.0.0.4', '10.244.0.2', '10.244.0.3'];
  const srcs6 = ['fd00::10', 'fd00::4', 'fd00:244::2', 'fd00:244::3'];
  const dsts4 = ['10.244.0.2', '10.244.0.3', '10.244.0.1', '10.0.0.4', '10.0.0.10', '192.0.2.1', '198.51.100.1', '10.244.1.9', '8.8.8.8', '10.244.0.99'];
  const dsts6 = ['fd00:244::2', 'fd00:244::3', 'fd00:244::1', 'fd00::4', 'fd00::10', '2001:db8::1'];
  for (let i = 0; i < 4; i++) {
    for (const dst of dsts4) {
      for (const proto of ['udp', 'tcp', 'icmp', 'sctp'] as const) {
        c.push(buildFrame({ srcMac: macs[i], dstMac: GW_MAC, ip: { version: 4, src: srcs4[i], dst, ttl: 1 + (c.length % 64), df: c.length % 2 === 0 },
          l4: { proto, sport: 1000 + i, dport: 80, flags: 0x02, type: 8, payload: new Uint8Array(c.length % 300) } }));
      }
      c.push(buildArp({ srcMac: macs[i], srcIp: srcs4[i], targetIp: dst }));
      c.push(buildArp({ op: 2, srcMac: macs[i], srcIp: srcs4[i], dstMac: GW_MAC, targetIp: dst }));
    }
    for (const dst of dsts6) {
      for (const proto of ['udp', 'tcp', 'icmpv6'] as const) {
        c.push(buildFrame({ srcMac: macs[i], dstMac: GW_MAC, ip: { version: 6, src: srcs6[i], dst, ttl: 1 + (c.length % 64) },
          l4: { proto, sport: 1, dport: 2, type: 128, payload: new Uint8Array(c.length % 200) } }));
      }
      c.push(buildFrame({ srcMac: macs[i], dstMac: GW_MAC, ip: { version: 6, src: srcs6[i], dst, ext: [{ type: 'hbh' }, { type: 'dst' }] },
        l4: { proto: 'udp', sport: 1, dport: 2, payload: 'x' } }));
      c.push(buildFrame({ srcMac: macs[i], dstMac: GW_MAC, ip: { version: 6, src: srcs6[i], dst, fragment: { offset: 8, more: true } },
        l4: { proto: 'udp', sport: 1, dport: 2, payload: 'frag' } }));
    }
    c.push(buildFrame({ srcMac: macs[i], dstMac: GW_MAC, ip: { version: 4, src: srcs4[i], dst: '10.244.0.2', options: [1, 1, 7, 7, 4, 0, 0, 0] },
      l4: { proto: 'udp', sport: 1, dport: 2, payload: 'opt' } }));
    c.push(buildFrame({ srcMac: macs[i], dstMac: GW_MAC, ip: { version: 4, src: srcs4[i], dst: '10.244.0.3', fragment: { offset: 1480, more: false } },
      payload: new Uint8Array(100) }));
  }
  // Real captured traffic, re-addressed at L2 so it gets past the MAC check.
  const dir = path.join(__dirname, '..', '..', '..', 'native-free-fixtures');
  const gw = parseMac(GW_MAC)!;
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    if (!f.endsWith('.pcap')) continue;
    for (const rec of PcapReader.readAll(path.join(dir, f)).records.slice(0, 200)) {
      const fr = rec.data.slice();
      if (c.length % 2 === 0) fr.set(gw, 0);
      c.push(fr);
    }
  }
  return c;
}

t.test(`forwarder fuzz: ${FRAMES} frames, seed ${SEED}`, (t) => {
  const seeds = corpus();
  t.ok(seeds.length > 300, `corpus of ${seeds.length} frames`);
  const n = memNode({ port: { tx: 'sink' } });
  const rng = new Prng(SEED);
  const scratch = new Uint8Array(9000);
  let injected = 0, refused = 0;
  const batch = 64;
  while (injected + refused < FRAMES) {
    const p = rng.int(n.ports.length);
    const port = n.ports[p];
    for (let i = 0; i < batch; i++) {
      let len: number;
      const kind = rng.int(10);
      if (kind === 0) {
        // Pure noise, biased to start with our MAC half the time.
        len = rng.int(200);
        for (let j = 0; j < len; j++) scratch[j] = rng.u32() & 0xff;
        if (len >= 6 && rng.chance(0.5)) { scratch[0] = 0x02; scratch[1] = 0x74; scratch[2] = 0x66; scratch[3] = 0; scratch[4] = 0; scratch[5] = 1; }
      } else {
        const s = seeds[rng.int(seeds.length)];
        len = s.length;
        scratch.set(s, 0);
        if (kind >= 2) {
          const muts = 1 + rng.int(4);
          for (let m = 0; m < muts; m++) {
            const op = rng.int(6);
            if (op === 0) len = rng.int(len + 1);                                  // truncate
            else if (op === 1 && len > 0) scratch[rng.int(len)] ^= 1 << rng.int(8); // bit flip
            else if (op === 2 && len > 0) scratch[rng.int(len)] = rng.u32() & 0xff; // byte
            else if (op === 3 && len > 17) { scratch[14 + rng.int(4)] = rng.u32() & 0xff; } // IHL / version / lengths
            else if (op === 4 && len > 50) { scratch[47] = rng.u32() & 0xff; }            // TCP flags byte
            else if (op === 5 && len < 8000) { const extra = rng.int(64); for (let j = 0; j < extra; j++) scratch[len + j] = rng.u32() & 0xff; len += extra; }
          }
        }
      }
      if (port.inject(scratch, 0, len)) injected++; else refused++;
    }
    n.fwd.poll(p);
    if (rng.chance(0.05)) { n.clock.now += rng.int(1500); n.fwd.tick(); }
  }
  // Drain everything still in the rings, and let pending frames expire.
  for (let p = 0; p < n.ports.length; p++) while (n.ports[p].receive() > 0) n.fwd.processBatch(p);
  for (let i = 0; i < 5; i++) { n.clock.now += 1500; n.fwd.tick(); }
  const c = n.fwd.counters;
  t.equal(c.received, injected, 'every injected frame was received');
  t.equal(c.received, c.forwarded + c.delivered + c.dropped + c.pending,
    `received ${c.received} = forwarded ${c.forwarded} + delivered ${c.delivered} + dropped ${c.dropped} + pending ${c.pending}`);
  t.equal(c.pending, 0, 'nothing left pending after the neighbor timers ran');
  t.ok(c.forwarded > 0 && c.delivered > 0 && c.dropped > 0, 'the fuzz reached every outcome');
  t.end();
});
