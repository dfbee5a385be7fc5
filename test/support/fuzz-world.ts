/**
 * The hostile-traffic fuzzer of the whole forwarder with a realistic configuration loaded:
 * Services (ClusterIP dual stack, NodePort, LoadBalancer with source ranges, ClientIP affinity,
 * one without endpoints, one remote endpoint), a NetworkPolicy isolating pod-b, an Azure NSG on
 * pod-a's NIC, and per-source new-flow limits. Used by `dataplane/pipeline/forwarder-hostile.fuzz.test.ts`
 * (short, in `npm test`), `scripts/fuzz-long.ts` (≥ 10M frames) and the crasher replay
 * (`dataplane/pipeline/crashers.test.ts`).
 *
 * Frames: the seeds of the plain fuzz (forwarder.fuzz.test.ts) plus service VIP / NodePort /
 * LB traffic and its replies, every TCP flag combination, ICMP(v6) errors quoting NATed
 * flows with truncated or lying inner headers, IPv6 extension-header chains (long, lying,
 * fragmented), and big TCP/UDP frames. On the vnet_hdr ports (uplink, pod-a) each frame gets a
 * virtio_net_hdr that is zero, right, or lies (GSO sizes 0/1/odd/huge, hdr_len past the end,
 * GSO type of another protocol, bad checksum offsets, random bytes) — pod-a → pod-b / host
 * crosses into plain ports, so software segmentation gets the lies too.
 *
 * The run checks after every batch that received = forwarded + delivered + Σ dropped + pending
 * and that every table stays within its bound; an exception or a broken invariant is a
 * crasher: the batch (frames, ports, vnet headers) is kept with the seed and the world profile,
 * and the run continues on a fresh world.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildArp, buildFrame, FrameSpec, Ipv6ExtSpec } from '../../dataplane/wire/build';
import { PcapReader } from '../../dataplane/io/pcap-file';
import { MemoryPort } from '../../dataplane/io/memory-port';
import { SLOT_SIZE_GSO, SLOT_SIZE_PLAIN, VNET_HDR_LEN } from '../../dataplane/io/port';
import { Forwarder, ForwarderOptions } from '../../dataplane/pipeline/forwarder';
import { DROP_REASON_COUNT, DROP_REASON_NAMES } from '../../dataplane/pipeline/drop-reason';
import { FrameInfo, parseFrame } from '../../dataplane/wire/frame-parser';
import { parseMac } from '../../dataplane/wire/address';
import { parseNodeConfig, NodeConfig } from '../../control/model/node-config';
import { DesiredState, loadManifests } from '../../control/model/manifests';
import '../../control/model/kinds';
import { NodeCompiler } from '../../control/compile/node-compiler';
import type { Generation } from '../../dataplane/pipeline/generation';
import { Prng } from './prng';

// ─── The node and its configuration ────────────────────────────────────────────────────────

export const GW_MAC = '02:74:66:00:00:01';
export const MACS = { client: '02:00:00:00:0c:01', vnetGw: '02:00:00:00:0c:fe', host: '02:00:00:00:0b:01', podA: '02:00:00:00:0a:02', podB: '02:00:00:00:0a:03' };
export const UPLINK = 0, HOST = 1, POD_A = 2, POD_B = 3;
/** Ports with a virtio_net_hdr (their frames get lying headers). */
export const VNET_PORTS = [UPLINK, POD_A];

export const NODE_IP = '10.0.0.4', CLIENT = '10.0.0.10', POD_A_IP = '10.244.0.2', POD_B_IP = '10.244.0.3';
export const WEB_VIP = '10.96.0.10', STICKY_VIP = '10.96.0.11', EMPTY_VIP = '10.96.0.13', LB_IP = '10.0.0.50', LOCKED_LB = '10.0.0.51';
export const WEB_VIP6 = 'fd00:96::10';
export const NODE_PORT = 30080;

export const FUZZ_NODE_YAML = `
apiVersion: tapflow.dev/v1alpha1
kind: NodeConfig
metadata: { name: node-a }
spec:
  nodeName: node-a
  nodeIPs: [10.0.0.4, fd00::4]
  podCIDRs: [10.244.0.0/24, fd00:244::/64]
  clusterCIDRs: [10.244.0.0/16, fd00:244::/56]
  serviceCIDRs: [10.96.0.0/12, fd00:96::/112]
  networkMode: kubenet
  vnetPrefixes: [10.0.0.0/16, fd00::/64]
  mtu: 1500
  gatewayMAC: "02:74:66:00:00:01"
  defaultGateway: { ipv4: 10.0.0.1, ipv6: "fd00::1" }
  nodeRoutes:
    - { prefix: 10.244.1.0/24, nextHop: 10.0.0.5 }
  routeTables:
    - name: rt
      routes:
        - { name: drop-doc, addressPrefix: 192.0.2.0/24, nextHopType: None }
        - { name: via-nva, addressPrefix: 198.51.100.0/24, nextHopType: VirtualAppliance, nextHopIpAddress: 10.0.0.100 }
  ports:
    - { name: uplink, tap: tfup, role: uplink, vnetHdr: true }
    - { name: host, tap: tfhost, role: host, vnetHdr: false }
    - { name: pod-a, tap: tfpa, role: pod, vnetHdr: true, addresses: [10.244.0.2, "fd00:244::2"], gateway: { ipv4: 10.244.0.1, ipv6: "fd00:244::1" }, pod: { namespace: default, name: pod-a } }
    - { name: pod-b, tap: tfpb, role: pod, vnetHdr: false, addresses: [10.244.0.3, "fd00:244::3"], gateway: { ipv4: 10.244.0.1, ipv6: "fd00:244::1" }, pod: { namespace: default, name: pod-b } }
`;

const SUB = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network';

function svc(name: string, spec: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { selector: { app: name }, ...spec }, ...extra };
}

function slice(name: string, service: string, family: 'IPv4' | 'IPv6', ips: string[], ports: { name: string; port: number; protocol: string }[]): Record<string, unknown> {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
    addressType: family,
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true }, nodeName: ip.includes('.1.') ? 'node-b' : 'node-a' })),
    ports,
  };
}

