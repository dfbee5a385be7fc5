/**
 * healthCheckNodePort server: kube-proxy's exact body and headers, 200 with local endpoints /
 * 503 without, counts updated in place, servers opened and closed as services come and go,
 * the older service keeping a shared port, bind failures reported and retried (never thrown),
 * addresses from nodePortAddresses.
 */
import t from 'tap';
import * as http from 'node:http';
import * as net from 'node:net';
import { validateNodeConfig } from '../../control/model/node-config';
import { HealthCheckServer, HealthCheckServerEvent, healthCheckAddresses, healthCheckBody } from './health-check-server';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A port free right now on `host`. */
async function freePort(host: string): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen({ host, port: 0 }, () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function get(host: string, port: number, path = '/'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, agent: false, timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
  });
}

async function until(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await sleep(10);
  }
  return cond();
}

t.test('kube-proxy body text', async (t) => {
  t.equal(healthCheckBody('default/web', 2, true), '{\n\t"service": {\n\t\t"namespace": "default",\n\t\t"name": "web"\n\t},\n\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}');
  t.same(JSON.parse(healthCheckBody('ns/a', 0, false)), { service: { namespace: 'ns', name: 'a' }, localEndpoints: 0, serviceProxyHealthy: false });
});

t.test('200 with local endpoints, 503 without; headers; counts follow update(); close on removal', async (t) => {
  const host = '127.0.0.11';
  const p1 = await freePort(host);
  const p2 = await freePort(host);
  const srv = new HealthCheckServer();
  t.teardown(() => srv.close());
  srv.update([{ service: 'default/web', nodePort: p1, localEndpoints: 2 }, { service: 'prod/api', nodePort: p2, localEndpoints: 0 }], [host]);
  t.ok(await until(() => srv.status().every((s) => s.listening), 2000), 'listening');
  const a = await get(host, p1, '/any/path');
  t.ok('status' in a);
  if (!('status' in a)) return;
  t.equal(a.status, 200);
  t.equal(a.headers['content-type'], 'application/json');
  t.equal(a.headers['x-content-type-options'], 'nosniff');
  t.equal(a.headers['x-load-balancing-endpoint-weight'], '2');
  t.same(JSON.parse(a.body), { service: { namespace: 'default', name: 'web' }, localEndpoints: 2, serviceProxyHealthy: true });
  const b = await get(host, p2);
  t.match(b, { status: 503, headers: { 'x-load-balancing-endpoint-weight': '0' } });
  t.same(JSON.parse((b as { body: string }).body).localEndpoints, 0);

  // Endpoints change: same servers, new counts.
  srv.update([{ service: 'default/web', nodePort: p1, localEndpoints: 0 }, { service: 'prod/api', nodePort: p2, localEndpoints: 3 }], [host]);
  t.match(await get(host, p1), { status: 503 });
  t.match(await get(host, p2), { status: 200, headers: { 'x-load-balancing-endpoint-weight': '3' } });

  // web goes away: its port closes; api keeps serving.
  srv.update([{ service: 'prod/api', nodePort: p2, localEndpoints: 1 }], [host]);
  t.ok(await until(async () => 'error' in (await get(host, p1)), 2000), 'closed when the service goes');
  t.match(await get(host, p2), { status: 200 });
  t.same(srv.status().map((s) => [s.service, s.nodePort, s.listening]), [['prod/api', p2, true]]);
});

t.test('proxy not healthy → 503 even with endpoints', async (t) => {
  const host = '127.0.0.12';
  const port = await freePort(host);
  let healthy = true;
  const srv = new HealthCheckServer({ proxyHealthy: () => healthy });
  t.teardown(() => srv.close());
  srv.update([{ service: 'default/web', nodePort: port, localEndpoints: 1 }], [host]);
  t.ok(await until(() => srv.status()[0]?.listening === true, 2000));
  t.match(await get(host, port), { status: 200 });
  healthy = false;
  const r = await get(host, port);
  t.match(r, { status: 503 });
  t.match(JSON.parse((r as { body: string }).body), { serviceProxyHealthy: false, localEndpoints: 1 });
});

t.test('two services on one port: the first (older) keeps it; conflict reported', async (t) => {
  const host = '127.0.0.13';
  const port = await freePort(host);
  const events: HealthCheckServerEvent[] = [];
  const srv = new HealthCheckServer({ onEvent: (e) => events.push(e) });
  t.teardown(() => srv.close());
  srv.update([{ service: 'default/old', nodePort: port, localEndpoints: 1 }, { service: 'default/new', nodePort: port, localEndpoints: 0 }], [host]);
  t.ok(await until(() => srv.status()[0]?.listening === true, 2000));
  const r = await get(host, port);
  t.match(JSON.parse((r as { body: string }).body), { service: { name: 'old' } });
  t.match(events, [{ event: 'healthcheck-port-conflict', service: 'default/new', nodePort: port }]);
});

t.test('bind failure: reported, never thrown, retried until the port frees up', async (t) => {
  const host = '127.0.0.14';
  const port = await freePort(host);
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen({ host, port }, () => r()));
  const events: HealthCheckServerEvent[] = [];
  const srv = new HealthCheckServer({ retryMs: 50, onEvent: (e) => events.push(e) });
  t.teardown(() => srv.close());
  t.doesNotThrow(() => srv.update([{ service: 'default/web', nodePort: port, localEndpoints: 1 }], [host, '192.0.2.77']));
  t.ok(await until(() => srv.status().every((s) => s.error !== null), 2000), 'both listeners report an error');
  const st = srv.status();
  t.match(st.find((s) => s.address === host), { listening: false, error: /EADDRINUSE/ });
  t.match(st.find((s) => s.address === '192.0.2.77'), { listening: false, error: /EADDRNOTAVAIL/ }, 'an address the node does not (yet) have');
  t.ok(events.some((e) => e.event === 'healthcheck-listen-failed' && e.address === host));
  await new Promise<void>((r) => blocker.close(() => r()));
  t.ok(await until(() => srv.status().find((s) => s.address === host)?.listening === true, 3000), 'retried and listening once the port is free');
  t.ok(events.some((e) => e.event === 'healthcheck-listening' && e.address === host), 'recovery reported');
  t.match(await get(host, port), { status: 200 });
  // Removing the service also stops the retries of the failing address.
  srv.update([], [host, '192.0.2.77']);
  t.same(srv.status(), []);
});

t.test('addresses: node IPs inside nodePortAddresses (default: the primary IPs)', async (t) => {
  const base = {
    apiVersion: 'tapflow.dev/v1alpha1', kind: 'NodeConfig', metadata: { name: 'n' },
    spec: { nodeIPs: ['10.0.0.4', '10.0.1.4', 'fd00::4'], podCIDRs: ['10.244.0.0/24'], ports: [{ name: 'uplink', tap: 'tfu', role: 'uplink' }] },
  };
  t.same(healthCheckAddresses(validateNodeConfig(base).spec), ['10.0.0.4', 'fd00::4']);
  t.same(healthCheckAddresses(validateNodeConfig({ ...base, spec: { ...base.spec, nodePortAddresses: ['10.0.1.0/24'] } }).spec), ['10.0.1.4']);
  t.same(healthCheckAddresses(validateNodeConfig({ ...base, spec: { ...base.spec, nodePortAddresses: [] } }).spec), ['10.0.0.4', '10.0.1.4', 'fd00::4']);
});
