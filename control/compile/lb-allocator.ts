/**
 * LoadBalancer IP allocation (what a cloud controller or MetalLB does for type LoadBalancer
 * services), from the NodeConfig's `spec.loadBalancerPools`. Pure: services + pools + the
 * previous allocation → the allocation, per-service errors, and adjusted Service copies whose
 * `status.loadBalancer.ingress` holds the allocated IPs (the input objects are never mutated).
 * NodeCompiler runs it before compileServices, which then installs the IPs as LoadBalancer
 * frontends like any ingress IP. The persistence helpers at the end are the only I/O here
 * (the agent keeps the allocation across restarts in standalone mode).
 *
 * Rules (docs/node-config.md, "Load-balancer pools"):
 *  - Active only when the NodeConfig has `spec.loadBalancerPools` (absent: nothing is
 *    allocated and services are compiled as written, status.loadBalancer.ingress included).
 *  - Managed: type LoadBalancer without spec.loadBalancerClass (a class means another
 *    implementation owns the service; its ingress IPs are used as written and reserved).
 *  - One IP per family of the service (its spec.clusterIPs families, else spec.ipFamilies).
 *    Internal services (Azure internal-LB annotation) take addresses from the `internal` pool,
 *    the others from `external`.
 *  - spec.loadBalancerIP (static, one family): external services — must lie in the external
 *    pool (Azure: an existing public IP; MetalLB: a pool address); internal services — in the
 *    internal pool or anywhere in spec.vnetPrefixes (Azure lets an internal LB take any free
 *    address of its subnet), not a node IP. Two services asking for the same static IP: the
 *    older (creationTimestamp, then namespace/name) gets it, the other gets an error naming
 *    spec.loadBalancerIP. A static request for an address another service already holds
 *    dynamically fails too (allocations are stable; it succeeds once that service goes).
 *    A static IP of a family the service does not have is ignored with an error.
 *  - Stability: a service keeps the IP it had (previous allocation, same uid when both
 *    known) as long as it is still valid for it (inside its pool, family still needed).
 *    Without a previous allocation, an address in the service's status.loadBalancer.ingress
 *    is reused when valid and free (a restored status after a restart). Otherwise the lowest
 *    free pool address, pool entries in order, oldest service first.
 *  - Never handed out: externalIPs of any service, ingress IPs / loadBalancerIP of unmanaged
 *    LoadBalancer services.
 *  - Pool exhausted → an error on that service (status.loadBalancer.ingress) and no IP of
 *    that family. Released when the service goes (or stops being a managed LoadBalancer).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bigIntToIP, cidrContains, ipToBigInt, parseIP, rangeContains } from '../model/node-config';
import type { IP, IPRange, NodeConfig } from '../model/node-config';
import type { Service } from '../model/service';
import { compareCodeUnits } from '../../dataplane/tables/maglev';
import type { ServiceCompileIssue } from './services';

/** What is kept between compiles (and persisted): service key → its uid and allocated IPs (text). */
export type LbAllocationState = Record<string, { uid: string | null; ips: string[] }>;

export type LbIPSource = 'static' | 'previous' | 'status' | 'pool';

export interface LbAllocation {
  /** "namespace/name" */
  service: string;
  internal: boolean;
  /** The allocated addresses, in the service's family order (a family that got none is missing). */
  ips: string[];
  /** How each of `ips` was chosen (same order). */
  sources: LbIPSource[];
  /** Problems (field paths in the Service). */
  errors: ServiceCompileIssue[];
}

export interface LbPoolUsage {
  pool: 'external' | 'internal';
  family: 4 | 6;
  /** Addresses in the pool's entries of this family (capped at Number.MAX_SAFE_INTEGER). */
  size: number;
  /** Of those, allocated now. */
  allocated: number;
}

export interface LbAllocationResult {
  /** False when the NodeConfig has no loadBalancerPools. */
  active: boolean;
  /** One per managed LoadBalancer service, oldest first. */
  allocations: LbAllocation[];
  pools: LbPoolUsage[];
  /** Pass as `previous` next time; persist it (writeLbState). */
  state: LbAllocationState;
  /** The services to compile: the input, in input order, managed ones replaced by adjusted copies. */
  services: Service[];
}

export interface LbAllocateInput {
  services: readonly Service[];
  node: NodeConfig;
  previous?: LbAllocationState | null;
}

