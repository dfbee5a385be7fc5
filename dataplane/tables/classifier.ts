/**
 * The filter classifier: Azure NSGs and Kubernetes NetworkPolicies, precompiled into bitset
 * tables, consulted once per new flow (the flow table keeps the verdict, so filtering is
 * stateful: replies of an allowed flow are never classified, and a rule change only affects
 * flows created after the generation swap).
 *
 * Why hand-written on typed arrays. A first packet is classified against up to four NSGs
 * (NIC and subnet, outbound and inbound — up to 1,000 rules each) and two NetworkPolicy rule
 * groups. A rule-by-rule scan costs O(rules) per packet with five field tests each; a generic
 * rule engine allocates. Instead, every field is reduced off the hot path to an equivalence
 * class, and every class to a bitset over all rules ("bit vector" packet classification,
 * Lakshman & Stiliadis 1998):
 *
 *   src address ─ LPM (lpm.ts) ─► class ─► srcRows[class]   (bit r = rule r matches this source)
 *   dst address ─ LPM          ─► class ─► dstRows[class]
 *   protocol    ─ Uint8Array[256]  ─► class ─► protoRows[class]
 *   src port    ─ Int32Array[65537]─► class ─► sportRows[class]   (65536 = "no ports": ICMP, ESP, ...)
 *   dst port    ─ same class table     ─► dportRows[class]
 *
 * Rules are laid out group by group (one group = one NSG direction, or one pod's ingress or
 * egress policy entries), each group word-aligned and sorted by priority, so "first matching
 * rule of group g" = first set bit of (src & dst & proto & sport & dport) over g's words. The
 * five class lookups are done once per flow and shared by all the groups the flow meets. The
 * scan reads the two address rows first (the sparse ones) and skips a word as soon as their
 * AND is zero. Why not a decision tree (HiCuts/HyperCuts): build time and memory depend on
 * how rules overlap and blow up with the wildcard-heavy sets NSGs are (`*` ports, service
 * tags); bitsets build in O(classes × words), linearly, with predictable memory. The choice is
 * measured in scripts/bench-classify.ts (bitset vs a plain rule scan, 10 vs 1,000 rules).
 *
 * Address sets are prefixes minus exceptions (`Internet` = everything minus VirtualNetwork,
 * ipBlock = cidr minus except). With every prefix of the rule set (and 0/0) in one LPM, the
 * class of an address is its longest matching prefix P, and "address ∈ Q" ⇔ Q ⊇ P for every
 * prefix Q of the set — so a row is its parent prefix's row plus the rules naming P, minus
 * the rules excepting an ancestor-or-self of P.
 *
 * Off the hot path, `explain4/6` re-evaluates a flow rule by rule from the spec (no bitsets)
 * and reports every step; tests compare it with classify on random flows.
 */
import { formatIpv6 } from '../wire/address';
import { Lpm4, Lpm6 } from './lpm';

// ─── The spec (built by control/compile/classifier.ts) ───────────────────────────────────────

export interface Prefix4 {
  /** u32, host bits ignored. */
  addr: number;
  len: number;
}
export interface Prefix6 {
  addr: Uint8Array;
  len: number;
}

/** (any, or in one of the prefixes) and in none of the exceptions; per family. */
export interface AddrSpec {
  any4: boolean;
  any6: boolean;
  v4: Prefix4[];
  v6: Prefix6[];
  except4: Prefix4[];
  except6: Prefix6[];
}

export interface PortRangeSpec {
  from: number;
  to: number;
}

export interface RuleSpec {
  /** Id into describeRule()/ruleHits: the NSG rule, or the NetworkPolicy this entry comes from. */
  id: number;
  allow: boolean;
  src: AddrSpec;
  dst: AddrSpec;
  /** IP protocol numbers; null = every protocol. */
  protos: number[] | null;
  /** null = any port, and also matches protocols without ports; a list matches TCP/UDP/SCTP only. */
  sports: PortRangeSpec[] | null;
  dports: PortRangeSpec[] | null;
  /** For explain: what this entry is ("ingress rule 0, from app=web, 80/TCP"). */
  note: string;
}

export interface GroupSpec {
  kind: 'nsg' | 'policy';
  /** "nsg1 Inbound", "policy ingress of default/web-0". */
  label: string;
  /** In evaluation order (NSG: by priority). */
  rules: RuleSpec[];
}

export interface PortFilterSpec {
  name: string;
  /** Uplink = outside: never evaluated as a source or destination NIC/pod. */
  role: 'uplink' | 'host' | 'pod';
  /** Index of the NIC the port maps to (-1 none); two ports with one NIC don't filter between them. */
  nic: number;
  nicLabel: string | null;
  subnetLabel: string | null;
  /** Group ids, -1 = no NSG there. */
  nsgOutNic: number;
  nsgOutSubnet: number;
  nsgInSubnet: number;
  nsgInNic: number;
  /** Pod "ns/name" for NetworkPolicy, null when the port has no known pod. */
  pod: string | null;
  /** Group ids of the pod's policy entries, -1 = not isolated in that direction. */
  policyEgress: number;
  policyIngress: number;
}

