/**
 * compileFilters: scenarios written from the public documentation (Azure "How network security
 * groups filter network traffic", "Azure network security groups overview" / default security
 * rules, service tags, IP flow verify; Kubernetes "Network Policies" concept page and its
 * examples). Each scenario: input manifests → classify → expected decision and deciding rule.
 * Every flow is also run through explain4/6 (the rule-by-rule reference) and must agree.
 */
import t, { Test } from 'tap';
import * as path from 'node:path';
import { loadManifestPaths } from '../model/manifests';
import { NodeConfig, parseIP, validateNodeConfig } from '../model/node-config';
import { NetworkInterface, NetworkSecurityGroup, VirtualNetwork, validateNetworkInterface, validateNetworkSecurityGroup, validateVirtualNetwork } from '../model/nsg';
import { NetworkPolicy, validateNetworkPolicy } from '../model/network-policy';
import { Pod, validatePod } from '../model/pod';
import { Namespace, validateNamespace } from '../model/namespace';
import { FilterInput, compileFilters } from './classifier';
import { FILTER_REASON_NAMES, FilterResult, FilterTable, FlowLogWriter } from '../../dataplane/tables/classifier';
import { AZURE_SUB, aksExampleNodeObj, nodeConfigObj, nsgRule } from '../../test/support/model-objects';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

const SUB = AZURE_SUB;

// ─── Azure world: the four VMs of "How network security groups filter network traffic" ──────
//
//   Subnet1 10.0.1.0/24 (NSG1): VM1 10.0.1.4 (NIC NSG2), VM2 10.0.1.5 (no NIC NSG)
//   Subnet2 10.0.2.0/24 (none): VM3 10.0.2.4 (NIC NSG2)
//   Subnet3 10.0.3.0/24 (none): VM4 10.0.3.4 (no NIC NSG)
// Each VM is a tapflow pod port (cni mode: VNet addresses); the uplink is the Internet/VNet.

const rule = nsgRule;

function nsg(name: string, rules: Obj[]): NetworkSecurityGroup {
  return validateNetworkSecurityGroup({ type: 'Microsoft.Network/networkSecurityGroups', name, id: `${SUB}/networkSecurityGroups/${name}`, location: 'westeurope', properties: { securityRules: rules } });
}

interface AzureOpts {
  nsg1?: Obj[];
  nsg2?: Obj[];
  peered?: string[];
  routes?: { name: string; addressPrefix: string; nextHopType: string; nextHopIpAddress?: string }[];
  v6?: boolean;
}

function azureWorld(o: AzureOpts = {}): FilterInput {
  const nsgs = [nsg('NSG1', o.nsg1 ?? []), nsg('NSG2', o.nsg2 ?? [])];
  const vnet: VirtualNetwork = validateVirtualNetwork({
    type: 'Microsoft.Network/virtualNetworks',
    name: 'vnet1',
    id: `${SUB}/virtualNetworks/vnet1`,
    properties: {
      addressSpace: { addressPrefixes: ['10.0.0.0/16', ...(o.v6 === true ? ['fd00:db8::/48'] : [])] },
      subnets: [
        { name: 'Subnet1', properties: { addressPrefixes: ['10.0.1.0/24', ...(o.v6 === true ? ['fd00:db8:0:1::/64'] : [])], networkSecurityGroup: { id: `${SUB}/networkSecurityGroups/NSG1` } } },
        { name: 'Subnet2', properties: { addressPrefix: '10.0.2.0/24' } },
        { name: 'Subnet3', properties: { addressPrefix: '10.0.3.0/24' } },
      ],
      virtualNetworkPeerings: (o.peered ?? []).length > 0 ? [{ name: 'to-hub', properties: { remoteAddressSpace: { addressPrefixes: o.peered } } }] : [],
    },
  });
  const nic = (name: string, ip: string[], subnet: string, nsgName: string | null): NetworkInterface =>
    validateNetworkInterface({
      type: 'Microsoft.Network/networkInterfaces',
      name,
      id: `${SUB}/networkInterfaces/${name}`,
      properties: {
        ...(nsgName !== null ? { networkSecurityGroup: { id: `${SUB}/networkSecurityGroups/${nsgName}`.toLowerCase() } } : {}),
        ipConfigurations: ip.map((a, i) => ({ name: `ipconfig${i + 1}`, properties: { privateIPAddress: a, primary: i === 0, subnet: { id: `${SUB}/virtualNetworks/vnet1/subnets/${subnet}` } } })),
      },
    });
  const nics = [
    nic('vm1-nic', ['10.0.1.4', ...(o.v6 === true ? ['fd00:db8:0:1::4'] : [])], 'Subnet1', 'NSG2'),
    nic('vm2-nic', ['10.0.1.5'], 'Subnet1', null),
    nic('vm3-nic', ['10.0.2.4'], 'Subnet2', 'NSG2'),
    nic('vm4-nic', ['10.0.3.4'], 'Subnet3', null),
  ];
  const node = validateNodeConfig(nodeConfigObj({
    nodeIPs: ['10.0.0.4', ...(o.v6 === true ? ['fd00:db8::4'] : [])],
    networkMode: 'cni',
    vnetPrefixes: ['10.0.0.0/16', ...(o.v6 === true ? ['fd00:db8::/48'] : [])],
    routeTables: o.routes !== undefined ? [{ name: 'rt', routes: o.routes }] : [],
    ports: [
      { name: 'uplink', tap: 'tfup', role: 'uplink' },
      { name: 'host', tap: 'tfhost', role: 'host' },
      { name: 'vm1', tap: 'tfvm1', role: 'pod', addresses: ['10.0.1.4', ...(o.v6 === true ? ['fd00:db8:0:1::4'] : [])] },
      { name: 'vm2', tap: 'tfvm2', role: 'pod', addresses: ['10.0.1.5'] },
      { name: 'vm3', tap: 'tfvm3', role: 'pod', addresses: ['10.0.2.4'] },
      { name: 'vm4', tap: 'tfvm4', role: 'pod', addresses: ['10.0.3.4'] },
    ],
  }, 'host-1'));
  return { nsgs, vnets: [vnet], nics, networkPolicies: [], pods: [], namespaces: [], node };
}

// ─── Kubernetes world (kubenet node, no NSGs) ─────────────────────────────────────────────────
//
//   default: db 10.244.0.10 (role=db, port "redis" 6379), web .11 (role=frontend)
//   prod (env=prod): api .12 (app=api, port "http" 8080, "metrics" 9090)
//   dev (env=dev): client .13 (role=frontend), tool .14 (app=tool)
//   kube-system: dns .15 (k8s-app=kube-dns, "dns" 53/UDP)
//   remote pods (another node): prod/remote-fe 10.244.1.5 (role=frontend), default/mon 10.244.1.6 (app=monitoring)

interface PodDef {
  ns: string;
  name: string;
  ip: string;
  labels: Record<string, string>;
  ports?: { name: string; containerPort: number; protocol?: string }[];
  local: boolean;
}

