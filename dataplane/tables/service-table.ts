/**
 * The compiled service table of one generation: Kubernetes Services as kube-proxy (nftables
 * mode) implements them — frontend lookup, backend choice, DNAT target, masquerade decision,
 * reject/drop verdicts. Built by control/compile/services.ts off the hot path; immutable
 * afterwards except the runtime health bits, which live outside the generation.
 *
 * Hot path (once per new flow, no allocation):
 *
 *   lookupFrontend4/6(dst, proto, dport) → frontend id (open addressing over an Int32Array)
 *   resolve4/6(frontend, src, ..., out)  → out.verdict Dnat/Reject/Drop + backend + masquerade
 *
 * Layout. Every frontend (ClusterIP, NodePort, LoadBalancer ingress, external IP — one per
 * family × address × protocol × port) is a slot of an open-addressing table that holds the key
 * and, right behind it, everything resolve needs (R_* below): flags (kind, family, policies),
 * both backend pools (first backend record, count, Maglev offset and size), the LB source
 * ranges and the session affinity timeout. The lookup's cache line is the record; a frontend id
 * is its slot. A pool is a contiguous run of backend records sorted by backend key (Maglev's
 * input order), so a Maglev entry is a position in the pool and backend id = start + position.
 * A resolve therefore touches one frontend slot, one Maglev entry and one backend record — no
 * per-service indirection, so the work is the same for 10 or 10,000 services.
 *
 *   fe4 / fe6   frontend slots (FE4_STRIDE / FE6_STRIDE ints)
 *   maglev16    Maglev tables of pools ≤ 65535 backends, 16-bit positions (half the cache
 *               footprint of int32); maglev32 for larger pools. Size: MAGLEV_SIZES (≥ 100/backend)
 *   be          backend records (BE_STRIDE ints): addr w0..w3 (IPv4 as ::ffff:a.b.c.d), port,
 *               backend key id, flags; one per (pool, endpoint) — an endpoint in both the
 *               cluster and the local pool of a service port has two records
 *
 * Stable ids. Flows and the affinity table outlive generations, so they never store indices
 * of this table. They store *key ids* from a shared KeyInterner: a service-port key
 * ("ns/name:port-name", kube-proxy's ServicePortName) and a backend key
 * ("10.244.0.2:8080/TCP", "[fd00::2]:8080/UDP"). `backendStillValid(spKey, beKey)` answers
 * "is that backend still a serving endpoint of that service port in this generation".
 *
 * Health. `setBackendHealthy(backendKey, bool)` flips a bit in the KeyInterner (shared runtime
 * state, survives generation swaps; no recompile). Design choice: Maglev tables are built over
 * all endpoints and unhealthy ones are skipped at lookup — when the Maglev entry for a flow
 * points at an unhealthy backend, resolve walks the following entries (at most WALK of them),
 * then falls back to a scan of the pool from a hash-derived position. Why not precompute
 * tables of healthy backends: a health flip would then need a table rebuild per pool (work on
 * the control path for every flap) and, worse, rebuilding changes other backends' entries
 * (Maglev's ~2 % churn). Skipping at lookup gives exact minimal disruption: flows whose entry
 * points at a healthy backend never move when another backend goes down or comes back, and
 * the cost with everything healthy is one extra byte read. Maglev tables interleave backends,
 * so an unhealthy backend's flows spread over the others. When no backend of the pool is
 * healthy the verdict is Reject ('no-healthy-endpoints').
 *
 * Semantics (kube-proxy, nftables mode; "Virtual IPs and Service Proxies", "Service Traffic
 * Policies"), in the order resolve applies them:
 *  1. LoadBalancer frontends: loadBalancerSourceRanges — a source outside all ranges → Drop
 *     ('source-range'); internal LB — only sources in the VNet prefixes or cluster CIDRs, pods
 *     and the node itself → else Drop ('internal-lb-external-source').
 *  2. No usable endpoint cluster-wide (ready; else serving+terminating) → Reject ('no-endpoints').
 *  3. Pool: ClusterIP → cluster pool, or with internalTrafficPolicy Local the local pool (empty
 *     → Drop 'no-local-endpoints-internal'). External frontends (NodePort, LB, external IP)
 *     with externalTrafficPolicy Local: from a cluster pod (pod port or source in
 *     clusterCIDRs) → cluster pool (kube-proxy's short-circuit); from the node itself (host
 *     port, source a node IP) → cluster pool, masqueraded; otherwise the local pool, client IP
 *     kept (empty → Drop 'no-local-endpoints').
 *  4. Masquerade: masqueradeAll; ClusterIP from a source that is not a cluster pod; external
 *     frontends with externalTrafficPolicy Cluster; the node itself to ETP Local; hairpin (the
 *     source is the chosen backend).
 *  5. Backend: session affinity (ClientIP) first — the remembered backend if it is still in
 *     the pool and healthy, refreshed on use — else Maglev on the flow hash (or random).
 * Traffic to a ClusterIP on a port that is no service port → Reject, to an unallocated address
 * of the service CIDRs → Drop: `resolveMiss4/6` (kube-proxy's cluster-ips-check chain).
 */
import { ServiceVerdict } from '../pipeline/generation';
import type { ServiceStage } from '../pipeline/generation';
import { AffinityTable } from './affinity-table';
import { fmix32 } from './maglev';

export { ServiceVerdict };

// ─── Reasons ─────────────────────────────────────────────────────────────────────────────

/** Why a flow got its verdict. Append only (stats labels). */
export const enum ServiceReason {
  None = 0,
  /** No ready (nor serving+terminating) endpoint anywhere: Reject. */
  NoEndpoints = 1,
  /** externalTrafficPolicy Local, external source, no local endpoint: Drop. */
  NoLocalEndpoints = 2,
  /** internalTrafficPolicy Local, no local endpoint: Drop. */
  NoLocalEndpointsInternal = 3,
  /** loadBalancerSourceRanges does not contain the source: Drop. */
  SourceRange = 4,
  /** Internal load balancer reached from outside the VNet / cluster: Drop. */
  InternalLbExternalSource = 5,
  /** Endpoints exist but every one is marked unhealthy: Reject. */
  NoHealthyEndpoints = 6,
  /** A ClusterIP on a port that is not one of its service ports: Reject. */
  ClusterIPInvalidPort = 7,
  /** An address of the service CIDRs that no service holds: Drop. */
  UnallocatedClusterIP = 8,
}

/** Stable kebab-case names, indexed by ServiceReason. */
export const SERVICE_REASON_NAMES: readonly string[] = [
  'none',
  'no-endpoints',
  'no-local-endpoints',
  'no-local-endpoints-internal',
  'source-range',
  'internal-lb-external-source',
  'no-healthy-endpoints',
  'clusterip-invalid-port',
  'unallocated-clusterip',
];