export interface RuleDescription {
  kind: 'nsg' | 'network-policy';
  /** NSG name (kind nsg). */
  nsg?: string;
  /** Rule name, or the policy's name. */
  name: string;
  priority?: number;
  direction?: string;
  access?: string;
  /** True for Azure's default rules. */
  isDefault?: boolean;
  /** "namespace/name" (kind network-policy). */
  policy?: string;
}

export interface FilterSpec {
  groups: GroupSpec[];
  ports: PortFilterSpec[];
  /** By rule id. */
  rules: RuleDescription[];
}

// ─── Results ─────────────────────────────────────────────────────────────────────────────────

/** Why a flow was allowed or denied (FilterResult.reasonCode). Append only. */
export const FilterReason = {
  ALLOWED: 0,
  /** An NSG on the source side (NIC or subnet, outbound) denied it: see nsgRule. */
  NSG_OUTBOUND_DENY: 1,
  /** An NSG on the destination side (subnet or NIC, inbound) denied it: see nsgRule. */
  NSG_INBOUND_DENY: 2,
  /** The source pod is isolated for egress and no policy allows the flow. */
  POLICY_EGRESS_DENY: 3,
  /** The destination pod is isolated for ingress and no policy allows the flow. */
  POLICY_INGRESS_DENY: 4,
} as const;
export const FILTER_REASON_NAMES: readonly string[] = ['allowed', 'nsg-outbound-deny', 'nsg-inbound-deny', 'policy-egress-deny', 'policy-ingress-deny'];

/** NSG stages in evaluation order (index into FilterResult.nsgSteps). */
export const NSG_STAGES: readonly string[] = ['nsg-outbound-nic', 'nsg-outbound-subnet', 'nsg-inbound-subnet', 'nsg-inbound-nic'];

/** Filled by classify (reused; no allocation per flow). */
export class FilterResult {
  allowed = true;
  /** numeric ids into table.describeRule(): the deciding NSG rule / policy, -1 = none matched */
  nsgRule = -1;
  /** nsgRule is one of Azure's default rules. */
  nsgDefault = false;
  /** The policy that allowed the flow (ingress side first, else egress), -1 = none. */
  policy = -1;
  reasonCode = 0;
  /** Rule id decided by each NSG stage (NSG_STAGES order), -1 = stage not evaluated (flow logs). */
  readonly nsgSteps = new Int32Array(4);
  /** Policy ids that allowed the egress / ingress side, -1 = not isolated there (or denied). */
  egressPolicy = -1;
  ingressPolicy = -1;
}

export interface FilterStep {
  stage: 'nsg-outbound-nic' | 'nsg-outbound-subnet' | 'nsg-inbound-subnet' | 'nsg-inbound-nic' | 'policy-egress' | 'policy-ingress';
  /** What was evaluated: "NIC nic1 (NSG nsg1)", "pod default/web-0". */
  subject: string;
  verdict: 'allow' | 'deny' | 'skip';
  /** The deciding rule id, -1 when none. */
  rule: number;
  /** describeRule(rule) when rule ≥ 0. */
  ruleInfo?: RuleDescription;
  detail: string;
}

export interface FilterExplanation {
  allowed: boolean;
  reasonCode: number;
  reason: string;
  steps: FilterStep[];
}

// ─── Build helpers ───────────────────────────────────────────────────────────────────────────

const PORTLESS = 65536;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_SCTP = 132;

function mask4(addr: number, len: number): number {
  return len === 0 ? 0 : (addr & (0xffffffff << (32 - len))) >>> 0;
}

function mask6(addr: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const bits = Math.min(8, Math.max(0, len - 8 * i));
    out[i] = addr[i] & ((0xff00 >> bits) & 0xff);
  }
  return out;
}

function key6(addr: Uint8Array, len: number): string {
  let s = `${len}:`;
  for (let i = 0; i < 16; i++) s += addr[i].toString(16).padStart(2, '0');
  return s;
}

/** The prefix universe of one family: classes = distinct prefixes (0/0 always present), with parents. */
interface Universe {
  count: number;
  parent: Int32Array;
  /** Classes sorted by prefix length (parents before children). */
  order: number[];
  children: number[][];
}

function buildUniverse(lens: number[], parentOf: (c: number) => number): Universe {
  const count = lens.length;
  const order = lens.map((_, i) => i).sort((a, b) => lens[a] - lens[b] || a - b);
  const parent = new Int32Array(count).fill(-1);
  const children: number[][] = lens.map(() => []);
  for (const c of order) {
    const p = parentOf(c);
    parent[c] = p;
    if (p >= 0) children[p].push(c);
  }
  return { count, parent, order, children };
}

