/**
 * kube-proxy behaviour (nftables mode as the reference), scenario by scenario, checked end to
 * end through `tapflow trace`: the Tracer pushes packets through the agent's own forwarder,
 * compiled generation and service table on memory ports, so what is asserted here is what the
 * live data path does.
 *
 * Every scenario is a row of SCENARIOS: a few manifests (Services, EndpointSlices; the
 * NodeConfig below, optionally edited), then steps — a packet with the expected verdict,
 * reason, DNAT, SNAT / masquerade, candidate endpoints, egress port, the packet as it left;
 * manifest changes (a new generation, flows persist); clock advances; sweeps of many packets.
 * Expectations come from the upstream documentation, named in each row's `doc`:
 *
 *   VIPS   "Virtual IPs and Service Proxies" (kubernetes.io/docs/reference/networking/virtual-ips)
 *   SVC    the "Service" concept page (kubernetes.io/docs/concepts/services-networking/service)
 *   ITP    "Service Internal Traffic Policy" (…/services-networking/service-traffic-policy)
 *   SRCIP  "Using Source IP" tutorial (kubernetes.io/docs/tutorials/services/source-ip)
 *   KEP1669 ProxyTerminatingEndpoints (kubernetes/enhancements keps/sig-network/1669-…)
 *   API    the ServiceSpec field documentation (externalTrafficPolicy, loadBalancerSourceRanges, …)
 *
 * A scenario that shows tapflow disagreeing with the documented behaviour stays in the table
 * with `todo: <why>` (reported, not failing the run).
 */
import t, { Test } from 'tap';
import { Tracer } from '../../dataplane/agent/tracer';
import type { TracePacket, TraceResult } from '../../dataplane/agent/tracer';
import { loadManifests } from '../model/manifests';
import { Ep, endpointSliceObj, nodeConfigObj } from '../../test/support/model-objects';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

// ─── The node ──────────────────────────────────────────────────────────────────────────────
//
// node-a: primary node IPs 10.0.0.4 / fd00::4 and a secondary 10.0.0.44; three local pods;
// node-b's pods (10.244.1.0/24) are reached through 10.0.0.5. The VNet is 10.0.0.0/16 (a client
// at 10.0.0.10), the Internet is anything else (203.0.113.0/24 in the rows), via 10.0.0.1.

const NODE_IP = '10.0.0.4';
const NODE_IP6 = 'fd00::4';
const NODE_IP_SECONDARY = '10.0.0.44';
const CLIENT = '10.0.0.10';
const CLIENT6 = 'fd00::10';
const INTERNET = '203.0.113.7';
const POD_A = '10.244.0.2';
const POD_B = '10.244.0.3';
const POD_C = '10.244.0.4';
const POD_A6 = 'fd00:244::2';
const POD_B6 = 'fd00:244::3';
const REMOTE_POD = '10.244.1.2'; // on node-b

function nodeConfig(over: Obj = {}): Obj {
  return nodeConfigObj({
    nodeIPs: [NODE_IP, NODE_IP6, NODE_IP_SECONDARY],
    podCIDRs: ['10.244.0.0/24', 'fd00:244::/64'],
    clusterCIDRs: ['10.244.0.0/16', 'fd00:244::/56'],
    serviceCIDRs: ['10.96.0.0/12', 'fd00:96::/112'],
    nodePortAddresses: ['primary'],
    networkMode: 'kubenet',
    vnetPrefixes: ['10.0.0.0/16', 'fd00::/64'],
    defaultGateway: { ipv4: '10.0.0.1', ipv6: 'fd00::1' },
    nodeRoutes: [
      { prefix: '10.244.1.0/24', nextHop: '10.0.0.5' },
      { prefix: 'fd00:244:0:1::/64', nextHop: 'fd00::5' },
    ],
    ports: [
      { name: 'uplink', tap: 'tfup0', role: 'uplink' },
      { name: 'host', tap: 'tfhost0', role: 'host' },
      { name: 'pod-a', tap: 'tfpa', role: 'pod', addresses: [POD_A, POD_A6], pod: { namespace: 'default', name: 'web-a' } },
      { name: 'pod-b', tap: 'tfpb', role: 'pod', addresses: [POD_B, POD_B6], pod: { namespace: 'default', name: 'web-b' } },
      { name: 'pod-c', tap: 'tfpc', role: 'pod', addresses: [POD_C, 'fd00:244::4'], pod: { namespace: 'default', name: 'web-c' } },
    ],
    ...over,
  });
}

// ─── Manifest builders ─────────────────────────────────────────────────────────────────────

let created = 0;
function svc(name: string, spec: Obj, opts: { annotations?: Record<string, string>; status?: Obj } = {}): Obj {
  // Distinct creation times: the older service keeps a contested frontend (not exercised here).
  const ts = new Date(Date.UTC(2024, 4, 14, 9, 0, created++)).toISOString().replace('.000Z', 'Z');
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default', creationTimestamp: ts, ...(opts.annotations ? { annotations: opts.annotations } : {}) },
    spec,
    ...(opts.status ? { status: opts.status } : {}),
  };
}

function slice(service: string, eps: Ep[], ports: Obj[], opts: { name?: string; addressType?: 'IPv4' | 'IPv6' } = {}): Obj {
  const addressType = opts.addressType ?? 'IPv4';
  return endpointSliceObj(service, opts.name ?? `${service}-${addressType.toLowerCase()}`, eps, ports, addressType, 'node-a');
}

const HTTP_EP = [{ name: 'http', port: 8080, protocol: 'TCP' }];
const DNS_EP = [{ name: 'dns', port: 5353, protocol: 'UDP' }];
const HTTP_PORT = (extra: Obj = {}): Obj => ({ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', ...extra });
const LOCAL3: Ep[] = [{ ip: POD_A }, { ip: POD_B }, { ip: POD_C }];

function manifests(objs: Obj[]) {
  return loadManifests(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objs }), 'scenario');
}

// ─── Scenario table ────────────────────────────────────────────────────────────────────────

/** What a packet must get. Only the keys given are checked. */
interface Expect {
  verdict?: TraceResult['verdict'];
  /** Exact, or a pattern. */
  reason?: string | RegExp;
  /** "ns/name:port" or null. */
  service?: string | null;
  /** "ip:port" ("[v6]:port"), null for no DNAT. */
  dnat?: string | null;
  /** The DNAT target is one of these. */
  dnatIn?: string[];
  /** SNAT address (the port is tapflow's choice), null for none. */
  snatIp?: string | null;
  masquerade?: boolean;
  /** The candidate endpoints of the pool the flow was balanced over (any order). */
  endpoints?: string[];
  egress?: string | null;
  /** The packet as it left tapflow: "ip:port" or a pattern. */
  outSrc?: string | RegExp;
  outDst?: string | RegExp;
  /** A pattern every generated frame list must match (joined with "\n"); null: nothing generated. */
  generated?: RegExp | null;
  conn?: 'new' | 'existing';
  direction?: 'original' | 'reply';
  /** The chosen endpoint equals / differs from the one a previous step remembered. */
  same?: string;
  differs?: string;
}

type Mem = Record<string, TraceResult>;
type PacketSpec = TracePacket | ((mem: Mem) => TracePacket);

type Step =
  | { send: PacketSpec; expect: Expect; remember?: string; why?: string }
  /** Many packets (new flows): the set of endpoints reached, each result checked against `each`. */
  | { sweep: { count: number; packet: (i: number, mem: Mem) => TracePacket; advanceBetween?: number }; distinct: number | [number, number]; allIn?: string[]; each?: Expect; remember?: string; why?: string }
  /** Upsert manifests (a new generation; flows, affinity and neighbors persist). */
  | { apply: Obj[] | ((mem: Mem) => Obj[]); why?: string }
  | { remove: { kind: string; name: string }[]; why?: string }
  | { advance: number; why?: string };

interface Scenario {
  name: string;
  doc: string;
  node?: Obj;
  objects: Obj[];
  steps: Step[];
  /** Set when tapflow disagrees with the documented behaviour: the reason (reported, not failing). */
  todo?: string;
}

const tcp = (src: string, dst: string, extra: Partial<TracePacket> = {}): TracePacket => ({ src, dst, proto: 'tcp', ...extra });
const udp = (src: string, dst: string, extra: Partial<TracePacket> = {}): TracePacket => ({ src, dst, proto: 'udp', ...extra });
const hp = (ip: string, port: number): string => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
const eps8080 = (...ips: string[]): string[] => ips.map((ip) => hp(ip, 8080));
/** The endpoint a packet went to: the balancer's choice for a new flow, the flow's DNAT for an existing one. */
const chosen = (r: TraceResult | undefined): string | null => (r === undefined ? null : r.endpoint ?? (r.dnat ? hp(r.dnat.ip, r.dnat.port) : null));

