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
 *  - Incremental (`cache`, a ServiceCompileCache; NodeCompiler keeps one): per-service
 *    fragments are reused while the Service and its slice objects are the same, so only
 *    changed services are recompiled; the conflict pass and the layout stay linear copies over
 *    all services. 16-bit Maglev tables then live in the cache's append-only arena (offsets
 *    depend on history; contents do not). services-incremental.test.ts checks the result
 *    against a from-scratch compile.
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
import type { BackendMeta, FrontendMeta, HealthCheckInfo, PoolList } from '../../dataplane/tables/service-table';

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
  /**
   * Per-service results of earlier compiles (keep one per agent, with the same interner):
   * services whose Service object and slice objects are unchanged are not recompiled, only
   * laid out again (a linear copy). Same table as without it.
   */
  cache?: ServiceCompileCache | null;
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

/**
 * One backend pool of one service port and family, with everything layout copies: the backend
 * records (position independent), their describe metadata and key ids. Part of a cached
 * ServiceFragment; `start` and `mag` are rewritten by every layout that uses it.
 */
interface PoolPlan {
  /** Pool identity ("spKey|family|c" or "|l"): the previous table's poolIndex key. */
  id: string;
  count: number;
  /** Sorted backend keys joined by "," (the Maglev input). */
  sig: string;
  keys: string[];
  keyIds: Int32Array;
  /** keyIds ascending, and each one's position in the pool (ServiceTableData.memberKeys/memberPos). */
  memberKeys: Int32Array;
  memberPos: Int32Array;
  /** count × BE_STRIDE words. */
  be: Int32Array;
  meta: BackendMeta[];
  /** Maglev table size (0 for an empty pool). */
  size: number;
  /** Maglev in maglev32 (more than MAGLEV16_MAX_BACKENDS backends). */
  wide: boolean;
  /** First backend record and Maglev offset in the table being laid out. */
  start: number;
  mag: number;
  /**
   * Where this pool's Maglev table already is: an array of an earlier (immutable) table and the
   * offset in it, set after each layout. null until the pool was laid out once.
   */
  magSrc: Uint16Array | Int32Array | null;
  magSrcOff: number;
  /** The table this pool was last laid out in (its records at `lastStart`), or null. */
  last: LaidOut | null;
  lastStart: number;
}

/** The position-dependent arrays of one layout (immutable once built) that later layouts copy runs from. */
interface LaidOut {
  be: Int32Array;
  memberKeys: Int32Array;
  memberPos: Int32Array;
  beMeta: BackendMeta[];
}

/** One service port in one family. */
interface SpPlan {
  service: string;
  spKey: string;
  spKeyId: number;
  portName: string;
  family: 4 | 6;
  flags: number;
  affMs: number;
  ranges: CIDR[];
  /** Prefix words of `ranges` (prefixes4 / prefixes6 of the family). */
  rangeWords: Uint32Array;
  /** Set by layout. */
  rangeStart: number;
  cluster: PoolPlan;
  local: PoolPlan | null;
  sourceRangeTexts: string[];
}

/** A frontend a service asks for, in claim order; installed unless an older service holds it. */
interface Candidate {
  kind: FrontendKind;
  ip: IP;
  proto: number;
  protocol: string;
  port: number;
  sp: SpPlan;
  path: string;
  /** "proto|address|port" */
  ck: string;
  /** Its describe metadata from the last layout (reused when the slot id is the same). */
  meta: FrontendMeta | null;
}

/**
 * Everything compileServices derives from one Service and its EndpointSlices alone (no other
 * service, no layout position). Cached by ServiceCompileCache and reused as long as the
 * Service object and the list of its slice objects are the same (DesiredState replaces an
 * object on every change), so a compile only rebuilds the fragments of changed services.
 */