/** Rows for one address field: row(c) = row(parent) | own(c); then exceptions cleared per subtree. */
function buildAddrRows(u: Universe, W: number, own: number[][], any: number[], except: number[][]): Int32Array {
  const rows = new Int32Array(u.count * W);
  for (const c of u.order) {
    const base = c * W;
    const p = u.parent[c];
    if (p >= 0) rows.copyWithin(base, p * W, p * W + W);
    else for (const b of any) rows[base + (b >>> 5)] |= 1 << (b & 31);
    for (const b of own[c]) rows[base + (b >>> 5)] |= 1 << (b & 31);
  }
  for (let e = 0; e < u.count; e++) {
    if (except[e].length === 0) continue;
    const stack = [e];
    while (stack.length > 0) {
      const c = stack.pop() as number;
      const base = c * W;
      for (const b of except[e]) rows[base + (b >>> 5)] &= ~(1 << (b & 31));
      for (const ch of u.children[c]) stack.push(ch);
    }
  }
  return rows;
}

// ─── The table ───────────────────────────────────────────────────────────────────────────────

export class FilterTable {
  /** Per rule id, incremented by classify (every NSG stage's deciding rule, every allowing policy). */
  readonly ruleHits: Float64Array;
  /** Words per row (32 rules per word, over all groups). */
  readonly words: number;
  /** Rule bits in the universe (groups word-aligned). */
  readonly bits: number;

  private readonly spec: FilterSpec;
  private readonly lpm4: Lpm4;
  private readonly lpm6: Lpm6;
  private readonly src4: Int32Array;
  private readonly dst4: Int32Array;
  private readonly src6: Int32Array;
  private readonly dst6: Int32Array;
  private readonly protoClass: Uint8Array;
  private readonly protoRows: Int32Array;
  private readonly portClass: Int32Array;
  private readonly sportRows: Int32Array;
  private readonly dportRows: Int32Array;
  /** Per group: first word, end word. */
  private readonly groupW0: Int32Array;
  private readonly groupW1: Int32Array;
  /** Per bit: rule id, allow (1) / deny (0), default NSG rule flag. */
  private readonly bitRule: Int32Array;
  private readonly bitAllow: Uint8Array;
  private readonly bitDefault: Uint8Array;
  /** Per port: [outNic, outSubnet, inSubnet, inNic] groups. */
  private readonly portNsg: Int32Array;
  private readonly portNic: Int32Array;
  /** Per port: [egress, ingress] policy groups. */
  private readonly portPolicy: Int32Array;
  /** Per port: 1 = local (host or pod), 2 = host. */
  private readonly portFlags: Uint8Array;
  private readonly portCount: number;

