/**
 * NodeConfig — tapflow's own manifest kind for one node (apiVersion tapflow.dev/v1alpha1).
 *
 * Kubernetes object shape, YAML or JSON. Where kube-proxy's or kubelet's configuration has a
 * field for the same thing we keep its name and meaning (clusterCIDRs ← kube-proxy clusterCIDR
 * as a list, nodePortAddresses, masqueradeAll; podCIDR/podCIDRs as on the Node object), and
 * Azure route tables keep ARM's field names. Field reference: docs/node-config.md.
 *
 * Validation collects every problem (ValidationError.issues), each naming the exact field path
 * (`spec.ports[2].role`) and what is allowed. The result is normalized: defaults filled in,
 * every address kept as canonical text plus a pre-parsed form (IPv4 as a u32 number, IPv6 as
 * 16 bytes, prefix lengths as numbers) so the compilers never parse strings again.
 */
import { LineCounter, parseAllDocuments } from 'yaml';
import { ErrorCode, Issues, ValidationError, fieldPath } from './errors';
import { FieldChecker, positionOf, suggest } from './checker';

export const NODE_CONFIG_API_VERSION = 'tapflow.dev/v1alpha1';
export const NODE_CONFIG_KIND = 'NodeConfig';

// ─── Addresses ─────────────────────────────────────────────────────────────────────────────

export interface IPv4 {
  readonly family: 4;
  /** Canonical text (dotted quad). */
  readonly text: string;
  /** The address as an unsigned 32-bit number (network order: 10.0.0.1 = 0x0a000001). */
  readonly v4: number;
}
export interface IPv6 {
  readonly family: 6;
  /** Canonical text (RFC 5952: lower case, longest zero run compressed). */
  readonly text: string;
  /** The 16 address bytes. */
  readonly v6: Uint8Array;
}
export type IP = IPv4 | IPv6;

export interface CIDR4 {
  readonly family: 4;
  /** Canonical text, "10.244.0.0/24". */
  readonly text: string;
  /** Network address (host bits zero) as a u32. */
  readonly v4: number;
  readonly len: number;
}
export interface CIDR6 {
  readonly family: 6;
  readonly text: string;
  /** Network address (host bits zero), 16 bytes. */
  readonly v6: Uint8Array;
  readonly len: number;
}
export type CIDR = CIDR4 | CIDR6;

/** Strict dotted quad: four decimal octets 0..255, no leading zeros. Returns the u32, or -1. */
export function parseIPv4(s: string): number {
  // A char loop: called for every endpoint address of every slice an agent loads.
  if (s.length < 7 || s.length > 15) return -1;
  let v = 0;
  let octets = 0;
  let n = 0;
  let digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0x2e; // a virtual '.' ends the last octet
    if (c === 0x2e) {
      if (digits === 0 || n > 255) return -1;
      v = v * 256 + n;
      octets++;
      n = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && n === 0) return -1; // leading zero
      if (++digits > 3) return -1;
      n = n * 10 + (c - 0x30);
    } else {
      return -1;
    }
  }
  return octets === 4 ? v : -1;
}

/** IPv6 text (RFC 4291 2.2, including "::" and a trailing dotted quad; no zone). 16 bytes, or null. */
export function parseIPv6(s: string): Uint8Array | null {
  if (s.length < 2 || s.length > 45) return null;
  const dbl = s.indexOf('::');
  if (dbl !== -1 && s.indexOf('::', dbl + 1) !== -1) return null;
  const head = dbl === -1 ? s : s.slice(0, dbl);
  const tail = dbl === -1 ? '' : s.slice(dbl + 2);
  // A trailing dotted quad is allowed only as the last thing in the address.
  const hw = v6Words(head, dbl === -1);
  const tw = v6Words(tail, true);
  if (hw === null || tw === null) return null;
  let w: number[];
  if (dbl === -1) {
    if (hw.length !== 8) return null;
    w = hw;
  } else {
    if (hw.length + tw.length > 7) return null;
    w = [...hw, ...new Array<number>(8 - hw.length - tw.length).fill(0), ...tw];
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = w[i] >>> 8;
    out[2 * i + 1] = w[i] & 0xff;
  }
  return out;
}

function v6Words(part: string, v4Last: boolean): number[] | null {
  if (part === '') return [];
  const groups = part.split(':');
  const words: number[] = [];
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i];
    if (v4Last && i === groups.length - 1 && g.includes('.')) {
      const v4 = parseIPv4(g);
      if (v4 < 0) return null;
      words.push(v4 >>> 16, v4 & 0xffff);
    } else if (/^[0-9A-Fa-f]{1,4}$/.test(g)) {
      words.push(parseInt(g, 16));
    } else {
      return null;
    }
  }
  return words;
}

export function formatIPv4(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** RFC 5952 text: lower case hex, no leading zeros, the longest (first on a tie) run of ≥2 zero words as "::". */
export function formatIPv6(b: Uint8Array): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[2 * i] << 8) | b[2 * i + 1]);
  // IPv4-mapped ::ffff:a.b.c.d keeps the dotted form (RFC 5952 section 5).
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(w);
  return `${hex(w.slice(0, bestAt))}::${hex(w.slice(bestAt + bestLen))}`;
}

/** An IPv4 or IPv6 address in canonical form, or null when `s` is not one. */
export function parseIP(s: string): IP | null {
  if (s.includes(':')) {
    const v6 = parseIPv6(s);
    return v6 === null ? null : { family: 6, text: formatIPv6(v6), v6 };
  }
  const v4 = parseIPv4(s);
  // A strict dotted quad (no leading zeros) is already its canonical text.
  return v4 < 0 ? null : { family: 4, text: s, v4 };
}

type PrefixParse = { ok: true; cidr: CIDR; hostBitsSet: boolean } | { ok: false; reason: string };

function parsePrefix(s: string): PrefixParse {
  const slash = s.indexOf('/');
  if (slash < 0) {
    const ip = parseIP(s);
    return { ok: false, reason: ip !== null ? `"${s}" has no prefix length; expected CIDR notation like "${ip.text}/${ip.family === 4 ? 32 : 128}"` : `"${s}" is not a CIDR (expected address/length, like "10.0.0.0/16" or "fd00::/64")` };
  }
  const ip = parseIP(s.slice(0, slash));
  const lenText = s.slice(slash + 1);
  if (ip === null) return { ok: false, reason: `"${s}" is not a CIDR: "${s.slice(0, slash)}" is not an IPv4 or IPv6 address` };
  const max = ip.family === 4 ? 32 : 128;
  if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText) || Number(lenText) > max) {
    return { ok: false, reason: `"${s}" is not a CIDR: prefix length must be an integer 0..${max}` };
  }
  const len = Number(lenText);
  if (ip.family === 4) {
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    const net = (ip.v4 & mask) >>> 0;
    return { ok: true, hostBitsSet: net !== ip.v4, cidr: { family: 4, v4: net, len, text: `${formatIPv4(net)}/${len}` } };
  }
  const net = maskV6(ip.v6, len);
  let diff = false;
  for (let i = 0; i < 16; i++) if (net[i] !== ip.v6[i]) diff = true;
  return { ok: true, hostBitsSet: diff, cidr: { family: 6, v6: net, len, text: `${formatIPv6(net)}/${len}` } };
}

function maskV6(b: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const bits = Math.min(8, Math.max(0, len - 8 * i));
    out[i] = b[i] & ((0xff00 >> bits) & 0xff);
  }
  return out;
}

/** A canonical CIDR (host bits zero), or null. */
export function parseCIDR(s: string): CIDR | null {
  const r = parsePrefix(s);
  return r.ok && !r.hostBitsSet ? r.cidr : null;
}

/** The /32 or /128 prefix of one address. */
export function hostCIDR(ip: IP): CIDR {
  return ip.family === 4
    ? { family: 4, v4: ip.v4, len: 32, text: `${ip.text}/32` }
    : { family: 6, v6: ip.v6, len: 128, text: `${ip.text}/128` };
}