interface ServiceFragment {
  svc: Service;
  slices: readonly EndpointSlice[];
  /** False: skipped (ExternalName, headless, no cluster IP, nodePort out of range). */
  compiled: boolean;
  /** Errors of a skipped service. */
  skipErrors: ServiceCompileIssue[];
  sps: SpPlan[];
  cands: Candidate[];
  /** Notes after the claims (addresses of a family the service does not have). */
  notes: ServiceCompileIssue[];
  /** Service-port key ids with serving endpoints, and where each one's chunk starts in validChunks. */
  validSpIds: Int32Array;
  validOffs: Int32Array;
  /** Per service port: n, then the n backend key ids of its serving endpoints, ascending (ServiceTableData.validKeys). */
  validChunks: Int32Array;
  clusterIPs: readonly IP[];
  healthCheck: HealthCheckInfo | null;
}

/**
 * Per-service compile results kept between compileServices calls (NodeCompiler holds one).
 * Only valid for one interner, node name, node-port addresses and node-port range; a change of
 * any of them drops it. Never affects the result: a compile with a cache produces the same
 * table as one without (services.test.ts, "incremental compile equals a from-scratch one").
 */
export class ServiceCompileCache {
  /** @internal */ interner: KeyInterner | null = null;
  /** @internal */ context = '';
  /** @internal By "namespace/name". */ fragments = new Map<string, ServiceFragment>();
  /** Fragments built by the last compile (the rest were reused). */
  rebuilt = 0;
  /**
   * The 16-bit Maglev arena the tables built with this cache view: append-only. A table's
   * maglev16 is arena.subarray(0, used at its build), so writing past `arenaUsed` changes no
   * table already handed out; pools already in the arena keep their offset (no copy). When it
   * is full or more than half garbage, the next layout compacts into a new arena.
   * @internal
   */
  arena16: Uint16Array | null = null;
  /** @internal */ arenaUsed = 0;
  /** The last input's slices (a copy of the array) and their grouping by service. @internal */
  slices: EndpointSlice[] | null = null;
  /** @internal */ slicesBy: Map<string, EndpointSlice[]> | null = null;
}