  private constructor(spec: FilterSpec) {
    this.spec = spec;
    const groups = spec.groups;
    // Bit layout: groups one after the other, each starting on a word boundary.
    this.groupW0 = new Int32Array(groups.length);
    this.groupW1 = new Int32Array(groups.length);
    const ruleAt: RuleSpec[] = [];
    let bit = 0;
    groups.forEach((g, gi) => {
      bit = (bit + 31) & ~31;
      this.groupW0[gi] = bit >>> 5;
      for (const r of g.rules) {
        while (ruleAt.length < bit) ruleAt.push(NEVER);
        ruleAt[bit] = r;
        bit++;
      }
      this.groupW1[gi] = (bit + 31) >>> 5;
    });
    const nbits = (bit + 31) & ~31;
    while (ruleAt.length < nbits) ruleAt.push(NEVER);
    const W = Math.max(1, nbits >>> 5);
    this.words = W;
    this.bits = nbits;
    this.bitRule = new Int32Array(nbits).fill(-1);
    this.bitAllow = new Uint8Array(nbits);
    this.bitDefault = new Uint8Array(nbits);
    ruleAt.forEach((r, b) => {
      this.bitRule[b] = r.id;
      this.bitAllow[b] = r.allow ? 1 : 0;
      this.bitDefault[b] = r.id >= 0 && spec.rules[r.id]?.isDefault === true ? 1 : 0;
    });
    this.ruleHits = new Float64Array(spec.rules.length);

    // ── addresses, IPv4
    const idx4 = new Map<number, number>(); // key: len * 2^32 + addr
    const p4: Prefix4[] = [];
    const add4 = (p: Prefix4): number => {
      const a = mask4(p.addr, p.len);
      const key = p.len * 0x100000000 + a;
      let c = idx4.get(key);
      if (c === undefined) {
        c = p4.length;
        idx4.set(key, c);
        p4.push({ addr: a, len: p.len });
      }
      return c;
    };
    add4({ addr: 0, len: 0 });
    const idx6 = new Map<string, number>();
    const p6: Prefix6[] = [];
    const add6 = (p: Prefix6): number => {
      const a = mask6(p.addr, p.len);
      const key = key6(a, p.len);
      let c = idx6.get(key);
      if (c === undefined) {
        c = p6.length;
        idx6.set(key, c);
        p6.push({ addr: a, len: p.len });
      }
      return c;
    };
    add6({ addr: new Uint8Array(16), len: 0 });
    for (const r of ruleAt) {
      for (const a of [r.src, r.dst]) {
        for (const p of a.v4) add4(p);
        for (const p of a.except4) add4(p);
        for (const p of a.v6) add6(p);
        for (const p of a.except6) add6(p);
      }
    }
    const u4 = buildUniverse(p4.map((p) => p.len), (c) => {
      const { addr, len } = p4[c];
      for (let l = len - 1; l >= 0; l--) {
        const pc = idx4.get(l * 0x100000000 + mask4(addr, l));
        if (pc !== undefined) return pc;
      }
      return -1;
    });
    const u6 = buildUniverse(p6.map((p) => p.len), (c) => {
      const { addr, len } = p6[c];
      for (let l = len - 1; l >= 0; l--) {
        const pc = idx6.get(key6(mask6(addr, l), l));
        if (pc !== undefined) return pc;
      }
      return -1;
    });
    const rows = (fam: 4 | 6, field: 'src' | 'dst'): Int32Array => {
      const u = fam === 4 ? u4 : u6;
      const own: number[][] = Array.from({ length: u.count }, () => []);
      const except: number[][] = Array.from({ length: u.count }, () => []);
      const any: number[] = [];
      ruleAt.forEach((r, b) => {
        if (r === NEVER) return;
        const a = r[field];
        if (fam === 4) {
          if (a.any4) any.push(b);
          for (const p of a.v4) own[add4(p)].push(b);
          for (const p of a.except4) except[add4(p)].push(b);
        } else {
          if (a.any6) any.push(b);
          for (const p of a.v6) own[add6(p)].push(b);
          for (const p of a.except6) except[add6(p)].push(b);
        }
      });
      return buildAddrRows(u, W, own, any, except);
    };
    this.src4 = rows(4, 'src');
    this.dst4 = rows(4, 'dst');
    this.src6 = rows(6, 'src');
    this.dst6 = rows(6, 'dst');
    this.lpm4 = Lpm4.build(p4.map((p, i) => ({ addr: p.addr, len: p.len, value: i })));
    this.lpm6 = Lpm6.build(p6.map((p, i) => ({ addr: p.addr, len: p.len, value: i })));

    // ── protocol: class 0 = protocols no rule names
    const protoList: number[] = [];
    for (const r of ruleAt) for (const p of r.protos ?? []) if (!protoList.includes(p & 255)) protoList.push(p & 255);
    this.protoClass = new Uint8Array(256);
    protoList.forEach((p, i) => (this.protoClass[p] = i + 1));
    this.protoRows = new Int32Array((protoList.length + 1) * W);
    ruleAt.forEach((r, b) => {
      if (r === NEVER) return;
      for (let c = 0; c <= protoList.length; c++) {
        if (r.protos === null || (c > 0 && r.protos.includes(protoList[c - 1]))) this.protoRows[c * W + (b >>> 5)] |= 1 << (b & 31);
      }
    });

    // ── ports: elementary intervals over every range boundary; one extra class for "no ports"
    const cuts = new Set<number>([0, 65536]);
    for (const r of ruleAt) {
      for (const list of [r.sports, r.dports]) for (const x of list ?? []) {
        cuts.add(x.from);
        cuts.add(x.to + 1);
      }
    }
    const bounds = [...cuts].sort((a, b) => a - b); // interval i = [bounds[i], bounds[i+1])
    const nIntervals = bounds.length - 1;
    this.portClass = new Int32Array(65537);
    for (let i = 0; i < nIntervals; i++) this.portClass.fill(i, bounds[i], bounds[i + 1]);
    this.portClass[PORTLESS] = nIntervals;
    const portRows = (field: 'sports' | 'dports'): Int32Array => {
      const out = new Int32Array((nIntervals + 1) * W);
      ruleAt.forEach((r, b) => {
        if (r === NEVER) return;
        const word = b >>> 5;
        const m = 1 << (b & 31);
        const list = r[field];
        if (list === null) {
          for (let c = 0; c <= nIntervals; c++) out[c * W + word] |= m;
          return;
        }
        for (const x of list) {
          for (let c = this.portClass[x.from]; c < nIntervals && bounds[c] <= x.to; c++) out[c * W + word] |= m;
        }
      });
      return out;
    };
    this.sportRows = portRows('sports');
    this.dportRows = portRows('dports');

    // ── ports of the node
    const n = spec.ports.length;
    this.portCount = n;
    this.portNsg = new Int32Array(n * 4).fill(-1);
    this.portNic = new Int32Array(n).fill(-1);
    this.portPolicy = new Int32Array(n * 2).fill(-1);
    this.portFlags = new Uint8Array(n);
    spec.ports.forEach((p, i) => {
      this.portNsg[i * 4] = p.nsgOutNic;
      this.portNsg[i * 4 + 1] = p.nsgOutSubnet;
      this.portNsg[i * 4 + 2] = p.nsgInSubnet;
      this.portNsg[i * 4 + 3] = p.nsgInNic;
      this.portNic[i] = p.nic;
      this.portPolicy[i * 2] = p.policyEgress;
      this.portPolicy[i * 2 + 1] = p.policyIngress;
      this.portFlags[i] = (p.role !== 'uplink' ? 1 : 0) | (p.role === 'host' ? 2 : 0);
    });
  }

