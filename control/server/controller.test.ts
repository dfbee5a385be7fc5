/**
 * The Control service over gRPC on a temp unix socket: atomic Apply (one bad object → nothing
 * applied, the error names source, document and field path, in the message and in metadata;
 * version unchanged), get/list/delete, optimistic locking, Watch, restart from the store,
 * message size limit, the listen policy and bearer-token auth, server reflection.
 */
import t from 'tap';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ControlServer } from './controller';
import { ControlClient } from './control-client';
import { MD_ERROR_CODE, MD_FIELD_PATH, PWatchEvent, RemoteError } from './proto';
import { serviceObj, sliceObj, startTestServer, tempDir, waitFor, wire } from './test-support';

async function rejected(p: Promise<unknown>): Promise<RemoteError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RemoteError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

t.test('atomic Apply: one bad object, nothing applied', async (t) => {
  const s = await startTestServer();
  t.teardown(s.stop);
  const c = new ControlClient({ address: s.address });
  t.teardown(() => c.close());

  const ok = await c.apply({ upserts: [wire(serviceObj('web', 80, 'default', 1)), wire(sliceObj('web-1', 'web', 3))] });
  t.equal(ok.version, 1);
  t.same(ok.results.map((r) => `${r.key} ${r.action}`), ['Service/default/web created', 'EndpointSlice/default/web-1 created']);

  const bad = serviceObj('api', 80, 'default', 2) as { spec: { ports: { port: number }[] } };
  bad.spec.ports[0].port = 70000;
  const err = await rejected(c.apply({
    upserts: [
      wire(serviceObj('web', 8080, 'default', 1), 'web.yaml', 0), // would be "configured"
      wire(serviceObj('db', 5432, 'default', 3), 'all.yaml', 0),
      wire(bad as unknown as Record<string, unknown>, 'all.yaml', 1),
    ],
  }));
  t.equal(err.grpcCode, grpc.status.INVALID_ARGUMENT);
  t.equal(err.code, 'VALIDATION_FAILED');
  t.equal(err.path, 'spec.ports[0].port', 'tapflow-field-path metadata');
  t.match(err.message, /all\.yaml doc 1 \(Service\/default\/api\): spec\.ports\[0\]\.port.*out of range/);
  t.equal(err.issues.length, 1);
  t.match(err.issues[0], { source: 'all.yaml', doc: 1, key: 'Service/default/api', path: 'spec.ports[0].port', code: 'INVALID_FIELD' });

  const st = await c.stats();
  t.equal(st.version, 1, 'version unchanged');
  t.equal(st.objects, 2);
  t.equal((await c.list('svc')).objects.length, 1, 'db was not applied');
  const web = await c.get('Service', 'web', 'default');
  t.match(JSON.parse(web.object!.text), { spec: { ports: [{ port: 80 }] } }, 'web was not changed');

  // Several problems in several objects: every one reported.
  const err2 = await rejected(c.apply({
    upserts: [
      { ...wire(serviceObj('x', 80, 'default', 9)), text: 'kind: Service\napiVersion: v1\nmetadata: {name: x}\nspec: {ports: [{port: 0}], type: Nope}' },
      { kind: 'Service', name: 'y', namespace: 'default', text: '{not json', source: 'y.json' },
      wire(serviceObj('web', 81, 'default', 1)),
      wire(serviceObj('web', 82, 'default', 1)),
    ],
  }));
  t.ok(err2.issues.length >= 4, err2.message);
  t.ok(err2.issues.some((i) => i.source === 'y.json' && i.code === 'PARSE_ERROR'), 'parse error of y.json');
  t.ok(err2.issues.some((i) => i.code === 'DUPLICATE_VALUE' && /twice/.test(i.message)), 'duplicate in one batch');
  t.equal((await c.stats()).version, 1);

  // The request's identifying fields must agree with the text.
  const err3 = await rejected(c.apply({ upserts: [{ ...wire(serviceObj('z', 80, 'default', 4)), name: 'other' }] }));
  t.match(err3.issues[0], { path: 'metadata.name' });
});

