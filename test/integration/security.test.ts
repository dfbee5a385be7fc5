/**
 * Security of the control surfaces (root; skipped otherwise). One kubenet node whose agent runs
 * `tapflow run --controller <node IP>:PORT --token-file F --drop-privileges nobody
 * --metrics-listen 127.0.0.1:PORT`, a controller (`tapflow serve`) in the node namespace:
 *
 *  - the default surfaces are unreachable from a pod: a controller on loopback and one on a unix
 *    socket, the agent's metrics on loopback, its admin socket — from the pod namespace the node
 *    IP and 127.0.0.1 refuse those ports; the unix sockets are mode 0600 and a non-root user in
 *    the pod namespace is denied;
 *  - `tapflow serve` refuses a non-loopback address without authentication;
 *  - the token path end to end over TCP on the node IP: no token or a wrong one → UNAUTHENTICATED
 *    (from the client namespace and from a pod), the right one → applied; the agent (token in
 *    its --token-file) syncs it, and the Service answers through its ClusterIP;
 *  - after setup the agent runs with no capabilities: /proc/<pid>/status CapEff/CapPrm 0,
 *    NoNewPrivs 1, uid nobody — and still forwards and applies the controller's pushes.
 */
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findRepoRoot, SpawnedProcess, Testbed } from '../../scripts/testbed';
import { tempDir } from '../../control/server/test-support';
import { curlJson, FORWARDER, pingOk, skipReason, testbedFor, waitFor } from './helpers';
import { statusField } from './proc-stats';

const repo = findRepoRoot(__dirname);
const bin = path.join(repo, 'bin', 'tapflow');
const NODE_IP = '10.0.0.4';
const CTL_PORT = 17443;
const LOOPBACK_PORT = 17444;
const METRICS_PORT = 17445;
const WEB_VIP = '10.96.0.10';

const reason = FORWARDER !== 'tapflow' ? 'needs the tapflow forwarder' : skipReason(['ip', 'ping', 'curl', 'timeout', 'setpriv']);

/** Connect to host:port from inside a namespace (optionally as another user): 'connected' or the error code. */
const PROBE = `
const net = require('node:net');
const [kind, a, b] = process.argv.slice(1);
const s = kind === 'unix' ? net.connect(a) : net.connect(Number(b), a);
const done = (r) => { console.log(r); process.exit(0); };
s.on('connect', () => done('connected'));
s.on('error', (e) => done(e.code || e.message));
setTimeout(() => done('timeout'), 2000);
`;

