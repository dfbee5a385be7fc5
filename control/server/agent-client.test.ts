/**
 * The Sync protocol end to end (controller on a temp unix socket, AgentSyncClients in process):
 * snapshot, delta, ACK; NACK keeps the previous version and the next push is computed from the
 * ACKed one; only the node's own NodeConfig is sent; chunked snapshots; reconnect after a
 * controller restart resumes with a delta (no snapshot); a wiped store forces a snapshot; the
 * applied configuration persists (loadPersisted, even with no controller); relayed queries.
 */
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorCode, ValidationError } from '../model/errors';
import { AgentSyncClient, AgentSyncClientOptions, ConfigUpdate } from './agent-client';
import { ControlServer, ControlServerOptions } from './controller';
import { ControlClient } from './control-client';
import type { Manifest } from './model-adapter';
import { RemoteError } from './proto';
import { FileStore } from '../store/file-store';
import { nodeConfigObj, serviceObj, sliceObj, tempDir, waitFor, wire } from './test-support';

interface TapLike {
  teardown(fn: () => unknown): void;
}

interface Harness {
  dir: string;
  listen: string;
  server: ControlServer;
  cli: ControlClient;
  events: { event: string; fields: Record<string, unknown> }[];
  restart(opts?: Partial<ControlServerOptions>): Promise<void>;
  stop(): Promise<void>;
}