t.test('unchanged objects do not bump the version; dry run; deletes; expected version', async (t) => {
  const s = await startTestServer();
  t.teardown(s.stop);
  const c = new ControlClient({ address: s.address });
  t.teardown(() => c.close());
  await c.apply({ upserts: [wire(serviceObj('a', 80, 'default', 1)), wire(serviceObj('b', 80, 'kube-system', 2))] });
  const same = await c.apply({ upserts: [wire(serviceObj('a', 80, 'default', 1))] });
  t.equal(same.version, 1);
  t.same(same.results.map((r) => r.action), ['unchanged']);

  const dry = await c.apply({ upserts: [wire(serviceObj('a', 81, 'default', 1))], dryRun: true });
  t.same(dry.results.map((r) => r.action), ['configured']);
  t.equal(dry.version, 1);
  t.equal((await c.stats()).version, 1);

  t.same((await c.list('services', 'kube-system')).objects.map((o) => o.name), ['b']);
  t.same((await c.list('', '')).objects.map((o) => o.name), ['a', 'b']);

  const nf = await rejected(c.delete([{ kind: 'svc', namespace: '', name: 'a' }, { kind: 'svc', namespace: '', name: 'absent' }]));
  t.equal(nf.grpcCode, grpc.status.NOT_FOUND);
  t.equal(nf.code, 'NOT_FOUND');
  t.equal((await c.list('svc', 'default')).objects.length, 1, 'nothing deleted');
  const del = await c.delete([{ kind: 'svc', namespace: '', name: 'a' }, { kind: 'svc', namespace: '', name: 'absent' }], true);
  t.equal(del.version, 2);
  t.same(del.results, [{ key: 'Service/default/a', action: 'deleted' }]);

  const conflict = await rejected(c.apply({ upserts: [wire(serviceObj('c', 80, 'default', 3))], expectedVersion: 1 }));
  t.equal(conflict.grpcCode, grpc.status.ABORTED);
  t.equal(conflict.code, 'CONFLICT');
  t.equal((await c.apply({ upserts: [wire(serviceObj('c', 80, 'default', 3))], expectedVersion: 2 })).version, 3);

  const gnf = await rejected(c.get('svc', 'a'));
  t.equal(gnf.grpcCode, grpc.status.NOT_FOUND);
  t.match(gnf.message, /Service "a" not found in namespace "default"/);
});

t.test('Watch: initial list, SYNCED, then changes', async (t) => {
  const s = await startTestServer();
  t.teardown(s.stop);
  const c = new ControlClient({ address: s.address });
  t.teardown(() => c.close());
  await c.apply({ upserts: [wire(serviceObj('a', 80, 'default', 1)), wire(sliceObj('a-1', 'a', 2))] });
  const events: PWatchEvent[] = [];
  const w = c.watch({ kinds: ['svc'] }, (e) => events.push(e));
  await waitFor(() => events.some((e) => e.type === 'SYNCED'));
  t.same(events.map((e) => `${e.type} ${e.object?.name ?? ''}`), ['ADDED a', 'SYNCED ']);
  await c.apply({ upserts: [wire(serviceObj('b', 80, 'default', 2)), wire(serviceObj('a', 81, 'default', 1)), wire(sliceObj('a-1', 'a', 3))] });
  await c.delete([{ kind: 'Service', namespace: 'default', name: 'b' }]);
  await waitFor(() => events.length >= 5);
  t.same(events.slice(2).map((e) => `${e.type} ${e.object?.name} v${e.version}`), ['ADDED b v2', 'MODIFIED a v2', 'DELETED b v3']);
  w.call.cancel();
  await w.done;

  // since_version: only what changed after it
  const ev2: PWatchEvent[] = [];
  const w2 = c.watch({ sinceVersion: 2 }, (e) => ev2.push(e));
  await waitFor(() => ev2.length >= 1);
  t.same(ev2.map((e) => `${e.type} ${e.object?.name}`), ['DELETED b']);
  w2.call.cancel();
  await w2.done;
});

