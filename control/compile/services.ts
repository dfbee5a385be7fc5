/**
 * Services + EndpointSlices + NodeConfig → the ServiceTable of one generation
 * (dataplane/tables/service-table.ts, which documents the layout and the per-flow semantics).
 * Pure apart from the shared KeyInterner (stable ids) it is given: same input, same table.
 *
 * What gets compiled (kube-proxy, nftables mode):
 *  - Skipped, no frontends: ExternalName, headless (clusterIP None), services without a cluster
 *    IP yet (kube-proxy's ShouldSkipService), and services with a nodePort outside the node
 *    port range (status error; the whole service is skipped).
 *  - Families: those of spec.clusterIPs. Each family's frontends map to EndpointSlices of the
 *    same addressType; external IPs / LB IPs / source ranges of a family the service does not
 *    have are ignored (as kube-proxy's per-family proxiers do; external and LB IPs get a status
 *    note, source ranges of the other family simply do not apply).
 *  - Frontends per service port and family: the ClusterIP; NodePort (type NodePort and
 *    LoadBalancer, nodePort ≠ 0) on every node IP inside NodeConfig.nodePortCIDRs; LoadBalancer:
 *    status.loadBalancer.ingress[].ip (not ipMode Proxy) and spec.loadBalancerIP; externalIPs.
 *  - Conflicts: services are compiled oldest first (creationTimestamp, then namespace/name; no
 *    timestamp counts as newest), so the first to claim (family, address, protocol, port)
 *    keeps it and the later one gets a status error for that frontend. The same frontend twice
 *    in one service port (e.g. loadBalancerIP = the ingress IP) is one frontend.
 *  - Endpoints of a service port: slices labelled kubernetes.io/service-name = the service (same
 *    namespace), slice ports with the service port's name and protocol and a port number; the
 *    endpoint's first address. Duplicates across slices merge, a ready copy winning
 *    (kube-proxy's EndpointSliceCache). Local = nodeName equals NodeConfig.nodeName.
 *  - Pools: cluster = ready endpoints, or when none is ready the serving+terminating ones; local
 *    (only for externalTrafficPolicy or internalTrafficPolicy Local) = the same rule over the
 *    local endpoints. Each non-empty pool gets its own Maglev table (maglevSize: ≥ 100 entries
 *    per backend; 16-bit entries unless the pool has more than 65535 backends). With `previous`, a pool whose backend keys are unchanged copies its Maglev
 *    table instead of repopulating it (same result, much cheaper).
 *  - backendStillValid: every endpoint whose serving condition is true (ready, or terminating
 *    but still serving) of the service port, whichever pool it is in.
 *
 * Not done (yet): topology-aware routing (endpoint hints, spec.trafficDistribution) — every
 * usable endpoint is a candidate; FQDN slices; ClusterIP allocation (a service without
 * clusterIPs is skipped — the API server, or tapflow's store, allocates them).
 */
import type { EndpointSlice } from '../model/endpoint-slice';
import { cidrContains } from '../model/node-config';
import type { CIDR, IP, NodeConfig } from '../model/node-config';
import type { Service, ServicePort } from '../model/service';
import { DEFAULT_CLIENT_IP_AFFINITY_SECONDS } from '../model/service';
import { compareCodeUnits, maglevSize, populateMaglev } from '../../dataplane/tables/maglev';
import {
  BEF_LOCAL, BEF_READY, BEF_SERVING, BEF_TERMINATING, BEF_V6, BE_FLAGS, BE_KEY, BE_PORT, BE_STRIDE, FEF_ETP_LOCAL,
  FEF_INTERNAL, FEF_ITP_LOCAL, FEF_RANGES, FEF_V6, FrontendKind, FrontendTableBuilder, KeyInterner, MAGLEV16_MAX_BACKENDS,
  PairMap, QuadMap, R_AFFMS, R_CCOUNT, R_CMAG, R_CMAGSIZE, R_CSTART, R_FLAGS, R_LCOUNT, R_LMAG, R_LMAGSIZE, R_LSTART,
  R_META, R_RANGE, R_RANGES, R_SPKEY, R_WORDS, ServiceTable, backendKey,
} from '../../dataplane/tables/service-table';
import type { BackendMeta, FrontendMeta, HealthCheckInfo, PoolIndexEntry } from '../../dataplane/tables/service-table';

/** kube-apiserver's default --service-node-port-range. */
export const DEFAULT_NODE_PORT_RANGE = { min: 30000, max: 32767 } as const;