const PODS: PodDef[] = [
  { ns: 'default', name: 'db', ip: '10.244.0.10', labels: { role: 'db' }, ports: [{ name: 'redis', containerPort: 6379 }, { name: 'exporter', containerPort: 9121 }], local: true },
  { ns: 'default', name: 'web', ip: '10.244.0.11', labels: { role: 'frontend' }, local: true },
  { ns: 'prod', name: 'api', ip: '10.244.0.12', labels: { app: 'api' }, ports: [{ name: 'http', containerPort: 8080 }, { name: 'metrics', containerPort: 9090 }, { name: 'sig', containerPort: 7777, protocol: 'SCTP' }], local: true },
  { ns: 'dev', name: 'client', ip: '10.244.0.13', labels: { role: 'frontend' }, local: true },
  { ns: 'dev', name: 'tool', ip: '10.244.0.14', labels: { app: 'tool' }, local: true },
  { ns: 'kube-system', name: 'dns', ip: '10.244.0.15', labels: { 'k8s-app': 'kube-dns' }, ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }], local: true },
  { ns: 'prod', name: 'remote-fe', ip: '10.244.1.5', labels: { role: 'frontend' }, ports: [{ name: 'http', containerPort: 8081 }], local: false },
  { ns: 'default', name: 'mon', ip: '10.244.1.6', labels: { app: 'monitoring' }, local: false },
];

function podObj(d: PodDef): Pod {
  return validatePod({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: d.name, namespace: d.ns, labels: d.labels },
    spec: { nodeName: d.local ? 'node-a' : 'node-b', containers: [{ name: 'c', image: 'x', ports: d.ports ?? [] }] },
    status: { phase: 'Running', podIP: d.ip, podIPs: [{ ip: d.ip }] },
  });
}

function nsObj(name: string, labels: Record<string, string> = {}): Namespace {
  return validateNamespace({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
}

function policy(ns: string, name: string, spec: Obj): NetworkPolicy {
  return validateNetworkPolicy({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec });
}

function k8sWorld(policies: NetworkPolicy[]): FilterInput {
  const local = PODS.filter((p) => p.local);
  const node: NodeConfig = validateNodeConfig(nodeConfigObj({
    nodeIPs: ['10.0.0.4'],
    podCIDRs: ['10.244.0.0/24'],
    clusterCIDRs: ['10.244.0.0/16'],
    vnetPrefixes: ['10.0.0.0/16'],
    ports: [
      { name: 'uplink', tap: 'tfup', role: 'uplink' },
      { name: 'host', tap: 'tfhost', role: 'host' },
      ...local.map((p) => ({ name: p.name, tap: `tf${p.name}`, role: 'pod', addresses: [p.ip], pod: { namespace: p.ns, name: p.name } })),
    ],
  }));
  return {
    nsgs: [],
    vnets: [],
    nics: [],
    networkPolicies: policies,
    pods: PODS.map(podObj),
    namespaces: [nsObj('default'), nsObj('prod', { env: 'prod' }), nsObj('dev', { env: 'dev' }), nsObj('kube-system')],
    node,
  };
}

// ─── Running flows ───────────────────────────────────────────────────────────────────────────

interface Flow {
  from: string;
  to: string;
  proto: 'tcp' | 'udp' | 'icmp' | 'sctp' | 'icmpv6';
  src: string;
  dst: string;
  dport?: number;
  sport?: number;
  allowed: boolean;
  /** "NSG/rule" of the deciding NSG rule (last one evaluated), "-" for none. */
  nsg?: string;
  /** "ns/name" of the policy reported in FilterResult.policy, "-" for none. */
  policy?: string;
  reason?: string;
}

const PROTO = { tcp: 6, udp: 17, icmp: 1, sctp: 132, icmpv6: 58 };

function run(t: Test, input: FilterInput, flows: Flow[]): FilterTable {
  const { table, issues } = compileFilters(input);
  t.same(issues, [], 'no compile issues');
  const portIndex = (name: string): number => {
    const i = input.node.spec.ports.findIndex((p) => p.name === name);
    if (i < 0) throw new Error(`no port ${name}`);
    return i;
  };
  const res = new FilterResult();
  for (const f of flows) {
    const src = parseIP(f.src);
    const dst = parseIP(f.dst);
    if (src === null || dst === null) throw new Error('bad address in test');
    const proto = PROTO[f.proto];
    const sport = f.sport ?? 40000;
    const dport = f.dport ?? 0;
    const from = portIndex(f.from);
    const to = portIndex(f.to);
    let ok: boolean;
    let ex;
    if (src.family === 4 && dst.family === 4) {
      ok = table.classify4(from, to, proto, src.v4, dst.v4, sport, dport, res);
      ex = table.explain4(from, to, proto, src.v4, dst.v4, sport, dport);
    } else if (src.family === 6 && dst.family === 6) {
      const buf = new Uint8Array(40);
      buf.set(src.v6, 8);
      buf.set(dst.v6, 24);
      ok = table.classify6(from, to, proto, buf, 8, 24, sport, dport, res);
      ex = table.explain6(from, to, proto, src.v6, dst.v6, sport, dport);
    } else throw new Error('mixed families');
    const what = `${f.from}→${f.to} ${f.proto} ${f.src}→${f.dst}:${dport}`;
    t.equal(ok, f.allowed, `${what}: ${f.allowed ? 'allowed' : 'denied'}`);
    t.equal(ex.allowed, ok, `${what}: explain agrees (${ex.steps.map((s) => `${s.stage}:${s.verdict}`).join(' ')})`);
    t.equal(ex.reasonCode, res.reasonCode, `${what}: explain reason agrees`);
    if (f.nsg !== undefined) {
      const got = res.nsgRule < 0 ? '-' : `${table.describeRule(res.nsgRule).nsg}/${table.describeRule(res.nsgRule).name}`;
      t.equal(got, f.nsg, `${what}: deciding NSG rule`);
    }
    if (f.policy !== undefined) {
      const got = res.policy < 0 ? '-' : (table.describeRule(res.policy).policy as string);
      t.equal(got, f.policy, `${what}: deciding policy`);
    }
    if (f.reason !== undefined) t.equal(FILTER_REASON_NAMES[res.reasonCode], f.reason, `${what}: reason`);
  }
  return table;
}

const INTERNET = '203.0.113.10';

// ─── NSG scenarios ───────────────────────────────────────────────────────────────────────────

const allow80In = (name = 'Allow-HTTP-Internet'): Obj => rule(name, 100, 'Inbound', 'Allow', 'Tcp', 'Internet', '*', '80');

t.test('NSG inbound, VM1: subnet NSG1 without an allow → DenyAllInBound of NSG1, NSG2 never evaluated', (t) => {
  run(t, azureWorld({ nsg2: [allow80In()] }), [
    { from: 'uplink', to: 'vm1', proto: 'tcp', src: INTERNET, dst: '10.0.1.4', dport: 80, allowed: false, nsg: 'NSG1/DenyAllInBound', reason: 'nsg-inbound-deny' },
  ]);
  const input = azureWorld({ nsg2: [allow80In()] });
  const { table } = compileFilters(input);
  const r = new FilterResult();
  table.classify4(0, 2, 6, (parseIP(INTERNET) as { v4: number }).v4, (parseIP('10.0.1.4') as { v4: number }).v4, 1234, 80, r);
  t.same([...r.nsgSteps].map((x) => (x < 0 ? '-' : table.describeRule(x).nsg)), ['-', '-', 'NSG1', '-'], 'NIC stage not reached');
  t.end();
});

t.test('NSG inbound, VM1: NSG1 allows port 80 but NSG2 does not → denied by NSG2', (t) => {
  run(t, azureWorld({ nsg1: [allow80In()] }), [
    { from: 'uplink', to: 'vm1', proto: 'tcp', src: INTERNET, dst: '10.0.1.4', dport: 80, allowed: false, nsg: 'NSG2/DenyAllInBound' },
  ]);
  t.end();
});

t.test('NSG inbound, VM1: both NSG1 and NSG2 allow port 80 → allowed (last deciding rule: NSG2)', (t) => {
  run(t, azureWorld({ nsg1: [allow80In()], nsg2: [allow80In('Allow-HTTP')] }), [
    { from: 'uplink', to: 'vm1', proto: 'tcp', src: INTERNET, dst: '10.0.1.4', dport: 80, allowed: true, nsg: 'NSG2/Allow-HTTP', reason: 'allowed' },
    { from: 'uplink', to: 'vm1', proto: 'tcp', src: INTERNET, dst: '10.0.1.4', dport: 443, allowed: false, nsg: 'NSG1/DenyAllInBound' },
  ]);
  t.end();
});

t.test('NSG inbound, VM2 (no NIC NSG): whatever NSG1 allows', (t) => {
  run(t, azureWorld({ nsg1: [allow80In()] }), [
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: INTERNET, dst: '10.0.1.5', dport: 80, allowed: true, nsg: 'NSG1/Allow-HTTP-Internet' },
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: INTERNET, dst: '10.0.1.5', dport: 22, allowed: false, nsg: 'NSG1/DenyAllInBound' },
  ]);
  t.end();
});

