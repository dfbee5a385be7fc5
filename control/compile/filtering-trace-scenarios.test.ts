/**
 * NSG + NetworkPolicy scenarios from the public documentation, run through `tapflow trace`:
 * the Tracer (dataplane/agent/tracer.ts — the real NodeCompiler, Forwarder, flow table and
 * filter table on memory ports, the same code path as the CLI), and a few through the CLI
 * binary itself (`node bin/tapflow trace -f DIR ... -o json`, and `--packets`).
 *
 * Sources the scenarios are written from:
 *  - Azure "How network security groups filter network traffic" (VM1–VM4: subnet NSG1, NIC
 *    NSG2; inbound = subnet NSG then NIC NSG, outbound = NIC NSG then subnet NSG; intra-subnet
 *    traffic), "Network security groups overview" (priorities, default rules, service tags,
 *    AllowAzureLoadBalancerInBound, augmented rules, "existing connections aren't interrupted
 *    when you remove a security rule that allowed the flow"), Network Watcher IP flow verify
 *    (access + the rule that decided).
 *  - Kubernetes "Network Policies" concept page: the test-network-policy example (ipBlock with
 *    except, namespaceSelector, podSelector, egress ipBlock), default deny / allow all ingress
 *    and egress, namespaceSelector AND podSelector vs OR, targeting a namespace by name,
 *    endPort, named ports, pod ↔ own node always allowed.
 *
 * Each check asserts the trace verdict, its reason, and the deciding rule read from
 * `security.steps`: NSG name + rule name + priority, or the policy namespace/name (or the
 * isolated pod, on a default deny).
 */
import t, { Test } from 'tap';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadManifests, Manifest } from '../model/manifests';
import '../model/kinds';
import { Tracer, TracePacket, TraceResult } from '../../dataplane/agent/tracer';
import { AZURE_SUB, aksExampleNodeObj, nodeConfigObj, nsgRule } from '../../test/support/model-objects';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

const REPO = path.resolve(__dirname, '../../..');
const SUB = AZURE_SUB;
const INTERNET = '203.0.113.10';

// ─── Running packets and reading the decision ───────────────────────────────────────────────

/** Unique source ports, so that two checks on one tracer never share a 5-tuple by accident. */
let nextPort = 41000;

interface Check {
  /** src "IP" (a unique source port is added) or "IP:PORT". */
  src: string;
  dst: string;
  proto?: 'tcp' | 'udp' | 'icmp' | 'sctp';
  from?: string;
  flags?: string;
  verdict: TraceResult['verdict'];
  reason: string;
  /** The deciding NSG rule "NSG/rule@priority" (the denying one, else the last allowing one); null: no NSG rule. */
  nsg?: string | null;
  /** The deciding policy "ns/name" (ingress side first), "isolated ns/pod (ingress|egress)" on a default deny, null: none. */
  policy?: string | null;
  /** "stage:verdict" of every step, in order. */
  stages?: string[];
  /** Egress port name when forwarded. */
  egress?: string;
}

function withPort(addr: string): string {
  if (/^\[.*\]:\d+$/.test(addr) || /^[\d.]+:\d+$/.test(addr)) return addr;
  const p = nextPort++;
  return addr.includes(':') ? `[${addr}]:${p}` : `${addr}:${p}`;
}

/** NSG rule that decided: the denying step's rule, else the last NSG step that named a rule. */
function nsgDecision(r: TraceResult): string | null {
  const steps = (r.security?.steps ?? []).filter((s) => s.stage.startsWith('nsg-'));
  const pick = steps.find((s) => s.verdict === 'deny') ?? [...steps].reverse().find((s) => s.ruleInfo !== undefined);
  if (pick === undefined) return null;
  if (pick.ruleInfo === undefined) return `${pick.subject}: no rule`;
  return `${pick.ruleInfo.nsg}/${pick.ruleInfo.name}@${pick.ruleInfo.priority}`;
}

/** Policy that decided: a deny names the isolated pod; an allow names the policy (ingress side first). */
function policyDecision(r: TraceResult): string | null {
  const steps = (r.security?.steps ?? []).filter((s) => s.stage.startsWith('policy-'));
  const deny = steps.find((s) => s.verdict === 'deny');
  if (deny !== undefined) return `isolated ${deny.subject.replace(/^pod /, '')} (${deny.stage === 'policy-ingress' ? 'ingress' : 'egress'})`;
  const allow = steps.find((s) => s.stage === 'policy-ingress' && s.ruleInfo !== undefined) ?? steps.find((s) => s.stage === 'policy-egress' && s.ruleInfo !== undefined);
  return allow?.ruleInfo?.policy ?? null;
}

function stagesOf(r: TraceResult): string[] {
  return (r.security?.steps ?? []).map((s) => `${s.stage}:${s.verdict}`);
}

function packetOf(c: Pick<Check, 'src' | 'dst' | 'proto' | 'from' | 'flags'>): TracePacket {
  const proto = c.proto ?? 'tcp';
  return { src: withPort(c.src), dst: c.dst, proto, ...(c.from !== undefined ? { from: c.from } : {}), ...(c.flags !== undefined ? { flags: c.flags } : {}) };
}

function assertCheck(t: Test, r: TraceResult, c: Check): void {
  const what = `${r.packet.proto} ${r.packet.src} → ${r.packet.dst}`;
  t.equal(r.verdict, c.verdict, `${what}: verdict ${c.verdict}`);
  t.equal(r.reason, c.reason, `${what}: reason`);
  if (c.nsg !== undefined) t.equal(nsgDecision(r), c.nsg, `${what}: deciding NSG rule`);
  if (c.policy !== undefined) t.equal(policyDecision(r), c.policy, `${what}: deciding policy`);
  if (c.stages !== undefined) t.same(stagesOf(r), c.stages, `${what}: steps`);
  if (c.egress !== undefined) t.equal(r.egress, c.egress, `${what}: leaves by ${c.egress}`);
  if (c.verdict === 'drop' && /-denied/.test(c.reason)) {
    t.equal(r.security?.allowed, false, `${what}: security says denied`);
    t.equal(r.generated.length, 0, `${what}: silently dropped (nothing generated)`);
  }
  if (c.verdict === 'forward' && r.security !== null) t.equal(r.security.allowed, true, `${what}: security says allowed`);
}

function check(t: Test, tr: Tracer, c: Check): TraceResult {
  const r = tr.trace(packetOf(c));
  assertCheck(t, r, c);
  return r;
}

function tracerOf(objs: Obj[]): Tracer {
  return Tracer.fromManifests(loadManifests(JSON.stringify(objs), 'scenario'));
}

function manifests(objs: Obj[]): Manifest[] {
  return loadManifests(JSON.stringify(objs), 'update');
}

// ─── The Azure world of "How network security groups filter network traffic" ──────────────
//
//   VNet vnet1 10.0.0.0/16 (+ fd00:db8::/48)
//   Subnet1 10.0.1.0/24 — NSG1:  VM1 10.0.1.4 (NIC NSG2), VM2 10.0.1.5 (no NIC NSG)
//   Subnet2 10.0.2.0/24 — none:  VM3 10.0.2.4 (NIC NSG2)
//   Subnet3 10.0.3.0/24 — none:  VM4 10.0.3.4 (no NIC NSG)
// Every VM is a tapflow port on this host (VM-style: one NIC per port, mapped by address);
// the uplink is the rest of the VNet and the Internet.

function rule(name: string, priority: number, direction: 'Inbound' | 'Outbound', access: 'Allow' | 'Deny', protocol: string, src: string | string[], dst: string | string[], dport: string | string[] = '*', sport = '*'): Obj {
  return nsgRule(name, priority, direction, access, protocol, src, dst, dport, sport);
}

function nsg(name: string, rules: Obj[], defaults?: Obj[]): Obj {
  return {
    type: 'Microsoft.Network/networkSecurityGroups',
    name,
    id: `${SUB}/networkSecurityGroups/${name}`,
    location: 'westeurope',
    properties: { securityRules: rules, ...(defaults !== undefined ? { defaultSecurityRules: defaults } : {}) },
  };
}

interface AzureOpts {
  nsg1?: Obj[];
  nsg2?: Obj[];
  /** Replace NSG1 altogether (e.g. az-printed with explicit defaults). */
  nsg1Object?: Obj;
  peered?: string[];
  routes?: { name: string; addressPrefix: string; nextHopType: string; nextHopIpAddress?: string }[];
  /** vm1-nic's NSG reference (default NSG2). */
  vm1NicNsg?: string;
}