export const SERVICE_VERDICT_NAMES: readonly string[] = ['not-service', 'dnat', 'reject', 'drop'];

export const enum FrontendKind {
  ClusterIP = 0,
  NodePort = 1,
  LoadBalancer = 2,
  ExternalIP = 3,
}
export const FRONTEND_KIND_NAMES: readonly string[] = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalIP'];

/** Which pool a resolve used (ServiceResult.pool). */
export const enum PoolKind {
  None = -1,
  Cluster = 0,
  Local = 1,
}

// PortRole values (dataplane/pipeline/generation.ts), bound locally.
const ROLE_HOST = 1;
const ROLE_POD = 2;

// ─── Frontend slots ──────────────────────────────────────────────────────────────────────
//
// The frontend hash table *is* the frontend store: a slot holds the key and, right behind it,
// the record resolve needs, so the lookup's cache line already holds the record. A frontend id
// is its slot: IPv4 ids 0..cap4-1, IPv6 ids cap4 + slot. Empty slot: protocol|port word = -1.
//
//   IPv4 slot (16 ints, one cache line):  addr, proto<<16|port, record R_*  (FE4_REC = 2)
//   IPv6 slot (32 ints):                  w0 w1 w2 w3, proto<<16|port, record R_*  (FE6_REC = 5)

export const FE4_STRIDE = 16;
export const FE4_REC = 2;
export const FE6_STRIDE = 32;
export const FE6_REC = 5;
/** FrontendKind in bits 0-1, plus FEF_* flags. */
export const R_FLAGS = 0;
/** Cluster pool: first backend record, count, Maglev offset and size. */
export const R_CSTART = 1;
export const R_CCOUNT = 2;
export const R_CMAG = 3;
export const R_CMAGSIZE = 4;
/** Local pool (R_LMAGSIZE 0: the service has no local pool; -1: it has one, empty). */
export const R_LSTART = 5;
export const R_LCOUNT = 6;
export const R_LMAG = 7;
export const R_LMAGSIZE = 8;
/** Stable service-port key id. */
export const R_SPKEY = 9;
/** First LB source range (index into ranges4 / ranges6) and their number. */
export const R_RANGE = 10;
export const R_RANGES = 11;
/** sessionAffinity ClientIP timeout in ms; 0 = no affinity. */
export const R_AFFMS = 12;
/** Index into the describe metadata. */
export const R_META = 13;
export const R_WORDS = 14;

export const FEF_KIND = 3;
export const FEF_V6 = 1 << 2;
export const FEF_ETP_LOCAL = 1 << 3;
export const FEF_ITP_LOCAL = 1 << 4;
export const FEF_INTERNAL = 1 << 5;
export const FEF_RANGES = 1 << 6;

// ─── Backend record ──────────────────────────────────────────────────────────────────────

export const BE_STRIDE = 8;
export const BE_PORT = 4;
export const BE_KEY = 5;
export const BE_FLAGS = 6;
export const BEF_V6 = 1;
export const BEF_LOCAL = 2;
export const BEF_READY = 4;
export const BEF_SERVING = 8;
export const BEF_TERMINATING = 16;

/** Maglev entries walked past an unhealthy backend before scanning the pool. */
const WALK = 16;

// ─── Stable ids ──────────────────────────────────────────────────────────────────────────

/**
 * Interned string keys → small stable integer ids, shared by every generation the agent
 * compiles (pass the same instance to each compileServices call). Also holds the runtime
 * health bit of each backend key. Ids are never reused; memory grows with the number of
 * distinct keys ever seen (a string and a byte each).
 *
 * Key formats: service port "ns/name:port-name" (or "ns/name" for an unnamed port — the
 * kube-proxy ServicePortName); backend "10.244.0.2:8080/TCP", "[fd00::2]:8080/UDP". The two
 * cannot collide: a namespace has no ':', so a service-port key has its '/' first.
 */
export class KeyInterner {
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [];
  /** unhealthy[id] = 1 when the backend with that key id is marked unhealthy. */
  unhealthy: Uint8Array = new Uint8Array(1024);

  intern(key: string): number {
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(key, id);
      this.names.push(key);
      if (id >= this.unhealthy.length) {
        const next = new Uint8Array(this.unhealthy.length * 2);
        next.set(this.unhealthy);
        this.unhealthy = next;
      }
    }
    return id;
  }

  /** The id of `key`, or -1 when it was never interned. */
  id(key: string): number {
    return this.ids.get(key) ?? -1;
  }

  /** The key of an id, or undefined. */
  name(id: number): string | undefined {
    return this.names[id];
  }

  get size(): number {
    return this.names.length;
  }

  setHealthy(id: number, healthy: boolean): void {
    if (id >= 0 && id < this.names.length) this.unhealthy[id] = healthy ? 0 : 1;
  }

  isHealthy(id: number): boolean {
    return this.unhealthy[id] !== 1;
  }
}

/** The backend key of an endpoint: "10.244.0.2:8080/TCP", "[fd00::2]:8080/UDP". */
export function backendKey(addressText: string, port: number, protocol: string): string {
  return addressText.includes(':') ? `[${addressText}]:${port}/${protocol}` : `${addressText}:${port}/${protocol}`;
}

// ─── Build-time hash maps (immutable after build) ────────────────────────────────────────

function capFor(n: number): number {
  let c = 16;
  while (c < n * 2) c <<= 1;
  return c;
}

function hash2(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15) ^ b, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 13), 0x85ebca6b);
  return (h ^ (h >>> 16)) >>> 0;
}

function hash5(a0: number, a1: number, a2: number, a3: number, b: number): number {
  let h = Math.imul(a3 ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ a2 ^ (h >>> 13), 0xc2b2ae35);
  h = Math.imul(h ^ a1 ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ a0 ^ (h >>> 13), 0xc2b2ae35);
  h = Math.imul(h ^ b ^ (h >>> 16), 0x85ebca6b);
  return (h ^ (h >>> 13)) >>> 0;
}

