/**
 * Services compiled against a dual-stack node and traced through the table: every frontend
 * kind, port matching, terminating fallback, traffic policies from each port role, masquerade,
 * hairpin, source ranges, internal LB, session affinity with a fake clock, Maglev stability,
 * health bits, conflicts, status errors, backendStillValid across generations.
 *
 * Objects go through the real model validators (validateService / validateEndpointSlice /
 * validateNodeConfig), so the compiler sees exactly what the loader gives it.
 */
import t from 'tap';
import { validateNodeConfig } from '../model/node-config';
import { validateService } from '../model/service';
import type { Service } from '../model/service';
import { validateEndpointSlice } from '../model/endpoint-slice';
import type { EndpointSlice } from '../model/endpoint-slice';
import { compileServices } from './services';
import type { CompileServicesInput } from './services';
import { AffinityTable } from '../../dataplane/tables/affinity-table';
import {
  KeyInterner, SERVICE_REASON_NAMES, ServiceReason, ServiceResult, ServiceTable, ServiceVerdict,
} from '../../dataplane/tables/service-table';
import { Ep, dualStackNodeObj, endpointSliceObj } from '../../test/support/model-objects';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

const UPLINK = 0;
const HOST = 1;
const POD = 2;
const TCP = 6;
const UDP = 17;

const nodeObj = dualStackNodeObj;
const NODE = validateNodeConfig(nodeObj());

let tsCounter = 0;
function svc(name: string, spec: Obj, extra: Obj = {}): Service {
  const ts = new Date(Date.UTC(2024, 0, 1, 0, 0, tsCounter++)).toISOString().replace('.000Z', 'Z');
  return validateService({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default', creationTimestamp: ts, ...(extra.metadata ?? {}) },
    spec,
    ...(extra.status !== undefined ? { status: extra.status } : {}),
  });
}

function slice(service: string, name: string, eps: Ep[], ports: Obj[], addressType = 'IPv4'): EndpointSlice {
  return validateEndpointSlice(endpointSliceObj(service, name, eps, ports, addressType));
}

const ip4 = (s: string): number => s.split('.').reduce((a, o) => a * 256 + Number(o), 0) >>> 0;
const fmt4 = (v: number): string => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
function ip6(s: string): Uint8Array {
  const [h, tl] = s.split('::');
  const hw = h === '' ? [] : h.split(':');
  const tw = tl === undefined ? [] : tl === '' ? [] : tl.split(':');
  const words = tl === undefined ? hw : [...hw, ...new Array<string>(8 - hw.length - tw.length).fill('0'), ...tw];
  const b = new Uint8Array(16);
  words.forEach((w, i) => {
    const v = parseInt(w, 16);
    b[2 * i] = v >> 8;
    b[2 * i + 1] = v & 255;
  });
  return b;
}

function compile(services: Service[], slices: EndpointSlice[], opts: Partial<CompileServicesInput> = {}) {
  return compileServices({ services, endpointSlices: slices, node: NODE, ...opts });
}

/** Trace one IPv4 flow: lookup + resolve; returns a readable outcome. */
function trace4(table: ServiceTable, o: { src: string; dst: string; dport: number; proto?: number; role?: number; hash?: number; now?: number; aff?: AffinityTable }) {
  const res = new ServiceResult();
  const fe = table.lookupFrontend4(ip4(o.dst), o.proto ?? TCP, o.dport);
  if (fe < 0) return { fe, verdict: 'not-service', reason: 'none', backend: '', masq: false, pool: -1, affinityHit: false, res };
  table.resolve4(fe, ip4(o.src), 40000, o.role ?? UPLINK, o.hash ?? 1, o.now ?? 0, o.aff ?? new AffinityTable(64), res);
  return {
    fe,
    verdict: ['not-service', 'dnat', 'reject', 'drop'][res.verdict],
    reason: SERVICE_REASON_NAMES[res.reason],
    backend: res.verdict === ServiceVerdict.Dnat ? `${fmt4(res.addr4)}:${res.port}` : '',
    masq: res.masquerade,
    pool: res.pool,
    affinityHit: res.affinityHit,
    res,
  };
}

/** The set of backends a frontend reaches over many flow hashes. */
function reach(table: ServiceTable, o: { src: string; dst: string; dport: number; role?: number; proto?: number }, flows = 400): Set<string> {
  const seen = new Set<string>();
  for (let h = 0; h < flows; h++) {
    const r = trace4(table, { ...o, hash: h * 2654435761 });
    seen.add(r.verdict === 'dnat' ? r.backend : `${r.verdict}:${r.reason}`);
  }
  return seen;
}

const HTTP = [{ name: 'http', port: 8080, protocol: 'TCP' }];

