/**
 * Shared Kubernetes object basics for the kinds tapflow reads (Service, EndpointSlice, Pod,
 * Namespace, and later NetworkPolicy/Ingress): ObjectMeta, label selectors, the name/label
 * syntax rules of k8s.io/apimachinery, and `K8sChecker`, the field reader every kind validator
 * uses (it collects Issues with kubectl-style paths, never throws).
 *
 * Tolerance: what `kubectl get -o yaml` prints (status, managedFields, uid, resourceVersion,
 * creationTimestamp, ownerReferences, finalizers, ...) is accepted; a field the schema does not
 * know is an UNKNOWN_FIELD issue naming its path. Explicit `null` means "absent", as in the API.
 */
import { ErrorCode, fieldPath } from './errors';
import { CIDR, IP, formatIPv4, formatIPv6, parseCIDR, parseIP } from './node-config';
import { FieldChecker, Obj, quote } from './checker';

export { FieldChecker, describeValue, isObj, oneOf, quote, suggest } from './checker';
export type { IntRule, Obj } from './checker';

// ─── Common enums ──────────────────────────────────────────────────────────────────────────

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** The top-level fields every k8s object may have (kinds without spec/status pass their own list). */
export const TOP_FIELDS: readonly string[] = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];

/** ObjectMeta fields (all tolerated; only name/namespace/labels/annotations/uid/... are kept). */
export const OBJECT_META_FIELDS: readonly string[] = [
  'name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation',
  'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations',
  'ownerReferences', 'finalizers', 'managedFields',
];

const OWNER_REF_FIELDS = ['apiVersion', 'kind', 'name', 'uid', 'controller', 'blockOwnerDeletion'];
export const OBJECT_REFERENCE_FIELDS: readonly string[] = ['kind', 'namespace', 'name', 'uid', 'apiVersion', 'resourceVersion', 'fieldPath'];

/** The key of an object in a DesiredState / a Manifest: `Kind/namespace/name` ("" namespace for cluster-scoped). */
export function objectKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

// ─── Name and label syntax (k8s.io/apimachinery/pkg/util/validation) ───────────────────────

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Why `s` is not a DNS-1123 label (lower case alphanumerics and '-', ≤63), or null. */
export function dns1123LabelProblem(s: string): string | null {
  if (s.length === 0) return 'must not be empty';
  if (s.length > 63) return `${quote(s)} is ${s.length} characters; a DNS-1123 label has at most 63`;
  if (!DNS1123_LABEL.test(s)) return `${quote(s)} is not a DNS-1123 label (lower case a-z, 0-9 and '-', starting and ending with an alphanumeric character)`;
  return null;
}

/** Why `s` is not a DNS-1123 subdomain (labels joined by '.', ≤253), or null. */
export function dns1123SubdomainProblem(s: string): string | null {
  if (s.length === 0) return 'must not be empty';
  if (s.length > 253) return `${quote(s)} is ${s.length} characters; a DNS-1123 subdomain has at most 253`;
  if (!DNS1123_SUBDOMAIN.test(s)) return `${quote(s)} is not a DNS-1123 subdomain (lower case a-z, 0-9, '-' and '.', starting and ending with an alphanumeric character)`;
  return null;
}

/** Why `s` is not a DNS-1035 label (like DNS-1123 but starting with a letter; Service names), or null. */
export function dns1035LabelProblem(s: string): string | null {
  if (s.length === 0) return 'must not be empty';
  if (s.length > 63) return `${quote(s)} is ${s.length} characters; a DNS-1035 label has at most 63`;
  if (!DNS1035_LABEL.test(s)) return `${quote(s)} is not a DNS-1035 label (lower case a-z, 0-9 and '-', starting with a letter and ending with an alphanumeric character)`;
  return null;
}

/** Why `s` is not a qualified name (`[prefix/]name`: label keys, annotation keys, appProtocol), or null. */
export function qualifiedNameProblem(s: string): string | null {
  if (s.length === 0) return 'must not be empty';
  const parts = s.split('/');
  let name = s;
  if (parts.length > 2) return `${quote(s)} is not a qualified name: at most one '/' (prefix/name)`;
  if (parts.length === 2) {
    const [prefix, n] = parts;
    if (prefix.length === 0) return `${quote(s)} is not a qualified name: the prefix before '/' must not be empty`;
    const p = dns1123SubdomainProblem(prefix);
    if (p !== null) return `${quote(s)} is not a qualified name: the prefix ${quote(prefix)} must be a DNS-1123 subdomain`;
    name = n;
  }
  if (name.length === 0) return `${quote(s)} is not a qualified name: the name part must not be empty`;
  if (name.length > 63) return `${quote(s)} is not a qualified name: the name part must be at most 63 characters`;
  if (!QUALIFIED_NAME_PART.test(name)) return `${quote(s)} is not a qualified name: the name part must consist of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`;
  return null;
}

