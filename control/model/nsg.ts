/**
 * Azure network filtering resources, read from ARM JSON: network security groups, virtual
 * networks (address spaces, subnets and the NSG of each subnet, peerings), network interfaces
 * (private IPs, subnet, NSG of the NIC) and standalone subnet resources.
 *
 * Input shapes, both accepted for every type:
 *   - ARM REST / template shape: `{ type, name, id?, properties: { securityRules: [ { name,
 *     properties: { priority, ... } } ] } }` — paths read `properties.securityRules[3].properties.priority`;
 *   - `az ... show` shape: the CLI flattens `properties` into the resource and into each rule —
 *     paths read `securityRules[3].priority`.
 *
 * Validation follows what Azure enforces on a PUT: priority 100..4096 and unique per direction
 * (the issue names both rules), rule names (1-80 word characters, '.', '-', '_'), protocol
 * Tcp|Udp|Icmp|Esp|Ah|* (case-insensitive, like the API), Allow|Deny, Inbound|Outbound, exactly
 * one of the singular/plural address and port fields, `*` and service tags only alone, CIDRs
 * without host bits, port ranges `N` or `N-M` within 0..65535. Application security groups are
 * refused with a clear error: tapflow cannot know which NICs are members.
 *
 * Strictness: unknown fields inside a security rule are UNKNOWN_FIELD (a misspelt
 * "destinationPortRanges" would otherwise change what the rule matches); unknown fields on the
 * resources themselves are tolerated, since ARM adds read-only fields with every API version.
 *
 * References between resources (subnet → NSG, NIC → subnet, NIC → NSG) are ARM ids, matched
 * case-insensitively; ARM template expressions `[resourceId('Microsoft.Network/...', 'name')]`
 * are understood minimally (literal arguments only). Resolution happens in
 * control/compile/classifier.ts (ArmIndex below).
 */
import { ErrorCode, Issues, fieldPath } from './errors';
import { CIDR, IP, cidrContains, cidrOverlaps, parseCIDR, parseIP } from './node-config';
import { K8sChecker, Obj, isObj, parseCIDRLoose } from './k8s';
import { registerArmType } from './manifests';

export const NSG_ARM_TYPE = 'Microsoft.Network/networkSecurityGroups';
export const VNET_ARM_TYPE = 'Microsoft.Network/virtualNetworks';
export const SUBNET_ARM_TYPE = 'Microsoft.Network/virtualNetworks/subnets';
export const NIC_ARM_TYPE = 'Microsoft.Network/networkInterfaces';

/** The Azure host's virtual IP (DHCP, DNS, health probes): the AzureLoadBalancer tag, and part of VirtualNetwork. */
export const AZURE_HOST_IP = '168.63.129.16';

// ─── Types ─────────────────────────────────────────────────────────────────────────────────

export type NsgDirection = 'Inbound' | 'Outbound';
export type NsgAccess = 'Allow' | 'Deny';
export type NsgProtocol = 'Tcp' | 'Udp' | 'Icmp' | 'Esp' | 'Ah' | '*';
export type ServiceTag = 'VirtualNetwork' | 'AzureLoadBalancer' | 'Internet';

export const NSG_DIRECTIONS: readonly NsgDirection[] = ['Inbound', 'Outbound'];
export const NSG_ACCESSES: readonly NsgAccess[] = ['Allow', 'Deny'];
export const NSG_PROTOCOLS: readonly NsgProtocol[] = ['Tcp', 'Udp', 'Icmp', 'Esp', 'Ah', '*'];
export const SERVICE_TAGS: readonly ServiceTag[] = ['VirtualNetwork', 'AzureLoadBalancer', 'Internet'];

/** Where a rule's source or destination is: `*`, one service tag, or explicit prefixes (addresses become /32, /128). */
export type NsgAddress =
  | { kind: 'any' }
  | { kind: 'tag'; tag: ServiceTag }
  | { kind: 'prefixes'; prefixes: CIDR[] };

/** An inclusive port range. */
export interface PortRange {
  from: number;
  to: number;
}

export interface NsgRule {
  name: string;
  priority: number;
  direction: NsgDirection;
  access: NsgAccess;
  protocol: NsgProtocol;
  source: NsgAddress;
  destination: NsgAddress;
  /** null = any ("*" or 0-65535). */
  sourcePorts: PortRange[] | null;
  destinationPorts: PortRange[] | null;
  description: string;
  /** One of the six rules Azure puts in every NSG (AllowVnetInBound, ...). */
  isDefault: boolean;
  /** Field path of the rule in its resource (`properties.securityRules[3]`); "" for implied default rules. */
  path: string;
}

/** An ARM resource reference, parsed: full id and/or type + names (both lower case, for matching). */
export interface ArmRef {
  /** As written. */
  raw: string;
  /** The full resource id in lower case; null for a resourceId() expression without subscription/group or a resource without id. */
  id: string | null;
  /** Resource type in lower case, e.g. "microsoft.network/virtualnetworks/subnets". */
  type: string;
  /** Resource names from the parent down, lower case (["vnet1", "subnet1"]). */
  names: string[];
}

export interface NetworkSecurityGroup {
  /** The resource's own reference (from `id`, else from type + name). */
  ref: ArmRef;
  name: string;
  resourceGroup: string;
  /** Custom rules, in document order. */
  rules: NsgRule[];
  /** The six Azure default rules (as given, or implied when `defaultSecurityRules` is absent). */
  defaultRules: NsgRule[];
}

export interface Subnet {
  ref: ArmRef;
  name: string;
  addressPrefixes: CIDR[];
  /** The subnet's NSG, unresolved. */
  networkSecurityGroup: ArmRef | null;
  /** Path of the subnet in its document (`properties.subnets[0]`, "" for a standalone subnet resource). */
  path: string;
}