/** (u32, u32) → value ≥ 0; open addressing with linear probing, one Int32Array (k0, k1, value). */
export class PairMap {
  private readonly slots: Int32Array;
  private readonly mask: number;
  size = 0;
  constructor(expected: number) {
    const cap = capFor(expected);
    this.mask = cap - 1;
    this.slots = new Int32Array(cap * 3).fill(-1);
  }
  /** Insert or overwrite (build time). Returns false when the map is full. */
  set(a: number, b: number, value: number): boolean {
    const s = this.slots, m = this.mask;
    a |= 0; b |= 0;
    let i = hash2(a, b) & m;
    for (let n = 0; n <= m; n++, i = (i + 1) & m) {
      const o = i * 3;
      if (s[o + 2] < 0) {
        s[o] = a; s[o + 1] = b; s[o + 2] = value;
        this.size++;
        return true;
      }
      if (s[o] === a && s[o + 1] === b) {
        s[o + 2] = value;
        return true;
      }
    }
    return false;
  }
  get(a: number, b: number): number {
    const s = this.slots, m = this.mask;
    a |= 0; b |= 0;
    let i = hash2(a, b) & m;
    for (;;) {
      const o = i * 3;
      const v = s[o + 2];
      if (v < 0) return -1;
      if (s[o] === a && s[o + 1] === b) return v;
      i = (i + 1) & m;
    }
  }
  get byteLength(): number {
    return this.slots.byteLength;
  }
}

/** (4 address words, u32) → value ≥ 0; like PairMap with 6-int slots. */
export class QuadMap {
  private readonly slots: Int32Array;
  private readonly mask: number;
  size = 0;
  constructor(expected: number) {
    const cap = capFor(expected);
    this.mask = cap - 1;
    this.slots = new Int32Array(cap * 6).fill(-1);
  }
  set(a0: number, a1: number, a2: number, a3: number, b: number, value: number): boolean {
    const s = this.slots, m = this.mask;
    a0 |= 0; a1 |= 0; a2 |= 0; a3 |= 0; b |= 0;
    let i = hash5(a0, a1, a2, a3, b) & m;
    for (let n = 0; n <= m; n++, i = (i + 1) & m) {
      const o = i * 6;
      if (s[o + 5] < 0) {
        s[o] = a0; s[o + 1] = a1; s[o + 2] = a2; s[o + 3] = a3; s[o + 4] = b; s[o + 5] = value;
        this.size++;
        return true;
      }
      if (s[o + 3] === a3 && s[o + 4] === b && s[o + 2] === a2 && s[o + 1] === a1 && s[o] === a0) {
        s[o + 5] = value;
        return true;
      }
    }
    return false;
  }
  get(a0: number, a1: number, a2: number, a3: number, b: number): number {
    const s = this.slots, m = this.mask;
    a0 |= 0; a1 |= 0; a2 |= 0; a3 |= 0; b |= 0;
    let i = hash5(a0, a1, a2, a3, b) & m;
    for (;;) {
      const o = i * 6;
      const v = s[o + 5];
      if (v < 0) return -1;
      if (s[o + 3] === a3 && s[o + 4] === b && s[o + 2] === a2 && s[o + 1] === a1 && s[o] === a0) return v;
      i = (i + 1) & m;
    }
  }
  /** get() of the 16 address bytes at buf[off..]. */
  getAt(buf: Uint8Array, off: number, b: number): number {
    return this.get(read32(buf, off), read32(buf, off + 4), read32(buf, off + 8), read32(buf, off + 12), b);
  }
  get byteLength(): number {
    return this.slots.byteLength;
  }
}

export function read32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

// ─── Result ──────────────────────────────────────────────────────────────────────────────

/** Filled by resolve4/6 (create one, reuse it for every flow). */
export class ServiceResult {
  /** ServiceVerdict. */
  verdict = 0;
  /** ServiceReason (names: SERVICE_REASON_NAMES). */
  reason = 0;
  /** Frontend id (this generation), -1 when none. */
  frontend = -1;
  /** Frontend kind (FrontendKind). */
  kind = 0;
  /** Stable service-port key id (KeyInterner), -1 when none. Store it in the flow. */
  servicePortKey = -1;
  /** Backend id in this generation (for describe / counters), -1 when none. */
  backend = -1;
  /** Stable backend key id (KeyInterner), -1 when none. Store it in the flow. */
  backendKey = -1;
  /** PoolKind the backend was taken from (-1 none, 0 cluster, 1 local). */
  pool = -1;
  /** True when the backend came from a live session-affinity entry. */
  affinityHit = false;
  family: 4 | 6 = 4;
  /** DNAT destination (IPv4 as u32) — valid when verdict is Dnat and family 4. */
  addr4 = 0;
  /** DNAT destination bytes — valid when verdict is Dnat and family 6. */
  readonly addr6 = new Uint8Array(16);
  /** DNAT destination port. */
  port = 0;
  /** SNAT the source to the node (masquerade). */
  masquerade = false;
}

// ─── Off-hot-path views (trace, describe) ────────────────────────────────────────────────

export interface EndpointView {
  backend: number;
  key: string;
  keyId: number;
  address: string;
  port: number;
  nodeName: string | null;
  local: boolean;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  healthy: boolean;
}

export interface FrontendView {
  frontend: number;
  /** "ns/name" */
  service: string;
  /** "ns/name:port-name" (the stable service-port key) and its id. */
  servicePort: string;
  servicePortKey: number;
  portName: string;
  kind: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalIP';
  family: 4 | 6;
  address: string;
  protocol: string;
  port: number;
  /** "10.96.0.10:53/UDP" */
  text: string;
  externalTrafficPolicy: 'Cluster' | 'Local';
  internalTrafficPolicy: 'Cluster' | 'Local';
  /** 0 when sessionAffinity is None. */
  sessionAffinitySeconds: number;
  internal: boolean;
  sourceRanges: string[];
  clusterEndpoints: EndpointView[];
  /** null when the service uses no local pool (both policies Cluster). */
  localEndpoints: EndpointView[] | null;
}

/** Per-frontend text the compiler keeps for describe() (indexed by R_META). */
export interface FrontendMeta {
  /** The frontend id. */
  id: number;
  service: string;
  servicePort: string;
  portName: string;
  family: 4 | 6;
  address: string;
  protocol: string;
  proto: number;
  port: number;
  sourceRanges: string[];
}

export interface BackendMeta {
  key: string;
  address: string;
  nodeName: string | null;
}

/** A healthCheckNodePort the node must serve (ETP Local LoadBalancer services). */
export interface HealthCheckInfo {
  service: string;
  nodePort: number;
  /** Distinct usable local endpoint addresses over all ports and families. */
  localEndpoints: number;
}

