/**
 * Backend health probes, Azure load-balancer style, for services with the `tapflow.dev/health-probe`
 * annotation ({"protocol":"tcp|http","port":N,"path":"/healthz","intervalSeconds":5,"unhealthyThreshold":2}).
 *
 * The agent probes every endpoint of such a service (TCP connect, or HTTP GET `path` expecting
 * 2xx) every intervalSeconds, with a timeout shorter than the interval. After
 * `unhealthyThreshold` consecutive failures the backend is marked unhealthy
 * (ServiceTable.setBackendHealthy(key, false): new flows skip it, established ones stay — the
 * service table's minimal-disruption design); one successful probe puts it back (Azure: a
 * probe up → back in rotation). Probes leave from the agent process through the node's own
 * stack: the agent runs in the node namespace, whose host TAP routes the pod CIDRs through
 * tapflow, so a plain net.connect(podIP, port) reaches the pod.
 *
 * Two halves:
 *  - ProbeEngine (plain data in, results out): timers, sockets, timeouts, the threshold rule.
 *    In the agent it runs on its own thread (health-probe-worker.ts), so a forwarding thread
 *    busy with packet batches cannot delay a probe's callbacks past its timeout; inline
 *    otherwise (`worker: false`, the default, used by unit tests).
 *  - HealthChecker, on the thread that owns the service table: the target set, the health
 *    marks and the events. Probe results reach it as messages, handled between batches.
 *
 * Health lives in the KeyInterner shared by every generation NodeCompiler builds, so a new
 * generation starts with the same health; the checker also keeps its own map (backend key →
 * the probes that hold it down) and re-asserts it after every update. A backend key is down
 * while any of its probes is down (two services probing one endpoint differently); when a
 * probe goes away (endpoint or annotation removed) its hold is released.
 *
 * Bounded: one in-flight probe per target (a target = endpoint address × probe spec, shared by
 * every service and port using it), every timer unref'd, everything cancelled by stop().
 */
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Service } from '../../control/model/service';
import type { EndpointSlice } from '../../control/model/endpoint-slice';
import { backendKey } from '../tables/service-table';
import type { KeyInterner } from '../tables/service-table';

/** The part of ServiceTable the checker drives (any generation's table: health is shared). */
export interface HealthTable {
  setBackendHealthy(backendKey: number, healthy: boolean): void;
  isBackendHealthy(backendKey: number): boolean;
}

/** One thing to probe: an endpoint address with one probe spec. */
export interface ProbeTarget {
  /** Identity across updates: address, protocol, port, path, interval, threshold. */
  id: string;
  address: string;
  port: number;
  protocol: 'tcp' | 'http';
  /** HTTP path; null for tcp. */
  path: string | null;
  intervalSeconds: number;
  unhealthyThreshold: number;
  /** Backend key ids (KeyInterner) whose health this probe decides. */
  keys: number[];
  /** Their key text ("10.244.0.2:8080/TCP"), for status and events. */
  keyNames: string[];
  /** "namespace/name" of the services probing it. */
  services: string[];
}

/**
 * The probe targets of the desired state: every endpoint (ready or serving) of every service
 * port of a service with a health probe, whose backend key the compile interned (a service
 * the compiler skipped has no keys and is not probed).
 */
export function probeTargets(
  services: readonly Service[],
  slicesFor: (namespace: string, name: string) => readonly EndpointSlice[],
  interner: KeyInterner,
): ProbeTarget[] {
  const byId = new Map<string, ProbeTarget>();
  for (const svc of services) {
    const probe = svc.spec.healthProbe;
    if (probe === null || svc.spec.type === 'ExternalName') continue;
    const skey = `${svc.metadata.namespace}/${svc.metadata.name}`;
    const slices = slicesFor(svc.metadata.namespace, svc.metadata.name);
    for (const sp of svc.spec.ports) {
      for (const es of slices) {
        if (es.addressType === 'FQDN') continue;
        for (const p of es.ports) {
          if (p.name !== sp.name || p.protocol !== sp.protocol || p.port === null) continue;
          for (const ep of es.endpoints) {
            const ip = ep.ips[0];
            if (ip === undefined || !(ep.conditions.ready || ep.conditions.serving)) continue;
            const kname = backendKey(ip.text, p.port, sp.protocol);
            const kid = interner.id(kname);
            if (kid < 0) continue;
            const id = `${ip.text}|${probe.protocol}|${probe.port}|${probe.path ?? ''}|${probe.intervalSeconds}|${probe.unhealthyThreshold}`;
            let t = byId.get(id);
            if (t === undefined) {
              t = {
                id, address: ip.text, port: probe.port, protocol: probe.protocol, path: probe.path,
                intervalSeconds: probe.intervalSeconds, unhealthyThreshold: probe.unhealthyThreshold, keys: [], keyNames: [], services: [],
              };
              byId.set(id, t);
            }
            if (!t.keys.includes(kid)) {
              t.keys.push(kid);
              t.keyNames.push(kname);
            }
            if (!t.services.includes(skey)) t.services.push(skey);
          }
        }
      }
    }
  }
  return [...byId.values()];
}

