/**
 * The manifest loader: multi-document YAML, Lists, JSON (kubectl and az output), errors from
 * several documents reported together with file/document prefixes and line numbers, unknown
 * kinds, the kind registry (custom kinds and ARM types), the size/depth caps, directories, and
 * the DesiredState store.
 */
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ErrorCode, Issues, NotFoundError, ValidationError } from './errors';
import {
  DesiredState, MAX_DEPTH, MAX_DOCUMENTS, Manifest, ManifestError, listManifestFiles, loadManifestPaths, loadManifests,
  registerArmType, registerKind, supportedKinds,
} from './manifests';
import { Service } from './service';
import { EndpointSlice } from './endpoint-slice';

const EXAMPLES = path.join(__dirname, '..', '..', '..', 'examples');

function errorOf(t: tap.Test, fn: () => unknown): ManifestError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ManifestError) {
      t.equal(e.code, 'VALIDATION_FAILED');
      t.ok(e instanceof ValidationError, 'a ValidationError');
      return e;
    }
    throw e;
  }
  t.fail('expected a ManifestError');
  return new ManifestError([]);
}

const svcDoc = (name: string, port: number | string = 80, extra = ''): string =>
  `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  selector: {app: ${name}}\n  ports:\n  - port: ${port}\n${extra}`;

t.test('the examples load: every kind, List files, multi-document files', async (t) => {
  const ms = loadManifestPaths([path.join(EXAMPLES, 'services'), path.join(EXAMPLES, 'node-config.yaml')]);
  const keys = ms.map((m) => m.key);
  t.ok(keys.includes('Service/default/web'));
  t.ok(keys.includes('EndpointSlice/default/web-7xkq2'));
  t.ok(keys.includes('Pod/default/web-c'));
  t.ok(keys.includes('Service/kube-system/kube-dns'));
  t.ok(keys.includes('NodeConfig//node-a'), 'cluster-scoped: empty namespace');
  t.equal(new Set(keys).size, keys.length);
  const files = [...new Set(ms.map((m) => path.basename(m.source.file ?? '')))];
  t.same(files, ['dns.yaml', 'dual-stack.yaml', 'external-ips.yaml', 'externalname.yaml', 'headless.yaml', 'loadbalancer.yaml', 'local-traffic.yaml', 'nodeport.yaml', 'web-endpointslice.yaml', 'web-pods.yaml', 'web.yaml', 'node-config.yaml'], 'directory entries sorted by name, then the named file');

  const ds = new DesiredState(ms);
  const web = ds.service('default', 'web') as Service;
  t.same(web.spec.ports.map((p) => [p.name, p.port, p.targetPort]), [['http', 80, 'http'], ['metrics', 9090, 9090]]);
  const slices = ds.endpointSlicesFor('default', 'web');
  t.equal(slices.length, 1);
  t.same(slices[0].endpoints.map((e) => [e.addresses[0], e.conditions.ready, e.conditions.serving, e.conditions.terminating, e.nodeName]), [
    ['10.244.0.2', true, true, false, 'node-a'],
    ['10.244.0.3', true, true, false, 'node-a'],
    ['10.244.1.2', false, true, true, 'node-b'],
  ]);
  const api = ds.endpointSlicesFor('default', 'api')[0];
  t.same(api.endpoints.map((e) => e.conditions), [{ ready: true, serving: true, terminating: false }, { ready: true, serving: true, terminating: false }], 'ready nil → ready');
  t.same(ds.endpointSlicesFor('default', 'search').map((s) => s.addressType), ['IPv4', 'IPv6']);
  t.equal(ds.service('default', 'search')?.spec.clusterIPs.length, 2);
  t.equal(ds.service('default', 'checkout')?.spec.sessionAffinityConfig?.clientIP.timeoutSeconds, 3600);
  t.equal(ds.service('default', 'checkout')?.spec.healthCheckNodePort, 32145);
  t.same(ds.service('default', 'checkout')?.spec.healthProbe, { protocol: 'http', port: 8080, path: '/healthz', intervalSeconds: 5, unhealthyThreshold: 2 });
  t.equal(ds.service('default', 'storefront')?.spec.loadBalancerIP?.text, '20.61.12.34');
  t.equal(ds.service('default', 'storefront')?.status.loadBalancer.ingress[0].ip?.text, '20.61.12.34');
  t.equal(ds.service('default', 'admin')?.spec.internal, true);
  t.same(ds.service('default', 'admin')?.spec.externalIPs.map((x) => x.text), ['10.0.0.200']);
  t.same(ds.service('default', 'reports')?.spec.loadBalancerSourceRanges.map((x) => x.text), ['203.0.113.0/24', '198.51.100.0/24']);
  t.equal(ds.service('default', 'payments-gateway')?.spec.externalName, 'api.payments.example.com');
  t.equal(ds.service('default', 'cart-db')?.spec.headless, true);
  t.same(ds.service('kube-system', 'kube-dns')?.spec.ports.map((p) => `${p.name}:${p.port}/${p.protocol}`), ['dns:53/UDP', 'dns-tcp:53/TCP', 'metrics:9153/TCP']);
  t.equal(ds.nodeConfigs()[0].spec.nodeName, 'node-a');
});