/** Builds the two frontend slot arrays (compile time). */
export class FrontendTableBuilder {
  readonly t4: Int32Array;
  readonly t6: Int32Array;
  readonly cap4: number;
  readonly cap6: number;
  constructor(n4: number, n6: number) {
    this.cap4 = capFor(n4);
    this.cap6 = capFor(n6);
    this.t4 = new Int32Array(this.cap4 * FE4_STRIDE);
    this.t6 = new Int32Array(this.cap6 * FE6_STRIDE);
    for (let i = 0; i < this.cap4; i++) this.t4[i * FE4_STRIDE + 1] = -1;
    for (let i = 0; i < this.cap6; i++) this.t6[i * FE6_STRIDE + 4] = -1;
  }
  /** Insert an IPv4 frontend; its id, or -1 when the key is already present. */
  add4(addr: number, protoPort: number, rec: ArrayLike<number>): number {
    const t = this.t4, m = this.cap4 - 1;
    addr |= 0;
    for (let i = hash2(addr, protoPort) & m; ; i = (i + 1) & m) {
      const o = i * FE4_STRIDE;
      if (t[o + 1] < 0) {
        t[o] = addr;
        t[o + 1] = protoPort;
        for (let k = 0; k < R_WORDS; k++) t[o + FE4_REC + k] = rec[k];
        return i;
      }
      if (t[o] === addr && t[o + 1] === protoPort) return -1;
    }
  }
  add6(w0: number, w1: number, w2: number, w3: number, protoPort: number, rec: ArrayLike<number>): number {
    const t = this.t6, m = this.cap6 - 1;
    w0 |= 0; w1 |= 0; w2 |= 0; w3 |= 0;
    for (let i = hash5(w0, w1, w2, w3, protoPort) & m; ; i = (i + 1) & m) {
      const o = i * FE6_STRIDE;
      if (t[o + 4] < 0) {
        t[o] = w0; t[o + 1] = w1; t[o + 2] = w2; t[o + 3] = w3; t[o + 4] = protoPort;
        for (let k = 0; k < R_WORDS; k++) t[o + FE6_REC + k] = rec[k];
        return this.cap4 + i;
      }
      if (t[o] === w0 && t[o + 1] === w1 && t[o + 2] === w2 && t[o + 3] === w3 && t[o + 4] === protoPort) return -1;
    }
  }
}

/** Everything compileServices produces for one ServiceTable. */
export interface ServiceTableData {
  interner: KeyInterner;
  balancer: 'maglev' | 'random';
  randomSeed: number;
  masqueradeAll: boolean;
  frontends: FrontendTableBuilder;
  frontendCount: number;
  /** Maglev tables of pools with ≤ 65535 backends (positions fit 16 bits: half the cache footprint). */
  maglev16: Uint16Array;
  /** Maglev tables of larger pools. */
  maglev32: Int32Array;
  be: Int32Array;
  backendCount: number;
  /**
   * Pool membership for session affinity: at [start, start + count) of each non-empty pool,
   * its backend key ids ascending (memberKeys) and each one's position in the pool (memberPos),
   * so "is backend key k in the pool at start" is a binary search. Copied per pool by the
   * compiler (position independent), not hashed per generation.
   */
  memberKeys: Int32Array;
  memberPos: Int32Array;
  /**
   * Serving endpoints per service port: validIndex (service-port key id, 0) → offset of a
   * chunk in validKeys: its length n, then n backend key ids ascending.
   */
  validIndex: PairMap;
  validKeys: Int32Array;
  /** LB source ranges: v4 (net, mask) pairs; v6 8 words (net w0..w3, mask w0..w3). */
  ranges4: Uint32Array;
  ranges6: Uint32Array;
  cluster4: Uint32Array;
  cluster6: Uint32Array;
  vnet4: Uint32Array;
  vnet6: Uint32Array;
  node4: Uint32Array;
  node6: Uint32Array;
  serviceCIDR4: Uint32Array;
  serviceCIDR6: Uint32Array;
  /** LB ingress + external IPs (value 1). */
  owns4: PairMap;
  owns6: QuadMap;
  /** ClusterIPs of compiled services (value 1). */
  clusterIP4: PairMap;
  clusterIP6: QuadMap;
  feMeta: FrontendMeta[];
  beMeta: BackendMeta[];
  healthChecks: HealthCheckInfo[];
  /** Maglev tables by pool identity ("spKey|family|c" or "|l") for reuse by the next compile. */
  poolIndex: PoolList;
}

/** The pools of a table as parallel lists (cheap to build); ServiceTable.poolIndex maps them by id on demand. */
export interface PoolList {
  ids: string[];
  sigs: string[];
  mag: number[];
  size: number[];
  wide: boolean[];
}

export interface PoolIndexEntry {
  /** Sorted backend keys joined by "," — the Maglev input. */
  sig: string;
  /** Offset and size in maglev16 (or maglev32 when wide). */
  mag: number;
  size: number;
  wide: boolean;
}

/** Pools with more backends than this keep their Maglev table in maglev32. */
export const MAGLEV16_MAX_BACKENDS = 0xffff;

const PROTO_NAMES: Record<number, string> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

// ─── The table ───────────────────────────────────────────────────────────────────────────

export class ServiceTable implements ServiceStage<ServiceResult, AffinityTable> {
  readonly interner: KeyInterner;
  readonly balancer: 'maglev' | 'random';
  readonly masqueradeAll: boolean;
  /** Number of frontends. Ids are slots: IPv4 0..cap4-1, IPv6 cap4..cap4+cap6-1 (sparse). */
  readonly frontendCount: number;
  readonly backendCount: number;
  readonly healthChecks: readonly HealthCheckInfo[];
  /** For the next compile (Maglev reuse); not used on the hot path. */
  private readonly poolList: PoolList;
  private poolMap: Map<string, PoolIndexEntry> | null = null;
  /** Raw arrays, exposed read-only for benchmarks and tests. */
  readonly fe4: Int32Array;
  readonly fe6: Int32Array;
  readonly cap4: number;
  readonly cap6: number;
  readonly be: Int32Array;
  readonly maglev16: Uint16Array;
  readonly maglev32: Int32Array;
  private readonly mask4: number;
  private readonly mask6: number;
  private readonly memberKeys: Int32Array;
  private readonly memberPos: Int32Array;
  private readonly validIndex: PairMap;
  private readonly validKeys: Int32Array;
  private readonly ranges4: Uint32Array;
  private readonly ranges6: Uint32Array;
  private readonly cluster4: Uint32Array;
  private readonly cluster6: Uint32Array;
  private readonly vnet4: Uint32Array;
  private readonly vnet6: Uint32Array;
  private readonly node4: Uint32Array;
  private readonly node6: Uint32Array;
  private readonly serviceCIDR4: Uint32Array;
  private readonly serviceCIDR6: Uint32Array;
  private readonly owns4: PairMap;
  private readonly owns6: QuadMap;
  private readonly clusterIP4: PairMap;
  private readonly clusterIP6: QuadMap;
  private readonly feMeta: FrontendMeta[];
  private readonly beMeta: BackendMeta[];
  private readonly useMaglev: boolean;
  private rng: number;
  /** Scratch: the client address words of the flow being resolved. */
  private readonly cw = new Uint32Array(4);

