/**
 * Service (v1) — validation and normalization with the API server's defaults applied
 * (SetDefaults_Service + the registry's clusterIP/ipFamily handling + ValidateService rules).
 *
 * Field names are Kubernetes' own. Addresses come pre-parsed (IP/CIDR from node-config.ts), so
 * the service compiler never parses text. Annotations that change data-plane behaviour are read
 * here too: the load-balancer source ranges annotation, Azure's internal-LB annotation, and
 * tapflow's health-probe annotation.
 */
import { Issues, fieldPath } from './errors';
import { CIDR, IP, parseIP } from './node-config';
import {
  K8sChecker, ObjectMeta, Obj, Protocol, TOP_FIELDS, checkObjectMeta, checkTypeMeta, dns1123LabelProblem,
  dns1123SubdomainProblem, isObj, parseCIDRLoose, portNameProblem, qualifiedNameProblem,
} from './k8s';

export const SERVICE_API_VERSION = 'v1';
export const SERVICE_KIND = 'Service';

/** Annotation: comma-separated CIDRs, used when spec.loadBalancerSourceRanges is empty. */
export const LB_SOURCE_RANGES_ANNOTATION = 'service.beta.kubernetes.io/load-balancer-source-ranges';
/** Azure cloud provider: "true" makes a LoadBalancer service internal (VNet-only frontend). */
export const AZURE_INTERNAL_LB_ANNOTATION = 'service.beta.kubernetes.io/azure-load-balancer-internal';
/** tapflow: a JSON health probe for the service's backends. */
export const HEALTH_PROBE_ANNOTATION = 'tapflow.dev/health-probe';

/** Longest ClientIP affinity the API allows (1 day), and its default (3 hours). */
export const MAX_CLIENT_IP_AFFINITY_SECONDS = 86400;
export const DEFAULT_CLIENT_IP_AFFINITY_SECONDS = 10800;

export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
export type IPFamily = 'IPv4' | 'IPv6';
export type IPFamilyPolicy = 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
export type SessionAffinity = 'None' | 'ClientIP';
export type TrafficPolicy = 'Cluster' | 'Local';
export type TrafficDistribution = 'PreferClose' | 'PreferSameZone' | 'PreferSameNode';
export type LoadBalancerIPMode = 'VIP' | 'Proxy';

export const SERVICE_TYPES: readonly ServiceType[] = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
export const IP_FAMILIES: readonly IPFamily[] = ['IPv4', 'IPv6'];
export const IP_FAMILY_POLICIES: readonly IPFamilyPolicy[] = ['SingleStack', 'PreferDualStack', 'RequireDualStack'];
export const SESSION_AFFINITIES: readonly SessionAffinity[] = ['None', 'ClientIP'];
export const TRAFFIC_POLICIES: readonly TrafficPolicy[] = ['Cluster', 'Local'];
export const TRAFFIC_DISTRIBUTIONS: readonly TrafficDistribution[] = ['PreferClose', 'PreferSameZone', 'PreferSameNode'];

export interface ServicePort {
  /** Position in spec.ports. */
  index: number;
  /** "" only when the service has a single unnamed port. */
  name: string;
  protocol: Protocol;
  port: number;
  /** A container port number, or an IANA_SVC_NAME resolved per pod (containers[].ports[].name). Defaults to `port`. */
  targetPort: number | string;
  /** 0 = not set (the API server would allocate one for NodePort/LoadBalancer). Range vs NodeConfig is checked by the compiler. */
  nodePort: number;
  appProtocol: string | null;
}

export interface HealthProbe {
  protocol: 'tcp' | 'http';
  /** The backend (pod) port to probe. */
  port: number;
  /** HTTP only ("/healthz" by default); null for tcp. */
  path: string | null;
  intervalSeconds: number;
  unhealthyThreshold: number;
}

