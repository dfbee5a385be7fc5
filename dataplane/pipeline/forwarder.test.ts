/**
 * Forwarder behaviour on memory ports: real frames in, real frames out, counters checked.
 */
import t from 'tap';
import { buildArp, buildFrame } from '../wire/build';
import { FrameInfo, parseFrame } from '../wire/frame-parser';
import { DROP_REASON_COUNT, DropReason } from './drop-reason';
import { formatIpv4, formatIpv6, formatMac } from '../wire/address';
import { GW_MAC, HOST, MAC, memNode, MemNode, POD_A, POD_B, UPLINK } from '../../test/support/node-fixture';
import { ipv4HeaderChecksumOk } from '../wire/checksum';

function parsed(frame: Uint8Array): FrameInfo {
  const info = new FrameInfo();
  const r = parseFrame(frame, 0, frame.length, info);
  if (r !== DropReason.None) throw new Error(`emitted frame does not parse: reason ${r}`);
  return info;
}

/** Teach the forwarder a neighbor the way a host would: an ARP request for the gateway. */
function arpFrom(n: MemNode, port: number, mac: string, ip: string, targetIp: string): void {
  n.ports[port].inject(buildArp({ srcMac: mac, srcIp: ip, targetIp }));
  n.fwd.poll(port);
}

function udp4(src: string, dst: string, srcMac: string, opts: { ttl?: number; len?: number; df?: boolean } = {}): Uint8Array {
  return buildFrame({
    srcMac, dstMac: GW_MAC,
    ip: { version: 4, src, dst, ttl: opts.ttl ?? 64, df: opts.df ?? true },
    l4: { proto: 'udp', sport: 40000, dport: 53, payload: new Uint8Array(opts.len ?? 32).fill(0x61) },
  });
}

function balanced(t: { equal: (a: unknown, b: unknown, m: string) => unknown }, n: MemNode): void {
  const c = n.fwd.counters;
  t.equal(c.received, c.forwarded + c.delivered + c.dropped + c.pending,
    `received ${c.received} = forwarded ${c.forwarded} + delivered ${c.delivered} + dropped ${c.dropped} + pending ${c.pending}`);
}

t.test('ARP: answers a pod for its gateway and proxies other addresses, never its own', (t) => {
  const n = memNode();
  arpFrom(n, POD_A, MAC.podA, '10.244.0.2', '10.244.0.1');
  let out = n.ports[POD_A].drainSent();
  t.equal(out.length, 1, 'one reply');
  t.equal(formatMac(out[0], 0), MAC.podA, 'to the asker');
  t.equal(formatMac(out[0], 22), GW_MAC, 'sender hardware address = gateway MAC');
  t.equal(formatIpv4(((out[0][28] << 24) | (out[0][29] << 16) | (out[0][30] << 8) | out[0][31]) >>> 0), '10.244.0.1');
  arpFrom(n, POD_A, MAC.podA, '10.244.0.2', '10.244.0.3');
  out = n.ports[POD_A].drainSent();
  t.equal(out.length, 1, 'proxy ARP for the other pod (pods may use a /24)');
  arpFrom(n, POD_A, MAC.podA, '10.244.0.2', '10.244.0.2');
  t.equal(n.ports[POD_A].drainSent().length, 0, 'gratuitous ARP for its own address is not answered');
  arpFrom(n, UPLINK, MAC.client, '10.0.0.10', '10.244.0.2');
  t.equal(n.ports[UPLINK].drainSent().length, 0, 'kubenet uplink does not answer for pod IPs');
  t.equal(n.fwd.counters.drops[UPLINK * DROP_REASON_COUNT + DropReason.ArpIgnored], 1);
  arpFrom(n, UPLINK, MAC.client, '10.0.0.10', '10.0.0.4');
  t.equal(n.ports[UPLINK].drainSent().length, 1, 'uplink answers for the node IP');
  t.equal(n.fwd.counters.delivered, 4);
  balanced(t, n);
  t.end();
});

