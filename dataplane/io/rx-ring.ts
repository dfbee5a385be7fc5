/**
 * The receive ring the in-process ports share (MemoryPort's inject(), PcapPort's capture
 * callback): a fixed power-of-two ring of slots cut from one slab, filled by a producer and
 * handed out in place by receive(), plus the batch/counter bookkeeping every Port does.
 *
 * Slot s starts at s * slotSize; its frame at s * slotSize + VNET_HDR_LEN (headroom in
 * front, see port.ts). Indices are free-running: wr (producer), rd (first slot still held
 * by the consumer or unread), held (slots handed out by the last receive(), released by
 * the next one), so pending = wr - rd - held.
 *
 * Hand-written on purpose: the frames live in the rx slab that Port.rx exposes and receive()
 * fills offsets/lengths in place, so the ring has to be slots of that slab, not a queue of
 * objects (what npm ring/queue packages store); and it sits on the per-packet path, where
 * nothing here allocates: a produce is a bounds check, a copy by the caller and commit().
 */
import { FrameBatch, PortCounters, VNET_HDR_LEN } from './port';

export class RxRing {
  /** The port's receive batch: `slab` holds every slot; offsets/lengths are batch-sized. */
  readonly rx: FrameBatch;
  readonly size: number;
  readonly slotSize: number;
  /** Largest frame a slot holds (slotSize minus the headroom). */
  readonly room: number;

  private readonly mask: number;
  /** Frame lengths, indexed by ring position. */
  private readonly slotLen: Uint32Array;
  /** Producer index (free-running). */
  private wr = 0;
  /** Consumer index: first slot still owned by the consumer or unread (free-running). */
  private rd = 0;
  /** Frames handed out by the last receive(); their slots stay reserved until the next one. */
  private held = 0;

  /** `size` must be a power of two (the callers check it, with their own messages). */
  constructor(size: number, slotSize: number, batch: number) {
    this.size = size;
    this.slotSize = slotSize;
    this.room = slotSize - VNET_HDR_LEN;
    this.mask = size - 1;
    this.slotLen = new Uint32Array(size);
    this.rx = {
      slab: new Uint8Array(size * slotSize),
      offsets: new Uint32Array(batch),
      lengths: new Uint32Array(batch),
      count: 0,
    };
  }

  /** Frames produced and not yet handed out by receive(). */
  get pending(): number {
    return this.wr - this.rd - this.held;
  }

  /** True when no slot is free (the held batch counts as used). */
  get full(): boolean {
    return this.wr - this.rd >= this.size;
  }

  /** Offset in rx.slab where the next frame goes (its header in the VNET_HDR_LEN bytes before). Check `full` first. */
  get nextOffset(): number {
    return (this.wr & this.mask) * this.slotSize + VNET_HDR_LEN;
  }

  /** Publishes the frame just written at nextOffset. */
  commit(len: number): void {
    this.slotLen[this.wr & this.mask] = len;
    this.wr++;
  }

  /** Empties the ring (pending frames and the held batch are dropped). */
  reset(): void {
    this.wr = this.rd = this.held = 0;
  }

  /**
   * Port.receive(): releases the previous batch's slots, then hands out up to one batch of
   * pending frames in place and counts them. Returns rx.count.
   */
  receive(counters: PortCounters): number {
    const rx = this.rx;
    this.rd += this.held;
    const avail = this.wr - this.rd;
    const max = rx.offsets.length;
    const n = avail < max ? avail : max;
    const offsets = rx.offsets;
    const lengths = rx.lengths;
    const mask = this.mask;
    const slot = this.slotSize;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const s = (this.rd + i) & mask;
      offsets[i] = s * slot + VNET_HDR_LEN;
      const len = this.slotLen[s];
      lengths[i] = len;
      bytes += len;
    }
    this.held = n;
    return publishBatch(rx, counters, n, bytes);
  }
}

/** Ends a Port.receive(): `n` frames of `bytes` in total are in `rx`. Returns n. */
export function publishBatch(rx: FrameBatch, counters: PortCounters, n: number, bytes: number): number {
  rx.count = n;
  counters.rxPackets += n;
  counters.rxBytes += bytes;
  return n;
}

/** Port.send() on a closed port: every frame is a tx error. Returns 0 (none sent). */
export function refuseBatch(counters: PortCounters, count: number): number {
  counters.txErrors += count;
  return 0;
}

/** Port.send() of a port that only counts (a sink): every frame is sent, nothing copied. Returns count. */
export function sinkBatch(counters: PortCounters, lengths: Uint32Array, count: number): number {
  let bytes = 0;
  for (let i = 0; i < count; i++) bytes += lengths[i];
  counters.txPackets += count;
  counters.txBytes += bytes;
  return count;
}

/**
 * Port.onReadable() for ports whose frames arrive from JS (MemoryPort.inject(), PcapPort's
 * capture callback): after frames are produced, schedule() queues the callback once per
 * wakeup through `defer` (never synchronously), and queues it again after each callback
 * that called receive() while frames are left: level-triggered, like a TAP fd. A callback
 * that did not receive is not spun on; the next produce wakes it.
 */
export class Readiness {
  /** receive() calls so far; the port bumps it on every receive(). */
  receives = 0;
  private cb: (() => void) | null = null;
  private scheduled = false;

  /**
   * `ready`: the port is open and has frames pending. `defer`: queueMicrotask or
   * setImmediate; null never calls back on its own (manual mode).
   */
  constructor(private readonly ready: () => boolean, private readonly defer: ((fire: () => void) => void) | null) {}

  /** The callback set by onReadable(), or null. */
  get callback(): (() => void) | null {
    return this.cb;
  }

  /** Port.onReadable(cb); null (on close()) stops the callbacks. */
  set(cb: (() => void) | null): void {
    this.cb = cb;
    this.schedule();
  }

  /** Frames may be pending: queue the callback unless it already is. */
  schedule(): void {
    if (this.scheduled || this.cb === null || this.defer === null || !this.ready()) return;
    this.scheduled = true;
    this.defer(this.fire);
  }

  private readonly fire = (): void => {
    this.scheduled = false;
    const cb = this.cb;
    if (cb === null || !this.ready()) return;
    const before = this.receives;
    cb();
    if (this.receives !== before) this.schedule();
  };
}
