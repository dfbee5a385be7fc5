/**
 * Health probes against real TCP/HTTP servers on loopback addresses (127.0.0.x), with short
 * intervals (msPerSecond): an unhealthy backend leaves within interval × threshold and
 * returns after one good probe; HTTP status rules; timeouts; one probe in flight per target;
 * holds shared by two probes; update()/stop() release; probeTargets from services + slices;
 * and, through a compiled ServiceTable, new flows skip a backend the checker marked down.
 */
import t, { Test } from 'tap';
import * as http from 'node:http';
import * as net from 'node:net';
import { spawn } from 'node:child_process';
import { validateNodeConfig } from '../../control/model/node-config';
import { validateService } from '../../control/model/service';
import type { Service } from '../../control/model/service';
import { validateEndpointSlice } from '../../control/model/endpoint-slice';
import type { EndpointSlice } from '../../control/model/endpoint-slice';
import { compileServices } from '../../control/compile/services';
import { AffinityTable } from '../tables/affinity-table';
import { KeyInterner, ServiceResult, ServiceVerdict } from '../tables/service-table';
import { HealthChange, HealthChecker, ProbeTarget, probeTargets, runProbe } from './health-checker';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A TCP or HTTP server on host:port that can be stopped and restarted on the same port. */
class Backend {
  server: net.Server | null = null;
  port = 0;
  status = 200;
  hang = false;
  open = 0;
  maxOpen = 0;
  accepted = 0;
  constructor(readonly host: string, readonly kind: 'tcp' | 'http') {}
  async start(): Promise<void> {
    const s = this.kind === 'http'
      ? http.createServer((req, res) => {
        if (this.hang) return; // never answer
        res.writeHead(this.status, { 'content-type': 'text/plain' });
        res.end(req.url === '/healthz' ? 'ok' : 'other');
      })
      : net.createServer((c) => c.end());
    s.on('connection', (c: net.Socket) => {
      this.accepted++;
      this.open++;
      this.maxOpen = Math.max(this.maxOpen, this.open);
      c.on('close', () => this.open--);
    });
    await new Promise<void>((res, rej) => {
      s.once('error', rej);
      s.listen({ host: this.host, port: this.port }, () => res());
    });
    this.port = (s.address() as net.AddressInfo).port;
    this.server = s;
  }
  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s === null) return;
    await new Promise<void>((r) => {
      s.close(() => r());
      (s as http.Server).closeAllConnections?.();
    });
  }
}

function table(): { interner: KeyInterner; setBackendHealthy(k: number, h: boolean): void; isBackendHealthy(k: number): boolean } {
  const interner = new KeyInterner();
  return { interner, setBackendHealthy: (k, h) => interner.setHealthy(k, h), isBackendHealthy: (k) => interner.isHealthy(k) };
}

function target(b: Backend, keys: number[], over: Partial<ProbeTarget> = {}): ProbeTarget {
  return {
    id: `${b.host}|${b.kind}|${b.port}`, address: b.host, port: b.port, protocol: b.kind, path: b.kind === 'http' ? '/healthz' : null,
    intervalSeconds: 1, unhealthyThreshold: 2, keys, keyNames: keys.map((k) => `key-${k}`), services: ['default/web'], ...over,
  };
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(5);
  }
  return cond();
}

t.test('runProbe: tcp connect ok / refused; http 2xx ok, 500 bad, hang times out', async (t) => {
  const tcp = new Backend('127.0.0.2', 'tcp');
  await tcp.start();
  const http1 = new Backend('127.0.0.3', 'http');
  await http1.start();
  t.teardown(async () => { await tcp.stop(); await http1.stop(); });
  const run = (tg: Pick<ProbeTarget, 'address' | 'port' | 'protocol' | 'path'>, timeout = 500) =>
    new Promise<[boolean, string]>((r) => runProbe(tg, timeout, (ok, why) => r([ok, why])));
  t.same(await run({ address: tcp.host, port: tcp.port, protocol: 'tcp', path: null }), [true, 'connected']);
  const closedPort = tcp.port;
  await tcp.stop();
  t.same(await run({ address: tcp.host, port: closedPort, protocol: 'tcp', path: null }), [false, 'ECONNREFUSED']);
  t.same(await run({ address: http1.host, port: http1.port, protocol: 'http', path: '/healthz' }), [true, 'HTTP 200']);
  http1.status = 204;
  t.same((await run({ address: http1.host, port: http1.port, protocol: 'http', path: '/healthz' }))[0], true, '204 is 2xx');
  http1.status = 500;
  t.same(await run({ address: http1.host, port: http1.port, protocol: 'http', path: '/healthz' }), [false, 'HTTP 500']);
  http1.status = 301;
  t.same((await run({ address: http1.host, port: http1.port, protocol: 'http', path: '/healthz' }))[0], false, 'a redirect is not healthy');
  http1.hang = true;
  const t0 = Date.now();
  const [ok, why] = await run({ address: http1.host, port: http1.port, protocol: 'http', path: '/healthz' }, 80);
  t.equal(ok, false);
  t.match(why, /timeout after 80 ms/);
  t.ok(Date.now() - t0 < 400, 'timeout honoured');
  // Cancel: done never called.
  let called = false;
  const cancel = runProbe({ address: http1.host, port: http1.port, protocol: 'http', path: '/' }, 200, () => { called = true; });
  cancel();
  await sleep(300);
  t.notOk(called, 'cancelled probe reports nothing');
});