t.test('NSG inbound, VM3 (no subnet NSG): NSG2 alone decides', (t) => {
  run(t, azureWorld({ nsg2: [allow80In()] }), [
    { from: 'uplink', to: 'vm3', proto: 'tcp', src: INTERNET, dst: '10.0.2.4', dport: 80, allowed: true, nsg: 'NSG2/Allow-HTTP-Internet' },
  ]);
  run(t, azureWorld({}), [
    { from: 'uplink', to: 'vm3', proto: 'tcp', src: INTERNET, dst: '10.0.2.4', dport: 80, allowed: false, nsg: 'NSG2/DenyAllInBound' },
  ]);
  t.end();
});

t.test('NSG inbound and outbound, VM4 (no NSG anywhere): everything allowed, no rule', (t) => {
  run(t, azureWorld({}), [
    { from: 'uplink', to: 'vm4', proto: 'tcp', src: INTERNET, dst: '10.0.3.4', dport: 3389, allowed: true, nsg: '-' },
    { from: 'vm4', to: 'uplink', proto: 'udp', src: '10.0.3.4', dst: '8.8.8.8', dport: 53, allowed: true, nsg: '-' },
  ]);
  t.end();
});

t.test('NSG outbound, VM1: AllowInternetOutBound in NSG2 then NSG1', (t) => {
  const table = run(t, azureWorld({}), [
    { from: 'vm1', to: 'uplink', proto: 'tcp', src: '10.0.1.4', dst: '93.184.216.34', dport: 80, allowed: true, nsg: 'NSG1/AllowInternetOutBound' },
  ]);
  const r = new FilterResult();
  table.classify4(2, 0, 6, (parseIP('10.0.1.4') as { v4: number }).v4, (parseIP('93.184.216.34') as { v4: number }).v4, 1234, 80, r);
  t.same([...r.nsgSteps].map((x) => (x < 0 ? '-' : `${table.describeRule(x).nsg}/${table.describeRule(x).name}`)), ['NSG2/AllowInternetOutBound', 'NSG1/AllowInternetOutBound', '-', '-'], 'NIC NSG first, then the subnet NSG');
  t.end();
});

t.test('NSG outbound, VM1: NSG2 denies port 80 → denied, NSG1 never evaluated', (t) => {
  run(t, azureWorld({ nsg2: [rule('Deny-HTTP-Out', 100, 'Outbound', 'Deny', 'Tcp', '*', 'Internet', '80')] }), [
    { from: 'vm1', to: 'uplink', proto: 'tcp', src: '10.0.1.4', dst: '93.184.216.34', dport: 80, allowed: false, nsg: 'NSG2/Deny-HTTP-Out', reason: 'nsg-outbound-deny' },
    { from: 'vm1', to: 'uplink', proto: 'tcp', src: '10.0.1.4', dst: '93.184.216.34', dport: 443, allowed: true, nsg: 'NSG1/AllowInternetOutBound' },
    // VM3 has NSG2 too; VM2 and VM4 do not.
    { from: 'vm3', to: 'uplink', proto: 'tcp', src: '10.0.2.4', dst: '93.184.216.34', dport: 80, allowed: false, nsg: 'NSG2/Deny-HTTP-Out' },
    { from: 'vm2', to: 'uplink', proto: 'tcp', src: '10.0.1.5', dst: '93.184.216.34', dport: 80, allowed: true, nsg: 'NSG1/AllowInternetOutBound' },
  ]);
  t.end();
});

t.test('NSG intra-subnet: VM1 ↔ VM2 allowed by the VirtualNetwork default rules; a deny-all in NSG1 stops it', (t) => {
  run(t, azureWorld({}), [
    { from: 'vm2', to: 'vm1', proto: 'tcp', src: '10.0.1.5', dst: '10.0.1.4', dport: 22, allowed: true, nsg: 'NSG2/AllowVnetInBound' },
    { from: 'vm1', to: 'vm2', proto: 'tcp', src: '10.0.1.4', dst: '10.0.1.5', dport: 22, allowed: true, nsg: 'NSG1/AllowVnetInBound' },
  ]);
  run(t, azureWorld({ nsg1: [rule('Deny-All-In', 100, 'Inbound', 'Deny', '*', '*', '*'), rule('Deny-All-Out', 100, 'Outbound', 'Deny', '*', '*', '*')] }), [
    { from: 'vm2', to: 'vm1', proto: 'tcp', src: '10.0.1.5', dst: '10.0.1.4', dport: 22, allowed: false, nsg: 'NSG1/Deny-All-Out', reason: 'nsg-outbound-deny' },
    { from: 'vm4', to: 'vm2', proto: 'tcp', src: '10.0.3.4', dst: '10.0.1.5', dport: 22, allowed: false, nsg: 'NSG1/Deny-All-In', reason: 'nsg-inbound-deny' },
  ]);
  t.end();
});

t.test('NSG default rules: VirtualNetwork in, Azure host 168.63.129.16 (part of VirtualNetwork), Internet in denied', (t) => {
  run(t, azureWorld({}), [
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: '10.0.200.7', dst: '10.0.1.5', dport: 5432, allowed: true, nsg: 'NSG1/AllowVnetInBound' },
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: '168.63.129.16', dst: '10.0.1.5', dport: 80, allowed: true, nsg: 'NSG1/AllowVnetInBound' },
    { from: 'uplink', to: 'vm2', proto: 'udp', src: INTERNET, dst: '10.0.1.5', dport: 53, allowed: false, nsg: 'NSG1/DenyAllInBound' },
  ]);
  t.end();
});

