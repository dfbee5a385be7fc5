/**
 * Kubernetes Services through a running tapflow agent, end to end (root; skipped otherwise).
 *
 * One kubenet node with 3 pods running scripts/pod-http-server.js (and a UDP echo), the agent
 * started with `--config <tmpdir>` holding Services and EndpointSlices, reloaded when a file
 * changes (the agent prints {"event":"applied"} on stdout). The client namespace is the VNet:
 * it reaches the ClusterIPs through a route via the node IP, the NodePort on the node IP, and
 * the LoadBalancer IP on-link (tapflow answers ARP for it on the uplink). It also plays "the
 * Internet" (203.0.113.1 on lo) behind the VNet gateway 10.0.0.1 for egress SNAT.
 *
 * Shown: load through ClusterIP / NodePort / LB IP with 0 errors and every backend serving;
 * ClientIP session affinity; an endpoint deleted → new connections avoid it and its
 * established keep-alive connection ends; UDP through a ClusterIP and its stale flow moving
 * when the endpoint goes; no endpoints → connection refused at once; hairpin; egress SNAT both
 * ways (and none inside the VNet); the agent's counters balanced. Every load is bounded
 * (autocannon -c 10 -d 3, fixed request counts), every wait polls a condition with a deadline.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { findRepoRoot, Testbed } from '../../scripts/testbed';
import { FORWARDER, PodReply, skipReason, statsInvariantProblem, testbedFor, waitFor } from './helpers';

const NODE_IP = '10.0.0.4';
const VNET_GW = '10.0.0.1';
const INTERNET = '203.0.113.1';
const LB_IP = '10.0.0.50';

const WEB_VIP = '10.96.0.10';
const STICKY_VIP = '10.96.0.11';
const ECHO_VIP = '10.96.0.12';
const EMPTY_VIP = '10.96.0.13';
const SELF_VIP = '10.96.0.14';
const CHURN_VIP = '10.96.0.15';
const NODE_PORT = 30080;
const HTTP = 8080;
const UDP_PORT = 5353;

const reason = FORWARDER !== 'tapflow' ? 'services need the tapflow forwarder (TAPFLOW_TEST_FORWARDER=kernel has no service proxy)' : skipReason(['ip', 'curl', 'timeout']);

// ─── Manifests ─────────────────────────────────────────────────────────────────────────────

function service(name: string, vip: string, spec: Record<string, unknown> = {}, status?: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { type: 'ClusterIP', clusterIP: vip, selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: HTTP, protocol: 'TCP' }], ...spec },
    ...(status ? { status } : {}),
  };
}

function endpointSlice(svcName: string, ips: string[], ports: { name: string; port: number; protocol: string }[] = [{ name: 'http', port: HTTP, protocol: 'TCP' }]): Record<string, unknown> {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${svcName}-1`, namespace: 'default', labels: { 'kubernetes.io/service-name': svcName } },
    addressType: 'IPv4',
    endpoints: ips.map((ip) => ({ addresses: [ip], nodeName: 'node-1', conditions: { ready: true } })),
    ports,
  };
}

/** JSON documents, one per file (the loader reads JSON and YAML alike). */
function writeManifest(dir: string, file: string, objects: Record<string, unknown>[]): void {
  const tmp = path.join(dir, `.${file}.tmp`); // dot files are not read by the agent
  fs.writeFileSync(tmp, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 1));
  fs.renameSync(tmp, path.join(dir, file)); // atomic: the agent never reads half a file
}

// ─── Scripts run inside namespaces ─────────────────────────────────────────────────────────

/** UDP echo naming the pod: argv = [pod name, port]. */
const UDP_NAMED_ECHO = `
const dgram = require('node:dgram');
const [name, port] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
s.on('message', (m, r) => s.send(Buffer.from(name + ' ' + m.toString()), r.port, r.address));
s.on('error', (e) => { console.error(e.message); process.exit(1); });
s.bind(Number(port), () => console.log('listening'));
`;

/**
 * UDP client from a fixed source port (so two runs are the same 5-tuple): argv = [vip, port,
 * localPort, count]. Sends `count` datagrams (one at a time, 1 s each at most), prints one JSON
 * line: the pod names that answered, in order ("-" for no answer).
 */