const WEB_PORTS = [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'dns', port: 5353, protocol: 'UDP' }, { name: 'sctp', port: 9000, protocol: 'SCTP' }];

/** Services, endpoints, pods, a NetworkPolicy and an NSG; `variant` changes the endpoints (generation swaps). */
export function fuzzManifests(variant = 0): Record<string, unknown>[] {
  const webIps = variant === 1 ? [POD_B_IP, '10.244.1.9'] : [POD_A_IP, POD_B_IP, '10.244.1.9'];
  const webIps6 = variant === 2 ? ['fd00:244::3'] : ['fd00:244::2', 'fd00:244::3'];
  return [
    svc('web', {
      type: 'LoadBalancer', clusterIP: WEB_VIP, clusterIPs: [WEB_VIP, WEB_VIP6], ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'],
      ports: [
        { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', nodePort: NODE_PORT },
        { name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP', nodePort: 30053 },
        { name: 'sctp', port: 9000, targetPort: 9000, protocol: 'SCTP', nodePort: 30090 },
      ],
    }, { status: { loadBalancer: { ingress: [{ ip: LB_IP }] } } }),
    slice('web-v4', 'web', 'IPv4', webIps, WEB_PORTS),
    slice('web-v6', 'web', 'IPv6', webIps6, WEB_PORTS),
    svc('sticky', { clusterIP: STICKY_VIP, sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] }),
    slice('sticky-v4', 'sticky', 'IPv4', [POD_A_IP, POD_B_IP], [WEB_PORTS[0]]),
    svc('empty', { clusterIP: EMPTY_VIP, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }, { name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' }] }),
    svc('locked', {
      type: 'LoadBalancer', clusterIP: '10.96.0.14', externalTrafficPolicy: 'Local', loadBalancerSourceRanges: ['10.0.0.8/29'],
      ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', nodePort: 30081 }],
    }, { status: { loadBalancer: { ingress: [{ ip: LOCKED_LB }] } } }),
    slice('locked-v4', 'locked', 'IPv4', variant === 1 ? ['10.244.1.9'] : [POD_A_IP], [WEB_PORTS[0]]),
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pod-a', namespace: 'default', labels: { app: 'a' } }, spec: { nodeName: 'node-a', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }] }, status: { phase: 'Running', podIPs: [{ ip: POD_A_IP }, { ip: 'fd00:244::2' }] } },
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pod-b', namespace: 'default', labels: { app: 'b' } }, spec: { nodeName: 'node-a', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }] }, status: { phase: 'Running', podIPs: [{ ip: POD_B_IP }, { ip: 'fd00:244::3' }] } },
    {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'b-ingress', namespace: 'default' },
      spec: {
        podSelector: { matchLabels: { app: 'b' } }, policyTypes: ['Ingress', 'Egress'],
        ingress: [
          { from: [{ podSelector: { matchLabels: { app: 'a' } } }], ports: [{ protocol: 'TCP', port: 'http' }, { protocol: 'UDP', port: 5353 }] },
          { from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.0.64/26'] } }], ports: [{ protocol: 'TCP', port: 8080, endPort: 8090 }] },
        ],
        egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['198.51.100.0/24'] } }] }, { to: [{ ipBlock: { cidr: '::/0' } }] }],
      },
    },
    {
      type: 'Microsoft.Network/networkSecurityGroups', name: 'nsg-a', id: `${SUB}/networkSecurityGroups/nsg-a`, location: 'westeurope',
      properties: {
        securityRules: [
          { name: 'deny-ssh', properties: { priority: 100, direction: 'Inbound', access: 'Deny', protocol: 'Tcp', sourceAddressPrefix: '*', sourcePortRange: '*', destinationAddressPrefix: '*', destinationPortRange: '22' } },
          { name: 'allow-web', properties: { priority: 110, direction: 'Inbound', access: 'Allow', protocol: '*', sourceAddressPrefix: '*', sourcePortRange: '*', destinationAddressPrefix: '*', destinationPortRanges: ['8080', '5353', '9000', '1000-2000'] } },
          { name: 'deny-doc-out', properties: { priority: 120, direction: 'Outbound', access: 'Deny', protocol: 'Udp', sourceAddressPrefix: '*', sourcePortRange: '*', destinationAddressPrefix: '8.8.8.0/24', destinationPortRange: '*' } },
        ],
      },
    },
    {
      type: 'Microsoft.Network/networkInterfaces', name: 'pod-a-nic', id: `${SUB}/networkInterfaces/pod-a-nic`,
      properties: {
        networkSecurityGroup: { id: `${SUB}/networkSecurityGroups/nsg-a` },
        ipConfigurations: [{ name: 'ipconfig1', properties: { privateIPAddress: POD_A_IP, primary: true } }],
      },
    },
  ];
}

// ─── World profiles (bounds) ───────────────────────────────────────────────────────────────

/** Forwarder bounds per profile: 'small' makes every table and pool overflow all the time. */
export const PROFILES: Record<string, ForwarderOptions> = {
  /** No flood limit (directed tests that open many flows at one instant). */
  open: {},
  default: { newFlowsPerSecondPerSource: 2000, newFlowBurst: 200 },
  small: {
    flowCapacity: 512, neighborCapacity: 32, pendingSlots: 8, pendingPerNeighbor: 2, localSlots: 4, icmpErrorsPerSecond: 20,
    newFlowsPerSecondPerSource: 200, newFlowBurst: 10, newFlowBuckets: 16, affinityCapacity: 16,
  },
};
export type ProfileName = keyof typeof PROFILES;

export interface World {
  profile: ProfileName;
  cfg: NodeConfig;
  ports: MemoryPort[];
  fwd: Forwarder;
  clock: { now: number };
  /** Generations to swap between (endpoint variants). */
  gens: Generation[];
  /** Forwarder bounds of the profile, for the invariant checks. */
  bounds: { flows: number; neighbors: number; pending: number };
}

let cachedState: { cfg: NodeConfig; states: DesiredState[] } | null = null;

