/**
 * The node agent: owns the ports and the forwarder. Opens one TAP per NodeConfig port,
 * compiles the configuration into a Generation off the hot path, and forwards on every
 * readiness wakeup. Timers (neighbor retries) run on a bounded interval.
 */
import type { NodeConfig } from '../../control/model/node-config';
import { compileGeneration } from '../../control/compile/generation';
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
}

export class Agent {
  private timer: NodeJS.Timeout | null = null;
  private admin: AdminServer | null = null;
  private stopped = false;

  private constructor(
    readonly config: NodeConfig,
    readonly ports: Port[],
    readonly forwarder: Forwarder,
  ) {}

  static async start(cfg: NodeConfig, opts: AgentOptions = {}): Promise<Agent> {
    const gen = compileGeneration(cfg, 1);
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
    const agent = new Agent(cfg, ports, fwd);
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

  /** Apply a new configuration: compiled here, swapped in between batches. */
  reconfigure(cfg: NodeConfig): void {
    const gen = compileGeneration(cfg, this.forwarder.gen.version + 1);
    this.forwarder.setGeneration(gen);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const p of this.ports) p.close();
    if (this.admin) await this.admin.close();
  }
}