  constructor(d: ServiceTableData) {
    this.interner = d.interner;
    this.balancer = d.balancer;
    this.useMaglev = d.balancer === 'maglev';
    this.masqueradeAll = d.masqueradeAll;
    this.frontendCount = d.frontendCount;
    this.backendCount = d.backendCount;
    this.healthChecks = d.healthChecks;
    this.poolList = d.poolIndex;
    this.fe4 = d.frontends.t4;
    this.fe6 = d.frontends.t6;
    this.cap4 = d.frontends.cap4;
    this.cap6 = d.frontends.cap6;
    this.mask4 = this.cap4 - 1;
    this.mask6 = this.cap6 - 1;
    this.be = d.be;
    this.maglev16 = d.maglev16;
    this.maglev32 = d.maglev32;
    this.memberKeys = d.memberKeys;
    this.memberPos = d.memberPos;
    this.validIndex = d.validIndex;
    this.validKeys = d.validKeys;
    this.ranges4 = d.ranges4;
    this.ranges6 = d.ranges6;
    this.cluster4 = d.cluster4;
    this.cluster6 = d.cluster6;
    this.vnet4 = d.vnet4;
    this.vnet6 = d.vnet6;
    this.node4 = d.node4;
    this.node6 = d.node6;
    this.serviceCIDR4 = d.serviceCIDR4;
    this.serviceCIDR6 = d.serviceCIDR6;
    this.owns4 = d.owns4;
    this.owns6 = d.owns6;
    this.clusterIP4 = d.clusterIP4;
    this.clusterIP6 = d.clusterIP6;
    this.feMeta = d.feMeta;
    this.beMeta = d.beMeta;
    this.rng = d.randomSeed >>> 0 || 0x2545f491;
  }

  /** Pool identity → where its Maglev table is; built on first use (by the next compile, if at all). */
  get poolIndex(): Map<string, PoolIndexEntry> {
    if (this.poolMap === null) {
      const l = this.poolList;
      const m = new Map<string, PoolIndexEntry>();
      for (let i = 0; i < l.ids.length; i++) m.set(l.ids[i], { sig: l.sigs[i], mag: l.mag[i], size: l.size[i], wide: l.wide[i] });
      this.poolMap = m;
    }
    return this.poolMap;
  }

  // ── Hot path ──

  /** Frontend id for (IPv4 destination as u32, IP protocol number, destination port), or -1. */
  lookupFrontend4(dst: number, proto: number, dport: number): number {
    const t = this.fe4, m = this.mask4;
    const a = dst | 0, pp = (proto << 16) | dport;
    for (let i = hash2(a, pp) & m; ; i = (i + 1) & m) {
      const o = i * FE4_STRIDE;
      const k = t[o + 1];
      if (k < 0) return -1;
      if (k === pp && t[o] === a) return i;
    }
  }

  /** Frontend id for the IPv6 destination at buf[dstOff..dstOff+15], or -1. */
  lookupFrontend6(buf: Uint8Array, dstOff: number, proto: number, dport: number): number {
    const t = this.fe6, m = this.mask6;
    const w0 = read32(buf, dstOff) | 0, w1 = read32(buf, dstOff + 4) | 0, w2 = read32(buf, dstOff + 8) | 0, w3 = read32(buf, dstOff + 12) | 0;
    const pp = (proto << 16) | dport;
    for (let i = hash5(w0, w1, w2, w3, pp) & m; ; i = (i + 1) & m) {
      const o = i * FE6_STRIDE;
      const k = t[o + 4];
      if (k < 0) return -1;
      if (k === pp && t[o + 3] === w3 && t[o + 2] === w2 && t[o + 1] === w1 && t[o] === w0) return this.cap4 + i;
    }
  }

  /** True for LoadBalancer ingress and external IPs (the uplink answers ARP for them). */
  ownsAddress4(ip: number): boolean {
    return this.owns4.get(ip, 0) >= 0;
  }

  ownsAddress6(buf: Uint8Array, off: number): boolean {
    return this.owns6.getAt(buf, off, 0) >= 0;
  }

  /**
   * The addresses ownsAddress4/6 answer for (LoadBalancer frontends and external IPs), each
   * once, in compile order: IPv4 as u32, IPv6 as 16 bytes. Off the hot path (the agent diffs
   * them between generations to send gratuitous ARP / unsolicited NA for new ones).
   */
  ownedAddresses(): { v4: number[]; v6: Uint8Array[] } {
    const v4: number[] = [];
    const v6: Uint8Array[] = [];
    const seen = new Set<string>();
    for (const m of this.feMeta) {
      const rec = this.recordOf(m.id);
      if (rec === null) continue;
      const kind = rec.t[rec.o + R_FLAGS] & FEF_KIND;
      if ((kind !== FrontendKind.LoadBalancer && kind !== FrontendKind.ExternalIP) || seen.has(m.address)) continue;
      seen.add(m.address);
      if (rec.t === this.fe4) v4.push(this.fe4[m.id * FE4_STRIDE] >>> 0);
      else {
        const o = (m.id - this.cap4) * FE6_STRIDE;
        const b = new Uint8Array(16);
        for (let w = 0; w < 4; w++) {
          const x = this.fe6[o + w];
          b[4 * w] = x >>> 24; b[4 * w + 1] = (x >>> 16) & 255; b[4 * w + 2] = (x >>> 8) & 255; b[4 * w + 3] = x & 255;
        }
        v6.push(b);
      }
    }
    return { v4, v6 };
  }

  /**
   * Resolve a new IPv4 flow to frontend `fe` (from lookupFrontend4) from `src:sport` arriving
   * on a port of role `fromRole` (PortRole). `flowHash` picks the Maglev entry (same hash →
   * same backend); `now` (ms) drives session affinity. Fills `out`; never throws, never
   * allocates. An id that is not an IPv4 frontend leaves out.verdict NotService.
   */
  resolve4(fe: number, src: number, sport: number, fromRole: number, flowHash: number, now: number, affinity: AffinityTable, out: ServiceResult): void {
    void sport;
    const cw = this.cw;
    cw[0] = 0; cw[1] = 0; cw[2] = 0xffff; cw[3] = src;
    const t = this.fe4;
    const o = fe >= 0 && fe < this.cap4 && t[fe * FE4_STRIDE + 1] >= 0 ? fe * FE4_STRIDE + FE4_REC : -1;
    if (!this.begin(t, o, fe, 4, out)) return;
    const flags = t[o + R_FLAGS];
    const kind = flags & FEF_KIND;
    const a = cw[3];
    const clusterSrc = fromRole === ROLE_POD || inPrefixes4(this.cluster4, a);
    if (kind === FrontendKind.LoadBalancer && (flags & (FEF_RANGES | FEF_INTERNAL)) !== 0) {
      if ((flags & FEF_RANGES) !== 0 && !inRanges4(this.ranges4, t[o + R_RANGE], t[o + R_RANGES], a)) {
        return drop(out, ServiceReason.SourceRange);
      }
      if ((flags & FEF_INTERNAL) !== 0 && !clusterSrc && !inPrefixes4(this.vnet4, a) && !(fromRole === ROLE_HOST && inPrefixes4(this.node4, a))) {
        return drop(out, ServiceReason.InternalLbExternalSource);
      }
    }
    const localOrigin = fromRole === ROLE_HOST && (flags & FEF_ETP_LOCAL) !== 0 && inPrefixes4(this.node4, a);
    this.select(t, o, flags, kind, clusterSrc, localOrigin, flowHash, now, affinity, out);
  }

