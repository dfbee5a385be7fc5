/**
 * NodeConfig: a valid config normalizes with defaults; every rule, broken on purpose, yields an
 * issue at the exact field path with a stable code; several problems are reported together;
 * YAML and JSON both; IPv4, IPv6 and dual-stack.
 */
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ValidationError, fieldPath, splitPath } from './errors';
import { NodeConfig, formatIPv6, parseIP, parseIPv6, parseNodeConfig, validateNodeConfig } from './node-config';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

/** A valid dual-stack kubenet config as a plain object; each test mutates its own copy. */
function base(): Obj {
  return {
    apiVersion: 'tapflow.dev/v1alpha1',
    kind: 'NodeConfig',
    metadata: { name: 'node-a' },
    spec: {
      nodeName: 'node-a',
      nodeIPs: ['10.0.0.4', 'fd00::4'],
      podCIDR: '10.244.0.0/24',
      podCIDRs: ['10.244.0.0/24', 'fd00:244::/64'],
      clusterCIDRs: ['10.244.0.0/16', 'fd00:244::/56'],
      serviceCIDRs: ['10.96.0.0/12', 'fd00:96::/112'],
      nodePortAddresses: ['primary'],
      masqueradeAll: false,
      networkMode: 'kubenet',
      vnetPrefixes: ['10.0.0.0/16', 'fd00::/64'],
      mtu: 1500,
      gatewayMAC: '02:74:66:00:00:01',
      defaultGateway: { ipv4: '10.0.0.1', ipv6: 'fd00::1' },
      nodeRoutes: [{ prefix: '10.244.1.0/24', nextHop: '10.0.0.5' }],
      routeTables: [
        {
          name: 'rt-egress',
          routes: [
            { name: 'to-nva', addressPrefix: '0.0.0.0/0', nextHopType: 'VirtualAppliance', nextHopIpAddress: '10.0.0.100' },
            { name: 'blackhole', addressPrefix: '192.0.2.0/24', nextHopType: 'None' },
          ],
        },
      ],
      ports: [
        { name: 'uplink', tap: 'tfup0', role: 'uplink', vnetHdr: false },
        { name: 'host', tap: 'tfhost0', role: 'host' },
        {
          name: 'pod-a',
          tap: 'tfpa',
          role: 'pod',
          addresses: ['10.244.0.2', 'fd00:244::2'],
          gateway: { ipv4: '10.244.0.1', ipv6: 'fd00:244::1' },
          pod: { namespace: 'default', name: 'web-a' },
        },
      ],
    },
  };
}

function issuesOf(t: tap.Test, fn: () => unknown): ValidationError['issues'] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationError) {
      t.equal(e.code, 'VALIDATION_FAILED');
      return e.issues;
    }
    throw e;
  }
  t.fail('expected a ValidationError');
  return [];
}

/** Validate `obj` and expect exactly these (path, code) issues, in this order. */
function expectIssues(t: tap.Test, obj: unknown, want: [string, string][], msg?: RegExp[]): void {
  const got = issuesOf(t, () => validateNodeConfig(obj));
  t.same(
    got.map((i) => [i.path, i.code]),
    want,
    want.map((w) => w.join(' ')).join(', '),
  );
  (msg ?? []).forEach((re, i) => t.match(got[i]?.message ?? '', re));
}