export interface VirtualNetwork {
  ref: ArmRef;
  name: string;
  resourceGroup: string;
  addressPrefixes: CIDR[];
  subnets: Subnet[];
  /** remoteAddressSpace of every peering: part of the VirtualNetwork service tag. */
  peeredPrefixes: CIDR[];
}

export interface NicIpConfiguration {
  name: string;
  privateIPAddress: IP | null;
  subnet: ArmRef | null;
  primary: boolean;
  path: string;
}

export interface NetworkInterface {
  ref: ArmRef;
  name: string;
  resourceGroup: string;
  networkSecurityGroup: ArmRef | null;
  ipConfigurations: NicIpConfiguration[];
}

/** A standalone subnet resource (`az network vnet subnet show`, a template child resource). */
export interface SubnetResource extends Subnet {
  /** The VNet the subnet belongs to (from its id or its "vnet/subnet" name). */
  vnet: ArmRef;
}

// ─── ARM ids and references ──────────────────────────────────────────────────────────────────

/**
 * Parse an ARM id (`/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s`)
 * or a template expression `[resourceId(['sub',] ['rg',] 'Microsoft.Network/virtualNetworks/subnets', 'v', 's')]`.
 * Returns the reference or a reason it is not one.
 */
export function parseArmRef(s: string): ArmRef | string {
  const t = s.trim();
  if (t.startsWith('[')) {
    const m = /^\[\s*resourceId\s*\((.*)\)\s*\]$/i.exec(t);
    if (m === null) return `"${s}" is an ARM template expression tapflow does not evaluate; only [resourceId('<type>', '<name>', ...)] with literal arguments is understood (or give the full resource id)`;
    const args: string[] = [];
    const re = /\s*'((?:[^']|'')*)'\s*(,|$)/y;
    let rest = m[1];
    let mm: RegExpExecArray | null;
    re.lastIndex = 0;
    while (re.lastIndex < rest.length && (mm = re.exec(rest)) !== null) {
      args.push(mm[1].replace(/''/g, "'"));
      if (mm[2] === '') break;
    }
    if (re.lastIndex !== rest.length || args.length === 0) {
      return `"${s}": resourceId() arguments must be string literals like 'Microsoft.Network/networkSecurityGroups', 'nsg1' (parameters() and variables() are not evaluated)`;
    }
    rest = '';
    const ti = args.findIndex((a) => a.includes('/'));
    if (ti < 0 || ti > 2) return `"${s}": resourceId() needs a resource type like 'Microsoft.Network/networkSecurityGroups'`;
    const type = args[ti];
    const names = args.slice(ti + 1);
    const segs = type.split('/');
    if (segs.length < 2 || names.length !== segs.length - 1 || names.some((n) => n === '')) {
      return `"${s}": resource type ${type} needs ${Math.max(1, segs.length - 1)} name argument(s), got ${names.length}`;
    }
    let id: string | null = null;
    if (ti === 2) id = buildId(args[0], args[1], segs, names);
    return { raw: s, id, type: type.toLowerCase(), names: names.map((n) => n.toLowerCase()) };
  }
  const parts = t.split('/');
  // ['', 'subscriptions', sub, 'resourceGroups', rg, 'providers', ns, type1, name1, (type, name)*]
  if (parts.length < 9 || parts[0] !== '' || parts[1].toLowerCase() !== 'subscriptions' || parts[3].toLowerCase() !== 'resourcegroups' || parts[5].toLowerCase() !== 'providers') {
    return `"${s}" is not an ARM resource id; expected /subscriptions/<id>/resourceGroups/<group>/providers/<namespace>/<type>/<name>[/<child type>/<name>]`;
  }
  const tail = parts.slice(7);
  if (tail.length % 2 !== 0 || parts.some((p, i) => i > 0 && p === '')) {
    return `"${s}" is not an ARM resource id: after the provider namespace, types and names must alternate`;
  }
  const typeSegs = [parts[6]];
  const names: string[] = [];
  for (let i = 0; i < tail.length; i += 2) {
    typeSegs.push(tail[i]);
    names.push(tail[i + 1]);
  }
  return { raw: s, id: t.toLowerCase(), type: typeSegs.join('/').toLowerCase(), names: names.map((n) => n.toLowerCase()) };
}

function buildId(sub: string, rg: string, typeSegs: string[], names: string[]): string {
  let id = `/subscriptions/${sub}/resourceGroups/${rg}/providers/${typeSegs[0]}`;
  for (let i = 1; i < typeSegs.length; i++) id += `/${typeSegs[i]}/${names[i - 1]}`;
  return id.toLowerCase();
}

/** "type|name/child" — the loose key used when a reference carries no full id. */
export function armKey(ref: { type: string; names: string[] }): string {
  return `${ref.type}|${ref.names.join('/')}`;
}

/** The resource group named in a full id ("" when there is none). */
function groupOf(ref: ArmRef): string {
  if (ref.id === null) return '';
  return ref.id.split('/')[4] ?? '';
}

const TYPE_WORDS: Record<string, string> = {
  'microsoft.network/networksecuritygroups': 'network security group',
  'microsoft.network/virtualnetworks': 'virtual network',
  'microsoft.network/virtualnetworks/subnets': 'subnet',
  'microsoft.network/networkinterfaces': 'network interface',
};

/**
 * Resolves references to resources: by full id (case-insensitive) when both sides have one,
 * otherwise by type + names when exactly one resource has them.
 */
export class ArmIndex<T> {
  private readonly byId = new Map<string, T>();
  private readonly byKey = new Map<string, T[]>();

  add(ref: ArmRef, value: T): void {
    if (ref.id !== null) this.byId.set(ref.id, value);
    const k = armKey(ref);
    const list = this.byKey.get(k);
    if (list === undefined) this.byKey.set(k, [value]);
    else list.push(value);
  }

