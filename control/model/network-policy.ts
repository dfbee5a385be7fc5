/**
 * NetworkPolicy (networking.k8s.io/v1) — validation as the API server does it
 * (ValidateNetworkPolicy + SetDefaults_NetworkPolicy), normalized for the classifier compiler.
 *
 * Semantics kept here as data, applied in control/compile/classifier.ts:
 *   - spec.podSelector selects pods of the policy's namespace (empty = all of them);
 *   - policyTypes defaults to ["Ingress"], plus "Egress" when spec.egress has rules;
 *   - a rule with no peers (from/to absent or empty) matches every peer; with no ports, every
 *     port and protocol; an empty ingress/egress list allows nothing (isolation only);
 *   - a peer is podSelector and/or namespaceSelector (both = AND: those pods in those
 *     namespaces; podSelector alone = the policy's namespace), or an ipBlock (cidr minus except);
 *   - ports: protocol TCP (default), UDP or SCTP; port a number or a container port name
 *     (resolved per destination pod); endPort extends a numeric port to a range.
 */
import { Issues, fieldPath } from './errors';
import { CIDR, cidrContains } from './node-config';
import {
  K8sChecker, LabelSelector, ObjectMeta, Protocol, TOP_FIELDS, checkLabelSelector, checkObjectMeta, checkTypeMeta,
  portNameProblem, selectorMatches,
} from './k8s';
import { registerKind } from './manifests';

export const NETWORK_POLICY_API_VERSION = 'networking.k8s.io/v1';
export const NETWORK_POLICY_KIND = 'NetworkPolicy';

export type PolicyType = 'Ingress' | 'Egress';
export const POLICY_TYPES: readonly PolicyType[] = ['Ingress', 'Egress'];

export interface IPBlock {
  cidr: CIDR;
  /** Strict sub-prefixes of cidr, same family. */
  except: CIDR[];
}

/** One peer: selectors (pods) or an ipBlock, never both. */
export interface NetworkPolicyPeer {
  /** null = not given (with a namespaceSelector: every pod of those namespaces). */
  podSelector: LabelSelector | null;
  /** null = not given (with a podSelector: the policy's own namespace). */
  namespaceSelector: LabelSelector | null;
  ipBlock: IPBlock | null;
}

export interface NetworkPolicyPort {
  protocol: Protocol;
  /** A port number, a container port name, or null (every port of the protocol). */
  port: number | string | null;
  /** Last port of the range [port, endPort]; null = just `port`. Only with a numeric port. */
  endPort: number | null;
}

export interface NetworkPolicyRule {
  /** from (ingress) / to (egress); [] = every peer. */
  peers: NetworkPolicyPeer[];
  /** [] = every port and protocol. */
  ports: NetworkPolicyPort[];
}

export interface NetworkPolicySpec {
  podSelector: LabelSelector;
  /** Defaulted: never empty. */
  policyTypes: PolicyType[];
  ingress: NetworkPolicyRule[];
  egress: NetworkPolicyRule[];
}

export interface NetworkPolicy {
  apiVersion: typeof NETWORK_POLICY_API_VERSION;
  kind: typeof NETWORK_POLICY_KIND;
  metadata: ObjectMeta;
  spec: NetworkPolicySpec;
}

const SPEC_FIELDS = ['podSelector', 'policyTypes', 'ingress', 'egress'];
const INGRESS_FIELDS = ['from', 'ports'];
const EGRESS_FIELDS = ['to', 'ports'];
const PEER_FIELDS = ['podSelector', 'namespaceSelector', 'ipBlock'];
const IPBLOCK_FIELDS = ['cidr', 'except'];
const PORT_FIELDS = ['protocol', 'port', 'endPort'];

/** Validate + normalize a decoded NetworkPolicy; throws ValidationError listing every problem. */
export function validateNetworkPolicy(obj: unknown): NetworkPolicy {
  const issues = new Issues();
  const np = checkNetworkPolicy(obj, issues);
  issues.throwIfAny({ what: 'NetworkPolicy' });
  return np as NetworkPolicy;
}

