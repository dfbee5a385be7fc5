/**
 * A generation: everything the forwarder reads per packet, compiled off the hot path from
 * the desired state and swapped in as one reference between batches. Immutable once built.
 * Typed arrays indexed by port number (the order of NodeConfig spec.ports).
 */
import type { CompiledRoutes } from '../../control/compile/routes';
import type { Lpm4, Lpm6 } from '../tables/lpm';
import type { FilterTable } from '../tables/classifier';

/** Outcome of resolving a new flow against the service table. */
export const enum ServiceVerdict {
  NotService = 0,
  Dnat = 1,
  Reject = 2,
  Drop = 3,
}

/** Filled by ServiceStage.resolve*, reused (no allocation per flow). */
export interface ServiceResultLike {
  verdict: number;
  reason: number;
  family: number;
  addr4: number;
  addr6: Uint8Array;
  port: number;
  masquerade: boolean;
  /** Stable ids (across generations) of the service port and the chosen backend. */
  servicePortKey: number;
  backendKey: number;
}

/**
 * What the forwarder needs from the compiled service table, once per new flow
 * (dataplane/tables/service-table.ts implements it; control/compile/services.ts builds it).
 */
export interface ServiceStage<R extends ServiceResultLike = ServiceResultLike, A = unknown> {
  lookupFrontend4(dst: number, proto: number, dport: number): number;
  lookupFrontend6(buf: Uint8Array, dstOff: number, proto: number, dport: number): number;
  resolve4(fe: number, src: number, sport: number, fromRole: number, flowHash: number, now: number, affinity: A, out: R): void;
  resolve6(fe: number, srcBuf: Uint8Array, srcOff: number, sport: number, fromRole: number, flowHash: number, now: number, affinity: A, out: R): void;
  /** A packet to no frontend: reject (a ClusterIP on a port it lacks) or drop (unallocated service IP) or NotService. */
  resolveMiss4(dst: number, out: R): void;
  resolveMiss6(buf: Uint8Array, dstOff: number, out: R): void;
  ownsAddress4(ip: number): boolean;
  ownsAddress6(buf: Uint8Array, off: number): boolean;
  backendStillValid(servicePortKey: number, backendKey: number): boolean;
}

export const enum PortRole {
  Uplink = 0,
  Host = 1,
  Pod = 2,
}

export interface Generation {
  /** Monotonic version of the desired state this generation was compiled from. */
  readonly version: number;
  readonly routes: CompiledRoutes;
  readonly portCount: number;
  /** PortRole per port. */
  readonly role: Uint8Array;
  /** Largest L3 packet each port's link carries (NodeConfig spec.mtu). */
  readonly mtu: Uint32Array;
  /** gatewayMac[p*6 .. p*6+5]: the MAC tapflow uses on port p. */
  readonly gatewayMac: Uint8Array;
  /** Source of ICMPv4 errors sent out of port p (its gateway / node IP); 0 = none. */
  readonly errSrc4: Uint32Array;
  /** errSrc6[p*16 ..]: source of ICMPv6 errors out of port p; has6[p] = 0 when none. */
  readonly errSrc6: Uint8Array;
  readonly has6: Uint8Array;
  /** 1 when a packet's source must route back to its ingress port (pods: anti-spoofing). */
  readonly strictSource: Uint8Array;
  /** Uplink port index (exactly one). */
  readonly uplink: number;
  /** cni mode: the uplink answers ARP/ND for pod addresses. */
  readonly cniMode: boolean;
  /** Compiled NSGs + NetworkPolicies (first packet of each flow), or null: allow all. */
  readonly filters: FilterTable | null;
  /** Compiled services, or null when none are configured. */
  readonly services: ServiceStage | null;
  /** Node primary addresses used for masquerade / egress SNAT (0 / has6 = 0 when absent). */
  readonly snat4: number;
  readonly snat6: Uint8Array;
  readonly hasSnat6: boolean;
  /** NodePort range: SNAT never hands out these source ports on the node IPs. */
  readonly nodePortMin: number;
  readonly nodePortMax: number;
  /** Destinations that are never SNATed on egress (cluster, pod, service CIDRs, VNet). */
  readonly noSnat4: Lpm4;
  readonly noSnat6: Lpm6;
}
