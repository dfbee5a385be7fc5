/**
 * LoadBalancer services end to end on one kubenet node (root; skipped otherwise), with the
 * agent in standalone mode (`tapflow run --config DIR`, reloaded on change):
 *
 *  - the NodeConfig has spec.loadBalancerPools; adding a LoadBalancer service allocates an IP
 *    per family (reported in the agent's `applied` event, kept in the state file next to the
 *    admin socket); the uplink sends gratuitous ARP / unsolicited NA for them (tcpdump in the
 *    client namespace, bounded -c) and answers ARP, so the client reaches the LB IP on-link;
 *  - health probe (tapflow.dev/health-probe, tcp, 1 s × 2): killing one pod's server takes it
 *    out of rotation within interval × threshold (+ slack) — new connections never reach it —
 *    and restarting it puts it back;
 *  - healthCheckNodePort: the node IP answers kube-proxy's JSON with 200 and the local
 *    endpoint count from the client namespace, 503 once every local endpoint is gone.
 *
 * Only for the tapflow forwarder (the kernel baseline has no LoadBalancer support).
 */
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SpawnedProcess, Testbed } from '../../scripts/testbed';
import { capture, curlJson, FORWARDER, neighMac, skipReason, testbedFor, url, waitFor } from './helpers';

const reason = skipReason() || (FORWARDER !== 'tapflow' ? 'LoadBalancer pools are a tapflow feature' : false);

const POOL4 = '10.0.200.1-10.0.200.9';
const POOL6 = 'fd00::200:1-fd00::200:9';
const LB4 = '10.0.200.1';
const LB6 = 'fd00::200:1';
const HC_PORT = 32100;
const INTERVAL_S = 1;
const THRESHOLD = 2;

interface AgentLine {
  event: string;
  [k: string]: unknown;
}

/** The agent's JSON lines so far (with the time this test first saw each). */
class AgentLog {
  private seen = 0;
  readonly lines: (AgentLine & { seenAt: number })[] = [];
  constructor(private readonly file: string) {}
  poll(): void {
    const text = fs.readFileSync(this.file, 'utf8').split('\n');
    for (; this.seen < text.length - 1; this.seen++) {
      try {
        this.lines.push({ ...(JSON.parse(text[this.seen]) as AgentLine), seenAt: Date.now() });
      } catch {
        /* not JSON */
      }
    }
  }
  count(event: string): number {
    this.poll();
    return this.lines.filter((l) => l.event === event).length;
  }
  async next(event: string, after: number, timeoutMs: number, match: (l: AgentLine) => boolean = () => true): Promise<AgentLine & { seenAt: number }> {
    return waitFor(() => {
      this.poll();
      return this.lines.filter((l) => l.event === event).slice(after).find(match);
    }, { timeoutMs, intervalMs: 25, what: `agent event ${event}` });
  }
}

function docs(objs: object[]): string {
  return objs.map((o) => JSON.stringify(o, null, 1)).join('\n---\n') + '\n';
}

