/**
 * EndpointSlice (discovery.k8s.io/v1) — validation and normalization with the API defaults
 * applied: protocol TCP; conditions ready nil → true, serving nil → ready, terminating nil → false.
 *
 * A slice belongs to the Service named by its `kubernetes.io/service-name` label (same
 * namespace); tapflow requires that label, since an unassociated slice programs nothing.
 * EndpointSlices have no spec: addressType, endpoints and ports sit at the top level.
 */
import { Issues, fieldPath } from './errors';
import { IP } from './node-config';
import {
  K8sChecker, ObjectMeta, ObjectReference, Protocol, checkObjectMeta, checkObjectReference, checkTypeMeta,
  dns1035LabelProblem, dns1123LabelProblem, dns1123SubdomainProblem, qualifiedNameProblem,
} from './k8s';

export const ENDPOINT_SLICE_API_VERSION = 'discovery.k8s.io/v1';
export const ENDPOINT_SLICE_KIND = 'EndpointSlice';
/** The label that ties a slice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** The label naming the controller that manages a slice. */
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';

export const MAX_ENDPOINTS_PER_SLICE = 1000;
export const MAX_ADDRESSES_PER_ENDPOINT = 100;
export const MAX_PORTS_PER_SLICE = 20000;

export type AddressType = 'IPv4' | 'IPv6' | 'FQDN';
export const ADDRESS_TYPES: readonly AddressType[] = ['IPv4', 'IPv6', 'FQDN'];

export interface EndpointConditions {
  /** nil → true. */
  ready: boolean;
  /** nil → same as ready. */
  serving: boolean;
  /** nil → false. */
  terminating: boolean;
}

export interface Endpoint {
  /** As written for FQDN; canonical IP text for IPv4/IPv6. 1..100 entries; consumers (kube-proxy) use addresses[0]. */
  addresses: string[];
  /** Parsed addresses (same order); [] for FQDN slices. */
  ips: IP[];
  conditions: EndpointConditions;
  hostname: string | null;
  nodeName: string | null;
  zone: string | null;
  targetRef: ObjectReference | null;
  /** Topology hints; null when absent. */
  hints: { forZones: string[]; forNodes: string[] } | null;
}

export interface EndpointPort {
  /** "" allowed (the service port's name when that one is unnamed). */
  name: string;
  /** null = not restricted ("all ports"), as the API documents a nil port. */
  port: number | null;
  protocol: Protocol;
  appProtocol: string | null;
}

export interface EndpointSlice {
  apiVersion: typeof ENDPOINT_SLICE_API_VERSION;
  kind: typeof ENDPOINT_SLICE_KIND;
  metadata: ObjectMeta;
  /** metadata.labels["kubernetes.io/service-name"]: the Service (in metadata.namespace) this slice belongs to. */
  serviceName: string;
  addressType: AddressType;
  endpoints: Endpoint[];
  ports: EndpointPort[];
}

const TOP = ['apiVersion', 'kind', 'metadata', 'addressType', 'endpoints', 'ports'];
const ENDPOINT_FIELDS = ['addresses', 'conditions', 'hostname', 'targetRef', 'deprecatedTopology', 'nodeName', 'zone', 'hints'];
const CONDITION_FIELDS = ['ready', 'serving', 'terminating'];
const HINT_FIELDS = ['forZones', 'forNodes'];
const PORT_FIELDS = ['name', 'protocol', 'port', 'appProtocol'];

/** Validate + normalize a decoded EndpointSlice; throws ValidationError listing every problem. */
export function validateEndpointSlice(obj: unknown): EndpointSlice {
  const issues = new Issues();
  const es = checkEndpointSlice(obj, issues);
  issues.throwIfAny({ what: 'EndpointSlice' });
  return es as EndpointSlice;
}