t.test('IPv4 pod to pod: resolves the neighbor, then forwards with TTL-1 and new MACs', (t) => {
  const n = memNode();
  arpFrom(n, POD_A, MAC.podA, '10.244.0.2', '10.244.0.1');
  n.ports[POD_A].drainSent();
  n.ports[POD_A].inject(udp4('10.244.0.2', '10.244.0.3', MAC.podA));
  n.fwd.poll(POD_A);
  t.equal(n.fwd.counters.pending, 1, 'parked while pod-b is resolved');
  const req = n.ports[POD_B].drainSent();
  t.equal(req.length, 1, 'ARP request on pod-b');
  t.equal(formatMac(req[0], 0), 'ff:ff:ff:ff:ff:ff');
  t.equal(req[0][21], 1, 'op request');
  // pod-b answers
  n.ports[POD_B].inject(buildArp({ op: 2, srcMac: MAC.podB, srcIp: '10.244.0.3', dstMac: GW_MAC, targetIp: '10.244.0.1' }));
  n.fwd.poll(POD_B);
  const out = n.ports[POD_B].drainSent();
  t.equal(out.length, 1, 'parked frame released');
  const info = parsed(out[0]);
  t.equal(formatMac(out[0], 0), MAC.podB, 'dst MAC = pod-b');
  t.equal(formatMac(out[0], 6), GW_MAC, 'src MAC = gateway');
  t.equal(info.ttl, 63, 'TTL decremented');
  t.ok(ipv4HeaderChecksumOk(out[0], 14, 20), 'header checksum still valid');
  // second packet goes straight through (cached neighbor)
  n.ports[POD_A].inject(udp4('10.244.0.2', '10.244.0.3', MAC.podA));
  n.fwd.poll(POD_A);
  t.equal(n.ports[POD_B].drainSent().length, 1);
  t.equal(n.fwd.counters.forwarded, 2);
  t.equal(n.fwd.counters.pending, 0);
  balanced(t, n);
  t.end();
});

t.test('anti-spoofing: a pod may only send from its own addresses', (t) => {
  const n = memNode();
  n.ports[POD_A].inject(udp4('10.244.0.3', '10.244.0.2', MAC.podA));
  n.ports[POD_A].inject(udp4('10.0.0.99', '10.0.0.10', MAC.podA));
  n.fwd.poll(POD_A);
  t.equal(n.fwd.counters.drops[POD_A * DROP_REASON_COUNT + DropReason.SourceSpoofed], 2);
  balanced(t, n);
  t.end();
});

t.test('TTL expiry → ICMP time exceeded from the ingress gateway address', (t) => {
  const n = memNode();
  n.ports[UPLINK].inject(udp4('10.0.0.10', '10.244.0.2', MAC.client, { ttl: 1 }));
  n.fwd.poll(UPLINK);
  const out = n.ports[UPLINK].drainSent();
  t.equal(out.length, 1);
  const info = parsed(out[0]);
  t.equal(info.icmpType, 11); t.equal(info.icmpCode, 0);
  t.equal(formatIpv4(info.src4), '10.0.0.4', 'from the node IP');
  t.equal(formatIpv4(info.dst4), '10.0.0.10');
  t.equal(formatMac(out[0], 0), MAC.client, 'back to the sender MAC');
  t.equal(n.fwd.counters.drops[UPLINK * DROP_REASON_COUNT + DropReason.TtlExceeded], 1);
  balanced(t, n);
  t.end();
});

t.test('MTU: DF packet too big → frag needed with the MTU; IPv6 → packet too big', (t) => {
  const n = memNode();
  n.ports[UPLINK].inject(udp4('10.0.0.10', '10.244.0.2', MAC.client, { len: 2000 }));
  n.fwd.poll(UPLINK);
  let out = n.ports[UPLINK].drainSent();
  t.equal(out.length, 1);
  let info = parsed(out[0]);
  t.equal(info.icmpType, 3); t.equal(info.icmpCode, 4);
  t.equal((out[0][14 + 20 + 6] << 8) | out[0][14 + 20 + 7], 1500, 'next-hop MTU');
  t.equal(info.l3Len, 576, 'quote bounded to 576 bytes of IP');
  const big6 = buildFrame({ srcMac: MAC.client, dstMac: GW_MAC, ip: { version: 6, src: 'fd00::10', dst: 'fd00:244::2' },
    l4: { proto: 'udp', sport: 1, dport: 2, payload: new Uint8Array(1600) } });
  n.ports[UPLINK].inject(big6);
  n.fwd.poll(UPLINK);
  out = n.ports[UPLINK].drainSent();
  t.equal(out.length, 1);
  info = parsed(out[0]);
  t.equal(info.icmpType, 2, 'packet too big');
  t.equal(((out[0][54 + 4] << 24) | (out[0][54 + 5] << 16) | (out[0][54 + 6] << 8) | out[0][54 + 7]), 1500);
  t.equal(formatIpv6(out[0], 22), 'fd00::4');
  t.equal(info.l3Len, 1280, 'ICMPv6 error fits the IPv6 minimum MTU');
  t.equal(n.fwd.counters.drops[UPLINK * DROP_REASON_COUNT + DropReason.MtuExceeded], 2);
  balanced(t, n);
  t.end();
});