  /** resolve4 for IPv6 frontends (lookupFrontend6): the source is the 16 bytes at srcBuf[srcOff..]. */
  resolve6(fe: number, srcBuf: Uint8Array, srcOff: number, sport: number, fromRole: number, flowHash: number, now: number, affinity: AffinityTable, out: ServiceResult): void {
    void sport;
    const cw = this.cw;
    cw[0] = read32(srcBuf, srcOff); cw[1] = read32(srcBuf, srcOff + 4); cw[2] = read32(srcBuf, srcOff + 8); cw[3] = read32(srcBuf, srcOff + 12);
    const t = this.fe6;
    const j = fe - this.cap4;
    const o = j >= 0 && j < this.cap6 && t[j * FE6_STRIDE + 4] >= 0 ? j * FE6_STRIDE + FE6_REC : -1;
    if (!this.begin(t, o, fe, 6, out)) return;
    const flags = t[o + R_FLAGS];
    const kind = flags & FEF_KIND;
    const clusterSrc = fromRole === ROLE_POD || inPrefixes6(this.cluster6, cw);
    if (kind === FrontendKind.LoadBalancer && (flags & (FEF_RANGES | FEF_INTERNAL)) !== 0) {
      if ((flags & FEF_RANGES) !== 0 && !inRanges6(this.ranges6, t[o + R_RANGE], t[o + R_RANGES], cw)) {
        return drop(out, ServiceReason.SourceRange);
      }
      if ((flags & FEF_INTERNAL) !== 0 && !clusterSrc && !inPrefixes6(this.vnet6, cw) && !(fromRole === ROLE_HOST && inPrefixes6(this.node6, cw))) {
        return drop(out, ServiceReason.InternalLbExternalSource);
      }
    }
    const localOrigin = fromRole === ROLE_HOST && (flags & FEF_ETP_LOCAL) !== 0 && inPrefixes6(this.node6, cw);
    this.select(t, o, flags, kind, clusterSrc, localOrigin, flowHash, now, affinity, out);
  }

  /**
   * Destination matched no frontend: a ClusterIP on another port → Reject
   * ('clusterip-invalid-port'); an unallocated service-CIDR address → Drop; else NotService.
   */
  resolveMiss4(dst: number, out: ServiceResult): void {
    this.begin(this.fe4, -1, -1, 4, out);
    if (this.clusterIP4.get(dst, 0) >= 0) reject(out, ServiceReason.ClusterIPInvalidPort);
    else if (inPrefixes4(this.serviceCIDR4, dst >>> 0)) drop(out, ServiceReason.UnallocatedClusterIP);
  }

  resolveMiss6(buf: Uint8Array, off: number, out: ServiceResult): void {
    this.begin(this.fe6, -1, -1, 6, out);
    const cw = this.cw;
    cw[0] = read32(buf, off); cw[1] = read32(buf, off + 4); cw[2] = read32(buf, off + 8); cw[3] = read32(buf, off + 12);
    if (this.clusterIP6.get(cw[0], cw[1], cw[2], cw[3], 0) >= 0) reject(out, ServiceReason.ClusterIPInvalidPort);
    else if (inPrefixes6(this.serviceCIDR6, cw)) drop(out, ServiceReason.UnallocatedClusterIP);
  }

  /**
   * True when the backend (stable key id) is still a serving endpoint (ready, or serving while
   * terminating) of the service port (stable key id) in this generation. A flow pinned to a
   * backend that fails this must end (kube-proxy clears conntrack for such endpoints).
   * Health is deliberately not part of it: health steers new flows only.
   */
  backendStillValid(servicePortKey: number, backendKey: number): boolean {
    const off = this.validIndex.get(servicePortKey, 0);
    if (off < 0) return false;
    const k = this.validKeys;
    return search(k, off + 1, k[off], backendKey) >= 0;
  }

  /** Mark a backend (stable key id) healthy/unhealthy; shared by all generations. */
  setBackendHealthy(backendKey: number, healthy: boolean): void {
    this.interner.setHealthy(backendKey, healthy);
  }

  isBackendHealthy(backendKey: number): boolean {
    return this.interner.isHealthy(backendKey);
  }

  /** Reset `out`; record at t[o] (o < 0: none). False (out = NotService) when there is none. */
  private begin(t: Int32Array, o: number, fe: number, family: 4 | 6, out: ServiceResult): boolean {
    out.verdict = ServiceVerdict.NotService;
    out.reason = ServiceReason.None;
    out.family = family;
    out.backend = -1;
    out.backendKey = -1;
    out.pool = PoolKind.None;
    out.affinityHit = false;
    out.masquerade = false;
    out.addr4 = 0;
    out.port = 0;
    if (o < 0) {
      out.frontend = -1;
      out.kind = 0;
      out.servicePortKey = -1;
      return false;
    }
    out.frontend = fe;
    out.kind = t[o + R_FLAGS] & FEF_KIND;
    out.servicePortKey = t[o + R_SPKEY];
    return true;
  }

