/**
 * Control-plane benchmark (in process, real gRPC on a unix socket, fsync'd store):
 *
 *   1. apply → ACK latency of one change: 200 Applies of one Service each, timed from the
 *      Apply call until both agents ACKed that version (p50/p99), on an empty state;
 *   2. full push: 10k Services + 10k EndpointSlices (100k endpoints) applied in batches (the time
 *      of the client's calls, and of the controller's Apply itself: parse, validate, journal
 *      write + fsync, state update — without gRPC and protobuf), then two
 *      agents connect with nothing and get the whole state as a chunked snapshot — time each
 *      until it ACKed (parse + validate every object + onConfig + persist);
 *   3. (1) again with the big state in place (deltas against 20k objects).
 *
 * The agents' onConfig keeps the DesiredState the way the real agent's forwarding side does
 * (NodeDesiredState: built by a snapshot, updated in place by a delta). With --compile it also
 * compiles it (NodeCompiler: services, Maglev, filters, routes — what agent.apply does before
 * the swap), so the numbers are apply → compiled → ACK (both agents compile in this one
 * thread, one after the other); (3) then also reports the compile time per agent alone.
 *
 *   node dist/scripts/bench-control.js [--changes 200] [--services 10000] [--endpoints-per-service 10] [--no-fsync] [--compile]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { AgentSyncClient, ConfigUpdate } from '../control/server/agent-client';
import { NodeDesiredState, applyUpdate } from '../control/server/agent-hook';
import { NodeCompiler } from '../control/compile/node-compiler';
import { ControlServer } from '../control/server/controller';
import { ControlClient } from '../control/server/control-client';
import { nodeConfigObj, serviceObj, sliceObj, tempDir, wire } from '../control/server/test-support';

const { values } = parseArgs({
  options: {
    changes: { type: 'string', default: '200' },
    services: { type: 'string', default: '10000' },
    'endpoints-per-service': { type: 'string', default: '10' },
    'no-fsync': { type: 'boolean', default: false },
    compile: { type: 'boolean', default: false },
    'timeout-s': { type: 'string', default: '600' },
  },
});
const CHANGES = Number(values.changes);
const SERVICES = Number(values.services);
const EPS = Number(values['endpoints-per-service']);
const FSYNC = !values['no-fsync'];
const COMPILE = values.compile === true;

const guard = setTimeout(() => {
  process.stderr.write(`bench-control: timed out after ${values['timeout-s']} s\n`);
  process.exit(1);
}, Number(values['timeout-s']) * 1000);
guard.unref();

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function ms(ns: bigint): number {
  return Number(ns) / 1e6;
}

interface BenchAgent {
  client: AgentSyncClient;
  applied: Promise<void>;
  appliedAt: (version: number) => Promise<number>;
  dir: string;
}

/** NodeCompiler.compile durations (ms) of every agent while `collectCompiles` is set (--compile). */
const compileTimes: number[] = [];
let collectCompiles = false;

function startAgent(address: string, node: string, buildState: boolean): BenchAgent {
  const dir = tempDir('tapflow-bench-agent-');
  const waiters: { version: number; resolve: (t: number) => void }[] = [];
  const target = new NodeDesiredState(node);
  const compiler = COMPILE ? new NodeCompiler() : null;
  const client = new AgentSyncClient({
    address, node, stateDir: dir, fsync: FSYNC,
    // What the agent's forwarding side does with a push before compiling it: the SNAPSHOT
    // builds the DesiredState, a DELTA updates it in place (NodeDesiredState, agent-hook.ts).
    onConfig: async (u: ConfigUpdate) => {
      if (!buildState) return;
      applyUpdate(target, u, true, (nc, state) => {
        if (compiler === null || nc === null) return;
        const r = compiler.compile(nc, state, u.version);
        if (collectCompiles) compileTimes.push(r.compileMs);
      });
    },
  });
  client.on('applied', (version: number) => {
    const now = performance.now();
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (version >= waiters[i].version) {
        waiters[i].resolve(now);
        waiters.splice(i, 1);
      }
    }
  });
  client.start();
  return {
    client, dir, applied: Promise.resolve(),
    appliedAt: (version) => new Promise((resolve) => {
      if (client.appliedVersion >= version) resolve(performance.now());
      else waiters.push({ version, resolve });
    }),
  };
}

async function latency(cli: ControlClient, server: ControlServer, label: string, offset: number): Promise<{ p50: number; p99: number; max: number }> {
  const xs: number[] = [];
  for (let i = 0; i < CHANGES; i++) {
    const t0 = process.hrtime.bigint();
    const r = await cli.apply({ upserts: [wire(serviceObj('bench-change', 1 + ((i + offset) % 60000), 'default', 65000))] });
    await server.controller.hub.waitForAcks(r.version);
    xs.push(ms(process.hrtime.bigint() - t0));
  }
  const res = { p50: pct(xs, 50), p99: pct(xs, 99), max: Math.max(...xs) };
  process.stdout.write(`${label}: apply → ACK by 2 agents, ${CHANGES} changes: p50 ${res.p50.toFixed(2)} ms, p99 ${res.p99.toFixed(2)} ms, max ${res.max.toFixed(2)} ms\n`);
  return res;
}

