/**
 * `tapflow run`: the node agent. Standalone (`--config DIR`: manifests on disk, reloaded
 * when they change) or, with `--controller`, fed by the controller (issue #5).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MAX_FLOW_CAPACITY } from '../../dataplane/flows/flow-table';
import { parseNodeConfig, NodeConfig } from '../model/node-config';
import { DesiredState, decodeManifest, loadManifestPaths } from '../model/manifests';
import '../model/kinds';
import { formatError, parse, UsageError } from './main';
import { TapflowError, ValidationError } from '../model/errors';

export const RUN_USAGE = `Usage: tapflow run --node-config FILE [--config DIR]... [--admin-socket PATH] [--state-dir DIR] [--batch N]
                   [--flow-capacity N] [--new-flows-per-source N] [--new-flow-burst N]

Opens every TAP named in the NodeConfig (creating it in the current network namespace)
and forwards between them until SIGINT/SIGTERM. Prints one JSON line {"event":"ready",...}
when forwarding, {"event":"applied",...} after each reload, and {"event":"stopped",...} on exit.

Options:
  --node-config FILE   NodeConfig manifest (YAML or JSON), see docs/node-config.md
  --config PATH        standalone mode: Services, EndpointSlices, ... from this file or
                       directory (multi-document YAML / JSON); reloaded when it changes —
                       an invalid change is reported with its field path and the running
                       configuration stays
  --admin-socket PATH  serve GET /stats and /healthz over HTTP on this unix socket
  --state-dir DIR      keep LoadBalancer IP allocations (NodeConfig spec.loadBalancerPools)
                       in DIR/lb-allocations.json across restarts; default: next to the
                       admin socket (<socket name>.lb-allocations.json), else not kept
  --batch N            frames per receive batch (default 64)
  --flow-capacity N    connections the flow table holds (default 262144); when full, a new
                       flow evicts one, unestablished connections first (docs/limits.md)
  --flow-capacity6 N   how many of those may be IPv6 connections (default a quarter); IPv6
                       keys need 48 more bytes, so their room is sized apart (docs/limits.md)
  --new-flows-per-source N
                       flood protection: new flows per second one source address may open
                       (default 0 = unlimited); beyond it drops count as flow-rate-limited
  --new-flow-burst N   burst of the per-source limit (default: the rate)
  --controller ADDR    fed by a controller (tapflow serve): unix:/run/tapflow/control.sock
                       or host:port; the last applied version is kept in --state-dir and
                       forwarded from at start, even when the controller is down
  --token-file FILE    bearer token for a controller off loopback
  --control-thread B   true (default): the controller link (gRPC, parsing, persistence)
                       runs on its own worker thread; false: on the forwarding thread
  --metrics-listen A   Prometheus /metrics, /healthz, /readyz on host:port
  --drop-privileges U  after setup, switch to user U (e.g. nobody): no capabilities left;
                       its state directory is handed to U; TAPs cannot be reopened after
  -h, --help           this help
`;

/** uid/gid of a user name or number, from /etc/passwd (no native lookup needed). */
function lookupUser(spec: string): { name: string; uid: number; gid: number } {
  const want = spec === '' ? 'nobody' : spec;
  for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f.length < 4) continue;
    if (f[0] === want || f[2] === want) return { name: f[0], uid: Number(f[2]), gid: Number(f[3]) };
  }
  if (/^\d+$/.test(want)) return { name: want, uid: Number(want), gid: Number(want) };
  throw new UsageError(`--drop-privileges: no user "${want}" in /etc/passwd`);
}

/** chown a directory and what is in it (state the agent keeps writing after the drop). */
function chownTree(dir: string, uid: number, gid: number): void {
  if (!fs.existsSync(dir)) return;
  fs.chownSync(dir, uid, gid);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) chownTree(p, uid, gid);
    else if (e.isFile()) fs.chownSync(p, uid, gid);
  }
}

// eslint-disable-next-line @typescript-eslint/no-var-requires
const AGENT_VERSION = (require('../../../package.json') as { version: string }).version;

function loadState(paths: string[]): DesiredState {
  return new DesiredState(loadManifestPaths(paths, { ignoreUnsupportedKinds: false }).filter((m) => m.kind !== 'NodeConfig'));
}

/**
 * Watches the NodeConfig file and the --config paths for changes. Each watch is a plain
 * (non-recursive) inotify watch on a directory — the file's parent, filtered by its name, or a
 * config directory and each of its subdirectories — because a watch on a file follows its
 * inode and goes deaf once an editor or `kubectl`-style tool replaces the file by rename, and
 * Node 20's recursive fs.watch on Linux misses a file replaced by rename after the first time.
 */
class ConfigWatcher {
  private readonly dirs = new Map<string, { names: Set<string> | null; w: fs.FSWatcher | null }>();
  constructor(private readonly paths: string[], private readonly onChange: () => void) {
    this.rescan();
  }