t.test('the full example parses; pre-parsed forms are right', async (t) => {
  const file = path.join(__dirname, '..', '..', '..', 'examples', 'node-config.yaml');
  const cfg = parseNodeConfig(fs.readFileSync(file, 'utf8'), file);
  t.equal(cfg.spec.nodeName, 'node-a');
  t.equal(cfg.spec.ports.length, 4);
  t.equal(cfg.spec.uplinkPort, 0);
  t.equal(cfg.spec.hostPort, 1);
  t.equal(cfg.spec.routeTables[0].routes[0].nextHopIpAddress?.text, '10.0.0.100');

  const v = validateNodeConfig(base());
  t.equal(v.spec.nodeIPs[0].family, 4);
  t.equal(v.spec.nodeIPs[0].family === 4 && v.spec.nodeIPs[0].v4, 0x0a000004);
  const six = v.spec.nodeIPs[1];
  t.same(six.family === 6 ? Array.from(six.v6) : [], [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4]);
  t.equal(v.spec.primaryIPs.ipv4?.text, '10.0.0.4');
  t.equal(v.spec.primaryIPs.ipv6?.text, 'fd00::4');
  t.equal(v.spec.podCIDRs[1].text, 'fd00:244::/64');
  t.equal(v.spec.podCIDRs[1].len, 64);
  t.equal(v.spec.podCIDR?.text, '10.244.0.0/24');
  t.same(v.spec.nodePortCIDRs.map((c) => c.text), ['10.0.0.4/32', 'fd00::4/128']);
  t.same(Array.from(v.spec.gatewayMACBytes), [2, 0x74, 0x66, 0, 0, 1]);
  t.equal(v.spec.ports[0].vnetHdr, false);
  t.equal(v.spec.ports[1].vnetHdr, true, 'vnetHdr defaults to true');
  t.same(v.spec.ports[2].pod, { namespace: 'default', name: 'web-a' });
});

t.test('a minimal config gets its defaults', async (t) => {
  const cfg = validateNodeConfig({
    apiVersion: 'tapflow.dev/v1alpha1',
    kind: 'NodeConfig',
    metadata: { name: 'node-b' },
    spec: {
      nodeIPs: ['10.0.0.5'],
      podCIDR: '10.244.1.0/24',
      ports: [
        { name: 'up', tap: 'tfup0', role: 'uplink' },
        { name: 'p1', tap: 'tfp1', role: 'pod', addresses: ['10.244.1.10'] },
      ],
    },
  });
  const s = cfg.spec;
  t.equal(s.nodeName, 'node-b', 'nodeName defaults to metadata.name');
  t.equal(s.networkMode, 'kubenet');
  t.equal(s.mtu, 1500);
  t.equal(s.masqueradeAll, false);
  t.same(s.nodePortAddresses, ['primary']);
  t.same(s.nodePortCIDRs.map((c) => c.text), ['10.0.0.5/32']);
  t.same(s.podCIDRs.map((c) => c.text), ['10.244.1.0/24'], 'podCIDRs from podCIDR');
  t.same(s.clusterCIDRs, []);
  t.same(s.routeTables, []);
  t.same(s.nodeRoutes, []);
  t.same(s.defaultGateway, { ipv4: null, ipv6: null });
  t.equal(s.hostPort, -1);
  t.match(s.gatewayMAC, /^02:74:66:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/, 'derived, locally administered');
  const a = base();
  delete a.spec.gatewayMAC;
  t.not(validateNodeConfig(a).spec.gatewayMAC, s.gatewayMAC, 'differs per node');
  t.equal(s.ports[1].gateway.ipv4?.text, '10.244.1.1', 'pod gateway defaults to the first address of the pod CIDR');
  t.equal(s.ports[1].gateway.ipv6, null);
  t.same(cfg.metadata, { name: 'node-b', labels: {}, annotations: {} });
});

t.test('YAML and JSON give the same config', async (t) => {
  const json = JSON.stringify(base(), null, 2);
  const fromJson = parseNodeConfig(json, 'node.json');
  const fromObj = validateNodeConfig(base());
  t.same(fromJson, fromObj);
  const yaml = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'examples', 'node-config.yaml'), 'utf8');
  t.equal(parseNodeConfig(yaml).spec.ports[2].addresses[1].text, 'fd00:244::2');
  const tabs = JSON.stringify(base(), null, '\t');
  t.equal(parseNodeConfig(tabs).spec.mtu, 1500, 'tab-indented JSON');
});

