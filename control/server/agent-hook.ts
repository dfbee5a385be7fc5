/**
 * The glue between a running node agent and the controller, for `tapflow run --controller`:
 *
 *   const link = await attachController(agent, { address, node, stateDir, token?, metrics? });
 *   ...
 *   await link.stop();
 *
 * At attach, the last applied configuration in stateDir (if any) is applied first, so the agent
 * forwards with it even while the controller is down; then the Sync stream starts. Every push
 * becomes `agent.apply(nodeConfig, desiredState)`: the node's own NodeConfig from the
 * controller when it has one (else the agent's current one), everything else as the
 * DesiredState. A compile error (or a changed port set) throws → NACK with its field path; the
 * running generation stays. Queries: `stats` → agent.stats(); `trace`/`flows` when the agent
 * offers them.
 */
import { TapflowError } from '../model/errors';
import { DesiredState, Manifest } from '../model/manifests';
import type { NodeConfig } from '../model/node-config';
import type { StatsSnapshot } from '../../dataplane/agent/stats';
import { AgentMetrics, MetricsServer } from '../../dataplane/agent/metrics';
import { AgentSyncClient, AgentSyncClientOptions, ConfigUpdate } from './agent-client';
import type { TlsFiles } from './transport';

/** What the hook needs of the agent (dataplane/agent/agent.ts `Agent` has it). */
export interface ControlledAgent {
  readonly config: NodeConfig;
  apply(cfg: NodeConfig, state: DesiredState | null): unknown;
  stats(): StatsSnapshot;
  readonly forwarder?: { readonly flows?: { readonly size: number; readonly capacity: number } };
  /** Optional: answer `tapflow` Trace requests relayed by the controller (JSON in, JSON out). */
  trace?(packetJson: string): Promise<string> | string;
  /** Optional: answer Flows requests. */
  flows?(requestJson: string): Promise<string> | string;
}

export interface ControllerLinkOptions {
  /** Controller address (unix:/path, host:port). */
  address: string;
  /** Node name; default the agent's NodeConfig spec.nodeName. */
  node?: string;
  /** Where the last applied configuration is kept (e.g. /var/lib/tapflow/agent). */
  stateDir: string;
  token?: string;
  tls?: TlsFiles;
  agentVersion?: string;
  /** Apply latency goes into this histogram. */
  metrics?: AgentMetrics;
  /** Events: applied, rejected, persisted-applied, persisted-rejected, sync-* (see AgentSyncClient). */
  log?: (event: string, fields: Record<string, unknown>) => void;
  /** Overrides for the client (tests: backoff). */
  client?: Partial<AgentSyncClientOptions>;
}

export interface ControllerLink {
  client: AgentSyncClient;
  /** The persisted version applied at attach (0: none). */
  persistedVersion: number;
  stop(): Promise<void>;
}

/** The NodeConfig and the rest of a pushed configuration, for one node. */
export function splitConfig(manifests: Manifest[], node: string): { nodeConfig: NodeConfig | null; state: DesiredState } {
  let nodeConfig: NodeConfig | null = null;
  const rest: Manifest[] = [];
  for (const m of manifests) {
    if (m.kind === 'NodeConfig') {
      const nc = m.object as NodeConfig;
      if (nc.spec.nodeName === node) nodeConfig = nc;
    } else {
      rest.push(m);
    }
  }
  return { nodeConfig, state: new DesiredState(rest) };
}

/**
 * The forwarding side of the pushed configuration: this node's NodeConfig and a DesiredState
 * of everything else. A delta is applied to the DesiredState in place (O(changes), no
 * rebuild) and rolled back if the agent rejects it, so a NACK leaves exactly the running state.
 */
export class NodeDesiredState {
  private state = new DesiredState();
  /** This node's NodeConfigs by key (normally one); the last one wins, as in splitConfig. */
  private nodeConfigs = new Map<string, Manifest>();

  constructor(private readonly node: string) {}

  get desired(): DesiredState {
    return this.state;
  }

  /** Objects held, this node's NodeConfig included. */
  get size(): number {
    return this.state.size + this.nodeConfigs.size;
  }

  /** Replace everything with `manifests` if `apply` accepts them; a throw changes nothing. */
  replace(manifests: Manifest[], apply: (nodeConfig: NodeConfig | null, state: DesiredState) => void): void {
    const { nodeConfig, state } = splitConfig(manifests, this.node);
    apply(nodeConfig, state);
    this.state = state;
    this.nodeConfigs = new Map(manifests.filter((m) => this.ownNodeConfig(m)).map((m) => [m.key, m]));
  }