/** Oldest first: creationTimestamp (none = newest), then namespace/name (services.ts's order). */
export function olderFirst(a: Service, b: Service): number {
  const ta = a.metadata.creationTimestamp, tb = b.metadata.creationTimestamp;
  if (ta !== tb) {
    if (ta === null) return 1;
    if (tb === null) return -1;
    const da = Date.parse(ta), db = Date.parse(tb);
    if (!Number.isNaN(da) && !Number.isNaN(db) && da !== db) return da - db;
    if (Number.isNaN(da) !== Number.isNaN(db)) return Number.isNaN(da) ? 1 : -1;
  }
  return compareCodeUnits(`${a.metadata.namespace}/${a.metadata.name}`, `${b.metadata.namespace}/${b.metadata.name}`);
}

function keyOf(s: Service): string {
  return `${s.metadata.namespace}/${s.metadata.name}`;
}

function familiesOf(s: Service): (4 | 6)[] {
  const out: (4 | 6)[] = [];
  for (const ip of s.spec.clusterIPs) if (!out.includes(ip.family)) out.push(ip.family);
  if (out.length === 0) for (const f of s.spec.ipFamilies) out.push(f === 'IPv4' ? 4 : 6);
  return out;
}

interface Managed {
  svc: Service;
  key: string;
  internal: boolean;
  families: (4 | 6)[];
  /** Chosen IP per family. */
  got: Map<4 | 6, { ip: IP; source: LbIPSource }>;
  /** Family of a valid static request, or 0. */
  staticFamily: 0 | 4 | 6;
  alloc: LbAllocation;
}

/** Adjusted copies of managed services by (immutable) original and allocated addresses. */
const adjusted = new WeakMap<Service, { sig: string; copy: Service }>();

