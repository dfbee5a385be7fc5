/**
 * `tapflow serve`: run the controller — the desired state in an embedded durable store, the
 * Control API for the CLI, and AgentSync for the node agents, over gRPC.
 */
import { CliUsageError, parseCli, runCli } from '../server/cli-support';
import { ControlServer, serverVersion } from '../server/controller';
import { tlsFromOptions } from '../server/control-client';
import { DEFAULT_ADDRESS, DEFAULT_MAX_MESSAGE_BYTES, readTokenFile } from '../server/transport';

export const DEFAULT_DATA_DIR = '/var/lib/tapflow/controller';

export const SERVE_USAGE = `Usage: tapflow serve [--listen ADDR] [--data-dir DIR] [--token-file F | --tls-cert C --tls-key K --tls-ca CA]

Runs the controller until SIGINT/SIGTERM. Prints one JSON line {"event":"ready",...} when
serving; logs (applies, agent connects, ACK/NACK) as JSON lines on standard error.

Without authentication it listens only on a unix socket or a loopback address; any other
address needs --token-file (bearer token, checked on every call) or mutual TLS.

Options:
  --listen ADDR            unix:/path, host:port or [v6]:port (default ${DEFAULT_ADDRESS})
  --data-dir DIR           the durable store (default ${DEFAULT_DATA_DIR})
  --token-file FILE        require "authorization: Bearer <first line of FILE>"
  --tls-cert FILE          server certificate (PEM), with --tls-key and --tls-ca:
  --tls-key FILE           mutual TLS, client certificates signed by --tls-ca required
  --tls-ca FILE
  --max-message-bytes N    largest gRPC message either way (default ${DEFAULT_MAX_MESSAGE_BYTES})
  --max-streams N          concurrent streams per client connection (default 100)
  -q, --quiet              no logs on standard error
  -h, --help               this help
`;

export async function serveCommand(args: string[]): Promise<number> {
  return runCli(SERVE_USAGE, async () => {
    const { values } = parseCli(args, {
      listen: { type: 'string' },
      'data-dir': { type: 'string' },
      'token-file': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-ca': { type: 'string' },
      'max-message-bytes': { type: 'string' },
      'max-streams': { type: 'string' },
      quiet: { type: 'boolean', short: 'q' },
    }, 0);
    if (values.help) {
      process.stdout.write(SERVE_USAGE);
      return 0;
    }
    const num = (name: string): number | undefined => {
      const v = values[name] as string | undefined;
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) throw new CliUsageError(`--${name} must be a positive integer, got "${v}"`);
      return n;
    };
    const quiet = values.quiet === true;
    const log = (event: string, fields: Record<string, unknown>) => {
      if (!quiet) process.stderr.write(JSON.stringify({ t: new Date().toISOString(), event, ...fields }) + '\n');
    };
    const tokenFile = values['token-file'] as string | undefined;
    const tls = tlsFromOptions(values);
    const maxMessageBytes = num('max-message-bytes');
    const maxStreams = num('max-streams');
    const server = await ControlServer.start({
      listen: (values.listen as string | undefined) ?? DEFAULT_ADDRESS,
      dataDir: (values['data-dir'] as string | undefined) ?? DEFAULT_DATA_DIR,
      ...(tokenFile !== undefined ? { token: readTokenFile(tokenFile) } : {}),
      ...(tls !== undefined ? { tls } : {}),
      ...(maxMessageBytes !== undefined ? { maxMessageBytes } : {}),
      ...(maxStreams !== undefined ? { maxStreamsPerClient: maxStreams } : {}),
      log,
    });
    const c = server.controller;
    process.stdout.write(JSON.stringify({
      event: 'ready', pid: process.pid, listen: server.address, version: serverVersion(),
      storeId: c.store.storeId, desiredStateVersion: c.version, objects: c.store.size,
      auth: tokenFile !== undefined ? 'token' : tls !== undefined ? 'mtls' : 'none',
    }) + '\n');
    await new Promise<void>((resolve) => {
      const done = () => resolve();
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
    });
    await server.stop();
    process.stdout.write(JSON.stringify({ event: 'stopped', desiredStateVersion: c.version }) + '\n');
    return 0;
  });
}
