/**
 * The main path comparison: client → ClusterIP → pod, through tapflow and through the kernel
 * doing what kube-proxy programs, every path in the same namespace topology (scripts/testbed.ts:
 * client ns → node ns → pod ns), all measured in one run.
 *
 *   node dist/scripts/bench-clusterip.js [--quick] [--seconds 8] [--rounds 1] [--connections 50]
 *                                        [--paths tapflow-full,tapflow-plain,kernel-iptables,kernel-nft,direct]
 *                                        [--budget 360] [--out results/bench-clusterip.json]
 *
 * Paths (one testbed each, all up at once, loads rotated between them metric by metric):
 *  - tapflow-full:   `tapflow run --config DIR` with the "full pipeline": the Service + its
 *                    EndpointSlice, 1,000 NSG rules (a subnet NSG and a NIC NSG on the pod's
 *                    NIC; the rule that allows the bench traffic is the last custom rule of
 *                    each, priority 4096), 200 NetworkPolicies over 11 namespaces (the bench pod
 *                    is isolated; one of them allows the client), Pods and Namespaces.
 *                    Conntrack and counters are always on in tapflow.
 *  - tapflow-plain:  the same agent with only the Service + EndpointSlice (no NSG, no policy).
 *  - kernel-iptables: kernel forwarding + kube-proxy's iptables-mode rules for the service
 *                    (KUBE-SERVICES → KUBE-SVC → KUBE-SEP DNAT, KUBE-MARK-MASQ for off-cluster
 *                    sources, KUBE-POSTROUTING MASQUERADE --random-fully, KUBE-FORWARD), loaded
 *                    with iptables-restore in the node namespace. The ratio column is vs this.
 *  - kernel-nft:     kernel forwarding + kube-proxy's nftables-mode ruleset (service-ips vmap,
 *                    service and endpoint chains, mark-for-masquerade, masquerading), `nft -f`.
 *  - direct:         kernel forwarding, no NAT, no conntrack rules: the client talks to the pod IP.
 *
 * Metrics (via the ClusterIP; direct: the pod IP):
 *  - iperf3 TCP, 1 and 4 streams (-t S);
 *  - iperf3 UDP, 64-byte payload, -b 10G (the same sender settings on every path: as fast as the
 *    sender manages): offered pps, pps that reached the pod's eth0, pps delivered to the iperf3
 *    receiver, loss;
 *  - HTTP keep-alive: autocannon -c N -d S: req/s, latency p50/p99;
 *  - new connections/s: N concurrent connect → GET (Connection: close) → close loops for S s;
 *  - ping RTT to the pod IP (ICMP is not a service protocol; through the same forwarding path):
 *    50 pings, -i 0.01, avg/p50/max.
 *
 * Before measuring, tapflow-full is verified: the agent's `ready` event (service compiled, no
 * errors), an in-process compile of the same files (NSG rule and policy counts, no filter
 * issues), `tapflow trace` of each bench flow through the same config offline (verdict forward,
 * decided by the NSG allow rule at the end of the priority order and by the allowing policy),
 * negative traces, and a live negative check (a client source the policies do not allow is
 * dropped and counted as policy-denied by the running agent).
 *
 * Bounded: every load has its own limit (-t / -d plus a hard timeout) and the whole run has a
 * budget (default 360 s, --quick 120 s); a measurement that would not fit is skipped (listed
 * as skipped). Prints progress, a markdown table with ratios vs kernel iptables DNAT, writes the
 * JSON. Targets (measured, never asserted) are in the table. Needs root, iperf3, nft, iptables.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execIn, findRepoRoot, Forwarder, NodeConfigDoc, Testbed, waitFor } from './testbed';
import '../control/model/kinds';
import { DesiredState, loadManifestPaths } from '../control/model/manifests';
import type { NodeConfig } from '../control/model/node-config';
import { NodeCompiler } from '../control/compile/node-compiler';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

export const VIP = '10.96.0.100';
export const HTTP_PORT = 8080;
export const IPERF_PORT = 5201;
export const BENCH_NS = 'bench';
export const BENCH_POD = 'bench-0';
/** The client (10.0.0.10) is in this block; the NSG allow rule and the allowing policy name it. */
export const CLIENT_BLOCK = '10.0.0.0/28';
/** In the VNet but outside CLIENT_BLOCK: the NSGs let it through (AllowVnetInBound), no policy allows it. */
export const POLICY_DENIED_SRC = '10.0.0.100';
/** In 10.0.0.16/28, which an NSG rule denies. */
export const NSG_DENIED_SRC = '10.0.0.20';
const CLUSTER_CIDR = '10.244.0.0/16';
const POD_SUBNET = '10.244.0.0/24';
const SUB = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-bench/providers/Microsoft.Network';
export const NSG_SUBNET = 'bench-subnet-nsg';
export const NSG_NIC = 'bench-nic-nsg';
export const ALLOW_RULE = 'allow-bench-client';
export const ALLOW_PRIORITY = 4096;
export const ALLOW_POLICY = 'allow-bench-client';

// ─── The "full pipeline" configuration ─────────────────────────────────────────────────────

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

const COMMON_PORTS = [22, 23, 25, 53, 123, 135, 389, 443, 445, 1433, 1521, 2049, 3306, 3389, 5432, 5672, 6379, 6443, 9090, 9200, 9300, 10250, 11211, 27017];

function nsgRule(name: string, priority: number, direction: 'Inbound' | 'Outbound', access: 'Allow' | 'Deny', protocol: string, src: string | string[], dst: string | string[], dport: string | string[]): Obj {
  const p: Obj = { priority, direction, access, protocol, sourcePortRange: '*' };
  if (Array.isArray(src)) p.sourceAddressPrefixes = src;
  else p.sourceAddressPrefix = src;
  if (Array.isArray(dst)) p.destinationAddressPrefixes = dst;
  else p.destinationAddressPrefix = dst;
  if (Array.isArray(dport)) p.destinationPortRanges = dport;
  else p.destinationPortRange = dport;
  return { name, properties: p };
}

/**
 * `count` rules (the last one the allow rule for the bench client, priority 4096, after every
 * other custom rule). None of the others matches a bench flow, by construction: inbound rules
 * either name sources outside the client's block or name only destination ports the bench does
 * not use (and never ICMP); a fifth are outbound (another direction). Realistic shapes: specific
 * prefixes and /24s, tags, `*`, lists, ranges, Allow and Deny.
 */