/** Why `s` is not a label value (empty, or ≤63 alphanumerics, '-', '_', '.', alphanumeric at both ends), or null. */
export function labelValueProblem(s: string): string | null {
  if (s.length > 63) return `${quote(s)} is ${s.length} characters; a label value has at most 63`;
  if (!LABEL_VALUE.test(s)) return `${quote(s)} is not a valid label value (alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric)`;
  return null;
}

/** Why `s` is not an IANA_SVC_NAME (named ports: 1-15 of a-z 0-9 '-', at least one letter, no '--', no '-' at the ends), or null. */
export function portNameProblem(s: string): string | null {
  if (s.length === 0) return 'must not be empty';
  if (s.length > 15) return `${quote(s)} is ${s.length} characters; a port name (IANA_SVC_NAME) has at most 15`;
  if (!/^[-a-z0-9]+$/.test(s)) return `${quote(s)} is not a valid port name: only lower case a-z, 0-9 and '-' are allowed`;
  if (!/[a-z]/.test(s)) return `${quote(s)} is not a valid port name: it must contain at least one letter (a number must be written without quotes)`;
  if (s.includes('--')) return `${quote(s)} is not a valid port name: '-' must not be adjacent to another '-'`;
  if (s.startsWith('-') || s.endsWith('-')) return `${quote(s)} is not a valid port name: must not begin or end with '-'`;
  return null;
}

/**
 * Why `ip` cannot be an externally meaningful address (apimachinery ValidateNonSpecialIP: used for
 * externalIPs and endpoint addresses), or null.
 */
export function specialIPProblem(ip: IP): string | null {
  if (ip.family === 4) {
    const a = ip.v4 >>> 24;
    const b = (ip.v4 >>> 16) & 255;
    if (ip.v4 === 0) return 'is the unspecified address';
    if (a === 127) return 'is a loopback address';
    if (a === 169 && b === 254) return 'is a link-local address (169.254.0.0/16)';
    if (ip.v4 >>> 8 === 0xe00000) return 'is a link-local multicast address (224.0.0.0/24)';
    return null;
  }
  const x = ip.v6;
  const zeroTo15 = x.slice(0, 15).every((v) => v === 0);
  if (zeroTo15 && x[15] === 0) return 'is the unspecified address';
  if (zeroTo15 && x[15] === 1) return 'is the loopback address';
  if (x[0] === 0xfe && (x[1] & 0xc0) === 0x80) return 'is a link-local address (fe80::/10)';
  if (x[0] === 0xff && (x[1] & 0x0f) === 0x02) return 'is a link-local multicast address (ff02::/16)';
  return null;
}

/**
 * A CIDR the way the API server reads them (netutils.ParseCIDRSloppy): host bits may be set and
 * are cleared ("10.1.2.3/8" → 10.0.0.0/8). Surrounding whitespace is trimmed. Null when invalid.
 */
export function parseCIDRLoose(s: string): CIDR | null {
  const t = s.trim();
  const slash = t.indexOf('/');
  if (slash < 0) return null;
  const ip = parseIP(t.slice(0, slash));
  const lenText = t.slice(slash + 1);
  if (ip === null || !/^(0|[1-9][0-9]{0,2})$/.test(lenText)) return null;
  const len = Number(lenText);
  if (len > (ip.family === 4 ? 32 : 128)) return null;
  if (ip.family === 4) {
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    return parseCIDR(`${formatIPv4((ip.v4 & mask) >>> 0)}/${len}`);
  }
  const net = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const bits = Math.min(8, Math.max(0, len - 8 * i));
    net[i] = ip.v6[i] & ((0xff00 >> bits) & 0xff);
  }
  return parseCIDR(`${formatIPv6(net)}/${len}`);
}

// ─── The field reader ──────────────────────────────────────────────────────────────────────

/** The Kubernetes kinds' field reader: FieldChecker plus ports, protocols, labels, annotations, addresses and names. */
export class K8sChecker extends FieldChecker {
  /** A port number 1..65535. */
  port(o: Obj, key: string, path: string, required: string | null): number | undefined {
    return this.int(o, key, path, { min: 1, max: 65535, what: 'a port number' }, required);
  }

