/**
 * The one port interface every backend (tap, memory, pcap-file, pcap) implements.
 *
 * A frame is never an object: it is (slab, offset, length). Every frame offset has
 * VNET_HDR_LEN bytes of headroom in front of it, where a virtio_net_hdr lives when the
 * frame came from (or goes to) a vnet_hdr TAP. Receive slabs are cut into fixed slots:
 * slot i starts at i * slotSize, its Ethernet header at i * slotSize + VNET_HDR_LEN.
 */

/** sizeof(struct virtio_net_hdr) without num_buffers: the TAP default (TUNSETVNETHDRSZ not used). */
export const VNET_HDR_LEN = 10;

/** Largest frame a port ever hands us: a 64 KiB GSO super-frame plus Ethernet + VLAN. */
export const MAX_FRAME_LEN = 65535 + 18;

/** Slot size for ports that carry GSO super-frames (vnet_hdr on). */
export const SLOT_SIZE_GSO = 65664;
/** Slot size for plain-frame ports (MTU up to 9000 + headroom). */
export const SLOT_SIZE_PLAIN = 9216;

/** Default frames per read/write batch. */
export const DEFAULT_BATCH = 64;

export interface FrameBatch {
  /** Backing store for all frames of the batch. */
  readonly slab: Uint8Array;
  /** offsets[i]: byte offset of frame i's Ethernet header in slab. */
  readonly offsets: Uint32Array;
  /** lengths[i]: frame i's length from its Ethernet header (vnet header not included). */
  readonly lengths: Uint32Array;
  /** Number of valid frames; offsets/lengths beyond it are stale. */
  count: number;
}

export interface PortCounters {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** Frames the backend failed to transmit (EAGAIN on a full queue, EIO, ...). */
  txErrors: number;
}

export interface Port {
  /** Port name (the TAP's name for tap ports). */
  readonly name: string;
  /** True when frames on this port carry a real virtio_net_hdr in their headroom. */
  readonly vnetHdr: boolean;
  /** Receive batch owned by the port; receive() fills it in place. */
  readonly rx: FrameBatch;
  readonly counters: PortCounters;
  /**
   * Fill `rx` with up to rx.offsets.length frames that are ready now; never blocks,
   * never throws for "nothing to read". Returns rx.count. A short batch means nothing
   * more was ready: the forwarder does not ask again until the next wakeup.
   */
  receive(): number;
  /**
   * Transmit `count` frames from `slab`. When `withVnetHdr` is true each frame's
   * headroom holds a valid virtio_net_hdr; otherwise the headroom is garbage and a
   * vnet_hdr port must send a zero header in front. Returns the number of frames sent;
   * failures are counted in counters.txErrors, never thrown.
   */
  send(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, withVnetHdr: boolean): number;
  /** Call `cb` whenever receive() may return frames (one call per wakeup). */
  onReadable(cb: () => void): void;
  /** Stop readiness notifications and release the backend. Idempotent. */
  close(): void;
}
