/**
 * LoadBalancer IP pools: NodeConfig validation of spec.loadBalancerPools / spec.nodePortRange,
 * the allocator's rules (families, internal pool, static IPs, conflicts, stability, hints,
 * exhaustion, release, reserved addresses), NodeCompiler wiring (frontends on the allocated
 * IPs, errors in serviceStatus, nodePortRange threaded through), and the state file.
 */
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ValidationError } from '../model/errors';
import { parsePortRange, parseIPRange, validateNodeConfig } from '../model/node-config';
import { validateService } from '../model/service';
import type { Service } from '../model/service';
import { DesiredState } from '../model/manifests';
import type { Manifest } from '../model/manifests';
import { objectKey } from '../model/k8s';
import { allocateLoadBalancerIPs, readLbState, sameLbState, writeLbState } from './lb-allocator';
import type { LbAllocationResult } from './lb-allocator';
import { NodeCompiler } from './node-compiler';
import { dualStackNodeObj } from '../../test/support/model-objects';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

const nodeObj = dualStackNodeObj;

const POOLS = {
  external: ['20.1.1.0/30', '2603:1000::10-2603:1000::11'],
  internal: ['10.0.200.1-10.0.200.2', 'fd00::200:1-fd00::200:2'],
};
const NODE = validateNodeConfig(nodeObj({ loadBalancerPools: POOLS }));

let ts = 0;
function svc(name: string, spec: Obj = {}, extra: Obj = {}): Service {
  const created = extra.created ?? new Date(Date.UTC(2024, 0, 1, 0, 0, ts++)).toISOString().replace('.000Z', 'Z');
  return validateService({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default', creationTimestamp: created, ...(extra.metadata ?? {}) },
    spec: { type: 'LoadBalancer', clusterIP: `10.96.0.${10 + ts}`, ports: [{ port: 80, targetPort: 8080, nodePort: 30000 + ts }], ...spec },
    ...(extra.status !== undefined ? { status: extra.status } : {}),
  });
}
const dual = (n: number): Obj => ({ clusterIP: `10.96.1.${n}`, clusterIPs: [`10.96.1.${n}`, `fd00:96::1:${n}`], ipFamilyPolicy: 'RequireDualStack' });
const internal = { metadata: { annotations: { 'service.beta.kubernetes.io/azure-load-balancer-internal': 'true' } } };

function ipsOf(r: LbAllocationResult): Record<string, string[]> {
  const o: Record<string, string[]> = {};
  for (const a of r.allocations) o[a.service] = a.ips;
  return o;
}
function errorsOf(r: LbAllocationResult, key: string): { path: string; message: string }[] {
  return r.allocations.find((a) => a.service === key)?.errors ?? [];
}
function issues(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationError) return e.issues.map((i) => ({ path: i.path, message: i.message }));
    throw e;
  }
  return [];
}

t.test('NodeConfig: pools and nodePortRange parse, with defaults', async (t) => {
  const plain = validateNodeConfig(nodeObj());
  t.equal(plain.spec.loadBalancerPools, null, 'no pools: allocator inactive');
  t.same(plain.spec.nodePortRange, { min: 30000, max: 32767 });
  t.same(NODE.spec.loadBalancerPools?.external.map((r) => [r.text, r.first.text, r.last.text]), [
    ['20.1.1.0/30', '20.1.1.1', '20.1.1.2'], // network and broadcast left out
    ['2603:1000::10-2603:1000::11', '2603:1000::10', '2603:1000::11'],
  ]);
  const r6 = parseIPRange('fd00::300:0/126');
  t.ok(typeof r6 !== 'string' && r6.first.text === 'fd00::300:1' && r6.last.text === 'fd00::300:3', 'IPv6 CIDR: subnet-router anycast left out, no broadcast');
  const r32 = parseIPRange('20.9.9.9/32');
  t.ok(typeof r32 !== 'string' && r32.first.text === '20.9.9.9' && r32.last.text === '20.9.9.9');
  t.same(parsePortRange('30000-32767'), { min: 30000, max: 32767 });
  t.same(parsePortRange('8000+100'), { min: 8000, max: 8100 });
  t.same(parsePortRange('9000'), { min: 9000, max: 9000 });
  t.match(parsePortRange('32767-30000'), /above/);
  t.match(parsePortRange('0-10'), /1\.\.65535/);
  t.match(parsePortRange('a-b'), /not a port range/);
  const wide = validateNodeConfig(nodeObj({ nodePortRange: '8000-9000', loadBalancerPools: {} }));
  t.same(wide.spec.nodePortRange, { min: 8000, max: 9000 });
  t.same(wide.spec.loadBalancerPools, { external: [], internal: [] }, 'an empty pools object still activates the allocator');
});