  /** Compile a spec into the lookup tables (off the hot path). */
  static build(spec: FilterSpec): FilterTable {
    return new FilterTable(spec);
  }

  /** Bytes held by the lookup tables. */
  get byteLength(): number {
    return this.lpm4.byteLength + this.lpm6.byteLength + this.src4.byteLength + this.dst4.byteLength + this.src6.byteLength +
      this.dst6.byteLength + this.protoRows.byteLength + this.portClass.byteLength + this.sportRows.byteLength + this.dportRows.byteLength;
  }

  get ruleCount(): number {
    return this.spec.rules.length;
  }

  describeRule(id: number): RuleDescription {
    const d = this.spec.rules[id];
    if (d === undefined) throw new RangeError(`no rule ${id}`);
    return d;
  }

  /** The spec the table was built from (explain, tests, tooling). */
  get source(): FilterSpec {
    return this.spec;
  }

  // ── hot path ────────────────────────────────────────────────────────────────────────────

  /**
   * Classify the first packet of an IPv4 flow from port `fromPort` to port `toPort` (addresses
   * post-DNAT, u32). Fills `out`, returns out.allowed. No allocation.
   */
  classify4(fromPort: number, toPort: number, proto: number, src: number, dst: number, sport: number, dport: number, out: FilterResult): boolean {
    const W = this.words;
    const sc = this.lpm4.lookup(src);
    const dc = this.lpm4.lookup(dst);
    return this.decide(fromPort, toPort, proto, sport, dport, this.src4, this.dst4, sc * W, dc * W, out);
  }

  /** classify4 for IPv6: the 16-byte addresses are read at buf[srcOff..] and buf[dstOff..]. */
  classify6(fromPort: number, toPort: number, proto: number, buf: Uint8Array, srcOff: number, dstOff: number, sport: number, dport: number, out: FilterResult): boolean {
    const W = this.words;
    const sc = this.lpm6.lookup(buf, srcOff);
    const dc = this.lpm6.lookup(buf, dstOff);
    return this.decide(fromPort, toPort, proto, sport, dport, this.src6, this.dst6, sc * W, dc * W, out);
  }