t.test('errors in text carry line and column; YAML and JSON', async (t) => {
  const yaml = `apiVersion: tapflow.dev/v1alpha1
kind: NodeConfig
metadata: { name: node-a }
spec:
  nodeIPs: [10.0.0.4]
  podCIDR: 10.244.0.0/24
  ports:
    - { name: uplink, tap: tfup0, role: uplink }
    - { name: pod-a, tap: tfpa, role: pods, addresses: [10.244.0.2] }
`;
  const issues = issuesOf(t, () => parseNodeConfig(yaml, 'node.yaml'));
  t.same(issues.map((i) => [i.path, i.code, i.line]), [['spec.ports[1].role', 'INVALID_FIELD', 9]]);
  t.match(issues[0].message, /must be one of "uplink", "host", "pod"; got "pods" \(did you mean "pod"\?\)/);
  try {
    parseNodeConfig(yaml, 'node.yaml');
  } catch (e) {
    t.match((e as Error).message, /^node\.yaml: 1 problem in NodeConfig\n {2}spec\.ports\[1\]\.role \(line 9:\d+\): must be one of/);
  }

  const obj = base();
  obj.spec.mtu = 70000;
  const json = JSON.stringify(obj, null, 2);
  const ji = issuesOf(t, () => parseNodeConfig(json, 'node.json'));
  t.same(ji.map((i) => i.path), ['spec.mtu']);
  t.equal(ji[0].line, json.split('\n').findIndex((l) => l.includes('"mtu"')) + 1, 'JSON line of the key');
});

t.test('parse errors', async (t) => {
  let is = issuesOf(t, () => parseNodeConfig('spec: [1, 2\nkind: x\n', 'bad.yaml'));
  t.ok(is.length >= 1);
  t.equal(is[0].code, 'PARSE_ERROR');
  t.type(is[0].line, 'number');
  is = issuesOf(t, () => parseNodeConfig('a: 1\na: 2\n'));
  t.equal(is[0].code, 'PARSE_ERROR', 'duplicate keys are an error');
  is = issuesOf(t, () => parseNodeConfig('a: 1\n---\nb: 2\n'));
  t.match(is[0].message, /one document, found 2/);
  is = issuesOf(t, () => parseNodeConfig('# nothing\n'));
  t.match(is[0].message, /empty/);
  is = issuesOf(t, () => parseNodeConfig('{"apiVersion": "tapflow.dev/v1alpha1",}x'));
  t.equal(is[0].code, 'PARSE_ERROR', 'broken JSON');
  is = issuesOf(t, () => parseNodeConfig('- 1\n- 2\n'));
  t.same(is.map((i) => [i.path, i.code]), [['', 'INVALID_TYPE']], 'a list is not an object');
});

t.test('kind, apiVersion, metadata', async (t) => {
  const o = base();
  o.apiVersion = 'tapflow.dev/v2';
  o.kind = 'Node';
  delete o.metadata.name;
  expectIssues(t, o, [['apiVersion', 'UNSUPPORTED_KIND'], ['kind', 'UNSUPPORTED_KIND'], ['metadata.name', 'MISSING_FIELD']]);
  const p = base();
  delete p.spec;
  expectIssues(t, p, [['spec', 'MISSING_FIELD']]);
});

t.test('ports: exactly one uplink, at most one host', async (t) => {
  let o = base();
  o.spec.ports[1].role = 'uplink';
  expectIssues(t, o, [['spec.ports[1].role', 'INVALID_FIELD']], [/second uplink port \(spec\.ports\[0\] is the uplink\)/]);
  o = base();
  o.spec.ports[0].role = 'host';
  expectIssues(t, o, [['spec.ports[1].role', 'INVALID_FIELD'], ['spec.ports', 'INVALID_FIELD']], [/second host port/, /no port has role "uplink"/]);
  o = base();
  o.spec.ports[2].role = 'Pod';
  expectIssues(t, o, [['spec.ports[2].role', 'INVALID_FIELD']], [/must be one of "uplink", "host", "pod"; got "Pod"/]);
  o = base();
  o.spec.ports[0].addresses = ['10.0.0.9'];
  expectIssues(t, o, [['spec.ports[0].addresses', 'INVALID_FIELD']], [/only pod ports have addresses/]);
  o = base();
  delete o.spec.ports[2].addresses;
  expectIssues(t, o, [['spec.ports[2].addresses', 'MISSING_FIELD']]);
});