export function allocateLoadBalancerIPs(input: LbAllocateInput): LbAllocationResult {
  const node = input.node.spec;
  const pools = node.loadBalancerPools;
  if (pools === null) return { active: false, allocations: [], pools: [], state: {}, services: [...input.services] };
  const previous = input.previous ?? {};

  // Who is managed (oldest first, first of a duplicated key only); what is reserved.
  const reserved = new Set<string>();
  const managed: Managed[] = [];
  const seen = new Set<string>();
  for (const svc of [...input.services].sort(olderFirst)) {
    for (const ip of svc.spec.externalIPs) reserved.add(ip.text);
    if (svc.spec.type !== 'LoadBalancer') continue;
    if (svc.spec.loadBalancerClass !== null) {
      for (const ing of svc.status.loadBalancer.ingress) if (ing.ip !== null) reserved.add(ing.ip.text);
      if (svc.spec.loadBalancerIP !== null) reserved.add(svc.spec.loadBalancerIP.text);
      continue;
    }
    const key = keyOf(svc);
    if (seen.has(key)) continue;
    seen.add(key);
    managed.push({
      svc, key, internal: svc.spec.internal, families: familiesOf(svc), got: new Map(), staticFamily: 0,
      alloc: { service: key, internal: svc.spec.internal, ips: [], sources: [], errors: [] },
    });
  }
  const poolOf = (m: Managed): IPRange[] => (m.internal ? pools.internal : pools.external);
  const poolName = (m: Managed): string => `spec.loadBalancerPools.${m.internal ? 'internal' : 'external'}`;
  const inPool = (m: Managed, ip: IP): boolean => poolOf(m).some((r) => rangeContains(r, ip));
  const err = (m: Managed, p: string, message: string): void => {
    m.alloc.errors.push({ path: p, message });
  };

  /** ip text → the service holding it. */
  const owner = new Map<string, Managed>();
  const take = (m: Managed, ip: IP, source: LbIPSource): void => {
    owner.set(ip.text, m);
    m.got.set(ip.family, { ip, source });
  };

  // Static requests: validity first (so phase 0 knows which families are dynamic).
  const statics: { m: Managed; ip: IP }[] = [];
  for (const m of managed) {
    const ip = m.svc.spec.loadBalancerIP;
    if (ip === null) continue;
    const p = 'spec.loadBalancerIP';
    if (!m.families.includes(ip.family)) {
      err(m, p, `${ip.text} is ignored: the service has no IPv${ip.family} cluster IP`);
      continue;
    }
    m.staticFamily = ip.family;
    if (node.nodeIPs.some((x) => x.text === ip.text)) {
      err(m, p, `${ip.text} is a node IP; not assigned`);
      continue;
    }
    if (m.internal) {
      const inVnet = node.vnetPrefixes.some((c) => cidrContains(c, ip));
      if (pools.external.some((r) => rangeContains(r, ip))) {
        err(m, p, `${ip.text} belongs to spec.loadBalancerPools.external; an internal load balancer takes a VNet address (spec.loadBalancerPools.internal or spec.vnetPrefixes); not assigned`);
        continue;
      }
      if (!inPool(m, ip) && !inVnet) {
        err(m, p, `${ip.text} is neither inside spec.loadBalancerPools.internal (${rangesText(pools.internal)}) nor inside spec.vnetPrefixes (${node.vnetPrefixes.map((c) => c.text).join(', ') || 'none'}); not assigned`);
        continue;
      }
    } else if (!inPool(m, ip)) {
      err(m, p, `${ip.text} is not inside spec.loadBalancerPools.external (${rangesText(pools.external)}); not assigned`);
      continue;
    }
    if (reserved.has(ip.text)) {
      err(m, p, `${ip.text} is an external IP or the load-balancer IP of a service another implementation manages; not assigned`);
      continue;
    }
    statics.push({ m, ip });
  }

  // Phase 0: previous holdings of dynamic families that are still valid.
  for (const m of managed) {
    const prev = previous[m.key];
    if (prev === undefined) continue;
    if (prev.uid !== null && m.svc.metadata.uid !== null && prev.uid !== m.svc.metadata.uid) continue; // recreated
    for (const text of prev.ips) {
      const ip = parseIP(text);
      if (ip === null || !m.families.includes(ip.family) || m.staticFamily === ip.family || m.got.has(ip.family)) continue;
      if (!inPool(m, ip) || reserved.has(ip.text) || owner.has(ip.text)) continue;
      take(m, ip, 'previous');
    }
  }

  // Phase 1: static requests, oldest first.
  for (const { m, ip } of statics) {
    const holder = owner.get(ip.text);
    if (holder !== undefined) {
      const why = holder.got.get(ip.family)?.source === 'static' ? `is already the load-balancer IP of ${holder.key} (older)` : `is already allocated to ${holder.key}`;
      err(m, 'spec.loadBalancerIP', `${ip.text} ${why}; not assigned`);
      continue;
    }
    take(m, ip, 'static');
  }

  // Phase 2: addresses from status.loadBalancer.ingress (a restored status), when valid and free.
  for (const m of managed) {
    for (const ing of m.svc.status.loadBalancer.ingress) {
      const ip = ing.ip;
      if (ip === null || !m.families.includes(ip.family) || m.staticFamily === ip.family || m.got.has(ip.family)) continue;
      if (!inPool(m, ip) || reserved.has(ip.text) || owner.has(ip.text)) continue;
      take(m, ip, 'status');
    }
  }

  // Phase 3: the lowest free address, pool entries in order (one forward cursor per pool entry:
  // nothing is released during a run, so addresses behind the cursor stay taken).
  const cursors = new Map<IPRange, bigint>();
  const nodeIPs = new Set(node.nodeIPs.map((x) => x.text));
  const fresh = (m: Managed, family: 4 | 6): IP | null => {
    for (const r of poolOf(m)) {
      if (r.family !== family) continue;
      const last = ipToBigInt(r.last);
      let v = cursors.get(r) ?? ipToBigInt(r.first);
      for (; v <= last; v++) {
        const ip = bigIntToIP(family, v);
        if (owner.has(ip.text) || reserved.has(ip.text) || nodeIPs.has(ip.text)) continue;
        cursors.set(r, v + 1n);
        return ip;
      }
      cursors.set(r, v);
    }
    return null;
  };
  for (const m of managed) {
    for (const f of m.families) {
      if (m.got.has(f) || m.staticFamily === f) continue;
      const ip = fresh(m, f);
      if (ip !== null) {
        take(m, ip, 'pool');
        continue;
      }
      const has = poolOf(m).filter((r) => r.family === f);
      err(m, 'status.loadBalancer.ingress', has.length === 0
        ? `no IPv${f} addresses in the NodeConfig's ${poolName(m)}; the service has no IPv${f} load-balancer IP`
        : `${poolName(m)} has no free IPv${f} address (${rangesText(has)}: all allocated); the service has no IPv${f} load-balancer IP`);
    }
  }

  // Results.
  const state: LbAllocationState = {};
  const copies = new Map<Service, Service>();
  for (const m of managed) {
    const ips: IP[] = [];
    for (const f of m.families) {
      const g = m.got.get(f);
      if (g === undefined) continue;
      ips.push(g.ip);
      m.alloc.ips.push(g.ip.text);
      m.alloc.sources.push(g.source);
    }
    if (ips.length > 0) state[m.key] = { uid: m.svc.metadata.uid, ips: ips.map((x) => x.text) };
    // The same copy as last time for the same Service object and addresses: the service
    // compiler's cache recognizes unchanged services by object identity.
    const sig = ips.map((x) => x.text).join(',');
    const was = adjusted.get(m.svc);
    if (was !== undefined && was.sig === sig) {
      copies.set(m.svc, was.copy);
      continue;
    }
    const copy: Service = {
      ...m.svc,
      spec: { ...m.svc.spec, loadBalancerIP: null },
      status: { ...m.svc.status, loadBalancer: { ingress: ips.map((ip) => ({ ip, hostname: null, ipMode: null })) } },
    };
    adjusted.set(m.svc, { sig, copy });
    copies.set(m.svc, copy);
  }
  const usage: LbPoolUsage[] = [];
  for (const kind of ['external', 'internal'] as const) {
    for (const family of [4, 6] as const) {
      const rs = pools[kind].filter((r) => r.family === family);
      if (rs.length === 0) continue;
      let size = 0n;
      for (const r of rs) size += ipToBigInt(r.last) - ipToBigInt(r.first) + 1n;
      let allocated = 0;
      for (const [text, m] of owner) {
        const ip = parseIP(text);
        if (ip !== null && ip.family === family && m.internal === (kind === 'internal') && rs.some((r) => rangeContains(r, ip))) allocated++;
      }
      usage.push({ pool: kind, family, size: size > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(size), allocated });
    }
  }
  return {
    active: true,
    allocations: managed.map((m) => m.alloc),
    pools: usage,
    state,
    services: input.services.map((s) => copies.get(s) ?? s),
  };
}