/** True when `ip` lies inside `c` (families must match). */
export function cidrContains(c: CIDR, ip: IP): boolean {
  if (c.family === 4) {
    if (ip.family !== 4) return false;
    const mask = c.len === 0 ? 0 : (0xffffffff << (32 - c.len)) >>> 0;
    return ((ip.v4 & mask) >>> 0) === c.v4;
  }
  if (ip.family !== 6) return false;
  const m = maskV6(ip.v6, c.len);
  for (let i = 0; i < 16; i++) if (m[i] !== c.v6[i]) return false;
  return true;
}

/** True when two prefixes share at least one address. */
export function cidrOverlaps(a: CIDR, b: CIDR): boolean {
  if (a.family !== b.family) return false;
  const [short, long] = a.len <= b.len ? [a, b] : [b, a];
  return cidrContains(short, long.family === 4 ? { family: 4, v4: long.v4, text: '' } : { family: 6, v6: (long as CIDR6).v6, text: '' });
}

/** An address as an unsigned integer (IPv4: 32 bits, IPv6: 128 bits), for range arithmetic off the hot path. */
export function ipToBigInt(ip: IP): bigint {
  if (ip.family === 4) return BigInt(ip.v4 >>> 0);
  let v = 0n;
  for (const b of ip.v6) v = (v << 8n) | BigInt(b);
  return v;
}