  private decide(fromPort: number, toPort: number, proto: number, sport: number, dport: number, S: Int32Array, D: Int32Array, sr: number, dr: number, out: FilterResult): boolean {
    const W = this.words;
    const hasPorts = proto === PROTO_TCP || proto === PROTO_UDP || proto === PROTO_SCTP;
    const pr = this.protoClass[proto & 255] * W;
    const spr = this.portClass[hasPorts ? sport & 0xffff : PORTLESS] * W;
    const dpr = this.portClass[hasPorts ? dport & 0xffff : PORTLESS] * W;
    const n = this.portCount;
    const fromLocal = fromPort >= 0 && fromPort < n && (this.portFlags[fromPort] & 1) !== 0;
    const toLocal = toPort >= 0 && toPort < n && (this.portFlags[toPort] & 1) !== 0;
    const steps = out.nsgSteps;
    steps[0] = -1;
    steps[1] = -1;
    steps[2] = -1;
    steps[3] = -1;
    out.allowed = true;
    out.nsgRule = -1;
    out.nsgDefault = false;
    out.policy = -1;
    out.egressPolicy = -1;
    out.ingressPolicy = -1;
    out.reasonCode = 0;
    const hits = this.ruleHits;
    const bitRule = this.bitRule;

    // NSGs: skipped between two ports of one NIC (the traffic never leaves the VM).
    const fromNic = fromLocal ? this.portNic[fromPort] : -1;
    const toNic = toLocal ? this.portNic[toPort] : -1;
    if (fromNic < 0 || fromNic !== toNic) {
      for (let k = 0; k < 4; k++) {
        const port = k < 2 ? (fromLocal ? fromPort : -1) : toLocal ? toPort : -1;
        if (port < 0) continue;
        const g = this.portNsg[port * 4 + k];
        if (g < 0) continue;
        const b = this.firstMatch(g, S, D, sr, dr, pr, spr, dpr);
        if (b < 0) {
          // No rule matched (default rules given without a deny-all): Azure denies.
          steps[k] = -1;
          out.allowed = false;
          out.nsgRule = -1;
          out.reasonCode = k < 2 ? FilterReason.NSG_OUTBOUND_DENY : FilterReason.NSG_INBOUND_DENY;
          return false;
        }
        const id = bitRule[b];
        steps[k] = id;
        hits[id]++;
        out.nsgRule = id;
        out.nsgDefault = this.bitDefault[b] === 1;
        if (this.bitAllow[b] === 0) {
          out.allowed = false;
          out.reasonCode = k < 2 ? FilterReason.NSG_OUTBOUND_DENY : FilterReason.NSG_INBOUND_DENY;
          return false;
        }
      }
    }

    // NetworkPolicy: traffic between a pod and its own node (host port) is always allowed.
    if (fromLocal && (toPort < 0 || toPort >= n || (this.portFlags[toPort] & 2) === 0)) {
      const g = this.portPolicy[fromPort * 2];
      if (g >= 0) {
        const b = this.firstMatch(g, S, D, sr, dr, pr, spr, dpr);
        if (b < 0) {
          out.allowed = false;
          out.reasonCode = FilterReason.POLICY_EGRESS_DENY;
          return false;
        }
        const id = bitRule[b];
        hits[id]++;
        out.egressPolicy = id;
        out.policy = id;
      }
    }
    if (toLocal && (fromPort < 0 || fromPort >= n || (this.portFlags[fromPort] & 2) === 0)) {
      const g = this.portPolicy[toPort * 2 + 1];
      if (g >= 0) {
        const b = this.firstMatch(g, S, D, sr, dr, pr, spr, dpr);
        if (b < 0) {
          out.allowed = false;
          out.reasonCode = FilterReason.POLICY_INGRESS_DENY;
          out.policy = -1;
          return false;
        }
        const id = bitRule[b];
        hits[id]++;
        out.ingressPolicy = id;
        out.policy = id;
      }
    }
    return true;
  }

  /** First rule bit of group g matching all five rows, or -1. */
  private firstMatch(g: number, S: Int32Array, D: Int32Array, sr: number, dr: number, pr: number, spr: number, dpr: number): number {
    const P = this.protoRows;
    const SP = this.sportRows;
    const DP = this.dportRows;
    const w1 = this.groupW1[g];
    for (let w = this.groupW0[g]; w < w1; w++) {
      let m = S[sr + w] & D[dr + w];
      if (m === 0) continue;
      m &= P[pr + w] & SP[spr + w] & DP[dpr + w];
      if (m !== 0) return (w << 5) + (31 - Math.clz32(m & -m));
    }
    return -1;
  }

  // ── explain (off the hot path) ──────────────────────────────────────────────────────────

  /** Every step of the decision for an IPv4 flow, evaluated rule by rule from the spec. */
  explain4(fromPort: number, toPort: number, proto: number, src: number, dst: number, sport: number, dport: number): FilterExplanation {
    return this.explain(fromPort, toPort, proto, sport, dport, (a, which) => addrIn4(a, which === 'src' ? src : dst));
  }

  /** explain4 for IPv6 (16-byte addresses). */
  explain6(fromPort: number, toPort: number, proto: number, src: Uint8Array, dst: Uint8Array, sport: number, dport: number): FilterExplanation {
    return this.explain(fromPort, toPort, proto, sport, dport, (a, which) => addrIn6(a, which === 'src' ? src : dst));
  }