function rangesText(rs: readonly IPRange[]): string {
  return rs.length === 0 ? 'empty' : rs.map((r) => r.text).join(', ');
}

// ─── Persistence (agent side; the only I/O of this module) ────────────────────────────────

const STATE_KIND = 'TapflowLoadBalancerAllocations';

/** The allocation saved by writeLbState; null when the file does not exist. Throws on a corrupt file. */
export function readLbState(file: string): LbAllocationState | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const doc = JSON.parse(text) as { kind?: unknown; version?: unknown; allocations?: unknown };
  if (doc === null || typeof doc !== 'object' || doc.kind !== STATE_KIND || doc.version !== 1 || typeof doc.allocations !== 'object' || doc.allocations === null) {
    throw new Error(`${file}: not a ${STATE_KIND} v1 document`);
  }
  const out: LbAllocationState = {};
  for (const [k, v] of Object.entries(doc.allocations as Record<string, unknown>)) {
    const e = v as { uid?: unknown; ips?: unknown };
    if (e === null || typeof e !== 'object' || !Array.isArray(e.ips)) continue;
    const ips = e.ips.filter((x): x is string => typeof x === 'string' && parseIP(x) !== null);
    out[k] = { uid: typeof e.uid === 'string' ? e.uid : null, ips };
  }
  return out;
}

/** Write the allocation atomically (temp file in the same directory, fsync, rename). */
export function writeLbState(file: string, state: LbAllocationState): void {
  const sorted: LbAllocationState = {};
  for (const k of Object.keys(state).sort()) sorted[k] = state[k];
  const text = JSON.stringify({ kind: STATE_KIND, version: 1, allocations: sorted }, null, 2) + '\n';
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** True when two states allocate the same IPs to the same services. */
export function sameLbState(a: LbAllocationState, b: LbAllocationState): boolean {
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    const x = a[k], y = b[k];
    if (y === undefined || x.uid !== y.uid || x.ips.length !== y.ips.length || x.ips.some((ip, i) => ip !== y.ips[i])) return false;
  }
  return true;
}