function loadWorldState(): { cfg: NodeConfig; states: DesiredState[] } {
  if (cachedState === null) {
    const cfg = parseNodeConfig(FUZZ_NODE_YAML, 'fuzz-node');
    const states = [0, 1, 2].map((v) => new DesiredState(loadManifests(JSON.stringify(fuzzManifests(v)), `fuzz-manifests-${v}`)));
    cachedState = { cfg, states };
  }
  return cachedState;
}

/** A fresh node with the fuzz configuration compiled (three generations: endpoint variants). */
export function buildWorld(profile: ProfileName = 'default', worldOpts: { capture?: boolean } = {}): World {
  const { cfg, states } = loadWorldState();
  const compiler = new NodeCompiler();
  const gens: Generation[] = [];
  states.forEach((st, i) => {
    const r = compiler.compile(cfg, st, i + 1);
    const errs = r.serviceStatus.filter((s) => s.errors.length > 0);
    if (errs.length > 0) throw new Error(`fuzz world: service errors ${JSON.stringify(errs)}`);
    if (r.filters === null) throw new Error('fuzz world: no filter table (NSG/NetworkPolicy not loaded)');
    if (r.filterIssues.length > 0) throw new Error(`fuzz world: filter issues ${JSON.stringify(r.filterIssues)}`);
    gens.push(r.gen);
  });
  const ports = cfg.spec.ports.map((p) => new MemoryPort({ name: p.name, notify: 'manual', tx: worldOpts.capture ? 'capture' : 'sink', vnetHdr: p.vnetHdr }));
  const clock = { now: 1000 };
  const opts = PROFILES[profile];
  const fwd = new Forwarder(ports, gens[0], { clock: () => clock.now, ...opts });
  return {
    profile, cfg, ports, fwd, clock, gens,
    // The bounds as the forwarder sized them (its defaults may change): the pending pool is private.
    bounds: { flows: fwd.flows.capacity, neighbors: fwd.neighbors.capacity / 2, pending: (fwd as unknown as { pendSlots: number }).pendSlots },
  };
}

// ─── The corpus ────────────────────────────────────────────────────────────────────────────

/** A seed frame and the ports it makes sense on (-1: any). */
export interface Seed {
  frame: Uint8Array;
  port: number;
}

const TCP_FLAGS_ALL = 256;

