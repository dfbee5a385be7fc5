/**
 * Health probes under forwarding load (root; skipped otherwise): one kubenet node, 3 pods, two
 * ClusterIP services over the same pods, each with a health probe at the shortest interval the
 * annotation allows (1 s) and threshold 1, so a single failed probe is a transition:
 *
 *  - web    10.96.0.10:80 → :8080, tcp probe on :9000
 *  - web-h  10.96.0.11:80 → :8080, http probe GET /healthz on :9001
 *
 * Every pod runs, besides its HTTP server, a probe responder on :9000 (accepts and closes) and
 * :9001 (HTTP 200) that prints one line per probe with its time, so the test sees how many probes
 * reached each pod while the load ran. The probes leave from the node namespace and cross the
 * forwarder like every other packet.
 *
 * Load: autocannon -c 20 -d 4 through the web ClusterIP (keep-alive, bounded). The backends stay
 * healthy the whole time, so every backend-unhealthy event the agent prints is a false one; the
 * test asserts there are none, and that every probe target was probed during the load (otherwise
 * "no failures" would prove nothing).
 *
 * A regression guard, not a reproduction: with the probes on the forwarding thread this load
 * gave no false transition either here (the loop's lag stays far below the 800 ms timeout of
 * a 1 s interval). The stall that does time a probe out falsely is in health-checker.test.ts.
 */
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findRepoRoot, SpawnedProcess, Testbed } from '../../scripts/testbed';
import { FORWARDER, skipReason, testbedFor, waitFor } from './helpers';

const reason = FORWARDER !== 'tapflow' ? 'health probes are a tapflow feature' : skipReason(['ip', 'ping', 'curl', 'timeout']);

const repo = findRepoRoot(__dirname);
const NODE_IP = '10.0.0.4';
const WEB_VIP = '10.96.0.10';
const WEB_H_VIP = '10.96.0.11';
const TCP_PROBE_PORT = 9000;
const HTTP_PROBE_PORT = 9001;
const LOAD_CONNECTIONS = 20;
const LOAD_SECONDS = 4;

/** Probe responder for a pod: argv = [tcp port, http port]; one line per probe: "tcp <ms>" / "http <ms>". */
const PROBE_RESPONDER = `
const net = require('node:net');
const http = require('node:http');
const [tcpPort, httpPort] = process.argv.slice(1).map(Number);
const tcp = net.createServer((c) => { console.log('tcp ' + Date.now()); c.on('error', () => {}); c.end(); });
const web = http.createServer((req, res) => { console.log('http ' + Date.now() + ' ' + req.url); res.writeHead(200); res.end('ok'); });
let up = 0;
const ready = () => { if (++up === 2) console.log('listening'); };
tcp.listen(tcpPort, '0.0.0.0', ready);
web.listen(httpPort, '0.0.0.0', ready);
`;

function service(name: string, vip: string, probe: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, namespace: 'default', annotations: { 'tapflow.dev/health-probe': JSON.stringify(probe) } },
    spec: { type: 'ClusterIP', clusterIP: vip, selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
  };
}

function slice(name: string, ips: string[]): Record<string, unknown> {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `${name}-1`, namespace: 'default', labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    endpoints: ips.map((ip) => ({ addresses: [ip], nodeName: 'node-1', conditions: { ready: true } })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
}

/** The agent's JSON event lines so far. */
function agentEvents(tb: Testbed, kind?: string): Record<string, unknown>[] {
  let text = '';
  try {
    text = fs.readFileSync(tb.node(1).agentLog!.stdout, 'utf8');
  } catch {
    return [];
  }
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const e = JSON.parse(line) as Record<string, unknown>;
      if (kind === undefined || e.event === kind) out.push(e);
    } catch {
      /* a line still being written */
    }
  }
  return out;
}

/** Probe times (ms) a responder printed, per kind. */
function probeTimes(p: SpawnedProcess, kind: 'tcp' | 'http'): number[] {
  return p.stdout().split('\n').filter((l) => l.startsWith(`${kind} `)).map((l) => Number(l.split(' ')[1]));
}