t.test('multi-document YAML: empty documents count, sources are recorded', async (t) => {
  const text = `# leading comment
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
---
# only a comment
---
${svcDoc('web')}---
`;
  const ms = loadManifests(text, 'all.yaml');
  t.same(ms.map((m) => [m.key, m.source]), [
    ['Namespace//shop', { file: 'all.yaml', doc: 0, item: null, line: 3 }],
    ['Service/default/web', { file: 'all.yaml', doc: 3, item: null, line: 10 }],
  ]);
  t.same(ms[0].object, loadManifests('apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}')[0].object);
  t.equal(ms[1].kind, 'Service');
  t.equal(ms[1].apiVersion, 'v1');
  t.equal(ms[1].namespace, 'default');
  t.equal(ms[1].name, 'web');
  t.same(loadManifests(''), [], 'empty text: nothing');
  t.same(loadManifests('# nothing here\n---\n'), []);
  t.equal(loadManifests('\ufeff' + svcDoc('bom'))[0].name, 'bom', 'a BOM is skipped');
});

t.test('kind: List, typed lists, kubectl -o json, az list arrays', async (t) => {
  const list = loadManifests(`apiVersion: v1
kind: List
metadata: {resourceVersion: ""}
items:
- ${svcDoc('a').split('\n').join('\n  ')}
- ${svcDoc('b').split('\n').join('\n  ')}
`, 'list.yaml');
  t.same(list.map((m) => [m.key, m.source.item, m.source.line]), [['Service/default/a', 0, 5], ['Service/default/b', 1, 14]]);

  // `kubectl get svc,endpointslice -o json`
  const json = JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop', uid: 'u1', resourceVersion: '7', creationTimestamp: '2024-01-01T00:00:00Z' }, spec: { clusterIP: '10.96.0.7', clusterIPs: ['10.96.0.7'], ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }], selector: { app: 'web' }, sessionAffinity: 'None', type: 'ClusterIP', internalTrafficPolicy: 'Cluster', ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack' }, status: { loadBalancer: {} } },
      { addressType: 'IPv4', apiVersion: 'discovery.k8s.io/v1', endpoints: [{ addresses: ['10.244.0.2'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node-a' }], kind: 'EndpointSlice', metadata: { name: 'web-x1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } }, ports: [{ name: '', port: 8080, protocol: 'TCP' }] },
    ],
    metadata: { resourceVersion: '' },
  }, null, 4);
  const js = loadManifests(json, 'get.json');
  t.same(js.map((m) => m.key), ['Service/shop/web', 'EndpointSlice/shop/web-x1']);
  t.equal(js[1].source.line, 42, 'JSON gets line numbers too');
  const ds = new DesiredState(js);
  t.equal(ds.endpointSlicesFor('shop', 'web')[0].ports[0].port, 8080);

  // The API's own typed list: items carry no kind/apiVersion.
  const typed = loadManifests(JSON.stringify({ apiVersion: 'v1', kind: 'ServiceList', items: [{ metadata: { name: 'x' }, spec: { ports: [{ port: 1 }] } }] }));
  t.same(typed.map((m) => [m.key, m.apiVersion]), [['Service/default/x', 'v1']]);
  t.same(loadManifests('apiVersion: v1\nkind: List\nitems: []\n'), [], 'an empty List');

  // A top-level JSON array (az ... list) of k8s objects works too.
  const arr = loadManifests(JSON.stringify([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } }]));
  t.same(arr.map((m) => [m.key, m.source.item]), [['Namespace//a', 0]]);

  const e = errorOf(t, () => loadManifests(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } }, null, 'x'] }), 'l.json'));
  t.same(e.issues.map((i) => [i.path, i.code]), [['l.json[doc 0].items[1]', 'INVALID_TYPE'], ['l.json[doc 0].items[2]', 'INVALID_TYPE']]);
});

