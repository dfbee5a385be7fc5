/**
 * The forwarder: L2/L3 switching and routing between ports, one ingress batch at a time.
 *
 *   ingress batch ─► parseFrame (validate once) ─► ARP / ND ─► answered or learned (delivered)
 *                                               └► IPv4 / IPv6 ─► route (LPM) ─► TTL, MTU ─►
 *                                                   neighbor ─► rewrite MACs ─► egress queue
 *   after the batch: every egress queue is flushed with one send() per port.
 *
 * Hand-written for the hot path: no allocation per packet (a frame is slab + offset +
 * length; egress queues are typed arrays; generated frames go to a preallocated local slab;
 * frames waiting for neighbor resolution are copied into a fixed pending pool), no throw on
 * bad input (drop + counter per reason), one reference (the Generation) read per batch.
 *
 * Frames are forwarded zero-copy: the egress port writes straight out of the ingress
 * port's receive slab, so every queue is flushed before the ingress port reads again.
 */
import type { Port } from '../io/port';
import { SLOT_SIZE_GSO, SLOT_SIZE_PLAIN, VNET_HDR_LEN } from '../io/port';
import { DropReason } from './drop-reason';
import { ForwarderCounters } from './counters';
import type { Generation } from './generation';
import { PortRole } from './generation';
import { RouteKind } from '../../control/compile/routes';
import { FrameInfo, parseFrame } from '../wire/frame-parser';
import {
  ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ethDstIs, ethDstIsBroadcast, ethDstIsMulticast,
  setEthDst, setEthSrc,
} from '../wire/ethernet';
import { ARP_OP_REPLY, ARP_OP_REQUEST, arpOp, arpRequestToReply, arpShaOff, arpSpa, arpTpa, emitArp } from '../wire/arp';
import {
  ICMP4_DEST_UNREACH, ICMP4_ECHO_REQUEST, ICMP4_ECHO_REPLY, ICMP4_FRAG_NEEDED, ICMP4_HOST_UNREACH, ICMP4_NET_UNREACH,
  ICMP4_PORT_UNREACH, ICMP4_PROTO_UNREACH, ICMP4_TIME_EXCEEDED, ICMP4_TTL_EXCEEDED, emitIcmp4Error, echoToReply,
  icmp4IsError,
} from '../wire/icmpv4';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, decrementTtl } from '../wire/ipv4';
import { IPV6_DST_OFF, IPV6_SRC_OFF, decrementHopLimit } from '../wire/ipv6';
import {
  ICMP6_DEST_UNREACH, ICMP6_ECHO_REQUEST, ICMP6_ECHO_REPLY, ND_NEIGHBOR_ADVERT, ND_NEIGHBOR_SOLICIT, ICMP6_PACKET_TOO_BIG,
  ICMP6_TIME_EXCEEDED, checkNd, emitIcmp6Error, emitNeighborAdvert, emitNeighborSolicit, icmp6EchoToReply,
  icmp6IsError, ndFindOption, ndTargetOff, ND_OPT_SOURCE_LLADDR, ND_OPT_TARGET_LLADDR,
} from '../wire/icmpv6';
import { VNET_HDR_GSO_NONE, VNET_HDR_F_NEEDS_CSUM, checkVnetHdr, checkVnetHdrAgainstFrame, completeChecksum, vnetGsoSize, vnetGsoType, vnetFlags } from '../wire/vnet-hdr';
import { isV4Martian, isV4Multicast, isV6LinkLocal, isV6Martian, isV6Multicast, isV6Unspecified, copyBytes } from '../wire/address';
import { NeighborState, NeighborTable } from '../tables/neighbor-table';
import { AffinityTable } from '../tables/affinity-table';
import { ServiceResult } from '../tables/service-table';
import { FilterResult } from '../tables/classifier';
import type { FilterTable } from '../tables/classifier';
import { ConnState, FlowTable, FlowTimeouts, NAT_DST, NAT_SRC } from '../flows/flow-table';
import { applyNat4, applyNat6, setRewrite } from '../flows/nat';
import { applyJitFlags } from './jit-flags';
import { ServiceVerdict } from './generation';
import type { ServiceResultLike } from './generation';
import { emitTcpReset } from './reject';
import { sumRange, fold } from '../wire/checksum';
import { segmentGso } from '../wire/gso';

export interface ForwarderOptions {
  /** Neighbor entries (all ports, both families). */
  neighborCapacity?: number;
  /** Frames that may wait for neighbor resolution at once (all neighbors; default 256). */
  pendingSlots?: number;
  /** Frames that may wait for one neighbor (default 64: a burst of new connections to a pod not yet resolved; Linux queues ~100). */
  pendingPerNeighbor?: number;
  /** Generated frames (ARP/ND/ICMP) per batch. */
  localSlots?: number;
  /** ICMP errors per second (token bucket, RFC 1812 4.3.2.8). */
  icmpErrorsPerSecond?: number;
  /** Milliseconds clock; injected by tests. */
  clock?: () => number;
  /** Max batches handled per readiness wakeup of one port before yielding. */
  batchesPerWakeup?: number;
  /** Connections the flow table holds (evicting beyond). */
  flowCapacity?: number;
  /** How many of them may be IPv6 (default a quarter of flowCapacity; see FlowTable). */
  flowCapacity6?: number;
  flowTimeouts?: Partial<FlowTimeouts>;
  /**
   * Flood protection: new flows per second one source address may open (0 = unlimited),
   * with a burst of `newFlowBurst`. Sources hash into `newFlowBuckets` token buckets (a
   * fixed table: colliding sources share a bucket; memory never grows).
   */
  newFlowsPerSecondPerSource?: number;
  newFlowBurst?: number;
  newFlowBuckets?: number;
  /** Session-affinity state handed to the service table (kept across generations). */
  affinity?: unknown;
  affinityCapacity?: number;
  /** Result object the service table fills (created with the table's class). */
  serviceResult?: ServiceResultLike;
}

/** A 64 KiB super-frame at the smallest sane MSS (536) is ≤ 123 segments. */
const GSO_MAX_SEGMENTS = 128;

/** Ports tapflow picks for masquerade / egress SNAT: 1024-65535 minus the NodePort range (Generation). */
const SNAT_PORT_MIN = 1024;
const SNAT_TRIES = 128;

const RESOLVE_RETRY_MS = 1000;
const RESOLVE_MAX_PROBES = 3;

export class Forwarder {
  gen: Generation;
  readonly counters: ForwarderCounters;
  readonly neighbors: NeighborTable;
  private readonly ports: Port[];
  private readonly info = new FrameInfo();
  private readonly clock: () => number;
  private now = 0;
  private readonly batchesPerWakeup: number;

  // Egress queues over the current ingress slab: per port, `cap` entries.
  private readonly cap: number;
  private readonly txOff: Uint32Array[];
  private readonly txLen: Uint32Array[];
  /** 1 = forwarded frame, 0 = in-place reply (already counted as delivered). */
  private readonly txKind: Uint8Array;
  private readonly txCount: Int32Array;
  /** Forwarded (not locally answered) frames in each egress queue. */
  private readonly txFwd: Int32Array;

  // Locally generated frames (ARP/ND/ICMP), sent without a vnet header.
  private readonly localSlab: Uint8Array;
  private readonly localSlots: number;
  private localUsed = 0;
  private readonly localOff: Uint32Array[];
  private readonly localLen: Uint32Array[];
  private readonly localCount: Int32Array;

  // Frames waiting for neighbor resolution.
  private readonly pendSlots: number;
  private readonly pendPerNeighbor: number;
  private readonly pendSlotSize: number;
  private readonly pendSlab: Uint8Array;
  private readonly pendLen: Uint32Array;
  private readonly pendPort: Int32Array;
  private readonly pendIngress: Int32Array;
  private readonly pendFamily: Uint8Array; // 0 free, 4, 6
  private readonly pendVnet: Uint8Array;
  private readonly pendAddr4: Uint32Array;
  private readonly pendAddr6: Uint8Array;
  /** Output of software segmentation: GSO_MAX_SEGMENTS plain slots. */
  private readonly gsoSlab = new Uint8Array(GSO_MAX_SEGMENTS * SLOT_SIZE_PLAIN);
  private readonly gsoLens = new Uint32Array(GSO_MAX_SEGMENTS);
  private readonly gsoOffs = Uint32Array.from({ length: GSO_MAX_SEGMENTS }, (_, i) => i * SLOT_SIZE_PLAIN + VNET_HDR_LEN);
  private segmentNext = false;
  private readonly pendInfo = new FrameInfo();
  private readonly oneOff = new Uint32Array(1);
  private readonly oneLen = new Uint32Array(1);
  private readonly scratch6 = new Uint8Array(16);

