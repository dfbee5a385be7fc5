/**
 * Frame builder for tests, fixtures and the fuzzer. Off the hot path: allocation,
 * strings and exceptions are fine here (a bad spec throws).
 *
 * Everything gets correct lengths and checksums unless a field is overridden to build
 * a lie (`totalLength`, `ihl`, `checksum`, `dataOffset`, `length`, `hdrExtLen`, ...).
 *
 * @example
 *   // TCP SYN over IPv4 in VLAN 10
 *   const f = buildFrame({
 *     vlan: 10,
 *     ip: { version: 4, src: '10.0.0.1', dst: '10.0.1.2', ttl: 64, df: true },
 *     l4: { proto: 'tcp', sport: 40000, dport: 80, flags: TCP_SYN, seq: 1 },
 *   });
 *   // ICMPv6 echo request
 *   buildFrame({ ip: { version: 6, src: 'fd00::1', dst: 'fd00::2' },
 *                l4: { proto: 'icmpv6', type: 128, id: 7, seq: 1, payload: 'hi' } });
 *   // IPv6 with hop-by-hop + fragment header (first fragment) + UDP
 *   buildFrame({ ip: { version: 6, src: 'fd00::1', dst: 'fd00::2',
 *                      ext: [{ type: 'hbh' }, { type: 'fragment', offset: 0, more: true, id: 9 }] },
 *                l4: { proto: 'udp', sport: 1, dport: 2, payload: new Uint8Array(100) } });
 *   // Put it into a port-style slot with vnet headroom
 *   const { buf, off, len } = inSlot(f);
 */
import { parseIpv4, parseIpv6, parseMac } from './address';
import { emitArp } from './arp';
import { finish, ipv4HeaderChecksum, pseudoSum4, pseudoSum6, sumRange } from './checksum';
import { sctpFillChecksum } from './sctp';
import { emitVnetHdr } from './vnet-hdr';

export type Bytes = Uint8Array | readonly number[] | string;

export interface VlanSpec {
  /** VLAN Identifier (12 bits). */
  id: number;
  /** Priority Code Point (3 bits). */
  pcp?: number;
  /** Drop Eligible Indicator. */
  dei?: boolean;
  /** TPID; default 0x8100 (use 0x88a8 for an 802.1ad outer tag). */
  tpid?: number;
}

export interface Ipv6ExtSpec {
  /** Extension header kind, or a raw Next Header number (generic (len+1)*8 form). */
  type: 'hbh' | 'dst' | 'routing' | 'fragment' | 'ah' | number;
  /**
   * Bytes after the 2-byte (next header, length) prefix. hbh/dst: options, padded with
   * PadN to a multiple of 8; routing: type, segments left, data (default type 0 style
   * zeros); AH: padded to a multiple of 4 (after SPI/seq you would put in here).
   */
  data?: Bytes;
  /** Override the Hdr Ext Len byte (build a lie). */
  hdrExtLen?: number;
  /** Override the Next Header byte. */
  nextHeader?: number;
  /** fragment: Fragment Offset in bytes (multiple of 8). */
  offset?: number;
  /** fragment: M flag. */
  more?: boolean;
  /** fragment: Identification. */
  id?: number;
}

export interface IpSpec {
  version: 4 | 6;
  src: string;
  dst: string;
  /** TTL / Hop Limit; default 64. */
  ttl?: number;
  /** v4 TOS byte / v6 Traffic Class. */
  tos?: number;
  /** v6 Flow Label. */
  flowLabel?: number;
  /** v4 DF flag. */
  df?: boolean;
  /** v4 Identification. */
  id?: number;
  /** v4 options (raw bytes), zero-padded (EOL) to a multiple of 4. */
  options?: Bytes;
  /**
   * Fragment fields. v4: sets MF and the offset (bytes, multiple of 8). v6: appends a
   * fragment header after `ext` (unless `ext` already has one).
   */
  fragment?: { offset: number; more: boolean; id?: number };
  /** v6 extension headers, in order. */
  ext?: Ipv6ExtSpec[];
  /** Override Protocol / final Next Header. */
  protocol?: number;
  /** Override v4 Total Length / v6 Payload Length. */
  totalLength?: number;
  /** Override v4 IHL (in 4-byte words). */
  ihl?: number;
  /** Override the v4 header checksum. */
  checksum?: number;
  /** Override the version nibble. */
  versionField?: number;
}