t.test('errors across documents are reported together, with file/doc prefixes and lines', async (t) => {
  const text = [
    svcDoc('ok'),
    svcDoc('bad-port', 70000),
    'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n',
    'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s1}\naddressType: IPv4\nendpoints:\n- addresses: [10.244.0.300]\n',
    svcDoc('two-errors', 0, '  sessionAfinity: None\n'),
  ].join('---\n');
  const e = errorOf(t, () => loadManifests(text, 'services.yaml'));
  t.same(e.issues.map((i) => [i.path, i.code, i.line ?? null]), [
    ['services.yaml[doc 1].spec.ports[0].port', 'INVALID_FIELD', 17],
    ['services.yaml[doc 2].kind', 'UNSUPPORTED_KIND', 20],
    ['services.yaml[doc 3].metadata.labels["kubernetes.io/service-name"]', 'MISSING_FIELD', 25],
    ['services.yaml[doc 3].endpoints[0].addresses[0]', 'INVALID_FIELD', 28],
    ['services.yaml[doc 4].spec.sessionAfinity', 'UNKNOWN_FIELD', 38],
    ['services.yaml[doc 4].spec.ports[0].port', 'INVALID_FIELD', 37],
  ]);
  t.same([e.issues[0].file, e.issues[0].doc, e.issues[0].field, e.issues[0].column], ['services.yaml', 1, 'spec.ports[0].port', 5]);
  t.match(e.message, /^6 problems in manifests\n/);
  t.match(e.message, /\n {2}services\.yaml\[doc 1\]: spec\.ports\[0\]\.port \(line 17:5\): 70000 is out of range; must be 1\.\.65535/);
  t.match(e.message, /services\.yaml\[doc 2\]: kind \(line 20:1\): unsupported kind "Deployment"/);
  t.equal(e.path, 'services.yaml[doc 1].spec.ports[0].port', 'the error path is the first issue\'s');
});

