/**
 * Desired state → the filter classifier of a generation (dataplane/tables/classifier.ts):
 * Azure NSGs bound to the node's ports through NICs and subnets, and Kubernetes
 * NetworkPolicies expanded per local pod. Pure: no I/O, no clock.
 *
 * NSGs. A NIC maps to a tapflow port when one of its privateIPAddress values is one of the
 * port's addresses (a pod port's `addresses`, the node IPs for the host port; the uplink is
 * the outside and maps to nothing). The port then gets the NIC's NSG and the NSG of the subnet
 * of the matching IP configuration. Each (NSG, direction) used becomes one group of rules in
 * priority order (custom rules, then the default rules). Service tags: VirtualNetwork = every
 * VNet address space in the input, their peerings' remote address spaces, NodeConfig
 * vnetPrefixes, the prefixes of NodeConfig's user-defined routes, and 168.63.129.16;
 * AzureLoadBalancer = 168.63.129.16; Internet = everything outside VirtualNetwork; `*` = all.
 * A reference that does not resolve is an issue, and the port gets a deny-all group in its
 * place (fail closed: a missing NSG must not open the port).
 *
 * NetworkPolicies. For each local pod port with a known pod: the policies of its namespace
 * selecting it, per policy type, become one group of allow entries ((peer addresses,
 * protocol, port ranges), tagged with the policy's id). No group = not isolated. Peers are
 * resolved to pod addresses over every known pod (Pods from the input plus the node's pod
 * ports), ipBlocks stay prefixes minus exceptions. Named ports are resolved against the
 * destination pod: ingress — the selected pod itself; egress — each known destination pod
 * (peers with a named port match only known pods).
 */
import { ErrorCode, Issue, Issues, fieldPath } from '../model/errors';
import { CIDR, IP, NodeConfig, parseCIDR } from '../model/node-config';
import {
  AZURE_HOST_IP, ArmIndex, ArmRef, NetworkInterface, NetworkSecurityGroup, NsgAddress, NsgRule, PortRange, Subnet,
  SubnetResource, VirtualNetwork,
} from '../model/nsg';
import { NetworkPolicy, NetworkPolicyPeer, NetworkPolicyRule, peerSelectsPod, policySelects } from '../model/network-policy';
import { Pod, findNamedPort } from '../model/pod';
import { Namespace, NAMESPACE_NAME_LABEL } from '../model/namespace';
import { Protocol } from '../model/k8s';
import {
  AddrSpec, FilterSpec, FilterTable, GroupSpec, PortFilterSpec, RuleDescription, RuleSpec,
} from '../../dataplane/tables/classifier';

export interface FilterInput {
  nsgs: NetworkSecurityGroup[];
  vnets: VirtualNetwork[];
  /** Standalone subnet resources (override a VNet's embedded subnet with the same id). */
  subnets?: SubnetResource[];
  nics: NetworkInterface[];
  networkPolicies: NetworkPolicy[];
  pods: Pod[];
  namespaces: Namespace[];
  node: NodeConfig;
}

export interface CompiledFilters {
  table: FilterTable;
  /** Problems that do not stop compiling (unresolved references, ambiguous NICs); the table fails closed for them. */
  issues: Issue[];
}

const PROTO_NUMBER: Record<Protocol, number> = { TCP: 6, UDP: 17, SCTP: 132 };

function emptyAddr(): AddrSpec {
  return { any4: false, any6: false, v4: [], v6: [], except4: [], except6: [] };
}

const ANY: AddrSpec = { any4: true, any6: true, v4: [], v6: [], except4: [], except6: [] };

function addPrefix(a: AddrSpec, c: CIDR, except = false): void {
  if (c.family === 4) (except ? a.except4 : a.v4).push({ addr: c.v4, len: c.len });
  else (except ? a.except6 : a.v6).push({ addr: c.v6, len: c.len });
}

function addHost(a: AddrSpec, ip: IP): void {
  if (ip.family === 4) a.v4.push({ addr: ip.v4, len: 32 });
  else a.v6.push({ addr: ip.v6, len: 128 });
}

/** Known pod, for NetworkPolicy: a Pod object and/or a local pod port. */
interface KnownPod {
  namespace: string;
  name: string;
  key: string;
  labels: Record<string, string>;
  ips: IP[];
  pod: Pod | null;
}

