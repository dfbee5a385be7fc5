/**
 * The agent's health-probe thread (worker_threads): runs a ProbeEngine (health-checker.ts) —
 * the probe sockets, timers and timeout measurement — away from the forwarding thread, whose
 * event loop is busy with packet batches. Started by HealthChecker with `worker: true`.
 *
 * Protocol (owner ⇄ worker):
 *   owner → worker  {t:'set', specs: ProbeSpec[]}      the whole target set, when it changes
 *   worker → owner  {t:'results', results: ProbeResult[]}
 * A health flip is sent at once (with whatever else is pending); plain counter updates
 * (probes, failures, last error: status only) are batched every FLUSH_MS so a large target
 * set costs the forwarding thread a few messages a second, not one per probe.
 * The owner ends the thread with worker.terminate().
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ProbeEngine, ProbeResult, ProbeSpec } from './health-checker';

const FLUSH_MS = 500;

if (parentPort !== null && workerData && (workerData as { tapflowHealthProbes?: boolean }).tapflowHealthProbes) {
  const port = parentPort;
  /** Latest result per target since the last send. */
  const pending = new Map<string, ProbeResult>();
  let timer: NodeJS.Timeout | null = null;
  const flush = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (pending.size === 0) return;
    port.postMessage({ t: 'results', results: [...pending.values()] });
    pending.clear();
  };
  const engine = new ProbeEngine((r, changed) => {
    pending.set(r.id, r);
    if (changed) flush();
    else timer ??= setTimeout(flush, FLUSH_MS);
  });
  port.on('message', (m: { t: string; specs?: ProbeSpec[] }) => {
    if (m.t === 'set') engine.set(m.specs!);
  });
}