/** The address of `family` whose integer value is `v` (0 ≤ v < 2^32 or 2^128). */
export function bigIntToIP(family: 4 | 6, v: bigint): IP {
  if (family === 4) {
    const n = Number(v & 0xffffffffn);
    return { family: 4, v4: n, text: formatIPv4(n) };
  }
  const b = new Uint8Array(16);
  let x = v;
  for (let i = 15; i >= 0; i--) {
    b[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return { family: 6, v6: b, text: formatIPv6(b) };
}

/**
 * An inclusive address range of one family: a load-balancer pool entry, written as a CIDR
 * ("10.0.100.0/28") or as "first-last" ("10.0.100.10-10.0.100.20", "fd00::100:1-fd00::100:ff").
 */
export interface IPRange {
  /** Canonical text as written: the CIDR, or "first-last" with canonical addresses. */
  readonly text: string;
  readonly family: 4 | 6;
  /** First and last allocatable address (a CIDR leaves out its network address and the IPv4 broadcast address). */
  readonly first: IP;
  readonly last: IP;
  /** The CIDR when written as one, else null. */
  readonly cidr: CIDR | null;
}

/** True when `ip` lies inside the range (inclusive). */
export function rangeContains(r: IPRange, ip: IP): boolean {
  if (ip.family !== r.family) return false;
  const v = ipToBigInt(ip);
  return v >= ipToBigInt(r.first) && v <= ipToBigInt(r.last);
}

/** Number of addresses in the range. */
export function rangeSize(r: IPRange): bigint {
  return ipToBigInt(r.last) - ipToBigInt(r.first) + 1n;
}

function rangesOverlap(a: IPRange, b: IPRange): boolean {
  return a.family === b.family && ipToBigInt(a.first) <= ipToBigInt(b.last) && ipToBigInt(b.first) <= ipToBigInt(a.last);
}

function cidrRangeOverlaps(c: CIDR, r: IPRange): boolean {
  if (c.family !== r.family) return false;
  const bits = c.family === 4 ? 32 : 128;
  const lo = ipToBigInt(c.family === 4 ? { family: 4, v4: c.v4, text: '' } : { family: 6, v6: c.v6, text: '' });
  const hi = lo + (1n << BigInt(bits - c.len)) - 1n;
  return lo <= ipToBigInt(r.last) && ipToBigInt(r.first) <= hi;
}

function cidrHoldsRange(c: CIDR, r: IPRange): boolean {
  return cidrContains(c, r.first) && cidrContains(c, r.last);
}

/** The address `n` positions after the network address of `c` (n small, non-negative). */
function nthAddress(c: CIDR, n: number): IP {
  if (c.family === 4) {
    const v = (c.v4 + n) >>> 0;
    return { family: 4, v4: v, text: formatIPv4(v) };
  }
  const b = c.v6.slice();
  let carry = n;
  for (let i = 15; i >= 0 && carry > 0; i--) {
    const s = b[i] + carry;
    b[i] = s & 0xff;
    carry = s >>> 8;
  }
  return { family: 6, v6: b, text: formatIPv6(b) };
}

function sameIP(a: IP, b: IP): boolean {
  return a.text === b.text && a.family === b.family;
}

/** Why `ip` cannot be a unicast endpoint address, or null when it can. */
function unicastProblem(ip: IP, allowLinkLocal: boolean): string | null {
  if (ip.family === 4) {
    const a = ip.v4 >>> 24;
    if (ip.v4 === 0) return 'is the unspecified address';
    if (ip.v4 === 0xffffffff) return 'is the limited broadcast address';
    if (a === 127) return 'is a loopback address';
    if (a >= 224 && a <= 239) return 'is a multicast address';
    if (a >= 240) return 'is in the reserved range 240.0.0.0/4';
    if (a === 0) return 'is in 0.0.0.0/8 ("this network")';
    if (!allowLinkLocal && a === 169 && (ip.v4 >>> 16 & 255) === 254) return 'is a link-local address (169.254.0.0/16)';
    return null;
  }
  const b = ip.v6;
  let zero = true;
  for (let i = 0; i < 15; i++) if (b[i] !== 0) zero = false;
  if (zero && b[15] === 0) return 'is the unspecified address';
  if (zero && b[15] === 1) return 'is the loopback address';
  if (b[0] === 0xff) return 'is a multicast address';
  if (b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `is an IPv4-mapped IPv6 address; write the IPv4 address ${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  if (!allowLinkLocal && b[0] === 0xfe && (b[1] & 0xc0) === 0x80) return 'is a link-local address (fe80::/10)';
  return null;
}

// ─── The normalized NodeConfig ───────────────────────────────────────────────────────────────

export type NetworkMode = 'kubenet' | 'cni';
export type PortRole = 'uplink' | 'host' | 'pod';
export type NextHopType = 'VirtualNetworkGateway' | 'VnetLocal' | 'Internet' | 'VirtualAppliance' | 'None';

export const NETWORK_MODES: readonly NetworkMode[] = ['kubenet', 'cni'];
export const PORT_ROLES: readonly PortRole[] = ['uplink', 'host', 'pod'];
export const NEXT_HOP_TYPES: readonly NextHopType[] = ['VirtualNetworkGateway', 'VnetLocal', 'Internet', 'VirtualAppliance', 'None'];

/** One IP per family; null when that family is not configured. */
export interface FamilyPair {
  ipv4: IPv4 | null;
  ipv6: IPv6 | null;
}

export interface NodeRoute {
  /** Another node's pod CIDR. */
  prefix: CIDR;
  /** That node's IP (same family), resolved on the uplink. */
  nextHop: IP;
}

export interface UserRoute {
  name: string;
  addressPrefix: CIDR;
  nextHopType: NextHopType;
  /** Set iff nextHopType is VirtualAppliance; same family as addressPrefix. */
  nextHopIpAddress: IP | null;
}

export interface RouteTable {
  name: string;
  routes: UserRoute[];
}

export interface PortConfig {
  /** Position in spec.ports — the port index used by every compiled table. */
  index: number;
  name: string;
  /** Linux interface name of the TAP (1..15 bytes). */
  tap: string;
  role: PortRole;
  /** Frames carry a virtio_net_hdr (IFF_VNET_HDR, offloads). Default true. */
  vnetHdr: boolean;
  /**
   * Network namespace the TAP lives in (e.g. /run/netns/pod-a), null = the agent's own.
   * With a netns, the TAP is expected to exist there already (a CNI plugin made it, as a
   * persistent TAP — the pod's eth0) and the agent attaches to it; it survives agent
   * restarts, so pods keep their interface and connections while the agent is down.
   */
  netns: string | null;
  /** Pod ports: the pod's addresses, at most one per family. Empty for uplink/host. */
  addresses: IP[];
  /** Pod ports: the gateway IPs the pod routes through (tapflow answers for them). Default per family: first address of the prefix holding the pod's address. */
  gateway: FamilyPair;
  /** Pod ports: which pod this is (optional). */
  pod: { namespace: string; name: string } | null;
}

/** spec.loadBalancerPools: where tapflow allocates LoadBalancer IPs from (control/compile/lb-allocator.ts). */
export interface LoadBalancerPools {
  /** Public load balancers (services without the Azure internal annotation). */
  external: IPRange[];
  /** Internal load balancers (service.beta.kubernetes.io/azure-load-balancer-internal: "true"); inside spec.vnetPrefixes. */
  internal: IPRange[];
}

/** kube-apiserver --service-node-port-range, inclusive. */
export interface PortRange {
  min: number;
  max: number;
}

export const DEFAULT_NODE_PORT_RANGE_TEXT = '30000-32767';

export interface NodeConfigSpec {
  nodeName: string;
  nodeIPs: IP[];
  /** Derived: the first node IP of each family. */
  primaryIPs: FamilyPair;
  /** podCIDRs[0], or null when there are none. */
  podCIDR: CIDR | null;
  /** At most one per family. */
  podCIDRs: CIDR[];
  clusterCIDRs: CIDR[];
  serviceCIDRs: CIDR[];
  /** As written: ["primary"] (the default) or CIDR texts; [] = every node IP. */
  nodePortAddresses: string[];
  /** Derived: nodePortAddresses resolved to prefixes ("primary" → the primary IPs as /32, /128). */
  nodePortCIDRs: CIDR[];
  masqueradeAll: boolean;
  /** Allowed Service nodePort values (default 30000-32767). */
  nodePortRange: PortRange;
  /** null: tapflow allocates no LoadBalancer IPs (services use status.loadBalancer.ingress / spec.loadBalancerIP as written). */
  loadBalancerPools: LoadBalancerPools | null;
  networkMode: NetworkMode;
  vnetPrefixes: CIDR[];
  mtu: number;
  /** Lower-case colon form. */
  gatewayMAC: string;
  /** Derived: the 6 bytes of gatewayMAC. */
  gatewayMACBytes: Uint8Array;
  defaultGateway: FamilyPair;
  nodeRoutes: NodeRoute[];
  routeTables: RouteTable[];
  ports: PortConfig[];
  /** Derived: index of the uplink port in ports. */
  uplinkPort: number;
  /** Derived: index of the host port, -1 when there is none. */
  hostPort: number;
}

export interface NodeConfig {
  apiVersion: typeof NODE_CONFIG_API_VERSION;
  kind: typeof NODE_CONFIG_KIND;
  metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: NodeConfigSpec;
}

// ─── Entry points ──────────────────────────────────────────────────────────────────────────

/**
 * Parse a NodeConfig from YAML or JSON text (JSON is parsed as YAML 1.2, which it is).
 * Throws ValidationError; its issues carry line/column when the field exists in the text.
 */
export function parseNodeConfig(text: string, source?: string): NodeConfig {
  const errOpts = { ...(source !== undefined ? { source } : {}), what: 'NodeConfig' };
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, uniqueKeys: true });
  const parseIssues = new Issues();
  if (docs.length === 0) {
    parseIssues.add('', ErrorCode.PARSE_ERROR, 'empty document: expected one NodeConfig object');
    parseIssues.throwIfAny(errOpts);
  }
  if (docs.length > 1) {
    parseIssues.add('', ErrorCode.PARSE_ERROR, `expected one document, found ${docs.length} (separated by ---)`);
    parseIssues.throwIfAny(errOpts);
  }
  const doc = docs[0];
  if (doc.errors.length > 0) {
    const list = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      const msg = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
      return { path: '', code: ErrorCode.PARSE_ERROR, message: msg, ...(pos ? { line: pos.line, column: pos.col } : {}) } as const;
    });
    throw new ValidationError(list, errOpts);
  }
  let obj: unknown;
  try {
    obj = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    parseIssues.add('', ErrorCode.PARSE_ERROR, e instanceof Error ? e.message : String(e));
    parseIssues.throwIfAny(errOpts);
  }
  const issues = new Issues();
  const cfg = checkNodeConfig(obj, issues);
  if (issues.length > 0) {
    for (const issue of issues.list) {
      const pos = positionOf(doc, lc, issue.path);
      if (pos !== undefined) {
        issue.line = pos.line;
        issue.column = pos.column;
      }
    }
    issues.throwIfAny(errOpts);
  }
  return cfg as NodeConfig;
}

/** Validate an already-parsed object (e.g. from JSON.parse or a gRPC message). Throws ValidationError. */
export function validateNodeConfig(obj: unknown): NodeConfig {
  const issues = new Issues();
  const cfg = checkNodeConfig(obj, issues);
  issues.throwIfAny({ what: 'NodeConfig' });
  return cfg as NodeConfig;
}

// ─── Field readers ─────────────────────────────────────────────────────────────────────────

const TOP_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec'];
const META_FIELDS = ['name', 'labels', 'annotations'];
const SPEC_FIELDS = [
  'nodeName', 'nodeIPs', 'podCIDR', 'podCIDRs', 'clusterCIDRs', 'serviceCIDRs', 'nodePortAddresses',
  'masqueradeAll', 'networkMode', 'vnetPrefixes', 'mtu', 'gatewayMAC', 'defaultGateway', 'nodeRoutes',
  'routeTables', 'ports', 'loadBalancerPools', 'nodePortRange',
];
const LB_POOLS_FIELDS = ['external', 'internal'];
const FAMILY_FIELDS = ['ipv4', 'ipv6'];
const NODE_ROUTE_FIELDS = ['prefix', 'nextHop'];
const ROUTE_TABLE_FIELDS = ['name', 'routes'];
const ROUTE_FIELDS = ['name', 'addressPrefix', 'nextHopType', 'nextHopIpAddress'];
const PORT_FIELDS = ['name', 'tap', 'role', 'vnetHdr', 'netns', 'addresses', 'gateway', 'pod'];
const POD_REF_FIELDS = ['namespace', 'name'];

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const ARM_NAME = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$/;

/**
 * NodeConfig's field reader. Its messages keep their own established wording: input quoted as
 * written (no shortening), suggestions only for near spellings (no prefix matches), plain
 * "a string" for map values.
 */
class Checker extends FieldChecker {
  protected override show(s: string): string {
    return `"${s}"`;
  }
  protected override closest(s: string, allowed: readonly string[]): string | null {
    return suggest(s, allowed, false);
  }
  protected override readonly mapValue = 'a string';

  ip(v: unknown, path: string, family: 4 | 6 | 0, allowLinkLocal: boolean): IP | undefined {
    const fam = family === 0 ? 'IPv4 or IPv6' : `IPv${family}`;
    if (typeof v !== 'string') {
      this.type(path, `a string (an ${fam} address)`, v);
      return undefined;
    }
    const ip = parseIP(v);
    if (ip === null) {
      this.invalid(path, v.includes('/') ? `"${v}" is a CIDR; expected a single ${fam} address` : `"${v}" is not a valid ${fam} address`);
      return undefined;
    }
    if (family !== 0 && ip.family !== family) {
      this.invalid(path, `expected an IPv${family} address, got IPv${ip.family} "${v}"`);
      return undefined;
    }
    const bad = unicastProblem(ip, allowLinkLocal);
    if (bad !== null) {
      this.invalid(path, `"${v}" ${bad}; expected a unicast address`);
      return undefined;
    }
    return ip;
  }

  cidr(v: unknown, path: string): CIDR | undefined {
    if (typeof v !== 'string') {
      this.type(path, 'a string (a CIDR like "10.0.0.0/16")', v);
      return undefined;
    }
    const r = parsePrefix(v);
    if (!r.ok) {
      this.invalid(path, r.reason);
      return undefined;
    }
    if (r.hostBitsSet) {
      this.invalid(path, `"${v}" is not canonical: host bits are set beyond the /${r.cidr.len} prefix; write "${r.cidr.text}"`);
      return undefined;
    }
    return r.cidr;
  }

  /** A list of IPs with per-element issues; duplicates reported. Only valid elements are returned (with their index). */
  ipList(raw: unknown[] | undefined, path: string, allowLinkLocal: boolean): { ip: IP; i: number }[] {
    const out: { ip: IP; i: number }[] = [];
    if (raw === undefined) return out;
    raw.forEach((v, i) => {
      const p = fieldPath(path, i);
      const ip = this.ip(v, p, 0, allowLinkLocal);
      if (ip === undefined) return;
      const prev = out.find((x) => sameIP(x.ip, ip));
      if (prev !== undefined) this.dup(p, `duplicate address ${ip.text} (also ${fieldPath(path, prev.i)})`);
      else out.push({ ip, i });
    });
    return out;
  }

  /** A list of CIDRs; duplicates and (when `onePerFamily`) a second CIDR of one family are reported. */
  cidrList(raw: unknown[] | undefined, path: string, onePerFamily: boolean): { c: CIDR; i: number }[] {
    const out: { c: CIDR; i: number }[] = [];
    if (raw === undefined) return out;
    raw.forEach((v, i) => {
      const p = fieldPath(path, i);
      const c = this.cidr(v, p);
      if (c === undefined) return;
      const same = out.find((x) => x.c.text === c.text);
      if (same !== undefined) {
        this.dup(p, `duplicate CIDR ${c.text} (also ${fieldPath(path, same.i)})`);
        return;
      }
      if (onePerFamily) {
        const fam = out.find((x) => x.c.family === c.family);
        if (fam !== undefined) {
          this.invalid(p, `a second IPv${c.family} CIDR (${fieldPath(path, fam.i)} is ${fam.c.text}); at most one CIDR per family (dual-stack: one IPv4 and one IPv6)`);
          return;
        }
      }
      out.push({ c, i });
    });
    return out;
  }

  familyPair(v: unknown, path: string): FamilyPair {
    const pair: FamilyPair = { ipv4: null, ipv6: null };
    if (v === undefined || v === null) return pair;
    const o = this.object(v, path, FAMILY_FIELDS, 'an object {ipv4, ipv6}');
    if (o === null) return pair;
    const a = this.get(o, 'ipv4');
    if (a !== undefined) pair.ipv4 = (this.ip(a, fieldPath(path, 'ipv4'), 4, true) as IPv4 | undefined) ?? null;
    const b = this.get(o, 'ipv6');
    if (b !== undefined) pair.ipv6 = (this.ip(b, fieldPath(path, 'ipv6'), 6, true) as IPv6 | undefined) ?? null;
    return pair;
  }
}

/** kube's utilnet.ParsePortRange forms: "min-max", "base+size" (base..base+size), "port". A message when invalid. */
export function parsePortRange(text: string): PortRange | string {
  const v = text.trim();
  const num = /^(0|[1-9][0-9]{0,4})$/;
  let m: RegExpExecArray | null;
  let min: number, max: number;
  if ((m = /^([0-9]+)-([0-9]+)$/.exec(v)) !== null && num.test(m[1]) && num.test(m[2])) {
    min = Number(m[1]);
    max = Number(m[2]);
  } else if ((m = /^([0-9]+)\+([0-9]+)$/.exec(v)) !== null && num.test(m[1]) && num.test(m[2])) {
    min = Number(m[1]);
    max = min + Number(m[2]);
  } else if (num.test(v)) {
    min = max = Number(v);
  } else {
    return `"${text}" is not a port range; expected "min-max" like "${DEFAULT_NODE_PORT_RANGE_TEXT}" (or "base+size", or one port)`;
  }
  if (min < 1 || max > 65535) return `"${text}": ports must be within 1..65535`;
  if (min > max) return `"${text}": the first port (${min}) is above the last (${max})`;
  return { min, max };
}

/** A CIDR or "first-last" range as an IPRange, or a message saying why not. */
export function parseIPRange(text: string): IPRange | string {
  const dash = text.indexOf('-');
  if (dash < 0) {
    const r = parsePrefix(text);
    if (!r.ok) return r.reason.replace('is not a CIDR', 'is not a CIDR nor a "first-last" range');
    if (r.hostBitsSet) return `"${text}" is not canonical: host bits are set beyond the /${r.cidr.len} prefix; write "${r.cidr.text}"`;
    const c = r.cidr;
    const bits = c.family === 4 ? 32 : 128;
    const net = ipToBigInt(c.family === 4 ? { family: 4, v4: c.v4, text: '' } : { family: 6, v6: c.v6, text: '' });
    const size = 1n << BigInt(bits - c.len);
    let lo = net, hi = net + size - 1n;
    // Leave out the network address (and the IPv4 broadcast address) where the prefix has them.
    if (c.len <= bits - 2) {
      lo += 1n;
      if (c.family === 4) hi -= 1n;
    }
    return { text: c.text, family: c.family, first: bigIntToIP(c.family, lo), last: bigIntToIP(c.family, hi), cidr: c };
  }
  const a = parseIP(text.slice(0, dash).trim());
  const b = parseIP(text.slice(dash + 1).trim());
  if (a === null || b === null) return `"${text}" is not a range: "${a === null ? text.slice(0, dash) : text.slice(dash + 1)}" is not an IPv4 or IPv6 address (expected "first-last", like "10.0.100.10-10.0.100.20")`;
  if (a.family !== b.family) return `"${text}" mixes IPv${a.family} and IPv${b.family}; both ends must be of one family`;
  if (ipToBigInt(a) > ipToBigInt(b)) return `"${text}": the first address is above the last`;
  return { text: `${a.text}-${b.text}`, family: a.family, first: a, last: b, cidr: null };
}

/** Linux dev_valid_name(): 1..15 bytes, not "." or "..", no '/', ':' or whitespace; '%' would make the kernel pick the name. */
function tapNameProblem(name: string): string | null {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes === 0) return 'must not be empty';
  if (bytes > 15) return `"${name}" is ${bytes} bytes; Linux interface names are at most 15 bytes (IFNAMSIZ-1)`;
  if (name === '.' || name === '..') return `"${name}" is not a valid Linux interface name`;
  if (/[/:\s]/.test(name) || name.includes('\0')) return `"${name}" contains '/', ':' or whitespace, which Linux interface names cannot`;
  if (name.includes('%')) return `"${name}" contains '%' (a kernel name template); give the exact interface name`;
  return null;
}

function parseMAC(s: string): Uint8Array | null {
  const m = /^([0-9A-Fa-f]{2})([:-])([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})$/.exec(s);
  if (m === null) return null;
  return Uint8Array.from([m[1], m[3], m[4], m[5], m[6], m[7]].map((h) => parseInt(h, 16)));
}

function formatMAC(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Default gateway MAC: 02:74:66 ("locally administered" + "tf") and 24 bits of FNV-1a(nodeName). */
export function defaultGatewayMAC(nodeName: string): Uint8Array {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(nodeName, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return Uint8Array.from([0x02, 0x74, 0x66, (h >>> 16) & 255, (h >>> 8) & 255, h & 255]);
}

// ─── The validator ─────────────────────────────────────────────────────────────────────────

/** Validate and normalize; problems go to `issues`. The result is only meaningful when no issue was added. */
function checkNodeConfig(input: unknown, issues: Issues): NodeConfig | undefined {
  const k = new Checker(issues);
  const top = k.object(input, '', TOP_FIELDS, 'a NodeConfig object (apiVersion, kind, metadata, spec)');
  if (top === null) return undefined;

  const apiVersion = k.string(top, 'apiVersion', '', 'apiVersion', `required: "${NODE_CONFIG_API_VERSION}"`);
  if (apiVersion !== undefined && apiVersion !== NODE_CONFIG_API_VERSION) {
    issues.add('apiVersion', ErrorCode.UNSUPPORTED_KIND, `unsupported apiVersion "${apiVersion}"; this build reads "${NODE_CONFIG_API_VERSION}"`);
  }
  const kind = k.string(top, 'kind', '', 'kind', `required: "${NODE_CONFIG_KIND}"`);
  if (kind !== undefined && kind !== NODE_CONFIG_KIND) {
    issues.add('kind', ErrorCode.UNSUPPORTED_KIND, `unsupported kind "${kind}"; expected "${NODE_CONFIG_KIND}"`);
  }

  // metadata
  let metaName = '';
  let labels: Record<string, string> = {};
  let annotations: Record<string, string> = {};
  const metaRaw = k.get(top, 'metadata');
  if (metaRaw === undefined) k.missing('metadata', 'required: metadata.name names the object');
  else {
    const meta = k.object(metaRaw, 'metadata', META_FIELDS);
    if (meta !== null) {
      const n = k.string(meta, 'name', 'metadata', 'a DNS subdomain name', 'required: the object name');
      if (n !== undefined) {
        if (n.length > 253 || !DNS_SUBDOMAIN.test(n)) k.invalid('metadata.name', `"${n}" is not a DNS subdomain name (lower case a-z, 0-9, '-', '.'; at most 253 characters)`);
        else metaName = n;
      }
      labels = k.stringMap(k.get(meta, 'labels'), 'metadata.labels');
      annotations = k.stringMap(k.get(meta, 'annotations'), 'metadata.annotations');
    }
  }

  const specRaw = k.get(top, 'spec');
  if (specRaw === undefined) {
    k.missing('spec', 'required: the node configuration');
    return undefined;
  }
  const s = k.object(specRaw, 'spec', SPEC_FIELDS);
  if (s === null) return undefined;
  const P = 'spec';
  const at = (key: string, i?: number, sub?: string): string => {
    let p = fieldPath(P, key);
    if (i !== undefined) p = fieldPath(p, i);
    if (sub !== undefined) p = fieldPath(p, sub);
    return p;
  };

  // nodeName
  let nodeName = metaName;
  const nn = k.string(s, 'nodeName', P, 'a DNS subdomain name', null);
  if (nn !== undefined) {
    if (nn.length > 253 || !DNS_SUBDOMAIN.test(nn)) k.invalid(at('nodeName'), `"${nn}" is not a valid node name (DNS subdomain: lower case a-z, 0-9, '-', '.'; at most 253 characters)`);
    else nodeName = nn;
  }

  // networkMode
  const modeRaw = k.get(s, 'networkMode');
  const networkMode = k.enumOf(s, 'networkMode', P, NETWORK_MODES, null) ?? 'kubenet';
  const modeOk = modeRaw === undefined || NETWORK_MODES.includes(modeRaw as NetworkMode);

  // nodeIPs
  const nodeIPsRaw = k.list(s, 'nodeIPs', P, 'IP addresses', 'required: the node\'s IPs (the first of each family is the primary)');
  if (nodeIPsRaw !== undefined && nodeIPsRaw.length === 0) k.invalid(at('nodeIPs'), 'must list at least one IP address');
  const nodeIPs = k.ipList(nodeIPsRaw, at('nodeIPs'), false);
  const primaryIPs: FamilyPair = {
    ipv4: (nodeIPs.find((x) => x.ip.family === 4)?.ip as IPv4 | undefined) ?? null,
    ipv6: (nodeIPs.find((x) => x.ip.family === 6)?.ip as IPv6 | undefined) ?? null,
  };

  // podCIDR / podCIDRs (Node.spec semantics)
  const podCIDRRaw = k.get(s, 'podCIDR');
  const podCIDR1 = podCIDRRaw === undefined ? undefined : k.cidr(podCIDRRaw, at('podCIDR'));
  const podCIDRsRaw = k.list(s, 'podCIDRs', P, 'CIDRs', null);
  let podCIDRs = k.cidrList(podCIDRsRaw, at('podCIDRs'), true);
  if (podCIDR1 !== undefined) {
    if (podCIDRsRaw === undefined || podCIDRsRaw.length === 0) podCIDRs = [{ c: podCIDR1, i: -1 }];
    else if (podCIDRs.length > 0 && podCIDRs[0].i === 0 && podCIDRs[0].c.text !== podCIDR1.text) {
      k.invalid(at('podCIDRs', 0), `must equal spec.podCIDR (${podCIDR1.text}); got ${podCIDRs[0].c.text}`);
    }
  }
  const podRefPath = (x: { i: number }): string => (x.i < 0 ? at('podCIDR') : at('podCIDRs', x.i));
  if (podCIDRRaw === undefined && (podCIDRsRaw === undefined || podCIDRsRaw.length === 0) && modeOk && networkMode === 'kubenet') {
    k.missing(at('podCIDRs'), 'required in kubenet mode: the node\'s pod CIDRs (podCIDR and/or podCIDRs)');
  }

  // clusterCIDRs, serviceCIDRs, vnetPrefixes
  const clusterCIDRs = k.cidrList(k.list(s, 'clusterCIDRs', P, 'CIDRs', null), at('clusterCIDRs'), true);
  const serviceCIDRs = k.cidrList(k.list(s, 'serviceCIDRs', P, 'CIDRs', null), at('serviceCIDRs'), true);
  const vnetRaw = k.list(s, 'vnetPrefixes', P, 'CIDRs', modeOk && networkMode === 'cni' ? 'required in cni mode: pod addresses come from the VNet' : null);
  if (vnetRaw !== undefined && vnetRaw.length === 0 && modeOk && networkMode === 'cni') k.invalid(at('vnetPrefixes'), 'must list at least one prefix in cni mode');
  const vnetPrefixes = k.cidrList(vnetRaw, at('vnetPrefixes'), false);
  for (let a = 0; a < vnetPrefixes.length; a++) {
    for (let b = 0; b < a; b++) {
      if (cidrOverlaps(vnetPrefixes[a].c, vnetPrefixes[b].c)) {
        k.invalid(at('vnetPrefixes', vnetPrefixes[a].i), `${vnetPrefixes[a].c.text} overlaps ${at('vnetPrefixes', vnetPrefixes[b].i)} (${vnetPrefixes[b].c.text}); VNet address spaces must not overlap`);
      }
    }
  }
  for (const p of podCIDRs) {
    const cl = clusterCIDRs.find((c) => c.c.family === p.c.family);
    if (cl !== undefined && !(cl.c.len <= p.c.len && cidrOverlaps(cl.c, p.c))) {
      k.invalid(podRefPath(p), `${p.c.text} is not inside ${at('clusterCIDRs', cl.i)} (${cl.c.text}); the node's pod CIDR is carved out of the cluster CIDR`);
    }
  }
  for (const sv of serviceCIDRs) {
    for (const [list, name] of [[clusterCIDRs, 'clusterCIDRs'], [podCIDRs, 'podCIDRs']] as const) {
      for (const o of list) {
        if (cidrOverlaps(sv.c, o.c)) {
          const op = name === 'podCIDRs' ? podRefPath(o) : at(name, o.i);
          k.invalid(at('serviceCIDRs', sv.i), `${sv.c.text} overlaps ${op} (${o.c.text}); service and pod addresses must not overlap`);
        }
      }
    }
  }

  // nodePortAddresses (kube-proxy semantics: "primary" alone, or CIDRs)
  let nodePortAddresses: string[] = ['primary'];
  const nodePortCIDRs: CIDR[] = [];
  const npaRaw = k.list(s, 'nodePortAddresses', P, 'CIDRs (or the single value "primary")', null);
  if (npaRaw !== undefined) {
    nodePortAddresses = [];
    npaRaw.forEach((v, i) => {
      const p = at('nodePortAddresses', i);
      if (v === 'primary') {
        if (npaRaw.length !== 1) k.invalid(p, '"primary" cannot be combined with other values; use either ["primary"] or a list of CIDRs');
        nodePortAddresses.push('primary');
        return;
      }
      const c = k.cidr(v, p);
      if (c === undefined) return;
      if (nodePortCIDRs.some((x) => x.text === c.text)) k.dup(p, `duplicate CIDR ${c.text}`);
      nodePortCIDRs.push(c);
      nodePortAddresses.push(c.text);
    });
  }
  if (nodePortAddresses.length === 1 && nodePortAddresses[0] === 'primary') {
    if (primaryIPs.ipv4 !== null) nodePortCIDRs.push(hostCIDR(primaryIPs.ipv4));
    if (primaryIPs.ipv6 !== null) nodePortCIDRs.push(hostCIDR(primaryIPs.ipv6));
  } else if (npaRaw !== undefined && npaRaw.length === 0) {
    for (const x of nodeIPs) nodePortCIDRs.push(hostCIDR(x.ip));
  }

  const masqueradeAll = k.bool(s, 'masqueradeAll', P, false);

  // nodePortRange (kube-apiserver --service-node-port-range: "min-max", "base+size" or one port)
  let nodePortRange: PortRange = { min: 30000, max: 32767 };
  const nprRaw = k.get(s, 'nodePortRange');
  if (nprRaw !== undefined) {
    if (typeof nprRaw !== 'string') k.type(at('nodePortRange'), `a string (a port range like "${DEFAULT_NODE_PORT_RANGE_TEXT}")`, nprRaw);
    else {
      const r = parsePortRange(nprRaw);
      if (typeof r === 'string') k.invalid(at('nodePortRange'), r);
      else nodePortRange = r;
    }
  }

  // loadBalancerPools
  let loadBalancerPools: LoadBalancerPools | null = null;
  const poolEntries: { r: IPRange; path: string; internal: boolean }[] = [];
  const lbpRaw = k.get(s, 'loadBalancerPools');
  if (lbpRaw !== undefined) {
    const o = k.object(lbpRaw, at('loadBalancerPools'), LB_POOLS_FIELDS, 'an object {external, internal} of address lists');
    if (o !== null) {
      loadBalancerPools = { external: [], internal: [] };
      for (const kind of ['external', 'internal'] as const) {
        const lp = fieldPath(at('loadBalancerPools'), kind);
        k.list(o, kind, at('loadBalancerPools'), 'CIDRs or "first-last" address ranges', null)?.forEach((v, i) => {
          const p = fieldPath(lp, i);
          if (typeof v !== 'string') {
            k.type(p, 'a string (a CIDR like "10.0.100.0/28" or a range like "10.0.100.10-10.0.100.20")', v);
            return;
          }
          const r = parseIPRange(v);
          if (typeof r === 'string') {
            k.invalid(p, r);
            return;
          }
          const badFirst = unicastProblem(r.first, false);
          const badLast = badFirst === null ? unicastProblem(r.last, false) : null;
          if (badFirst !== null || badLast !== null) {
            k.invalid(p, `${r.text}: ${badFirst !== null ? r.first.text : r.last.text} ${badFirst ?? badLast}; load-balancer addresses must be unicast`);
            return;
          }
          const other = poolEntries.find((x) => rangesOverlap(x.r, r));
          if (other !== undefined) {
            k.invalid(p, `${r.text} overlaps ${other.path} (${other.r.text}); an address belongs to one pool entry`);
            return;
          }
          for (const [list, name] of [[clusterCIDRs, 'clusterCIDRs'], [podCIDRs, 'podCIDRs'], [serviceCIDRs, 'serviceCIDRs']] as const) {
            for (const c of list) {
              if (cidrRangeOverlaps(c.c, r)) k.invalid(p, `${r.text} overlaps ${name === 'podCIDRs' ? podRefPath(c) : at(name, c.i)} (${c.c.text}); load-balancer addresses must not be pod or service addresses`);
            }
          }
          const nip = nodeIPs.find((x) => rangeContains(r, x.ip));
          if (nip !== undefined) k.invalid(p, `${r.text} contains the node IP ${nip.ip.text} (${at('nodeIPs', nip.i)}); leave it out (write a "first-last" range)`);
          if (kind === 'internal' && !vnetPrefixes.some((x) => cidrHoldsRange(x.c, r))) {
            k.invalid(p, `${r.text} is not inside spec.vnetPrefixes (${vnetPrefixes.map((x) => x.c.text).join(', ') || 'none configured'}); an internal load balancer's frontend is a VNet address`);
          }
          poolEntries.push({ r, path: p, internal: kind === 'internal' });
          loadBalancerPools?.[kind].push(r);
        });
      }
    }
  }

  // mtu
  let mtu = 1500;
  const mtuRaw = k.get(s, 'mtu');
  if (mtuRaw !== undefined) {
    if (typeof mtuRaw !== 'number' || !Number.isInteger(mtuRaw)) k.type(at('mtu'), 'an integer (576..9000)', mtuRaw);
    else if (mtuRaw < 576 || mtuRaw > 9000) k.invalid(at('mtu'), `${mtuRaw} is out of range; allowed 576..9000`);
    else mtu = mtuRaw;
  }

  // gatewayMAC
  let gatewayMACBytes = defaultGatewayMAC(nodeName);
  const macRaw = k.string(s, 'gatewayMAC', P, 'a MAC address like "02:74:66:00:00:01"', null);
  if (macRaw !== undefined) {
    const mac = parseMAC(macRaw);
    if (mac === null) k.invalid(at('gatewayMAC'), `"${macRaw}" is not a MAC address; expected six hex octets like "02:74:66:00:00:01"`);
    else if ((mac[0] & 1) !== 0) k.invalid(at('gatewayMAC'), `"${macRaw}" is a multicast MAC (low bit of the first octet set); use a unicast one, e.g. "02:..." (locally administered)`);
    else if (mac.every((x) => x === 0)) k.invalid(at('gatewayMAC'), 'the all-zero MAC is not a valid interface address');
    else gatewayMACBytes = mac;
  }

  const defaultGateway = k.familyPair(k.get(s, 'defaultGateway'), at('defaultGateway'));

  // nodeRoutes
  const nodeRoutes: NodeRoute[] = [];
  const nrRaw = k.list(s, 'nodeRoutes', P, '{prefix, nextHop} objects', null);
  const nrSeen: { c: CIDR; i: number }[] = [];
  nrRaw?.forEach((v, i) => {
    const p = at('nodeRoutes', i);
    const o = k.object(v, p, NODE_ROUTE_FIELDS, 'an object {prefix, nextHop}');
    if (o === null) return;
    const pr = k.get(o, 'prefix');
    const nh = k.get(o, 'nextHop');
    if (pr === undefined) k.missing(fieldPath(p, 'prefix'), 'required: the other node\'s pod CIDR');
    if (nh === undefined) k.missing(fieldPath(p, 'nextHop'), 'required: the other node\'s IP');
    const prefix = pr === undefined ? undefined : k.cidr(pr, fieldPath(p, 'prefix'));
    const nextHop = nh === undefined ? undefined : k.ip(nh, fieldPath(p, 'nextHop'), 0, false);
    if (prefix !== undefined) {
      const same = nrSeen.find((x) => x.c.text === prefix.text);
      if (same !== undefined) k.dup(fieldPath(p, 'prefix'), `duplicate prefix ${prefix.text} (also ${at('nodeRoutes', same.i, 'prefix')})`);
      nrSeen.push({ c: prefix, i });
      for (const own of podCIDRs) {
        if (cidrOverlaps(own.c, prefix)) k.invalid(fieldPath(p, 'prefix'), `${prefix.text} overlaps this node's own ${podRefPath(own)} (${own.c.text})`);
      }
    }
    if (prefix !== undefined && nextHop !== undefined) {
      if (prefix.family !== nextHop.family) k.invalid(fieldPath(p, 'nextHop'), `IPv${nextHop.family} next hop for an IPv${prefix.family} prefix; the next hop must be of the prefix's family`);
      else if (nodeIPs.some((x) => sameIP(x.ip, nextHop))) k.invalid(fieldPath(p, 'nextHop'), `${nextHop.text} is this node's own IP`);
      else nodeRoutes.push({ prefix, nextHop });
    }
  });

  // routeTables (Azure UDR, ARM field names)
  const routeTables: RouteTable[] = [];
  const rtRaw = k.list(s, 'routeTables', P, 'route tables {name, routes}', null);
  const prefixOwners = new Map<string, string>();
  rtRaw?.forEach((v, ti) => {
    const tp = at('routeTables', ti);
    const o = k.object(v, tp, ROUTE_TABLE_FIELDS, 'a route table {name, routes}');
    if (o === null) return;
    const name = k.string(o, 'name', tp, 'the route table name', 'required: the route table name');
    if (name !== undefined) {
      if (!ARM_NAME.test(name)) k.invalid(fieldPath(tp, 'name'), `"${name}" is not a valid Azure resource name (1-80 of A-Z a-z 0-9 _ . -, starting with a letter or digit, ending with a letter, digit or _)`);
      const prev = routeTables.findIndex((t) => t.name === name);
      if (prev >= 0) k.dup(fieldPath(tp, 'name'), `duplicate route table name "${name}"`);
    }
    const table: RouteTable = { name: name ?? '', routes: [] };
    const routesRaw = k.list(o, 'routes', tp, 'routes', 'required: the routes (may be empty)');
    routesRaw?.forEach((rv, ri) => {
      const rp = fieldPath(fieldPath(tp, 'routes'), ri);
      const r = k.object(rv, rp, ROUTE_FIELDS, 'a route {name, addressPrefix, nextHopType, nextHopIpAddress}');
      if (r === null) return;
      const rname = k.string(r, 'name', rp, 'the route name', 'required: the route name');
      if (rname !== undefined) {
        if (!ARM_NAME.test(rname)) k.invalid(fieldPath(rp, 'name'), `"${rname}" is not a valid Azure resource name (1-80 of A-Z a-z 0-9 _ . -, starting with a letter or digit, ending with a letter, digit or _)`);
        else if (table.routes.some((x) => x.name === rname)) k.dup(fieldPath(rp, 'name'), `duplicate route name "${rname}" in route table "${table.name}"`);
      }
      const apRaw = k.get(r, 'addressPrefix');
      if (apRaw === undefined) k.missing(fieldPath(rp, 'addressPrefix'), 'required: the destination CIDR');
      const ap = apRaw === undefined ? undefined : k.cidr(apRaw, fieldPath(rp, 'addressPrefix'));
      if (ap !== undefined) {
        const owner = prefixOwners.get(ap.text);
        if (owner !== undefined) k.dup(fieldPath(rp, 'addressPrefix'), `${ap.text} is already routed by ${owner}; one route per prefix`);
        else prefixOwners.set(ap.text, fieldPath(rp, 'addressPrefix'));
      }
      const nht = k.enumOf(r, 'nextHopType', rp, NEXT_HOP_TYPES, 'required: the next hop type');
      const nhipRaw = k.get(r, 'nextHopIpAddress');
      let nhip: IP | null = null;
      if (nht === 'VirtualAppliance') {
        if (nhipRaw === undefined) k.missing(fieldPath(rp, 'nextHopIpAddress'), 'required when nextHopType is VirtualAppliance: the appliance\'s IP');
        else {
          const ip = k.ip(nhipRaw, fieldPath(rp, 'nextHopIpAddress'), 0, false);
          if (ip !== undefined && ap !== undefined && ip.family !== ap.family) {
            k.invalid(fieldPath(rp, 'nextHopIpAddress'), `IPv${ip.family} next hop for IPv${ap.family} prefix ${ap.text}; the next hop must be of the prefix's family`);
          } else if (ip !== undefined) nhip = ip;
        }
      } else if (nht !== undefined && nhipRaw !== undefined) {
        k.invalid(fieldPath(rp, 'nextHopIpAddress'), `only allowed when nextHopType is VirtualAppliance (this route's is ${nht})`);
      }
      if (rname !== undefined && ap !== undefined && nht !== undefined) {
        table.routes.push({ name: rname, addressPrefix: ap, nextHopType: nht, nextHopIpAddress: nhip });
      }
    });
    routeTables.push(table);
  });

  // ports
  const ports: PortConfig[] = [];
  const portsRaw = k.list(s, 'ports', P, 'ports {name, tap, role, ...}', 'required: the node\'s ports (one uplink, at most one host, one per pod)');
  if (portsRaw !== undefined && portsRaw.length === 0) k.invalid(at('ports'), 'must list at least the uplink port');
  let uplinkPort = -1;
  let hostPort = -1;
  let rolesOk = true;
  const addrOwners: { ip: IP; path: string }[] = [];
  const podRanges = modeOk ? (networkMode === 'kubenet' ? podCIDRs.map((x) => ({ c: x.c, path: podRefPath(x) })) : vnetPrefixes.map((x) => ({ c: x.c, path: at('vnetPrefixes', x.i) }))) : null;
  const rangeName = networkMode === 'kubenet' ? 'spec.podCIDRs' : 'spec.vnetPrefixes';
  portsRaw?.forEach((v, i) => {
    const pp = at('ports', i);
    const o = k.object(v, pp, PORT_FIELDS, 'a port {name, tap, role, ...}');
    if (o === null) {
      rolesOk = false;
      return;
    }
    const name = k.string(o, 'name', pp, 'a DNS label', 'required: the port name');
    if (name !== undefined) {
      if (name.length > 63 || !DNS_LABEL.test(name)) k.invalid(fieldPath(pp, 'name'), `"${name}" is not a valid port name (DNS label: lower case a-z, 0-9, '-', at most 63 characters)`);
      else {
        const prev = ports.find((x) => x.name === name);
        if (prev !== undefined) k.dup(fieldPath(pp, 'name'), `duplicate port name "${name}" (also ${at('ports', prev.index, 'name')})`);
      }
    }
    const tap = k.string(o, 'tap', pp, 'a Linux interface name', 'required: the TAP interface name');
    if (tap !== undefined) {
      const bad = tapNameProblem(tap);
      if (bad !== null) k.invalid(fieldPath(pp, 'tap'), bad);
      else {
        const prev = ports.find((x) => x.tap === tap && x.netns === ((v) => (typeof v === 'string' ? v : null))(k.get(o, 'netns'))); // the same name in another netns is another TAP
        if (prev !== undefined) k.dup(fieldPath(pp, 'tap'), `duplicate tap "${tap}" (also ${at('ports', prev.index, 'tap')})`);
      }
    }
    const role = k.enumOf(o, 'role', pp, PORT_ROLES, 'required: the port role');
    if (role === undefined) rolesOk = false;
    if (role === 'uplink') {
      if (uplinkPort >= 0) k.invalid(fieldPath(pp, 'role'), `a second uplink port (${at('ports', uplinkPort)} is the uplink); exactly one port has role "uplink"`);
      else uplinkPort = i;
    } else if (role === 'host') {
      if (hostPort >= 0) k.invalid(fieldPath(pp, 'role'), `a second host port (${at('ports', hostPort)} is the host port); at most one port has role "host"`);
      else hostPort = i;
    }
    const vnetHdr = k.bool(o, 'vnetHdr', pp, true);
    const netns = k.string(o, 'netns', pp, 'an absolute path to a network namespace file', null) ?? null;
    if (netns !== null && !netns.startsWith('/')) k.invalid(fieldPath(pp, 'netns'), `"${netns}" is not an absolute path (e.g. /run/netns/pod-a)`);

    const port: PortConfig = { index: i, name: name ?? '', tap: tap ?? '', role: role ?? 'pod', vnetHdr, netns, addresses: [], gateway: { ipv4: null, ipv6: null }, pod: null };
    ports.push(port);
    if (role !== undefined && role !== 'pod') {
      for (const f of ['addresses', 'gateway', 'pod']) {
        if (k.get(o, f) !== undefined) k.invalid(fieldPath(pp, f), `only pod ports have ${f}; this port's role is "${role}"`);
      }
      return;
    }
    if (role === undefined) return;

    // pod port
    const podRaw = k.get(o, 'pod');
    if (podRaw !== undefined) {
      const po = k.object(podRaw, fieldPath(pp, 'pod'), POD_REF_FIELDS, 'an object {namespace, name}');
      if (po !== null) {
        const ns = k.string(po, 'namespace', fieldPath(pp, 'pod'), 'a namespace name', 'required: the pod\'s namespace');
        const pn = k.string(po, 'name', fieldPath(pp, 'pod'), 'a pod name', 'required: the pod\'s name');
        if (ns !== undefined && (ns.length > 63 || !DNS_LABEL.test(ns))) k.invalid(fieldPath(fieldPath(pp, 'pod'), 'namespace'), `"${ns}" is not a valid namespace name (DNS label)`);
        if (pn !== undefined && (pn.length > 253 || !DNS_SUBDOMAIN.test(pn))) k.invalid(fieldPath(fieldPath(pp, 'pod'), 'name'), `"${pn}" is not a valid pod name (DNS subdomain)`);
        if (ns !== undefined && pn !== undefined) port.pod = { namespace: ns, name: pn };
      }
    }
    const ap = fieldPath(pp, 'addresses');
    const addrRaw = k.list(o, 'addresses', pp, 'IP addresses', 'required for pod ports: the pod\'s IPs (one per family)');
    if (addrRaw !== undefined && addrRaw.length === 0) k.invalid(ap, 'a pod port needs at least one address');
    const addrs = k.ipList(addrRaw, ap, false);
    const gwExplicit = k.familyPair(k.get(o, 'gateway'), fieldPath(pp, 'gateway'));
    port.gateway = { ...gwExplicit };
    for (const { ip, i: ai } of addrs) {
      const p = fieldPath(ap, ai);
      if (port.addresses.some((x) => x.family === ip.family)) {
        k.invalid(p, `a second IPv${ip.family} address; a pod has at most one address per family`);
        continue;
      }
      const owner = addrOwners.find((x) => sameIP(x.ip, ip));
      if (owner !== undefined) {
        k.dup(p, `address ${ip.text} is also ${owner.path}`);
        continue;
      }
      const node = nodeIPs.find((x) => sameIP(x.ip, ip));
      if (node !== undefined) {
        k.invalid(p, `${ip.text} is a node IP (${at('nodeIPs', node.i)}); pods need their own addresses`);
        continue;
      }
      if (podRanges !== null) {
        const range = podRanges.find((r) => cidrContains(r.c, ip));
        if (range === undefined) {
          const inFam = podRanges.filter((r) => r.c.family === ip.family).map((r) => r.c.text);
          k.invalid(p, `${ip.text} is not inside ${rangeName} (${inFam.length > 0 ? inFam.join(', ') : `no IPv${ip.family} prefix configured`}); in ${networkMode} mode pod addresses come from ${rangeName}`);
          continue;
        }
        const max = ip.family === 4 ? 32 : 128;
        if (range.c.len <= max - 2 && sameIP(ip, nthAddress(range.c, 0))) {
          k.invalid(p, `${ip.text} is the network address of ${range.path} (${range.c.text}); not usable by a pod`);
          continue;
        }
        if (ip.family === 4 && range.c.family === 4 && range.c.len <= 30) {
          const bcast = (range.c.v4 + 2 ** (32 - range.c.len) - 1) >>> 0;
          if (ip.v4 === bcast) {
            k.invalid(p, `${ip.text} is the broadcast address of ${range.path} (${range.c.text}); not usable by a pod`);
            continue;
          }
        }
        // Default gateway for this family: the first address of the containing prefix.
        const fam = ip.family === 4 ? 'ipv4' : 'ipv6';
        if (port.gateway[fam] === null) {
          const g = nthAddress(range.c, 1);
          if (g.family === 4) port.gateway.ipv4 = g;
          else port.gateway.ipv6 = g;
        }
      }
      addrOwners.push({ ip, path: p });
      port.addresses.push(ip);
    }
    for (const fam of ['ipv4', 'ipv6'] as const) {
      const g = port.gateway[fam];
      if (g === null) continue;
      const gp = gwExplicit[fam] !== null ? fieldPath(fieldPath(pp, 'gateway'), fam) : ap;
      const why = gwExplicit[fam] !== null ? '' : ` (the default gateway: the first address of the pod's prefix; set ${fieldPath(fieldPath(pp, 'gateway'), fam)} to choose another)`;
      if (port.addresses.some((a) => sameIP(a, g))) k.invalid(gp, `gateway ${g.text} is the pod's own address${why}`);
      const node = nodeIPs.find((x) => sameIP(x.ip, g));
      if (node !== undefined) k.invalid(gp, `gateway ${g.text} is a node IP (${at('nodeIPs', node.i)})${why}`);
    }
  });
  if (rolesOk && portsRaw !== undefined && portsRaw.length > 0 && uplinkPort < 0) {
    k.invalid(at('ports'), 'no port has role "uplink"; exactly one is required');
  }
  // A pod address that is some other pod's gateway.
  for (const port of ports) {
    for (const fam of ['ipv4', 'ipv6'] as const) {
      const g = port.gateway[fam];
      if (g === null) continue;
      const owner = addrOwners.find((x) => sameIP(x.ip, g));
      if (owner !== undefined && !port.addresses.some((a) => sameIP(a, g))) {
        k.invalid(owner.path, `${g.text} is the gateway of ${at('ports', port.index)} ("${port.name}"); a pod cannot use a gateway address`);
      }
    }
  }

  // Load-balancer pools must not hold pod addresses or the VNet gateway.
  for (const pe of poolEntries) {
    for (const a of addrOwners) if (rangeContains(pe.r, a.ip)) k.invalid(pe.path, `${pe.r.text} contains the pod address ${a.ip.text} (${a.path})`);
    for (const fam of ['ipv4', 'ipv6'] as const) {
      const g = defaultGateway[fam];
      if (g !== null && rangeContains(pe.r, g)) k.invalid(pe.path, `${pe.r.text} contains the default gateway ${g.text} (${at('defaultGateway', undefined, fam)})`);
    }
  }

  // IPv6 needs MTU ≥ 1280 (RFC 8200 section 5).
  const hasV6 = nodeIPs.some((x) => x.ip.family === 6) || addrOwners.some((x) => x.ip.family === 6);
  if (hasV6 && mtu < 1280) k.invalid(at('mtu'), `${mtu} is below 1280, the IPv6 minimum link MTU (RFC 8200); IPv6 is configured`);

  return {
    apiVersion: NODE_CONFIG_API_VERSION,
    kind: NODE_CONFIG_KIND,
    metadata: { name: metaName, labels, annotations },
    spec: {
      nodeName,
      nodeIPs: nodeIPs.map((x) => x.ip),
      primaryIPs,
      podCIDR: podCIDRs.length > 0 ? podCIDRs[0].c : null,
      podCIDRs: podCIDRs.map((x) => x.c),
      clusterCIDRs: clusterCIDRs.map((x) => x.c),
      serviceCIDRs: serviceCIDRs.map((x) => x.c),
      nodePortAddresses,
      nodePortCIDRs,
      masqueradeAll,
      nodePortRange,
      loadBalancerPools,
      networkMode,
      vnetPrefixes: vnetPrefixes.map((x) => x.c),
      mtu,
      gatewayMAC: formatMAC(gatewayMACBytes),
      gatewayMACBytes,
      defaultGateway,
      nodeRoutes,
      routeTables,
      ports,
      uplinkPort,
      hostPort,
    },
  };
}
