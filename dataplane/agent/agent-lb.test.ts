/**
 * The agent's LoadBalancer hooks on memory ports: an apply that adds a LoadBalancer service
 * allocates an IP from spec.loadBalancerPools and the uplink emits gratuitous ARP /
 * unsolicited NA for it (count × interval, not again for an unchanged address); the uplink
 * then answers ARP for it; the allocation survives an agent restart through the state file;
 * health probe targets and healthCheckNodePort listeners follow the desired state; stop()
 * ends everything.
 */
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { validateNodeConfig } from '../../control/model/node-config';
import { DesiredState } from '../../control/model/manifests';
import type { Manifest } from '../../control/model/manifests';
import { objectKey } from '../../control/model/k8s';
import { validateService } from '../../control/model/service';
import { validateEndpointSlice } from '../../control/model/endpoint-slice';
import { MemoryPort } from '../io/memory-port';
import { buildArp } from '../wire/build';
import { Agent, AgentEvent } from './agent';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const GW_MAC = '02:74:66:00:00:01';

const CFG = validateNodeConfig({
  apiVersion: 'tapflow.dev/v1alpha1', kind: 'NodeConfig', metadata: { name: 'node-a' },
  spec: {
    nodeName: 'node-a', nodeIPs: ['10.0.0.4', 'fd00::4'], podCIDRs: ['10.244.0.0/24', 'fd00:244::/64'],
    clusterCIDRs: ['10.244.0.0/16', 'fd00:244::/56'], serviceCIDRs: ['10.96.0.0/12', 'fd00:96::/112'],
    vnetPrefixes: ['10.0.0.0/16', 'fd00::/64'], gatewayMAC: GW_MAC,
    loadBalancerPools: { external: ['10.0.200.1-10.0.200.3', 'fd00::200:1-fd00::200:3'] },
    ports: [
      { name: 'uplink', tap: 'tfu', role: 'uplink', vnetHdr: false },
      { name: 'host', tap: 'tfh', role: 'host', vnetHdr: false },
      { name: 'pod-a', tap: 'tfpa', role: 'pod', vnetHdr: false, addresses: ['10.244.0.2', 'fd00:244::2'] },
    ],
  },
});

function man(kind: string, obj: Obj): Manifest {
  const m = obj.metadata as { namespace: string; name: string };
  return { kind, apiVersion: obj.apiVersion, namespace: m.namespace, name: m.name, key: objectKey(kind, m.namespace, m.name), source: { file: null, doc: 0, item: null, line: null }, object: obj };
}
function lbService(name: string, created: string, extra: Obj = {}): Manifest {
  return man('Service', validateService({
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, namespace: 'default', creationTimestamp: created, ...(extra.metadata ?? {}) },
    spec: {
      type: 'LoadBalancer', clusterIP: `10.96.0.${name.length + 10}`, clusterIPs: [`10.96.0.${name.length + 10}`, `fd00:96::${name.length + 10}`],
      ipFamilyPolicy: 'RequireDualStack', ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 + name.length }], ...(extra.spec ?? {}),
    },
  }));
}
function sliceFor(service: string, node: string | null): Manifest {
  return man('EndpointSlice', validateEndpointSlice({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `${service}-1`, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4', endpoints: [{ addresses: ['10.244.0.2'], conditions: { ready: true }, ...(node ? { nodeName: node } : {}) }], ports: [{ name: 'http', port: 8080 }],
  }));
}