export interface ServiceSpec {
  type: ServiceType;
  /** Primary cluster IP; null when not set (to be allocated), headless, or ExternalName. */
  clusterIP: IP | null;
  /** clusterIP + the secondary family's IP; [] when not set / headless / ExternalName. */
  clusterIPs: IP[];
  /** spec.clusterIP "None". */
  headless: boolean;
  /** As written, else the families of clusterIPs; [] = not decided (the compiler picks from NodeConfig.serviceCIDRs). */
  ipFamilies: IPFamily[];
  /** null for ExternalName; default SingleStack, RequireDualStack with two families/IPs or headless without selector. */
  ipFamilyPolicy: IPFamilyPolicy | null;
  ports: ServicePort[];
  /** null when absent or empty (endpoints managed by someone else). */
  selector: Record<string, string> | null;
  sessionAffinity: SessionAffinity;
  /** Set iff sessionAffinity is ClientIP (timeoutSeconds defaults to 10800). */
  sessionAffinityConfig: { clientIP: { timeoutSeconds: number } } | null;
  /** Deduplicated. */
  externalIPs: IP[];
  loadBalancerIP: IP | null;
  /** spec.loadBalancerSourceRanges, or else the load-balancer-source-ranges annotation; host bits cleared. [] = no restriction. */
  loadBalancerSourceRanges: CIDR[];
  loadBalancerClass: string | null;
  /** Default Cluster ("Global", the legacy spelling, reads as Cluster). */
  externalTrafficPolicy: TrafficPolicy;
  internalTrafficPolicy: TrafficPolicy;
  /** 0 = not set. Only LoadBalancer + externalTrafficPolicy Local may set it. */
  healthCheckNodePort: number;
  /** ExternalName only (trailing dot removed); null otherwise. */
  externalName: string | null;
  publishNotReadyAddresses: boolean;
  /** Default true (meaningful for LoadBalancer only). */
  allocateLoadBalancerNodePorts: boolean;
  trafficDistribution: TrafficDistribution | null;
  /** From the Azure internal-LB annotation ("true"); LoadBalancer only. */
  internal: boolean;
  /** From the tapflow.dev/health-probe annotation. */
  healthProbe: HealthProbe | null;
}

export interface LoadBalancerIngress {
  ip: IP | null;
  hostname: string | null;
  ipMode: LoadBalancerIPMode | null;
}

export interface ServiceStatus {
  loadBalancer: { ingress: LoadBalancerIngress[] };
}

export interface Service {
  apiVersion: typeof SERVICE_API_VERSION;
  kind: typeof SERVICE_KIND;
  metadata: ObjectMeta;
  spec: ServiceSpec;
  status: ServiceStatus;
}

/** apiservice.ExternallyAccessible: NodePort, LoadBalancer, or ClusterIP with externalIPs. */
export function externallyAccessible(spec: Pick<ServiceSpec, 'type' | 'externalIPs'>): boolean {
  return spec.type === 'LoadBalancer' || spec.type === 'NodePort' || (spec.type === 'ClusterIP' && spec.externalIPs.length > 0);
}

/** apiservice.NeedsHealthCheck: LoadBalancer with externalTrafficPolicy Local. */
export function needsHealthCheck(spec: Pick<ServiceSpec, 'type' | 'externalTrafficPolicy'>): boolean {
  return spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';
}

// ─── Entry points ──────────────────────────────────────────────────────────────────────────

/** Validate + normalize a decoded Service; throws ValidationError listing every problem. */
export function validateService(obj: unknown): Service {
  const issues = new Issues();
  const svc = checkService(obj, issues);
  issues.throwIfAny({ what: 'Service' });
  return svc as Service;
}

const SPEC_FIELDS = [
  'ports', 'selector', 'clusterIP', 'clusterIPs', 'type', 'externalIPs', 'sessionAffinity', 'loadBalancerIP',
  'loadBalancerSourceRanges', 'externalName', 'externalTrafficPolicy', 'healthCheckNodePort', 'publishNotReadyAddresses',
  'sessionAffinityConfig', 'ipFamilies', 'ipFamilyPolicy', 'allocateLoadBalancerNodePorts', 'loadBalancerClass',
  'internalTrafficPolicy', 'trafficDistribution',
];
const PORT_FIELDS = ['name', 'protocol', 'appProtocol', 'port', 'targetPort', 'nodePort'];
const AFFINITY_CONFIG_FIELDS = ['clientIP'];
const CLIENT_IP_CONFIG_FIELDS = ['timeoutSeconds'];
const PROBE_FIELDS = ['protocol', 'port', 'path', 'intervalSeconds', 'unhealthyThreshold'];

