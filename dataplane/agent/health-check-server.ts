/**
 * healthCheckNodePort servers (kube-proxy's pkg/proxy/healthcheck service health server).
 *
 * For every LoadBalancer service with externalTrafficPolicy Local and a healthCheckNodePort,
 * the node answers HTTP on that port so the cloud load balancer only sends traffic to nodes
 * with local endpoints: any method and path gets
 *
 *   {
 *   	"service": {
 *   		"namespace": "default",
 *   		"name": "web"
 *   	},
 *   	"localEndpoints": 2,
 *   	"serviceProxyHealthy": true
 *   }
 *
 * (kube-proxy's exact text: tab-indented, no trailing newline), status 200 when localEndpoints
 * > 0 and the proxy is healthy, else 503, with `Content-Type: application/json`,
 * `X-Content-Type-Options: nosniff` and `X-Load-Balancing-Endpoint-Weight: N`.
 *
 * It listens in the node namespace on the node IPs NodePorts use (NodeConfig nodePortCIDRs ∩
 * nodeIPs; default the primary IPs — kube-proxy binds its health servers to nodePortAddresses the
 * same way). The host TAP's kernel side holds those IPs, so a client on the uplink reaches the
 * server through tapflow (routed to the host port). The counts are updated on every apply;
 * servers open and close as services come and go. A bind failure (address not there yet,
 * port taken) never throws: it is reported (status(), onEvent) and retried with backoff and
 * on the next update.
 */
import * as http from 'node:http';
import type { HealthCheckInfo } from '../tables/service-table';
import { cidrContains } from '../../control/model/node-config';
import type { NodeConfigSpec } from '../../control/model/node-config';

export interface HealthCheckServerOptions {
  /** First retry of a failed bind after this many ms (doubles up to 30 s). Default 1000. */
  retryMs?: number;
  /** serviceProxyHealthy (default: always true while the agent runs). */
  proxyHealthy?: () => boolean;
  /** Bind failures / recoveries and port conflicts. */
  onEvent?: (e: HealthCheckServerEvent) => void;
}

export interface HealthCheckServerEvent {
  event: 'healthcheck-listen-failed' | 'healthcheck-listening' | 'healthcheck-port-conflict';
  service: string;
  address?: string;
  nodePort: number;
  error?: string;
}

export interface HealthCheckListenerStatus {
  service: string;
  nodePort: number;
  address: string;
  listening: boolean;
  /** The last bind error while not listening. */
  error: string | null;
  localEndpoints: number;
}

interface Listener {
  address: string;
  port: number;
  server: http.Server | null;
  listening: boolean;
  error: string | null;
  retry: NodeJS.Timeout | null;
  backoffMs: number;
  closed: boolean;
}

/** The kube-proxy response body (Go's dedent of its template, trimmed of newlines). */
export function healthCheckBody(service: string, localEndpoints: number, proxyHealthy: boolean): string {
  const slash = service.indexOf('/');
  const ns = service.slice(0, slash), name = service.slice(slash + 1);
  return `{\n\t"service": {\n\t\t"namespace": ${JSON.stringify(ns)},\n\t\t"name": ${JSON.stringify(name)}\n\t},\n\t"localEndpoints": ${localEndpoints},\n\t"serviceProxyHealthy": ${proxyHealthy}\n}`;
}

export class HealthCheckServer {
  /** nodePort → the service answering there and its local endpoint count. */
  private readonly byPort = new Map<number, { service: string; localEndpoints: number }>();
  /** "address|port" → listener. */
  private readonly listeners = new Map<string, Listener>();
  private closed = false;
  private readonly retryMs: number;

  constructor(private readonly opts: HealthCheckServerOptions = {}) {
    this.retryMs = opts.retryMs ?? 1000;
  }