export interface HealthChange {
  event: 'backend-unhealthy' | 'backend-healthy';
  /** "10.244.0.2:8080" (the probed address and port). */
  target: string;
  protocol: 'tcp' | 'http';
  backends: string[];
  services: string[];
  /** The last probe error (unhealthy) / "probe succeeded" (healthy). */
  reason: string;
  consecutiveFailures: number;
}

export interface HealthCheckerOptions {
  /** Milliseconds per probe-interval second (default 1000; tests shorten intervals with it). */
  msPerSecond?: number;
  /** Probe timeout for an interval (default: 80 % of the interval, at most 10 s). Must stay below the interval. */
  timeoutMs?: (intervalMs: number) => number;
  /** Delay of a new target's first probe (default: spread over min(interval, 1 s) by a hash of the target). */
  firstDelayMs?: (target: ProbeTarget, intervalMs: number) => number;
  /**
   * Run the probes (sockets, timers, timeout measurement) on their own worker thread (default
   * false: on this thread). The agent sets it: its thread is busy forwarding, and a probe
   * whose callbacks wait behind packet batches would be measured late.
   */
  worker?: boolean;
  /** Health transitions. */
  onChange?: (e: HealthChange) => void;
  /** The probe thread died (it is restarted; health marks stay as they were meanwhile). */
  onError?: (message: string) => void;
}

export interface ProbeStatus {
  target: string;
  protocol: 'tcp' | 'http';
  path: string | null;
  intervalMs: number;
  healthy: boolean;
  consecutiveFailures: number;
  probes: number;
  failures: number;
  lastError: string | null;
  backends: string[];
  services: string[];
}

// ─── The prober: what runs on the probe thread (or inline) ─────────────────────────────────

/**
 * One target as the prober sees it: plain data (it crosses the thread boundary), every option
 * already resolved on the owning thread (the option functions cannot cross).
 */
export interface ProbeSpec {
  id: string;
  /** Incarnation: a target removed and added again is a new one (stale results are ignored by it). */
  inc: number;
  address: string;
  port: number;
  protocol: 'tcp' | 'http';
  path: string | null;
  intervalMs: number;
  timeoutMs: number;
  firstDelayMs: number;
  unhealthyThreshold: number;
  /** Health to start from: a restarted probe thread resumes what the owner holds. */
  healthy: boolean;
}

/** A target's state after a probe (the owner mirrors it; `healthy` flips decide transitions). */
export interface ProbeResult {
  id: string;
  inc: number;
  healthy: boolean;
  consecutive: number;
  probes: number;
  failures: number;
  lastError: string | null;
}

interface Live {
  s: ProbeSpec;
  healthy: boolean;
  consecutive: number;
  probes: number;
  failures: number;
  lastError: string | null;
  timer: NodeJS.Timeout | null;
  /** Cancels the in-flight probe (null when none). */
  cancel: (() => void) | null;
  removed: boolean;
}

/**
 * Probe scheduling and the threshold rule, with no table and no events: it reports every
 * probe's outcome to `onResult` (`changed` when the target's health flipped). The same class
 * runs inline and inside health-probe-worker.ts.
 */
export class ProbeEngine {
  private readonly live = new Map<string, Live>();
  private stopped = false;

  constructor(private readonly onResult: (r: ProbeResult, changed: boolean) => void) {}