t.test('every frontend kind: ClusterIP, NodePort, LoadBalancer ingress + loadBalancerIP, externalIPs', async (t) => {
  const s = svc('web', {
    type: 'LoadBalancer',
    clusterIP: '10.96.0.10',
    ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }],
    externalIPs: ['192.0.2.50'],
    loadBalancerIP: '20.1.1.2',
  }, { status: { loadBalancer: { ingress: [{ ip: '20.1.1.1' }, { ip: '20.1.1.9', ipMode: 'Proxy' }, { hostname: 'lb.example' }] } } });
  const { table, status } = compile([s], [slice('web', 'web-1', [{ ip: '10.244.1.5' }], HTTP)]);
  t.same(status, [{ key: 'default/web', frontends: 5, errors: [] }]);
  const cases: [string, number, string][] = [
    ['10.96.0.10', 80, 'ClusterIP'],
    ['10.0.0.4', 30080, 'NodePort'],
    ['20.1.1.1', 80, 'LoadBalancer'],
    ['20.1.1.2', 80, 'LoadBalancer'],
    ['192.0.2.50', 80, 'ExternalIP'],
  ];
  for (const [dst, dport, kind] of cases) {
    const r = trace4(table, { src: '10.244.0.2', dst, dport, role: POD });
    t.equal(r.verdict, 'dnat', `${dst}:${dport}`);
    t.equal(r.backend, '10.244.1.5:8080');
    t.equal(table.describe(r.fe)?.kind, kind);
    t.equal(table.describe(r.fe)?.service, 'default/web');
  }
  t.equal(table.lookupFrontend4(ip4('20.1.1.9'), TCP, 80), -1, 'ipMode Proxy: not a frontend');
  t.equal(table.lookupFrontend4(ip4('10.96.0.10'), UDP, 80), -1, 'protocol is part of the key');
  t.equal(table.lookupFrontend4(ip4('10.96.0.10'), TCP, 81), -1, 'port is part of the key');
  t.equal(table.lookupFrontend4(ip4('10.0.0.4'), TCP, 80), -1, 'NodePort only on the node port');
  t.ok(table.ownsAddress4(ip4('20.1.1.1')) && table.ownsAddress4(ip4('20.1.1.2')) && table.ownsAddress4(ip4('192.0.2.50')), 'LB + external IPs owned');
  t.notOk(table.ownsAddress4(ip4('10.96.0.10')), 'ClusterIP is not answered on the uplink');
  t.notOk(table.ownsAddress4(ip4('20.1.1.9')));
  t.equal(table.findFrontend('20.1.1.1', 'TCP', 80), table.lookupFrontend4(ip4('20.1.1.1'), TCP, 80));
});

t.test('nodePortAddresses: NodePort on every node IP inside nodePortCIDRs', async (t) => {
  const node = validateNodeConfig(nodeObj({ nodeIPs: ['10.0.0.4', '10.1.0.4', 'fd00::4'], nodePortAddresses: ['10.0.0.0/8'] }));
  const s = svc('np', { type: 'NodePort', clusterIP: '10.96.0.11', ports: [{ port: 80, nodePort: 30001 }] });
  const { table } = compileServices({ services: [s], endpointSlices: [slice('np', 'np-1', [{ ip: '10.244.1.5' }], [{ port: 80 }])], node });
  t.ok(table.lookupFrontend4(ip4('10.0.0.4'), TCP, 30001) >= 0);
  t.ok(table.lookupFrontend4(ip4('10.1.0.4'), TCP, 30001) >= 0);
  t.equal(table.lookupFrontend6(ip6('fd00::4'), 0, TCP, 30001), -1, 'single-stack service: no IPv6 NodePort');
});

t.test('multi-port services: named ports match slice ports by name and protocol', async (t) => {
  const s = svc('multi', {
    clusterIP: '10.96.0.12',
    ports: [
      { name: 'http', port: 80, targetPort: 'web' },
      { name: 'metrics', port: 9100 },
      { name: 'dns', port: 53, protocol: 'UDP' },
    ],
  });
  const slices = [
    slice('multi', 'multi-a', [{ ip: '10.244.1.5' }, { ip: '10.244.2.6' }], [
      { name: 'http', port: 8080 },
      { name: 'metrics', port: 9090 },
      { name: 'dns', port: 5353, protocol: 'UDP' },
    ]),
    // Same name, wrong protocol: not an endpoint of 'dns'.
    slice('multi', 'multi-b', [{ ip: '10.244.3.7' }], [{ name: 'dns', port: 53, protocol: 'TCP' }]),
    // Other service: ignored.
    slice('other', 'other-a', [{ ip: '10.244.9.9' }], [{ name: 'http', port: 8080 }]),
  ];
  const { table } = compile([s], slices);
  t.same([...reach(table, { src: '10.244.0.2', dst: '10.96.0.12', dport: 80, role: POD })].sort(), ['10.244.1.5:8080', '10.244.2.6:8080']);
  t.same([...reach(table, { src: '10.244.0.2', dst: '10.96.0.12', dport: 9100, role: POD })].sort(), ['10.244.1.5:9090', '10.244.2.6:9090']);
  t.same([...reach(table, { src: '10.244.0.2', dst: '10.96.0.12', dport: 53, proto: UDP, role: POD })].sort(), ['10.244.1.5:5353', '10.244.2.6:5353']);
  t.equal(table.lookupFrontend4(ip4('10.96.0.12'), TCP, 53), -1);
});

t.test('endpoints deduplicated across slices; a ready copy wins', async (t) => {
  const s = svc('dup', { clusterIP: '10.96.0.13', ports: [{ port: 80 }] });
  const { table } = compile([s], [
    slice('dup', 'dup-a', [{ ip: '10.244.1.5', ready: false }], [{ port: 8080 }]),
    slice('dup', 'dup-b', [{ ip: '10.244.1.5' }, { ip: '10.244.1.6', ready: false }], [{ port: 8080 }]),
  ]);
  const d = table.describe(table.lookupFrontend4(ip4('10.96.0.13'), TCP, 80));
  t.same(d?.clusterEndpoints.map((e) => [e.key, e.ready]), [['10.244.1.5:8080/TCP', true]]);
});

t.test('terminating fallback: ready first, else serving+terminating, else reject', async (t) => {
  const s = svc('term', { clusterIP: '10.96.0.14', ports: [{ port: 80 }] });
  const run = (eps: Ep[]) => reach(compile([s], [slice('term', 'term-1', eps, [{ port: 8080 }])]).table, { src: '10.244.0.2', dst: '10.96.0.14', dport: 80, role: POD });
  t.same([...run([{ ip: '10.244.1.5' }, { ip: '10.244.1.6', ready: false, serving: true, terminating: true }])], ['10.244.1.5:8080'], 'ready only');
  t.same([...run([{ ip: '10.244.1.5', ready: false, serving: false }, { ip: '10.244.1.6', ready: false, serving: true, terminating: true }])], ['10.244.1.6:8080'], 'fallback to serving+terminating');
  t.same([...run([{ ip: '10.244.1.6', ready: false, serving: false, terminating: true }])], ['reject:no-endpoints'], 'terminating, not serving: no endpoint');
  t.same([...run([])], ['reject:no-endpoints'], 'no endpoints');
  const { table } = compile([s], []);
  t.equal(trace4(table, { src: '10.244.0.2', dst: '10.96.0.14', dport: 80, role: POD }).verdict, 'reject', 'no slices at all');
});

