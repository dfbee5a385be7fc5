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
import { formatIpv4, formatIpv6, parseIpv6 } from '../wire/address';
import { AdminServer } from './admin-server';
import { snapshotStats, StatsSnapshot } from './stats';
// LoadBalancer IPs, announcements, health probes, healthCheckNodePorts (see afterCompile).
import { LbAllocationState, readLbState, sameLbState, writeLbState } from '../../control/compile/lb-allocator';
import { HealthChecker, HealthCheckerOptions, HealthChange, ProbeStatus, probeTargets } from './health-checker';
import { HealthCheckServer, HealthCheckServerEvent, HealthCheckServerOptions, HealthCheckListenerStatus, healthCheckAddresses } from './health-check-server';

export interface AgentOptions extends ForwarderOptions {
  /** Unix socket path for the admin endpoint (stats); none when absent. */
  adminSocket?: string;
  /** Frames per receive batch. */
  batch?: number;
  /** Open ports through this instead of TAPs (tests). */
  openPort?: (name: string, tap: string, vnetHdr: boolean) => Port;
  /** Services, endpoints, policies… to forward with from the start. */
  state?: DesiredState | null;
  // ── LoadBalancer / health (afterCompile) ──
  /** Keep the LoadBalancer IP allocation in this JSON file across restarts (standalone mode). */
  lbStateFile?: string;
  /** Gratuitous ARP / unsolicited NA for each new LB / external IP: `count` times, `intervalMs` apart (default 3 × 1000, keepalived style). */
  announce?: { count?: number; intervalMs?: number };
  /** Health probes (tapflow.dev/health-probe); tests shorten intervals here. They run on their own thread unless `worker: false`. */
  healthProbes?: HealthCheckerOptions;
  /** healthCheckNodePort servers; false: none. */
  healthCheckServer?: HealthCheckServerOptions | false;
  /** Health transitions, healthCheckNodePort bind problems, state-file problems. */
  onEvent?: (e: AgentEvent) => void;
}

export type AgentEvent = HealthChange | HealthCheckServerEvent | { event: 'lb-state-error'; file: string; error: string } | { event: 'health-probe-error'; error: string };

export class Agent {
  private timer: NodeJS.Timeout | null = null;
  private admin: AdminServer | null = null;
  private stopped = false;

