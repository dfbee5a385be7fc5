/**
 * REJECT, as kube-proxy does for a service without endpoints: a TCP segment is answered
 * with RST (RFC 9293 3.10.7.1: seq from the segment's ACK when it has one, else seq 0 and
 * ACK = seq + segment length), anything else with ICMP port unreachable — both from the
 * address and port the client tried, so its socket fails at once ("connection refused").
 * Writes into a caller-owned slab; no allocation.
 */
import type { FrameInfo } from '../wire/frame-parser';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_HEADER_LEN } from '../wire/ethernet';
import { IPV4_FLAG_DF, IPPROTO_TCP, emitIpv4Header } from '../wire/ipv4';
import { emitIpv6Header } from '../wire/ipv6';
import { l4Checksum4, l4Checksum6 } from '../wire/checksum';

const TCP_LEN = 20;

/**
 * Write Ethernet + IP + TCP RST answering the TCP segment described by (orig, info) into
 * buf[off]; returns the frame length. MACs: srcMac → dstMac.
 */
export function emitTcpReset(buf: Uint8Array, off: number, srcMac: Uint8Array, srcMacOff: number,
  dstMac: Uint8Array, dstMacOff: number, orig: Uint8Array, info: FrameInfo): number {
  for (let i = 0; i < 6; i++) {
    buf[off + i] = dstMac[dstMacOff + i];
    buf[off + 6 + i] = srcMac[srcMacOff + i];
  }
  const l4o = info.l4Off;
  const flags = orig[l4o + 13];
  const seq = get32(orig, l4o + 4);
  const ack = get32(orig, l4o + 8);
  const dataOff = (orig[l4o + 12] >>> 4) << 2;
  let segLen = info.l4Len - dataOff;
  if ((flags & 0x02) !== 0) segLen++;
  if ((flags & 0x01) !== 0) segLen++;
  const ip = off + ETH_HEADER_LEN;
  let t: number;
  if (info.ipVersion === 4) {
    buf[off + 12] = ETHERTYPE_IPV4 >>> 8; buf[off + 13] = ETHERTYPE_IPV4 & 0xff;
    emitIpv4Header(buf, ip, 0, 20 + TCP_LEN, 0, IPV4_FLAG_DF, 64, IPPROTO_TCP, info.dst4, info.src4);
    t = ip + 20;
  } else {
    buf[off + 12] = ETHERTYPE_IPV6 >>> 8; buf[off + 13] = ETHERTYPE_IPV6 & 0xff;
    emitIpv6Header(buf, ip, 0, 0, TCP_LEN, IPPROTO_TCP, 64, orig, info.l3Off + 24, orig, info.l3Off + 8);
    t = ip + 40;
  }
  put16(buf, t, info.dstPort);
  put16(buf, t + 2, info.srcPort);
  if ((flags & 0x10) !== 0) {
    put32(buf, t + 4, ack);
    put32(buf, t + 8, 0);
    buf[t + 13] = 0x04; // RST
  } else {
    put32(buf, t + 4, 0);
    put32(buf, t + 8, (seq + segLen) >>> 0);
    buf[t + 13] = 0x14; // RST|ACK
  }
  buf[t + 12] = (TCP_LEN >>> 2) << 4;
  put16(buf, t + 14, 0); // window
  put16(buf, t + 16, 0); // checksum
  put16(buf, t + 18, 0); // urgent
  const c = info.ipVersion === 4
    ? l4Checksum4(buf, t, TCP_LEN, IPPROTO_TCP, info.dst4, info.src4)
    : l4Checksum6(buf, ip, t, TCP_LEN, IPPROTO_TCP);
  put16(buf, t + 16, c);
  return t + TCP_LEN - off;
}

function get32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff; b[o + 1] = v & 0xff;
}

function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24; b[o + 1] = (v >>> 16) & 0xff; b[o + 2] = (v >>> 8) & 0xff; b[o + 3] = v & 0xff;
}