t.test('NodeConfig: pool and nodePortRange errors carry field paths', async (t) => {
  const got = issues(() => validateNodeConfig(nodeObj({
    nodePortRange: '40000-30000',
    loadBalancerPools: {
      external: ['20.1.1.0/24', '20.1.1.5-20.1.1.9', '20.1.2.1/24', '10.96.0.0/24', '10.0.0.1-10.0.0.8', '20.3.0.9-20.3.0.1', 'nope', 7, '224.0.0.1-224.0.0.2'],
      internal: ['192.168.0.0/24', '10.244.0.2-10.244.0.2'],
      extra: [],
    },
  })));
  const at = (p: string) => got.filter((i) => i.path === p).map((i) => i.message).join(' | ');
  t.match(at('spec.nodePortRange'), /above the last/);
  t.match(at('spec.loadBalancerPools.external[1]'), /overlaps spec\.loadBalancerPools\.external\[0\]/);
  t.match(at('spec.loadBalancerPools.external[2]'), /not canonical.*20\.1\.2\.0\/24/);
  t.match(at('spec.loadBalancerPools.external[3]'), /overlaps spec\.serviceCIDRs\[0\]/);
  t.match(at('spec.loadBalancerPools.external[4]'), /node IP 10\.0\.0\.4 \(spec\.nodeIPs\[0\]\)/);
  t.match(at('spec.loadBalancerPools.external[4]'), /default gateway 10\.0\.0\.1/);
  t.match(at('spec.loadBalancerPools.external[5]'), /first address is above the last/);
  t.match(at('spec.loadBalancerPools.external[6]'), /not a CIDR nor a "first-last" range/);
  t.match(at('spec.loadBalancerPools.external[7]'), /expected a string/);
  t.match(at('spec.loadBalancerPools.external[8]'), /multicast/);
  t.match(at('spec.loadBalancerPools.internal[0]'), /not inside spec\.vnetPrefixes/);
  t.match(at('spec.loadBalancerPools.internal[1]'), /overlaps spec\.podCIDRs\[0\]/);
  t.match(at('spec.loadBalancerPools.internal[1]'), /pod address 10\.244\.0\.2 \(spec\.ports\[2\]\.addresses\[0\]\)/);
  t.match(at('spec.loadBalancerPools.extra'), /unknown field/);
  t.match(issues(() => validateNodeConfig(nodeObj({ nodePortRange: 30000 })))[0], { path: 'spec.nodePortRange', message: /expected a string/ });
});

t.test('inactive without pools: services compile as written', async (t) => {
  const s = svc('a', {}, { status: { loadBalancer: { ingress: [{ ip: '20.5.5.5' }] } } });
  const r = allocateLoadBalancerIPs({ services: [s], node: validateNodeConfig(nodeObj()) });
  t.equal(r.active, false);
  t.equal(r.services[0], s, 'same object');
  t.same(r.allocations, []);
});

