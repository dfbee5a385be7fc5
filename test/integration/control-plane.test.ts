/**
 * Controller + 2 real agents in network namespaces (scripts/testbed.ts, 2 nodes × 2 pods):
 * agents started with `tapflow run --controller unix:SOCK` connect and ACK; a Service +
 * EndpointSlice applied to the controller becomes reachable through its ClusterIP from a pod
 * on either node; deleting it makes it unreachable; a NodeConfig that changes a node's port set
 * is NACKed (field path recorded, traffic keeps flowing on the running generation); a
 * controller restart is resumed with a delta.
 *
 * Needs root + the agent's `--controller` flag (control/cli/run.ts): skipped otherwise.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ControlServer } from '../../control/server/controller';
import { ControlClient } from '../../control/server/control-client';
import { tempDir, waitFor as waitUntil } from '../../control/server/test-support';
import { findRepoRoot } from '../../scripts/testbed';
import { curlJson, skipReason, testbedFor } from './helpers';

function agentTakesController(): boolean {
  try {
    const root = findRepoRoot(__dirname);
    const help = execFileSync(process.execPath, [path.join(root, 'bin', 'tapflow'), 'run', '--help'], { encoding: 'utf8', timeout: 10000 });
    return help.includes('--controller');
  } catch {
    return false;
  }
}

const skip = skipReason() || (agentTakesController() ? false : 'the agent has no --controller flag yet (tapflow run)');

t.test('controller drives two agents', { skip }, async (t) => {
  const dir = tempDir('tapflow-cp-it-');
  const sock = path.join(dir, 'control.sock');
  let server = await ControlServer.start({ listen: `unix:${sock}`, dataDir: path.join(dir, 'data') });
  t.teardown(async () => {
    await server.stop(200);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const cli = new ControlClient({ address: server.address });
  t.teardown(() => cli.close());

  // Each agent keeps its applied configuration in its own state dir (run.ts: per node, next to
  // its admin socket by default), so no --state-dir here: both agents get the same arguments.
  const tb = await testbedFor(t, { nodes: 2, pods: 2, agentArgs: ['--controller', `unix:${sock}`] });
  const nodes = tb.nodes.map((n) => n.name);
  await tb.startHttpServers(8080);
  await waitUntil(() => server.controller.hub.statuses().filter((a) => a.connected).length === 2, 20000, 'both agents connected');
  t.same(server.controller.hub.statuses().map((a) => a.node).sort(), [...nodes].sort());

  // A Service whose endpoints are one pod on each node.
  const pods = tb.nodes.map((n) => n.pods[0]);
  const svc = {
    apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' },
    spec: { clusterIP: '10.96.100.10', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  };
  const slice = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    endpoints: pods.map((p, i) => ({ addresses: [p.ipv4], conditions: { ready: true }, nodeName: nodes[i] })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
  const r = await cli.apply({ upserts: [svc, slice].map((o) => ({ kind: o.kind, name: o.metadata.name, namespace: 'default', text: JSON.stringify(o) })) });
  await server.controller.hub.waitForAcks(r.version, nodes);
  for (const a of server.controller.hub.statuses()) t.equal(a.ackedVersion, r.version, `${a.node} runs version ${r.version}`);

  // Reachable through the ClusterIP from a pod on each node.
  for (const n of tb.nodes) {
    const reply = await curlJson(tb, n.pods[1].ns, '10.96.100.10', 80);
    t.ok(pods.some((p) => p.ipv4 === reply.local), `${n.name}: the VIP answered from a backend (${JSON.stringify(reply)})`);
  }

  // A NodeConfig for node 1 with another port set: NACKed, recorded with its field path; the
  // node keeps forwarding on its running generation.
  const nc = JSON.parse(fs.readFileSync(tb.nodes[0].configPath!, 'utf8')) as Record<string, unknown>;
  {
    const spec = nc.spec as { ports: unknown[] };
    spec.ports = spec.ports.slice(0, -1);
    const bad = await cli.apply({ upserts: [{ kind: 'NodeConfig', name: nodes[0], namespace: '', text: JSON.stringify(nc) }] });
    await server.controller.hub.waitForAcks(bad.version, nodes);
    const a0 = server.controller.hub.record(nodes[0])!;
    t.equal(a0.ackedVersion, r.version, 'node 1 kept its version');
    t.equal(a0.lastError?.path, 'spec.ports');
    t.equal(server.controller.hub.record(nodes[1])!.ackedVersion, bad.version, 'node 2 took it (not its NodeConfig)');
    const still = await curlJson(tb, tb.nodes[0].pods[1].ns, '10.96.100.10', 80);
    t.ok(pods.some((p) => p.ipv4 === still.local), 'node 1 still serves the VIP');
    await cli.delete([{ kind: 'NodeConfig', namespace: '', name: nodes[0] }]);
  }

  // Controller restart: agents reconnect and resume from their version (a delta, no snapshot).
  await server.stop(200);
  server = await ControlServer.start({ listen: `unix:${sock}`, dataDir: path.join(dir, 'data') });
  const cli2 = new ControlClient({ address: server.address });
  t.teardown(() => cli2.close());
  await waitUntil(() => server.controller.hub.statuses().filter((a) => a.connected).length === 2, 20000, 'agents reconnected');
  await cli2.delete([{ kind: 'Service', namespace: 'default', name: 'web' }]);
  await server.controller.hub.waitForAcks(server.controller.version, nodes);
  const gone = await tb.exec(tb.nodes[1].pods[1].ns, ['curl', '-s', '-m', '2', 'http://10.96.100.10/'], { timeoutMs: 5000 });
  t.not(gone.code, 0, 'the VIP is gone after delete');
});