/**
 * Validate + normalize into `issues` (never throws). The result is meaningful only when no issue
 * was added. This is the loader's (manifests.ts) entry point.
 */
export function checkService(input: unknown, issues: Issues): Service | undefined {
  const k = new K8sChecker(issues);
  const top = k.object(input, '', TOP_FIELDS, 'a Service object (apiVersion, kind, metadata, spec)');
  if (top === null) return undefined;
  checkTypeMeta(k, top, SERVICE_API_VERSION, SERVICE_KIND);
  const metadata = checkObjectMeta(k, top, { kind: SERVICE_KIND, namespaced: true, nameRule: 'dns1035-label' });

  const specRaw = k.get(top, 'spec');
  if (specRaw === undefined) {
    k.missing('spec', 'required: the service spec (ports, selector, type, ...)');
    return undefined;
  }
  const s: Obj | null = k.object(specRaw, 'spec', SPEC_FIELDS, 'an object (ServiceSpec)');
  if (s === null) return undefined;
  const P = 'spec';
  const at = (key: string): string => fieldPath(P, key);

  const type = k.enumOf(s, 'type', P, SERVICE_TYPES, null, true) ?? 'ClusterIP';
  const isExternalName = type === 'ExternalName';

  // externalIPs (read early: externallyAccessible depends on them)
  const externalIPs: IP[] = [];
  k.list(s, 'externalIPs', P, 'IP addresses', null)?.forEach((v, i) => {
    const ip = k.ip(v, fieldPath(at('externalIPs'), i), { special: true });
    if (ip !== undefined && !externalIPs.some((x) => x.text === ip.text)) externalIPs.push(ip);
  });

  // selector
  const selRaw = k.get(s, 'selector');
  let selector: Record<string, string> | null = null;
  if (selRaw !== undefined) {
    const m = k.labels(selRaw, at('selector'));
    if (Object.keys(m).length > 0) selector = m;
  }

  // clusterIP / clusterIPs / ipFamilies / ipFamilyPolicy
  const ipf = checkClusterIPs(k, s, type, selector !== null);

  // ports
  const ports = checkPorts(k, s, type, ipf.headless);

  // externalName
  let externalName: string | null = null;
  if (isExternalName) {
    const en = k.string(s, 'externalName', P, 'a DNS name', 'required for type ExternalName: the DNS name the service is an alias for', true);
    if (en !== undefined) {
      const cname = en.endsWith('.') ? en.slice(0, -1) : en;
      externalName = k.name(cname, at('externalName'), dns1123SubdomainProblem) ?? null;
    }
  } else {
    k.string(s, 'externalName', P, 'a DNS name', null); // type-checked; ignored unless type is ExternalName (as the API does)
  }

  // session affinity
  const sessionAffinity = k.enumOf(s, 'sessionAffinity', P, SESSION_AFFINITIES, null, true) ?? 'None';
  let sessionAffinityConfig: ServiceSpec['sessionAffinityConfig'] = null;
  const sacRaw = k.get(s, 'sessionAffinityConfig');
  if (sessionAffinity === 'ClientIP') {
    let timeoutSeconds = DEFAULT_CLIENT_IP_AFFINITY_SECONDS;
    if (sacRaw !== undefined) {
      const sac = k.object(sacRaw, at('sessionAffinityConfig'), AFFINITY_CONFIG_FIELDS, 'an object {clientIP: {timeoutSeconds}}');
      const cipRaw = sac === null ? undefined : k.get(sac, 'clientIP');
      if (cipRaw !== undefined) {
        const cp = fieldPath(at('sessionAffinityConfig'), 'clientIP');
        const cip = k.object(cipRaw, cp, CLIENT_IP_CONFIG_FIELDS, 'an object {timeoutSeconds}');
        if (cip !== null) timeoutSeconds = k.int(cip, 'timeoutSeconds', cp, { min: 1, max: MAX_CLIENT_IP_AFFINITY_SECONDS, what: 'a number of seconds' }, null) ?? timeoutSeconds;
      }
    }
    sessionAffinityConfig = { clientIP: { timeoutSeconds } };
  } else if (sacRaw !== undefined) {
    k.invalid(at('sessionAffinityConfig'), `must not be set when sessionAffinity is ${sessionAffinity} (the ClientIP timeout only applies to sessionAffinity: ClientIP)`);
  }

  // loadBalancerIP
  let loadBalancerIP: IP | null = null;
  const lbip = k.string(s, 'loadBalancerIP', P, 'an IP address', null, true);
  if (lbip !== undefined) loadBalancerIP = k.ip(lbip, at('loadBalancerIP')) ?? null;

  // loadBalancerSourceRanges (field, else annotation)
  const loadBalancerSourceRanges: CIDR[] = [];
  const lbsr = k.list(s, 'loadBalancerSourceRanges', P, 'CIDRs', null);
  const annPath = (key: string): string => fieldPath('metadata.annotations', key);
  if (lbsr !== undefined && lbsr.length > 0) {
    if (type !== 'LoadBalancer') k.invalid(at('loadBalancerSourceRanges'), `may only be used when type is LoadBalancer (this service's type is ${type})`);
    lbsr.forEach((v, i) => {
      const c = k.cidr(v, fieldPath(at('loadBalancerSourceRanges'), i));
      if (c !== undefined && !loadBalancerSourceRanges.some((x) => x.text === c.text)) loadBalancerSourceRanges.push(c);
    });
  } else if (Object.prototype.hasOwnProperty.call(metadata.annotations, LB_SOURCE_RANGES_ANNOTATION)) {
    const ap = annPath(LB_SOURCE_RANGES_ANNOTATION);
    if (type !== 'LoadBalancer') k.invalid(ap, `may only be used when type is LoadBalancer (this service's type is ${type})`);
    const val = metadata.annotations[LB_SOURCE_RANGES_ANNOTATION].trim();
    if (val !== '') {
      for (const part of val.split(',')) {
        const c = parseCIDRLoose(part);
        if (c === null) k.invalid(ap, `"${part.trim()}" is not a valid CIDR; expected a comma-separated list like "10.240.0.0/24,10.250.0.0/24"`);
        else if (!loadBalancerSourceRanges.some((x) => x.text === c.text)) loadBalancerSourceRanges.push(c);
      }
    }
  }

  // loadBalancerClass
  let loadBalancerClass: string | null = null;
  const lbc = k.string(s, 'loadBalancerClass', P, 'a qualified name like "example.com/internal-vip"', null);
  if (lbc !== undefined) {
    if (type !== 'LoadBalancer') k.invalid(at('loadBalancerClass'), `may only be used when type is LoadBalancer (this service's type is ${type})`);
    else loadBalancerClass = k.name(lbc, at('loadBalancerClass'), qualifiedNameProblem) ?? null;
  }

  // allocateLoadBalancerNodePorts
  const alnp = k.optBool(s, 'allocateLoadBalancerNodePorts', P);
  if (alnp !== undefined && type !== 'LoadBalancer') k.invalid(at('allocateLoadBalancerNodePorts'), `may only be used when type is LoadBalancer (this service's type is ${type})`);

  // traffic policies
  const accessible = externallyAccessible({ type, externalIPs });
  let externalTrafficPolicy: TrafficPolicy = 'Cluster';
  const etpRaw = k.get(s, 'externalTrafficPolicy');
  if (etpRaw !== undefined && etpRaw !== '') {
    const etp = etpRaw === 'Global' ? 'Cluster' : k.enumOf(s, 'externalTrafficPolicy', P, TRAFFIC_POLICIES, null);
    if (etp !== undefined) {
      if (!accessible) k.invalid(at('externalTrafficPolicy'), `may only be set for externally-accessible services (type NodePort or LoadBalancer, or ClusterIP with externalIPs); this one is ${type}${type === 'ClusterIP' ? ' without externalIPs' : ''}`);
      else externalTrafficPolicy = etp;
    }
  }
  const internalTrafficPolicy = k.enumOf(s, 'internalTrafficPolicy', P, TRAFFIC_POLICIES, null) ?? 'Cluster';
  let healthCheckNodePort = 0;
  const hc = k.int(s, 'healthCheckNodePort', P, { min: 0, max: 65535, what: 'a port number' }, null);
  if (hc !== undefined && hc !== 0) {
    if (!needsHealthCheck({ type, externalTrafficPolicy })) {
      k.invalid(at('healthCheckNodePort'), `may only be set when type is LoadBalancer and externalTrafficPolicy is Local (this service: type ${type}, externalTrafficPolicy ${externalTrafficPolicy})`);
    } else healthCheckNodePort = hc;
  }
  const trafficDistribution = k.enumOf(s, 'trafficDistribution', P, TRAFFIC_DISTRIBUTIONS, null) ?? null;
  const publishNotReadyAddresses = k.bool(s, 'publishNotReadyAddresses', P, false);

  // annotations
  let internal = false;
  if (Object.prototype.hasOwnProperty.call(metadata.annotations, AZURE_INTERNAL_LB_ANNOTATION)) {
    const v = metadata.annotations[AZURE_INTERNAL_LB_ANNOTATION];
    if (v === 'true') internal = type === 'LoadBalancer';
    else if (v !== 'false') k.invalid(annPath(AZURE_INTERNAL_LB_ANNOTATION), `must be "true" or "false"; got "${v}" (the Azure cloud provider treats anything but "true" as a public load balancer)`);
  }
  let healthProbe: HealthProbe | null = null;
  if (Object.prototype.hasOwnProperty.call(metadata.annotations, HEALTH_PROBE_ANNOTATION)) {
    const ap = annPath(HEALTH_PROBE_ANNOTATION);
    if (isExternalName) k.invalid(ap, 'an ExternalName service has no endpoints to probe');
    else healthProbe = checkHealthProbe(k, metadata.annotations[HEALTH_PROBE_ANNOTATION], ap);
  }

  // status
  const status: ServiceStatus = { loadBalancer: { ingress: [] } };
  const stRaw = k.get(top, 'status');
  const st = stRaw === undefined ? null : k.looseObject(stRaw, 'status');
  const lbRaw = st === null ? undefined : k.get(st, 'loadBalancer');
  const lb = lbRaw === undefined ? null : k.looseObject(lbRaw, 'status.loadBalancer');
  if (lb !== null) {
    k.list(lb, 'ingress', 'status.loadBalancer', 'ingress points {ip, hostname}', null)?.forEach((v, i) => {
      const p = fieldPath('status.loadBalancer.ingress', i);
      const o = k.looseObject(v, p, 'an ingress point {ip, hostname}');
      if (o === null) return;
      const ipText = k.string(o, 'ip', p, 'an IP address', null, true);
      const hostname = k.string(o, 'hostname', p, 'a DNS name', null, true) ?? null;
      const ipMode = k.enumOf<LoadBalancerIPMode>(o, 'ipMode', p, ['VIP', 'Proxy'], null) ?? null;
      const ip = ipText === undefined ? null : k.ip(ipText, fieldPath(p, 'ip')) ?? null;
      status.loadBalancer.ingress.push({ ip, hostname, ipMode });
    });
  }

  return {
    apiVersion: SERVICE_API_VERSION,
    kind: SERVICE_KIND,
    metadata,
    spec: {
      type,
      clusterIP: ipf.clusterIPs[0] ?? null,
      clusterIPs: ipf.clusterIPs,
      headless: ipf.headless,
      ipFamilies: ipf.ipFamilies,
      ipFamilyPolicy: ipf.ipFamilyPolicy,
      ports,
      selector,
      sessionAffinity,
      sessionAffinityConfig,
      externalIPs,
      loadBalancerIP,
      loadBalancerSourceRanges,
      loadBalancerClass,
      externalTrafficPolicy,
      internalTrafficPolicy,
      healthCheckNodePort,
      externalName,
      publishNotReadyAddresses,
      allocateLoadBalancerNodePorts: alnp ?? true,
      trafficDistribution,
      internal,
      healthProbe,
    },
    status,
  };
}

