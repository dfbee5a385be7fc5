/**
 * Backend faults under load (root; skipped otherwise): one kubenet node, three pods serving HTTP,
 * a ClusterIP Service with a health probe (`tapflow.dev/health-probe`: tcp :8080, every 1 s,
 * unhealthy after 2 failures) in `--config`. Load through the ClusterIP: 30 keep-alive connections
 * (each records which pod answers it) and new connections at 40/s (each records its pod or error).
 *
 * pod-2's server is killed with SIGKILL mid-run:
 *  - the probe takes pod-2 out within interval × threshold (+ slack for the probe timeout and
 *    log polling), reported by the agent's `backend-unhealthy` event;
 *  - only the keep-alive connections that were on pod-2 fail; those on pod-1 and pod-3 go on;
 *  - from the removal on, no new connection fails and none reaches pod-2: answers counted per pod,
 *    and pod-2's eth0 sees no SYN to :8080 (tcpdump, bounded);
 *  - the counters balance.
 */
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SpawnedProcess, Testbed } from '../../scripts/testbed';
import { capture, FORWARDER, pingOk, skipReason, statsInvariantProblem, testbedFor, waitFor } from './helpers';
import { KEEPALIVE_LOAD, NEW_CONN_LOAD } from './load-scripts';
import { buildWorld, CLIENT, GW_MAC, MACS, POD_A, POD_B, UPLINK, WEB_VIP as FUZZ_WEB_VIP, World } from '../support/fuzz-world';
import { buildFrame, FrameSpec } from '../../dataplane/wire/build';
import { parseMac } from '../../dataplane/wire/address';
import type { ServiceTable } from '../../dataplane/tables/service-table';

/**
 * Known bug, reproduced deterministically by the last subtest: a SYN that reuses the 5-tuple of
 * a connection that ended (RST / FIN, the flow still cached in Closed or TimeWait) is forwarded
 * on the old flow — to the old backend, even one the probe has taken out — instead of starting a
 * new connection as Linux conntrack does. Clients reuse ports quickly, so a few new connections
 * still reach a dead backend after its removal.
 */
const REUSE_BUG = 'BUG (forwarder): a SYN reusing the tuple of an ended connection rides the cached flow to its old (now unhealthy) backend';

const WEB_VIP = '10.96.0.10';
const NODE_IP = '10.0.0.4';
const INTERVAL_S = 1;
const THRESHOLD = 2;
const KA_CONNS = 30;
const NEW_RATE = 40;
const LOAD_MS = 12_000;

const reason = FORWARDER !== 'tapflow' ? 'health probes are a tapflow feature' : skipReason(['ip', 'ping', 'curl', 'timeout', 'tcpdump']);

interface AgentEvent { event: string; target?: string; [k: string]: unknown }