if (reason) {
  t.plan(0, reason);
} else {
  t.test('LoadBalancer pool → on-link VIP with GARP; health probes; healthCheckNodePort', async (t) => {
    const cfgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-lb-it-'));
    t.teardown(() => fs.rmSync(cfgDir, { recursive: true, force: true }));
    const tb: Testbed = await testbedFor(t, {
      pods: 2, mode: 'kubenet', nodes: 1, ipv6: true,
      agentArgs: ['--config', cfgDir],
      nodeConfigHook: (doc) => {
        doc.spec.loadBalancerPools = { external: [POOL4, POOL6] };
      },
    });
    const node = tb.node(1);
    const log = new AgentLog(node.agentLog!.stdout);
    const [pod1, pod2] = tb.pods;
    const servers: SpawnedProcess[] = await tb.startHttpServers(8080);

    // ── the service, via a config reload ──
    const svc = {
      apiVersion: 'v1', kind: 'Service',
      metadata: {
        name: 'web', namespace: 'default', creationTimestamp: '2024-01-01T00:00:00Z',
        annotations: { 'tapflow.dev/health-probe': JSON.stringify({ protocol: 'tcp', port: 8080, intervalSeconds: INTERVAL_S, unhealthyThreshold: THRESHOLD }) },
      },
      spec: {
        type: 'LoadBalancer', clusterIP: '10.96.0.80', clusterIPs: ['10.96.0.80', 'fd00:96::80'], ipFamilyPolicy: 'RequireDualStack',
        externalTrafficPolicy: 'Local', healthCheckNodePort: HC_PORT,
        ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }],
      },
    };
    const slices = (eps: { ip4: string; ip6: string }[]) => ['IPv4', 'IPv6'].map((fam) => ({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: `web-${fam.toLowerCase()}`, namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: fam,
      endpoints: eps.map((e) => ({ addresses: [fam === 'IPv4' ? e.ip4 : e.ip6], conditions: { ready: true }, nodeName: node.name })),
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    }));
    const both = [pod1, pod2].map((p) => ({ ip4: p.ipv4, ip6: p.ipv6! }));
    const write = (objs: object[]) => {
      const tmp = path.join(os.tmpdir(), `tapflow-lb-it-${process.pid}.yaml`);
      fs.writeFileSync(tmp, docs(objs));
      fs.renameSync(tmp, path.join(cfgDir, 'web.yaml'));
    };

    // GARP + unsolicited NA seen by the client while the reload happens.
    const appliedBefore = log.count('applied');
    let applied: AgentLine | undefined;
    const frames = await capture(tb, tb.client.ns, `arp host ${LB4} or (icmp6 and ip6[40] == 136)`, 3, async () => {
      write([svc, ...slices(both)]);
      applied = await log.next('applied', appliedBefore, 10000);
    });
    t.same(applied?.loadBalancers, [{ service: 'default/web', ips: [LB4, LB6] }], 'applied event reports the allocated IPs');
    t.same(applied?.serviceErrors, [], 'no service errors');
    const garps = frames.filter((f) => f.etherType === 0x0806);
    const nas = frames.filter((f) => f.etherType === 0x86dd);
    t.ok(garps.length >= 1, `gratuitous ARP seen (${garps.length})`);
    const g = garps[0].data;
    const spa = [...g.subarray(28, 32)].join('.'), tpa = [...g.subarray(38, 42)].join('.');
    t.same([g.readUInt16BE(20), spa, tpa, garps[0].dstMac], [1, LB4, LB4, 'ff:ff:ff:ff:ff:ff'], 'GARP: request, sender = target = the LB IP, broadcast');
    const gwMac = garps[0].srcMac;
    t.ok(nas.length >= 1 && nas[0].dst === 'ff02::1' && nas[0].srcMac === gwMac, 'unsolicited NA to ff02::1 from the same MAC');
    t.ok(garps.length >= 2, 'GARP repeated (3 × 1 s)');
    const stateFile = path.join(path.dirname(node.adminSocket!), `${node.name}.lb-allocations.json`);
    t.same(JSON.parse(fs.readFileSync(stateFile, 'utf8')).allocations, { 'default/web': { uid: null, ips: [LB4, LB6] } }, 'allocation persisted next to the admin socket');

    // ── on-link reachability (ARP/ND answered by the uplink) ──
    const route = await tb.execOk(tb.client.ns, ['ip', 'route', 'get', LB4]);
    t.notMatch(route.stdout, / via /, `the LB IP is on-link for the client (${route.stdout.trim()})`);
    const r4 = await curlJson(tb, tb.client.ns, LB4, 80);
    t.ok([pod1.name, pod2.name].includes(r4.pod), `curl ${LB4} → ${r4.pod}`);
    t.equal(r4.remote, tb.client.ipv4, 'externalTrafficPolicy Local: the client IP is kept');
    t.equal(await neighMac(tb, tb.client.ns, LB4), gwMac, 'client resolved the LB IP to the gateway MAC');
    const r6 = await curlJson(tb, tb.client.ns, LB6, 80);
    t.ok([pod1.name, pod2.name].includes(r6.pod), `curl [${LB6}] → ${r6.pod}`);

    const curlMany = async (addr: string, n: number): Promise<{ pods: Record<string, number>; failed: number }> => {
      const pods: Record<string, number> = {};
      let failed = 0;
      for (let i = 0; i < n; i++) {
        const r = await tb.exec(tb.client.ns, ['curl', '-sS', '-g', '--max-time', '3', '--connect-timeout', '2', url(addr, 80)], { timeoutMs: 6000 });
        if (r.code !== 0) {
          failed++;
          continue;
        }
        const pod = (JSON.parse(r.stdout) as { pod: string }).pod;
        pods[pod] = (pods[pod] ?? 0) + 1;
      }
      return { pods, failed };
    };
    const before = await curlMany(LB4, 24);
    t.same([before.failed, Object.keys(before.pods).sort()], [0, [pod1.name, pod2.name]], `both backends in rotation: ${JSON.stringify(before.pods)}`);

    // ── health probe: kill pod-1's server ──
    const downBefore = log.count('backend-unhealthy');
    const killedAt = Date.now();
    servers[0].kill('SIGKILL');
    await servers[0].exited(5000);
    const budget = INTERVAL_S * THRESHOLD * 1000;
    const down4 = await log.next('backend-unhealthy', downBefore, budget + 5000, (l) => l.target === `${pod1.ipv4}:8080`);
    const took = down4.seenAt - killedAt;
    t.ok(took <= budget + 1000, `pod-1 left the pool ${took} ms after its server died (interval ${INTERVAL_S} s × threshold ${THRESHOLD} = ${budget} ms, +1 s slack for log polling)`);
    t.match(down4, { backends: [`${pod1.ipv4}:8080/TCP`], services: ['default/web'], reason: 'ECONNREFUSED' });
    await log.next('backend-unhealthy', downBefore, budget + 5000, (l) => l.target === `[${pod1.ipv6}]:8080`);
    const during4 = await curlMany(LB4, 24);
    t.same(during4, { pods: { [pod2.name]: 24 }, failed: 0 }, 'IPv4: every new connection goes to pod-2, none fails');
    const during6 = await curlMany(LB6, 12);
    t.same(during6, { pods: { [pod2.name]: 12 }, failed: 0 }, 'IPv6 too');

    // ── restart it: back in rotation after one good probe ──
    const upBefore = log.count('backend-healthy');
    const restartedAt = Date.now();
    servers[0] = (await tb.startHttpServers(8080, [pod1]))[0];
    const up4 = await log.next('backend-healthy', upBefore, INTERVAL_S * 1000 + 5000, (l) => l.target === `${pod1.ipv4}:8080`);
    t.ok(up4.seenAt - restartedAt <= INTERVAL_S * 1000 + 1000, `pod-1 back ${up4.seenAt - restartedAt} ms after restart (≤ one interval + slack)`);
    const after = await curlMany(LB4, 24);
    t.same([after.failed, Object.keys(after.pods).sort()], [0, [pod1.name, pod2.name]], `pod-1 back in rotation: ${JSON.stringify(after.pods)}`);

    // ── healthCheckNodePort from the client namespace ──
    const hc = async (addr: string): Promise<{ code: number; body: Record<string, unknown>; headers: string }> => {
      const r = await tb.exec(tb.client.ns, ['curl', '-sS', '-g', '-i', '--max-time', '3', url(addr, HC_PORT, '/healthz')], { timeoutMs: 6000 });
      if (r.code !== 0) throw new Error(`curl ${url(addr, HC_PORT)}: exit ${r.code}: ${r.stderr.trim()}`);
      const [head, body] = r.stdout.split(/\r\n\r\n/);
      return { code: Number(/^HTTP\/[\d.]+ (\d+)/.exec(head)?.[1]), body: JSON.parse(body) as Record<string, unknown>, headers: head.toLowerCase() };
    };
    // Local endpoints as the compiler counts them: distinct local endpoint addresses over the
    // service's ports and families (2 pods × 2 families here).
    const ok = await waitFor(async () => { const r = await hc(node.ipv4); return r.code === 200 ? r : undefined; }, { timeoutMs: 10000, what: 'healthCheckNodePort 200' });
    t.same(ok.body, { service: { namespace: 'default', name: 'web' }, localEndpoints: 4, serviceProxyHealthy: true });
    t.match(ok.headers, /content-type: application\/json/);
    t.match(ok.headers, /x-content-type-options: nosniff/);
    t.match(ok.headers, /x-load-balancing-endpoint-weight: 4/);
    t.equal((await hc(node.ipv6!)).code, 200, 'also on the IPv6 primary node IP');

    const appliedNow = log.count('applied');
    write([svc, ...slices([])]);
    await log.next('applied', appliedNow, 10000);
    const gone = await hc(node.ipv4);
    t.same([gone.code, gone.body.localEndpoints], [503, 0], '503 once every local endpoint is gone');
    t.same(await curlMany(LB4, 2), { pods: {}, failed: 2 }, 'and the VIP has no endpoint (connections refused)');
  });
}