t.test('unknown kinds, wrong apiVersions, missing kind', async (t) => {
  const docs = [svcDoc('a'), svcDoc('b'), svcDoc('c'), 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n'].join('---\n');
  const e = errorOf(t, () => loadManifests(docs));
  t.same(e.issues.map((i) => [i.path, i.code]), [['[doc 3].kind', 'UNSUPPORTED_KIND']]);
  t.match(e.issues[0].message, /unsupported kind "Widget" \(apiVersion "example\.com\/v1"\); supported: .*Service/);
  t.same(loadManifests(docs, 'x.yaml', { ignoreUnsupportedKinds: true }).map((m) => m.name), ['a', 'b', 'c'], 'ignoreUnsupportedKinds skips them');

  const v1beta1 = errorOf(t, () => loadManifests('apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: {name: s}\naddressType: IPv4\n'));
  t.same(v1beta1.issues.map((i) => [i.path, i.code]), [['[doc 0].apiVersion', 'UNSUPPORTED_KIND']]);
  t.match(v1beta1.issues[0].message, /this build reads "discovery\.k8s\.io\/v1"/);

  const missing = errorOf(t, () => loadManifests('metadata: {name: x}\n---\nkind: Service\n---\napiVersion: v1\nkind: 7\n'));
  t.same(missing.issues.map((i) => [i.path, i.code]), [
    ['[doc 0].kind', 'MISSING_FIELD'], ['[doc 0].apiVersion', 'MISSING_FIELD'],
    ['[doc 1].apiVersion', 'MISSING_FIELD'],
    ['[doc 2].kind', 'INVALID_TYPE'],
  ]);
  const scalar = errorOf(t, () => loadManifests('just a string\n'));
  t.same(scalar.issues.map((i) => [i.path, i.code]), [['[doc 0]', 'INVALID_TYPE']]);
  t.ok(supportedKinds().includes('discovery.k8s.io/v1 EndpointSlice'));
  t.ok(supportedKinds().includes('tapflow.dev/v1alpha1 NodeConfig'));
});

t.test('YAML syntax errors, duplicate keys, duplicate objects', async (t) => {
  const syn = errorOf(t, () => loadManifests(`${svcDoc('a')}---\nkind: [Service\nx: 1\n`, 'bad.yaml'));
  t.equal(syn.issues.length, 1);
  t.same([syn.issues[0].path, syn.issues[0].code, syn.issues[0].line], ['bad.yaml[doc 1]', 'PARSE_ERROR', 11]);
  const dup = errorOf(t, () => loadManifests('apiVersion: v1\nkind: Service\nkind: Pod\n'));
  t.same(dup.issues.map((i) => [i.path, i.code, i.line]), [['[doc 0]', 'PARSE_ERROR', 3]]);
  t.match(dup.issues[0].message, /unique/);
  const twice = errorOf(t, () => loadManifests(`${svcDoc('a')}---\n${svcDoc('a')}`, 'twice.yaml'));
  t.same(twice.issues.map((i) => [i.path, i.code]), [['twice.yaml[doc 1].metadata.name', 'DUPLICATE_VALUE']]);
  t.match(twice.issues[0].message, /Service\/default\/a is defined twice; also at twice\.yaml\[doc 0\] \(line 1\)/);
  t.equal(loadManifests(`${svcDoc('a')}---\n${svcDoc('a').replace('name: a', 'name: a\n  namespace: other')}`).length, 2, 'same name, other namespace');
  const bomb = errorOf(t, () => loadManifests('a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n'));
  t.equal(bomb.issues[0].code, 'PARSE_ERROR', 'alias expansion is capped');
});

t.test('caps: nesting depth and document count', async (t) => {
  let deep: Record<string, unknown> = {};
  const root = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n', annotations: deep } };
  for (let i = 0; i < MAX_DEPTH + 5; i++) {
    const next: Record<string, unknown> = {};
    deep.x = next;
    deep = next;
  }
  const e = errorOf(t, () => loadManifests(JSON.stringify(root), 'deep.json'));
  t.equal(e.issues.length, 1);
  t.equal(e.issues[0].code, 'INVALID_FIELD');
  t.match(e.issues[0].path, /^deep\.json\[doc 0\]\.metadata\.annotations(\.x){62}$/, 'path of the first value nested too deep');
  t.match(e.issues[0].message, /at most 64 levels/);
  t.equal(loadManifests(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n' } })).length, 1);

  const flow = errorOf(t, () => loadManifests(`a: ${'['.repeat(5000)}${']'.repeat(5000)}\n`, 'flow.yaml'));
  t.same(flow.issues.map((i) => [i.path, i.code]), [['flow.yaml[doc 0]', 'PARSE_ERROR']]);
  t.match(flow.issues[0].message, /nesting is too deep/);

  const ns = (i: number): string => `apiVersion: v1\nkind: Namespace\nmetadata: {name: n${i}}\n`;
  const many = Array.from({ length: MAX_DOCUMENTS + 1 }, (_, i) => ns(i)).join('---\n');
  const c = errorOf(t, () => loadManifests(many, 'many.yaml'));
  t.same(c.issues.map((i) => [i.path, i.code]), [[`many.yaml[doc ${MAX_DOCUMENTS}]`, 'INVALID_FIELD']]);
  t.match(c.issues[0].message, /at most 10000/);
  t.equal(loadManifests(Array.from({ length: MAX_DOCUMENTS }, (_, i) => ns(i)).join('---\n')).length, MAX_DOCUMENTS, 'exactly the cap is fine');

  const items = Array.from({ length: MAX_DOCUMENTS + 1 }, (_, i) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `n${i}` } }));
  const l = errorOf(t, () => loadManifests(JSON.stringify({ apiVersion: 'v1', kind: 'List', items })));
  t.same(l.issues.map((i) => [i.path, i.code]), [[`[doc 0].items[${MAX_DOCUMENTS}]`, 'INVALID_FIELD']]);
});