t.test('UDRs: None blackholes silently; VirtualAppliance resolves the appliance; no route → unreachable', (t) => {
  const n = memNode();
  arpFrom(n, POD_A, MAC.podA, '10.244.0.2', '10.244.0.1');
  n.ports[POD_A].drainSent();
  n.ports[POD_A].inject(udp4('10.244.0.2', '192.0.2.7', MAC.podA));
  n.ports[POD_A].inject(udp4('10.244.0.2', '198.51.100.9', MAC.podA));
  n.ports[POD_A].inject(udp4('10.244.0.2', '10.244.0.77', MAC.podA));
  n.fwd.poll(POD_A);
  t.equal(n.fwd.counters.drops[POD_A * DROP_REASON_COUNT + DropReason.RouteBlackhole], 1, 'blackhole');
  const up = n.ports[UPLINK].drainSent();
  t.equal(up.length, 1, 'ARP for the appliance');
  t.equal(formatIpv4(((up[0][38] << 24) | (up[0][39] << 16) | (up[0][40] << 8) | up[0][41]) >>> 0), '10.0.0.100');
  const back = n.ports[POD_A].drainSent();
  t.equal(back.length, 1, 'ICMP unreachable for an unassigned pod address');
  t.equal(parsed(back[0]).icmpType, 3);
  t.equal(formatIpv4(parsed(back[0]).src4), '10.244.0.1', 'from the pod gateway');
  balanced(t, n);
  t.end();
});

t.test('neighbor that never answers: 3 probes, then pending frames drop as neighbor-unresolved', (t) => {
  const n = memNode();
  for (let i = 0; i < 3; i++) n.ports[UPLINK].inject(udp4('10.0.0.10', '10.244.0.3', MAC.client));
  n.fwd.poll(UPLINK);
  t.equal(n.fwd.counters.pending, 3);
  t.equal(n.ports[POD_B].drainSent().length, 1, 'one request, not one per packet');
  for (let i = 0; i < 4; i++) { n.clock.now += 1100; n.fwd.tick(); }
  t.equal(n.ports[POD_B].drainSent().length, 2, 'two retries');
  t.equal(n.fwd.counters.pending, 0);
  t.equal(n.fwd.counters.drops[UPLINK * DROP_REASON_COUNT + DropReason.NeighborUnresolved], 3);
  balanced(t, n);
  t.end();
});

t.test('pending pool is bounded per neighbor', (t) => {
  const n = memNode({ fwd: { pendingPerNeighbor: 4 } });
  for (let i = 0; i < 10; i++) n.ports[UPLINK].inject(udp4('10.0.0.10', '10.244.0.3', MAC.client));
  n.fwd.poll(UPLINK);
  t.equal(n.fwd.counters.pending, 4);
  t.equal(n.fwd.counters.drops[UPLINK * DROP_REASON_COUNT + DropReason.NeighborQueueFull], 6);
  balanced(t, n);
  t.end();
});

t.test('echo to the gateway is answered; other traffic to it gets port unreachable', (t) => {
  const n = memNode();
  n.ports[POD_A].inject(buildFrame({ srcMac: MAC.podA, dstMac: GW_MAC, ip: { version: 4, src: '10.244.0.2', dst: '10.244.0.1' },
    l4: { proto: 'icmp', type: 8, code: 0, id: 7, icmpSeq: 1, payload: 'ping' } }));
  n.ports[POD_A].inject(udp4('10.244.0.2', '10.244.0.1', MAC.podA));
  n.fwd.poll(POD_A);
  const out = n.ports[POD_A].drainSent();
  t.equal(out.length, 2);
  const r = parsed(out[0]);
  t.equal(r.icmpType, 0, 'echo reply');
  t.equal(formatIpv4(r.src4), '10.244.0.1');
  t.equal(formatMac(out[0], 0), MAC.podA);
  const u = parsed(out[1]);
  t.equal(u.icmpType, 3); t.equal(u.icmpCode, 3);
  t.equal(n.fwd.counters.delivered, 1);
  t.equal(n.fwd.counters.drops[POD_A * DROP_REASON_COUNT + DropReason.LocalUnhandled], 1);
  balanced(t, n);
  t.end();
});

