/**
 * Why a frame was dropped. Numeric so the hot path can count without allocating:
 * `drops[port * DROP_REASON_COUNT + reason]++`. Validators in wire/ return one of
 * these (DropReason.None = valid); the pipeline adds its own (routing, neighbor, MTU).
 *
 * Append only: the numbers are part of the stats API and of recorded fixtures.
 */
export const enum DropReason {
  None = 0,
  // L2
  EthTruncated = 1,
  EthUnknownType = 2,
  EthNotForUs = 3,
  VlanUnsupported = 4,
  VnetHdrBad = 5,
  // ARP
  ArpMalformed = 6,
  ArpIgnored = 7,
  // IPv4
  Ipv4Truncated = 8,
  Ipv4BadVersion = 9,
  Ipv4BadIhl = 10,
  Ipv4BadTotalLength = 11,
  Ipv4BadChecksum = 12,
  Ipv4BadOptions = 13,
  Ipv4Martian = 14,
  // IPv6
  Ipv6Truncated = 15,
  Ipv6BadVersion = 16,
  Ipv6BadPayloadLength = 17,
  Ipv6BadExtHeader = 18,
  Ipv6Martian = 19,
  // L4
  IcmpTruncated = 20,
  IcmpBadChecksum = 21,
  TcpTruncated = 22,
  TcpBadOffset = 23,
  UdpTruncated = 24,
  UdpBadLength = 25,
  SctpTruncated = 26,
  NdMalformed = 27,
  // forwarding
  NoRoute = 28,
  RouteBlackhole = 29,
  TtlExceeded = 30,
  MtuExceeded = 31,
  NeighborQueueFull = 32,
  NeighborUnresolved = 33,
  SourceSpoofed = 34,
  LocalUnhandled = 35,
  Multicast = 36,
  GsoUnsupported = 37,
  TxFailed = 38,
  HairpinL2 = 39,
  IcmpErrorRateLimited = 40,
  /** Forwarding would send the frame back out of the port it came in on, off-link. */
  WrongPort = 41,
  /** A service without usable endpoints: answered with TCP RST / ICMP port unreachable. */
  ServiceRejected = 42,
  /** Dropped by service policy: externalTrafficPolicy Local without local endpoints,
   *  loadBalancerSourceRanges, internal load balancer from outside the VNet. */
  ServiceDropped = 43,
  /** No free source port for masquerade / egress SNAT. */
  SnatExhausted = 44,
  /** A new flow denied by an Azure network security group rule. */
  NsgDenied = 45,
  /** A new flow denied by Kubernetes NetworkPolicy. */
  PolicyDenied = 46,
  /** The source exceeded its new-flow rate (flood protection). */
  FlowRateLimited = 47,
  /**
   * A mid-stream TCP segment from a pod to the node's masquerade address with no connection
   * (typically a backend's retransmission racing the client's after an agent restart): it
   * would reach the node's own stack and be reset. Dropped; the client's next segment
   * re-creates the connection, and the backend's retransmissions then match it.
   */
  TcpNoConnection = 48,
}

/** Number of DropReason values; sizes the per-port drop counter arrays. */
export const DROP_REASON_COUNT = 49;

/** Stable, kebab-case names for stats output and metrics labels, indexed by DropReason. */
export const DROP_REASON_NAMES: readonly string[] = [
  'none',
  'eth-truncated', 'eth-unknown-type', 'eth-not-for-us', 'vlan-unsupported', 'vnet-hdr-bad',
  'arp-malformed', 'arp-ignored',
  'ipv4-truncated', 'ipv4-bad-version', 'ipv4-bad-ihl', 'ipv4-bad-total-length', 'ipv4-bad-checksum',
  'ipv4-bad-options', 'ipv4-martian',
  'ipv6-truncated', 'ipv6-bad-version', 'ipv6-bad-payload-length', 'ipv6-bad-ext-header', 'ipv6-martian',
  'icmp-truncated', 'icmp-bad-checksum', 'tcp-truncated', 'tcp-bad-offset', 'udp-truncated',
  'udp-bad-length', 'sctp-truncated', 'nd-malformed',
  'no-route', 'route-blackhole', 'ttl-exceeded', 'mtu-exceeded', 'neighbor-queue-full',
  'neighbor-unresolved', 'source-spoofed', 'local-unhandled', 'multicast', 'gso-unsupported',
  'tx-failed', 'hairpin-l2', 'icmp-error-rate-limited', 'wrong-port',
  'service-rejected', 'service-dropped', 'snat-exhausted', 'nsg-denied', 'policy-denied',
  'flow-rate-limited', 'tcp-no-connection',
];