export interface CompileServicesInput {
  services: readonly Service[];
  endpointSlices: readonly EndpointSlice[];
  node: NodeConfig;
  /** Shared across generations (stable key ids, backend health). A fresh one when absent. */
  interner?: KeyInterner;
  /** Backend choice for new flows: Maglev on the flow hash (default) or uniform random. */
  balancer?: 'maglev' | 'random';
  /** Seed of the random balancer (tests). */
  randomSeed?: number;
  /** Allowed nodePort values, inclusive (default 30000-32767). */
  nodePortRange?: { min: number; max: number };
  /** The table this one replaces: unchanged pools reuse its Maglev tables. */
  previous?: ServiceTable | null;
}

export interface ServiceCompileIssue {
  /** Field path in the Service ("spec.ports[0].nodePort", "status.loadBalancer.ingress[1].ip"). */
  path: string;
  message: string;
}

/** What tapflow did with one Service. */
export interface ServiceCompileStatus {
  /** "namespace/name" */
  key: string;
  /** Frontends installed (address × protocol × port, all families and kinds). */
  frontends: number;
  errors: ServiceCompileIssue[];
}

export interface CompiledServices {
  table: ServiceTable;
  /** One entry per input Service, in input order. */
  status: ServiceCompileStatus[];
}

const PROTO: Record<string, number> = { TCP: 6, UDP: 17, SCTP: 132 };