  /** Add watches for the paths and for directories created under them since the last scan. */
  rescan(): void {
    for (const p of this.paths) {
      let st: fs.Stats;
      try { st = fs.statSync(p); } catch { continue; }
      if (st.isDirectory()) this.walk(p, 0);
      else this.add(path.dirname(path.resolve(p)), path.basename(p));
    }
  }

  close(): void {
    for (const d of this.dirs.values()) d.w?.close();
    this.dirs.clear();
  }

  private walk(dir: string, depth: number): void {
    this.add(path.resolve(dir), null);
    if (depth >= 16) return;
    let names: fs.Dirent[];
    try { names = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of names) if (e.isDirectory() && !e.name.startsWith('.')) this.walk(path.join(dir, e.name), depth + 1);
  }

  private add(dir: string, name: string | null): void {
    let d = this.dirs.get(dir);
    if (d === undefined) {
      d = { names: name === null ? null : new Set<string>(), w: null };
      const entry = d;
      try {
        entry.w = fs.watch(dir, (_ev, f) => {
          if (entry.names === null || (f !== null && entry.names.has(String(f)))) this.onChange();
        });
        entry.w.on('error', () => { entry.w?.close(); entry.w = null; });
      } catch { /* not watchable: SIGHUP still reloads */ }
      this.dirs.set(dir, d);
    }
    if (name === null) d.names = null;
    else d.names?.add(name);
  }
}

/** The field paths of a rejected reload, for the `rejected` event (at most 20). */
function rejectedPaths(err: unknown): { path?: string; paths?: string[] } {
  if (err instanceof ValidationError) return { paths: err.issues.slice(0, 20).map((i) => i.path) };
  if (err instanceof TapflowError && err.path !== undefined) return { path: err.path };
  return {};
}

/** An integer option in [min, max], or undefined when absent; a UsageError otherwise. */
function intOption(values: Record<string, string | boolean | undefined>, name: string, min: number, max: number): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${String(v)}"\n\n${RUN_USAGE}`);
  }
  return n;
}

