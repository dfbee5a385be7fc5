/**
 * An in-process Port for unit tests and benchmarks: no kernel, no file descriptors.
 *
 * rx: frames handed to inject() are copied into a fixed, power-of-two ring of slots
 *     (the rx slab, an RxRing: rx-ring.ts); receive() hands up to one batch of them out in
 *     place (no second copy).
 *     A full ring drops and counts (`rxRingFull`); the ring never grows.
 * tx: 'capture' (default) keeps a copy of every sent frame in a bounded ring read with
 *     drainSent(); a full capture ring refuses the frame like a full TX queue would
 *     (txErrors++, not counted as sent), so tests can drive back-pressure paths.
 *     'sink' only counts: no copy, no allocation (benchmarks).
 * loop: loop(frames) preloads frames once; every receive() then re-presents them without
 *     copying, so a pipeline can be driven at tens of Mpps. Pipelines that rewrite frames in
 *     place call refill() (or set restore) to get the pristine bytes back.
 *
 * Readiness (onReadable): with notify 'microtask' (default) or 'immediate', inject()
 * schedules the callback once per wakeup via queueMicrotask / setImmediate (never
 * synchronously), and again after each callback that called receive() while frames are
 * left (level-triggered, like a TAP fd; a callback that does not receive is not spun on).
 * With 'manual' the callback only runs from notify(); tests usually call receive() directly.
 * Loop mode never signals readiness: it is always readable, drive it with receive().
 */
import {
  DEFAULT_BATCH,
  FrameBatch,
  Port,
  PortCounters,
  SLOT_SIZE_GSO,
  SLOT_SIZE_PLAIN,
  VNET_HDR_LEN,
} from './port';
import { Readiness, RxRing, publishBatch, refuseBatch, sinkBatch } from './rx-ring';

export type MemoryPortTxMode = 'capture' | 'sink';
export type MemoryPortNotify = 'microtask' | 'immediate' | 'manual';

export interface MemoryPortOptions {
  /** Default 'mem0'. */
  name?: string;
  /** Headroom carries a real virtio_net_hdr. Default false. */
  vnetHdr?: boolean;
  /** Frames per receive() (rx.offsets.length). Default DEFAULT_BATCH. */
  batch?: number;
  /** Rx ring slots, a power of two. Default 256 (64 with vnetHdr, whose slots are 64 KiB). */
  ringSize?: number;
  /** Bytes per rx slot including the headroom. Default SLOT_SIZE_GSO with vnetHdr, else SLOT_SIZE_PLAIN. */
  slotSize?: number;
  /** Default 'capture'. */
  tx?: MemoryPortTxMode;
  /** Capture ring capacity (frames), a power of two. Default 1024. */
  captureSize?: number;
  /** Default 'microtask'. */
  notify?: MemoryPortNotify;
}

/** A frame captured from send(). */
export interface SentFrame {
  /** Copy of the Ethernet frame. */
  readonly frame: Uint8Array;
  /**
   * Copy of the virtio_net_hdr that went with it: the caller's header when send() had
   * withVnetHdr, zeros otherwise (what a vnet_hdr TAP would get). Null when !vnetHdr.
   */
  readonly vnetHdr: Uint8Array | null;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Loop frames are packed at this alignment (keeps them in few cache lines). */
const LOOP_ALIGN = 64;

export class MemoryPort implements Port {
  readonly name: string;
  readonly vnetHdr: boolean;
  readonly rx: FrameBatch;
  readonly counters: PortCounters = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txErrors: 0 };
  readonly txMode: MemoryPortTxMode;
  readonly slotSize: number;
  readonly ringSize: number;
  /** inject() refused: ring full. */
  rxRingFull = 0;
  /** inject() refused: frame longer than a slot (slotSize - VNET_HDR_LEN). */
  rxTooBig = 0;

  private readonly ring: RxRing;

  private readonly capture: (SentFrame | undefined)[];
  private readonly captureMask: number;
  private capWr = 0;
  private capRd = 0;

  private looping = false;
  private loopN = 0;
  private loopPos = 0;
  private loopOffsets = new Uint32Array(0);
  private loopLengths = new Uint32Array(0);
  private loopEnd = 0;
  private loopPristine: Uint8Array | null = null;
  private loopRestore = false;
  private loopBytes = 0;

  private readonly readiness: Readiness;
  private closed = false;

