/**
 * Addresses and credentials of the control plane.
 *
 * An address is `unix:/path` (or an absolute path), or `host:port` / `[v6]:port`. The server
 * listens without authentication only on a unix socket or a loopback address; anything else
 * needs a bearer token (checked on every call, `authorization: Bearer …` metadata) or mTLS
 * (client certificates required and checked against the CA). Both can be combined.
 */
import { timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { ServerError } from './errors';
import { toServiceError } from './proto';

export const DEFAULT_SOCKET = '/run/tapflow/control.sock';
export const DEFAULT_ADDRESS = `unix:${DEFAULT_SOCKET}`;
/** Max gRPC message size, both directions, server and clients. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export interface Address {
  kind: 'unix' | 'tcp';
  /** For grpc-js: `unix:/abs/path` or `host:port`. */
  target: string;
  /** unix: the socket path. */
  path: string;
  host: string;
  port: number;
  /** unix sockets and 127.0.0.0/8, ::1, localhost. */
  local: boolean;
}

export class AddressError extends Error {
  override name = 'AddressError';
}

export function parseAddress(s: string): Address {
  if (s.startsWith('unix://')) s = `unix:${s.slice('unix://'.length)}`;
  if (s.startsWith('/')) s = `unix:${s}`;
  if (s.startsWith('unix:')) {
    const p = s.slice(5);
    if (!p.startsWith('/')) throw new AddressError(`unix socket path must be absolute: "${s}"`);
    return { kind: 'unix', target: `unix:${p}`, path: p, host: '', port: 0, local: true };
  }
  let host: string;
  let portText: string;
  const m6 = /^\[([^\]]+)\]:(\d+)$/.exec(s);
  if (m6) {
    host = m6[1];
    portText = m6[2];
  } else {
    const i = s.lastIndexOf(':');
    if (i <= 0 || s.indexOf(':') !== i) throw new AddressError(`address must be unix:/path, host:port or [v6]:port: "${s}"`);
    host = s.slice(0, i);
    portText = s.slice(i + 1);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new AddressError(`bad port in "${s}"`);
  return { kind: 'tcp', target: net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`, path: '', host, port, local: isLoopback(host) };
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  if (net.isIPv6(host)) return host === '::1' || /^(0{0,4}:){7}0{0,3}1$/.test(host) || /^::ffff:127\./i.test(host);
  return false;
}

export interface TlsFiles {
  cert: string;
  key: string;
  /** CA that signs the peers' certificates (server: client certs are required; client: to check the server). */
  ca: string;
}

export function serverCredentials(tls: TlsFiles | undefined): grpc.ServerCredentials {
  if (tls === undefined) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    fs.readFileSync(tls.ca),
    [{ cert_chain: fs.readFileSync(tls.cert), private_key: fs.readFileSync(tls.key) }],
    true,
  );
}

export function channelCredentials(tls: TlsFiles | undefined): grpc.ChannelCredentials {
  if (tls === undefined) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(fs.readFileSync(tls.ca), fs.readFileSync(tls.key), fs.readFileSync(tls.cert));
}

/** A token file: its first line, trimmed; must be non-empty. */
export function readTokenFile(file: string): string {
  const st = fs.statSync(file);
  if ((st.mode & 0o077) !== 0 && process.env.TAPFLOW_ALLOW_OPEN_TOKEN_FILE !== '1') {
    // Warn (not refuse): a world-readable secret is a mistake worth saying out loud.
    process.stderr.write(`warning: token file ${file} is readable by group/others (mode ${(st.mode & 0o777).toString(8)})\n`);
  }
  const token = fs.readFileSync(file, 'utf8').split('\n')[0].trim();
  if (token === '') throw new AddressError(`token file ${file} is empty`);
  return token;
}

/** The listen policy: refuse a non-local address without a token or mTLS. */
export function checkListenPolicy(addr: Address, token: string | undefined, tls: TlsFiles | undefined): void {
  if (addr.local || token !== undefined || tls !== undefined) return;
  throw new AddressError(
    `refusing to listen on ${addr.target} without authentication: it is not a unix socket or loopback address. ` +
    'Pass --token-file FILE (bearer token) or --tls-cert/--tls-key/--tls-ca (mutual TLS).',
  );
}

/** Server interceptor checking `authorization: Bearer <token>` on every call (constant time). */
export function bearerInterceptor(token: string): grpc.ServerInterceptor {
  const want = Buffer.from(`Bearer ${token}`, 'utf8');
  return (_method, call) => {
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const got = metadata.get('authorization')[0];
        const gotBuf = Buffer.from(typeof got === 'string' ? got : '', 'utf8');
        const ok = gotBuf.length === want.length && timingSafeEqual(gotBuf, want);
        if (ok) {
          next(metadata);
        } else {
          const st = toServiceError(new ServerError('UNAUTHENTICATED', got === undefined
            ? 'missing "authorization: Bearer <token>" metadata'
            : 'invalid bearer token'));
          call.sendStatus({ code: st.code ?? grpc.status.UNAUTHENTICATED, details: st.details ?? 'unauthenticated', metadata: st.metadata ?? new grpc.Metadata() });
        }
      })
      .build();
    const responder = new grpc.ResponderBuilder().withStart((next) => next(listener)).build();
    return new grpc.ServerInterceptingCall(call, responder);
  };
}

/** Client interceptor adding the bearer token to every call. */
export function bearerClientInterceptor(token: string): grpc.Interceptor {
  return (options, nextCall) => new grpc.InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      metadata.set('authorization', `Bearer ${token}`);
      next(metadata, listener);
    },
  });
}