t.test('externalTrafficPolicy Local', async (t) => {
  const lb = (name: string, ip: string, np: number) => svc(name, {
    type: 'LoadBalancer', clusterIP: ip, externalTrafficPolicy: 'Local', healthCheckNodePort: 32000 + np,
    ports: [{ port: 80, nodePort: 30000 + np }],
  }, { status: { loadBalancer: { ingress: [{ ip: `20.2.2.${np}` }] } } });
  const withLocal = lb('loc', '10.96.1.1', 1);
  const noLocal = lb('noloc', '10.96.1.2', 2);
  const { table } = compile([withLocal, noLocal], [
    slice('loc', 'loc-1', [{ ip: '10.244.0.2', node: 'node-a' }, { ip: '10.244.1.5', node: 'node-b' }], [{ port: 8080 }]),
    slice('noloc', 'noloc-1', [{ ip: '10.244.1.6', node: 'node-b' }], [{ port: 8080 }]),
  ]);
  t.same(table.healthChecks, [{ service: 'default/loc', nodePort: 32001, localEndpoints: 1 }, { service: 'default/noloc', nodePort: 32002, localEndpoints: 0 }]);
  for (const [dst, dport] of [['20.2.2.1', 80], ['10.0.0.4', 30001]] as const) {
    t.same([...reach(table, { src: '203.0.113.7', dst, dport, role: UPLINK })], ['10.244.0.2:8080'], `${dst}: external client → local endpoint only`);
    const ext = trace4(table, { src: '203.0.113.7', dst, dport, role: UPLINK });
    t.equal(ext.masq, false, 'client IP preserved');
    t.same([...reach(table, { src: '10.244.0.2', dst, dport, role: POD })].sort(), ['10.244.0.2:8080', '10.244.1.5:8080'], 'pod → cluster pool (short-circuit)');
    t.same([...reach(table, { src: '10.244.7.7', dst, dport, role: UPLINK })].sort(), ['10.244.0.2:8080', '10.244.1.5:8080'], 'pod of another node (cluster CIDR) → cluster pool');
    const host = trace4(table, { src: '10.0.0.4', dst, dport, role: HOST });
    t.equal(host.pool, 0, 'node itself → cluster pool');
    t.equal(host.masq, true, 'node itself → masquerade');
  }
  const d = trace4(table, { src: '203.0.113.7', dst: '20.2.2.2', dport: 80, role: UPLINK });
  t.same([d.verdict, d.reason], ['drop', 'no-local-endpoints'], 'no local endpoint: external traffic dropped');
  t.same([...reach(table, { src: '10.244.0.2', dst: '20.2.2.2', dport: 80, role: POD })], ['10.244.1.6:8080'], 'pods still reach it');
  const cip = trace4(table, { src: '10.244.0.2', dst: '10.96.1.2', dport: 80, role: POD });
  t.equal(cip.backend, '10.244.1.6:8080', 'ClusterIP unaffected by ETP');
  const c = table.candidates(d.fe, '203.0.113.7', UPLINK);
  t.same([c?.verdict, c?.reason, c?.pool], ['drop', 'no-local-endpoints', 'none']);
});

t.test('externalTrafficPolicy Cluster: external frontends masquerade, from anywhere', async (t) => {
  const s = svc('ext', { type: 'NodePort', clusterIP: '10.96.1.3', externalIPs: ['192.0.2.60'], ports: [{ port: 80, nodePort: 30003 }] });
  const { table } = compile([s], [slice('ext', 'ext-1', [{ ip: '10.244.1.5', node: 'node-b' }], [{ port: 8080 }])]);
  for (const [src, role] of [['203.0.113.7', UPLINK], ['10.244.0.2', POD]] as const) {
    t.equal(trace4(table, { src, dst: '10.0.0.4', dport: 30003, role }).masq, true, `NodePort from ${src}`);
    t.equal(trace4(table, { src, dst: '192.0.2.60', dport: 80, role }).masq, true, `externalIP from ${src}`);
  }
});

t.test('internalTrafficPolicy Local', async (t) => {
  const a = svc('itp', { clusterIP: '10.96.1.4', internalTrafficPolicy: 'Local', ports: [{ port: 80 }] });
  const b = svc('itp-none', { clusterIP: '10.96.1.5', internalTrafficPolicy: 'Local', ports: [{ port: 80 }] });
  const { table } = compile([a, b], [
    slice('itp', 'itp-1', [{ ip: '10.244.0.2', node: 'node-a' }, { ip: '10.244.1.5', node: 'node-b' }], [{ port: 8080 }]),
    slice('itp-none', 'itp-none-1', [{ ip: '10.244.1.6', node: 'node-b' }], [{ port: 8080 }]),
  ]);
  t.same([...reach(table, { src: '10.244.0.9', dst: '10.96.1.4', dport: 80, role: POD })], ['10.244.0.2:8080'], 'local endpoints only');
  const r = trace4(table, { src: '10.244.0.9', dst: '10.96.1.5', dport: 80, role: POD });
  t.same([r.verdict, r.reason], ['drop', 'no-local-endpoints-internal']);
});