/** Compile NSGs and NetworkPolicies for `input.node`'s ports. Never throws on bad references: see issues. */
export function compileFilters(input: FilterInput): CompiledFilters {
  const issues = new Issues();
  const node = input.node;
  const rules: RuleDescription[] = [];
  const groups: GroupSpec[] = [];

  // ── VirtualNetwork service tag
  const vnetSet: AddrSpec = emptyAddr();
  const seen = new Set<string>();
  const addVnet = (c: CIDR): void => {
    if (seen.has(c.text)) return;
    seen.add(c.text);
    addPrefix(vnetSet, c);
  };
  for (const v of input.vnets) {
    v.addressPrefixes.forEach(addVnet);
    v.peeredPrefixes.forEach(addVnet);
  }
  node.spec.vnetPrefixes.forEach(addVnet);
  for (const t of node.spec.routeTables) for (const r of t.routes) addVnet(r.addressPrefix);
  const hostIP = parseCIDR(`${AZURE_HOST_IP}/32`) as CIDR;
  addVnet(hostIP);
  const lbSet = emptyAddr();
  addPrefix(lbSet, hostIP);
  const internetSet: AddrSpec = { any4: true, any6: true, v4: [], v6: [], except4: vnetSet.v4, except6: vnetSet.v6 };
  const addrOf = (a: NsgAddress): AddrSpec => {
    if (a.kind === 'any') return ANY;
    if (a.kind === 'tag') return a.tag === 'VirtualNetwork' ? vnetSet : a.tag === 'AzureLoadBalancer' ? lbSet : internetSet;
    const s = emptyAddr();
    for (const c of a.prefixes) addPrefix(s, c);
    return s;
  };

  // ── NSG rule ids and groups
  const nsgRuleIds = new Map<NetworkSecurityGroup, Map<NsgRule, number>>();
  for (const nsg of input.nsgs) {
    const ids = new Map<NsgRule, number>();
    for (const r of [...nsg.rules, ...nsg.defaultRules]) {
      ids.set(r, rules.length);
      rules.push({ kind: 'nsg', nsg: nsg.name, name: r.name, priority: r.priority, direction: r.direction, access: r.access, isDefault: r.isDefault });
    }
    nsgRuleIds.set(nsg, ids);
  }
  const nsgGroups = new Map<string, number>();
  const groupOf = (nsg: NetworkSecurityGroup, direction: 'Inbound' | 'Outbound'): number => {
    const key = `${input.nsgs.indexOf(nsg)}/${direction}`;
    const have = nsgGroups.get(key);
    if (have !== undefined) return have;
    const ids = nsgRuleIds.get(nsg) as Map<NsgRule, number>;
    const list = [...nsg.rules, ...nsg.defaultRules].filter((r) => r.direction === direction).sort((a, b) => a.priority - b.priority);
    const specs: RuleSpec[] = list.map((r) => {
      const l4 = r.protocol === 'Tcp' || r.protocol === 'Udp' || r.protocol === '*';
      return {
        id: ids.get(r) as number,
        allow: r.access === 'Allow',
        src: addrOf(r.source),
        dst: addrOf(r.destination),
        protos: nsgProtocols(r.protocol),
        sports: l4 ? r.sourcePorts : null,
        dports: l4 ? r.destinationPorts : null,
        note: r.name,
      };
    });
    groups.push({ kind: 'nsg', label: `NSG ${nsg.name} ${direction}`, rules: specs });
    nsgGroups.set(key, groups.length - 1);
    return groups.length - 1;
  };
  const denyGroups = new Map<string, number>();
  /** Fail closed for a reference that does not resolve: a group with one deny-all rule. */
  const denyGroup = (label: string): number => {
    const have = denyGroups.get(label);
    if (have !== undefined) return have;
    const id = rules.length;
    rules.push({ kind: 'nsg', nsg: label, name: 'unresolved-reference', priority: 0, direction: '', access: 'Deny' });
    groups.push({ kind: 'nsg', label: `unresolved ${label}`, rules: [{ id, allow: false, src: ANY, dst: ANY, protos: null, sports: null, dports: null, note: 'unresolved reference' }] });
    denyGroups.set(label, groups.length - 1);
    return groups.length - 1;
  };

  // ── indexes
  const nsgIndex = new ArmIndex<NetworkSecurityGroup>();
  for (const n of input.nsgs) nsgIndex.add(n.ref, n);
  const subnetIndex = new ArmIndex<Subnet>();
  const subnetSeen = new Set<string>();
  const subnetKey = (s: Subnet): string => s.ref.id ?? `${s.ref.type}|${s.ref.names.join('/')}`;
  for (const s of input.subnets ?? []) {
    subnetIndex.add(s.ref, s);
    subnetSeen.add(subnetKey(s));
  }
  for (const v of input.vnets) {
    for (const s of v.subnets) {
      if (subnetSeen.has(subnetKey(s))) continue;
      subnetSeen.add(subnetKey(s));
      subnetIndex.add(s.ref, s);
    }
  }
  const nsgPairs = new Map<string, { out: number; in: number }>();
  /** The outbound and inbound groups of a referenced NSG; an unresolved one is reported once and denies. */
  const nsgGroupsFor = (ref: ArmRef, path: string): { out: number; in: number } => {
    const key = `${path}\n${ref.raw}`;
    let pair = nsgPairs.get(key);
    if (pair !== undefined) return pair;
    const r = nsgIndex.resolve(ref);
    if (!r.ok) {
      issues.add(path, ErrorCode.INVALID_FIELD, `${r.reason}; traffic through this NIC/subnet is denied until it resolves`);
      const g = denyGroup(ref.raw);
      pair = { out: g, in: g };
    } else pair = { out: groupOf(r.value, 'Outbound'), in: groupOf(r.value, 'Inbound') };
    nsgPairs.set(key, pair);
    return pair;
  };

  // ── ports ↔ NICs
  const nicIds = new Map<NetworkInterface, number>();
  const portSpecs: PortFilterSpec[] = node.spec.ports.map((port) => ({
    name: port.name,
    role: port.role,
    nic: -1,
    nicLabel: null,
    subnetLabel: null,
    nsgOutNic: -1,
    nsgOutSubnet: -1,
    nsgInSubnet: -1,
    nsgInNic: -1,
    pod: null,
    policyEgress: -1,
    policyIngress: -1,
  }));
  const subnetGroups = new Map<string, { label: string; out: number; in: number }>();
  node.spec.ports.forEach((port, pi) => {
    if (port.role === 'uplink') return;
    const addrs = port.role === 'host' ? node.spec.nodeIPs : port.addresses;
    const hits: { nic: NetworkInterface; ipc: NetworkInterface['ipConfigurations'][number] }[] = [];
    for (const nic of input.nics) {
      for (const ipc of nic.ipConfigurations) {
        if (ipc.privateIPAddress !== null && addrs.some((a) => a.text === ipc.privateIPAddress?.text)) hits.push({ nic, ipc });
      }
    }
    if (hits.length === 0) return;
    const nics = [...new Set(hits.map((h) => h.nic))];
    const portPath = fieldPath(fieldPath('spec', 'ports'), pi);
    if (nics.length > 1) {
      issues.add(portPath, ErrorCode.DUPLICATE_VALUE, `addresses of port ${port.name} belong to ${nics.length} NICs (${nics.map((n) => n.name).join(', ')}); a port maps to one NIC; ${nics[0].name} (first in the input) is used`);
    }
    const ps = portSpecs[pi];
    const nic = nics[0];
    let id = nicIds.get(nic);
    if (id === undefined) {
      id = nicIds.size;
      nicIds.set(nic, id);
    }
    ps.nic = id;
    ps.nicLabel = nic.name;
    if (nic.networkSecurityGroup !== null) {
      const g = nsgGroupsFor(nic.networkSecurityGroup, fieldPath(fieldPath('networkInterfaces', nic.name), 'networkSecurityGroup'));
      ps.nsgOutNic = g.out;
      ps.nsgInNic = g.in;
    }
    const ipc = hits.find((h) => h.nic === nic)?.ipc;
    if (ipc !== undefined && ipc.subnet !== null) {
      const subnetRef = ipc.subnet;
      const sp = `${fieldPath(fieldPath(fieldPath('networkInterfaces', nic.name), 'ipConfigurations'), nic.ipConfigurations.indexOf(ipc))}.subnet`;
      let sg = subnetGroups.get(`${sp}\n${subnetRef.raw}`);
      if (sg === undefined) {
        const r = subnetIndex.resolve(subnetRef);
        if (!r.ok) {
          issues.add(sp, ErrorCode.INVALID_FIELD, `${r.reason}; the subnet's NSG is unknown, so traffic of this NIC is denied until it resolves (add the VNet or the subnet to the input)`);
          const g = denyGroup(subnetRef.raw);
          sg = { label: subnetRef.names.join('/'), out: g, in: g };
        } else {
          const subnet = r.value;
          sg = { label: [...subnet.ref.names.slice(0, -1), subnet.name].join('/'), out: -1, in: -1 };
          if (subnet.networkSecurityGroup !== null) {
            const g = nsgGroupsFor(subnet.networkSecurityGroup, fieldPath(fieldPath('subnets', subnet.ref.names.join('/')), 'networkSecurityGroup'));
            sg.out = g.out;
            sg.in = g.in;
          }
        }
        subnetGroups.set(`${sp}\n${subnetRef.raw}`, sg);
      }
      ps.subnetLabel = sg.label;
      ps.nsgOutSubnet = sg.out;
      ps.nsgInSubnet = sg.in;
    }
    // A port on several NICs (reported above): the first NIC in input order is used.
  });

  // ── NetworkPolicy
  compilePolicies(input, portSpecs, rules, groups);

  const spec: FilterSpec = { groups, ports: portSpecs, rules };
  return { table: FilterTable.build(spec), issues: issues.list };
}

