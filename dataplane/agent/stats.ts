/**
 * Stats snapshot: the JSON shape `tapflow stats` prints and the admin socket serves.
 * Built off the hot path from the live counters (a copy, never a reference into them).
 */
import type { Port } from '../io/port';
import type { Forwarder } from '../pipeline/forwarder';

export interface PortStats {
  name: string;
  tap: string;
  role: string;
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  txErrors: number;
  /** Drops attributed to this port as the ingress, by reason name. */
  drops: Record<string, number>;
}

export interface StatsSnapshot {
  node: string;
  configVersion: number;
  ports: PortStats[];
  totals: {
    received: number;
    forwarded: number;
    delivered: number;
    dropped: number;
    pending: number;
    generated: number;
    generatedDropped: number;
    /** received === forwarded + delivered + dropped + pending */
    balanced: boolean;
  };
  neighbors: { entries: number; refused: number };
}

export function snapshotStats(node: string, fwd: Forwarder, ports: readonly Port[], names: readonly { name: string; tap: string; role: string }[]): StatsSnapshot {
  const c = fwd.counters;
  return {
    node,
    configVersion: fwd.gen.version,
    ports: ports.map((p, i) => ({
      name: names[i].name,
      tap: names[i].tap,
      role: names[i].role,
      rxPackets: p.counters.rxPackets,
      rxBytes: p.counters.rxBytes,
      txPackets: p.counters.txPackets,
      txBytes: p.counters.txBytes,
      txErrors: p.counters.txErrors,
      drops: c.dropsOf(i),
    })),
    totals: {
      received: c.received,
      forwarded: c.forwarded,
      delivered: c.delivered,
      dropped: c.dropped,
      pending: c.pending,
      generated: c.generated,
      generatedDropped: c.generatedDropped,
      balanced: c.balanced(),
    },
    neighbors: { entries: fwd.neighbors.size, refused: fwd.neighbors.refused },
  };
}
