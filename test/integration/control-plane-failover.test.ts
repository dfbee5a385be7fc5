/**
 * Control plane failover (issue #5 must-show), end to end with the real binaries:
 *
 *  - `tapflow serve` (a child process, unix socket, data dir in a temp dir) + 2 agents in the
 *    netns testbed (`tapflow run --controller unix:…`), pods serving HTTP;
 *  - `tapflow apply -f` (the CLI, a child process) of a Service + EndpointSlice → the ClusterIP
 *    answers from a pod on each node;
 *  - an invalid manifest: `tapflow apply` exits 1, stderr names the file, the document and the
 *    field path, nothing is applied, both agents keep running the same version;
 *  - kill -9 of the controller: both nodes keep forwarding; restarted on the same data dir, the
 *    state is intact (`tapflow get services`) and both agents reconnect at the store's version;
 *  - kill -9 of an agent, restarted with the same arguments (persistent, CNI-style TAPs: the pods
 *    keep their eth0): with the controller up, and once with the controller down — the node
 *    forwards the ClusterIP again from its persisted version alone; the time from the restart to
 *    the first successful curl is printed;
 *  - then the controller is back: both agents reconnect and take a new change.
 *
 * Needs root (network namespaces, TAP devices): skipped otherwise.
 */
import t from 'tap';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execIn, ExecResult, findRepoRoot, PodInfo, Testbed, waitFor } from '../../scripts/testbed';
import { PodReply, skipReason, testbedFor, url } from './helpers';

const ROOT = findRepoRoot(__dirname);
const BIN = path.join(ROOT, 'bin', 'tapflow');
const VIP = '10.96.100.10';

const skip = skipReason();

