/**
 * `tapflow trace`: push a described packet through the real compiled tables and the real
 * forwarder — on memory ports instead of TAPs — and report what happened to it. Not a second
 * implementation: the same Forwarder, Generation, flow table and service table the agent
 * runs, so a trace and the live path cannot disagree. Flow state persists across packets of
 * one Tracer (sequences: `--packets FILE.jsonl`).
 */
import type { NodeConfig } from '../../control/model/node-config';
import { DesiredState, Manifest } from '../../control/model/manifests';
import { NodeCompiler } from '../../control/compile/node-compiler';
import { MemoryPort } from '../io/memory-port';
import { Forwarder } from '../pipeline/forwarder';
import { DROP_REASON_NAMES, DropReason } from '../pipeline/drop-reason';
import { buildFrame } from '../wire/build';
import { FrameInfo, parseFrame } from '../wire/frame-parser';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../wire/address';
import { CONN_STATE_NAMES, NAT_DST, NAT_SRC } from '../flows/flow-table';
import type { ServiceResult, ServiceTable } from '../tables/service-table';
import { SERVICE_REASON_NAMES } from '../tables/service-table';
import { TapflowError } from '../../control/model/errors';
import type { FilterExplanation } from '../tables/classifier';

export type TraceProto = 'tcp' | 'udp' | 'sctp' | 'icmp';

export interface TracePacket {
  /** "IP" or "IP:PORT" ("[v6]:PORT"). */
  src: string;
  /** "IP:PORT" ("[v6]:PORT"); for icmp just "IP". */
  dst: string;
  proto: TraceProto;
  /** pod | pod:NS/NAME | node | external | port:NAME (default: pod when src is a pod address, else external). */
  from?: string;
  /** TCP flags: syn (default), ack, syn-ack, fin, rst, psh-ack. */
  flags?: string;
  ttl?: number;
}

export interface Endpoint { ip: string; port: number }

export interface TraceResult {
  packet: { src: string; dst: string; proto: TraceProto; from: string };
  verdict: 'forward' | 'local' | 'drop' | 'reject';
  reason: string;
  ingress: string;
  egress: string | null;
  route: string | null;
  dnat: Endpoint | null;
  snat: Endpoint | null;
  masquerade: boolean;
  service: string | null;
  frontend: string | null;
  endpoints: string[];
  endpoint: string | null;
  conn: { direction: 'original' | 'reply'; state: string; new: boolean } | null;
  /** The packet as it left tapflow (after NAT), when forwarded. */
  out: { src: string; dst: string; ttl: number } | null;
  /** Frames tapflow generated in answer (RST, ICMP errors, echo replies). */
  generated: string[];
  /** NSG / NetworkPolicy evaluation of the flow's first packet, step by step; null when not evaluated. */
  security: FilterExplanation | null;
}

const PROTO_NUM: Record<TraceProto, number> = { tcp: 6, udp: 17, sctp: 132, icmp: 1 };
const TCP_FLAGS: Record<string, number> = { syn: 0x02, ack: 0x10, 'syn-ack': 0x12, fin: 0x11, rst: 0x04, 'psh-ack': 0x18 };

function splitHostPort(s: string, needPort: boolean, what: string): { ip: string; port: number; family: 4 | 6 } {
  let host = s, port = 0;
  const m6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (m6) { host = m6[1]; port = m6[2] ? Number(m6[2]) : 0; }
  else if (s.split(':').length === 2) { const [h, p] = s.split(':'); host = h; port = Number(p); }
  const family = parseIpv4(host) >= 0 ? 4 : parseIpv6(host) ? 6 : 0;
  if (family === 0) throw new TapflowError(`${what}: "${s}" is not an IP address (IP, IP:PORT or [IPv6]:PORT)`, { code: 'INVALID_FIELD', path: what });
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TapflowError(`${what}: port must be 0..65535`, { code: 'INVALID_FIELD', path: what });
  if (needPort && port === 0) throw new TapflowError(`${what}: a port is required ("IP:PORT")`, { code: 'MISSING_FIELD', path: what });
  return { ip: family === 6 ? formatIpv6(parseIpv6(host)!, 0) : host, port, family: family as 4 | 6 };
}