t.test('dynamic allocation: oldest first, one IP per family, internal pool, copies not mutations', async (t) => {
  const a = svc('a', dual(1));
  const b = svc('b');
  const c = svc('c', dual(3), internal);
  const plain = svc('plain', { type: 'ClusterIP', ports: [{ port: 80 }] });
  const input = [plain, c, b, a]; // input order is not creation order
  const r = allocateLoadBalancerIPs({ services: input, node: NODE });
  t.same(ipsOf(r), {
    'default/a': ['20.1.1.1', '2603:1000::10'],
    'default/b': ['20.1.1.2'],
    'default/c': ['10.0.200.1', 'fd00::200:1'],
  });
  t.same(r.allocations.map((x) => x.service), ['default/a', 'default/b', 'default/c'], 'oldest first');
  t.same(r.allocations[0].sources, ['pool', 'pool']);
  t.equal(r.services.length, 4);
  t.equal(r.services[0], plain, 'non-LB services pass through');
  t.not(r.services[3], a, 'LB services are copies');
  t.same(a.status.loadBalancer.ingress, [], 'input not mutated');
  t.same(r.services[3].status.loadBalancer.ingress.map((i) => i.ip?.text), ['20.1.1.1', '2603:1000::10']);
  t.same(r.state, {
    'default/a': { uid: null, ips: ['20.1.1.1', '2603:1000::10'] },
    'default/b': { uid: null, ips: ['20.1.1.2'] },
    'default/c': { uid: null, ips: ['10.0.200.1', 'fd00::200:1'] },
  });
  t.same(r.pools.find((p) => p.pool === 'external' && p.family === 4), { pool: 'external', family: 4, size: 2, allocated: 2 });
});