if (reason) {
  t.plan(0, reason);
} else {
  t.test('control API, metrics and admin socket out of the pods\' reach; token auth end to end; the agent without capabilities', async (t) => {
    const dir = tempDir('tapflow-sec-');
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const tokenFile = path.join(dir, 'token');
    const token = `tf-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
    fs.writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
    const wrongFile = path.join(dir, 'wrong');
    fs.writeFileSync(wrongFile, 'not-the-token\n', { mode: 0o600 });
    const tb: Testbed = await testbedFor(t, {
      pods: 2, mode: 'kubenet', nodes: 1, ipv6: false,
      agentArgs: ['--controller', `${NODE_IP}:${CTL_PORT}`, '--token-file', tokenFile, '--drop-privileges', 'nobody', '--metrics-listen', `127.0.0.1:${METRICS_PORT}`],
    });
    const node = tb.node(1);
    const pod = tb.pods[0];
    const pid = node.ready!.pid;
    const agentOut = () => fs.readFileSync(node.agentLog!.stdout, 'utf8');
    await tb.startHttpServers(8080);

    // ── capabilities after setup ──
    await waitFor(() => agentOut().includes('"privileges-dropped"'), { timeoutMs: 10000, what: 'the agent to drop its privileges' });
    const capEff = statusField(pid, 'CapEff');
    t.equal(capEff, '0000000000000000', `CapEff after setup: ${capEff}`);
    t.equal(statusField(pid, 'CapPrm'), '0000000000000000', 'CapPrm: nothing to get back');
    t.equal(statusField(pid, 'NoNewPrivs'), '1', 'NoNewPrivs 1 (no setuid binary can give them back)');
    t.match(statusField(pid, 'Uid') ?? '', /^65534\s+65534\s+65534\s+65534$/, `runs as nobody (Uid: ${statusField(pid, 'Uid')})`);
    const threads = fs.readdirSync(`/proc/${pid}/task`);
    t.ok(threads.every((tid) => statusField(Number(tid), 'CapEff') === '0000000000000000' || /* exited */ statusField(Number(tid), 'CapEff') === null),
      `every one of its ${threads.length} threads has CapEff 0`);
    t.ok(await pingOk(tb, tb.client.ns, pod.ipv4), 'and it still forwards');

    // ── the default surfaces, from a pod ──
    const controllers: SpawnedProcess[] = [];
    const serve = (listen: string, extra: string[] = []): SpawnedProcess => {
      const sp = tb.spawn(node.ns, [process.execPath, bin, 'serve', '--listen', listen, '--data-dir', path.join(dir, `data-${controllers.length}`), ...extra]);
      controllers.push(sp);
      return sp;
    };
    const unixSock = path.join(dir, 'control.sock');
    await serve(`unix:${unixSock}`).waitFor(/"ready"/, 15000, 'stdout');
    await serve(`127.0.0.1:${LOOPBACK_PORT}`).waitFor(/"ready"/, 15000, 'stdout');
    const probe = async (ns: string, kind: 'tcp' | 'unix', a: string, port = 0, asNobody = false): Promise<string> => {
      const cmd = [process.execPath, '-e', PROBE, kind, a, String(port)];
      const r = await tb.exec(ns, asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...cmd] : cmd, { timeoutMs: 10000 });
      return r.stdout.trim() || r.stderr.trim();
    };
    t.equal(await probe(node.ns, 'tcp', '127.0.0.1', LOOPBACK_PORT), 'connected', 'the loopback controller answers inside the node namespace');
    for (const [what, host, port] of [
      ['loopback controller via the node IP', NODE_IP, LOOPBACK_PORT], ['loopback controller via 127.0.0.1', '127.0.0.1', LOOPBACK_PORT],
      ['agent metrics via the node IP', NODE_IP, METRICS_PORT], ['agent metrics via 127.0.0.1', '127.0.0.1', METRICS_PORT],
      ['loopback controller via the pod gateway', pod.gateway4, LOOPBACK_PORT],
    ] as const) {
      const r = await probe(pod.ns, 'tcp', host, port);
      t.ok(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'timeout'].includes(r), `from a pod, ${what} (${host}:${port}): ${r}`);
    }
    for (const [what, sock] of [['the controller\'s unix socket', unixSock], ['the agent\'s admin socket', node.adminSocket!]] as const) {
      t.equal((fs.statSync(sock).mode & 0o777).toString(8), '600', `${what} is mode 0600`);
      t.equal(await probe(pod.ns, 'unix', sock, 0, true), 'EACCES', `a non-root process in a pod namespace cannot connect to ${what}`);
    }

    // ── a non-loopback address needs authentication ──
    const open = tb.spawn(node.ns, [process.execPath, bin, 'serve', '--listen', `0.0.0.0:${CTL_PORT + 10}`, '--data-dir', path.join(dir, 'data-open')]);
    const code = await open.exited(15000);
    t.not(code, 0, 'tapflow serve --listen 0.0.0.0:PORT without a token exits with an error');
    t.match(open.stderr() + open.stdout(), /refusing to listen|without authentication/i, `and says why: ${(open.stderr() + open.stdout()).trim().split('\n')[0]}`);

    // ── the token path over TCP, end to end ──
    const ctl = serve(`${NODE_IP}:${CTL_PORT}`, ['--token-file', tokenFile]);
    await ctl.waitFor(/"ready"/, 15000, 'stdout');
    const cli = (ns: string, args: string[]) => tb.exec(ns, [process.execPath, bin, ...args, '--server', `${NODE_IP}:${CTL_PORT}`], { timeoutMs: 20000, env: { TAPFLOW_ALLOW_OPEN_TOKEN_FILE: '1' } });
    const noToken = await cli(tb.client.ns, ['get', 'svc']);
    t.not(noToken.code, 0, 'from the client, no token: refused');
    t.match(noToken.stderr, /UNAUTHENTICATED|authorization/i, `UNAUTHENTICATED: ${noToken.stderr.trim().split('\n')[0]}`);
    const wrong = await cli(tb.client.ns, ['get', 'svc', '--token-file', wrongFile]);
    t.not(wrong.code, 0, 'a wrong token: refused');
    t.match(wrong.stderr, /UNAUTHENTICATED|invalid bearer token/i, `UNAUTHENTICATED: ${wrong.stderr.trim().split('\n')[0]}`);
    const fromPod = await cli(pod.ns, ['get', 'svc']);
    t.not(fromPod.code, 0, 'from a pod (the node IP is reachable through tapflow), no token: refused');
    t.match(fromPod.stderr, /UNAUTHENTICATED|authorization/i, 'UNAUTHENTICATED');

    const manifests = path.join(dir, 'web.json');
    fs.writeFileSync(manifests, JSON.stringify({
      apiVersion: 'v1', kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: WEB_VIP, selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
        {
          apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
          addressType: 'IPv4', endpoints: [{ addresses: [pod.ipv4], conditions: { ready: true }, nodeName: node.name }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        },
      ],
    }));
    const applied = await cli(tb.client.ns, ['apply', '-f', manifests, '--token-file', tokenFile]);
    t.equal(applied.code, 0, `with the token: applied (${(applied.stdout + applied.stderr).trim().split('\n').join('; ')})`);
    // The agent (its token in --token-file, no capabilities left) syncs it: the VIP answers from a pod.
    await waitFor(() => /"event":"sync-applied"/.test(agentOut()) && agentOut().split('\n').some((l) => l.includes('"sync-applied"') && /"objects":[1-9]/.test(l)), { timeoutMs: 20000, what: 'the agent to apply the controller\'s push' });
    const r = await curlJson(tb, tb.pods[1].ns, WEB_VIP, 80);
    t.equal(r.pod, pod.name, `the Service pushed over the authenticated channel answers through its ClusterIP (${JSON.stringify(r)})`);
    t.equal(statusField(pid, 'CapEff'), '0000000000000000', 'still no capabilities');
  });
}