  /** Replace the target set; targets with the same id and incarnation keep their state. */
  set(specs: readonly ProbeSpec[]): void {
    if (this.stopped) return;
    const want = new Map(specs.map((s) => [s.id, s]));
    for (const [id, l] of this.live) {
      const s = want.get(id);
      if (s !== undefined && s.inc === l.s.inc) continue;
      this.retire(l);
      this.live.delete(id);
    }
    for (const s of specs) {
      if (this.live.has(s.id)) continue;
      const l: Live = { s, healthy: s.healthy, consecutive: 0, probes: 0, failures: 0, lastError: null, timer: null, cancel: null, removed: false };
      this.live.set(s.id, l);
      this.schedule(l, s.firstDelayMs);
    }
  }

  /** Cancel every timer and in-flight probe. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const l of this.live.values()) this.retire(l);
    this.live.clear();
  }

  private schedule(l: Live, delay: number): void {
    l.timer = setTimeout(() => this.tick(l), Math.max(0, delay));
    l.timer.unref();
  }

  private tick(l: Live): void {
    l.timer = null;
    if (l.removed || this.stopped) return;
    // Next tick one interval after this one started (not after the probe ends): detection
    // time is bounded by interval × threshold whatever the probe latency.
    this.schedule(l, l.s.intervalMs);
    if (l.cancel !== null) return; // one in flight per target (cannot happen with timeout < interval)
    l.probes++;
    l.cancel = runProbe(l.s, l.s.timeoutMs, (ok, why) => {
      l.cancel = null;
      if (l.removed || this.stopped) return;
      this.result(l, ok, why);
    });
  }

  private result(l: Live, ok: boolean, why: string): void {
    let changed = false;
    if (ok) {
      l.consecutive = 0;
      l.lastError = null;
      if (!l.healthy) l.healthy = changed = true;
    } else {
      l.failures++;
      l.consecutive++;
      l.lastError = why;
      if (l.healthy && l.consecutive >= l.s.unhealthyThreshold) {
        l.healthy = false;
        changed = true;
      }
    }
    this.onResult({ id: l.s.id, inc: l.s.inc, healthy: l.healthy, consecutive: l.consecutive, probes: l.probes, failures: l.failures, lastError: l.lastError }, changed);
  }

  private retire(l: Live): void {
    l.removed = true;
    if (l.timer !== null) clearTimeout(l.timer);
    l.timer = null;
    l.cancel?.();
    l.cancel = null;
  }
}

/** Where the probes run: an engine on this thread, or the probe worker. */
interface Prober {
  set(specs: ProbeSpec[]): void;
  stop(): Promise<void>;
  readonly threadId: number | null;
}

class InlineProber implements Prober {
  private readonly engine: ProbeEngine;
  readonly threadId = null;
  constructor(onResults: (rs: ProbeResult[]) => void) {
    this.engine = new ProbeEngine((r) => onResults([r]));
  }
  set(specs: ProbeSpec[]): void {
    this.engine.set(specs);
  }
  stop(): Promise<void> {
    this.engine.stop();
    return Promise.resolve();
  }
}

/**
 * The probe worker (health-probe-worker.ts, compiled next to this file in dist/). Messages
 * from it are handled on this thread's event loop, i.e. between forwarding batches. If the
 * thread dies it is started again (backoff 1 s doubling to 30 s) with the current targets,
 * each resuming the health this side holds.
 */
class WorkerProber implements Prober {
  private worker: Worker | null = null;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private backoffMs = 1000;

  constructor(
    private readonly onResults: (rs: ProbeResult[]) => void,
    private readonly onError: (message: string) => void,
    /** The owner's current view of the targets (health to resume from after a restart). */
    private readonly current: () => ProbeSpec[],
  ) {
    this.spawn();
  }

  get threadId(): number | null {
    return this.worker?.threadId ?? null;
  }

  set(specs: ProbeSpec[]): void {
    // While a dead thread waits for its restart, the restart sends the set current then.
    this.worker?.postMessage({ t: 'set', specs });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    const w = this.worker;
    this.worker = null;
    if (w !== null) await w.terminate(); // resolves once the thread has exited
  }

  private spawn(): void {
    const w = new Worker(path.join(__dirname, 'health-probe-worker.js'), { workerData: { tapflowHealthProbes: true } });
    // Never what keeps the process alive: the owner's stop() ends it.
    w.unref();
    this.worker = w;
    let failed = false;
    const died = (why: string): void => {
      if (failed || this.stopped || this.worker !== w) return;
      failed = true;
      this.worker = null;
      this.onError(why);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (this.stopped) return;
        this.spawn();
        this.set(this.current());
      }, this.backoffMs);
      this.restartTimer.unref();
      this.backoffMs = Math.min(this.backoffMs * 2, 30000);
    };
    w.on('message', (m: { t: string; results?: ProbeResult[] }) => {
      if (m.t !== 'results' || this.worker !== w) return;
      this.backoffMs = 1000; // it works
      this.onResults(m.results!);
    });
    w.on('error', (e) => died(`health probe thread failed: ${e.message}`));
    w.on('exit', (code) => died(`health probe thread exited (code ${code})`));
  }
}