async function harness(t: TapLike, opts: Partial<ControlServerOptions> = {}): Promise<Harness> {
  const dir = tempDir();
  const listen = `unix:${path.join(dir, 'c.sock')}`;
  const events: Harness['events'] = [];
  const log = (event: string, fields: Record<string, unknown>) => events.push({ event, fields });
  const h: Harness = {
    dir, listen, events,
    server: await ControlServer.start({ listen, dataDir: path.join(dir, 'data'), log, ...opts }),
    cli: null as unknown as ControlClient,
    async restart(o = {}) {
      await h.server.stop(200);
      h.server = await ControlServer.start({ listen, dataDir: path.join(dir, 'data'), log, ...opts, ...o });
    },
    async stop() {
      h.cli.close();
      await h.server.stop(200);
    },
  };
  h.cli = new ControlClient({ address: h.server.address });
  t.teardown(async () => {
    await h.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return h;
}

interface Applied {
  version: number;
  keys: string[];
}

function agent(t: TapLike, h: Harness, node: string, o: Partial<AgentSyncClientOptions> = {}): { a: AgentSyncClient; applied: Applied[]; reject: { next: Error | null }; stateDir: string } {
  const applied: Applied[] = [];
  const reject = { next: null as Error | null };
  const stateDir = o.stateDir ?? tempDir('tapflow-agent-');
  const a = new AgentSyncClient({
    address: h.listen, node, stateDir, backoff: { initialMs: 20, maxMs: 200 },
    onConfig: async (u: ConfigUpdate) => {
      if (reject.next) throw reject.next;
      applied.push({ version: u.version, keys: u.manifests().map((m: Manifest) => m.key).sort() });
    },
    ...o,
  });
  t.teardown(() => a.stop());
  return { a, applied, reject, stateDir };
}

t.test('snapshot, delta, ACK; NACK keeps the running version', async (t) => {
  const h = await harness(t);
  await h.cli.apply({ upserts: [wire(serviceObj('web', 80, 'default', 1)), wire(nodeConfigObj('node-a')), wire(nodeConfigObj('node-b'))] });
  const A = agent(t, h, 'node-a');
  const B = agent(t, h, 'node-b');
  A.a.start();
  B.a.start();
  await waitFor(() => A.a.appliedVersion === 1 && B.a.appliedVersion === 1, 5000, 'first snapshot');
  t.same(A.applied, [{ version: 1, keys: ['NodeConfig//node-a', 'Service/default/web'] }], 'node-a gets its own NodeConfig only');
  t.same(B.applied[0].keys, ['NodeConfig//node-b', 'Service/default/web']);
  await h.server.controller.hub.waitForAcks(1);
  let st = await h.cli.stats();
  t.match(st.agents, [{ node: 'node-a', connected: true, ackedVersion: 1, sentVersion: 1, lastError: null }, { node: 'node-b', ackedVersion: 1 }]);
  t.equal(h.events.filter((e) => e.event === 'agent-push' && e.fields.node === 'node-a')[0].fields.type, 'SNAPSHOT');

  // A delta: one service added.
  await h.cli.apply({ upserts: [wire(serviceObj('api', 80, 'default', 2))] });
  await h.server.controller.hub.waitForAcks(2);
  t.same(A.applied[1], { version: 2, keys: ['NodeConfig//node-a', 'Service/default/api', 'Service/default/web'] });
  const push2 = h.events.filter((e) => e.event === 'agent-push' && e.fields.node === 'node-a')[1].fields;
  t.match(push2, { type: 'DELTA', version: 2, base: 1, upserts: 1, removes: 0 });

  // A changes only node-b's NodeConfig: node-a gets an empty delta (version advances, no onConfig call).
  await h.cli.apply({ upserts: [wire({ ...nodeConfigObj('node-b'), metadata: { name: 'node-b', labels: { x: 'y' } } })] });
  await h.server.controller.hub.waitForAcks(3);
  t.equal(A.a.appliedVersion, 3);
  t.equal(A.applied.length, 2, 'no reconfiguration for a change that does not concern node-a');
  t.equal(B.applied.length, 3);

  // node-a rejects version 4: it keeps running version 3; node-b takes it.
  A.reject.next = new ValidationError([{ path: 'spec.ports[0].port', code: ErrorCode.INVALID_FIELD, message: 'port 99 is taken on this node' }]);
  await h.cli.apply({ upserts: [wire(serviceObj('db', 5432, 'default', 3))] });
  await h.server.controller.hub.waitForAcks(4);
  t.equal(A.a.appliedVersion, 3, 'NACKed version did not replace the running one');
  t.same(A.a.manifests().map((m) => m.key).sort(), ['NodeConfig//node-a', 'Service/default/api', 'Service/default/web']);
  t.equal(B.a.appliedVersion, 4);
  st = await h.cli.stats();
  const ra = st.agents.find((x) => x.node === 'node-a')!;
  t.match(ra, { ackedVersion: 3, sentVersion: 4, nacks: 1, lastErrorVersion: 4 });
  t.equal(ra.lastError?.code, 'VALIDATION_FAILED');
  t.equal(ra.lastError?.path, 'spec.ports[0].port');
  t.match(ra.lastError?.issues[0], { path: 'spec.ports[0].port', message: /port 99 is taken/ });
  t.equal(A.a.status().lastError?.path, 'spec.ports[0].port');

  // No resend of the NACKed version; the next version is a delta from 3 (includes db).
  await new Promise((r) => setTimeout(r, 100));
  t.equal(h.events.filter((e) => e.event === 'agent-push' && e.fields.node === 'node-a').length, 4, 'version 4 was not pushed again');
  A.reject.next = null;
  await h.cli.delete([{ kind: 'svc', namespace: 'default', name: 'web' }]);
  await h.server.controller.hub.waitForAcks(5);
  t.same(A.applied.at(-1), { version: 5, keys: ['NodeConfig//node-a', 'Service/default/api', 'Service/default/db'] });
  const push5 = h.events.filter((e) => e.event === 'agent-push' && e.fields.node === 'node-a').at(-1)!.fields;
  t.match(push5, { type: 'DELTA', version: 5, base: 3, upserts: 1, removes: 1 });
  st = await h.cli.stats();
  t.match(st.agents.find((x) => x.node === 'node-a'), { ackedVersion: 5, lastError: null });
});

t.test('reconnect resumes with a delta; persisted config; wiped store → snapshot', async (t) => {
  const h = await harness(t);
  await h.cli.apply({ upserts: [wire(serviceObj('web', 80, 'default', 1)), wire(sliceObj('web-1', 'web', 4)), wire(nodeConfigObj('node-a'))] });
  const A = agent(t, h, 'node-a');
  A.a.start();
  await waitFor(() => A.a.appliedVersion === 1);
  const connects = () => h.events.filter((e) => e.event === 'agent-connected').length;

  // Controller restarts; a change lands while the agent is away.
  await h.restart();
  h.cli.close();
  h.cli = new ControlClient({ address: h.server.address });
  await h.cli.apply({ upserts: [wire(serviceObj('api', 80, 'default', 2))] });
  await waitFor(() => A.a.appliedVersion === 2, 5000, 'resume after restart');
  t.ok(connects() >= 2);
  const resumed = h.events.filter((e) => e.event === 'agent-connected').at(-1)!.fields;
  t.match(resumed, { node: 'node-a', lastApplied: 1, resume: true });
  const pushes = h.events.filter((e) => e.event === 'agent-push').map((e) => e.fields.type);
  t.same(pushes, ['SNAPSHOT', 'DELTA'], 'one snapshot at first, then only a delta');
  t.ok(A.a.status().reconnects >= 1);

  // The applied configuration is on disk: a new client (agent restart) has it without any controller.
  await A.a.stop();
  await h.server.stop(100);
  const again = new AgentSyncClient({ address: h.listen, node: 'node-a', stateDir: A.stateDir, onConfig: async () => undefined });
  const p = again.loadPersisted();
  t.equal(p?.version, 2);
  t.same(p?.manifests.map((m) => m.key).sort(), ['EndpointSlice/default/web-1', 'NodeConfig//node-a', 'Service/default/api', 'Service/default/web']);
  t.equal(p?.storeId, h.server.controller.store.storeId);
  await again.stop();

  // A fresh controller (new store id, version 1 < the agent's 2): the agent gets a snapshot.
  fs.rmSync(path.join(h.dir, 'data'), { recursive: true, force: true });
  h.server = await ControlServer.start({ listen: h.listen, dataDir: path.join(h.dir, 'data'), log: (event, fields) => h.events.push({ event, fields }) });
  h.cli.close();
  h.cli = new ControlClient({ address: h.server.address });
  await h.cli.apply({ upserts: [wire(serviceObj('only', 80, 'default', 7)), wire(nodeConfigObj('node-a'))] });
  const B = agent(t, h, 'node-a', { stateDir: A.stateDir });
  t.equal(B.a.appliedVersion, 2, 'starts from the persisted version');
  B.a.start();
  await waitFor(() => B.applied.length === 1);
  t.same(B.applied[0], { version: 1, keys: ['NodeConfig//node-a', 'Service/default/only'] }, 'snapshot replaced everything');
  t.equal(h.events.filter((e) => e.event === 'agent-push').at(-1)!.fields.type, 'SNAPSHOT');
});

t.test('large pushes are chunked; queries are relayed', async (t) => {
  const h = await harness(t, { hub: { chunkBytes: 16 * 1024 } });
  const upserts = [];
  for (let i = 0; i < 200; i++) upserts.push(wire(serviceObj(`s${i}`, 80, 'default', i + 1)));
  for (let i = 0; i < 20; i++) upserts.push(wire(sliceObj(`s${i}-1`, `s${i}`, 50, 'default', i * 50)));
  await h.cli.apply({ upserts });
  const A = agent(t, h, 'node-a', {
    onQuery: async (kind, json) => JSON.stringify({ kind, asked: JSON.parse(json) as unknown, node: 'node-a' }),
  });
  A.a.start();
  await waitFor(() => A.a.appliedVersion === 1);
  t.equal(A.applied[0].keys.length, 220);
  const push = h.events.find((e) => e.event === 'agent-push')!.fields;
  t.ok((push.chunks as number) > 3, `snapshot sent in ${String(push.chunks)} chunks`);

  const st = await h.cli.stats('node-a');
  t.same(JSON.parse(st.agentStatsJson), { kind: 'stats', asked: {}, node: 'node-a' });
  const tr = await h.cli.trace('node-a', '{"dst":"10.96.0.1"}');
  t.same(JSON.parse(tr.resultJson), { kind: 'trace', asked: { dst: '10.96.0.1' }, node: 'node-a' });
  try {
    await h.cli.flows('node-zz');
    t.fail('expected UNAVAILABLE');
  } catch (err) {
    t.equal((err as RemoteError).code, 'UNAVAILABLE');
    t.equal((err as RemoteError).grpcCode, 14);
  }
  // An agent without onQuery answers UNIMPLEMENTED.
  const B = agent(t, h, 'node-b');
  B.a.start();
  await waitFor(() => B.a.appliedVersion === 1);
  try {
    await h.cli.flows('node-b');
    t.fail('expected UNIMPLEMENTED');
  } catch (err) {
    t.equal((err as RemoteError).grpcCode, 12);
  }
});

t.test('a second stream for the same node replaces the first', async (t) => {
  const h = await harness(t);
  await h.cli.apply({ upserts: [wire(serviceObj('web', 80, 'default', 1))] });
  const A1 = agent(t, h, 'node-a');
  A1.a.start();
  await waitFor(() => A1.a.appliedVersion === 1);
  const A2 = agent(t, h, 'node-a');
  A2.a.start();
  await waitFor(() => A2.a.appliedVersion === 1);
  const st = await h.cli.stats();
  t.equal(st.agents.length, 1);
  t.equal(st.agents[0].connected, true);
  await A1.a.stop();
  await A2.a.stop();
  await waitFor(() => h.server.controller.hub.statuses()[0].connected === false, 3000, 'disconnect recorded');
  t.equal(h.server.controller.hub.statuses()[0].ackedVersion, 1, 'the record outlives the stream');
});

t.test('a delta reaches onConfig as the change only; the state dir follows it; older state dirs still load', async (t) => {
  const h = await harness(t);
  await h.cli.apply({ upserts: [wire(serviceObj('a', 80, 'default', 1)), wire(serviceObj('b', 80, 'default', 2)), wire(serviceObj('c', 80, 'default', 3))] });
  const updates: { type: string; upserts: string[]; removes: string[]; all: string[] }[] = [];
  let reject: Error | null = null;
  const A = agent(t, h, 'node-a', {
    onConfig: async (u: ConfigUpdate) => {
      if (reject) throw reject;
      updates.push({ type: u.type, upserts: u.upserts.map((m) => m.key).sort(), removes: u.removes, all: u.manifests().map((m) => m.key).sort() });
    },
  });
  A.a.start();
  await waitFor(() => A.a.appliedVersion === 1);
  await h.cli.apply({ upserts: [wire(serviceObj('b', 81, 'default', 2))], deletes: [{ kind: 'Service', namespace: 'default', name: 'c' }] });
  await h.server.controller.hub.waitForAcks(2);
  t.same(updates, [
    { type: 'SNAPSHOT', upserts: ['Service/default/a', 'Service/default/b', 'Service/default/c'], removes: [], all: ['Service/default/a', 'Service/default/b', 'Service/default/c'] },
    { type: 'DELTA', upserts: ['Service/default/b'], removes: ['Service/default/c'], all: ['Service/default/a', 'Service/default/b'] },
  ]);
  reject = new ValidationError([{ path: 'spec.ports[0].port', code: ErrorCode.INVALID_FIELD, message: 'no' }]);
  await h.cli.apply({ upserts: [wire(serviceObj('d', 80, 'default', 4))], deletes: [{ kind: 'Service', namespace: 'default', name: 'a' }] });
  await h.server.controller.hub.waitForAcks(3);
  t.equal(A.a.appliedVersion, 2, 'NACKed');
  t.same(A.a.manifests().map((m) => m.key).sort(), ['Service/default/a', 'Service/default/b'], 'the running map is untouched by the rejected delta');
  const b81 = A.a.manifests().find((m) => m.name === 'b')!.object as { spec: { ports: { port: number }[] } };
  t.equal(b81.spec.ports[0].port, 81);
  await A.a.stop();

  // What is on disk is exactly the running configuration.
  const again = new AgentSyncClient({ address: h.listen, node: 'node-a', stateDir: A.stateDir, onConfig: async () => undefined });
  const p = again.loadPersisted();
  t.equal(p?.version, 2);
  t.same(p?.manifests.map((m) => m.key).sort(), ['Service/default/a', 'Service/default/b']);
  t.equal((p?.manifests.find((m) => m.name === 'b')?.object as typeof b81).spec.ports[0].port, 81);
  await again.stop();

  // A state dir written by an older agent (objects as parsed JSON, not text) loads the same.
  const old = tempDir('tapflow-agent-old-');
  t.teardown(() => fs.rmSync(old, { recursive: true, force: true }));
  const fsStore = FileStore.open(old, { fsync: false });
  fsStore.commit([
    { key: 'Service/default/a', kind: 'Service', apiVersion: 'v1', namespace: 'default', name: 'a', raw: serviceObj('a', 80, 'default', 1) },
    { key: '_tapflow/agent/applied', kind: '_tapflow', apiVersion: '', namespace: 'agent', name: 'applied', raw: { version: 7, storeId: 'x', node: 'node-a' } },
  ], []);
  fsStore.close();
  const legacy = new AgentSyncClient({ address: h.listen, node: 'node-a', stateDir: old, onConfig: async () => undefined });
  t.same(legacy.loadPersisted()?.manifests.map((m) => m.key), ['Service/default/a'], 'legacy state dir');
  t.equal(legacy.appliedVersion, 7);
  await legacy.stop();
});
