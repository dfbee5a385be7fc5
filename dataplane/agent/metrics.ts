/**
 * The agent's Prometheus endpoint: `GET /metrics` (text exposition format, prom-client with its
 * own Registry), `/healthz` (the process serves) and `/readyz` (forwarding with a configuration).
 *
 * Everything is collected lazily at scrape time from `agent.stats()` (one snapshot per scrape,
 * shared by every metric) — nothing here runs on the packet path. The one thing recorded as it
 * happens is the apply latency histogram (`observeApply`), once per configuration change.
 *
 *   tapflow_port_{rx,tx}_{packets,bytes}_total{port,tap,role}   tapflow_port_tx_errors_total
 *   tapflow_drops_total{port,reason}                             tapflow_frames_total{outcome}
 *   tapflow_frames_pending   tapflow_counters_balanced            tapflow_neighbor_entries
 *   tapflow_flow_table_entries   tapflow_flow_table_capacity      tapflow_config_version
 *   tapflow_controller_connected   tapflow_config_apply_seconds{result} (histogram)
 *   tapflow_config_nacks_total  + process/nodejs defaults with prefix tapflow_
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StatsSnapshot } from './stats';

export const DEFAULT_METRICS_LISTEN = '127.0.0.1:9109';

export interface MetricsSource {
  /** The counters snapshot (agent.stats()). */
  stats(): StatsSnapshot;
  /** Flow table occupancy (forwarder.flows.size / capacity). */
  flows?(): { size: number; capacity: number };
  /** Ready to forward (default: true). */
  ready?(): boolean;
  /** Controller connection, when the agent has one (AgentSyncClient.status()). */
  sync?(): { connected: boolean; appliedVersion: number; nacks: number } | null;
}

