/**
 * Differential property test of the incremental service compile: random sequences of changes
 * (services and EndpointSlices added, replaced, removed, re-sent unchanged; ports, families,
 * types incl. headless / ExternalName / LoadBalancer, traffic policies, affinity, source ranges,
 * conflicting frontends, nodePorts out of range, ties in creationTimestamp) and after every step
 * the table compiled with the ServiceCompileCache (+ previous table) must equal a from-scratch
 * compile with the same interner: every typed array and map byte for byte, the describe
 * metadata, pool index, health checks, status — and, as a second view, the outcome of
 * resolving every frontend for several sources, port roles and flow hashes.
 *
 * The same again through NodeCompiler and a DesiredState updated in place (what the agent
 * does), with LoadBalancer IP pools active.
 */
import t from 'tap';
import { validateNodeConfig } from '../model/node-config';
import type { NodeConfig } from '../model/node-config';
import { validateService } from '../model/service';
import type { Service } from '../model/service';
import { validateEndpointSlice } from '../model/endpoint-slice';
import type { EndpointSlice } from '../model/endpoint-slice';
import { DesiredState } from '../model/manifests';
import { objectKey } from '../model/k8s';
import type { Manifest } from '../model/manifests';
import { compileServices, ServiceCompileCache } from './services';
import type { CompiledServices } from './services';
import { NodeCompiler } from './node-compiler';
import { AffinityTable } from '../../dataplane/tables/affinity-table';
import {
  FE4_REC, FE4_STRIDE, FE6_REC, FE6_STRIDE, KeyInterner, MAGLEV16_MAX_BACKENDS, R_CCOUNT, R_CMAG, R_CMAGSIZE, R_LCOUNT, R_LMAG, R_LMAGSIZE,
  ServiceResult, ServiceTable,
} from '../../dataplane/tables/service-table';
import { dualStackNodeObj, endpointSliceObj } from '../../test/support/model-objects';
import type { Ep } from '../../test/support/model-objects';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const NODE = validateNodeConfig(dualStackNodeObj({ nodePortRange: '30000-30009' }));
const NODE_POOLS = validateNodeConfig(dualStackNodeObj({
  nodePortRange: '30000-30009',
  loadBalancerPools: { external: ['20.1.1.0/30', '2603:1000::10-2603:1000::11'], internal: ['10.0.200.1-10.0.200.2'] },
}));

const NAMES = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];

