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
  /** Flow table occupancy. */
  flows?: { entries: number; capacity: number; evicted: number; expired: number };
  /** Live connections per service port ("ns/name:port"), from the flow table. */
  services?: { servicePort: string; connections: number }[];
  /** NSG rules / NetworkPolicies that decided at least one new flow, with their hit counts. */
  rules?: { kind: string; rule: string; priority?: number; hits: number }[];
}

export function snapshotStats(node: string, fwd: Forwarder, ports: readonly Port[], names: readonly { name: string; tap: string; role: string }[],
  keyName: (id: number) => string | undefined = () => undefined): StatsSnapshot {
  const c = fwd.counters;
  const ft = fwd.flows;
  const perService = new Map<number, number>();
  ft.forEach((conn) => { const k = ft.spKey[conn]; if (k >= 0) perService.set(k, (perService.get(k) ?? 0) + 1); });
  const rules: StatsSnapshot['rules'] = [];
  const filters = fwd.gen.filters;
  if (filters !== null) {
    const hits = filters.ruleHits;
    for (let i = 0; i < hits.length; i++) {
      if (hits[i] === 0) continue;
      const d = filters.describeRule(i);
      rules.push({ kind: d.kind, rule: d.kind === 'nsg' ? `${d.nsg}/${d.name}` : (d.policy ?? d.name), ...(d.priority !== undefined ? { priority: d.priority } : {}), hits: hits[i] });
    }
  }
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
    flows: { entries: ft.size, capacity: ft.capacity, evicted: ft.evicted, expired: ft.expired },
    services: [...perService].map(([k, n]) => ({ servicePort: keyName(k) ?? String(k), connections: n })),
    rules,
  };
}
