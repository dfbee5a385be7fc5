/**
 * Forwarding-thread side of the threaded controller link (see agent-link-worker.ts): starts
 * the control thread, applies the configurations it hands over (compile + swap, between
 * batches), answers its queries (stats, trace, flows), and turns apply errors into NACKs.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ControlledAgent, ControllerLink } from './agent-hook';
import { NodeDesiredState } from './agent-hook';
import type { AgentMetrics } from '../../dataplane/agent/metrics';
import type { LinkWorkerData, WireError } from './agent-link-worker';
import type { Manifest } from './model-adapter';
import type { AgentSyncStatus } from './agent-client';
import { TapflowError, ValidationError } from '../model/errors';
import type { DesiredState } from '../model/manifests';
import type { NodeConfig } from '../model/node-config';

export interface ThreadedLinkOptions extends LinkWorkerData {
  metrics?: AgentMetrics;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

function toWire(err: unknown): WireError {
  if (err instanceof ValidationError) return { message: err.message, code: err.code, ...(err.path ? { path: err.path } : {}), issues: err.issues };
  if (err instanceof TapflowError) return { message: err.message, code: err.code, ...(err.path ? { path: err.path } : {}) };
  return { message: err instanceof Error ? err.message : String(err) };
}

export async function attachControllerThreaded(agent: ControlledAgent, opts: ThreadedLinkOptions): Promise<ControllerLink> {
  const log = opts.log ?? (() => undefined);
  const { metrics, log: _l, ...data } = opts;
  void _l;
  const worker = new Worker(path.join(__dirname, 'agent-link-worker.js'), { workerData: { tapflowLink: true, opts: data } });
  let status: AgentSyncStatus | null = null;
  let persistedVersion = 0;
  const started = new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (m: { t: string; [k: string]: unknown }) => {
      if (m.t === 'started') { persistedVersion = m.persistedVersion as number; resolve(); }
    });
  });
  const target = new NodeDesiredState(data.node);
  const compile = (nodeConfig: NodeConfig | null, state: DesiredState): void => {
    agent.apply(nodeConfig ?? agent.config, state);
  };
  worker.on('message', (m: { t: string; id?: number; version?: number; type?: 'SNAPSHOT' | 'DELTA'; upserts?: Manifest[]; removes?: string[]; kind?: string; json?: string; event?: string; fields?: Record<string, unknown>; status?: AgentSyncStatus }) => {
    switch (m.t) {
      case 'config': {
        const t0 = process.hrtime.bigint();
        let ok = false;
        try {
          if (m.type === 'DELTA') target.update(m.upserts!, m.removes!, compile);
          else target.replace(m.upserts!, compile);
          ok = true;
          log('applied', { version: m.version, type: m.type, upserts: m.upserts!.length, removes: m.removes!.length, objects: target.size, thread: 'control' });
          worker.postMessage({ t: 'config-result', id: m.id });
        } catch (err) {
          log('rejected', { version: m.version, error: (err as Error).message });
          worker.postMessage({ t: 'config-result', id: m.id, error: toWire(err) });
        } finally {
          metrics?.observeApply(Number(process.hrtime.bigint() - t0) / 1e9, ok);
        }
        break;
      }
      case 'query': {
        void (async () => {
          try {
            let json: string;
            if (m.kind === 'stats') json = JSON.stringify(agent.stats());
            else if (m.kind === 'trace' && agent.trace) json = await agent.trace(m.json!);
            else if (m.kind === 'flows' && agent.flows) json = await agent.flows(m.json!);
            else throw new TapflowError(`this agent does not answer ${m.kind} queries`, { code: 'UNIMPLEMENTED' });
            worker.postMessage({ t: 'query-result', id: m.id, json });
          } catch (err) {
            worker.postMessage({ t: 'query-result', id: m.id, error: toWire(err) });
          }
        })();
        break;
      }
      case 'log': log(m.event!, m.fields ?? {}); break;
      case 'status': status = m.status!; break;
      default:
    }
  });
  await started;
  const client = {
    status: (): AgentSyncStatus => status ?? ({ node: data.node, connected: false, appliedVersion: persistedVersion, nacks: 0 } as unknown as AgentSyncStatus),
  };
  return {
    client: client as unknown as ControllerLink['client'],
    persistedVersion,
    stop: async () => {
      const done = new Promise<void>((resolve) => {
        const timer = setTimeout(() => resolve(), 2000);
        worker.on('message', (m: { t: string }) => { if (m.t === 'stopped') { clearTimeout(timer); resolve(); } });
      });
      worker.postMessage({ t: 'stop' });
      await done;
      await worker.terminate();
    },
  };
}