t.test('tcp: down within interval × threshold, back after one success', async (t) => {
  const INTERVAL = 100; // intervalSeconds 1 × msPerSecond 100
  const b = new Backend('127.0.0.4', 'tcp');
  await b.start();
  const tb = table();
  const k = tb.interner.intern('10.244.0.2:8080/TCP');
  const events: (HealthChange & { at: number })[] = [];
  const hc = new HealthChecker({ msPerSecond: INTERVAL, firstDelayMs: () => 0, onChange: (e) => events.push({ ...e, at: Date.now() }) });
  t.teardown(async () => { hc.stop(); await b.stop(); });
  hc.update([target(b, [k])], tb);
  await sleep(3 * INTERVAL);
  t.ok(tb.isBackendHealthy(k), 'healthy while the server answers');
  t.same(events, []);
  const st = hc.status()[0];
  t.ok(st.probes >= 2 && st.failures === 0 && st.healthy, `probes ran (${st.probes})`);

  const port = b.port;
  const killedAt = Date.now();
  await b.stop();
  t.ok(await until(() => !tb.isBackendHealthy(k), 10 * INTERVAL), 'marked unhealthy');
  const took = events[0].at - killedAt;
  t.match(events[0], { event: 'backend-unhealthy', target: `127.0.0.4:${port}`, protocol: 'tcp', backends: [`key-${k}`], services: ['default/web'], reason: 'ECONNREFUSED', consecutiveFailures: 2 });
  t.ok(took <= 2 * INTERVAL + 50, `left within interval × threshold: ${took} ms ≤ ${2 * INTERVAL} (+50 ms timer slack)`);
  t.same(hc.unhealthyKeys(), [k]);

  await b.start(); // same port
  const upAt = Date.now();
  t.ok(await until(() => tb.isBackendHealthy(k), 10 * INTERVAL), 'back after one success');
  const back = events[1].at - upAt;
  t.match(events[1], { event: 'backend-healthy', reason: 'probe succeeded' });
  t.ok(back <= INTERVAL + 50, `returned within one interval: ${back} ms`);
  t.same(hc.unhealthyKeys(), []);
  t.comment(`detection ${took} ms (interval ${INTERVAL} ms × threshold 2), recovery ${back} ms`);
});

t.test('http: 5xx counts as failure, 2xx recovers; the path is probed', async (t) => {
  const b = new Backend('127.0.0.5', 'http');
  await b.start();
  const tb = table();
  const k = tb.interner.intern('10.244.0.3:80/TCP');
  const hc = new HealthChecker({ msPerSecond: 60, firstDelayMs: () => 0 });
  t.teardown(async () => { hc.stop(); await b.stop(); });
  hc.update([target(b, [k], { unhealthyThreshold: 3 })], tb);
  await sleep(150);
  t.ok(tb.isBackendHealthy(k));
  b.status = 503;
  t.ok(await until(() => !tb.isBackendHealthy(k), 1000), 'unhealthy after 3 × 503');
  t.equal(hc.status()[0].lastError, 'HTTP 503');
  t.ok(hc.status()[0].consecutiveFailures >= 3);
  b.status = 200;
  t.ok(await until(() => tb.isBackendHealthy(k), 1000), 'healthy after one 200');
});