  private explain(fromPort: number, toPort: number, proto: number, sport: number, dport: number, inAddr: (a: AddrSpec, which: 'src' | 'dst') => boolean): FilterExplanation {
    const steps: FilterStep[] = [];
    const ports = this.spec.ports;
    const from = ports[fromPort];
    const to = ports[toPort];
    const fromLocal = from !== undefined && from.role !== 'uplink';
    const toLocal = to !== undefined && to.role !== 'uplink';
    const hasPorts = proto === PROTO_TCP || proto === PROTO_UDP || proto === PROTO_SCTP;
    const matches = (r: RuleSpec): boolean =>
      r !== NEVER && inAddr(r.src, 'src') && inAddr(r.dst, 'dst') && (r.protos === null || r.protos.includes(proto)) &&
      portIn(r.sports, hasPorts, sport) && portIn(r.dports, hasPorts, dport);
    const first = (g: number): RuleSpec | null => {
      for (const r of this.spec.groups[g].rules) if (matches(r)) return r;
      return null;
    };
    const done = (allowed: boolean, reasonCode: number): FilterExplanation => ({ allowed, reasonCode, reason: FILTER_REASON_NAMES[reasonCode], steps });
    const info = (id: number): RuleDescription | undefined => this.spec.rules[id];

    const stageNames = NSG_STAGES as FilterStep['stage'][];
    const sameNic = fromLocal && toLocal && from.nic >= 0 && from.nic === to.nic;
    for (let k = 0; k < 4; k++) {
      const side = k < 2 ? from : to;
      const local = k < 2 ? fromLocal : toLocal;
      const stage = stageNames[k];
      const where = k === 0 || k === 3 ? 'NIC' : 'subnet';
      const label = where === 'NIC' ? side?.nicLabel : side?.subnetLabel;
      if (!local) {
        steps.push({ stage, subject: side === undefined ? `port ${k < 2 ? fromPort : toPort}` : `port ${side.name}`, verdict: 'skip', rule: -1, detail: `${k < 2 ? 'source' : 'destination'} is outside the node (uplink): no ${k < 2 ? 'outbound' : 'inbound'} NSG here` });
        continue;
      }
      if (sameNic) {
        steps.push({ stage, subject: `NIC ${side.nicLabel}`, verdict: 'skip', rule: -1, detail: 'source and destination are on the same NIC: the traffic does not leave the VM, NSGs do not apply' });
        continue;
      }
      const g = k === 0 ? side.nsgOutNic : k === 1 ? side.nsgOutSubnet : k === 2 ? side.nsgInSubnet : side.nsgInNic;
      if (side.nic < 0) {
        steps.push({ stage, subject: `port ${side.name}`, verdict: 'skip', rule: -1, detail: `no Azure NIC has an address of port ${side.name}: no NSG → allow` });
        continue;
      }
      if (g < 0) {
        steps.push({ stage, subject: `${where} ${label ?? '(none)'}`, verdict: 'allow', rule: -1, detail: `${where} ${label ?? ''} has no NSG → allow`.replace('  ', ' ') });
        continue;
      }
      const grp = this.spec.groups[g];
      const r = first(g);
      if (r === null) {
        steps.push({ stage, subject: `${where} ${label} (${grp.label})`, verdict: 'deny', rule: -1, detail: `no rule of ${grp.label} matches → deny` });
        return done(false, k < 2 ? FilterReason.NSG_OUTBOUND_DENY : FilterReason.NSG_INBOUND_DENY);
      }
      const d = info(r.id);
      const verdict = r.allow ? 'allow' : 'deny';
      steps.push({ stage, subject: `${where} ${label} (${grp.label})`, verdict, rule: r.id, ...(d !== undefined ? { ruleInfo: d } : {}), detail: `rule ${d?.name} (priority ${d?.priority}${d?.isDefault === true ? ', default rule' : ''}) → ${verdict}` });
      if (!r.allow) return done(false, k < 2 ? FilterReason.NSG_OUTBOUND_DENY : FilterReason.NSG_INBOUND_DENY);
    }

    const policyStep = (stage: 'policy-egress' | 'policy-ingress', side: PortFilterSpec | undefined, local: boolean, other: PortFilterSpec | undefined): boolean => {
      if (!local || side === undefined) {
        steps.push({ stage, subject: side === undefined ? 'outside' : `port ${side.name}`, verdict: 'skip', rule: -1, detail: `${stage === 'policy-egress' ? 'source' : 'destination'} is not a local pod` });
        return true;
      }
      if (side.pod === null) {
        steps.push({ stage, subject: `port ${side.name}`, verdict: 'skip', rule: -1, detail: `port ${side.name} has no known pod: NetworkPolicy does not apply` });
        return true;
      }
      if (other !== undefined && other.role === 'host') {
        steps.push({ stage, subject: `pod ${side.pod}`, verdict: 'allow', rule: -1, detail: 'traffic between a pod and its own node is always allowed' });
        return true;
      }
      const g = stage === 'policy-egress' ? side.policyEgress : side.policyIngress;
      const dir = stage === 'policy-egress' ? 'egress' : 'ingress';
      if (g < 0) {
        steps.push({ stage, subject: `pod ${side.pod}`, verdict: 'allow', rule: -1, detail: `no NetworkPolicy selects pod ${side.pod} for ${dir}: not isolated → allow` });
        return true;
      }
      const r = first(g);
      if (r === null) {
        steps.push({ stage, subject: `pod ${side.pod}`, verdict: 'deny', rule: -1, detail: `pod ${side.pod} is isolated for ${dir} and no policy allows this flow → deny (default deny by isolation)` });
        return false;
      }
      const d = info(r.id);
      steps.push({ stage, subject: `pod ${side.pod}`, verdict: 'allow', rule: r.id, ...(d !== undefined ? { ruleInfo: d } : {}), detail: `allowed by ${d?.policy} (${r.note})` });
      return true;
    };
    if (!policyStep('policy-egress', from, fromLocal, to)) return done(false, FilterReason.POLICY_EGRESS_DENY);
    if (!policyStep('policy-ingress', to, toLocal, from)) return done(false, FilterReason.POLICY_INGRESS_DENY);
    return done(true, FilterReason.ALLOWED);
  }
}