export class Tracer {
  readonly compiler = new NodeCompiler();
  readonly ports: MemoryPort[];
  readonly fwd: Forwarder;
  private version = 1;
  private services: ServiceTable;
  private readonly info = new FrameInfo();
  private clock = 1_000_000;

  constructor(public node: NodeConfig, public state: DesiredState) {
    const res = this.compiler.compile(node, state, this.version);
    this.services = res.services;
    this.ports = node.spec.ports.map((p) => new MemoryPort({ name: p.name, notify: 'manual' }));
    this.fwd = new Forwarder(this.ports, res.gen, { clock: () => this.clock });
  }

  /** Build a tracer from manifests (exactly one NodeConfig among them, or the one named). */
  static fromManifests(manifests: Manifest[], nodeName?: string): Tracer {
    const nodes = manifests.filter((m) => m.kind === 'NodeConfig').map((m) => m.object as NodeConfig);
    const node = nodeName ? nodes.find((n) => n.spec.nodeName === nodeName) : nodes.length === 1 ? nodes[0] : undefined;
    if (!node) {
      throw new TapflowError(nodeName ? `no NodeConfig with spec.nodeName "${nodeName}"` :
        `trace needs exactly one NodeConfig among the manifests (found ${nodes.length}); name one with --node`, { code: 'INVALID_FIELD', path: 'NodeConfig' });
    }
    return new Tracer(node, new DesiredState(manifests.filter((m) => m.kind !== 'NodeConfig')));
  }

  /** Apply upserts (and deletes) as a new generation; flows persist. */
  apply(upserts: Manifest[], deletes: { kind: string; namespace: string; name: string }[] = []): void {
    const next = this.state.clone();
    for (const m of upserts) {
      if (m.kind === 'NodeConfig') this.node = m.object as NodeConfig;
      else next.upsert(m);
    }
    for (const d of deletes) next.delete(d.kind, d.namespace, d.name);
    const res = this.compiler.compile(this.node, next, ++this.version);
    this.fwd.setGeneration(res.gen);
    this.services = res.services;
    this.state = next;
  }

  /** Advance the trace clock (ms): timeouts, affinity expiry. */
  advance(ms: number): void {
    this.clock += ms;
    this.fwd.tick();
  }

  private ingressPort(pkt: TracePacket, srcIp: string): { port: number; from: string } {
    const spec = this.node.spec;
    const from = pkt.from ?? (spec.ports.some((p) => p.role === 'pod' && p.addresses.some((a) => a.text === srcIp)) ? 'pod' : 'external');
    let idx = -1;
    if (from === 'pod') idx = spec.ports.findIndex((p) => p.role === 'pod' && p.addresses.some((a) => a.text === srcIp));
    else if (from.startsWith('pod:')) {
      const [ns, name] = from.slice(4).split('/');
      idx = spec.ports.findIndex((p) => p.role === 'pod' && p.pod !== null && p.pod.namespace === ns && p.pod.name === name);
      if (idx < 0) idx = spec.ports.findIndex((p) => p.role === 'pod' && p.name === from.slice(4));
    } else if (from === 'node') idx = spec.hostPort;
    else if (from === 'external') idx = spec.uplinkPort;
    else if (from.startsWith('port:')) idx = spec.ports.findIndex((p) => p.name === from.slice(5));
    if (idx < 0) throw new TapflowError(`--from "${from}": no such port (pod, pod:NS/NAME, node, external, port:NAME)`, { code: 'INVALID_FIELD', path: 'from' });
    return { port: idx, from };
  }