export interface L4Spec {
  proto: 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'sctp' | number;
  /** Source / destination port (TCP, UDP, SCTP). */
  sport?: number;
  dport?: number;
  /** TCP. */
  seq?: number;
  ack?: number;
  flags?: number;
  window?: number;
  urgent?: number;
  /** TCP options (raw), zero-padded (EOL) to a multiple of 4. */
  tcpOptions?: Bytes;
  /** Override TCP Data Offset (in 4-byte words). */
  dataOffset?: number;
  /** ICMP / ICMPv6 type and code. */
  type?: number;
  code?: number;
  /** ICMP echo identifier / sequence (bytes 4..7). */
  id?: number;
  /** ICMP echo sequence. */
  icmpSeq?: number;
  /** ICMP rest-of-header word (bytes 4..7), wins over id/icmpSeq. */
  rest?: number;
  /** Override UDP Length. */
  length?: number;
  /** SCTP verification tag. */
  vtag?: number;
  /** Data after the L4 header. */
  payload?: Bytes;
  /** Override the checksum field. */
  checksum?: number;
  /** UDP over IPv4: leave checksum 0. */
  noChecksum?: boolean;
}

export interface FrameSpec {
  /** Source MAC; default 02:00:00:00:00:01. */
  srcMac?: string;
  /** Destination MAC; default 02:00:00:00:00:02. */
  dstMac?: string;
  /** VLAN tags, outer first: a VID, a VlanSpec, or a list of them. */
  vlan?: number | VlanSpec | Array<number | VlanSpec>;
  /** Override the EtherType after the tags (default from ip / payload). */
  ethertype?: number;
  ip?: IpSpec;
  l4?: L4Spec;
  /** L3 payload when there is no `l4` (after the IP header), or L2 payload when no `ip`. */
  payload?: Bytes;
  /** Zero-pad the frame to at least this many bytes (e.g. 60). */
  padTo?: number;
}

export const DEFAULT_SRC_MAC = '02:00:00:00:00:01';
export const DEFAULT_DST_MAC = '02:00:00:00:00:02';

/** Bytes from a Uint8Array, a number list, or a string (UTF-8). */
export function toBytes(b: Bytes | undefined): Uint8Array {
  if (b === undefined) return new Uint8Array(0);
  if (typeof b === 'string') return new TextEncoder().encode(b);
  return Uint8Array.from(b);
}

/** Bytes from a hex dump ("45 00 00 73 …", "0x45,0x00", "4500 0073"); whitespace, commas and 0x ignored. */
export function hex(s: string): Uint8Array {
  const clean = s.replace(/0x/gi, '').replace(/[^0-9a-fA-F]/g, '');
  if (clean.length % 2) throw new Error('hex: odd number of digits');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.substr(i * 2, 2), 16);
  return out;
}

/** Hex string of bytes (for test failure messages). */
export function toHex(b: Uint8Array, off = 0, len = b.length - off): string {
  let s = '';
  for (let i = 0; i < len; i++) s += (b[off + i] < 16 ? '0' : '') + b[off + i].toString(16);
  return s;
}

function mac(s: string | undefined, dflt: string): Uint8Array {
  const m = parseMac(s ?? dflt);
  if (!m) throw new Error(`bad MAC ${s}`);
  return m;
}

function v4(s: string): number {
  const a = parseIpv4(s);
  if (a < 0) throw new Error(`bad IPv4 address ${s}`);
  return a;
}