function makeNsgRules(rnd: () => number, count: number, prefix: string, withNeighborDeny: boolean): Obj[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const int = (n: number): number => Math.floor(rnd() * n);
  const foreign = (): string => {
    const r = rnd();
    if (r < 0.3) return `172.${16 + int(16)}.${int(256)}.0/24`;
    if (r < 0.45) return `192.168.${int(256)}.0/24`;
    if (r < 0.6) return `172.${16 + int(16)}.${int(256)}.${1 + int(254)}`;
    if (r < 0.85) return `${20 + int(180)}.${int(256)}.${int(256)}.0/24`;
    return `10.${1 + int(200)}.${int(256)}.0/24`; // the VNet, never 10.0.0.0/24
  };
  const anyDst = (): string | string[] => {
    const r = rnd();
    if (r < 0.3) return '*';
    if (r < 0.45) return POD_SUBNET;
    if (r < 0.55) return 'VirtualNetwork';
    if (r < 0.75) return `10.244.0.${2 + int(250)}`;
    if (r < 0.85) return [`10.244.0.${2 + int(250)}`, `10.244.0.${2 + int(250)}`].filter((v, i, a) => a.indexOf(v) === i);
    return foreign();
  };
  const anyPorts = (): string | string[] => {
    const r = rnd();
    if (r < 0.2) return '*';
    if (r < 0.35) return pick(['80', String(HTTP_PORT), String(IPERF_PORT), '443']);
    if (r < 0.75) return String(pick(COMMON_PORTS));
    if (r < 0.9) { const a = 1024 + int(60000); return `${a}-${Math.min(65535, a + int(2000))}`; }
    return [String(pick(COMMON_PORTS)), String(pick(COMMON_PORTS)), `${30000 + int(1000)}-${31000 + int(1767)}`].filter((v, i, a) => a.indexOf(v) === i);
  };
  /** Destination ports the bench never uses (80, 5201, 8080 excluded). */
  const otherPorts = (): string | string[] => {
    const r = rnd();
    if (r < 0.6) return String(pick(COMMON_PORTS));
    if (r < 0.85) { const a = 10000 + int(50000); return `${a}-${Math.min(65535, a + int(3000))}`; }
    return [String(pick(COMMON_PORTS)), String(pick(COMMON_PORTS))].filter((v, i, a) => a.indexOf(v) === i);
  };
  const out: Obj[] = [];
  let pin = 100, pout = 100;
  const neighborAt = withNeighborDeny ? Math.floor(count / 2) : -1;
  for (let i = 0; i < count - 1; i++) {
    const name = `${prefix}-${String(i).padStart(4, '0')}`;
    if (i === neighborAt) {
      // a deny of the client's neighbours (10.0.0.16/28): the negative check, mid-order
      out.push(nsgRule(`${prefix}-deny-neighbors`, pin++, 'Inbound', 'Deny', '*', '10.0.0.16/28', '*', '*'));
      continue;
    }
    const r = rnd();
    if (r < 0.2) {
      out.push(nsgRule(name, pout++, 'Outbound', rnd() < 0.6 ? 'Allow' : 'Deny', pick(['Tcp', 'Tcp', 'Udp', '*']), pick(['*', POD_SUBNET, 'VirtualNetwork']), rnd() < 0.5 ? foreign() : pick(['Internet', '*', 'VirtualNetwork']), anyPorts()));
    } else if (r < 0.6) {
      const src = rnd() < 0.8 ? foreign() : [foreign(), foreign(), foreign()];
      out.push(nsgRule(name, pin++, 'Inbound', rnd() < 0.6 ? 'Allow' : 'Deny', pick(['Tcp', 'Tcp', 'Udp', '*']), src, anyDst(), anyPorts()));
    } else {
      const src = pick(['*', '*', 'Internet', 'VirtualNetwork', '10.0.0.0/16', CLIENT_BLOCK, 'AzureLoadBalancer']);
      out.push(nsgRule(name, pin++, 'Inbound', rnd() < 0.5 ? 'Allow' : 'Deny', pick(['Tcp', 'Tcp', 'Udp']), src, anyDst(), otherPorts()));
    }
  }
  if (pin >= ALLOW_PRIORITY) throw new Error('too many inbound rules for the priority range');
  out.push(nsgRule(ALLOW_RULE, ALLOW_PRIORITY, 'Inbound', 'Allow', '*', CLIENT_BLOCK, POD_SUBNET, '*'));
  return out;
}

const NAMESPACES = 10;

/** 200 NetworkPolicies; 20 of them in the bench namespace select the bench pod; ALLOW_POLICY allows the client. */
function makePolicies(rnd: () => number, count: number): Obj[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const int = (n: number): number => Math.floor(rnd() * n);
  const allowAt = Math.floor(count * 0.68);
  const out: Obj[] = [];
  const peer = (): Obj => {
    const k = rnd();
    if (k < 0.35) return { podSelector: { matchLabels: { app: `app-${int(40)}` } } };
    if (k < 0.55) return { namespaceSelector: { matchLabels: { team: pick(['a', 'b', 'c']) } } };
    if (k < 0.7) return { namespaceSelector: { matchLabels: { team: pick(['a', 'b']) } }, podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }] } };
    if (k < 0.85) { const b = 16 + int(16); return { ipBlock: { cidr: `172.${b}.0.0/16`, except: [`172.${b}.${int(256)}.0/24`] } }; }
    return { ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '192.168.0.0/16'] } }; // "the Internet": not the client (10.0.0.10)
  };
  const port = (): Obj => (rnd() < 0.25 ? { port: pick(['http', 'metrics', 'iperf']) } : rnd() < 0.9 ? { protocol: pick(['TCP', 'TCP', 'UDP']), port: pick(COMMON_PORTS) } : { protocol: 'TCP', port: 30000, endPort: 30100 });
  for (let i = 0; i < count; i++) {
    if (i === allowAt) {
      out.push({
        apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: BENCH_NS, name: ALLOW_POLICY },
        spec: { podSelector: { matchLabels: { app: 'bench' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ ipBlock: { cidr: CLIENT_BLOCK } }] }] },
      });
      continue;
    }
    const inBench = i % 10 === 3; // 20 policies about the bench namespace
    const ns = inBench ? BENCH_NS : `ns-${i % NAMESPACES}`;
    const sel = inBench ? pick<Obj>([{ matchLabels: { app: 'bench' } }, { matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }] }, {}])
      : rnd() < 0.05 ? {} : { matchLabels: { app: `app-${int(40)}` } };
    const spec: Obj = { podSelector: sel };
    if (!inBench && rnd() < 0.05) {
      spec.policyTypes = ['Ingress']; // a namespace default deny
    } else {
      spec.ingress = Array.from({ length: 1 + int(2) }, () => ({ from: Array.from({ length: 1 + int(2) }, peer), ports: Array.from({ length: 1 + int(2) }, port) }));
      if (rnd() < 0.3) {
        spec.policyTypes = ['Ingress', 'Egress'];
        spec.egress = [{ to: [peer()], ports: [port()] }, { to: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ protocol: 'UDP', port: 53 }] }];
      }
    }
    out.push({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: ns, name: `pol-${String(i).padStart(3, '0')}` }, spec });
  }
  return out;
}

/** Service bench/bench (VIP): 80/TCP → 8080 (HTTP), 5201/TCP and 5201/UDP → 5201 (iperf3), one endpoint. */
export function serviceObjects(podIP: string, nodeName = 'node-1'): Obj[] {
  return [
    {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'bench', namespace: BENCH_NS },
      spec: {
        type: 'ClusterIP', clusterIP: VIP, selector: { app: 'bench' },
        ports: [
          { name: 'http', port: 80, targetPort: HTTP_PORT, protocol: 'TCP' },
          { name: 'iperf', port: IPERF_PORT, targetPort: IPERF_PORT, protocol: 'TCP' },
          { name: 'iperf-udp', port: IPERF_PORT, targetPort: IPERF_PORT, protocol: 'UDP' },
        ],
      },
    },
    {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: 'bench-1', namespace: BENCH_NS, labels: { 'kubernetes.io/service-name': 'bench' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [podIP], nodeName, conditions: { ready: true } }],
      ports: [{ name: 'http', port: HTTP_PORT, protocol: 'TCP' }, { name: 'iperf', port: IPERF_PORT, protocol: 'TCP' }, { name: 'iperf-udp', port: IPERF_PORT, protocol: 'UDP' }],
    },
  ];
}

export interface FullConfig {
  objects: Obj[];
  nsgRules: number;
  policies: number;
}

/**
 * The full pipeline's objects for a bench pod at podIP on nodeName: Service + EndpointSlice,
 * Namespaces, Pods (the bench pod and 40 pods on another node for the selectors), the VNet,
 * the pod's NIC (privateIPAddress = the pod IP: that maps it to the pod's port), the subnet NSG
 * (60 % of nsgRules) and the NIC NSG (40 %), and `policies` NetworkPolicies.
 */