  /** Protocol (TCP default; "" is the default too). */
  protocol(o: Obj, key: string, path: string): Protocol {
    return this.enumOf(o, key, path, PROTOCOLS, null, true) ?? 'TCP';
  }

  /** Labels (or a map selector): qualified-name keys, label values. */
  labels(v: unknown, path: string): Record<string, string> {
    const m = this.stringMap(v, path);
    for (const [key, val] of Object.entries(m)) {
      const kp = qualifiedNameProblem(key);
      if (kp !== null) {
        this.invalid(fieldPath(path, key), `label key ${kp}`);
        delete m[key];
        continue;
      }
      const vp = labelValueProblem(val);
      if (vp !== null) {
        this.invalid(fieldPath(path, key), vp);
        delete m[key];
      }
    }
    return m;
  }

  /** Annotations: qualified-name keys (lower-cased, as the API checks them), at most 256 KiB in total. */
  annotations(v: unknown, path: string): Record<string, string> {
    const m = this.stringMap(v, path);
    let size = 0;
    for (const [key, val] of Object.entries(m)) {
      size += key.length + val.length;
      const kp = qualifiedNameProblem(key.toLowerCase());
      if (kp !== null) this.invalid(fieldPath(path, key), `annotation key ${kp}`);
    }
    if (size > 256 * 1024) this.invalid(path, `annotations total ${size} bytes; at most 262144 (256 KiB) are allowed`);
    return m;
  }

  /** One IP address; `special` = also reject unspecified/loopback/link-local (ValidateNonSpecialIP). */
  ip(v: unknown, path: string, opts: { family?: 4 | 6; special?: boolean } = {}): IP | undefined {
    const fam = opts.family === undefined ? 'IPv4 or IPv6' : `IPv${opts.family}`;
    if (typeof v !== 'string') {
      this.type(path, `a string (an ${fam} address)`, v);
      return undefined;
    }
    const ip = parseIP(v);
    if (ip === null) {
      this.invalid(path, v.includes('/') ? `"${v}" is a CIDR; expected a single ${fam} address` : `"${v}" is not a valid ${fam} address`);
      return undefined;
    }
    if (opts.family !== undefined && ip.family !== opts.family) {
      this.invalid(path, `"${v}" is an IPv${ip.family} address; expected IPv${opts.family}`);
      return undefined;
    }
    if (opts.special === true) {
      const bad = specialIPProblem(ip);
      if (bad !== null) {
        this.invalid(path, `"${v}" ${bad}; not allowed here`);
        return undefined;
      }
    }
    return ip;
  }

  /** A CIDR read the API server's way (host bits cleared, whitespace trimmed). */
  cidr(v: unknown, path: string): CIDR | undefined {
    if (typeof v !== 'string') {
      this.type(path, 'a string (a CIDR like "10.0.0.0/16")', v);
      return undefined;
    }
    const c = parseCIDRLoose(v);
    if (c === null) {
      this.invalid(path, `"${v}" is not a valid CIDR; expected address/length like "203.0.113.0/24" or "2001:db8::/48"`);
      return undefined;
    }
    return c;
  }

  /** A name-rule check on a string value at `path`; returns the value when valid. */
  name(v: string, path: string, rule: (s: string) => string | null, prefix = ''): string | undefined {
    const p = rule(v);
    if (p !== null) {
      this.invalid(path, prefix + p);
      return undefined;
    }
    return v;
  }
}

// ─── ObjectMeta ────────────────────────────────────────────────────────────────────────────

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: boolean;
}

/** An ObjectReference (EndpointSlice targetRef, ...). Absent strings are "". */
export interface ObjectReference {
  kind: string;
  namespace: string;
  name: string;
  uid: string;
  apiVersion: string;
  resourceVersion: string;
  fieldPath: string;
}

/** Normalized metadata. `namespace` is "default" when absent on namespaced kinds, "" on cluster-scoped ones. */
export interface ObjectMeta {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Server-set fields, kept when present (null otherwise). */
  uid: string | null;
  resourceVersion: string | null;
  generation: number | null;
  creationTimestamp: string | null;
  deletionTimestamp: string | null;
  ownerReferences: OwnerReference[];
}

export type NameRule = 'dns1123-label' | 'dns1123-subdomain' | 'dns1035-label';

const NAME_RULES: Record<NameRule, (s: string) => string | null> = {
  'dns1123-label': dns1123LabelProblem,
  'dns1123-subdomain': dns1123SubdomainProblem,
  'dns1035-label': dns1035LabelProblem,
};

