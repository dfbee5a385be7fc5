/**
 * NodeConfig → the route tables one generation needs. Pure: same config, same tables.
 *
 * Every route gets an index; per index the parallel arrays say what to do (kind, out port,
 * next hop) and the LPMs map a destination address to the index. Both LPMs always contain a
 * default route (::/0, 0.0.0.0/0), so a lookup never returns -1.
 *
 * System routes (added first, in this order):
 *   0.0.0.0/0, ::/0        Gateway(uplink, defaultGateway.ipv4/ipv6), Unreachable when not given
 *   vnetPrefixes           Direct(uplink)                        "system:vnet"
 *   nodeRoutes             Gateway(uplink, nextHop)              "system:node-route"
 *   podCIDRs               Unreachable (addresses no pod holds)  "system:pod-cidr"
 *   nodeIPs /32 /128       Direct(host port), Local without one  "system:node-ip"
 *   pod gateway IPs        Local (tapflow answers: ping the gw)  "system:gateway"
 *   pod addresses          Direct(the pod's port)                "system:pod/<port name>"
 * User routes (spec.routeTables, Azure UDR semantics): the longest prefix wins across user and
 * system routes; on an equal prefix the user route wins — user routes are added after the
 * system ones and the LPM keeps the later of two equal prefixes.
 *   VirtualAppliance → Gateway(uplink, nextHopIpAddress)   VnetLocal → Direct(uplink)
 *   Internet, VirtualNetworkGateway → Gateway(uplink, defaultGateway of the prefix's family),
 *     Unreachable when there is none                         None → Blackhole
 */
import { Lpm4, Lpm4Entry, Lpm6, Lpm6Entry } from '../../dataplane/tables/lpm';
import { hostCIDR } from '../model/node-config';
import type { CIDR, IP, NodeConfig, UserRoute } from '../model/node-config';

export const enum RouteKind {
  /** No route: drop and send ICMP destination unreachable. */
  Unreachable = 0,
  /** UDR nextHopType None: drop silently (counted). */
  Blackhole = 1,
  /** On-link on `port`: resolve the destination address itself on that port. */
  Direct = 2,
  /** Send to the next hop on `port`: resolve the next hop. */
  Gateway = 3,
  /** Addressed to tapflow itself (a gateway IP): delivered locally. */
  Local = 4,
}

export interface CompiledRoutes {
  lpm4: Lpm4;
  lpm6: Lpm6;
  /** RouteKind per route index. */
  kind: Uint8Array;
  /** Out port per route index (index into spec.ports); -1 for Unreachable, Blackhole, Local. */
  port: Int32Array;
  /** Gateway routes of IPv4 prefixes: the next hop as a u32; 0 otherwise. */
  nextHop4: Uint32Array;
  /** Gateway routes of IPv6 prefixes: 16 bytes per route index at [i*16, i*16+16); zero otherwise. */
  nextHop6: Uint8Array;
  /** Per route index, for trace: "system:pod/pod-a", "system:vnet", "udr:rt-egress/to-nva", ... */
  names: string[];
  /** Per route index: the destination prefix as text ("10.244.0.2/32"), for trace. */
  prefixes: string[];
  /** Per port index (spec.ports order): 0 uplink, 1 host, 2 pod. */
  portRole: Uint8Array;
}

const ROLE_CODE = { uplink: 0, host: 1, pod: 2 } as const;

class RouteBuilder {
  readonly kind: number[] = [];
  readonly port: number[] = [];
  readonly nh4: number[] = [];
  readonly nh6: (Uint8Array | null)[] = [];
  readonly names: string[] = [];
  readonly prefixes: string[] = [];
  readonly e4: Lpm4Entry[] = [];
  readonly e6: Lpm6Entry[] = [];

  add(prefix: CIDR, kind: RouteKind, port: number, nextHop: IP | null, name: string): void {
    const i = this.kind.length;
    this.kind.push(kind);
    this.port.push(kind === RouteKind.Direct || kind === RouteKind.Gateway ? port : -1);
    this.nh4.push(kind === RouteKind.Gateway && nextHop !== null && nextHop.family === 4 ? nextHop.v4 : 0);
    this.nh6.push(kind === RouteKind.Gateway && nextHop !== null && nextHop.family === 6 ? nextHop.v6 : null);
    this.names.push(name);
    this.prefixes.push(prefix.text);
    if (prefix.family === 4) this.e4.push({ addr: prefix.v4, len: prefix.len, value: i });
    else this.e6.push({ addr: prefix.v6, len: prefix.len, value: i });
  }

