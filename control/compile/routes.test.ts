/**
 * compileRoutes: destinations traced through the compiled tables — kubenet and cni nodes,
 * UDR override of the default route, equal-prefix tie (user beats system), blackhole, IPv6.
 */
import t from 'tap';
import { parseIPv4, parseIPv6, parseNodeConfig, validateNodeConfig } from '../model/node-config';
import { CompiledRoutes, RouteKind, compileRoutes } from './routes';

const KUBENET = `
apiVersion: tapflow.dev/v1alpha1
kind: NodeConfig
metadata: { name: node-a }
spec:
  nodeIPs: [10.0.0.4, fd00::4]
  podCIDRs: [10.244.0.0/24, fd00:244::/64]
  clusterCIDRs: [10.244.0.0/16, fd00:244::/56]
  vnetPrefixes: [10.0.0.0/16, fd00::/64]
  defaultGateway: { ipv4: 10.0.0.1, ipv6: fd00::1 }
  nodeRoutes:
    - { prefix: 10.244.1.0/24, nextHop: 10.0.0.5 }
    - { prefix: "fd00:244:0:1::/64", nextHop: "fd00::5" }
  ports:
    - { name: uplink, tap: tfup0, role: uplink }
    - { name: host, tap: tfhost0, role: host }
    - { name: pod-a, tap: tfpa, role: pod, addresses: [10.244.0.2, "fd00:244::2"] }
    - { name: pod-b, tap: tfpb, role: pod, addresses: [10.244.0.3, "fd00:244::3"], gateway: { ipv6: "fe80::1" } }
`;

interface Hop {
  kind: RouteKind;
  port: number;
  nextHop: string;
  name: string;
  prefix: string;
}

function fmt6(b: Uint8Array, off: number): string {
  const w: string[] = [];
  for (let i = 0; i < 8; i++) w.push(((b[off + 2 * i] << 8) | b[off + 2 * i + 1]).toString(16));
  return w.join(':');
}