  /** The resource, or a message saying why there is none. */
  resolve(ref: ArmRef): { ok: true; value: T } | { ok: false; reason: string } {
    if (ref.id !== null) {
      const v = this.byId.get(ref.id);
      if (v !== undefined) return { ok: true, value: v };
    }
    const list = this.byKey.get(armKey(ref)) ?? [];
    if (list.length === 1) return { ok: true, value: list[0] };
    if (list.length > 1) return { ok: false, reason: `"${ref.raw}" matches ${list.length} resources of type ${ref.type} named ${ref.names.join('/')}; give the full resource id` };
    return { ok: false, reason: `"${ref.raw}" names no ${TYPE_WORDS[ref.type] ?? ref.type} in the input` };
  }
}

// ─── Field helpers ─────────────────────────────────────────────────────────────────────────

/** ARM resource names: 1-80 characters, word characters, '.', '-', '_'; starts with a word character, ends with one or '_'. */
const ARM_RULE_NAME = /^\w([\w.-]{0,78}\w)?$/;

const RULE_PROP_FIELDS = [
  'description', 'protocol', 'sourcePortRange', 'sourcePortRanges', 'destinationPortRange', 'destinationPortRanges',
  'sourceAddressPrefix', 'sourceAddressPrefixes', 'destinationAddressPrefix', 'destinationAddressPrefixes',
  'sourceApplicationSecurityGroups', 'destinationApplicationSecurityGroups', 'access', 'priority', 'direction',
  'provisioningState',
];
const RULE_TOP_FIELDS = ['name', 'id', 'etag', 'type', 'properties', 'resourceGroup'];

/** Where a resource's properties are: `properties` (ARM shape) or the resource itself (az CLI shape). */
function propsOf(top: Obj): { o: Obj; at: string } {
  return isObj(top.properties) ? { o: top.properties, at: 'properties' } : { o: top, at: '' };
}

function caseEnum<T extends string>(k: K8sChecker, o: Obj, key: string, path: string, allowed: readonly T[], required: string | null, hint?: (v: string) => string | null): T | undefined {
  const p = fieldPath(path, key);
  const v = k.get(o, key);
  if (v === undefined || v === '') {
    if (required !== null) k.missing(p, `${required}; one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
    return undefined;
  }
  if (typeof v !== 'string') {
    k.type(p, `a string, one of ${allowed.map((a) => `"${a}"`).join(', ')}`, v);
    return undefined;
  }
  const hit = allowed.find((a) => a.toLowerCase() === v.toLowerCase());
  if (hit === undefined) {
    const h = hint?.(v) ?? null;
    k.invalid(p, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}; got "${v}"${h !== null ? ` (${h})` : ''}`);
  }
  return hit;
}

/** A strict prefix: an address (→ /32 or /128) or a canonical CIDR. */
function parseAddressPrefix(v: string): { ok: true; cidr: CIDR } | { ok: false; reason: string } {
  if (v.includes('/')) {
    const c = parseCIDR(v);
    if (c !== null) return { ok: true, cidr: c };
    const loose = parseCIDRLoose(v);
    if (loose !== null) return { ok: false, reason: `"${v}" has host bits set beyond the /${loose.len} prefix; write "${loose.text}"` };
    return { ok: false, reason: `"${v}" is not a valid address prefix; expected an address, a CIDR like "10.0.0.0/24", "*" or a service tag` };
  }
  const ip = parseIP(v);
  if (ip === null) return { ok: false, reason: '' };
  return { ok: true, cidr: ip.family === 4 ? { family: 4, v4: ip.v4, len: 32, text: `${ip.text}/32` } : { family: 6, v6: ip.v6, len: 128, text: `${ip.text}/128` } };
}

const TAG_ALIASES: Record<string, ServiceTag> = {
  virtualnetwork: 'VirtualNetwork',
  virtual_network: 'VirtualNetwork',
  azureloadbalancer: 'AzureLoadBalancer',
  azure_loadbalancer: 'AzureLoadBalancer',
  internet: 'Internet',
};

/** One value of an address field: "*", a service tag, an address or a CIDR. */
function addressValue(v: string): { kind: 'any' } | { kind: 'tag'; tag: ServiceTag } | { kind: 'prefix'; cidr: CIDR } | { kind: 'bad'; reason: string } {
  const t = v.trim();
  if (t === '*') return { kind: 'any' };
  const tag = TAG_ALIASES[t.toLowerCase()];
  if (tag !== undefined) return { kind: 'tag', tag };
  const p = parseAddressPrefix(t);
  if (p.ok) return { kind: 'prefix', cidr: p.cidr };
  if (p.reason !== '') return { kind: 'bad', reason: p.reason };
  if (/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)?$/.test(t)) {
    return { kind: 'bad', reason: `service tag "${t}" is not supported by tapflow (its address prefixes are not part of the input); supported: "*", ${SERVICE_TAGS.map((x) => `"${x}"`).join(', ')}, addresses and CIDRs` };
  }
  return { kind: 'bad', reason: `"${t}" is not an address, a CIDR, "*" or a service tag` };
}

/**
 * Read the singular/plural pair (`sourceAddressPrefix` / `sourceAddressPrefixes`). Azure's rule:
 * exactly one of them (an empty string or list counts as absent); `*` and a service tag only
 * alone.
 */
