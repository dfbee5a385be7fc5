/**
 * A generation: everything the forwarder reads per packet, compiled off the hot path from
 * the desired state and swapped in as one reference between batches. Immutable once built.
 * Typed arrays indexed by port number (the order of NodeConfig spec.ports).
 */
import type { CompiledRoutes } from '../../control/compile/routes';

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
}