  /**
   * What the last frame did, for `tapflow trace` (plain stores on the hot path, read only
   * by trace): its egress port, route, connection (conn*2+dir), service frontend.
   */
  lastEgress = -1;
  lastRoute = -1;
  lastConn = -1;
  lastFrontend = -1;
  /** Egress port the last new flow was classified toward (-1: not classified) and its arguments
   *  (family, proto, src4, dst4, sport, dport; IPv6 addresses in addr32). */
  lastFilterTo = -1;
  readonly lastFilterArgs = new Float64Array(6);

  /** Connection tracking + the flow cache (both directions, whole rewrite cached). */
  readonly flows: FlowTable;
  readonly affinity: unknown;
  /** The service table fills this for each new flow (trace reads it). */
  readonly svcRes: ServiceResultLike;
  private readonly oSrc = new Uint32Array(4);
  private readonly oDst = new Uint32Array(4);
  private readonly nSrc = new Uint32Array(4);
  private readonly nDst = new Uint32Array(4);
  private readonly kw = new Uint32Array(10);
  /** Filled by the classifier for each new flow (trace reads it). */
  readonly filterRes = new FilterResult();
  /** Source (0..15) and destination (16..31) of a new IPv6 flow after NAT, for the classifier. */
  readonly addr32 = new Uint8Array(32);
  /** Optional NSG flow-log hook, called once per new flow that met a filter table. */
  flowLog: ((t: FilterTable, r: FilterResult, info: FrameInfo, family: number, src: Uint32Array, dst: Uint32Array, sport: number, dport: number) => void) | null = null;
  private readonly kw2 = new Uint32Array(10);

  // Per-source new-flow token buckets (flood protection).
  private readonly nfRate: number;
  private readonly nfBurst: number;
  private readonly nfMask: number;
  private readonly nfTokens: Float64Array;
  private readonly nfStamp: Float64Array;

  // ICMP error token bucket.
  private readonly icmpRate: number;
  private icmpTokens: number;
  private icmpRefillAt = 0;

  constructor(ports: Port[], gen: Generation, opts: ForwarderOptions = {}) {
    applyJitFlags(); // before the first batch is optimized
    if (ports.length !== gen.portCount) throw new RangeError(`forwarder: ${ports.length} ports but generation has ${gen.portCount}`);
    this.ports = ports;
    this.gen = gen;
    this.clock = opts.clock ?? (() => performance.now());
    this.batchesPerWakeup = opts.batchesPerWakeup ?? 4;
    this.counters = new ForwarderCounters(ports.length);
    this.neighbors = new NeighborTable(opts.neighborCapacity ?? 16384);
    const n = ports.length;
    let cap = 1;
    for (const p of ports) cap = Math.max(cap, p.rx.offsets.length);
    this.cap = cap;
    this.txOff = ports.map(() => new Uint32Array(cap));
    this.txLen = ports.map(() => new Uint32Array(cap));
    this.txKind = new Uint8Array(n * cap);
    this.txCount = new Int32Array(n);
    this.txFwd = new Int32Array(n);
    this.localSlots = opts.localSlots ?? 128;
    this.localSlab = new Uint8Array(this.localSlots * SLOT_SIZE_PLAIN);
    this.localOff = ports.map(() => new Uint32Array(this.localSlots));
    this.localLen = ports.map(() => new Uint32Array(this.localSlots));
    this.localCount = new Int32Array(n);
    this.pendSlots = opts.pendingSlots ?? 256;
    this.pendPerNeighbor = opts.pendingPerNeighbor ?? 64;
    this.pendSlotSize = ports.some((p) => p.vnetHdr) ? SLOT_SIZE_GSO : SLOT_SIZE_PLAIN;
    this.pendSlab = new Uint8Array(this.pendSlots * this.pendSlotSize);
    this.pendLen = new Uint32Array(this.pendSlots);
    this.pendPort = new Int32Array(this.pendSlots);
    this.pendIngress = new Int32Array(this.pendSlots);
    this.pendFamily = new Uint8Array(this.pendSlots);
    this.pendVnet = new Uint8Array(this.pendSlots);
    this.pendAddr4 = new Uint32Array(this.pendSlots);
    this.pendAddr6 = new Uint8Array(this.pendSlots * 16);
    this.flows = new FlowTable(opts.flowCapacity ?? 262144, opts.flowTimeouts, opts.flowCapacity6);
    this.affinity = opts.affinity ?? new AffinityTable(opts.affinityCapacity ?? 65536);
    this.svcRes = opts.serviceResult ?? new ServiceResult();
    this.nfRate = opts.newFlowsPerSecondPerSource ?? 0;
    this.nfBurst = opts.newFlowBurst ?? Math.max(1, this.nfRate);
    let nb = 1;
    while (nb < (opts.newFlowBuckets ?? 65536)) nb <<= 1;
    this.nfMask = nb - 1;
    this.nfTokens = new Float64Array(this.nfRate > 0 ? nb : 0).fill(this.nfBurst);
    this.nfStamp = new Float64Array(this.nfRate > 0 ? nb : 0);
    this.icmpRate = opts.icmpErrorsPerSecond ?? 1000;
    this.icmpTokens = this.icmpRate;
  }

  /** Swap in a new generation; called between batches only. */
  setGeneration(gen: Generation): void {
    if (gen.portCount !== this.ports.length) throw new RangeError('generation port count differs from the forwarder ports');
    this.gen = gen;
  }

  /** Readiness callback for port p: drain a bounded number of batches. */
  poll(p: number): void {
    const port = this.ports[p];
    const full = port.rx.offsets.length;
    for (let b = 0; b < this.batchesPerWakeup; b++) {
      const n = port.receive();
      if (n === 0) break;
      this.processBatch(p);
      // A short batch means the port had nothing more ready (a TAP read hit EAGAIN): asking
      // again would cost one more read syscall per wakeup for nothing.
      if (n < full) break;
    }
  }

  /** Process what port p's receive() just put in its rx batch, then flush every queue. */
  processBatch(p: number): void {
    const port = this.ports[p];
    const rx = port.rx;
    const n = rx.count;
    this.now = this.clock();
    this.counters.received += n;
    const slab = rx.slab, offs = rx.offsets, lens = rx.lengths, vnet = port.vnetHdr;
    for (let i = 0; i < n; i++) this.processFrame(p, slab, offs[i], lens[i], vnet);
    this.flush(p, slab, vnet);
  }

  // ---------------------------------------------------------------------------------
  // Per frame

  private processFrame(p: number, buf: Uint8Array, off: number, len: number, vnet: boolean): void {
    const c = this.counters;
    if (vnet) {
      const r = checkVnetHdr(buf, off - VNET_HDR_LEN, len);
      if (r !== DropReason.None) { c.drop(p, r); return; }
    }
    const info = this.info;
    const r = parseFrame(buf, off, len, info);
    if (r !== DropReason.None) { c.drop(p, r); return; }
    if (vnet) {
      const h = off - VNET_HDR_LEN;
      if (buf[h] !== 0 || buf[h + 1] !== 0) {
        const rv = checkVnetHdrAgainstFrame(buf, h, info);
        if (rv !== DropReason.None) { c.drop(p, rv); return; }
      }
    }
    const gen = this.gen;
    if (info.vlanId >= 0) { c.drop(p, DropReason.VlanUnsupported); return; }
    // L2: ours, broadcast or multicast only (each port is its own segment).
    if (!ethDstIs(buf, off, gen.gatewayMac, p * 6) && !ethDstIsMulticast(buf, off)) {
      c.drop(p, DropReason.EthNotForUs); return;
    }
    const et = info.ethertype;
    if (et === ETHERTYPE_ARP) { this.handleArp(p, buf, off, info); return; }
    if (et === ETHERTYPE_IPV4) { this.forward4(p, buf, off, vnet, info); return; }
    if (et === ETHERTYPE_IPV6) { this.forward6(p, buf, off, vnet, info); return; }
    c.drop(p, DropReason.EthUnknownType);
  }

  /** Whether tapflow answers ARP/NS on port p for a target that routes to `route`. */
  private answersFor(p: number, route: number): boolean {
    const gen = this.gen, rt = gen.routes;
    if (route < 0) return false;
    const kind = rt.kind[route];
    if (kind === RouteKind.Local) return true;
    const role = gen.role[p];
    if (role === PortRole.Pod) {
      // Proxy everything except the pod's own addresses.
      return !(kind === RouteKind.Direct && rt.port[route] === p);
    }
    if (role === PortRole.Host) {
      return kind !== RouteKind.Unreachable && kind !== RouteKind.Blackhole && rt.port[route] !== p;
    }
    // Uplink: node IPs (routed to the host port) and, in cni mode, pod addresses.
    if (kind !== RouteKind.Direct) return false;
    const to = rt.port[route];
    if (to === p) return false;
    const toRole = gen.role[to];
    return toRole === PortRole.Host || (toRole === PortRole.Pod && gen.cniMode);
  }