/** Every seed: the plain fuzz's corpus plus service, flag, ICMP-error and extension-chain traffic. */
export function fuzzCorpus(fixturesDir?: string): Seed[] {
  const c: Seed[] = [];
  const add = (port: number, spec: FrameSpec) => c.push({ frame: buildFrame(spec), port });
  const macs = [MACS.client, MACS.host, MACS.podA, MACS.podB];
  const srcs4 = [CLIENT, NODE_IP, POD_A_IP, POD_B_IP];
  const srcs6 = ['fd00::10', 'fd00::4', 'fd00:244::2', 'fd00:244::3'];
  const dsts4 = [POD_A_IP, POD_B_IP, '10.244.0.1', NODE_IP, CLIENT, '192.0.2.1', '198.51.100.1', '10.244.1.9', '8.8.8.8', '10.244.0.99', WEB_VIP, STICKY_VIP, EMPTY_VIP, LB_IP, LOCKED_LB, '10.96.0.99'];
  const dsts6 = ['fd00:244::2', 'fd00:244::3', 'fd00:244::1', 'fd00::4', 'fd00::10', '2001:db8::1', WEB_VIP6, 'fd00:96::99'];
  const dports = [80, 8080, 53, 5353, 9000, NODE_PORT, 22, 443];

  // The plain fuzz's seeds (every port, every protocol) with the service addresses added.
  for (let i = 0; i < 4; i++) {
    for (const dst of dsts4) {
      for (const proto of ['udp', 'tcp', 'icmp', 'sctp'] as const) {
        const dport = dports[c.length % dports.length];
        add(i, { srcMac: macs[i], dstMac: GW_MAC, ip: { version: 4, src: srcs4[i], dst, ttl: 1 + (c.length % 64), df: c.length % 2 === 0 },
          l4: { proto, sport: 1000 + i, dport, flags: 0x02, type: 8, id: 1000 + i, payload: new Uint8Array(c.length % 300) } });
      }
      c.push({ frame: buildArp({ srcMac: macs[i], srcIp: srcs4[i], targetIp: dst }), port: i });
      c.push({ frame: buildArp({ op: 2, srcMac: macs[i], srcIp: srcs4[i], dstMac: GW_MAC, targetIp: dst }), port: i });
    }
    for (const dst of dsts6) {
      for (const proto of ['udp', 'tcp', 'icmpv6'] as const) {
        add(i, { srcMac: macs[i], dstMac: GW_MAC, ip: { version: 6, src: srcs6[i], dst, ttl: 1 + (c.length % 64) },
          l4: { proto, sport: 1000 + i, dport: dports[c.length % dports.length], flags: 0x02, type: 128, payload: new Uint8Array(c.length % 200) } });
      }
    }
    c.push({ frame: buildArp({ op: 2, srcMac: macs[i], srcIp: i === 0 ? '10.0.0.1' : srcs4[i], dstMac: GW_MAC, targetIp: '10.244.0.1' }), port: i });
  }
  // Neighbors on the uplink the routes need (VNet gateway, node-b, the NVA).
  for (const ip of ['10.0.0.1', '10.0.0.5', '10.0.0.100']) c.push({ frame: buildArp({ op: 2, srcMac: MACS.vnetGw, srcIp: ip, dstMac: GW_MAC, targetIp: NODE_IP }), port: UPLINK });

  // Service traffic and its replies, as the conversation goes (client ⇄ VIP ⇄ pod).
  const conv: [number, string, string, string, number, number][] = [
    // port, srcMac, src, dst, sport, dport
    [UPLINK, MACS.client, CLIENT, WEB_VIP, 1000, 80],
    [UPLINK, MACS.client, CLIENT, WEB_VIP, 1001, 53],
    [UPLINK, MACS.client, CLIENT, NODE_IP, 1002, NODE_PORT],
    [UPLINK, MACS.client, CLIENT, LB_IP, 1003, 80],
    [UPLINK, MACS.client, CLIENT, LOCKED_LB, 1004, 80],
    [UPLINK, MACS.client, '10.0.0.77', LOCKED_LB, 1005, 80],
    [UPLINK, MACS.client, CLIENT, STICKY_VIP, 1006, 80],
    [UPLINK, MACS.client, CLIENT, EMPTY_VIP, 1007, 80],
    [UPLINK, MACS.client, CLIENT, WEB_VIP, 1008, 81],
    [POD_A, MACS.podA, POD_A_IP, WEB_VIP, 1009, 80], // hairpin possible
    [POD_B, MACS.podB, POD_B_IP, WEB_VIP, 1010, 53],
    [POD_A, MACS.podA, POD_A_IP, CLIENT, 8080, 1000], // replies as the pods send them
    [POD_A, MACS.podA, POD_A_IP, NODE_IP, 8080, 1002],
    [POD_B, MACS.podB, POD_B_IP, NODE_IP, 8080, 1003],
    [POD_B, MACS.podB, POD_B_IP, CLIENT, 5353, 1001],
    [POD_A, MACS.podA, POD_A_IP, POD_B_IP, 1011, 8080],
    [POD_A, MACS.podA, POD_A_IP, '8.8.8.8', 1012, 53],
    [HOST, MACS.host, NODE_IP, WEB_VIP, 1013, 80],
  ];
  for (const [port, mac, src, dst, sport, dport] of conv) {
    for (const proto of ['tcp', 'udp', 'sctp'] as const) {
      for (const flags of [0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14]) {
        if (proto !== 'tcp' && flags !== 0x02) continue;
        add(port, { srcMac: mac, dstMac: GW_MAC, ip: { version: 4, src, dst, df: true }, l4: { proto, sport, dport, flags, seq: 1000, ack: flags & 0x10 ? 77 : 0, payload: flags & 0x08 ? 'GET / HTTP/1.1\r\n\r\n' : '' } });
      }
    }
  }
  for (const [port, mac, src, dst] of [[UPLINK, MACS.client, 'fd00::10', WEB_VIP6], [POD_A, MACS.podA, 'fd00:244::2', 'fd00::10'], [POD_B, MACS.podB, 'fd00:244::3', WEB_VIP6]] as const) {
    for (const proto of ['tcp', 'udp'] as const) {
      add(port, { srcMac: mac, dstMac: GW_MAC, ip: { version: 6, src, dst }, l4: { proto, sport: 2000, dport: proto === 'tcp' ? 80 : 53, flags: 0x02 } });
      add(port, { srcMac: mac, dstMac: GW_MAC, ip: { version: 6, src, dst }, l4: { proto, sport: 8080, dport: 2000, flags: 0x12 } });
    }
  }

  // Every TCP flag combination, on a service flow, a reply and a pod-to-pod flow.
  for (let f = 0; f < TCP_FLAGS_ALL; f++) {
    add(UPLINK, { srcMac: MACS.client, dstMac: GW_MAC, ip: { version: 4, src: CLIENT, dst: WEB_VIP }, l4: { proto: 'tcp', sport: 3000, dport: 80, flags: f, seq: f, ack: f, payload: f & 8 ? 'x' : '' } });
    add(POD_A, { srcMac: MACS.podA, dstMac: GW_MAC, ip: { version: 4, src: POD_A_IP, dst: NODE_IP }, l4: { proto: 'tcp', sport: 8080, dport: 3000, flags: f } });
    add(POD_A, { srcMac: MACS.podA, dstMac: GW_MAC, ip: { version: 6, src: 'fd00:244::2', dst: 'fd00:244::3' }, l4: { proto: 'tcp', sport: 3001, dport: 8080, flags: f } });
  }

  // ICMP errors quoting (possibly NATed) flows, with the quote cut anywhere and lying inner headers.
  const quoted4: [string, string, number, number, 'tcp' | 'udp' | 'icmp' | 'sctp'][] = [
    [WEB_VIP, CLIENT, 80, 1000, 'tcp'], [CLIENT, WEB_VIP, 1000, 80, 'tcp'], [POD_A_IP, CLIENT, 8080, 1000, 'tcp'],
    [NODE_IP, POD_A_IP, 1002, 8080, 'tcp'], [WEB_VIP, CLIENT, 53, 1001, 'udp'], [NODE_IP, '8.8.8.8', 1012, 53, 'udp'],
    [CLIENT, POD_B_IP, 1000, 8080, 'icmp'], [LB_IP, CLIENT, 80, 1003, 'sctp'],
  ];
  for (const [qs, qd, qsp, qdp, qp] of quoted4) {
    const inner = buildFrame({ ip: { version: 4, src: qs, dst: qd, ttl: 3 }, l4: { proto: qp, sport: qsp, dport: qdp, type: 8, id: qsp, flags: 0x18, payload: 'quoted payload' } }).subarray(14);
    for (const cut of [0, 1, 8, 19, 20, 21, 24, 27, 28, 40, inner.length]) {
      for (const [type, code] of [[3, 3], [3, 4], [11, 0], [12, 0]]) {
        const q = inner.slice(0, Math.min(cut, inner.length));
        if (cut > 0 && type === 12) q[0] = 0x4f; // inner IHL lies (60 bytes)
        add(UPLINK, { srcMac: MACS.vnetGw, dstMac: GW_MAC, ip: { version: 4, src: '10.0.0.1', dst: qs === WEB_VIP || qs === LB_IP ? qs : NODE_IP }, l4: { proto: 'icmp', type, code, rest: type === 3 && code === 4 ? 1400 : 0, payload: q } });
        add(POD_A, { srcMac: MACS.podA, dstMac: GW_MAC, ip: { version: 4, src: POD_A_IP, dst: qd === POD_A_IP ? NODE_IP : qd }, l4: { proto: 'icmp', type, code, payload: q } });
      }
    }
  }
  const quoted6: [string, string, number, number, 'tcp' | 'udp' | 'icmpv6'][] = [
    [WEB_VIP6, 'fd00::10', 80, 2000, 'tcp'], ['fd00::10', WEB_VIP6, 2000, 80, 'tcp'], ['fd00:244::2', 'fd00::10', 8080, 2000, 'tcp'], ['fd00::10', 'fd00:244::3', 1, 2, 'icmpv6'],
  ];
  for (const [qs, qd, qsp, qdp, qp] of quoted6) {
    const inner = buildFrame({ ip: { version: 6, src: qs, dst: qd, ext: qsp === 1 ? [{ type: 'hbh' }] : undefined }, l4: { proto: qp, sport: qsp, dport: qdp, type: 128, payload: 'q6' } }).subarray(14);
    for (const cut of [0, 1, 8, 39, 40, 41, 47, 48, 56, inner.length]) {
      for (const [type, code] of [[1, 4], [2, 0], [3, 0], [4, 1]]) {
        add(UPLINK, { srcMac: MACS.vnetGw, dstMac: GW_MAC, ip: { version: 6, src: 'fd00::1', dst: qs === WEB_VIP6 ? qs : 'fd00::4' }, l4: { proto: 'icmpv6', type, code, rest: type === 2 ? 1280 : 0, payload: inner.slice(0, cut) } });
        add(POD_A, { srcMac: MACS.podA, dstMac: GW_MAC, ip: { version: 6, src: 'fd00:244::2', dst: 'fd00::10' }, l4: { proto: 'icmpv6', type, code, payload: inner.slice(0, cut) } });
      }
    }
  }

  // IPv6 extension-header chains: long, unknown, lying lengths, fragments first and later.
  const chains: Ipv6ExtSpec[][] = [
    [{ type: 'hbh' }], [{ type: 'dst' }, { type: 'routing' }], [{ type: 'hbh' }, { type: 'dst' }, { type: 'routing' }, { type: 'dst' }],
    Array.from({ length: 8 }, () => ({ type: 'dst' as const })), Array.from({ length: 20 }, () => ({ type: 'dst' as const })),
    [{ type: 'ah' }], [{ type: 'hbh', data: new Uint8Array(200) }], [{ type: 'hbh', hdrExtLen: 255 }], [{ type: 'dst', hdrExtLen: 30 }, { type: 'routing' }],
    [{ type: 'fragment', offset: 0, more: true, id: 7 }], [{ type: 'fragment', offset: 8, more: false, id: 7 }], [{ type: 'hbh' }, { type: 'fragment', offset: 0, more: false, id: 8 }],
    [{ type: 0x8c }], [{ type: 'dst', nextHeader: 59 }], [{ type: 'routing', data: [0, 1, 0, 0, 0, 0] }], [{ type: 'hbh' }, { type: 'hbh' }],
  ];
  for (const ext of chains) {
    for (const [port, mac, src, dst] of [[UPLINK, MACS.client, 'fd00::10', WEB_VIP6], [UPLINK, MACS.client, 'fd00::10', 'fd00:244::2'], [POD_B, MACS.podB, 'fd00:244::3', 'fd00::10']] as const) {
      for (const proto of ['tcp', 'udp', 'icmpv6'] as const) {
        add(port, { srcMac: mac, dstMac: GW_MAC, ip: { version: 6, src, dst, ext }, l4: { proto, sport: 4000, dport: 80, flags: 0x02, type: 128, payload: 'ext' } });
      }
    }
  }

  // IPv4 with options, fragments (first, middle, last), lying IHL / total length.
  for (const [port, mac, src, dst] of [[UPLINK, MACS.client, CLIENT, WEB_VIP], [POD_A, MACS.podA, POD_A_IP, POD_B_IP]] as const) {
    add(port, { srcMac: mac, dstMac: GW_MAC, ip: { version: 4, src, dst, options: [0x94, 4, 0, 0] }, l4: { proto: 'tcp', sport: 5000, dport: 80, flags: 0x02 } });
    add(port, { srcMac: mac, dstMac: GW_MAC, ip: { version: 4, src, dst, options: [7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0] }, l4: { proto: 'udp', sport: 5000, dport: 53, payload: 'rr' } });
    add(port, { srcMac: mac, dstMac: GW_MAC, ip: { version: 4, src, dst, fragment: { offset: 0, more: true, id: 9 } }, l4: { proto: 'udp', sport: 5000, dport: 53, length: 3000, payload: new Uint8Array(64) } });
    add(port, { srcMac: mac, dstMac: GW_MAC, ip: { version: 4, src, dst, protocol: 6, fragment: { offset: 1480, more: true, id: 9 } }, payload: new Uint8Array(64) });
    add(port, { srcMac: mac, dstMac: GW_MAC, ip: { version: 4, src, dst, protocol: 17, fragment: { offset: 8, more: false, id: 9 } }, payload: new Uint8Array(3) });
    add(port, { srcMac: mac, dstMac: GW_MAC, ip: { version: 4, src, dst, ihl: 4 }, l4: { proto: 'tcp', sport: 5000, dport: 80 } });
    add(port, { srcMac: mac, dstMac: GW_MAC, ip: { version: 4, src, dst, ihl: 15 }, l4: { proto: 'tcp', sport: 5000, dport: 80 } });
    add(port, { srcMac: mac, dstMac: GW_MAC, ip: { version: 4, src, dst, totalLength: 65535 }, l4: { proto: 'udp', sport: 5000, dport: 53 } });
    add(port, { srcMac: mac, dstMac: GW_MAC, ip: { version: 4, src, dst, totalLength: 20 }, l4: { proto: 'tcp', sport: 5000, dport: 80 } });
    add(port, { srcMac: mac, dstMac: GW_MAC, ip: { version: 4, src, dst, checksum: 0x1234 }, l4: { proto: 'tcp', sport: 5000, dport: 80 } });
    add(port, { srcMac: mac, dstMac: GW_MAC, ip: { version: 4, src, dst }, l4: { proto: 'tcp', sport: 5000, dport: 80, dataOffset: 15 } });
    add(port, { srcMac: mac, dstMac: GW_MAC, ip: { version: 4, src, dst }, l4: { proto: 'udp', sport: 5000, dport: 53, length: 4 } });
  }

  // Big frames (GSO super-frame material on the vnet ports; too big for an MTU otherwise).
  for (const size of [1600, 3000, 9000, 30000, 65000]) {
    add(POD_A, { srcMac: MACS.podA, dstMac: GW_MAC, ip: { version: 4, src: POD_A_IP, dst: POD_B_IP, df: true }, l4: { proto: 'tcp', sport: 6000, dport: 8080, flags: 0x18, payload: new Uint8Array(size) } });
    add(POD_A, { srcMac: MACS.podA, dstMac: GW_MAC, ip: { version: 4, src: POD_A_IP, dst: NODE_IP, df: true }, l4: { proto: 'tcp', sport: 8080, dport: 1002, flags: 0x18, payload: new Uint8Array(size) } });
    add(POD_A, { srcMac: MACS.podA, dstMac: GW_MAC, ip: { version: 6, src: 'fd00:244::2', dst: 'fd00:244::3' }, l4: { proto: 'udp', sport: 6001, dport: 5353, payload: new Uint8Array(size) } });
    add(UPLINK, { srcMac: MACS.client, dstMac: GW_MAC, ip: { version: 4, src: CLIENT, dst: WEB_VIP, df: true }, l4: { proto: 'tcp', sport: 1000, dport: 80, flags: 0x10, payload: new Uint8Array(size) } });
    add(UPLINK, { srcMac: MACS.client, dstMac: GW_MAC, ip: { version: 6, src: 'fd00::10', dst: 'fd00:244::3' }, l4: { proto: 'tcp', sport: 6002, dport: 8080, flags: 0x10, payload: new Uint8Array(size) } });
  }

  // Real captured traffic, re-addressed at L2 half the time so it gets past the MAC check.
  const dir = fixturesDir ?? path.join(__dirname, '..', '..', '..', 'native-free-fixtures');
  const gw = parseMac(GW_MAC)!;
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []) {
    if (!f.endsWith('.pcap')) continue;
    for (const rec of PcapReader.readAll(path.join(dir, f)).records.slice(0, 200)) {
      const fr = rec.data.slice();
      if (c.length % 2 === 0) fr.set(gw, 0);
      c.push({ frame: fr, port: -1 });
    }
  }
  return c;
}

