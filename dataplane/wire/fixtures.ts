/**
 * Byte fixtures and a seeded PRNG for the wire/ tests and the fuzzer (off the hot path).
 *
 * Real captures (tcpdump "sum ok" where noted) come first; then frames derived from the
 * RFC layouts with checksums computed by an independent implementation (Python struct
 * + a plain RFC 1071 sum), used as "construct" expectations for the emitters.
 */
import { hex } from './build';

// ---------------------------------------------------------------------------
// Real captures
// ---------------------------------------------------------------------------

/**
 * TCP over IPv4, 104.18.138.67:443 → 192.168.0.235:20781, [P.], TLS record.
 * IPv4 id 0x29da DF ttl 54; seq 0x0a348e3e ack 0x2ab3e697 win 11; both checksums valid.
 */
export const CAPTURE_TCP4 = hex(`
  b03cdc87c85a b01921af4410 0800
  4500 0041 29da 4000 3606 66f4 6812 8a43 c0a8 00eb
  01bb 512d 0a34 8e3e 2ab3 e697 5018 000b 239d 0000
  1703 0300 143f ee7e e65c 1fdb 813a 0775 aecb 7666 b6e3 a4bd af`);

/**
 * UDP over IPv4 multicast (mDNS response), 192.168.0.132:5349 → 224.0.0.251:5353, ttl 255.
 * IPv4 header checksum valid; the UDP checksum (0xfe31) in this capture does not verify.
 */
export const CAPTURE_UDP4_MDNS = hex(`
  01005e0000fb 001ba953e091 0800
  4500 004d 3cb1 0000 ff11 dcc6 c0a8 0084 e000 00fb
  14e5 14e9 0039 fe31
  0000 8400 0000 0001 0000 0000 0f42 524e 3030 3142 4139 3533 4530 3931 056c 6f63
  616c 0000 0180 0100 0000 f000 04c0 a800 84`);

/**
 * ICMPv6 Neighbor Solicitation (unicast NUD probe), fe80::21f:caff:feb3:75c0 →
 * 2620:0:1005:0:26be:5ff:fe27:b17, hlim 255, traffic class 0xe0, target = dst,
 * source link-layer option 00:1f:ca:b3:75:c0. Checksum 0x1eba valid.
 */
export const CAPTURE_NS = hex(`
  24be05270b17 001fcab375c0 86dd
  6e00 0000 0020 3aff fe80 0000 0000 0000 021f caff feb3 75c0
  2620 0000 1005 0000 26be 05ff fe27 0b17
  8700 1eba 0000 0000 2620 0000 1005 0000 26be 05ff fe27 0b17 0101 001f cab3 75c0`);

/**
 * ICMPv6 Neighbor Solicitation for DAD: :: → ff02::1:ff0e:4c67, who has
 * fe80::20c:29ff:fe0e:4c67, no options, hlim 255. tcpdump "[icmp6 sum ok]".
 */
export const CAPTURE_NS_DAD = hex(`
  3333ff0e4c67 000c290e4c67 86dd
  6000 0000 0018 3aff 0000 0000 0000 0000 0000 0000 0000 0000
  ff02 0000 0000 0000 0000 0001 ff0e 4c67
  8700 b930 0000 0000 fe80 0000 0000 0000 020c 29ff fe0e 4c67`);

/**
 * ICMPv6 Router Advertisement, fe80::c000:54ff:fef5:0 → ff02::1, class 0xe0, hlim 255;
 * hop limit 64, lifetime 1800 s; options: source link-layer c2:00:54:f5:00:00, MTU 1500,
 * prefix 2001:db8:0:1::/64. tcpdump "[icmp6 sum ok]".
 */
export const CAPTURE_RA = hex(`
  333300000001 c20054f50000 86dd
  6e00 0000 0040 3aff fe80 0000 0000 0000 c000 54ff fef5 0000
  ff02 0000 0000 0000 0000 0000 0000 0001
  8600 c4fe 4000 0708 0000 0000 0000 0000
  0101 c200 54f5 0000 0501 0000 0000 05dc
  0304 40c0 0027 8d00 0009 3a80 0000 0000 2001 0db8 0000 0001 0000 0000 0000 0000`);

/** A real IPv4 header (20 bytes, UDP, 192.168.0.1 → 192.168.0.199), checksum 0xb861. */
export const IPV4_HEADER_B861 = hex('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7');

/** RFC 1071 section 3 example bytes: sum 0xddf2 (folded), checksum 0x220d. */
export const RFC1071_BYTES = hex('00 01 f2 03 f4 f5 f6 f7');