  constructor(opts: MemoryPortOptions = {}) {
    this.name = opts.name ?? 'mem0';
    this.vnetHdr = opts.vnetHdr ?? false;
    this.slotSize = opts.slotSize ?? (this.vnetHdr ? SLOT_SIZE_GSO : SLOT_SIZE_PLAIN);
    this.ringSize = opts.ringSize ?? (this.vnetHdr ? 64 : 256);
    this.txMode = opts.tx ?? 'capture';
    const notify = opts.notify ?? 'microtask';
    const defer = notify === 'manual' ? null : notify === 'microtask' ? queueMicrotask : setImmediate;
    this.readiness = new Readiness(() => !this.closed && this.pending > 0, defer);
    const batch = opts.batch ?? DEFAULT_BATCH;
    const captureSize = opts.captureSize ?? 1024;
    if (!isPowerOfTwo(this.ringSize)) throw new RangeError(`ringSize ${this.ringSize} is not a power of two`);
    if (!isPowerOfTwo(captureSize)) throw new RangeError(`captureSize ${captureSize} is not a power of two`);
    if (!(batch > 0)) throw new RangeError(`batch ${batch} must be positive`);
    if (!(this.slotSize > VNET_HDR_LEN)) throw new RangeError(`slotSize ${this.slotSize} too small`);
    this.ring = new RxRing(this.ringSize, this.slotSize, batch);
    this.rx = this.ring.rx;
    this.capture = new Array<SentFrame | undefined>(this.txMode === 'capture' ? captureSize : 0);
    this.captureMask = captureSize - 1;
  }

  /** Frames waiting in the rx ring (not yet handed out by receive()). */
  get pending(): number {
    return this.looping ? 0 : this.ring.pending;
  }

  /** Frames waiting in the capture ring. */
  get sentPending(): number {
    return this.capWr - this.capRd;
  }

  /**
   * Copies one frame into the rx ring: inject(frame[, hdr]) or inject(slab, off, len[, hdr]).
   * `hdr` (VNET_HDR_LEN bytes) goes into the headroom on a vnetHdr port; without it the
   * headroom is zeroed there (no offload, no GSO). Returns false when the frame was dropped
   * (ring full: rxRingFull++, too long: rxTooBig++). Schedules readiness (see header).
   */
  inject(frame: Uint8Array, hdr?: Uint8Array): boolean;
  inject(slab: Uint8Array, off: number, len: number, hdr?: Uint8Array): boolean;
  inject(src: Uint8Array, offOrHdr?: number | Uint8Array, len?: number, hdr?: Uint8Array): boolean {
    let off = 0;
    let n = src.length;
    if (typeof offOrHdr === 'number') {
      off = offOrHdr;
      n = len ?? src.length - off;
    } else {
      hdr = offOrHdr;
    }
    const ok = this.put(src, off, n, hdr, -1);
    this.readiness.schedule();
    return ok;
  }

  /**
   * Copies a whole batch in, Port.send-shaped, so one port's tx can feed another's rx.
   * With withVnetHdr each frame's headroom in `slab` is copied as its header. Returns the
   * number accepted (the rest counted as drops).
   */
  injectBatch(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, withVnetHdr: boolean): number {
    let ok = 0;
    for (let i = 0; i < count; i++) {
      const off = offsets[i];
      if (this.put(slab, off, lengths[i], undefined, withVnetHdr ? off - VNET_HDR_LEN : -1)) ok++;
    }
    this.readiness.schedule();
    return ok;
  }

  receive(): number {
    const rx = this.rx;
    this.readiness.receives++;
    if (this.closed) {
      rx.count = 0;
      return 0;
    }
    if (this.looping) return this.receiveLoop();
    return this.ring.receive(this.counters);
  }

  send(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, withVnetHdr: boolean): number {
    const c = this.counters;
    if (this.closed) return refuseBatch(c, count);
    if (this.txMode === 'sink') return sinkBatch(c, lengths, count);
    let sent = 0;
    for (let i = 0; i < count; i++) {
      const off = offsets[i];
      const len = lengths[i];
      if (this.capWr - this.capRd > this.captureMask || (withVnetHdr && this.vnetHdr && off < VNET_HDR_LEN)) {
        c.txErrors++;
        continue;
      }
      let frame: Uint8Array;
      let hdr: Uint8Array | null = null;
      if (this.vnetHdr) {
        // One copy holding header + frame; zero header when the caller had none.
        const both = new Uint8Array(VNET_HDR_LEN + len);
        if (withVnetHdr) both.set(slab.subarray(off - VNET_HDR_LEN, off + len));
        else both.set(slab.subarray(off, off + len), VNET_HDR_LEN);
        hdr = both.subarray(0, VNET_HDR_LEN);
        frame = both.subarray(VNET_HDR_LEN);
      } else {
        frame = slab.slice(off, off + len);
      }
      this.capture[this.capWr & this.captureMask] = { frame, vnetHdr: hdr };
      this.capWr++;
      c.txBytes += len;
      sent++;
    }
    c.txPackets += sent;
    return sent;
  }

  /** Takes every captured frame out of the capture ring (oldest first). */
  drainSent(): Uint8Array[] {
    return this.drainSentFrames().map((s) => s.frame);
  }

  /** Like drainSent(), with each frame's virtio_net_hdr. */
  drainSentFrames(): SentFrame[] {
    const out: SentFrame[] = [];
    while (this.capRd < this.capWr) {
      const i = this.capRd & this.captureMask;
      out.push(this.capture[i] as SentFrame);
      this.capture[i] = undefined;
      this.capRd++;
    }
    return out;
  }