/** One `tapflow serve` child process. */
class ServeProcess {
  out = '';
  err = '';
  exitCode: number | null | undefined;
  private readonly exitP: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.err += d));
    this.exitP = new Promise((resolve) => {
      child.on('exit', (code) => resolve((this.exitCode = code)));
      child.on('error', () => resolve((this.exitCode = this.exitCode ?? 127)));
    });
  }

  /** Start and wait for the `ready` line (parsed). */
  static async start(args: string[]): Promise<{ proc: ServeProcess; ready: Record<string, unknown> }> {
    const proc = new ServeProcess(spawn(process.execPath, [BIN, 'serve', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
    const line = await waitFor(
      () => {
        const l = proc.out.split('\n').find((x) => x.includes('"ready"'));
        if (l) return l;
        if (proc.exitCode !== undefined) throw new Error(`tapflow serve exited (${proc.exitCode}): ${proc.err.trim().slice(-1000)}`);
        return undefined;
      },
      { timeoutMs: 20000, intervalMs: 20, what: 'tapflow serve ready' },
    ).catch((e: Error) => {
      proc.child.kill('SIGKILL');
      throw e;
    });
    return { proc, ready: JSON.parse(line) as Record<string, unknown> };
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  /** Send a signal and wait (bounded; then SIGKILL) for the exit. */
  async stop(signal: NodeJS.Signals, timeoutMs = 5000): Promise<number | null> {
    if (!this.alive) return this.exitCode ?? null;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exitP;
    } finally {
      clearTimeout(timer);
    }
  }
}

interface AgentsDoc {
  version: number;
  agents: { node: string; connected: boolean; ackedVersion: number; sentVersion: number; nacks: number; lastError: unknown }[];
}

t.test('controller and agent failover (kill -9), with the real CLI', { skip, timeout: 110000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-failover-'));
  const sock = path.join(dir, 'c.sock');
  const server = `unix:${sock}`;
  const dataDir = path.join(dir, 'data');
  const serveArgs = ['--listen', server, '--data-dir', dataDir];
  let ctl: ServeProcess | null = null;
  const killCtlSync = () => ctl?.alive && ctl.child.kill('SIGKILL');
  process.once('exit', killCtlSync); // safety net if the test process dies hard
  t.teardown(async () => {
    await ctl?.stop('SIGTERM');
    process.removeListener('exit', killCtlSync);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The CLI as a child process (bounded). */
  const cli = (args: string[], timeoutMs = 20000): Promise<ExecResult> =>
    execIn(null, [process.execPath, BIN, ...args, '--server', server, '--timeout', '10'], { timeoutMs });
  const cliJson = async <T>(args: string[]): Promise<T> => {
    const r = await cli([...args, '-o', 'json']);
    if (r.code !== 0) throw new Error(`tapflow ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as T;
  };
  const agents = () => cliJson<AgentsDoc>(['get', 'agents']);
  /** Both agents connected and running the store's version (polled through `tapflow get agents -o json`). */
  const waitInSync = (what: string, timeoutMs = 40000): Promise<AgentsDoc> =>
    waitFor(async () => {
      const d = await agents();
      return d.agents.length === 2 && d.agents.every((a) => a.connected && a.ackedVersion === d.version) ? d : undefined;
    }, { timeoutMs, intervalMs: 200, what });

  const startCtl = async () => {
    const { proc, ready } = await ServeProcess.start(serveArgs);
    ctl = proc;
    return ready;
  };

  const ready0 = await startCtl();
  t.equal(ready0.desiredStateVersion, 0, 'fresh store');

  // CNI-style persistent TAPs: a crashed agent's pods keep their eth0 (addresses, routes,
  // neighbors) and the restarted agent re-attaches — the production crash-restart.
  // TAPFLOW_FAILOVER_PERSISTENT_TAPS=0: the agent creates the TAPs and the testbed re-wires them.
  const persistentTaps = process.env.TAPFLOW_FAILOVER_PERSISTENT_TAPS !== '0';
  t.comment(`persistentTaps: ${persistentTaps}`);
  const tb: Testbed = await testbedFor(t, { nodes: 2, pods: 2, persistentTaps, agentArgs: ['--controller', server] });
  await tb.startHttpServers(8080);
  const nodes = tb.nodes.map((n) => n.name);
  const backends = tb.nodes.map((n) => n.pods[0]);
  /** A client pod on node i (1-based): not a backend. */
  const clientPod = (i: number): PodInfo => tb.node(i).pods[1];

  /** One curl of the ClusterIP (short timeouts): the pod's JSON answer or undefined. */
  const curlOnce = async (pod: PodInfo, connectTimeout = '0.5'): Promise<PodReply | undefined> => {
    const r = await tb.exec(pod.ns, ['curl', '-sS', '-g', '--connect-timeout', connectTimeout, '--max-time', '2', url(VIP, 80)], { timeoutMs: 5000 });
    return r.code === 0 ? (JSON.parse(r.stdout) as PodReply) : undefined;
  };
  /** Poll until the ClusterIP answers from `pod` (bounded); returns the answer. */
  const curlVip = (pod: PodInfo, what: string, timeoutMs = 15000): Promise<PodReply> =>
    curlVipTimed(pod, what, timeoutMs).then((r) => r.reply);
  /** curlVip, also telling how many curls it took and when (Date.now()) the successful one started. */
  const curlVipTimed = async (pod: PodInfo, what: string, timeoutMs = 15000, connectTimeout = '0.5'): Promise<{ reply: PodReply; tries: number; startedAt: number }> => {
    let tries = 0;
    let startedAt = 0;
    const reply = await waitFor(() => {
      tries++;
      startedAt = Date.now();
      return curlOnce(pod, connectTimeout);
    }, { timeoutMs, intervalMs: 20, what: `${what}: ${url(VIP, 80)} from ${pod.name}` });
    return { reply, tries, startedAt };
  };
  const isBackend = (reply: PodReply, set: PodInfo[] = backends) => set.some((p) => p.ipv4 === reply.local);
  const expectForwarding = async (what: string) => {
    for (const n of tb.nodes) {
      const reply = await curlVip(clientPod(n.index), `${what} (${n.name})`);
      t.ok(isBackend(reply), `${what}: ${n.name} forwards the ClusterIP to a backend (${reply.pod})`);
    }
  };

  await waitFor(async () => (await agents()).agents.filter((a) => a.connected).length === 2, { timeoutMs: 20000, intervalMs: 200, what: 'both agents connected' });

  // ── apply a Service + EndpointSlice with the CLI ────────────────────────────────────────
  const manifest = (endpoints: PodInfo[]) => `apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  clusterIP: ${VIP}
  selector: {app: web}
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
endpoints:
${endpoints.map((p) => `- addresses: ["${p.ipv4}"]\n  conditions: {ready: true}\n  nodeName: ${tb.node(p.node).name}`).join('\n')}
ports:
- name: http
  port: 8080
  protocol: TCP
`;
  const good = path.join(dir, 'web.yaml');
  fs.writeFileSync(good, manifest(backends));
  const applied = await cli(['apply', '-f', good]);
  t.equal(applied.code, 0, `tapflow apply exits 0 (${applied.stderr.trim()})`);
  t.match(applied.stdout, /service\/web created/);
  t.match(applied.stdout, /endpointslice\/web-1 created/);
  const v1 = (await waitInSync('both agents at the applied version')).version;
  t.equal(v1, 1, 'one apply, one version');
  await expectForwarding('after apply');

  // ── an invalid manifest: rejected by the CLI, nothing changes ────────────────────────────
  const bad = path.join(dir, 'bad.yaml');
  fs.writeFileSync(bad, `apiVersion: v1
kind: Service
metadata: {name: web2, namespace: default}
spec:
  clusterIP: 10.96.100.11
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: ${VIP}
  ports:
  - name: http
    port: 70000
    targetPort: 8080
`);
  const rejected = await cli(['apply', '-f', bad]);
  t.equal(rejected.code, 1, 'tapflow apply of an invalid manifest exits 1');
  t.match(rejected.stderr, bad, 'stderr names the file');
  t.match(rejected.stderr, /doc 1\b/, 'stderr names the document');
  t.match(rejected.stderr, 'spec.ports[0].port', 'stderr names the field path');
  t.comment(`apply bad.yaml → ${rejected.stderr.trim().replace(/\n/g, ' | ')}`);
  const afterBad = await agents();
  t.equal(afterBad.version, v1, 'the store version did not move');
  for (const a of afterBad.agents) t.equal(a.ackedVersion, v1, `${a.node} still runs version ${v1}`);
  const svcs = await cliJson<{ items: { metadata: { name: string } }[] }>(['get', 'services']);
  t.same(svcs.items.map((i) => i.metadata.name), ['web'], 'web2 (the valid half of the batch) was not applied');

  // ── kill -9 the controller: the data plane does not care ─────────────────────────────────
  const pid1 = ctl!.child.pid;
  t.equal(await ctl!.stop('SIGKILL'), null, `controller (pid ${pid1}) killed with SIGKILL`);
  await expectForwarding('controller down');
  const unreachable = await cli(['get', 'agents']);
  t.equal(unreachable.code, 1, 'the CLI exits 1 while the controller is down');
  t.match(unreachable.stderr, /cannot reach the controller|UNAVAILABLE/i, 'and says it cannot reach it');

  // ── restart it on the same data dir ──────────────────────────────────────────────────────
  const ready1 = await startCtl();
  t.equal(ready1.desiredStateVersion, v1, 'restarted controller: same version');
  t.equal(ready1.objects, 2, 'restarted controller: same objects');
  const svcAfter = await cliJson<{ items: { metadata: { name: string }; spec: { clusterIP: string; ports: { port: number }[] } }[] }>(['get', 'services']);
  t.same(svcAfter.items.map((i) => [i.metadata.name, i.spec.clusterIP, i.spec.ports[0].port]), [['web', VIP, 80]], 'tapflow get services: the state is intact');
  const eps = await cliJson<{ items: { endpoints: { addresses: string[] }[] }[] }>(['get', 'endpointslices']);
  t.same(eps.items[0]?.endpoints.map((e) => e.addresses[0]).sort(), backends.map((p) => p.ipv4).sort(), 'tapflow get endpointslices: intact');
  const resynced = await waitInSync('both agents reconnected to the restarted controller');
  t.same(resynced.agents.map((a) => a.node).sort(), [...nodes].sort(), 'both agents reconnected');
  for (const a of resynced.agents) t.ok(a.connected && a.ackedVersion === v1, `${a.node}: connected, acked ${a.ackedVersion} = store version ${resynced.version}`);

  // ── kill -9 an agent (controller up), start it again ────────────────────────────────────
  const restartMs: Record<string, { ready: number; firstCurl: number }> = {};
  const restart = async (index: number, label: string) => {
    const node = tb.node(index);
    const logBefore = fs.statSync(node.agentLog!.stdout).size;
    const oldPid = node.agentPid;
    t.equal(await tb.killAgent(index, 'SIGKILL'), null, `${label}: agent on ${node.name} (pid ${oldPid}) killed with SIGKILL`);
    const t0 = Date.now();
    // When the agent's log shows `ready` and `persisted-applied` (polled: ±10 ms).
    const seen: Record<string, number> = {};
    const readLog = () => fs.readFileSync(node.agentLog!.stdout, 'utf8').slice(logBefore);
    const poll = setInterval(() => {
      const text = readLog();
      for (const ev of ['ready', 'persisted-applied']) if (seen[ev] === undefined && text.includes(`"event":"${ev}"`)) seen[ev] = Date.now() - t0;
    }, 10);
    let readyLine: Awaited<ReturnType<Testbed['restartAgent']>>;
    let timed: Awaited<ReturnType<typeof curlVipTimed>>;
    let tReady: number;
    let tCurl: number;
    try {
      readyLine = await tb.restartAgent(index);
      tReady = Date.now() - t0;
      // Short connect timeout: a SYN lost before the node forwards costs 250 ms, not 1 s.
      timed = await curlVipTimed(clientPod(index), `${label}: first curl after the restart`, 20000, '0.25');
      tCurl = Date.now() - t0;
      // The log line may trail the apply itself (it comes from the controller-link thread).
      await waitFor(() => seen['persisted-applied'] !== undefined, { timeoutMs: 10000, intervalMs: 10, what: `${label}: "persisted-applied" in the agent log` }).catch(() => undefined);
    } finally {
      clearInterval(poll);
    }
    const { reply, tries, startedAt } = timed;
    restartMs[label] = { ready: tReady, firstCurl: tCurl };
    t.not(readyLine.pid, oldPid, `${label}: a new agent process (pid ${readyLine.pid})`);
    t.ok(isBackend(reply), `${label}: ${node.name} forwards the ClusterIP again (${reply.pod})`);
    t.comment(`${label}: from the restart: agent "ready" ${seen.ready ?? '?'} ms, restartAgent() done ${tReady} ms, "persisted-applied" logged ${seen['persisted-applied'] ?? '?'} ms, ` +
      `first successful curl of the ClusterIP done at ${tCurl} ms (curl #${tries}, started at ${startedAt - t0} ms; earlier ones timed out after 0.25 s)`);
    const log = readLog();
    const persisted = log.split('\n').filter((l) => l.includes('"persisted-applied"')).map((l) => JSON.parse(l) as { version: number })[0];
    t.equal(persisted?.version, v1, `${label}: the agent applied its persisted version ${v1} at start`);
  };
  await restart(2, 'agent restart, controller up');
  await waitInSync('the restarted agent reconnected');

  // ── and once with the controller down: the persisted version alone ───────────────────────
  t.equal(await ctl!.stop('SIGKILL'), null, 'controller killed again (SIGKILL)');
  await restart(1, 'agent restart, controller down');
  await expectForwarding('both nodes, controller still down');

  // ── the controller comes back: both agents reconnect and take a new version ─────────────
  const ready2 = await startCtl();
  t.equal(ready2.desiredStateVersion, v1, 'controller back at the same version');
  await waitInSync('both agents reconnected after the agent and controller restarts');
  // Only node 2's pods as endpoints now: node 1 (restarted with the controller down) must follow.
  const onlyNode2 = tb.node(2).pods;
  fs.writeFileSync(good, manifest(onlyNode2));
  const applied2 = await cli(['apply', '-f', good]);
  t.equal(applied2.code, 0, `apply of a new version exits 0 (${applied2.stderr.trim()})`);
  t.match(applied2.stdout, /endpointslice\/web-1 configured/);
  t.match(applied2.stdout, /service\/web unchanged/);
  const v2 = (await waitInSync('both agents at the new version')).version;
  t.equal(v2, v1 + 1, 'one more version');
  for (let i = 0; i < 3; i++) {
    const reply = await curlVip(clientPod(1), `new endpoints on node-1 (try ${i + 1})`);
    t.ok(isBackend(reply, onlyNode2), `node-1 follows the new version: answered by ${reply.pod} (node-2)`);
  }

  t.comment(`restart → first successful curl (persistentTaps ${persistentTaps}): ${Object.entries(restartMs).map(([k, v]) => `${k}: ${v.firstCurl} ms (restartAgent() ${v.ready} ms)`).join('; ')}`);
});