t.test('the registry: custom kinds, ARM types, throwing validators, NodeConfig', async (t) => {
  interface Widget { metadata: { name: string; namespace: string }; size: number }
  registerKind<Widget>('example.com/v1', 'Widget', (obj, issues) => {
    const o = obj as { metadata?: { name?: string; namespace?: string }; spec?: { size?: unknown } };
    if (typeof o.spec?.size !== 'number') {
      issues.add('spec.size', ErrorCode.INVALID_TYPE, 'expected a number');
      return undefined;
    }
    return { metadata: { name: o.metadata?.name ?? '', namespace: o.metadata?.namespace ?? 'default' }, size: o.spec.size };
  });
  const w = loadManifests('apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: lab}\nspec: {size: 3}\n');
  t.same([w[0].key, (w[0].object as Widget).size], ['Widget/lab/w', 3]);
  const we = errorOf(t, () => loadManifests('apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec:\n  size: big\n', 'w.yaml'));
  t.same(we.issues.map((i) => [i.path, i.code, i.line]), [['w.yaml[doc 0].spec.size', 'INVALID_TYPE', 5]]);

  // A validator that throws a ValidationError (the validateNodeConfig style) works as well.
  registerKind('example.com/v1', 'Strict', (obj) => {
    const issues = new Issues();
    if ((obj as { spec?: unknown }).spec === undefined) issues.add('spec', ErrorCode.MISSING_FIELD, 'required');
    issues.throwIfAny();
    return obj;
  }, { namespaced: false });
  const se = errorOf(t, () => loadManifests('apiVersion: example.com/v1\nkind: Strict\nmetadata: {name: s}\n'));
  t.same(se.issues.map((i) => [i.path, i.code]), [['[doc 0].spec', 'MISSING_FIELD']]);
  t.equal(loadManifests('apiVersion: example.com/v1\nkind: Strict\nmetadata: {name: s}\nspec: {}\n')[0].key, 'Strict//s');

  // ARM resources are recognised by their top-level `type`.
  const nsg = {
    id: '/subscriptions/0000/resourceGroups/RG-Net/providers/Microsoft.Network/networkSecurityGroups/nsg-web',
    name: 'nsg-web',
    type: 'Microsoft.Network/networkSecurityGroups',
    location: 'westeurope',
    properties: { securityRules: [] },
  };
  const unknownArm = errorOf(t, () => loadManifests(JSON.stringify(nsg), 'nsg.json'));
  t.same(unknownArm.issues.map((i) => [i.path, i.code]), [['nsg.json[doc 0].type', 'UNSUPPORTED_KIND']]);
  registerArmType('Microsoft.Network/networkSecurityGroups', (obj, issues) => {
    const o = obj as { properties?: { securityRules?: unknown } };
    if (!Array.isArray(o.properties?.securityRules)) {
      issues.add('properties.securityRules', ErrorCode.MISSING_FIELD, 'required');
      return undefined;
    }
    return { rules: o.properties.securityRules.length };
  });
  const arm = loadManifests(JSON.stringify(nsg, null, 2), 'nsg.json');
  t.same([arm[0].kind, arm[0].namespace, arm[0].name, arm[0].key, arm[0].object], ['Microsoft.Network/networkSecurityGroups', 'rg-net', 'nsg-web', 'Microsoft.Network/networkSecurityGroups/rg-net/nsg-web', { rules: 0 }]);
  const azList = loadManifests(JSON.stringify([nsg, { ...nsg, name: 'nsg-db', resourceGroup: 'rg-data', type: 'microsoft.network/NetworkSecurityGroups' }]));
  t.same(azList.map((m) => [m.key, m.source.item]), [['Microsoft.Network/networkSecurityGroups/rg-net/nsg-web', 0], ['Microsoft.Network/networkSecurityGroups/rg-data/nsg-db', 1]], 'az list arrays; type matched case-insensitively');
  const armBad = errorOf(t, () => loadManifests(JSON.stringify([{ ...nsg, properties: {} }])));
  t.same(armBad.issues.map((i) => i.path), ['[doc 0][0].properties.securityRules']);

  // NodeConfig goes through validateNodeConfig.
  const nc = errorOf(t, () => loadManifests('apiVersion: tapflow.dev/v1alpha1\nkind: NodeConfig\nmetadata: {name: n}\nspec:\n  nodeIPs: [10.0.0.4]\n  podCIDR: 10.244.0.0/24\n  mtu: 20\n  ports: [{name: up, tap: tfup0, role: uplink}]\n', 'node.yaml'));
  t.same(nc.issues.map((i) => [i.path, i.code, i.line]), [['node.yaml[doc 0].spec.mtu', 'INVALID_FIELD', 7]]);
});