/** Filler for the padding bits between groups: matches nothing. */
const NEVER: RuleSpec = {
  id: -1,
  allow: false,
  src: { any4: false, any6: false, v4: [], v6: [], except4: [], except6: [] },
  dst: { any4: false, any6: false, v4: [], v6: [], except4: [], except6: [] },
  protos: [],
  sports: [],
  dports: [],
  note: '',
};

// ─── Reference matching (explain, tests) ─────────────────────────────────────────────────────

function in4(p: Prefix4, a: number): boolean {
  return mask4(a >>> 0, p.len) === mask4(p.addr, p.len);
}

function in6(p: Prefix6, a: Uint8Array): boolean {
  const m = mask6(a, p.len);
  const n = mask6(p.addr, p.len);
  for (let i = 0; i < 16; i++) if (m[i] !== n[i]) return false;
  return true;
}

export function addrIn4(s: AddrSpec, a: number): boolean {
  if (!(s.any4 || s.v4.some((p) => in4(p, a)))) return false;
  return !s.except4.some((p) => in4(p, a));
}

export function addrIn6(s: AddrSpec, a: Uint8Array): boolean {
  if (!(s.any6 || s.v6.some((p) => in6(p, a)))) return false;
  return !s.except6.some((p) => in6(p, a));
}

function portIn(list: PortRangeSpec[] | null, hasPorts: boolean, port: number): boolean {
  if (list === null) return true;
  if (!hasPorts) return false;
  return list.some((x) => port >= x.from && port <= x.to);
}

// ─── NSG flow logs ─────────────────────────────────────────────────────────────────────────

/** One NSG flow-log record (one per NSG evaluated for a new flow). */
export interface FlowLogRecord {
  /** ISO 8601. */
  time: string;
  nsg: string;
  rule: string;
  srcIp: string;
  dstIp: string;
  srcPort: number;
  dstPort: number;
  /** As in Azure flow tuples: "T" (TCP), "U" (UDP), otherwise the protocol number. */
  protocol: string;
  /** "I" inbound, "O" outbound. */
  direction: 'I' | 'O';
  /** "A" allowed, "D" denied. */
  decision: 'A' | 'D';
}

/**
 * Writes NSG flow-log records as JSON lines: one line per NSG stage a new flow went through
 * (FilterResult.nsgSteps). Off the hot path by choice of the caller (it formats strings).
 */
export class FlowLogWriter {
  constructor(private readonly sink: (line: string) => void, private readonly clock: () => number = Date.now) {}

  record4(table: FilterTable, res: FilterResult, proto: number, src: number, dst: number, sport: number, dport: number): number {
    return this.emit(table, res, proto, fmt4(src), fmt4(dst), sport, dport);
  }

  record6(table: FilterTable, res: FilterResult, proto: number, buf: Uint8Array, srcOff: number, dstOff: number, sport: number, dport: number): number {
    return this.emit(table, res, proto, formatIpv6(buf, srcOff), formatIpv6(buf, dstOff), sport, dport);
  }

  /** The records (not written) for one result; for tests and tooling. */
  records(table: FilterTable, res: FilterResult, proto: number, srcIp: string, dstIp: string, sport: number, dport: number): FlowLogRecord[] {
    const out: FlowLogRecord[] = [];
    const time = new Date(this.clock()).toISOString();
    for (let k = 0; k < 4; k++) {
      const id = res.nsgSteps[k];
      if (id < 0) continue;
      const d = table.describeRule(id);
      out.push({
        time,
        nsg: d.nsg ?? '',
        rule: d.name,
        srcIp,
        dstIp,
        srcPort: sport,
        dstPort: dport,
        protocol: proto === PROTO_TCP ? 'T' : proto === PROTO_UDP ? 'U' : String(proto),
        direction: k < 2 ? 'O' : 'I',
        decision: d.access === 'Allow' ? 'A' : 'D',
      });
    }
    return out;
  }

  private emit(table: FilterTable, res: FilterResult, proto: number, srcIp: string, dstIp: string, sport: number, dport: number): number {
    const recs = this.records(table, res, proto, srcIp, dstIp, sport, dport);
    for (const r of recs) this.sink(JSON.stringify(r));
    return recs.length;
  }
}

function fmt4(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