  /**
   * Loop mode: copies `frames` once into the rx slab (packed, 64-byte aligned, with
   * headroom) and from then on every receive() returns the next `batch` of them, cycling,
   * without copying. Frames still in the rx ring are discarded. With restore, every
   * receive() first puts back the pristine bytes (for pipelines that rewrite in place;
   * costs one memcpy of all loop frames). Throws RangeError if they do not fit the slab.
   */
  loop(frames: readonly Uint8Array[], opts: { restore?: boolean; vnetHdrs?: readonly Uint8Array[] } = {}): void {
    const slab = this.rx.slab;
    const n = frames.length;
    if (n === 0) throw new RangeError('loop() needs at least one frame');
    const offs = new Uint32Array(n);
    const lens = new Uint32Array(n);
    let p = 0;
    for (let i = 0; i < n; i++) {
      const f = frames[i];
      if (f.length > this.slotSize - VNET_HDR_LEN) throw new RangeError(`loop frame ${i} longer than a slot`);
      const off = p + VNET_HDR_LEN;
      if (off + f.length > slab.length) throw new RangeError('loop frames do not fit the rx slab');
      slab.fill(0, p, off);
      const h = opts.vnetHdrs?.[i];
      if (h !== undefined && this.vnetHdr) slab.set(h.subarray(0, VNET_HDR_LEN), p);
      slab.set(f, off);
      offs[i] = off;
      lens[i] = f.length;
      p = Math.ceil((off + f.length) / LOOP_ALIGN) * LOOP_ALIGN;
    }
    this.ring.reset();
    this.looping = true;
    this.loopN = n;
    this.loopPos = 0;
    this.loopOffsets = offs;
    this.loopLengths = lens;
    this.loopEnd = Math.min(p, slab.length);
    this.loopPristine = slab.slice(0, this.loopEnd);
    this.loopRestore = opts.restore ?? false;
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += lens[i];
    this.loopBytes = bytes;
  }

  /** Loop mode: copies the pristine loop frames back over the slab (one memcpy). */
  refill(): void {
    const pristine = this.loopPristine;
    if (pristine !== null) this.rx.slab.set(pristine);
  }

  /** Leaves loop mode; the rx ring starts empty. */
  stopLoop(): void {
    this.looping = false;
    this.loopPristine = null;
    this.ring.reset();
    this.rx.count = 0;
  }

  onReadable(cb: () => void): void {
    this.readiness.set(cb);
  }

  /** Runs the readiness callback now if one is set and frames are pending ('manual' mode). */
  notify(): void {
    const cb = this.readiness.callback;
    if (cb !== null && !this.closed && this.pending > 0) cb();
  }

  close(): void {
    this.closed = true;
    this.readiness.set(null);
    this.rx.count = 0;
  }

  private receiveLoop(): number {
    const rx = this.rx;
    const n = this.loopN;
    const max = rx.offsets.length;
    if (this.loopRestore) this.refill();
    if (n <= max) {
      // Reset offsets/lengths: a pipeline may have moved them (e.g. into the headroom).
      rx.offsets.set(this.loopOffsets);
      rx.lengths.set(this.loopLengths);
      return publishBatch(rx, this.counters, n, this.loopBytes);
    }
    const offsets = rx.offsets;
    const lengths = rx.lengths;
    const lo = this.loopOffsets;
    const ll = this.loopLengths;
    let pos = this.loopPos;
    let bytes = 0;
    for (let i = 0; i < max; i++) {
      offsets[i] = lo[pos];
      const len = ll[pos];
      lengths[i] = len;
      bytes += len;
      if (++pos === n) pos = 0;
    }
    this.loopPos = pos;
    return publishBatch(rx, this.counters, max, bytes);
  }

  /** Copies into the next slot; hdrAt >= 0: copy the header from src[hdrAt, +10). */
  private put(src: Uint8Array, off: number, len: number, hdr: Uint8Array | undefined, hdrAt: number): boolean {
    if (this.closed || this.looping) return false;
    const ring = this.ring;
    if (len > ring.room || off < 0 || off + len > src.length) {
      this.rxTooBig++;
      return false;
    }
    if (ring.full) {
      this.rxRingFull++;
      return false;
    }
    const at = ring.nextOffset;
    const base = at - VNET_HDR_LEN;
    const slab = this.rx.slab;
    if (this.vnetHdr) {
      if (hdr !== undefined) slab.set(hdr.subarray(0, VNET_HDR_LEN), base);
      else if (hdrAt >= 0) slab.set(src.subarray(hdrAt, hdrAt + VNET_HDR_LEN), base);
      else slab.fill(0, base, at);
    }
    slab.set(src.subarray(off, off + len), at);
    ring.commit(len);
    return true;
  }

}