t.test('bounded: one probe in flight per target; timeout < interval; stop() ends probing', async (t) => {
  const b = new Backend('127.0.0.6', 'http');
  await b.start();
  b.hang = true;
  const tb = table();
  const k = tb.interner.intern('10.244.0.4:80/TCP');
  const hc = new HealthChecker({ msPerSecond: 50, firstDelayMs: () => 0, timeoutMs: () => 500 /* clamped below the interval */ });
  t.teardown(async () => { hc.stop(); await b.stop(); });
  hc.update([target(b, [k])], tb);
  t.ok(await until(() => !tb.isBackendHealthy(k), 1000), 'hanging backend goes unhealthy by timeouts');
  t.match(hc.status()[0].lastError, /timeout after 49 ms/, 'timeout clamped to interval - 1');
  t.ok(b.maxOpen <= 2, `at most one probe connection open at a time (+1 closing): ${b.maxOpen}`);
  hc.stop();
  t.ok(tb.isBackendHealthy(k), 'stop() releases the holds');
  await sleep(60);
  const n = b.accepted;
  await sleep(200);
  t.equal(b.accepted, n, 'no probe after stop()');
});

t.test('update(): holds move with keys, are shared by probes, and are released with the target', async (t) => {
  const a = new Backend('127.0.0.7', 'tcp');
  const c = new Backend('127.0.0.8', 'tcp');
  await a.start();
  await c.start();
  const tb = table();
  const k1 = tb.interner.intern('10.244.0.5:80/TCP');
  const k2 = tb.interner.intern('10.244.0.5:81/TCP');
  const hc = new HealthChecker({ msPerSecond: 40, firstDelayMs: () => 0 });
  t.teardown(async () => { hc.stop(); await a.stop(); await c.stop(); });
  const ta = target(a, [k1]);
  const tc = target(c, [k1]);
  hc.update([ta, tc], tb);
  await a.stop();
  t.ok(await until(() => !tb.isBackendHealthy(k1), 1000), 'one failing probe holds the key down');
  t.ok(tb.isBackendHealthy(k2));
  // The failing target now also covers k2: the hold moves along.
  hc.update([{ ...ta, keys: [k1, k2], keyNames: ['a', 'b'] }, tc], tb);
  t.notOk(tb.isBackendHealthy(k2), 'new key of an unhealthy target is held at once');
  // A fresh table (next generation) gets the same health re-asserted.
  const tb2 = { setBackendHealthy: tb.setBackendHealthy, isBackendHealthy: tb.isBackendHealthy };
  tb.interner.setHealthy(k1, true); // someone reset it
  hc.update([{ ...ta, keys: [k1, k2], keyNames: ['a', 'b'] }, tc], tb2);
  t.notOk(tb.isBackendHealthy(k1), 're-asserted on update');
  // Remove the failing target: released; the healthy one never held anything.
  hc.update([tc], tb);
  t.ok(tb.isBackendHealthy(k1) && tb.isBackendHealthy(k2), 'released with the target');
  t.equal(hc.status().length, 1);
});

// ─── probeTargets + a compiled table ───

const NODE = validateNodeConfig({
  apiVersion: 'tapflow.dev/v1alpha1', kind: 'NodeConfig', metadata: { name: 'node-a' },
  spec: {
    nodeName: 'node-a', nodeIPs: ['10.0.0.4'], podCIDRs: ['10.244.0.0/24'], clusterCIDRs: ['10.244.0.0/16'], serviceCIDRs: ['10.96.0.0/12'],
    vnetPrefixes: ['10.0.0.0/16'],
    ports: [{ name: 'uplink', tap: 'tfup0', role: 'uplink' }, { name: 'host', tap: 'tfhost0', role: 'host' }],
  },
});

function svc(name: string, probe: Obj | null, ports: Obj[] = [{ name: 'http', port: 80, targetPort: 8080 }]): Service {
  return validateService({
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, namespace: 'default', creationTimestamp: '2024-01-01T00:00:00Z', annotations: probe ? { 'tapflow.dev/health-probe': JSON.stringify(probe) } : {} },
    spec: { clusterIP: name === 'web' ? '10.96.0.10' : '10.96.0.11', ports },
  });
}
function slice(service: string, eps: { ip: string; ready?: boolean; serving?: boolean; terminating?: boolean }[], ports: Obj[] = [{ name: 'http', port: 8080 }]): EndpointSlice {
  return validateEndpointSlice({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `${service}-1`, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    endpoints: eps.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready ?? true, ...(e.serving !== undefined ? { serving: e.serving } : {}), ...(e.terminating !== undefined ? { terminating: e.terminating } : {}) } })),
    ports,
  });
}