t.test('masquerade rules for ClusterIP', async (t) => {
  const s = svc('m', { clusterIP: '10.96.1.6', ports: [{ port: 80 }] });
  const slices = [slice('m', 'm-1', [{ ip: '10.244.1.5' }], [{ port: 8080 }])];
  const { table } = compile([s], slices);
  t.equal(trace4(table, { src: '10.244.0.2', dst: '10.96.1.6', dport: 80, role: POD }).masq, false, 'pod → ClusterIP: no masquerade');
  t.equal(trace4(table, { src: '10.244.5.5', dst: '10.96.1.6', dport: 80, role: UPLINK }).masq, false, 'remote pod (cluster CIDR): no masquerade');
  t.equal(trace4(table, { src: '10.0.0.4', dst: '10.96.1.6', dport: 80, role: HOST }).masq, true, 'node → ClusterIP: masquerade');
  t.equal(trace4(table, { src: '10.0.7.7', dst: '10.96.1.6', dport: 80, role: UPLINK }).masq, true, 'off-cluster source: masquerade');
  const all = compileServices({ services: [s], endpointSlices: slices, node: validateNodeConfig(nodeObj({ masqueradeAll: true })) }).table;
  t.equal(trace4(all, { src: '10.244.0.2', dst: '10.96.1.6', dport: 80, role: POD }).masq, true, 'masqueradeAll');
});

t.test('hairpin: a pod reaching itself through its service is masqueraded', async (t) => {
  const s = svc('hp', { clusterIP: '10.96.1.7', ports: [{ port: 80 }] });
  const { table } = compile([s], [slice('hp', 'hp-1', [{ ip: '10.244.0.2' }], [{ port: 8080 }])]);
  const self = trace4(table, { src: '10.244.0.2', dst: '10.96.1.7', dport: 80, role: POD });
  t.same([self.backend, self.masq], ['10.244.0.2:8080', true]);
  t.equal(trace4(table, { src: '10.244.0.3', dst: '10.96.1.7', dport: 80, role: POD }).masq, false);
});

t.test('loadBalancerSourceRanges apply to LB frontends only', async (t) => {
  const s = svc('sr', {
    type: 'LoadBalancer', clusterIP: '10.96.1.8', loadBalancerSourceRanges: ['203.0.113.0/24', 'fd00:203::/64'],
    ports: [{ port: 443, nodePort: 30443 }],
  }, { status: { loadBalancer: { ingress: [{ ip: '20.3.3.3' }] } } });
  const { table } = compile([s], [slice('sr', 'sr-1', [{ ip: '10.244.1.5' }], [{ port: 8443 }])]);
  t.equal(trace4(table, { src: '203.0.113.9', dst: '20.3.3.3', dport: 443 }).verdict, 'dnat');
  const r = trace4(table, { src: '198.51.100.1', dst: '20.3.3.3', dport: 443 });
  t.same([r.verdict, r.reason], ['drop', 'source-range']);
  t.equal(trace4(table, { src: '198.51.100.1', dst: '10.0.0.4', dport: 30443 }).verdict, 'dnat', 'NodePort not restricted');
  t.same(table.describe(r.fe)?.sourceRanges, ['203.0.113.0/24']);
});

t.test('internal load balancer: VNet and cluster sources only', async (t) => {
  const s = svc('ilb', {
    type: 'LoadBalancer', clusterIP: '10.96.1.9', ports: [{ port: 80, nodePort: 30009 }],
  }, {
    metadata: { annotations: { 'service.beta.kubernetes.io/azure-load-balancer-internal': 'true' } },
    status: { loadBalancer: { ingress: [{ ip: '10.0.200.10' }] } },
  });
  const { table } = compile([s], [slice('ilb', 'ilb-1', [{ ip: '10.244.1.5' }], [{ port: 8080 }])]);
  t.equal(trace4(table, { src: '10.0.5.5', dst: '10.0.200.10', dport: 80 }).verdict, 'dnat', 'VNet source');
  t.equal(trace4(table, { src: '10.244.0.2', dst: '10.0.200.10', dport: 80, role: POD }).verdict, 'dnat', 'pod');
  const r = trace4(table, { src: '198.51.100.1', dst: '10.0.200.10', dport: 80 });
  t.same([r.verdict, r.reason], ['drop', 'internal-lb-external-source']);
  t.equal(table.describe(r.fe)?.internal, true);
});

t.test('session affinity ClientIP: pinning, refresh, expiry, break on backend removal', async (t) => {
  const s = svc('aff', { clusterIP: '10.96.2.1', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 10 } }, ports: [{ port: 80 }] });
  const eps = Array.from({ length: 8 }, (_, i) => ({ ip: `10.244.1.${10 + i}` }));
  const interner = new KeyInterner();
  const g1 = compile([s], [slice('aff', 'aff-1', eps, [{ port: 8080 }])], { interner }).table;
  const aff = new AffinityTable(1024);
  const go = (table: ServiceTable, hash: number, now: number, src = '10.244.0.2') => trace4(table, { src, dst: '10.96.2.1', dport: 80, role: POD, hash, now, aff });
  const first = go(g1, 1, 0);
  t.equal(first.affinityHit, false);
  const pinned = first.backend;
  for (let h = 2; h < 60; h++) t.equal(go(g1, h * 7919, 1000).backend, pinned, `flow ${h} pinned`);
  t.equal(go(g1, 99, 9000).affinityHit, true, 'still pinned at 9 s');
  t.equal(go(g1, 98, 18000).affinityHit, true, 'use at 9 s refreshed the entry (expiry 19 s)');
  const after = go(g1, 12345, 28001);
  t.equal(after.affinityHit, false, 'expired after 10 s idle');
  const repinned = after.backend;
  // Other clients are independent: over many clients, several backends are used.
  const clients = new Set<string>();
  for (let c = 0; c < 64; c++) clients.add(go(g1, c * 31, 30000, `10.244.0.${100 + c}`).backend);
  t.ok(clients.size > 3, `clients spread over ${clients.size} backends`);
  // Remove the pinned backend: affinity breaks, a new backend is pinned.
  const g2 = compile([s], [slice('aff', 'aff-1', eps.filter((e) => `${e.ip}:8080` !== repinned), [{ port: 8080 }])], { interner, previous: g1 }).table;
  const moved = go(g2, 777, 29000);
  t.equal(moved.affinityHit, false);
  t.not(moved.backend, repinned);
  t.equal(go(g2, 778, 29500).backend, moved.backend, 'and pinned again');
  t.equal(go(g2, 779, 29600).affinityHit, true);
});