/** Validate + normalize into `issues` (never throws); meaningful only when no issue was added. */
export function checkNetworkPolicy(input: unknown, issues: Issues): NetworkPolicy | undefined {
  const k = new K8sChecker(issues);
  const top = k.object(input, '', TOP_FIELDS, 'a NetworkPolicy object (apiVersion, kind, metadata, spec)');
  if (top === null) return undefined;
  checkTypeMeta(k, top, NETWORK_POLICY_API_VERSION, NETWORK_POLICY_KIND);
  const metadata = checkObjectMeta(k, top, { kind: NETWORK_POLICY_KIND, namespaced: true, nameRule: 'dns1123-subdomain' });
  const spec: NetworkPolicySpec = { podSelector: { matchLabels: {}, matchExpressions: [] }, policyTypes: [], ingress: [], egress: [] };
  const specRaw = k.get(top, 'spec');
  if (specRaw === undefined) {
    k.missing('spec', 'required: the policy spec (podSelector, policyTypes, ingress, egress)');
    return undefined;
  }
  const s = k.object(specRaw, 'spec', SPEC_FIELDS, 'an object (NetworkPolicySpec)');
  if (s === null) return undefined;
  spec.podSelector = checkLabelSelector(k, k.get(s, 'podSelector'), 'spec.podSelector') ?? spec.podSelector;

  const typesRaw = k.list(s, 'policyTypes', 'spec', 'policy types ("Ingress", "Egress")', null);
  const types: PolicyType[] = [];
  typesRaw?.forEach((v, i) => {
    const p = fieldPath('spec.policyTypes', i);
    if (typeof v !== 'string') {
      k.type(p, 'a string, "Ingress" or "Egress"', v);
      return;
    }
    if (v !== 'Ingress' && v !== 'Egress') {
      k.invalid(p, `must be "Ingress" or "Egress"; got "${v}"`);
      return;
    }
    if (types.includes(v)) k.dup(p, `"${v}" is listed twice`);
    else types.push(v);
  });

  spec.ingress = readRules(k, s, 'ingress', INGRESS_FIELDS, 'from');
  const egressRaw = k.get(s, 'egress');
  spec.egress = readRules(k, s, 'egress', EGRESS_FIELDS, 'to');
  if (typesRaw !== undefined && typesRaw.length > 0) spec.policyTypes = types;
  else {
    // SetDefaults_NetworkPolicy: every policy affects ingress; egress when it has egress rules.
    spec.policyTypes = ['Ingress'];
    if (Array.isArray(egressRaw) && egressRaw.length > 0) spec.policyTypes.push('Egress');
  }
  return { apiVersion: NETWORK_POLICY_API_VERSION, kind: NETWORK_POLICY_KIND, metadata, spec };
}

function readRules(k: K8sChecker, s: Record<string, unknown>, key: 'ingress' | 'egress', fields: string[], peerKey: 'from' | 'to'): NetworkPolicyRule[] {
  const out: NetworkPolicyRule[] = [];
  const lp = fieldPath('spec', key);
  k.list(s, key, 'spec', `${key} rules {${peerKey}, ports}`, null)?.forEach((v, i) => {
    const rp = fieldPath(lp, i);
    // `- {}` and `- ` (null) both mean "a rule that matches everything".
    const r = v === null ? {} : k.object(v, rp, fields, `an ${key} rule {${peerKey}, ports}`);
    if (r === null) return;
    const rule: NetworkPolicyRule = { peers: [], ports: [] };
    const pp = fieldPath(rp, peerKey);
    k.list(r, peerKey, rp, 'peers {podSelector, namespaceSelector, ipBlock}', null)?.forEach((pv, j) => {
      const peer = readPeer(k, pv, fieldPath(pp, j));
      if (peer !== undefined) rule.peers.push(peer);
    });
    const portsPath = fieldPath(rp, 'ports');
    k.list(r, 'ports', rp, 'ports {protocol, port, endPort}', null)?.forEach((pv, j) => {
      const port = readPort(k, pv, fieldPath(portsPath, j));
      if (port !== undefined) rule.ports.push(port);
    });
    out.push(rule);
  });
  return out;
}

function readPeer(k: K8sChecker, v: unknown, path: string): NetworkPolicyPeer | undefined {
  const o = k.object(v, path, PEER_FIELDS, 'a peer {podSelector, namespaceSelector} or {ipBlock}');
  if (o === null) return undefined;
  const podSelector = checkLabelSelector(k, k.get(o, 'podSelector'), fieldPath(path, 'podSelector'));
  const namespaceSelector = checkLabelSelector(k, k.get(o, 'namespaceSelector'), fieldPath(path, 'namespaceSelector'));
  const ipRaw = k.get(o, 'ipBlock');
  let ipBlock: IPBlock | null = null;
  if (ipRaw !== undefined) {
    if (k.get(o, 'podSelector') !== undefined || k.get(o, 'namespaceSelector') !== undefined) {
      k.invalid(fieldPath(path, 'ipBlock'), 'may not be combined with podSelector or namespaceSelector in one peer; make them separate peers');
      return undefined;
    }
    ipBlock = readIPBlock(k, ipRaw, fieldPath(path, 'ipBlock')) ?? null;
    if (ipBlock === null) return undefined;
  } else if (k.get(o, 'podSelector') === undefined && k.get(o, 'namespaceSelector') === undefined) {
    k.missing(path, 'a peer needs podSelector, namespaceSelector (or both), or ipBlock');
    return undefined;
  }
  return { podSelector, namespaceSelector, ipBlock };
}

