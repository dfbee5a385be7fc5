/**
 * A Port on an existing interface (veth, NIC) through libpcap, via the optional npm
 * package `cap`: lets tapflow forward between real interfaces without a TAP, and lets tests
 * talk to a kernel in another network namespace over a veth pair.
 *
 * `cap` is an optionalDependency with a native addon; it is required lazily inside
 * PcapPort.open() and nowhere else, so the project loads and runs without it. When it is
 * missing (or its addon cannot load libpcap) open() throws PcapPortError with code
 * TAPFLOW_PCAP_UNAVAILABLE.
 *
 * rx: cap opens the interface promiscuous, snaplen 65535, immediate mode when libpcap has
 * it, and calls back once per packet into one Buffer. Each packet is copied into the next
 * slot of a power-of-two ring (an RxRing, rx-ring.ts; full ring = counted drop,
 * `rxRingFull`); readiness is signalled once per event-loop turn (setImmediate), so all
 * packets of one poll wakeup form one batch. receive() hands out up to `batch` ring slots
 * in place; they stay valid until the next receive(). By default only inbound packets are
 * captured (BPF `inbound`), so the port does not see what the local kernel itself
 * transmits on the interface.
 * tx: each frame is copied into one reusable Buffer and handed to pcap_sendpacket;
 * failures count in txErrors. Frames carry no virtio_net_hdr (vnetHdr is always false).
 */
import * as fs from 'node:fs';
import {
  DEFAULT_BATCH,
  FrameBatch,
  MAX_FRAME_LEN,
  Port,
  PortCounters,
  SLOT_SIZE_PLAIN,
} from './port';
import { Readiness, RxRing, refuseBatch } from './rx-ring';

export type PcapPortErrorCode =
  /** The `cap` package (or libpcap under it) is not installed. */
  | 'TAPFLOW_PCAP_UNAVAILABLE'
  /** libpcap refused the interface (missing, down, no permission, bad filter). */
  | 'TAPFLOW_PCAP_OPEN_FAILED'
  /** The interface is not Ethernet. */
  | 'TAPFLOW_PCAP_UNSUPPORTED_LINKTYPE';

export class PcapPortError extends Error {
  override readonly name = 'PcapPortError';
  readonly code: PcapPortErrorCode;
  constructor(code: PcapPortErrorCode, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
  }
}

/** The part of `cap`'s API used here. */
interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  close(): void;
  send(buffer: Buffer, nBytes?: number): void;
  on(event: 'packet', listener: (nbytes: number, truncated: boolean) => void): unknown;
  removeAllListeners(event?: string): unknown;
}
interface CapModule {
  Cap: new () => CapHandle;
}

/** memcpy from any Uint8Array into a Buffer without a subarray view (see pcap-file.ts). */
const bufferCopy = Buffer.prototype.copy;

let capModule: CapModule | null = null;

/**
 * Every Cap handle ever created, kept reachable for the life of the process. cap 0.2.1's
 * native object owns a uv_poll_t that it stops but never uv_close()s, so when a closed Cap
 * is garbage-collected its memory is freed while still linked in libuv's handle queue and
 * the process segfaults later; and a Cap whose open() threw aborts on a nan Unref()
 * assertion when collected. Ports are opened rarely: the cost is one small object per open.
 * (Regression tests in pcap-port.test.ts.)
 */
const keepAlive: CapHandle[] = [];

/** Loads `cap` on first use; throws TAPFLOW_PCAP_UNAVAILABLE when it cannot. */
function loadCap(): CapModule {
  if (capModule !== null) return capModule;
  try {
    capModule = require('cap') as CapModule;
  } catch (e) {
    throw new PcapPortError(
      'TAPFLOW_PCAP_UNAVAILABLE',
      'pcap ports need the optional npm package `cap` and libpcap: apt-get install libpcap-dev ' +
        `(or your distribution's libpcap devel package), then npm install cap (${(e as Error).message})`,
      e,
    );
  }
  return capModule;
}

/** True when PcapPort.open() can load its backend (does not open anything). */
export function pcapAvailable(): boolean {
  try {
    loadCap();
    return true;
  } catch {
    return false;
  }
}

export interface PcapPortOptions {
  /** Port name. Default: the interface name. */
  name?: string;
  /** Frames per receive(). Default DEFAULT_BATCH. */
  batch?: number;
  /** libpcap kernel buffer in bytes. Default 4 MiB. */
  bufferSize?: number;
  /** Rx ring slots, a power of two >= batch. Default 1024. */
  ringSize?: number;
  /** Bytes per rx slot including headroom. Default SLOT_SIZE_PLAIN (MTU up to 9000). */
  slotSize?: number;
  /**
   * BPF filter (pcap-filter(7)). Default 'inbound': only frames the interface received, not
   * the ones the local kernel sends on it. '' captures both directions.
   */
  filter?: string;
}