// ─── Pieces ────────────────────────────────────────────────────────────────────────────────

interface ClusterIPFields {
  clusterIPs: IP[];
  headless: boolean;
  ipFamilies: IPFamily[];
  ipFamilyPolicy: IPFamilyPolicy | null;
}

function familyOf(ip: IP): IPFamily {
  return ip.family === 4 ? 'IPv4' : 'IPv6';
}

/** ValidateServiceClusterIPsRelatedFields + the registry's defaulting of ipFamilies/ipFamilyPolicy. */
function checkClusterIPs(k: K8sChecker, s: Obj, type: ServiceType, hasSelector: boolean): ClusterIPFields {
  const P = 'spec';
  const at = (key: string): string => fieldPath(P, key);
  const out: ClusterIPFields = { clusterIPs: [], headless: false, ipFamilies: [], ipFamilyPolicy: null };

  const cip = k.string(s, 'clusterIP', P, 'an IP address or "None"', null, true);
  const cipsRaw = k.list(s, 'clusterIPs', P, 'IP addresses (or the single value "None")', null);
  const famRaw = k.list(s, 'ipFamilies', P, '"IPv4" / "IPv6"', null);
  const policy = k.enumOf(s, 'ipFamilyPolicy', P, IP_FAMILY_POLICIES, null);

  if (type === 'ExternalName') {
    if (cip !== undefined) k.invalid(at('clusterIP'), `must not be set for ExternalName services; got "${cip}"`);
    else if (cipsRaw !== undefined && cipsRaw.length > 0) k.invalid(at('clusterIPs'), 'must not be set for ExternalName services');
    if (famRaw !== undefined && famRaw.length > 0) k.invalid(at('ipFamilies'), 'must not be set for ExternalName services');
    if (policy !== undefined) k.invalid(at('ipFamilyPolicy'), 'must not be set for ExternalName services');
    return out;
  }

  // The written addresses: clusterIPs when present (clusterIP must equal its first entry), else clusterIP.
  const entries: { text: string; path: string }[] = [];
  if (cipsRaw !== undefined && cipsRaw.length > 0) {
    cipsRaw.forEach((v, i) => {
      const p = fieldPath(at('clusterIPs'), i);
      if (typeof v !== 'string') k.type(p, 'a string (an IP address or "None")', v);
      else entries.push({ text: v, path: p });
    });
  } else if (cip !== undefined) {
    entries.push({ text: cip, path: at('clusterIP') });
  }

  let ok = true;
  const ips: { ip: IP; path: string }[] = [];
  entries.forEach((e, i) => {
    if (e.text === 'None') {
      if (i !== 0 || entries.length > 1) {
        k.invalid(e.path, '"None" must be the first and only value');
        ok = false;
      } else out.headless = true;
      return;
    }
    const ip = k.ip(e.text, e.path);
    if (ip === undefined) ok = false;
    else ips.push({ ip, path: e.path });
  });
  if (cip !== undefined && cipsRaw !== undefined && cipsRaw.length > 0 && entries.length > 0) {
    const first = entries[0].text;
    const a = parseIP(first);
    const b = parseIP(cip);
    const same = first === cip || (a !== null && b !== null && a.text === b.text);
    if (!same) {
      k.invalid(at('clusterIPs'), `first value must match spec.clusterIP ("${cip}"); got "${first}"`);
      ok = false;
    }
  }
  if (entries.length > 2) {
    k.invalid(at('clusterIPs'), `may hold at most 2 values (one per IP family); got ${entries.length}`);
    ok = false;
  } else if (ok && ips.length === 2 && ips[0].ip.family === ips[1].ip.family) {
    k.invalid(ips[1].path, `a second IPv${ips[1].ip.family} address; clusterIPs may hold at most one IP per family (dual-stack: one IPv4, one IPv6)`);
    ok = false;
  }
  if (ok) out.clusterIPs = ips.map((x) => x.ip);

  // headless is a ClusterIP-only thing
  if (out.headless && (type === 'NodePort' || type === 'LoadBalancer')) {
    k.invalid(entries[0].path, `may not be "None" for ${type} services (headless services are type ClusterIP)`);
  }

  // ipFamilies
  const families: IPFamily[] = [];
  famRaw?.forEach((v, i) => {
    const p = fieldPath(at('ipFamilies'), i);
    if (typeof v !== 'string') {
      k.type(p, 'a string, "IPv4" or "IPv6"', v);
      return;
    }
    if (!(IP_FAMILIES as readonly string[]).includes(v)) {
      k.invalid(p, `must be "IPv4" or "IPv6"; got "${v}"`);
      return;
    }
    if (families.includes(v as IPFamily)) k.dup(p, `duplicate family ${v}`);
    else families.push(v as IPFamily);
  });
  if (famRaw !== undefined && famRaw.length > 2) k.invalid(at('ipFamilies'), `may hold at most 2 values; got ${famRaw.length}`);
  if (!out.headless && ok && families.length > 0) {
    ips.forEach((x, i) => {
      if (i < families.length && families[i] !== familyOf(x.ip)) {
        k.invalid(x.path, `expected an ${families[i]} address as spec.ipFamilies[${i}] says; got ${familyOf(x.ip)} ${x.ip.text}`);
      }
    });
    if (ips.length > families.length && famRaw !== undefined) {
      k.invalid(at('ipFamilies'), `lists ${families.length} famil${families.length === 1 ? 'y' : 'ies'} but spec.clusterIPs has ${ips.length} addresses; list the family of each`);
    }
  }
  out.ipFamilies = families.length > 0 ? families : out.clusterIPs.map(familyOf);

  // ipFamilyPolicy
  const multi = Math.max(out.ipFamilies.length, out.clusterIPs.length) > 1;
  if (policy === 'SingleStack' && multi) {
    k.invalid(at('ipFamilyPolicy'), `is SingleStack but ${out.clusterIPs.length > 1 ? 'spec.clusterIPs holds two addresses' : 'spec.ipFamilies lists two families'}; use PreferDualStack or RequireDualStack`);
  }
  out.ipFamilyPolicy = policy ?? (multi || (out.headless && !hasSelector) ? 'RequireDualStack' : 'SingleStack');
  return out;
}

