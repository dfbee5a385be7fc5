/**
 * Network-namespace testbed for tapflow: one or two nodes, a client, N pods per node.
 *
 * Library (used by the integration tests, the demo and the benchmarks) and CLI:
 *
 *   node dist/scripts/testbed.js up   [--pods N] [--mode kubenet|cni] [--nodes 1|2] [--no-ipv6]
 *                                     [--prefix tfX] [--forwarder tapflow|kernel] [--mtu N]
 *                                     [--uplink-mtu N] [--[no-]vnet-hdr] [--persistent-taps]
 *   node dist/scripts/testbed.js down [--prefix tfX]      (no prefix: every testbed `up` left behind)
 *
 * Topology (1 node):                       (2 nodes: uplinks and the client meet on a bridge
 *                                            in <p>-vnet, the "VNet")
 *   <p>-c  eth0 ── uplink ──┐
 *                           │ <p>-n1 (tapflow process, or kernel routing)
 *   <p>-n1 <p>n1h ── host ──┤            host = the node's own stack: node IP /32, routes via the host TAP
 *   <p>-p1 eth0 ── pod-1 ───┤
 *   <p>-pN eth0 ── pod-N ───┘
 *
 * forwarder 'tapflow': the agent runs inside <p>-n1, creates every TAP there and prints `ready`;
 * then each TAP's kernel side is moved into its namespace, renamed eth0 and configured.
 * With persistentTaps (CNI style) the TAPs are made persistent in their final namespaces first
 * and the agent attaches to them there (NodeConfig ports[].netns); restartAgent() then shows a
 * crash-restart: nothing but the agent process changes.
 * forwarder 'kernel': the same namespaces and addresses, but veth pairs and Linux forwarding in
 * the node namespace (proxy ARP / proxy NDP so pods can keep their on-link /24 and /64) — the
 * "kernel routing in the same topology" baseline for benchmarks, and a way to validate tests.
 *
 * Address plan (node n = 1|2, pod i = 1..N on that node):
 *   node IPs       10.0.0.(3+n)          fd00::(3+n)
 *   client         10.0.0.10/16          fd00::10/64
 *   kubenet pods   10.244.(n-1).(i+1)/24 fd00:244:0:(n-1)::(i+1)/64, gateway .1 / ::1
 *   cni pods       10.0.n.(i+1)/16       fd00::n:(i+1)/64 (VNet addresses), gateway 10.0.0.1 / fd00::1
 */
import { ChildProcess, execFile, execFileSync, spawn as spawnChild, SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

export type Forwarder = 'tapflow' | 'kernel';
export type NetworkMode = 'kubenet' | 'cni';

export interface TestbedOptions {
  /** Unique per run; namespaces are `<prefix>-…`, interfaces `<prefix>n1u` etc. 2-8 chars [a-z0-9]. Default `tf` + 4 random hex. */
  prefix?: string;
  /** Pods per node (default 2). */
  pods?: number;
  /** Default 'kubenet'. */
  mode?: NetworkMode;
  /** Default 1. */
  nodes?: 1 | 2;
  /** Dual stack (default true). */
  ipv6?: boolean;
  /** NodeConfig mtu: the pods' MTU (default 1500). */
  mtu?: number;
  /** MTU of the client and uplink links (default = mtu). 9000 to provoke "frag needed". */
  uplinkMtu?: number;
  /** Per-port `vnetHdr` in the NodeConfig (IFF_VNET_HDR + offloads); undefined: the agent's default (on). */
  vnetHdr?: boolean;
  /** Default 'tapflow'. */
  forwarder?: Forwarder;
  /** Pods address their eth0 as /24 + /64 on-link ('subnet', default) or /32 + /128 with an on-link gateway ('host'). */
  podAddressing?: 'subnet' | 'host';
  /** How long to wait for the agent's `ready` line (default 20000 ms). */
  readyTimeoutMs?: number;
  /** Extra arguments for `tapflow run`. */
  agentArgs?: string[];
  /** Extra environment for the agent. */
  agentEnv?: NodeJS.ProcessEnv;
  /** Edit the generated NodeConfig before it is written (node index is 1-based). */
  nodeConfigHook?: (config: NodeConfigDoc, node: NodeInfo) => void;
  /** Progress lines (default: silent). */
  log?: (line: string) => void;
  /** Keep the temp dir at down() (agent logs, NodeConfigs). Default false. */
  keepTmp?: boolean;
  /**
   * Leave everything running when this process exits (CLI `up`): no exit/signal hooks, the
   * agent is started in its own session, and a state file lets `down` find it later.
   */
  detach?: boolean;
  /** Repository root (default: found from this file). */
  repoRoot?: string;
  /**
   * CNI style (tapflow forwarder only): every TAP is created persistent (`ip tuntap add … mode
   * tap vnet_hdr`) where it lives for good — each pod's `eth0` inside the pod namespace, the
   * uplink as the client's `eth0` (the VNet namespace with 2 nodes), the host TAP in the node
   * namespace — before the agent starts; the NodeConfig ports name them with `netns`, so the
   * agent attaches by setns and never moves an interface. The devices outlive the agent:
   * `restartAgent()` (kill -9 and start again) keeps every address, route and neighbor entry.
   * Default false (the agent creates the TAPs, the testbed moves them).
   */
  persistentTaps?: boolean;
}

export interface PodInfo {
  /** Port name in the NodeConfig, e.g. `pod-1` (unique across nodes). */
  name: string;
  /** 1-based node index. */
  node: number;
  /** Namespace, e.g. `tf1a2b-p1`. */
  ns: string;
  /** TAP (or node-side veth) name in the node namespace; with persistentTaps `eth0`, in the pod namespace. */
  tap: string;
  ipv4: string;
  ipv6?: string;
  /** Prefix lengths configured on the pod's eth0. */
  prefixLen4: number;
  prefixLen6: number;
  gateway4: string;
  gateway6?: string;
}

export interface NodeInfo {
  index: number;
  name: string;
  ns: string;
  ipv4: string;
  ipv6?: string;
  podCIDRs: string[];
  /** With persistentTaps and 1 node: `eth0` in the client namespace. */
  uplinkTap: string;
  hostTap: string;
  pods: PodInfo[];
  /** Written NodeConfig (tapflow forwarder only). */
  configPath?: string;
  adminSocket?: string;
  agentPid?: number;
  /** Parsed `ready` line from the agent (the latest one after restartAgent()). */
  ready?: AgentReady;
  /** The agent's full command line (`ip netns exec <node ns> node bin/tapflow run …`). */
  agentArgv?: string[];
  /** Parsed `stopped` line, once down() has stopped the agent. */
  stopped?: { event: 'stopped'; stats?: unknown };
  agentLog?: { stdout: string; stderr: string };
}

export interface ClientInfo {
  ns: string;
  ipv4: string;
  ipv6?: string;
  /** The client's interface (always eth0). */
  dev: string;
}

export interface AgentReady {
  event: 'ready';
  pid: number;
  ports: { name: string; tap: string }[];
}

export interface PortStats {
  name: string;
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  txErrors: number;
  drops: Record<string, number>;
}

export interface AgentStats {
  ports: PortStats[];
  totals: { received: number; forwarded: number; delivered: number; dropped: number; pending: number };
  /** Flow table occupancy (agents that report it). */
  flows?: { entries: number; capacity: number; evicted: number; expired: number };
}

export type NodeConfigDoc = {
  apiVersion: string;
  kind: 'NodeConfig';
  metadata: { name: string };
  spec: Record<string, unknown> & { ports: Record<string, unknown>[] };
};

export interface ExecOptions {
  timeoutMs?: number;
  input?: string;
  env?: NodeJS.ProcessEnv;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code; null when killed by a signal (e.g. timeout). */
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
}

export interface SpawnedProcess {
  child: ChildProcess;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when a line of stdout (or stderr) matches; rejects on exit or timeout. */
  waitFor(re: RegExp, timeoutMs?: number, stream?: 'stdout' | 'stderr'): Promise<string>;
  /** Resolves with the exit code (null when signalled), at most timeoutMs later (then SIGKILL). */
  exited(timeoutMs?: number): Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

const PREFIX_RE = /^[a-z][a-z0-9]{1,7}$/;
const STATE_DIR = path.join(os.tmpdir(), 'tapflow-testbed');

export function findRepoRoot(from = __dirname): string {
  let dir = from;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if (JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'tapflow') return dir;
      } catch {
        /* keep looking */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`tapflow repository root not found above ${from}`);
    dir = up;
  }
}