t.test('NSG AllowAzureLoadBalancerInBound: the load balancer probe passes a custom deny of the VNet range', (t) => {
  // A custom rule denies the VNet's own prefix 10.0.0.0/16 as a source (not the tag): VNet
  // hosts are denied, the Azure host (168.63.129.16, not in 10.0.0.0/16) still reaches the
  // default rules, where AllowVnetInBound (the tag includes it) takes it.
  run(t, azureWorld({ nsg1: [rule('Deny-VNet-Range', 4096, 'Inbound', 'Deny', '*', '10.0.0.0/16', '*')] }), [
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: '10.0.9.9', dst: '10.0.1.5', dport: 80, allowed: false, nsg: 'NSG1/Deny-VNet-Range' },
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: '168.63.129.16', dst: '10.0.1.5', dport: 80, allowed: true, nsg: 'NSG1/AllowVnetInBound' },
  ]);
  // With the default rules given explicitly (as az prints them) minus AllowVnetInBound, the
  // probe is decided by AllowAzureLoadBalancerInBound.
  const input = azureWorld({});
  const defaults = [
    { name: 'AllowAzureLoadBalancerInBound', properties: { priority: 65001, direction: 'Inbound', access: 'Allow', protocol: '*', sourceAddressPrefix: 'AzureLoadBalancer', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '*' } },
    { name: 'DenyAllInBound', properties: { priority: 65500, direction: 'Inbound', access: 'Deny', protocol: '*', sourceAddressPrefix: '*', destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '*' } },
  ];
  input.nsgs[0] = validateNetworkSecurityGroup({ type: 'Microsoft.Network/networkSecurityGroups', name: 'NSG1', id: `${SUB}/networkSecurityGroups/NSG1`, properties: { securityRules: [], defaultSecurityRules: defaults } });
  run(t, input, [
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: '168.63.129.16', dst: '10.0.1.5', dport: 80, allowed: true, nsg: 'NSG1/AllowAzureLoadBalancerInBound' },
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: '10.0.9.9', dst: '10.0.1.5', dport: 80, allowed: false, nsg: 'NSG1/DenyAllInBound' },
  ]);
  t.end();
});

t.test('NSG priority: lower number first, first match wins', (t) => {
  run(t, azureWorld({ nsg1: [rule('Deny-SSH', 200, 'Inbound', 'Deny', 'Tcp', '*', '*', '22'), rule('Allow-SSH-Admin', 110, 'Inbound', 'Allow', 'Tcp', '198.51.100.0/24', '*', '22')] }), [
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: '198.51.100.7', dst: '10.0.1.5', dport: 22, allowed: true, nsg: 'NSG1/Allow-SSH-Admin' },
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: '10.0.7.7', dst: '10.0.1.5', dport: 22, allowed: false, nsg: 'NSG1/Deny-SSH' },
  ]);
  t.end();
});

t.test('NSG augmented rules: several prefixes and port ranges in one rule', (t) => {
  run(t, azureWorld({ nsg1: [rule('Allow-Partners', 300, 'Inbound', 'Allow', 'Tcp', ['198.51.100.0/24', '192.0.2.17'], ['10.0.1.5'], ['443', '8000-8080'])] }), [
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: '192.0.2.17', dst: '10.0.1.5', dport: 8080, allowed: true, nsg: 'NSG1/Allow-Partners' },
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: '198.51.100.200', dst: '10.0.1.5', dport: 443, allowed: true, nsg: 'NSG1/Allow-Partners' },
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: '198.51.100.200', dst: '10.0.1.5', dport: 8081, allowed: false, nsg: 'NSG1/DenyAllInBound' },
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: '192.0.2.18', dst: '10.0.1.5', dport: 443, allowed: false, nsg: 'NSG1/DenyAllInBound' },
  ]);
  t.end();
});

t.test('NSG protocols: Udp does not match TCP, * with a port matches UDP not ICMP, Icmp ignores ports', (t) => {
  run(t, azureWorld({ nsg1: [rule('Allow-DNS-Udp', 100, 'Inbound', 'Allow', 'Udp', '*', '*', '53'), rule('Allow-Any-5000', 110, 'Inbound', 'Allow', '*', '*', '*', '5000'), rule('Allow-Ping', 120, 'Inbound', 'Allow', 'Icmp', '*', '*')] }), [
    { from: 'uplink', to: 'vm2', proto: 'udp', src: INTERNET, dst: '10.0.1.5', dport: 53, allowed: true, nsg: 'NSG1/Allow-DNS-Udp' },
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: INTERNET, dst: '10.0.1.5', dport: 53, allowed: false, nsg: 'NSG1/DenyAllInBound' },
    { from: 'uplink', to: 'vm2', proto: 'udp', src: INTERNET, dst: '10.0.1.5', dport: 5000, allowed: true, nsg: 'NSG1/Allow-Any-5000' },
    { from: 'uplink', to: 'vm2', proto: 'icmp', src: INTERNET, dst: '10.0.1.5', allowed: true, nsg: 'NSG1/Allow-Ping' },
  ]);
  t.end();
});

t.test('NSG Internet tag: everything outside VirtualNetwork', (t) => {
  run(t, azureWorld({ nsg1: [rule('Deny-Internet-Out', 100, 'Outbound', 'Deny', '*', '*', 'Internet')] }), [
    { from: 'vm2', to: 'uplink', proto: 'tcp', src: '10.0.1.5', dst: '8.8.8.8', dport: 443, allowed: false, nsg: 'NSG1/Deny-Internet-Out' },
    { from: 'vm2', to: 'uplink', proto: 'tcp', src: '10.0.1.5', dst: '10.0.99.1', dport: 443, allowed: true, nsg: 'NSG1/AllowVnetOutBound' },
    { from: 'vm2', to: 'uplink', proto: 'tcp', src: '10.0.1.5', dst: '168.63.129.16', dport: 80, allowed: true, nsg: 'NSG1/AllowVnetOutBound' },
  ]);
  t.end();
});

t.test('NSG VirtualNetwork tag includes peered address spaces and user-defined route prefixes', (t) => {
  run(t, azureWorld({ peered: ['10.1.0.0/16'], routes: [{ name: 'onprem', addressPrefix: '192.168.50.0/24', nextHopType: 'VirtualNetworkGateway' }] }), [
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: '10.1.2.3', dst: '10.0.1.5', dport: 22, allowed: true, nsg: 'NSG1/AllowVnetInBound' },
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: '192.168.50.7', dst: '10.0.1.5', dport: 22, allowed: true, nsg: 'NSG1/AllowVnetInBound' },
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: '10.2.0.1', dst: '10.0.1.5', dport: 22, allowed: false, nsg: 'NSG1/DenyAllInBound' },
  ]);
  t.end();
});