function nsgProtocols(p: NsgRule['protocol']): number[] | null {
  switch (p) {
    case 'Tcp':
      return [6];
    case 'Udp':
      return [17];
    case 'Icmp':
      return [1, 58];
    case 'Esp':
      return [50];
    case 'Ah':
      return [51];
    default:
      return null;
  }
}

// ─── NetworkPolicy expansion ─────────────────────────────────────────────────────────────────

interface PortItem {
  protos: number[] | null;
  /** Numeric ranges; null = every port. */
  ranges: PortRange[] | null;
  /** A named port to resolve per destination pod (protos has one protocol). */
  named: string | null;
  protocol: Protocol | null;
  text: string;
}

function portItems(rule: NetworkPolicyRule): PortItem[] {
  if (rule.ports.length === 0) return [{ protos: null, ranges: null, named: null, protocol: null, text: 'all ports' }];
  return rule.ports.map((p) => {
    const protos = [PROTO_NUMBER[p.protocol]];
    if (p.port === null) return { protos, ranges: null, named: null, protocol: p.protocol, text: `all ${p.protocol} ports` };
    if (typeof p.port === 'string') return { protos, ranges: null, named: p.port, protocol: p.protocol, text: `port "${p.port}"/${p.protocol}` };
    const to = p.endPort ?? p.port;
    return { protos, ranges: [{ from: p.port, to }], named: null, protocol: p.protocol, text: `${p.port}${to !== p.port ? `-${to}` : ''}/${p.protocol}` };
  });
}