interface EndpointRec {
  ip: IP;
  port: number;
  key: string;
  keyId: number;
  nodeName: string | null;
  local: boolean;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

interface PoolPlan {
  eps: EndpointRec[];
  /** First backend record, Maglev offset and size (set during layout). */
  start: number;
  mag: number;
  size: number;
  sig: string;
  /** Maglev in maglev32 (more than MAGLEV16_MAX_BACKENDS backends). */
  wide: boolean;
  /** Copy the Maglev table from the previous generation's array at this offset. */
  reuse: number;
}

interface FrontendPlan {
  kind: FrontendKind;
  ip: IP;
  proto: number;
  protocol: string;
  port: number;
  sp: SpPlan;
}

/** One service port in one family. */
interface SpPlan {
  index: number;
  service: string;
  spKey: string;
  spKeyId: number;
  portName: string;
  family: 4 | 6;
  flags: number;
  affMs: number;
  ranges: CIDR[];
  rangeStart: number;
  cluster: PoolPlan;
  local: PoolPlan | null;
}

function mask4(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

function words6(b: Uint8Array): number[] {
  const w: number[] = [];
  for (let i = 0; i < 16; i += 4) w.push(((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0);
  return w;
}

function mask6(len: number): number[] {
  const m: number[] = [];
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, len - 32 * i));
    m.push(mask4(bits));
  }
  return m;
}

/** (net, mask) pairs / 8-word v6 entries of the prefixes of one family. */
function prefixes4(list: readonly CIDR[]): Uint32Array {
  const out: number[] = [];
  for (const c of list) if (c.family === 4) out.push(c.v4 & mask4(c.len), mask4(c.len));
  return Uint32Array.from(out.map((x) => x >>> 0));
}

function prefixes6(list: readonly CIDR[]): Uint32Array {
  const out: number[] = [];
  for (const c of list) {
    if (c.family !== 6) continue;
    const m = mask6(c.len);
    const w = words6(c.v6);
    out.push(...w.map((x, i) => (x & m[i]) >>> 0), ...m);
  }
  return Uint32Array.from(out);
}

function hostPrefix(ip: IP): CIDR {
  return ip.family === 4 ? { family: 4, v4: ip.v4, len: 32, text: `${ip.text}/32` } : { family: 6, v6: ip.v6, len: 128, text: `${ip.text}/128` };
}

function ipWords(ip: IP): [number, number, number, number] {
  if (ip.family === 4) return [0, 0, 0xffff, ip.v4 >>> 0];
  const w = words6(ip.v6);
  return [w[0], w[1], w[2], w[3]];
}

function frontendText(ip: IP, proto: string, port: number): string {
  return ip.family === 6 ? `[${ip.text}]:${port}/${proto}` : `${ip.text}:${port}/${proto}`;
}

/** Services oldest first: creationTimestamp (missing or unparsable = newest), then namespace/name. */
function oldestFirst(services: readonly Service[]): Service[] {
  const keyed = services.map((svc) => {
    const t = svc.metadata.creationTimestamp === null ? NaN : Date.parse(svc.metadata.creationTimestamp);
    return { svc, t: Number.isNaN(t) ? Infinity : t, name: `${svc.metadata.namespace}/${svc.metadata.name}` };
  });
  keyed.sort((a, b) => (a.t !== b.t ? (a.t < b.t ? -1 : 1) : compareCodeUnits(a.name, b.name)));
  return keyed.map((k) => k.svc);
}

/** Ready endpoints, else serving+terminating ones (kube-proxy's terminating fallback). */
function usable(eps: readonly EndpointRec[]): EndpointRec[] {
  const ready = eps.filter((e) => e.ready);
  return ready.length > 0 ? ready : eps.filter((e) => e.serving && e.terminating);
}

function pool(eps: EndpointRec[]): PoolPlan {
  eps.sort((a, b) => compareCodeUnits(a.key, b.key));
  return { eps, start: 0, mag: 0, size: 0, sig: eps.map((e) => e.key).join(','), wide: eps.length > MAGLEV16_MAX_BACKENDS, reuse: -1 };
}

export function compileServices(input: CompileServicesInput): CompiledServices {
  const node = input.node.spec;
  const interner = input.interner ?? new KeyInterner();
  const range = input.nodePortRange ?? DEFAULT_NODE_PORT_RANGE;

  const nodePortIPs = node.nodeIPs.filter((ip) => node.nodePortCIDRs.some((c) => cidrContains(c, ip)));

  // Slices by "namespace/service".
  const slicesBy = new Map<string, EndpointSlice[]>();
  for (const es of input.endpointSlices) {
    if (es.addressType === 'FQDN' || es.serviceName === '') continue;
    const k = `${es.metadata.namespace}/${es.serviceName}`;
    const l = slicesBy.get(k);
    if (l === undefined) slicesBy.set(k, [es]);
    else l.push(es);
  }

  const statusOf = new Map<Service, ServiceCompileStatus>();
  const status: ServiceCompileStatus[] = input.services.map((s) => {
    const st: ServiceCompileStatus = { key: `${s.metadata.namespace}/${s.metadata.name}`, frontends: 0, errors: [] };
    statusOf.set(s, st);
    return st;
  });

  const plan: Plan = { sps: [], fes: [], validPairs: [], clusterIPs: [], owned: [], healthChecks: [] };
  /** "proto|address|port" → the service port holding it. */
  const claimed = new Map<string, SpPlan>();
  const seen = new Set<string>();

  for (const svc of oldestFirst(input.services)) {
    const st = statusOf.get(svc) as ServiceCompileStatus;
    const err = (path: string, message: string): void => {
      st.errors.push({ path, message });
    };
    const key = st.key;
    if (seen.has(key)) {
      err('metadata.name', `duplicate Service ${key} in the input; only the oldest one is compiled`);
      continue;
    }
    seen.add(key);
    const spec = svc.spec;
    if (spec.type === 'ExternalName' || spec.headless) continue;
    if (spec.clusterIPs.length === 0) {
      err('spec.clusterIP', 'no cluster IP is allocated; the service is skipped until it has one');
      continue;
    }
    const usesNodePorts = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
    const isLB = spec.type === 'LoadBalancer';
    let bad = false;
    if (usesNodePorts) {
      spec.ports.forEach((p, i) => {
        if (p.nodePort !== 0 && (p.nodePort < range.min || p.nodePort > range.max)) {
          err(`spec.ports[${i}].nodePort`, `${p.nodePort} is outside the node port range ${range.min}-${range.max}; the service is skipped`);
          bad = true;
        }
      });
    }
    if (bad) continue;

    const families: (4 | 6)[] = [];
    for (const ip of spec.clusterIPs) if (!families.includes(ip.family)) families.push(ip.family);
    const slices = slicesBy.get(key) ?? [];
    const etpLocal = spec.externalTrafficPolicy === 'Local';
    const itpLocal = spec.internalTrafficPolicy === 'Local';
    const affMs = spec.sessionAffinity === 'ClientIP' ? (spec.sessionAffinityConfig?.clientIP.timeoutSeconds ?? DEFAULT_CLIENT_IP_AFFINITY_SECONDS) * 1000 : 0;
    const localAddrs = new Set<string>();

    spec.ports.forEach((sp, pi) => {
      const protoNum = PROTO[sp.protocol] ?? 6;
      const spKey = sp.name === '' ? key : `${key}:${sp.name}`;
      const spKeyId = interner.intern(spKey);
      for (const family of families) {
        const eps = collectEndpoints(slices, sp, family, node.nodeName, interner);
        const cluster = pool(usable(eps));
        let local: PoolPlan | null = null;
        if (etpLocal || itpLocal) {
          local = pool(usable(eps.filter((e) => e.local)));
          for (const e of local.eps) localAddrs.add(e.ip.text);
        }
        const ranges = isLB ? spec.loadBalancerSourceRanges.filter((c) => c.family === family) : [];
        let flags = family === 6 ? FEF_V6 : 0;
        if (etpLocal) flags |= FEF_ETP_LOCAL;
        if (itpLocal) flags |= FEF_ITP_LOCAL;
        if (spec.internal && isLB) flags |= FEF_INTERNAL;
        if (ranges.length > 0) flags |= FEF_RANGES;
        const spp: SpPlan = { index: plan.sps.length, service: key, spKey, spKeyId, portName: sp.name, family, flags, affMs, ranges, rangeStart: 0, cluster, local };
        plan.sps.push(spp);
        for (const e of eps) if (e.serving) plan.validPairs.push(spKeyId, e.keyId);

        const claim = (kind: FrontendKind, ip: IP, port: number, path: string): void => {
          const ck = `${protoNum}|${ip.text}|${port}`;
          const holder = claimed.get(ck);
          if (holder !== undefined) {
            if (holder === spp) return; // the same frontend twice in this service port
            const who = holder.service === key ? `port "${holder.portName}" of this service` : `${holder.service} (older)`;
            err(path, `frontend ${frontendText(ip, sp.protocol, port)} is already used by ${who}; not installed`);
            return;
          }
          claimed.set(ck, spp);
          plan.fes.push({ kind, ip, proto: protoNum, port, sp: spp, protocol: sp.protocol });
          st.frontends++;
          if (kind === FrontendKind.LoadBalancer || kind === FrontendKind.ExternalIP) plan.owned.push(ip);
        };

        spec.clusterIPs.forEach((ip, i) => {
          if (ip.family === family) claim(FrontendKind.ClusterIP, ip, sp.port, `spec.clusterIPs[${i}]`);
        });
        if (usesNodePorts && sp.nodePort !== 0) {
          for (const ip of nodePortIPs) if (ip.family === family) claim(FrontendKind.NodePort, ip, sp.nodePort, `spec.ports[${pi}].nodePort`);
        }
        if (isLB) {
          svc.status.loadBalancer.ingress.forEach((ing, i) => {
            if (ing.ip !== null && ing.ip.family === family && ing.ipMode !== 'Proxy') claim(FrontendKind.LoadBalancer, ing.ip, sp.port, `status.loadBalancer.ingress[${i}].ip`);
          });
          if (spec.loadBalancerIP !== null && spec.loadBalancerIP.family === family) claim(FrontendKind.LoadBalancer, spec.loadBalancerIP, sp.port, 'spec.loadBalancerIP');
        }
        spec.externalIPs.forEach((ip, i) => {
          if (ip.family === family) claim(FrontendKind.ExternalIP, ip, sp.port, `spec.externalIPs[${i}]`);
        });
      }
    });

    // Addresses of a family the service does not have: ignored, with a note.
    const note = (ip: IP, path: string): void => {
      if (!families.includes(ip.family)) err(path, `${ip.text} is ignored: the service has no IPv${ip.family} cluster IP`);
    };
    spec.externalIPs.forEach((ip, i) => note(ip, `spec.externalIPs[${i}]`));
    if (isLB) {
      svc.status.loadBalancer.ingress.forEach((ing, i) => {
        if (ing.ip !== null) note(ing.ip, `status.loadBalancer.ingress[${i}].ip`);
      });
      if (spec.loadBalancerIP !== null) note(spec.loadBalancerIP, 'spec.loadBalancerIP');
    }
    for (const ip of spec.clusterIPs) plan.clusterIPs.push(ip);
    if (isLB && etpLocal && spec.healthCheckNodePort !== 0) {
      plan.healthChecks.push({ service: key, nodePort: spec.healthCheckNodePort, localEndpoints: localAddrs.size });
    }
  }

  return { table: layout(plan, input, interner), status };
}

interface Plan {
  sps: SpPlan[];
  fes: FrontendPlan[];
  /** Flat (service-port key id, backend key id) pairs of serving endpoints. */
  validPairs: number[];
  clusterIPs: IP[];
  owned: IP[];
  healthChecks: HealthCheckInfo[];
}

/** Endpoints of service port `sp` in one family, deduplicated (a ready copy wins). */
function collectEndpoints(slices: readonly EndpointSlice[], sp: ServicePort, family: 4 | 6, nodeName: string, interner: KeyInterner): EndpointRec[] {
  const type = family === 4 ? 'IPv4' : 'IPv6';
  const byKey = new Map<string, EndpointRec>();
  for (const es of slices) {
    if (es.addressType !== type) continue;
    for (const p of es.ports) {
      if (p.name !== sp.name || p.protocol !== sp.protocol || p.port === null) continue;
      for (const ep of es.endpoints) {
        const ip = ep.ips[0];
        if (ip === undefined || ip.family !== family) continue;
        const key = backendKey(ip.text, p.port, sp.protocol);
        const c = ep.conditions;
        const prev = byKey.get(key);
        if (prev !== undefined && !c.ready) continue;
        byKey.set(key, {
          ip, port: p.port, key, keyId: prev?.keyId ?? interner.intern(key), nodeName: ep.nodeName,
          local: ep.nodeName !== null && ep.nodeName === nodeName, ready: c.ready, serving: c.serving, terminating: c.terminating,
        });
      }
    }
  }
  return [...byKey.values()];
}

/** Plans → typed arrays. */
function layout(plan: Plan, input: CompileServicesInput, interner: KeyInterner): ServiceTable {
  const node = input.node.spec;
  const prev = input.previous ?? null;
  const poolIndex = new Map<string, PoolIndexEntry>();

  // Backend records and Maglev space per pool.
  let nBackends = 0;
  let mag16 = 0;
  let mag32 = 0;
  let n4 = 0;
  let n6 = 0;
  const place = (p: PoolPlan, id: string): void => {
    p.start = nBackends;
    nBackends += p.eps.length;
    if (p.eps.length === 0) return;
    p.size = maglevSize(p.eps.length);
    if (p.wide) {
      p.mag = mag32;
      mag32 += p.size;
    } else {
      p.mag = mag16;
      mag16 += p.size;
    }
    const was = prev?.poolIndex.get(id);
    if (was !== undefined && was.size === p.size && was.wide === p.wide && was.sig === p.sig) p.reuse = was.mag;
    poolIndex.set(id, { sig: p.sig, mag: p.mag, size: p.size, wide: p.wide });
  };
  for (const sp of plan.sps) {
    place(sp.cluster, `${sp.spKey}|${sp.family}|c`);
    if (sp.local !== null) place(sp.local, `${sp.spKey}|${sp.family}|l`);
    if (sp.family === 4) {
      sp.rangeStart = n4;
      n4 += sp.ranges.length;
    } else {
      sp.rangeStart = n6;
      n6 += sp.ranges.length;
    }
  }

  const be = new Int32Array(nBackends * BE_STRIDE);
  const beMeta: BackendMeta[] = new Array<BackendMeta>(nBackends);
  const maglev16 = new Uint16Array(mag16);
  const maglev32 = new Int32Array(mag32);
  let scratch = new Int32Array(0);
  const members = new PairMap(nBackends);
  const fill = (p: PoolPlan): void => {
    p.eps.forEach((e, i) => {
      const b = p.start + i;
      const o = b * BE_STRIDE;
      const w = ipWords(e.ip);
      be[o] = w[0]; be[o + 1] = w[1]; be[o + 2] = w[2]; be[o + 3] = w[3];
      be[o + BE_PORT] = e.port;
      be[o + BE_KEY] = e.keyId;
      be[o + BE_FLAGS] = (e.ip.family === 6 ? BEF_V6 : 0) | (e.local ? BEF_LOCAL : 0) | (e.ready ? BEF_READY : 0) |
        (e.serving ? BEF_SERVING : 0) | (e.terminating ? BEF_TERMINATING : 0);
      beMeta[b] = { key: e.key, address: e.ip.text, nodeName: e.nodeName };
      members.set(p.start, e.keyId, b);
    });
    if (p.eps.length === 0) return;
    if (p.wide) {
      if (p.reuse >= 0 && prev !== null) maglev32.set(prev.maglev32.subarray(p.reuse, p.reuse + p.size), p.mag);
      else populateMaglev(p.eps.map((e) => e.key), p.size, maglev32, p.mag);
    } else if (p.reuse >= 0 && prev !== null) {
      maglev16.set(prev.maglev16.subarray(p.reuse, p.reuse + p.size), p.mag);
    } else {
      if (scratch.length < p.size) scratch = new Int32Array(p.size);
      populateMaglev(p.eps.map((e) => e.key), p.size, scratch, 0);
      for (let i = 0; i < p.size; i++) maglev16[p.mag + i] = scratch[i];
    }
  };
  const ranges4 = new Uint32Array(n4 * 2);
  const ranges6 = new Uint32Array(n6 * 8);
  for (const sp of plan.sps) {
    fill(sp.cluster);
    if (sp.local !== null) fill(sp.local);
    if (sp.family === 4) ranges4.set(prefixes4(sp.ranges), sp.rangeStart * 2);
    else ranges6.set(prefixes6(sp.ranges), sp.rangeStart * 8);
  }

  // Frontends: the slot tables hold the records.
  let c4 = 0;
  for (const f of plan.fes) if (f.ip.family === 4) c4++;
  const frontends = new FrontendTableBuilder(c4, plan.fes.length - c4);
  const feMeta: FrontendMeta[] = [];
  const rec = new Int32Array(R_WORDS);
  for (const f of plan.fes) {
    const sp = f.sp;
    rec.fill(0);
    rec[R_FLAGS] = sp.flags | f.kind;
    rec[R_CSTART] = sp.cluster.start;
    rec[R_CCOUNT] = sp.cluster.eps.length;
    rec[R_CMAG] = sp.cluster.mag;
    rec[R_CMAGSIZE] = sp.cluster.size;
    if (sp.local !== null) {
      rec[R_LSTART] = sp.local.start;
      rec[R_LCOUNT] = sp.local.eps.length;
      rec[R_LMAG] = sp.local.mag;
      rec[R_LMAGSIZE] = sp.local.eps.length > 0 ? sp.local.size : -1; // -1: a local pool, empty
    }
    rec[R_SPKEY] = sp.spKeyId;
    rec[R_RANGE] = sp.rangeStart;
    rec[R_RANGES] = sp.ranges.length;
    rec[R_AFFMS] = sp.affMs;
    rec[R_META] = feMeta.length;
    const pp = (f.proto << 16) | f.port;
    let id: number;
    if (f.ip.family === 4) id = frontends.add4(f.ip.v4, pp, rec);
    else {
      const w = ipWords(f.ip);
      id = frontends.add6(w[0], w[1], w[2], w[3], pp, rec);
    }
    if (id < 0) throw new Error(`internal: frontend ${frontendText(f.ip, f.protocol, f.port)} inserted twice`);
    feMeta.push({
      id, service: sp.service, servicePort: sp.spKey, portName: sp.portName, family: f.ip.family, address: f.ip.text,
      protocol: f.protocol, proto: f.proto, port: f.port, sourceRanges: sp.ranges.map((c) => c.text),
    });
  }

  const valid = new PairMap(plan.validPairs.length / 2);
  for (let i = 0; i < plan.validPairs.length; i += 2) valid.set(plan.validPairs[i], plan.validPairs[i + 1], 1);

  const set4 = (ips: readonly IP[]): PairMap => {
    const m = new PairMap(ips.length);
    for (const ip of ips) if (ip.family === 4) m.set(ip.v4, 0, 1);
    return m;
  };
  const set6 = (ips: readonly IP[]): QuadMap => {
    const m = new QuadMap(ips.length);
    for (const ip of ips) {
      if (ip.family !== 6) continue;
      const w = ipWords(ip);
      m.set(w[0], w[1], w[2], w[3], 0, 1);
    }
    return m;
  };
  const nodeHosts = node.nodeIPs.map(hostPrefix);

  return new ServiceTable({
    interner,
    balancer: input.balancer ?? 'maglev',
    randomSeed: input.randomSeed ?? 0x2545f491,
    masqueradeAll: node.masqueradeAll,
    frontends,
    frontendCount: plan.fes.length,
    maglev16,
    maglev32,
    be,
    backendCount: nBackends,
    members,
    valid,
    ranges4,
    ranges6,
    cluster4: prefixes4(node.clusterCIDRs),
    cluster6: prefixes6(node.clusterCIDRs),
    vnet4: prefixes4(node.vnetPrefixes),
    vnet6: prefixes6(node.vnetPrefixes),
    node4: prefixes4(nodeHosts),
    node6: prefixes6(nodeHosts),
    serviceCIDR4: prefixes4(node.serviceCIDRs),
    serviceCIDR6: prefixes6(node.serviceCIDRs),
    owns4: set4(plan.owned),
    owns6: set6(plan.owned),
    clusterIP4: set4(plan.clusterIPs),
    clusterIP6: set6(plan.clusterIPs),
    feMeta,
    beMeta,
    healthChecks: plan.healthChecks,
    poolIndex,
  });
}