const UDP_FIXED_PORT_CLIENT = `
const dgram = require('node:dgram');
const [vip, port, localPort, count] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
const answers = [];
let pending = null;
s.on('message', (m) => { if (pending) { const p = pending; pending = null; clearTimeout(p.timer); p.resolve(m.toString().split(' ')[0]); } });
s.on('error', (e) => { console.error(e.message); process.exit(1); });
s.bind(Number(localPort), () => s.connect(Number(port), vip, async () => {
  for (let i = 0; i < Number(count); i++) {
    answers.push(await new Promise((resolve) => {
      pending = { resolve, timer: setTimeout(() => { pending = null; resolve('-'); }, 1000) };
      s.send('q' + i);
    }));
  }
  console.log(JSON.stringify(answers));
  s.close();
}));
`;

/**
 * One keep-alive HTTP/1.1 connection: argv = [host, port]. Sends a request at start and one
 * more per "again" line on stdin; prints {"event":"response","pod":...} per answer, or
 * {"event":"error"|"end"|"timeout",...} when the connection fails or ends (5 s per request).
 */
const KEEPALIVE_CLIENT = `
const net = require('node:net');
const readline = require('node:readline');
const [host, port] = process.argv.slice(1);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const sock = net.connect(Number(port), host);
let buf = '', timer = null;
const ask = () => {
  sock.write('GET / HTTP/1.1\\r\\nHost: svc\\r\\n\\r\\n');
  timer = setTimeout(() => { out({ event: 'timeout' }); process.exit(0); }, 5000);
};
sock.on('connect', () => { out({ event: 'connected', local: sock.localPort }); ask(); });
sock.on('data', (d) => {
  buf += d.toString();
  const end = buf.indexOf('\\r\\n\\r\\n');
  if (end < 0) return;
  const len = Number(/content-length: *(\\d+)/i.exec(buf.slice(0, end))?.[1] ?? -1);
  if (len < 0 || buf.length < end + 4 + len) return;
  const body = buf.slice(end + 4, end + 4 + len);
  buf = buf.slice(end + 4 + len);
  clearTimeout(timer);
  out({ event: 'response', pod: JSON.parse(body).pod });
});
sock.on('error', (e) => { clearTimeout(timer); out({ event: 'error', code: e.code }); process.exit(0); });
sock.on('end', () => { clearTimeout(timer); out({ event: 'end' }); process.exit(0); });
readline.createInterface({ input: process.stdin }).on('line', (l) => { if (l.trim() === 'again') ask(); });
`;