  finish(portRole: Uint8Array): CompiledRoutes {
    const n = this.kind.length;
    const nextHop6 = new Uint8Array(n * 16);
    this.nh6.forEach((b, i) => {
      if (b !== null) nextHop6.set(b, i * 16);
    });
    return {
      lpm4: Lpm4.build(this.e4),
      lpm6: Lpm6.build(this.e6),
      kind: Uint8Array.from(this.kind),
      port: Int32Array.from(this.port),
      nextHop4: Uint32Array.from(this.nh4),
      nextHop6,
      names: this.names,
      prefixes: this.prefixes,
      portRole,
    };
  }
}

const DEFAULT4: CIDR = { family: 4, v4: 0, len: 0, text: '0.0.0.0/0' };
const DEFAULT6: CIDR = { family: 6, v6: new Uint8Array(16), len: 0, text: '::/0' };

export function compileRoutes(cfg: NodeConfig): CompiledRoutes {
  const s = cfg.spec;
  const uplink = s.uplinkPort;
  const b = new RouteBuilder();
  const viaDefault = (family: 4 | 6): IP | null => (family === 4 ? s.defaultGateway.ipv4 : s.defaultGateway.ipv6);

  for (const d of [DEFAULT4, DEFAULT6]) {
    const gw = viaDefault(d.family);
    if (gw !== null) b.add(d, RouteKind.Gateway, uplink, gw, 'system:default');
    else b.add(d, RouteKind.Unreachable, -1, null, 'system:default');
  }
  for (const p of s.vnetPrefixes) b.add(p, RouteKind.Direct, uplink, null, 'system:vnet');
  for (const r of s.nodeRoutes) b.add(r.prefix, RouteKind.Gateway, uplink, r.nextHop, 'system:node-route');
  for (const p of s.podCIDRs) b.add(p, RouteKind.Unreachable, -1, null, 'system:pod-cidr');
  for (const ip of s.nodeIPs) {
    if (s.hostPort >= 0) b.add(hostCIDR(ip), RouteKind.Direct, s.hostPort, null, 'system:node-ip');
    else b.add(hostCIDR(ip), RouteKind.Local, -1, null, 'system:node-ip');
  }
  const gateways = new Set<string>();
  for (const port of s.ports) {
    for (const g of [port.gateway.ipv4, port.gateway.ipv6]) {
      if (g === null || gateways.has(g.text)) continue;
      gateways.add(g.text);
      b.add(hostCIDR(g), RouteKind.Local, -1, null, 'system:gateway');
    }
  }
  for (const port of s.ports) {
    if (port.role !== 'pod') continue;
    for (const a of port.addresses) b.add(hostCIDR(a), RouteKind.Direct, port.index, null, `system:pod/${port.name}`);
  }

  for (const table of s.routeTables) {
    for (const r of table.routes) addUserRoute(b, r, `udr:${table.name}/${r.name}`, uplink, viaDefault(r.addressPrefix.family));
  }

  const portRole = Uint8Array.from(s.ports.map((p) => ROLE_CODE[p.role]));
  return b.finish(portRole);
}

function addUserRoute(b: RouteBuilder, r: UserRoute, name: string, uplink: number, defaultGw: IP | null): void {
  switch (r.nextHopType) {
    case 'VirtualAppliance':
      b.add(r.addressPrefix, RouteKind.Gateway, uplink, r.nextHopIpAddress, name);
      return;
    case 'VnetLocal':
      b.add(r.addressPrefix, RouteKind.Direct, uplink, null, name);
      return;
    case 'Internet':
    case 'VirtualNetworkGateway':
      if (defaultGw !== null) b.add(r.addressPrefix, RouteKind.Gateway, uplink, defaultGw, name);
      else b.add(r.addressPrefix, RouteKind.Unreachable, -1, null, name);
      return;
    case 'None':
      b.add(r.addressPrefix, RouteKind.Blackhole, -1, null, name);
      return;
  }
}