function azureNodeConfig(o: AzureOpts = {}): Obj {
  return nodeConfigObj({
    nodeIPs: ['10.0.0.4', 'fd00:db8::4'],
    networkMode: 'cni',
    vnetPrefixes: ['10.0.0.0/16', 'fd00:db8::/48'],
    defaultGateway: { ipv4: '10.0.0.1', ipv6: 'fd00:db8::1' },
    ...(o.routes !== undefined ? { routeTables: [{ name: 'rt', routes: o.routes }] } : {}),
    ports: [
      { name: 'uplink', tap: 'tfup', role: 'uplink' },
      { name: 'host', tap: 'tfhost', role: 'host' },
      { name: 'vm1', tap: 'tfvm1', role: 'pod', addresses: ['10.0.1.4', 'fd00:db8:0:1::4'] },
      { name: 'vm2', tap: 'tfvm2', role: 'pod', addresses: ['10.0.1.5'] },
      { name: 'vm3', tap: 'tfvm3', role: 'pod', addresses: ['10.0.2.4'] },
      { name: 'vm4', tap: 'tfvm4', role: 'pod', addresses: ['10.0.3.4'] },
    ],
  }, 'host-1');
}

function nic(name: string, ips: string[], subnet: string, nsgName: string | null): Obj {
  return {
    type: 'Microsoft.Network/networkInterfaces',
    name,
    id: `${SUB}/networkInterfaces/${name}`,
    properties: {
      ...(nsgName !== null ? { networkSecurityGroup: { id: `${SUB}/networkSecurityGroups/${nsgName}` } } : {}),
      ipConfigurations: ips.map((ip, i) => ({ name: `ipconfig${i + 1}`, properties: { privateIPAddress: ip, primary: i === 0, subnet: { id: `${SUB}/virtualNetworks/vnet1/subnets/${subnet}` } } })),
    },
  };
}

/** Everything but the NodeConfig. */
function azureResources(o: AzureOpts = {}): Obj[] {
  return [
    o.nsg1Object ?? nsg('NSG1', o.nsg1 ?? []),
    nsg('NSG2', o.nsg2 ?? []),
    {
      type: 'Microsoft.Network/virtualNetworks',
      name: 'vnet1',
      id: `${SUB}/virtualNetworks/vnet1`,
      properties: {
        addressSpace: { addressPrefixes: ['10.0.0.0/16', 'fd00:db8::/48'] },
        subnets: [
          { name: 'Subnet1', properties: { addressPrefixes: ['10.0.1.0/24', 'fd00:db8:0:1::/64'], networkSecurityGroup: { id: `${SUB}/networkSecurityGroups/NSG1` } } },
          { name: 'Subnet2', properties: { addressPrefix: '10.0.2.0/24' } },
          { name: 'Subnet3', properties: { addressPrefix: '10.0.3.0/24' } },
        ],
        ...((o.peered ?? []).length > 0 ? { virtualNetworkPeerings: [{ name: 'to-hub', properties: { remoteAddressSpace: { addressPrefixes: o.peered } } }] } : {}),
      },
    },
    nic('vm1-nic', ['10.0.1.4', 'fd00:db8:0:1::4'], 'Subnet1', o.vm1NicNsg ?? 'NSG2'),
    nic('vm2-nic', ['10.0.1.5'], 'Subnet1', null),
    nic('vm3-nic', ['10.0.2.4'], 'Subnet2', 'NSG2'),
    nic('vm4-nic', ['10.0.3.4'], 'Subnet3', null),
  ];
}

function azure(o: AzureOpts = {}): Tracer {
  return tracerOf([azureNodeConfig(o), ...azureResources(o)]);
}

const VM1 = '10.0.1.4';
const VM2 = '10.0.1.5';
const VM3 = '10.0.2.4';
const VM4 = '10.0.3.4';
const allowHttpIn = (name = 'Allow-HTTP-Internet'): Obj => rule(name, 100, 'Inbound', 'Allow', 'Tcp', 'Internet', '*', '80');
const NSG_FWD = 'forwarded';
const NSG_IN_DENY = 'nsg-denied: nsg-inbound-deny';
const NSG_OUT_DENY = 'nsg-denied: nsg-outbound-deny';
const POL_IN_DENY = 'policy-denied: policy-ingress-deny';
const POL_OUT_DENY = 'policy-denied: policy-egress-deny';

// ─── NSG: the four VMs ──────────────────────────────────────────────────────────────────────

t.test('NSG #1 VM1 inbound: the subnet NSG1 is evaluated first; its DenyAllInBound ends it before NSG2', async (t) => {
  const tr = azure({ nsg2: [allowHttpIn()] });
  check(t, tr, {
    src: INTERNET, dst: `${VM1}:80`, verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/DenyAllInBound@65500', policy: null,
    stages: ['nsg-outbound-nic:skip', 'nsg-outbound-subnet:skip', 'nsg-inbound-subnet:deny'],
  });
});

t.test('NSG #2 VM1 inbound: NSG1 allows port 80, NSG2 (NIC) has no allow → denied by NSG2', async (t) => {
  const r = check(t, azure({ nsg1: [allowHttpIn()] }), {
    src: INTERNET, dst: `${VM1}:80`, verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG2/DenyAllInBound@65500',
    stages: ['nsg-outbound-nic:skip', 'nsg-outbound-subnet:skip', 'nsg-inbound-subnet:allow', 'nsg-inbound-nic:deny'],
  });
  t.equal(r.security?.steps[2].ruleInfo?.name, 'Allow-HTTP-Internet', 'the subnet stage allowed by NSG1/Allow-HTTP-Internet');
  t.match(r.security?.steps[3].detail, /priority 65500, default rule/, 'the NIC stage names the default rule');
});