t.test('the state survives a restart; message size limit', async (t) => {
  const dir = tempDir();
  const listen = `unix:${path.join(dir, 'c.sock')}`;
  let server = await ControlServer.start({ listen, dataDir: path.join(dir, 'data'), maxMessageBytes: 64 * 1024 });
  let c = new ControlClient({ address: server.address });
  await c.apply({ upserts: [wire(serviceObj('a', 80, 'default', 1))] });
  await c.apply({ upserts: [wire(sliceObj('a-1', 'a', 10))] });
  const big = await rejected(c.apply({ upserts: [wire(sliceObj('huge', 'a', 1000))] }));
  t.equal(big.grpcCode, grpc.status.RESOURCE_EXHAUSTED, big.message);
  c.close();
  await server.stop();

  server = await ControlServer.start({ listen, dataDir: path.join(dir, 'data') });
  t.teardown(() => server.stop());
  c = new ControlClient({ address: server.address });
  t.teardown(() => c.close());
  const st = await c.stats();
  t.equal(st.version, 2);
  t.equal(st.objects, 2);
  t.same(server.controller.desired().list().map((m) => m.key), ['EndpointSlice/default/a-1', 'Service/default/a'], 'validated state rebuilt');
});

t.test('listen policy and bearer token', async (t) => {
  const dir = tempDir();
  await t.rejects(ControlServer.start({ listen: '0.0.0.0:0', dataDir: path.join(dir, 'd1') }), /refusing to listen on 0\.0\.0\.0:0 without authentication/);
  await t.rejects(ControlServer.start({ listen: '[::]:0', dataDir: path.join(dir, 'd1') }), /without authentication/);

  const server = await ControlServer.start({ listen: '0.0.0.0:0', dataDir: path.join(dir, 'd2'), token: 's3cret-token' });
  t.teardown(() => server.stop());
  const port = server.address.split(':').pop();
  const anon = new ControlClient({ address: `127.0.0.1:${port}` });
  const wrong = new ControlClient({ address: `127.0.0.1:${port}`, token: 'wrong' });
  const good = new ControlClient({ address: `127.0.0.1:${port}`, token: 's3cret-token' });
  t.teardown(() => { anon.close(); wrong.close(); good.close(); });
  const e1 = await rejected(anon.stats());
  t.equal(e1.grpcCode, grpc.status.UNAUTHENTICATED);
  t.match(e1.message, /missing "authorization: Bearer/);
  const e2 = await rejected(wrong.apply({ upserts: [wire(serviceObj('a'))] }));
  t.equal(e2.grpcCode, grpc.status.UNAUTHENTICATED);
  t.equal(e2.code, 'UNAUTHENTICATED');
  t.equal((await good.apply({ upserts: [wire(serviceObj('a'))] })).version, 1);
  t.equal(server.controller.version, 1, 'only the authenticated apply landed');

  // Loopback without a token is fine.
  const local = await ControlServer.start({ listen: '127.0.0.1:0', dataDir: path.join(dir, 'd3') });
  t.teardown(() => local.stop());
  const lc = new ControlClient({ address: local.address });
  t.teardown(() => lc.close());
  t.equal((await lc.stats()).version, 0);
});

t.test('error metadata on the wire', async (t) => {
  const s = await startTestServer();
  t.teardown(s.stop);
  // A raw grpc-js call, to see the trailing metadata as any client (grpcurl) would.
  const { Control } = (await import('./proto')).services();
  const raw = new Control(s.address, grpc.credentials.createInsecure());
  t.teardown(() => raw.close());
  const bad = { ...serviceObj('a'), spec: { ports: [{ port: 'http' }] } };
  const err = await new Promise<grpc.ServiceError>((resolve) => {
    (raw as unknown as { Apply: (req: unknown, cb: (e: grpc.ServiceError) => void) => void }).Apply({ upserts: [wire(bad)] }, resolve);
  });
  t.equal(err.code, grpc.status.INVALID_ARGUMENT);
  t.equal(err.metadata.get(MD_ERROR_CODE)[0], 'VALIDATION_FAILED');
  t.equal(err.metadata.get(MD_FIELD_PATH)[0], 'spec.ports[0].port');
  t.match(err.details, /spec\.ports\[0\]\.port/);
});

t.test('server reflection lists the services and describes them', async (t) => {
  const s = await startTestServer();
  t.teardown(s.stop);
  const reflProto = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto', 'grpc', 'reflection', 'v1alpha', 'reflection.proto');
  const def = protoLoader.loadSync(reflProto, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { grpc: { reflection: { v1alpha: { ServerReflection: new (a: string, c: grpc.ChannelCredentials) => grpc.Client } } } };
  const client = new pkg.grpc.reflection.v1alpha.ServerReflection(s.address, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const ask = (req: Record<string, unknown>): Promise<Record<string, unknown>> => new Promise((resolve, reject) => {
    const call = (client as unknown as { ServerReflectionInfo: () => grpc.ClientDuplexStream<unknown, Record<string, unknown>> }).ServerReflectionInfo();
    call.on('data', (d) => { resolve(d); call.end(); });
    call.on('error', reject);
    call.write(req);
  });
  const list = await ask({ list_services: '' });
  const names = ((list.list_services_response as { service: { name: string }[] }).service).map((x) => x.name);
  t.ok(names.includes('tapflow.v1.Control'), names.join(', '));
  t.ok(names.includes('tapflow.v1.AgentSync'));
  const file = await ask({ file_containing_symbol: 'tapflow.v1.Control' });
  const fds = (file.file_descriptor_response as { file_descriptor_proto: Buffer[] }).file_descriptor_proto;
  t.ok(fds.length >= 1);
  t.ok(fds.some((b) => Buffer.from(b).toString('latin1').includes('ApplyRequest')), 'descriptor has ApplyRequest');
});

t.test('request fields: empty or unknown kinds and names, JSON arguments, each INVALID_ARGUMENT with its code and path', async (t) => {
  const s = await startTestServer();
  t.teardown(s.stop);
  const c = new ControlClient({ address: s.address });
  t.teardown(() => c.close());
  const v = (await c.apply({ upserts: [wire(serviceObj('web', 80, 'default', 1))] })).version;
  const expect = async (what: string, p: Promise<unknown>, code: string, fieldPath: string, source?: string) => {
    const e = await rejected(p);
    t.equal(e.grpcCode, grpc.status.INVALID_ARGUMENT, `${what}: INVALID_ARGUMENT (${e.message.slice(0, 100)})`);
    t.equal(e.code, code, `${what}: ${code}`);
    t.equal(e.path, fieldPath, `${what}: tapflow-field-path ${fieldPath}`);
    t.match(e.message, fieldPath, `${what}: the message names ${fieldPath}`);
    if (source !== undefined) t.match(e.issues[0], { source, path: fieldPath, code }, `${what}: the issue names ${source}`);
    return e;
  };
  await expect('Get, empty kind', c.get('', 'web'), 'MISSING_FIELD', 'kind');
  await expect('Get, empty name', c.get('svc', ''), 'MISSING_FIELD', 'name');
  await expect('Get, unknown kind', c.get('Deployment', 'web'), 'UNSUPPORTED_KIND', 'kind');
  await expect('Delete, empty kind', c.delete([{ kind: '', namespace: 'default', name: 'web' }]), 'MISSING_FIELD', 'kind', 'refs[0]');
  await expect('Delete, second ref without a name', c.delete([{ kind: 'svc', namespace: '', name: 'web' }, { kind: 'svc', namespace: '', name: '' }]), 'MISSING_FIELD', 'name', 'refs[1]');
  await expect('Delete, unknown kind', c.delete([{ kind: 'Deployment', namespace: '', name: 'web' }], true), 'UNSUPPORTED_KIND', 'kind', 'refs[0]');
  await expect('Delete, no refs', c.delete([]), 'MISSING_FIELD', 'refs');
  await expect('List, unknown kind', c.list('Deployment'), 'UNSUPPORTED_KIND', 'kind');
  await expect('Trace, packetJson not JSON', c.trace('node-a', '{"src":'), 'PARSE_ERROR', 'packetJson');
  await expect('Trace, packetJson a list', c.trace('node-a', '[1]'), 'INVALID_TYPE', 'packetJson');
  await expect('Flows, filterJson not JSON', c.flows('node-a', 0, '{not json'), 'PARSE_ERROR', 'filterJson');
  await expect('Flows, filterJson a string', c.flows('node-a', 0, '"tcp"'), 'INVALID_TYPE', 'filterJson');
  await expect('Flows, unknown proto', c.flows('node-a', 0, '{"proto":"tpc"}'), 'INVALID_FIELD', 'filterJson.proto');
  await expect('Flows, unknown filter field', c.flows('node-a', 0, '{"port":80}'), 'UNKNOWN_FIELD', 'filterJson.port');
  await expect('Flows, no node', c.flows('', 0, '{}'), 'MISSING_FIELD', 'node');
  // Apply entries: reported per entry, every one, as a batch.
  const batch = await expect('Apply, bad deletes and an empty text', c.apply({
    upserts: [{ kind: 'Service', name: 'x', namespace: 'default', text: '' }],
    deletes: [{ kind: '', namespace: '', name: 'web' }, { kind: 'Nope', namespace: '', name: 'web' }, { kind: 'svc', namespace: '', name: '' }],
  }), 'VALIDATION_FAILED', 'text');
  t.same(batch.issues.map((i) => `${i.source} ${i.path} ${i.code}`), ['upserts[0] text MISSING_FIELD', 'deletes[0] kind MISSING_FIELD', 'deletes[1] kind UNSUPPORTED_KIND', 'deletes[2] name MISSING_FIELD']);
  // A kind alias in the request that matches the text is fine.
  t.equal((await c.apply({ upserts: [{ ...wire(serviceObj('api', 80, 'default', 2)), kind: 'svc' }] })).version, v + 1, 'Apply with kind "svc" for a Service');
  const w = c.watch({ kinds: ['svc', ''] }, () => undefined);
  const we = await w.done.then(() => null, (e: unknown) => e) as RemoteError | null;
  t.equal(we?.grpcCode, grpc.status.INVALID_ARGUMENT, 'Watch with an empty kind: INVALID_ARGUMENT');
  t.equal(we?.code, 'MISSING_FIELD');
  t.equal(we?.path, 'kinds[1]');
  t.equal((await c.stats()).version, v + 1, 'nothing else changed');
});

t.test('Flows: the filter reaches the agent as {limit, proto, address}', async (t) => {
  const s = await startTestServer();
  t.teardown(s.stop);
  const c = new ControlClient({ address: s.address });
  t.teardown(() => c.close());
  const { AgentSyncClient } = await import('./agent-client');
  const dir = tempDir('tapflow-agent-');
  const asked: string[] = [];
  const a = new AgentSyncClient({
    address: s.address, node: 'node-a', stateDir: dir, fsync: false,
    onConfig: async () => undefined,
    onQuery: async (kind, json) => { asked.push(`${kind} ${json}`); return '{"flows":[]}'; },
  });
  a.start();
  t.teardown(() => a.stop());
  await waitFor(() => a.status().connected && s.server.controller.hub.statuses().some((x) => x.node === 'node-a' && x.connected));
  await c.flows('node-a', 5, JSON.stringify({ proto: 'TCP', address: '10.0.0.1' }));
  await c.flows('node-a', 0, JSON.stringify({ limit: 7 }));
  t.same(asked, ['flows {"limit":5,"proto":"tcp","address":"10.0.0.1"}', 'flows {"limit":7}']);
});