  private handleArp(p: number, buf: Uint8Array, off: number, info: FrameInfo): void {
    const a = info.l3Off;
    const op = arpOp(buf, a);
    const spa = arpSpa(buf, a);
    const tpa = arpTpa(buf, a);
    // Learn/refresh the sender (not from probes: spa 0.0.0.0).
    if (spa !== 0) {
      const ni = this.neighbors.learn4(p, spa, buf, arpShaOff(a), this.now);
      if (ni >= 0) this.releasePending4(p, spa, ni);
    }
    if (op === ARP_OP_REQUEST && spa !== tpa) {
      const route = this.gen.routes.lpm4.lookup(tpa);
      const st = this.gen.services;
      if (this.answersFor(p, route) || (p === this.gen.uplink && st !== null && st.ownsAddress4(tpa))) {
        arpRequestToReply(buf, off, a, this.gen.gatewayMac, p * 6);
        this.counters.delivered++;
        this.enqueueReply(p, off, info.frameLen);
        return;
      }
      this.counters.drop(p, DropReason.ArpIgnored);
      return;
    }
    if (op === ARP_OP_REPLY || spa === tpa) { this.counters.delivered++; return; }
    this.counters.drop(p, DropReason.ArpIgnored);
  }

  private forward4(p: number, buf: Uint8Array, off: number, vnet: boolean, info: FrameInfo): void {
    const c = this.counters, gen = this.gen, rt = gen.routes;
    const dst = info.dst4, src = info.src4;
    void dst;
    if (isV4Multicast(dst) || dst === 0xffffffff || ethDstIsBroadcast(buf, off)) { c.drop(p, DropReason.Multicast); return; }
    if (isV4Martian(src)) { c.drop(p, DropReason.Ipv4Martian); return; }
    if (gen.strictSource[p] === 1) {
      const sr = rt.lpm4.lookup(src);
      if (sr < 0 || rt.kind[sr] !== RouteKind.Direct || rt.port[sr] !== p) { c.drop(p, DropReason.SourceSpoofed); return; }
    }
    const proto = info.l4Proto;
    if (!info.isFragment || info.isFirstFragment) {
      if (proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP ||
        (proto === IPPROTO_ICMP && (info.icmpType === ICMP4_ECHO_REQUEST || info.icmpType === ICMP4_ECHO_REPLY))) {
        if (!this.track(p, buf, off, vnet, info, 4)) return;
      } else if (proto === IPPROTO_ICMP && icmp4IsError(info.icmpType)) {
        this.icmpErrorNat4(buf, info);
      }
    }
    const route = rt.lpm4.lookup(info.dst4);
    this.lastRoute = route;
    const kind = route < 0 ? RouteKind.Unreachable : rt.kind[route];
    if (kind === RouteKind.Local) { this.local4(p, buf, off, info); return; }
    if (kind === RouteKind.Blackhole) { c.drop(p, DropReason.RouteBlackhole); return; }
    if (kind === RouteKind.Unreachable) {
      c.drop(p, DropReason.NoRoute);
      this.icmp4Error(p, buf, off, info, ICMP4_DEST_UNREACH, route < 0 ? ICMP4_NET_UNREACH : ICMP4_HOST_UNREACH, 0);
      return;
    }
    const q = rt.port[route];
    if (info.ttl <= 1) {
      c.drop(p, DropReason.TtlExceeded);
      this.icmp4Error(p, buf, off, info, ICMP4_TIME_EXCEEDED, ICMP4_TTL_EXCEEDED, 0);
      return;
    }
    const mtu = gen.mtu[q];
    if (info.l3Len > mtu) {
      const seg = vnet ? this.gsoSegmentL3Len(buf, off, info) : info.l3Len;
      if (seg > mtu) {
        c.drop(p, DropReason.MtuExceeded);
        // Non-DF packets would need fragmenting, which tapflow does not do: same ICMP.
        if (info.dontFragment) this.icmp4Error(p, buf, off, info, ICMP4_DEST_UNREACH, ICMP4_FRAG_NEEDED, mtu);
        return;
      }
    }
    if (!this.egressCanTake(p, q, buf, off, vnet, info)) return;
    decrementTtl(buf, info.l3Off);
    const nh = kind === RouteKind.Gateway ? rt.nextHop4[route] : info.dst4;
    const ni = this.neighbors.find4(q, nh);
    if (ni >= 0 && this.neighbors.state[ni] === NeighborState.Reachable) {
      setEthDst(buf, off, this.neighbors.macs, ni * 6);
      setEthSrc(buf, off, gen.gatewayMac, q * 6);
      if (this.segmentNext) this.sendSegmented(p, q, buf, off, info.frameLen, info);
      else this.enqueueForward(q, off, info.frameLen);
      return;
    }
    this.park4(p, q, nh, buf, off, info.frameLen, vnet);
  }

  private forward6(p: number, buf: Uint8Array, off: number, vnet: boolean, info: FrameInfo): void {
    const c = this.counters, gen = this.gen, rt = gen.routes;
    const l3 = info.l3Off;
    const dstOff = l3 + IPV6_DST_OFF, srcOff = l3 + IPV6_SRC_OFF;
    if (info.l4Proto === IPPROTO_ICMPV6 && (info.icmpType === ND_NEIGHBOR_SOLICIT || info.icmpType === ND_NEIGHBOR_ADVERT)) {
      this.handleNd(p, buf, off, info);
      return;
    }
    if (isV6Multicast(buf, dstOff)) { c.drop(p, DropReason.Multicast); return; }
    if (isV6Martian(buf, srcOff)) { c.drop(p, DropReason.Ipv6Martian); return; }
    if (isV6LinkLocal(buf, dstOff) || isV6LinkLocal(buf, srcOff)) {
      // Link-local traffic is never forwarded (RFC 4291 2.5.6); tapflow has no link-local
      // services beyond ND.
      c.drop(p, DropReason.Ipv6Martian); return;
    }
    if (gen.strictSource[p] === 1) {
      const sr = rt.lpm6.lookup(buf, srcOff);
      if (sr < 0 || rt.kind[sr] !== RouteKind.Direct || rt.port[sr] !== p) { c.drop(p, DropReason.SourceSpoofed); return; }
    }
    const proto = info.l4Proto;
    if (!info.isFragment || info.isFirstFragment) {
      if (proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP ||
        (proto === IPPROTO_ICMPV6 && (info.icmpType === ICMP6_ECHO_REQUEST || info.icmpType === ICMP6_ECHO_REPLY))) {
        if (!this.track(p, buf, off, vnet, info, 6)) return;
      } else if (proto === IPPROTO_ICMPV6 && icmp6IsError(info.icmpType)) {
        this.icmpErrorNat6(buf, info);
      }
    }
    const route = rt.lpm6.lookup(buf, dstOff);
    this.lastRoute = route;
    const kind = route < 0 ? RouteKind.Unreachable : rt.kind[route];
    if (kind === RouteKind.Local) { this.local6(p, buf, off, info); return; }
    if (kind === RouteKind.Blackhole) { c.drop(p, DropReason.RouteBlackhole); return; }
    if (kind === RouteKind.Unreachable) {
      c.drop(p, DropReason.NoRoute);
      this.icmp6Error(p, buf, off, info, ICMP6_DEST_UNREACH, route < 0 ? 0 : 3, 0);
      return;
    }
    const q = rt.port[route];
    if (info.ttl <= 1) {
      c.drop(p, DropReason.TtlExceeded);
      this.icmp6Error(p, buf, off, info, ICMP6_TIME_EXCEEDED, 0, 0);
      return;
    }
    const mtu = gen.mtu[q];
    if (info.l3Len > mtu) {
      const seg = vnet ? this.gsoSegmentL3Len(buf, off, info) : info.l3Len;
      if (seg > mtu) {
        c.drop(p, DropReason.MtuExceeded);
        this.icmp6Error(p, buf, off, info, ICMP6_PACKET_TOO_BIG, 0, mtu);
        return;
      }
    }
    if (!this.egressCanTake(p, q, buf, off, vnet, info)) return;
    decrementHopLimit(buf, l3);
    let ni: number;
    let nhBuf: Uint8Array, nhOff: number;
    if (kind === RouteKind.Gateway) { nhBuf = rt.nextHop6; nhOff = route * 16; }
    else { nhBuf = buf; nhOff = dstOff; }
    ni = this.neighbors.find6(q, nhBuf, nhOff);
    if (ni >= 0 && this.neighbors.state[ni] === NeighborState.Reachable) {
      setEthDst(buf, off, this.neighbors.macs, ni * 6);
      setEthSrc(buf, off, gen.gatewayMac, q * 6);
      if (this.segmentNext) this.sendSegmented(p, q, buf, off, info.frameLen, info);
      else this.enqueueForward(q, off, info.frameLen);
      return;
    }
    this.park6(p, q, nhBuf, nhOff, buf, off, info.frameLen, vnet);
  }