t.test('stable across recompiles; exhaustion; release when the service goes', async (t) => {
  const a = svc('a');
  const b = svc('b');
  const r1 = allocateLoadBalancerIPs({ services: [a, b], node: NODE });
  t.same(ipsOf(r1), { 'default/a': ['20.1.1.1'], 'default/b': ['20.1.1.2'] });
  // An *older* service appears: the others keep their IPs; the pool is exhausted for it.
  const older = svc('older', {}, { created: '2020-01-01T00:00:00Z' });
  const r2 = allocateLoadBalancerIPs({ services: [a, b, older], node: NODE, previous: r1.state });
  t.same(ipsOf(r2), { 'default/older': [], 'default/a': ['20.1.1.1'], 'default/b': ['20.1.1.2'] });
  t.same(r2.allocations[1].sources, ['previous']);
  t.match(errorsOf(r2, 'default/older'), [{ path: 'status.loadBalancer.ingress', message: /no free IPv4 address \(20\.1\.1\.0\/30: all allocated\)/ }]);
  t.notOk(r2.state['default/older'], 'nothing recorded for it');
  // a goes: its IP is released and the waiting service gets it.
  const r3 = allocateLoadBalancerIPs({ services: [b, older], node: NODE, previous: r2.state });
  t.same(ipsOf(r3), { 'default/older': ['20.1.1.1'], 'default/b': ['20.1.1.2'] });
  t.notOk(r3.state['default/a']);
  // A service that stops being a LoadBalancer releases too.
  const bNodePort = validateService({ ...svcObj(b), spec: { ...svcObj(b).spec, type: 'NodePort' } });
  const r4 = allocateLoadBalancerIPs({ services: [bNodePort, older], node: NODE, previous: r3.state });
  t.same(Object.keys(r4.state), ['default/older']);
  // No family pool at all.
  const v6only = validateNodeConfig(nodeObj({ loadBalancerPools: { external: ['2603:1000::10-2603:1000::11'] } }));
  const r5 = allocateLoadBalancerIPs({ services: [svc('x', dual(5))], node: v6only });
  t.same(ipsOf(r5), { 'default/x': ['2603:1000::10'] });
  t.match(errorsOf(r5, 'default/x'), [{ path: 'status.loadBalancer.ingress', message: /no IPv4 addresses in the NodeConfig's spec\.loadBalancerPools\.external/ }]);
});

function svcObj(s: Service): Obj {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name: s.metadata.name, namespace: s.metadata.namespace, creationTimestamp: s.metadata.creationTimestamp }, spec: { clusterIP: s.spec.clusterIP?.text, type: s.spec.type, ports: s.spec.ports.map((p) => ({ port: p.port, targetPort: p.targetPort, nodePort: p.nodePort })) } };
}

t.test('previous allocation: dropped when invalid, when the uid changed, kept across pool growth', async (t) => {
  const a = svc('a', {}, { metadata: { uid: 'u-1' } });
  const prev = { 'default/a': { uid: 'u-1', ips: ['20.1.1.2'] }, 'default/gone': { uid: null, ips: ['20.1.1.1'] } };
  t.same(ipsOf(allocateLoadBalancerIPs({ services: [a], node: NODE, previous: prev })), { 'default/a': ['20.1.1.2'] }, 'kept (gone service released)');
  const recreated = svc('a', {}, { metadata: { uid: 'u-2' } });
  t.same(ipsOf(allocateLoadBalancerIPs({ services: [recreated], node: NODE, previous: prev })), { 'default/a': ['20.1.1.1'] }, 'a new uid is a new service');
  const outside = { 'default/a': { uid: 'u-1', ips: ['20.9.9.9', 'garbage'] } };
  t.same(ipsOf(allocateLoadBalancerIPs({ services: [a], node: NODE, previous: outside })), { 'default/a': ['20.1.1.1'] }, 'an IP outside the pool now is not kept');
  const nowInternal = svc('a', {}, { metadata: { uid: 'u-1', ...internal.metadata } });
  t.same(ipsOf(allocateLoadBalancerIPs({ services: [nowInternal], node: NODE, previous: prev })), { 'default/a': ['10.0.200.1'] }, 'switching to internal moves to the internal pool');
});

t.test('static loadBalancerIP: pool rules, older wins, dynamic holders keep theirs', async (t) => {
  const s1 = svc('s1', { loadBalancerIP: '20.1.1.2' });
  const s2 = svc('s2', { loadBalancerIP: '20.1.1.2' });
  const d = svc('d');
  const out = svc('out', { loadBalancerIP: '20.7.7.7' });
  const fam = svc('fam', { loadBalancerIP: '2603:1000::11' });
  const r = allocateLoadBalancerIPs({ services: [d, s2, out, s1, fam], node: NODE });
  t.same(ipsOf(r), { 'default/s1': ['20.1.1.2'], 'default/s2': [], 'default/d': ['20.1.1.1'], 'default/out': [], 'default/fam': [] });
  t.same(r.allocations[0].sources, ['static']);
  t.match(errorsOf(r, 'default/s2'), [{ path: 'spec.loadBalancerIP', message: /20\.1\.1\.2 is already the load-balancer IP of default\/s1 \(older\); not assigned/ }]);
  t.match(errorsOf(r, 'default/out'), [{ path: 'spec.loadBalancerIP', message: /not inside spec\.loadBalancerPools\.external \(20\.1\.1\.0\/30, 2603:1000::10-2603:1000::11\)/ }]);
  t.match(errorsOf(r, 'default/fam'), [{ path: 'spec.loadBalancerIP', message: /ignored: the service has no IPv6 cluster IP/ }]);
  t.match(errorsOf(r, 'default/fam')[1], { path: 'status.loadBalancer.ingress', message: /no free IPv4/ }, 'its IPv4 is dynamic: the pool is full here');
  // fam is IPv4-only with an IPv6 static IP: ignored, and IPv4 comes from the pool.
  t.same(ipsOf(allocateLoadBalancerIPs({ services: [fam], node: NODE })), { 'default/fam': ['20.1.1.1'] });

  // A static request for an address another service holds dynamically fails until it is released.
  const holder = svc('holder');
  const r1 = allocateLoadBalancerIPs({ services: [holder], node: NODE });
  t.same(ipsOf(r1), { 'default/holder': ['20.1.1.1'] });
  const wants = svc('wants', { loadBalancerIP: '20.1.1.1' });
  const r2 = allocateLoadBalancerIPs({ services: [holder, wants], node: NODE, previous: r1.state });
  t.same(ipsOf(r2), { 'default/holder': ['20.1.1.1'], 'default/wants': [] });
  t.match(errorsOf(r2, 'default/wants'), [{ path: 'spec.loadBalancerIP', message: /already allocated to default\/holder/ }]);
  const r3 = allocateLoadBalancerIPs({ services: [wants], node: NODE, previous: r2.state });
  t.same(ipsOf(r3), { 'default/wants': ['20.1.1.1'] });

  // Internal: inside the internal pool or anywhere in the VNet (Azure); not the external pool, not a node IP.
  const i1 = svc('i1', { loadBalancerIP: '10.0.5.5' }, internal);
  const i2 = svc('i2', { loadBalancerIP: '20.1.1.1' }, internal);
  const i3 = svc('i3', { loadBalancerIP: '10.0.0.4' }, internal);
  const i4 = svc('i4', { loadBalancerIP: '192.168.1.1' }, internal);
  const ri = allocateLoadBalancerIPs({ services: [i1, i2, i3, i4], node: NODE });
  t.same(ipsOf(ri), { 'default/i1': ['10.0.5.5'], 'default/i2': [], 'default/i3': [], 'default/i4': [] });
  t.match(errorsOf(ri, 'default/i2')[0].message, /belongs to spec\.loadBalancerPools\.external/);
  t.match(errorsOf(ri, 'default/i3')[0].message, /is a node IP/);
  t.match(errorsOf(ri, 'default/i4')[0].message, /neither inside spec\.loadBalancerPools\.internal .* nor inside spec\.vnetPrefixes/);
  // Dual-stack service with a static IPv4: IPv6 is still allocated from the pool.
  const ds = svc('ds', { ...dual(9), loadBalancerIP: '20.1.1.2' });
  const rd = allocateLoadBalancerIPs({ services: [ds], node: NODE });
  t.same(ipsOf(rd), { 'default/ds': ['20.1.1.2', '2603:1000::10'] });
  t.same(rd.allocations[0].sources, ['static', 'pool']);
});

t.test('status.loadBalancer.ingress is reused when valid; reserved addresses are skipped', async (t) => {
  const hinted = svc('hinted', {}, { status: { loadBalancer: { ingress: [{ ip: '20.1.1.2' }, { ip: '20.8.8.8' }] } } });
  const first = svc('first', {}, { created: '2020-01-01T00:00:00Z' });
  const r = allocateLoadBalancerIPs({ services: [first, hinted], node: NODE });
  t.same(ipsOf(r), { 'default/first': ['20.1.1.1'], 'default/hinted': ['20.1.1.2'] });
  t.same(r.allocations[1].sources, ['status']);
  t.same(r.services[1].status.loadBalancer.ingress.map((i) => i.ip?.text), ['20.1.1.2'], 'ingress replaced by the allocation');

  const ext = svc('ext', { type: 'ClusterIP', externalIPs: ['20.1.1.1'], ports: [{ port: 80 }] });
  const other = svc('other', { loadBalancerClass: 'example.com/lb' }, { status: { loadBalancer: { ingress: [{ ip: '20.1.1.2' }] } } });
  const mine = svc('mine');
  const r2 = allocateLoadBalancerIPs({ services: [ext, other, mine], node: NODE });
  t.same(ipsOf(r2), { 'default/mine': [] }, 'externalIPs and another implementation\'s ingress are never handed out');
  t.equal(r2.services[1], other, 'a service with loadBalancerClass passes through untouched');
});

t.test('NodeCompiler: frontends on allocated IPs, errors in serviceStatus, nodePortRange from NodeConfig', async (t) => {
  const node = validateNodeConfig(nodeObj({ loadBalancerPools: POOLS, nodePortRange: '8000-9000' }));
  const man = (s: Service): Manifest => ({ kind: 'Service', apiVersion: 'v1', namespace: s.metadata.namespace, name: s.metadata.name, key: objectKey('Service', s.metadata.namespace, s.metadata.name), source: { file: null, doc: 0, item: null, line: null }, object: s });
  const web = validateService({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default', creationTimestamp: '2024-01-01T00:00:00Z' }, spec: { type: 'LoadBalancer', clusterIP: '10.96.0.50', ports: [{ port: 80, targetPort: 8080, nodePort: 8080 }] } });
  const late = validateService({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'late', namespace: 'default', creationTimestamp: '2024-01-02T00:00:00Z' }, spec: { type: 'LoadBalancer', clusterIP: '10.96.0.51', loadBalancerIP: '20.1.1.1', ports: [{ port: 80, nodePort: 8081 }] } });
  const c = new NodeCompiler();
  const first = c.compile(node, new DesiredState([man(web)]), 1);
  t.same(ipsOf(first.lbStatus), { 'default/web': ['20.1.1.1'] });
  // late asks for web's address statically: web keeps it (stable), late gets an error.
  const res = c.compile(node, new DesiredState([man(web), man(late)]), 2);
  t.equal(res.lbStatus.active, true);
  t.same(ipsOf(res.lbStatus), { 'default/web': ['20.1.1.1'], 'default/late': [] });
  const fe = res.services.findFrontend('20.1.1.1', 'TCP', 80);
  t.ok(fe >= 0 && res.services.describe(fe)?.service === 'default/web' && res.services.describe(fe)?.kind === 'LoadBalancer', 'LB frontend on the allocated IP');
  t.ok(res.services.ownsAddress4((20 << 24 | 1 << 16 | 1 << 8 | 1) >>> 0), 'the uplink answers ARP for it');
  t.ok(res.services.findFrontend('10.0.0.4', 'TCP', 8080) >= 0, 'nodePort 8080 accepted: nodePortRange 8000-9000 from the NodeConfig');
  const lateSt = res.serviceStatus.find((s) => s.key === 'default/late');
  t.match(lateSt?.errors, [{ path: 'spec.loadBalancerIP', message: /already allocated to default\/web/ }], 'allocation errors are in serviceStatus');
  t.same(c.lbState, { 'default/web': { uid: null, ips: ['20.1.1.1'] } });
  // A null state (no desired state yet) keeps the restored allocation.
  const restored = new NodeCompiler({ lbState: { 'default/web': { uid: null, ips: ['20.1.1.2'] } } });
  restored.compile(node, null, 1);
  t.same(restored.lbState, { 'default/web': { uid: null, ips: ['20.1.1.2'] } });
  const res2 = restored.compile(node, new DesiredState([man(web)]), 2);
  t.same(ipsOf(res2.lbStatus), { 'default/web': ['20.1.1.2'] }, 'restored allocation honoured');
  // Default node port range still rejects 8080.
  const strict = new NodeCompiler().compile(validateNodeConfig(nodeObj({ loadBalancerPools: POOLS })), new DesiredState([man(web)]), 1);
  t.match(strict.serviceStatus[0].errors, [{ path: 'spec.ports[0].nodePort', message: /outside the node port range 30000-32767/ }]);
});

t.test('state file: atomic write, read back, missing, corrupt', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-lb-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'sub', 'lb-allocations.json');
  t.equal(readLbState(file), null, 'missing file: null');
  const st = { 'ns/b': { uid: 'x', ips: ['20.1.1.2'] }, 'ns/a': { uid: null, ips: ['20.1.1.1', '2603:1000::10'] } };
  writeLbState(file, st);
  t.same(fs.readdirSync(path.dirname(file)), ['lb-allocations.json'], 'no temp file left');
  const back = readLbState(file);
  t.ok(back !== null && sameLbState(back, st));
  t.same(Object.keys(JSON.parse(fs.readFileSync(file, 'utf8')).allocations), ['ns/a', 'ns/b'], 'sorted keys (stable file)');
  t.notOk(sameLbState(st, { ...st, 'ns/a': { uid: null, ips: ['20.1.1.1'] } }));
  fs.writeFileSync(file, '{"kind":"Other"}');
  t.throws(() => readLbState(file), /not a TapflowLoadBalancerAllocations v1 document/);
});

