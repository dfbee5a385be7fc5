/** Namespace: the automatic kubernetes.io/metadata.name label; cluster-scoped; exact paths. */
import t from 'tap';
import { ValidationError } from './errors';
import { validateNamespace } from './namespace';

function codes(obj: unknown): [string, string][] {
  try {
    validateNamespace(obj);
  } catch (e) {
    if (e instanceof ValidationError) return e.issues.map((i) => [i.path, i.code]);
    throw e;
  }
  return [];
}

t.test('kubectl get ns -o yaml parses; the name label is automatic', async (t) => {
  const ns = validateNamespace({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { creationTimestamp: '2024-05-01T08:00:00Z', labels: { team: 'shop' }, name: 'shop', resourceVersion: '42', uid: 'a-b-c' },
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  });
  t.same(ns.metadata.labels, { team: 'shop', 'kubernetes.io/metadata.name': 'shop' });
  t.equal(ns.metadata.namespace, '', 'cluster-scoped');
  t.same(ns.spec.finalizers, ['kubernetes']);
  t.equal(ns.status.phase, 'Active');
  const wrong = validateNamespace({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'kubernetes.io/metadata.name': 'other' } } });
  t.equal(wrong.metadata.labels['kubernetes.io/metadata.name'], 'shop', 'the API server overwrites it');
});

t.test('rules', async (t) => {
  t.same(codes({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', namespace: 'x' } }), [['metadata.namespace', 'INVALID_FIELD']]);
  t.same(codes({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'Shop.Prod' } }), [['metadata.name', 'INVALID_FIELD']]);
  t.same(codes({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' }, spec: { finalizer: [] } }), [['spec.finalizer', 'UNKNOWN_FIELD']]);
  t.same(codes({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { team: 7 } } }), [['metadata.labels.team', 'INVALID_TYPE']]);
  t.same(codes({ apiVersion: 'v1', kind: 'Namespace', metadata: {} }), [['metadata.name', 'MISSING_FIELD']]);
});