export function randomPrefix(): string {
  return 'tf' + randomBytes(2).toString('hex');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Thrown from a waitFor condition to stop waiting at once (e.g. the process we wait on died). */
export class StopWaiting extends Error {}

/**
 * Poll `cond` until it returns a truthy value (returned) or the deadline passes (throws).
 * Errors thrown by `cond` count as "not yet" (the last one is reported at the deadline),
 * except StopWaiting, which ends the wait immediately.
 */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10000);
  const interval = opts.intervalMs ?? 50;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      if (e instanceof StopWaiting) throw e;
      lastErr = e;
    }
    if (Date.now() >= deadline) {
      const why = lastErr instanceof Error ? `: ${lastErr.message}` : '';
      throw new Error(`timed out after ${opts.timeoutMs ?? 10000} ms waiting for ${opts.what ?? 'condition'}${why}`);
    }
    await sleep(interval);
  }
}

/** Run a command (in a namespace when ns is set); never throws for a non-zero exit. */
export function execIn(ns: string | null, cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const argv = ns ? ['ip', 'netns', 'exec', ns, ...cmd] : cmd;
  return new Promise((resolve) => {
    const child = execFile(
      argv[0],
      argv.slice(1),
      {
        timeout: opts.timeoutMs ?? 30000,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        env: opts.env ? { ...process.env, ...opts.env } : process.env,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: unknown; killed?: boolean; signal?: NodeJS.Signals }) | null;
        let code: number | null = 0;
        let signal: NodeJS.Signals | null = null;
        let timedOut = false;
        if (e) {
          if (typeof e.code === 'number') code = e.code;
          else if (typeof e.code === 'string') {
            code = 127; // ENOENT and friends: the command could not run
            stderr = `${stderr}${e.message}\n`;
          } else code = null;
          signal = e.signal ?? null;
          timedOut = Boolean(e.killed && signal === 'SIGKILL');
          if (signal) code = null;
        }
        resolve({ stdout: String(stdout), stderr: String(stderr), code, signal, timedOut });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** execIn that throws (with the command, exit status and stderr) unless the exit code is 0. */
export async function execInOk(ns: string | null, cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await execIn(ns, cmd, opts);
  if (r.code !== 0) {
    const where = ns ? `[${ns}] ` : '';
    const status = r.timedOut ? `timed out after ${opts.timeoutMs ?? 30000} ms` : r.signal ? `signal ${r.signal}` : `exit ${r.code}`;
    throw new Error(`${where}${cmd.join(' ')}: ${status}\n${r.stderr.trim()}${r.stdout.trim() ? '\n' + r.stdout.trim() : ''}`);
  }
  return r;
}

/** `ip -n NS -batch -`: many ip commands in one process; throws naming the failing line. */
export async function ipBatch(ns: string | null, lines: string[], timeoutMs = 20000): Promise<void> {
  if (lines.length === 0) return;
  const args = ns ? ['ip', '-n', ns, '-batch', '-'] : ['ip', '-batch', '-'];
  const r = await execIn(null, args, { input: lines.join('\n') + '\n', timeoutMs });
  if (r.code !== 0) {
    const m = /Command failed -:(\d+)/.exec(r.stderr);
    const failed = m ? `\n  at line: ${lines[Number(m[1]) - 1]}` : '';
    throw new Error(`ip ${ns ? `-n ${ns} ` : ''}-batch failed (${r.timedOut ? 'timeout' : `exit ${r.code}`}): ${r.stderr.trim()}${failed}`);
  }
}

function wrapSpawned(child: ChildProcess, timeoutDefault = 10000): SpawnedProcess {
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (d: string) => (out += d));
  child.stderr?.on('data', (d: string) => (err += d));
  let exitCode: number | null | undefined;
  const exitP = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      exitCode = code;
      resolve(code);
    });
    child.on('error', () => {
      exitCode = exitCode ?? 127;
      resolve(exitCode);
    });
  });
  const sp: SpawnedProcess = {
    child,
    stdout: () => out,
    stderr: () => err,
    async waitFor(re, timeoutMs = timeoutDefault, stream) {
      const text = () => (stream === 'stdout' ? out : stream === 'stderr' ? err : out + '\n' + err);
      return waitFor(
        () => {
          const m = text()
            .split('\n')
            .find((l) => re.test(l));
          if (m !== undefined) return m;
          if (exitCode !== undefined) throw new StopWaiting(`process exited (${exitCode}) before ${re}: ${err.trim().slice(-500)}`);
          return undefined;
        },
        { timeoutMs, intervalMs: 20, what: `${re} from ${child.spawnargs.join(' ')}` },
      );
    },
    async exited(timeoutMs = timeoutDefault) {
      if (exitCode !== undefined) return exitCode;
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exitP;
      } finally {
        clearTimeout(t);
      }
    },
    kill(signal = 'SIGTERM') {
      if (exitCode === undefined && child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
  return sp;
}

function ipv6Hex(n: number): string {
  return n.toString(16);
}

/** Kubenet IPv6 pod network of node n, canonical (RFC 5952) and ending in `::`. */
function podNet6(n: number): string {
  return n === 1 ? 'fd00:244::' : `fd00:244:0:${ipv6Hex(n - 1)}::`;
}

// ---- process-wide cleanup: every live (non-detached) testbed is torn down on exit ----
const live = new Set<Testbed>();
let hooksInstalled = false;
function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const tb of live) tb.downSync();
  });
  const onSignal = (sig: NodeJS.Signals) => {
    // Someone else handles this signal (e.g. the demo waiting for Ctrl-C): they call down();
    // the 'exit' hook remains the safety net.
    if (process.listenerCount(sig) > 1) return;
    for (const tb of live) tb.downSync();
    // Nobody else listens: behave like the default action (exit by the signal).
    process.removeAllListeners(sig);
    process.kill(process.pid, sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  process.on('uncaughtExceptionMonitor', () => {
    for (const tb of live) tb.downSync();
  });
}

interface StateFile {
  prefix: string;
  /** The process that owns the testbed (0: detached, owned by whoever calls `down`). */
  ownerPid?: number;
  tmpDir: string;
  agentPids: number[];
  namespaces: string[];
}

export class Testbed {
  readonly prefix: string;
  readonly opts: Required<Omit<TestbedOptions, 'nodeConfigHook' | 'log' | 'agentEnv' | 'prefix' | 'vnetHdr'>> &
    Pick<TestbedOptions, 'nodeConfigHook' | 'log' | 'agentEnv' | 'vnetHdr'>;
  readonly nodes: NodeInfo[] = [];
  readonly pods: PodInfo[] = [];
  readonly client: ClientInfo;
  /** `<p>-vnet` with 2 nodes. */
  readonly vnetNs?: string;
  tmpDir = '';
  private readonly namespaces: string[] = [];
  private readonly children = new Set<SpawnedProcess>();
  private readonly agents = new Map<number, SpawnedProcess | { pid: number }>();
  private state: 'new' | 'up' | 'down' = 'new';
  private downPromise?: Promise<void>;

  constructor(options: TestbedOptions = {}) {
    this.prefix = options.prefix ?? randomPrefix();
    if (!PREFIX_RE.test(this.prefix)) throw new Error(`testbed prefix must match ${PREFIX_RE} (got ${this.prefix})`);
    const mtu = options.mtu ?? 1500;
    this.opts = {
      pods: options.pods ?? 2,
      mode: options.mode ?? 'kubenet',
      nodes: options.nodes ?? 1,
      ipv6: options.ipv6 ?? true,
      mtu,
      uplinkMtu: options.uplinkMtu ?? mtu,
      vnetHdr: options.vnetHdr,
      forwarder: options.forwarder ?? 'tapflow',
      podAddressing: options.podAddressing ?? 'subnet',
      readyTimeoutMs: options.readyTimeoutMs ?? 20000,
      agentArgs: options.agentArgs ?? [],
      keepTmp: options.keepTmp ?? false,
      detach: options.detach ?? false,
      repoRoot: options.repoRoot ?? findRepoRoot(),
      persistentTaps: options.persistentTaps ?? false,
      nodeConfigHook: options.nodeConfigHook,
      log: options.log,
      agentEnv: options.agentEnv,
    };
    const o = this.opts;
    if (o.pods < 0 || o.pods > 200 || !Number.isInteger(o.pods)) throw new Error(`pods must be 0..200 (got ${o.pods})`);
    if (o.nodes !== 1 && o.nodes !== 2) throw new Error(`nodes must be 1 or 2 (got ${o.nodes})`);
    if (o.persistentTaps && o.forwarder !== 'tapflow') throw new Error('persistentTaps needs the tapflow forwarder');
    const p = this.prefix;
    this.client = { ns: `${p}-c`, ipv4: '10.0.0.10', ipv6: o.ipv6 ? 'fd00::10' : undefined, dev: 'eth0' };
    if (o.nodes === 2) this.vnetNs = `${p}-vnet`;
    let podNo = 0;
    for (let n = 1; n <= o.nodes; n++) {
      const node: NodeInfo = {
        index: n,
        name: `node-${n}`,
        ns: `${p}-n${n}`,
        ipv4: `10.0.0.${3 + n}`,
        ipv6: o.ipv6 ? `fd00::${ipv6Hex(3 + n)}` : undefined,
        podCIDRs: [],
        uplinkTap: o.persistentTaps && o.nodes === 1 ? 'eth0' : `${p}n${n}u`,
        hostTap: `${p}n${n}h`,
        pods: [],
      };
      if (o.mode === 'kubenet') {
        node.podCIDRs.push(`10.244.${n - 1}.0/24`);
        if (o.ipv6) node.podCIDRs.push(`${podNet6(n)}/64`);
      } else {
        node.podCIDRs.push(`10.0.${n}.0/24`);
        if (o.ipv6) node.podCIDRs.push(`fd00::${n}:0/112`);
      }
      for (let i = 1; i <= o.pods; i++) {
        podNo++;
        const host = o.podAddressing === 'host';
        const pod: PodInfo =
          o.mode === 'kubenet'
            ? {
                name: `pod-${podNo}`,
                node: n,
                ns: `${p}-p${podNo}`,
                tap: o.persistentTaps ? 'eth0' : `${p}n${n}p${i}`,
                ipv4: `10.244.${n - 1}.${i + 1}`,
                ipv6: o.ipv6 ? `${podNet6(n)}${ipv6Hex(i + 1)}` : undefined,
                prefixLen4: host ? 32 : 24,
                prefixLen6: host ? 128 : 64,
                gateway4: `10.244.${n - 1}.1`,
                gateway6: o.ipv6 ? `${podNet6(n)}1` : undefined,
              }
            : {
                name: `pod-${podNo}`,
                node: n,
                ns: `${p}-p${podNo}`,
                tap: o.persistentTaps ? 'eth0' : `${p}n${n}p${i}`,
                ipv4: `10.0.${n}.${i + 1}`,
                ipv6: o.ipv6 ? `fd00::${n}:${ipv6Hex(i + 1)}` : undefined,
                prefixLen4: host ? 32 : 16,
                prefixLen6: host ? 128 : 64,
                gateway4: '10.0.0.1',
                gateway6: o.ipv6 ? 'fd00::1' : undefined,
              };
        node.pods.push(pod);
        this.pods.push(pod);
      }
      this.nodes.push(node);
    }
  }

  private log(line: string): void {
    this.opts.log?.(`[testbed ${this.prefix}] ${line}`);
  }

  get vnetPrefixes(): string[] {
    return this.opts.ipv6 ? ['10.0.0.0/16', 'fd00::/64'] : ['10.0.0.0/16'];
  }
  get clusterCIDRs(): string[] {
    if (this.opts.mode === 'cni') return this.vnetPrefixes;
    return this.opts.ipv6 ? ['10.244.0.0/16', 'fd00:244::/56'] : ['10.244.0.0/16'];
  }
  get serviceCIDRs(): string[] {
    return this.opts.ipv6 ? ['10.96.0.0/12', 'fd00:96::/112'] : ['10.96.0.0/12'];
  }

  node(index = 1): NodeInfo {
    const n = this.nodes[index - 1];
    if (!n) throw new Error(`no node ${index}`);
    return n;
  }

  pod(nameOrIndex: string | number): PodInfo {
    const p = typeof nameOrIndex === 'number' ? this.pods[nameOrIndex - 1] : this.pods.find((x) => x.name === nameOrIndex || x.ns === nameOrIndex);
    if (!p) throw new Error(`no pod ${nameOrIndex}`);
    return p;
  }

  /** The NodeConfig document for node `index` (what up() writes for the agent). */
  nodeConfig(index = 1): NodeConfigDoc {
    const o = this.opts;
    const node = this.node(index);
    const nodeRoutes: { prefix: string; nextHop: string }[] = [];
    if (o.mode === 'kubenet') {
      for (const other of this.nodes) {
        if (other === node) continue;
        nodeRoutes.push({ prefix: other.podCIDRs[0], nextHop: other.ipv4 });
        if (o.ipv6 && other.podCIDRs[1] && other.ipv6) nodeRoutes.push({ prefix: other.podCIDRs[1], nextHop: other.ipv6 });
      }
    }
    const persistent = o.persistentTaps;
    const nsPath = (ns: string): { netns: string } | Record<string, never> => (persistent ? { netns: `/run/netns/${ns}` } : {});
    const ports: Record<string, unknown>[] = [
      { name: 'uplink', tap: node.uplinkTap, role: 'uplink', ...nsPath(this.vnetNs ?? this.client.ns) },
      { name: 'host', tap: node.hostTap, role: 'host' },
    ];
    for (const pod of node.pods) {
      const addresses = [pod.ipv4];
      if (pod.ipv6) addresses.push(pod.ipv6);
      const gateway: Record<string, string> = { ipv4: pod.gateway4 };
      if (pod.gateway6) gateway.ipv6 = pod.gateway6;
      ports.push({ name: pod.name, tap: pod.tap, role: 'pod', ...nsPath(pod.ns), addresses, gateway });
    }
    const spec: NodeConfigDoc['spec'] = {
      nodeName: node.name,
      nodeIPs: node.ipv6 ? [node.ipv4, node.ipv6] : [node.ipv4],
      podCIDRs: node.podCIDRs,
      clusterCIDRs: this.clusterCIDRs,
      serviceCIDRs: this.serviceCIDRs,
      networkMode: o.mode,
      vnetPrefixes: this.vnetPrefixes,
      mtu: o.mtu,
      ports,
    };
    if (nodeRoutes.length) spec.nodeRoutes = nodeRoutes;
    if (o.vnetHdr !== undefined) for (const port of ports) port.vnetHdr = o.vnetHdr;
    const doc: NodeConfigDoc = { apiVersion: 'tapflow.dev/v1alpha1', kind: 'NodeConfig', metadata: { name: node.name }, spec };
    o.nodeConfigHook?.(doc, node);
    return doc;
  }

  // ---------------------------------------------------------------- up

  async up(): Promise<this> {
    if (this.state !== 'new') throw new Error(`testbed ${this.prefix} already ${this.state}`);
    this.state = 'up';
    if (!this.opts.detach) {
      installHooks();
      live.add(this);
    }
    const t0 = Date.now();
    await Testbed.reapOrphans((line) => this.log(line));
    try {
      this.tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), `tapflow-testbed-${this.prefix}-`));
      // Recorded before anything exists, so a SIGKILLed owner's leftovers can be found and reaped.
      this.writeState();
      await this.createNamespaces();
      if (this.opts.forwarder === 'tapflow') await this.upTapflow();
      else await this.upKernel();
      await this.configureClient();
      this.writeState(); // with the agents' pids
      this.log(`up in ${Date.now() - t0} ms (${this.opts.forwarder}, ${this.opts.mode}, ${this.opts.nodes} node(s), ${this.pods.length} pod(s))`);
    } catch (e) {
      this.log(`up failed: ${(e as Error).message}`);
      const logs = this.agentLogs();
      await this.down().catch(() => undefined);
      if (logs) (e as Error).message += `\n--- agent logs ---\n${logs}`;
      throw e;
    }
    return this;
  }

  private nsList(): string[] {
    const l = [...this.nodes.map((n) => n.ns), this.client.ns, ...this.pods.map((p) => p.ns)];
    if (this.vnetNs) l.push(this.vnetNs);
    return l;
  }

  private async createNamespaces(): Promise<void> {
    for (const ns of this.nsList()) {
      await execInOk(null, ['ip', 'netns', 'add', ns]);
      this.namespaces.push(ns);
    }
    await Promise.all(
      this.nsList().map(async (ns) => {
        await ipBatch(ns, ['link set lo up']);
        const sys = ['net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0'];
        if (this.opts.ipv6 && ns !== this.vnetNs) {
          sys.push(
            'net.ipv6.conf.all.accept_dad=0',
            'net.ipv6.conf.default.accept_dad=0',
            'net.ipv6.conf.all.accept_ra=0',
            'net.ipv6.conf.default.accept_ra=0',
          );
        } else {
          sys.push('net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
        }
        await execInOk(ns, ['sysctl', '-qw', ...sys]);
      }),
    );
    if (this.vnetNs) {
      const m = this.opts.uplinkMtu;
      await ipBatch(this.vnetNs, [
        'link add br0 type bridge mcast_snooping 0 stp_state 0',
        `link set br0 mtu ${m} up`,
        // the client's link into the VNet
        `link add ${this.prefix}c type veth peer name eth0 netns ${this.client.ns}`,
        `link set ${this.prefix}c mtu ${m} master br0 up`,
      ]);
    }
  }

  /** Lines configuring one pod's eth0 (run in the pod namespace). */
  private podLines(pod: PodInfo): string[] {
    const l = [
      `link set eth0 mtu ${this.opts.mtu} up`,
      `addr add ${pod.ipv4}/${pod.prefixLen4} dev eth0`,
      `route add ${pod.gateway4}/32 dev eth0 scope link`,
      `route add default via ${pod.gateway4} dev eth0 onlink`,
    ];
    if (pod.ipv6 && pod.gateway6) {
      l.push(
        `addr add ${pod.ipv6}/${pod.prefixLen6} dev eth0 nodad`,
        `route add ${pod.gateway6}/128 dev eth0`,
        `route add ::/0 via ${pod.gateway6} dev eth0 onlink`,
      );
    }
    return l;
  }

  private async podSysctl(pod: PodInfo): Promise<void> {
    if (!this.opts.ipv6) return;
    await execInOk(pod.ns, ['sysctl', '-qw', 'net.ipv6.conf.eth0.accept_dad=0', 'net.ipv6.conf.eth0.accept_ra=0']);
  }

  private async upTapflow(): Promise<void> {
    for (const node of this.nodes) {
      const cfg = this.nodeConfig(node.index);
      node.configPath = path.join(this.tmpDir, `${node.name}.json`);
      fs.writeFileSync(node.configPath, JSON.stringify(cfg, null, 2) + '\n');
      node.adminSocket = path.join(this.tmpDir, `${node.name}.sock`);
      node.agentLog = { stdout: path.join(this.tmpDir, `${node.name}.out`), stderr: path.join(this.tmpDir, `${node.name}.err`) };
      if (this.opts.persistentTaps) await this.createPersistentTaps(node);
      const line = await this.startAgent(node, false);
      const want = (cfg.spec.ports as { tap: string }[]).map((p) => p.tap);
      const have = (node.ready?.ports ?? []).map((p) => p.tap);
      const missing = want.filter((tap, i) => have[i] !== tap);
      if (missing.length) throw new Error(`agent ready line lacks TAPs ${missing.join(', ')}: ${line}`);
      await this.wireNodeTaps(node);
    }
  }

  /**
   * persistentTaps: each TAP made persistent where it stays (pods' eth0 in their namespaces,
   * the uplink on the client's / VNet's side, the host TAP in the node namespace).
   */
  private async createPersistentTaps(node: NodeInfo): Promise<void> {
    const vnet = this.opts.vnetHdr === false ? [] : ['vnet_hdr'];
    const add = (ns: string, dev: string) => execInOk(null, ['ip', '-n', ns, 'tuntap', 'add', 'dev', dev, 'mode', 'tap', ...vnet]);
    await add(node.ns, node.hostTap);
    await add(this.vnetNs ?? this.client.ns, node.uplinkTap);
    for (const pod of node.pods) await add(pod.ns, pod.tap);
  }

  /**
   * Start (or, with append, start again) the agent of a node with the same arguments; resolves
   * with its `ready` line once it printed one (node.ready and node.agentPid are updated).
   */
  private async startAgent(node: NodeInfo, append: boolean): Promise<string> {
    const root = this.opts.repoRoot;
    const bin = path.join(root, 'bin', 'tapflow');
    const logs = node.agentLog!;
    const readyBefore = append ? readyLines(logs.stdout).length : 0;
    const outFd = fs.openSync(logs.stdout, append ? 'a' : 'w');
    const errFd = fs.openSync(logs.stderr, append ? 'a' : 'w');
    const argv = node.agentArgv ?? ['netns', 'exec', node.ns, process.execPath, bin, 'run', '--node-config', node.configPath!, '--admin-socket', node.adminSocket!, ...this.opts.agentArgs];
    node.agentArgv = argv;
    this.log(`starting agent: ip ${argv.join(' ')}`);
    const child = spawnChild('ip', argv, {
      cwd: root,
      stdio: ['ignore', outFd, errFd],
      detached: this.opts.detach,
      env: { ...process.env, ...(this.opts.detach ? {} : { TAPFLOW_PARENT_PID: String(process.pid) }), ...this.opts.agentEnv },
    });
    fs.closeSync(outFd);
    fs.closeSync(errFd);
    let exit: string | undefined;
    child.on('exit', (code, sig) => (exit = sig ? `signal ${sig}` : `exit ${code}`));
    child.on('error', (e) => (exit = `spawn error ${e.message}`));
    if (this.opts.detach) child.unref();
    const sp = this.opts.detach ? { pid: child.pid ?? 0 } : wrapSpawned(child);
    this.agents.set(node.index, sp);
    node.agentPid = child.pid;
    const line = await waitFor(
      () => {
        const ready = readyLines(logs.stdout)[readyBefore];
        if (ready) return ready;
        if (exit) throw new StopWaiting(`agent on ${node.name} ended (${exit}) before ready`);
        return undefined;
      },
      { timeoutMs: this.opts.readyTimeoutMs, intervalMs: append ? 5 : 50, what: `agent ready on ${node.name}` },
    );
    node.ready = JSON.parse(line) as AgentReady;
    this.log(`agent on ${node.name} ready (pid ${node.ready.pid}, ${node.ready.ports?.length ?? '?'} ports)`);
    return line;
  }

  /**
   * Stop a node's agent with `signal` (default SIGKILL: a crash) and wait until it is gone.
   * Resolves with the exit code (null when killed by a signal).
   */
  async killAgent(index = 1, signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 5000): Promise<number | null> {
    const node = this.node(index);
    const a = this.agents.get(node.index);
    if (!a) throw new Error(`no agent running on ${node.name}`);
    this.agents.delete(node.index);
    if ('exited' in a) {
      a.kill(signal);
      return a.exited(timeoutMs);
    }
    await killPid(a.pid, timeoutMs);
    return null;
  }

  /**
   * Start a node's agent again with the same arguments (after killAgent()); resolves when it
   * printed `ready`. Its output is appended to the same log files. With persistentTaps nothing
   * else changes: the TAPs, their addresses, routes and neighbor entries stayed.
   */
  async restartAgent(index = 1): Promise<AgentReady> {
    const node = this.node(index);
    if (this.opts.forwarder !== 'tapflow') throw new Error('restartAgent(): the forwarder is not tapflow');
    if (this.agents.has(node.index)) await this.killAgent(index);
    await this.startAgent(node, true);
    if (!this.opts.persistentTaps) await this.wireNodeTaps(node);
    return node.ready!;
  }

  /** Move a node's TAPs (already open in the node ns) to their namespaces and configure them. */
  private async wireNodeTaps(node: NodeInfo): Promise<void> {
    const o = this.opts;
    if (o.persistentTaps) return this.configurePersistentTaps(node);
    const moves: string[] = [];
    for (const pod of node.pods) moves.push(`link set ${pod.tap} netns ${pod.ns}`);
    if (this.vnetNs) moves.push(`link set ${node.uplinkTap} netns ${this.vnetNs}`);
    else moves.push(`link set ${node.uplinkTap} netns ${this.client.ns}`);
    await ipBatch(node.ns, moves);
    await Promise.all(
      node.pods.map(async (pod) => {
        await ipBatch(pod.ns, [`link set ${pod.tap} name eth0`]);
        await this.podSysctl(pod);
        await ipBatch(pod.ns, this.podLines(pod));
      }),
    );
    if (this.vnetNs) {
      await ipBatch(this.vnetNs, [`link set ${node.uplinkTap} mtu ${o.uplinkMtu} master br0 up`]);
    } else {
      await ipBatch(this.client.ns, [`link set ${node.uplinkTap} name eth0`]);
    }
    await this.configureHostTap(node);
  }

  /** persistentTaps: nothing moves; addresses and routes on the TAPs where they are. */
  private async configurePersistentTaps(node: NodeInfo): Promise<void> {
    const o = this.opts;
    await Promise.all(
      node.pods.map(async (pod) => {
        await this.podSysctl(pod);
        await ipBatch(pod.ns, this.podLines(pod));
      }),
    );
    if (this.vnetNs) await ipBatch(this.vnetNs, [`link set ${node.uplinkTap} mtu ${o.uplinkMtu} master br0 up`]);
    await this.configureHostTap(node);
  }

  /** The node's own stack behind the host port. */
  private async configureHostTap(node: NodeInfo): Promise<void> {
    const o = this.opts;
    const h = node.hostTap;
    const host = [`link set ${h} mtu ${o.mtu} up`, `addr add ${node.ipv4}/32 dev ${h}`];
    if (node.ipv6) host.push(`addr add ${node.ipv6}/128 dev ${h} nodad`);
    const routed = new Set([...node.podCIDRs, ...this.clusterCIDRs, ...this.vnetPrefixes, ...this.serviceCIDRs]);
    for (const other of this.nodes) for (const c of other.podCIDRs) routed.add(c);
    for (const prefix of routed) host.push(`route add ${prefix} dev ${h}`);
    if (node.ipv6) await execInOk(node.ns, ['sysctl', '-qw', `net.ipv6.conf.${h}.accept_dad=0`, `net.ipv6.conf.${h}.accept_ra=0`]);
    await ipBatch(node.ns, host);
  }

  private async upKernel(): Promise<void> {
    const o = this.opts;
    for (const node of this.nodes) {
      const up = node.uplinkTap;
      const sys = ['net.ipv4.ip_forward=1'];
      if (o.ipv6) sys.push('net.ipv6.conf.all.forwarding=1', 'net.ipv6.conf.all.proxy_ndp=1');
      await execInOk(node.ns, ['sysctl', '-qw', ...sys]);
      const lines: string[] = [];
      // uplink: a veth into the client (1 node) or onto the VNet bridge (2 nodes)
      if (this.vnetNs) lines.push(`link add ${up} type veth peer name ${this.prefix}n${node.index}v netns ${this.vnetNs}`);
      else lines.push(`link add ${up} type veth peer name eth0 netns ${this.client.ns}`);
      for (const pod of node.pods) lines.push(`link add ${pod.tap} type veth peer name eth0 netns ${pod.ns}`);
      await ipBatch(node.ns, lines);
      const devs = [up, ...node.pods.map((p) => p.tap)];
      const dsys: string[] = [];
      for (const d of devs) {
        dsys.push(`net.ipv4.conf.${d}.proxy_arp=1`, `net.ipv4.neigh.${d}.proxy_delay=0`);
        if (o.ipv6) dsys.push(`net.ipv6.neigh.${d}.proxy_delay=0`, `net.ipv6.conf.${d}.accept_dad=0`);
      }
      // cni: the client reaches pods on-link, so the uplink proxies ARP for them; kubenet: it must not
      if (o.mode === 'kubenet') dsys[0] = `net.ipv4.conf.${up}.proxy_arp=0`;
      await execInOk(node.ns, ['sysctl', '-qw', ...dsys]);
      const cfg = [`link set ${up} mtu ${o.uplinkMtu} up`, `addr add ${node.ipv4}/16 dev ${up}`];
      if (node.ipv6) cfg.push(`addr add ${node.ipv6}/64 dev ${up} nodad`);
      for (const pod of node.pods) {
        cfg.push(`link set ${pod.tap} mtu ${o.mtu} up`, `addr add ${pod.gateway4}/32 dev ${pod.tap}`, `route add ${pod.ipv4}/32 dev ${pod.tap}`);
        if (pod.ipv6 && pod.gateway6) {
          cfg.push(`addr add ${pod.gateway6}/128 dev ${pod.tap} nodad`, `route add ${pod.ipv6}/128 dev ${pod.tap}`);
          // proxy NDP: every other address a pod may resolve on-link (other pods, the client, nodes)
          const onLink = [...this.pods.filter((x) => x !== pod).map((x) => x.ipv6!), this.client.ipv6!, ...this.nodes.map((x) => x.ipv6!)];
          for (const a of onLink) cfg.push(`neigh add proxy ${a} dev ${pod.tap}`);
          if (o.mode === 'cni') cfg.push(`neigh add proxy ${pod.ipv6} dev ${up}`);
        }
      }
      for (const other of this.nodes) {
        if (other === node || o.mode !== 'kubenet') continue;
        cfg.push(`route add ${other.podCIDRs[0]} via ${other.ipv4} dev ${up}`);
        if (o.ipv6 && other.podCIDRs[1]) cfg.push(`route add ${other.podCIDRs[1]} via ${other.ipv6} dev ${up}`);
      }
      if (o.mode === 'cni' && this.nodes.length > 1) {
        // other nodes' pods live on-link in the VNet: let their node answer (proxy ARP/NDP there)
        for (const other of this.nodes) {
          if (other === node) continue;
          for (const pod of other.pods) {
            cfg.push(`route add ${pod.ipv4}/32 dev ${up}`);
            if (pod.ipv6) cfg.push(`route add ${pod.ipv6}/128 dev ${up}`);
          }
        }
      }
      await ipBatch(node.ns, cfg);
      await Promise.all(
        node.pods.map(async (pod) => {
          await this.podSysctl(pod);
          await ipBatch(pod.ns, this.podLines(pod));
        }),
      );
      if (this.vnetNs) await ipBatch(this.vnetNs, [`link set ${this.prefix}n${node.index}v mtu ${o.uplinkMtu} master br0 up`]);
    }
  }

  private async configureClient(): Promise<void> {
    const o = this.opts;
    const c = this.client;
    if (o.ipv6) await execInOk(c.ns, ['sysctl', '-qw', 'net.ipv6.conf.eth0.accept_dad=0', 'net.ipv6.conf.eth0.accept_ra=0']);
    const l = [`link set eth0 mtu ${o.uplinkMtu} up`, `addr add ${c.ipv4}/16 dev eth0`];
    if (c.ipv6) l.push(`addr add ${c.ipv6}/64 dev eth0 nodad`);
    if (o.mode === 'kubenet') {
      // the VNet's route table: each node's podCIDRs via the node IP
      for (const node of this.nodes) {
        l.push(`route add ${node.podCIDRs[0]} via ${node.ipv4} dev eth0`);
        if (node.ipv6 && node.podCIDRs[1]) l.push(`route add ${node.podCIDRs[1]} via ${node.ipv6} dev eth0`);
      }
    }
    await ipBatch(c.ns, l);
  }

  // ---------------------------------------------------------------- helpers

  /** Run a command in a namespace (null: the caller's). Never throws on non-zero exit. */
  exec(ns: string | null, cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return execIn(ns, cmd, opts);
  }

  /** Like exec, but throws unless the exit code is 0. */
  execOk(ns: string | null, cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return execInOk(ns, cmd, opts);
  }

  /** Start a long-running process in a namespace; killed at down(). */
  spawn(ns: string | null, cmd: string[], opts: SpawnOptions = {}): SpawnedProcess {
    const argv = ns ? ['ip', 'netns', 'exec', ns, ...cmd] : cmd;
    const child = spawnChild(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    const sp = wrapSpawned(child);
    this.children.add(sp);
    child.on('exit', () => this.children.delete(sp));
    return sp;
  }

  /** Start scripts/pod-http-server.js in every pod (or the given ones) on `port`; resolves when all listen. */
  async startHttpServers(port = 8080, pods: PodInfo[] = this.pods): Promise<SpawnedProcess[]> {
    const script = path.join(this.opts.repoRoot, 'scripts', 'pod-http-server.js');
    const servers = pods.map((pod) => this.spawn(pod.ns, [process.execPath, script, String(port), pod.name]));
    await Promise.all(servers.map((s) => s.waitFor(/listening/, 10000, 'stdout')));
    return servers;
  }

  /** Poll until `ping -c1` from `fromNs` to `addr` succeeds (bounded). */
  async waitReachable(fromNs: string, addr: string, timeoutMs = 10000): Promise<void> {
    const v6 = addr.includes(':');
    await waitFor(
      async () => (await this.exec(fromNs, ['ping', ...(v6 ? ['-6'] : []), '-n', '-c', '1', '-W', '1', addr], { timeoutMs: 3000 })).code === 0,
      { timeoutMs, intervalMs: 100, what: `${addr} reachable from ${fromNs}` },
    );
  }

  /** Client → every pod, v4 and v6: the readiness check tests and the demo start with. */
  async waitAllReachable(timeoutMs = 15000): Promise<void> {
    for (const pod of this.pods) {
      await this.waitReachable(this.client.ns, pod.ipv4, timeoutMs);
      if (pod.ipv6) await this.waitReachable(this.client.ns, pod.ipv6, timeoutMs);
    }
  }

  /** GET /stats from a node's agent (tapflow forwarder only). */
  stats(node = 1, timeoutMs = 3000): Promise<AgentStats> {
    const sock = this.node(node).adminSocket;
    if (!sock) return Promise.reject(new Error('stats(): no admin socket (forwarder is not tapflow)'));
    return getJson<AgentStats>(sock, '/stats', timeoutMs);
  }

  /** The agents' log files (stdout/stderr), for failure messages. */
  agentLogs(): string {
    const parts: string[] = [];
    for (const node of this.nodes) {
      if (!node.agentLog) continue;
      for (const [k, f] of Object.entries(node.agentLog)) {
        try {
          const text = fs.readFileSync(f, 'utf8').trim();
          if (text) parts.push(`[${node.name} ${k}]\n${text.slice(-4000)}`);
        } catch {
          /* gone */
        }
      }
    }
    return parts.join('\n');
  }

  // ---------------------------------------------------------------- down

  /** Stop children and agents, delete everything. Idempotent; safe after a failed up(). */
  down(): Promise<void> {
    if (this.state === 'down' && !this.downPromise) return Promise.resolve();
    this.downPromise ??= this.doDown();
    return this.downPromise;
  }

  private async doDown(): Promise<void> {
    this.state = 'down';
    const kids = [...this.children];
    for (const c of kids) c.kill('SIGTERM');
    await Promise.all(kids.map((c) => c.exited(2000)));
    for (const node of this.nodes) {
      const a = this.agents.get(node.index);
      if (!a) continue;
      if ('exited' in a) {
        a.kill('SIGTERM');
        const code = await a.exited(5000);
        if (code !== 0) this.log(`agent on ${node.name} exited with ${code}`);
      } else {
        await killPid(a.pid, 5000);
      }
      try {
        const text = fs.readFileSync(node.agentLog!.stdout, 'utf8');
        const stopped = text.split('\n').find((l) => l.includes('"stopped"'));
        if (stopped) node.stopped = JSON.parse(stopped);
      } catch {
        /* no log */
      }
    }
    this.agents.clear();
    await sweepNamespaces(this.namespaces);
    this.namespaces.length = 0;
    await sweepRootLinks(this.prefix);
    if (this.tmpDir && !this.opts.keepTmp) fs.rmSync(this.tmpDir, { recursive: true, force: true });
    fs.rmSync(path.join(STATE_DIR, `${this.prefix}.json`), { force: true });
    live.delete(this);
    this.log('down');
  }

  /** Synchronous last-resort teardown (process exit / signals). */
  downSync(): void {
    if (this.state === 'new') return;
    this.state = 'down';
    for (const c of this.children) {
      try {
        c.child.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const a of this.agents.values()) {
      try {
        if ('exited' in a) a.child.kill('SIGKILL');
        else process.kill(a.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const ns of this.namespaces) {
      try {
        for (const pid of execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5000 }).split(/\s+/).filter(Boolean)) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      } catch {
        /* ns gone */
      }
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 5000 });
      } catch {
        /* gone */
      }
    }
    this.namespaces.length = 0;
    try {
      if (this.tmpDir && !this.opts.keepTmp) fs.rmSync(this.tmpDir, { recursive: true, force: true });
      fs.rmSync(path.join(STATE_DIR, `${this.prefix}.json`), { force: true });
    } catch {
      /* ignore */
    }
    live.delete(this);
  }

  /**
   * Sweep the testbeds whose owning process is gone without taking them down (SIGKILL: a test
   * runner's timeout, an OOM kill). A live owner's testbed, and a detached one, are never
   * touched; a reused pid only delays the sweep. Called by every up().
   */
  static async reapOrphans(log: (line: string) => void = () => undefined): Promise<string[]> {
    const reaped: string[] = [];
    let files: string[];
    try { files = fs.readdirSync(STATE_DIR).filter((f) => f.endsWith('.json')); } catch { return reaped; }
    for (const f of files) {
      let st: StateFile;
      try { st = JSON.parse(fs.readFileSync(path.join(STATE_DIR, f), 'utf8')) as StateFile; } catch { continue; }
      const owner = st.ownerPid ?? 0;
      if (owner <= 0 || owner === process.pid || !PREFIX_RE.test(st.prefix) || processAlive(owner)) continue;
      log(`reaping testbed ${st.prefix}: its owner (pid ${owner}) is gone`);
      await Testbed.sweep(st.prefix);
      reaped.push(st.prefix);
    }
    return reaped;
  }

  private writeState(): void {
    fs.mkdirSync(STATE_DIR, { recursive: true });
    const st: StateFile = {
      prefix: this.prefix,
      ownerPid: this.opts.detach ? 0 : process.pid,
      tmpDir: this.tmpDir,
      agentPids: this.nodes.map((n) => n.agentPid ?? 0).filter(Boolean),
      namespaces: [...this.namespaces],
    };
    fs.writeFileSync(path.join(STATE_DIR, `${this.prefix}.json`), JSON.stringify(st, null, 2));
  }

  /**
   * Delete everything a testbed with this prefix may have left: processes in its namespaces
   * (SIGTERM, then SIGKILL), the namespaces `<prefix>-*`, root-namespace links it names, its
   * temp dirs and state file.
   */
  static async sweep(prefix: string): Promise<string[]> {
    if (!PREFIX_RE.test(prefix)) throw new Error(`bad prefix ${prefix}`);
    const removed: string[] = [];
    const stateFile = path.join(STATE_DIR, `${prefix}.json`);
    if (fs.existsSync(stateFile)) {
      try {
        const st = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as StateFile;
        for (const pid of st.agentPids) await killPid(pid, 5000);
      } catch {
        /* corrupt state: the namespace sweep still kills everything */
      }
      fs.rmSync(stateFile, { force: true });
    }
    const list = await execIn(null, ['ip', 'netns', 'list']);
    const ours = list.stdout
      .split('\n')
      .map((l) => l.split(' ')[0])
      .filter((n) => n && n.startsWith(`${prefix}-`));
    await sweepNamespaces(ours);
    removed.push(...ours);
    removed.push(...(await sweepRootLinks(prefix)));
    for (const d of fs.readdirSync(os.tmpdir())) {
      if (d.startsWith(`tapflow-testbed-${prefix}-`)) {
        fs.rmSync(path.join(os.tmpdir(), d), { recursive: true, force: true });
        removed.push(path.join(os.tmpdir(), d));
      }
    }
    return removed;
  }

  /** Prefixes of testbeds left by `up` (detached) or by an owner that is gone — never a live owner's. */
  static detachedPrefixes(): string[] {
    if (!fs.existsSync(STATE_DIR)) return [];
    return fs
      .readdirSync(STATE_DIR)
      .filter((f) => f.endsWith('.json'))
      .filter((f) => {
        try {
          const owner = (JSON.parse(fs.readFileSync(path.join(STATE_DIR, f), 'utf8')) as StateFile).ownerPid ?? 0;
          return owner <= 0 || !processAlive(owner);
        } catch { return true; }
      })
      .map((f) => f.slice(0, -5));
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function killPid(pid: number, graceMs: number): Promise<void> {
  if (!pid || !processAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && processAlive(pid)) await sleep(50);
  if (processAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

async function sweepNamespaces(names: string[]): Promise<void> {
  for (const ns of names) {
    const r = await execIn(null, ['ip', 'netns', 'pids', ns], { timeoutMs: 5000 });
    const pids = r.stdout.split(/\s+/).filter(Boolean).map(Number);
    await Promise.all(pids.map((pid) => killPid(pid, 2000)));
  }
  for (const ns of names) await execIn(null, ['ip', 'netns', 'del', ns], { timeoutMs: 10000 });
}

/** Root-namespace links named like testbed interfaces of this prefix (only if something leaked there). */
async function sweepRootLinks(prefix: string): Promise<string[]> {
  const re = new RegExp(`^${prefix}(n\\d+[uhv]|n\\d+p\\d+|c)$`);
  const r = await execIn(null, ['ip', '-o', 'link', 'show']);
  const names = r.stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => !!n && re.test(n));
  for (const n of names) await execIn(null, ['ip', 'link', 'del', n]);
  return names;
}

/** The agent's `ready` lines so far (one per start). */
function readyLines(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('"event":"ready"'));
  } catch {
    return [];
  }
}