function readIPBlock(k: K8sChecker, v: unknown, path: string): IPBlock | undefined {
  const o = k.object(v, path, IPBLOCK_FIELDS, 'an ipBlock {cidr, except}');
  if (o === null) return undefined;
  const raw = k.get(o, 'cidr');
  if (raw === undefined) {
    k.missing(fieldPath(path, 'cidr'), 'required: the allowed CIDR, like "172.17.0.0/16"');
    return undefined;
  }
  const cidr = k.cidr(raw, fieldPath(path, 'cidr'));
  const except: CIDR[] = [];
  const ep = fieldPath(path, 'except');
  k.list(o, 'except', path, 'CIDRs', null)?.forEach((x, i) => {
    const p = fieldPath(ep, i);
    const c = k.cidr(x, p);
    if (c === undefined || cidr === undefined) return;
    if (c.family !== cidr.family) k.invalid(p, `${c.text} is IPv${c.family}; cidr ${cidr.text} is IPv${cidr.family}`);
    else if (c.len <= cidr.len || !cidrContains(cidr, c.family === 4 ? { family: 4, v4: c.v4, text: '' } : { family: 6, v6: c.v6, text: '' })) {
      k.invalid(p, `${c.text} must be a strict subset of cidr ${cidr.text}`);
    } else except.push(c);
  });
  return cidr === undefined ? undefined : { cidr, except };
}

function readPort(k: K8sChecker, v: unknown, path: string): NetworkPolicyPort | undefined {
  const o = k.object(v, path, PORT_FIELDS, 'a port {protocol, port, endPort}');
  if (o === null) return undefined;
  const protocol = k.protocol(o, 'protocol', path);
  const pv = k.get(o, 'port');
  let port: number | string | null = null;
  const pp = fieldPath(path, 'port');
  if (typeof pv === 'number') port = k.intValue(pv, pp, { min: 1, max: 65535, what: 'a port number' }) ?? null;
  else if (typeof pv === 'string') port = k.name(pv, pp, portNameProblem) ?? null;
  else if (pv !== undefined) k.type(pp, 'a port number or a container port name', pv);
  const ev = k.get(o, 'endPort');
  let endPort: number | null = null;
  if (ev !== undefined) {
    const p = fieldPath(path, 'endPort');
    const e = k.intValue(ev, p, { min: 1, max: 65535, what: 'a port number' });
    if (e !== undefined) {
      if (pv === undefined) k.invalid(p, 'endPort needs port (the start of the range)');
      else if (typeof pv === 'string') k.invalid(p, `endPort cannot be used with a named port ("${pv}"); give a port number`);
      else if (typeof port === 'number' && e < port) k.invalid(p, `${e} is below port ${port}; endPort must be ≥ port`);
      else endPort = e;
    }
  }
  if (pv !== undefined && port === null) return undefined;
  return { protocol, port, endPort };
}

// ─── Selection helpers (used by the compiler and by explain) ─────────────────────────────────

/** Does `policy` select a pod of `namespace` with `labels`? */
export function policySelects(policy: NetworkPolicy, namespace: string, labels: Record<string, string>): boolean {
  return policy.metadata.namespace === namespace && selectorMatches(policy.spec.podSelector, labels);
}

/**
 * Does a selector peer of a policy in `policyNamespace` match a pod (namespace, labels) whose
 * namespace carries `namespaceLabels`? ipBlock peers are matched by address, not here.
 */
export function peerSelectsPod(peer: NetworkPolicyPeer, policyNamespace: string, podNamespace: string, podLabels: Record<string, string>, namespaceLabels: Record<string, string>): boolean {
  if (peer.ipBlock !== null) return false;
  if (peer.namespaceSelector === null) {
    if (podNamespace !== policyNamespace) return false;
  } else if (!selectorMatches(peer.namespaceSelector, namespaceLabels)) return false;
  return peer.podSelector === null || selectorMatches(peer.podSelector, podLabels);
}

declare module './manifests' {
  interface KindMap {
    NetworkPolicy: NetworkPolicy;
  }
}

registerKind(NETWORK_POLICY_API_VERSION, NETWORK_POLICY_KIND, checkNetworkPolicy);

