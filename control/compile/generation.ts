/**
 * NodeConfig → one forwarder Generation (pure; runs off the hot path). The per-port arrays
 * here are what the forwarder reads per packet: role, MTU, gateway MAC, the source address
 * of ICMP errors it sends out of each port, and whether a port's sources are checked.
 */
import type { Generation } from '../../dataplane/pipeline/generation';
import type { NodeConfig } from '../model/node-config';
import { compileRoutes } from './routes';
import { Lpm4, Lpm6 } from '../../dataplane/tables/lpm';
import type { ServiceStage } from '../../dataplane/pipeline/generation';
import type { FilterTable } from '../../dataplane/tables/classifier';

export function compileGeneration(cfg: NodeConfig, version: number, services: ServiceStage | null = null, filters: FilterTable | null = null): Generation {
  const spec = cfg.spec;
  const n = spec.ports.length;
  const routes = compileRoutes(cfg);
  // Port roles are compiled once, with the routes (same codes as PortRole).
  const role = routes.portRole;
  const mtu = new Uint32Array(n);
  const gatewayMac = new Uint8Array(n * 6);
  const errSrc4 = new Uint32Array(n);
  const errSrc6 = new Uint8Array(n * 16);
  const has6 = new Uint8Array(n);
  const strictSource = new Uint8Array(n);
  const podGw4 = spec.ports.find((p) => p.role === 'pod' && p.gateway.ipv4)?.gateway.ipv4 ?? null;
  const podGw6 = spec.ports.find((p) => p.role === 'pod' && p.gateway.ipv6)?.gateway.ipv6 ?? null;
  for (const port of spec.ports) {
    const i = port.index;
    mtu[i] = spec.mtu;
    gatewayMac.set(spec.gatewayMACBytes, i * 6);
    // ICMP errors and ARP/NS requests leave a pod port from the pod's gateway and the
    // uplink from the node's primary IPs (what a kubenet node's cbr0 / eth0 would use).
    // The host port's kernel side owns the node IPs itself (it would ignore requests
    // from its own address), so tapflow speaks there as the pods' gateway, like cbr0.
    const v4 = port.role === 'pod' ? port.gateway.ipv4 : port.role === 'host' ? (podGw4 ?? spec.primaryIPs.ipv4) : spec.primaryIPs.ipv4;
    const v6 = port.role === 'pod' ? port.gateway.ipv6 : port.role === 'host' ? (podGw6 ?? spec.primaryIPs.ipv6) : spec.primaryIPs.ipv6;
    if (v4) errSrc4[i] = v4.v4;
    if (v6) { errSrc6.set(v6.v6, i * 16); has6[i] = 1; }
    strictSource[i] = port.role === 'pod' ? 1 : 0;
  }
  // Egress SNAT (kubenet's MASQUERADE, Azure's outbound SNAT for pods): everything but
  // the cluster, the pods, the services and the VNet leaves with the node's address.
  const keep = [...spec.clusterCIDRs, ...spec.podCIDRs, ...spec.serviceCIDRs, ...spec.vnetPrefixes];
  const noSnat4 = Lpm4.build(keep.flatMap((c) => c.family === 4 ? [{ addr: c.v4, len: c.len, value: 1 }] : []));
  const noSnat6 = Lpm6.build(keep.flatMap((c) => c.family === 6 ? [{ addr: c.v6, len: c.len, value: 1 }] : []));
  const snat6 = new Uint8Array(16);
  if (spec.primaryIPs.ipv6) snat6.set(spec.primaryIPs.ipv6.v6);
  return {
    version,
    services,
    filters,
    snat4: spec.primaryIPs.ipv4 ? spec.primaryIPs.ipv4.v4 : 0,
    snat6,
    hasSnat6: spec.primaryIPs.ipv6 !== null,
    noSnat4,
    noSnat6,
    nodePortMin: spec.nodePortRange.min,
    nodePortMax: spec.nodePortRange.max,
    routes,
    portCount: n,
    role,
    mtu,
    gatewayMac,
    errSrc4,
    errSrc6,
    has6,
    strictSource,
    uplink: spec.uplinkPort,
    cniMode: spec.networkMode === 'cni',
  };
}