// Established flows never move: the flow table keeps them and revalidates with
// backendStillValid, which stays true for every remaining backend. What Maglev adds is that a
// *re-resolution* of the same flow hash (a new connection with the same tuple, another node
// with the same generation) also lands on the same backend — for all but Maglev's ~2-4 % churn.
t.test('Maglev stability: removing one of 10 backends keeps flows on the others', async (t) => {
  const s = svc('mg', { clusterIP: '10.96.2.2', ports: [{ port: 80 }] });
  const eps = Array.from({ length: 10 }, (_, i) => ({ ip: `10.244.1.${10 + i}` }));
  const interner = new KeyInterner();
  const g1 = compile([s], [slice('mg', 'mg-1', eps, [{ port: 8080 }])], { interner }).table;
  const removed = '10.244.1.13:8080';
  const g2 = compile([s], [slice('mg', 'mg-1', eps.filter((e) => e.ip !== '10.244.1.13'), [{ port: 8080 }])], { interner, previous: g1 }).table;
  const g2fresh = compile([s], [slice('mg', 'mg-1', eps.filter((e) => e.ip !== '10.244.1.13'), [{ port: 8080 }])], { interner }).table;
  t.same(g2.maglev16, g2fresh.maglev16, 'reuse of the previous table changes nothing');
  let kept = 0, others = 0, onRemoved = 0;
  const per = new Map<string, number>();
  for (let h = 0; h < 5000; h++) {
    const hash = Math.imul(h, 0x9e3779b1) >>> 0;
    const a = trace4(g1, { src: '10.244.0.2', dst: '10.96.2.2', dport: 80, role: POD, hash }).backend;
    const b = trace4(g2, { src: '10.244.0.2', dst: '10.96.2.2', dport: 80, role: POD, hash }).backend;
    per.set(a, (per.get(a) ?? 0) + 1);
    const spKey = interner.id('default/mg');
    const aKey = interner.id(`${a}/TCP`);
    if (a === removed) {
      onRemoved++;
      t.not(b, removed);
      if (g2.backendStillValid(spKey, aKey)) t.fail('a flow to the removed backend must end');
    } else {
      others++;
      if (a === b) kept++;
      if (!g2.backendStillValid(spKey, aKey)) t.fail(`flow ${h} on ${a} would be ended`);
    }
  }
  t.ok(onRemoved > 300 && onRemoved < 700, `≈1/10 of flows on the removed backend (${onRemoved})`);
  t.ok(kept / others >= 0.95, `re-resolving flows of other backends keeps their backend: ${(100 * kept / others).toFixed(2)} % (Maglev churn)`);
  t.pass('every established flow on another backend stays valid (backendStillValid)');
  t.equal(per.size, 10);
  for (const [k, n] of per) t.ok(n > 350 && n < 650, `even spread ${k}: ${n}`);
});

t.test('health bit: unhealthy backends are skipped without recompiling; others keep their flows', async (t) => {
  const s = svc('hl', { clusterIP: '10.96.2.3', ports: [{ port: 80 }] });
  const eps = Array.from({ length: 5 }, (_, i) => ({ ip: `10.244.1.${10 + i}` }));
  const interner = new KeyInterner();
  const g = compile([s], [slice('hl', 'hl-1', eps, [{ port: 8080 }])], { interner }).table;
  const before: string[] = [];
  for (let h = 0; h < 2000; h++) before.push(trace4(g, { src: '10.244.0.2', dst: '10.96.2.3', dport: 80, role: POD, hash: h }).backend);
  const sick = interner.id('10.244.1.12:8080/TCP');
  t.ok(sick >= 0);
  g.setBackendHealthy(sick, false);
  t.equal(g.isBackendHealthy(sick), false);
  for (let h = 0; h < 2000; h++) {
    const now = trace4(g, { src: '10.244.0.2', dst: '10.96.2.3', dport: 80, role: POD, hash: h }).backend;
    t.not(now, '10.244.1.12:8080');
    if (before[h] !== '10.244.1.12:8080' && before[h] !== now) t.fail(`flow ${h} moved off a healthy backend`);
  }
  // The health state survives a recompile (it lives in the interner).
  const g2 = compile([s], [slice('hl', 'hl-1', eps, [{ port: 8080 }])], { interner }).table;
  t.notOk(reach(g2, { src: '10.244.0.2', dst: '10.96.2.3', dport: 80, role: POD }).has('10.244.1.12:8080'));
  t.equal(g2.describe(g2.lookupFrontend4(ip4('10.96.2.3'), TCP, 80))?.clusterEndpoints.find((e) => e.keyId === sick)?.healthy, false);
  for (const e of eps) g.setBackendHealthy(interner.id(`${e.ip}:8080/TCP`), false);
  const r = trace4(g, { src: '10.244.0.2', dst: '10.96.2.3', dport: 80, role: POD });
  t.same([r.verdict, r.reason], ['reject', 'no-healthy-endpoints']);
  g.setBackendHealthy(sick, true);
  t.same([...reach(g, { src: '10.244.0.2', dst: '10.96.2.3', dport: 80, role: POD })], ['10.244.1.12:8080'], 'the one healthy backend takes all');
  for (const e of eps) g.setBackendHealthy(interner.id(`${e.ip}:8080/TCP`), true);
  let same = 0;
  for (let h = 0; h < 2000; h++) if (trace4(g, { src: '10.244.0.2', dst: '10.96.2.3', dport: 80, role: POD, hash: h }).backend === before[h]) same++;
  t.equal(same, 2000, 'recovery restores every flow to its Maglev backend');
});

