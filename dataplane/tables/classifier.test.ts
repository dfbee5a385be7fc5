/**
 * FilterTable: the bitset classifier against the rule-by-rule reference (explain) on random
 * specs and random flows (IPv4 and IPv6), plus the edges a bitset layout can get wrong:
 * prefix exceptions over nested prefixes, port-range boundaries, portless protocols, groups
 * spanning several words, first match by order, ports of one NIC, the node exemption.
 */
import t from 'tap';
import { AddrSpec, FilterResult, FilterSpec, FilterTable, GroupSpec, PortFilterSpec, RuleDescription, RuleSpec, addrIn4 } from './classifier';

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const none = (): AddrSpec => ({ any4: false, any6: false, v4: [], v6: [], except4: [], except6: [] });
const any = (): AddrSpec => ({ any4: true, any6: true, v4: [], v6: [], except4: [], except6: [] });
const v4 = (s: string): { addr: number; len: number } => {
  const [a, l] = s.split('/');
  return { addr: a.split('.').reduce((x, y) => x * 256 + Number(y), 0) >>> 0, len: Number(l ?? 32) };
};
const ip4 = (s: string): number => v4(s).addr;

function port(name: string, role: PortFilterSpec['role'], o: Partial<PortFilterSpec> = {}): PortFilterSpec {
  return { name, role, nic: -1, nicLabel: null, subnetLabel: null, nsgOutNic: -1, nsgOutSubnet: -1, nsgInSubnet: -1, nsgInNic: -1, pod: null, policyEgress: -1, policyIngress: -1, ...o };
}

function desc(n: number): RuleDescription[] {
  return Array.from({ length: n }, (_, i) => ({ kind: 'nsg', nsg: 'n', name: `r${i}`, priority: 100 + i, direction: 'Inbound', access: 'Allow' }));
}

function rule(id: number, allow: boolean, o: Partial<RuleSpec> = {}): RuleSpec {
  return { id, allow, src: any(), dst: any(), protos: null, sports: null, dports: null, note: `r${id}`, ...o };
}

// ─── Random specs vs the reference ───────────────────────────────────────────────────────────

const POOL4 = ['0.0.0.0/0', '10.0.0.0/8', '10.1.0.0/16', '10.1.2.0/24', '10.1.2.128/25', '10.1.2.130/32', '10.2.0.0/16', '192.168.0.0/16', '192.168.1.0/24', '203.0.113.0/24', '203.0.113.7/32'];
const PORTS = [0, 1, 21, 22, 23, 52, 53, 54, 79, 80, 81, 443, 1024, 8079, 8080, 8081, 65534, 65535];