/**
 * Read `metadata` (required, with a name). Every ObjectMeta field is tolerated; unknown ones are
 * UNKNOWN_FIELD. `namespaced`: namespace defaults to "default" (and must be a DNS-1123 label);
 * cluster-scoped kinds must not set one.
 */
export function checkObjectMeta(k: K8sChecker, top: Obj, opts: { kind: string; namespaced: boolean; nameRule: NameRule }): ObjectMeta {
  const meta: ObjectMeta = {
    name: '',
    namespace: opts.namespaced ? 'default' : '',
    labels: {},
    annotations: {},
    uid: null,
    resourceVersion: null,
    generation: null,
    creationTimestamp: null,
    deletionTimestamp: null,
    ownerReferences: [],
  };
  const raw = k.get(top, 'metadata');
  if (raw === undefined) {
    k.missing('metadata', `required: metadata.name names the ${opts.kind}`);
    return meta;
  }
  const m = k.object(raw, 'metadata', OBJECT_META_FIELDS, 'an object (ObjectMeta: name, namespace, labels, ...)');
  if (m === null) return meta;
  const name = k.string(m, 'name', 'metadata', 'the object name', `required: the ${opts.kind} name${k.get(m, 'generateName') !== undefined ? ' (generateName is not enough: desired state needs a fixed name)' : ''}`);
  if (name !== undefined) meta.name = k.name(name, 'metadata.name', NAME_RULES[opts.nameRule], `${opts.kind} name: `) ?? '';
  const ns = k.string(m, 'namespace', 'metadata', 'a namespace name', null, true);
  if (ns !== undefined) {
    if (!opts.namespaced) k.invalid('metadata.namespace', `${opts.kind} is cluster-scoped; metadata.namespace must not be set`);
    else meta.namespace = k.name(ns, 'metadata.namespace', dns1123LabelProblem) ?? meta.namespace;
  }
  meta.labels = k.labels(k.get(m, 'labels'), 'metadata.labels');
  meta.annotations = k.annotations(k.get(m, 'annotations'), 'metadata.annotations');
  meta.uid = k.string(m, 'uid', 'metadata', 'a UID', null) ?? null;
  meta.resourceVersion = k.string(m, 'resourceVersion', 'metadata', 'an opaque version string', null) ?? null;
  const gen = k.get(m, 'generation');
  if (gen !== undefined) meta.generation = k.intValue(gen, 'metadata.generation', { min: 0, max: Number.MAX_SAFE_INTEGER }) ?? null;
  meta.creationTimestamp = k.string(m, 'creationTimestamp', 'metadata', 'an RFC 3339 time', null) ?? null;
  meta.deletionTimestamp = k.string(m, 'deletionTimestamp', 'metadata', 'an RFC 3339 time', null) ?? null;
  const owners = k.list(m, 'ownerReferences', 'metadata', 'owner references', null);
  owners?.forEach((v, i) => {
    const p = fieldPath('metadata.ownerReferences', i);
    const o = k.object(v, p, OWNER_REF_FIELDS, 'an owner reference {apiVersion, kind, name, uid}');
    if (o === null) return;
    meta.ownerReferences.push({
      apiVersion: k.string(o, 'apiVersion', p, 'an apiVersion', null) ?? '',
      kind: k.string(o, 'kind', p, 'a kind', null) ?? '',
      name: k.string(o, 'name', p, 'a name', null) ?? '',
      uid: k.string(o, 'uid', p, 'a UID', null) ?? '',
      controller: k.bool(o, 'controller', p, false),
    });
  });
  const fin = k.get(m, 'finalizers');
  if (fin !== undefined && !Array.isArray(fin)) k.type('metadata.finalizers', 'a list of strings', fin);
  const mf = k.get(m, 'managedFields');
  if (mf !== undefined && !Array.isArray(mf)) k.type('metadata.managedFields', 'a list', mf);
  return meta;
}

/** Check apiVersion and kind against the expected values (UNSUPPORTED_KIND when they differ). */
export function checkTypeMeta(k: K8sChecker, top: Obj, apiVersion: string, kind: string): void {
  const av = k.string(top, 'apiVersion', '', 'apiVersion', `required: "${apiVersion}"`);
  if (av !== undefined && av !== apiVersion) {
    k.issues.add('apiVersion', ErrorCode.UNSUPPORTED_KIND, `unsupported apiVersion "${av}" for ${kind}; this build reads "${apiVersion}"`);
  }
  const kd = k.string(top, 'kind', '', 'kind', `required: "${kind}"`);
  if (kd !== undefined && kd !== kind) k.issues.add('kind', ErrorCode.UNSUPPORTED_KIND, `unexpected kind "${kd}"; expected "${kind}"`);
}

