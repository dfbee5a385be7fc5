/**
 * The agent's control thread (worker_threads): the gRPC sync stream to the controller, the
 * protobuf decoding, manifest parsing and validation, and the persisted-config I/O all run
 * here, so none of it ever runs on the forwarding thread. Each configuration is handed to
 * the forwarding thread as parsed manifests (structured clone); the forwarding thread
 * compiles it between batches and answers ok or the error that becomes the NACK.
 *
 * Protocol (parent ⇄ worker):
 *   worker → parent  {t:'config', id, version, type, upserts, removes}   parent → worker {t:'config-result', id, error?}
 *                    (type SNAPSHOT: upserts is everything; DELTA: only what changed, so a push
 *                    to a big state clones O(changes) across the thread boundary)
 *   worker → parent  {t:'query', id, kind, json}             parent → worker {t:'query-result', id, json?, error?}
 *   worker → parent  {t:'log', event, fields} | {t:'status', status} | {t:'started', persistedVersion}
 *   parent → worker  {t:'stop'}                               worker → parent {t:'stopped'}
 */
import { parentPort, workerData } from 'node:worker_threads';
import '../model/kinds';
import { AgentSyncClient, ConfigUpdate } from './agent-client';
import { TapflowError, ValidationError } from '../model/errors';
import type { Issue } from '../model/errors';

export interface LinkWorkerData {
  address: string;
  node: string;
  stateDir: string;
  token?: string;
  agentVersion?: string;
  backoff?: { initialMs?: number; maxMs?: number; factor?: number; jitter?: number };
}

/** An error from the forwarding thread, as it crosses the thread boundary. */
export interface WireError { message: string; code?: string; path?: string; issues?: Issue[] }

export function errorFromWire(e: WireError): Error {
  if (e.issues && e.issues.length > 0) return new ValidationError(e.issues);
  return new TapflowError(e.message, { ...(e.code ? { code: e.code } : {}), ...(e.path ? { path: e.path } : {}) });
}

if (parentPort !== null && workerData && (workerData as { tapflowLink?: boolean }).tapflowLink) {
  const port = parentPort;
  const data = (workerData as { opts: LinkWorkerData }).opts;
  let seq = 0;
  const waiting = new Map<number, { resolve: (v: string) => void; reject: (e: Error) => void }>();
  const ask = (msg: Record<string, unknown>): Promise<string> => new Promise((resolve, reject) => {
    const id = ++seq;
    waiting.set(id, { resolve, reject });
    port.postMessage({ ...msg, id });
  });
  port.on('message', (m: { t: string; id?: number; error?: WireError; json?: string }) => {
    if (m.t === 'config-result' || m.t === 'query-result') {
      const w = waiting.get(m.id!);
      if (!w) return;
      waiting.delete(m.id!);
      if (m.error) w.reject(errorFromWire(m.error));
      else w.resolve(m.json ?? '');
    } else if (m.t === 'stop') {
      void client.stop().then(() => port.postMessage({ t: 'stopped' }));
    } else if (m.t === 'status?') {
      port.postMessage({ t: 'status', status: client.status() });
    }
  });
  const log = (event: string, fields: Record<string, unknown>) => port.postMessage({ t: 'log', event, fields });
  const client = new AgentSyncClient({
    address: data.address, node: data.node, stateDir: data.stateDir,
    ...(data.token !== undefined ? { token: data.token } : {}),
    ...(data.agentVersion !== undefined ? { agentVersion: data.agentVersion } : {}),
    ...(data.backoff !== undefined ? { backoff: data.backoff } : {}),
    log,
    onConfig: async (u: ConfigUpdate) => {
      // While the forwarding thread does not hold the client's running configuration (the
      // persisted one was rejected at start), send everything instead of a delta.
      const full = u.type === 'SNAPSHOT' || !inSync;
      await ask(full
        ? { t: 'config', version: u.version, type: 'SNAPSHOT', upserts: u.type === 'SNAPSHOT' ? u.upserts : u.manifests(), removes: [] }
        : { t: 'config', version: u.version, type: 'DELTA', upserts: u.upserts, removes: u.removes });
      inSync = true;
    },
    onQuery: (kind: string, json: string) => ask({ t: 'query', kind, json }),
  });
  // The persisted version first, so the node forwards from it even while the controller is down.
  let persistedVersion = 0;
  let inSync = true;
  void (async () => {
    const persisted = client.loadPersisted();
    if (persisted !== null) {
      try {
        await ask({ t: 'config', version: persisted.version, type: 'SNAPSHOT', upserts: persisted.manifests, removes: [], persisted: true });
        persistedVersion = persisted.version;
        log('persisted-applied', { version: persisted.version, objects: persisted.manifests.length });
      } catch (err) {
        inSync = false;
        log('persisted-rejected', { version: persisted.version, error: (err as Error).message });
      }
    }
    client.start();
    port.postMessage({ t: 'started', persistedVersion });
    // Status for metrics, pushed (never polled from the forwarding thread).
    setInterval(() => port.postMessage({ t: 'status', status: client.status() }), 1000).unref();
  })();
}