function checkPorts(k: K8sChecker, s: Obj, type: ServiceType, headless: boolean): ServicePort[] {
  const P = 'spec';
  const pp = fieldPath(P, 'ports');
  const out: ServicePort[] = [];
  const raw = k.list(s, 'ports', P, 'service ports {name, protocol, port, targetPort, nodePort}', null);
  const absent = k.get(s, 'ports') === undefined || (raw !== undefined && raw.length === 0);
  if (absent && !headless && type !== 'ExternalName') {
    k.missing(pp, 'required: at least one port (only headless and ExternalName services may have none)');
    return out;
  }
  if (raw === undefined) return out;
  const names = new Map<string, number>();
  const portKeys = new Map<string, number>();
  const nodePortKeys = new Map<string, number>();
  raw.forEach((v, i) => {
    const p = fieldPath(pp, i);
    const o = k.object(v, p, PORT_FIELDS, 'a service port {name, protocol, port, targetPort, nodePort}');
    if (o === null) return;
    let good = true;

    // name
    const name = k.string(o, 'name', p, 'a DNS-1123 label', null, true) ?? '';
    if (name === '') {
      if (raw.length > 1) {
        k.missing(fieldPath(p, 'name'), 'required when the service has more than one port');
        good = false;
      }
    } else if (k.name(name, fieldPath(p, 'name'), dns1123LabelProblem, 'port name: ') === undefined) good = false;
    else if (names.has(name)) {
      k.dup(fieldPath(p, 'name'), `duplicate port name "${name}" (also ${fieldPath(pp, names.get(name) as number)}.name)`);
      good = false;
    } else names.set(name, i);

    const protocol = k.protocol(o, 'protocol', p);
    const port = k.port(o, 'port', p, 'required: the port the service listens on (1..65535)');
    if (port === undefined) good = false;

    // targetPort: int or IANA_SVC_NAME; 0 / "" / absent → port
    let targetPort: number | string | undefined = port;
    const tpRaw = k.get(o, 'targetPort');
    const tpPath = fieldPath(p, 'targetPort');
    if (tpRaw !== undefined && tpRaw !== 0 && tpRaw !== '') {
      if (typeof tpRaw === 'number') targetPort = k.intValue(tpRaw, tpPath, { min: 1, max: 65535, what: 'a port number' });
      else if (typeof tpRaw === 'string') {
        if (/^[0-9]+$/.test(tpRaw)) {
          k.invalid(tpPath, `"${tpRaw}" is a string; write the port number without quotes (${tpRaw}) or use a named port`);
          targetPort = undefined;
        } else targetPort = k.name(tpRaw, tpPath, portNameProblem);
      } else {
        k.type(tpPath, 'a port number (1..65535) or a port name (IANA_SVC_NAME)', tpRaw);
        targetPort = undefined;
      }
    }
    if (targetPort === undefined) good = false;

    // nodePort
    const nodePort = k.int(o, 'nodePort', p, { min: 0, max: 65535, what: 'a port number' }, null) ?? 0;
    if (nodePort !== 0 && type !== 'NodePort' && type !== 'LoadBalancer') {
      k.invalid(fieldPath(p, 'nodePort'), `may not be used when type is ${type} (only NodePort and LoadBalancer services have node ports)`);
      good = false;
    }

    // appProtocol
    const ap = k.string(o, 'appProtocol', p, 'a qualified name like "http" or "kubernetes.io/h2c"', null);
    let appProtocol: string | null = null;
    if (ap !== undefined) {
      if (k.name(ap, fieldPath(p, 'appProtocol'), qualifiedNameProblem) === undefined) good = false;
      else appProtocol = ap;
    }

    if (port !== undefined) {
      const key = `${port}/${protocol}`;
      const prev = portKeys.get(key);
      if (prev !== undefined) {
        k.dup(p, `duplicate port ${key} (also ${fieldPath(pp, prev)})`);
        good = false;
      } else portKeys.set(key, i);
    }
    if (nodePort !== 0) {
      const key = `${nodePort}/${protocol}`;
      const prev = nodePortKeys.get(key);
      if (prev !== undefined) {
        k.dup(fieldPath(p, 'nodePort'), `duplicate nodePort ${key} (also ${fieldPath(pp, prev)}.nodePort)`);
        good = false;
      } else nodePortKeys.set(key, i);
    }
    if (good && port !== undefined && targetPort !== undefined) {
      out.push({ index: i, name, protocol, port, targetPort, nodePort, appProtocol });
    }
  });
  return out;
}