/** One scrape's snapshot, shared by every collector of that scrape. */
class SnapshotCache {
  private at = 0;
  private snap: StatsSnapshot | null = null;
  constructor(private readonly source: MetricsSource, private readonly ttlMs = 50) {}
  get(): StatsSnapshot {
    const now = Date.now();
    if (this.snap === null || now - this.at > this.ttlMs) {
      this.snap = this.source.stats();
      this.at = now;
    }
    return this.snap;
  }
  /** Start a new scrape: the next get() takes a fresh snapshot. */
  reset(): void {
    this.snap = null;
  }
}

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly applySeconds: Histogram<'result'>;
  private readonly cache: SnapshotCache;

  constructor(private readonly source: MetricsSource, opts: { defaultMetrics?: boolean } = {}) {
    const r = this.registry;
    const cache = new SnapshotCache(source);
    this.cache = cache;
    const portLabels = ['port', 'tap', 'role'] as const;

    const portCounter = (name: string, help: string, pick: (p: StatsSnapshot['ports'][number]) => number): void => {
      new Counter({
        name, help, labelNames: portLabels, registers: [r],
        collect() {
          this.reset();
          for (const p of cache.get().ports) this.inc({ port: p.name, tap: p.tap, role: p.role }, pick(p));
        },
      });
    };
    portCounter('tapflow_port_rx_packets_total', 'Frames received on the port.', (p) => p.rxPackets);
    portCounter('tapflow_port_rx_bytes_total', 'Bytes received on the port.', (p) => p.rxBytes);
    portCounter('tapflow_port_tx_packets_total', 'Frames sent on the port.', (p) => p.txPackets);
    portCounter('tapflow_port_tx_bytes_total', 'Bytes sent on the port.', (p) => p.txBytes);
    portCounter('tapflow_port_tx_errors_total', 'Frames the port failed to send.', (p) => p.txErrors);

    new Counter({
      name: 'tapflow_drops_total', help: 'Frames dropped, by ingress port and reason.', labelNames: ['port', 'reason'], registers: [r],
      collect() {
        this.reset();
        for (const p of cache.get().ports) for (const [reason, n] of Object.entries(p.drops)) this.inc({ port: p.name, reason }, n);
      },
    });
    new Counter({
      name: 'tapflow_frames_total', help: 'Received frames by outcome (received = forwarded + delivered + dropped + pending), and frames tapflow generated.',
      labelNames: ['outcome'], registers: [r],
      collect() {
        this.reset();
        const t = cache.get().totals;
        this.inc({ outcome: 'received' }, t.received);
        this.inc({ outcome: 'forwarded' }, t.forwarded);
        this.inc({ outcome: 'delivered' }, t.delivered);
        this.inc({ outcome: 'dropped' }, t.dropped);
        this.inc({ outcome: 'generated' }, t.generated);
        this.inc({ outcome: 'generated-dropped' }, t.generatedDropped);
      },
    });
    const gauge = (name: string, help: string, value: () => number | null): void => {
      new Gauge({
        name, help, registers: [r],
        collect() {
          const v = value();
          if (v === null) this.reset();
          else this.set(v);
        },
      });
    };
    gauge('tapflow_frames_pending', 'Frames waiting for neighbor resolution.', () => cache.get().totals.pending);
    gauge('tapflow_counters_balanced', '1 when received = forwarded + delivered + dropped + pending.', () => (cache.get().totals.balanced ? 1 : 0));
    gauge('tapflow_neighbor_entries', 'Entries in the neighbor table.', () => cache.get().neighbors.entries);
    gauge('tapflow_flow_table_entries', 'Connections in the flow table.', () => source.flows?.().size ?? null);
    gauge('tapflow_flow_table_capacity', 'Connections the flow table can hold.', () => source.flows?.().capacity ?? null);
    gauge('tapflow_config_version', 'Version of the running configuration (generation).', () => cache.get().configVersion);
    gauge('tapflow_config_applied_version', 'Desired-state version from the controller the agent runs (0: none).', () => source.sync?.()?.appliedVersion ?? null);
    gauge('tapflow_controller_connected', '1 while the Sync stream to the controller is up.', () => {
      const s = source.sync?.();
      return s === undefined || s === null ? null : s.connected ? 1 : 0;
    });
    new Counter({
      name: 'tapflow_config_nacks_total', help: 'Configurations from the controller this agent rejected.', registers: [r],
      collect() {
        const s = source.sync?.();
        this.reset();
        if (s) this.inc(s.nacks);
      },
    });
    new Gauge({
      name: 'tapflow_service_connections', help: 'Live connections per service port (from the flow table).', labelNames: ['service_port'], registers: [r],
      collect() {
        this.reset();
        for (const sv of cache.get().services ?? []) this.set({ service_port: sv.servicePort }, sv.connections);
      },
    });
    new Counter({
      name: 'tapflow_rule_hits_total', help: 'New flows decided by each NSG rule / NetworkPolicy.', labelNames: ['kind', 'rule'], registers: [r],
      collect() {
        this.reset();
        for (const h of cache.get().rules ?? []) this.inc({ kind: h.kind, rule: h.rule }, h.hits);
      },
    });
    gauge('tapflow_flow_table_evictions', 'Connections evicted from the full flow table (cumulative).', () => cache.get().flows?.evicted ?? null);
    this.applySeconds = new Histogram({
      name: 'tapflow_config_apply_seconds', help: 'Time to validate, compile and swap in a configuration.',
      labelNames: ['result'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [r],
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: r, prefix: 'tapflow_' });
  }

  /** Record one configuration apply (ok or rejected). */
  observeApply(seconds: number, ok: boolean): void {
    this.applySeconds.observe({ result: ok ? 'ok' : 'error' }, seconds);
  }

  ready(): boolean {
    return this.source.ready?.() ?? true;
  }

  text(): Promise<string> {
    this.cache.reset();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** `GET /metrics`, `/healthz`, `/readyz` over HTTP on host:port. */
export class MetricsServer {
  private constructor(private readonly server: http.Server, readonly address: string) {}

  static listen(listen: string, metrics: AgentMetrics): Promise<MetricsServer> {
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
    if (!m) return Promise.reject(new Error(`--metrics-listen must be host:port or [v6]:port, got "${listen}"`));
    const host = m[1] ?? m[2];
    const port = Number(m[3]);
    const server = http.createServer((req, res) => {
      const url = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (url === '/metrics') {
        metrics.text().then(
          (body) => res.writeHead(200, { 'content-type': metrics.contentType }).end(body),
          (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`error: ${err.message}\n`),
        );
      } else if (url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (url === '/readyz') {
        const ok = metrics.ready();
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ready\n');
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz, /readyz\n');
      }
    });
    server.headersTimeout = 10000;
    server.requestTimeout = 10000;
    server.maxConnections = 64;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const a = server.address() as AddressInfo;
        resolve(new MetricsServer(server, a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`));
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