interface Ctx {
  key: string;
  nodeName: string;
  nodePortIPs: IP[];
  range: { min: number; max: number };
  interner: KeyInterner;
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
function oldestFirst(services: readonly Service[]): number[] {
  const keys = services.map(sortKey);
  const order = Array.from(keys.keys());
  order.sort((i, j) => {
    const a = keys[i], b = keys[j];
    return a.t !== b.t ? (a.t < b.t ? -1 : 1) : compareCodeUnits(a.name, b.name);
  });
  return order;
}

interface SortKey {
  /** creationTimestamp in ms, Infinity when missing or unparsable. */
  t: number;
  /** "namespace/name" */
  name: string;
}

function grouped(es: EndpointSlice): boolean {
  return es.addressType !== 'FQDN' && es.serviceName !== '';
}

/**
 * The last compile's slices-by-service map updated to `slices`, when it has the same length and
 * at most 64 positions hold other objects, each for the same service as before; else null. The
 * lists are replaced, never changed in place (fragments hold them to detect changes).
 */
function regroup(cache: ServiceCompileCache, slices: readonly EndpointSlice[]): Map<string, EndpointSlice[]> | null {
  const last = cache.slices, m = cache.slicesBy;
  if (last === null || m === null || last.length !== slices.length) return null;
  const diff: number[] = [];
  for (let i = 0; i < slices.length; i++) {
    if (last[i] !== slices[i]) {
      diff.push(i);
      if (diff.length > 64) return null;
    }
  }
  for (const i of diff) {
    const o = last[i], n = slices[i];
    const go = grouped(o), gn = grouped(n);
    if (go !== gn || (go && sliceService(o) !== sliceService(n))) return null;
  }
  for (const i of diff) {
    const o = last[i], n = slices[i];
    if (!grouped(n)) continue;
    const k = sliceService(n);
    const l = m.get(k);
    if (l === undefined) return null;
    const j = l.indexOf(o);
    if (j < 0 || l.lastIndexOf(o) !== j) return null;
    const nl = l.slice();
    nl[j] = n;
    m.set(k, nl);
  }
  return m;
}

/** Per EndpointSlice object (immutable): "namespace/service", computed once. */
const sliceServices = new WeakMap<EndpointSlice, string>();

function sliceService(es: EndpointSlice): string {
  let k = sliceServices.get(es);
  if (k === undefined) {
    k = `${es.metadata.namespace}/${es.serviceName}`;
    sliceServices.set(es, k);
  }
  return k;
}

/** Per Service object (immutable): its sort key, computed once. */
const sortKeys = new WeakMap<Service, SortKey>();

function sortKey(svc: Service): SortKey {
  let k = sortKeys.get(svc);
  if (k === undefined) {
    const t = svc.metadata.creationTimestamp === null ? NaN : Date.parse(svc.metadata.creationTimestamp);
    k = { t: Number.isNaN(t) ? Infinity : t, name: `${svc.metadata.namespace}/${svc.metadata.name}` };
    sortKeys.set(svc, k);
  }
  return k;
}

/** Ready endpoints, else serving+terminating ones (kube-proxy's terminating fallback). */
function usable(eps: readonly EndpointRec[]): EndpointRec[] {
  const ready = eps.filter((e) => e.ready);
  return ready.length > 0 ? ready : eps.filter((e) => e.serving && e.terminating);
}


function pool(eps: EndpointRec[], id: string): PoolPlan {
  eps.sort((a, b) => compareCodeUnits(a.key, b.key));
  const n = eps.length;
  const keys = eps.map((e) => e.key);
  const keyIds = new Int32Array(n);
  const be = new Int32Array(n * BE_STRIDE);
  const meta: BackendMeta[] = [];
  eps.forEach((e, i) => {
    const o = i * BE_STRIDE;
    const w = ipWords(e.ip);
    be[o] = w[0]; be[o + 1] = w[1]; be[o + 2] = w[2]; be[o + 3] = w[3];
    be[o + BE_PORT] = e.port;
    be[o + BE_KEY] = e.keyId;
    be[o + BE_FLAGS] = (e.ip.family === 6 ? BEF_V6 : 0) | (e.local ? BEF_LOCAL : 0) | (e.ready ? BEF_READY : 0) |
      (e.serving ? BEF_SERVING : 0) | (e.terminating ? BEF_TERMINATING : 0);
    keyIds[i] = e.keyId;
    meta.push({ key: e.key, address: e.ip.text, nodeName: e.nodeName });
  });
  const order = Array.from(keyIds.keys()).sort((a, b) => keyIds[a] - keyIds[b]);
  const memberKeys = Int32Array.from(order, (i) => keyIds[i]);
  const memberPos = Int32Array.from(order);
  return {
    id, count: n, sig: keys.join(','), keys, keyIds, memberKeys, memberPos, be, meta, size: n > 0 ? maglevSize(n) : 0, wide: n > MAGLEV16_MAX_BACKENDS,
    start: 0, mag: 0, magSrc: null, magSrcOff: 0, last: null, lastStart: 0,
  };
}

/** One Service (+ its slices) → its fragment. Interns its keys. */
function buildFragment(svc: Service, slices: readonly EndpointSlice[], ctx: Ctx): ServiceFragment {
  const { key, range, interner } = ctx;
  const frag: ServiceFragment = {
    svc, slices, compiled: false, skipErrors: [], sps: [], cands: [], notes: [],
    validSpIds: EMPTY, validOffs: EMPTY, validChunks: EMPTY, clusterIPs: [], healthCheck: null,
  };
  const spec = svc.spec;
  if (spec.type === 'ExternalName' || spec.headless) return frag;
  if (spec.clusterIPs.length === 0) {
    frag.skipErrors.push({ path: 'spec.clusterIP', message: 'no cluster IP is allocated; the service is skipped until it has one' });
    return frag;
  }
  const usesNodePorts = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
  const isLB = spec.type === 'LoadBalancer';
  if (usesNodePorts) {
    spec.ports.forEach((p, i) => {
      if (p.nodePort !== 0 && (p.nodePort < range.min || p.nodePort > range.max)) {
        frag.skipErrors.push({ path: `spec.ports[${i}].nodePort`, message: `${p.nodePort} is outside the node port range ${range.min}-${range.max}; the service is skipped` });
      }
    });
  }
  if (frag.skipErrors.length > 0) return frag;
  frag.compiled = true;

  const families: (4 | 6)[] = [];
  for (const ip of spec.clusterIPs) if (!families.includes(ip.family)) families.push(ip.family);
  const etpLocal = spec.externalTrafficPolicy === 'Local';
  const itpLocal = spec.internalTrafficPolicy === 'Local';
  const affMs = spec.sessionAffinity === 'ClientIP' ? (spec.sessionAffinityConfig?.clientIP.timeoutSeconds ?? DEFAULT_CLIENT_IP_AFFINITY_SECONDS) * 1000 : 0;
  const localAddrs = new Set<string>();
  /** Service-port key id → backend key ids of serving endpoints (both families). */
  const valid = new Map<number, Set<number>>();

  spec.ports.forEach((sp, pi) => {
    const protoNum = PROTO[sp.protocol] ?? 6;
    const spKey = sp.name === '' ? key : `${key}:${sp.name}`;
    const spKeyId = interner.intern(spKey);
    for (const family of families) {
      const eps = collectEndpoints(slices, sp, family, ctx.nodeName, interner);
      const cluster = pool(usable(eps), `${spKey}|${family}|c`);
      let local: PoolPlan | null = null;
      if (etpLocal || itpLocal) {
        const lp = usable(eps.filter((e) => e.local));
        for (const e of lp) localAddrs.add(e.ip.text);
        local = pool(lp, `${spKey}|${family}|l`);
      }
      const ranges = isLB ? spec.loadBalancerSourceRanges.filter((c) => c.family === family) : [];
      let flags = family === 6 ? FEF_V6 : 0;
      if (etpLocal) flags |= FEF_ETP_LOCAL;
      if (itpLocal) flags |= FEF_ITP_LOCAL;
      if (spec.internal && isLB) flags |= FEF_INTERNAL;
      if (ranges.length > 0) flags |= FEF_RANGES;
      const spp: SpPlan = {
        service: key, spKey, spKeyId, portName: sp.name, family, flags, affMs, ranges,
        rangeWords: family === 4 ? prefixes4(ranges) : prefixes6(ranges), rangeStart: 0, cluster, local,
        sourceRangeTexts: ranges.map((c) => c.text),
      };
      frag.sps.push(spp);
      for (const e of eps) {
        if (!e.serving) continue;
        let set = valid.get(spKeyId);
        if (set === undefined) valid.set(spKeyId, (set = new Set()));
        set.add(e.keyId);
      }

      const cand = (kind: FrontendKind, ip: IP, port: number, path: string): void => {
        frag.cands.push({ kind, ip, proto: protoNum, protocol: sp.protocol, port, sp: spp, path, ck: `${protoNum}|${ip.text}|${port}`, meta: null });
      };
      spec.clusterIPs.forEach((ip, i) => {
        if (ip.family === family) cand(FrontendKind.ClusterIP, ip, sp.port, `spec.clusterIPs[${i}]`);
      });
      if (usesNodePorts && sp.nodePort !== 0) {
        for (const ip of ctx.nodePortIPs) if (ip.family === family) cand(FrontendKind.NodePort, ip, sp.nodePort, `spec.ports[${pi}].nodePort`);
      }
      if (isLB) {
        svc.status.loadBalancer.ingress.forEach((ing, i) => {
          if (ing.ip !== null && ing.ip.family === family && ing.ipMode !== 'Proxy') cand(FrontendKind.LoadBalancer, ing.ip, sp.port, `status.loadBalancer.ingress[${i}].ip`);
        });
        if (spec.loadBalancerIP !== null && spec.loadBalancerIP.family === family) cand(FrontendKind.LoadBalancer, spec.loadBalancerIP, sp.port, 'spec.loadBalancerIP');
      }
      spec.externalIPs.forEach((ip, i) => {
        if (ip.family === family) cand(FrontendKind.ExternalIP, ip, sp.port, `spec.externalIPs[${i}]`);
      });
    }
  });

  // Addresses of a family the service does not have: ignored, with a note.
  const note = (ip: IP, path: string): void => {
    if (!families.includes(ip.family)) frag.notes.push({ path, message: `${ip.text} is ignored: the service has no IPv${ip.family} cluster IP` });
  };
  spec.externalIPs.forEach((ip, i) => note(ip, `spec.externalIPs[${i}]`));
  if (isLB) {
    svc.status.loadBalancer.ingress.forEach((ing, i) => {
      if (ing.ip !== null) note(ing.ip, `status.loadBalancer.ingress[${i}].ip`);
    });
    if (spec.loadBalancerIP !== null) note(spec.loadBalancerIP, 'spec.loadBalancerIP');
  }
  frag.clusterIPs = spec.clusterIPs;
  if (isLB && etpLocal && spec.healthCheckNodePort !== 0) {
    frag.healthCheck = { service: key, nodePort: spec.healthCheckNodePort, localEndpoints: localAddrs.size };
  }
  const ids: number[] = [], offs: number[] = [], chunks: number[] = [];
  for (const [id, set] of valid) {
    ids.push(id);
    offs.push(chunks.length);
    chunks.push(set.size, ...[...set].sort((a, b) => a - b));
  }
  frag.validSpIds = Int32Array.from(ids);
  frag.validOffs = Int32Array.from(offs);
  frag.validChunks = Int32Array.from(chunks);
  return frag;
}

/** Pools of a rebuilt fragment whose backends are unchanged take the Maglev table of the fragment it replaces. */
function inheritMaglev(frag: ServiceFragment, old: ServiceFragment): void {
  const was = new Map<string, PoolPlan>();
  for (const sp of old.sps) {
    was.set(sp.cluster.id, sp.cluster);
    if (sp.local !== null) was.set(sp.local.id, sp.local);
  }
  const take = (p: PoolPlan): void => {
    const o = was.get(p.id);
    if (o === undefined || o.magSrc === null || o.sig !== p.sig || o.size !== p.size || o.wide !== p.wide) return;
    p.magSrc = o.magSrc;
    p.magSrcOff = o.magSrcOff;
  };
  for (const sp of frag.sps) {
    take(sp.cluster);
    if (sp.local !== null) take(sp.local);
  }
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const NO_SLICES: readonly EndpointSlice[] = [];
const EMPTY = new Int32Array(0);

export function compileServices(input: CompileServicesInput): CompiledServices {
  const node = input.node.spec;
  const interner = input.interner ?? new KeyInterner();
  const range = input.nodePortRange ?? DEFAULT_NODE_PORT_RANGE;

  const nodePortIPs = node.nodeIPs.filter((ip) => node.nodePortCIDRs.some((c) => cidrContains(c, ip)));

  // Fragments of the last compile, if they were built for the same node-level inputs.
  const cache = input.cache ?? null;
  const context = `${node.nodeName}\n${nodePortIPs.map((ip) => ip.text).join(',')}\n${range.min}-${range.max}`;
  let cached: Map<string, ServiceFragment> | null = null;
  if (cache !== null && cache.interner === interner && cache.context === context) cached = cache.fragments;
  const fragments = new Map<string, ServiceFragment>();
  let rebuilt = 0;

  // Slices by "namespace/service" (the last compile's grouping, patched, when few slices changed).
  let slicesBy = cached !== null && cache !== null ? regroup(cache, input.endpointSlices) : null;
  if (slicesBy === null) {
    slicesBy = new Map<string, EndpointSlice[]>();
    for (const es of input.endpointSlices) {
      if (!grouped(es)) continue;
      const k = sliceService(es);
      const l = slicesBy.get(k);
      if (l === undefined) slicesBy.set(k, [es]);
      else l.push(es);
    }
  }
  if (cache !== null) {
    cache.slices = null; // set again once this compile succeeded
    cache.slicesBy = null;
  }

  const status: ServiceCompileStatus[] = input.services.map((s) => ({ key: sortKey(s).name, frontends: 0, errors: [] }));

  const plan: Plan = { sps: [], fes: [], valid: [], clusterIPs: [], owned: [], healthChecks: [] };
  /** "proto|address|port" → the service port holding it. */
  const claimed = new Map<string, SpPlan>();

  for (const i of oldestFirst(input.services)) {
    const svc = input.services[i];
    const st = status[i];
    const key = st.key;
    if (fragments.has(key)) {
      st.errors.push({ path: 'metadata.name', message: `duplicate Service ${key} in the input; only the oldest one is compiled` });
      continue;
    }
    const slices = slicesBy.get(key) ?? NO_SLICES;
    const old = cached?.get(key);
    let frag = old;
    if (frag === undefined || frag.svc !== svc || !sameList(frag.slices, slices)) {
      frag = buildFragment(svc, slices, { key, nodeName: node.nodeName, nodePortIPs, range, interner });
      if (old !== undefined) inheritMaglev(frag, old);
      rebuilt++;
    }
    fragments.set(key, frag);
    if (!frag.compiled) {
      st.errors.push(...frag.skipErrors);
      continue;
    }
    for (const sp of frag.sps) plan.sps.push(sp);
    if (frag.validSpIds.length > 0) plan.valid.push(frag);
    for (const c of frag.cands) {
      const holder = claimed.get(c.ck);
      if (holder !== undefined) {
        if (holder === c.sp) continue; // the same frontend twice in this service port
        const who = holder.service === key ? `port "${holder.portName}" of this service` : `${holder.service} (older)`;
        st.errors.push({ path: c.path, message: `frontend ${frontendText(c.ip, c.protocol, c.port)} is already used by ${who}; not installed` });
        continue;
      }
      claimed.set(c.ck, c.sp);
      plan.fes.push(c);
      st.frontends++;
      if (c.kind === FrontendKind.LoadBalancer || c.kind === FrontendKind.ExternalIP) plan.owned.push(c.ip);
    }
    if (frag.notes.length > 0) st.errors.push(...frag.notes);
    plan.clusterIPs.push(frag.clusterIPs);
    if (frag.healthCheck !== null) plan.healthChecks.push({ ...frag.healthCheck });
  }

  // With a valid cache, rebuilt fragments already took the Maglev tables they can reuse.
  const table = layout(plan, input, interner, cached === null, cache);
  if (cache !== null) {
    cache.slices = input.endpointSlices.slice();
    cache.slicesBy = slicesBy;
    cache.interner = interner;
    cache.context = context;
    cache.fragments = fragments;
    cache.rebuilt = rebuilt;
  }
  return { table, status };
}

interface Plan {
  sps: SpPlan[];
  fes: Candidate[];
  /** Compiled services with serving endpoints. */
  valid: ServiceFragment[];
  clusterIPs: (readonly IP[])[];
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

/** Plans → typed arrays: copies of the pools' precomputed records, Maglev tables copied when known. */
function layout(plan: Plan, input: CompileServicesInput, interner: KeyInterner, usePrevious: boolean, cache: ServiceCompileCache | null): ServiceTable {
  const node = input.node.spec;
  const prev = usePrevious ? input.previous ?? null : null;
  const poolIndex: PoolList = { ids: [], sigs: [], mag: [], size: [], wide: [] };

  // Backend records and Maglev space per pool.
  let nBackends = 0;
  let mag16 = 0;
  let mag32 = 0;
  let n4 = 0;
  let n6 = 0;
  const place = (p: PoolPlan): void => {
    p.start = nBackends;
    nBackends += p.count;
    p.mag = 0;
    if (p.count === 0) return;
    if (p.wide) {
      p.mag = mag32;
      mag32 += p.size;
    } else {
      p.mag = mag16; // final unless the arena places it (below)
      mag16 += p.size;
    }
    if (p.magSrc === null && prev !== null) {
      const was = prev.poolIndex.get(p.id);
      if (was !== undefined && was.size === p.size && was.wide === p.wide && was.sig === p.sig) {
        p.magSrc = p.wide ? prev.maglev32 : prev.maglev16;
        p.magSrcOff = was.mag;
      }
    }
  };
  for (const sp of plan.sps) {
    place(sp.cluster);
    if (sp.local !== null) place(sp.local);
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
  // 16-bit Maglev space: a fresh array in layout order, or (with a cache) the append-only arena.
  let target: Uint16Array;
  let used = mag16;
  const each16 = (fn: (p: PoolPlan) => void): void => {
    for (const sp of plan.sps) {
      if (sp.cluster.count > 0 && !sp.cluster.wide) fn(sp.cluster);
      if (sp.local !== null && sp.local.count > 0 && !sp.local.wide) fn(sp.local);
    }
  };
  if (cache === null) {
    target = new Uint16Array(mag16);
  } else {
    const arena = cache.arena16;
    let inArena = 0;
    if (arena !== null) each16((p) => { if (p.magSrc === arena) inArena += p.size; });
    const need = mag16 - inArena;
    if (arena !== null && cache.arenaUsed + need <= arena.length && cache.arenaUsed - inArena <= mag16) {
      target = arena;
      let at = cache.arenaUsed;
      each16((p) => {
        if (p.magSrc === arena) p.mag = p.magSrcOff;
        else {
          p.mag = at;
          at += p.size;
        }
      });
      used = at;
    } else {
      target = new Uint16Array(Math.max(4096, Math.ceil(mag16 * 1.5)));
    }
    cache.arena16 = target;
    cache.arenaUsed = used;
  }
  const maglev16 = target.length === used ? target : target.subarray(0, used);
  const maglev32 = new Int32Array(mag32);
  for (const sp of plan.sps) {
    for (const p of [sp.cluster, sp.local]) {
      if (p === null || p.count === 0) continue;
      poolIndex.ids.push(p.id);
      poolIndex.sigs.push(p.sig);
      poolIndex.mag.push(p.mag);
      poolIndex.size.push(p.size);
      poolIndex.wide.push(p.wide);
    }
  }
  let scratch = new Int32Array(0);
  const memberKeys = new Int32Array(nBackends);
  const memberPos = new Int32Array(nBackends);
  // Backend records, membership and metadata: pools laid out next to each other last time and
  // again now are copied from the last layout as one run; others from their own arrays.
  let run: LaidOut | null = null, runFrom = 0, runTo = 0, runLen = 0;
  const flush = (): void => {
    if (run === null || runLen === 0) return;
    be.set(run.be.subarray(runFrom * BE_STRIDE, (runFrom + runLen) * BE_STRIDE), runTo * BE_STRIDE);
    memberKeys.set(run.memberKeys.subarray(runFrom, runFrom + runLen), runTo);
    memberPos.set(run.memberPos.subarray(runFrom, runFrom + runLen), runTo);
    const src = run.beMeta;
    for (let i = 0; i < runLen; i++) beMeta[runTo + i] = src[runFrom + i];
    run = null;
    runLen = 0;
  };
  const fill = (p: PoolPlan): void => {
    const n = p.count;
    if (n === 0) return;
    const start = p.start;
    if (p.last !== null) {
      if (run !== p.last || runFrom + runLen !== p.lastStart || runTo + runLen !== start) {
        flush();
        run = p.last;
        runFrom = p.lastStart;
        runTo = start;
      }
      runLen += n;
    } else {
      flush();
      be.set(p.be, start * BE_STRIDE);
      memberKeys.set(p.memberKeys, start);
      memberPos.set(p.memberPos, start);
      const meta = p.meta;
      for (let i = 0; i < n; i++) beMeta[start + i] = meta[i];
    }
    const src = p.magSrc;
    if (p.wide) {
      if (src !== null) maglev32.set(src.subarray(p.magSrcOff, p.magSrcOff + p.size), p.mag);
      else populateMaglev(p.keys, p.size, maglev32, p.mag);
    } else if (src === target && p.magSrcOff === p.mag) {
      // already in the arena, where it stays
    } else if (src !== null) {
      target.set(src.subarray(p.magSrcOff, p.magSrcOff + p.size), p.mag);
    } else {
      if (scratch.length < p.size) scratch = new Int32Array(p.size);
      populateMaglev(p.keys, p.size, scratch, 0);
      for (let i = 0; i < p.size; i++) target[p.mag + i] = scratch[i];
    }
  };
  const ranges4 = new Uint32Array(n4 * 2);
  const ranges6 = new Uint32Array(n6 * 8);
  for (const sp of plan.sps) {
    fill(sp.cluster);
    if (sp.local !== null) fill(sp.local);
    if (sp.ranges.length > 0) {
      if (sp.family === 4) ranges4.set(sp.rangeWords, sp.rangeStart * 2);
      else ranges6.set(sp.rangeWords, sp.rangeStart * 8);
    }
  }
  flush();

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
    rec[R_CCOUNT] = sp.cluster.count;
    rec[R_CMAG] = sp.cluster.mag;
    rec[R_CMAGSIZE] = sp.cluster.size;
    if (sp.local !== null) {
      rec[R_LSTART] = sp.local.start;
      rec[R_LCOUNT] = sp.local.count;
      rec[R_LMAG] = sp.local.mag;
      rec[R_LMAGSIZE] = sp.local.count > 0 ? sp.local.size : -1; // -1: a local pool, empty
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
    let m = f.meta;
    if (m === null || m.id !== id) {
      m = {
        id, service: sp.service, servicePort: sp.spKey, portName: sp.portName, family: f.ip.family, address: f.ip.text,
        protocol: f.protocol, proto: f.proto, port: f.port, sourceRanges: sp.sourceRangeTexts,
      };
      f.meta = m;
    }
    feMeta.push(m);
  }

  let nValidSps = 0, nValidWords = 0;
  for (const f of plan.valid) {
    nValidSps += f.validSpIds.length;
    nValidWords += f.validChunks.length;
  }
  const validIndex = new PairMap(nValidSps);
  const validKeys = new Int32Array(nValidWords);
  let vo = 0;
  for (const f of plan.valid) {
    validKeys.set(f.validChunks, vo);
    for (let i = 0; i < f.validSpIds.length; i++) validIndex.set(f.validSpIds[i], 0, vo + f.validOffs[i]);
    vo += f.validChunks.length;
  }

  const set4 = (lists: readonly (readonly IP[])[]): PairMap => {
    let n = 0;
    for (const l of lists) n += l.length;
    const m = new PairMap(n);
    for (const l of lists) for (const ip of l) if (ip.family === 4) m.set(ip.v4, 0, 1);
    return m;
  };
  const set6 = (lists: readonly (readonly IP[])[]): QuadMap => {
    let n = 0;
    for (const l of lists) n += l.length;
    const m = new QuadMap(n);
    for (const l of lists) {
      for (const ip of l) {
        if (ip.family !== 6) continue;
        const w = ipWords(ip);
        m.set(w[0], w[1], w[2], w[3], 0, 1);
      }
    }
    return m;
  };
  const nodeHosts = node.nodeIPs.map(hostPrefix);

  const table = new ServiceTable({
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
    memberKeys,
    memberPos,
    validIndex,
    validKeys,
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
    owns4: set4([plan.owned]),
    owns6: set6([plan.owned]),
    clusterIP4: set4(plan.clusterIPs),
    clusterIP6: set6(plan.clusterIPs),
    feMeta,
    beMeta,
    healthChecks: plan.healthChecks,
    poolIndex,
  });
  // The pools' Maglev tables now live in this (immutable) table: the next compile copies from here.
  const laidOut: LaidOut | null = cache !== null ? { be, memberKeys, memberPos, beMeta } : null;
  const keep = (p: PoolPlan): void => {
    if (p.count === 0) return;
    p.magSrc = p.wide ? maglev32 : target;
    p.magSrcOff = p.mag;
    p.last = laidOut;
    p.lastStart = p.start;
  };
  for (const sp of plan.sps) {
    keep(sp.cluster);
    if (sp.local !== null) keep(sp.local);
  }
  return table;
}