t.test('loadManifestPaths: directories recursively, sorted, filtered; missing paths', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-manifests-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'b-sub', 'deeper'), { recursive: true });
  fs.mkdirSync(path.join(dir, '.hidden'));
  fs.writeFileSync(path.join(dir, 'z.yaml'), svcDoc('z'));
  fs.writeFileSync(path.join(dir, 'a.yml'), svcDoc('a'));
  fs.writeFileSync(path.join(dir, 'c.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'c' } }));
  fs.writeFileSync(path.join(dir, 'b-sub', 'deeper', 'd.YAML'), svcDoc('d'));
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'not yaml: [');
  fs.writeFileSync(path.join(dir, '.hidden', 'h.yaml'), svcDoc('h'));
  fs.writeFileSync(path.join(dir, 'extra.conf'), svcDoc('explicit'));

  t.same(listManifestFiles([dir]).map((f) => path.relative(dir, f)), ['a.yml', path.join('b-sub', 'deeper', 'd.YAML'), 'c.json', 'z.yaml']);
  const ms = loadManifestPaths([dir, path.join(dir, 'extra.conf'), path.join(dir, 'a.yml')]);
  t.same(ms.map((m) => m.name), ['a', 'd', 'c', 'z', 'explicit'], 'a named file is read whatever its extension; files are read once');
  t.equal(ms[0].source.file, path.join(dir, 'a.yml'));

  fs.writeFileSync(path.join(dir, 'b-sub', 'broken.yaml'), svcDoc('broken', 0));
  const e = errorOf(t, () => loadManifestPaths([dir]));
  t.same(e.issues.map((i) => i.path), [`${path.join(dir, 'b-sub', 'broken.yaml')}[doc 0].spec.ports[0].port`]);

  t.throws(() => loadManifestPaths([path.join(dir, 'missing.yaml')]), NotFoundError);
  try {
    loadManifestPaths([path.join(dir, 'missing')]);
  } catch (err) {
    t.equal((err as NotFoundError).code, 'NOT_FOUND');
  }
});

t.test('DesiredState', async (t) => {
  const ms = loadManifests([
    svcDoc('web'),
    svcDoc('api'),
    'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-b, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nendpoints: [{addresses: [10.244.0.3]}]\n',
    'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-a, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nendpoints: [{addresses: [10.244.0.2]}]\n',
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n',
  ].join('---\n'));
  const ds = new DesiredState(ms);
  t.equal(ds.size, 5);
  t.same(ds.kinds(), ['EndpointSlice', 'Namespace', 'Service']);
  t.same(ds.services().map((s) => s.metadata.name), ['api', 'web'], 'sorted by key');
  t.same(ds.endpointSlicesFor('default', 'web').map((s) => s.metadata.name), ['web-a', 'web-b']);
  t.same(ds.endpointSlicesFor('default', 'api'), []);
  t.same(ds.endpointSlicesFor('other', 'web'), []);
  t.equal(ds.get('Service', 'default', 'web')?.object.spec.ports[0].port, 80, 'typed get');
  t.ok(ds.has('Namespace', '', 'default'));
  t.equal(ds.namespace('default')?.metadata.labels['kubernetes.io/metadata.name'], 'default');
  t.same(ds.list().map((m) => m.key), ['EndpointSlice/default/web-a', 'EndpointSlice/default/web-b', 'Namespace//default', 'Service/default/api', 'Service/default/web']);

  const snap = ds.clone();
  const g0 = ds.generation;
  t.equal(snap.generation, g0);

  // Move slice web-a to service api.
  const moved = loadManifests('apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-a, labels: {kubernetes.io/service-name: api}}\naddressType: IPv4\nendpoints: [{addresses: [10.244.0.9]}]\n')[0];
  ds.upsert(moved);
  t.same(ds.endpointSlicesFor('default', 'web').map((s) => s.metadata.name), ['web-b']);
  t.same(ds.endpointSlicesFor('default', 'api').map((s) => s.endpoints[0].addresses[0]), ['10.244.0.9']);
  t.ok(ds.generation > g0);
  t.equal(ds.delete('Service', 'default', 'web'), true);
  t.equal(ds.delete('Service', 'default', 'web'), false);
  t.same(ds.services().map((s) => s.metadata.name), ['api']);
  t.equal(ds.delete('EndpointSlice', 'default', 'web-b'), true);
  t.same(ds.endpointSlicesFor('default', 'web'), []);

  // The clone did not change.
  t.same(snap.services().map((s) => s.metadata.name), ['api', 'web']);
  t.same(snap.endpointSlicesFor('default', 'web').map((s) => s.metadata.name), ['web-a', 'web-b']);
  const sl: EndpointSlice[] = snap.endpointSlices();
  t.equal(sl.length, 2);
  const all: Manifest[] = [...snap];
  t.equal(all.length, 5);
  const gen = snap.generation;
  snap.upsert(snap.list('Service')[0]);
  t.equal(snap.generation, gen, 'upserting the same manifest is a no-op');
});