/** Read an ObjectReference (targetRef); null when absent. */
export function checkObjectReference(k: K8sChecker, v: unknown, path: string): ObjectReference | null {
  if (v === undefined || v === null) return null;
  const o = k.object(v, path, OBJECT_REFERENCE_FIELDS, 'an object reference {kind, namespace, name, uid}');
  if (o === null) return null;
  const s = (key: string): string => k.string(o, key, path, key, null) ?? '';
  return { kind: s('kind'), namespace: s('namespace'), name: s('name'), uid: s('uid'), apiVersion: s('apiVersion'), resourceVersion: s('resourceVersion'), fieldPath: s('fieldPath') };
}

// ─── Label selectors ───────────────────────────────────────────────────────────────────────

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
export const SELECTOR_OPERATORS: readonly SelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

export interface LabelSelectorRequirement {
  key: string;
  operator: SelectorOperator;
  /** Non-empty for In/NotIn, empty for Exists/DoesNotExist. */
  values: string[];
}

/** metav1.LabelSelector. An empty selector (no labels, no expressions) matches every object. */
export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: LabelSelectorRequirement[];
}

const SELECTOR_FIELDS = ['matchLabels', 'matchExpressions'];
const REQUIREMENT_FIELDS = ['key', 'operator', 'values'];

/**
 * Read a metav1.LabelSelector at `path`. Returns null when absent (callers decide what a missing
 * selector means: NetworkPolicy's podSelector is required, a peer's namespaceSelector optional).
 */
export function checkLabelSelector(k: K8sChecker, v: unknown, path: string): LabelSelector | null {
  if (v === undefined || v === null) return null;
  const o = k.object(v, path, SELECTOR_FIELDS, 'a label selector {matchLabels, matchExpressions}');
  if (o === null) return null;
  const sel: LabelSelector = { matchLabels: k.labels(k.get(o, 'matchLabels'), fieldPath(path, 'matchLabels')), matchExpressions: [] };
  const ep = fieldPath(path, 'matchExpressions');
  k.list(o, 'matchExpressions', path, 'requirements {key, operator, values}', null)?.forEach((rv, i) => {
    const p = fieldPath(ep, i);
    const r = k.object(rv, p, REQUIREMENT_FIELDS, 'a requirement {key, operator, values}');
    if (r === null) return;
    const key = k.string(r, 'key', p, 'a label key', 'required: the label key');
    if (key !== undefined) k.name(key, fieldPath(p, 'key'), qualifiedNameProblem, 'label key ');
    const op = k.enumOf(r, 'operator', p, SELECTOR_OPERATORS, 'required: the operator');
    const values = k.stringList(r, 'values', p, 'a label value');
    const vp = fieldPath(p, 'values');
    if (op === 'In' || op === 'NotIn') {
      if (values.length === 0) k.missing(vp, `required: operator ${op} needs at least one value`);
      values.forEach((x, j) => k.name(x, fieldPath(vp, j), labelValueProblem));
    } else if (op !== undefined && values.length > 0) {
      k.invalid(vp, `must be empty when operator is ${op}`);
    }
    if (key !== undefined && op !== undefined) sel.matchExpressions.push({ key, operator: op, values });
  });
  return sel;
}

/** A map selector (Service.spec.selector): every pair must be present in `labels`. An empty map matches everything. */
export function mapSelectorMatches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  for (const key in selector) {
    if (!Object.prototype.hasOwnProperty.call(labels, key) || labels[key] !== selector[key]) return false;
  }
  return true;
}

/** metav1.LabelSelector semantics (ANDed matchLabels and matchExpressions; empty matches everything). */
export function selectorMatches(sel: LabelSelector, labels: Record<string, string>): boolean {
  if (!mapSelectorMatches(sel.matchLabels, labels)) return false;
  for (const r of sel.matchExpressions) {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    switch (r.operator) {
      case 'In':
        if (!has || !r.values.includes(labels[r.key])) return false;
        break;
      case 'NotIn':
        if (has && r.values.includes(labels[r.key])) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** True when a selector has no terms (matches every object). */
export function isEmptySelector(sel: LabelSelector): boolean {
  return Object.keys(sel.matchLabels).length === 0 && sel.matchExpressions.length === 0;
}
