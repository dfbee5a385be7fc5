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
import { attachController, ControlledAgent } from './agent-hook';
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