  /** Apply a delta in place; if `apply` throws, undo it and rethrow. */
  update(upserts: Manifest[], removes: string[], apply: (nodeConfig: NodeConfig | null, state: DesiredState) => void): void {
    const undo: (() => void)[] = [];
    const ncs = new Map(this.nodeConfigs);
    const put = (m: Manifest) => this.state.upsert(m);
    const drop = (m: Manifest) => this.state.delete(m.kind, m.namespace, m.name);
    for (const key of removes) {
      if (ncs.delete(key)) continue;
      const old = this.state.getKey(key);
      if (old === undefined) continue;
      drop(old);
      undo.push(() => put(old));
    }
    for (const m of upserts) {
      if (m.kind === 'NodeConfig') {
        ncs.delete(m.key);
        if (this.ownNodeConfig(m)) ncs.set(m.key, m);
        continue;
      }
      const old = this.state.getKey(m.key);
      put(m);
      undo.push(() => (old !== undefined ? put(old) : drop(m)));
    }
    let nodeConfig: NodeConfig | null = null;
    for (const m of ncs.values()) nodeConfig = m.object as NodeConfig;
    try {
      apply(nodeConfig, this.state);
    } catch (err) {
      for (let i = undo.length - 1; i >= 0; i--) undo[i]();
      throw err;
    }
    this.nodeConfigs = ncs;
  }

  private ownNodeConfig(m: Manifest): boolean {
    return m.kind === 'NodeConfig' && (m.object as NodeConfig).spec.nodeName === this.node;
  }
}

/**
 * Feed ConfigUpdates to a NodeDesiredState. `inSync` is false while the forwarding side does not
 * hold what the client calls its running configuration (the persisted one was rejected at
 * start); a delta then goes in as the whole configuration.
 */
export function applyUpdate(target: NodeDesiredState, u: ConfigUpdate, inSync: boolean, apply: (nodeConfig: NodeConfig | null, state: DesiredState) => void): void {
  if (u.type === 'SNAPSHOT') target.replace(u.upserts, apply);
  else if (!inSync) target.replace(u.manifests(), apply);
  else target.update(u.upserts, u.removes, apply);
}

export async function attachController(agent: ControlledAgent, opts: ControllerLinkOptions): Promise<ControllerLink> {
  const node = opts.node ?? agent.config.spec.nodeName;
  const log = opts.log ?? (() => undefined);
  const target = new NodeDesiredState(node);
  let inSync = true;
  const timed = (fn: () => void): void => {
    const t0 = process.hrtime.bigint();
    let ok = false;
    try {
      fn();
      ok = true;
    } finally {
      opts.metrics?.observeApply(Number(process.hrtime.bigint() - t0) / 1e9, ok);
    }
  };
  const compile = (nodeConfig: NodeConfig | null, state: DesiredState): void => {
    agent.apply(nodeConfig ?? agent.config, state);
  };
  const client = new AgentSyncClient({
    address: opts.address, node, stateDir: opts.stateDir,
    ...(opts.token !== undefined ? { token: opts.token } : {}),
    ...(opts.tls !== undefined ? { tls: opts.tls } : {}),
    ...(opts.agentVersion !== undefined ? { agentVersion: opts.agentVersion } : {}),
    log,
    onConfig: async (u) => {
      try {
        timed(() => applyUpdate(target, u, inSync, compile));
        inSync = true;
        log('applied', { version: u.version, type: u.type, upserts: u.upserts.length, removes: u.removes.length, objects: target.size });
      } catch (err) {
        log('rejected', { version: u.version, error: (err as Error).message });
        throw err;
      }
    },
    onQuery: async (kind, json) => {
      switch (kind) {
        case 'stats': return JSON.stringify(agent.stats());
        case 'trace':
          if (agent.trace) return agent.trace(json);
          break;
        case 'flows':
          if (agent.flows) return agent.flows(json);
          break;
        default:
      }
      throw new TapflowError(`this agent does not answer ${kind} queries`, { code: 'UNIMPLEMENTED' });
    },
    ...opts.client,
  });
  let persistedVersion = 0;
  const persisted = client.loadPersisted();
  if (persisted !== null) {
    try {
      timed(() => target.replace(persisted.manifests, compile));
      persistedVersion = persisted.version;
      log('persisted-applied', { version: persisted.version, objects: persisted.manifests.length });
    } catch (err) {
      inSync = false;
      log('persisted-rejected', { version: persisted.version, error: (err as Error).message });
    }
  }
  client.start();
  return { client, persistedVersion, stop: () => client.stop() };
}

/** The Prometheus endpoint for an agent (and its controller link, when there is one). */
export async function startAgentMetrics(agent: ControlledAgent, listen: string, link?: () => ControllerLink | null): Promise<{ metrics: AgentMetrics; server: MetricsServer }> {
  const metrics = new AgentMetrics({
    stats: () => agent.stats(),
    flows: () => {
      const f = agent.forwarder?.flows;
      return { size: f?.size ?? 0, capacity: f?.capacity ?? 0 };
    },
    sync: () => {
      const l = link?.();
      if (!l) return null;
      const s = l.client.status();
      return { connected: s.connected, appliedVersion: s.appliedVersion, nacks: s.nacks };
    },
  });
  const server = await MetricsServer.listen(listen, metrics);
  return { metrics, server };
}

/** Compile-time check that the real agent fits ControlledAgent (type-only import: no addon loaded). */
export const asControlledAgent = (a: import('../../dataplane/agent/agent').Agent): ControlledAgent => a;