// ─── The owner: health marks on the service table, events ──────────────────────────────────

interface Tracked {
  t: ProbeTarget;
  spec: ProbeSpec;
  /** As last reported by the prober. */
  healthy: boolean;
  consecutive: number;
  probes: number;
  failures: number;
  lastError: string | null;
}

export class HealthChecker {
  private readonly tracked = new Map<string, Tracked>();
  /** Backend key id → ids of the targets holding it down. */
  private readonly downBy = new Map<number, Set<string>>();
  private table: HealthTable | null = null;
  private stopped: Promise<void> | null = null;
  private prober: Prober | null = null;
  private inc = 0;
  private readonly msPerSecond: number;

  constructor(private readonly opts: HealthCheckerOptions = {}) {
    this.msPerSecond = opts.msPerSecond ?? 1000;
  }

  /** Replace the probe set (on every apply) and the table to mark health on. */
  update(targets: readonly ProbeTarget[], table: HealthTable): void {
    if (this.stopped !== null) return;
    this.table = table;
    const want = new Map(targets.map((t) => [t.id, t]));
    let changed = false;
    for (const [id, l] of this.tracked) {
      if (want.has(id)) continue;
      if (!l.healthy) for (const k of l.t.keys) this.release(k, id);
      this.tracked.delete(id);
      changed = true;
    }
    for (const t of targets) {
      const l = this.tracked.get(t.id);
      if (l === undefined) {
        this.tracked.set(t.id, this.track(t));
        changed = true;
        continue;
      }
      // Same probe, maybe other backend keys / services: move the hold along.
      const oldKeys = l.t.keys;
      l.t = t;
      if (!l.healthy) {
        for (const k of oldKeys) if (!t.keys.includes(k)) this.release(k, t.id);
        for (const k of t.keys) this.hold(k, t.id);
      }
    }
    // Re-assert every hold on the (possibly new) table: the next generation starts with the same health.
    for (const [k, set] of this.downBy) table.setBackendHealthy(k, set.size === 0);
    // The prober only hears about target changes (most generations change none); started on
    // the first target, so an agent without probes has no probe thread.
    if (!changed) return;
    if (this.prober === null && this.tracked.size === 0) return;
    this.prober ??= this.opts.worker
      ? new WorkerProber((rs) => this.results(rs), (m) => this.opts.onError?.(m), () => this.specs())
      : new InlineProber((rs) => this.results(rs));
    this.prober.set(this.specs());
  }

  status(): ProbeStatus[] {
    return [...this.tracked.values()].map((l) => ({
      target: hostPort(l.t.address, l.t.port),
      protocol: l.t.protocol,
      path: l.t.path,
      intervalMs: l.spec.intervalMs,
      healthy: l.healthy,
      consecutiveFailures: l.consecutive,
      probes: l.probes,
      failures: l.failures,
      lastError: l.lastError,
      backends: l.t.keyNames.slice(),
      services: l.t.services.slice(),
    }));
  }

  /** Backend key ids currently held down. */
  unhealthyKeys(): number[] {
    return [...this.downBy.entries()].filter(([, s]) => s.size > 0).map(([k]) => k);
  }

  /** The probe worker's threadId while it runs (null: none, or probing inline). */
  get probeThreadId(): number | null {
    return this.prober?.threadId ?? null;
  }

  /**
   * Cancel every timer and in-flight probe; health marks are released (backends healthy) at
   * once. The promise resolves when the probe thread has exited.
   */
  stop(): Promise<void> {
    if (this.stopped !== null) return this.stopped;
    for (const [id, l] of this.tracked) if (!l.healthy) for (const k of l.t.keys) this.release(k, id);
    this.tracked.clear();
    this.stopped = this.prober?.stop() ?? Promise.resolve();
    return this.stopped;
  }

  // ─── Internals ───