// ─── vnet headers that lie ─────────────────────────────────────────────────────────────────

const GSO_SIZES = [0, 1, 7, 8, 63, 88, 536, 1000, 1448, 1460, 1500, 1501, 8960, 9000, 32768, 65535];

/**
 * A virtio_net_hdr for the frame in buf[off, off+len) written at buf[off-10]: zero, right, or
 * one of the lies a guest (or a buggy kernel) could hand over.
 */
export function fuzzVnetHdr(rng: Prng, buf: Uint8Array, off: number, len: number, info: FrameInfo): void {
  const h = off - VNET_HDR_LEN;
  buf.fill(0, h, off);
  const k = rng.int(16) - 6;
  if (k < 3) return; // no offload (a bit more than half the frames)
  const parsed = parseFrame(buf, off, len, info) === 0 && info.ipVersion !== 0;
  const l4 = parsed ? info.l4Off - off : 34;
  const proto = parsed ? info.l4Proto : 6;
  const v6 = parsed && info.ipVersion === 6;
  const csumOff = proto === 17 ? 6 : 16;
  const le16 = (o: number, v: number) => { buf[h + o] = v & 0xff; buf[h + o + 1] = (v >>> 8) & 0xff; };
  if (k >= 9) { for (let i = 0; i < VNET_HDR_LEN; i++) buf[h + i] = rng.u32() & 0xff; return; } // random bytes
  // flags, gso_type, hdr_len, gso_size, csum_start, csum_offset
  buf[h] = 1; // NEEDS_CSUM
  le16(6, l4);
  le16(8, csumOff);
  if (k === 3) return; // right partial checksum
  if (k === 4) { // checksum offsets that lie
    const lies = [0, 13, 14, l4 + 1, len, len - 1, 65535];
    if (rng.chance(0.5)) le16(6, lies[rng.int(lies.length)]); else le16(8, [0, 2, 6, 16, 17, 60000][rng.int(6)]);
    if (rng.chance(0.2)) buf[h] = 3; // NEEDS_CSUM | DATA_VALID
    return;
  }
  // GSO: right type or another protocol's, sizes from the list, hdr_len right or not.
  const right = proto === 17 ? 5 : v6 ? 4 : 1;
  const types = [right, right, right, 1, 3, 4, 5, 0x81, 0x80, 2, 6];
  buf[h + 1] = types[rng.int(types.length)];
  le16(4, GSO_SIZES[rng.int(GSO_SIZES.length)]);
  const tcpHdr = parsed && proto === 6 ? (buf[info.l4Off + 12] >>> 4) << 2 : 8;
  const hdrLens = [l4 + tcpHdr, 0, len, len + 1, 65535, l4];
  le16(2, hdrLens[rng.int(hdrLens.length)]);
  if (rng.chance(0.1)) buf[h] = 0; // GSO without NEEDS_CSUM
}