class Gen {
  constructor(readonly r: () => number) {}
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.r() < p;
  }

  serviceObj(name: string): Obj {
    const type = this.pick(['ClusterIP', 'ClusterIP', 'NodePort', 'LoadBalancer', 'LoadBalancer', 'ExternalName']);
    const spec: Obj = { type };
    const metadata: Obj = { name, namespace: 'default' };
    // Few timestamps (ties → namespace/name order), sometimes none (newest).
    if (this.chance(0.8)) metadata.creationTimestamp = `2024-01-01T00:00:0${this.int(4)}Z`;
    if (type === 'ExternalName') {
      spec.externalName = 'example.com';
      return { apiVersion: 'v1', kind: 'Service', metadata, spec };
    }
    const fam = this.int(3); // 0 v4, 1 v6, 2 dual
    const v4 = `10.96.0.${1 + this.int(6)}`, v6 = `fd00:96::${1 + this.int(4)}`;
    if (type === 'ClusterIP' && this.chance(0.1)) {
      spec.clusterIP = 'None';
    } else if (fam === 0) {
      spec.clusterIP = v4;
    } else if (fam === 1) {
      spec.clusterIP = v6;
      spec.ipFamilies = ['IPv6'];
    } else {
      spec.clusterIPs = [v4, v6];
      spec.clusterIP = v4;
      spec.ipFamilyPolicy = 'RequireDualStack';
    }
    const nPorts = 1 + this.int(2);
    const ports: Obj[] = [];
    for (let i = 0; i < nPorts; i++) {
      const p: Obj = { name: nPorts === 1 && this.chance(0.5) ? '' : ['http', 'dns'][i], port: this.pick([80, 53, 443]), protocol: this.pick(['TCP', 'TCP', 'UDP']), targetPort: 8080 };
      if (p.name === '') delete p.name;
      if (type !== 'ClusterIP' && this.chance(0.8)) p.nodePort = this.chance(0.1) ? 29999 : 30000 + this.int(6);
      ports.push(p);
    }
    spec.ports = ports;
    if (type !== 'ClusterIP' && this.chance(0.4)) spec.externalTrafficPolicy = 'Local';
    if (this.chance(0.3)) spec.internalTrafficPolicy = 'Local';
    if (this.chance(0.3)) {
      spec.sessionAffinity = 'ClientIP';
      if (this.chance(0.5)) spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 1 + this.int(100) } };
    }
    if (this.chance(0.25)) spec.externalIPs = [this.pick(['20.0.0.1', '20.0.0.2', '2603::1'])];
    const status: Obj = {};
    if (type === 'LoadBalancer') {
      if (this.chance(0.3)) spec.loadBalancerSourceRanges = [this.pick(['192.168.0.0/16', '10.0.0.0/8', 'fd00::/8'])];
      if (this.chance(0.3)) spec.loadBalancerIP = this.pick(['20.1.1.1', '20.1.1.2', '20.9.9.9']);
      if (this.chance(0.5)) {
        status.loadBalancer = { ingress: [{ ip: this.pick(['20.0.0.1', '20.1.1.1', '20.0.0.9', '2603::9']), ...(this.chance(0.2) ? { ipMode: 'Proxy' } : {}) }] };
      }
      if (spec.externalTrafficPolicy === 'Local' && this.chance(0.6)) spec.healthCheckNodePort = 31000 + this.int(3);
      if (this.chance(0.2)) metadata.annotations = { 'service.beta.kubernetes.io/azure-load-balancer-internal': 'true' };
    }
    return { apiVersion: 'v1', kind: 'Service', metadata, spec, ...(status.loadBalancer ? { status } : {}) };
  }

  sliceObj(service: string, name: string): Obj {
    const v6 = this.chance(0.3);
    const n = this.int(5);
    const eps: Ep[] = [];
    for (let i = 0; i < n; i++) {
      const ip = v6 ? `fd00:244::${1 + this.int(6)}` : `10.244.${this.int(2)}.${1 + this.int(6)}`;
      const ep: Ep = { ip, node: this.pick(['node-a', 'node-b', 'node-a']) };
      const c = this.int(5);
      if (c === 1) ep.ready = false;
      if (c === 2) Object.assign(ep, { ready: false, serving: true, terminating: true });
      if (c === 3) Object.assign(ep, { ready: false, serving: false, terminating: true });
      eps.push(ep);
    }
    const ports = this.chance(0.8)
      ? [{ name: this.pick(['http', 'dns', '']), port: 8080, protocol: this.pick(['TCP', 'UDP']) }, ...(this.chance(0.5) ? [{ name: 'dns', port: 5353, protocol: 'UDP' }] : [])]
      : [{ port: 8080, protocol: 'TCP' }];
    for (const p of ports) if ((p as Obj).name === '') delete (p as Obj).name;
    return endpointSliceObj(service, name, eps, ports, v6 ? 'IPv6' : 'IPv4');
  }
}

function tryService(o: Obj): Service | null {
  try {
    return validateService(o);
  } catch {
    return null;
  }
}

function trySlice(o: Obj): EndpointSlice | null {
  try {
    return validateEndpointSlice(o);
  } catch {
    return null;
  }
}

interface World {
  services: Map<string, Service>;
  slices: Map<string, EndpointSlice>;
}