t.test('NSG #3 VM1 inbound: NSG1 and NSG2 both allow port 80 → forwarded; 443 still denied by NSG1', async (t) => {
  const tr = azure({ nsg1: [allowHttpIn()], nsg2: [allowHttpIn('Allow-HTTP')] });
  const r = check(t, tr, {
    src: INTERNET, dst: `${VM1}:80`, verdict: 'forward', reason: NSG_FWD, nsg: 'NSG2/Allow-HTTP@100', policy: null, egress: 'vm1',
    stages: ['nsg-outbound-nic:skip', 'nsg-outbound-subnet:skip', 'nsg-inbound-subnet:allow', 'nsg-inbound-nic:allow', 'policy-egress:skip', 'policy-ingress:skip'],
  });
  t.same(r.conn, { direction: 'original', state: 'new', new: true }, 'a new connection entry');
  check(t, tr, { src: INTERNET, dst: `${VM1}:443`, verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/DenyAllInBound@65500' });
});

t.test('NSG #4 VM2 inbound (no NIC NSG): NSG1 alone decides', async (t) => {
  const tr = azure({ nsg1: [allowHttpIn()] });
  const r = check(t, tr, { src: INTERNET, dst: `${VM2}:80`, verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/Allow-HTTP-Internet@100', egress: 'vm2' });
  t.match(r.security?.steps[3].detail, /NIC vm2-nic has no NSG → allow/, 'the NIC stage: no NSG');
  check(t, tr, { src: INTERNET, dst: `${VM2}:22`, verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/DenyAllInBound@65500' });
});

t.test('NSG #5 VM3 inbound (Subnet2 has no NSG): NSG2 alone decides', async (t) => {
  const r = check(t, azure({ nsg2: [allowHttpIn()] }), { src: INTERNET, dst: `${VM3}:80`, verdict: 'forward', reason: NSG_FWD, nsg: 'NSG2/Allow-HTTP-Internet@100' });
  t.match(r.security?.steps[2].detail, /subnet .*Subnet2 has no NSG → allow/, 'the subnet stage: no NSG');
  check(t, azure(), { src: INTERNET, dst: `${VM3}:80`, verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG2/DenyAllInBound@65500' });
});

t.test('NSG #6 VM4 (no NSG on subnet or NIC): all traffic allowed both ways, no rule decides', async (t) => {
  const tr = azure();
  check(t, tr, { src: INTERNET, dst: `${VM4}:3389`, verdict: 'forward', reason: NSG_FWD, nsg: null, egress: 'vm4' });
  check(t, tr, { src: VM4, dst: '8.8.8.8:53', proto: 'udp', verdict: 'forward', reason: NSG_FWD, nsg: null, egress: 'uplink' });
});

t.test('NSG #7 VM1 outbound: the NIC NSG2 first, then the subnet NSG1 (AllowInternetOutBound in both); SNAT after the decision', async (t) => {
  const r = check(t, azure(), {
    src: VM1, dst: '93.184.216.34:80', verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/AllowInternetOutBound@65001', egress: 'uplink',
    stages: ['nsg-outbound-nic:allow', 'nsg-outbound-subnet:allow', 'nsg-inbound-subnet:skip', 'nsg-inbound-nic:skip', 'policy-egress:skip', 'policy-ingress:skip'],
  });
  t.equal(r.security?.steps[0].ruleInfo?.nsg, 'NSG2', 'first NSG evaluated outbound: the NIC\'s');
  t.equal(r.out?.src.split(':')[0], '10.0.0.4', 'leaves SNATed to the node IP (the filter saw the VM address)');
});

t.test('NSG #8 VM1 outbound: NSG2 denies port 80 → denied at the NIC, NSG1 never evaluated; VM2 (no NIC NSG) allowed', async (t) => {
  const tr = azure({ nsg2: [rule('Deny-HTTP-Out', 100, 'Outbound', 'Deny', 'Tcp', '*', 'Internet', '80')] });
  check(t, tr, { src: VM1, dst: '93.184.216.34:80', verdict: 'drop', reason: NSG_OUT_DENY, nsg: 'NSG2/Deny-HTTP-Out@100', stages: ['nsg-outbound-nic:deny'] });
  check(t, tr, { src: VM1, dst: '93.184.216.34:443', verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/AllowInternetOutBound@65001' });
  check(t, tr, { src: VM3, dst: '93.184.216.34:80', verdict: 'drop', reason: NSG_OUT_DENY, nsg: 'NSG2/Deny-HTTP-Out@100' });
  check(t, tr, { src: VM2, dst: '93.184.216.34:80', verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/AllowInternetOutBound@65001' });
});

t.test('NSG #9 VM1 outbound: NSG2 allows, the subnet NSG1 denies → denied by NSG1', async (t) => {
  const tr = azure({ nsg1: [rule('Deny-Internet-Out', 200, 'Outbound', 'Deny', '*', '*', 'Internet')], nsg2: [rule('Allow-Web-Out', 100, 'Outbound', 'Allow', 'Tcp', '*', '*', ['80', '443'])] });
  check(t, tr, {
    src: VM1, dst: '93.184.216.34:443', verdict: 'drop', reason: NSG_OUT_DENY, nsg: 'NSG1/Deny-Internet-Out@200',
    stages: ['nsg-outbound-nic:allow', 'nsg-outbound-subnet:deny'],
  });
  check(t, tr, { src: VM1, dst: '10.0.9.9:443', verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/AllowVnetOutBound@65000' });
});

t.test('NSG #10 intra-subnet VM1 ↔ VM2: allowed by the VirtualNetwork default rules; an NSG1 deny-all stops it', async (t) => {
  const tr = azure();
  const r = check(t, tr, { src: VM2, dst: `${VM1}:22`, verdict: 'forward', reason: NSG_FWD, nsg: 'NSG2/AllowVnetInBound@65000', egress: 'vm1' });
  t.same(r.security?.steps.map((s) => s.ruleInfo === undefined ? '-' : `${s.ruleInfo.nsg}/${s.ruleInfo.name}`), ['-', 'NSG1/AllowVnetOutBound', 'NSG1/AllowVnetInBound', 'NSG2/AllowVnetInBound', '-', '-'], 'every NSG on the path: VM2 out (NIC none, NSG1), VM1 in (NSG1, NSG2)');
  check(t, tr, { src: VM1, dst: `${VM2}:22`, verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/AllowVnetInBound@65000' });
  const closed = azure({ nsg1: [rule('Deny-All-In', 100, 'Inbound', 'Deny', '*', '*', '*'), rule('Deny-All-Out', 100, 'Outbound', 'Deny', '*', '*', '*')] });
  check(t, closed, { src: VM2, dst: `${VM1}:22`, verdict: 'drop', reason: NSG_OUT_DENY, nsg: 'NSG1/Deny-All-Out@100' });
  check(t, closed, { src: VM4, dst: `${VM2}:22`, verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/Deny-All-In@100' });
  check(t, closed, { src: VM4, dst: `${VM3}:22`, verdict: 'forward', reason: NSG_FWD, nsg: 'NSG2/AllowVnetInBound@65000' });
});

t.test('NSG #11 default rules: VirtualNetwork = VNet + peered address spaces + UDR prefixes; Internet inbound denied', async (t) => {
  const tr = azure({ peered: ['10.1.0.0/16'], routes: [{ name: 'onprem', addressPrefix: '192.168.50.0/24', nextHopType: 'VirtualNetworkGateway' }] });
  check(t, tr, { src: '10.0.200.7', dst: `${VM2}:5432`, verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/AllowVnetInBound@65000' });
  check(t, tr, { src: '10.1.2.3', dst: `${VM2}:22`, verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/AllowVnetInBound@65000' });
  check(t, tr, { src: '192.168.50.7', dst: `${VM2}:22`, verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/AllowVnetInBound@65000' });
  check(t, tr, { src: '10.2.0.1', dst: `${VM2}:22`, verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/DenyAllInBound@65500' });
  check(t, tr, { src: INTERNET, dst: `${VM2}:53`, proto: 'udp', verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/DenyAllInBound@65500' });
});

t.test('NSG #12 Azure load balancer probes (168.63.129.16): default rules, a custom deny-all, and an explicit AzureLoadBalancer allow', async (t) => {
  // With only the default rules the probe source is inside VirtualNetwork: AllowVnetInBound (65000) takes it first.
  check(t, azure(), { src: '168.63.129.16', dst: `${VM2}:80`, verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/AllowVnetInBound@65000' });
  // A custom deny-all shadows every default rule, probes included …
  const denyAll = rule('Deny-All-Inbound', 4096, 'Inbound', 'Deny', '*', '*', '*');
  check(t, azure({ nsg1: [denyAll] }), { src: '168.63.129.16', dst: `${VM2}:80`, verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/Deny-All-Inbound@4096' });
  // … unless AzureLoadBalancer is allowed at a higher priority (what Azure recommends).
  const tr = azure({ nsg1: [denyAll, rule('Allow-AzureLoadBalancer', 4000, 'Inbound', 'Allow', '*', 'AzureLoadBalancer', '*')] });
  check(t, tr, { src: '168.63.129.16', dst: `${VM2}:80`, verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/Allow-AzureLoadBalancer@4000' });
  check(t, tr, { src: '10.0.9.9', dst: `${VM2}:80`, verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/Deny-All-Inbound@4096' });
});

t.test('NSG #13 AllowAzureLoadBalancerInBound decides when the defaults are given (az-printed) without AllowVnetInBound', async (t) => {
  const d = (name: string, priority: number, access: string, src: string): Obj => ({
    name, properties: { priority, direction: 'Inbound', access, protocol: '*', sourceAddressPrefix: src, destinationAddressPrefix: '*', sourcePortRange: '*', destinationPortRange: '*' },
  });
  const nsg1 = nsg('NSG1', [], [d('AllowAzureLoadBalancerInBound', 65001, 'Allow', 'AzureLoadBalancer'), d('DenyAllInBound', 65500, 'Deny', '*')]);
  const tr = azure({ nsg1Object: nsg1 });
  const r = check(t, tr, { src: '168.63.129.16', dst: `${VM2}:80`, verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/AllowAzureLoadBalancerInBound@65001' });
  t.equal(r.security?.steps[2].ruleInfo?.isDefault, true, 'reported as a default rule');
  check(t, tr, { src: '10.0.9.9', dst: `${VM2}:80`, verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/DenyAllInBound@65500' });
});

t.test('NSG #14 priority: the lowest number wins whatever the order in the file', async (t) => {
  const tr = azure({ nsg1: [rule('Deny-SSH', 200, 'Inbound', 'Deny', 'Tcp', '*', '*', '22'), rule('Allow-SSH-Admin', 110, 'Inbound', 'Allow', 'Tcp', '198.51.100.0/24', '*', '22')] });
  check(t, tr, { src: '198.51.100.7', dst: `${VM2}:22`, verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/Allow-SSH-Admin@110' });
  check(t, tr, { src: '10.0.7.7', dst: `${VM2}:22`, verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/Deny-SSH@200' });
});

t.test('NSG #15 augmented rules: several prefixes and port ranges in one rule', async (t) => {
  const tr = azure({ nsg1: [rule('Allow-Partners', 300, 'Inbound', 'Allow', 'Tcp', ['198.51.100.0/24', '192.0.2.17'], [VM2], ['443', '8000-8080'])] });
  check(t, tr, { src: '192.0.2.17', dst: `${VM2}:8080`, verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/Allow-Partners@300' });
  check(t, tr, { src: '198.51.100.200', dst: `${VM2}:443`, verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/Allow-Partners@300' });
  check(t, tr, { src: '198.51.100.200', dst: `${VM2}:8081`, verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/DenyAllInBound@65500' });
  check(t, tr, { src: '192.0.2.18', dst: `${VM2}:443`, verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/DenyAllInBound@65500' });
});

t.test('NSG #16 protocols: Udp does not match TCP, * with a port matches UDP, Icmp matches a ping', async (t) => {
  const tr = azure({ nsg1: [rule('Allow-DNS-Udp', 100, 'Inbound', 'Allow', 'Udp', '*', '*', '53'), rule('Allow-Any-5000', 110, 'Inbound', 'Allow', '*', '*', '*', '5000'), rule('Allow-Ping', 120, 'Inbound', 'Allow', 'Icmp', '*', '*')] });
  check(t, tr, { src: INTERNET, dst: `${VM2}:53`, proto: 'udp', verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/Allow-DNS-Udp@100' });
  check(t, tr, { src: INTERNET, dst: `${VM2}:53`, proto: 'tcp', verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/DenyAllInBound@65500' });
  check(t, tr, { src: INTERNET, dst: `${VM2}:5000`, proto: 'udp', verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/Allow-Any-5000@110' });
  check(t, tr, { src: INTERNET, dst: VM2, proto: 'icmp', verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/Allow-Ping@120' });
  check(t, azure(), { src: INTERNET, dst: VM2, proto: 'icmp', verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/DenyAllInBound@65500' });
});

t.test('NSG #17 IP flow verify: access and rule name per 5-tuple on VM1 (subnet NSG1 + NIC NSG2)', async (t) => {
  // What Network Watcher's IP flow verify answers for VM1's NIC: Access allowed/denied and the
  // deciding rule, "securityRules/<name>" or "defaultSecurityRules/<name>".
  const tr = azure({
    nsg1: [allowHttpIn(), rule('Allow-RDP-Admin', 300, 'Inbound', 'Allow', 'Tcp', '198.51.100.0/24', '*', '3389')],
    nsg2: [allowHttpIn('Allow-HTTP'), rule('Deny-SMTP-Out', 150, 'Outbound', 'Deny', 'Tcp', '*', 'Internet', '25')],
  });
  const verify = (direction: 'Inbound' | 'Outbound', proto: 'tcp' | 'udp', local: string, remote: string): string => {
    const r = direction === 'Inbound' ? tr.trace(packetOf({ src: remote, dst: local, proto })) : tr.trace(packetOf({ src: local, dst: remote, proto }));
    // Only VM1's side of the flow: its outbound stages, or its inbound ones.
    const mine = direction === 'Inbound' ? ['nsg-inbound-subnet', 'nsg-inbound-nic'] : ['nsg-outbound-nic', 'nsg-outbound-subnet'];
    const steps = (r.security?.steps ?? []).filter((s) => mine.includes(s.stage));
    const decided = steps.find((s) => s.verdict === 'deny') ?? steps[steps.length - 1];
    const info = decided?.ruleInfo;
    const access = r.security?.allowed === true ? 'Allow' : 'Deny';
    return `${access} ${info === undefined ? '?' : `${info.nsg} ${info.isDefault === true ? 'defaultSecurityRules' : 'securityRules'}/${info.name}`}`;
  };
  const table: [Parameters<typeof verify>, string][] = [
    [['Inbound', 'tcp', `${VM1}:80`, '13.107.21.200'], 'Allow NSG2 securityRules/Allow-HTTP'],
    [['Inbound', 'tcp', `${VM1}:3389`, '198.51.100.9'], 'Deny NSG2 defaultSecurityRules/DenyAllInBound'],
    [['Inbound', 'tcp', `${VM1}:3389`, '13.107.21.200'], 'Deny NSG1 defaultSecurityRules/DenyAllInBound'],
    [['Inbound', 'udp', `${VM1}:53`, '10.0.3.4'], 'Allow NSG2 defaultSecurityRules/AllowVnetInBound'],
    [['Outbound', 'tcp', `${VM1}:60000`, '13.107.21.200:80'], 'Allow NSG1 defaultSecurityRules/AllowInternetOutBound'],
    [['Outbound', 'tcp', `${VM1}:60000`, '13.107.21.200:25'], 'Deny NSG2 securityRules/Deny-SMTP-Out'],
    [['Outbound', 'tcp', `${VM1}:60000`, '10.0.3.4:25'], 'Allow NSG1 defaultSecurityRules/AllowVnetOutBound'],
  ];
  for (const [args, want] of table) t.equal(verify(...args), want, `${args.join(' ')} → ${want}`);
});

t.test('NSG #18 IPv6: prefix rules match their family; explain6 through the trace', async (t) => {
  const tr = azure({
    nsg1: [rule('Allow-v6-Web', 100, 'Inbound', 'Allow', 'Tcp', '2001:db8:aaaa::/48', '*', '443')],
    nsg2: [rule('Allow-v6-Web', 100, 'Inbound', 'Allow', 'Tcp', '2001:db8:aaaa::/48', '*', '443')],
  });
  check(t, tr, { src: '2001:db8:aaaa::5', dst: '[fd00:db8:0:1::4]:443', verdict: 'forward', reason: NSG_FWD, nsg: 'NSG2/Allow-v6-Web@100', egress: 'vm1' });
  check(t, tr, { src: '2001:db8:bbbb::5', dst: '[fd00:db8:0:1::4]:443', verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/DenyAllInBound@65500' });
  check(t, tr, { src: 'fd00:db8:0:9::9', dst: '[fd00:db8:0:1::4]:22', verdict: 'forward', reason: NSG_FWD, nsg: 'NSG2/AllowVnetInBound@65000' });
  // The IPv4 twin of the allowed flow: the v6 prefix does not match it.
  check(t, tr, { src: INTERNET, dst: `${VM1}:443`, verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/DenyAllInBound@65500' });
});

t.test('NSG #19 fail closed: a NIC referencing an NSG that is not in the input denies its traffic', async (t) => {
  const tr = azure({ nsg1: [allowHttpIn()], vm1NicNsg: 'NSG-missing' });
  const r = check(t, tr, { src: INTERNET, dst: `${VM1}:80`, verdict: 'drop', reason: NSG_IN_DENY });
  const deny = r.security?.steps.find((s) => s.verdict === 'deny');
  t.equal(deny?.ruleInfo?.name, 'unresolved-reference', `the deciding rule is the unresolved reference: ${deny?.detail}`);
  t.match(deny?.ruleInfo?.nsg ?? '', /NSG-missing/, 'naming the missing NSG');
  check(t, tr, { src: INTERNET, dst: `${VM2}:80`, verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/Allow-HTTP-Internet@100' });
});

// ─── NSG: stateful ──────────────────────────────────────────────────────────────────────────

t.test('NSG #20 stateful: the reply of an allowed outbound flow comes in although inbound is denied; a new inbound flow is not', async (t) => {
  const tr = azure();
  const out = check(t, tr, { src: `${VM2}:45000`, dst: '93.184.216.34:443', verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/AllowInternetOutBound@65001' });
  const snat = out.out?.src as string;
  t.ok(snat, `left as ${snat}`);
  const reply = tr.trace({ src: '93.184.216.34:443', dst: snat, proto: 'tcp', flags: 'syn-ack' });
  t.equal(reply.verdict, 'forward', 'the SYN-ACK is forwarded');
  t.equal(reply.reason, 'forwarded');
  t.equal(reply.egress, 'vm2', 'to VM2');
  t.equal(reply.conn?.direction, 'reply', 'as the reply direction of the connection');
  t.equal(reply.security, null, 'not classified again (DenyAllInBound never consulted)');
  t.equal(reply.out?.dst, `${VM2}:45000`, 'un-NATed to the VM');
  check(t, tr, { src: '93.184.216.34:443', dst: `${VM2}:45000`, verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/DenyAllInBound@65500' });
});

t.test('NSG #21 stateful: removing the allow rule (Tracer.apply) keeps the established flow, a new flow is denied, re-adding opens again', async (t) => {
  const tr = azure({ nsg1: [allowHttpIn()] });
  check(t, tr, { src: `${INTERNET}:40000`, dst: `${VM2}:80`, verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/Allow-HTTP-Internet@100' });
  const synack = tr.trace({ src: `${VM2}:80`, dst: `${INTERNET}:40000`, proto: 'tcp', flags: 'syn-ack' });
  t.equal(synack.conn?.direction, 'reply', 'the VM answers on the connection');
  tr.apply(manifests([nsg('NSG1', [])]));
  for (const [src, dst, flags] of [[`${INTERNET}:40000`, `${VM2}:80`, 'ack'], [`${VM2}:80`, `${INTERNET}:40000`, 'psh-ack'], [`${INTERNET}:40000`, `${VM2}:80`, 'psh-ack']] as const) {
    const r = tr.trace({ src, dst, proto: 'tcp', flags });
    t.equal(r.verdict, 'forward', `${src} → ${dst} ${flags}: still forwarded after the rule is gone`);
    t.equal(r.conn?.new, false, 'on the existing connection');
    t.equal(r.security, null, 'not re-classified');
  }
  check(t, tr, { src: `${INTERNET}:40001`, dst: `${VM2}:80`, verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/DenyAllInBound@65500' });
  // A Deny at priority 100 added over the allow: the old flow still passes, new ones are denied by it.
  tr.apply(manifests([nsg('NSG1', [rule('Deny-HTTP', 100, 'Inbound', 'Deny', 'Tcp', '*', '*', '80'), rule('Allow-HTTP-Internet', 200, 'Inbound', 'Allow', 'Tcp', 'Internet', '*', '80')])]));
  t.equal(tr.trace({ src: `${INTERNET}:40000`, dst: `${VM2}:80`, proto: 'tcp', flags: 'ack' }).verdict, 'forward', 'established flow survives an added deny');
  check(t, tr, { src: `${INTERNET}:40002`, dst: `${VM2}:80`, verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/Deny-HTTP@100' });
  tr.apply(manifests([nsg('NSG1', [allowHttpIn()])]));
  check(t, tr, { src: `${INTERNET}:40003`, dst: `${VM2}:80`, verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/Allow-HTTP-Internet@100' });
});

// ─── Kubernetes NetworkPolicy ───────────────────────────────────────────────────────────────
//
// kubenet node node-a (podCIDR 10.244.0.0/24), every pod local unless noted:
//   default      db 10.244.0.10 (role=db; ports redis 6379, metrics 9121)
//                frontend .11 (role=frontend), backend .12 (app=backend), cli .18 (role=client)
//                web .20 (app=web; port http 8080) — behind Service web 10.96.0.20:80
//   myproject    (project=myproject) proj .13
//   alice        (user=alice) client .14 (role=client), other .15 (app=other)
//   bob          (user=bob)   client .16 (role=client)
//   kube-system  dns .17 (k8s-app=kube-dns; port dns 53/UDP)
//   remote (node-b): default/remote-fe 10.244.1.5 (role=frontend)

interface PodDef { ns: string; name: string; ip: string; labels: Record<string, string>; ports?: Obj[]; local?: boolean }

const PODS: PodDef[] = [
  { ns: 'default', name: 'db', ip: '10.244.0.10', labels: { role: 'db' }, ports: [{ name: 'redis', containerPort: 6379 }, { name: 'metrics', containerPort: 9121 }] },
  { ns: 'default', name: 'frontend', ip: '10.244.0.11', labels: { role: 'frontend' } },
  { ns: 'default', name: 'backend', ip: '10.244.0.12', labels: { app: 'backend' } },
  { ns: 'default', name: 'cli', ip: '10.244.0.18', labels: { role: 'client' } },
  { ns: 'default', name: 'web', ip: '10.244.0.20', labels: { app: 'web' }, ports: [{ name: 'http', containerPort: 8080 }] },
  { ns: 'myproject', name: 'proj', ip: '10.244.0.13', labels: { app: 'proj' } },
  { ns: 'alice', name: 'client', ip: '10.244.0.14', labels: { role: 'client' } },
  { ns: 'alice', name: 'other', ip: '10.244.0.15', labels: { app: 'other' } },
  { ns: 'bob', name: 'client', ip: '10.244.0.16', labels: { role: 'client' } },
  { ns: 'kube-system', name: 'dns', ip: '10.244.0.17', labels: { 'k8s-app': 'kube-dns' }, ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }] },
  { ns: 'default', name: 'remote-fe', ip: '10.244.1.5', labels: { role: 'frontend' }, local: false },
];
const ip = (ns: string, name: string): string => (PODS.find((p) => p.ns === ns && p.name === name) as PodDef).ip;
const DB = ip('default', 'db');
const FRONTEND = ip('default', 'frontend');
const BACKEND = ip('default', 'backend');
const CLI = ip('default', 'cli');
const WEB = ip('default', 'web');
const PROJ = ip('myproject', 'proj');
const ALICE_CLIENT = ip('alice', 'client');
const ALICE_OTHER = ip('alice', 'other');
const BOB_CLIENT = ip('bob', 'client');
const DNS = ip('kube-system', 'dns');
const REMOTE_FE = ip('default', 'remote-fe');
const WEB_VIP = '10.96.0.20';

function k8sNodeConfig(): Obj {
  return nodeConfigObj({
    nodeIPs: ['10.0.0.4'],
    podCIDRs: ['10.244.0.0/24'],
    clusterCIDRs: ['10.244.0.0/16'],
    serviceCIDRs: ['10.96.0.0/12'],
    vnetPrefixes: ['10.0.0.0/16'],
    defaultGateway: { ipv4: '10.0.0.1' },
    nodeRoutes: [{ prefix: '10.244.1.0/24', nextHop: '10.0.0.5' }],
    ports: [
      { name: 'uplink', tap: 'tfup', role: 'uplink' },
      { name: 'host', tap: 'tfhost', role: 'host' },
      ...PODS.filter((p) => p.local !== false).map((p) => ({ name: `${p.ns}-${p.name}`, tap: `tf${PODS.indexOf(p)}`, role: 'pod', addresses: [p.ip], pod: { namespace: p.ns, name: p.name } })),
    ],
  });
}

function k8sObjects(policies: Obj[]): Obj[] {
  const nsObj = (name: string, labels: Record<string, string> = {}): Obj => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  return [
    nsObj('default'), nsObj('myproject', { project: 'myproject' }), nsObj('alice', { user: 'alice' }), nsObj('bob', { user: 'bob' }), nsObj('kube-system'),
    ...PODS.map((p) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: p.name, namespace: p.ns, labels: p.labels },
      spec: { nodeName: p.local === false ? 'node-b' : 'node-a', containers: [{ name: 'c', image: 'x', ports: p.ports ?? [] }] },
      status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }] },
    })),
    {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' },
      spec: { type: 'ClusterIP', clusterIP: WEB_VIP, selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }] },
    },
    {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4', endpoints: [{ addresses: [WEB], nodeName: 'node-a', conditions: { ready: true } }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    },
    ...policies,
  ];
}

function policy(ns: string, name: string, spec: Obj): Obj {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec };
}

function k8s(policies: Obj[]): Tracer {
  return tracerOf([k8sNodeConfig(), ...k8sObjects(policies)]);
}

const FWD = 'forwarded';

/** The documentation's test-network-policy, verbatim. */
const TEST_NETWORK_POLICY = policy('default', 'test-network-policy', {
  podSelector: { matchLabels: { role: 'db' } },
  policyTypes: ['Ingress', 'Egress'],
  ingress: [{
    from: [
      { ipBlock: { cidr: '172.17.0.0/16', except: ['172.17.1.0/24'] } },
      { namespaceSelector: { matchLabels: { project: 'myproject' } } },
      { podSelector: { matchLabels: { role: 'frontend' } } },
    ],
    ports: [{ protocol: 'TCP', port: 6379 }],
  }],
  egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ protocol: 'TCP', port: 5978 }] }],
});

t.test('NetworkPolicy #22 test-network-policy ingress: ipBlock with except, namespaceSelector, podSelector, TCP 6379', async (t) => {
  const tr = k8s([TEST_NETWORK_POLICY]);
  const P = 'default/test-network-policy';
  check(t, tr, { src: FRONTEND, dst: `${DB}:6379`, verdict: 'forward', reason: FWD, policy: P, nsg: null, egress: 'default-db' });
  check(t, tr, { src: REMOTE_FE, dst: `${DB}:6379`, verdict: 'forward', reason: FWD, policy: P });
  check(t, tr, { src: PROJ, dst: `${DB}:6379`, verdict: 'forward', reason: FWD, policy: P });
  check(t, tr, { src: '172.17.2.5', dst: `${DB}:6379`, verdict: 'forward', reason: FWD, policy: P });
  check(t, tr, { src: '172.17.1.5', dst: `${DB}:6379`, verdict: 'drop', reason: POL_IN_DENY, policy: 'isolated default/db (ingress)' });
  check(t, tr, { src: '172.18.0.1', dst: `${DB}:6379`, verdict: 'drop', reason: POL_IN_DENY, policy: 'isolated default/db (ingress)' });
  check(t, tr, { src: FRONTEND, dst: `${DB}:6380`, verdict: 'drop', reason: POL_IN_DENY, policy: 'isolated default/db (ingress)' });
  check(t, tr, { src: FRONTEND, dst: `${DB}:6379`, proto: 'udp', verdict: 'drop', reason: POL_IN_DENY });
  check(t, tr, { src: BACKEND, dst: `${DB}:6379`, verdict: 'drop', reason: POL_IN_DENY, policy: 'isolated default/db (ingress)' });
  check(t, tr, { src: ALICE_CLIENT, dst: `${DB}:6379`, verdict: 'drop', reason: POL_IN_DENY });
  // Pods not selected by the policy are not isolated.
  check(t, tr, { src: BACKEND, dst: `${FRONTEND}:80`, verdict: 'forward', reason: FWD, policy: null });
});

t.test('NetworkPolicy #23 test-network-policy egress: to 10.0.0.0/24 on TCP 5978 only', async (t) => {
  const tr = k8s([TEST_NETWORK_POLICY]);
  const P = 'default/test-network-policy';
  const r = check(t, tr, { src: DB, dst: '10.0.0.7:5978', verdict: 'forward', reason: FWD, policy: P, egress: 'uplink' });
  t.equal(r.security?.steps.find((s) => s.stage === 'policy-egress')?.ruleInfo?.policy, P, 'decided on the egress side');
  check(t, tr, { src: DB, dst: '10.0.0.7:80', verdict: 'drop', reason: POL_OUT_DENY, policy: 'isolated default/db (egress)' });
  check(t, tr, { src: DB, dst: '10.0.1.7:5978', verdict: 'drop', reason: POL_OUT_DENY, policy: 'isolated default/db (egress)' });
  check(t, tr, { src: DB, dst: `${FRONTEND}:80`, verdict: 'drop', reason: POL_OUT_DENY, stages: ['nsg-outbound-nic:skip', 'nsg-outbound-subnet:skip', 'nsg-inbound-subnet:skip', 'nsg-inbound-nic:skip', 'policy-egress:deny'] });
});

t.test('NetworkPolicy #24 default deny all ingress: every pod of the namespace isolated, egress and other namespaces untouched', async (t) => {
  const tr = k8s([policy('default', 'default-deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] })]);
  const r = check(t, tr, { src: FRONTEND, dst: `${DB}:6379`, verdict: 'drop', reason: POL_IN_DENY, policy: 'isolated default/db (ingress)' });
  t.match(r.security?.steps[5].detail, /isolated for ingress and no policy allows this flow → deny \(default deny by isolation\)/, 'explained as default deny');
  check(t, tr, { src: ALICE_CLIENT, dst: `${BACKEND}:8080`, verdict: 'drop', reason: POL_IN_DENY, policy: 'isolated default/backend (ingress)' });
  check(t, tr, { src: INTERNET, dst: `${FRONTEND}:80`, verdict: 'drop', reason: POL_IN_DENY, policy: 'isolated default/frontend (ingress)' });
  check(t, tr, { src: FRONTEND, dst: `${ALICE_CLIENT}:80`, verdict: 'forward', reason: FWD, policy: null });
  check(t, tr, { src: DB, dst: '10.0.0.7:443', verdict: 'forward', reason: FWD, policy: null });
});

t.test('NetworkPolicy #25 allow all ingress next to the default deny: policies add up', async (t) => {
  const tr = k8s([policy('default', 'default-deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] }), policy('default', 'allow-all-ingress', { podSelector: {}, ingress: [{}], policyTypes: ['Ingress'] })]);
  check(t, tr, { src: FRONTEND, dst: `${DB}:6379`, verdict: 'forward', reason: FWD, policy: 'default/allow-all-ingress' });
  check(t, tr, { src: INTERNET, dst: `${BACKEND}:1234`, proto: 'udp', verdict: 'forward', reason: FWD, policy: 'default/allow-all-ingress' });
  check(t, tr, { src: BOB_CLIENT, dst: FRONTEND, proto: 'icmp', verdict: 'forward', reason: FWD, policy: 'default/allow-all-ingress' });
});

t.test('NetworkPolicy #26 default deny all egress: pods cannot open flows, ingress still open', async (t) => {
  const tr = k8s([policy('default', 'default-deny-egress', { podSelector: {}, policyTypes: ['Egress'] })]);
  check(t, tr, { src: DB, dst: `${FRONTEND}:80`, verdict: 'drop', reason: POL_OUT_DENY, policy: 'isolated default/db (egress)' });
  check(t, tr, { src: FRONTEND, dst: '8.8.8.8:53', proto: 'udp', verdict: 'drop', reason: POL_OUT_DENY, policy: 'isolated default/frontend (egress)' });
  check(t, tr, { src: ALICE_CLIENT, dst: `${DB}:6379`, verdict: 'forward', reason: FWD, policy: null });
  // allow-all-egress opens it again
  const open = k8s([policy('default', 'default-deny-egress', { podSelector: {}, policyTypes: ['Egress'] }), policy('default', 'allow-all-egress', { podSelector: {}, egress: [{}], policyTypes: ['Egress'] })]);
  check(t, open, { src: DB, dst: `${FRONTEND}:80`, verdict: 'forward', reason: FWD, policy: 'default/allow-all-egress' });
});

t.test('NetworkPolicy #27 default deny all ingress and egress; the pod\'s own node is always allowed', async (t) => {
  const tr = k8s([policy('default', 'default-deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })]);
  check(t, tr, { src: FRONTEND, dst: `${DB}:6379`, verdict: 'drop', reason: POL_OUT_DENY, policy: 'isolated default/frontend (egress)' });
  check(t, tr, { src: ALICE_CLIENT, dst: `${DB}:6379`, verdict: 'drop', reason: POL_IN_DENY, policy: 'isolated default/db (ingress)' });
  const r = check(t, tr, { src: '10.0.0.4', from: 'node', dst: `${DB}:6379`, verdict: 'forward', reason: FWD, policy: null });
  t.match(r.security?.steps[5].detail, /between a pod and its own node is always allowed/, 'the node → pod exception');
  check(t, tr, { src: DB, dst: '10.0.0.4:10250', verdict: 'forward', reason: FWD, egress: 'host' });
  check(t, tr, { src: '10.0.0.5', dst: `${DB}:6379`, verdict: 'drop', reason: POL_IN_DENY, policy: 'isolated default/db (ingress)' });
});

t.test('NetworkPolicy #28 namespaceSelector AND podSelector in one peer: client pods of alice\'s namespaces only', async (t) => {
  const tr = k8s([policy('default', 'db-from-alice-clients', {
    podSelector: { matchLabels: { role: 'db' } },
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { user: 'alice' } }, podSelector: { matchLabels: { role: 'client' } } }] }],
  })]);
  check(t, tr, { src: ALICE_CLIENT, dst: `${DB}:6379`, verdict: 'forward', reason: FWD, policy: 'default/db-from-alice-clients' });
  check(t, tr, { src: ALICE_OTHER, dst: `${DB}:6379`, verdict: 'drop', reason: POL_IN_DENY, policy: 'isolated default/db (ingress)' });
  check(t, tr, { src: BOB_CLIENT, dst: `${DB}:6379`, verdict: 'drop', reason: POL_IN_DENY });
  check(t, tr, { src: CLI, dst: `${DB}:6379`, verdict: 'drop', reason: POL_IN_DENY });
});

t.test('NetworkPolicy #29 namespaceSelector OR podSelector (two peers): any pod of alice\'s namespaces, or client pods of the policy\'s namespace', async (t) => {
  const tr = k8s([policy('default', 'db-from-alice-or-clients', {
    podSelector: { matchLabels: { role: 'db' } },
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { user: 'alice' } } }, { podSelector: { matchLabels: { role: 'client' } } }] }],
  })]);
  const P = 'default/db-from-alice-or-clients';
  check(t, tr, { src: ALICE_CLIENT, dst: `${DB}:6379`, verdict: 'forward', reason: FWD, policy: P });
  check(t, tr, { src: ALICE_OTHER, dst: `${DB}:6379`, verdict: 'forward', reason: FWD, policy: P });
  check(t, tr, { src: CLI, dst: `${DB}:6379`, verdict: 'forward', reason: FWD, policy: P });
  check(t, tr, { src: BOB_CLIENT, dst: `${DB}:6379`, verdict: 'drop', reason: POL_IN_DENY, policy: 'isolated default/db (ingress)' });
  check(t, tr, { src: FRONTEND, dst: `${DB}:6379`, verdict: 'drop', reason: POL_IN_DENY });
});

t.test('NetworkPolicy #30 targeting a namespace by its name (kubernetes.io/metadata.name)', async (t) => {
  const tr = k8s([policy('default', 'db-from-bob', {
    podSelector: { matchLabels: { role: 'db' } },
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'bob' } } }] }],
  })]);
  check(t, tr, { src: BOB_CLIENT, dst: `${DB}:6379`, verdict: 'forward', reason: FWD, policy: 'default/db-from-bob' });
  check(t, tr, { src: ALICE_CLIENT, dst: `${DB}:6379`, verdict: 'drop', reason: POL_IN_DENY });
});

t.test('NetworkPolicy #31 endPort: egress to 10.0.0.0/24 on TCP 32000-32768', async (t) => {
  const tr = k8s([policy('default', 'multi-port-egress', {
    podSelector: { matchLabels: { role: 'db' } },
    policyTypes: ['Egress'],
    egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ protocol: 'TCP', port: 32000, endPort: 32768 }] }],
  })]);
  const P = 'default/multi-port-egress';
  check(t, tr, { src: DB, dst: '10.0.0.7:32000', verdict: 'forward', reason: FWD, policy: P });
  check(t, tr, { src: DB, dst: '10.0.0.7:32768', verdict: 'forward', reason: FWD, policy: P });
  check(t, tr, { src: DB, dst: '10.0.0.7:32769', verdict: 'drop', reason: POL_OUT_DENY, policy: 'isolated default/db (egress)' });
  check(t, tr, { src: DB, dst: '10.0.0.7:31999', verdict: 'drop', reason: POL_OUT_DENY });
  check(t, tr, { src: DB, dst: '10.0.0.7:32000', proto: 'udp', verdict: 'drop', reason: POL_OUT_DENY });
});

t.test('NetworkPolicy #32 named ports: ingress resolves against the selected pod, egress against each destination pod', async (t) => {
  const tr = k8s([
    policy('default', 'db-redis', { podSelector: { matchLabels: { role: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'frontend' } } }], ports: [{ port: 'redis' }] }] }),
    policy('default', 'frontend-egress', { podSelector: { matchLabels: { role: 'frontend' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: {} }], ports: [{ port: 'redis' }, { port: 'http' }] }] }),
  ]);
  const r = check(t, tr, { src: FRONTEND, dst: `${DB}:6379`, verdict: 'forward', reason: FWD, policy: 'default/db-redis' });
  t.equal(r.security?.steps[4].ruleInfo?.policy, 'default/frontend-egress', 'egress side allowed by frontend-egress');
  t.match(r.security?.steps[5].detail, /port "redis" = 6379\/TCP/, 'the named port resolved to 6379');
  check(t, tr, { src: FRONTEND, dst: `${DB}:9121`, verdict: 'drop', reason: POL_OUT_DENY, policy: 'isolated default/frontend (egress)' });
  // "http" is 8080 on web, not a port of db: egress to web:8080 allowed, to db:8080 not.
  check(t, tr, { src: FRONTEND, dst: `${WEB}:8080`, verdict: 'forward', reason: FWD, policy: 'default/frontend-egress' });
  check(t, tr, { src: FRONTEND, dst: `${DB}:8080`, verdict: 'drop', reason: POL_OUT_DENY });
  check(t, tr, { src: FRONTEND, dst: '10.0.0.7:6379', verdict: 'drop', reason: POL_OUT_DENY });
});

t.test('NetworkPolicy #33 egress to DNS in kube-system (namespaceSelector {} + podSelector) and HTTPS to the Internet', async (t) => {
  const tr = k8s([policy('alice', 'alice-egress', {
    podSelector: {},
    policyTypes: ['Egress'],
    egress: [
      { to: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] },
      { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } }], ports: [{ protocol: 'TCP', port: 443 }] },
    ],
  })]);
  const P = 'alice/alice-egress';
  check(t, tr, { src: ALICE_CLIENT, dst: `${DNS}:53`, proto: 'udp', verdict: 'forward', reason: FWD, policy: P });
  check(t, tr, { src: ALICE_OTHER, dst: `${DNS}:53`, proto: 'tcp', verdict: 'forward', reason: FWD, policy: P });
  check(t, tr, { src: ALICE_CLIENT, dst: '8.8.8.8:53', proto: 'udp', verdict: 'drop', reason: POL_OUT_DENY, policy: 'isolated alice/client (egress)' });
  check(t, tr, { src: ALICE_CLIENT, dst: '93.184.216.34:443', verdict: 'forward', reason: FWD, policy: P });
  check(t, tr, { src: ALICE_CLIENT, dst: `${DB}:443`, verdict: 'drop', reason: POL_OUT_DENY });
});

t.test('NetworkPolicy #34 after service DNAT: the backend pod\'s policy decides a ClusterIP connection', async (t) => {
  const tr = k8s([policy('default', 'web-from-frontend', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'frontend' } } }], ports: [{ port: 'http' }] }] })]);
  const r = check(t, tr, { src: FRONTEND, dst: `${WEB_VIP}:80`, verdict: 'forward', reason: FWD, policy: 'default/web-from-frontend', egress: 'default-web' });
  t.same(r.dnat, { ip: WEB, port: 8080 }, 'DNAT to the web pod');
  t.equal(r.service, 'default/web:http', 'through Service web');
  const d = tr.trace(packetOf({ src: BACKEND, dst: `${WEB_VIP}:80` }));
  t.equal(d.verdict, 'drop', 'backend → ClusterIP dropped');
  t.equal(d.reason, POL_IN_DENY, 'the reason is the policy deny (no service reason: the service did its part)');
  t.equal(policyDecision(d), 'isolated default/web (ingress)', 'evaluated against the backend pod, post-DNAT');
});

t.test('NetworkPolicy #35 stateful: a reply into an ingress-isolated pod passes; a new connection in does not', async (t) => {
  const tr = k8s([policy('default', 'default-deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] })]);
  check(t, tr, { src: `${DB}:46000`, dst: `${ALICE_CLIENT}:80`, verdict: 'forward', reason: FWD, policy: null });
  const reply = tr.trace({ src: `${ALICE_CLIENT}:80`, dst: `${DB}:46000`, proto: 'tcp', flags: 'syn-ack' });
  t.equal(reply.verdict, 'forward', 'the reply to db is forwarded');
  t.equal(reply.egress, 'default-db');
  t.equal(reply.conn?.direction, 'reply', 'on the reply direction');
  t.equal(reply.security, null, 'never classified against db\'s ingress isolation');
  // The same two sockets the other way round as a new connection (another client port): denied.
  check(t, tr, { src: `${ALICE_CLIENT}:81`, dst: `${DB}:46000`, verdict: 'drop', reason: POL_IN_DENY, policy: 'isolated default/db (ingress)' });
});

t.test('NetworkPolicy #36 stateful: deleting the allowing policy (Tracer.apply) keeps the established flow, new ones are denied', async (t) => {
  const deny = policy('default', 'default-deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] });
  const allow = policy('default', 'db-from-frontend', { podSelector: { matchLabels: { role: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'frontend' } } }], ports: [{ port: 'redis' }] }] });
  const tr = k8s([deny, allow]);
  check(t, tr, { src: `${FRONTEND}:47000`, dst: `${DB}:6379`, verdict: 'forward', reason: FWD, policy: 'default/db-from-frontend' });
  tr.apply([], [{ kind: 'NetworkPolicy', namespace: 'default', name: 'db-from-frontend' }]);
  const again = tr.trace({ src: `${FRONTEND}:47000`, dst: `${DB}:6379`, proto: 'tcp', flags: 'psh-ack' });
  t.equal(again.verdict, 'forward', 'established flow still forwarded');
  t.equal(again.conn?.new, false, 'on the existing connection');
  t.equal(tr.trace({ src: `${DB}:6379`, dst: `${FRONTEND}:47000`, proto: 'tcp', flags: 'psh-ack' }).verdict, 'forward', 'and its replies');
  check(t, tr, { src: `${FRONTEND}:47001`, dst: `${DB}:6379`, verdict: 'drop', reason: POL_IN_DENY, policy: 'isolated default/db (ingress)' });
  tr.apply(manifests([allow]));
  check(t, tr, { src: `${FRONTEND}:47002`, dst: `${DB}:6379`, verdict: 'forward', reason: FWD, policy: 'default/db-from-frontend' });
});

// ─── NSG and NetworkPolicy together ─────────────────────────────────────────────────────────

t.test('NSG + NetworkPolicy #37 both must allow: an NSG allow followed by a policy deny is a policy drop', async (t) => {
  // VM2 runs pod default/web2 (app=web); NSG1 allows port 80 from the Internet, a policy allows only 8080.
  const node = azureNodeConfig();
  node.spec.ports[3].pod = { namespace: 'default', name: 'web2' };
  const tr = tracerOf([
    node, ...azureResources({ nsg1: [allowHttpIn()] }),
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web2', namespace: 'default', labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'x' }] }, status: { phase: 'Running', podIP: VM2, podIPs: [{ ip: VM2 }] } },
    policy('default', 'web-8080', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ port: 8080 }] }] }),
  ]);
  // Drops are counted on the ingress port (the uplink, port 0).
  const drops = (reason: string): number => tr.fwd.counters.dropsOf(0)[reason] ?? 0;
  const nsgBefore = drops('nsg-denied');
  const polBefore = drops('policy-denied');
  check(t, tr, { src: INTERNET, dst: `${VM2}:80`, verdict: 'drop', reason: POL_IN_DENY, nsg: 'NSG1/Allow-HTTP-Internet@100', policy: 'isolated default/web2 (ingress)' });
  t.equal(drops('policy-denied') - polBefore, 1, 'counted as policy-denied');
  t.equal(drops('nsg-denied') - nsgBefore, 0, 'not as nsg-denied');
  check(t, tr, { src: INTERNET, dst: `${VM2}:8080`, verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/DenyAllInBound@65500' });
  t.equal(drops('nsg-denied') - nsgBefore, 1, 'counted as nsg-denied');
  check(t, tr, { src: VM3, dst: `${VM2}:8080`, verdict: 'forward', reason: FWD, nsg: 'NSG1/AllowVnetInBound@65000', policy: 'default/web-8080' });
});

// ─── Through the CLI binary ─────────────────────────────────────────────────────────────────

function tapflow(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO, 'bin', 'tapflow'), ...args], { cwd: REPO, timeout: 30000, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as NodeJS.ErrnoException).code === 'number' ? ((err as NodeJS.ErrnoException).code as unknown as number) : null;
      resolve({ code, stdout, stderr });
    });
  });
}

async function traceCli(t: Test, args: string[]): Promise<TraceResult[]> {
  const r = await tapflow(['trace', ...args, '-o', 'json']);
  t.equal(r.code, 0, `tapflow trace ${args.join(' ')}: exit 0${r.code !== 0 ? ` (${r.stderr.trim()})` : ''}`);
  return r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as TraceResult);
}

const cliDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-trace-scenarios-'));
t.teardown(() => fs.rmSync(cliDir, { recursive: true, force: true }));

function writeJson(file: string, v: unknown): string {
  const p = path.join(cliDir, file);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, JSON.stringify(v, null, 1));
  return p;
}

t.test('CLI #38 Azure world from a directory: VM1 inbound denied by the subnet NSG, VM2 allowed (-o json)', async (t) => {
  const dir = path.join(cliDir, 'azure');
  writeJson('azure/node.json', azureNodeConfig());
  writeJson('azure/resources.json', azureResources({ nsg1: [allowHttpIn()] }));
  const [denied] = await traceCli(t, ['-f', dir, '--src', `${INTERNET}:40000`, '--dst', `${VM1}:80`, '--proto', 'tcp']);
  if (denied === undefined) return;
  assertCheck(t, denied, { src: '', dst: '', verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG2/DenyAllInBound@65500', stages: ['nsg-outbound-nic:skip', 'nsg-outbound-subnet:skip', 'nsg-inbound-subnet:allow', 'nsg-inbound-nic:deny'] });
  const [allowed] = await traceCli(t, ['-f', dir, '--src', `${INTERNET}:40000`, '--dst', `${VM2}:80`, '--proto', 'tcp']);
  if (allowed === undefined) return;
  assertCheck(t, allowed, { src: '', dst: '', verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/Allow-HTTP-Internet@100', egress: 'vm2' });
  // The text rendering names the NSG, the rule and the priority too.
  const text = await tapflow(['trace', '-f', dir, '--src', `${INTERNET}:40000`, '--dst', `${VM1}:80`, '--proto', 'tcp', '-o', 'text']);
  t.match(text.stdout, /nsg-inbound-nic: .*deny — NSG2\/DenyAllInBound priority 65500/, `text output: ${text.stdout.trim().split('\n').slice(-2).join(' | ')}`);
});

t.test('CLI #39 the repository examples (AKS, Azure CNI: pods are secondary IPs of the node NIC): NSG and policy decide, pod ↔ pod skips NSGs', async (t) => {
  const node = writeJson('aks-node.json', aksExampleNodeObj({ defaultGateway: { ipv4: '10.224.0.1' } }));
  const ex = (...p: string[]) => ['-f', path.join(REPO, 'examples', 'nsg'), '-f', path.join(REPO, 'examples', 'network-policy'), '-f', node, ...p];
  const [web] = await traceCli(t, ex('--src', '203.0.113.5:40000', '--dst', '10.224.0.10:8080', '--proto', 'tcp'));
  if (web) assertCheck(t, web, { src: '', dst: '', verdict: 'forward', reason: NSG_FWD, nsg: 'aks-node-nsg/Allow-Web@100', policy: 'shop/frontend', egress: 'frontend' });
  const [metrics] = await traceCli(t, ex('--src', '10.224.0.10:40000', '--dst', '10.224.0.11:9121', '--proto', 'tcp'));
  if (metrics) {
    assertCheck(t, metrics, { src: '', dst: '', verdict: 'drop', reason: POL_OUT_DENY, nsg: null, policy: 'isolated shop/frontend-0 (egress)' });
    t.match(metrics.security?.steps[0].detail, /same NIC/, 'pod → pod on one NIC: NSGs do not apply');
  }
  const [prom] = await traceCli(t, ex('--src', '10.224.0.12:40000', '--dst', '10.224.0.11:9121', '--proto', 'tcp'));
  if (prom) assertCheck(t, prom, { src: '', dst: '', verdict: 'forward', reason: NSG_FWD, nsg: null, policy: 'shop/redis-ingress' });
  const [smtp] = await traceCli(t, ex('--src', '10.224.0.10:40000', '--dst', '93.184.216.34:25', '--proto', 'tcp'));
  if (smtp) assertCheck(t, smtp, { src: '', dst: '', verdict: 'drop', reason: NSG_OUT_DENY, nsg: 'aks-subnet-nsg/Deny-SMTP-Out@100' });
});

t.test('CLI #40 --packets: a flow survives the removal of its allow rule; a new flow is denied; the reply passes', async (t) => {
  const dir = path.join(cliDir, 'azure-seq');
  writeJson('azure-seq/node.json', azureNodeConfig());
  writeJson('azure-seq/resources.json', azureResources({ nsg1: [allowHttpIn()] }));
  const lines = [
    { src: `${INTERNET}:40000`, dst: `${VM2}:80`, proto: 'tcp' },
    { src: `${VM2}:80`, dst: `${INTERNET}:40000`, proto: 'tcp', flags: 'syn-ack' },
    { apply: nsg('NSG1', []) },
    { src: `${INTERNET}:40000`, dst: `${VM2}:80`, proto: 'tcp', flags: 'ack' },
    { src: `${VM2}:80`, dst: `${INTERNET}:40000`, proto: 'tcp', flags: 'psh-ack' },
    { src: `${INTERNET}:40001`, dst: `${VM2}:80`, proto: 'tcp' },
  ];
  const file = path.join(cliDir, 'seq.jsonl');
  fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const rs = await traceCli(t, ['-f', dir, '--packets', file]);
  t.equal(rs.length, 5, 'one result per packet line');
  if (rs.length !== 5) return;
  assertCheck(t, rs[0], { src: '', dst: '', verdict: 'forward', reason: NSG_FWD, nsg: 'NSG1/Allow-HTTP-Internet@100' });
  t.equal(rs[1].conn?.direction, 'reply', 'SYN-ACK on the reply direction');
  t.equal(rs[1].verdict, 'forward');
  for (const r of [rs[2], rs[3]]) {
    t.equal(r.verdict, 'forward', `${r.packet.src} → ${r.packet.dst} after the apply: forwarded`);
    t.equal(r.conn?.new, false, 'existing connection');
    t.equal(r.security, null, 'not re-classified');
  }
  assertCheck(t, rs[4], { src: '', dst: '', verdict: 'drop', reason: NSG_IN_DENY, nsg: 'NSG1/DenyAllInBound@65500' });
});

t.test('CLI #41 NetworkPolicy world: default deny + allow-by-label through the binary', async (t) => {
  const dir = path.join(cliDir, 'k8s');
  writeJson('k8s/node.json', k8sNodeConfig());
  writeJson('k8s/objects.json', k8sObjects([TEST_NETWORK_POLICY]));
  const [ok] = await traceCli(t, ['-f', dir, '--src', `${PROJ}:40000`, '--dst', `${DB}:6379`, '--proto', 'tcp']);
  if (ok) assertCheck(t, ok, { src: '', dst: '', verdict: 'forward', reason: FWD, policy: 'default/test-network-policy' });
  const [no] = await traceCli(t, ['-f', dir, '--src', '172.17.1.5:40000', '--dst', `${DB}:6379`, '--proto', 'tcp', '--from', 'external']);
  if (no) assertCheck(t, no, { src: '', dst: '', verdict: 'drop', reason: POL_IN_DENY, policy: 'isolated default/db (ingress)' });
});