function readAddress(k: K8sChecker, o: Obj, at: string, single: string, plural: string): NsgAddress | undefined {
  const sv = k.get(o, single);
  const pv = k.get(o, plural);
  const hasS = sv !== undefined && sv !== '';
  const hasP = pv !== undefined && !(Array.isArray(pv) && pv.length === 0);
  if (hasS && hasP) {
    k.invalid(fieldPath(at, plural), `${single} and ${plural} are both set; use one of them (${plural} for several prefixes)`);
    return undefined;
  }
  if (!hasS && !hasP) {
    k.missing(fieldPath(at, single), `required: ${single} ("*", a service tag, an address or a CIDR) or ${plural} (a list of addresses and CIDRs)`);
    return undefined;
  }
  if (hasS) {
    const p = fieldPath(at, single);
    if (typeof sv !== 'string') {
      k.type(p, 'a string ("*", a service tag, an address or a CIDR)', sv);
      return undefined;
    }
    if (sv.includes(',')) {
      k.invalid(p, `"${sv}" holds several values; list them in ${plural} instead`);
      return undefined;
    }
    const a = addressValue(sv);
    if (a.kind === 'bad') {
      k.invalid(p, a.reason);
      return undefined;
    }
    if (a.kind === 'prefix') return { kind: 'prefixes', prefixes: [a.cidr] };
    return a;
  }
  const lp = fieldPath(at, plural);
  if (!Array.isArray(pv)) {
    k.type(lp, 'a list of addresses and CIDRs', pv);
    return undefined;
  }
  const prefixes: CIDR[] = [];
  let special: NsgAddress | null = null;
  let ok = true;
  pv.forEach((x, i) => {
    const p = fieldPath(lp, i);
    if (typeof x !== 'string') {
      k.type(p, 'a string (an address or a CIDR)', x);
      ok = false;
      return;
    }
    const a = addressValue(x);
    if (a.kind === 'bad') {
      k.invalid(p, a.reason);
      ok = false;
    } else if (a.kind === 'prefix') {
      if (!prefixes.some((c) => c.text === a.cidr.text)) prefixes.push(a.cidr);
    } else {
      if (pv.length > 1) {
        k.invalid(p, `"${x}" must be the only value of ${plural}: "*" and service tags cannot be combined with other prefixes (use ${single}, or split the rule)`);
        ok = false;
      } else special = a;
    }
  });
  if (!ok) return undefined;
  return special ?? { kind: 'prefixes', prefixes };
}

function parsePortRange(v: string): PortRange | string {
  const t = v.trim();
  if (t === '*') return { from: 0, to: 65535 };
  const m = /^(\d{1,5})(?:\s*-\s*(\d{1,5}))?$/.exec(t);
  if (m === null) return `"${v}" is not a port or port range; expected "*", "80" or "1024-65535"`;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from > 65535 || to > 65535) return `"${v}": ports are 0..65535`;
  if (from > to) return `"${v}": the range is reversed; write "${to}-${from}"`;
  return { from, to };
}

/** Read a singular/plural port pair; null = any port. */
function readPorts(k: K8sChecker, o: Obj, at: string, single: string, plural: string): PortRange[] | null | undefined {
  const sv = k.get(o, single);
  const pv = k.get(o, plural);
  const hasS = sv !== undefined && sv !== '';
  const hasP = pv !== undefined && !(Array.isArray(pv) && pv.length === 0);
  if (hasS && hasP) {
    k.invalid(fieldPath(at, plural), `${single} and ${plural} are both set; use one of them`);
    return undefined;
  }
  if (!hasS && !hasP) {
    k.missing(fieldPath(at, single), `required: ${single} ("*", "80", "1024-65535") or ${plural} (a list of them)`);
    return undefined;
  }
  const vals: { v: unknown; p: string }[] = hasS
    ? [{ v: typeof sv === 'number' ? String(sv) : sv, p: fieldPath(at, single) }]
    : Array.isArray(pv) ? pv.map((v, i) => ({ v: typeof v === 'number' ? String(v) : v, p: fieldPath(fieldPath(at, plural), i) })) : [];
  if (hasP && !Array.isArray(pv)) {
    k.type(fieldPath(at, plural), 'a list of ports and port ranges', pv);
    return undefined;
  }
  const out: PortRange[] = [];
  let any = false;
  let ok = true;
  for (const { v, p } of vals) {
    if (typeof v !== 'string') {
      k.type(p, 'a string ("*", "80" or "1024-65535")', v);
      ok = false;
      continue;
    }
    if (hasS && v.includes(',')) {
      k.invalid(p, `"${v}" holds several values; list them in ${plural} instead`);
      ok = false;
      continue;
    }
    if (v.trim() === '*' && vals.length > 1) {
      k.invalid(p, `"*" must be the only value of ${plural}`);
      ok = false;
      continue;
    }
    const r = parsePortRange(v);
    if (typeof r === 'string') {
      k.invalid(p, r);
      ok = false;
      continue;
    }
    if (r.from === 0 && r.to === 65535) any = true;
    out.push(r);
  }
  if (!ok) return undefined;
  return any ? null : out;
}

// ─── Default rules ─────────────────────────────────────────────────────────────────────────

function defaultRule(name: string, priority: number, direction: NsgDirection, access: NsgAccess, source: NsgAddress, destination: NsgAddress, description: string): NsgRule {
  return { name, priority, direction, access, protocol: '*', source, destination, sourcePorts: null, destinationPorts: null, description, isDefault: true, path: '' };
}

/** The six rules Azure creates in every NSG. */
export function azureDefaultRules(): NsgRule[] {
  const any: NsgAddress = { kind: 'any' };
  const vnet: NsgAddress = { kind: 'tag', tag: 'VirtualNetwork' };
  return [
    defaultRule('AllowVnetInBound', 65000, 'Inbound', 'Allow', vnet, vnet, 'Allow inbound traffic from all VMs in VNET'),
    defaultRule('AllowAzureLoadBalancerInBound', 65001, 'Inbound', 'Allow', { kind: 'tag', tag: 'AzureLoadBalancer' }, any, 'Allow inbound traffic from azure load balancer'),
    defaultRule('DenyAllInBound', 65500, 'Inbound', 'Deny', any, any, 'Deny all inbound traffic'),
    defaultRule('AllowVnetOutBound', 65000, 'Outbound', 'Allow', vnet, vnet, 'Allow outbound traffic from all VMs to all VMs in VNET'),
    defaultRule('AllowInternetOutBound', 65001, 'Outbound', 'Allow', any, { kind: 'tag', tag: 'Internet' }, 'Allow outbound traffic from all VMs to Internet'),
    defaultRule('DenyAllOutBound', 65500, 'Outbound', 'Deny', any, any, 'Deny all outbound traffic'),
  ];
}