/** One random change; returns what it did (for failure messages). */
function mutate(g: Gen, w: World): string {
  const op = g.int(9);
  const name = g.pick(NAMES);
  if (op <= 2) {
    const s = tryService(g.serviceObj(name));
    if (s === null) return 'invalid service (skipped)';
    w.services.set(name, s);
    return `upsert service ${name}`;
  }
  if (op === 3) {
    w.services.delete(name);
    return `delete service ${name}`;
  }
  if (op <= 6) {
    const sname = `${name}-${g.int(3)}`;
    const es = trySlice(g.sliceObj(g.chance(0.9) ? name : 'nobody', sname));
    if (es === null) return 'invalid slice (skipped)';
    w.slices.set(sname, es);
    return `upsert slice ${sname}`;
  }
  if (op === 7) {
    const keys = [...w.slices.keys()];
    if (keys.length === 0) return 'nothing';
    const k = g.pick(keys);
    w.slices.delete(k);
    return `delete slice ${k}`;
  }
  // The same content as a new object (a re-sent, unchanged manifest).
  const s = w.services.get(name);
  if (s === undefined) return 'nothing';
  w.services.set(name, { ...s });
  return `re-sent service ${name}`;
}

/** The Maglev table of a pool (16-bit unless it has more than MAGLEV16_MAX_BACKENDS backends). */
function maglevOf(tb: ServiceTable, count: number, mag: number, size: number): number[] {
  if (count === 0 || size <= 0) return [];
  return Array.from(count > MAGLEV16_MAX_BACKENDS ? tb.maglev32.subarray(mag, mag + size) : tb.maglev16.subarray(mag, mag + size));
}

/**
 * Frontend slots with the Maglev offsets replaced by the tables' contents: with a cache, 16-bit
 * Maglev tables live in an append-only arena, so their offsets depend on history, not on the
 * input (everything else is laid out exactly as from scratch).
 */
function frontendSlots(tb: ServiceTable, t: Int32Array, stride: number, rec: number, keyWord: number): Obj[] {
  const out: Obj[] = [];
  for (let o = 0; o < t.length; o += stride) {
    const words = Array.from(t.subarray(o, o + stride));
    if (t[o + keyWord] < 0) {
      out.push(words);
      continue;
    }
    const r = o + rec;
    const cluster = maglevOf(tb, t[r + R_CCOUNT], t[r + R_CMAG], t[r + R_CMAGSIZE]);
    const local = maglevOf(tb, t[r + R_LCOUNT], t[r + R_LMAG], t[r + R_LMAGSIZE]);
    words[rec + R_CMAG] = -7;
    words[rec + R_LMAG] = -7;
    out.push({ words, cluster: cluster.join(','), local: local.join(',') });
  }
  return out;
}

/** Everything a table holds, private maps included, as plain data (Maglev by content, not offset). */
function dump(tb: ServiceTable): Obj {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const p = tb as any;
  const slots = (m: Obj): number[] => Array.from(m.slots as Int32Array);
  return {
    frontendCount: tb.frontendCount, backendCount: tb.backendCount, cap4: tb.cap4, cap6: tb.cap6,
    fe4: frontendSlots(tb, tb.fe4, FE4_STRIDE, FE4_REC, 1), fe6: frontendSlots(tb, tb.fe6, FE6_STRIDE, FE6_REC, 4), be: Array.from(tb.be),
    maglev32: Array.from(tb.maglev32),
    memberKeys: Array.from(p.memberKeys as Int32Array), memberPos: Array.from(p.memberPos as Int32Array),
    validIndex: slots(p.validIndex), validKeys: Array.from(p.validKeys as Int32Array), owns4: slots(p.owns4), owns6: slots(p.owns6),
    clusterIP4: slots(p.clusterIP4), clusterIP6: slots(p.clusterIP6),
    ranges4: Array.from(p.ranges4 as Uint32Array), ranges6: Array.from(p.ranges6 as Uint32Array),
    feMeta: p.feMeta, beMeta: p.beMeta, healthChecks: tb.healthChecks,
    poolIndex: [...tb.poolIndex.entries()].map(([id, e]) => [id, e.sig, e.size, e.wide, maglevOf(tb, e.wide ? MAGLEV16_MAX_BACKENDS + 1 : 1, e.mag, e.size).join(',')]),
    masqueradeAll: tb.masqueradeAll, balancer: tb.balancer,
  };
}

const SOURCES4 = ['10.244.0.2', '10.244.1.3', '10.0.0.4', '192.168.1.1', '8.8.8.8'];
const SOURCES6 = ['fd00:244::2', 'fd00::4', '2001:db8::1'];

