/**
 * TapPort: a Port on a Linux TAP device.
 *
 * Hand-written rather than borrowed: this is the hot path of every frame, and no library
 * fits. Node's net/dgram cannot take a TAP fd, fs.read costs a libuv request per frame, and
 * the npm TUN/TAP packages return one Buffer per packet. What we need is batched TAP I/O into
 * a caller-owned slab (one JS->C crossing per batch, no allocation per frame), so the port is
 * a thin layer over our own addon (dataplane/native/tap.c): readBatch/writeBatch plus a
 * uv_poll for readiness.
 *
 * Receive slab: `batch` slots of SLOT_SIZE_GSO (vnet) or SLOT_SIZE_PLAIN bytes; frame i's
 * Ethernet header at i*slotSize + VNET_HDR_LEN, its virtio_net_hdr (vnet ports) just before.
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
import {
  loadNative,
  PollHandle,
  TAP_MULTI_QUEUE,
  TAP_VNET_HDR,
  TapflowNative,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_F_TSO_ECN,
  WRITE_PLAIN,
  WRITE_VNET_HDR,
  WRITE_ZERO_HDR,
} from '../native';

/** Offloads a vnet TAP gets unless told otherwise: checksum offload and TCP segmentation. */
export const DEFAULT_VNET_OFFLOADS = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;

export interface TapPortOptions {
  /** IFF_VNET_HDR: frames carry a virtio_net_hdr (needed for checksum/TSO offload). */
  vnetHdr?: boolean;
  /** IFF_MULTI_QUEUE: opening the same name again adds a queue. */
  multiQueue?: boolean;
  /**
   * Open the TAP inside this network namespace (a path such as /run/netns/pod-a): attach to
   * the persistent TAP a CNI plugin created as the pod's eth0, or re-attach after a restart.
   */
  netns?: string;
  /** TUNSETPERSIST on open: the device survives this process (crash-restart keeps pods' eth0). */
  persist?: boolean;
  /** Frames per receive batch (default DEFAULT_BATCH). */
  batch?: number;
  /** TUN_F_* bits; vnet ports only. Default DEFAULT_VNET_OFFLOADS. */
  offloads?: number;
}

export class TapPort implements Port {
  readonly rx: FrameBatch;
  readonly counters: PortCounters = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txErrors: 0 };

  private poll: PollHandle | null = null;
  private closed = false;

  private constructor(
    private readonly native: TapflowNative,
    private tapFd: number,
    readonly name: string,
    readonly vnetHdr: boolean,
    /** Bytes per receive slot. */
    readonly slotSize: number,
    batch: number,
  ) {
    const offsets = new Uint32Array(batch);
    for (let i = 0; i < batch; i++) offsets[i] = i * slotSize + VNET_HDR_LEN;
    this.rx = { slab: new Uint8Array(batch * slotSize), offsets, lengths: new Uint32Array(batch), count: 0 };
  }

  /** The TAP's file descriptor (-1 once closed). */
  get fd(): number {
    return this.tapFd;
  }

  /**
   * Create (or attach to) TAP `name`; '' lets the kernel choose, see `.name`. Throws the
   * addon's system error (code EPERM, EBUSY, EINVAL, ENAMETOOLONG, ...) if it cannot.
   */
  static open(name: string, opts: TapPortOptions = {}): TapPort {
    const native = loadNative();
    const vnetHdr = opts.vnetHdr === true;
    const batch = opts.batch ?? DEFAULT_BATCH;
    if (!Number.isInteger(batch) || batch < 1 || batch > 1024) {
      throw new RangeError(`TapPort batch must be an integer in [1, 1024], got ${batch}`);
    }
    if (!vnetHdr && opts.offloads !== undefined && opts.offloads !== 0) {
      // Offloaded (GSO/partial-checksum) frames are undecodable without their vnet header.
      throw new RangeError('TapPort offloads need vnetHdr: true');
    }
    const flags = (vnetHdr ? TAP_VNET_HDR : 0) | (opts.multiQueue === true ? TAP_MULTI_QUEUE : 0);
    const tap = opts.netns ? native.openTap(name, flags, opts.netns) : native.openTap(name, flags);
    if (opts.persist) {
      try { native.setPersist(tap.fd, 1); } catch (err) { native.closeFd(tap.fd); throw err; }
    }
    try {
      if (vnetHdr) native.setOffload(tap.fd, opts.offloads ?? DEFAULT_VNET_OFFLOADS);
      return new TapPort(native, tap.fd, tap.name, vnetHdr, vnetHdr ? SLOT_SIZE_GSO : SLOT_SIZE_PLAIN, batch);
    } catch (err) {
      native.closeFd(tap.fd);
      throw err;
    }
  }

  receive(): number {
    const rx = this.rx;
    if (this.closed) return (rx.count = 0);
    const lengths = rx.lengths;
    const n = this.native.readBatch(this.tapFd, rx.slab, this.slotSize, this.vnetHdr ? VNET_HDR_LEN : 0, lengths.length, lengths);
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += lengths[i];
    rx.count = n;
    this.counters.rxPackets += n;
    this.counters.rxBytes += bytes;
    return n;
  }

  send(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, withVnetHdr: boolean): number {
    const c = this.counters;
    if (count <= 0) return 0;
    if (this.closed) {
      c.txErrors += count;
      return 0;
    }
    const mode = this.vnetHdr ? (withVnetHdr ? WRITE_VNET_HDR : WRITE_ZERO_HDR) : WRITE_PLAIN;
    const native = this.native;
    const sent = native.writeBatch(this.tapFd, slab, offsets, lengths, count, mode);
    if (sent === count) {
      let bytes = 0;
      for (let i = 0; i < count; i++) bytes += lengths[i];
      c.txBytes += bytes;
    } else {
      c.txBytes += native.lastWriteBytes();
      c.txErrors += count - sent;
    }
    c.txPackets += sent;
    return sent;
  }

  /**
   * errno of the last frame that failed in the most recent send() of *any* TapPort on this
   * thread (0 if that send() wrote everything): EIO while the TAP is down, EINVAL for a
   * malformed frame or vnet header, EBADFD once the TAP is deleted. Read it right after send().
   */
  lastSendErrno(): number {
    return this.native.lastWriteErrno();
  }

  onReadable(cb: () => void): void {
    if (this.closed) throw new Error(`TapPort ${this.name} is closed`);
    if (this.poll !== null) this.native.stopPoll(this.poll);
    this.poll = null;
    this.poll = this.native.startPoll(this.tapFd, cb);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const fd = this.tapFd;
    this.tapFd = -1;
    // Stop watching before the fd number can be reused.
    if (this.poll !== null) this.native.stopPoll(this.poll);
    this.poll = null;
    this.native.closeFd(fd);
  }
}