// ─── The run ───────────────────────────────────────────────────────────────────────────────

export interface CrasherFrame {
  port: number;
  /** The virtio_net_hdr (hex) when the port has one. */
  vnetHdr: string | null;
  frame: string;
}

export interface Crasher {
  /** What broke: an exception's message or the invariant that failed. */
  error: string;
  stack: string | null;
  seed: number;
  /** Frames injected before the batch (where to find it again with FUZZ_SEED). */
  frameIndex: number;
  profile: ProfileName;
  /** Generation variant in force (0..2). */
  generation: number;
  clock: number;
  /** The batch that broke it, in order. */
  frames: CrasherFrame[];
  /** Whether replaying the batch alone in a fresh world reproduces it. */
  reproducesAlone?: boolean;
}

export interface FuzzOptions {
  frames: number;
  seed: number;
  /** Stop early after this long (the count is then what was done). */
  timeBudgetMs?: number;
  /** World profile per world: 'mixed' alternates (default). */
  profile?: ProfileName | 'mixed';
  corpus?: Seed[];
  /** Called for each crasher found (the run goes on with a fresh world). */
  onCrash?: (c: Crasher) => void;
  /** Frames per world before a fresh one (default 500k): an empty table has paths a full one hides. */
  worldFrames?: number;
  /** Progress every ~1M frames. */
  onProgress?: (done: number, ms: number) => void;
}

