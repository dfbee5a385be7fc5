/** Pod: kubectl-shaped pods parse (every PodSpec field tolerated); named ports; IPs; exact paths. */
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { findNamedPort, validatePod } from './pod';
import { expectIssues as expectIssuesOf } from '../../test/support/model-objects';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

function pod(spec: Obj = {}, status?: Obj): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-a', labels: { app: 'web' } },
    spec: { containers: [{ name: 'web', image: 'web:1', ports: [{ name: 'http', containerPort: 8080 }] }], ...spec },
    ...(status !== undefined ? { status } : {}),
  };
}

function expectIssues(t: tap.Test, obj: unknown, want: [string, string][], msg?: RegExp[]): void {
  expectIssuesOf(t, validatePod, obj, want, msg);
}

t.test('the example pods (kubectl get pods -o yaml) parse', async (t) => {
  const file = path.join(__dirname, '..', '..', '..', 'examples', 'services', 'web-pods.yaml');
  const list = parse(fs.readFileSync(file, 'utf8')) as Obj;
  const a = validatePod(list.items[0]);
  t.same(a.metadata.labels, { 'app.kubernetes.io/name': 'web', 'pod-template-hash': '5d8f7c9b6' });
  t.equal(a.spec.nodeName, 'node-a');
  t.same(a.spec.containers[0].ports.map((p) => [p.name, p.containerPort, p.protocol]), [['http', 8080, 'TCP'], ['metrics', 9090, 'TCP']]);
  t.same(a.status.podIPs.map((x) => x.text), ['10.244.0.2', 'fd00:244::2']);
  t.equal(a.status.podIP?.text, '10.244.0.2');
  t.equal(a.status.hostIP?.text, '10.0.0.4');
  t.equal(a.status.phase, 'Running');
  t.equal(a.status.ready, true);
  t.equal(findNamedPort(a, 'http'), 8080);
  t.equal(findNamedPort(a, 'http', 'UDP'), null);
  t.equal(findNamedPort(a, 'nope'), null);
  const c = validatePod(list.items[2]);
  t.equal(c.metadata.deletionTimestamp, '2024-05-14T11:03:11Z');
  t.equal(c.status.ready, null);
});

t.test('defaults and status', async (t) => {
  const p = validatePod(pod({ containers: [{ name: 'dns', ports: [{ containerPort: 53, protocol: 'UDP' }, { containerPort: 9153 }] }] }, { podIP: '10.244.0.9' }));
  t.equal(p.metadata.namespace, 'default');
  t.same(p.spec.containers[0].ports, [
    { name: null, containerPort: 53, protocol: 'UDP', hostPort: 0, hostIP: null },
    { name: null, containerPort: 9153, protocol: 'TCP', hostPort: 0, hostIP: null },
  ]);
  t.same(p.status.podIPs.map((x) => x.text), ['10.244.0.9'], 'podIPs from podIP');
  t.equal(p.spec.hostNetwork, false);
  const none = validatePod(pod());
  t.same(none.status, { phase: null, podIP: null, podIPs: [], hostIP: null, ready: null });
  const init = validatePod(pod({ initContainers: [{ name: 'proxy', restartPolicy: 'Always', ports: [{ name: 'admin', containerPort: 15000 }] }] }));
  t.equal(findNamedPort(init, 'admin'), 15000, 'sidecar ports are found too');
});

t.test('rules with exact paths', async (t) => {
  expectIssues(t, pod({ containers: [{ name: 'a', ports: [{ name: 'http', containerPort: 80 }, { name: 'http', containerPort: 81, protocol: 'UDP' }] }] }), [['spec.containers[0].ports[1].name', 'DUPLICATE_VALUE']], [/also spec\.containers\[0\]\.ports\[0\]\.name/]);
  const two = validatePod(pod({ containers: [{ name: 'a', ports: [{ name: 'metrics', containerPort: 9090 }] }, { name: 'b', ports: [{ name: 'metrics', containerPort: 9091 }] }] }));
  t.equal(findNamedPort(two, 'metrics'), 9090, 'the same name in two containers is allowed (as the API does); the first wins');
  expectIssues(t, pod({ containers: [{ name: 'a', ports: [{ name: 'HTTP', containerPort: 80 }] }] }), [['spec.containers[0].ports[0].name', 'INVALID_FIELD']]);
  expectIssues(t, pod({ containers: [{ name: 'a', ports: [{ name: '8080', containerPort: 80 }] }] }), [['spec.containers[0].ports[0].name', 'INVALID_FIELD']], [/at least one letter/]);
  expectIssues(t, pod({ containers: [{ name: 'a', ports: [{ name: 'http' }] }] }), [['spec.containers[0].ports[0].containerPort', 'MISSING_FIELD']]);
  expectIssues(t, pod({ containers: [{ name: 'a', ports: [{ containerPort: 70000 }] }] }), [['spec.containers[0].ports[0].containerPort', 'INVALID_FIELD']]);
  expectIssues(t, pod({ containers: [{ name: 'a' }, { name: 'a' }] }), [['spec.containers[1].name', 'DUPLICATE_VALUE']]);
  expectIssues(t, pod({ containers: [] }), [['spec.containers', 'INVALID_FIELD']]);
  expectIssues(t, pod({ containers: undefined }), [['spec.containers', 'MISSING_FIELD']]);
  expectIssues(t, pod({ contianers: [] }), [['spec.contianers', 'UNKNOWN_FIELD']], [/did you mean "containers"/]);
  expectIssues(t, pod({ containers: [{ name: 'a', imag: 'x' }] }), [['spec.containers[0].imag', 'UNKNOWN_FIELD']], [/did you mean "image"/]);
  expectIssues(t, pod({ nodeName: 'Node A' }), [['spec.nodeName', 'INVALID_FIELD']]);
  expectIssues(t, pod({}, { podIP: '10.244.0.2', podIPs: [{ ip: '10.244.0.3' }] }), [['status.podIPs[0].ip', 'INVALID_FIELD']], [/must equal status\.podIP/]);
  expectIssues(t, pod({}, { podIPs: [{ ip: '10.244.0.2' }, { ip: '10.244.0.3' }] }), [['status.podIPs[1].ip', 'INVALID_FIELD']]);
  expectIssues(t, pod({}, { phase: 'Started' }), [['status.phase', 'INVALID_FIELD']]);
  t.ok(validatePod(pod({}, { qosClass: 'BestEffort', containerStatuses: [{ name: 'web', ready: true }] })), 'unknown status fields are tolerated');
});