// ─── Resource identity ─────────────────────────────────────────────────────────────────────

/** The resource's own reference: its `id`, else type + name (template resources, "vnet/subnet" child names). */
function selfRef(k: K8sChecker, top: Obj, type: string): { ref: ArmRef; name: string } | undefined {
  const name = k.string(top, 'name', '', 'the resource name', 'required: the resource name');
  const idRaw = k.get(top, 'id');
  if (name === undefined) return undefined;
  if (name.startsWith('[')) {
    k.invalid('name', `"${name}" is an ARM template expression; tapflow needs literal resource names`);
    return undefined;
  }
  if (idRaw !== undefined) {
    if (typeof idRaw !== 'string') {
      k.type('id', 'a string (the ARM resource id)', idRaw);
      return undefined;
    }
    const r = parseArmRef(idRaw);
    if (typeof r === 'string') {
      k.invalid('id', r);
      return undefined;
    }
    if (r.type !== type.toLowerCase()) {
      k.invalid('id', `the id names a ${r.type} resource; this is a ${type}`);
      return undefined;
    }
    if (r.names[r.names.length - 1] !== name.split('/').pop()?.toLowerCase()) {
      k.invalid('name', `"${name}" differs from the last segment of the id (${idRaw.split('/').pop()})`);
      return undefined;
    }
    return { ref: r, name: name.split('/').pop() as string };
  }
  const names = name.split('/');
  const depth = type.split('/').length - 1;
  if (names.length !== depth || names.some((n) => n === '')) {
    k.invalid('name', depth === 1 ? `"${name}" is not a plain resource name` : `"${name}": a ${type} resource without an id is named "<parent>/<name>"`);
    return undefined;
  }
  return { ref: { raw: name, id: null, type: type.toLowerCase(), names: names.map((n) => n.toLowerCase()) }, name: names[names.length - 1] };
}

function readRef(k: K8sChecker, o: Obj, key: string, at: string, expectType: string): ArmRef | null {
  const v = k.get(o, key);
  if (v === undefined) return null;
  const p = fieldPath(at, key);
  if (!isObj(v)) {
    k.type(p, 'an object {id}', v);
    return null;
  }
  const id = v.id;
  if (id === undefined || id === null || id === '') {
    k.missing(fieldPath(p, 'id'), `required: the ${expectType.split('/').pop()} resource id`);
    return null;
  }
  if (typeof id !== 'string') {
    k.type(fieldPath(p, 'id'), 'a string (an ARM resource id)', id);
    return null;
  }
  const r = parseArmRef(id);
  if (typeof r === 'string') {
    k.invalid(fieldPath(p, 'id'), r);
    return null;
  }
  if (r.type !== expectType.toLowerCase()) {
    k.invalid(fieldPath(p, 'id'), `expected a ${expectType} id; "${id}" is a ${r.type}`);
    return null;
  }
  return r;
}

function checkType(k: K8sChecker, top: Obj, type: string): void {
  const t = k.get(top, 'type');
  if (t === undefined) return; // a bare object passed to the validator directly
  if (typeof t !== 'string' || t.toLowerCase() !== type.toLowerCase()) {
    k.issues.add('type', ErrorCode.UNSUPPORTED_KIND, `expected type "${type}", got ${JSON.stringify(t)}`);
  }
}

function resourceGroupOf(top: Obj, ref: ArmRef): string {
  if (typeof top.resourceGroup === 'string' && top.resourceGroup !== '') return top.resourceGroup.toLowerCase();
  return groupOf(ref);
}

// ─── Network security group ──────────────────────────────────────────────────────────────────

/** Validate + normalize one security rule object at `path`. */
function checkRule(k: K8sChecker, v: unknown, path: string, isDefault: boolean): { rule: NsgRule; at: string } | undefined {
  if (!isObj(v)) {
    k.type(path, 'a security rule {name, properties: {priority, direction, access, protocol, ...}}', v);
    return undefined;
  }
  const flattened = !isObj(v.properties);
  const top = k.object(v, path, flattened ? [...RULE_TOP_FIELDS, ...RULE_PROP_FIELDS] : RULE_TOP_FIELDS);
  if (top === null) return undefined;
  const at = flattened ? path : fieldPath(path, 'properties');
  const o = flattened ? top : (k.object(top.properties, at, RULE_PROP_FIELDS) as Obj);
  const name = k.string(top, 'name', path, 'the rule name', 'required: the rule name (unique in the NSG)');
  if (name !== undefined && !ARM_RULE_NAME.test(name)) {
    k.invalid(fieldPath(path, 'name'), `"${name}" is not a valid rule name: 1-80 characters of letters, digits, '_', '.', '-', starting with a letter, digit or '_' and ending with a letter, digit or '_'`);
  }
  const pr = k.get(o, 'priority');
  let priority: number | undefined;
  const pp = fieldPath(at, 'priority');
  if (pr === undefined) k.missing(pp, 'required: the rule priority (100..4096; lower numbers are processed first)');
  else if (typeof pr !== 'number' || !Number.isInteger(pr)) k.type(pp, 'an integer 100..4096', pr);
  else if (!isDefault && (pr < 100 || pr > 4096)) k.invalid(pp, `${pr} is out of range; a security rule's priority is 100..4096 (65000 and up belong to the default rules)`);
  else if (isDefault && (pr < 100 || pr > 65500)) k.invalid(pp, `${pr} is out of range for a default rule (100..65500)`);
  else priority = pr;
  const direction = caseEnum(k, o, 'direction', at, NSG_DIRECTIONS, 'required: the traffic direction');
  const access = caseEnum(k, o, 'access', at, NSG_ACCESSES, 'required: what the rule does');
  const protocol = caseEnum(k, o, 'protocol', at, NSG_PROTOCOLS, 'required: the protocol', (x) => (x.toLowerCase() === 'any' ? 'write "*" for any protocol' : null));
  const source = readAddress(k, o, at, 'sourceAddressPrefix', 'sourceAddressPrefixes');
  const destination = readAddress(k, o, at, 'destinationAddressPrefix', 'destinationAddressPrefixes');
  const sourcePorts = readPorts(k, o, at, 'sourcePortRange', 'sourcePortRanges');
  const destinationPorts = readPorts(k, o, at, 'destinationPortRange', 'destinationPortRanges');
  for (const f of ['sourceApplicationSecurityGroups', 'destinationApplicationSecurityGroups']) {
    const asg = k.get(o, f);
    if (asg !== undefined && !(Array.isArray(asg) && asg.length === 0)) {
      k.invalid(fieldPath(at, f), 'application security groups are not supported: tapflow does not know which NICs are members; list their addresses in ' + (f.startsWith('source') ? 'sourceAddressPrefixes' : 'destinationAddressPrefixes'));
    }
  }
  const description = k.string(o, 'description', at, 'a description', null) ?? '';
  if (name === undefined || priority === undefined || direction === undefined || access === undefined || protocol === undefined ||
      source === undefined || destination === undefined || sourcePorts === undefined || destinationPorts === undefined) return undefined;
  return { rule: { name, priority, direction, access, protocol, source, destination, sourcePorts, destinationPorts, description, isDefault, path }, at };
}