export interface FuzzTotals {
  injected: number;
  refused: number;
  received: number;
  forwarded: number;
  delivered: number;
  dropped: number;
  pending: number;
  generated: number;
  generatedDropped: number;
  flowsInserted: number;
  flowsEvicted: number;
  drops: Record<string, number>;
  worlds: number;
  generationSwaps: number;
  crashers: Crasher[];
  ms: number;
  /** Every world's counters balanced at its end. */
  balanced: boolean;
}

const BATCH = 64;
const MAX_FRAME = 66000;

/** Invariants of a world after a batch; the failing one's description, or null. */
export function worldProblem(w: World, checkDrops: boolean): string | null {
  const c = w.fwd.counters;
  if (!c.balanced()) return `unbalanced: received ${c.received} != forwarded ${c.forwarded} + delivered ${c.delivered} + dropped ${c.dropped} + pending ${c.pending}`;
  if (c.pending < 0 || c.pending > w.bounds.pending) return `pending ${c.pending} outside [0, ${w.bounds.pending}]`;
  if (w.fwd.flows.size > w.bounds.flows) return `flow table holds ${w.fwd.flows.size} > capacity ${w.bounds.flows}`;
  if (w.fwd.neighbors.size > w.bounds.neighbors) return `neighbor table holds ${w.fwd.neighbors.size} > capacity ${w.bounds.neighbors}`;
  if (checkDrops) {
    let sum = 0;
    for (let i = 0; i < c.drops.length; i++) sum += c.drops[i];
    if (sum !== c.dropped) return `Σ drops by reason ${sum} != dropped ${c.dropped}`;
  }
  return null;
}

function hex(b: Uint8Array, off: number, len: number): string {
  return Buffer.from(b.buffer, b.byteOffset + off, len).toString('hex');
}

/**
 * Replay a crasher's batch in a fresh world of its profile and generation: throws what the
 * forwarder throws; returns the invariant problem (or null) after the batch and the timers.
 */
export function replayCrasher(cr: Pick<Crasher, 'profile' | 'generation' | 'clock' | 'frames'>): string | null {
  const w = buildWorld(cr.profile);
  w.clock.now = cr.clock;
  w.fwd.setGeneration(w.gens[cr.generation] ?? w.gens[0]);
  for (const f of cr.frames) {
    const port = w.ports[f.port];
    const frame = Buffer.from(f.frame, 'hex');
    const ok = f.vnetHdr !== null && port.vnetHdr ? port.inject(frame, Buffer.from(f.vnetHdr, 'hex')) : port.inject(frame);
    if (!ok) continue;
    w.fwd.poll(f.port);
  }
  for (let i = 0; i < 4; i++) { w.clock.now += 1500; w.fwd.tick(); }
  return worldProblem(w, true);
}

