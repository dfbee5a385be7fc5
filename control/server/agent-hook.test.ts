/**
 * attachController with a fake agent: the persisted configuration is applied at attach (before
 * any controller), pushes become agent.apply(nodeConfig, state), a throwing apply is a NACK
 * (the running config stays), `stats` queries are answered from agent.stats().
 */
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TapflowError } from '../model/errors';
import type { DesiredState } from '../model/manifests';
import type { NodeConfig } from '../model/node-config';
import { validateNodeConfig } from '../model/node-config';
import { attachController, ControlledAgent, NodeDesiredState } from './agent-hook';
import { attachControllerThreaded } from './agent-link-thread';
import { manifestOfText } from './model-adapter';
import { nodeConfigObj, serviceObj, startTestServer, tempDir, waitFor, wire } from './test-support';
import { ControlClient } from './control-client';

function fakeAgent(): ControlledAgent & { calls: { cfg: NodeConfig; services: string[] }[]; fail: boolean } {
  const a = {
    config: validateNodeConfig(nodeConfigObj('node-a')),
    calls: [] as { cfg: NodeConfig; services: string[] }[],
    fail: false,
    apply(cfg: NodeConfig, state: DesiredState | null) {
      if (a.fail) throw new TapflowError('the port set changed', { code: 'CONFLICT', path: 'spec.ports' });
      a.calls.push({ cfg, services: state ? state.list('Service').map((m) => m.name) : [] });
      a.config = cfg;
    },
    stats: () => ({ node: 'node-a', configVersion: 1, ports: [], totals: { received: 0, forwarded: 0, delivered: 0, dropped: 0, pending: 0, generated: 0, generatedDropped: 0, balanced: true }, neighbors: { entries: 0, refused: 0 } }),
  };
  return a;
}