/** Azure's per-NSG checks: unique rule names; unique priority per direction (the issue names both rules). */
function checkRuleSet(k: K8sChecker, rules: { rule: NsgRule; at: string }[]): void {
  const byName = new Map<string, NsgRule>();
  const byPrio = new Map<string, NsgRule>();
  for (const { rule: r, at } of rules) {
    const prevName = byName.get(r.name.toLowerCase());
    if (prevName !== undefined) k.dup(fieldPath(r.path, 'name'), `duplicate rule name "${r.name}" (also ${prevName.path})`);
    else byName.set(r.name.toLowerCase(), r);
    const key = `${r.direction}/${r.priority}`;
    const prev = byPrio.get(key);
    if (prev !== undefined) {
      k.dup(fieldPath(at, 'priority'), `rules "${prev.name}" (${prev.path}) and "${r.name}" (${r.path}) both have priority ${r.priority} in direction ${r.direction}; the priority must be unique per direction within an NSG`);
    } else byPrio.set(key, r);
  }
}

/** Validate + normalize a Microsoft.Network/networkSecurityGroups resource into `issues` (never throws). */
export function checkNetworkSecurityGroup(input: unknown, issues: Issues): NetworkSecurityGroup | undefined {
  const k = new K8sChecker(issues);
  if (!isObj(input)) {
    k.type('', `a ${NSG_ARM_TYPE} resource`, input);
    return undefined;
  }
  checkType(k, input, NSG_ARM_TYPE);
  const self = selfRef(k, input, NSG_ARM_TYPE);
  const { o, at } = propsOf(input);
  const checked: { rule: NsgRule; at: string }[] = [];
  const rulesPath = fieldPath(at, 'securityRules');
  k.list(o, 'securityRules', at, 'security rules', null)?.forEach((v, i) => {
    const r = checkRule(k, v, fieldPath(rulesPath, i), false);
    if (r !== undefined) checked.push(r);
  });
  checkRuleSet(k, checked);
  let defaultRules: NsgRule[];
  const defRaw = k.list(o, 'defaultSecurityRules', at, 'default security rules', null);
  if (defRaw === undefined || defRaw.length === 0) defaultRules = azureDefaultRules();
  else {
    const dchecked: { rule: NsgRule; at: string }[] = [];
    const dp = fieldPath(at, 'defaultSecurityRules');
    defRaw.forEach((v, i) => {
      const r = checkRule(k, v, fieldPath(dp, i), true);
      if (r !== undefined) dchecked.push(r);
    });
    checkRuleSet(k, dchecked);
    defaultRules = dchecked.map((x) => x.rule);
  }
  const rules = checked.map((x) => x.rule);
  if (self === undefined) return undefined;
  return { ref: self.ref, name: self.name, resourceGroup: resourceGroupOf(input, self.ref), rules, defaultRules };
}

/** Validate + normalize an NSG; throws ValidationError listing every problem. */
export function validateNetworkSecurityGroup(obj: unknown): NetworkSecurityGroup {
  const issues = new Issues();
  const r = checkNetworkSecurityGroup(obj, issues);
  issues.throwIfAny({ what: 'network security group' });
  return r as NetworkSecurityGroup;
}

// ─── Virtual network and subnets ─────────────────────────────────────────────────────────────

function readPrefixList(k: K8sChecker, o: Obj, single: string | null, plural: string, at: string, what: string, required: boolean): { c: CIDR; path: string }[] {
  const out: { c: CIDR; path: string }[] = [];
  const sv = single === null ? undefined : k.get(o, single);
  const pv = k.get(o, plural);
  const hasP = pv !== undefined && !(Array.isArray(pv) && pv.length === 0);
  const hasS = sv !== undefined && sv !== '';
  if (!hasS && !hasP) {
    if (required) k.missing(fieldPath(at, single ?? plural), `required: the ${what}${single !== null ? ` (${single} or ${plural})` : ''}`);
    return out;
  }
  const add = (v: unknown, p: string): void => {
    if (typeof v !== 'string') {
      k.type(p, 'a string (a CIDR like "10.0.0.0/24")', v);
      return;
    }
    const r = parseAddressPrefix(v.trim());
    if (!r.ok || !v.includes('/')) {
      k.invalid(p, r.ok ? `"${v}" is an address; expected a CIDR like "10.0.0.0/24"` : r.reason || `"${v}" is not a CIDR`);
      return;
    }
    if (out.some((x) => x.c.text === r.cidr.text)) {
      k.dup(p, `duplicate prefix ${r.cidr.text}`);
      return;
    }
    out.push({ c: r.cidr, path: p });
  };
  if (hasS && single !== null) add(sv, fieldPath(at, single));
  if (hasP) {
    if (!Array.isArray(pv)) k.type(fieldPath(at, plural), 'a list of CIDRs', pv);
    else pv.forEach((v, i) => add(v, fieldPath(fieldPath(at, plural), i)));
  }
  return out;
}