  /** Steps 2-5 of the header: endpoints, pool, masquerade, backend. Client address in this.cw. */
  private select(r: Int32Array, o: number, flags: number, kind: number, clusterSrc: boolean, localOrigin: boolean, flowHash: number, now: number, affinity: AffinityTable, out: ServiceResult): void {
    if (r[o + R_CCOUNT] === 0) return reject(out, ServiceReason.NoEndpoints);
    let local = false;
    let masq = this.masqueradeAll;
    if (kind === FrontendKind.ClusterIP) {
      if ((flags & FEF_ITP_LOCAL) !== 0) {
        if (r[o + R_LCOUNT] === 0) return drop(out, ServiceReason.NoLocalEndpointsInternal);
        local = true;
      }
      if (!clusterSrc) masq = true;
    } else if ((flags & FEF_ETP_LOCAL) !== 0) {
      if (localOrigin) masq = true;
      else if (!clusterSrc) {
        if (r[o + R_LCOUNT] === 0) return drop(out, ServiceReason.NoLocalEndpoints);
        local = true;
      }
    } else {
      masq = true;
    }
    const po = local ? o + R_LSTART : o + R_CSTART; // start, count, mag, size
    const start = r[po];
    const count = r[po + 1];
    const cw = this.cw;
    const health = this.interner.unhealthy;
    const be = this.be;
    let b = -1;
    const affMs = r[o + R_AFFMS];
    if (affMs > 0) {
      const slot = affinity.find(cw[0], cw[1], cw[2], cw[3], r[o + R_SPKEY], now);
      if (slot >= 0) {
        const key = affinity.backendAt(slot);
        const at = search(this.memberKeys, start, count, key);
        const cand = at >= 0 ? start + this.memberPos[at] : -1;
        if (cand >= 0 && health[key] !== 1) {
          b = cand;
          affinity.refresh(slot, now + affMs);
          out.affinityHit = true;
        }
      }
    }
    if (b < 0) {
      b = this.useMaglev ? this.pickMaglev(start, count, r[po + 2], r[po + 3], flowHash, health) : this.pickRandom(start, count, health);
      if (b < 0) return reject(out, ServiceReason.NoHealthyEndpoints);
      if (affMs > 0) affinity.set(cw[0], cw[1], cw[2], cw[3], r[o + R_SPKEY], be[b * BE_STRIDE + BE_KEY], now + affMs, now);
    }
    const bo = b * BE_STRIDE;
    const w0 = be[bo] >>> 0, w1 = be[bo + 1] >>> 0, w2 = be[bo + 2] >>> 0, w3 = be[bo + 3] >>> 0;
    if (w3 === cw[3] && w2 === cw[2] && w1 === cw[1] && w0 === cw[0]) masq = true; // hairpin
    out.verdict = ServiceVerdict.Dnat;
    out.backend = b;
    out.backendKey = be[bo + BE_KEY];
    out.pool = local ? PoolKind.Local : PoolKind.Cluster;
    out.port = be[bo + BE_PORT];
    out.masquerade = masq;
    if ((flags & FEF_V6) === 0) {
      out.addr4 = w3;
    } else {
      const a = out.addr6;
      a[0] = w0 >>> 24; a[1] = (w0 >>> 16) & 255; a[2] = (w0 >>> 8) & 255; a[3] = w0 & 255;
      a[4] = w1 >>> 24; a[5] = (w1 >>> 16) & 255; a[6] = (w1 >>> 8) & 255; a[7] = w1 & 255;
      a[8] = w2 >>> 24; a[9] = (w2 >>> 16) & 255; a[10] = (w2 >>> 8) & 255; a[11] = w2 & 255;
      a[12] = w3 >>> 24; a[13] = (w3 >>> 16) & 255; a[14] = (w3 >>> 8) & 255; a[15] = w3 & 255;
    }
  }

  /** Maglev entry of the flow; past unhealthy backends, the next entries, then a pool scan. */
  private pickMaglev(start: number, count: number, mag: number, size: number, flowHash: number, health: Uint8Array): number {
    const be = this.be;
    const h = fmix32(flowHash) & 0x7fffffff; // int32 modulo (a u32 ≥ 2^31 would take V8's float fmod)
    let idx = h % size;
    if (count <= MAGLEV16_MAX_BACKENDS) {
      const m = this.maglev16;
      let b = start + m[mag + idx];
      if (health[be[b * BE_STRIDE + BE_KEY]] !== 1) return b;
      for (let n = 0; n < WALK; n++) {
        if (++idx === size) idx = 0;
        b = start + m[mag + idx];
        if (health[be[b * BE_STRIDE + BE_KEY]] !== 1) return b;
      }
    } else {
      const m = this.maglev32;
      let b = start + m[mag + idx];
      if (health[be[b * BE_STRIDE + BE_KEY]] !== 1) return b;
      for (let n = 0; n < WALK; n++) {
        if (++idx === size) idx = 0;
        b = start + m[mag + idx];
        if (health[be[b * BE_STRIDE + BE_KEY]] !== 1) return b;
      }
    }
    return this.scan(start, count, h % count, health);
  }

  private pickRandom(start: number, count: number, health: Uint8Array): number {
    let x = this.rng;
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    this.rng = x >>> 0;
    const i = (x & 0x7fffffff) % count;
    const b = start + i;
    if (health[this.be[b * BE_STRIDE + BE_KEY]] !== 1) return b;
    return this.scan(start, count, i, health);
  }

  private scan(start: number, count: number, from: number, health: Uint8Array): number {
    const be = this.be;
    for (let n = 0, i = from; n < count; n++) {
      const b = start + i;
      if (health[be[b * BE_STRIDE + BE_KEY]] !== 1) return b;
      if (++i === count) i = 0;
    }
    return -1;
  }

  // ── Off the hot path: trace and describe ──

  /** The slot array and record offset of frontend `fe`, or null. */
  private recordOf(fe: number): { t: Int32Array; o: number } | null {
    if (!Number.isInteger(fe) || fe < 0) return null;
    if (fe < this.cap4) return this.fe4[fe * FE4_STRIDE + 1] >= 0 ? { t: this.fe4, o: fe * FE4_STRIDE + FE4_REC } : null;
    const j = fe - this.cap4;
    if (j < this.cap6 && this.fe6[j * FE6_STRIDE + 4] >= 0) return { t: this.fe6, o: j * FE6_STRIDE + FE6_REC };
    return null;
  }

  /** Every frontend id (describe order: compile order). */
  frontendIds(): number[] {
    return this.feMeta.map((m) => m.id);
  }

  /** Frontend id for an address text, protocol name and port (trace), or -1. */
  findFrontend(address: string, protocol: string, port: number): number {
    for (const m of this.feMeta) if (m.address === address && m.protocol === protocol && m.port === port) return m.id;
    return -1;
  }