/** Validate + normalize into `issues` (never throws); meaningful only when no issue was added. */
export function checkEndpointSlice(input: unknown, issues: Issues): EndpointSlice | undefined {
  const k = new K8sChecker(issues);
  const top = k.object(input, '', TOP, 'an EndpointSlice object (apiVersion, kind, metadata, addressType, endpoints, ports)');
  if (top === null) return undefined;
  checkTypeMeta(k, top, ENDPOINT_SLICE_API_VERSION, ENDPOINT_SLICE_KIND);
  const metadata = checkObjectMeta(k, top, { kind: ENDPOINT_SLICE_KIND, namespaced: true, nameRule: 'dns1123-subdomain' });

  const labelPath = fieldPath('metadata.labels', SERVICE_NAME_LABEL);
  let serviceName = '';
  const sn = metadata.labels[SERVICE_NAME_LABEL];
  if (sn === undefined || sn === '') {
    k.missing(labelPath, `required: the ${SERVICE_NAME_LABEL} label names the Service this slice belongs to`);
  } else serviceName = k.name(sn, labelPath, dns1035LabelProblem, 'Service name: ') ?? '';

  const addressType = k.enumOf(top, 'addressType', '', ADDRESS_TYPES, 'required: the type of every address in this slice');

  // endpoints
  const endpoints: Endpoint[] = [];
  const epRaw = k.list(top, 'endpoints', '', 'endpoints {addresses, conditions, nodeName, ...}', null);
  if (epRaw !== undefined && epRaw.length > MAX_ENDPOINTS_PER_SLICE) k.invalid('endpoints', `${epRaw.length} endpoints; a slice holds at most ${MAX_ENDPOINTS_PER_SLICE}`);
  epRaw?.forEach((v, i) => {
    const p = fieldPath('endpoints', i);
    const o = k.object(v, p, ENDPOINT_FIELDS, 'an endpoint {addresses, conditions, nodeName, ...}');
    if (o === null) return;
    const before = issues.length;
    const ap = fieldPath(p, 'addresses');
    const addrRaw = k.list(o, 'addresses', p, 'addresses', 'required: 1..100 addresses');
    if (addrRaw !== undefined && addrRaw.length === 0) k.invalid(ap, 'must contain at least 1 address');
    if (addrRaw !== undefined && addrRaw.length > MAX_ADDRESSES_PER_ENDPOINT) k.invalid(ap, `${addrRaw.length} addresses; an endpoint holds at most ${MAX_ADDRESSES_PER_ENDPOINT}`);
    const addresses: string[] = [];
    const ips: IP[] = [];
    addrRaw?.forEach((a, j) => {
      const aPath = fieldPath(ap, j);
      if (addressType === undefined) {
        if (typeof a !== 'string') k.type(aPath, 'a string (an address)', a);
        return;
      }
      if (addressType === 'FQDN') {
        if (typeof a !== 'string') k.type(aPath, 'a string (a DNS name)', a);
        else if (k.name(a, aPath, dns1123SubdomainProblem) !== undefined) addresses.push(a);
        return;
      }
      const ip = k.ip(a, aPath, { family: addressType === 'IPv4' ? 4 : 6, special: true });
      if (ip !== undefined) {
        addresses.push(ip.text);
        ips.push(ip);
      }
    });

    // conditions (API defaults)
    let ready: boolean | undefined;
    let serving: boolean | undefined;
    let terminating: boolean | undefined;
    const cRaw = k.get(o, 'conditions');
    if (cRaw !== undefined) {
      const cp = fieldPath(p, 'conditions');
      const c = k.object(cRaw, cp, CONDITION_FIELDS, 'an object {ready, serving, terminating}');
      if (c !== null) {
        ready = k.optBool(c, 'ready', cp);
        serving = k.optBool(c, 'serving', cp);
        terminating = k.optBool(c, 'terminating', cp);
      }
    }
    const r = ready ?? true;
    const conditions: EndpointConditions = { ready: r, serving: serving ?? r, terminating: terminating ?? false };

    const str = (key: string, what: string, rule: (s: string) => string | null): string | null => {
      const x = k.string(o, key, p, what, null, true);
      return x === undefined ? null : k.name(x, fieldPath(p, key), rule) ?? null;
    };
    const hostname = str('hostname', 'a DNS-1123 label', dns1123LabelProblem);
    const nodeName = str('nodeName', 'a node name', dns1123SubdomainProblem);
    const zone = k.string(o, 'zone', p, 'a zone name', null, true) ?? null;
    const targetRef = checkObjectReference(k, k.get(o, 'targetRef'), fieldPath(p, 'targetRef'));
    const dt = k.get(o, 'deprecatedTopology');
    if (dt !== undefined) k.stringMap(dt, fieldPath(p, 'deprecatedTopology'));
    let hints: Endpoint['hints'] = null;
    const hRaw = k.get(o, 'hints');
    if (hRaw !== undefined) {
      const hp = fieldPath(p, 'hints');
      const h = k.object(hRaw, hp, HINT_FIELDS, 'an object {forZones, forNodes}');
      if (h !== null) hints = { forZones: hintNames(k, h, 'forZones', hp), forNodes: hintNames(k, h, 'forNodes', hp) };
    }
    if (issues.length === before) endpoints.push({ addresses, ips, conditions, hostname, nodeName, zone, targetRef, hints });
  });

  // ports
  const ports: EndpointPort[] = [];
  const pRaw = k.list(top, 'ports', '', 'ports {name, port, protocol}', null);
  if (pRaw !== undefined && pRaw.length > MAX_PORTS_PER_SLICE) k.invalid('ports', `${pRaw.length} ports; a slice holds at most ${MAX_PORTS_PER_SLICE}`);
  const names = new Map<string, number>();
  pRaw?.forEach((v, i) => {
    const p = fieldPath('ports', i);
    const o = k.object(v, p, PORT_FIELDS, 'a port {name, port, protocol, appProtocol}');
    if (o === null) return;
    const before = issues.length;
    const name = k.string(o, 'name', p, 'a DNS-1123 label or ""', null) ?? '';
    if (name !== '') k.name(name, fieldPath(p, 'name'), dns1123LabelProblem, 'port name: ');
    const prev = names.get(name);
    if (prev !== undefined) k.dup(fieldPath(p, 'name'), `duplicate port name "${name}" (also ports[${prev}].name)`);
    else names.set(name, i);
    const protocol = k.protocol(o, 'protocol', p);
    const port = k.port(o, 'port', p, null) ?? null;
    const ap = k.string(o, 'appProtocol', p, 'a qualified name', null);
    const appProtocol = ap === undefined ? null : k.name(ap, fieldPath(p, 'appProtocol'), qualifiedNameProblem) ?? null;
    if (issues.length === before) ports.push({ name, port, protocol, appProtocol });
  });

  return {
    apiVersion: ENDPOINT_SLICE_API_VERSION,
    kind: ENDPOINT_SLICE_KIND,
    metadata,
    serviceName,
    addressType: addressType ?? 'IPv4',
    endpoints,
    ports,
  };
}

function hintNames(k: K8sChecker, h: Record<string, unknown>, key: string, path: string): string[] {
  const out: string[] = [];
  k.list(h, key, path, '{name} objects', null)?.forEach((v, i) => {
    const p = fieldPath(fieldPath(path, key), i);
    const o = k.object(v, p, ['name'], 'an object {name}');
    if (o === null) return;
    const n = k.string(o, 'name', p, 'a name', 'required');
    if (n !== undefined) out.push(n);
  });
  return out;
}