t.test('attachController', async (t) => {
  const s = await startTestServer();
  t.teardown(s.stop);
  const c = new ControlClient({ address: s.address });
  t.teardown(() => c.close());
  const stateDir = tempDir('tapflow-hook-');
  t.teardown(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const nc = nodeConfigObj('node-a') as { spec: { nodeIPs: string[] } };
  nc.spec.nodeIPs = ['10.0.0.44'];
  await c.apply({ upserts: [wire(serviceObj('web', 80, 'default', 1)), wire(nc as unknown as Record<string, unknown>), wire(nodeConfigObj('node-b'))] });

  const a = fakeAgent();
  let link = await attachController(a, { address: s.address, stateDir, client: { backoff: { initialMs: 20, maxMs: 100 } } });
  t.equal(link.persistedVersion, 0);
  await waitFor(() => link.client.appliedVersion === 1);
  t.equal(a.calls.length, 1);
  t.equal(a.calls[0].cfg.spec.nodeIPs[0].text, '10.0.0.44', "the controller's NodeConfig for this node");
  t.same(a.calls[0].services, ['web']);
  const st = await c.stats('node-a');
  t.equal(JSON.parse(st.agentStatsJson).node, 'node-a');

  a.fail = true;
  await c.apply({ upserts: [wire(serviceObj('api', 80, 'default', 2))] });
  await s.server.controller.hub.waitForAcks(2);
  t.equal(link.client.appliedVersion, 1);
  t.match((await c.stats()).agents[0], { ackedVersion: 1, lastError: { code: 'CONFLICT', path: 'spec.ports' } });
  await link.stop();

  // Agent restart with the controller down: the persisted version 1 is applied at attach.
  await s.server.stop(100);
  const b = fakeAgent();
  link = await attachController(b, { address: s.address, stateDir, client: { backoff: { initialMs: 50, maxMs: 100 } } });
  t.equal(link.persistedVersion, 1);
  t.same(b.calls.map((x) => x.services), [['web']]);
  await link.stop();
  t.ok(fs.existsSync(path.join(stateDir, 'journal.log')));
});

function manifest(o: Record<string, unknown>): import('../model/manifests').Manifest {
  return manifestOfText(JSON.stringify(o), 'test');
}

t.test('NodeDesiredState: deltas change the one DesiredState in place; a rejected one is rolled back', async (t) => {
  const target = new NodeDesiredState('node-a');
  const seen: { nodeIP: string | null; services: string[]; state: DesiredState }[] = [];
  let fail = false;
  const apply = (nc: NodeConfig | null, state: DesiredState) => {
    if (fail) throw new TapflowError('compile failed', { code: 'INVALID_FIELD', path: 'spec.ports' });
    seen.push({ nodeIP: nc?.spec.nodeIPs[0].text ?? null, services: state.list('Service').map((m) => m.name), state });
  };
  target.replace([manifest(serviceObj('a', 80, 'default', 1)), manifest(nodeConfigObj('node-a')), manifest(nodeConfigObj('node-b'))], apply);
  t.same(seen[0].services, ['a']);
  t.equal(seen[0].nodeIP, '10.0.0.4', "this node's NodeConfig");
  t.equal(target.size, 2, "another node's NodeConfig is not kept");

  target.update([manifest(serviceObj('b', 80, 'default', 2)), manifest(serviceObj('a', 81, 'default', 1))], [], apply);
  t.same(seen[1].services, ['a', 'b']);
  t.equal(seen[1].state, seen[0].state, 'the same DesiredState, updated in place (no rebuild)');
  t.equal(seen[1].state.service('default', 'a')?.spec.ports[0].port, 81);

  fail = true;
  const nc2 = nodeConfigObj('node-a') as { spec: { nodeIPs: string[] } };
  nc2.spec.nodeIPs = ['10.0.0.9'];
  t.throws(() => target.update([manifest(serviceObj('c', 80, 'default', 3)), manifest(serviceObj('a', 82, 'default', 1)), manifest(nc2 as unknown as Record<string, unknown>)], ['Service/default/b'], apply), /compile failed/);
  const st = target.desired;
  t.same(st.list('Service').map((m) => m.name), ['a', 'b'], 'rejected: c not added, b not removed');
  t.equal(st.service('default', 'a')?.spec.ports[0].port, 81, 'rejected: a as it was');
  fail = false;
  target.update([], ['Service/default/b', 'NodeConfig//node-a'], apply);
  t.same(seen[2].services, ['a']);
  t.equal(seen[2].nodeIP, null, 'NodeConfig removed: the agent keeps its own');
});

t.test('threaded link: only the change crosses the thread; a rejected delta keeps the running state; a rejected persisted config resyncs in full', async (t) => {
  const s = await startTestServer();
  t.teardown(s.stop);
  const c = new ControlClient({ address: s.address });
  t.teardown(() => c.close());
  const stateDir = tempDir('tapflow-hook-');
  t.teardown(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  await c.apply({ upserts: [wire(serviceObj('web', 80, 'default', 1)), wire(nodeConfigObj('node-a'))] });
  const a = fakeAgent();
  const events: { event: string; fields: Record<string, unknown> }[] = [];
  const log = (event: string, fields: Record<string, unknown>) => events.push({ event, fields });
  const states: DesiredState[] = [];
  const apply = a.apply.bind(a);
  a.apply = (cfg, state) => { apply(cfg, state); if (state) states.push(state); };
  let link = await attachControllerThreaded(a, { address: s.address, node: 'node-a', stateDir, backoff: { initialMs: 20, maxMs: 100 }, log });
  t.teardown(() => link.stop());
  await waitFor(() => a.calls.length === 1, 10000, 'the snapshot');
  await c.apply({ upserts: [wire(serviceObj('api', 80, 'default', 2))] });
  await s.server.controller.hub.waitForAcks(2);
  t.same(a.calls.map((x) => x.services), [['web'], ['api', 'web']]);
  t.match(events.filter((e) => e.event === 'applied').map((e) => e.fields), [{ version: 1, type: 'SNAPSHOT', upserts: 2 }, { version: 2, type: 'DELTA', upserts: 1, removes: 0, objects: 3 }]);
  t.equal(states[1], states[0], 'the forwarding thread updated its DesiredState in place');

  a.fail = true;
  await c.apply({ upserts: [wire(serviceObj('db', 80, 'default', 3))], deletes: [{ kind: 'Service', namespace: 'default', name: 'web' }] });
  await s.server.controller.hub.waitForAcks(3);
  t.match((await c.stats()).agents[0], { ackedVersion: 2, lastError: { path: 'spec.ports' } }, 'NACKed');
  t.same(states[0].list('Service').map((m) => m.name), ['api', 'web'], 'the rejected delta was rolled back');
  a.fail = false;
  await c.apply({ upserts: [wire(serviceObj('cache', 80, 'default', 4))] });
  await s.server.controller.hub.waitForAcks(4);
  t.same(a.calls.at(-1)!.services, ['api', 'cache', 'db'], 'the next delta is from the ACKed version (db added, web gone)');
  await link.stop();

  // Restart with a forwarding side that rejects the persisted config: the next delta arrives as everything.
  const b = fakeAgent();
  b.fail = true;
  events.length = 0;
  link = await attachControllerThreaded(b, { address: s.address, node: 'node-a', stateDir, backoff: { initialMs: 20, maxMs: 100 }, log });
  t.equal(link.persistedVersion, 0, 'persisted config rejected');
  b.fail = false;
  await c.apply({ upserts: [wire(serviceObj('extra', 80, 'default', 5))] });
  await waitFor(() => b.calls.length === 1, 10000, 'the push after the restart');
  t.same(b.calls[0].services, ['api', 'cache', 'db', 'extra'], 'the whole configuration, not just the delta');
  t.match(events.find((e) => e.event === 'applied')?.fields, { version: 5, type: 'SNAPSHOT' });
});