  /** L3 length of one segment of a GSO super-frame (the size that must fit the MTU). */
  private gsoSegmentL3Len(buf: Uint8Array, off: number, info: FrameInfo): number {
    const h = off - VNET_HDR_LEN;
    if (vnetGsoType(buf, h) === VNET_HDR_GSO_NONE) return info.l3Len;
    const gso = vnetGsoSize(buf, h);
    let l4h = 8;
    if (info.l4Proto === IPPROTO_TCP) l4h = (buf[info.l4Off + 12] >>> 4) << 2;
    return info.l4Off - info.l3Off + l4h + gso;
  }

  /**
   * A vnet_hdr frame going to a port without vnet_hdr: finish a partial checksum in
   * software; a GSO super-frame cannot go there (segmentation is not done here).
   */
  private egressCanTake(p: number, q: number, buf: Uint8Array, off: number, vnet: boolean, info: FrameInfo): boolean {
    this.segmentNext = false;
    if (!vnet || this.ports[q].vnetHdr) return true;
    const h = off - VNET_HDR_LEN;
    if (vnetGsoType(buf, h) !== VNET_HDR_GSO_NONE) { this.segmentNext = true; return true; } // segmented in software at send
    if ((vnetFlags(buf, h) & VNET_HDR_F_NEEDS_CSUM) !== 0) {
      const r = completeChecksum(buf, off, h, info.frameLen);
      if (r !== DropReason.None) { this.counters.drop(p, r); return false; }
    }
    return true;
  }

  // ---------------------------------------------------------------------------------
  // Connection tracking, services, NAT