  trace(pkt: TracePacket): TraceResult {
    const proto = pkt.proto;
    if (!(proto in PROTO_NUM)) throw new TapflowError(`--proto must be tcp, udp, sctp or icmp, got "${proto}"`, { code: 'INVALID_FIELD', path: 'proto' });
    const src = splitHostPort(pkt.src, false, 'src');
    const dst = splitHostPort(pkt.dst, proto !== 'icmp', 'dst');
    if (src.family !== dst.family) throw new TapflowError('src and dst must be the same IP family', { code: 'INVALID_FIELD', path: 'dst' });
    const { port: p, from } = this.ingressPort(pkt, src.ip);
    const gen = this.fwd.gen;
    const srcMac = `02:00:00:00:fe:${p.toString(16).padStart(2, '0')}`;
    const gwMac = Array.from(gen.gatewayMac.subarray(p * 6, p * 6 + 6), (b) => b.toString(16).padStart(2, '0')).join(':');
    // The sender is a known neighbor of its port, so answers to it can be delivered.
    const macBytes = new Uint8Array(srcMac.split(':').map((h) => parseInt(h, 16)));
    if (src.family === 4) this.fwd.neighbors.learn4(p, parseIpv4(src.ip) >>> 0, macBytes, 0, this.clock);
    else this.fwd.neighbors.learn6(p, parseIpv6(src.ip)!, 0, macBytes, 0, this.clock);
    const sport = src.port || 40000;
    const flags = TCP_FLAGS[pkt.flags ?? 'syn'];
    if (proto === 'tcp' && flags === undefined) throw new TapflowError(`--flags must be one of ${Object.keys(TCP_FLAGS).join(', ')}`, { code: 'INVALID_FIELD', path: 'flags' });
    const frame = buildFrame({
      srcMac, dstMac: gwMac,
      ip: { version: src.family, src: src.ip, dst: dst.ip, ttl: pkt.ttl ?? 64, df: true },
      l4: proto === 'icmp'
        ? { proto: src.family === 4 ? 'icmp' : 'icmpv6', type: src.family === 4 ? 8 : 128, code: 0, id: sport, icmpSeq: 1, payload: 'trace' }
        : { proto, sport, dport: dst.port, flags, seq: 1000, ack: flags & 0x10 ? 1 : 0, payload: proto === 'tcp' && !(flags & 0x02) ? 'data' : 'trace' },
    });
    const c = this.fwd.counters;
    const before = { fwd: c.forwarded, del: c.delivered, drop: c.dropped, pend: c.pending };
    const inserted = this.fwd.flows.inserted;
    this.fwd.lastEgress = -1; this.fwd.lastRoute = -1; this.fwd.lastConn = -1; this.fwd.lastFrontend = -1; this.fwd.lastFilterTo = -1;
    for (const port of this.ports) port.drainSent();
    this.ports[p].inject(frame);
    this.fwd.poll(p);
    if (c.pending > before.pend) this.fwd.resolveAllPending(new Uint8Array([0x02, 0, 0, 0, 0xfd, 0x01]));

    const names = this.node.spec.ports.map((x) => x.name);
    let verdict: TraceResult['verdict'] = 'forward';
    let reason = 'forwarded';
    if (c.dropped > before.drop) {
      verdict = c.lastReason === DropReason.ServiceRejected ? 'reject' : 'drop';
      reason = DROP_REASON_NAMES[c.lastReason];
    } else if (c.delivered > before.del) { verdict = 'local'; reason = 'delivered'; }
    // Outgoing frames: the forwarded one (on the egress port) and anything generated.
    let out: TraceResult['out'] = null;
    const generated: string[] = [];
    const info = this.info;
    for (let q = 0; q < this.ports.length; q++) {
      for (const f of this.ports[q].drainSent()) {
        if (parseFrame(f, 0, f.length, info) !== DropReason.None) continue;
        // Neighbor resolution the trace answered itself is not part of the story.
        if (info.ipVersion === 0 || (info.l4Proto === 58 && (info.icmpType === 135 || info.icmpType === 136))) continue;
        const s = info.ipVersion === 4 ? formatIpv4(info.src4) : info.ipVersion === 6 ? formatIpv6(f, info.l3Off + 8) : '';
        const d = info.ipVersion === 4 ? formatIpv4(info.dst4) : info.ipVersion === 6 ? formatIpv6(f, info.l3Off + 24) : '';
        const from = info.srcPort ? hostPort(s, info.srcPort) : s, to = info.dstPort ? hostPort(d, info.dstPort) : d;
        if (verdict === 'forward' && q === this.fwd.lastEgress && out === null) out = { src: from, dst: to, ttl: info.ttl };
        else generated.push(`${names[q]}: ${describeFrame(info)} ${from} → ${to}`);
      }
    }
    // NAT, service and connection from the flow the packet matched or created.
    let dnat: Endpoint | null = null, snat: Endpoint | null = null, conn: TraceResult['conn'] = null;
    const ft = this.fwd.flows;
    if (this.fwd.lastConn >= 0 && verdict !== 'drop' && verdict !== 'reject') {
      const cd = this.fwd.lastConn, cc = cd >> 1, fl = ft.natFlags[cd];
      const fam = ft.family(cc), nk = new Uint32Array(10);
      ft.rewrittenKey(cd, nk);
      const addr = (w: number) => fam === 4 ? formatIpv4(nk[w + 3]) : formatIpv6(words16(nk, w), 0);
      if (fl & NAT_DST) dnat = { ip: addr(4), port: nk[8] & 0xffff };
      if (fl & NAT_SRC) snat = { ip: addr(0), port: nk[8] >>> 16 };
      conn = { direction: (cd & 1) === 0 ? 'original' : 'reply', state: CONN_STATE_NAMES[ft.state[cc]], new: ft.inserted > inserted };
    }
    let service: string | null = null, frontend: string | null = null, endpoints: string[] = [], endpoint: string | null = null;
    const fe = this.fwd.lastFrontend;
    if (fe < 0 && (c.lastReason === DropReason.ServiceRejected || c.lastReason === DropReason.ServiceDropped) && (verdict === 'reject' || verdict === 'drop')) {
      // No frontend matched, yet the service range decided (ClusterIP on a port it lacks, unallocated service IP).
      reason = `${reason}: ${SERVICE_REASON_NAMES[(this.fwd.svcRes as ServiceResult).reason]}`;
    }
    if (fe >= 0) {
      const view = this.services.describe(fe);
      const res = this.fwd.svcRes as ServiceResult;
      if (view) {
        service = view.servicePort; frontend = `${view.kind} ${view.text}`;
        const cand = this.services.candidates(fe, src.ip, gen.role[p]);
        endpoints = (cand ? cand.endpoints : view.clusterEndpoints).map((e) => hostPort(e.address, e.port));
        if (res.backend >= 0) { const b = this.services.backendView(res.backend); endpoint = hostPort(b.address, b.port); }
        if (verdict !== 'forward' && verdict !== 'local' && res.reason !== 0) reason = `${reason}: ${SERVICE_REASON_NAMES[res.reason]}`; // 0 = none: the drop is not the service's
      }
    }
    let security: FilterExplanation | null = null;
    const filters = this.fwd.gen.filters;
    if (filters !== null && this.fwd.lastFilterTo >= 0) {
      const a = this.fwd.lastFilterArgs, q = this.fwd.lastFilterTo;
      security = a[0] === 4
        ? filters.explain4(p, q, a[1], a[2], a[3], a[4], a[5])
        : filters.explain6(p, q, a[1], this.fwd.addr32.slice(0, 16), this.fwd.addr32.slice(16, 32), a[4], a[5]);
      if (verdict === 'drop' && security.reason) reason = `${reason}: ${security.reason}`;
    }
    return {
      security,
      packet: { src: pkt.src, dst: pkt.dst, proto, from },
      verdict, reason,
      ingress: names[p],
      egress: this.fwd.lastEgress >= 0 && verdict === 'forward' ? names[this.fwd.lastEgress] : null,
      route: this.fwd.lastRoute >= 0 ? `${gen.routes.names[this.fwd.lastRoute]} ${gen.routes.prefixes[this.fwd.lastRoute]}` : null,
      dnat, snat, masquerade: snat !== null && dnat !== null,
      service, frontend, endpoints, endpoint, conn, out, generated,
    };
  }
}

function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function words16(w: Uint32Array, o: number): Uint8Array {
  const b = new Uint8Array(16);
  for (let i = 0; i < 4; i++) { const v = w[o + i]; b[i * 4] = v >>> 24; b[i * 4 + 1] = (v >>> 16) & 0xff; b[i * 4 + 2] = (v >>> 8) & 0xff; b[i * 4 + 3] = v & 0xff; }
  return b;
}

function describeFrame(info: FrameInfo): string {
  if (info.ipVersion === 0) return 'arp';
  if (info.l4Proto === 6) return (info.tcpFlags & 0x04) !== 0 ? 'tcp-rst' : 'tcp';
  if (info.l4Proto === 1 || info.l4Proto === 58) return `icmp type ${info.icmpType} code ${info.icmpCode}`;
  return info.l4Proto === 17 ? 'udp' : `proto ${info.l4Proto}`;
}