t.test('many services: allocation is linear and deterministic', async (t) => {
  const node = validateNodeConfig(nodeObj({ loadBalancerPools: { external: ['20.0.0.0/16'] } }));
  const list: Service[] = [];
  for (let i = 0; i < 5000; i++) {
    list.push(validateService({ apiVersion: 'v1', kind: 'Service', metadata: { name: `s${i}`, namespace: 'default', creationTimestamp: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString() }, spec: { type: 'LoadBalancer', clusterIP: `10.96.${i >> 8}.${i & 255}`, ports: [{ port: 80 }] } }));
  }
  const t0 = performance.now();
  const r = allocateLoadBalancerIPs({ services: list, node });
  const ms = performance.now() - t0;
  t.equal(Object.keys(r.state).length, 5000);
  t.same(r.allocations[4999].ips, ['20.0.19.136'], '5000th address of 20.0.0.1..');
  const t1 = performance.now();
  const r2 = allocateLoadBalancerIPs({ services: list, node, previous: r.state });
  const ms2 = performance.now() - t1;
  t.ok(sameLbState(r.state, r2.state), 'recompile: same allocation');
  t.comment(`5000 services: first allocation ${ms.toFixed(1)} ms, recompile ${ms2.toFixed(1)} ms`);
  t.ok(ms < 5000 && ms2 < 5000);
});