t.test('IPv6: NS for the gateway → NA; forwarding to the uplink after ND', (t) => {
  const n = memNode();
  // Pod A solicits its gateway fd00:244::1 (multicast to the solicited-node group).
  const ns = buildFrame({ srcMac: MAC.podA, dstMac: '33:33:ff:00:00:01',
    ip: { version: 6, src: 'fd00:244::2', dst: 'ff02::1:ff00:1', ttl: 255 },
    l4: { proto: 'icmpv6', type: 135, code: 0, rest: 0,
      payload: new Uint8Array([0xfd, 0, 0x02, 0x44, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 0, 0, 0, 0x0a, 2]) } });
  n.ports[POD_A].inject(ns);
  n.fwd.poll(POD_A);
  const na = n.ports[POD_A].drainSent();
  t.equal(na.length, 1, 'neighbor advertisement');
  const ni = parsed(na[0]);
  t.equal(ni.icmpType, 136);
  t.equal(formatIpv6(na[0], 22), 'fd00:244::1', 'from the gateway');
  t.equal(formatIpv6(na[0], 38), 'fd00:244::2', 'to the soliciting address');
  t.equal(formatMac(na[0], 0), MAC.podA);
  // Pod A → client fd00::10 (on-link on the uplink): ND on the uplink, then forward.
  n.ports[POD_A].inject(buildFrame({ srcMac: MAC.podA, dstMac: GW_MAC, ip: { version: 6, src: 'fd00:244::2', dst: 'fd00::10' },
    l4: { proto: 'udp', sport: 5, dport: 6, payload: 'x' } }));
  n.fwd.poll(POD_A);
  const sol = n.ports[UPLINK].drainSent();
  t.equal(sol.length, 1, 'NS on the uplink');
  t.equal(parsed(sol[0]).icmpType, 135);
  t.equal(formatIpv6(sol[0], 22), 'fd00::4', 'solicited from the node IP');
  // Client answers with an NA carrying its MAC.
  const tgt = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10];
  n.ports[UPLINK].inject(buildFrame({ srcMac: MAC.client, dstMac: GW_MAC, ip: { version: 6, src: 'fd00::10', dst: 'fd00::4', ttl: 255 },
    l4: { proto: 'icmpv6', type: 136, code: 0, rest: 0x60000000, payload: new Uint8Array([...tgt, 2, 1, 2, 0, 0, 0, 0x0c, 1]) } }));
  n.fwd.poll(UPLINK);
  const fw = n.ports[UPLINK].drainSent();
  t.equal(fw.length, 1, 'parked IPv6 packet released');
  t.equal(formatMac(fw[0], 0), MAC.client);
  t.equal(parsed(fw[0]).ttl, 63, 'hop limit decremented');
  balanced(t, n);
  t.end();
});

t.test('malformed frames are dropped by reason and never thrown', (t) => {
  const n = memNode();
  const good = udp4('10.0.0.10', '10.244.0.2', MAC.client);
  n.ports[UPLINK].inject(good.subarray(0, 10));
  n.ports[UPLINK].inject(good.subarray(0, 30));
  const badSum = good.slice(); badSum[24] ^= 0xff;
  n.ports[UPLINK].inject(badSum);
  const notUs = good.slice(); notUs[0] = 0x02; notUs[5] = 0x99;
  n.ports[UPLINK].inject(notUs);
  n.fwd.poll(UPLINK);
  const c = n.fwd.counters;
  t.equal(c.drops[UPLINK * DROP_REASON_COUNT + DropReason.EthTruncated], 1);
  t.equal(c.drops[UPLINK * DROP_REASON_COUNT + DropReason.Ipv4Truncated], 1);
  t.equal(c.drops[UPLINK * DROP_REASON_COUNT + DropReason.Ipv4BadChecksum], 1);
  t.equal(c.drops[UPLINK * DROP_REASON_COUNT + DropReason.EthNotForUs], 1);
  balanced(t, n);
  t.end();
});

t.test('host port: node IP traffic from the uplink reaches the node stack', (t) => {
  const n = memNode();
  arpFrom(n, HOST, MAC.host, '10.0.0.4', '10.244.0.1');
  n.ports[HOST].drainSent();
  n.ports[UPLINK].inject(udp4('10.0.0.10', '10.0.0.4', MAC.client));
  n.fwd.poll(UPLINK);
  const out = n.ports[HOST].drainSent();
  t.equal(out.length, 1);
  t.equal(formatMac(out[0], 0), MAC.host);
  balanced(t, n);
  t.end();
});