if (reason) {
  t.plan(0, reason);
} else {
  t.test(`health probes under load (autocannon -c ${LOAD_CONNECTIONS} -d ${LOAD_SECONDS}): no false unhealthy transitions`, async (t) => {
    const cfgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-health-load-'));
    t.teardown(() => fs.rmSync(cfgDir, { recursive: true, force: true }));
    const tb: Testbed = await testbedFor(t, { pods: 3, mode: 'kubenet', nodes: 1, ipv6: false, agentArgs: ['--config', cfgDir] });
    const ips = tb.pods.map((p) => p.ipv4);
    await tb.startHttpServers(8080);
    const responders = tb.pods.map((p) => tb.spawn(p.ns, [process.execPath, '-e', PROBE_RESPONDER, String(TCP_PROBE_PORT), String(HTTP_PROBE_PORT)]));
    await Promise.all(responders.map((r) => r.waitFor(/listening/, 10000, 'stdout')));
    await tb.execOk(tb.client.ns, ['ip', 'route', 'add', '10.96.0.0/12', 'via', NODE_IP, 'dev', 'eth0']);
    await tb.waitAllReachable();

    // The services only now, with every responder up: any transition from here on is false.
    const appliedBefore = agentEvents(tb, 'applied').length;
    const tmp = path.join(cfgDir, '.web.json.tmp');
    fs.writeFileSync(tmp, JSON.stringify({
      apiVersion: 'v1', kind: 'List',
      items: [
        service('web', WEB_VIP, { protocol: 'tcp', port: TCP_PROBE_PORT, intervalSeconds: 1, unhealthyThreshold: 1 }),
        service('web-h', WEB_H_VIP, { protocol: 'http', port: HTTP_PROBE_PORT, path: '/healthz', intervalSeconds: 1, unhealthyThreshold: 1 }),
        slice('web', ips),
        slice('web-h', ips),
      ],
    }));
    fs.renameSync(tmp, path.join(cfgDir, 'web.json'));
    const applied = await waitFor(() => agentEvents(tb, 'applied')[appliedBefore], { timeoutMs: 10000, intervalMs: 25, what: 'the agent to apply the services' });
    t.same(applied.serviceErrors, [], 'services compiled without errors');
    const healthEvents = () => [...agentEvents(tb, 'backend-unhealthy'), ...agentEvents(tb, 'backend-healthy')];
    // Idle first: every target probed, all healthy (a failure here is not about load).
    await waitFor(() => responders.every((r) => probeTimes(r, 'tcp').length >= 2 && probeTimes(r, 'http').length >= 2),
      { timeoutMs: 10000, intervalMs: 50, what: 'two probes of every target' });
    t.same(healthEvents(), [], 'idle: no health transitions');

    // ── load through the web ClusterIP while the probes run ──
    const autocannon = path.join(repo, 'node_modules', 'autocannon', 'autocannon.js');
    const loadFrom = Date.now();
    const r = await tb.exec(tb.client.ns, [process.execPath, autocannon, '-c', String(LOAD_CONNECTIONS), '-d', String(LOAD_SECONDS), '-t', '10', '-j', `http://${WEB_VIP}/`],
      { timeoutMs: (LOAD_SECONDS + 30) * 1000 });
    const loadTo = Date.now();
    t.equal(r.code, 0, `autocannon ran${r.code !== 0 ? `: ${r.stderr.trim().slice(-300)}` : ''}`);
    const j = JSON.parse(r.stdout) as { '2xx': number; errors: number; timeouts: number; requests: { average: number }; latency: { p50: number; p99: number; max: number } };
    t.ok(j['2xx'] > 0, `load ran: ${j['2xx']} requests answered (${Math.round(j.requests.average)} req/s, p50 ${j.latency.p50} ms, p99 ${j.latency.p99} ms, max ${j.latency.max} ms; ${j.errors} errors, ${j.timeouts} timeouts)`);

    // Let the probes that started during the load finish (timeout < interval), then count.
    await new Promise<void>((res) => setTimeout(res, 1500));
    const during = responders.map((p) => ({
      tcp: probeTimes(p, 'tcp').filter((x) => x >= loadFrom && x <= loadTo).length,
      http: probeTimes(p, 'http').filter((x) => x >= loadFrom && x <= loadTo).length,
    }));
    const probed = during.reduce((n, d) => n + d.tcp + d.http, 0);
    t.ok(during.every((d) => d.tcp >= 1 && d.http >= 1), `every target was probed during the load: ${JSON.stringify(during)} (${probed} probes answered)`);
    const unhealthy = agentEvents(tb, 'backend-unhealthy');
    t.comment(`false unhealthy transitions: ${unhealthy.length} (${probed} probes answered by the pods during ${loadTo - loadFrom} ms of load)`);
    t.same(unhealthy.map((e) => `${e.target} ${e.protocol}: ${e.reason}`), [], 'no backend-unhealthy event: every backend stayed healthy');
    t.same(agentEvents(tb, 'backend-healthy'), [], 'so no backend-healthy event either');
  });
}