  /** The services to serve (compile order: the older of two services on one port keeps it) and where. */
  update(checks: readonly HealthCheckInfo[], addresses: readonly string[]): void {
    if (this.closed) return;
    const prevPorts = new Map(this.byPort);
    this.byPort.clear();
    for (const c of checks) {
      const holder = this.byPort.get(c.nodePort);
      if (holder !== undefined) {
        if (holder.service !== c.service && prevPorts.get(c.nodePort)?.service !== c.service) {
          this.opts.onEvent?.({ event: 'healthcheck-port-conflict', service: c.service, nodePort: c.nodePort, error: `healthCheckNodePort ${c.nodePort} is already served for ${holder.service}` });
        }
        continue;
      }
      this.byPort.set(c.nodePort, { service: c.service, localEndpoints: c.localEndpoints });
    }
    const want = new Set<string>();
    for (const port of this.byPort.keys()) for (const a of addresses) want.add(`${a}|${port}`);
    for (const [k, l] of this.listeners) {
      if (want.has(k)) continue;
      this.closeListener(l);
      this.listeners.delete(k);
    }
    for (const k of want) {
      const l = this.listeners.get(k);
      if (l === undefined) {
        const bar = k.lastIndexOf('|');
        const nl: Listener = { address: k.slice(0, bar), port: Number(k.slice(bar + 1)), server: null, listening: false, error: null, retry: null, backoffMs: this.retryMs, closed: false };
        this.listeners.set(k, nl);
        this.open(nl);
      } else if (!l.listening && l.server === null) {
        // Failed before: try again now (kube-proxy retries on every sync).
        if (l.retry !== null) clearTimeout(l.retry);
        l.retry = null;
        this.open(l);
      }
    }
  }

  status(): HealthCheckListenerStatus[] {
    return [...this.listeners.values()].map((l) => {
      const s = this.byPort.get(l.port);
      return { service: s?.service ?? '', nodePort: l.port, address: l.address, listening: l.listening, error: l.error, localEndpoints: s?.localEndpoints ?? 0 };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(all.map((l) => this.closeListener(l)));
  }

  // ─── Internals ───

  private open(l: Listener): void {
    const server = http.createServer((req, res) => this.answer(l.port, req, res));
    server.keepAliveTimeout = 5000;
    l.server = server;
    const serviceOf = (): string => this.byPort.get(l.port)?.service ?? '';
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (l.closed) return;
      l.server = null;
      l.listening = false;
      l.error = `${e.code ?? 'error'}: ${e.message}`;
      this.opts.onEvent?.({ event: 'healthcheck-listen-failed', service: serviceOf(), address: l.address, nodePort: l.port, error: l.error });
      server.close();
      l.retry = setTimeout(() => {
        l.retry = null;
        if (!l.closed && !this.closed && l.server === null) this.open(l);
      }, l.backoffMs);
      l.retry.unref();
      l.backoffMs = Math.min(l.backoffMs * 2, 30000);
    });
    server.listen({ host: l.address, port: l.port, exclusive: true }, () => {
      if (l.closed) {
        server.close();
        return;
      }
      const recovered = l.error !== null;
      l.listening = true;
      l.error = null;
      l.backoffMs = this.retryMs;
      server.unref();
      if (recovered) this.opts.onEvent?.({ event: 'healthcheck-listening', service: serviceOf(), address: l.address, nodePort: l.port });
    });
  }

  private closeListener(l: Listener): Promise<void> {
    l.closed = true;
    if (l.retry !== null) clearTimeout(l.retry);
    l.retry = null;
    const s = l.server;
    l.server = null;
    l.listening = false;
    if (s === null) return Promise.resolve();
    return new Promise((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  private answer(port: number, _req: http.IncomingMessage, res: http.ServerResponse): void {
    const s = this.byPort.get(port);
    const healthy = this.opts.proxyHealthy?.() ?? true;
    const count = s?.localEndpoints ?? 0;
    const body = healthCheckBody(s?.service ?? '/', count, healthy);
    res.writeHead(count !== 0 && healthy && s !== undefined ? 200 : 503, {
      'Content-Type': 'application/json',
      'X-Content-Type-Options': 'nosniff',
      'X-Load-Balancing-Endpoint-Weight': String(count),
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
  }
}

/** Where healthCheckNodePorts listen: the node IPs inside nodePortCIDRs (kube-proxy: nodePortAddresses). */
export function healthCheckAddresses(spec: Pick<NodeConfigSpec, 'nodeIPs' | 'nodePortCIDRs'>): string[] {
  return spec.nodeIPs.filter((ip) => spec.nodePortCIDRs.some((c) => cidrContains(c, ip))).map((ip) => ip.text);
}