function getJson<T>(socketPath: string, urlPath: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: urlPath, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`GET ${urlPath}: HTTP ${res.statusCode}: ${body.slice(0, 500)}`));
        try {
          resolve(JSON.parse(body) as T);
        } catch (e) {
          reject(new Error(`GET ${urlPath}: bad JSON: ${(e as Error).message}: ${body.slice(0, 200)}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath} on ${socketPath}: timeout`)));
    req.on('error', reject);
  });
}

// ---------------------------------------------------------------- CLI

const USAGE = `usage: node dist/scripts/testbed.js up   [--pods N] [--mode kubenet|cni] [--nodes 1|2] [--no-ipv6]
                                      [--prefix tfX] [--forwarder tapflow|kernel] [--mtu N]
                                      [--uplink-mtu N] [--[no-]vnet-hdr] [--persistent-taps]
       node dist/scripts/testbed.js down [--prefix tfX]   (no prefix: every testbed left by 'up')
       node dist/scripts/testbed.js sweep --prefix tfX    (delete leftovers of any run with that prefix)`;

export function parseTestbedArgs(argv: string[]): TestbedOptions & { help?: boolean } {
  const o: TestbedOptions & { help?: boolean } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const int = (): number => {
      const v = val();
      if (!/^\d+$/.test(v)) throw new Error(`${a}: not a number: ${v}`);
      return Number(v);
    };
    switch (a) {
      case '--pods':
        o.pods = int();
        break;
      case '--mode': {
        const m = val();
        if (m !== 'kubenet' && m !== 'cni') throw new Error(`--mode must be kubenet or cni`);
        o.mode = m;
        break;
      }
      case '--nodes': {
        const n = int();
        if (n !== 1 && n !== 2) throw new Error('--nodes must be 1 or 2');
        o.nodes = n;
        break;
      }
      case '--ipv6':
        o.ipv6 = true;
        break;
      case '--no-ipv6':
        o.ipv6 = false;
        break;
      case '--prefix':
        o.prefix = val();
        break;
      case '--forwarder': {
        const f = val();
        if (f !== 'tapflow' && f !== 'kernel') throw new Error('--forwarder must be tapflow or kernel');
        o.forwarder = f;
        break;
      }
      case '--mtu':
        o.mtu = int();
        break;
      case '--uplink-mtu':
        o.uplinkMtu = int();
        break;
      case '--vnet-hdr':
        o.vnetHdr = true;
        break;
      case '--no-vnet-hdr':
        o.vnetHdr = false;
        break;
      case '--persistent-taps':
        o.persistentTaps = true;
        break;
      case '-h':
      case '--help':
        o.help = true;
        break;
      default:
        throw new Error(`unknown argument ${a}`);
    }
  }
  return o;
}