t.test('NSG source port ranges and IPv6 prefixes', (t) => {
  run(t, azureWorld({ v6: true, nsg1: [rule('Allow-v6-Web', 100, 'Inbound', 'Allow', 'Tcp', '2001:db8:aaaa::/48', '*', '443', '1024-65535')], nsg2: [rule('Allow-v6-Web', 100, 'Inbound', 'Allow', 'Tcp', '2001:db8:aaaa::/48', '*', '443')] }), [
    { from: 'uplink', to: 'vm1', proto: 'tcp', src: '2001:db8:aaaa::5', dst: 'fd00:db8:0:1::4', sport: 50000, dport: 443, allowed: true, nsg: 'NSG2/Allow-v6-Web' },
    { from: 'uplink', to: 'vm1', proto: 'tcp', src: '2001:db8:aaaa::5', dst: 'fd00:db8:0:1::4', sport: 80, dport: 443, allowed: false, nsg: 'NSG1/DenyAllInBound' },
    { from: 'uplink', to: 'vm1', proto: 'tcp', src: '2001:db8:bbbb::5', dst: 'fd00:db8:0:1::4', sport: 50000, dport: 443, allowed: false, nsg: 'NSG1/DenyAllInBound' },
    { from: 'uplink', to: 'vm1', proto: 'tcp', src: 'fd00:db8:0:9::9', dst: 'fd00:db8:0:1::4', sport: 50000, dport: 22, allowed: true, nsg: 'NSG2/AllowVnetInBound' },
  ]);
  t.end();
});

t.test('NSG: host port maps to the NIC holding a node IP; ports of one NIC are not filtered between them', (t) => {
  const input = azureWorld({ nsg2: [rule('Deny-All-In', 100, 'Inbound', 'Deny', '*', '*', '*')] });
  // The node's own NIC carries the node IP and, as Azure CNI does, VM1's address.
  input.nics.push(validateNetworkInterface({ type: 'Microsoft.Network/networkInterfaces', name: 'node-nic', properties: { networkSecurityGroup: { id: `${SUB}/networkSecurityGroups/NSG2` }, ipConfigurations: [{ name: 'primary', properties: { privateIPAddress: '10.0.0.4', subnet: { id: `${SUB}/virtualNetworks/vnet1/subnets/Subnet3` } } }, { name: 'pod1', properties: { privateIPAddress: '10.0.3.40', subnet: { id: `${SUB}/virtualNetworks/vnet1/subnets/Subnet3` } } }] } }));
  run(t, input, [
    { from: 'uplink', to: 'host', proto: 'tcp', src: '10.0.3.4', dst: '10.0.0.4', dport: 22, allowed: false, nsg: 'NSG2/Deny-All-In' },
    { from: 'host', to: 'uplink', proto: 'tcp', src: '10.0.0.4', dst: '10.0.3.4', dport: 22, allowed: true, nsg: 'NSG2/AllowVnetOutBound' },
  ]);
  t.end();
});

t.test('NSG: compile issues for unresolved references fail closed', (t) => {
  const input = azureWorld({});
  input.nics[3] = validateNetworkInterface({ type: 'Microsoft.Network/networkInterfaces', name: 'vm4-nic', properties: { networkSecurityGroup: { id: `${SUB}/networkSecurityGroups/missing-nsg` }, ipConfigurations: [{ name: 'ipconfig1', properties: { privateIPAddress: '10.0.3.4', subnet: { id: `${SUB}/virtualNetworks/vnet1/subnets/Subnet3` } } }] } });
  const { table, issues } = compileFilters(input);
  t.equal(issues.length, 1);
  t.equal(issues[0].path, 'networkInterfaces.vm4-nic.networkSecurityGroup');
  t.match(issues[0].message, /names no network security group in the input; traffic through this NIC\/subnet is denied/);
  const r = new FilterResult();
  t.equal(table.classify4(0, 5, 6, (parseIP(INTERNET) as { v4: number }).v4, (parseIP('10.0.3.4') as { v4: number }).v4, 1, 80, r), false, 'denied');
  t.equal(table.describeRule(r.nsgRule).name, 'unresolved-reference');
  t.end();
});

t.test('NSG: ARM template resourceId() references and az CLI (flattened) resources', (t) => {
  const input = azureWorld({});
  // NSG1 as `az network nsg show` prints it: properties flattened into the resource and rules.
  input.nsgs[0] = validateNetworkSecurityGroup({
    type: 'Microsoft.Network/networkSecurityGroups', name: 'NSG1', id: `${SUB}/networkSecurityGroups/NSG1`, resourceGroup: 'rg1',
    securityRules: [{ name: 'Allow-HTTPS', priority: 100, direction: 'Inbound', access: 'Allow', protocol: 'Tcp', sourceAddressPrefix: 'Internet', sourceAddressPrefixes: [], destinationAddressPrefix: '*', destinationAddressPrefixes: [], sourcePortRange: '*', sourcePortRanges: [], destinationPortRange: '443', destinationPortRanges: [], provisioningState: 'Succeeded', type: 'Microsoft.Network/networkSecurityGroups/securityRules' }],
  });
  // vm2's NIC references its subnet with a template expression.
  input.nics[1] = validateNetworkInterface({ type: 'Microsoft.Network/networkInterfaces', name: 'vm2-nic', properties: { ipConfigurations: [{ name: 'ipconfig1', properties: { privateIPAddress: '10.0.1.5', subnet: { id: "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet1', 'Subnet1')]" } } }] } });
  run(t, input, [
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: INTERNET, dst: '10.0.1.5', dport: 443, allowed: true, nsg: 'NSG1/Allow-HTTPS' },
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: INTERNET, dst: '10.0.1.5', dport: 80, allowed: false, nsg: 'NSG1/DenyAllInBound' },
  ]);
  t.end();
});

t.test('stateful: a new generation does not change the verdicts of the old table; hit counters', (t) => {
  const before = compileFilters(azureWorld({ nsg1: [allow80In()] })).table;
  const after = compileFilters(azureWorld({})).table;
  const r = new FilterResult();
  const src = (parseIP(INTERNET) as { v4: number }).v4;
  const dst = (parseIP('10.0.1.5') as { v4: number }).v4;
  t.equal(before.classify4(0, 3, 6, src, dst, 1, 80, r), true, 'old generation still allows (existing flows keep their verdict in the flow table)');
  t.equal(after.classify4(0, 3, 6, src, dst, 1, 80, r), false, 'new flows see the new rules');
  before.classify4(0, 3, 6, src, dst, 2, 80, r);
  t.equal(before.ruleHits[r.nsgRule], 2, 'hits counted per rule');
  t.end();
});

t.test('flow log records, one per NSG evaluated', (t) => {
  const { table } = compileFilters(azureWorld({ nsg1: [allow80In()], nsg2: [allow80In('Allow-HTTP')] }));
  const r = new FilterResult();
  const src = (parseIP(INTERNET) as { v4: number }).v4;
  const dst = (parseIP('10.0.1.4') as { v4: number }).v4;
  table.classify4(0, 2, 6, src, dst, 40000, 80, r);
  const lines: string[] = [];
  const w = new FlowLogWriter((l) => lines.push(l), () => Date.UTC(2024, 0, 2, 3, 4, 5));
  t.equal(w.record4(table, r, 6, src, dst, 40000, 80), 2);
  t.same(lines.map((l) => JSON.parse(l)), [
    { time: '2024-01-02T03:04:05.000Z', nsg: 'NSG1', rule: 'Allow-HTTP-Internet', srcIp: INTERNET, dstIp: '10.0.1.4', srcPort: 40000, dstPort: 80, protocol: 'T', direction: 'I', decision: 'A' },
    { time: '2024-01-02T03:04:05.000Z', nsg: 'NSG2', rule: 'Allow-HTTP', srcIp: INTERNET, dstIp: '10.0.1.4', srcPort: 40000, dstPort: 80, protocol: 'T', direction: 'I', decision: 'A' },
  ]);
  t.end();
});