t.test('per-source new-flow limit: a flooding source is cut off, established flows are not', (t) => {
  const n = memNode({ fwd: { newFlowsPerSecondPerSource: 2, newFlowBurst: 2 } });
  arpFrom(n, POD_A, MAC.podA, '10.244.0.2', '10.244.0.1');
  n.ports[POD_A].drainSent();
  const flow = (sport: number) => buildFrame({ srcMac: MAC.podA, dstMac: GW_MAC, ip: { version: 4, src: '10.244.0.2', dst: '10.0.0.10' },
    l4: { proto: 'udp', sport, dport: 53, payload: 'q' } });
  for (let i = 0; i < 5; i++) n.ports[POD_A].inject(flow(1000 + i));
  n.fwd.poll(POD_A);
  t.equal(n.fwd.counters.drops[POD_A * DROP_REASON_COUNT + DropReason.FlowRateLimited], 3, 'three of five new flows refused');
  n.ports[POD_A].inject(flow(1000));
  n.fwd.poll(POD_A);
  t.equal(n.fwd.counters.drops[POD_A * DROP_REASON_COUNT + DropReason.FlowRateLimited], 3, 'an existing flow is not limited');
  n.clock.now += 1000;
  for (let i = 0; i < 3; i++) n.ports[POD_A].inject(flow(2000 + i));
  n.fwd.poll(POD_A);
  t.equal(n.fwd.counters.drops[POD_A * DROP_REASON_COUNT + DropReason.FlowRateLimited], 4, 'refilled at the configured rate');
  balanced(t, n);
  t.end();
});

t.test('GSO super-frame from a vnet_hdr port to a plain port is segmented in software, NAT and all', async (t) => {
  const { MemoryPort } = await import('../io/memory-port');
  const { parseNodeConfig } = await import('../../control/model/node-config');
  const { compileGeneration } = await import('../../control/compile/generation');
  const { Forwarder } = await import('./forwarder');
  const { emitVnetHdr, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV4 } = await import('../wire/vnet-hdr');
  const { pseudoSum4, fold, l4Checksum4 } = await import('../wire/checksum');
  const { NODE_YAML } = await import('../../test/support/node-fixture');
  const cfg = parseNodeConfig(NODE_YAML, 'test');
  // uplink carries vnet headers; pods are plain
  const ports = cfg.spec.ports.map((p) => new MemoryPort({ name: p.name, notify: 'manual', vnetHdr: p.role === 'uplink' }));
  const fwd = new Forwarder(ports, compileGeneration(cfg, 1), { clock: () => 1000 });
  ports[POD_B].inject(buildArp({ srcMac: MAC.podB, srcIp: '10.244.0.3', targetIp: '10.244.0.1' }));
  fwd.poll(POD_B);
  ports[POD_B].drainSent();
  const payload = new Uint8Array(5000).map((_, i) => i & 0xff);
  const frame = buildFrame({ srcMac: MAC.client, dstMac: GW_MAC, ip: { version: 4, src: '10.0.0.10', dst: '10.244.0.3', df: true, id: 7 },
    l4: { proto: 'tcp', sport: 40000, dport: 8080, seq: 1000, ack: 1, flags: 0x18, payload } });
  const info = new FrameInfo();
  parseFrame(frame, 0, frame.length, info);
  const partial = fold(pseudoSum4(info.src4, info.dst4, 6, info.l4Len));
  frame[info.l4Off + 16] = partial >>> 8; frame[info.l4Off + 17] = partial & 0xff;
  const hdr = new Uint8Array(10);
  emitVnetHdr(hdr, 0, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV4, 54, 1400, 34, 16);
  ports[UPLINK].inject(frame, hdr);
  fwd.poll(UPLINK);
  const segs = ports[POD_B].drainSent();
  t.equal(segs.length, 4, '5000 bytes at MSS 1400 → 4 segments');
  let got = 0, seq = 1000;
  for (const s of segs) {
    const si = new FrameInfo();
    t.equal(parseFrame(s, 0, s.length, si), DropReason.None, 'segment parses (IPv4 header checksum valid)');
    t.equal(si.ttl, 63, 'TTL decremented before segmentation');
    const dataLen = si.l4Len - 20;
    t.equal(((s[si.l4Off + 4] << 24) | (s[si.l4Off + 5] << 16) | (s[si.l4Off + 6] << 8) | s[si.l4Off + 7]) >>> 0, seq, 'contiguous sequence numbers');
    seq += dataLen; got += dataLen;
    const stored = (s[si.l4Off + 16] << 8) | s[si.l4Off + 17];
    s[si.l4Off + 16] = 0; s[si.l4Off + 17] = 0;
    t.equal(l4Checksum4(s, si.l4Off, si.l4Len, 6, si.src4, si.dst4), stored, 'full TCP checksum');
  }
  t.equal(got, 5000, 'all payload delivered');
  t.equal(fwd.counters.forwarded, 1, 'one received frame, one forwarded');
  balanced(t, { fwd } as unknown as MemNode);
  t.end();
});
