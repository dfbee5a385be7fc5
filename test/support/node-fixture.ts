/**
 * A small node for in-memory pipeline tests and benchmarks: uplink, host, two pods, with a
 * UDR blackhole and an appliance route. Ports are MemoryPorts; the forwarder is real.
 */
import { parseNodeConfig, NodeConfig } from '../../control/model/node-config';
import { compileGeneration } from '../../control/compile/generation';
import { MemoryPort, MemoryPortOptions } from '../../dataplane/io/memory-port';
import { Forwarder, ForwarderOptions } from '../../dataplane/pipeline/forwarder';

export const NODE_YAML = `
apiVersion: tapflow.dev/v1alpha1
kind: NodeConfig
metadata: { name: node-a }
spec:
  nodeName: node-a
  nodeIPs: [10.0.0.4, fd00::4]
  podCIDRs: [10.244.0.0/24, fd00:244::/64]
  clusterCIDRs: [10.244.0.0/16, fd00:244::/56]
  serviceCIDRs: [10.96.0.0/12]
  networkMode: kubenet
  vnetPrefixes: [10.0.0.0/16, fd00::/64]
  mtu: 1500
  gatewayMAC: "02:74:66:00:00:01"
  defaultGateway: { ipv4: 10.0.0.1, ipv6: "fd00::1" }
  nodeRoutes:
    - { prefix: 10.244.1.0/24, nextHop: 10.0.0.5 }
  routeTables:
    - name: rt
      routes:
        - { name: drop-doc, addressPrefix: 192.0.2.0/24, nextHopType: None }
        - { name: via-nva, addressPrefix: 198.51.100.0/24, nextHopType: VirtualAppliance, nextHopIpAddress: 10.0.0.100 }
  ports:
    - { name: uplink, tap: tfup, role: uplink, vnetHdr: false }
    - { name: host, tap: tfhost, role: host, vnetHdr: false }
    - { name: pod-a, tap: tfpa, role: pod, vnetHdr: false, addresses: [10.244.0.2, "fd00:244::2"], gateway: { ipv4: 10.244.0.1, ipv6: "fd00:244::1" } }
    - { name: pod-b, tap: tfpb, role: pod, vnetHdr: false, addresses: [10.244.0.3, "fd00:244::3"], gateway: { ipv4: 10.244.0.1, ipv6: "fd00:244::1" } }
`;

export const UPLINK = 0, HOST = 1, POD_A = 2, POD_B = 3;
export const GW_MAC = '02:74:66:00:00:01';
export const MAC = {
  client: '02:00:00:00:0c:01',
  vnetGw: '02:00:00:00:0c:fe',
  host: '02:00:00:00:0b:01',
  podA: '02:00:00:00:0a:02',
  podB: '02:00:00:00:0a:03',
};

export interface MemNode {
  cfg: NodeConfig;
  ports: MemoryPort[];
  fwd: Forwarder;
  clock: { now: number };
}

export function memNode(opts: { port?: MemoryPortOptions; fwd?: ForwarderOptions; yaml?: string } = {}): MemNode {
  const cfg = parseNodeConfig(opts.yaml ?? NODE_YAML, 'test');
  const ports = cfg.spec.ports.map((p) => new MemoryPort({ name: p.name, notify: 'manual', ...opts.port }));
  const clock = { now: 1000 };
  const fwd = new Forwarder(ports, compileGeneration(cfg, 1), { clock: () => clock.now, ...opts.fwd });
  return { cfg, ports, fwd, clock };
}
