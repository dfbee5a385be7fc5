/**
 * NetworkPolicy validation (ValidateNetworkPolicy) and defaulting (SetDefaults_NetworkPolicy):
 * exact field paths, policyTypes defaults, peers, ipBlock/except, ports/endPort, loader.
 */
import t from 'tap';
import { Issues } from './errors';
import { checkNetworkPolicy, peerSelectsPod, policySelects, validateNetworkPolicy } from './network-policy';
import { loadManifests } from './manifests';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

function np(spec: Obj, meta: Obj = { name: 'p', namespace: 'prod' }): Obj {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta, spec };
}

function issuesOf(obj: unknown): { path: string; code: string; message: string }[] {
  const issues = new Issues();
  checkNetworkPolicy(obj, issues);
  return issues.list;
}

t.test('defaults: policyTypes Ingress, plus Egress when egress rules exist; protocol TCP', (t) => {
  t.same(validateNetworkPolicy(np({ podSelector: {} })).spec.policyTypes, ['Ingress']);
  t.same(validateNetworkPolicy(np({ podSelector: {}, egress: [{}] })).spec.policyTypes, ['Ingress', 'Egress']);
  t.same(validateNetworkPolicy(np({ podSelector: {}, egress: [] })).spec.policyTypes, ['Ingress'], 'an empty egress list does not add Egress');
  t.same(validateNetworkPolicy(np({ podSelector: {}, policyTypes: ['Egress'] })).spec.policyTypes, ['Egress']);
  const p = validateNetworkPolicy(np({ podSelector: { matchLabels: { app: 'api' } }, ingress: [{ ports: [{ port: 80 }, { port: 'http' }, { protocol: 'UDP' }] }] }));
  t.same(p.spec.ingress[0].ports, [{ protocol: 'TCP', port: 80, endPort: null }, { protocol: 'TCP', port: 'http', endPort: null }, { protocol: 'UDP', port: null, endPort: null }]);
  t.same(p.spec.ingress[0].peers, [], 'no from = every peer');
  t.equal(p.metadata.namespace, 'prod');
  t.same(validateNetworkPolicy(np({ podSelector: {} }, { name: 'x' })).metadata.namespace, 'default');
  t.end();
});

t.test('validation errors with exact paths', (t) => {
  const cases: { name: string; spec: Obj; path: string; code: string; message: RegExp }[] = [
    { name: 'ipBlock with a selector', spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] }, path: 'spec.ingress[0].from[0].ipBlock', code: 'INVALID_FIELD', message: /may not be combined/ },
    { name: 'empty peer', spec: { podSelector: {}, egress: [{ to: [{}] }] }, path: 'spec.egress[0].to[0]', code: 'MISSING_FIELD', message: /needs podSelector, namespaceSelector/ },
    { name: 'except outside cidr', spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '172.17.0.0/16', except: ['172.18.1.0/24'] } }] }] }, path: 'spec.ingress[0].from[0].ipBlock.except[0]', code: 'INVALID_FIELD', message: /strict subset of cidr 172\.17\.0\.0\/16/ },
    { name: 'except equal to cidr', spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '172.17.0.0/16', except: ['172.17.0.0/16'] } }] }] }, path: 'spec.ingress[0].from[0].ipBlock.except[0]', code: 'INVALID_FIELD', message: /strict subset/ },
    { name: 'bad cidr', spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '172.17.0.0' } }] }] }, path: 'spec.ingress[0].from[0].ipBlock.cidr', code: 'INVALID_FIELD', message: /not a valid CIDR/ },
    { name: 'endPort with a named port', spec: { podSelector: {}, ingress: [{ ports: [{ port: 'http', endPort: 90 }] }] }, path: 'spec.ingress[0].ports[0].endPort', code: 'INVALID_FIELD', message: /cannot be used with a named port/ },
    { name: 'endPort below port', spec: { podSelector: {}, ingress: [{ ports: [{ port: 100, endPort: 90 }] }] }, path: 'spec.ingress[0].ports[0].endPort', code: 'INVALID_FIELD', message: /must be ≥ port/ },
    { name: 'endPort without port', spec: { podSelector: {}, ingress: [{ ports: [{ endPort: 90 }] }] }, path: 'spec.ingress[0].ports[0].endPort', code: 'INVALID_FIELD', message: /needs port/ },
    { name: 'port 0', spec: { podSelector: {}, egress: [{ ports: [{ port: 0 }] }] }, path: 'spec.egress[0].ports[0].port', code: 'INVALID_FIELD', message: /out of range/ },
    { name: 'numeric string port', spec: { podSelector: {}, ingress: [{ ports: [{ port: '80' }] }] }, path: 'spec.ingress[0].ports[0].port', code: 'INVALID_FIELD', message: /at least one letter/ },
    { name: 'bad protocol', spec: { podSelector: {}, ingress: [{ ports: [{ protocol: 'ICMP' }] }] }, path: 'spec.ingress[0].ports[0].protocol', code: 'INVALID_FIELD', message: /"TCP", "UDP", "SCTP"/ },
    { name: 'bad policy type', spec: { podSelector: {}, policyTypes: ['ingress'] }, path: 'spec.policyTypes[0]', code: 'INVALID_FIELD', message: /"Ingress" or "Egress"/ },
    { name: 'duplicate policy type', spec: { podSelector: {}, policyTypes: ['Egress', 'Egress'] }, path: 'spec.policyTypes[1]', code: 'DUPLICATE_VALUE', message: /listed twice/ },
    { name: 'bad selector operator', spec: { podSelector: { matchExpressions: [{ key: 'a', operator: 'Equals', values: ['b'] }] } }, path: 'spec.podSelector.matchExpressions[0].operator', code: 'INVALID_FIELD', message: /"In", "NotIn", "Exists", "DoesNotExist"/ },
    { name: 'In without values', spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } }] }] }, path: 'spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values', code: 'MISSING_FIELD', message: /at least one value/ },
    { name: 'misspelt field', spec: { podSelector: {}, ingress: [{ form: [] }] }, path: 'spec.ingress[0].form', code: 'UNKNOWN_FIELD', message: /did you mean "from"/ },
  ];
  for (const c of cases) {
    const got = issuesOf(np(c.spec));
    t.equal(got.length, 1, `${c.name}: one issue (${got.map((i) => `${i.path}: ${i.message}`).join('; ')})`);
    t.equal(got[0]?.path, c.path, `${c.name}: path`);
    t.equal(got[0]?.code, c.code, `${c.name}: code`);
    t.match(got[0]?.message, c.message, `${c.name}: message`);
  }
  t.end();
});