t.test('dual-stack: each family maps to endpoints of its address type', async (t) => {
  const s = svc('ds', {
    clusterIPs: ['10.96.3.1', 'fd00:96::31'], ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'],
    ports: [{ name: 'http', port: 80 }],
  });
  const { table, status } = compile([s], [
    slice('ds', 'ds-v4', [{ ip: '10.244.1.5' }], HTTP),
    slice('ds', 'ds-v6', [{ ip: 'fd00:244:0:1::5' }], HTTP, 'IPv6'),
  ]);
  t.equal(status[0].frontends, 2);
  t.equal(trace4(table, { src: '10.244.0.2', dst: '10.96.3.1', dport: 80, role: POD }).backend, '10.244.1.5:8080');
  const fe = table.lookupFrontend6(ip6('fd00:96::31'), 0, TCP, 80);
  t.ok(fe >= 0);
  const res = new ServiceResult();
  const src = new Uint8Array(40);
  src.set(ip6('fd00:244::2'), 8); // an IPv6 header's source at offset 8
  table.resolve6(fe, src, 8, 40000, POD, 5, 0, new AffinityTable(64), res);
  t.equal(res.verdict, ServiceVerdict.Dnat);
  t.equal(res.family, 6);
  t.same([...res.addr6], [...ip6('fd00:244:0:1::5')]);
  t.equal(res.port, 8080);
  t.equal(res.masquerade, false, 'pod source (cluster CIDR v6)');
  table.resolve6(fe, ip6('2001:db8::1'), 0, 40000, UPLINK, 5, 0, new AffinityTable(64), res);
  t.equal(res.masquerade, true, 'off-cluster v6 source');
  t.equal(table.describe(fe)?.text, '[fd00:96::31]:80/TCP');
  t.equal(table.resolve4.length, 8);
});

t.test('IPv6 LB with source ranges and ETP Local', async (t) => {
  const s = svc('v6lb', {
    type: 'LoadBalancer', clusterIPs: ['fd00:96::41'], ipFamilies: ['IPv6'], externalTrafficPolicy: 'Local',
    loadBalancerSourceRanges: ['2001:db8:1::/48'], ports: [{ port: 80, nodePort: 30041 }],
  }, { status: { loadBalancer: { ingress: [{ ip: '2603:1000::41' }] } } });
  const { table } = compile([s], [slice('v6lb', 'v6lb-1', [{ ip: 'fd00:244::2', node: 'node-a' }, { ip: 'fd00:244:0:1::5', node: 'node-b' }], [{ port: 8080 }], 'IPv6')]);
  const fe = table.lookupFrontend6(ip6('2603:1000::41'), 0, TCP, 80);
  t.ok(fe >= 0 && table.ownsAddress6(ip6('2603:1000::41'), 0));
  const res = new ServiceResult();
  table.resolve6(fe, ip6('2001:db8:1::9'), 0, 1, UPLINK, 1, 0, new AffinityTable(64), res);
  t.same([res.verdict, [...res.addr6], res.masquerade], [ServiceVerdict.Dnat, [...ip6('fd00:244::2')], false]);
  table.resolve6(fe, ip6('2001:db8:2::9'), 0, 1, UPLINK, 1, 0, new AffinityTable(64), res);
  t.same([res.verdict, res.reason], [ServiceVerdict.Drop, ServiceReason.SourceRange]);
  t.ok(table.lookupFrontend6(ip6('fd00::4'), 0, TCP, 30041) >= 0, 'IPv6 NodePort on the IPv6 node IP');
});

