/**
 * A promise-based client of the Control service (the CLI, tests, the bench). Errors come back as
 * RemoteError: the server's stable code, field path and issues.
 */
import * as grpc from '@grpc/grpc-js';
import {
  PApplyRequest, PApplyResponse, PFlowsResponse, PGetResponse, PListResponse, PObject, PObjectRef,
  PStatsResponse, PTraceResponse, PWatchEvent, PWatchRequest, RemoteError, isServiceError, services,
} from './proto';
import { ServerError } from './errors';
import {
  AddressError, DEFAULT_ADDRESS, DEFAULT_MAX_MESSAGE_BYTES, TlsFiles, bearerClientInterceptor, channelCredentials, parseAddress, readTokenFile,
} from './transport';

export interface ClientOptions {
  /** unix:/path, /path, host:port (default unix:/run/tapflow/control.sock). */
  address: string;
  token?: string;
  tls?: TlsFiles;
  /** Per-call deadline (default 30 s). */
  timeoutMs?: number;
  maxMessageBytes?: number;
}

export function clientChannelOptions(opts: { token?: string; maxMessageBytes?: number }): grpc.ClientOptions {
  const max = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  return {
    'grpc.max_receive_message_length': max,
    'grpc.max_send_message_length': max,
    'grpc.keepalive_time_ms': 30000,
    'grpc.keepalive_timeout_ms': 10000,
    ...(opts.token !== undefined ? { interceptors: [bearerClientInterceptor(opts.token)] } : {}),
  };
}

type Callback<T> = (err: grpc.ServiceError | null, res: T) => void;
type UnaryMethod = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: Callback<unknown>) => void;

export class ControlClient {
  private readonly client: grpc.Client;
  private readonly timeoutMs: number;

  constructor(opts: ClientOptions) {
    const addr = parseAddress(opts.address);
    const { Control } = services();
    this.client = new Control(addr.target, channelCredentials(opts.tls), clientChannelOptions(opts));
    this.timeoutMs = opts.timeoutMs ?? 30000;
  }

  apply(req: Partial<Omit<PApplyRequest, 'upserts'>> & { upserts?: Partial<PObject>[] }): Promise<PApplyResponse> {
    return this.call('Apply', req);
  }

  get(kind: string, name: string, namespace = ''): Promise<PGetResponse> {
    return this.call('Get', { kind, name, namespace });
  }

  list(kind = '', namespace = ''): Promise<PListResponse> {
    return this.call('List', { kind, namespace });
  }

  delete(refs: PObjectRef[], ignoreNotFound = false): Promise<PApplyResponse> {
    return this.call('Delete', { refs, ignoreNotFound });
  }

  stats(node = ''): Promise<PStatsResponse> {
    return this.call('Stats', { node });
  }

  trace(node: string, packetJson: string): Promise<PTraceResponse> {
    return this.call('Trace', { node, packetJson });
  }

  flows(node: string, limit = 0, filterJson = ''): Promise<PFlowsResponse> {
    return this.call('Flows', { node, limit, filterJson });
  }

  /** A Watch stream; `onEvent` for each event. Returns the call (cancel() to stop) and a promise of its end. */
  watch(req: Partial<PWatchRequest>, onEvent: (e: PWatchEvent) => void): { call: grpc.ClientReadableStream<PWatchEvent>; done: Promise<void> } {
    const fn = (this.client as unknown as Record<string, (req: unknown) => grpc.ClientReadableStream<PWatchEvent>>).Watch.bind(this.client);
    const call = fn({ kinds: [], namespace: '', sinceVersion: 0, ...req });
    call.on('data', onEvent);
    const done = new Promise<void>((resolve, reject) => {
      call.on('error', (e) => (isServiceError(e) && e.code === grpc.status.CANCELLED ? resolve() : reject(isServiceError(e) ? new RemoteError(e) : e)));
      call.on('end', () => resolve());
    });
    return { call, done };
  }

  /** Wait until the channel is connected (or fail after timeoutMs). */
  waitForReady(timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(new ServerError('UNAVAILABLE', `cannot reach the controller: ${err.message}`)) : resolve()));
    });
  }

  close(): void {
    this.client.close();
  }

  private call<T>(method: string, req: unknown): Promise<T> {
    const fn = (this.client as unknown as Record<string, UnaryMethod>)[method].bind(this.client);
    return new Promise<T>((resolve, reject) => {
      fn(req, new grpc.Metadata(), { deadline: Date.now() + this.timeoutMs }, (err, res) => {
        if (err) reject(isServiceError(err) ? new RemoteError(err) : err);
        else resolve(res as T);
      });
    });
  }
}

// ─── CLI connection options (shared by apply, get, delete, version) ──────────────────────────

/** The options every client command takes (node:util parseArgs spec). */
export const CONNECTION_OPTIONS = {
  server: { type: 'string' },
  'token-file': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
  timeout: { type: 'string' },
} as const;

export const CONNECTION_HELP = `Connection:
  --server ADDR        controller address: unix:/path, host:port (default $TAPFLOW_SERVER or ${DEFAULT_ADDRESS})
  --token-file FILE    bearer token (default $TAPFLOW_TOKEN_FILE)
  --tls-cert FILE      client certificate for mutual TLS (with --tls-key, --tls-ca)
  --tls-key FILE
  --tls-ca FILE        CA that signed the controller's certificate
  --timeout SECONDS    per request (default 30)`;

/** A ControlClient from parsed CLI options. */
export function clientFromOptions(v: Record<string, unknown>): ControlClient {
  const address = (v.server as string | undefined) || process.env.TAPFLOW_SERVER || DEFAULT_ADDRESS;
  const tokenFile = (v['token-file'] as string | undefined) || process.env.TAPFLOW_TOKEN_FILE || undefined;
  const tls = tlsFromOptions(v);
  const timeout = v.timeout !== undefined ? Number(v.timeout) : 30;
  if (!Number.isFinite(timeout) || timeout <= 0) throw new AddressError(`--timeout must be a positive number of seconds, got "${String(v.timeout)}"`);
  return new ControlClient({
    address,
    ...(tokenFile !== undefined ? { token: readTokenFile(tokenFile) } : {}),
    ...(tls !== undefined ? { tls } : {}),
    timeoutMs: timeout * 1000,
  });
}

/** --tls-cert/--tls-key/--tls-ca: all three or none. */
export function tlsFromOptions(v: Record<string, unknown>): TlsFiles | undefined {
  const cert = v['tls-cert'] as string | undefined;
  const key = v['tls-key'] as string | undefined;
  const ca = v['tls-ca'] as string | undefined;
  if (cert === undefined && key === undefined && ca === undefined) return undefined;
  if (cert === undefined || key === undefined || ca === undefined) throw new AddressError('--tls-cert, --tls-key and --tls-ca go together');
  return { cert, key, ca };
}