/** Every frontend resolved from several sources, roles and flow hashes. */
function outcomes(tb: ServiceTable): Obj[] {
  const out: Obj[] = [];
  for (const fe of tb.frontendIds()) {
    const d = tb.describe(fe);
    if (d === null) continue;
    const srcs = d.family === 4 ? SOURCES4 : SOURCES6;
    for (const src of srcs) {
      for (const role of [0, 1, 2]) {
        for (const hash of [1, 77, 0x9e3779b9, 123456789, 0xdeadbeef]) {
          const c = tb.candidates(fe, src, role, hash);
          out.push({ fe: d.text, src, role, hash, verdict: c?.verdict, reason: c?.reason, pool: c?.pool, masq: c?.masquerade, chosen: c?.chosen?.key ?? null });
        }
      }
    }
  }
  const res = new ServiceResult();
  for (const a of ['10.96.0.1', '10.96.0.5', '10.96.0.200']) {
    const v = a.split('.').reduce((x, o) => x * 256 + Number(o), 0) >>> 0;
    tb.resolveMiss4(v, res);
    out.push({ miss: a, verdict: res.verdict, reason: res.reason });
  }
  void AffinityTable;
  return out;
}

function sortedServices(w: World): Service[] {
  return [...w.services.keys()].sort().map((k) => w.services.get(k) as Service);
}

function sortedSlices(w: World): EndpointSlice[] {
  return [...w.slices.keys()].sort().map((k) => w.slices.get(k) as EndpointSlice);
}

t.test('incremental compile equals a from-scratch one after every random change', async (t) => {
  const SEEDS = 12;
  const STEPS = 60;
  let compared = 0, reused = 0, frontends = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const g = new Gen(rng(seed));
    const w: World = { services: new Map(), slices: new Map() };
    const interner = new KeyInterner();
    const cache = new ServiceCompileCache();
    let previous: ServiceTable | null = null;
    const log: string[] = [];
    for (let step = 0; step < STEPS; step++) {
      const n = 1 + g.int(3);
      for (let i = 0; i < n; i++) log.push(mutate(g, w));
      const services = sortedServices(w), endpointSlices = sortedSlices(w);
      const inc: CompiledServices = compileServices({ services, endpointSlices, node: NODE, interner, previous, cache });
      const scratch = compileServices({ services, endpointSlices, node: NODE, interner });
      const where = `seed ${seed} step ${step} after: ${log.slice(-n).join('; ')}`;
      if (!sameData(dump(inc.table), dump(scratch.table))) {
        t.same(dump(inc.table), dump(scratch.table), `table: ${where}`);
        return;
      }
      if (!sameData(inc.status, scratch.status)) {
        t.same(inc.status, scratch.status, `status: ${where}`);
        return;
      }
      if (!sameData(outcomes(inc.table), outcomes(scratch.table))) {
        t.same(outcomes(inc.table), outcomes(scratch.table), `outcomes: ${where}`);
        return;
      }
      // The previous generation was not touched by building this one.
      if (previous !== null) t.equal(previous.frontendCount, previous.frontendIds().length);
      compared++;
      reused += services.length - cache.rebuilt;
      frontends += inc.table.frontendCount;
      previous = inc.table;
    }
  }
  t.ok(compared === SEEDS * STEPS, `${compared} steps compared`);
  t.ok(reused > compared, `fragments were reused (${reused}), so the cache was exercised`);
  t.ok(frontends > compared, `the tables were not empty (${frontends} frontends in all)`);
});

t.test('a generation already handed out is never changed by later compiles', async (t) => {
  const g = new Gen(rng(99));
  const w: World = { services: new Map(), slices: new Map() };
  const interner = new KeyInterner();
  const cache = new ServiceCompileCache();
  let previous: ServiceTable | null = null;
  const held: { table: ServiceTable; dump: Obj }[] = [];
  for (let step = 0; step < 40; step++) {
    mutate(g, w);
    const r = compileServices({ services: sortedServices(w), endpointSlices: sortedSlices(w), node: NODE, interner, previous, cache });
    held.push({ table: r.table, dump: { ...dump(r.table), raw16: Array.from(r.table.maglev16), fe4raw: Array.from(r.table.fe4) } });
    previous = r.table;
  }
  for (const [i, h] of held.entries()) {
    const now = { ...dump(h.table), raw16: Array.from(h.table.maglev16), fe4raw: Array.from(h.table.fe4) };
    if (!sameData(now, h.dump)) t.fail(`generation ${i} changed after it was built`);
  }
  t.pass(`${held.length} generations unchanged`);
});