t.test('probeTargets: annotated services only, serving endpoints, compiled keys, merged', async (t) => {
  const web = svc('web', { protocol: 'http', port: 9000, path: '/ready', intervalSeconds: 2, unhealthyThreshold: 3 });
  const other = svc('other', { protocol: 'http', port: 9000, path: '/ready', intervalSeconds: 2, unhealthyThreshold: 3 });
  const plain = svc('plain', null);
  const slices: Record<string, EndpointSlice[]> = {
    web: [slice('web', [{ ip: '10.244.0.2' }, { ip: '10.244.0.3', ready: false, serving: false }, { ip: '10.244.0.4', ready: false, serving: true, terminating: true }])],
    other: [slice('other', [{ ip: '10.244.0.2' }], [{ name: 'http', port: 8081 }])],
    plain: [slice('plain', [{ ip: '10.244.0.9' }])],
  };
  const interner = new KeyInterner();
  const { table: tbl } = compileServices({ services: [web, other, plain], endpointSlices: Object.values(slices).flat(), node: NODE, interner });
  const targets = probeTargets([web, other, plain], (_ns, n) => slices[n] ?? [], tbl.interner);
  t.same(targets.map((x) => [x.address, x.port, x.protocol, x.path, x.intervalSeconds, x.unhealthyThreshold, x.keyNames, x.services]), [
    ['10.244.0.2', 9000, 'http', '/ready', 2, 3, ['10.244.0.2:8080/TCP', '10.244.0.2:8081/TCP'], ['default/web', 'default/other']],
    ['10.244.0.4', 9000, 'http', '/ready', 2, 3, ['10.244.0.4:8080/TCP'], ['default/web']],
  ], 'not-serving endpoint skipped; one target per address × probe, shared by two services');
  t.same(targets[0].keys, [interner.id('10.244.0.2:8080/TCP'), interner.id('10.244.0.2:8081/TCP')]);
  t.same(probeTargets([web], () => [slice('web', [{ ip: '10.244.0.77' }])], new KeyInterner()), [], 'keys the compile did not intern are not probed');
});

t.test('through a compiled table: new flows skip a backend the checker marks down', async (t) => {
  const web = svc('web', { protocol: 'tcp', port: 9000, intervalSeconds: 1, unhealthyThreshold: 2 });
  const slices = [slice('web', [{ ip: '10.244.0.2' }, { ip: '10.244.0.3' }])];
  const { table: tbl } = compileServices({ services: [web], endpointSlices: slices, node: NODE });
  const fe = tbl.lookupFrontend4((10 << 24 | 96 << 16 | 10) >>> 0, 6, 80);
  const reach = (): Set<string> => {
    const out = new Set<string>();
    const res = new ServiceResult();
    for (let h = 0; h < 300; h++) {
      tbl.resolve4(fe, (10 << 24 | 244 << 16 | 9) >>> 0, 40000, 2, Math.imul(h, 2654435761) >>> 0, 0, new AffinityTable(64), res);
      out.add(res.verdict === ServiceVerdict.Dnat ? `${res.addr4 & 255}` : 'none');
    }
    return out;
  };
  t.same([...reach()].sort(), ['2', '3']);
  // The pods' probe endpoints stand in as loopback servers (same keys).
  const good = new Backend('127.0.0.9', 'tcp');
  const bad = new Backend('127.0.0.10', 'tcp');
  await good.start();
  await bad.start();
  const badPort = bad.port;
  await bad.stop();
  const targets = probeTargets([web], () => slices, tbl.interner);
  const local = targets.map((x) => x.address === '10.244.0.2' ? { ...x, address: good.host, port: good.port } : { ...x, address: bad.host, port: badPort });
  const hc = new HealthChecker({ msPerSecond: 40, firstDelayMs: () => 0 });
  t.teardown(async () => { hc.stop(); await good.stop(); });
  hc.update(local, tbl);
  t.ok(await until(() => !tbl.isBackendHealthy(tbl.interner.id('10.244.0.3:8080/TCP')), 1000));
  t.same([...reach()], ['2'], 'every new flow goes to the healthy backend');
  hc.stop();
  t.same([...reach()].sort(), ['2', '3'], 'back after stop() releases');
});