  describe(fe: number): FrontendView | null {
    const rec = this.recordOf(fe);
    if (rec === null) return null;
    const { t: r, o } = rec;
    const m = this.feMeta[r[o + R_META]];
    const flags = r[o + R_FLAGS];
    const proto = PROTO_NAMES[m.proto] ?? String(m.proto);
    return {
      frontend: fe,
      service: m.service,
      servicePort: m.servicePort,
      servicePortKey: r[o + R_SPKEY],
      portName: m.portName,
      kind: FRONTEND_KIND_NAMES[flags & FEF_KIND] as FrontendView['kind'],
      family: m.family,
      address: m.address,
      protocol: proto,
      port: m.port,
      text: m.family === 6 ? `[${m.address}]:${m.port}/${proto}` : `${m.address}:${m.port}/${proto}`,
      externalTrafficPolicy: (flags & FEF_ETP_LOCAL) !== 0 ? 'Local' : 'Cluster',
      internalTrafficPolicy: (flags & FEF_ITP_LOCAL) !== 0 ? 'Local' : 'Cluster',
      sessionAffinitySeconds: r[o + R_AFFMS] / 1000,
      internal: (flags & FEF_INTERNAL) !== 0,
      sourceRanges: m.sourceRanges,
      clusterEndpoints: this.poolView(r[o + R_CSTART], r[o + R_CCOUNT]),
      localEndpoints: r[o + R_LMAGSIZE] !== 0 ? this.poolView(r[o + R_LSTART], r[o + R_LCOUNT]) : null,
    };
  }

  /**
   * What a new flow from `src` (address text) arriving on a port of role `fromRole` would get
   * at frontend `fe`: the verdict and reason, the pool, and that pool's endpoints (trace). Uses
   * no affinity state; `flowHash` (default 0) selects the Maglev entry shown as `chosen`.
   */
  candidates(fe: number, src: string, fromRole: number, flowHash = 0): { verdict: string; reason: string; pool: 'cluster' | 'local' | 'none'; masquerade: boolean; chosen: EndpointView | null; endpoints: EndpointView[] } | null {
    const rec = this.recordOf(fe);
    if (rec === null) return null;
    const out = new ServiceResult();
    const scratch = new AffinityTable(64);
    if (rec.t === this.fe6) {
      const b = parse6(src);
      if (b === null) return null;
      this.resolve6(fe, b, 0, 0, fromRole, flowHash, 0, scratch, out);
    } else {
      const a = parse4(src);
      if (a < 0) return null;
      this.resolve4(fe, a, 0, fromRole, flowHash, 0, scratch, out);
    }
    const { t: r, o } = rec;
    const pool = out.pool === PoolKind.Local ? 'local' : out.pool === PoolKind.Cluster ? 'cluster' : 'none';
    const endpoints = pool === 'local' ? this.poolView(r[o + R_LSTART], r[o + R_LCOUNT]) : pool === 'cluster' ? this.poolView(r[o + R_CSTART], r[o + R_CCOUNT]) : [];
    return {
      verdict: SERVICE_VERDICT_NAMES[out.verdict],
      reason: SERVICE_REASON_NAMES[out.reason],
      pool,
      masquerade: out.masquerade,
      chosen: out.backend >= 0 ? this.backendView(out.backend) : null,
      endpoints,
    };
  }

  backendView(b: number): EndpointView {
    const o = b * BE_STRIDE, f = this.be[o + BE_FLAGS], m = this.beMeta[b];
    const keyId = this.be[o + BE_KEY];
    return {
      backend: b,
      key: m.key,
      keyId,
      address: m.address,
      port: this.be[o + BE_PORT],
      nodeName: m.nodeName,
      local: (f & BEF_LOCAL) !== 0,
      ready: (f & BEF_READY) !== 0,
      serving: (f & BEF_SERVING) !== 0,
      terminating: (f & BEF_TERMINATING) !== 0,
      healthy: this.interner.isHealthy(keyId),
    };
  }

  private poolView(start: number, count: number): EndpointView[] {
    const out: EndpointView[] = [];
    for (let i = 0; i < count; i++) out.push(this.backendView(start + i));
    return out;
  }

  /** Bytes held by the typed arrays of this generation. */
  get byteLength(): number {
    return this.fe4.byteLength + this.fe6.byteLength + this.be.byteLength + this.maglev16.byteLength + this.maglev32.byteLength +
      this.memberKeys.byteLength + this.memberPos.byteLength + this.validIndex.byteLength + this.validKeys.byteLength;
  }
}

/** Index of `key` in the ascending run a[from .. from + n), or -1. */
function search(a: Int32Array, from: number, n: number, key: number): number {
  let lo = from, hi = from + n - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = a[mid];
    if (v === key) return mid;
    if (v < key) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

function reject(out: ServiceResult, reason: number): void {
  out.verdict = ServiceVerdict.Reject;
  out.reason = reason;
}

function drop(out: ServiceResult, reason: number): void {
  out.verdict = ServiceVerdict.Drop;
  out.reason = reason;
}

/** `list` holds (net, mask) pairs. */
function inPrefixes4(list: Uint32Array, a: number): boolean {
  for (let i = 0; i < list.length; i += 2) if (((a & list[i + 1]) >>> 0) === list[i]) return true;
  return false;
}

function inRanges4(list: Uint32Array, from: number, n: number, a: number): boolean {
  for (let i = from * 2, end = (from + n) * 2; i < end; i += 2) if (((a & list[i + 1]) >>> 0) === list[i]) return true;
  return false;
}

/** `list` holds 8 words per prefix: net w0..w3, mask w0..w3. */
function inPrefixes6(list: Uint32Array, w: Uint32Array): boolean {
  for (let i = 0; i < list.length; i += 8) if (match6(list, i, w)) return true;
  return false;
}

function inRanges6(list: Uint32Array, from: number, n: number, w: Uint32Array): boolean {
  for (let i = from * 8, end = (from + n) * 8; i < end; i += 8) if (match6(list, i, w)) return true;
  return false;
}

function match6(l: Uint32Array, i: number, w: Uint32Array): boolean {
  return ((w[0] & l[i + 4]) >>> 0) === l[i] && ((w[1] & l[i + 5]) >>> 0) === l[i + 1] &&
    ((w[2] & l[i + 6]) >>> 0) === l[i + 2] && ((w[3] & l[i + 7]) >>> 0) === l[i + 3];
}

function parse4(s: string): number {
  const p = s.split('.');
  if (p.length !== 4) return -1;
  let v = 0;
  for (const x of p) {
    const n = Number(x);
    if (!/^\d{1,3}$/.test(x) || n > 255) return -1;
    v = v * 256 + n;
  }
  return v;
}

function parse6(s: string): Uint8Array | null {
  // Off the hot path only (candidates); full RFC 4291 text handling lives in control/model.
  const dbl = s.split('::');
  if (dbl.length > 2) return null;
  const head = dbl[0] === '' ? [] : dbl[0].split(':');
  const tail = dbl.length === 2 ? (dbl[1] === '' ? [] : dbl[1].split(':')) : [];
  const words = dbl.length === 2 ? [...head, ...new Array<string>(8 - head.length - tail.length).fill('0'), ...tail] : head;
  if (words.length !== 8) return null;
  const b = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(words[i])) return null;
    const w = parseInt(words[i], 16);
    b[2 * i] = w >>> 8;
    b[2 * i + 1] = w & 255;
  }
  return b;
}