/** "ip:port" / "[v6]:port" from the tracer's `out` text (which prints IPv6 unbracketed, see the todo row). */
function bracket(s: string): string {
  if (s.startsWith('[') || s.split(':').length <= 2) return s;
  const i = s.lastIndexOf(':');
  return `[${s.slice(0, i)}]:${s.slice(i + 1)}`;
}

/** The reply the backend sends for a connection a previous step remembered. */
function replyOf(key: string, flags = 'syn-ack'): (mem: Mem) => TracePacket {
  return (mem) => {
    const r = mem[key];
    if (!r?.out || !r.egress) throw new Error(`step "${key}" did not forward`);
    return { src: bracket(r.out.dst), dst: bracket(r.out.src), proto: r.packet.proto, from: `port:${r.egress}`, flags };
  };
}

const WEB = svc('web', {
  type: 'ClusterIP',
  clusterIP: '10.96.0.10',
  ports: [HTTP_PORT()],
  selector: { app: 'web' },
});
const WEB_SLICE = slice('web', LOCAL3, HTTP_EP);
const WEB_EPS = eps8080(POD_A, POD_B, POD_C);

const DS = svc('ds', {
  type: 'NodePort',
  clusterIP: '10.96.0.25',
  clusterIPs: ['10.96.0.25', 'fd00:96::25'],
  ipFamilies: ['IPv4', 'IPv6'],
  ipFamilyPolicy: 'RequireDualStack',
  ports: [HTTP_PORT({ nodePort: 30089 })],
  selector: { app: 'ds' },
});
const DS_SLICES = [slice('ds', [{ ip: POD_B }], HTTP_EP), slice('ds', [{ ip: POD_B6 }], HTTP_EP, { addressType: 'IPv6' })];

const KEEP = (slices: Ep[], extra: Obj = {}): Obj[] => [
  svc('keep', { type: 'LoadBalancer', clusterIP: '10.96.0.16', externalTrafficPolicy: 'Local', externalIPs: ['198.51.100.60'], ports: [HTTP_PORT({ nodePort: 30083 })], selector: { app: 'keep' }, ...extra }, { status: { loadBalancer: { ingress: [{ ip: '20.61.12.40' }] } } }),
  slice('keep', slices, HTTP_EP),
];