export class PcapPort implements Port {
  readonly name: string;
  readonly ifname: string;
  readonly vnetHdr = false;
  readonly rx: FrameBatch;
  readonly counters: PortCounters = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txErrors: 0 };
  /** Packets dropped because the rx ring was full. */
  rxRingFull = 0;
  /** Packets dropped because they were longer than a slot or cut by the 65535 snaplen. */
  rxTooBig = 0;

  private readonly cap: CapHandle;
  /** The one Buffer cap copies each captured packet into. */
  private readonly capBuf: Buffer;
  /** The one Buffer frames are copied into for pcap_sendpacket. */
  private readonly txBuf: Buffer;
  private readonly ring: RxRing;
  /**
   * setImmediate, not a microtask: cap emits each packet through its own callback into JS,
   * after which microtasks run, so a microtask would fire once per packet; setImmediate runs
   * after the whole poll wakeup has been dispatched.
   */
  private readonly readiness = new Readiness(() => !this.closed && this.pending > 0, setImmediate);
  private closed = false;

  /**
   * Opens `ifname` (must exist in this process's network namespace; needs CAP_NET_RAW).
   * Throws PcapPortError: TAPFLOW_PCAP_UNAVAILABLE, TAPFLOW_PCAP_OPEN_FAILED,
   * TAPFLOW_PCAP_UNSUPPORTED_LINKTYPE.
   */
  static open(ifname: string, opts: PcapPortOptions = {}): PcapPort {
    const mod = loadCap();
    return new PcapPort(mod, ifname, opts);
  }

  private constructor(mod: CapModule, ifname: string, opts: PcapPortOptions) {
    this.ifname = ifname;
    this.name = opts.name ?? ifname;
    const slotSize = opts.slotSize ?? SLOT_SIZE_PLAIN;
    const ringSize = opts.ringSize ?? 1024;
    const batch = opts.batch ?? DEFAULT_BATCH;
    if (!Number.isInteger(ringSize) || ringSize <= 0 || (ringSize & (ringSize - 1)) !== 0) {
      throw new RangeError(`ringSize ${ringSize} is not a power of two`);
    }
    if (!(batch > 0) || batch > ringSize) throw new RangeError(`batch ${batch} must be in 1..ringSize`);
    this.ring = new RxRing(ringSize, slotSize, batch);
    this.rx = this.ring.rx;
    this.capBuf = Buffer.alloc(65535);
    this.txBuf = Buffer.alloc(MAX_FRAME_LEN);
    // Most failures caught before libpcap sees the name (see keepAlive).
    if (!/^[^/\s]{1,15}$/.test(ifname) || (process.platform === 'linux' && !fs.existsSync(`/sys/class/net/${ifname}`))) {
      throw new PcapPortError('TAPFLOW_PCAP_OPEN_FAILED', `cannot open ${ifname}: no such interface in this network namespace`);
    }
    this.cap = new mod.Cap();
    keepAlive.push(this.cap);
    let linkType: string;
    try {
      linkType = this.cap.open(ifname, opts.filter ?? 'inbound', opts.bufferSize ?? 4 << 20, this.capBuf);
    } catch (e) {
      throw new PcapPortError('TAPFLOW_PCAP_OPEN_FAILED', `cannot open ${ifname}: ${(e as Error).message}`, e);
    }
    if (linkType !== 'ETHERNET') {
      this.cap.close();
      throw new PcapPortError('TAPFLOW_PCAP_UNSUPPORTED_LINKTYPE', `${ifname} has link type ${linkType}, not Ethernet`);
    }
    this.cap.on('packet', this.onPacket);
  }

  /** Frames captured and not yet handed out by receive(). */
  get pending(): number {
    return this.ring.pending;
  }

  receive(): number {
    const rx = this.rx;
    this.readiness.receives++;
    if (this.closed) {
      rx.count = 0;
      return 0;
    }
    return this.ring.receive(this.counters);
  }

  send(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, _withVnetHdr: boolean): number {
    const c = this.counters;
    if (this.closed) return refuseBatch(c, count);
    const buf = this.txBuf;
    let sent = 0;
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      const off = offsets[i];
      const len = lengths[i];
      if (len > buf.length || off + len > slab.length) {
        c.txErrors++;
        continue;
      }
      bufferCopy.call(slab, buf, 0, off, off + len);
      try {
        this.cap.send(buf, len);
        sent++;
        bytes += len;
      } catch {
        c.txErrors++;
      }
    }
    c.txPackets += sent;
    c.txBytes += bytes;
    return sent;
  }

  onReadable(cb: () => void): void {
    this.readiness.set(cb);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.readiness.set(null);
    this.rx.count = 0;
    this.cap.removeAllListeners('packet');
    this.cap.close();
  }

  /** Called by cap once per captured packet, its bytes in capBuf[0, nbytes). */
  private readonly onPacket = (nbytes: number, truncated: boolean): void => {
    if (this.closed) return;
    const ring = this.ring;
    if (truncated || nbytes > ring.room) {
      this.rxTooBig++;
      return;
    }
    if (ring.full) {
      this.rxRingFull++;
      return;
    }
    this.capBuf.copy(this.rx.slab, ring.nextOffset, 0, nbytes);
    ring.commit(nbytes);
    this.readiness.schedule();
  };
}