t.test('conflicts: the older service keeps the frontend', async (t) => {
  const older = svc('aaa-old', { clusterIP: '10.96.4.1', externalIPs: ['192.0.2.70'], ports: [{ port: 80 }] });
  const newer = svc('zzz-new', { clusterIP: '10.96.4.2', externalIPs: ['192.0.2.70'], ports: [{ port: 80 }, { name: 'x', port: 81 }].map((p, i) => (i === 0 ? { name: 'w', ...p } : p)) });
  const slices = [slice('aaa-old', 'o-1', [{ ip: '10.244.1.1' }], [{ port: 8080 }]), slice('zzz-new', 'n-1', [{ ip: '10.244.1.2' }], [{ name: 'w', port: 8080 }, { name: 'x', port: 8081 }])];
  // Input order must not matter: newest first here.
  const { table, status } = compile([newer, older], slices);
  t.equal(status[0].key, 'default/zzz-new', 'status in input order');
  t.same(status[1], { key: 'default/aaa-old', frontends: 2, errors: [] });
  t.equal(status[0].frontends, 3);
  t.equal(status[0].errors.length, 1);
  t.equal(status[0].errors[0].path, 'spec.externalIPs[0]');
  t.match(status[0].errors[0].message, /192\.0\.2\.70:80\/TCP is already used by default\/aaa-old/);
  t.equal(trace4(table, { src: '10.244.0.2', dst: '192.0.2.70', dport: 80, role: POD }).backend, '10.244.1.1:8080');
  t.equal(trace4(table, { src: '10.244.0.2', dst: '192.0.2.70', dport: 81, role: POD }).backend, '10.244.1.2:8081', 'other port of the newer service unaffected');
  // Same creationTimestamp: namespace/name order decides.
  const ts = '2024-05-05T00:00:00Z';
  const a = validateService({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'b-svc', namespace: 'default', creationTimestamp: ts }, spec: { clusterIP: '10.96.4.3', ports: [{ port: 80 }] } });
  const b = validateService({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a-svc', namespace: 'default', creationTimestamp: ts }, spec: { clusterIP: '10.96.4.3', ports: [{ port: 80 }] } });
  const r = compile([a, b], []);
  t.equal(r.status[0].errors.length, 1, 'b-svc loses the tie');
  t.equal(r.status[1].errors.length, 0);
  // No creationTimestamp counts as newest.
  const c = validateService({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a-untimed', namespace: 'default' }, spec: { clusterIP: '10.96.4.3', ports: [{ port: 80 }] } });
  const r2 = compile([c, a], []);
  t.equal(r2.status[0].errors.length, 1, 'the service without a timestamp loses');
  t.equal(r2.status[1].errors.length, 0);
});

t.test('status: nodePort out of range skips the service; ExternalName, headless, unallocated', async (t) => {
  const bad = svc('bad-np', { type: 'NodePort', clusterIP: '10.96.5.1', ports: [{ port: 80, nodePort: 30100 }, { name: 'b', port: 81, nodePort: 8081 }].map((p, i) => (i === 0 ? { name: 'a', ...p } : p)) });
  const en = svc('en', { type: 'ExternalName', externalName: 'example.com' });
  const hl = svc('hl', { clusterIP: 'None', selector: { app: 'x' }, ports: [{ port: 80 }] });
  const { table, status } = compile([bad, en, hl], [slice('hl', 'hl-1', [{ ip: '10.244.1.1' }], [{ port: 80 }])]);
  t.same(status[0].frontends, 0);
  t.same(status[0].errors, [{ path: 'spec.ports[1].nodePort', message: '8081 is outside the node port range 30000-32767; the service is skipped' }]);
  t.equal(table.lookupFrontend4(ip4('10.96.5.1'), TCP, 80), -1);
  t.same(status[1], { key: 'default/en', frontends: 0, errors: [] });
  t.same(status[2], { key: 'default/hl', frontends: 0, errors: [] });
  t.equal(table.frontendCount, 0);
  t.same(table.frontendIds(), []);
  const wide = compile([bad], [], { nodePortRange: { min: 8000, max: 32767 } });
  t.equal(wide.status[0].frontends, 4, 'configurable range');
  const single = svc('single', { clusterIP: '10.96.5.2', externalIPs: ['fd00:1::1'], ports: [{ port: 80 }] });
  t.match(compile([single], []).status[0].errors, [{ path: 'spec.externalIPs[0]', message: /ignored: the service has no IPv6 cluster IP/ }]);
});

t.test('ClusterIP misses: other port rejects, unallocated service IP drops', async (t) => {
  const s = svc('miss', { clusterIP: '10.96.6.1', clusterIPs: ['10.96.6.1', 'fd00:96::61'], ipFamilyPolicy: 'PreferDualStack', ports: [{ port: 80 }] });
  const { table } = compile([s], []);
  const res = new ServiceResult();
  table.resolveMiss4(ip4('10.96.6.1'), res);
  t.same([res.verdict, SERVICE_REASON_NAMES[res.reason]], [ServiceVerdict.Reject, 'clusterip-invalid-port']);
  table.resolveMiss4(ip4('10.96.6.2'), res);
  t.same([res.verdict, SERVICE_REASON_NAMES[res.reason]], [ServiceVerdict.Drop, 'unallocated-clusterip']);
  table.resolveMiss4(ip4('10.244.1.1'), res);
  t.equal(res.verdict, ServiceVerdict.NotService);
  table.resolveMiss6(ip6('fd00:96::61'), 0, res);
  t.equal(res.verdict, ServiceVerdict.Reject);
  table.resolveMiss6(ip6('fd00:96::62'), 0, res);
  t.equal(res.verdict, ServiceVerdict.Drop);
});

t.test('backendStillValid across generations', async (t) => {
  const s = svc('bv', { clusterIP: '10.96.7.1', ports: [{ name: 'http', port: 80 }] });
  const interner = new KeyInterner();
  const g1 = compile([s], [slice('bv', 'bv-1', [{ ip: '10.244.1.1' }, { ip: '10.244.1.2' }], HTTP)], { interner }).table;
  const r = trace4(g1, { src: '10.244.0.2', dst: '10.96.7.1', dport: 80, role: POD });
  t.equal(r.res.servicePortKey, interner.id('default/bv:http'));
  t.equal(r.res.backendKey, interner.id(`${r.backend}/TCP`));
  const sp = interner.id('default/bv:http');
  const a = interner.id('10.244.1.1:8080/TCP');
  const b = interner.id('10.244.1.2:8080/TCP');
  t.ok(g1.backendStillValid(sp, a) && g1.backendStillValid(sp, b));
  // g2: b terminating but serving → flows to b stay valid; g3: b gone; g4: b not serving.
  const g2 = compile([s], [slice('bv', 'bv-1', [{ ip: '10.244.1.1' }, { ip: '10.244.1.2', ready: false, serving: true, terminating: true }], HTTP)], { interner, previous: g1 }).table;
  t.ok(g2.backendStillValid(sp, b), 'terminating + serving: still valid');
  t.notOk(reach(g2, { src: '10.244.0.2', dst: '10.96.7.1', dport: 80, role: POD }).has('10.244.1.2:8080'), 'but gets no new flows');
  const g3 = compile([s], [slice('bv', 'bv-1', [{ ip: '10.244.1.1' }], HTTP)], { interner, previous: g2 }).table;
  t.ok(g3.backendStillValid(sp, a));
  t.notOk(g3.backendStillValid(sp, b), 'removed endpoint');
  const g4 = compile([s], [slice('bv', 'bv-1', [{ ip: '10.244.1.1' }, { ip: '10.244.1.2', ready: false, serving: false, terminating: true }], HTTP)], { interner }).table;
  t.notOk(g4.backendStillValid(sp, b), 'not serving');
  const g5 = compile([s], [slice('bv', 'bv-1', [{ ip: '10.244.1.1' }, { ip: '10.244.1.2' }], [{ name: 'http', port: 9090 }])], { interner }).table;
  t.notOk(g5.backendStillValid(sp, a), 'target port changed: a different backend key');
  t.notOk(compile([], [], { interner }).table.backendStillValid(sp, a), 'service deleted');
  t.equal(interner.id('default/bv:http'), sp, 'ids are stable');
});

t.test('random balancer spreads flows uniformly', async (t) => {
  const s = svc('rnd', { clusterIP: '10.96.8.1', ports: [{ port: 80 }] });
  const eps = Array.from({ length: 4 }, (_, i) => ({ ip: `10.244.1.${i + 1}` }));
  const { table } = compile([s], [slice('rnd', 'rnd-1', eps, [{ port: 8080 }])], { balancer: 'random', randomSeed: 42 });
  const n = new Map<string, number>();
  for (let i = 0; i < 4000; i++) {
    const b = trace4(table, { src: '10.244.0.2', dst: '10.96.8.1', dport: 80, role: POD, hash: 7 }).backend;
    n.set(b, (n.get(b) ?? 0) + 1);
  }
  t.equal(n.size, 4, 'same flow hash, different backends');
  for (const [k, c] of n) t.ok(c > 850 && c < 1150, `${k}: ${c}`);
});

t.test('describe / candidates for trace', async (t) => {
  const s = svc('tr', { clusterIP: '10.96.9.1', internalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80 }] });
  const { table } = compile([s], [slice('tr', 'tr-1', [{ ip: '10.244.0.2', node: 'node-a' }, { ip: '10.244.1.2', node: 'node-b', ready: false, serving: true, terminating: true }], HTTP)]);
  const fe = table.lookupFrontend4(ip4('10.96.9.1'), TCP, 80);
  const d = table.describe(fe);
  t.match(d, {
    service: 'default/tr', servicePort: 'default/tr:http', kind: 'ClusterIP', family: 4, text: '10.96.9.1:80/TCP',
    internalTrafficPolicy: 'Local', externalTrafficPolicy: 'Cluster', sessionAffinitySeconds: 0,
    clusterEndpoints: [{ address: '10.244.0.2', port: 8080, local: true, ready: true, nodeName: 'node-a', healthy: true }],
    localEndpoints: [{ address: '10.244.0.2' }],
  });
  const c = table.candidates(fe, '10.244.0.9', POD, 3);
  t.match(c, { verdict: 'dnat', reason: 'none', pool: 'local', masquerade: false, chosen: { key: '10.244.0.2:8080/TCP' } });
  t.equal(table.describe(-1), null);
  t.equal(table.describe(table.frontendCount), null);
});

t.test('resolve never throws on bad frontend ids and leaves NotService', async (t) => {
  const { table } = compile([svc('x', { clusterIP: '10.96.10.1', ports: [{ port: 80 }] })], []);
  const res = new ServiceResult();
  const aff = new AffinityTable(64);
  for (const fe of [-1, 1, 999, 0x7fffffff]) {
    table.resolve4(fe, 1, 1, 0, 1, 0, aff, res);
    t.equal(res.verdict, ServiceVerdict.NotService);
  }
  table.resolve6(0, new Uint8Array(16), 0, 1, 0, 1, 0, aff, res);
  t.equal(res.verdict, ServiceVerdict.NotService, 'IPv4 frontend resolved as IPv6');
});

t.test('random inputs: resolve never throws and always yields a verdict', async (t) => {
  const services = [
    svc('f1', { type: 'LoadBalancer', clusterIP: '10.96.11.1', externalTrafficPolicy: 'Local', sessionAffinity: 'ClientIP', loadBalancerSourceRanges: ['0.0.0.0/1'], ports: [{ port: 80, nodePort: 30111 }] }, { status: { loadBalancer: { ingress: [{ ip: '20.11.0.1' }] } } }),
    svc('f2', { clusterIP: '10.96.11.2', internalTrafficPolicy: 'Local', ports: [{ port: 80 }] }),
  ];
  const { table } = compile(services, [
    slice('f1', 'f1-1', [{ ip: '10.244.0.2', node: 'node-a' }, { ip: '10.244.1.2', node: 'node-b', ready: false, serving: true, terminating: true }], [{ port: 8080 }]),
    slice('f2', 'f2-1', [{ ip: '10.244.1.3', node: 'node-b' }], [{ port: 8080 }]),
  ]);
  const aff = new AffinityTable(64);
  const res = new ServiceResult();
  let x = 12345;
  const rnd = (): number => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x >>> 0; };
  const ids = [...table.frontendIds(), -1, table.cap4 + table.cap6, 7];
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 20000; i++) {
    const fe = ids[rnd() % ids.length];
    const buf = new Uint8Array(16).map(() => rnd() & 255);
    if ((i & 1) === 0) table.resolve4(fe, rnd(), rnd() & 0xffff, rnd() % 3, rnd(), i, aff, res);
    else table.resolve6(fe, buf, 0, rnd() & 0xffff, rnd() % 3, rnd(), i, aff, res);
    counts[res.verdict]++;
  }
  t.equal(counts.reduce((a, b) => a + b, 0), 20000);
  t.ok(counts[ServiceVerdict.Dnat] > 0 && counts[ServiceVerdict.Drop] > 0 && counts[ServiceVerdict.NotService] > 0, `verdicts ${counts.join('/')}`);
});