const SCENARIOS: Scenario[] = [
  // ── ClusterIP ──────────────────────────────────────────────────────────────────────────
  {
    name: 'ClusterIP from a pod: DNAT to a ready endpoint, the pod address kept',
    doc: 'VIPS: traffic to clusterIP:port is redirected to one of the endpoints; SVC: clients inside the cluster keep their address (no SNAT needed for pod sources)',
    objects: [WEB, WEB_SLICE],
    steps: [
      {
        send: tcp(`${POD_A}:40001`, '10.96.0.10:80'),
        expect: { verdict: 'forward', service: 'default/web:http', dnatIn: WEB_EPS, snatIp: null, masquerade: false, endpoints: WEB_EPS, conn: 'new', outSrc: `${POD_A}:40001`, outDst: /^10\.244\.0\.[234]:8080$/ },
      },
    ],
  },
  {
    name: 'ClusterIP from outside the cluster (VNet client): DNAT and masquerade to the node IP',
    doc: 'VIPS (iptables/nftables modes): with the cluster CIDR known, traffic to a ClusterIP from a source outside it is masqueraded so the reply comes back through the node',
    objects: [WEB, WEB_SLICE],
    steps: [
      {
        send: tcp(`${CLIENT}:40002`, '10.96.0.10:80'),
        expect: { verdict: 'forward', dnatIn: WEB_EPS, snatIp: NODE_IP, masquerade: true, outSrc: new RegExp(`^${NODE_IP}:\\d+$`), endpoints: WEB_EPS },
      },
    ],
  },
  {
    name: 'ClusterIP from the node itself (host port): masquerade',
    doc: 'VIPS: the node\'s own address is not in the cluster CIDR, so node → ClusterIP traffic is masqueraded like any off-cluster source',
    objects: [WEB, WEB_SLICE],
    steps: [
      { send: tcp(`${NODE_IP}:40003`, '10.96.0.10:80', { from: 'node' }), expect: { verdict: 'forward', dnatIn: WEB_EPS, snatIp: NODE_IP, masquerade: true } },
    ],
  },
  {
    name: 'multi-port Service with a named targetPort: each service port to its own endpoint port',
    doc: 'SVC: a targetPort may name a container port, resolved per pod (the EndpointSlice carries the number); every port of a multi-port Service must be named',
    objects: [
      svc('shop', {
        clusterIP: '10.96.0.11',
        selector: { app: 'shop' },
        ports: [
          { name: 'http', port: 80, targetPort: 'web-http', protocol: 'TCP' },
          { name: 'metrics', port: 9090, targetPort: 9090, protocol: 'TCP' },
        ],
      }),
      slice('shop', [{ ip: POD_B }], [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'metrics', port: 9090, protocol: 'TCP' }]),
    ],
    steps: [
      { send: tcp(`${POD_A}:40010`, '10.96.0.11:80'), expect: { verdict: 'forward', service: 'default/shop:http', dnat: `${POD_B}:8080`, egress: 'pod-b' } },
      { send: tcp(`${POD_A}:40011`, '10.96.0.11:9090'), expect: { verdict: 'forward', service: 'default/shop:metrics', dnat: `${POD_B}:9090`, egress: 'pod-b' } },
    ],
  },
  {
    name: 'ClusterIP on a port the Service does not have: rejected with a TCP RST (not black-holed)',
    doc: 'VIPS (nftables mode): traffic to a ClusterIP on a port that is not a service port is rejected by the cluster-ips check, not forwarded',
    objects: [WEB, WEB_SLICE],
    steps: [
      { send: tcp(`${POD_A}:40012`, '10.96.0.10:81'), expect: { verdict: 'reject', dnat: null, egress: null, generated: /^pod-a: tcp-rst 10\.96\.0\.10:81 → 10\.244\.0\.2:40012$/ } },
      { send: udp(`${CLIENT}:40013`, '10.96.0.10:81'), expect: { verdict: 'reject', generated: /^uplink: icmp type 3 code 3 10\.96\.0\.10 → 10\.0\.0\.10$/ } },
    ],
  },
  {
    name: 'trace names why a ClusterIP on an unknown port was rejected',
    doc: 'VIPS (nftables mode) cluster-ips check; `tapflow trace` promises the reason of a reject',
    objects: [WEB, WEB_SLICE],
    steps: [{ send: tcp(`${POD_A}:40014`, '10.96.0.10:81'), expect: { verdict: 'reject', reason: /clusterip-invalid-port/ } }],
  },
  {
    name: 'an unallocated address of the service CIDR: dropped, no answer',
    doc: 'VIPS (nftables mode): packets to service-CIDR addresses that belong to no Service are dropped (so they do not leak to the default route)',
    objects: [WEB, WEB_SLICE],
    steps: [{ send: tcp(`${POD_A}:40015`, '10.96.99.99:80'), expect: { verdict: 'drop', egress: null, generated: null } }],
  },
  {
    name: 'masqueradeAll: even pod → ClusterIP traffic is SNATed to the node IP',
    doc: 'kube-proxy --masquerade-all (VIPS): SNAT every packet sent to a service',
    node: { masqueradeAll: true },
    objects: [WEB, WEB_SLICE],
    steps: [{ send: tcp(`${POD_A}:40016`, '10.96.0.10:80'), expect: { verdict: 'forward', dnatIn: WEB_EPS, snatIp: NODE_IP, masquerade: true } }],
  },

  // ── NodePort ───────────────────────────────────────────────────────────────────────────
  {
    name: 'NodePort on the primary node IP: DNAT and masquerade (externalTrafficPolicy Cluster)',
    doc: 'SVC (type NodePort): every node proxies nodePort on its node IPs; API externalTrafficPolicy Cluster: the client source is masqueraded; SRCIP: the pod sees the node IP',
    objects: [svc('np', { type: 'NodePort', clusterIP: '10.96.0.12', ports: [HTTP_PORT({ nodePort: 30080 })], selector: { app: 'web' } }), slice('np', LOCAL3, HTTP_EP)],
    steps: [
      { send: tcp(`${CLIENT}:40020`, `${NODE_IP}:30080`), expect: { verdict: 'forward', service: 'default/np:http', dnatIn: WEB_EPS, snatIp: NODE_IP, masquerade: true, outSrc: new RegExp(`^${NODE_IP}:`) } },
      { send: tcp(`${INTERNET}:40021`, `${NODE_IP}:30080`), expect: { verdict: 'forward', dnatIn: WEB_EPS, snatIp: NODE_IP } },
      { send: tcp(`${POD_A}:40022`, `${NODE_IP}:30080`), expect: { verdict: 'forward', dnatIn: WEB_EPS, masquerade: true }, why: 'a pod to a NodePort is external traffic too (ETP Cluster masquerades)' },
      { send: tcp(`${CLIENT}:40023`, '10.96.0.12:80'), expect: { verdict: 'forward', dnatIn: WEB_EPS }, why: 'the NodePort service still has its ClusterIP' },
    ],
  },
  {
    name: 'NodePort only on nodePortAddresses (primary): not on a secondary node IP, a pod gateway or the ClusterIP',
    doc: 'VIPS / kube-proxy nodePortAddresses: NodePorts are opened only on the selected node addresses ("primary" = the node\'s primary IPs)',
    objects: [svc('np', { type: 'NodePort', clusterIP: '10.96.0.12', ports: [HTTP_PORT({ nodePort: 30080 })], selector: { app: 'web' } }), slice('np', LOCAL3, HTTP_EP)],
    steps: [
      { send: tcp(`${CLIENT}:40024`, `${NODE_IP_SECONDARY}:30080`), expect: { verdict: 'forward', service: null, dnat: null, egress: 'host' }, why: 'delivered to the node stack unchanged' },
      { send: tcp(`${POD_A}:40025`, '10.244.0.1:30080'), expect: { service: null, dnat: null } },
      { send: tcp(`${CLIENT}:40026`, `${POD_B}:30080`), expect: { verdict: 'forward', service: null, dnat: null, egress: 'pod-b' } },
      { send: tcp(`${POD_A}:40027`, '10.96.0.12:30080'), expect: { verdict: 'reject', dnat: null }, why: 'the ClusterIP on the nodePort number is a port the service lacks' },
    ],
  },

  {
    name: 'nodePortAddresses [] (every node IP) and a CIDR list: NodePorts open exactly there',
    doc: 'kube-proxy nodePortAddresses (VIPS, SVC "Custom IP address configuration for type: NodePort"): empty = all node addresses, a CIDR list = the node addresses inside it',
    node: { nodePortAddresses: [] },
    objects: [svc('np', { type: 'NodePort', clusterIP: '10.96.0.12', ports: [HTTP_PORT({ nodePort: 30080 })], selector: { app: 'web' } }), slice('np', LOCAL3, HTTP_EP)],
    steps: [
      { send: tcp(`${CLIENT}:40028`, `${NODE_IP}:30080`), expect: { verdict: 'forward', service: 'default/np:http', dnatIn: WEB_EPS } },
      { send: tcp(`${CLIENT}:40029`, `${NODE_IP_SECONDARY}:30080`), expect: { verdict: 'forward', service: 'default/np:http', dnatIn: WEB_EPS }, why: 'the secondary node IP too' },
    ],
  },
  {
    name: 'nodePortAddresses as a CIDR: only the node IPs inside it',
    doc: 'kube-proxy nodePortAddresses (VIPS): a CIDR list selects the node addresses that accept NodePort traffic',
    node: { nodePortAddresses: ['10.0.0.32/27'] },
    objects: [svc('np', { type: 'NodePort', clusterIP: '10.96.0.12', ports: [HTTP_PORT({ nodePort: 30080 })], selector: { app: 'web' } }), slice('np', LOCAL3, HTTP_EP)],
    steps: [
      { send: tcp(`${CLIENT}:40037`, `${NODE_IP_SECONDARY}:30080`), expect: { verdict: 'forward', service: 'default/np:http', dnatIn: WEB_EPS } },
      { send: tcp(`${CLIENT}:40038`, `${NODE_IP}:30080`), expect: { service: null, dnat: null, egress: 'host' }, why: '10.0.0.4 is outside 10.0.0.32/27' },
    ],
  },

  // ── LoadBalancer and external IPs ──────────────────────────────────────────────────────
  {
    name: 'LoadBalancer: status.loadBalancer.ingress[].ip and spec.loadBalancerIP both answer (masqueraded, ETP Cluster)',
    doc: 'SVC (type LoadBalancer): traffic from the external load balancer to the ingress IP is directed at the backend pods; API loadBalancerIP',
    objects: [
      svc('lb', { type: 'LoadBalancer', clusterIP: '10.96.0.13', loadBalancerIP: '20.61.12.35', ports: [HTTP_PORT({ nodePort: 30081 })], selector: { app: 'web' } }, { status: { loadBalancer: { ingress: [{ ip: '20.61.12.34' }] } } }),
      slice('lb', LOCAL3, HTTP_EP),
    ],
    steps: [
      { send: tcp(`${INTERNET}:40030`, '20.61.12.34:80'), expect: { verdict: 'forward', service: 'default/lb:http', dnatIn: WEB_EPS, snatIp: NODE_IP, masquerade: true } },
      { send: tcp(`${INTERNET}:40031`, '20.61.12.35:80'), expect: { verdict: 'forward', service: 'default/lb:http', dnatIn: WEB_EPS, snatIp: NODE_IP, masquerade: true } },
      { send: tcp(`${INTERNET}:40032`, '20.61.12.34:81'), expect: { service: null, dnat: null }, why: 'only the service ports are captured on the LB IP' },
      { send: tcp(`${POD_A}:40036`, '20.61.12.34:80'), expect: { verdict: 'forward', dnatIn: WEB_EPS, masquerade: true }, why: 'a pod using the LB IP: external-destination traffic with ETP Cluster is masqueraded' },
    ],
  },
  {
    name: 'LoadBalancer ingress with ipMode Proxy: not captured by the node',
    doc: 'VIPS / SVC (ipMode): with ipMode Proxy the load balancer delivers to the node with its own destination, so kube-proxy installs no rule for that IP',
    objects: [
      svc('lbp', { type: 'LoadBalancer', clusterIP: '10.96.0.14', ports: [HTTP_PORT({ nodePort: 30082 })], selector: { app: 'web' } }, { status: { loadBalancer: { ingress: [{ ip: '20.61.12.36', ipMode: 'Proxy' }] } } }),
      slice('lbp', LOCAL3, HTTP_EP),
    ],
    steps: [{ send: tcp(`${POD_A}:40033`, '20.61.12.36:80'), expect: { verdict: 'forward', service: null, dnat: null, egress: 'uplink' } }],
  },
  {
    name: 'externalIPs: the service answers on them (masqueraded with ETP Cluster)',
    doc: 'SVC (External IPs): traffic arriving with an external IP as destination and the service port is routed to an endpoint',
    objects: [svc('ext', { clusterIP: '10.96.0.15', externalIPs: ['198.51.100.50'], ports: [HTTP_PORT()], selector: { app: 'web' } }), slice('ext', LOCAL3, HTTP_EP)],
    steps: [
      { send: tcp(`${INTERNET}:40034`, '198.51.100.50:80'), expect: { verdict: 'forward', service: 'default/ext:http', dnatIn: WEB_EPS, snatIp: NODE_IP, masquerade: true } },
      { send: tcp(`${POD_A}:40035`, '198.51.100.50:80'), expect: { verdict: 'forward', dnatIn: WEB_EPS, masquerade: true }, why: 'from inside the cluster too (external destination, ETP Cluster: masqueraded)' },
    ],
  },

  // ── externalTrafficPolicy Local ────────────────────────────────────────────────────────
  {
    name: 'ETP Local: external client to the LB IP reaches only node-local endpoints, client IP kept',
    doc: 'SRCIP (externalTrafficPolicy Local): the client address is preserved and only endpoints on the receiving node are used; API externalTrafficPolicy',
    objects: KEEP([{ ip: POD_A }, { ip: REMOTE_POD, node: 'node-b' }]),
    steps: [
      { send: tcp(`${INTERNET}:40040`, '20.61.12.40:80'), expect: { verdict: 'forward', dnat: `${POD_A}:8080`, snatIp: null, masquerade: false, endpoints: [`${POD_A}:8080`], outSrc: `${INTERNET}:40040`, egress: 'pod-a' } },
      { send: tcp(`${CLIENT}:40041`, `${NODE_IP}:30083`), expect: { verdict: 'forward', dnat: `${POD_A}:8080`, snatIp: null, outSrc: `${CLIENT}:40041` }, why: 'the NodePort follows the same policy' },
      { send: tcp(`${INTERNET}:40047`, '198.51.100.60:80'), expect: { verdict: 'forward', dnat: `${POD_A}:8080`, snatIp: null, outSrc: `${INTERNET}:40047` }, remember: 'ext', why: 'and the external IP' },
      { send: replyOf('ext'), expect: { verdict: 'forward', direction: 'reply', egress: 'uplink', outSrc: '198.51.100.60:80', outDst: `${INTERNET}:40047` }, why: 'the reply to the preserved client leaves from the service address, not egress-SNATed to the node IP' },
    ],
  },
  {
    name: 'ETP Local with no endpoint on this node: external traffic dropped (not rejected)',
    doc: 'API externalTrafficPolicy: traffic mistakenly sent to a node with no local endpoints is dropped; SRCIP: nodes without endpoints fail the health check',
    objects: KEEP([{ ip: REMOTE_POD, node: 'node-b' }]),
    steps: [
      { send: tcp(`${INTERNET}:40042`, '20.61.12.40:80'), expect: { verdict: 'drop', reason: /no-local-endpoints/, generated: null, dnat: null } },
      { send: tcp(`${CLIENT}:40043`, `${NODE_IP}:30083`), expect: { verdict: 'drop', reason: /no-local-endpoints/, generated: null } },
      { send: tcp(`${POD_A}:40044`, '10.96.0.16:80'), expect: { verdict: 'forward', dnat: `${REMOTE_POD}:8080`, egress: 'uplink' }, why: 'the ClusterIP is internal traffic: cluster-wide' },
    ],
  },
  {
    name: 'ETP Local from a pod to the LB IP: cluster-wide endpoints, no SNAT',
    doc: 'API externalTrafficPolicy: traffic sent to an External IP or LoadBalancer IP from within the cluster always gets Cluster semantics',
    objects: KEEP([{ ip: REMOTE_POD, node: 'node-b' }, { ip: '10.244.1.3', node: 'node-b' }]),
    steps: [
      { send: tcp(`${POD_A}:40045`, '20.61.12.40:80'), expect: { verdict: 'forward', endpoints: eps8080(REMOTE_POD, '10.244.1.3'), dnatIn: eps8080(REMOTE_POD, '10.244.1.3'), snatIp: null, egress: 'uplink' } },
    ],
  },
  {
    name: 'ETP Local from the node itself: cluster-wide endpoints, masqueraded',
    doc: 'VIPS / kube-proxy: node-originated traffic to an ETP-Local external address is masqueraded and may use any endpoint',
    objects: KEEP([{ ip: REMOTE_POD, node: 'node-b' }]),
    steps: [{ send: tcp(`${NODE_IP}:40046`, `${NODE_IP}:30083`, { from: 'node' }), expect: { verdict: 'forward', dnat: `${REMOTE_POD}:8080`, masquerade: true, snatIp: NODE_IP } }],
  },

  // ── internalTrafficPolicy Local ───────────────────────────────────────────────────────
  {
    name: 'ITP Local: a pod reaches only the endpoints on its node',
    doc: 'ITP: with internalTrafficPolicy Local kube-proxy only considers node-local endpoints for traffic from pods',
    objects: [
      svc('agent', { clusterIP: '10.96.0.17', internalTrafficPolicy: 'Local', ports: [HTTP_PORT()], selector: { app: 'agent' } }),
      slice('agent', [{ ip: POD_B }, { ip: REMOTE_POD, node: 'node-b' }], HTTP_EP),
    ],
    steps: [
      { send: tcp(`${POD_A}:40050`, '10.96.0.17:80'), expect: { verdict: 'forward', dnat: `${POD_B}:8080`, endpoints: [`${POD_B}:8080`] } },
      { sweep: { count: 30, packet: (i) => tcp(`${POD_C}:${41000 + i}`, '10.96.0.17:80') }, distinct: 1, allIn: [`${POD_B}:8080`] },
    ],
  },
  {
    name: 'ITP Local with no endpoint on this node: dropped as if the service had none here; external policy unaffected',
    doc: 'ITP: a pod on a node without endpoints sees the service as having zero endpoints (traffic dropped); internal and external policies apply separately',
    objects: [
      svc('agent', { type: 'NodePort', clusterIP: '10.96.0.17', internalTrafficPolicy: 'Local', ports: [HTTP_PORT({ nodePort: 30084 })], selector: { app: 'agent' } }),
      slice('agent', [{ ip: REMOTE_POD, node: 'node-b' }], HTTP_EP),
    ],
    steps: [
      { send: tcp(`${POD_A}:40051`, '10.96.0.17:80'), expect: { verdict: 'drop', reason: /no-local-endpoints-internal/, generated: null } },
      { send: tcp(`${CLIENT}:40052`, `${NODE_IP}:30084`), expect: { verdict: 'forward', dnat: `${REMOTE_POD}:8080`, masquerade: true }, why: 'externalTrafficPolicy is still Cluster' },
    ],
  },

  // ── No endpoints, ExternalName, headless ───────────────────────────────────────────────
  {
    name: 'no endpoints: TCP rejected with a RST from the VIP, UDP with ICMP port unreachable',
    doc: 'VIPS: a Service with no endpoints rejects traffic (the client gets an immediate error instead of a timeout)',
    objects: [
      svc('empty', { clusterIP: '10.96.0.18', ports: [HTTP_PORT(), { name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' }], selector: { app: 'none' } }),
    ],
    steps: [
      { send: tcp(`${POD_A}:40060`, '10.96.0.18:80'), expect: { verdict: 'reject', reason: /no-endpoints/, dnat: null, generated: /^pod-a: tcp-rst 10\.96\.0\.18:80 → 10\.244\.0\.2:40060$/ } },
      { send: udp(`${POD_A}:40061`, '10.96.0.18:53'), expect: { verdict: 'reject', reason: /no-endpoints/, generated: /^pod-a: icmp type 3 code 3 10\.96\.0\.18 → 10\.244\.0\.2$/ } },
      { send: tcp(`${CLIENT}:40062`, '10.96.0.18:80'), expect: { verdict: 'reject', generated: /^uplink: tcp-rst 10\.96\.0\.18:80 → 10\.0\.0\.10:40062$/ } },
    ],
  },
  {
    name: 'no ready endpoints (all unready, none terminating): rejected',
    doc: 'KEP1669: not-ready endpoints are never used, terminating fallback only covers serving+terminating ones',
    objects: [svc('web', { clusterIP: '10.96.0.10', ports: [HTTP_PORT()], selector: { app: 'web' } }), slice('web', [{ ip: POD_A, ready: false }, { ip: POD_B, ready: false, serving: false }], HTTP_EP)],
    steps: [{ send: tcp(`${POD_C}:40063`, '10.96.0.10:80'), expect: { verdict: 'reject', reason: /no-endpoints/ } }],
  },
  {
    name: 'ExternalName and headless Services: no virtual IP, no DNAT',
    doc: 'VIPS: kube-proxy implements virtual IPs for Services of every type but ExternalName; SVC (Headless): clusterIP None gets no proxying or load balancing',
    objects: [
      svc('db', { type: 'ExternalName', externalName: 'db.example.com' }),
      svc('peers', { clusterIP: 'None', ports: [HTTP_PORT()], selector: { app: 'peers' } }),
      slice('peers', [{ ip: POD_B }, { ip: POD_C }], HTTP_EP),
    ],
    steps: [
      { send: tcp(`${POD_A}:40064`, `${POD_B}:8080`), expect: { verdict: 'forward', service: null, dnat: null, snatIp: null, egress: 'pod-b', outDst: `${POD_B}:8080` } },
      { send: tcp(`${POD_A}:40065`, `${POD_C}:80`), expect: { verdict: 'forward', service: null, dnat: null, outDst: `${POD_C}:80` }, why: 'the headless service port is not translated to its targetPort either' },
    ],
  },

  // ── Terminating endpoints (KEP-1669) ───────────────────────────────────────────────────
  {
    name: 'terminating endpoints are used only when no endpoint is ready',
    doc: 'KEP1669: some endpoints terminating → only the ready ones; all terminating → the serving terminating ones; terminating but not serving → never',
    objects: [
      svc('web', { clusterIP: '10.96.0.10', ports: [HTTP_PORT()], selector: { app: 'web' } }),
      slice('web', [{ ip: POD_A }, { ip: POD_B, ready: false, serving: true, terminating: true }], HTTP_EP),
    ],
    steps: [
      { sweep: { count: 40, packet: (i) => tcp(`${CLIENT}:${42000 + i}`, '10.96.0.10:80') }, distinct: 1, allIn: [`${POD_A}:8080`], why: 'a ready endpoint exists' },
      {
        apply: [slice('web', [{ ip: POD_A, ready: false, serving: true, terminating: true }, { ip: POD_B, ready: false, serving: true, terminating: true }, { ip: POD_C, ready: false, serving: false, terminating: true }], HTTP_EP)],
        why: 'rolling update: every endpoint terminating, one of them no longer serving',
      },
      { sweep: { count: 60, packet: (i) => tcp(`${CLIENT}:${43000 + i}`, '10.96.0.10:80') }, distinct: 2, allIn: eps8080(POD_A, POD_B) },
      { apply: [slice('web', [{ ip: POD_A, ready: false, serving: false, terminating: true }], HTTP_EP)] },
      { send: tcp(`${CLIENT}:44000`, '10.96.0.10:80'), expect: { verdict: 'reject', reason: /no-endpoints/ } },
    ],
  },
  {
    name: 'ETP Local: the node\'s terminating-but-serving endpoints still take external traffic when no local one is ready',
    doc: 'KEP1669 ("all endpoints terminating on a node when traffic policy is Local"): route to the ready terminating endpoints on that node',
    objects: KEEP([{ ip: POD_A, ready: false, serving: true, terminating: true }, { ip: REMOTE_POD, node: 'node-b' }]),
    steps: [
      { send: tcp(`${INTERNET}:40070`, '20.61.12.40:80'), expect: { verdict: 'forward', dnat: `${POD_A}:8080`, snatIp: null, endpoints: [`${POD_A}:8080`] } },
      { send: tcp(`${POD_B}:40071`, '10.96.0.16:80'), expect: { verdict: 'forward', dnat: `${REMOTE_POD}:8080` }, why: 'cluster-wide a ready endpoint exists, so the terminating one is not used' },
    ],
  },

  // ── Balancing and session affinity ─────────────────────────────────────────────────────
  {
    name: 'sessionAffinity None: new connections spread over every endpoint',
    doc: 'VIPS: by default kube-proxy picks a backend per connection (no affinity)',
    objects: [WEB, WEB_SLICE],
    steps: [{ sweep: { count: 90, packet: (i) => tcp(`${CLIENT}:${45000 + i}`, '10.96.0.10:80') }, distinct: 3, allIn: WEB_EPS }],
  },
  {
    name: 'sessionAffinity ClientIP: one client pinned across many source ports, refreshed by use, forgotten after the timeout',
    doc: 'VIPS (session affinity): connections from the same client IP go to the same endpoint; sessionAffinityConfig.clientIP.timeoutSeconds bounds the stickiness',
    objects: [
      svc('sticky', { clusterIP: '10.96.0.19', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } }, ports: [HTTP_PORT()], selector: { app: 'web' } }),
      slice('sticky', LOCAL3, HTTP_EP),
    ],
    steps: [
      { sweep: { count: 40, packet: (i) => tcp(`${CLIENT}:${46000 + i}`, '10.96.0.19:80') }, distinct: 1, allIn: WEB_EPS, remember: 'pin' },
      { sweep: { count: 20, packet: (i) => tcp(`${POD_A}:${46100 + i}`, '10.96.0.19:80') }, distinct: 1, allIn: WEB_EPS, why: 'another client is pinned too (to whichever endpoint)' },
      { advance: 50_000 },
      { send: tcp(`${CLIENT}:46200`, '10.96.0.19:80'), expect: { same: 'pin' }, why: 'within the timeout' },
      { advance: 50_000 },
      { send: tcp(`${CLIENT}:46201`, '10.96.0.19:80'), expect: { same: 'pin' }, why: '100 s after the first use but 50 s after the last: the entry was refreshed' },
      {
        sweep: { count: 24, packet: (i) => tcp(`${CLIENT}:${46300 + i}`, '10.96.0.19:80'), advanceBetween: 61_000 },
        distinct: [2, 3],
        allIn: WEB_EPS,
        why: 'each flow after more than timeoutSeconds idle chooses afresh',
      },
    ],
  },
  {
    name: 'sessionAffinity ClientIP: the pinned endpoint goes away → the client is re-pinned elsewhere',
    doc: 'VIPS (session affinity) with endpoint removal: affinity only ever points at a current endpoint',
    objects: [
      svc('sticky', { clusterIP: '10.96.0.19', sessionAffinity: 'ClientIP', ports: [HTTP_PORT()], selector: { app: 'web' } }),
      slice('sticky', LOCAL3, HTTP_EP),
    ],
    steps: [
      { send: tcp(`${CLIENT}:47000`, '10.96.0.19:80'), expect: { verdict: 'forward' }, remember: 'pin' },
      { apply: (mem) => [slice('sticky', LOCAL3.filter((e) => `${e.ip}:8080` !== mem.pin.endpoint), HTTP_EP)] },
      { send: tcp(`${CLIENT}:47001`, '10.96.0.19:80'), expect: { verdict: 'forward', differs: 'pin' }, remember: 'pin2' },
      { sweep: { count: 20, packet: (i) => tcp(`${CLIENT}:${47100 + i}`, '10.96.0.19:80') }, distinct: 1, each: { same: 'pin2' } },
    ],
  },

  // ── Endpoint changes and established flows ─────────────────────────────────────────────
  {
    name: 'endpoint removed: its TCP flow ends, the next packet of the same 5-tuple goes to another endpoint',
    doc: 'VIPS: kube-proxy keeps the rules in sync with EndpointSlices; connections to an endpoint that is gone are not kept on it (conntrack entries for removed endpoints are cleared)',
    objects: [WEB, WEB_SLICE],
    steps: [
      { send: tcp(`${CLIENT}:48000`, '10.96.0.10:80'), expect: { verdict: 'forward', conn: 'new' }, remember: 'syn' },
      { send: replyOf('syn'), expect: { verdict: 'forward', direction: 'reply', conn: 'existing' } },
      { send: tcp(`${CLIENT}:48000`, '10.96.0.10:80', { flags: 'ack' }), expect: { conn: 'existing', same: 'syn' } },
      { apply: (mem) => [slice('web', LOCAL3.filter((e) => `${e.ip}:8080` !== chosen(mem.syn)), HTTP_EP)], why: 'the flow\'s endpoint leaves (scale down)' },
      { send: tcp(`${CLIENT}:48000`, '10.96.0.10:80', { flags: 'psh-ack' }), expect: { verdict: 'forward', conn: 'new', differs: 'syn', dnatIn: WEB_EPS }, why: 'the next packet of the established flow: a new connection to a remaining endpoint (which answers it with a RST: the connection ends)' },
    ],
  },
  {
    name: 'endpoint removal does not disturb flows on the endpoints that stay',
    doc: 'VIPS: established connections to remaining endpoints keep going while the endpoint set changes',
    objects: [WEB, WEB_SLICE],
    steps: [
      { send: tcp(`${CLIENT}:48500`, '10.96.0.10:80'), expect: { verdict: 'forward' }, remember: 'flow' },
      { send: replyOf('flow'), expect: { direction: 'reply' } },
      { apply: (mem) => [slice('web', [...LOCAL3.filter((e) => `${e.ip}:8080` === mem.flow.endpoint), { ip: REMOTE_POD, node: 'node-b' }], HTTP_EP)], why: 'two other endpoints replaced by a new one' },
      { send: tcp(`${CLIENT}:48500`, '10.96.0.10:80', { flags: 'psh-ack' }), expect: { verdict: 'forward', conn: 'existing', same: 'flow' } },
    ],
  },
  {
    name: 'UDP: the stale flow to a removed endpoint is replaced, the same 5-tuple reaches a live endpoint',
    doc: 'VIPS: for UDP kube-proxy deletes conntrack entries of removed endpoints, otherwise datagrams of the same 5-tuple would keep going to a gone pod',
    objects: [
      svc('dns', { clusterIP: '10.96.0.20', ports: [{ name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' }], selector: { app: 'dns' } }),
      slice('dns', [{ ip: POD_B }, { ip: POD_C }], DNS_EP),
    ],
    steps: [
      { send: udp(`${POD_A}:50000`, '10.96.0.20:53'), expect: { verdict: 'forward', dnatIn: [`${POD_B}:5353`, `${POD_C}:5353`], conn: 'new' }, remember: 'q1' },
      { send: replyOf('q1', 'syn'), expect: { verdict: 'forward', direction: 'reply', outSrc: '10.96.0.20:53', outDst: `${POD_A}:50000` } },
      { send: udp(`${POD_A}:50000`, '10.96.0.20:53'), expect: { conn: 'existing', same: 'q1' } },
      { apply: (mem) => [slice('dns', [{ ip: POD_B }, { ip: POD_C }].filter((e) => `${e.ip}:5353` !== mem.q1.endpoint), DNS_EP)] },
      { send: udp(`${POD_A}:50000`, '10.96.0.20:53'), expect: { verdict: 'forward', differs: 'q1', conn: 'new' } },
    ],
  },
  {
    name: 'UDP: a service that had no endpoints gets one — the same 5-tuple is DNATed at once (no stale reject)',
    doc: 'VIPS: when a UDP service goes from zero to some endpoints, stale conntrack state must not keep black-holing the client\'s 5-tuple',
    objects: [svc('dns', { clusterIP: '10.96.0.20', ports: [{ name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' }], selector: { app: 'dns' } })],
    steps: [
      { send: udp(`${POD_A}:50100`, '10.96.0.20:53'), expect: { verdict: 'reject', generated: /icmp type 3 code 3/ } },
      { apply: [slice('dns', [{ ip: POD_C }], DNS_EP)] },
      { send: udp(`${POD_A}:50100`, '10.96.0.20:53'), expect: { verdict: 'forward', dnat: `${POD_C}:5353`, conn: 'new' } },
      { remove: [{ kind: 'EndpointSlice', name: 'dns-ipv4' }], why: 'the slice deleted: no endpoints again' },
      { send: udp(`${POD_A}:50100`, '10.96.0.20:53'), expect: { verdict: 'reject', generated: /icmp type 3 code 3/ }, why: 'the flow to the gone endpoint ends, the service rejects' },
    ],
  },

  // ── Hairpin ────────────────────────────────────────────────────────────────────────────
  {
    name: 'hairpin: a pod reaching itself through its own Service is masqueraded',
    doc: 'VIPS / kube-proxy hairpin: when the chosen endpoint is the client itself the source is masqueraded, so the reply returns through the proxy',
    objects: [svc('self', { clusterIP: '10.96.0.21', ports: [HTTP_PORT()], selector: { app: 'self' } }), slice('self', [{ ip: POD_A }], HTTP_EP)],
    steps: [
      { send: tcp(`${POD_A}:40080`, '10.96.0.21:80'), expect: { verdict: 'forward', dnat: `${POD_A}:8080`, masquerade: true, snatIp: NODE_IP, egress: 'pod-a', outDst: `${POD_A}:8080`, outSrc: new RegExp(`^${NODE_IP}:\\d+$`) }, remember: 'hp' },
      { send: replyOf('hp'), expect: { verdict: 'forward', direction: 'reply', egress: 'pod-a', outSrc: '10.96.0.21:80', outDst: `${POD_A}:40080` } },
      { send: tcp(`${POD_B}:40081`, '10.96.0.21:80'), expect: { dnat: `${POD_A}:8080`, masquerade: false }, why: 'another pod is not hairpin traffic' },
    ],
  },

  // ── LB source ranges, internal LB ──────────────────────────────────────────────────────
  {
    name: 'loadBalancerSourceRanges: other sources dropped at the LB IP; ClusterIP and NodePort not filtered',
    doc: 'API loadBalancerSourceRanges: traffic through the cloud load balancer is restricted to the listed client ranges (kube-proxy filters the LB IP)',
    objects: [
      svc('fw', { type: 'LoadBalancer', clusterIP: '10.96.0.22', loadBalancerSourceRanges: ['203.0.113.0/24', '10.0.0.0/16'], ports: [HTTP_PORT({ nodePort: 30085 })], selector: { app: 'web' } }, { status: { loadBalancer: { ingress: [{ ip: '20.61.12.50' }] } } }),
      slice('fw', LOCAL3, HTTP_EP),
    ],
    steps: [
      { send: tcp(`${INTERNET}:40090`, '20.61.12.50:80'), expect: { verdict: 'forward', dnatIn: WEB_EPS } },
      { send: tcp(`${CLIENT}:40091`, '20.61.12.50:80'), expect: { verdict: 'forward', dnatIn: WEB_EPS } },
      { send: tcp('198.51.100.9:40092', '20.61.12.50:80'), expect: { verdict: 'drop', reason: /source-range/, generated: null } },
      { send: tcp('198.51.100.9:40093', `${NODE_IP}:30085`), expect: { verdict: 'forward', dnatIn: WEB_EPS } },
      { send: tcp(`${POD_A}:40094`, '10.96.0.22:80'), expect: { verdict: 'forward', dnatIn: WEB_EPS } },
    ],
  },
  {
    name: 'load-balancer-source-ranges annotation (used when the field is empty)',
    doc: 'API loadBalancerSourceRanges / the service.beta.kubernetes.io/load-balancer-source-ranges annotation',
    objects: [
      svc('fw2', { type: 'LoadBalancer', clusterIP: '10.96.0.23', ports: [HTTP_PORT({ nodePort: 30086 })], selector: { app: 'web' } }, { annotations: { 'service.beta.kubernetes.io/load-balancer-source-ranges': '203.0.113.0/25' }, status: { loadBalancer: { ingress: [{ ip: '20.61.12.51' }] } } }),
      slice('fw2', LOCAL3, HTTP_EP),
    ],
    steps: [
      { send: tcp('203.0.113.5:40095', '20.61.12.51:80'), expect: { verdict: 'forward' } },
      { send: tcp('203.0.113.200:40096', '20.61.12.51:80'), expect: { verdict: 'drop', reason: /source-range/ } },
    ],
  },
  {
    name: 'internal load balancer: VNet and cluster sources only, the Internet dropped',
    doc: 'SVC (internal load balancer, Azure annotation service.beta.kubernetes.io/azure-load-balancer-internal): the frontend is reachable from the virtual network only',
    objects: [
      svc('ilb', { type: 'LoadBalancer', clusterIP: '10.96.0.24', ports: [HTTP_PORT({ nodePort: 30087 })], selector: { app: 'web' } }, { annotations: { 'service.beta.kubernetes.io/azure-load-balancer-internal': 'true' }, status: { loadBalancer: { ingress: [{ ip: '10.0.0.200' }] } } }),
      slice('ilb', LOCAL3, HTTP_EP),
    ],
    steps: [
      { send: tcp(`${CLIENT}:40097`, '10.0.0.200:80'), expect: { verdict: 'forward', dnatIn: WEB_EPS, masquerade: true } },
      { send: tcp(`${INTERNET}:40098`, '10.0.0.200:80'), expect: { verdict: 'drop', reason: /internal-lb-external-source/, generated: null } },
      { send: tcp(`${POD_A}:40099`, '10.0.0.200:80'), expect: { verdict: 'forward', dnatIn: WEB_EPS } },
    ],
  },

  // ── Dual stack ─────────────────────────────────────────────────────────────────────────
  {
    name: 'dual-stack: the IPv6 ClusterIP balances over the IPv6 slice, the IPv4 one over the IPv4 slice',
    doc: 'SVC (dual-stack, ipFamilies/clusterIPs): each family\'s ClusterIP uses the endpoints of its family',
    objects: [DS, ...DS_SLICES],
    steps: [
      { send: tcp(`[${POD_A6}]:40100`, '[fd00:96::25]:80'), expect: { verdict: 'forward', service: 'default/ds:http', dnat: `[${POD_B6}]:8080`, snatIp: null, masquerade: false, egress: 'pod-b', endpoints: [`[${POD_B6}]:8080`] }, remember: 'v6' },
      { send: replyOf('v6'), expect: { verdict: 'forward', direction: 'reply', egress: 'pod-a', snatIp: 'fd00:96::25', dnat: null }, why: 'the reply is un-DNATed: its source becomes the VIP again' },
      { send: tcp(`[${CLIENT6}]:40101`, '[fd00:96::25]:80'), expect: { verdict: 'forward', dnat: `[${POD_B6}]:8080`, snatIp: NODE_IP6, masquerade: true } },
      { send: tcp(`[${CLIENT6}]:40102`, `[${NODE_IP6}]:30089`), expect: { verdict: 'forward', service: 'default/ds:http', dnat: `[${POD_B6}]:8080`, snatIp: NODE_IP6 }, why: 'the NodePort on the IPv6 primary node IP' },
      { send: tcp(`${POD_A}:40103`, '10.96.0.25:80'), expect: { verdict: 'forward', dnat: `${POD_B}:8080`, endpoints: [`${POD_B}:8080`] } },
    ],
  },
  {
    name: 'trace prints IPv6 endpoints of the outgoing packet as [v6]:port',
    doc: '`tapflow trace` reads and prints "[v6]:PORT"; its `out` must be re-usable as the input of the reply packet',
    objects: [DS, ...DS_SLICES],
    steps: [
      { send: tcp(`[${POD_A6}]:40104`, '[fd00:96::25]:80'), expect: { verdict: 'forward', outSrc: `[${POD_A6}]:40104`, outDst: `[${POD_B6}]:8080` } },
      { send: tcp(`[${POD_A6}]:40105`, '[fd00:96::25]:81'), expect: { verdict: 'reject', generated: /^pod-a: tcp-rst \[fd00:96::25\]:81 → \[fd00:244::2\]:40105$/ } },
    ],
  },

  // ── Replies ────────────────────────────────────────────────────────────────────────────
  {
    name: 'replies of a DNATed connection are un-NATed: the client sees the VIP (and its own address back)',
    doc: 'VIPS: the proxy rewrites the reply so the client talks to clusterIP:port throughout',
    objects: [
      svc('web', { type: 'NodePort', clusterIP: '10.96.0.10', ports: [HTTP_PORT({ nodePort: 30088 })], selector: { app: 'web' } }),
      WEB_SLICE,
    ],
    steps: [
      { send: tcp(`${POD_A}:40110`, '10.96.0.10:80'), expect: { verdict: 'forward' }, remember: 'pod' },
      { send: replyOf('pod'), expect: { verdict: 'forward', direction: 'reply', egress: 'pod-a', outSrc: '10.96.0.10:80', outDst: `${POD_A}:40110` } },
      { send: tcp(`${CLIENT}:40111`, '10.96.0.10:80'), expect: { verdict: 'forward', masquerade: true }, remember: 'ext' },
      { send: replyOf('ext'), expect: { verdict: 'forward', direction: 'reply', egress: 'uplink', outSrc: '10.96.0.10:80', outDst: `${CLIENT}:40111` } },
      { send: tcp(`${INTERNET}:40112`, `${NODE_IP}:30088`), expect: { verdict: 'forward', masquerade: true }, remember: 'np' },
      { send: replyOf('np'), expect: { verdict: 'forward', direction: 'reply', egress: 'uplink', outSrc: `${NODE_IP}:30088`, outDst: `${INTERNET}:40112` } },
    ],
  },

  // ── Egress SNAT ────────────────────────────────────────────────────────────────────────
  {
    name: 'egress: pod traffic to the Internet is SNATed to the node IP, and the replies come back',
    doc: 'SRCIP ("source NAT for traffic leaving the cluster"): packets from pods to destinations outside the cluster and the VNet leave with the node IP',
    objects: [],
    steps: [
      { send: tcp(`${POD_A}:40120`, `${INTERNET}:443`), expect: { verdict: 'forward', service: null, dnat: null, snatIp: NODE_IP, masquerade: false, egress: 'uplink', outSrc: new RegExp(`^${NODE_IP}:\\d+$`), outDst: `${INTERNET}:443` }, remember: 'out' },
      { send: replyOf('out'), expect: { verdict: 'forward', direction: 'reply', egress: 'pod-a', outSrc: `${INTERNET}:443`, outDst: `${POD_A}:40120` } },
      { send: udp(`[${POD_A6}]:40121`, '[2001:db8:1::53]:53'), expect: { verdict: 'forward', snatIp: NODE_IP6, egress: 'uplink' } },
    ],
  },
  {
    name: 'egress: no SNAT inside the VNet, to other nodes\' pods or between local pods',
    doc: 'SRCIP: traffic that stays in the cluster network (and, on Azure, the VNet) keeps the pod address',
    objects: [],
    steps: [
      { send: tcp(`${POD_A}:40130`, `${CLIENT}:8080`), expect: { verdict: 'forward', snatIp: null, egress: 'uplink', outSrc: `${POD_A}:40130` } },
      { send: tcp(`${POD_A}:40131`, `${REMOTE_POD}:8080`), expect: { verdict: 'forward', snatIp: null, egress: 'uplink', outSrc: `${POD_A}:40131` } },
      { send: tcp(`${POD_A}:40132`, `${POD_B}:8080`), expect: { verdict: 'forward', snatIp: null, egress: 'pod-b', outSrc: `${POD_A}:40132` } },
    ],
  },
  // ── More edges ─────────────────────────────────────────────────────────────────────────
  {
    name: 'ClusterIP from a pod on another node (arrives on the uplink, source in the cluster CIDR): not masqueraded',
    doc: 'VIPS: only sources outside the cluster CIDR are masqueraded on the way to a ClusterIP',
    objects: [WEB, WEB_SLICE],
    steps: [{ send: tcp(`${REMOTE_POD}:40140`, '10.96.0.10:80'), expect: { verdict: 'forward', dnatIn: WEB_EPS, snatIp: null, masquerade: false, outSrc: `${REMOTE_POD}:40140` } }],
  },
  {
    name: 'same port number over TCP and UDP: each protocol has its own frontend and endpoints',
    doc: 'SVC (multi-protocol Services): a port is identified by (protocol, port); the EndpointSlice port of the same name and protocol gives the target',
    objects: [
      svc('dns', { clusterIP: '10.96.0.20', ports: [{ name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, targetPort: 5354, protocol: 'TCP' }], selector: { app: 'dns' } }),
      slice('dns', [{ ip: POD_B }], [{ name: 'dns', port: 5353, protocol: 'UDP' }, { name: 'dns-tcp', port: 5354, protocol: 'TCP' }]),
    ],
    steps: [
      { send: udp(`${POD_A}:40141`, '10.96.0.20:53'), expect: { verdict: 'forward', service: 'default/dns:dns', dnat: `${POD_B}:5353` } },
      { send: tcp(`${POD_A}:40142`, '10.96.0.20:53'), expect: { verdict: 'forward', service: 'default/dns:dns-tcp', dnat: `${POD_B}:5354` } },
      { send: { src: `${POD_A}:40143`, dst: '10.96.0.20:53', proto: 'sctp' }, expect: { verdict: 'reject' }, why: 'SCTP is not a protocol of this service' },
    ],
  },
  {
    name: 'endpoints spread over several slices are merged; a duplicate endpoint counts once (ready copy wins)',
    doc: 'SVC (EndpointSlices): a Service\'s endpoints may be split over many slices; consumers merge them',
    objects: [
      WEB,
      slice('web', [{ ip: POD_A }, { ip: POD_B, ready: false }], HTTP_EP, { name: 'web-1' }),
      slice('web', [{ ip: POD_B }, { ip: POD_C }], HTTP_EP, { name: 'web-2' }),
    ],
    steps: [
      { send: tcp(`${POD_A}:40144`, '10.96.0.10:80'), expect: { verdict: 'forward', endpoints: WEB_EPS } },
      { sweep: { count: 90, packet: (i) => tcp(`${CLIENT}:${49000 + i}`, '10.96.0.10:80') }, distinct: 3, allIn: WEB_EPS },
    ],
  },
  {
    name: 'an endpoint that starts terminating keeps its established flows, new flows go to the ready ones',
    doc: 'KEP1669: terminating-but-serving endpoints let existing connections finish gracefully; new traffic prefers ready endpoints',
    objects: [WEB, WEB_SLICE],
    steps: [
      { send: tcp(`${CLIENT}:40150`, '10.96.0.10:80'), expect: { verdict: 'forward' }, remember: 'old' },
      { send: replyOf('old'), expect: { direction: 'reply' } },
      { apply: (mem) => [slice('web', LOCAL3.map((e) => (`${e.ip}:8080` === chosen(mem.old) ? { ...e, ready: false, serving: true, terminating: true } : e)), HTTP_EP)] },
      { send: tcp(`${CLIENT}:40150`, '10.96.0.10:80', { flags: 'psh-ack' }), expect: { verdict: 'forward', conn: 'existing', same: 'old' } },
      { sweep: { count: 40, packet: (i) => tcp(`${CLIENT}:${49200 + i}`, '10.96.0.10:80') }, distinct: 2, each: { differs: 'old' } },
    ],
  },
  {
    name: 'hairpin through a NodePort: the pod that is its own backend is masqueraded',
    doc: 'VIPS / kube-proxy hairpin masquerade: a packet DNATed back to its own source is always masqueraded, whatever the frontend',
    objects: [svc('selfnp', { type: 'NodePort', clusterIP: '10.96.0.26', ports: [HTTP_PORT({ nodePort: 30090 })], selector: { app: 'self' } }), slice('selfnp', [{ ip: POD_C }], HTTP_EP)],
    steps: [{ send: tcp(`${POD_C}:40151`, `${NODE_IP}:30090`), expect: { verdict: 'forward', dnat: `${POD_C}:8080`, masquerade: true, snatIp: NODE_IP, egress: 'pod-c' } }],
  },
  {
    name: 'sessionAffinity ClientIP with the default timeout (10800 s)',
    doc: 'VIPS (session affinity): the default sessionAffinityConfig.clientIP.timeoutSeconds is 10800 (3 hours)',
    objects: [svc('sticky', { clusterIP: '10.96.0.19', sessionAffinity: 'ClientIP', ports: [HTTP_PORT()], selector: { app: 'web' } }), slice('sticky', LOCAL3, HTTP_EP)],
    steps: [
      { send: tcp(`${CLIENT}:40160`, '10.96.0.19:80'), expect: { verdict: 'forward' }, remember: 'pin' },
      { advance: 10_790_000 },
      { send: tcp(`${CLIENT}:40161`, '10.96.0.19:80'), expect: { same: 'pin' }, why: '10 s before the 3 h mark' },
      {
        sweep: { count: 24, packet: (i) => tcp(`${CLIENT}:${40200 + i}`, '10.96.0.19:80'), advanceBetween: 10_801_000 },
        distinct: [2, 3],
        allIn: WEB_EPS,
      },
    ],
  },
  {
    name: 'egress SNAT: two pods using the same source port towards the same server get distinct node ports',
    doc: 'SRCIP (egress masquerade): many pods share the node IP, so SNAT must keep every connection unique',
    objects: [],
    steps: [
      { send: tcp(`${POD_A}:40170`, `${INTERNET}:443`), expect: { verdict: 'forward', snatIp: NODE_IP }, remember: 'a' },
      { send: tcp(`${POD_B}:40170`, `${INTERNET}:443`), expect: { verdict: 'forward', snatIp: NODE_IP }, remember: 'b' },
      { send: replyOf('a'), expect: { verdict: 'forward', egress: 'pod-a', outDst: `${POD_A}:40170` } },
      { send: replyOf('b'), expect: { verdict: 'forward', egress: 'pod-b', outDst: `${POD_B}:40170` } },
    ],
  },
  {
    name: 'ICMP echo to a ClusterIP is rejected and to an unallocated service IP dropped — never routed out of the node',
    doc: 'VIPS (nftables mode): the cluster-ips check applies to every new packet to a service address — allocated ClusterIP: reject; rest of the service CIDR: drop',
    objects: [WEB, WEB_SLICE],
    steps: [
      { send: { src: POD_A, dst: '10.96.0.10', proto: 'icmp' }, expect: { verdict: 'reject', egress: null, generated: /icmp type 3 code 3/ } },
      { send: { src: POD_A, dst: '10.96.99.99', proto: 'icmp' }, expect: { verdict: 'drop', egress: null } },
      { send: { src: CLIENT, dst: '10.96.0.10', proto: 'icmp' }, expect: { verdict: 'reject', egress: null } },
    ],
  },
];

// ─── Runner ────────────────────────────────────────────────────────────────────────────────

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** got/want pairs for the keys of `e` (strings and RegExps compared with t.match). */
function compare(r: TraceResult, e: Expect, mem: Mem): { got: Obj; want: Obj } {
  const got: Obj = {};
  const want: Obj = {};
  const put = (k: string, g: unknown, w: unknown): void => {
    got[k] = g;
    want[k] = w;
  };
  if (e.verdict !== undefined) put('verdict', r.verdict, e.verdict);
  if (e.reason !== undefined) put('reason', r.reason, e.reason);
  if (e.service !== undefined) put('service', r.service, e.service);
  if (e.dnat !== undefined) put('dnat', r.dnat ? hp(r.dnat.ip, r.dnat.port) : null, e.dnat);
  if (e.dnatIn !== undefined) put('dnatIn', r.dnat ? hp(r.dnat.ip, r.dnat.port) : 'none', new RegExp(`^(${e.dnatIn.map(escapeRe).join('|')})$`));
  if (e.snatIp !== undefined) put('snatIp', r.snat ? r.snat.ip : null, e.snatIp);
  if (e.masquerade !== undefined) put('masquerade', r.masquerade, e.masquerade);
  if (e.endpoints !== undefined) put('endpoints', [...r.endpoints].sort().join(' '), [...e.endpoints].sort().join(' '));
  if (e.egress !== undefined) put('egress', r.egress, e.egress);
  if (e.outSrc !== undefined) put('outSrc', r.out?.src ?? 'none', e.outSrc);
  if (e.outDst !== undefined) put('outDst', r.out?.dst ?? 'none', e.outDst);
  if (e.generated !== undefined) put('generated', r.generated.join('\n'), e.generated === null ? '' : e.generated);
  if (e.conn !== undefined) put('conn', r.conn ? (r.conn.new ? 'new' : 'existing') : 'none', e.conn);
  if (e.direction !== undefined) put('direction', r.conn?.direction ?? 'none', e.direction);
  if (e.same !== undefined) put('same', chosen(r), chosen(mem[e.same]) ?? `<${e.same} not remembered>`);
  if (e.differs !== undefined) put('differs', chosen(r) !== null && chosen(r) !== chosen(mem[e.differs]) ? 'differs' : `same as ${e.differs}: ${chosen(r)}`, 'differs');
  return { got, want };
}

function matchAll(t: Test, r: TraceResult, e: Expect, mem: Mem, label: string, todo?: string): boolean {
  const { got, want } = compare(r, e, mem);
  // Exact keys with strictSame, patterns with match: one assertion per step, a readable diff.
  const exactG: Obj = {}, exactW: Obj = {}, patG: Obj = {}, patW: Obj = {};
  for (const k of Object.keys(want)) {
    if (want[k] instanceof RegExp) { patG[k] = got[k]; patW[k] = want[k]; } else { exactG[k] = got[k]; exactW[k] = want[k]; }
  }
  // A known-bug row runs in full; its assertions are `todo` (reported, not failing).
  const extra = todo ? { todo } : {};
  let ok = t.strictSame(exactG, exactW, label, extra);
  if (Object.keys(patW).length > 0) ok = t.match(patG, patW, `${label} (patterns)`, extra) && ok;
  if (!ok) t.comment(`trace: ${JSON.stringify(r)}`);
  return ok;
}

function runScenario(t: Test, s: Scenario): void {
  const tracer = Tracer.fromManifests(manifests([nodeConfig(s.node), ...s.objects]));
  const mem: Mem = {};
  s.steps.forEach((step, i) => {
    const label = (what: string) => `step ${i + 1}: ${what}${step.why ? ` — ${step.why}` : ''}`;
    if ('apply' in step) {
      const objs = typeof step.apply === 'function' ? step.apply(mem) : step.apply;
      tracer.apply(manifests(objs));
      return;
    }
    if ('remove' in step) {
      tracer.apply([], step.remove.map((d) => ({ ...d, namespace: 'default' })));
      return;
    }
    if ('advance' in step) {
      tracer.advance(step.advance);
      return;
    }
    if ('send' in step) {
      const pkt = typeof step.send === 'function' ? step.send(mem) : step.send;
      const r = tracer.trace(pkt);
      if (step.remember) mem[step.remember] = r;
      matchAll(t, r, step.expect, mem, label(`${pkt.proto} ${pkt.src} → ${pkt.dst}${pkt.flags ? ` [${pkt.flags}]` : ''}`), s.todo);
      return;
    }
    const sw = step.sweep;
    const seen = new Map<string, number>();
    let eachOk = true;
    for (let k = 0; k < sw.count; k++) {
      if (k > 0 && sw.advanceBetween) tracer.advance(sw.advanceBetween);
      const r = tracer.trace(sw.packet(k, mem));
      if (k === 0 && step.remember) mem[step.remember] = r;
      const key = r.verdict === 'forward' && chosen(r) !== null ? (chosen(r) as string) : `${r.verdict}:${r.reason}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
      if (step.each && eachOk) eachOk = matchAll(t, r, step.each, mem, label(`sweep packet ${k + 1}`), s.todo);
    }
    const keys = [...seen.keys()].sort();
    const [lo, hi] = typeof step.distinct === 'number' ? [step.distinct, step.distinct] : step.distinct;
    const extra = s.todo ? { todo: s.todo } : {};
    t.ok(keys.length >= lo && keys.length <= hi, label(`${sw.count} new flows reach ${lo === hi ? lo : `${lo}-${hi}`} endpoint(s): ${JSON.stringify(Object.fromEntries(seen))}`), extra);
    if (step.allIn) {
      const stray = keys.filter((k) => !step.allIn!.includes(k));
      t.same(stray, [], label(`every flow lands on ${step.allIn.join(', ')}`), extra);
    }
  });
}

t.test('the scenario table', async (t) => {
  t.ok(SCENARIOS.length >= 25, `${SCENARIOS.length} scenarios`);
  const names = new Set(SCENARIOS.map((s) => s.name));
  t.equal(names.size, SCENARIOS.length, 'scenario names are unique');
  for (const s of SCENARIOS) t.ok(s.doc.length > 0 && s.steps.length > 0, `${s.name}: has a documentation reference and steps`);
});

for (const s of SCENARIOS) {
  // Known-bug rows run like the others; their assertions are marked todo (see matchAll).
  t.test(s.todo ? `${s.name} [known bug]` : s.name, async (t) => {
    t.comment(`doc: ${s.doc}`);
    if (s.todo) t.comment(`known bug: ${s.todo}`);
    runScenario(t, s);
  });
}