t.test('selection: podSelector in the policy namespace; namespaceSelector AND podSelector', (t) => {
  const p = validateNetworkPolicy(np({ podSelector: { matchLabels: { app: 'api' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'fe' } } }, { namespaceSelector: { matchLabels: { env: 'dev' } }, podSelector: { matchLabels: { role: 'fe' } } }, { namespaceSelector: {} }] }] }));
  t.ok(policySelects(p, 'prod', { app: 'api', x: 'y' }));
  t.notOk(policySelects(p, 'dev', { app: 'api' }), 'other namespace');
  const [same, and, allNs] = p.spec.ingress[0].peers;
  t.ok(peerSelectsPod(same, 'prod', 'prod', { role: 'fe' }, {}));
  t.notOk(peerSelectsPod(same, 'prod', 'dev', { role: 'fe' }, { env: 'dev' }), 'podSelector alone = policy namespace only');
  t.ok(peerSelectsPod(and, 'prod', 'dev', { role: 'fe' }, { env: 'dev' }));
  t.notOk(peerSelectsPod(and, 'prod', 'dev', { role: 'be' }, { env: 'dev' }));
  t.notOk(peerSelectsPod(and, 'prod', 'qa', { role: 'fe' }, { env: 'qa' }));
  t.ok(peerSelectsPod(allNs, 'prod', 'qa', {}, { env: 'qa' }), 'namespaceSelector {} = every pod of every namespace');
  t.end();
});

t.test('the loader reads NetworkPolicy documents', (t) => {
  const ms = loadManifests([
    'apiVersion: networking.k8s.io/v1',
    'kind: NetworkPolicy',
    'metadata: {name: deny, namespace: prod}',
    'spec: {podSelector: {}, policyTypes: [Ingress]}',
    '---',
    'apiVersion: networking.k8s.io/v1',
    'kind: NetworkPolicy',
    'metadata: {name: bad, namespace: prod}',
    'spec: {podSelector: {}, ingress: [{ports: [{port: 70000}]}]}',
  ].join('\n').split('---')[0], 'np.yaml');
  t.same(ms.map((m) => m.key), ['NetworkPolicy/prod/deny']);
  try {
    loadManifests('apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bad}\nspec: {podSelector: {}, ingress: [{ports: [{port: 70000}]}]}\n', 'np.yaml');
    t.fail('should throw');
  } catch (e) {
    t.match(e, { issues: [{ path: 'np.yaml[doc 0].spec.ingress[0].ports[0].port', line: 4 }] });
  }
  t.end();
});