function compilePolicies(input: FilterInput, portSpecs: PortFilterSpec[], rules: RuleDescription[], groups: GroupSpec[]): void {
  const node = input.node;
  const nsLabels = new Map<string, Record<string, string>>();
  for (const ns of input.namespaces) nsLabels.set(ns.metadata.name, { ...ns.metadata.labels, [NAMESPACE_NAME_LABEL]: ns.metadata.name });
  const labelsOfNs = (ns: string): Record<string, string> => nsLabels.get(ns) ?? { [NAMESPACE_NAME_LABEL]: ns };

  // Known pods.
  const known = new Map<string, KnownPod>();
  for (const p of input.pods) {
    if (p.spec.hostNetwork) continue; // NetworkPolicy does not apply to host-network pods (their IP is the node's)
    if (p.status.phase === 'Succeeded' || p.status.phase === 'Failed') continue;
    const key = `${p.metadata.namespace}/${p.metadata.name}`;
    known.set(key, { namespace: p.metadata.namespace, name: p.metadata.name, key, labels: p.metadata.labels, ips: [...p.status.podIPs], pod: p });
  }
  const portPod: (KnownPod | null)[] = node.spec.ports.map((port) => {
    if (port.role !== 'pod') return null;
    let kp: KnownPod | undefined;
    if (port.pod !== null) {
      const key = `${port.pod.namespace}/${port.pod.name}`;
      kp = known.get(key);
      if (kp === undefined) {
        kp = { namespace: port.pod.namespace, name: port.pod.name, key, labels: {}, ips: [], pod: null };
        known.set(key, kp);
      }
    } else {
      kp = [...known.values()].find((k) => k.ips.some((ip) => port.addresses.some((a) => a.text === ip.text)));
    }
    if (kp === undefined) return null;
    for (const a of port.addresses) if (!kp.ips.some((x) => x.text === a.text)) kp.ips.push(a);
    return kp;
  });
  const allPods = [...known.values()].filter((k) => k.ips.length > 0);

  const policies = [...input.networkPolicies].sort((a, b) => {
    const ka = `${a.metadata.namespace}/${a.metadata.name}`;
    const kb = `${b.metadata.namespace}/${b.metadata.name}`;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  const policyId = new Map<NetworkPolicy, number>();
  for (const pol of policies) {
    policyId.set(pol, rules.length);
    rules.push({ kind: 'network-policy', name: pol.metadata.name, policy: `${pol.metadata.namespace}/${pol.metadata.name}` });
  }

  // Per policy rule, the peers as address sets (and the pods behind them, for named ports).
  interface PeerSet {
    addr: AddrSpec;
    /** Known pods inside this peer set (for named ports). */
    pods: KnownPod[];
    text: string;
  }
  const peerCache = new Map<NetworkPolicyRule, PeerSet[]>();
  const peerSets = (pol: NetworkPolicy, rule: NetworkPolicyRule): PeerSet[] => {
    const have = peerCache.get(rule);
    if (have !== undefined) return have;
    const ns = pol.metadata.namespace;
    let out: PeerSet[];
    if (rule.peers.length === 0) out = [{ addr: ANY, pods: allPods, text: 'any peer' }];
    else {
      out = [];
      const selPods = new Set<KnownPod>();
      const selText: string[] = [];
      for (const peer of rule.peers) {
        if (peer.ipBlock !== null) {
          const a = emptyAddr();
          addPrefix(a, peer.ipBlock.cidr);
          for (const e of peer.ipBlock.except) addPrefix(a, e, true);
          const pods = allPods.filter((k) => k.ips.some((ip) => inBlock(peer, ip)));
          out.push({ addr: a, pods, text: `ipBlock ${peer.ipBlock.cidr.text}${peer.ipBlock.except.length > 0 ? ` except ${peer.ipBlock.except.map((c) => c.text).join(', ')}` : ''}` });
          continue;
        }
        for (const k of allPods) if (peerSelectsPod(peer, ns, k.namespace, k.labels, labelsOfNs(k.namespace))) selPods.add(k);
        selText.push(peerText(peer));
      }
      if (selText.length > 0) {
        const a = emptyAddr();
        for (const k of selPods) for (const ip of k.ips) addHost(a, ip);
        out.unshift({ addr: a, pods: [...selPods], text: `${selText.join(' or ')} (${selPods.size} pod${selPods.size === 1 ? '' : 's'})` });
      }
    }
    peerCache.set(rule, out);
    return out;
  };

  /** Entries of one rule; `self` is the selected pod (ingress: the destination for named ports). */
  const entries = (pol: NetworkPolicy, dir: 'ingress' | 'egress', ri: number, self: KnownPod): RuleSpec[] => {
    const rule = (dir === 'ingress' ? pol.spec.ingress : pol.spec.egress)[ri];
    const id = policyId.get(pol) as number;
    const out: RuleSpec[] = [];
    const where = `${dir} rule ${ri}`;
    for (const ps of peerSets(pol, rule)) {
      for (const item of portItems(rule)) {
        if (item.named === null) {
          out.push(entry(id, dir, ps.addr, item.protos, item.ranges, `${where}: ${dir === 'ingress' ? 'from' : 'to'} ${ps.text}, ${item.text}`));
          continue;
        }
        if (dir === 'ingress') {
          const port = self.pod === null ? null : findNamedPort(self.pod, item.named, item.protocol ?? undefined);
          if (port === null) continue; // the pod has no such port: this item allows nothing
          out.push(entry(id, dir, ps.addr, item.protos, [{ from: port, to: port }], `${where}: from ${ps.text}, port "${item.named}" = ${port}/${item.protocol}`));
          continue;
        }
        // egress named port: per destination pod, grouped by the port number it resolves to
        const byPort = new Map<number, AddrSpec>();
        for (const d of ps.pods) {
          const port = d.pod === null ? null : findNamedPort(d.pod, item.named, item.protocol ?? undefined);
          if (port === null) continue;
          let a = byPort.get(port);
          if (a === undefined) {
            a = emptyAddr();
            byPort.set(port, a);
          }
          for (const ip of d.ips) addHost(a, ip);
        }
        for (const [port, a] of byPort) {
          out.push(entry(id, dir, a, item.protos, [{ from: port, to: port }], `${where}: to ${ps.text} where port "${item.named}" = ${port}/${item.protocol}`));
        }
      }
    }
    return out;
  };

  portPod.forEach((kp, pi) => {
    if (kp === null) return;
    const ps = portSpecs[pi];
    ps.pod = kp.key;
    for (const dir of ['ingress', 'egress'] as const) {
      const type = dir === 'ingress' ? 'Ingress' : 'Egress';
      const selecting = policies.filter((pol) => pol.spec.policyTypes.includes(type) && policySelects(pol, kp.namespace, kp.labels));
      if (selecting.length === 0) continue;
      const list: RuleSpec[] = [];
      for (const pol of selecting) {
        const n = dir === 'ingress' ? pol.spec.ingress.length : pol.spec.egress.length;
        for (let ri = 0; ri < n; ri++) list.push(...entries(pol, dir, ri, kp));
      }
      groups.push({ kind: 'policy', label: `${dir} of pod ${kp.key} (${selecting.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).join(', ')})`, rules: list });
      if (dir === 'ingress') ps.policyIngress = groups.length - 1;
      else ps.policyEgress = groups.length - 1;
    }
  });
}

function entry(id: number, dir: 'ingress' | 'egress', peer: AddrSpec, protos: number[] | null, ranges: PortRange[] | null, note: string): RuleSpec {
  return { id, allow: true, src: dir === 'ingress' ? peer : ANY, dst: dir === 'ingress' ? ANY : peer, protos, sports: null, dports: ranges, note };
}

function inBlock(peer: NetworkPolicyPeer, ip: IP): boolean {
  const b = peer.ipBlock;
  if (b === null) return false;
  const inside = (c: CIDR): boolean => {
    if (c.family !== ip.family) return false;
    if (c.family === 4 && ip.family === 4) return c.len === 0 || ((ip.v4 ^ c.v4) >>> (32 - c.len)) === 0;
    const a = (ip as { v6: Uint8Array }).v6;
    const n = (c as { v6: Uint8Array }).v6;
    for (let i = 0; i < 16; i++) {
      const bits = Math.min(8, Math.max(0, c.len - 8 * i));
      const m = (0xff00 >> bits) & 0xff;
      if ((a[i] & m) !== (n[i] & m)) return false;
    }
    return true;
  };
  return inside(b.cidr) && !b.except.some(inside);
}

function selectorText(s: { matchLabels: Record<string, string>; matchExpressions: { key: string; operator: string; values: string[] }[] }): string {
  const parts = Object.entries(s.matchLabels).map(([k, v]) => `${k}=${v}`);
  for (const e of s.matchExpressions) parts.push(`${e.key} ${e.operator}${e.values.length > 0 ? ` (${e.values.join(',')})` : ''}`);
  return parts.length === 0 ? '{}' : parts.join(',');
}

function peerText(peer: NetworkPolicyPeer): string {
  const parts: string[] = [];
  if (peer.namespaceSelector !== null) parts.push(`namespaces ${selectorText(peer.namespaceSelector)}`);
  if (peer.podSelector !== null) parts.push(`pods ${selectorText(peer.podSelector)}`);
  return parts.join(' and ');
}