// ---------------------------------------------------------------------------
// Derived from RFC layouts (tcpdump summaries of a real ARP/ping exchange:
// a6:f9:52:b6:1e:69 10.0.10.3 ↔ fa:de:dc:30:96:57 10.0.10.1 / 10.0.50.2)
// ---------------------------------------------------------------------------

/** ARP who-has 10.0.10.1 tell 10.0.10.3 (broadcast, 42 bytes). */
export const ARP_REQUEST = hex('ffffffffffffa6f952b61e6908060001080006040001a6f952b61e690a000a030000000000000a000a01');
/** ARP reply 10.0.10.1 is-at fa:de:dc:30:96:57. */
export const ARP_REPLY = hex('a6f952b61e69fadedc30965708060001080006040002fadedc3096570a000a01a6f952b61e690a000a03');
/** ICMP echo request 10.0.10.3 → 10.0.50.2, id 18178 seq 1, ttl 62, DF, IP id 0x1234, 56-byte Linux-style payload. */
export const ECHO_REQUEST = hex('fadedc309657a6f952b61e6908004500004c123440003e01da780a000a030a0032020800463a470200015d8a4e6500000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637');
/** The echo reply echoToReply must produce from ECHO_REQUEST (MACs/IPs swapped, ttl 64, type 0). */
export const ECHO_REPLY = hex('a6f952b61e69fadedc30965708004500004c123440004001d8780a0032020a000a0300004e3a470200015d8a4e6500000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637');
/** Time exceeded from 192.168.0.1 (02:00:00:00:00:fe) quoting CAPTURE_TCP4's IP datagram. */
export const TIME_EXCEEDED = hex('b01921af44100200000000fe080045c0005d00004000400186e1c0a8000168128a430b00a91c000000004500004129da4000360666f468128a43c0a800eb01bb512d0a348e3e2ab3e6975018000b239d000017030300143fee7ee65c1fdb813a0775aecb7666b6e3a4bdaf');
/** Fragmentation needed (next-hop MTU 1400), otherwise as TIME_EXCEEDED. */
export const FRAG_NEEDED = hex('b01921af44100200000000fe080045c0005d00004000400186e1c0a8000168128a430304aba0000005784500004129da4000360666f468128a43c0a800eb01bb512d0a348e3e2ab3e6975018000b239d000017030300143fee7ee65c1fdb813a0775aecb7666b6e3a4bdaf');
/** Solicited router NA answering CAPTURE_NS: from 02:00:00:00:00:fe, target 2620:0:1005:0:26be:5ff:fe27:b17, R|S|O, TLLA. */
export const NA_REPLY = hex('001fcab375c00200000000fe86dd6000000000203aff262000001005000026be05fffe270b17fe80000000000000021fcafffeb375c088007a4ee0000000262000001005000026be05fffe270b1702010200000000fe');
/** ICMPv6 echo request fd00::1 → fd00::2, id 7 seq 3, "hello", hop limit 63. */
export const ECHO6_REQUEST = hex('fadedc309657a6f952b61e6986dd60000000000d3a3ffd000000000000000000000000000001fd000000000000000000000000000002800041d70007000368656c6c6f');
/** The reply echoToReply (v6) must produce from ECHO6_REQUEST. */
export const ECHO6_REPLY = hex('a6f952b61e69fadedc30965786dd60000000000d3a40fd000000000000000000000000000002fd000000000000000000000000000001810040d70007000368656c6c6f');
/** Packet Too Big (MTU 1400) from fd00::fe (02:00:00:00:00:fe) quoting ECHO6_REQUEST's packet. */
export const PACKET_TOO_BIG = hex('a6f952b61e690200000000fe86dd60000000003d3a40fd0000000000000000000000000000fefd0000000000000000000000000000010200630a0000057860000000000d3a3ffd000000000000000000000000000001fd000000000000000000000000000002800041d70007000368656c6c6f');

// ---------------------------------------------------------------------------
// Seeded PRNG (no Math.random in tests)
// ---------------------------------------------------------------------------

/** mulberry32: a small, fast, seeded 32-bit PRNG. Returns u32 values. */
export class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Next u32. */
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Integer in [0, n). */
  below(n: number): number {
    return this.u32() % n;
  }
  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + (this.u32() % (hi - lo + 1));
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }
  /** Fill buf[off..+n) with random bytes. */
  fill(buf: Uint8Array, off = 0, n = buf.length - off): void {
    for (let i = 0; i < n; i++) buf[off + i] = this.u32() & 0xff;
  }
  /** n random bytes. */
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    this.fill(b);
    return b;
  }
}