// ─── NetworkPolicy scenarios ─────────────────────────────────────────────────────────────────

const DB = '10.244.0.10';
const WEB = '10.244.0.11';
const API = '10.244.0.12';
const CLIENT = '10.244.0.13';
const TOOL = '10.244.0.14';
const DNS = '10.244.0.15';
const REMOTE_FE = '10.244.1.5';
const MON = '10.244.1.6';

t.test('NetworkPolicy: no policy selects a pod → not isolated, everything allowed', (t) => {
  run(t, k8sWorld([]), [
    { from: 'web', to: 'db', proto: 'tcp', src: WEB, dst: DB, dport: 6379, allowed: true, policy: '-' },
    { from: 'uplink', to: 'api', proto: 'tcp', src: INTERNET, dst: API, dport: 1, allowed: true, policy: '-' },
  ]);
  t.end();
});

t.test('NetworkPolicy: default deny ingress (podSelector {}) isolates the namespace for ingress only', (t) => {
  run(t, k8sWorld([policy('default', 'default-deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] })]), [
    { from: 'web', to: 'db', proto: 'tcp', src: WEB, dst: DB, dport: 6379, allowed: false, reason: 'policy-ingress-deny', policy: '-' },
    { from: 'db', to: 'api', proto: 'tcp', src: DB, dst: API, dport: 8080, allowed: true, policy: '-' },
    { from: 'uplink', to: 'db', proto: 'tcp', src: REMOTE_FE, dst: DB, dport: 6379, allowed: false },
  ]);
  t.end();
});

t.test('NetworkPolicy: allow all ingress (ingress: [{}]) adds up with default deny', (t) => {
  run(t, k8sWorld([policy('default', 'default-deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] }), policy('default', 'allow-all-ingress', { podSelector: {}, ingress: [{}], policyTypes: ['Ingress'] })]), [
    { from: 'web', to: 'db', proto: 'tcp', src: WEB, dst: DB, dport: 6379, allowed: true, policy: 'default/allow-all-ingress' },
    { from: 'uplink', to: 'db', proto: 'icmp', src: INTERNET, dst: DB, allowed: true, policy: 'default/allow-all-ingress' },
  ]);
  t.end();
});

t.test('NetworkPolicy: default deny egress; allow all egress', (t) => {
  run(t, k8sWorld([policy('default', 'default-deny-egress', { podSelector: {}, policyTypes: ['Egress'] })]), [
    { from: 'db', to: 'api', proto: 'tcp', src: DB, dst: API, dport: 8080, allowed: false, reason: 'policy-egress-deny' },
    { from: 'web', to: 'uplink', proto: 'udp', src: WEB, dst: '8.8.8.8', dport: 53, allowed: false, reason: 'policy-egress-deny' },
    { from: 'api', to: 'db', proto: 'tcp', src: API, dst: DB, dport: 6379, allowed: true, policy: '-' },
  ]);
  run(t, k8sWorld([policy('default', 'default-deny-egress', { podSelector: {}, policyTypes: ['Egress'] }), policy('default', 'allow-all-egress', { podSelector: {}, egress: [{}], policyTypes: ['Egress'] })]), [
    { from: 'web', to: 'uplink', proto: 'udp', src: WEB, dst: '8.8.8.8', dport: 53, allowed: true, policy: 'default/allow-all-egress' },
  ]);
  t.end();
});

t.test('NetworkPolicy: podSelector peer = pods of the policy\'s namespace; ports restrict', (t) => {
  run(t, k8sWorld([policy('default', 'db-from-frontend', { podSelector: { matchLabels: { role: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'frontend' } } }], ports: [{ protocol: 'TCP', port: 6379 }] }] })]), [
    { from: 'web', to: 'db', proto: 'tcp', src: WEB, dst: DB, dport: 6379, allowed: true, policy: 'default/db-from-frontend' },
    { from: 'web', to: 'db', proto: 'tcp', src: WEB, dst: DB, dport: 80, allowed: false },
    { from: 'web', to: 'db', proto: 'udp', src: WEB, dst: DB, dport: 6379, allowed: false },
    { from: 'client', to: 'db', proto: 'tcp', src: CLIENT, dst: DB, dport: 6379, allowed: false, reason: 'policy-ingress-deny' },
    // web itself is not selected: unrestricted
    { from: 'client', to: 'web', proto: 'tcp', src: CLIENT, dst: WEB, dport: 80, allowed: true },
  ]);
  t.end();
});

t.test('NetworkPolicy: namespaceSelector AND podSelector in one peer vs two peers (OR)', (t) => {
  const and = policy('prod', 'api-and', { podSelector: { matchLabels: { app: 'api' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { env: 'dev' } }, podSelector: { matchLabels: { role: 'frontend' } } }] }] });
  run(t, k8sWorld([and]), [
    { from: 'client', to: 'api', proto: 'tcp', src: CLIENT, dst: API, dport: 8080, allowed: true, policy: 'prod/api-and' },
    { from: 'tool', to: 'api', proto: 'tcp', src: TOOL, dst: API, dport: 8080, allowed: false },
    { from: 'uplink', to: 'api', proto: 'tcp', src: REMOTE_FE, dst: API, dport: 8080, allowed: false },
    { from: 'web', to: 'api', proto: 'tcp', src: WEB, dst: API, dport: 8080, allowed: false },
  ]);
  const or = policy('prod', 'api-or', { podSelector: { matchLabels: { app: 'api' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { env: 'dev' } } }, { podSelector: { matchLabels: { role: 'frontend' } } }] }] });
  run(t, k8sWorld([or]), [
    { from: 'client', to: 'api', proto: 'tcp', src: CLIENT, dst: API, dport: 8080, allowed: true },
    { from: 'tool', to: 'api', proto: 'tcp', src: TOOL, dst: API, dport: 8080, allowed: true, policy: 'prod/api-or' },
    { from: 'uplink', to: 'api', proto: 'tcp', src: REMOTE_FE, dst: API, dport: 8080, allowed: true },
    { from: 'web', to: 'api', proto: 'tcp', src: WEB, dst: API, dport: 8080, allowed: false },
  ]);
  t.end();
});

t.test('NetworkPolicy: namespaceSelector matchExpressions and the kubernetes.io/metadata.name label', (t) => {
  run(t, k8sWorld([policy('prod', 'api-ns-expr', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['default', 'kube-system'] }] } }] }] })]), [
    { from: 'web', to: 'api', proto: 'tcp', src: WEB, dst: API, dport: 8080, allowed: true, policy: 'prod/api-ns-expr' },
    { from: 'dns', to: 'api', proto: 'tcp', src: DNS, dst: API, dport: 8080, allowed: true },
    { from: 'client', to: 'api', proto: 'tcp', src: CLIENT, dst: API, dport: 8080, allowed: false },
  ]);
  run(t, k8sWorld([policy('prod', 'api-not-dev', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['dev'] }, { key: 'env', operator: 'Exists' }] } }] }] })]), [
    { from: 'uplink', to: 'api', proto: 'tcp', src: REMOTE_FE, dst: API, dport: 8080, allowed: true },
    { from: 'client', to: 'api', proto: 'tcp', src: CLIENT, dst: API, dport: 8080, allowed: false },
    { from: 'web', to: 'api', proto: 'tcp', src: WEB, dst: API, dport: 8080, allowed: false },
  ]);
  t.end();
});