function v6(s: string): Uint8Array {
  const a = parseIpv6(s);
  if (!a) throw new Error(`bad IPv6 address ${s}`);
  return a;
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function be16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function be32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

function protoNumber(p: L4Spec['proto']): number {
  switch (p) {
    case 'tcp': return 6;
    case 'udp': return 17;
    case 'icmp': return 1;
    case 'icmpv6': return 58;
    case 'sctp': return 132;
    default: return p;
  }
}

function pad(b: Uint8Array, multiple: number): Uint8Array {
  const n = Math.ceil(b.length / multiple) * multiple;
  if (n === b.length) return b;
  const out = new Uint8Array(n);
  out.set(b);
  return out;
}

/** L4 header + payload, checksum left zero (filled once the pseudo-header is known). */
function buildL4(l4: L4Spec): { bytes: Uint8Array; csumOff: number } {
  const payload = toBytes(l4.payload);
  const proto = protoNumber(l4.proto);
  switch (proto) {
    case 6: {
      const opts = pad(toBytes(l4.tcpOptions), 4);
      const h = new Uint8Array(20 + opts.length);
      be16(h, 0, l4.sport ?? 0);
      be16(h, 2, l4.dport ?? 0);
      be32(h, 4, l4.seq ?? 0);
      be32(h, 8, l4.ack ?? 0);
      h[12] = (l4.dataOffset ?? (h.length >>> 2)) << 4;
      h[13] = l4.flags ?? 0;
      be16(h, 14, l4.window ?? 65535);
      be16(h, 18, l4.urgent ?? 0);
      h.set(opts, 20);
      return { bytes: concat([h, payload]), csumOff: 16 };
    }
    case 17: {
      const h = new Uint8Array(8);
      be16(h, 0, l4.sport ?? 0);
      be16(h, 2, l4.dport ?? 0);
      be16(h, 4, l4.length ?? 8 + payload.length);
      return { bytes: concat([h, payload]), csumOff: 6 };
    }
    case 1:
    case 58: {
      const h = new Uint8Array(8);
      h[0] = l4.type ?? (proto === 1 ? 8 : 128);
      h[1] = l4.code ?? 0;
      be32(h, 4, l4.rest ?? (((l4.id ?? 0) & 0xffff) * 0x10000 + ((l4.icmpSeq ?? 0) & 0xffff)));
      return { bytes: concat([h, payload]), csumOff: 2 };
    }
    case 132: {
      const h = new Uint8Array(12);
      be16(h, 0, l4.sport ?? 0);
      be16(h, 2, l4.dport ?? 0);
      be32(h, 4, l4.vtag ?? 0);
      return { bytes: concat([h, payload]), csumOff: 8 };
    }
    default:
      return { bytes: payload, csumOff: -1 };
  }
}

function extNumber(t: Ipv6ExtSpec['type']): number {
  switch (t) {
    case 'hbh': return 0;
    case 'routing': return 43;
    case 'fragment': return 44;
    case 'ah': return 51;
    case 'dst': return 60;
    default: return t;
  }
}

/** One IPv6 extension header with next header `next`. */
function buildExt(e: Ipv6ExtSpec, next: number): Uint8Array {
  const nh = e.nextHeader ?? next;
  const t = extNumber(e.type);
  if (t === 44) {
    const h = new Uint8Array(8);
    h[0] = nh;
    be16(h, 2, ((e.offset ?? 0) & 0xfff8) | (e.more ? 1 : 0));
    be32(h, 4, e.id ?? 0);
    return h;
  }
  let data = toBytes(e.data);
  if (t === 51) {
    // AH: length in 4-byte units minus 2; at least SPI + sequence (8 bytes) after the prefix... keep 4-aligned
    if (data.length < 10) {
      const d = new Uint8Array(10);
      d.set(data);
      data = d;
    }
    const total = Math.ceil((2 + data.length) / 8) * 8; // IPv6 wants 8-byte alignment
    const h = new Uint8Array(total);
    h[0] = nh;
    h[1] = e.hdrExtLen ?? (total / 4 - 2);
    h.set(data, 2);
    return h;
  }
  if (t === 43 && data.length === 0) data = new Uint8Array(6); // type 0, segments left 0
  const total = Math.max(8, Math.ceil((2 + data.length) / 8) * 8);
  const h = new Uint8Array(total);
  h[0] = nh;
  h[1] = e.hdrExtLen ?? (total / 8 - 1);
  h.set(data, 2);
  const padLen = total - 2 - data.length;
  if ((t === 0 || t === 60) && padLen > 0) {
    // Pad1 or PadN
    const p = 2 + data.length;
    if (padLen === 1) h[p] = 0;
    else {
      h[p] = 1;
      h[p + 1] = padLen - 2;
    }
  }
  return h;
}

function vlanTags(v: FrameSpec['vlan']): Uint8Array {
  if (v === undefined) return new Uint8Array(0);
  const list = Array.isArray(v) ? v : [v];
  const out = new Uint8Array(list.length * 4);
  list.forEach((t, i) => {
    const s: VlanSpec = typeof t === 'number' ? { id: t } : t;
    be16(out, i * 4, s.tpid ?? 0x8100);
    be16(out, i * 4 + 2, ((s.pcp ?? 0) << 13) | (s.dei ? 0x1000 : 0) | (s.id & 0x0fff));
  });
  return out;
}

/** L2 header (MACs, tags, EtherType) for a spec. */
function l2(spec: FrameSpec, ethertype: number): Uint8Array {
  const tags = vlanTags(spec.vlan);
  const h = new Uint8Array(14 + tags.length);
  h.set(mac(spec.dstMac, DEFAULT_DST_MAC), 0);
  h.set(mac(spec.srcMac, DEFAULT_SRC_MAC), 6);
  h.set(tags, 12);
  be16(h, 12 + tags.length, spec.ethertype ?? ethertype);
  return h;
}

function finishFrame(spec: FrameSpec, frame: Uint8Array): Uint8Array {
  if (spec.padTo !== undefined && frame.length < spec.padTo) {
    const out = new Uint8Array(spec.padTo);
    out.set(frame);
    return out;
  }
  return frame;
}

/** Build a whole Ethernet frame (no vnet header) from a spec; see the module comment. */
export function buildFrame(spec: FrameSpec): Uint8Array {
  const ip = spec.ip;
  if (!ip) return finishFrame(spec, concat([l2(spec, spec.ethertype ?? 0x88b5), toBytes(spec.payload)]));
  const l4 = spec.l4 ? buildL4(spec.l4) : { bytes: toBytes(spec.payload), csumOff: -1 };
  const proto = ip.protocol ?? (spec.l4 ? protoNumber(spec.l4.proto) : 59);
  const seg = l4.bytes;

  if (ip.version === 4) {
    const src = v4(ip.src);
    const dst = v4(ip.dst);
    const opts = pad(toBytes(ip.options), 4);
    const h = new Uint8Array(20 + opts.length);
    h[0] = ((ip.versionField ?? 4) << 4) | ((ip.ihl ?? (h.length >>> 2)) & 0x0f);
    h[1] = ip.tos ?? 0;
    be16(h, 2, ip.totalLength ?? h.length + seg.length);
    be16(h, 4, ip.id ?? 0);
    let ff = ip.df ? 0x4000 : 0;
    if (ip.fragment) ff |= (ip.fragment.more ? 0x2000 : 0) | ((ip.fragment.offset >>> 3) & 0x1fff);
    be16(h, 6, ff);
    h[8] = ip.ttl ?? 64;
    h[9] = proto;
    be32(h, 12, src);
    be32(h, 16, dst);
    h.set(opts, 20);
    be16(h, 10, ip.checksum ?? ipv4HeaderChecksum(h, 0, h.length));
    if (spec.l4 && l4.csumOff >= 0) fillL4Checksum(spec.l4, seg, l4.csumOff, pseudoSum4(src, dst, proto, seg.length), true);
    return finishFrame(spec, concat([l2(spec, 0x0800), h, seg]));
  }

  const src = v6(ip.src);
  const dst = v6(ip.dst);
  const exts = [...(ip.ext ?? [])];
  if (ip.fragment && !exts.some((e) => extNumber(e.type) === 44)) {
    exts.push({ type: 'fragment', offset: ip.fragment.offset, more: ip.fragment.more, id: ip.fragment.id });
  }
  const extBytes: Uint8Array[] = [];
  for (let i = 0; i < exts.length; i++) {
    const next = i + 1 < exts.length ? extNumber(exts[i + 1].type) : proto;
    extBytes.push(buildExt(exts[i], next));
  }
  const ext = concat(extBytes);
  const firstNh = exts.length ? extNumber(exts[0].type) : proto;
  const h = new Uint8Array(40);
  const tc = ip.tos ?? 0;
  const fl = ip.flowLabel ?? 0;
  h[0] = ((ip.versionField ?? 6) << 4) | ((tc >>> 4) & 0x0f);
  h[1] = ((tc & 0x0f) << 4) | ((fl >>> 16) & 0x0f);
  be16(h, 2, fl & 0xffff);
  be16(h, 4, ip.totalLength ?? ext.length + seg.length);
  h[6] = firstNh;
  h[7] = ip.ttl ?? 64;
  h.set(src, 8);
  h.set(dst, 24);
  if (spec.l4 && l4.csumOff >= 0) {
    fillL4Checksum(spec.l4, seg, l4.csumOff, pseudoSum6(h, 8, 24, proto, seg.length), false);
  }
  return finishFrame(spec, concat([l2(spec, 0x86dd), h, ext, seg]));
}

function fillL4Checksum(l4: L4Spec, seg: Uint8Array, csumOff: number, pseudo: number, isV4: boolean): void {
  const proto = protoNumber(l4.proto);
  if (l4.checksum !== undefined) {
    if (proto === 132) be32(seg, csumOff, l4.checksum);
    else be16(seg, csumOff, l4.checksum);
    return;
  }
  if (proto === 132) {
    sctpFillChecksum(seg, 0, seg.length);
    return;
  }
  if (proto === 17 && isV4 && l4.noChecksum) return;
  // ICMPv4 has no pseudo-header
  const c = finish(sumRange(seg, 0, seg.length, proto === 1 ? 0 : pseudo));
  be16(seg, csumOff, proto === 17 && c === 0 ? 0xffff : c);
}

export interface ArpSpec {
  /** 1 request (default), 2 reply. */
  op?: number;
  srcMac?: string;
  srcIp: string;
  /** Reply: Ethernet destination and target hardware address. Request: Ethernet destination (default broadcast). */
  dstMac?: string;
  /** Override the target hardware address. */
  targetMac?: string;
  targetIp: string;
  vlan?: FrameSpec['vlan'];
  /** Zero-pad the frame to at least this many bytes (e.g. 60). */
  padTo?: number;
}

/** Build an Ethernet/IPv4 ARP frame (through emitArp, then VLAN tags and overrides). */
export function buildArp(spec: ArpSpec): Uint8Array {
  const op = spec.op ?? 1;
  const src = mac(spec.srcMac, DEFAULT_SRC_MAC);
  const dst = spec.dstMac !== undefined ? mac(spec.dstMac, DEFAULT_DST_MAC) : null;
  const plain = new Uint8Array(42);
  emitArp(plain, 0, op, src, 0, v4(spec.srcIp), dst, 0, v4(spec.targetIp));
  if (spec.targetMac !== undefined) plain.set(mac(spec.targetMac, DEFAULT_DST_MAC), 14 + 18);
  const tags = vlanTags(spec.vlan);
  const frame = concat([plain.subarray(0, 12), tags, plain.subarray(12)]);
  if (spec.padTo !== undefined && frame.length < spec.padTo) {
    const out = new Uint8Array(spec.padTo);
    out.set(frame);
    return out;
  }
  return frame;
}

export interface VnetSpec {
  flags?: number;
  gsoType?: number;
  hdrLen?: number;
  gsoSize?: number;
  csumStart?: number;
  csumOffset?: number;
}

/** Build a 10-byte virtio_net_hdr. */
export function buildVnetHdr(spec: VnetSpec = {}): Uint8Array {
  const h = new Uint8Array(10);
  emitVnetHdr(h, 0, spec.flags ?? 0, spec.gsoType ?? 0, spec.hdrLen ?? 0, spec.gsoSize ?? 0,
    spec.csumStart ?? 0, spec.csumOffset ?? 0);
  return h;
}

/**
 * Place a frame into a fresh port-style slot: `headroom` bytes (default 10, the vnet
 * header; filled from `vnet` when given) then the frame, then `tailroom` spare bytes.
 * Returns the buffer, the frame offset, the frame length and the vnet header offset.
 */
export function inSlot(frame: Uint8Array, opts: { headroom?: number; tailroom?: number; vnet?: Uint8Array } = {}):
  { buf: Uint8Array; off: number; len: number; hdrOff: number } {
  const headroom = opts.headroom ?? 10;
  const buf = new Uint8Array(headroom + frame.length + (opts.tailroom ?? 0));
  buf.set(frame, headroom);
  if (opts.vnet) buf.set(opts.vnet, headroom - opts.vnet.length);
  return { buf, off: headroom, len: frame.length, hdrOff: headroom - 10 };
}