if (reason) {
  t.plan(0, reason);
} else {
  let tb: Testbed;
  let cfgDir = '';
  let pods: { name: string; ip: string }[] = [];
  const autocannonBin = path.join(findRepoRoot(__dirname), 'node_modules', 'autocannon', 'autocannon.js');

  /** The agent's stdout (ready / applied / rejected events). */
  const agentOut = (): string => {
    try {
      return fs.readFileSync(tb.node(1).agentLog!.stdout, 'utf8');
    } catch {
      return '';
    }
  };
  const events = (kind: string): Record<string, unknown>[] =>
    agentOut()
      .split('\n')
      .filter((l) => l.includes(`"event":"${kind}"`))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  /** Rewrite a config file and wait until the agent applied it (poll its stdout; SIGHUP if the watch missed it). */
  async function reconfigure(file: string, objects: Record<string, unknown>[]): Promise<Record<string, unknown>> {
    const before = events('applied').length + events('rejected').length;
    writeManifest(cfgDir, file, objects);
    const t0 = Date.now();
    let hupped = false;
    await waitFor(
      () => {
        if (events('applied').length + events('rejected').length > before) return true;
        if (!hupped && Date.now() - t0 > 3000) {
          hupped = true; // the directory watch did not fire: ask for a reload explicitly
          process.kill(tb.node(1).agentPid!, 'SIGHUP');
        }
        return false;
      },
      { timeoutMs: 10000, intervalMs: 25, what: `the agent to apply ${file}` },
    );
    const rejected = events('rejected');
    if (rejected.length > 0) throw new Error(`the agent rejected the configuration: ${JSON.stringify(rejected[rejected.length - 1])}`);
    const applied = events('applied');
    return applied[applied.length - 1];
  }

  /** `n` sequential requests over new connections (curl, Connection: close); the answering pods. */
  async function podsAnswering(ns: string, url: string, n: number): Promise<PodReply[]> {
    const args = ['curl', '-sS', '--max-time', '5', '--connect-timeout', '3', '-H', 'Connection: close'];
    for (let i = 0; i < n; i++) args.push(url);
    const r = await tb.exec(ns, args, { timeoutMs: 60000 });
    const replies = r.stdout
      .split('\n')
      .filter((l) => l.trim().startsWith('{'))
      .map((l) => JSON.parse(l) as PodReply);
    if (replies.length !== n) throw new Error(`curl ${url} ×${n}: ${replies.length} answers, exit ${r.code}: ${r.stderr.trim().slice(0, 400)}`);
    return replies;
  }

  const histogram = (replies: PodReply[]): Record<string, number> => {
    const h: Record<string, number> = {};
    for (const r of replies) h[r.pod] = (h[r.pod] ?? 0) + 1;
    return h;
  };

  t.before(async () => {
    cfgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-services-test-'));
    t.teardown(() => fs.rmSync(cfgDir, { recursive: true, force: true }));
    // The pod addresses are the testbed's plan (10.244.0.2-4); the manifests must exist before the agent starts.
    const ips = ['10.244.0.2', '10.244.0.3', '10.244.0.4'];
    writeManifest(cfgDir, 'services.json', [
      service('web', WEB_VIP, { type: 'LoadBalancer', ports: [{ name: 'http', port: 80, targetPort: HTTP, protocol: 'TCP', nodePort: NODE_PORT }] }, { loadBalancer: { ingress: [{ ip: LB_IP }] } }),
      service('sticky', STICKY_VIP, { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } }),
      service('echo', ECHO_VIP, { ports: [{ name: 'dns', port: 53, targetPort: UDP_PORT, protocol: 'UDP' }] }),
      service('empty', EMPTY_VIP),
      service('self', SELF_VIP),
      service('churn', CHURN_VIP),
    ]);
    writeManifest(cfgDir, 'web-slice.json', [endpointSlice('web', ips)]);
    writeManifest(cfgDir, 'sticky-slice.json', [endpointSlice('sticky', ips)]);
    writeManifest(cfgDir, 'echo-slice.json', [endpointSlice('echo', ips, [{ name: 'dns', port: UDP_PORT, protocol: 'UDP' }])]);
    writeManifest(cfgDir, 'self-slice.json', [endpointSlice('self', [ips[0]])]);
    writeManifest(cfgDir, 'churn-slice.json', [endpointSlice('churn', ips)]);

    tb = await testbedFor(t, {
      pods: 3,
      mode: 'kubenet',
      ipv6: false,
      agentArgs: ['--config', cfgDir],
      nodeConfigHook: (doc) => {
        doc.spec.defaultGateway = { ipv4: VNET_GW };
      },
    });
    pods = tb.pods.map((p) => ({ name: p.name, ip: p.ipv4 }));
    if (pods.map((p) => p.ip).join() !== ips.join()) throw new Error(`testbed pod addresses changed: ${pods.map((p) => p.ip).join()}`);
    const ready = events('ready')[0];
    if (!ready || ready.services !== 6 || (ready.serviceErrors as unknown[]).length !== 0) throw new Error(`agent ready line: ${JSON.stringify(ready)}`);

    await tb.startHttpServers(HTTP);
    const udp = tb.pods.map((p) => tb.spawn(p.ns, [process.execPath, '-e', UDP_NAMED_ECHO, p.name, String(UDP_PORT)]));
    await Promise.all(udp.map((s) => s.waitFor(/listening/, 10000, 'stdout')));

    // The client namespace: service CIDR via the node; the VNet gateway and "the Internet" live here too.
    await tb.execOk(tb.client.ns, ['ip', 'route', 'add', '10.96.0.0/12', 'via', NODE_IP, 'dev', 'eth0']);
    await tb.execOk(tb.client.ns, ['ip', 'addr', 'add', `${VNET_GW}/16`, 'dev', 'eth0']);
    await tb.execOk(tb.client.ns, ['ip', 'addr', 'add', `${INTERNET}/32`, 'dev', 'lo']);
    const internet = tb.spawn(tb.client.ns, [process.execPath, path.join(tb.opts.repoRoot, 'scripts', 'pod-http-server.js'), '8081', 'internet']);
    await internet.waitFor(/listening/, 10000, 'stdout');
    await tb.waitAllReachable();
  });

  t.test('load through the ClusterIP, the NodePort and the LoadBalancer IP: 0 errors (autocannon -c 10 -d 3)', async (t) => {
    for (const [what, url] of [
      ['ClusterIP', `http://${WEB_VIP}/`],
      ['NodePort', `http://${NODE_IP}:${NODE_PORT}/`],
      ['LoadBalancer IP', `http://${LB_IP}/`],
    ]) {
      const r = await tb.exec(tb.client.ns, [process.execPath, autocannonBin, '-c', '10', '-d', '3', '-t', '5', '-j', url], { timeoutMs: 30000 });
      t.equal(r.code, 0, `${what}: autocannon exit status${r.code !== 0 ? ` (${r.stderr.trim().slice(-300)})` : ''}`);
      let j: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      try {
        j = JSON.parse(r.stdout);
      } catch {
        t.fail(`${what}: autocannon printed no JSON: ${r.stdout.slice(0, 300)}`);
        continue;
      }
      t.equal(j.errors, 0, `${what}: no connection errors`);
      t.equal(j.timeouts, 0, `${what}: no timeouts`);
      t.equal(j.non2xx, 0, `${what}: every answer 2xx`);
      t.ok(j['2xx'] > 100, `${what}: ${j['2xx']} requests answered (${Math.round(j.requests.average)} req/s, p50 ${j.latency.p50} ms, p99 ${j.latency.p99} ms)`);
    }
  });

  t.test('every backend serves: many new connections to each frontend reach all 3 pods', async (t) => {
    for (const [what, url, remote] of [
      ['ClusterIP', `http://${WEB_VIP}/`, NODE_IP],
      ['NodePort', `http://${NODE_IP}:${NODE_PORT}/`, NODE_IP],
      ['LoadBalancer IP', `http://${LB_IP}/`, NODE_IP],
    ]) {
      const replies = await podsAnswering(tb.client.ns, url, 45);
      const h = histogram(replies);
      t.same(Object.keys(h).sort(), pods.map((p) => p.name).sort(), `${what}: all pods answered ${JSON.stringify(h)}`);
      t.same([...new Set(replies.map((r) => r.remote))], [remote], `${what}: the pods see ${remote} (masquerade: externalTrafficPolicy Cluster / off-cluster client)`);
    }
    // The LB IP is on-link for the client: tapflow answered its ARP request on the uplink.
    const neigh = await tb.exec(tb.client.ns, ['ip', '-j', 'neigh', 'show', LB_IP, 'dev', 'eth0']);
    t.match(neigh.stdout, /"lladdr"/, `the client resolved ${LB_IP} on-link: ${neigh.stdout.trim()}`);
  });

  t.test('sessionAffinity ClientIP: one client, many connections, one pod', async (t) => {
    const replies = await podsAnswering(tb.client.ns, `http://${STICKY_VIP}/`, 30);
    t.equal(Object.keys(histogram(replies)).length, 1, `pinned: ${JSON.stringify(histogram(replies))}`);
    // Without affinity the same client spreads (the web service, same endpoints).
    const spread = await podsAnswering(tb.client.ns, `http://${WEB_VIP}/`, 30);
    t.ok(Object.keys(histogram(spread)).length > 1, `without affinity: ${JSON.stringify(histogram(spread))}`);
  });

  t.test('an endpoint deleted: new connections avoid it, its established keep-alive connection ends', async (t) => {
    const client = tb.spawn(tb.client.ns, [process.execPath, '-e', KEEPALIVE_CLIENT, CHURN_VIP, '80'], { stdio: ['pipe', 'pipe', 'pipe'] });
    t.teardown(() => client.kill('SIGKILL'));
    const first = JSON.parse(await client.waitFor(/"event":"(response|error|end|timeout)"/, 10000, 'stdout'));
    t.equal(first.event, 'response', 'the keep-alive connection got its first answer');
    const victim = pods.find((p) => p.name === first.pod);
    if (!victim) return void t.fail(`unknown pod ${JSON.stringify(first)}`);
    // The same connection keeps working while nothing changes.
    client.child.stdin!.write('again\n');
    await waitFor(() => client.stdout().split('\n').filter((l) => l.includes('"response"')).length >= 2 || client.stdout().match(/"(error|end|timeout)"/), { timeoutMs: 10000, what: 'the second answer' });
    t.equal(client.stdout().split('\n').filter((l) => l.includes(`"pod":"${victim.name}"`)).length, 2, `two answers from ${victim.name} on one connection`);

    const applied = await reconfigure('churn-slice.json', [endpointSlice('churn', pods.filter((p) => p !== victim).map((p) => p.ip))]);
    t.same(applied.serviceErrors, [], `applied version ${applied.version} without service errors`);

    client.child.stdin!.write('again\n');
    const ended = await waitFor(() => client.stdout().match(/\{"event":"(error|end|timeout)"[^\n]*/)?.[0] ?? (client.stdout().split('\n').filter((l) => l.includes('"response"')).length > 2 ? 'answered' : undefined), {
      timeoutMs: 10000,
      what: 'the established connection to end',
    });
    t.not(ended, 'answered', 'the connection did not get another answer');
    t.match(ended, /"event":"(error|end)"/, `it ended at once (reset or closed), not by timing out: ${ended}`);

    const after = histogram(await podsAnswering(tb.client.ns, `http://${CHURN_VIP}/`, 30));
    t.notOk(victim.name in after, `new connections avoid ${victim.name}: ${JSON.stringify(after)}`);
    t.equal(Object.keys(after).length, 2, 'and reach both remaining pods');
  });

  t.test('UDP through a ClusterIP; the same 5-tuple moves when its endpoint is deleted', async (t) => {
    const run = async (): Promise<string[]> => {
      const r = await tb.exec(tb.client.ns, [process.execPath, '-e', UDP_FIXED_PORT_CLIENT, ECHO_VIP, '53', '45353', '5'], { timeoutMs: 15000 });
      if (r.code !== 0) throw new Error(`udp client: exit ${r.code}: ${r.stderr.trim()}`);
      return JSON.parse(r.stdout.trim().split('\n').pop()!) as string[];
    };
    const answered = (a: string[]) => a.filter((x) => x !== '-');
    const first = await run();
    t.ok(answered(first).length >= 4, `answers through the VIP: ${first.join(' ')}`);
    t.equal(new Set(answered(first)).size, 1, 'one flow, one pod');
    const victim = answered(first)[0];
    t.ok(pods.some((p) => p.name === victim), `answered by a pod (${victim})`);
    const again = await run();
    t.same([...new Set(answered(again))], [victim], `the same 5-tuple again: still ${victim} (the flow is kept)`);

    await reconfigure('echo-slice.json', [endpointSlice('echo', pods.filter((p) => p.name !== victim).map((p) => p.ip), [{ name: 'dns', port: UDP_PORT, protocol: 'UDP' }])]);
    // The victim's pod still runs its echo server: a stale flow would keep being answered by it.
    const moved = await run();
    t.ok(answered(moved).length >= 4, `answers after the delete: ${moved.join(' ')}`);
    t.notOk(answered(moved).includes(victim), `the stale flow to ${victim} was replaced at once`);
    t.equal(new Set(answered(moved)).size, 1, `one live pod answers the 5-tuple now (${answered(moved)[0]})`);
  });

  t.test('a Service without endpoints: connection refused at once (TCP RST), not a timeout', async (t) => {
    for (let i = 0; i < 3; i++) {
      const r = await tb.exec(tb.client.ns, ['curl', '-sS', '--max-time', '5', '-o', '/dev/null', '-w', '%{time_total}', `http://${EMPTY_VIP}/`], { timeoutMs: 10000 });
      const ms = Math.round(Number(r.stdout.trim()) * 1000);
      t.equal(r.code, 7, `curl exit 7 (couldn't connect): ${r.stderr.trim()}`);
      t.match(r.stderr, /refused|couldn't connect/i, 'refused (curl words ECONNREFUSED "Couldn\'t connect to server")');
      t.ok(Number.isFinite(ms) && ms < 1000, `refused after ${ms} ms (curl's own time_total), not a timeout`);
    }
  });

  t.test('hairpin: a pod reaching itself through its ClusterIP sees the node IP', async (t) => {
    const self = tb.pods[0];
    const replies = await podsAnswering(self.ns, `http://${SELF_VIP}/`, 5);
    t.same([...new Set(replies.map((r) => r.pod))], [self.name], 'answered by itself');
    t.same([...new Set(replies.map((r) => r.remote))], [NODE_IP], 'seen from the node IP (hairpin masquerade)');
  });

  t.test('egress: pod → Internet is SNATed to the node IP both ways; no SNAT inside the VNet', async (t) => {
    const pod = tb.pods[1];
    const out = await podsAnswering(pod.ns, `http://${INTERNET}:8081/`, 3);
    t.same([...new Set(out.map((r) => r.remote))], [NODE_IP], `the Internet server sees ${NODE_IP}, and its replies reached the pod`);
    const vnet = await podsAnswering(pod.ns, `http://${tb.client.ipv4}:8081/`, 3);
    t.same([...new Set(vnet.map((r) => r.remote))], [pod.ipv4], 'a VNet host sees the pod address');
  });

  t.test('the agent\'s counters add up', async (t) => {
    const s = await tb.stats();
    t.equal(statsInvariantProblem(s), null, 'received = forwarded + delivered + dropped + pending');
    const drops: Record<string, number> = {};
    for (const p of s.ports) for (const [k, v] of Object.entries(p.drops)) drops[k] = (drops[k] ?? 0) + v;
    t.ok((drops['service-rejected'] ?? 0) >= 3, `service rejects counted: ${JSON.stringify(drops)}`);
    t.ok(s.totals.forwarded > 1000, `forwarded ${s.totals.forwarded}`);
  });
}