t.test('NetworkPolicy: ipBlock with except', (t) => {
  run(t, k8sWorld([policy('prod', 'api-ipblock', { podSelector: { matchLabels: { app: 'api' } }, ingress: [{ from: [{ ipBlock: { cidr: '172.17.0.0/16', except: ['172.17.1.0/24'] } }], ports: [{ protocol: 'TCP', port: 8080 }] }] })]), [
    { from: 'uplink', to: 'api', proto: 'tcp', src: '172.17.2.5', dst: API, dport: 8080, allowed: true, policy: 'prod/api-ipblock' },
    { from: 'uplink', to: 'api', proto: 'tcp', src: '172.17.1.5', dst: API, dport: 8080, allowed: false },
    { from: 'uplink', to: 'api', proto: 'tcp', src: '172.18.0.1', dst: API, dport: 8080, allowed: false },
  ]);
  t.end();
});

t.test('NetworkPolicy: named port resolved against the destination pod (ingress)', (t) => {
  run(t, k8sWorld([policy('prod', 'api-http', { podSelector: {}, ingress: [{ ports: [{ port: 'http' }] }] })]), [
    { from: 'web', to: 'api', proto: 'tcp', src: WEB, dst: API, dport: 8080, allowed: true, policy: 'prod/api-http' },
    { from: 'web', to: 'api', proto: 'tcp', src: WEB, dst: API, dport: 9090, allowed: false },
    { from: 'web', to: 'api', proto: 'udp', src: WEB, dst: API, dport: 8080, allowed: false },
  ]);
  t.end();
});

t.test('NetworkPolicy: endPort range', (t) => {
  run(t, k8sWorld([policy('prod', 'api-range', { podSelector: {}, ingress: [{ ports: [{ protocol: 'TCP', port: 32000, endPort: 32768 }] }] })]), [
    { from: 'web', to: 'api', proto: 'tcp', src: WEB, dst: API, dport: 32000, allowed: true },
    { from: 'web', to: 'api', proto: 'tcp', src: WEB, dst: API, dport: 32768, allowed: true },
    { from: 'web', to: 'api', proto: 'tcp', src: WEB, dst: API, dport: 32769, allowed: false },
    { from: 'web', to: 'api', proto: 'tcp', src: WEB, dst: API, dport: 31999, allowed: false },
  ]);
  t.end();
});

t.test('NetworkPolicy: egress to pods by selector with a named port resolved per destination pod', (t) => {
  run(t, k8sWorld([policy('default', 'web-egress', { podSelector: { matchLabels: { role: 'frontend' } }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['api'] }] } }], ports: [{ port: 'http' }] }, { to: [{ namespaceSelector: {}, podSelector: { matchLabels: { role: 'frontend' } } }], ports: [{ port: 'http' }] }] })]), [
    { from: 'web', to: 'api', proto: 'tcp', src: WEB, dst: API, dport: 8080, allowed: true, policy: 'default/web-egress' },
    { from: 'web', to: 'api', proto: 'tcp', src: WEB, dst: API, dport: 9090, allowed: false, reason: 'policy-egress-deny' },
    // remote-fe names "http" 8081: resolved against that pod, not against api
    { from: 'web', to: 'uplink', proto: 'tcp', src: WEB, dst: REMOTE_FE, dport: 8081, allowed: true },
    { from: 'web', to: 'uplink', proto: 'tcp', src: WEB, dst: REMOTE_FE, dport: 8080, allowed: false },
    // not a known pod: a named port cannot match
    { from: 'web', to: 'uplink', proto: 'tcp', src: WEB, dst: '1.2.3.4', dport: 8080, allowed: false },
  ]);
  t.end();
});

t.test('NetworkPolicy: egress DNS to kube-system plus an ipBlock', (t) => {
  run(t, k8sWorld([policy('dev', 'dev-egress', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] }, { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } }], ports: [{ protocol: 'TCP', port: 443 }] }] })]), [
    { from: 'client', to: 'dns', proto: 'udp', src: CLIENT, dst: DNS, dport: 53, allowed: true, policy: 'dev/dev-egress' },
    { from: 'client', to: 'dns', proto: 'tcp', src: CLIENT, dst: DNS, dport: 53, allowed: true },
    { from: 'client', to: 'uplink', proto: 'udp', src: CLIENT, dst: '8.8.8.8', dport: 53, allowed: false },
    { from: 'client', to: 'uplink', proto: 'tcp', src: CLIENT, dst: '8.8.8.8', dport: 443, allowed: true },
    { from: 'tool', to: 'api', proto: 'tcp', src: TOOL, dst: API, dport: 443, allowed: false },
  ]);
  t.end();
});

t.test('NetworkPolicy: policies add up (union) for one pod', (t) => {
  run(t, k8sWorld([
    policy('default', 'db-from-frontend', { podSelector: { matchLabels: { role: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'frontend' } } }], ports: [{ port: 'redis' }] }] }),
    policy('default', 'db-from-monitoring', { podSelector: { matchLabels: { role: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'monitoring' } } }], ports: [{ port: 9121 }] }] }),
  ]), [
    { from: 'web', to: 'db', proto: 'tcp', src: WEB, dst: DB, dport: 6379, allowed: true, policy: 'default/db-from-frontend' },
    { from: 'uplink', to: 'db', proto: 'tcp', src: MON, dst: DB, dport: 9121, allowed: true, policy: 'default/db-from-monitoring' },
    { from: 'uplink', to: 'db', proto: 'tcp', src: MON, dst: DB, dport: 6379, allowed: false },
    { from: 'web', to: 'db', proto: 'tcp', src: WEB, dst: DB, dport: 9121, allowed: false },
  ]);
  t.end();
});

t.test('NetworkPolicy: policyTypes defaults to Ingress (+Egress) — an egress-only spec without policyTypes also isolates ingress', (t) => {
  const p = policy('default', 'web-egress-only', { podSelector: { matchLabels: { role: 'frontend' } }, egress: [{ to: [{ podSelector: { matchLabels: { role: 'db' } } }] }] });
  t.same(p.spec.policyTypes, ['Ingress', 'Egress']);
  run(t, k8sWorld([p]), [
    { from: 'web', to: 'db', proto: 'tcp', src: WEB, dst: DB, dport: 6379, allowed: true },
    { from: 'client', to: 'web', proto: 'tcp', src: CLIENT, dst: WEB, dport: 80, allowed: false, reason: 'policy-ingress-deny' },
    { from: 'web', to: 'api', proto: 'tcp', src: WEB, dst: API, dport: 8080, allowed: false, reason: 'policy-egress-deny' },
  ]);
  t.end();
});

t.test('NetworkPolicy: traffic from and to the pod\'s own node is always allowed', (t) => {
  run(t, k8sWorld([policy('default', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })]), [
    { from: 'host', to: 'db', proto: 'tcp', src: '10.0.0.4', dst: DB, dport: 6379, allowed: true },
    { from: 'db', to: 'host', proto: 'tcp', src: DB, dst: '10.0.0.4', dport: 10250, allowed: true },
    { from: 'uplink', to: 'db', proto: 'tcp', src: '10.0.0.5', dst: DB, dport: 6379, allowed: false },
  ]);
  t.end();
});

