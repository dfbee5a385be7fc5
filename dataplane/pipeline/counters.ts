/**
 * Forwarder counters. Every received frame ends in exactly one of: forwarded (handed to an
 * egress port and accepted by it), delivered (consumed by tapflow itself: ARP/ND answered,
 * echo to a gateway address), dropped (by reason, per ingress port), or is still pending
 * (queued for neighbor resolution). So at any instant:
 *
 *     received = forwarded + delivered + Σ dropped + pending
 *
 * Frames tapflow originates (ARP/ND requests and replies, ICMP errors) are counted as
 * `generated`; they were never received and are outside that sum.
 */
import { DROP_REASON_COUNT, DROP_REASON_NAMES, DropReason } from './drop-reason';

export class ForwarderCounters {
  received = 0;
  forwarded = 0;
  delivered = 0;
  dropped = 0;
  pending = 0;
  generated = 0;
  /** Generated frames that could not be sent (local slab full, rate limit, tx failure). */
  generatedDropped = 0;
  /** drops[port * DROP_REASON_COUNT + reason], attributed to the ingress port. */
  readonly drops: Float64Array;

  constructor(readonly portCount: number) {
    this.drops = new Float64Array(portCount * DROP_REASON_COUNT);
  }

  /** Reason of the most recent drop (read by trace). */
  lastReason: DropReason = DropReason.None;

  drop(port: number, reason: DropReason): void {
    this.drops[port * DROP_REASON_COUNT + reason]++;
    this.dropped++;
    this.lastReason = reason;
  }

  /** Drops by reason name for one port (only the non-zero ones). */
  dropsOf(port: number): Record<string, number> {
    const out: Record<string, number> = {};
    const base = port * DROP_REASON_COUNT;
    for (let r = 1; r < DROP_REASON_COUNT; r++) {
      const n = this.drops[base + r];
      if (n > 0) out[DROP_REASON_NAMES[r]] = n;
    }
    return out;
  }

  /** True when every received frame is accounted for. */
  balanced(): boolean {
    return this.received === this.forwarded + this.delivered + this.dropped + this.pending;
  }
}
