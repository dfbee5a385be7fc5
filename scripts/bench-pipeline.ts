/**
 * In-process forwarder benchmark on memory ports (no TAPs, no syscalls): the cost of the
 * pipeline itself per packet, and proof that a steady forwarding run allocates nothing.
 *
 *   node dist/scripts/bench-pipeline.js [--seconds 3] [--json results/bench-pipeline.json] [--only ipv6]
 *
 * How "allocates nothing per packet" is checked: after a warm-up, each scenario runs with a
 * PerformanceObserver on 'gc' entries and reads v8 heap statistics before and after. A
 * steady run that allocated per packet would trigger dozens of scavenges over millions of
 * packets; the report prints the number of GCs and the heap growth per million packets.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { PerformanceObserver } from 'node:perf_hooks';
import { buildArp, buildFrame } from '../dataplane/wire/build';
import { memNode, GW_MAC, MAC, POD_A, POD_B, UPLINK } from '../test/support/node-fixture';

interface Result { scenario: string; packets: number; seconds: number; mpps: number; nsPerPacket: number; gcs: number; heapGrowthBytesPerMpkt: number }

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
}

const SECONDS = Number(arg('--seconds', '3'));
const OUT = arg('--json', path.join('results', 'bench-pipeline.json'));
/** Run only the scenarios whose name contains this (for a focused profile). */
const ONLY = arg('--only', '');

let gcCount = 0;
new PerformanceObserver((list) => { gcCount += list.getEntries().length; }).observe({ entryTypes: ['gc'] });

function scenario(name: string, frames: Uint8Array[], ingress: number, prime: (n: ReturnType<typeof memNode>) => void): Result {
  const n = memNode({ port: { tx: 'sink', batch: 64 } });
  prime(n);
  const port = n.ports[ingress];
  port.loop(frames, { restore: true });
  // warm-up (JIT), bounded
  const warmEnd = Date.now() + 500;
  while (Date.now() < warmEnd) for (let i = 0; i < 100; i++) { port.receive(); n.fwd.processBatch(ingress); }
  const rx0 = n.fwd.counters.received;
  const fwd0 = n.fwd.counters.forwarded + n.fwd.counters.delivered;
  const gc0 = gcCount;
  const heap0 = v8.getHeapStatistics().used_heap_size;
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(SECONDS * 1e9));
  let now = t0;
  while (now < deadline) {
    for (let i = 0; i < 1000; i++) { port.receive(); n.fwd.processBatch(ingress); }
    now = process.hrtime.bigint();
  }
  const secs = Number(now - t0) / 1e9;
  const heap1 = v8.getHeapStatistics().used_heap_size;
  const packets = n.fwd.counters.received - rx0;
  const ok = n.fwd.counters.forwarded + n.fwd.counters.delivered - fwd0;
  if (ok !== packets) throw new Error(`${name}: ${packets - ok} packets not forwarded/delivered: ${JSON.stringify(n.fwd.counters.dropsOf(ingress))}`);
  return {
    scenario: name, packets, seconds: +secs.toFixed(3), mpps: +(packets / secs / 1e6).toFixed(2),
    nsPerPacket: +(secs * 1e9 / packets).toFixed(1), gcs: gcCount - gc0,
    heapGrowthBytesPerMpkt: Math.round((heap1 - heap0) / (packets / 1e6)),
  };
}

function learnPods(n: ReturnType<typeof memNode>): void {
  n.ports[POD_A].inject(buildArp({ srcMac: MAC.podA, srcIp: '10.244.0.2', targetIp: '10.244.0.1' }));
  n.ports[POD_B].inject(buildArp({ srcMac: MAC.podB, srcIp: '10.244.0.3', targetIp: '10.244.0.1' }));
  n.ports[UPLINK].inject(buildArp({ srcMac: MAC.client, srcIp: '10.0.0.10', targetIp: '10.0.0.4' }));
  for (const p of [POD_A, POD_B, UPLINK]) n.fwd.poll(p);
  // IPv6 neighbors through NAs
  const na = (port: number, mac: string, ip: string, last: number) => {
    const tgt = [0xfd, 0, port === UPLINK ? 0 : 0x02, port === UPLINK ? 0 : 0x44, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last];
    const m = mac.split(':').map((x) => parseInt(x, 16));
    n.ports[port].inject(buildFrame({ srcMac: mac, dstMac: GW_MAC, ip: { version: 6, src: ip, dst: port === UPLINK ? 'fd00::4' : 'fd00:244::1', ttl: 255 },
      l4: { proto: 'icmpv6', type: 136, code: 0, rest: 0x60000000, payload: new Uint8Array([...tgt, 2, 1, ...m]) } }));
    n.fwd.poll(port);
  };
  na(POD_B, MAC.podB, 'fd00:244::3', 3);
  na(UPLINK, MAC.client, 'fd00::10', 0x10);
  for (const p of n.ports) p.drainSent();
}

function udp(version: 4 | 6, src: string, dst: string, srcMac: string, payload: number, sport: number): Uint8Array {
  return buildFrame({ srcMac, dstMac: GW_MAC, ip: { version, src, dst, ttl: 255, df: true },
    l4: { proto: 'udp', sport, dport: 5201, payload: new Uint8Array(payload) } });
}

function main(): void {
  const results: Result[] = [];
  const flows = (f: (i: number) => Uint8Array) => Array.from({ length: 256 }, (_, i) => f(i));
  const run = (name: string, frames: Uint8Array[], ingress: number) => {
    if (ONLY !== '' && !name.includes(ONLY)) return;
    process.stderr.write(`bench-pipeline: ${name} (${SECONDS}s) ...\n`);
    const r = scenario(name, frames, ingress, learnPods);
    results.push(r);
    process.stderr.write(`  ${r.mpps} Mpps, ${r.nsPerPacket} ns/packet, ${r.gcs} GCs, heap ${r.heapGrowthBytesPerMpkt} B/Mpkt\n`);
  };
  run('ipv4 pod→pod UDP 64B (route + neighbor + TTL + MAC rewrite)', flows((i) => udp(4, '10.244.0.2', '10.244.0.3', MAC.podA, 18, 10000 + i)), POD_A);
  run('ipv4 pod→pod UDP 1400B', flows((i) => udp(4, '10.244.0.2', '10.244.0.3', MAC.podA, 1400 - 28, 10000 + i)), POD_A);
  run('ipv6 client→pod UDP 64B', flows((i) => udp(6, 'fd00::10', 'fd00:244::3', MAC.client, 10, 10000 + i)), UPLINK);
  run('ipv4 client→pod (uplink, kubenet)', flows((i) => udp(4, '10.0.0.10', '10.244.0.3', MAC.client, 18, 10000 + i)), UPLINK);
  run('ARP requests answered in place', flows(() => buildArp({ srcMac: MAC.podA, srcIp: '10.244.0.2', targetIp: '10.244.0.1' })), POD_A);
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, JSON.stringify({ when: new Date().toISOString(), node: process.version, seconds: SECONDS, results }, null, 2));
  process.stdout.write('\n| scenario | Mpps | ns/packet | GCs during run | heap growth (B per M packets) |\n|---|---|---|---|---|\n');
  for (const r of results) process.stdout.write(`| ${r.scenario} | ${r.mpps} | ${r.nsPerPacket} | ${r.gcs} | ${r.heapGrowthBytesPerMpkt} |\n`);
  process.stdout.write(`\nwritten: ${OUT}\n`);
}

main();