t.test('ports: duplicates and tap names', async (t) => {
  const o = base();
  o.spec.ports.push({ name: 'pod-a', tap: 'tfpa', role: 'pod', addresses: ['10.244.0.2'] });
  expectIssues(
    t,
    o,
    [
      ['spec.ports[3].name', 'DUPLICATE_VALUE'],
      ['spec.ports[3].tap', 'DUPLICATE_VALUE'],
      ['spec.ports[3].addresses[0]', 'DUPLICATE_VALUE'],
    ],
    [/also spec\.ports\[2\]\.name/, /also spec\.ports\[2\]\.tap/, /also spec\.ports\[2\]\.addresses\[0\]/],
  );
  for (const [tap, re] of [
    ['a-very-long-tapname', /at most 15 bytes/],
    ['tf/0', /'\/', ':' or whitespace/],
    ['tf 0', /whitespace/],
    ['tf:0', /':'/],
    ['', /empty/],
    ['..', /not a valid Linux interface name/],
    ['tap%d', /kernel name template/],
  ] as const) {
    const p = base();
    p.spec.ports[1].tap = tap;
    expectIssues(t, p, [['spec.ports[1].tap', 'INVALID_FIELD']], [re]);
  }
  const ok = base();
  ok.spec.ports[1].tap = '123456789012345';
  t.equal(validateNodeConfig(ok).spec.ports[1].tap, '123456789012345', '15 bytes is fine');
});