function checkSubnetBody(k: K8sChecker, v: unknown, path: string, vnetRef: ArmRef | null): Subnet | undefined {
  if (!isObj(v)) {
    k.type(path, 'a subnet {name, properties: {addressPrefix, networkSecurityGroup}}', v);
    return undefined;
  }
  const name = k.string(v, 'name', path, 'the subnet name', 'required: the subnet name');
  const { o, at: rel } = propsOf(v);
  const at = rel === '' ? path : fieldPath(path, rel);
  const prefixes = readPrefixList(k, o, 'addressPrefix', 'addressPrefixes', at, 'subnet\'s address prefix', true);
  const nsg = readRef(k, o, 'networkSecurityGroup', at, NSG_ARM_TYPE);
  const idRaw = k.get(v, 'id');
  let ref: ArmRef | undefined;
  if (typeof idRaw === 'string' && idRaw !== '') {
    const r = parseArmRef(idRaw);
    if (typeof r === 'string') k.invalid(fieldPath(path, 'id'), r);
    else if (r.type !== SUBNET_ARM_TYPE.toLowerCase()) k.invalid(fieldPath(path, 'id'), `expected a ${SUBNET_ARM_TYPE} id; "${idRaw}" is a ${r.type}`);
    else ref = r;
  } else if (vnetRef !== null && name !== undefined) {
    ref = {
      raw: `${vnetRef.raw}/subnets/${name}`,
      id: vnetRef.id === null ? null : `${vnetRef.id}/subnets/${name.toLowerCase()}`,
      type: SUBNET_ARM_TYPE.toLowerCase(),
      names: [...vnetRef.names, name.toLowerCase()],
    };
  }
  if (name === undefined || ref === undefined) return undefined;
  return { ref, name, addressPrefixes: prefixes.map((x) => x.c), networkSecurityGroup: nsg, path };
}

/** Validate + normalize a Microsoft.Network/virtualNetworks resource into `issues` (never throws). */
export function checkVirtualNetwork(input: unknown, issues: Issues): VirtualNetwork | undefined {
  const k = new K8sChecker(issues);
  if (!isObj(input)) {
    k.type('', `a ${VNET_ARM_TYPE} resource`, input);
    return undefined;
  }
  checkType(k, input, VNET_ARM_TYPE);
  const self = selfRef(k, input, VNET_ARM_TYPE);
  const { o, at } = propsOf(input);
  const asAt = fieldPath(at, 'addressSpace');
  const asRaw = k.get(o, 'addressSpace');
  let space: { c: CIDR; path: string }[] = [];
  if (asRaw === undefined) k.missing(asAt, 'required: addressSpace.addressPrefixes, the VNet\'s address space');
  else if (!isObj(asRaw)) k.type(asAt, 'an object {addressPrefixes}', asRaw);
  else {
    space = readPrefixList(k, asRaw, null, 'addressPrefixes', asAt, 'VNet address space', true);
    for (let i = 0; i < space.length; i++) {
      for (let j = 0; j < i; j++) {
        if (cidrOverlaps(space[i].c, space[j].c)) k.invalid(space[i].path, `${space[i].c.text} overlaps ${space[j].c.text} (${space[j].path}); a VNet's address prefixes must not overlap`);
      }
    }
  }
  const subnets: Subnet[] = [];
  const sp = fieldPath(at, 'subnets');
  k.list(o, 'subnets', at, 'subnets', null)?.forEach((v, i) => {
    const s = checkSubnetBody(k, v, fieldPath(sp, i), self?.ref ?? null);
    if (s === undefined) return;
    const prev = subnets.find((x) => x.name.toLowerCase() === s.name.toLowerCase());
    if (prev !== undefined) k.dup(fieldPath(s.path, 'name'), `duplicate subnet name "${s.name}" (also ${prev.path})`);
    s.addressPrefixes.forEach((c, j) => {
      const pth = subnetPrefixPath(v, s.path, j);
      if (space.length > 0 && !space.some((x) => x.c.family === c.family && x.c.len <= c.len && cidrContains(x.c, c.family === 4 ? { family: 4, v4: c.v4, text: '' } : { family: 6, v6: c.v6, text: '' }))) {
        k.invalid(pth, `${c.text} is not inside the VNet's address space (${space.map((x) => x.c.text).join(', ')})`);
      }
      for (const other of subnets) {
        for (const oc of other.addressPrefixes) if (cidrOverlaps(c, oc)) k.invalid(pth, `${c.text} overlaps subnet "${other.name}" (${oc.text}); subnets of a VNet must not overlap`);
      }
    });
    subnets.push(s);
  });
  const peered: CIDR[] = [];
  const pp = fieldPath(at, 'virtualNetworkPeerings');
  k.list(o, 'virtualNetworkPeerings', at, 'peerings', null)?.forEach((v, i) => {
    const p = fieldPath(pp, i);
    if (!isObj(v)) {
      k.type(p, 'a peering {name, properties: {remoteAddressSpace}}', v);
      return;
    }
    const { o: po, at: rel } = propsOf(v);
    const pat = rel === '' ? p : fieldPath(p, rel);
    const ras = k.get(po, 'remoteAddressSpace');
    if (ras === undefined) return;
    if (!isObj(ras)) {
      k.type(fieldPath(pat, 'remoteAddressSpace'), 'an object {addressPrefixes}', ras);
      return;
    }
    for (const x of readPrefixList(k, ras, null, 'addressPrefixes', fieldPath(pat, 'remoteAddressSpace'), 'peer address space', false)) {
      if (!peered.some((c) => c.text === x.c.text)) peered.push(x.c);
    }
  });
  if (self === undefined) return undefined;
  return { ref: self.ref, name: self.name, resourceGroup: resourceGroupOf(input, self.ref), addressPrefixes: space.map((x) => x.c), subnets, peeredPrefixes: peered };
}