if (reason) {
  t.test('a backend dies under load (netns)', { skip: reason }, (t) => t.end());
} else {
  t.test('a backend dies under load: the probe removes it in interval × threshold, only its connections fail, no new traffic reaches it', async (t) => {
    const cfgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-fault-'));
    t.teardown(() => fs.rmSync(cfgDir, { recursive: true, force: true }));
    const ips = ['10.244.0.2', '10.244.0.3', '10.244.0.4'];
    fs.writeFileSync(path.join(cfgDir, 'web.json'), JSON.stringify({
      apiVersion: 'v1', kind: 'List',
      items: [
        {
          apiVersion: 'v1', kind: 'Service',
          metadata: { name: 'web', namespace: 'default', annotations: { 'tapflow.dev/health-probe': JSON.stringify({ protocol: 'tcp', port: 8080, intervalSeconds: INTERVAL_S, unhealthyThreshold: THRESHOLD }) } },
          spec: { clusterIP: WEB_VIP, selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
        },
        {
          apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
          addressType: 'IPv4', endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true }, nodeName: 'node-1' })), ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        },
      ],
    }));
    const tb: Testbed = await testbedFor(t, {
      pods: 3, mode: 'kubenet', nodes: 1, ipv6: false, agentArgs: ['--config', cfgDir],
      nodeConfigHook: (doc) => { doc.spec.defaultGateway = { ipv4: '10.0.0.1' }; },
    });
    if (tb.pods.map((p) => p.ipv4).join() !== ips.join()) throw new Error(`pod addresses changed: ${tb.pods.map((p) => p.ipv4).join()}`);
    const [, pod2] = tb.pods;
    await tb.execOk(tb.client.ns, ['ip', 'route', 'add', '10.96.0.0/12', 'via', NODE_IP, 'dev', 'eth0']);
    const servers = await tb.startHttpServers(8080);
    for (const p of tb.pods) t.ok(await pingOk(tb, tb.client.ns, p.ipv4), `client reaches ${p.name}`);
    const events = (): AgentEvent[] => fs.readFileSync(tb.node(1).agentLog!.stdout, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as AgentEvent);

    // ── load ──
    const ka: SpawnedProcess = tb.spawn(tb.client.ns, [process.execPath, '-e', KEEPALIVE_LOAD, WEB_VIP, '80', String(KA_CONNS), String(LOAD_MS + 5000)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const nc: SpawnedProcess = tb.spawn(tb.client.ns, [process.execPath, '-e', NEW_CONN_LOAD, WEB_VIP, '80', String(NEW_RATE), String(LOAD_MS)]);
    const started = Date.now();
    await waitFor(() => ka.stdout().includes('"progress"') && nc.stdout().includes('"pod"'), { timeoutMs: 10000, what: 'the load to get going' });
    await new Promise((r) => setTimeout(r, 2000));

    // ── kill pod-2's server ──
    const killedAt = Date.now();
    servers[1].kill('SIGKILL');
    await servers[1].exited(5000);
    const budget = INTERVAL_S * THRESHOLD * 1000;
    const unhealthy = await waitFor(() => events().find((e) => e.event === 'backend-unhealthy' && e.target === `${pod2.ipv4}:8080`), { timeoutMs: budget + 8000, intervalMs: 20, what: 'pod-2 taken out by the probe' });
    const removedAt = Date.now();
    const took = removedAt - killedAt;
    t.ok(took <= budget + 1500, `pod-2 out of the pool ${took} ms after its server died (interval ${INTERVAL_S} s × threshold ${THRESHOLD} = ${budget} ms, + the probe timeout and 20 ms log polling): ${JSON.stringify(unhealthy)}`);

    // From the removal on (+100 ms for the generation swap): nothing new reaches pod-2.
    await new Promise((r) => setTimeout(r, 100));
    const quietFrom = Date.now();
    // SYNs reaching pod-2, and — on the host TAP at the same time — the health checker's own probes
    // (the node's stack keeps probing pod-2 to see it come back): client SYNs are the difference.
    const synFilter = `tcp dst port 8080 and dst host ${pod2.ipv4} and tcp[tcpflags] & tcp-syn != 0`;
    let probeSyns: { src?: string; data: Buffer }[] = [];
    const syns = await capture(tb, pod2.ns, synFilter, 1000, async () => {
      probeSyns = await capture(tb, tb.node(1).ns, synFilter, 1000, () => new Promise((r) => setTimeout(r, 3000)), tb.node(1).hostTap);
    });
    const sport = (f: { data: Buffer }) => f.data.readUInt16BE(34);
    const probePorts = new Set(probeSyns.map(sport));
    const clientSyns = syns.filter((f) => !probePorts.has(sport(f)));
    t.comment(`SYNs to pod-2:8080 in the 3 s after its removal: ${syns.length}, of which health probes from the node: ${syns.length - clientSyns.length}; others: ${clientSyns.map((f) => `${f.src}:${sport(f)}`).join(' ') || 'none'}`);
    const synCount = clientSyns.length;

    // ── read the loads ──
    await nc.exited(LOAD_MS + 10000);
    ka.child.stdin!.write('stop\n');
    const kaLine = await waitFor(() => ka.stdout().split('\n').find((l) => l.startsWith('[')), { timeoutMs: 10000, what: 'the keep-alive summary' });
    const conns = JSON.parse(kaLine) as { reqs: number; pods: string[]; error: string | null; closed: boolean; timedOut: boolean }[];
    const onPod2 = conns.filter((c) => c.pods.includes(pod2.name));
    const others = conns.filter((c) => !c.pods.includes(pod2.name));
    const failed = (c: (typeof conns)[number]) => c.error !== null || c.closed || c.timedOut;
    t.ok(onPod2.length > 0 && others.length > 0, `keep-alive connections: ${onPod2.length} on pod-2, ${others.length} on the others`);
    t.equal(onPod2.filter(failed).length, onPod2.length, `every connection on pod-2 ended when its server died (${onPod2.map((c) => c.error ?? (c.closed ? 'closed' : 'timeout')).join(', ')})`);
    t.equal(others.filter(failed).length, 0, 'no connection on pod-1 or pod-3 failed');
    t.ok(others.every((c) => c.pods.length === 1), 'each of them answered by one pod all along');

    const attempts = nc.stdout().split('\n').filter((l) => l.startsWith('{"t"')).map((l) => JSON.parse(l) as { t: number; port: number; pod?: string; error?: string });
    const killT = killedAt;
    const before = attempts.filter((a) => a.t < killT);
    const window = attempts.filter((a) => a.t >= killT && a.t < quietFrom);
    const afterRemoval = attempts.filter((a) => a.t >= quietFrom);
    const perPod = (l: typeof attempts) => l.reduce<Record<string, number>>((h, a) => { const k = a.pod ?? `error:${a.error}`; h[k] = (h[k] ?? 0) + 1; return h; }, {});
    void started;
    const portHistory = (port: number, t: number) => attempts.filter((a) => a.port === port && a.t < t).map((a) => a.pod ?? a.error).join('/');
    t.comment(`failures after the removal (ms after it, local port, that port's earlier answers): ${afterRemoval.filter((a) => a.error !== undefined).map((a) => `${a.t - quietFrom}:${a.port}:${portHistory(a.port, a.t) || '-'}`).join(' ')}; health events: ${JSON.stringify(events().filter((e) => /backend|health/.test(e.event)).map((e) => [e.event, e.target]))}`);
    t.comment(`new connections — before the kill: ${JSON.stringify(perPod(before))}; kill → removal (${quietFrom - killT} ms): ${JSON.stringify(perPod(window))}; after: ${JSON.stringify(perPod(afterRemoval))}`);
    t.ok(before.every((a) => a.pod !== undefined) && Object.keys(perPod(before)).length === 3, 'before the kill every new connection was answered, by all three pods');
    t.ok(afterRemoval.length > NEW_RATE * 3, `${afterRemoval.length} new connections after the removal`);
    // A failure on a port the client used before for pod-2 is the known tuple-reuse bug; any other is not.
    const reused = (a: (typeof attempts)[number]) => a.port === 0 || attempts.some((b) => b.port === a.port && b.t < a.t && (b.pod === pod2.name || b.error !== undefined));
    const afterFailures = afterRemoval.filter((a) => a.error !== undefined);
    t.equal(afterFailures.filter((a) => !reused(a)).length, 0, 'no new connection on a fresh port failed after the removal');
    t.equal(afterFailures.length, 0, 'none of them failed', { todo: afterFailures.length > 0 && afterFailures.every(reused) ? `${REUSE_BUG} (${afterFailures.length} of ${afterRemoval.length})` : false });
    t.equal(afterRemoval.filter((a) => a.pod === pod2.name).length, 0, 'none reached pod-2');
    t.same(Object.keys(perPod(afterRemoval)).sort(), ['pod-1', 'pod-3'], 'pod-1 and pod-3 share them');
    t.ok(window.filter((a) => a.error !== undefined).every((a) => a.error === 'ECONNREFUSED' || a.error === 'ECONNRESET'), 'in the detection window, failures are pod-2 refusing (its port closed), nothing else');

    t.equal(synCount, 0, `no client SYN reached pod-2 in the 3 s after its removal (${synCount})`,
      { todo: synCount > 0 && afterFailures.length > 0 && afterFailures.every(reused) ? REUSE_BUG : false });
    const falseAlarms = events().filter((e) => e.event === 'backend-unhealthy' && e.target !== `${pod2.ipv4}:8080`);
    t.same(falseAlarms, [], 'no healthy backend was taken out', { todo: falseAlarms.length > 0 ? 'BUG (agent): the probes run on the forwarding event loop; under load a healthy backend\'s probe times out (timeout 0.8 × interval) and it is taken out' : false });

    const s = await tb.stats();
    t.equal(statsInvariantProblem(s), null, 'received = forwarded + delivered + dropped + pending');
  });
}