  private track(t: ProbeTarget): Tracked {
    const intervalMs = Math.max(1, Math.round(t.intervalSeconds * this.msPerSecond));
    const timeoutMs = Math.max(1, Math.min(intervalMs - 1, Math.round(this.opts.timeoutMs?.(intervalMs) ?? Math.min(intervalMs * 0.8, 10000))));
    const firstDelayMs = this.opts.firstDelayMs?.(t, intervalMs) ?? spread(t.id, Math.min(intervalMs, 1000));
    const spec: ProbeSpec = {
      id: t.id, inc: ++this.inc, address: t.address, port: t.port, protocol: t.protocol, path: t.path,
      intervalMs, timeoutMs, firstDelayMs, unhealthyThreshold: t.unhealthyThreshold, healthy: true,
    };
    return { t, spec, healthy: true, consecutive: 0, probes: 0, failures: 0, lastError: null };
  }

  private specs(): ProbeSpec[] {
    return [...this.tracked.values()].map((l) => ({ ...l.spec, healthy: l.healthy }));
  }

  /** Probe outcomes from the prober: mirror them, and turn health flips into holds and events. */
  private results(rs: readonly ProbeResult[]): void {
    if (this.stopped !== null) return;
    for (const r of rs) {
      const l = this.tracked.get(r.id);
      // A result for a target removed (or removed and added again) since it was sent.
      if (l === undefined || l.spec.inc !== r.inc) continue;
      l.consecutive = r.consecutive;
      l.probes = r.probes;
      l.failures = r.failures;
      l.lastError = r.lastError;
      if (r.healthy === l.healthy) continue;
      l.healthy = r.healthy;
      if (r.healthy) {
        for (const k of l.t.keys) this.release(k, r.id);
        this.emit(l, 'backend-healthy', 'probe succeeded');
      } else {
        for (const k of l.t.keys) this.hold(k, r.id);
        this.emit(l, 'backend-unhealthy', r.lastError ?? 'probe failed');
      }
    }
  }

  private hold(k: number, id: string): void {
    let s = this.downBy.get(k);
    if (s === undefined) {
      s = new Set();
      this.downBy.set(k, s);
    }
    s.add(id);
    this.table?.setBackendHealthy(k, false);
  }

  private release(k: number, id: string): void {
    const s = this.downBy.get(k);
    if (s === undefined) return;
    s.delete(id);
    if (s.size === 0) {
      this.downBy.delete(k);
      this.table?.setBackendHealthy(k, true);
    }
  }

  private emit(l: Tracked, event: HealthChange['event'], reason: string): void {
    this.opts.onChange?.({
      event, target: hostPort(l.t.address, l.t.port), protocol: l.t.protocol, backends: l.t.keyNames.slice(),
      services: l.t.services.slice(), reason, consecutiveFailures: l.consecutive,
    });
  }
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** A deterministic offset in [0, span) from the target id (FNV-1a): spreads first probes. */
function spread(id: string, span: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return span > 0 ? h % span : 0;
}

/** Run one probe; `done(ok, why)` is called exactly once unless the returned cancel runs first. */
export function runProbe(t: Pick<ProbeTarget, 'address' | 'port' | 'protocol' | 'path'>, timeoutMs: number, done: (ok: boolean, why: string) => void): () => void {
  let finished = false;
  let cleanup: () => void = () => undefined;
  const finish = (ok: boolean, why: string): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    cleanup();
    done(ok, why);
  };
  const timer = setTimeout(() => finish(false, `timeout after ${timeoutMs} ms`), timeoutMs);
  timer.unref();
  if (t.protocol === 'tcp') {
    const s = net.connect({ host: t.address, port: t.port });
    s.unref();
    cleanup = () => s.destroy();
    s.once('connect', () => finish(true, 'connected'));
    s.once('error', (e: NodeJS.ErrnoException) => finish(false, e.code ?? e.message));
  } else {
    const req = http.request({
      host: t.address, port: t.port, path: t.path ?? '/', method: 'GET', agent: false,
      headers: { 'user-agent': 'tapflow-health-probe/1', connection: 'close' },
    });
    cleanup = () => req.destroy();
    req.once('socket', (s) => s.unref());
    req.once('response', (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      finish(code >= 200 && code < 300, `HTTP ${code}`);
    });
    req.once('error', (e: NodeJS.ErrnoException) => finish(false, e.code ?? e.message));
    req.end();
  }
  return () => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    cleanup();
  };
}