function v6(hex: string, len: number): { addr: Uint8Array; len: number } {
  const b = new Uint8Array(16);
  const h = hex.padEnd(32, '0');
  for (let i = 0; i < 16; i++) b[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return { addr: b, len };
}
const POOL6 = [v6('', 0), v6('fd00', 16), v6('fd000001', 32), v6('fd00000100020000', 64), v6('fd0000010002000000000000000000ff', 128), v6('20010db8', 32), v6('20010db8aaaa', 48)];

function randomAddr(rnd: () => number): AddrSpec {
  const a = none();
  const r = rnd();
  if (r < 0.15) return any();
  if (r < 0.25) {
    a.any4 = true;
    a.any6 = true;
    a.except4.push(v4(POOL4[1 + Math.floor(rnd() * (POOL4.length - 1))]));
    a.except6.push(POOL6[1 + Math.floor(rnd() * (POOL6.length - 1))]);
    return a;
  }
  const k = 1 + Math.floor(rnd() * 3);
  for (let i = 0; i < k; i++) {
    a.v4.push(v4(POOL4[Math.floor(rnd() * POOL4.length)]));
    a.v6.push(POOL6[Math.floor(rnd() * POOL6.length)]);
  }
  if (rnd() < 0.3) {
    a.except4.push(v4(POOL4[Math.floor(rnd() * POOL4.length)]));
    a.except6.push(POOL6[Math.floor(rnd() * POOL6.length)]);
  }
  return a;
}

function randomPorts(rnd: () => number): { from: number; to: number }[] | null {
  if (rnd() < 0.35) return null;
  const out: { from: number; to: number }[] = [];
  const k = 1 + Math.floor(rnd() * 2);
  for (let i = 0; i < k; i++) {
    const a = PORTS[Math.floor(rnd() * PORTS.length)];
    const b = PORTS[Math.floor(rnd() * PORTS.length)];
    out.push({ from: Math.min(a, b), to: rnd() < 0.5 ? Math.min(a, b) : Math.max(a, b) });
  }
  return out;
}

function randomSpec(seed: number): FilterSpec {
  const rnd = prng(seed);
  const groups: GroupSpec[] = [];
  let id = 0;
  const nGroups = 8;
  for (let g = 0; g < nGroups; g++) {
    const rules: RuleSpec[] = [];
    const n = Math.floor(rnd() * 90);
    const policy = g >= 6;
    for (let i = 0; i < n; i++) {
      const protos = rnd() < 0.4 ? null : [[6], [17], [1, 58], [132], [6, 17]][Math.floor(rnd() * 5)];
      rules.push(rule(id++, policy ? true : rnd() < 0.6, { src: randomAddr(rnd), dst: randomAddr(rnd), protos, sports: rnd() < 0.8 ? null : randomPorts(rnd), dports: randomPorts(rnd) }));
    }
    groups.push({ kind: policy ? 'policy' : 'nsg', label: `g${g}`, rules });
  }
  const gi = (): number => (rnd() < 0.2 ? -1 : Math.floor(rnd() * 6));
  const pi = (): number => (rnd() < 0.4 ? -1 : 6 + Math.floor(rnd() * 2));
  const ports: PortFilterSpec[] = [port('uplink', 'uplink', { nsgInNic: 0, policyIngress: 6 }), port('host', 'host', { nic: 0, nicLabel: 'nic0', nsgOutNic: gi(), nsgInNic: gi() })];
  for (let p = 0; p < 5; p++) {
    const nic = p === 4 ? 1 : rnd() < 0.2 ? -1 : 1 + p;
    ports.push(port(`pod${p}`, 'pod', { nic, nicLabel: nic < 0 ? null : `nic${nic}`, subnetLabel: 's', nsgOutNic: nic < 0 ? -1 : gi(), nsgOutSubnet: nic < 0 ? -1 : gi(), nsgInSubnet: nic < 0 ? -1 : gi(), nsgInNic: nic < 0 ? -1 : gi(), pod: rnd() < 0.8 ? `ns/p${p}` : null, policyEgress: pi(), policyIngress: pi() }));
  }
  for (const p of ports) if (p.pod === null) p.policyEgress = p.policyIngress = -1;
  return { groups, ports, rules: desc(id).map((d, i) => (groups.some((g) => g.kind === 'policy' && g.rules.some((r) => r.id === i)) ? { kind: 'network-policy', name: `p${i}`, policy: `ns/p${i}` } : d)) };
}

function randomAddr4(rnd: () => number): number {
  const p = v4(POOL4[Math.floor(rnd() * POOL4.length)]);
  const host = p.len === 32 ? 0 : Math.floor(rnd() * 2 ** (32 - p.len));
  return rnd() < 0.1 ? Math.floor(rnd() * 2 ** 32) >>> 0 : (p.addr + (rnd() < 0.3 ? 0 : host)) >>> 0;
}

function randomAddr6(rnd: () => number): Uint8Array {
  const p = POOL6[Math.floor(rnd() * POOL6.length)];
  const b = p.addr.slice();
  for (let i = Math.ceil(p.len / 8); i < 16; i++) if (rnd() < 0.5) b[i] = Math.floor(rnd() * 256);
  if (p.len % 8 !== 0 && rnd() < 0.5) b[p.len >>> 3] |= Math.floor(rnd() * 256) & (0xff >> (p.len % 8));
  return b;
}

t.test('random specs: classify4/6 agree with the rule-by-rule reference', (t) => {
  let checked = 0;
  let allowed = 0;
  for (let seed = 1; seed <= 25; seed++) {
    const spec = randomSpec(seed);
    const table = FilterTable.build(spec);
    const rnd = prng(seed * 1000);
    const res = new FilterResult();
    for (let i = 0; i < 600; i++) {
      const from = Math.floor(rnd() * spec.ports.length);
      const to = Math.floor(rnd() * spec.ports.length);
      const proto = [6, 17, 1, 58, 132, 50][Math.floor(rnd() * 6)];
      const sport = PORTS[Math.floor(rnd() * PORTS.length)];
      const dport = rnd() < 0.8 ? PORTS[Math.floor(rnd() * PORTS.length)] : Math.floor(rnd() * 65536);
      let ok: boolean;
      let ex;
      if (rnd() < 0.6) {
        const src = randomAddr4(rnd);
        const dst = randomAddr4(rnd);
        ok = table.classify4(from, to, proto, src, dst, sport, dport, res);
        ex = table.explain4(from, to, proto, src, dst, sport, dport);
      } else {
        const src = randomAddr6(rnd);
        const dst = randomAddr6(rnd);
        const buf = new Uint8Array(48);
        buf.set(src, 3);
        buf.set(dst, 29);
        ok = table.classify6(from, to, proto, buf, 3, 29, sport, dport, res);
        ex = table.explain6(from, to, proto, src, dst, sport, dport);
      }
      checked++;
      if (ok) allowed++;
      const nsgSteps = ex.steps.filter((s) => s.stage.startsWith('nsg-')).map((s) => s.rule);
      while (nsgSteps.length < 4) nsgSteps.push(-1);
      const egress = ex.steps.find((s) => s.stage === 'policy-egress')?.rule ?? -1;
      const ingress = ex.steps.find((s) => s.stage === 'policy-ingress')?.rule ?? -1;
      const same = ok === ex.allowed && res.reasonCode === ex.reasonCode && [...res.nsgSteps].join() === nsgSteps.join() &&
        res.egressPolicy === (ok || ex.reasonCode > 2 ? egress : -1) && (!ok || res.ingressPolicy === ingress);
      if (!same) {
        t.fail(`seed ${seed} flow ${i}: classify ${ok}/${res.reasonCode} steps ${[...res.nsgSteps]} eg ${res.egressPolicy} in ${res.ingressPolicy}; explain ${JSON.stringify(ex.steps.map((s) => [s.stage, s.verdict, s.rule]))}`);
        t.end();
        return;
      }
    }
  }
  t.ok(allowed > checked * 0.1 && allowed < checked * 0.9, `a mix of verdicts (${allowed}/${checked} allowed)`);
  t.pass(`${checked} flows agree`);
  t.end();
});

// ─── Edges ───────────────────────────────────────────────────────────────────────────────────

/** One port pair uplink → pod with the pod's inbound NIC NSG = group 0. */
function single(rules: RuleSpec[], extraDesc = 0): FilterTable {
  return FilterTable.build({
    groups: [{ kind: 'nsg', label: 'g', rules }],
    ports: [port('uplink', 'uplink'), port('pod', 'pod', { nic: 0, nicLabel: 'nic', nsgInNic: 0 })],
    rules: desc(Math.max(rules.length, extraDesc)),
  });
}

function decide(table: FilterTable, src: string, dst: string, proto: number, dport: number, sport = 40000): number {
  const r = new FilterResult();
  table.classify4(0, 1, proto, ip4(src), ip4(dst), sport, dport, r);
  const ex = table.explain4(0, 1, proto, ip4(src), ip4(dst), sport, dport);
  if (ex.allowed !== r.allowed) throw new Error(`explain disagrees for ${src}→${dst}`);
  return r.nsgRule;
}

t.test('exceptions apply to every longer prefix below them, and only to their own rule', (t) => {
  const internet: AddrSpec = { ...any(), except4: [v4('10.0.0.0/8'), v4('192.168.0.0/16')] };
  const table = single([
    rule(0, false, { src: internet, dports: [{ from: 22, to: 22 }] }),
    rule(1, true, { src: { ...none(), v4: [v4('10.1.0.0/16'), v4('10.1.2.3/32')] } }),
    rule(2, false, { src: any() }),
  ]);
  t.equal(decide(table, '8.8.8.8', '10.9.9.9', 6, 22), 0, 'Internet source: rule 0');
  t.equal(decide(table, '10.1.2.3', '10.9.9.9', 6, 22), 1, 'inside the exception (and a /32 of rule 1): rule 0 skipped');
  t.equal(decide(table, '10.7.0.1', '10.9.9.9', 6, 22), 2, 'inside the exception, not rule 1');
  t.equal(decide(table, '192.168.5.5', '10.9.9.9', 6, 22), 2);
  t.equal(decide(table, '11.0.0.1', '10.9.9.9', 6, 23), 2, 'port differs');
  t.end();
});

t.test('port ranges: both ends inclusive; portless protocols match only rules without ports', (t) => {
  const table = single([
    rule(0, true, { dports: [{ from: 80, to: 80 }, { from: 8000, to: 8080 }] }),
    rule(1, true, { protos: [17], dports: [{ from: 0, to: 0 }] }),
    rule(2, true, { sports: [{ from: 1024, to: 65535 }], dports: [{ from: 65535, to: 65535 }] }),
    rule(3, false, {}),
  ]);
  t.same([79, 80, 81, 7999, 8000, 8080, 8081].map((p) => decide(table, '1.1.1.1', '2.2.2.2', 6, p)), [3, 0, 3, 3, 0, 0, 3]);
  t.equal(decide(table, '1.1.1.1', '2.2.2.2', 17, 0), 1, 'UDP port 0');
  t.equal(decide(table, '1.1.1.1', '2.2.2.2', 6, 0), 3, 'TCP port 0 is not UDP');
  t.equal(decide(table, '1.1.1.1', '2.2.2.2', 1, 80), 3, 'ICMP: rules with ports do not match');
  t.equal(decide(table, '1.1.1.1', '2.2.2.2', 132, 65535, 1024), 2, 'SCTP has ports; source range');
  t.equal(decide(table, '1.1.1.1', '2.2.2.2', 132, 65535, 1023), 3);
  t.end();
});

t.test('first match in group order across many words; groups do not leak into each other', (t) => {
  const rules: RuleSpec[] = [];
  for (let i = 0; i < 200; i++) rules.push(rule(i, i % 2 === 0, { dports: [{ from: 1000 + i, to: 1000 + i }] }));
  rules.push(rule(200, true, { dports: [{ from: 1100, to: 1100 }] }));
  rules.push(rule(201, false, {}));
  const other: RuleSpec[] = [rule(202, true, {})];
  const table = FilterTable.build({
    groups: [{ kind: 'nsg', label: 'big', rules }, { kind: 'nsg', label: 'other', rules: other }],
    ports: [port('uplink', 'uplink'), port('pod', 'pod', { nic: 0, nicLabel: 'nic', nsgInNic: 0 })],
    rules: desc(203),
  });
  t.equal(table.words, 7 + 1, 'groups word-aligned: 202 rules = 7 words, then 1 word for the other group');
  t.equal(decide(table, '1.1.1.1', '2.2.2.2', 6, 1000), 0);
  t.equal(decide(table, '1.1.1.1', '2.2.2.2', 6, 1199), 199);
  t.equal(decide(table, '1.1.1.1', '2.2.2.2', 6, 1100), 100, 'rule 100 before rule 200');
  t.equal(decide(table, '1.1.1.1', '2.2.2.2', 6, 5), 201, 'never the other group\'s rule 202');
  t.end();
});

t.test('ports: one NIC means no NSG between them; host ↔ pod skips NetworkPolicy; out-of-range ports are outside', (t) => {
  const deny: GroupSpec = { kind: 'nsg', label: 'deny', rules: [rule(0, false)] };
  const isolate: GroupSpec = { kind: 'policy', label: 'iso', rules: [] };
  const table = FilterTable.build({
    groups: [deny, isolate],
    ports: [
      port('uplink', 'uplink'),
      port('host', 'host', { nic: 0, nicLabel: 'node-nic', nsgInNic: 0, nsgOutNic: 0 }),
      port('a', 'pod', { nic: 0, nicLabel: 'node-nic', nsgInNic: 0, nsgOutNic: 0, pod: 'ns/a', policyIngress: 1, policyEgress: 1 }),
      port('b', 'pod', { pod: 'ns/b' }),
    ],
    rules: desc(1),
  });
  const r = new FilterResult();
  t.equal(table.classify4(1, 2, 6, 1, 2, 1, 80, r), true, 'host → pod on the same NIC: no NSG; the node is exempt from policy');
  t.equal(table.classify4(2, 1, 6, 2, 1, 1, 80, r), true, 'pod → host likewise');
  t.equal(table.classify4(3, 2, 6, 3, 2, 1, 80, r), false, 'other pod → a: NSG inbound of a denies');
  t.equal(r.reasonCode, 2);
  t.equal(table.classify4(3, 99, 6, 3, 2, 1, 80, r), true, 'unknown destination port index = outside');
  t.equal(table.classify4(-1, 3, 6, 3, 2, 1, 80, r), true);
  t.end();
});

t.test('address set membership helper', (t) => {
  const s: AddrSpec = { ...none(), v4: [v4('10.0.0.0/8')], except4: [v4('10.1.0.0/16')] };
  t.same(['10.0.0.1', '10.1.0.1', '11.0.0.1'].map((a) => addrIn4(s, ip4(a))), [true, false, false]);
  t.end();
});