async function main(): Promise<void> {
  const dir = tempDir('tapflow-bench-');
  const server = await ControlServer.start({ listen: `unix:${path.join(dir, 'c.sock')}`, dataDir: path.join(dir, 'data'), store: { fsync: FSYNC } });
  const cli = new ControlClient({ address: server.address, timeoutMs: 300000 });
  const results: Record<string, unknown> = { fsync: FSYNC, compile: COMPILE, node: process.version };
  try {
    await cli.apply({ upserts: [wire(nodeConfigObj('node-a')), wire(nodeConfigObj('node-b'))] });
    // 1. latency on a small state
    let a = startAgent(server.address, 'node-a', true);
    let b = startAgent(server.address, 'node-b', true);
    await Promise.all([a.appliedAt(1), b.appliedAt(1)]);
    results.smallState = await latency(cli, server, 'small state (3 objects)', 0);
    await a.client.stop();
    await b.client.stop();

    // 2. the big state, applied in batches while no agent is connected. Controller.apply is
    // wrapped to time the controller's part of each call on its own.
    const ctl = server.controller;
    const realApply = ctl.apply.bind(ctl);
    let controllerNs = 0n;
    ctl.apply = (...args: Parameters<typeof realApply>) => {
      const c0 = process.hrtime.bigint();
      try {
        return realApply(...args);
      } finally {
        controllerNs += process.hrtime.bigint() - c0;
      }
    };
    const t0 = process.hrtime.bigint();
    const BATCH = 1000;
    let objects = 0;
    for (let s = 0; s < SERVICES; s += BATCH) {
      const upserts = [];
      for (let i = s; i < Math.min(SERVICES, s + BATCH); i++) {
        upserts.push(wire(serviceObj(`svc-${i}`, 80, 'default', i + 1)));
        upserts.push(wire(sliceObj(`svc-${i}-1`, `svc-${i}`, EPS, 'default', i * EPS)));
      }
      objects += upserts.length;
      await cli.apply({ upserts });
    }
    const applyMs = ms(process.hrtime.bigint() - t0);
    ctl.apply = realApply;
    const controllerApplyMs = ms(controllerNs);
    const version = server.controller.version;
    process.stdout.write(`applied ${SERVICES} services + ${SERVICES * EPS} endpoints (${objects} objects, ${Math.ceil(SERVICES / BATCH)} batches): ${applyMs.toFixed(0)} ms (in Controller.apply: ${controllerApplyMs.toFixed(0)} ms)\n`);
    results.bigApplyMs = applyMs;
    results.bigApplyControllerMs = controllerApplyMs;

    // Two agents with an empty state dir: a full snapshot each.
    const tp = performance.now();
    a = startAgent(server.address, 'node-a', true);
    b = startAgent(server.address, 'node-b', true);
    const [ta, tb] = await Promise.all([a.appliedAt(version), b.appliedAt(version)]);
    const pushA = ta - tp;
    const pushB = tb - tp;
    process.stdout.write(`full push to 2 agents (snapshot, ${server.controller.store.size} objects): node-a ${pushA.toFixed(0)} ms, node-b ${pushB.toFixed(0)} ms\n`);
    results.fullPush = { objects: server.controller.store.size, nodeAMs: pushA, nodeBMs: pushB };
    await server.controller.hub.waitForAcks(version);

    // 3. latency of one change on top of the big state
    collectCompiles = COMPILE;
    results.bigState = await latency(cli, server, `big state (${server.controller.store.size} objects)`, 1000);
    collectCompiles = false;
    if (COMPILE && compileTimes.length > 0) {
      const c = { compiles: compileTimes.length, p50: pct(compileTimes, 50), p99: pct(compileTimes, 99), max: Math.max(...compileTimes) };
      process.stdout.write(`  of which NodeCompiler.compile per agent (${c.compiles} compiles): p50 ${c.p50.toFixed(2)} ms, p99 ${c.p99.toFixed(2)} ms, max ${c.max.toFixed(2)} ms\n`);
      results.bigStateCompile = c;
    }
    await a.client.stop();
    await b.client.stop();
    for (const x of [a, b]) fs.rmSync(x.dir, { recursive: true, force: true });
    const mem = process.memoryUsage();
    results.rssMiB = Math.round(mem.rss / 1048576);
    process.stdout.write(`rss ${results.rssMiB} MiB (controller + 2 agents in one process)\n`);
    process.stdout.write(JSON.stringify({ event: 'bench-control', ...results }) + '\n');
  } finally {
    cli.close();
    await server.stop(500);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`bench-control: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