t.test('pod addresses: inside podCIDRs (kubenet) / vnetPrefixes (cni)', async (t) => {
  let o = base();
  o.spec.ports[2].addresses = ['10.244.1.2', 'fd00:244::2'];
  expectIssues(t, o, [['spec.ports[2].addresses[0]', 'INVALID_FIELD']], [/not inside spec\.podCIDRs \(10\.244\.0\.0\/24\)/]);
  o = base();
  o.spec.ports[2].addresses = ['10.244.0.0', 'fd00:244::'];
  expectIssues(t, o, [['spec.ports[2].addresses[0]', 'INVALID_FIELD'], ['spec.ports[2].addresses[1]', 'INVALID_FIELD']], [/network address/, /network address of spec\.podCIDRs\[1\]/]);
  o = base();
  o.spec.ports[2].addresses = ['10.244.0.2', '10.244.0.3'];
  expectIssues(t, o, [['spec.ports[2].addresses[1]', 'INVALID_FIELD']], [/second IPv4 address; a pod has at most one address per family/]);
  o = base();
  o.spec.ports[2].addresses = ['10.244.0.255'];
  expectIssues(t, o, [['spec.ports[2].addresses[0]', 'INVALID_FIELD']], [/broadcast/]);
  o = base();
  o.spec.ports[2].addresses = ['10.244.0.1'];
  delete o.spec.ports[2].gateway;
  expectIssues(t, o, [['spec.ports[2].addresses', 'INVALID_FIELD']], [/gateway 10\.244\.0\.1 is the pod's own address \(the default gateway/]);
  o = base();
  o.spec.ports[2].addresses = ['10.0.0.4'];
  expectIssues(t, o, [['spec.ports[2].addresses[0]', 'INVALID_FIELD']], [/is a node IP \(spec\.nodeIPs\[0\]\)/]);

  // cni: addresses come from the VNet
  const c = base();
  c.spec.networkMode = 'cni';
  c.spec.ports[2].addresses = ['10.0.1.20', 'fd00::20'];
  delete c.spec.ports[2].gateway;
  const cfg = validateNodeConfig(c);
  t.equal(cfg.spec.ports[2].gateway.ipv4?.text, '10.0.0.1', 'cni default gateway: first address of the vnet prefix');
  c.spec.ports[2].addresses = ['10.244.0.2'];
  expectIssues(t, c, [['spec.ports[2].addresses[0]', 'INVALID_FIELD']], [/not inside spec\.vnetPrefixes \(10\.0\.0\.0\/16\); in cni mode/]);
  const d = base();
  d.spec.networkMode = 'cni';
  delete d.spec.vnetPrefixes;
  delete d.spec.podCIDR;
  delete d.spec.podCIDRs;
  delete d.spec.nodeRoutes;
  d.spec.ports[2].addresses = ['10.0.1.20'];
  expectIssues(t, d, [['spec.vnetPrefixes', 'MISSING_FIELD'], ['spec.ports[2].addresses[0]', 'INVALID_FIELD']]);
  const k = base();
  delete k.spec.podCIDR;
  delete k.spec.podCIDRs;
  delete k.spec.nodeRoutes;
  expectIssues(t, k, [['spec.podCIDRs', 'MISSING_FIELD'], ['spec.ports[2].addresses[0]', 'INVALID_FIELD'], ['spec.ports[2].addresses[1]', 'INVALID_FIELD']]);
});

t.test('CIDRs: canonical, one per family, podCIDR agreement', async (t) => {
  let o = base();
  o.spec.clusterCIDRs = ['10.244.0.1/16', 'fd00:244::1/56'];
  expectIssues(
    t,
    o,
    [['spec.clusterCIDRs[0]', 'INVALID_FIELD'], ['spec.clusterCIDRs[1]', 'INVALID_FIELD']],
    [/"10\.244\.0\.1\/16" is not canonical: host bits are set beyond the \/16 prefix; write "10\.244\.0\.0\/16"/, /write "fd00:244::\/56"/],
  );
  o = base();
  o.spec.podCIDRs = ['10.244.0.0/24', '10.244.9.0/24'];
  expectIssues(t, o, [['spec.podCIDRs[1]', 'INVALID_FIELD'], ['spec.ports[2].addresses[1]', 'INVALID_FIELD']], [/at most one CIDR per family/, /no IPv6 prefix configured/]);
  o = base();
  o.spec.podCIDRs = ['fd00:244::/64', '10.244.0.0/24'];
  expectIssues(t, o, [['spec.podCIDRs[0]', 'INVALID_FIELD']], [/must equal spec\.podCIDR \(10\.244\.0\.0\/24\)/]);
  o = base();
  o.spec.vnetPrefixes = ['10.0.0.0/33', '10.0.0.0', 'banana', 10];
  expectIssues(
    t,
    o,
    [
      ['spec.vnetPrefixes[0]', 'INVALID_FIELD'],
      ['spec.vnetPrefixes[1]', 'INVALID_FIELD'],
      ['spec.vnetPrefixes[2]', 'INVALID_FIELD'],
      ['spec.vnetPrefixes[3]', 'INVALID_TYPE'],
    ],
    [/prefix length must be an integer 0\.\.32/, /no prefix length/, /not a CIDR/, /expected a string \(a CIDR/],
  );
  o = base();
  o.spec.podCIDR = '10.245.0.0/24';
  o.spec.podCIDRs = ['10.245.0.0/24'];
  o.spec.ports[2].addresses = ['10.245.0.2'];
  expectIssues(t, o, [['spec.podCIDRs[0]', 'INVALID_FIELD']], [/10\.245\.0\.0\/24 is not inside spec\.clusterCIDRs\[0\] \(10\.244\.0\.0\/16\)/]);
  delete o.spec.podCIDRs;
  expectIssues(t, o, [['spec.podCIDR', 'INVALID_FIELD']], [/not inside spec\.clusterCIDRs/]);
  o = base();
  o.spec.serviceCIDRs = ['10.244.0.0/20'];
  expectIssues(t, o, [['spec.serviceCIDRs[0]', 'INVALID_FIELD'], ['spec.serviceCIDRs[0]', 'INVALID_FIELD']], [/overlaps spec\.clusterCIDRs\[0\]/, /overlaps spec\.podCIDR/]);
  o = base();
  o.spec.vnetPrefixes = ['10.0.0.0/16', '10.0.128.0/17'];
  expectIssues(t, o, [['spec.vnetPrefixes[1]', 'INVALID_FIELD']], [/overlaps spec\.vnetPrefixes\[0\]/]);
});

t.test('types and unknown fields', async (t) => {
  const o = base();
  o.spec.mtu = '1500';
  o.spec.masqueradeAll = 'yes';
  o.spec.nodeIPs = '10.0.0.4';
  o.spec.ports[0].vnethdr = true;
  o.spec.clusterCIDR = '10.244.0.0/16';
  o.spec.ports[2].gateway.ipv4 = 'fd00::1';
  expectIssues(
    t,
    o,
    [
      ['spec.clusterCIDR', 'UNKNOWN_FIELD'],
      ['spec.nodeIPs', 'INVALID_TYPE'],
      ['spec.masqueradeAll', 'INVALID_TYPE'],
      ['spec.mtu', 'INVALID_TYPE'],
      ['spec.ports[0].vnethdr', 'UNKNOWN_FIELD'],
      ['spec.ports[2].gateway.ipv4', 'INVALID_FIELD'],
    ],
    [
      /unknown field "clusterCIDR"; did you mean "clusterCIDRs"\? \(allowed here: nodeName, nodeIPs/,
      /expected a list of IP addresses, got string "10\.0\.0\.4"/,
      /expected a boolean \(true or false\), got string "yes"/,
      /expected an integer \(576\.\.9000\), got string "1500"/,
      /did you mean "vnetHdr"/,
      /expected an IPv4 address, got IPv6 "fd00::1"/,
    ],
  );
  const m = base();
  m.spec.mtu = 9001;
  expectIssues(t, m, [['spec.mtu', 'INVALID_FIELD']], [/9001 is out of range; allowed 576\.\.9000/]);
  m.spec.mtu = 1000;
  expectIssues(t, m, [['spec.mtu', 'INVALID_FIELD']], [/IPv6 minimum link MTU/]);
  const v4only = base();
  v4only.spec.mtu = 1000;
  v4only.spec.nodeIPs = ['10.0.0.4'];
  v4only.spec.podCIDRs = ['10.244.0.0/24'];
  v4only.spec.ports[2].addresses = ['10.244.0.2'];
  t.equal(validateNodeConfig(v4only).spec.mtu, 1000, 'IPv4-only may go below 1280');
  const g = base();
  g.spec.gatewayMAC = '03:00:00:00:00:01';
  expectIssues(t, g, [['spec.gatewayMAC', 'INVALID_FIELD']], [/multicast MAC/]);
  g.spec.gatewayMAC = '02-74-66-AA-BB-CC';
  t.equal(validateNodeConfig(g).spec.gatewayMAC, '02:74:66:aa:bb:cc', 'normalized');
  const n = base();
  n.spec.nodeIPs = ['10.0.0.4', '10.0.0.4', '127.0.0.1', '224.0.0.1', 'fe80::1', '10.0.0.0/8'];
  expectIssues(t, n, [
    ['spec.nodeIPs[1]', 'DUPLICATE_VALUE'],
    ['spec.nodeIPs[2]', 'INVALID_FIELD'],
    ['spec.nodeIPs[3]', 'INVALID_FIELD'],
    ['spec.nodeIPs[4]', 'INVALID_FIELD'],
    ['spec.nodeIPs[5]', 'INVALID_FIELD'],
  ], [/duplicate/, /loopback/, /multicast/, /link-local/, /is a CIDR; expected a single/]);
});

t.test('nodePortAddresses (kube-proxy semantics)', async (t) => {
  const o = base();
  o.spec.nodePortAddresses = ['primary', '10.0.0.0/16'];
  expectIssues(t, o, [['spec.nodePortAddresses[0]', 'INVALID_FIELD']], [/cannot be combined/]);
  o.spec.nodePortAddresses = ['10.0.0.0/16', 'fd00::/64'];
  t.same(validateNodeConfig(o).spec.nodePortCIDRs.map((c) => c.text), ['10.0.0.0/16', 'fd00::/64']);
  o.spec.nodePortAddresses = [];
  t.same(validateNodeConfig(o).spec.nodePortCIDRs.map((c) => c.text), ['10.0.0.4/32', 'fd00::4/128'], '[] = every node IP');
});

t.test('route tables (Azure UDR)', async (t) => {
  let o = base();
  o.spec.routeTables[0].routes.push(
    { name: 'nva-no-ip', addressPrefix: '198.51.100.0/24', nextHopType: 'VirtualAppliance' },
    { name: 'none-with-ip', addressPrefix: '203.0.113.0/24', nextHopType: 'None', nextHopIpAddress: '10.0.0.100' },
    { name: 'bad-type', addressPrefix: '100.64.0.0/10', nextHopType: 'Appliance' },
    { name: 'to-nva', addressPrefix: '192.0.2.0/24', nextHopType: 'Internet' },
    { name: 'v6-via-v4', addressPrefix: '2001:db8::/32', nextHopType: 'VirtualAppliance', nextHopIpAddress: '10.0.0.100' },
  );
  expectIssues(
    t,
    o,
    [
      ['spec.routeTables[0].routes[2].nextHopIpAddress', 'MISSING_FIELD'],
      ['spec.routeTables[0].routes[3].nextHopIpAddress', 'INVALID_FIELD'],
      ['spec.routeTables[0].routes[4].nextHopType', 'INVALID_FIELD'],
      ['spec.routeTables[0].routes[5].name', 'DUPLICATE_VALUE'],
      ['spec.routeTables[0].routes[5].addressPrefix', 'DUPLICATE_VALUE'],
      ['spec.routeTables[0].routes[6].nextHopIpAddress', 'INVALID_FIELD'],
    ],
    [
      /required when nextHopType is VirtualAppliance/,
      /only allowed when nextHopType is VirtualAppliance/,
      /must be one of "VirtualNetworkGateway", "VnetLocal", "Internet", "VirtualAppliance", "None"; got "Appliance"/,
      /duplicate route name "to-nva"/,
      /already routed by spec\.routeTables\[0\]\.routes\[1\]\.addressPrefix/,
      /IPv4 next hop for IPv6 prefix/,
    ],
  );
  o = base();
  o.spec.routeTables.push({ name: 'rt-egress', routes: [{ name: 'x', addressPrefix: '0.0.0.0/0', nextHopType: 'Internet' }] });
  expectIssues(t, o, [['spec.routeTables[1].name', 'DUPLICATE_VALUE'], ['spec.routeTables[1].routes[0].addressPrefix', 'DUPLICATE_VALUE']]);
});

t.test('nodeRoutes', async (t) => {
  const o = base();
  o.spec.nodeRoutes = [
    { prefix: '10.244.1.0/24', nextHop: 'fd00::5' },
    { prefix: '10.244.0.0/23', nextHop: '10.0.0.5' },
    { prefix: '10.244.2.0/24', nextHop: '10.0.0.4' },
    { prefix: '10.244.3.0/24' },
  ];
  expectIssues(t, o, [
    ['spec.nodeRoutes[0].nextHop', 'INVALID_FIELD'],
    ['spec.nodeRoutes[1].prefix', 'INVALID_FIELD'],
    ['spec.nodeRoutes[2].nextHop', 'INVALID_FIELD'],
    ['spec.nodeRoutes[3].nextHop', 'MISSING_FIELD'],
  ], [/IPv6 next hop for an IPv4 prefix/, /overlaps this node's own spec\.podCIDR/, /this node's own IP/]);
});

t.test('several problems are reported together, in document order', async (t) => {
  const o = base();
  o.spec.ports[2].role = 'pods';
  o.spec.routeTables[0].routes[0].nextHopType = 'Appliance';
  o.spec.podCIDRs[1] = 'fd00:244::1/64';
  o.spec.ports[1].tap = 'this-name-is-too-long';
  const issues = issuesOf(t, () => validateNodeConfig(o));
  t.same(issues.map((i) => i.path), ['spec.podCIDRs[1]', 'spec.routeTables[0].routes[0].nextHopType', 'spec.ports[1].tap', 'spec.ports[2].role']);
  try {
    validateNodeConfig(o);
  } catch (e) {
    t.equal((e as ValidationError).path, 'spec.podCIDRs[1]', 'error.path is the first issue');
    t.match((e as Error).message, /^4 problems in NodeConfig\n/);
  }
});

t.test('dual-stack and single-family IPv6', async (t) => {
  const o = base();
  o.spec.nodeIPs = ['fd00::4'];
  o.spec.podCIDR = 'fd00:244::/64';
  o.spec.podCIDRs = ['fd00:244::/64'];
  o.spec.clusterCIDRs = ['fd00:244::/56'];
  o.spec.serviceCIDRs = ['fd00:96::/112'];
  o.spec.vnetPrefixes = ['fd00::/64'];
  o.spec.defaultGateway = { ipv6: 'fe80::1234:5678:9abc' };
  o.spec.nodeRoutes = [{ prefix: 'fd00:244:0:1::/64', nextHop: 'FD00:0::5' }];
  o.spec.routeTables = [];
  o.spec.ports[2].addresses = ['FD00:244:0:0::2'];
  delete o.spec.ports[2].gateway;
  const cfg: NodeConfig = validateNodeConfig(o);
  t.equal(cfg.spec.primaryIPs.ipv4, null);
  t.equal(cfg.spec.ports[2].addresses[0].text, 'fd00:244::2', 'canonical text');
  t.equal(cfg.spec.ports[2].gateway.ipv6?.text, 'fd00:244::1');
  t.equal(cfg.spec.nodeRoutes[0].nextHop.text, 'fd00::5');
  t.equal(cfg.spec.defaultGateway.ipv6?.text, 'fe80::1234:5678:9abc', 'link-local gateway allowed');
  t.same(cfg.spec.nodePortCIDRs.map((c) => c.text), ['fd00::4/128']);
});

t.test('address helpers', async (t) => {
  const cases: [string, string | undefined][] = [
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8::0:1', '2001:db8::1'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['1::2::3', undefined],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['12345::', undefined],
    ['fe80::1%eth0', undefined],
    ['10.0.0.01', undefined],
    ['10.0.0', undefined],
    ['256.0.0.1', undefined],
    ['10.0.0.1', '10.0.0.1'],
  ];
  for (const [s, want] of cases) t.equal(parseIP(s)?.text, want, s);
  const b = parseIPv6('fd00::4');
  t.equal(b && formatIPv6(b), 'fd00::4');
  t.equal(fieldPath('spec.ports', 2), 'spec.ports[2]');
  t.equal(fieldPath('metadata.labels', 'app.kubernetes.io/name'), 'metadata.labels["app.kubernetes.io/name"]');
  t.same(splitPath('spec.ports[2].role'), ['spec', 'ports', 2, 'role']);
  t.same(splitPath('metadata.labels["a.b/c"]'), ['metadata', 'labels', 'a.b/c']);
});