/** Parse the tapflow.dev/health-probe annotation (JSON). Paths are `<annotation path>.field`. */
function checkHealthProbe(k: K8sChecker, text: string, path: string): HealthProbe | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    k.invalid(path, `not valid JSON (${e instanceof Error ? e.message : String(e)}); expected {"protocol":"tcp|http","port":N,"path":"/healthz","intervalSeconds":5,"unhealthyThreshold":2}`);
    return null;
  }
  if (!isObj(v)) {
    k.type(path, 'a JSON object {"protocol", "port", "path", "intervalSeconds", "unhealthyThreshold"}', v);
    return null;
  }
  const o = k.object(v, path, PROBE_FIELDS);
  if (o === null) return null;
  const before = k.issues.length;
  const protocol = k.enumOf<'tcp' | 'http'>(o, 'protocol', path, ['tcp', 'http'], null) ?? 'tcp';
  const port = k.port(o, 'port', path, 'required: the backend port to probe (1..65535)');
  let probePath: string | null = null;
  const pathRaw = k.string(o, 'path', path, 'an HTTP path like "/healthz"', null);
  if (pathRaw !== undefined) {
    if (protocol !== 'http') k.invalid(fieldPath(path, 'path'), `only http probes have a path; this probe's protocol is ${protocol}`);
    else if (!pathRaw.startsWith('/') || /[\s\x00-\x1f\x7f]/.test(pathRaw)) k.invalid(fieldPath(path, 'path'), `"${pathRaw}" is not an HTTP path: it must start with "/" and contain no spaces or control characters`);
    else probePath = pathRaw;
  } else if (protocol === 'http') probePath = '/healthz';
  const intervalSeconds = k.int(o, 'intervalSeconds', path, { min: 1, max: 3600, what: 'a number of seconds' }, null) ?? 5;
  const unhealthyThreshold = k.int(o, 'unhealthyThreshold', path, { min: 1, max: 100, what: 'a count of failed probes' }, null) ?? 2;
  if (k.issues.length > before || port === undefined) return null;
  return { protocol, port, path: probePath, intervalSeconds, unhealthyThreshold };
}