  /**
   * Look the packet up in the flow table (or create its connection on the slow path) and
   * apply the connection's cached rewrite. True when the frame continues (possibly
   * rewritten); false when it was consumed. One path for both families: only the key
   * builder and the rewrite differ.
   */
  private track(p: number, buf: Uint8Array, off: number, vnet: boolean, info: FrameInfo, family: number): boolean {
    const ft = this.flows, now = this.now;
    const icmp = info.l4Proto === (family === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
    const sport = icmp ? (buf[info.l4Off + 4] << 8) | buf[info.l4Off + 5] : info.srcPort;
    const dport = icmp ? 0 : info.dstPort;
    const l3 = info.l3Off;
    let cd: number;
    if (family === 4) cd = ft.lookup4(info.l4Proto, info.src4, info.dst4, ((sport << 16) | dport) >>> 0, now);
    else {
      ft.key6(info.l4Proto, buf, l3 + IPV6_SRC_OFF, l3 + IPV6_DST_OFF, sport, dport);
      cd = ft.lookup(now);
    }
    if (cd >= 0) cd = this.reuseCheck(cd, info);
    if (cd >= 0 && ft.gen[cd >> 1] !== this.gen.version) cd = this.revalidate(cd);
    if (cd < 0) {
      if (family === 4) ft.key4(info.l4Proto, info.src4, info.dst4, sport, dport); // the slow path reads ft.k
      cd = this.newFlow(p, buf, off, info, family, sport, dport);
      if (cd < 0) return false;
    }
    this.lastConn = cd;
    ft.touch(cd >> 1, cd & 1, info.tcpFlags, info.frameLen, now);
    if (ft.natFlags[cd] === 0) return true;
    const partial = vnet && (buf[off - VNET_HDR_LEN] & VNET_HDR_F_NEEDS_CSUM) !== 0;
    if (family === 6) { applyNat6(ft, cd, buf, info, partial); return true; }
    applyNat4(ft, cd, buf, info, partial);
    info.src4 = read32(buf, l3 + 12);
    info.dst4 = read32(buf, l3 + 16);
    return true;
  }

  /**
   * A new TCP connection (SYN without ACK) reusing the tuple of one that has ended (FIN both
   * ways, or RST): as Linux conntrack does, the old entry goes and the SYN starts a new
   * connection — new backend choice, health and rules applied — instead of following the
   * finished connection's cached rewrite.
   */
  private reuseCheck(cd: number, info: FrameInfo): number {
    if (info.l4Proto !== IPPROTO_TCP || (info.tcpFlags & 0x12) !== 0x02 || (cd & 1) !== 0) return cd;
    const ft = this.flows, c = cd >> 1, st = ft.state[c];
    if (st !== ConnState.TimeWait && st !== ConnState.Closed) return cd;
    ft.remove(c);
    return -1;
  }

  /**
   * A cached flow from an older generation: service flows whose backend left the pool end
   * here (the packet is then treated as a new flow); others carry on.
   */
  private revalidate(cd: number): number {
    const ft = this.flows, c = cd >> 1;
    const st = this.gen.services;
    if (ft.spKey[c] >= 0 && (st === null || !st.backendStillValid(ft.spKey[c], ft.beKey[c]))) {
      ft.remove(c);
      return -1;
    }
    ft.gen[c] = this.gen.version;
    return cd;
  }

  /**
   * Slow path, once per flow: services (DNAT, masquerade, reject), egress SNAT, then a
   * connection with both directions' rewrites. The scratch key ft.k holds the packet's
   * tuple. Returns conn*2 (original direction) or -1 when the packet was consumed.
   */
  private newFlow(p: number, buf: Uint8Array, off: number, info: FrameInfo, family: number, sport: number, dport: number): number {
    const ft = this.flows, gen = this.gen, now = this.now, proto = info.l4Proto;
    const k = ft.k, oSrc = this.oSrc, oDst = this.oDst, nSrc = this.nSrc, nDst = this.nDst;
    if (proto === IPPROTO_TCP && (info.tcpFlags & 0x06) === 0 && gen.role[p] === PortRole.Pod && this.toMasqueradeAddress(family, info, buf)) {
      this.counters.drop(p, DropReason.TcpNoConnection);
      return -1;
    }
    if (this.nfRate > 0 && !this.newFlowAllowed(k)) { this.counters.drop(p, DropReason.FlowRateLimited); return -1; }
    for (let w = 0; w < 4; w++) { oSrc[w] = nSrc[w] = k[w]; oDst[w] = nDst[w] = k[4 + w]; }
    let flags = 0, nSport = sport, nDport = dport, spKey = -1, beKey = -1;
    const st = gen.services;
    const icmp = proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6;
    if (st !== null) {
      const l3 = info.l3Off;
      // ICMP has no port: never a frontend, but a ClusterIP / the service range still rejects / drops it.
      const fe = icmp ? -1 : family === 4 ? st.lookupFrontend4(info.dst4, proto, dport) : st.lookupFrontend6(buf, l3 + IPV6_DST_OFF, proto, dport);
      this.lastFrontend = fe;
      if (fe < 0) {
        const res = this.svcRes;
        if (family === 4) st.resolveMiss4(info.dst4, res); else st.resolveMiss6(buf, l3 + IPV6_DST_OFF, res);
        if (res.verdict === ServiceVerdict.Reject) {
          this.counters.drop(p, DropReason.ServiceRejected);
          this.reject(p, buf, off, info);
          return -1;
        }
        if (res.verdict === ServiceVerdict.Drop) { this.counters.drop(p, DropReason.ServiceDropped); return -1; }
      } else {
        const res = this.svcRes;
        const hash = ft.hashKey();
        if (family === 4) st.resolve4(fe, info.src4, sport, gen.role[p], hash, now, this.affinity, res);
        else st.resolve6(fe, buf, l3 + IPV6_SRC_OFF, sport, gen.role[p], hash, now, this.affinity, res);
        if (res.verdict === ServiceVerdict.Reject) {
          this.counters.drop(p, DropReason.ServiceRejected);
          this.reject(p, buf, off, info);
          return -1;
        }
        if (res.verdict === ServiceVerdict.Drop) { this.counters.drop(p, DropReason.ServiceDropped); return -1; }
        if (res.verdict === ServiceVerdict.Dnat) {
          flags |= NAT_DST;
          if (family === 4) { nDst[0] = 0; nDst[1] = 0; nDst[2] = 0xffff; nDst[3] = res.addr4 >>> 0; }
          else for (let w = 0; w < 4; w++) nDst[w] = read32(res.addr6, w * 4);
          nDport = res.port;
          spKey = res.servicePortKey;
          beKey = res.backendKey;
          if (res.masquerade) flags |= NAT_SRC;
        }
      }
    }
    if ((flags & NAT_SRC) === 0 && gen.role[p] === PortRole.Pod) {
      // Egress SNAT for pod traffic leaving the cluster and the VNet.
      const keep = family === 4 ? gen.noSnat4.lookup(nDst[3]) : gen.noSnat6.lookup(buf, info.l3Off + IPV6_DST_OFF);
      if (keep < 0 && (flags & NAT_DST) === 0) flags |= NAT_SRC;
    }
    if ((flags & NAT_SRC) !== 0) {
      if (family === 4) {
        if (gen.snat4 === 0) flags &= ~NAT_SRC;
        else { nSrc[0] = 0; nSrc[1] = 0; nSrc[2] = 0xffff; nSrc[3] = gen.snat4; }
      } else if (!gen.hasSnat6) flags &= ~NAT_SRC;
      else for (let w = 0; w < 4; w++) nSrc[w] = read32(gen.snat6, w * 4);
      if ((flags & NAT_SRC) !== 0) {
        nSport = this.allocPort(proto, family, nDst, nDport, nSrc, sport);
        if (nSport < 0) { this.counters.drop(p, DropReason.SnatExhausted); return -1; }
      }
    }
    // Security rules, once per flow, on the addresses after DNAT (as every CNI does), toward
    // the port the translated packet will leave by. Replies never get here: stateful.
    const filters = gen.filters;
    if (filters !== null) {
      const rt = gen.routes;
      if (family === 6) this.pair16(oSrc, nDst);
      const route = family === 4 ? rt.lpm4.lookup(nDst[3]) : rt.lpm6.lookup(this.addr32, 16);
      const kind = route < 0 ? RouteKind.Unreachable : rt.kind[route];
      if (kind === RouteKind.Direct || kind === RouteKind.Gateway) {
        const q = rt.port[route];
        const fr = this.filterRes;
        this.lastFilterTo = q;
        const la = this.lastFilterArgs;
        la[0] = family; la[1] = proto; la[2] = oSrc[3]; la[3] = nDst[3]; la[4] = sport; la[5] = nDport;
        const ok = family === 4
          ? filters.classify4(p, q, proto, oSrc[3], nDst[3], sport, nDport, fr)
          : filters.classify6(p, q, proto, this.addr32, 0, 16, sport, nDport, fr);
        if (!ok) {
          this.counters.drop(p, fr.reasonCode >= 3 ? DropReason.PolicyDenied : DropReason.NsgDenied); // FilterReason 1|2 = NSG deny, 3|4 = policy deny
          if (this.flowLog !== null) this.flowLog(filters, fr, info, family, oSrc, nDst, sport, nDport);
          return -1;
        }
        if (this.flowLog !== null) this.flowLog(filters, fr, info, family, oSrc, nDst, sport, nDport);
      }
    }
    const c = ft.create(now, ConnState.New, gen.version);
    ft.spKey[c] = spKey;
    ft.beKey[c] = beKey;
    // A reply carries the original tuple after NAT, reversed.
    ft.addReplyKey(c, nDst, nSrc, icmp ? (nSport << 16) >>> 0 : ((nDport << 16) | nSport) >>> 0);
    setRewrite(ft, c, 0, family, proto, flags, oSrc, oDst, sport, dport, nSrc, nDst, nSport, nDport);
    const rflags = ((flags & NAT_DST) !== 0 ? NAT_SRC : 0) | ((flags & NAT_SRC) !== 0 ? NAT_DST : 0);
    if (icmp) setRewrite(ft, c, 1, family, proto, rflags, nDst, nSrc, nSport, nSport, oDst, oSrc, sport, sport);
    else setRewrite(ft, c, 1, family, proto, rflags, nDst, nSrc, nDport, nSport, oDst, oSrc, dport, sport);
    return c * 2;
  }

  /**
   * A source port for SNAT such that the reply tuple (proto, replySrc:replySport →
   * snatAddr:port) is not in use: collision-free by construction. Keeps the original port
   * when it is free (as Linux does), else probes a hash-seeded sequence; -1 when exhausted.
   */
  private allocPort(proto: number, family: number, replySrc: Uint32Array, replySport: number, snatAddr: Uint32Array, preferred: number): number {
    const ft = this.flows;
    const icmp = proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6;
    let cand = preferred;
    let step = ((replySrc[3] ^ (replySport << 7) ^ preferred) * 2654435761) >>> 0;
    for (let i = 0; i < SNAT_TRIES; i++) {
      const usable = icmp || (cand >= SNAT_PORT_MIN && (cand < this.gen.nodePortMin || cand > this.gen.nodePortMax));
      if (usable && !ft.tupleInUse(family, proto, replySrc, snatAddr, icmp ? cand : replySport, icmp ? 0 : cand)) return cand;
      step = (Math.imul(step, 1103515245) + 12345) >>> 0;
      cand = icmp ? step & 0xffff : SNAT_PORT_MIN + (step % (65536 - SNAT_PORT_MIN));
    }
    return -1;
  }

  /** True when the packet's destination is the node address masquerade/SNAT uses. */
  private toMasqueradeAddress(family: number, info: FrameInfo, buf: Uint8Array): boolean {
    const gen = this.gen;
    if (family === 4) return gen.snat4 !== 0 && info.dst4 === gen.snat4;
    if (!gen.hasSnat6) return false;
    const d = info.l3Off + IPV6_DST_OFF;
    for (let i = 0; i < 16; i++) if (buf[d + i] !== gen.snat6[i]) return false;
    return true;
  }

  /** Token bucket of the source address in key k (words 0..3). */
  private newFlowAllowed(k: Uint32Array): boolean {
    let h = Math.imul(k[3] ^ 0x9e3779b9, 0x85ebca6b) ^ k[2] ^ Math.imul(k[1], 0xc2b2ae35) ^ k[0];
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
    const b = (h ^ (h >>> 12)) & this.nfMask;
    const elapsed = this.now - this.nfStamp[b];
    this.nfStamp[b] = this.now;
    let t = this.nfTokens[b] + (elapsed * this.nfRate) / 1000;
    if (t > this.nfBurst) t = this.nfBurst;
    if (t < 1) { this.nfTokens[b] = t; return false; }
    this.nfTokens[b] = t - 1;
    return true;
  }

  /** Byte form of two address-word quads into addr32 (src at 0, dst at 16). */
  private pair16(src: Uint32Array, dst: Uint32Array): void {
    const b = this.addr32;
    for (let i = 0; i < 4; i++) {
      const v = src[i], d = dst[i];
      b[i * 4] = v >>> 24; b[i * 4 + 1] = (v >>> 16) & 0xff; b[i * 4 + 2] = (v >>> 8) & 0xff; b[i * 4 + 3] = v & 0xff;
      b[16 + i * 4] = d >>> 24; b[17 + i * 4] = (d >>> 16) & 0xff; b[18 + i * 4] = (d >>> 8) & 0xff; b[19 + i * 4] = d & 0xff;
    }
  }

  /** REJECT: TCP RST, or ICMP port unreachable from the address the client tried. */
  private reject(p: number, buf: Uint8Array, off: number, info: FrameInfo): void {
    if (info.l4Proto === IPPROTO_TCP) {
      if ((info.tcpFlags & 0x04) !== 0) return; // never answer a RST
      const slot = this.allocLocal();
      if (slot < 0) { this.counters.generatedDropped++; return; }
      const len = emitTcpReset(this.localSlab, slot, this.gen.gatewayMac, p * 6, buf, off + 6, buf, info);
      this.enqueueLocal(p, slot, len);
      return;
    }
    if (!this.icmpAllowed()) { this.counters.generatedDropped++; return; }
    const slot = this.allocLocal();
    if (slot < 0) { this.counters.generatedDropped++; return; }
    let len: number;
    if (info.ipVersion === 4) {
      len = emitIcmp4Error(this.localSlab, slot, ICMP4_DEST_UNREACH, ICMP4_PORT_UNREACH, 0, this.gen.gatewayMac, p * 6,
        buf, off + 6, info.dst4, buf, info.l3Off, info.l3Len);
    } else {
      len = emitIcmp6Error(this.localSlab, slot, ICMP6_DEST_UNREACH, 4, 0, this.gen.gatewayMac, p * 6, buf, off + 6,
        buf, info.l3Off + IPV6_DST_OFF, buf, info.l3Off, info.l3Len);
    }
    this.enqueueLocal(p, slot, len);
  }

  /**
   * An ICMPv4 error about a tracked, NATed connection: translate the quoted packet and the
   * outer header back to what the other side of the connection knows (RFC 5508 4.2), then
   * recompute the checksums (slow path: errors are rare).
   */
  private icmpErrorNat4(buf: Uint8Array, info: FrameInfo): void {
    const ft = this.flows;
    const ic = info.l4Off, end = info.l3Off + info.l3Len;
    const inner = ic + 8;
    if (inner + 20 > end) return;
    const ihl = (buf[inner] & 0x0f) << 2;
    if ((buf[inner] >>> 4) !== 4 || ihl < 20 || inner + ihl + 8 > end) return;
    const iproto = buf[inner + 9];
    const il4 = inner + ihl;
    const isEcho = iproto === IPPROTO_ICMP;
    if (iproto !== IPPROTO_TCP && iproto !== IPPROTO_UDP && iproto !== IPPROTO_SCTP && !isEcho) return;
    const isrc = read32(buf, inner + 12), idst = read32(buf, inner + 16);
    const isport = isEcho ? (buf[il4 + 4] << 8) | buf[il4 + 5] : (buf[il4] << 8) | buf[il4 + 1];
    const idport = isEcho ? 0 : (buf[il4 + 2] << 8) | buf[il4 + 3];
    // The quoted packet went from A to B; its reverse is a packet of the connection.
    if (isEcho) ft.key4(iproto, idst, isrc, isport, 0);
    else ft.key4(iproto, idst, isrc, idport, isport);
    const cd = ft.lookup(this.now);
    if (cd < 0) return;
    const c = cd >> 1, dir = cd & 1;
    if (ft.natFlags[c * 2] === 0 && ft.natFlags[c * 2 + 1] === 0) return;
    const other = this.kw, matched = this.kw2;
    if (dir === 0) { ft.replyKey(c, other); ft.origKey(c, matched); } else { ft.origKey(c, other); ft.replyKey(c, matched); }
    // Inner: what the other side sent. Outer: to the other side's source.
    write32(buf, inner + 12, other[3]);
    write32(buf, inner + 16, other[7]);
    if (isEcho) { buf[il4 + 4] = other[8] >>> 24; buf[il4 + 5] = (other[8] >>> 16) & 0xff; }
    else { write16(buf, il4, other[8] >>> 16); write16(buf, il4 + 2, other[8] & 0xffff); }
    write16(buf, inner + 10, 0);
    write16(buf, inner + 10, ~fold(sumRange(buf, inner, ihl, 0)) & 0xffff);
    const l3 = info.l3Off;
    if (read32(buf, l3 + 12) === matched[3]) write32(buf, l3 + 12, other[7]);
    write32(buf, l3 + 16, other[3]);
    write16(buf, l3 + 10, 0);
    write16(buf, l3 + 10, ~fold(sumRange(buf, l3, info.ipHeaderLen, 0)) & 0xffff);
    write16(buf, ic + 2, 0);
    write16(buf, ic + 2, ~fold(sumRange(buf, ic, end - ic, 0)) & 0xffff);
    info.src4 = read32(buf, l3 + 12);
    info.dst4 = read32(buf, l3 + 16);
  }

  /** The IPv6 counterpart of icmpErrorNat4 (no IP header checksum; ICMPv6 has a pseudo-header). */
  private icmpErrorNat6(buf: Uint8Array, info: FrameInfo): void {
    const ft = this.flows;
    const ic = info.l4Off, end = info.l3Off + info.l3Len;
    const inner = ic + 8;
    if (inner + 48 > end || (buf[inner] >>> 4) !== 6) return;
    const iproto = buf[inner + 6]; // extension headers in the quote are not walked
    const il4 = inner + 40;
    const isEcho = iproto === IPPROTO_ICMPV6;
    if (iproto !== IPPROTO_TCP && iproto !== IPPROTO_UDP && iproto !== IPPROTO_SCTP && !isEcho) return;
    const isport = isEcho ? (buf[il4 + 4] << 8) | buf[il4 + 5] : (buf[il4] << 8) | buf[il4 + 1];
    const idport = isEcho ? 0 : (buf[il4 + 2] << 8) | buf[il4 + 3];
    if (isEcho) ft.key6(iproto, buf, inner + 24, inner + 8, isport, 0);
    else ft.key6(iproto, buf, inner + 24, inner + 8, idport, isport);
    const cd = ft.lookup(this.now);
    if (cd < 0) return;
    const c = cd >> 1, dir = cd & 1;
    if (ft.natFlags[c * 2] === 0 && ft.natFlags[c * 2 + 1] === 0) return;
    const other = this.kw, matched = this.kw2;
    if (dir === 0) { ft.replyKey(c, other); ft.origKey(c, matched); } else { ft.origKey(c, other); ft.replyKey(c, matched); }
    for (let w = 0; w < 4; w++) { write32(buf, inner + 8 + w * 4, other[w]); write32(buf, inner + 24 + w * 4, other[4 + w]); }
    if (isEcho) { buf[il4 + 4] = other[8] >>> 24; buf[il4 + 5] = (other[8] >>> 16) & 0xff; }
    else { write16(buf, il4, other[8] >>> 16); write16(buf, il4 + 2, other[8] & 0xffff); }
    const l3 = info.l3Off;
    let same = true;
    for (let w = 0; w < 4; w++) if (read32(buf, l3 + 8 + w * 4) !== matched[w]) same = false;
    if (same) for (let w = 0; w < 4; w++) write32(buf, l3 + 8 + w * 4, other[4 + w]);
    for (let w = 0; w < 4; w++) write32(buf, l3 + 24 + w * 4, other[w]);
    write16(buf, ic + 2, 0);
    const len = end - ic;
    let sum = sumRange(buf, l3 + 8, 32, 0) + len + IPPROTO_ICMPV6;
    sum = sumRange(buf, ic, len, sum);
    write16(buf, ic + 2, ~fold(sum) & 0xffff);
  }

  // ---------------------------------------------------------------------------------
  // Addressed to tapflow itself

  private local4(p: number, buf: Uint8Array, off: number, info: FrameInfo): void {
    if (info.l4Proto === IPPROTO_ICMP && info.icmpType === ICMP4_ECHO_REQUEST && !info.isFragment) {
      echoToReply(buf, off, info);
      setEthSrc(buf, off, this.gen.gatewayMac, p * 6);
      this.counters.delivered++;
      this.enqueueReply(p, off, info.frameLen);
      return;
    }
    this.counters.drop(p, DropReason.LocalUnhandled);
    const proto = info.l4Proto;
    if (proto === IPPROTO_UDP || proto === IPPROTO_TCP) this.icmp4Error(p, buf, off, info, ICMP4_DEST_UNREACH, ICMP4_PORT_UNREACH, 0);
    else if (proto !== IPPROTO_ICMP) this.icmp4Error(p, buf, off, info, ICMP4_DEST_UNREACH, ICMP4_PROTO_UNREACH, 0);
  }

  private local6(p: number, buf: Uint8Array, off: number, info: FrameInfo): void {
    if (info.l4Proto === IPPROTO_ICMPV6 && info.icmpType === ICMP6_ECHO_REQUEST && !info.isFragment) {
      icmp6EchoToReply(buf, off, info);
      setEthSrc(buf, off, this.gen.gatewayMac, p * 6);
      this.counters.delivered++;
      this.enqueueReply(p, off, info.frameLen);
      return;
    }
    this.counters.drop(p, DropReason.LocalUnhandled);
    const proto = info.l4Proto;
    if (proto === IPPROTO_UDP || proto === IPPROTO_TCP) this.icmp6Error(p, buf, off, info, ICMP6_DEST_UNREACH, 4, 0);
  }

  private handleNd(p: number, buf: Uint8Array, off: number, info: FrameInfo): void {
    const c = this.counters;
    const r = checkNd(buf, info.l3Off, info.l4Off, info.l4Len);
    if (r !== DropReason.None) { c.drop(p, r); return; }
    const l3 = info.l3Off, srcOff = l3 + IPV6_SRC_OFF;
    const target = ndTargetOff(info.l4Off);
    if (info.icmpType === ND_NEIGHBOR_SOLICIT) {
      const dad = isV6Unspecified(buf, srcOff);
      const sll = ndFindOption(buf, info.l4Off, info.l4Len, ND_OPT_SOURCE_LLADDR);
      if (!dad && sll >= 0) {
        const ni = this.neighbors.learn6(p, buf, srcOff, buf, sll + 2, this.now);
        if (ni >= 0) this.releasePending6(p, buf, srcOff, ni);
      }
      const route = this.gen.routes.lpm6.lookup(buf, target);
      const st = this.gen.services;
      const owned = p === this.gen.uplink && st !== null && st.ownsAddress6(buf, target);
      if (dad || !(owned || this.answersFor(p, route))) { c.drop(p, DropReason.ArpIgnored); return; }
      // Reply to the soliciting address, at the MAC from its option (or the frame's source).
      const slot = this.allocLocal();
      if (slot < 0) { c.delivered++; c.generatedDropped++; return; }
      const dstMac = sll >= 0 ? sll + 2 : off + 6;
      const isRouter = this.gen.role[p] !== PortRole.Uplink || this.gen.routes.kind[route] === RouteKind.Local;
      const len = emitNeighborAdvert(this.localSlab, slot, this.gen.gatewayMac, p * 6, buf, dstMac,
        buf, target, buf, srcOff, true, isRouter);
      c.delivered++;
      this.enqueueLocal(p, slot, len);
      return;
    }
    // Neighbor advertisement: learn the target's link-layer address.
    const tll = ndFindOption(buf, info.l4Off, info.l4Len, ND_OPT_TARGET_LLADDR);
    if (tll >= 0) {
      const ni = this.neighbors.learn6(p, buf, target, buf, tll + 2, this.now);
      if (ni >= 0) this.releasePending6(p, buf, target, ni);
    }
    c.delivered++;
  }

  // ---------------------------------------------------------------------------------
  // ICMP errors (RFC 1812 4.3.2.7: never about ICMP errors, non-first fragments, or
  // multicast/broadcast; rate-limited)

  private icmpAllowed(): boolean {
    if (this.now - this.icmpRefillAt >= 1000) { this.icmpTokens = this.icmpRate; this.icmpRefillAt = this.now; }
    if (this.icmpTokens <= 0) return false;
    this.icmpTokens--;
    return true;
  }

  private icmp4Error(p: number, buf: Uint8Array, off: number, info: FrameInfo, type: number, code: number, param: number): void {
    if (info.isFragment && !info.isFirstFragment) return;
    if (info.l4Proto === IPPROTO_ICMP && icmp4IsError(info.icmpType)) return;
    const src = this.gen.errSrc4[p];
    if (src === 0) return;
    if (!this.icmpAllowed()) { this.counters.generatedDropped++; return; }
    const slot = this.allocLocal();
    if (slot < 0) { this.counters.generatedDropped++; return; }
    const len = emitIcmp4Error(this.localSlab, slot, type, code, param, this.gen.gatewayMac, p * 6, buf, off + 6, src,
      buf, info.l3Off, info.l3Len);
    this.enqueueLocal(p, slot, len);
  }

  private icmp6Error(p: number, buf: Uint8Array, off: number, info: FrameInfo, type: number, code: number, param: number): void {
    if (info.isFragment && !info.isFirstFragment) return;
    if (info.l4Proto === IPPROTO_ICMPV6 && icmp6IsError(info.icmpType)) return;
    const gen = this.gen;
    if (gen.has6[p] === 0) return;
    if (!this.icmpAllowed()) { this.counters.generatedDropped++; return; }
    const slot = this.allocLocal();
    if (slot < 0) { this.counters.generatedDropped++; return; }
    const len = emitIcmp6Error(this.localSlab, slot, type, code, param, gen.gatewayMac, p * 6, buf, off + 6,
      gen.errSrc6, p * 16, buf, info.l3Off, info.l3Len);
    this.enqueueLocal(p, slot, len);
  }

  // ---------------------------------------------------------------------------------
  // Neighbor resolution with a bounded pending pool

  private park4(p: number, q: number, nh: number, buf: Uint8Array, off: number, len: number, vnet: boolean): void {
    this.lastEgress = q;
    const nt = this.neighbors;
    const ni = nt.findOrCreate4(q, nh, this.now);
    if (ni < 0) { this.counters.drop(p, DropReason.NeighborQueueFull); return; }
    const slot = this.allocPending(4, q, nh, null, 0);
    if (slot < 0) { this.counters.drop(p, DropReason.NeighborQueueFull); return; }
    this.storePending(slot, p, buf, off, len, vnet);
    this.pendAddr4[slot] = nh;
    if (nt.probes[ni] === 0) this.probe(ni);
  }

  private park6(p: number, q: number, nhBuf: Uint8Array, nhOff: number, buf: Uint8Array, off: number, len: number, vnet: boolean): void {
    this.lastEgress = q;
    const nt = this.neighbors;
    const ni = nt.findOrCreate6(q, nhBuf, nhOff, this.now);
    if (ni < 0) { this.counters.drop(p, DropReason.NeighborQueueFull); return; }
    const slot = this.allocPending(6, q, 0, nhBuf, nhOff);
    if (slot < 0) { this.counters.drop(p, DropReason.NeighborQueueFull); return; }
    this.storePending(slot, p, buf, off, len, vnet);
    copyBytes(this.pendAddr6, slot * 16, nhBuf, nhOff, 16);
    if (nt.probes[ni] === 0) this.probe(ni);
  }

  /** A free pending slot, or -1 when the pool or this neighbor's share is full. */
  private allocPending(family: number, q: number, a4: number, a6: Uint8Array | null, a6Off: number): number {
    let free = -1, same = 0;
    const fam = this.pendFamily;
    for (let s = 0; s < this.pendSlots; s++) {
      if (fam[s] === 0) { if (free < 0) free = s; continue; }
      if (fam[s] !== family || this.pendPort[s] !== q) continue;
      if (family === 4 ? this.pendAddr4[s] === a4 : eq16(this.pendAddr6, s * 16, a6!, a6Off)) same++;
    }
    if (same >= this.pendPerNeighbor) return -1;
    if (free >= 0) { fam[free] = family; this.pendPort[free] = q; }
    return free;
  }

  private storePending(slot: number, p: number, buf: Uint8Array, off: number, len: number, vnet: boolean): void {
    const base = slot * this.pendSlotSize;
    if (len + VNET_HDR_LEN > this.pendSlotSize) len = this.pendSlotSize - VNET_HDR_LEN; // cannot happen: slots ≥ rx slots
    // Copy header room too so a vnet header travels with the frame.
    copyBytes(this.pendSlab, base, buf, off - VNET_HDR_LEN, len + VNET_HDR_LEN);
    this.pendLen[slot] = len;
    this.pendIngress[slot] = p;
    this.pendVnet[slot] = vnet ? 1 : 0;
    this.counters.pending++;
  }

  /** Send (or re-send) a request for neighbor entry ni. */
  private probe(ni: number): void {
    const nt = this.neighbors, gen = this.gen;
    const q = nt.portOf(ni);
    nt.probes[ni]++;
    nt.probedAt[ni] = this.now;
    const slot = this.allocLocal();
    if (slot < 0) { this.counters.generatedDropped++; return; }
    let len: number;
    if (nt.isV4(ni)) {
      const src = gen.errSrc4[q];
      len = emitArp(this.localSlab, slot, ARP_OP_REQUEST, gen.gatewayMac, q * 6, src, null, 0, nt.addr4(ni));
    } else {
      if (gen.has6[q] === 0) { this.counters.generatedDropped++; this.localUsed--; return; }
      nt.addr6(ni, this.scratch6, 0);
      len = emitNeighborSolicit(this.localSlab, slot, gen.gatewayMac, q * 6, gen.errSrc6, q * 16, this.scratch6, 0);
    }
    this.enqueueLocal(q, slot, len);
  }

  private releasePending4(q: number, ip: number, ni: number): void {
    if (this.counters.pending === 0) return;
    for (let s = 0; s < this.pendSlots; s++) {
      if (this.pendFamily[s] === 4 && this.pendPort[s] === q && this.pendAddr4[s] === ip) this.sendPending(s, ni);
    }
  }

  private releasePending6(q: number, buf: Uint8Array, off: number, ni: number): void {
    if (this.counters.pending === 0) return;
    for (let s = 0; s < this.pendSlots; s++) {
      if (this.pendFamily[s] === 6 && this.pendPort[s] === q && eq16(this.pendAddr6, s * 16, buf, off)) this.sendPending(s, ni);
    }
  }

  private sendPending(s: number, ni: number): void {
    const q = this.pendPort[s];
    const off = s * this.pendSlotSize + VNET_HDR_LEN;
    setEthDst(this.pendSlab, off, this.neighbors.macs, ni * 6);
    setEthSrc(this.pendSlab, off, this.gen.gatewayMac, q * 6);
    if (this.pendVnet[s] === 1 && !this.ports[q].vnetHdr && vnetGsoType(this.pendSlab, off - VNET_HDR_LEN) !== VNET_HDR_GSO_NONE) {
      // A parked GSO super-frame for a port without vnet_hdr: segment it now.
      this.pendFamily[s] = 0;
      this.counters.pending--;
      const info = this.pendInfo;
      if (parseFrame(this.pendSlab, off, this.pendLen[s], info) !== DropReason.None) { this.counters.drop(this.pendIngress[s], DropReason.GsoUnsupported); return; }
      this.sendSegmented(this.pendIngress[s], q, this.pendSlab, off, this.pendLen[s], info);
      return;
    }
    this.oneOff[0] = off;
    this.oneLen[0] = this.pendLen[s];
    const sent = this.ports[q].send(this.pendSlab, this.oneOff, this.oneLen, 1, this.pendVnet[s] === 1);
    this.pendFamily[s] = 0;
    this.counters.pending--;
    if (sent === 1) this.counters.forwarded++;
    else this.counters.drop(this.pendIngress[s], DropReason.TxFailed);
  }

  /**
   * Software segmentation (wire/gso.ts) of a GSO super-frame for a port that cannot take
   * one, sent at once — after whatever is already queued for that port, so a flow's order
   * holds. Counted as one forwarded frame (one frame was received).
   */
  private sendSegmented(p: number, q: number, buf: Uint8Array, off: number, len: number, info: FrameInfo): void {
    if (this.txCount[q] > 0 && buf === this.ports[p].rx.slab) this.flushPort(p, q, buf, this.ports[p].vnetHdr);
    const n = segmentGso(buf, off, len, off - VNET_HDR_LEN, info, this.gsoSlab, 0, SLOT_SIZE_PLAIN, GSO_MAX_SEGMENTS, this.gsoLens);
    if (n < 0) { this.counters.drop(p, -n as DropReason); return; }
    const sent = this.ports[q].send(this.gsoSlab, this.gsoOffs, this.gsoLens, n, false);
    if (sent === n) this.counters.forwarded++;
    else this.counters.drop(p, DropReason.TxFailed);
    this.lastEgress = q;
  }

  /**
   * Timers, called off the batch path (e.g. every 250 ms): retry neighbor requests, give
   * up after RESOLVE_MAX_PROBES (pending frames dropped as neighbor-unresolved), forget
   * incomplete entries.
   */
  tick(): void {
    this.now = this.clock();
    this.flows.reap(this.now);
    const nt = this.neighbors;
    nt.forEach((ni) => {
      if (nt.state[ni] !== NeighborState.Incomplete) return;
      if (this.now - nt.probedAt[ni] < RESOLVE_RETRY_MS) return;
      if (nt.probes[ni] < RESOLVE_MAX_PROBES && this.hasPending(ni)) { this.probe(ni); return; }
      this.dropPendingFor(ni);
      nt.remove(ni);
    });
    this.flushLocal();
  }

  /**
   * Resolve every incomplete neighbor to `mac` and send what waits for it (trace and
   * tests: the answer a real neighbor would give).
   */
  resolveAllPending(mac: Uint8Array): void {
    const nt = this.neighbors;
    nt.forEach((ni) => {
      if (nt.state[ni] !== NeighborState.Incomplete) return;
      nt.confirm(ni, mac, 0, this.now);
      const q = nt.portOf(ni);
      for (let s = 0; s < this.pendSlots; s++) {
        if (this.pendFamily[s] !== 0 && this.pendPort[s] === q && this.matchesEntry(s, ni)) this.sendPending(s, ni);
      }
    });
    this.flushLocal();
  }

  /**
   * Gratuitous ARP for `ip` on port q (an address tapflow starts answering for, such as a
   * LoadBalancer IP), so neighbors update their caches at once. Off the batch path.
   */
  announce4(q: number, ip: number): void {
    const slot = this.allocLocal();
    if (slot < 0) { this.counters.generatedDropped++; return; }
    const len = emitArp(this.localSlab, slot, ARP_OP_REQUEST, this.gen.gatewayMac, q * 6, ip >>> 0, null, 0, ip >>> 0);
    this.enqueueLocal(q, slot, len);
    this.flushLocal();
  }

  /** Unsolicited neighbor advertisement for the 16-byte address at buf[off] on port q (to ff02::1). */
  announce6(q: number, buf: Uint8Array, off: number): void {
    const slot = this.allocLocal();
    if (slot < 0) { this.counters.generatedDropped++; return; }
    const allNodes = ALL_NODES_V6, allNodesMac = ALL_NODES_MAC;
    const len = emitNeighborAdvert(this.localSlab, slot, this.gen.gatewayMac, q * 6, allNodesMac, 0, buf, off, allNodes, 0, false, false);
    this.enqueueLocal(q, slot, len);
    this.flushLocal();
  }

  private hasPending(ni: number): boolean {
    const nt = this.neighbors, q = nt.portOf(ni);
    for (let s = 0; s < this.pendSlots; s++) {
      if (this.pendFamily[s] === 0 || this.pendPort[s] !== q) continue;
      if (this.matchesEntry(s, ni)) return true;
    }
    return false;
  }

  private matchesEntry(s: number, ni: number): boolean {
    const nt = this.neighbors;
    if (nt.isV4(ni)) return this.pendFamily[s] === 4 && this.pendAddr4[s] === nt.addr4(ni);
    if (this.pendFamily[s] !== 6) return false;
    nt.addr6(ni, this.scratch6, 0);
    return eq16(this.pendAddr6, s * 16, this.scratch6, 0);
  }

  private dropPendingFor(ni: number): void {
    const q = this.neighbors.portOf(ni);
    for (let s = 0; s < this.pendSlots; s++) {
      if (this.pendFamily[s] === 0 || this.pendPort[s] !== q || !this.matchesEntry(s, ni)) continue;
      this.pendFamily[s] = 0;
      this.counters.pending--;
      this.counters.drop(this.pendIngress[s], DropReason.NeighborUnresolved);
    }
  }

  // ---------------------------------------------------------------------------------
  // Queues

  private enqueueForward(q: number, off: number, len: number): void {
    this.lastEgress = q;
    const i = this.txCount[q]++;
    this.txFwd[q]++;
    this.txOff[q][i] = off; this.txLen[q][i] = len; this.txKind[q * this.cap + i] = 1;
  }

  private enqueueReply(q: number, off: number, len: number): void {
    const i = this.txCount[q]++;
    this.txOff[q][i] = off; this.txLen[q][i] = len; this.txKind[q * this.cap + i] = 0;
  }

  /** Offset of a free local slot's Ethernet header, or -1. */
  private allocLocal(): number {
    if (this.localUsed >= this.localSlots) return -1;
    return this.localUsed++ * SLOT_SIZE_PLAIN + VNET_HDR_LEN;
  }

  private enqueueLocal(q: number, off: number, len: number): void {
    const i = this.localCount[q]++;
    this.localOff[q][i] = off; this.localLen[q][i] = len;
    this.counters.generated++;
  }

  private flush(p: number, slab: Uint8Array, vnet: boolean): void {
    const n = this.ports.length;
    for (let q = 0; q < n; q++) if (this.txCount[q] !== 0) this.flushPort(p, q, slab, vnet);
    this.flushLocal();
  }

  /** Send port q's egress queue (frames in `slab` from ingress port p) and account for it. */
  private flushPort(p: number, q: number, slab: Uint8Array, vnet: boolean): void {
    const count = this.txCount[q], c = this.counters, base = q * this.cap;
    this.txCount[q] = 0;
    const sent = this.ports[q].send(slab, this.txOff[q], this.txLen[q], count, vnet);
    const fwd = this.txFwd[q];
    this.txFwd[q] = 0;
    if (sent === count && fwd === count) { c.forwarded += count; return; } // all sent, all forwarded frames
    for (let i = 0; i < count; i++) {
      if (this.txKind[base + i] !== 1) { if (i >= sent) c.generatedDropped++; continue; }
      if (i < sent) c.forwarded++;
      else c.drop(p, DropReason.TxFailed);
    }
  }

  private flushLocal(): void {
    if (this.localUsed === 0) return;
    const n = this.ports.length;
    for (let q = 0; q < n; q++) {
      const count = this.localCount[q];
      if (count === 0) continue;
      this.localCount[q] = 0;
      const sent = this.ports[q].send(this.localSlab, this.localOff[q], this.localLen[q], count, false);
      if (sent < count) this.counters.generatedDropped += count - sent;
    }
    this.localUsed = 0;
  }
}

const ALL_NODES_V6 = new Uint8Array([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
const ALL_NODES_MAC = new Uint8Array([0x33, 0x33, 0, 0, 0, 1]);

function read32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function write32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24; b[o + 1] = (v >>> 16) & 0xff; b[o + 2] = (v >>> 8) & 0xff; b[o + 3] = v & 0xff;
}

function write16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff; b[o + 1] = v & 0xff;
}

function eq16(a: Uint8Array, ao: number, b: Uint8Array, bo: number): boolean {
  for (let i = 0; i < 16; i++) if (a[ao + i] !== b[bo + i]) return false;
  return true;
}
