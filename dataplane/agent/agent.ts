/**
 * The node agent: owns the ports and the forwarder. Opens one TAP per NodeConfig port,
 * compiles the configuration into a Generation off the hot path, and forwards on every
 * readiness wakeup. Timers (neighbor retries) run on a bounded interval.
 */
import type { NodeConfig } from '../../control/model/node-config';
import { NodeCompiler, NodeCompileResult } from '../../control/compile/node-compiler';
import type { DesiredState } from '../../control/model/manifests';
import { TapflowError } from '../../control/model/errors';
import type { Port } from '../io/port';
import { TapPort } from '../io/tap-port';
import { Forwarder, ForwarderOptions } from '../pipeline/forwarder';
import { AdminServer } from './admin-server';
import { snapshotStats, StatsSnapshot } from './stats';

export interface AgentOptions extends ForwarderOptions {
  /** Unix socket path for the admin endpoint (stats); none when absent. */
  adminSocket?: string;
  /** Frames per receive batch. */
  batch?: number;
  /** Open ports through this instead of TAPs (tests). */
  openPort?: (name: string, tap: string, vnetHdr: boolean) => Port;
  /** Services, endpoints, policies… to forward with from the start. */
  state?: DesiredState | null;
}

export class Agent {
  private timer: NodeJS.Timeout | null = null;
  private admin: AdminServer | null = null;
  private stopped = false;

  /** The last successful compile (service status, timings). */
  lastCompile: NodeCompileResult;

  private constructor(
    public config: NodeConfig,
    readonly ports: Port[],
    readonly forwarder: Forwarder,
    readonly compiler: NodeCompiler,
    first: NodeCompileResult,
  ) {
    this.lastCompile = first;
  }

  static async start(cfg: NodeConfig, opts: AgentOptions = {}): Promise<Agent> {
    const compiler = new NodeCompiler();
    const first = compiler.compile(cfg, opts.state ?? null, 1);
    const gen = first.gen;
    const ports: Port[] = [];
    try {
      for (const pc of cfg.spec.ports) {
        ports.push(opts.openPort
          ? opts.openPort(pc.name, pc.tap, pc.vnetHdr)
          : TapPort.open(pc.tap, { vnetHdr: pc.vnetHdr, batch: opts.batch }));
      }
    } catch (err) {
      for (const p of ports) p.close();
      throw err;
    }
    const fwd = new Forwarder(ports, gen, opts);
    const agent = new Agent(cfg, ports, fwd, compiler, first);
    ports.forEach((port, i) => port.onReadable(() => fwd.poll(i)));
    agent.timer = setInterval(() => fwd.tick(), 250);
    agent.timer.unref();
    if (opts.adminSocket) agent.admin = await AdminServer.listen(opts.adminSocket, () => agent.stats());
    return agent;
  }

  stats(): StatsSnapshot {
    return snapshotStats(this.config.spec.nodeName, this.forwarder, this.ports,
      this.config.spec.ports.map((p) => ({ name: p.name, tap: p.tap, role: p.role })));
  }

  /**
   * Apply a new desired state: compiled here, off the hot path, and swapped in as one
   * reference (the forwarder only ever sees whole generations, between batches). Throws —
   * leaving the running generation untouched — when it cannot be compiled or would change
   * the set of ports (ports are opened once; a new port set needs a restart).
   */
  apply(cfg: NodeConfig, state: DesiredState | null, version = this.forwarder.gen.version + 1): NodeCompileResult {
    const before = this.config.spec.ports.map((p) => `${p.name}/${p.tap}/${p.vnetHdr}`).join(',');
    const after = cfg.spec.ports.map((p) => `${p.name}/${p.tap}/${p.vnetHdr}`).join(',');
    if (before !== after) {
      throw new TapflowError(`the port set changed (${before} → ${after}); restart the agent to open new ports`, { code: 'CONFLICT', path: 'spec.ports' });
    }
    const res = this.compiler.compile(cfg, state, version);
    this.forwarder.setGeneration(res.gen);
    this.config = cfg;
    this.lastCompile = res;
    return res;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const p of this.ports) p.close();
    if (this.admin) await this.admin.close();
  }
}