  /** The last successful compile (service status, timings). */
  lastCompile: NodeCompileResult;
  // LoadBalancer / health runtime (afterCompile).
  private announcer: Announcer | null = null;
  private health: HealthChecker | null = null;
  private hcServer: HealthCheckServer | null = null;
  private lbFile: string | null = null;
  private lbSaved: LbAllocationState | null = null;
  private onEvent: (e: AgentEvent) => void = () => undefined;

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
    let lbState: LbAllocationState | null = null;
    let lbError: string | null = null;
    if (opts.lbStateFile) {
      try {
        lbState = readLbState(opts.lbStateFile);
      } catch (e) {
        lbError = e instanceof Error ? e.message : String(e); // start fresh, report it
      }
    }
    const compiler = new NodeCompiler({ lbState });
    const first = compiler.compile(cfg, opts.state ?? null, 1);
    const gen = first.gen;
    const ports: Port[] = [];
    try {
      for (const pc of cfg.spec.ports) {
        ports.push(opts.openPort
          ? opts.openPort(pc.name, pc.tap, pc.vnetHdr)
          : TapPort.open(pc.tap, { vnetHdr: pc.vnetHdr, batch: opts.batch, ...(pc.netns ? { netns: pc.netns } : {}) }));
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
    // LoadBalancer / health runtime.
    if (opts.onEvent) agent.onEvent = opts.onEvent;
    if (lbError !== null && opts.lbStateFile) agent.onEvent({ event: 'lb-state-error', file: opts.lbStateFile, error: lbError });
    agent.lbFile = opts.lbStateFile ?? null;
    agent.lbSaved = lbState;
    agent.announcer = new Announcer(fwd, opts.announce?.count ?? 3, opts.announce?.intervalMs ?? 1000);
    // Probes on their own thread: this one is busy forwarding, and a probe's callbacks queued
    // behind packet batches would be timed late. Results come back as messages (between batches).
    agent.health = new HealthChecker({
      worker: true, ...opts.healthProbes,
      onChange: (e) => { opts.healthProbes?.onChange?.(e); agent.onEvent(e); },
      onError: (error) => { opts.healthProbes?.onError?.(error); agent.onEvent({ event: 'health-probe-error', error }); },
    });
    if (opts.healthCheckServer !== false) {
      const o = opts.healthCheckServer ?? {};
      agent.hcServer = new HealthCheckServer({ ...o, onEvent: (e) => { o.onEvent?.(e); agent.onEvent(e); } });
    }
    agent.afterCompile(first, opts.state ?? null);
    return agent;
  }

  stats(): StatsSnapshot {
    return snapshotStats(this.config.spec.nodeName, this.forwarder, this.ports,
      this.config.spec.ports.map((p) => ({ name: p.name, tap: p.tap, role: p.role })), (id) => this.compiler.interner.name(id));
  }

  /**
   * Apply a new desired state: compiled here, off the hot path, and swapped in as one
   * reference (the forwarder only ever sees whole generations, between batches). Throws —
   * leaving the running generation untouched — when it cannot be compiled or would change
   * the set of ports (ports are opened once; a new port set needs a restart).
   */
  apply(cfg: NodeConfig, state: DesiredState | null, version = this.forwarder.gen.version + 1): NodeCompileResult {
    const before = this.config.spec.ports.map((p) => `${p.name}/${p.tap}/${p.vnetHdr}/${p.netns ?? ""}`).join(',');
    const after = cfg.spec.ports.map((p) => `${p.name}/${p.tap}/${p.vnetHdr}/${p.netns ?? ""}`).join(',');
    if (before !== after) {
      throw new TapflowError(`the port set changed (${before} → ${after}); restart the agent to open new ports`, { code: 'CONFLICT', path: 'spec.ports' });
    }
    const res = this.compiler.compile(cfg, state, version);
    this.forwarder.setGeneration(res.gen);
    this.config = cfg;
    this.lastCompile = res;
    this.afterCompile(res, state);
    return res;
  }

  // ── LoadBalancer / health hooks ────────────────────────────────────────────────────────
  /**
   * After a generation is live: persist the LoadBalancer allocation when it changed, announce
   * addresses the uplink newly answers for (GARP / unsolicited NA), hand the probe targets to
   * the health checker and the healthCheckNodePorts to their server. Never throws.
   */
  private lastState: DesiredState | null = null;

  private afterCompile(res: NodeCompileResult, state: DesiredState | null): void {
    this.lastState = state;
    const st = this.compiler.lbState;
    if (this.lbFile !== null && st !== null && (this.lbSaved === null || !sameLbState(st, this.lbSaved))) {
      try {
        writeLbState(this.lbFile, st);
        this.lbSaved = st;
      } catch (e) {
        this.onEvent({ event: 'lb-state-error', file: this.lbFile, error: e instanceof Error ? e.message : String(e) });
      }
    }
    this.announcer?.update(this.config.spec.uplinkPort, res.services.ownedAddresses());
    const services = state ? state.services() : [];
    this.health?.update(probeTargets(services, (ns, name) => state?.endpointSlicesFor(ns, name) ?? [], res.services.interner), res.services);
    this.hcServer?.update(res.services.healthChecks, healthCheckAddresses(this.config.spec));
  }

  /** Health probe state (one entry per probed endpoint × probe spec). */
  healthStatus(): ProbeStatus[] {
    return this.health?.status() ?? [];
  }

  /** healthCheckNodePort listeners (bind errors included). */
  healthCheckStatus(): HealthCheckListenerStatus[] {
    return this.hcServer?.status() ?? [];
  }

  /** The desired state last applied (null: none yet). */
  get desired(): DesiredState | null {
    return this.lastState;
  }

  /**
   * `tapflow trace` through this agent (relayed by the controller): the packet runs through
   * a Tracer built on this agent's current NodeConfig and desired state — the same compiled
   * tables and forwarder code, on memory ports, so live traffic is not touched.
   */
  async trace(packetJson: string): Promise<string> {
    const { Tracer } = await import('./tracer');
    const { DesiredState: DS } = await import('../../control/model/manifests');
    const tracer = new Tracer(this.config, this.lastState ?? new DS());
    return JSON.stringify(tracer.trace(JSON.parse(packetJson)));
  }

  /**
   * The flow table (relayed `tapflow flows`): connections with both directions' tuples, NAT,
   * state, packets and bytes. Request JSON: {limit?, proto?, address?} (address matches any
   * tuple address). Bounded by limit (default 1000).
   */
  flows(requestJson: string): string {
    const req = (requestJson ? JSON.parse(requestJson) : {}) as { limit?: number; proto?: string; address?: string };
    const ft = this.forwarder.flows;
    const limit = Math.min(Math.max(1, req.limit ?? 1000), 100000);
    const protoNum = req.proto ? ({ tcp: 6, udp: 17, sctp: 132, icmp: 1, icmpv6: 58 } as Record<string, number>)[req.proto] : undefined;
    const k = new Uint32Array(10), b16 = new Uint8Array(16);
    // The same text form the rest of tapflow prints (RFC 5952 for IPv6), so --address fd00::1 matches.
    const addr = (w: Uint32Array, o: number, fam: number): string => {
      if (fam === 4) return formatIpv4(w[o + 3]);
      for (let i = 0; i < 4; i++) { const v = w[o + i]; b16[i * 4] = v >>> 24; b16[i * 4 + 1] = (v >>> 16) & 255; b16[i * 4 + 2] = (v >>> 8) & 255; b16[i * 4 + 3] = v & 255; }
      return formatIpv6(b16, 0);
    };
    const v6 = req.address?.includes(':') ? parseIpv6(req.address) : null;
    const wantAddress = v6 ? formatIpv6(v6, 0) : req.address;
    const tuple = (fam: number) => ({ src: addr(k, 0, fam), dst: addr(k, 4, fam), sport: k[8] >>> 16, dport: k[8] & 0xffff });
    const out: unknown[] = [];
    ft.forEach((c) => {
      if (out.length >= limit) return;
      if (protoNum !== undefined && ft.proto(c) !== protoNum) return;
      const fam = ft.family(c);
      ft.origKey(c, k); const orig = tuple(fam);
      ft.replyKey(c, k); const reply = tuple(fam);
      if (wantAddress && ![orig.src, orig.dst, reply.src, reply.dst].includes(wantAddress)) return;
      out.push({ id: c, proto: ft.proto(c), state: ft.state[c], orig, reply, packets: [ft.packets[c * 2], ft.packets[c * 2 + 1]], bytes: [ft.bytes[c * 2], ft.bytes[c * 2 + 1]],
        generation: ft.gen[c], service: ft.spKey[c] >= 0 ? this.compiler.interner.name(ft.spKey[c]) ?? null : null,
        backend: ft.beKey[c] >= 0 ? this.compiler.interner.name(ft.beKey[c]) ?? null : null });
    });
    return JSON.stringify({ size: ft.size, capacity: ft.capacity, evicted: ft.evicted, flows: out });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.announcer?.stop();
    const healthStopped = this.health?.stop(); // the probe thread exits meanwhile
    for (const p of this.ports) p.close();
    if (this.admin) await this.admin.close();
    if (this.hcServer) await this.hcServer.close();
    await healthStopped;
  }
}

/**
 * Gratuitous ARP / unsolicited NA for addresses the uplink starts answering for (LoadBalancer
 * ingress, external IPs): sent at once, then `count - 1` more `intervalMs` apart (keepalived
 * style), so VNet neighbors update their caches. An address that goes away stops being
 * announced. Timers are unref'd and cleared by stop().
 */
class Announcer {
  private v4 = new Set<number>();
  private v6 = new Map<string, Uint8Array>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly fwd: Forwarder, private readonly count: number, private readonly intervalMs: number) {}

  update(uplink: number, owned: { v4: number[]; v6: Uint8Array[] }): void {
    const prev4 = this.v4, prev6 = this.v6;
    this.v4 = new Set(owned.v4);
    this.v6 = new Map(owned.v6.map((b) => [Buffer.from(b).toString('hex'), b]));
    for (const a of this.v4) if (!prev4.has(a)) this.repeat(() => this.v4.has(a), () => this.fwd.announce4(uplink, a));
    for (const [k, b] of this.v6) if (!prev6.has(k)) this.repeat(() => this.v6.has(k), () => this.fwd.announce6(uplink, b, 0));
  }

  private repeat(still: () => boolean, send: () => void): void {
    send();
    for (let i = 1; i < this.count; i++) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (still()) send();
      }, i * this.intervalMs);
      t.unref();
      this.timers.add(t);
    }
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