t.test('NetworkPolicy: SCTP ports; ICMP only through rules without ports', (t) => {
  run(t, k8sWorld([policy('prod', 'api-sctp', { podSelector: {}, ingress: [{ ports: [{ protocol: 'SCTP', port: 'sig' }] }, { from: [{ namespaceSelector: { matchLabels: { env: 'dev' } } }] }] })]), [
    { from: 'web', to: 'api', proto: 'sctp', src: WEB, dst: API, dport: 7777, allowed: true },
    { from: 'web', to: 'api', proto: 'tcp', src: WEB, dst: API, dport: 7777, allowed: false },
    { from: 'web', to: 'api', proto: 'icmp', src: WEB, dst: API, allowed: false },
    { from: 'client', to: 'api', proto: 'icmp', src: CLIENT, dst: API, allowed: true },
  ]);
  t.end();
});

t.test('NSG and NetworkPolicy must both allow', (t) => {
  const input = azureWorld({ nsg1: [allow80In()] });
  // vm2 runs pod default/web2 (labels app=web); a policy allows only port 8080 to it.
  input.node.spec.ports[3].pod = { namespace: 'default', name: 'web2' };
  input.pods = [validatePod({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web2', namespace: 'default', labels: { app: 'web' } }, spec: { containers: [{ name: 'c' }] }, status: { podIP: '10.0.1.5' } })];
  input.networkPolicies = [policy('default', 'web-8080', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ port: 8080 }] }] })];
  run(t, input, [
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: INTERNET, dst: '10.0.1.5', dport: 80, allowed: false, nsg: 'NSG1/Allow-HTTP-Internet', reason: 'policy-ingress-deny' },
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: INTERNET, dst: '10.0.1.5', dport: 8080, allowed: false, nsg: 'NSG1/DenyAllInBound', reason: 'nsg-inbound-deny' },
    { from: 'uplink', to: 'vm2', proto: 'tcp', src: '10.0.2.4', dst: '10.0.1.5', dport: 8080, allowed: true, nsg: 'NSG1/AllowVnetInBound', policy: 'default/web-8080' },
  ]);
  t.end();
});

t.test('explain: every step named, for `tapflow trace`', (t) => {
  const input = azureWorld({ nsg1: [allow80In()] });
  input.node.spec.ports[3].pod = { namespace: 'default', name: 'web2' };
  input.networkPolicies = [policy('default', 'deny', { podSelector: {}, policyTypes: ['Ingress'] })];
  const { table } = compileFilters(input);
  const ex = table.explain4(0, 3, 6, (parseIP(INTERNET) as { v4: number }).v4, (parseIP('10.0.1.5') as { v4: number }).v4, 40000, 80);
  t.same(ex.steps.map((s) => [s.stage, s.verdict]), [
    ['nsg-outbound-nic', 'skip'], ['nsg-outbound-subnet', 'skip'], ['nsg-inbound-subnet', 'allow'], ['nsg-inbound-nic', 'allow'],
    ['policy-egress', 'skip'], ['policy-ingress', 'deny'],
  ]);
  t.match(ex.steps[2].detail, /rule Allow-HTTP-Internet \(priority 100\) → allow/);
  t.match(ex.steps[3].detail, /NIC vm2-nic has no NSG → allow/);
  t.match(ex.steps[5].detail, /pod default\/web2 is isolated for ingress and no policy allows this flow/);
  t.end();
});

// ─── The examples load and compile ───────────────────────────────────────────────────────────

t.test('examples/nsg and examples/network-policy: load, compile, classify (AKS with Azure CNI)', (t) => {
  const root = path.resolve(__dirname, '../../../examples');
  const ms = loadManifestPaths([path.join(root, 'nsg'), path.join(root, 'network-policy')]);
  const of = <T>(kind: string): T[] => ms.filter((m) => m.kind === kind).map((m) => m.object as T);
  const node = validateNodeConfig(aksExampleNodeObj());
  const input: FilterInput = {
    nsgs: of<NetworkSecurityGroup>('Microsoft.Network/networkSecurityGroups'),
    vnets: of<VirtualNetwork>('Microsoft.Network/virtualNetworks'),
    nics: of<NetworkInterface>('Microsoft.Network/networkInterfaces'),
    networkPolicies: of<NetworkPolicy>('NetworkPolicy'),
    pods: of<Pod>('Pod'),
    namespaces: of<Namespace>('Namespace'),
    node,
  };
  t.same([input.nsgs.length, input.vnets.length, input.nics.length, input.networkPolicies.length, input.pods.length, input.namespaces.length], [2, 1, 1, 3, 3, 2]);
  run(t, input, [
    { from: 'uplink', to: 'frontend', proto: 'tcp', src: '203.0.113.5', dst: '10.224.0.10', dport: 8080, allowed: true, nsg: 'aks-node-nsg/Allow-Web', policy: 'shop/frontend' },
    { from: 'uplink', to: 'frontend', proto: 'tcp', src: '192.0.2.9', dst: '10.224.0.10', dport: 8080, allowed: false, reason: 'policy-ingress-deny' },
    { from: 'uplink', to: 'frontend', proto: 'tcp', src: '203.0.113.5', dst: '10.224.0.10', dport: 9000, allowed: false, nsg: 'aks-subnet-nsg/DenyAllInBound' },
    { from: 'frontend', to: 'redis', proto: 'tcp', src: '10.224.0.10', dst: '10.224.0.11', dport: 6379, allowed: true, nsg: '-', policy: 'shop/redis-ingress' },
    { from: 'frontend', to: 'redis', proto: 'tcp', src: '10.224.0.10', dst: '10.224.0.11', dport: 9121, allowed: false, reason: 'policy-egress-deny' },
    { from: 'prometheus', to: 'redis', proto: 'tcp', src: '10.224.0.12', dst: '10.224.0.11', dport: 9121, allowed: true, policy: 'shop/redis-ingress' },
    { from: 'prometheus', to: 'redis', proto: 'tcp', src: '10.224.0.12', dst: '10.224.0.11', dport: 6379, allowed: false, reason: 'policy-ingress-deny' },
    { from: 'frontend', to: 'uplink', proto: 'tcp', src: '10.224.0.10', dst: '8.8.8.8', dport: 443, allowed: true, nsg: 'aks-subnet-nsg/AllowInternetOutBound' },
    { from: 'frontend', to: 'uplink', proto: 'tcp', src: '10.224.0.10', dst: '8.8.8.8', dport: 25, allowed: false, nsg: 'aks-subnet-nsg/Deny-SMTP-Out' },
    { from: 'uplink', to: 'redis', proto: 'tcp', src: '10.0.1.5', dst: '10.224.0.11', dport: 6379, allowed: false, nsg: 'aks-node-nsg/AllowVnetInBound', reason: 'policy-ingress-deny' },
    { from: 'uplink', to: 'host', proto: 'tcp', src: '198.51.100.9', dst: '10.224.0.4', dport: 22, allowed: true, nsg: 'aks-node-nsg/Allow-SSH-Admins' },
    { from: 'uplink', to: 'host', proto: 'icmp', src: '10.0.1.5', dst: '10.224.0.4', allowed: true, nsg: 'aks-node-nsg/Allow-Ping' },
  ]);
  t.end();
});