/** Human-readable summary of a running testbed. */
export function describe(tb: Testbed): string {
  const l: string[] = [];
  l.push(`testbed ${tb.prefix}: ${tb.opts.forwarder}, ${tb.opts.mode}, ${tb.nodes.length} node(s)`);
  l.push(`  client  ns ${tb.client.ns}  ${tb.client.ipv4}${tb.client.ipv6 ? '  ' + tb.client.ipv6 : ''}`);
  for (const n of tb.nodes) {
    l.push(`  ${n.name}  ns ${n.ns}  ${n.ipv4}${n.ipv6 ? '  ' + n.ipv6 : ''}  podCIDRs ${n.podCIDRs.join(' ')}`);
    if (n.adminSocket) l.push(`          stats: node bin/tapflow stats --admin-socket ${n.adminSocket}`);
    for (const p of n.pods) l.push(`    ${p.name}  ns ${p.ns}  ${p.ipv4}${p.ipv6 ? '  ' + p.ipv6 : ''}`);
  }
  if (tb.vnetNs) l.push(`  vnet    ns ${tb.vnetNs} (bridge br0)`);
  return l.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  let o: ReturnType<typeof parseTestbedArgs>;
  try {
    o = parseTestbedArgs(rest);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (o.help || !cmd || cmd === '--help' || cmd === '-h') {
    process.stdout.write(USAGE + '\n');
    return cmd ? 0 : 2;
  }
  if (cmd === 'up') {
    const tb = new Testbed({ ...o, detach: true, keepTmp: true, log: (l) => process.stderr.write(l + '\n') });
    await tb.up();
    process.stdout.write(describe(tb) + `\n  tear down: node dist/scripts/testbed.js down --prefix ${tb.prefix}\n`);
    return 0;
  }
  if (cmd === 'down' || cmd === 'sweep') {
    if (cmd === 'sweep' && !o.prefix) {
      process.stderr.write('sweep needs --prefix\n');
      return 2;
    }
    const prefixes = o.prefix ? [o.prefix] : Testbed.detachedPrefixes();
    for (const p of prefixes) {
      const removed = await Testbed.sweep(p);
      process.stdout.write(`${p}: removed ${removed.length ? removed.join(' ') : 'nothing'}\n`);
    }
    if (!prefixes.length) process.stdout.write('no testbed left by `up`\n');
    return 0;
  }
  process.stderr.write(`unknown command ${cmd}\n${USAGE}\n`);
  return 2;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: Error) => {
      process.stderr.write(`${e.stack ?? e.message}\n`);
      process.exit(1);
    },
  );
}