export function fullPipelineObjects(podIP: string, nodeName = 'node-1', nsgRules = 1000, policies = 200): FullConfig {
  const rnd = prng(20240601);
  const subnetRules = Math.round(nsgRules * 0.6);
  const objects: Obj[] = [...serviceObjects(podIP, nodeName)];
  const teams = ['a', 'b', 'c'];
  objects.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: BENCH_NS, labels: { team: 'bench' } } });
  for (let i = 0; i < NAMESPACES; i++) objects.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${i}`, labels: { team: teams[i % 3], env: i % 2 ? 'dev' : 'prod' } } });
  objects.push({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: BENCH_POD, namespace: BENCH_NS, labels: { app: 'bench', tier: 'web' } },
    spec: { nodeName, containers: [{ name: 'bench', image: 'bench', ports: [{ name: 'http', containerPort: HTTP_PORT }, { name: 'iperf', containerPort: IPERF_PORT }, { name: 'iperf-udp', containerPort: IPERF_PORT, protocol: 'UDP' }] }] },
    status: { phase: 'Running', podIP, podIPs: [{ ip: podIP }] },
  });
  for (let i = 0; i < 40; i++) {
    const ip = `10.244.1.${10 + i}`;
    objects.push({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: `app-${i}-0`, namespace: `ns-${i % NAMESPACES}`, labels: { app: `app-${i}`, tier: ['web', 'api', 'db'][i % 3], ...(i === 0 ? { 'k8s-app': 'kube-dns' } : {}) } },
      spec: { nodeName: 'node-2', containers: [{ name: 'c', image: 'x', ports: [{ name: 'http', containerPort: 8080 }, { name: 'metrics', containerPort: 9090 }] }] },
      status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
    });
  }
  const nsgObj = (name: string, rules: Obj[]): Obj => ({ type: 'Microsoft.Network/networkSecurityGroups', name, id: `${SUB}/networkSecurityGroups/${name}`, location: 'westeurope', properties: { securityRules: rules } });
  objects.push(nsgObj(NSG_SUBNET, makeNsgRules(rnd, subnetRules, 'subnet', true)));
  objects.push(nsgObj(NSG_NIC, makeNsgRules(rnd, nsgRules - subnetRules, 'nic', false)));
  objects.push({
    type: 'Microsoft.Network/virtualNetworks', name: 'bench-vnet', id: `${SUB}/virtualNetworks/bench-vnet`,
    properties: {
      addressSpace: { addressPrefixes: ['10.0.0.0/16', '10.244.0.0/16'] },
      subnets: [
        { name: 'clients', properties: { addressPrefix: '10.0.0.0/24' } },
        { name: 'pods', properties: { addressPrefix: POD_SUBNET, networkSecurityGroup: { id: `${SUB}/networkSecurityGroups/${NSG_SUBNET}` } } },
      ],
    },
  });
  objects.push({
    type: 'Microsoft.Network/networkInterfaces', name: 'bench-pod-nic', id: `${SUB}/networkInterfaces/bench-pod-nic`,
    properties: {
      networkSecurityGroup: { id: `${SUB}/networkSecurityGroups/${NSG_NIC}` },
      ipConfigurations: [{ name: 'ipconfig1', properties: { privateIPAddress: podIP, primary: true, subnet: { id: `${SUB}/virtualNetworks/bench-vnet/subnets/pods` } } }],
    },
  });
  objects.push(...makePolicies(rnd, policies));
  return { objects, nsgRules, policies };
}

/** NodeConfig hook: the first pod port is the bench pod (NetworkPolicy needs to know which pod a port is). */
export function benchNodeConfigHook(doc: NodeConfigDoc): void {
  const p = doc.spec.ports.find((x) => x.role === 'pod');
  if (p) p.pod = { namespace: BENCH_NS, name: BENCH_POD };
}

// ─── Paths ──────────────────────────────────────────────────────────────────────────────────

export type PathName = 'tapflow-full' | 'tapflow-plain' | 'kernel-iptables' | 'kernel-nft' | 'direct';
/** Extra `tapflow run` arguments for the tapflow paths (--agent-args). */
let AGENT_EXTRA_ARGS: string[] = [];

const ALL_PATHS: PathName[] = ['tapflow-full', 'tapflow-plain', 'kernel-iptables', 'kernel-nft', 'direct'];
const LABEL: Record<PathName, string> = {
  'tapflow-full': 'tapflow full pipeline',
  'tapflow-plain': 'tapflow plain',
  'kernel-iptables': 'kernel iptables DNAT',
  'kernel-nft': 'kernel nftables DNAT',
  direct: 'direct routing (kernel)',
};
const BASELINE: PathName = 'kernel-iptables';

interface Bed {
  name: PathName;
  forwarder: Forwarder;
  tb: Testbed;
  cfgDir: string;
  up: boolean;
  errors: string[];
  /** Where the client sends: the VIP, or the pod IP (direct). */
  httpUrl: string;
  iperfHost: string;
  verify?: Obj;
  agentStats?: unknown;
}

function progress(line: string): void {
  process.stdout.write(`[bench-clusterip ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** kube-proxy iptables mode for the bench service (one endpoint), as iptables-restore input. */
function iptablesRules(podIP: string): string {
  const svc = [
    { chain: 'KUBE-SVC-HTTP', sep: 'KUBE-SEP-HTTP1', proto: 'tcp', port: 80, target: HTTP_PORT },
    { chain: 'KUBE-SVC-IPERF', sep: 'KUBE-SEP-IPERF1', proto: 'tcp', port: IPERF_PORT, target: IPERF_PORT },
    { chain: 'KUBE-SVC-IPERFU', sep: 'KUBE-SEP-IPERFU1', proto: 'udp', port: IPERF_PORT, target: IPERF_PORT },
  ];
  const l: string[] = ['*nat', ':KUBE-SERVICES - [0:0]', ':KUBE-POSTROUTING - [0:0]', ':KUBE-MARK-MASQ - [0:0]'];
  for (const s of svc) l.push(`:${s.chain} - [0:0]`, `:${s.sep} - [0:0]`);
  l.push('-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  l.push('-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  l.push('-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING');
  l.push('-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000');
  l.push('-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN');
  l.push('-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000');
  l.push('-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully');
  for (const s of svc) {
    l.push(`-A KUBE-SERVICES -d ${VIP}/32 -p ${s.proto} -m comment --comment "bench/bench cluster IP" -m ${s.proto} --dport ${s.port} -j ${s.chain}`);
    l.push(`-A ${s.chain} ! -s ${CLUSTER_CIDR} -d ${VIP}/32 -p ${s.proto} -m comment --comment "bench/bench cluster IP" -m ${s.proto} --dport ${s.port} -j KUBE-MARK-MASQ`);
    l.push(`-A ${s.chain} -m comment --comment "bench/bench -> ${podIP}:${s.target}" -j ${s.sep}`);
    l.push(`-A ${s.sep} -s ${podIP}/32 -m comment --comment "bench/bench" -j KUBE-MARK-MASQ`);
    l.push(`-A ${s.sep} -p ${s.proto} -m comment --comment "bench/bench" -m ${s.proto} -j DNAT --to-destination ${podIP}:${s.target}`);
  }
  l.push('COMMIT', '*filter', ':KUBE-FORWARD - [0:0]');
  l.push('-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD');
  l.push('-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP');
  l.push('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT');
  l.push('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');
  l.push('COMMIT');
  return l.join('\n') + '\n';
}

/** kube-proxy nftables mode for the bench service (one endpoint), as `nft -f` input. */
function nftRuleset(podIP: string): string {
  return `
table ip kube-proxy {
  comment "rules for kube-proxy (bench)"
  chain mark-for-masquerade {
    meta mark set meta mark or 0x4000
  }
  chain masquerading {
    meta mark & 0x4000 == 0 return
    meta mark set meta mark xor 0x4000
    masquerade fully-random
  }
  chain services {
    ip daddr . meta l4proto . th dport vmap @service-ips
  }
  chain filter-forward {
    type filter hook forward priority -110; policy accept;
    ct state invalid drop
  }
  chain nat-prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    jump services
  }
  chain nat-output {
    type nat hook output priority -100; policy accept;
    jump services
  }
  chain nat-postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    jump masquerading
  }
  chain service-bench-http {
    ip daddr ${VIP} tcp dport 80 ip saddr != ${CLUSTER_CIDR} jump mark-for-masquerade
    numgen random mod 1 vmap { 0 : goto endpoint-bench-http-1 }
  }
  chain endpoint-bench-http-1 {
    ip saddr ${podIP} jump mark-for-masquerade
    meta l4proto tcp dnat to ${podIP}:${HTTP_PORT}
  }
  chain service-bench-iperf {
    ip daddr ${VIP} tcp dport ${IPERF_PORT} ip saddr != ${CLUSTER_CIDR} jump mark-for-masquerade
    numgen random mod 1 vmap { 0 : goto endpoint-bench-iperf-1 }
  }
  chain endpoint-bench-iperf-1 {
    ip saddr ${podIP} jump mark-for-masquerade
    meta l4proto tcp dnat to ${podIP}:${IPERF_PORT}
  }
  chain service-bench-iperf-udp {
    ip daddr ${VIP} udp dport ${IPERF_PORT} ip saddr != ${CLUSTER_CIDR} jump mark-for-masquerade
    numgen random mod 1 vmap { 0 : goto endpoint-bench-iperf-udp-1 }
  }
  chain endpoint-bench-iperf-udp-1 {
    ip saddr ${podIP} jump mark-for-masquerade
    meta l4proto udp dnat to ${podIP}:${IPERF_PORT}
  }
  map service-ips {
    type ipv4_addr . inet_proto . inet_service : verdict
    elements = {
      ${VIP} . tcp . 80 : goto service-bench-http,
      ${VIP} . tcp . ${IPERF_PORT} : goto service-bench-iperf,
      ${VIP} . udp . ${IPERF_PORT} : goto service-bench-iperf-udp,
    }
  }
}
`;
}

async function bringUp(name: PathName, o: Options): Promise<Bed> {
  const forwarder: Forwarder = name.startsWith('tapflow') ? 'tapflow' : 'kernel';
  const cfgDir = fs.mkdtempSync(path.join(os.tmpdir(), `tapflow-bench-clusterip-${name}-`));
  const tb = new Testbed({
    forwarder, pods: 1, ipv6: false, log: o.verbose ? progress : undefined,
    agentArgs: forwarder === 'tapflow' ? ['--config', cfgDir, ...AGENT_EXTRA_ARGS] : [],
    nodeConfigHook: benchNodeConfigHook,
    readyTimeoutMs: 30000,
  });
  const pod = tb.pods[0];
  const viaVip = name !== 'direct';
  const bed: Bed = {
    name, forwarder, tb, cfgDir, up: false, errors: [],
    httpUrl: viaVip ? `http://${VIP}/` : `http://${pod.ipv4}:${HTTP_PORT}/`,
    iperfHost: viaVip ? VIP : pod.ipv4,
  };
  // The pod's address is known before up() (the address plan): the agent starts with its config.
  if (name === 'tapflow-full') {
    const full = fullPipelineObjects(pod.ipv4);
    fs.writeFileSync(path.join(cfgDir, 'bench.json'), JSON.stringify(full.objects, null, 1));
  } else if (name === 'tapflow-plain') {
    fs.writeFileSync(path.join(cfgDir, 'bench.json'), JSON.stringify(serviceObjects(pod.ipv4), null, 1));
  }
  try {
    const t0 = Date.now();
    await tb.up();
    const ns = tb.node(1).ns;
    if (name === 'kernel-iptables') await tb.execOk(ns, ['iptables-restore', '-w', '5'], { input: iptablesRules(pod.ipv4) });
    if (name === 'kernel-nft') await tb.execOk(ns, ['nft', '-f', '-'], { input: nftRuleset(pod.ipv4) });
    await tb.startHttpServers(HTTP_PORT);
    await tb.execOk(tb.client.ns, ['ip', 'route', 'add', '10.96.0.0/12', 'via', tb.node(1).ipv4, 'dev', 'eth0']);
    // Many short connections: a wide ephemeral range (the server closes first: TIME_WAIT stays on the pod).
    await tb.execOk(tb.client.ns, ['sysctl', '-qw', 'net.ipv4.ip_local_port_range=1024 65000']);
    await waitFor(async () => (await tb.exec(tb.client.ns, ['curl', '-sS', '--max-time', '2', bed.httpUrl], { timeoutMs: 5000 })).code === 0, {
      timeoutMs: 15000, intervalMs: 100, what: `${bed.httpUrl} answering`,
    });
    bed.up = true;
    progress(`${name}: up in ${((Date.now() - t0) / 1000).toFixed(1)} s (${tb.prefix}), ${bed.httpUrl} answers`);
  } catch (e) {
    bed.errors.push(`up: ${(e as Error).message}`);
    progress(`${name}: FAILED to come up: ${(e as Error).message.split('\n')[0]}`);
  }
  return bed;
}

// ─── Verification of the full pipeline ─────────────────────────────────────────────────────

async function verifyFull(bed: Bed, o: Options): Promise<void> {
  const tb = bed.tb;
  const pod = tb.pods[0];
  const v: Obj = { ok: true, checks: [] as string[], problems: [] as string[] };
  bed.verify = v;
  const ok = (what: string) => v.checks.push(what);
  const bad = (what: string) => { v.ok = false; v.problems.push(what); bed.errors.push(`verify: ${what}`); progress(`tapflow-full: VERIFY FAILED: ${what}`); };
  const root = findRepoRoot();
  // 1. the agent's ready event
  const ready = tb.node(1).ready as unknown as Obj | undefined;
  if (!ready) bad('no ready event');
  else if (ready.services !== 1 || (ready.serviceErrors ?? []).length > 0) bad(`ready: services ${ready.services}, serviceErrors ${JSON.stringify(ready.serviceErrors)}`);
  else ok(`agent ready (pid ${ready.pid}, config version ${ready.version}, ${ready.services} service, no service errors)`);
  // 2. the same files compiled in-process: rule and policy counts, no filter issues
  const nodeFile = path.join(bed.cfgDir, '..', `${path.basename(bed.cfgDir)}-node.json`);
  fs.writeFileSync(nodeFile, JSON.stringify(tb.nodeConfig(1), null, 1));
  v.nodeConfigFile = nodeFile;
  try {
    const ms = loadManifestPaths([bed.cfgDir, nodeFile]);
    const node = ms.find((m) => m.kind === 'NodeConfig')?.object as NodeConfig;
    const res = new NodeCompiler().compile(node, new DesiredState(ms.filter((m) => m.kind !== 'NodeConfig')), 1);
    const rules = res.filters?.source.rules ?? [];
    const nsgCustom = rules.filter((r) => r.kind === 'nsg' && !r.isDefault).length;
    const policies = new Set(rules.filter((r) => r.kind === 'network-policy').map((r) => r.policy ?? r.name)).size;
    v.compile = { ms: +res.compileMs.toFixed(1), nsgRules: nsgCustom, nsgRulesWithDefaults: rules.filter((r) => r.kind === 'nsg').length, policiesInTable: policies, filterIssues: res.filterIssues.length, ruleBits: res.filters?.bits ?? 0 };
    if (res.filters === null) bad('in-process compile: no filter table');
    else if (res.filterIssues.length > 0) bad(`in-process compile: ${res.filterIssues.length} filter issues: ${JSON.stringify(res.filterIssues.slice(0, 3))}`);
    else if (nsgCustom !== 1000) bad(`in-process compile: ${nsgCustom} custom NSG rules, expected 1000`);
    else ok(`compiled in ${res.compileMs.toFixed(0)} ms: ${nsgCustom} custom NSG rules (+ defaults), policy entries from ${policies} policies selecting local pods, ${res.filters.bits} rule bits, no issues`);
    const objs = ms.filter((m) => m.kind === 'NetworkPolicy').length;
    v.compile.policyObjects = objs;
    if (objs !== 200) bad(`${objs} NetworkPolicy objects, expected 200`);
  } catch (e) {
    bad(`in-process compile: ${(e as Error).message}`);
  }
  // 3. tapflow trace, offline, through the same files
  const trace = async (src: string, dst: string, proto: string): Promise<Obj | null> => {
    const r = await execIn(null, [process.execPath, path.join(root, 'bin', 'tapflow'), 'trace', '-f', bed.cfgDir, '-f', nodeFile, '--src', src, '--dst', dst, '--proto', proto, '-o', 'json'], { timeoutMs: 30000 });
    try { return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Obj; } catch { bad(`tapflow trace ${src} → ${dst} ${proto}: no JSON (exit ${r.code}): ${r.stderr.trim().slice(-300)}`); return null; }
  };
  const decided = (t: Obj): { nsg: string[]; policy: string | null } => {
    const steps: Obj[] = t.security?.steps ?? [];
    return {
      nsg: steps.filter((s) => s.stage.startsWith('nsg-') && s.ruleInfo).map((s) => `${s.ruleInfo.nsg}/${s.ruleInfo.name}@${s.ruleInfo.priority}`),
      policy: steps.find((s) => s.stage === 'policy-ingress')?.ruleInfo?.policy ?? null,
    };
  };
  const wantNsg = [`${NSG_SUBNET}/${ALLOW_RULE}@${ALLOW_PRIORITY}`, `${NSG_NIC}/${ALLOW_RULE}@${ALLOW_PRIORITY}`];
  const flows: [string, string, string][] = [
    ['10.0.0.10:40000', `${VIP}:80`, 'tcp'],
    ['10.0.0.10:40001', `${VIP}:${IPERF_PORT}`, 'tcp'],
    ['10.0.0.10:40002', `${VIP}:${IPERF_PORT}`, 'udp'],
    ['10.0.0.10', pod.ipv4, 'icmp'],
  ];
  v.traces = [];
  for (const [src, dst, proto] of flows) {
    const t = await trace(src, dst, proto);
    if (!t) continue;
    const d = decided(t);
    v.traces.push({ src, dst, proto, verdict: t.verdict, reason: t.reason, egress: t.egress, dnat: t.dnat, masquerade: t.masquerade, nsg: d.nsg, policy: d.policy });
    const okTrace = t.verdict === 'forward' && t.egress === pod.name && t.security?.allowed === true &&
      JSON.stringify(d.nsg) === JSON.stringify(wantNsg) && d.policy === `${BENCH_NS}/${ALLOW_POLICY}` &&
      (proto === 'icmp' || (t.dnat?.ip === pod.ipv4 && t.masquerade === true));
    if (okTrace) ok(`trace ${proto} ${src} → ${dst}: forward to ${t.egress}${t.dnat ? ` (dnat ${t.dnat.ip}:${t.dnat.port}, masquerade)` : ''}, NSG ${d.nsg.join(' + ')}, policy ${d.policy}`);
    else bad(`trace ${proto} ${src} → ${dst}: ${t.verdict} (${t.reason}), egress ${t.egress}, NSG ${d.nsg.join(' + ') || '-'}, policy ${d.policy ?? '-'}`);
  }
  for (const [src, want] of [[`${POLICY_DENIED_SRC}:40003`, 'policy-denied'], [`${NSG_DENIED_SRC}:40004`, 'nsg-denied']] as const) {
    const t = await trace(src, `${VIP}:80`, 'tcp');
    if (!t) continue;
    v.traces.push({ src, dst: `${VIP}:80`, proto: 'tcp', verdict: t.verdict, reason: t.reason, ...decided(t) });
    if (t.verdict === 'drop' && String(t.reason).startsWith(want)) ok(`trace tcp ${src} → ${VIP}:80: drop (${t.reason})`);
    else bad(`trace tcp ${src} → ${VIP}:80: expected drop (${want}), got ${t.verdict} (${t.reason})`);
  }
  // 4. live: a source the policies do not allow is dropped by the running agent and counted
  try {
    const before = await tb.stats();
    const denied = (s: typeof before) => s.ports.reduce((a, p) => a + (p.drops['policy-denied'] ?? 0), 0);
    await tb.execOk(tb.client.ns, ['ip', 'addr', 'add', `${POLICY_DENIED_SRC}/16`, 'dev', 'eth0']);
    const r = await tb.exec(tb.client.ns, ['curl', '-sS', '--interface', POLICY_DENIED_SRC, '--max-time', '1', bed.httpUrl], { timeoutMs: 5000 });
    await tb.exec(tb.client.ns, ['ip', 'addr', 'del', `${POLICY_DENIED_SRC}/16`, 'dev', 'eth0']);
    const after = await tb.stats();
    const n = denied(after) - denied(before);
    if (r.code !== 0 && n > 0) ok(`live: ${POLICY_DENIED_SRC} → ${VIP}:80 dropped by the agent (policy-denied +${n})`);
    else bad(`live: ${POLICY_DENIED_SRC} → ${VIP}:80: curl exit ${r.code}, policy-denied +${n}`);
  } catch (e) {
    bad(`live negative check: ${(e as Error).message}`);
  }
  if (o.verbose || !v.ok) for (const c of v.checks) progress(`tapflow-full: verified: ${c}`);
  else progress(`tapflow-full: full pipeline verified (${v.checks.length} checks: ready, compile ${v.compile?.nsgRules ?? '?'} NSG rules / ${v.compile?.policyObjects ?? '?'} policies, ${v.traces.length} traces, live deny)`);
}

// ─── Loads ──────────────────────────────────────────────────────────────────────────────────

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function iperf(bed: Bed, args: string[], seconds: number): Promise<Json> {
  const tb = bed.tb;
  const pod = tb.pods[0];
  const server = tb.spawn(pod.ns, ['iperf3', '-s', '-1', '-p', String(IPERF_PORT)]);
  try {
    await waitFor(async () => (await tb.exec(pod.ns, ['ss', '-Hltn', `sport = :${IPERF_PORT}`], { timeoutMs: 3000 })).stdout.includes(`:${IPERF_PORT}`), {
      timeoutMs: 10000, intervalMs: 30, what: 'iperf3 server listening',
    });
    const r = await tb.exec(tb.client.ns, ['iperf3', '-c', bed.iperfHost, '-p', String(IPERF_PORT), '-J', '--connect-timeout', '3000', '-t', String(seconds), ...args], {
      timeoutMs: (seconds + 20) * 1000,
    });
    let j: Json;
    try { j = JSON.parse(r.stdout) as Json; } catch {
      throw new Error(`iperf3 ${args.join(' ')}: no JSON (exit ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr.trim().slice(0, 300)}`);
    }
    if (j.error) throw new Error(`iperf3 ${args.join(' ')}: ${j.error}`);
    return j;
  } finally {
    server.kill('SIGKILL');
    await server.exited(2000);
  }
}

async function podRxPackets(bed: Bed): Promise<number | null> {
  const r = await bed.tb.exec(bed.tb.pods[0].ns, ['ip', '-j', '-s', 'link', 'show', 'eth0']);
  try {
    const l = JSON.parse(r.stdout) as { stats64?: { rx?: { packets?: number } } }[];
    return l[0]?.stats64?.rx?.packets ?? null;
  } catch { return null; }
}

/**
 * autocannon (keep-alive, -c N -d S) driven through its API so that latency percentiles keep
 * sub-millisecond resolution (its own histogram records whole milliseconds): every 2xx
 * response time (ms, from hrtime) is kept and sorted at the end. argv: [autocannon dir, url,
 * connections, seconds]. Prints one JSON line.
 */
const KEEPALIVE_CLIENT = `
const [lib, url, conns, secs] = process.argv.slice(1);
const autocannon = require(lib);
const lat = new Float64Array(1 << 23);
let n = 0;
const inst = autocannon({ url, connections: Number(conns), duration: Number(secs), timeout: 5 }, (err, res) => {
  if (err) { console.error(String(err)); process.exit(1); }
  const l = lat.subarray(0, n).sort();
  const pct = (p) => n ? l[Math.min(n - 1, Math.floor(p * n))] : 0;
  const seconds = Number(res.duration) || Number(secs);
  console.log(JSON.stringify({ rps: res['2xx'] / seconds, p50: pct(0.5), p99: pct(0.99), errors: res.errors + res.timeouts + res.non2xx, requests: res['2xx'], seconds }));
});
inst.on('response', (client, status, bytes, ms) => { if (status >= 200 && status < 300 && n < lat.length) lat[n++] = ms; });
`;

const NEW_CONN_CLIENT = `
const net = require('node:net');
const [host, port, conc, secs] = process.argv.slice(1);
const req = Buffer.from('GET / HTTP/1.1\\r\\nHost: svc\\r\\nConnection: close\\r\\n\\r\\n');
const t0 = Date.now(), end = t0 + Number(secs) * 1000;
const lat = [];
let completed = 0, errors = 0, non2xx = 0, running = 0;
function finish() {
  if (--running > 0) return;
  const seconds = (Date.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const pct = (p) => lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : 0;
  console.log(JSON.stringify({ completed, errors, non2xx, seconds, perSecond: completed / seconds, p50: pct(0.5), p99: pct(0.99) }));
}
function one() {
  if (Date.now() >= end) return finish();
  const start = process.hrtime.bigint();
  let status = null, failed = false;
  const s = net.connect({ port: Number(port), host, noDelay: true });
  s.setTimeout(5000, () => s.destroy(new Error('timeout')));
  s.on('connect', () => s.write(req));
  s.on('data', (d) => { if (status === null) status = d.toString('latin1', 9, 12); });
  s.on('error', () => { failed = true; });
  s.on('close', () => {
    if (failed) errors++;
    else if (status === '200') { completed++; lat.push(Number(process.hrtime.bigint() - start) / 1e6); }
    else non2xx++;
    setImmediate(one);
  });
}
for (let i = 0; i < Number(conc); i++) { running++; one(); }
`;

/** Busy and total jiffies of the whole machine (/proc/stat "cpu" line). */
function machineJiffies(): { busy: number; total: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] || 0); // idle + iowait
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** utime + stime of a process and its threads, in jiffies (0 when unknown). */
function procJiffies(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch { return 0; }
}

/**
 * Run a load and report where the CPU went: cores busy on the whole machine and cores used
 * by the forwarder process (tapflow's agent; 0 for the kernel paths, whose forwarding runs in
 * softirq and is in the machine figure). This is what tells a CPU-bound path (both cores
 * busy: the ratio is the cost per byte) from a latency-bound one.
 */
async function withCpu<T>(bed: Bed, load: () => Promise<T>): Promise<{ r: T; busyCores: number; fwdCores: number }> {
  const pid = bed.tb.node(1).agentPid;
  const m0 = machineJiffies(), p0 = procJiffies(pid), t0 = Date.now();
  const r = await load();
  const m1 = machineJiffies(), p1 = procJiffies(pid), secs = (Date.now() - t0) / 1000;
  const ncpu = os.cpus().length;
  const busyCores = m1.total > m0.total ? ((m1.busy - m0.busy) / (m1.total - m0.total)) * ncpu : NaN;
  const hz = 100; // USER_HZ on Linux
  return { r, busyCores, fwdCores: (p1 - p0) / hz / secs };
}

/** One measurement: named values (the first is the headline), errors counted separately. */
type Sample = Record<string, number>;

interface MetricDef {
  id: string;
  /** Rows this metric produces: key in the sample, label, unit, higher is better, ratio shown, target (full/iptables). */
  rows: { key: string; label: string; digits: number; higher: boolean; ratio: boolean; target?: number }[];
  /** Load seconds (for the budget). */
  cost: (o: Options) => number;
  run: (bed: Bed, o: Options) => Promise<Sample>;
}

const METRICS: MetricDef[] = [
  {
    id: 'tcp1',
    rows: [{ key: 'gbps', label: 'iperf3 TCP 1 stream (Gbit/s)', digits: 2, higher: true, ratio: true, target: 1.0 },
      { key: 'retransmits', label: 'TCP 1 stream retransmits', digits: 0, higher: false, ratio: false },
      { key: 'busyCores', label: 'TCP 1 stream: cores busy (machine, of ' + os.cpus().length + ')', digits: 2, higher: false, ratio: false },
      { key: 'fwdCores', label: 'TCP 1 stream: cores used by the tapflow agent', digits: 2, higher: false, ratio: false },
      { key: 'coreSecPerGbit', label: 'TCP 1 stream: CPU per throughput (core·s per Gbit)', digits: 3, higher: false, ratio: true }],
    cost: (o) => o.seconds + 2,
    run: async (bed, o) => {
      const { r: j, busyCores, fwdCores } = await withCpu(bed, () => iperf(bed, [], o.seconds));
      const gbps = (j.end?.sum_received?.bits_per_second ?? 0) / 1e9;
      return { gbps, retransmits: j.end?.sum_sent?.retransmits ?? 0, busyCores, fwdCores, coreSecPerGbit: gbps > 0 ? busyCores / gbps : NaN };
    },
  },
  {
    id: 'tcp4',
    rows: [{ key: 'gbps', label: 'iperf3 TCP 4 streams (Gbit/s)', digits: 2, higher: true, ratio: true, target: 1.0 },
      { key: 'retransmits', label: 'TCP 4 streams retransmits', digits: 0, higher: false, ratio: false },
      { key: 'busyCores', label: 'TCP 4 streams: cores busy (machine, of ' + os.cpus().length + ')', digits: 2, higher: false, ratio: false },
      { key: 'fwdCores', label: 'TCP 4 streams: cores used by the tapflow agent', digits: 2, higher: false, ratio: false },
      { key: 'coreSecPerGbit', label: 'TCP 4 streams: CPU per throughput (core·s per Gbit)', digits: 3, higher: false, ratio: true }],
    cost: (o) => o.seconds + 2,
    run: async (bed, o) => {
      const { r: j, busyCores, fwdCores } = await withCpu(bed, () => iperf(bed, ['-P', '4'], o.seconds));
      const gbps = (j.end?.sum_received?.bits_per_second ?? 0) / 1e9;
      return { gbps, retransmits: j.end?.sum_sent?.retransmits ?? 0, busyCores, fwdCores, coreSecPerGbit: gbps > 0 ? busyCores / gbps : NaN };
    },
  },
  {
    id: 'udp64',
    rows: [
      { key: 'sentKpps', label: 'UDP 64 B offered by the sender (kpps)', digits: 1, higher: true, ratio: true },
      { key: 'podRxKpps', label: 'UDP 64 B reached pod eth0 (kpps)', digits: 1, higher: true, ratio: true },
      { key: 'deliveredKpps', label: 'UDP 64 B delivered to the receiver (kpps)', digits: 1, higher: true, ratio: true, target: 1.0 },
      { key: 'lossPercent', label: 'UDP 64 B loss (%)', digits: 1, higher: false, ratio: false },
      { key: 'busyCores', label: 'UDP 64 B: cores busy (machine, of ' + os.cpus().length + ')', digits: 2, higher: false, ratio: false },
      { key: 'fwdCores', label: 'UDP 64 B: cores used by the tapflow agent', digits: 2, higher: false, ratio: false },
    ],
    cost: (o) => o.seconds + 2,
    run: async (bed, o) => {
      const rx0 = await podRxPackets(bed);
      const t0 = Date.now();
      const { r: j, busyCores, fwdCores } = await withCpu(bed, () => iperf(bed, ['-u', '-l', '64', '-b', '10G'], o.seconds));
      const rx1 = await podRxPackets(bed);
      const wall = (Date.now() - t0) / 1000;
      const sent = j.end?.sum_sent ?? j.end?.sum ?? {};
      const recv = j.end?.sum_received ?? j.end?.sum ?? {};
      const secs: number = sent.seconds || o.seconds;
      const packets: number = sent.packets ?? 0;
      const lost = Math.max(0, recv.lost_packets ?? 0);
      const delivered = recv.bytes !== undefined ? recv.bytes / 64 : packets - lost;
      return {
        sentKpps: packets / secs / 1e3,
        podRxKpps: rx0 !== null && rx1 !== null ? (rx1 - rx0) / Math.min(wall, secs) / 1e3 : NaN,
        deliveredKpps: delivered / secs / 1e3,
        lossPercent: packets ? (100 * (packets - delivered)) / packets : 100,
        busyCores, fwdCores,
      };
    },
  },
  {
    id: 'keepAlive',
    rows: [
      { key: 'rps', label: 'HTTP keep-alive (req/s)', digits: 0, higher: true, ratio: true, target: 0.95 },
      { key: 'p50', label: 'keep-alive latency p50 (ms)', digits: 2, higher: false, ratio: true },
      { key: 'p99', label: 'keep-alive latency p99 (ms)', digits: 2, higher: false, ratio: true },
      { key: 'errors', label: 'keep-alive errors + non-2xx', digits: 0, higher: false, ratio: false },
      { key: 'busyCores', label: 'keep-alive: cores busy (machine, of ' + os.cpus().length + ')', digits: 2, higher: false, ratio: false },
      { key: 'fwdCores', label: 'keep-alive: cores used by the tapflow agent', digits: 2, higher: false, ratio: false },
    ],
    cost: (o) => o.seconds + 2,
    run: async (bed, o) => {
      const lib = path.join(findRepoRoot(), 'node_modules', 'autocannon');
      const { r, busyCores, fwdCores } = await withCpu(bed, () => bed.tb.exec(bed.tb.client.ns, [process.execPath, '-e', KEEPALIVE_CLIENT, lib, bed.httpUrl, String(o.connections), String(o.seconds)], {
        timeoutMs: (o.seconds + 30) * 1000,
      }));
      const line = r.stdout.trim().split('\n').pop() ?? '';
      let j: Json;
      try { j = JSON.parse(line); } catch {
        throw new Error(`autocannon: no JSON (exit ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr.trim().slice(-300)}`);
      }
      return { rps: j.rps, p50: j.p50, p99: j.p99, errors: j.errors, busyCores, fwdCores };
    },
  },
  {
    id: 'newConnections',
    rows: [
      { key: 'cps', label: 'new connections/s (Connection: close)', digits: 0, higher: true, ratio: true, target: 0.9 },
      { key: 'p50', label: 'new connection latency p50 (ms)', digits: 2, higher: false, ratio: true },
      { key: 'p99', label: 'new connection latency p99 (ms)', digits: 2, higher: false, ratio: true },
      { key: 'errors', label: 'new connection errors + non-2xx', digits: 0, higher: false, ratio: false },
    ],
    cost: (o) => o.seconds + 1,
    run: async (bed, o) => {
      const u = new URL(bed.httpUrl);
      const r = await bed.tb.exec(bed.tb.client.ns, [process.execPath, '-e', NEW_CONN_CLIENT, u.hostname, u.port || '80', String(o.connections), String(o.seconds)], {
        timeoutMs: (o.seconds + 30) * 1000,
      });
      const line = r.stdout.trim().split('\n').pop() ?? '';
      let j: Json;
      try { j = JSON.parse(line); } catch {
        throw new Error(`new-connections client: no JSON (exit ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr.trim().slice(-300)}`);
      }
      return { cps: j.perSecond, p50: j.p50, p99: j.p99, errors: j.errors + j.non2xx };
    },
  },
  {
    id: 'ping',
    rows: [
      { key: 'avgMs', label: 'ping RTT avg (ms, 50 × -i 0.01, pod IP)', digits: 3, higher: false, ratio: true },
      { key: 'maxMs', label: 'ping RTT max (ms)', digits: 3, higher: false, ratio: false },
      { key: 'lossPercent', label: 'ping loss (%)', digits: 0, higher: false, ratio: false },
    ],
    cost: () => 2,
    run: async (bed, o) => {
      const r = await bed.tb.exec(bed.tb.client.ns, ['ping', '-n', '-q', '-c', String(o.pings), '-i', '0.01', '-W', '1', bed.tb.pods[0].ipv4], { timeoutMs: 20000 });
      const m = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(r.stdout);
      const loss = /([\d.]+)% packet loss/.exec(r.stdout);
      if (!m) throw new Error(`ping: no rtt line (exit ${r.code}): ${r.stdout.trim().slice(-200)} ${r.stderr.trim().slice(-200)}`);
      return { avgMs: Number(m[2]), maxMs: Number(m[3]), lossPercent: loss ? Number(loss[1]) : NaN };
    },
  },
];

// ─── Options, run, report ───────────────────────────────────────────────────────────────────

interface Options {
  quick: boolean;
  seconds: number;
  rounds: number;
  connections: number;
  pings: number;
  paths: PathName[];
  metrics: string[];
  budgetS: number;
  out: string;
  verbose: boolean;
}

const USAGE = `usage: node dist/scripts/bench-clusterip.js [--quick] [--seconds N] [--rounds N] [--connections N] [--pings N]
                                            [--paths ${ALL_PATHS.join(',')}]
                                            [--metrics ${METRICS.map((m) => m.id).join(',')}]
                                            [--budget SECONDS] [--out FILE] [--verbose]
                                            [--agent-args "--batch 32"]   (extra tapflow run arguments)
`;

export function parseArgs(argv: string[]): Options | null {
  const quick = argv.includes('--quick');
  const o: Options = {
    quick, seconds: quick ? 2 : 8, rounds: 1, connections: 50, pings: 50, paths: [...ALL_PATHS], metrics: METRICS.map((m) => m.id),
    budgetS: quick ? 120 : 360, out: 'results/bench-clusterip.json', verbose: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (min: number, max: number): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${a}: an integer ${min}..${max}`);
      return v;
    };
    if (a === '--quick') continue;
    else if (a === '--seconds') o.seconds = num(1, 60);
    else if (a === '--rounds') o.rounds = num(1, 10);
    else if (a === '--connections') o.connections = num(1, 1000);
    else if (a === '--pings') o.pings = num(1, 1000);
    else if (a === '--budget') o.budgetS = num(10, 3600);
    else if (a === '--out') o.out = argv[++i] ?? o.out;
    else if (a === '--verbose') o.verbose = true;
    else if (a === '--paths') {
      const ps = (argv[++i] ?? '').split(',').filter(Boolean);
      for (const p of ps) if (!ALL_PATHS.includes(p as PathName)) throw new Error(`--paths: unknown path ${p}`);
      o.paths = ps as PathName[];
    } else if (a === '--metrics') {
      const ms = (argv[++i] ?? '').split(',').filter(Boolean);
      for (const m of ms) if (!METRICS.some((d) => d.id === m)) throw new Error(`--metrics: unknown metric ${m}`);
      o.metrics = ms;
    } else if (a === '--agent-args') {
      AGENT_EXTRA_ARGS = (argv[++i] ?? '').split(/\s+/).filter(Boolean);
    } else if (a === '-h' || a === '--help') return null;
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export interface MetricResult {
  metric: string;
  key: string;
  label: string;
  higherIsBetter: boolean;
  /** Target ratio (tapflow-full / kernel-iptables), when the issue sets one; measured, never asserted. */
  target?: number;
  /** Median over rounds, per path (null: not measured / failed). */
  values: Partial<Record<PathName, number | null>>;
  rounds: Partial<Record<PathName, number[]>>;
  /** value / kernel-iptables value, per path (for latencies lower is better). */
  ratioVsIptables: Partial<Record<PathName, number | null>>;
}

function fmtNum(v: number | null | undefined, digits: number): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '-';
  return v.toFixed(digits);
}

function markdown(results: MetricResult[], o: Options, digitsOf: Map<string, number>, ratioShown: Set<string>): string {
  const paths = o.paths;
  const head = ['metric', ...paths.map((p) => LABEL[p]), ...paths.filter((p) => p.startsWith('tapflow')).map((p) => `${p.replace('tapflow-', '')} / iptables`), 'target (full / iptables)'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const r of results) {
    const d = digitsOf.get(`${r.metric}.${r.key}`) ?? 2;
    const cells = [r.label, ...paths.map((p) => fmtNum(r.values[p], d))];
    for (const p of paths.filter((x) => x.startsWith('tapflow'))) {
      const x = r.ratioVsIptables[p];
      cells.push(ratioShown.has(`${r.metric}.${r.key}`) && x != null && Number.isFinite(x) ? `${x.toFixed(2)}${r.higherIsBetter ? '' : ' (lower is better)'}` : '');
    }
    const full = r.ratioVsIptables['tapflow-full'];
    cells.push(r.target === undefined ? '' : full == null || !Number.isFinite(full) ? `≥ ${r.target.toFixed(2)}: not measured` : `≥ ${r.target.toFixed(2)}: ${full >= r.target ? 'met' : 'missed'}`);
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  let o: Options | null;
  try { o = parseArgs(argv); } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!o) { process.stdout.write(USAGE); return 0; }
  if (process.getuid?.() !== 0) { process.stderr.write('bench-clusterip needs root (network namespaces)\n'); return 1; }
  for (const [tool, args] of [['iperf3', ['--version']], ['ping', ['-V']], ['curl', ['--version']]] as const) {
    if ((await execIn(null, [tool, ...args])).code !== 0) { process.stderr.write(`bench-clusterip needs ${tool}\n`); return 1; }
  }
  // A missing rule tool drops its path only (reported), not the comparison.
  for (const [tool, p] of [['iptables-restore', 'kernel-iptables'], ['nft', 'kernel-nft']] as const) {
    if (o.paths.includes(p) && (await execIn(null, [tool, '--version'])).code !== 0) {
      progress(`${tool} not found: path ${p} skipped`);
      o.paths = o.paths.filter((x) => x !== p);
    }
  }
  const started = new Date();
  const deadline = started.getTime() + o.budgetS * 1000;
  const metrics = METRICS.filter((m) => o!.metrics.includes(m.id));
  const perRound = metrics.reduce((a, m) => a + m.cost(o!), 0) * o.paths.length;
  progress(`paths: ${o.paths.join(', ')}; metrics: ${metrics.map((m) => m.id).join(', ')}; ${o.seconds} s per load, ${o.rounds} round(s), ~${Math.round(perRound * o.rounds)} s of load, budget ${o.budgetS} s`);
  const beds: Bed[] = [];
  const samples = new Map<string, Sample[]>(); // `${path}/${metric}`
  const skipped: string[] = [];
  let exitCode = 0;
  try {
    // All testbeds up first (in parallel would fight for the 2 cores and the netlink lock: one by one).
    for (const p of o.paths) beds.push(await bringUp(p, o));
    const full = beds.find((b) => b.name === 'tapflow-full');
    if (full?.up) await verifyFull(full, o);
    // Rotate: for every metric, every path in turn (starting one further each metric and round),
    // so background load drifts hit every path alike.
    let turn = 0;
    for (let round = 0; round < o.rounds; round++) {
      for (const m of metrics) {
        const live = beds.filter((b) => b.up);
        const order = live.map((_, i) => live[(i + turn) % live.length]);
        turn++;
        for (const bed of order) {
          const left = (deadline - Date.now()) / 1000;
          if (left < m.cost(o) + 5) {
            skipped.push(`${bed.name}/${m.id} round ${round + 1}`);
            progress(`${bed.name}: ${m.id}: skipped (time budget: ${left.toFixed(0)} s left)`);
            continue;
          }
          progress(`${bed.name}: round ${round + 1}/${o.rounds}: ${m.id} ...`);
          try {
            const s = await m.run(bed, o);
            const k = `${bed.name}/${m.id}`;
            samples.set(k, [...(samples.get(k) ?? []), s]);
            progress(`${bed.name}:   ${m.rows.map((r) => `${r.key} ${fmtNum(s[r.key], r.digits)}`).join(', ')}`);
          } catch (e) {
            bed.errors.push(`${m.id} round ${round + 1}: ${(e as Error).message}`);
            progress(`${bed.name}: ${m.id} FAILED: ${(e as Error).message.split('\n')[0]}`);
          }
        }
      }
    }
  } finally {
    for (const bed of beds) {
      if (bed.forwarder === 'tapflow' && bed.up) {
        try { bed.agentStats = await bed.tb.stats(); } catch (e) { bed.errors.push(`stats: ${(e as Error).message}`); }
      }
      await bed.tb.down().catch((e: Error) => bed.errors.push(`down: ${e.message}`));
      fs.rmSync(bed.cfgDir, { recursive: true, force: true });
      if (bed.verify?.nodeConfigFile) fs.rmSync(bed.verify.nodeConfigFile as string, { force: true });
    }
  }
  // Aggregate: median over rounds per path.
  const results: MetricResult[] = [];
  const digitsOf = new Map<string, number>();
  const ratioShown = new Set<string>();
  for (const m of metrics) {
    for (const row of m.rows) {
      digitsOf.set(`${m.id}.${row.key}`, row.digits);
      if (row.ratio) ratioShown.add(`${m.id}.${row.key}`);
      const r: MetricResult = { metric: m.id, key: row.key, label: row.label, higherIsBetter: row.higher, values: {}, rounds: {}, ratioVsIptables: {} };
      if (row.target !== undefined) r.target = row.target;
      for (const p of o.paths) {
        const xs = (samples.get(`${p}/${m.id}`) ?? []).map((s) => s[row.key]);
        r.rounds[p] = xs;
        const med = median(xs);
        r.values[p] = Number.isFinite(med) ? med : null;
      }
      const base = r.values[BASELINE];
      for (const p of o.paths) {
        const v = r.values[p];
        r.ratioVsIptables[p] = v != null && base != null && base > 0 ? v / base : null;
      }
      results.push(r);
    }
  }
  const beds2 = beds.map((b) => ({ path: b.name, label: LABEL[b.name], forwarder: b.forwarder, target: b.httpUrl, up: b.up, errors: b.errors, verify: b.verify, agentStats: b.agentStats }));
  const loadavg = os.loadavg();
  const out = {
    benchmark: 'bench-clusterip',
    started: started.toISOString(),
    finished: new Date().toISOString(),
    seconds: (Date.now() - started.getTime()) / 1000,
    host: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '', node: process.version, kernel: os.release(), loadavgAtEnd: loadavg },
    options: o,
    baseline: BASELINE,
    service: { vip: VIP, ports: ['80/TCP → 8080', '5201/TCP', '5201/UDP'], endpoints: 1, masquerade: 'off-cluster client → ClusterIP: DNAT + masquerade on every VIP path' },
    paths: beds2,
    results,
    skipped,
  };
  const file = path.resolve(findRepoRoot(), o.out);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  process.stdout.write('\n' + markdown(results, o, digitsOf, ratioShown) + '\n\n');
  const fullBed = beds.find((b) => b.name === 'tapflow-full');
  const notes = [
    `Client → ClusterIP ${VIP} (DNAT + masquerade on every VIP path; direct: the pod IP) → one pod, one testbed per path, all up at once; ` +
      `loads rotated between paths metric by metric; ${o.rounds} round(s) of ${o.seconds} s per load (median of rounds); ${o.connections} HTTP connections; ${o.pings} pings.`,
    fullBed?.verify
      ? `tapflow full pipeline ${fullBed.verify.ok ? 'verified' : 'NOT verified'} before measuring: ${fullBed.verify.compile ? `${fullBed.verify.compile.nsgRules} NSG rules + ${fullBed.verify.compile.policyObjects} NetworkPolicies compiled in ${fullBed.verify.compile.ms} ms (${fullBed.verify.compile.ruleBits} rule bits, ${fullBed.verify.compile.filterIssues} issues); ` : ''}` +
        `${(fullBed.verify.traces as unknown[]).length} offline traces (bench flows forwarded, decided by the last-priority NSG allow rule and the allowing policy; negatives dropped); live deny counted by the agent.` +
        (fullBed.verify.ok ? '' : ` Problems: ${(fullBed.verify.problems as string[]).join('; ')}`)
      : '',
    `Load average at the end: ${loadavg.map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} cores (the load generators, the servers and the forwarders share them).`,
    skipped.length ? `Skipped (time budget): ${skipped.join(', ')}.` : '',
  ].filter(Boolean);
  for (const n of notes) process.stdout.write(`> ${n}\n`);
  for (const b of beds) for (const e of b.errors) { process.stdout.write(`${b.name} error: ${e.split('\n')[0]}\n`); exitCode = 1; }
  process.stdout.write(`wrote ${file}\n`);
  return exitCode;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (c) => process.exit(c),
    (e: Error) => {
      process.stderr.write(`${e.stack ?? e.message}\n`);
      process.exit(1);
    },
  );
}