function subnetPrefixPath(raw: unknown, path: string, j: number): string {
  const o = isObj(raw) && isObj(raw.properties) ? raw.properties : (raw as Obj);
  const at = isObj(raw) && isObj(raw.properties) ? fieldPath(path, 'properties') : path;
  const pl = o.addressPrefixes;
  if (Array.isArray(pl) && pl.length > 0) return fieldPath(fieldPath(at, 'addressPrefixes'), j);
  return fieldPath(at, 'addressPrefix');
}

export function validateVirtualNetwork(obj: unknown): VirtualNetwork {
  const issues = new Issues();
  const r = checkVirtualNetwork(obj, issues);
  issues.throwIfAny({ what: 'virtual network' });
  return r as VirtualNetwork;
}

/** Validate + normalize a standalone Microsoft.Network/virtualNetworks/subnets resource. */
export function checkSubnetResource(input: unknown, issues: Issues): SubnetResource | undefined {
  const k = new K8sChecker(issues);
  if (!isObj(input)) {
    k.type('', `a ${SUBNET_ARM_TYPE} resource`, input);
    return undefined;
  }
  checkType(k, input, SUBNET_ARM_TYPE);
  const self = selfRef(k, input, SUBNET_ARM_TYPE);
  if (self === undefined) return undefined;
  const vnet: ArmRef = {
    raw: self.ref.raw,
    id: self.ref.id === null ? null : self.ref.id.replace(/\/subnets\/[^/]+$/, ''),
    type: VNET_ARM_TYPE.toLowerCase(),
    names: self.ref.names.slice(0, 1),
  };
  const body = checkSubnetBody(k, { ...input, name: self.name }, '', vnet);
  if (body === undefined) return undefined;
  return { ...body, ref: self.ref, name: self.name, path: '', vnet };
}

// ─── Network interface ─────────────────────────────────────────────────────────────────────

/** Validate + normalize a Microsoft.Network/networkInterfaces resource into `issues` (never throws). */
export function checkNetworkInterface(input: unknown, issues: Issues): NetworkInterface | undefined {
  const k = new K8sChecker(issues);
  if (!isObj(input)) {
    k.type('', `a ${NIC_ARM_TYPE} resource`, input);
    return undefined;
  }
  checkType(k, input, NIC_ARM_TYPE);
  const self = selfRef(k, input, NIC_ARM_TYPE);
  const { o, at } = propsOf(input);
  const nsg = readRef(k, o, 'networkSecurityGroup', at, NSG_ARM_TYPE);
  const ipcs: NicIpConfiguration[] = [];
  const lp = fieldPath(at, 'ipConfigurations');
  const raw = k.list(o, 'ipConfigurations', at, 'IP configurations', 'required: the NIC\'s IP configurations');
  if (raw !== undefined && raw.length === 0) k.invalid(lp, 'a NIC has at least one IP configuration');
  raw?.forEach((v, i) => {
    const p = fieldPath(lp, i);
    if (!isObj(v)) {
      k.type(p, 'an IP configuration {name, properties: {privateIPAddress, subnet}}', v);
      return;
    }
    const name = k.string(v, 'name', p, 'the IP configuration name', 'required: the IP configuration name');
    const { o: io, at: rel } = propsOf(v);
    const ipAt = rel === '' ? p : fieldPath(p, rel);
    const ipRaw = k.get(io, 'privateIPAddress');
    let ip: IP | null = null;
    if (ipRaw !== undefined && ipRaw !== '') {
      ip = k.ip(ipRaw, fieldPath(ipAt, 'privateIPAddress')) ?? null;
      if (ip !== null) {
        for (const other of ipcs) {
          if (other.privateIPAddress !== null && other.privateIPAddress.text === ip.text) k.dup(fieldPath(ipAt, 'privateIPAddress'), `${ip.text} is also ${other.path}`);
        }
      }
    }
    const subnet = readRef(k, io, 'subnet', ipAt, SUBNET_ARM_TYPE);
    const primary = k.get(io, 'primary') === true;
    if (name !== undefined) ipcs.push({ name, privateIPAddress: ip, subnet, primary, path: p });
  });
  if (self === undefined) return undefined;
  return { ref: self.ref, name: self.name, resourceGroup: resourceGroupOf(input, self.ref), networkSecurityGroup: nsg, ipConfigurations: ipcs };
}

export function validateNetworkInterface(obj: unknown): NetworkInterface {
  const issues = new Issues();
  const r = checkNetworkInterface(obj, issues);
  issues.throwIfAny({ what: 'network interface' });
  return r as NetworkInterface;
}

// ─── Registration with the manifest loader ───────────────────────────────────────────────────

declare module './manifests' {
  interface KindMap {
    'Microsoft.Network/networkSecurityGroups': NetworkSecurityGroup;
    'Microsoft.Network/virtualNetworks': VirtualNetwork;
    'Microsoft.Network/virtualNetworks/subnets': SubnetResource;
    'Microsoft.Network/networkInterfaces': NetworkInterface;
  }
}

registerArmType(NSG_ARM_TYPE, checkNetworkSecurityGroup);
registerArmType(VNET_ARM_TYPE, checkVirtualNetwork);
registerArmType(SUBNET_ARM_TYPE, checkSubnetResource);
registerArmType(NIC_ARM_TYPE, checkNetworkInterface);