t.test('cache is dropped when node-level inputs change (node name, node-port addresses, range, interner)', async (t) => {
  const g = new Gen(rng(7));
  const w: World = { services: new Map(), slices: new Map() };
  for (let i = 0; i < 30; i++) mutate(g, w);
  const services = sortedServices(w), endpointSlices = sortedSlices(w);
  const interner = new KeyInterner();
  const cache = new ServiceCompileCache();
  compileServices({ services, endpointSlices, node: NODE, interner, cache });
  const other = validateNodeConfig(dualStackNodeObj({ nodeIPs: ['10.0.0.5', 'fd00::5'], nodePortRange: '30000-30009' }));
  const variants: [string, Parameters<typeof compileServices>[0]][] = [
    ['other node IPs', { services, endpointSlices, node: other, interner, cache }],
    ['other range', { services, endpointSlices, node: NODE, interner, cache, nodePortRange: { min: 30000, max: 30002 } }],
    ['other node name', { services, endpointSlices, node: validateNodeConfig({ ...dualStackNodeObj({ nodePortRange: '30000-30009' }), metadata: { name: 'node-b' }, spec: { ...dualStackNodeObj({ nodePortRange: '30000-30009' }).spec, nodeName: 'node-b' } }), interner, cache }],
    ['back to the first', { services, endpointSlices, node: NODE, interner, cache }],
  ];
  for (const [what, input] of variants) {
    const inc = compileServices(input);
    const scratch = compileServices({ ...input, cache: null });
    t.ok(sameData(dump(inc.table), dump(scratch.table)) && sameData(inc.status, scratch.status), what);
  }
  const fresh = new KeyInterner();
  const inc = compileServices({ services, endpointSlices, node: NODE, interner: fresh, cache });
  t.ok(sameData(dump(inc.table), dump(compileServices({ services, endpointSlices, node: NODE, interner: new KeyInterner() }).table)), 'another interner');
});

function man(kind: string, o: Service | EndpointSlice): Manifest {
  const ns = o.metadata.namespace, name = o.metadata.name;
  return { kind, apiVersion: 'v1', namespace: ns, name, key: objectKey(kind, ns, name), source: { file: null, doc: 0, item: null, line: null }, object: o } as Manifest;
}

t.test('NodeCompiler over a DesiredState updated in place equals a from-scratch compile (LB pools active)', async (t) => {
  for (const node of [NODE, NODE_POOLS] as NodeConfig[]) {
    for (let seed = 1; seed <= 6; seed++) {
      const g = new Gen(rng(1000 + seed));
      const w: World = { services: new Map(), slices: new Map() };
      const state = new DesiredState();
      const nc = new NodeCompiler();
      for (let step = 0; step < 40; step++) {
        const before = { services: new Map(w.services), slices: new Map(w.slices) };
        mutate(g, w);
        for (const [k, s] of w.services) if (before.services.get(k) !== s) state.upsert(man('Service', s));
        for (const k of before.services.keys()) if (!w.services.has(k)) state.delete('Service', 'default', k);
        for (const [k, s] of w.slices) if (before.slices.get(k) !== s) state.upsert(man('EndpointSlice', s));
        for (const k of before.slices.keys()) if (!w.slices.has(k)) state.delete('EndpointSlice', 'default', k);
        const r = nc.compile(node, state, step + 1);
        const scratch = compileServices({
          services: r.lbStatus.services, endpointSlices: state.endpointSlices(), node, interner: nc.interner, nodePortRange: node.spec.nodePortRange,
        });
        if (!sameData(dump(r.services), dump(scratch.table))) {
          t.same(dump(r.services), dump(scratch.table), `pools ${node.spec.loadBalancerPools !== null} seed ${seed} step ${step}`);
          return;
        }
      }
    }
  }
  t.pass('every step equal');
});

function sameData(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