interface Garp { kind: 'arp' | 'na'; ip: string; op?: number; senderMac?: string; dst?: string }
function mac(b: Uint8Array, o: number): string {
  return [...b.subarray(o, o + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
/** ARP frames and ICMPv6 neighbor advertisements among the captured frames. */
function announcements(frames: Uint8Array[]): Garp[] {
  const out: Garp[] = [];
  for (const f of frames) {
    const et = (f[12] << 8) | f[13];
    if (et === 0x0806) {
      const spa = [...f.subarray(28, 32)].join('.');
      const tpa = [...f.subarray(38, 42)].join('.');
      out.push({ kind: 'arp', ip: spa === tpa ? spa : `${spa}->${tpa}`, op: (f[20] << 8) | f[21], senderMac: mac(f, 22), dst: mac(f, 0) });
    } else if (et === 0x86dd && f[20] === 58 && f[54] === 136) {
      const target = Buffer.from(f.subarray(62, 78)).toString('hex');
      out.push({ kind: 'na', ip: target, dst: mac(f, 0) });
    }
  }
  return out;
}

async function startAgent(t: { teardown(fn: () => unknown): void }, extra: Obj = {}): Promise<{ agent: Agent; ports: Map<string, MemoryPort>; events: AgentEvent[] }> {
  const ports = new Map<string, MemoryPort>();
  const events: AgentEvent[] = [];
  const agent = await Agent.start(CFG, {
    openPort: (name) => {
      const p = new MemoryPort({ name });
      ports.set(name, p);
      return p;
    },
    state: new DesiredState([]),
    announce: { count: 3, intervalMs: 60 },
    healthCheckServer: false,
    onEvent: (e) => events.push(e),
    ...extra,
  });
  t.teardown(() => agent.stop());
  return { agent, ports, events };
}

t.test('apply adds a LoadBalancer service → IP allocated, GARP + unsolicited NA on the uplink, ARP answered', async (t) => {
  const { agent, ports } = await startAgent(t);
  const uplink = ports.get('uplink')!;
  t.same(announcements(uplink.drainSent()), [], 'nothing to announce at start');

  const state = new DesiredState([lbService('web', '2024-01-01T00:00:00Z'), sliceFor('web', 'node-a')]);
  const res = agent.apply(CFG, state);
  t.same(res.lbStatus.allocations.map((a) => [a.service, a.ips]), [['default/web', ['10.0.200.1', 'fd00::200:1']]]);
  const first = announcements(uplink.drainSent());
  t.same(first, [
    { kind: 'arp', ip: '10.0.200.1', op: 1, senderMac: GW_MAC, dst: 'ff:ff:ff:ff:ff:ff' },
    { kind: 'na', ip: 'fd000000000000000000000002000001', dst: '33:33:00:00:00:01' },
  ], 'gratuitous ARP (request, sender = target = the LB IP, broadcast) and unsolicited NA to ff02::1, at once');
  await sleep(200);
  t.equal(announcements(uplink.drainSent()).length, 4, 'repeated: 3 times in all (2 more of each)');
  await sleep(100);
  t.same(uplink.drainSent(), [], 'then silent');

  // Same state again: no new announcement.
  agent.apply(CFG, state);
  t.same(announcements(uplink.drainSent()), [], 'an unchanged address is not announced again');

  // The uplink answers ARP for the allocated IP.
  uplink.inject(buildArp({ op: 1, srcMac: '02:00:00:00:00:10', srcIp: '10.0.0.10', targetIp: '10.0.200.1' }));
  await sleep(10);
  const replies = announcements(uplink.drainSent());
  t.match(replies, [{ kind: 'arp', op: 2, ip: '10.0.200.1->10.0.0.10', senderMac: GW_MAC }], 'ARP reply for the LB IP');

  // A second service gets the next address, announced; removing the first stops its repeats.
  const two = new DesiredState([lbService('web', '2024-01-01T00:00:00Z'), lbService('api', '2024-01-02T00:00:00Z')]);
  agent.apply(CFG, two);
  t.same(announcements(uplink.drainSent()).map((a) => a.ip), ['10.0.200.2', 'fd000000000000000000000002000002']);
  agent.apply(CFG, new DesiredState([lbService('api', '2024-01-02T00:00:00Z')]));
  await sleep(200);
  t.same([...new Set(announcements(uplink.drainSent()).map((a) => a.ip))].sort(), ['10.0.200.2', 'fd000000000000000000000002000002'], 'api keeps 10.0.200.2 after web goes; its repeats continue');
  t.same(agent.lastCompile.lbStatus.allocations.map((a) => a.ips[0]), ['10.0.200.2']);
});

t.test('allocation survives a restart through the state file (atomic, written on change)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-agent-lb-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'lb-allocations.json');
  const a1 = await startAgent(t, { lbStateFile: file });
  a1.agent.apply(CFG, new DesiredState([lbService('web', '2024-01-02T00:00:00Z')]));
  t.same(JSON.parse(fs.readFileSync(file, 'utf8')).allocations, { 'default/web': { uid: null, ips: ['10.0.200.1', 'fd00::200:1'] } });
  const mtime = fs.statSync(file).mtimeMs;
  await sleep(20);
  a1.agent.apply(CFG, new DesiredState([lbService('web', '2024-01-02T00:00:00Z')]));
  t.equal(fs.statSync(file).mtimeMs, mtime, 'unchanged allocation: not rewritten');
  await a1.agent.stop();

  // Restart with an *older* service present from the start: web keeps its address.
  const state = new DesiredState([lbService('older', '2020-01-01T00:00:00Z'), lbService('web', '2024-01-02T00:00:00Z')]);
  const a2 = await startAgent(t, { lbStateFile: file, state });
  t.same(a2.agent.lastCompile.lbStatus.allocations.map((a) => [a.service, a.ips[0], a.sources[0]]), [['default/older', '10.0.200.2', 'pool'], ['default/web', '10.0.200.1', 'previous']]);
  t.same(announcements(a2.ports.get('uplink')!.drainSent()).filter((x) => x.kind === 'arp').map((x) => x.ip), ['10.0.200.2', '10.0.200.1'], 'owned addresses announced at start');
  t.same(Object.keys(JSON.parse(fs.readFileSync(file, 'utf8')).allocations), ['default/older', 'default/web']);

  // A corrupt file: reported, the agent starts fresh.
  fs.writeFileSync(file, 'not json');
  const a3 = await startAgent(t, { lbStateFile: file });
  t.match(a3.events, [{ event: 'lb-state-error', file }]);
});

t.test('health probes and healthCheckNodePorts follow the desired state; stop() ends them', async (t) => {
  const probe = JSON.stringify({ protocol: 'tcp', port: 8080, intervalSeconds: 30, unhealthyThreshold: 2 });
  const svc = lbService('web', '2024-01-01T00:00:00Z', {
    metadata: { annotations: { 'tapflow.dev/health-probe': probe } },
    spec: { externalTrafficPolicy: 'Local', healthCheckNodePort: 32111 },
  });
  const { agent } = await startAgent(t, { healthCheckServer: { retryMs: 60000 }, healthProbes: { firstDelayMs: () => 60000 } });
  agent.apply(CFG, new DesiredState([svc, sliceFor('web', 'node-a')]));
  t.match(agent.healthStatus(), [{ target: '10.244.0.2:8080', protocol: 'tcp', healthy: true, backends: ['10.244.0.2:8080/TCP'], services: ['default/web'] }]);
  t.same(agent.lastCompile.services.healthChecks, [{ service: 'default/web', nodePort: 32111, localEndpoints: 1 }]);
  t.same(agent.healthCheckStatus().map((s) => [s.service, s.address, s.nodePort, s.localEndpoints]), [['default/web', '10.0.0.4', 32111, 1], ['default/web', 'fd00::4', 32111, 1]], 'listeners on the primary IPs (bind may fail here: not this host\'s addresses)');
  agent.apply(CFG, new DesiredState([]));
  t.same(agent.healthStatus(), []);
  t.same(agent.healthCheckStatus(), []);
  await agent.stop();
  t.same(agent.healthStatus(), []);
});