/**
 * The tuple-reuse bug in memory (no root): a client connection through the ClusterIP to pod-b
 * ends (RST), pod-b is marked unhealthy, and the client opens a new connection from the same
 * port. It must go to a healthy backend (pod-a), as a new connection.
 */
t.test('in memory: a SYN reusing an ended connection\'s tuple is a new connection, not a ride to the old backend', (t) => {
  const clientMac = parseMac(MACS.client)!;
  const send = (w: World, p: number, spec: FrameSpec) => { w.ports[p].inject(buildFrame(spec)); w.fwd.poll(p); w.fwd.resolveAllPending(clientMac); };
  const to = (w: World) => [POD_A, POD_B].flatMap((p) => w.ports[p].drainSent().filter((f) => ((f[12] << 8) | f[13]) === 0x0800 && f[23] === 6).map(() => w.cfg.spec.ports[p].name));
  const syn = (sport: number, flags = 0x02): FrameSpec => ({ srcMac: MACS.client, dstMac: GW_MAC, ip: { version: 4, src: CLIENT, dst: FUZZ_WEB_VIP }, l4: { proto: 'tcp', sport, dport: 80, flags } });
  let w = buildWorld('open', { capture: true });
  let sport = 0;
  for (let p = 41000; p < 41100; p++) {
    w = buildWorld('open', { capture: true });
    send(w, UPLINK, syn(p));
    if (to(w).includes('pod-b')) { sport = p; break; }
  }
  t.ok(sport > 0, `client port ${sport} goes to pod-b`);
  send(w, UPLINK, syn(sport, 0x04)); // the connection ends: RST
  to(w);
  const services = w.fwd.gen.services as unknown as ServiceTable;
  const key = services.interner.id('10.244.0.3:8080/TCP');
  t.ok(key >= 0, 'pod-b\'s backend key');
  services.setBackendHealthy(key, false);
  send(w, UPLINK, syn(sport));
  const again = to(w);
  // A new connection: a healthy backend is chosen again (pod-a, or the remote endpoint on the
  // other node that the service also has) — never the unhealthy pod-b the old tuple pointed at.
  t.notOk(again.includes('pod-b'), `the new SYN from the same port avoids the unhealthy pod-b (went to: ${again.join(', ') || 'a remote endpoint'})`);
  t.equal(w.fwd.counters.pending + w.fwd.counters.forwarded + w.fwd.counters.dropped + w.fwd.counters.delivered, w.fwd.counters.received, 'counters balance');
  t.end();
});
