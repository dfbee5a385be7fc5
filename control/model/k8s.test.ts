/** k8s basics: name/label syntax, loose CIDRs, special IPs, label selectors. */
import t from 'tap';
import { Issues } from './errors';
import { parseIP } from './node-config';
import {
  K8sChecker, checkLabelSelector, dns1035LabelProblem, dns1123LabelProblem, dns1123SubdomainProblem, isEmptySelector,
  labelValueProblem, mapSelectorMatches, objectKey, parseCIDRLoose, portNameProblem, qualifiedNameProblem, selectorMatches,
  specialIPProblem,
} from './k8s';

t.test('name and label syntax', async (t) => {
  t.equal(dns1123LabelProblem('web-1'), null);
  t.not(dns1123LabelProblem('-web'), null);
  t.not(dns1123LabelProblem('a'.repeat(64)), null);
  t.equal(dns1123SubdomainProblem('api.example.com'), null);
  t.not(dns1123SubdomainProblem('api..example'), null);
  t.equal(dns1035LabelProblem('web'), null);
  t.not(dns1035LabelProblem('1web'), null);
  t.equal(qualifiedNameProblem('app.kubernetes.io/name'), null);
  t.equal(qualifiedNameProblem('App_Name.v2'), null);
  t.not(qualifiedNameProblem('a/b/c'), null);
  t.not(qualifiedNameProblem('/name'), null);
  t.not(qualifiedNameProblem('Example.com/name'), null, 'prefix is a lower-case DNS subdomain');
  t.equal(labelValueProblem(''), null, 'empty label values are allowed');
  t.not(labelValueProblem('-x'), null);
  t.equal(portNameProblem('http-alt'), null);
  t.not(portNameProblem('80'), null);
  t.not(portNameProblem('a--b'), null);
  t.not(portNameProblem('x'.repeat(16)), null);
  t.equal(objectKey('Service', 'default', 'web'), 'Service/default/web');
});

t.test('loose CIDRs and special IPs', async (t) => {
  t.equal(parseCIDRLoose('10.1.2.3/8')?.text, '10.0.0.0/8');
  t.equal(parseCIDRLoose(' 2001:db8::1/32 ')?.text, '2001:db8::/32');
  t.equal(parseCIDRLoose('0.0.0.0/0')?.text, '0.0.0.0/0');
  t.equal(parseCIDRLoose('10.0.0.0/33'), null);
  t.equal(parseCIDRLoose('10.0.0.0'), null);
  t.equal(parseCIDRLoose('10.0.0.0/08'), null);
  const sp = (s: string): string | null => specialIPProblem(parseIP(s)!);
  t.equal(sp('10.0.0.1'), null);
  t.match(sp('224.0.0.5'), /multicast/);
  t.equal(sp('224.0.1.5'), null);
  t.match(sp('ff02::1'), /multicast/);
  t.match(sp('::'), /unspecified/);
  t.match(sp('::1'), /loopback/);
  t.equal(sp('2001:db8::1'), null);
});

t.test('label selectors', async (t) => {
  const issues = new Issues();
  const k = new K8sChecker(issues);
  const sel = checkLabelSelector(k, {
    matchLabels: { app: 'web' },
    matchExpressions: [
      { key: 'tier', operator: 'In', values: ['front', 'edge'] },
      { key: 'canary', operator: 'DoesNotExist' },
    ],
  }, 'spec.podSelector');
  t.equal(issues.length, 0);
  t.ok(sel !== null && selectorMatches(sel, { app: 'web', tier: 'edge' }));
  t.notOk(sel !== null && selectorMatches(sel, { app: 'web', tier: 'edge', canary: '' }));
  t.notOk(sel !== null && selectorMatches(sel, { app: 'web', tier: 'back' }));
  t.notOk(sel !== null && selectorMatches(sel, { tier: 'front' }));
  const notIn = checkLabelSelector(k, { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }, { key: 'team', operator: 'Exists' }] }, 'x')!;
  t.ok(selectorMatches(notIn, { team: 'a' }), 'NotIn matches a missing key');
  t.notOk(selectorMatches(notIn, { team: 'a', env: 'prod' }));
  const empty = checkLabelSelector(k, {}, 'x')!;
  t.ok(isEmptySelector(empty));
  t.ok(selectorMatches(empty, {}), 'the empty selector matches everything');
  t.equal(checkLabelSelector(k, null, 'x'), null);
  t.ok(mapSelectorMatches({ app: 'web' }, { app: 'web', x: 'y' }));
  t.notOk(mapSelectorMatches({ app: 'web' }, { app: 'api' }));

  const bad = new Issues();
  checkLabelSelector(new K8sChecker(bad), {
    matchLabels: { 'bad key': 'x' },
    matchExpressions: [
      { key: 'a', operator: 'In' },
      { key: 'b', operator: 'Exists', values: ['x'] },
      { key: 'c', operator: 'Equals', values: ['x'] },
      { key: 'd', operator: 'In', values: ['bad value!'] },
    ],
    matchFields: {},
  }, 'spec.podSelector');
  t.same(bad.list.map((i) => [i.path, i.code]), [
    ['spec.podSelector.matchFields', 'UNKNOWN_FIELD'],
    ['spec.podSelector.matchLabels["bad key"]', 'INVALID_FIELD'],
    ['spec.podSelector.matchExpressions[0].values', 'MISSING_FIELD'],
    ['spec.podSelector.matchExpressions[1].values', 'INVALID_FIELD'],
    ['spec.podSelector.matchExpressions[2].operator', 'INVALID_FIELD'],
    ['spec.podSelector.matchExpressions[3].values[0]', 'INVALID_FIELD'],
  ]);
});