export async function runCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    'node-config': { type: 'string' },
    config: { type: 'string', multiple: true },
    'admin-socket': { type: 'string' },
    'state-dir': { type: 'string' },
    batch: { type: 'string' },
    controller: { type: 'string' },
    'token-file': { type: 'string' },
    'metrics-listen': { type: 'string' },
    'drop-privileges': { type: 'string' },
    'flow-capacity': { type: 'string' },
    'flow-capacity6': { type: 'string' },
    'new-flows-per-source': { type: 'string' },
    'new-flow-burst': { type: 'string' },
  }, RUN_USAGE);
  if (values.help) { process.stdout.write(RUN_USAGE); return 0; }
  const file = values['node-config'] as string | undefined;
  if (!file) throw new UsageError(`--node-config is required\n\n${RUN_USAGE}`);
  const configPaths = (values.config as unknown as string[] | undefined) ?? [];
  const readNode = (): NodeConfig => parseNodeConfig(decodeManifest(fs.readFileSync(file), file), file);
  const cfg = readNode();
  const state = configPaths.length > 0 ? loadState(configPaths) : null;
  const batch = values.batch !== undefined ? Number(values.batch) : undefined;
  const flowCapacity = intOption(values, 'flow-capacity', 1, MAX_FLOW_CAPACITY);
  const flowCapacity6 = intOption(values, 'flow-capacity6', 1, flowCapacity ?? 262144);
  const newFlowsPerSecondPerSource = intOption(values, 'new-flows-per-source', 0, 1e9);
  const newFlowBurst = intOption(values, 'new-flow-burst', 1, 1e9);
  const forwarderOptions = {
    ...(flowCapacity !== undefined ? { flowCapacity } : {}),
    ...(flowCapacity6 !== undefined ? { flowCapacity6 } : {}),
    ...(newFlowsPerSecondPerSource !== undefined ? { newFlowsPerSecondPerSource } : {}),
    ...(newFlowBurst !== undefined ? { newFlowBurst } : {}),
  };
  const { Agent } = await import('../../dataplane/agent/agent');
  const emit = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
  // LoadBalancer allocations survive restarts in standalone mode (a file next to the admin socket or in --state-dir).
  const adminSocket = values['admin-socket'] as string | undefined;
  const stateDir = values['state-dir'] as string | undefined;
  const lbStateFile = stateDir !== undefined ? path.join(stateDir, 'lb-allocations.json')
    : adminSocket !== undefined ? path.join(path.dirname(adminSocket), `${path.basename(adminSocket).replace(/\.sock$/, '')}.lb-allocations.json`) : undefined;
  const agent = await Agent.start(cfg, { ...forwarderOptions, adminSocket, batch, state, ...(lbStateFile !== undefined ? { lbStateFile } : {}), onEvent: (e) => emit(e) });
  const serviceErrors = () => agent.lastCompile.serviceStatus.filter((s) => s.errors.length > 0);
  /** The LoadBalancer IPs tapflow allocated (errors are in serviceErrors); absent without pools. */
  const loadBalancers = () => (agent.lastCompile.lbStatus.active
    ? { loadBalancers: agent.lastCompile.lbStatus.allocations.map((a) => ({ service: a.service, ips: a.ips, ...(a.internal ? { internal: true } : {}) })) }
    : {});

  // Controller mode: the last applied version is persisted (per node) and applied before
  // the first connection, so the node forwards from it even while the controller is down.
  const { attachController, startAgentMetrics } = await import('../server/agent-hook');
  let link: import('../server/agent-hook').ControllerLink | null = null;
  let ctlStateDir: string | null = null;
  const metrics = values['metrics-listen'] ? await startAgentMetrics(agent, values['metrics-listen'] as string, () => link) : null;
  if (values.controller) {
    const { readTokenFile } = await import('../server/transport');
    const base = stateDir ?? (adminSocket !== undefined ? path.join(path.dirname(adminSocket), `${path.basename(adminSocket).replace(/\.sock$/, '')}.state`) : `/var/lib/tapflow/${cfg.spec.nodeName}`);
    ctlStateDir = path.join(base, 'controller');
    // The controller link runs on its own thread (gRPC, parsing, persistence); compile
    // and forwarding stay here. --control-thread=false keeps it on this thread.
    const threaded = values['control-thread'] !== 'false';
    link = threaded
      ? await (await import('../server/agent-link-thread')).attachControllerThreaded(agent, {
        address: values.controller as string, node: cfg.spec.nodeName, stateDir: ctlStateDir, agentVersion: AGENT_VERSION,
        ...(values['token-file'] ? { token: readTokenFile(values['token-file'] as string) } : {}),
        ...(metrics ? { metrics: metrics.metrics } : {}),
        log: (event, f) => emit({ event, ...f }),
      })
      : await attachController(agent, {
        address: values.controller as string, agentVersion: AGENT_VERSION,
        stateDir: ctlStateDir,
        ...(values['token-file'] ? { token: readTokenFile(values['token-file'] as string) } : {}),
        ...(metrics ? { metrics: metrics.metrics } : {}),
        log: (event, f) => emit({ event, ...f }),
      });
  }

  // Ready only now: with a controller, the persisted version is already applied, so "ready"
  // means forwarding with the last known configuration, not with an empty one.
  emit({
    event: 'ready', pid: process.pid, node: cfg.spec.nodeName, version: agent.forwarder.gen.version,
    ports: cfg.spec.ports.map((p) => ({ name: p.name, tap: p.tap, role: p.role })),
    services: agent.lastCompile.serviceStatus.length, serviceErrors: serviceErrors(), ...loadBalancers(),
  });

  // Least privilege: once the TAPs are open, the sockets bound and the state directories
  // exist, the agent needs no capability — switch to an unprivileged user (all threads).
  if (values['drop-privileges'] !== undefined) {
    const who = lookupUser(values['drop-privileges'] as string);
    // Only tapflow's own state: --state-dir, the controller state dir, the LB allocation file
    // (never the directory an admin socket happens to sit in, such as /tmp).
    for (const d of [stateDir ?? null, ctlStateDir, lbStateFile ?? null]) {
      if (d === null) continue;
      try {
        if (fs.existsSync(d) && fs.statSync(d).isFile()) fs.chownSync(d, who.uid, who.gid);
        else chownTree(d, who.uid, who.gid);
      } catch (e) { emit({ event: 'privileges-warning', path: d, error: (e as Error).message }); }
    }
    const { loadNative } = await import('../../dataplane/native');
    loadNative().dropPrivileges(who.uid, who.gid);
    emit({ event: 'privileges-dropped', user: who.name, uid: who.uid, gid: who.gid });
  }

  // Reload on change (debounced); a bad change leaves the running generation in place.
  let timer: NodeJS.Timeout | null = null;
  const schedule = () => { if (timer) clearTimeout(timer); timer = setTimeout(reload, 200); };
  const watcher = new ConfigWatcher(values.controller ? [] : [file, ...configPaths], schedule);
  const reload = () => {
    timer = null;
    watcher.rescan(); // directories created since the last reload
    try {
      const res = agent.apply(readNode(), configPaths.length > 0 ? loadState(configPaths) : null);
      emit({ event: 'applied', version: res.gen.version, compileMs: +res.compileMs.toFixed(2), services: res.serviceStatus.length, serviceErrors: serviceErrors(), ...loadBalancers() });
    } catch (err) {
      emit({ event: 'rejected', version: agent.forwarder.gen.version, error: formatError(err), ...rejectedPaths(err) });
    }
  };
  process.on('SIGHUP', reload);

  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  watcher.close();
  if (link) await link.stop();
  if (metrics) await metrics.server.close();
  if (timer) clearTimeout(timer);
  const stats = agent.stats();
  await agent.stop();
  emit({ event: 'stopped', stats });
  return 0;
}