// ─── Probes on their own thread (worker: true, as the agent runs them) ───

/** An HTTP server in a child process: it answers while this thread is blocked. */
async function httpChild(t: Test, host: string): Promise<{ port: number; requests: () => number }> {
  const child = spawn(process.execPath, ['-e', `
    const http = require('node:http');
    const s = http.createServer((req, res) => { console.log('req'); res.end('ok'); });
    s.listen(0, ${JSON.stringify(host)}, () => console.log('port ' + s.address().port));
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  t.ok(await until(() => /port \d+/.test(out), 10000), 'probe server child started');
  return { port: Number(/port (\d+)/.exec(out)![1]), requests: () => out.split('\n').filter((l) => l === 'req').length };
}

/** Keep this thread busy (what a saturated forwarding loop looks like to a timer). */
function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) { /* spin */ }
}

for (const worker of [false, true]) {
  t.test(`owner thread blocked past the probe timeout (${worker ? 'worker: true' : 'inline'}): ${worker ? 'no false failure' : 'the probe is timed out falsely'}`, async (t) => {
    // interval 2 s, timeout 1.6 s, threshold 1; this thread spins 2.5 s right after the first probe starts.
    const srv = await httpChild(t, '127.0.0.11');
    const tb = table();
    const k = tb.interner.intern('10.244.0.9:80/TCP');
    const events: HealthChange[] = [];
    const hc = new HealthChecker({ worker, msPerSecond: 2000, firstDelayMs: () => 0, onChange: (e) => events.push(e) });
    t.teardown(() => hc.stop());
    hc.update([{ id: 'child', address: '127.0.0.11', port: srv.port, protocol: 'http', path: '/healthz', intervalSeconds: 1, unhealthyThreshold: 1, keys: [k], keyNames: ['b'], services: ['default/web'] }], tb);
    // The probe's timer (delay 0) was scheduled first, so it starts before this spin.
    await new Promise<void>((r) => setTimeout(() => { busy(2500); r(); }, 0));
    t.ok(await until(() => hc.status()[0].probes >= 1, 3000), 'the probe ran');
    await sleep(100);
    const st = hc.status()[0];
    t.ok(srv.requests() >= 1, `the server answered (${srv.requests()} requests)`);
    if (worker) {
      t.same([st.failures, events], [0, []], 'probe timed on its own thread: healthy');
      t.ok(tb.isBackendHealthy(k));
    } else {
      // (the next probe, overdue after the spin, may already have put it back)
      t.equal(st.failures, 1, 'inline: one failure');
      t.match(events[0], { event: 'backend-unhealthy', reason: /timeout after 1600 ms/ }, 'the answer waited behind the spin, the timeout fired first');
    }
  });
}

t.test('worker: down within threshold, back after one success, status mirrored; stop() ends the thread', async (t) => {
  const b = new Backend('127.0.0.12', 'tcp');
  await b.start();
  const tb = table();
  const k = tb.interner.intern('10.244.0.10:8080/TCP');
  const events: HealthChange[] = [];
  const hc = new HealthChecker({ worker: true, msPerSecond: 100, firstDelayMs: () => 0, onChange: (e) => events.push(e) });
  t.teardown(async () => { await hc.stop(); await b.stop(); });
  t.equal(hc.probeThreadId, null, 'no thread before there is something to probe');
  hc.update([], tb);
  t.equal(hc.probeThreadId, null, 'nor for an empty target set');
  hc.update([target(b, [k])], tb);
  t.type(hc.probeThreadId, 'number', 'probe thread started with the first target');
  t.ok(await until(() => hc.status()[0].probes >= 2, 5000), 'probe counters reach this thread');
  t.same(events, []);
  const port = b.port;
  await b.stop();
  t.ok(await until(() => !tb.isBackendHealthy(k), 5000), 'marked unhealthy');
  t.match(events, [{ event: 'backend-unhealthy', target: `127.0.0.12:${port}`, protocol: 'tcp', backends: [`key-${k}`], services: ['default/web'], reason: 'ECONNREFUSED', consecutiveFailures: 2 }]);
  t.match(hc.status()[0], { healthy: false, lastError: 'ECONNREFUSED' });
  await b.start();
  t.ok(await until(() => tb.isBackendHealthy(k), 5000), 'back after one success');
  t.match(events[1], { event: 'backend-healthy', reason: 'probe succeeded', consecutiveFailures: 0 });
  t.equal(events.length, 2);
  const stopping = hc.stop();
  t.equal(hc.stop(), stopping, 'stop() is idempotent');
  await stopping;
  t.equal(hc.probeThreadId, null, 'the thread has exited');
  const n = b.accepted;
  await sleep(300);
  t.equal(b.accepted, n, 'no probe after stop()');
});

t.test('worker: results for a removed target are ignored; a target re-added starts afresh; holds move between generations', async (t) => {
  const a = new Backend('127.0.0.13', 'tcp');
  await a.start();
  const aPort = a.port;
  await a.stop(); // refused from the start
  const tb = table();
  const k1 = tb.interner.intern('10.244.0.11:80/TCP');
  const k2 = tb.interner.intern('10.244.0.11:81/TCP');
  const events: HealthChange[] = [];
  const hc = new HealthChecker({ worker: true, msPerSecond: 50, firstDelayMs: () => 0, onChange: (e) => events.push(e) });
  t.teardown(() => hc.stop());
  const ta: ProbeTarget = { id: 'a', address: a.host, port: aPort, protocol: 'tcp', path: null, intervalSeconds: 1, unhealthyThreshold: 2, keys: [k1], keyNames: ['k1'], services: ['default/web'] };
  hc.update([ta], tb);
  t.ok(await until(() => !tb.isBackendHealthy(k1), 5000), 'down');
  hc.update([{ ...ta, keys: [k1, k2], keyNames: ['k1', 'k2'] }], tb);
  t.notOk(tb.isBackendHealthy(k2), 'the hold follows a new key at once (this thread decides)');
  hc.update([], tb);
  t.ok(tb.isBackendHealthy(k1) && tb.isBackendHealthy(k2), 'released with the target');
  const nEvents = events.length;
  await sleep(200); // results the worker sent before it heard of the removal arrive now
  t.equal(events.length, nEvents, 'no event for the removed target');
  t.ok(tb.isBackendHealthy(k1), 'and no hold from a stale result');
  hc.update([ta], tb);
  t.match(hc.status(), [{ healthy: true, probes: 0, failures: 0 }], 're-added: a new target, healthy until it fails threshold times');
  t.ok(await until(() => !tb.isBackendHealthy(k1), 5000), 'down again');
  t.equal(events.filter((e) => e.event === 'backend-unhealthy').length, 2);
});

t.test('worker: a dead probe thread is restarted and resumes the health this side holds', async (t) => {
  const good = new Backend('127.0.0.14', 'tcp');
  await good.start();
  const bad = new Backend('127.0.0.15', 'tcp');
  await bad.start();
  const badPort = bad.port;
  await bad.stop();
  const tb = table();
  const kg = tb.interner.intern('10.244.0.12:80/TCP');
  const kb = tb.interner.intern('10.244.0.13:80/TCP');
  const events: HealthChange[] = [];
  const errors: string[] = [];
  const hc = new HealthChecker({ worker: true, msPerSecond: 50, firstDelayMs: () => 0, onChange: (e) => events.push(e), onError: (m) => errors.push(m) });
  t.teardown(async () => { await hc.stop(); await good.stop(); await bad.stop(); });
  hc.update([target(good, [kg]), { ...target(bad, [kb]), id: 'bad', port: badPort }], tb);
  t.ok(await until(() => !tb.isBackendHealthy(kb), 5000), 'bad backend down');
  const first = hc.probeThreadId;
  // Kill the thread the way a crash would end it.
  await (hc as unknown as { prober: { worker: import('node:worker_threads').Worker } }).prober.worker.terminate();
  t.match(errors, [/health probe thread exited/], 'reported');
  t.ok(await until(() => hc.probeThreadId !== null && hc.probeThreadId !== first, 5000), 'restarted (after 1 s)');
  const probesBefore = hc.status().find((s) => s.target.startsWith('127.0.0.15'))!.probes;
  t.ok(await until(() => hc.status().find((s) => s.target.startsWith('127.0.0.15'))!.probes !== probesBefore, 5000), 'probing again');
  t.notOk(tb.isBackendHealthy(kb), 'the bad backend stayed down across the restart');
  t.ok(tb.isBackendHealthy(kg));
  t.same(events.map((e) => e.event), ['backend-unhealthy'], 'no flap: the new thread resumed from the health held here');
  await bad.start(); // same port
  t.ok(await until(() => tb.isBackendHealthy(kb), 5000), 'and it recovers as usual');
});