/** Run the fuzz: `frames` frames over as many fresh worlds as crashes need. */
export function runFuzz(o: FuzzOptions): FuzzTotals {
  const seeds = o.corpus ?? fuzzCorpus();
  const rng = new Prng(o.seed);
  const info = new FrameInfo();
  const scratch = new Uint8Array(VNET_HDR_LEN + MAX_FRAME + 64);
  // The current batch, kept aside (frames may be rewritten in place by the forwarder).
  const logBuf = new Uint8Array(BATCH * (VNET_HDR_LEN + MAX_FRAME));
  const logLen = new Uint32Array(BATCH);
  const logPort = new Int32Array(BATCH);
  const totals: FuzzTotals = {
    injected: 0, refused: 0, received: 0, forwarded: 0, delivered: 0, dropped: 0, pending: 0, generated: 0, generatedDropped: 0,
    flowsInserted: 0, flowsEvicted: 0, drops: {}, worlds: 0, generationSwaps: 0, crashers: [], ms: 0, balanced: true,
  };
  const dropTotals = new Float64Array(DROP_REASON_COUNT);
  const t0 = Date.now();
  const profiles: ProfileName[] = o.profile === undefined || o.profile === 'mixed' ? ['default', 'small'] : [o.profile];
  let w = buildWorld(profiles[0]);
  let genIdx = 0;
  totals.worlds = 1;
  const plain = SLOT_SIZE_PLAIN - VNET_HDR_LEN, gso = SLOT_SIZE_GSO - VNET_HDR_LEN;

  const retire = (world: World, drain: boolean): void => {
    if (drain) {
      for (let p = 0; p < world.ports.length; p++) while (world.ports[p].receive() > 0) world.fwd.processBatch(p);
      for (let i = 0; i < 5; i++) { world.clock.now += 1500; world.fwd.tick(); }
      if (!world.fwd.counters.balanced()) totals.balanced = false;
    }
    const c = world.fwd.counters;
    totals.received += c.received; totals.forwarded += c.forwarded; totals.delivered += c.delivered; totals.dropped += c.dropped;
    totals.pending += c.pending; totals.generated += c.generated; totals.generatedDropped += c.generatedDropped;
    totals.flowsInserted += world.fwd.flows.inserted; totals.flowsEvicted += world.fwd.flows.evicted;
    for (let i = 0; i < c.drops.length; i++) dropTotals[i % DROP_REASON_COUNT] += c.drops[i];
  };

  const crash = (err: string, stack: string | null, n: number, frameIndex: number): void => {
    const frames: CrasherFrame[] = [];
    for (let i = 0; i < n; i++) {
      const base = i * (VNET_HDR_LEN + MAX_FRAME);
      const p = logPort[i];
      frames.push({ port: p, vnetHdr: w.ports[p].vnetHdr ? hex(logBuf, base, VNET_HDR_LEN) : null, frame: hex(logBuf, base + VNET_HDR_LEN, logLen[i]) });
    }
    const cr: Crasher = { error: err, stack, seed: o.seed, frameIndex, profile: w.profile, generation: genIdx, clock: w.clock.now, frames };
    try {
      cr.reproducesAlone = replayCrasher(cr) !== null;
    } catch {
      cr.reproducesAlone = true;
    }
    totals.crashers.push(cr);
    o.onCrash?.(cr);
    retire(w, false);
    w = buildWorld(profiles[totals.worlds % profiles.length]);
    genIdx = 0;
    totals.worlds++;
  };

  const worldFrames = o.worldFrames ?? 500_000;
  let done = 0, nextProgress = 1_000_000, batches = 0, nextWorld = worldFrames;
  while (done < o.frames) {
    if (o.timeBudgetMs !== undefined && (batches & 63) === 0 && Date.now() - t0 > o.timeBudgetMs) break;
    batches++;
    const p = rng.int(w.ports.length);
    const port = w.ports[p];
    const max = port.vnetHdr ? gso : plain;
    const before = done;
    let n = 0;
    for (let i = 0; i < BATCH && done < o.frames; i++, done++) {
      let len: number;
      const kind = rng.int(12);
      const at = VNET_HDR_LEN;
      if (kind === 0) {
        len = rng.int(200);
        for (let j = 0; j < len; j++) scratch[at + j] = rng.u32() & 0xff;
        if (len >= 6 && rng.chance(0.5)) scratch.set(GW_BYTES, at);
      } else {
        // Seeds meant for this port two times out of three.
        let s = seeds[rng.int(seeds.length)];
        for (let tries = 0; tries < 4 && s.port >= 0 && s.port !== p && rng.chance(0.67); tries++) s = seeds[rng.int(seeds.length)];
        len = s.frame.length;
        scratch.set(s.frame, at);
        if (kind >= 3) {
          const muts = 1 + rng.int(4);
          for (let m = 0; m < muts; m++) {
            const op = rng.int(8);
            if (op === 0) len = rng.int(len + 1);
            else if (op === 1 && len > 0) scratch[at + rng.int(len)] ^= 1 << rng.int(8);
            else if (op === 2 && len > 0) scratch[at + rng.int(len)] = rng.u32() & 0xff;
            else if (op === 3 && len > 17) scratch[at + 14 + rng.int(4)] = rng.u32() & 0xff; // IHL / version / lengths
            else if (op === 4 && len > 50) scratch[at + 47] = rng.u32() & 0xff; // TCP flags (IPv4, no options)
            else if (op === 5 && len < 8000) { const extra = rng.int(64); for (let j = 0; j < extra; j++) scratch[at + len + j] = rng.u32() & 0xff; len += extra; }
            else if (op === 6 && len > 37) { scratch[at + 34 + rng.int(4)] = rng.u32() & 0xff; } // L4 ports
            else if (op === 7 && len > 60) { const q = at + 40 + rng.int(Math.min(len - 40, 80)); scratch[q] = [0, 4, 5, 0x45, 0x4f, 0x60, 0xff][rng.int(7)]; } // inner headers
          }
        }
      }
      if (len > max) len = max;
      if (port.vnetHdr) fuzzVnetHdr(rng, scratch, at, len, info);
      const base = n * (VNET_HDR_LEN + MAX_FRAME);
      logBuf.set(scratch.subarray(0, at + len), base);
      logLen[n] = len;
      logPort[n] = p;
      n++;
      const ok = port.vnetHdr ? port.inject(scratch, at, len, scratch.subarray(0, VNET_HDR_LEN)) : port.inject(scratch, at, len);
      if (ok) totals.injected++; else totals.refused++;
    }
    try {
      w.fwd.poll(p);
      if (rng.chance(0.05)) { w.clock.now += rng.chance(0.01) ? 200_000 + rng.int(100_000) : rng.int(1500); w.fwd.tick(); }
      if (rng.chance(0.02)) w.fwd.resolveAllPending(CLIENT_MAC_BYTES);
      if (rng.chance(0.002)) { genIdx = rng.int(w.gens.length); w.fwd.setGeneration(w.gens[genIdx]); totals.generationSwaps++; }
    } catch (e) {
      crash(e instanceof Error ? e.message : String(e), e instanceof Error ? e.stack ?? null : null, n, before);
      continue;
    }
    const prob = worldProblem(w, (batches & 15) === 0);
    if (prob !== null) { crash(prob, null, n, before); continue; }
    if (done >= nextProgress) { nextProgress += 1_000_000; o.onProgress?.(done, Date.now() - t0); }
    // A fresh world now and then: tables filled by one long run hide the paths of an empty one.
    if (done >= nextWorld) {
      nextWorld += worldFrames;
      retire(w, true);
      w = buildWorld(profiles[totals.worlds % profiles.length]);
      genIdx = 0;
      totals.worlds++;
    }
  }
  retire(w, true);
  totals.ms = Date.now() - t0;
  for (let r = 1; r < DROP_REASON_COUNT; r++) if (dropTotals[r] > 0) totals.drops[DROP_REASON_NAMES[r]] = dropTotals[r];
  return totals;
}

const GW_BYTES = parseMac(GW_MAC)!;
const CLIENT_MAC_BYTES = parseMac(MACS.client)!;

// ─── Crasher fixtures ──────────────────────────────────────────────────────────────────────

/** native-free-fixtures/crashers (from dist/test/support or test/support). */
export function crashersDir(): string {
  for (const up of [['..', '..', '..'], ['..', '..']]) {
    const root = path.resolve(__dirname, ...up);
    if (fs.existsSync(path.join(root, 'package.json'))) return path.join(root, 'native-free-fixtures', 'crashers');
  }
  return path.resolve(__dirname, '..', '..', '..', 'native-free-fixtures', 'crashers');
}

/** Save a crasher as `<seed>-<frameIndex>.json`; returns the path. */
export function saveCrasher(cr: Crasher, dir = crashersDir()): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `seed-${cr.seed}-frame-${cr.frameIndex}.json`);
  fs.writeFileSync(file, JSON.stringify(cr, null, 1) + '\n');
  return file;
}

/** Every saved crasher (sorted by file name). */
export function loadCrashers(dir = crashersDir()): { file: string; crasher: Crasher }[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
    .map((f) => ({ file: path.join(dir, f), crasher: JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Crasher }));
}