/** Look `dst` up in the compiled tables and describe the route it hits. */
function route(r: CompiledRoutes, dst: string): Hop {
  let i: number;
  let nextHop = '';
  if (dst.includes(':')) {
    i = r.lpm6.lookup(parseIPv6(dst)!, 0);
    if (r.kind[i] === RouteKind.Gateway) nextHop = fmt6(r.nextHop6, i * 16);
  } else {
    i = r.lpm4.lookup(parseIPv4(dst));
    const n = r.nextHop4[i];
    if (r.kind[i] === RouteKind.Gateway) nextHop = `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  if (i < 0) throw new Error(`no route for ${dst}`);
  return { kind: r.kind[i], port: r.port[i], nextHop, name: r.names[i], prefix: r.prefixes[i] };
}

const U = RouteKind.Unreachable;
const B = RouteKind.Blackhole;
const D = RouteKind.Direct;
const G = RouteKind.Gateway;
const L = RouteKind.Local;

t.test('kubenet, dual-stack, no UDRs', async (t) => {
  const r = compileRoutes(parseNodeConfig(KUBENET));
  t.same(Array.from(r.portRole), [0, 1, 2, 2]);
  const want: [string, Partial<Hop>][] = [
    ['10.244.0.2', { kind: D, port: 2, name: 'system:pod/pod-a', prefix: '10.244.0.2/32' }],
    ['10.244.0.3', { kind: D, port: 3, name: 'system:pod/pod-b' }],
    ['10.244.0.1', { kind: L, port: -1, name: 'system:gateway' }],
    ['10.244.0.77', { kind: U, port: -1, name: 'system:pod-cidr' }],
    ['10.0.0.4', { kind: D, port: 1, name: 'system:node-ip' }],
    ['10.0.9.9', { kind: D, port: 0, name: 'system:vnet' }],
    ['10.244.1.9', { kind: G, port: 0, nextHop: '10.0.0.5', name: 'system:node-route' }],
    ['10.244.2.9', { kind: G, port: 0, nextHop: '10.0.0.1', name: 'system:default' }],
    ['8.8.8.8', { kind: G, port: 0, nextHop: '10.0.0.1', name: 'system:default', prefix: '0.0.0.0/0' }],
    ['fd00:244::2', { kind: D, port: 2, name: 'system:pod/pod-a', prefix: 'fd00:244::2/128' }],
    ['fd00:244::3', { kind: D, port: 3 }],
    ['fd00:244::1', { kind: L, name: 'system:gateway' }],
    ['fe80::1', { kind: L, name: 'system:gateway' }],
    ['fd00:244::99', { kind: U, name: 'system:pod-cidr' }],
    ['fd00::4', { kind: D, port: 1, name: 'system:node-ip' }],
    ['fd00::77', { kind: D, port: 0, name: 'system:vnet' }],
    ['fd00:244:0:1::9', { kind: G, port: 0, nextHop: 'fd00:0:0:0:0:0:0:5', name: 'system:node-route' }],
    ['2001:db8::1', { kind: G, port: 0, nextHop: 'fd00:0:0:0:0:0:0:1', name: 'system:default', prefix: '::/0' }],
  ];
  for (const [dst, w] of want) t.match(route(r, dst), w, dst);
});

t.test('no host port: node IPs are Local; no default gateway: Unreachable', async (t) => {
  const cfg = parseNodeConfig(KUBENET.replace(/ {4}- \{ name: host.*\n/, '').replace(/ {2}defaultGateway.*\n/, ''));
  const r = compileRoutes(cfg);
  t.same(Array.from(r.portRole), [0, 2, 2]);
  t.match(route(r, '10.0.0.4'), { kind: L, port: -1, name: 'system:node-ip' });
  t.match(route(r, 'fd00::4'), { kind: L });
  t.match(route(r, '10.244.0.2'), { kind: D, port: 1 }, 'port indices follow spec.ports');
  t.match(route(r, '1.1.1.1'), { kind: U, name: 'system:default' });
  t.match(route(r, '2001:db8::1'), { kind: U, name: 'system:default' });
});

t.test('cni: pods live in the VNet', async (t) => {
  const r = compileRoutes(
    validateNodeConfig({
      apiVersion: 'tapflow.dev/v1alpha1',
      kind: 'NodeConfig',
      metadata: { name: 'node-c' },
      spec: {
        networkMode: 'cni',
        nodeIPs: ['10.1.0.4'],
        vnetPrefixes: ['10.1.0.0/16'],
        defaultGateway: { ipv4: '10.1.0.1' },
        ports: [
          { name: 'up', tap: 'tfup0', role: 'uplink' },
          { name: 'p1', tap: 'tfp1', role: 'pod', addresses: ['10.1.0.30'] },
          { name: 'p2', tap: 'tfp2', role: 'pod', addresses: ['10.1.0.31'] },
        ],
      },
    }),
  );
  t.match(route(r, '10.1.0.30'), { kind: D, port: 1, name: 'system:pod/p1' });
  t.match(route(r, '10.1.0.31'), { kind: D, port: 2 });
  t.match(route(r, '10.1.0.32'), { kind: D, port: 0, name: 'system:vnet' }, 'another VNet address: on-link on the uplink');
  t.match(route(r, '10.1.0.1'), { kind: L, name: 'system:gateway' }, 'the pods\' gateway (first VNet address) is tapflow');
  t.match(route(r, '10.1.0.4'), { kind: L, name: 'system:node-ip' });
  t.match(route(r, '93.184.216.34'), { kind: G, nextHop: '10.1.0.1' });
  t.match(route(r, '2001:db8::1'), { kind: U }, 'IPv6 not configured: unreachable, never a miss');
});

const withUDR = (routes: string): string =>
  `${KUBENET}  routeTables:\n    - name: rt-egress\n      routes:\n${routes
    .trim()
    .split('\n')
    .map((l) => `        ${l.trim()}`)
    .join('\n')}\n`;

t.test('UDR: override of the default route, blackhole, Internet', async (t) => {
  const r = compileRoutes(
    parseNodeConfig(
      withUDR(`
        - { name: to-nva, addressPrefix: 0.0.0.0/0, nextHopType: VirtualAppliance, nextHopIpAddress: 10.0.0.100 }
        - { name: blackhole, addressPrefix: 192.0.2.0/24, nextHopType: None }
        - { name: direct-out, addressPrefix: 198.51.100.0/24, nextHopType: Internet }
        - { name: vpn, addressPrefix: 172.16.0.0/12, nextHopType: VirtualNetworkGateway }
      `),
    ),
  );
  t.match(route(r, '8.8.8.8'), { kind: G, port: 0, nextHop: '10.0.0.100', name: 'udr:rt-egress/to-nva', prefix: '0.0.0.0/0' });
  t.match(route(r, '192.0.2.9'), { kind: B, port: -1, name: 'udr:rt-egress/blackhole' });
  t.match(route(r, '198.51.100.7'), { kind: G, nextHop: '10.0.0.1', name: 'udr:rt-egress/direct-out' });
  t.match(route(r, '172.20.0.1'), { kind: G, nextHop: '10.0.0.1', name: 'udr:rt-egress/vpn' });
  // Longer system routes still win over the user default.
  t.match(route(r, '10.0.5.5'), { kind: D, name: 'system:vnet' });
  t.match(route(r, '10.244.0.2'), { kind: D, port: 2 });
  t.match(route(r, '10.244.1.2'), { kind: G, nextHop: '10.0.0.5' });
  t.match(route(r, '2001:db8::1'), { name: 'system:default' }, 'an IPv4 UDR leaves IPv6 alone');
});

t.test('UDR: on an equal prefix the user route beats the system route', async (t) => {
  const r = compileRoutes(
    parseNodeConfig(
      withUDR(`
        - { name: vnet-via-fw, addressPrefix: 10.0.0.0/16, nextHopType: VirtualAppliance, nextHopIpAddress: 10.0.0.100 }
        - { name: pods-dropped, addressPrefix: 10.244.0.0/24, nextHopType: None }
        - { name: node-b-direct, addressPrefix: 10.244.1.0/24, nextHopType: VnetLocal }
      `),
    ),
  );
  t.match(route(r, '10.0.7.7'), { kind: G, nextHop: '10.0.0.100', name: 'udr:rt-egress/vnet-via-fw' });
  t.match(route(r, '10.244.0.77'), { kind: B, name: 'udr:rt-egress/pods-dropped' }, 'replaces the pod-cidr route');
  t.match(route(r, '10.244.0.2'), { kind: D, port: 2 }, 'the /32 pod route is still longer');
  t.match(route(r, '10.0.0.4'), { kind: D, port: 1, name: 'system:node-ip' });
  t.match(route(r, '10.244.1.3'), { kind: D, port: 0, name: 'udr:rt-egress/node-b-direct' });
});

t.test('UDR: IPv6', async (t) => {
  const r = compileRoutes(
    parseNodeConfig(
      withUDR(`
        - { name: v6-nva, addressPrefix: "::/0", nextHopType: VirtualAppliance, nextHopIpAddress: "fd00::100" }
        - { name: v6-hole, addressPrefix: "2001:db8:dead::/48", nextHopType: None }
        - { name: v6-inet, addressPrefix: "2001:db8:beef::/48", nextHopType: Internet }
        - { name: v6-local, addressPrefix: "fd00:1::/64", nextHopType: VnetLocal }
      `),
    ),
  );
  t.match(route(r, '2001:db8::1'), { kind: G, nextHop: 'fd00:0:0:0:0:0:0:100', name: 'udr:rt-egress/v6-nva' });
  t.match(route(r, '2001:db8:dead::1'), { kind: B, name: 'udr:rt-egress/v6-hole' });
  t.match(route(r, '2001:db8:beef::1'), { kind: G, nextHop: 'fd00:0:0:0:0:0:0:1' });
  t.match(route(r, 'fd00:1::9'), { kind: D, port: 0, name: 'udr:rt-egress/v6-local' });
  t.match(route(r, 'fd00:244::2'), { kind: D, port: 2 });
  t.match(route(r, '8.8.8.8'), { name: 'system:default', nextHop: '10.0.0.1' }, 'IPv6 UDRs leave IPv4 alone');
});

t.test('every route index is consistent', async (t) => {
  const r = compileRoutes(parseNodeConfig(withUDR(`- { name: x, addressPrefix: 0.0.0.0/0, nextHopType: None }`)));
  const n = r.names.length;
  t.equal(r.kind.length, n);
  t.equal(r.port.length, n);
  t.equal(r.nextHop4.length, n);
  t.equal(r.nextHop6.length, n * 16);
  t.equal(r.prefixes.length, n);
  for (let i = 0; i < n; i++) {
    const k = r.kind[i];
    if (k === D || k === G) t.ok(r.port[i] >= 0 && r.port[i] < r.portRole.length, `${r.names[i]} has a port`);
    else t.equal(r.port[i], -1, `${r.names[i]} has no port`);
  }
  t.equal(r.lpm4.lookup(0xffffffff) >= 0, true, 'never a miss');
});
