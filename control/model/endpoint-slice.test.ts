/**
 * EndpointSlice: kubectl-shaped input parses; condition and protocol defaults; every rule gives
 * its exact path.
 */
import t from 'tap';
import { parse } from 'yaml';
import { ValidationError } from './errors';
import { validateEndpointSlice } from './endpoint-slice';
import { expectIssues as expectIssuesOf } from '../../test/support/model-objects';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

/** One slice of `kubectl get endpointslice -o yaml`, with its noise. */
const KUBECTL_SLICE = `
addressType: IPv4
apiVersion: discovery.k8s.io/v1
endpoints:
- addresses:
  - 10.244.0.2
  conditions:
    ready: true
    serving: true
    terminating: false
  nodeName: node-a
  targetRef:
    kind: Pod
    name: web-a
    namespace: default
    uid: 0b7e3a55-2d4c-4f8e-9c61-5a0f7d2e8b11
  zone: westeurope-1
- addresses:
  - 10.244.1.2
  conditions:
    ready: false
    serving: true
    terminating: true
  nodeName: node-b
  targetRef:
    kind: Pod
    name: web-c
    namespace: default
    uid: 9a1d5e80-6c2f-4b7a-8e43-0d5b2c7f1a33
  hints:
    forZones:
    - name: westeurope-2
kind: EndpointSlice
metadata:
  annotations:
    endpoints.kubernetes.io/last-change-trigger-time: "2024-05-14T11:02:41Z"
  creationTimestamp: "2024-05-14T09:21:07Z"
  generateName: web-
  generation: 7
  labels:
    endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io
    kubernetes.io/service-name: web
  managedFields:
  - apiVersion: discovery.k8s.io/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:addressType: {}
    manager: kube-controller-manager
    operation: Update
    time: "2024-05-14T11:02:41Z"
  name: web-7xkq2
  namespace: default
  ownerReferences:
  - apiVersion: v1
    blockOwnerDeletion: true
    controller: true
    kind: Service
    name: web
    uid: 6c1f0d0e-4a8b-4e55-9d0e-2f6f1b3c9a10
  resourceVersion: "191032"
  uid: 3e8f6a2b-1c9d-4e7f-a0b5-c4d3e2f1a0b9
ports:
- name: http
  port: 8080
  protocol: TCP
`;

function slice(over: Obj = {}, labels: Obj = { 'kubernetes.io/service-name': 'web' }): Obj {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'web-abc', labels },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.244.0.2'] }],
    ports: [{ name: 'http', port: 8080 }],
    ...over,
  };
}

function expectIssues(t: tap.Test, obj: unknown, want: [string, string][], msg?: RegExp[]): void {
  expectIssuesOf(t, validateEndpointSlice, obj, want, msg);
}

t.test('kubectl get endpointslice -o yaml parses', async (t) => {
  const es = validateEndpointSlice(parse(KUBECTL_SLICE));
  t.equal(es.serviceName, 'web');
  t.equal(es.metadata.namespace, 'default');
  t.equal(es.metadata.ownerReferences[0].name, 'web');
  t.equal(es.metadata.ownerReferences[0].controller, true);
  t.equal(es.addressType, 'IPv4');
  t.same(es.endpoints.map((e) => [e.addresses[0], e.nodeName, e.targetRef?.name, e.conditions]), [
    ['10.244.0.2', 'node-a', 'web-a', { ready: true, serving: true, terminating: false }],
    ['10.244.1.2', 'node-b', 'web-c', { ready: false, serving: true, terminating: true }],
  ]);
  t.equal(es.endpoints[0].ips[0].family === 4 && es.endpoints[0].ips[0].v4, 0x0af40002);
  t.equal(es.endpoints[0].zone, 'westeurope-1');
  t.same(es.endpoints[1].hints, { forZones: ['westeurope-2'], forNodes: [] });
  t.same(es.ports, [{ name: 'http', port: 8080, protocol: 'TCP', appProtocol: null }]);
});

t.test('API defaults: conditions, protocol, port', async (t) => {
  const es = validateEndpointSlice(slice({
    endpoints: [
      { addresses: ['10.244.0.2'] },
      { addresses: ['10.244.0.3'], conditions: {} },
      { addresses: ['10.244.0.4'], conditions: { ready: false } },
      { addresses: ['10.244.0.5'], conditions: { ready: null, serving: false, terminating: true } },
    ],
    ports: [{ port: 8080 }, { name: 'all' }],
  }));
  t.same(es.endpoints.map((e) => e.conditions), [
    { ready: true, serving: true, terminating: false },
    { ready: true, serving: true, terminating: false },
    { ready: false, serving: false, terminating: false },
    { ready: true, serving: false, terminating: true },
  ], 'ready nil → true, serving nil → ready, terminating nil → false');
  t.same(es.ports, [
    { name: '', port: 8080, protocol: 'TCP', appProtocol: null },
    { name: 'all', port: null, protocol: 'TCP', appProtocol: null },
  ]);
  const empty = validateEndpointSlice(slice({ endpoints: null, ports: null }));
  t.same([empty.endpoints, empty.ports], [[], []], 'kubectl prints endpoints: null for an empty slice');
});

t.test('addresses are checked against addressType', async (t) => {
  const v6 = validateEndpointSlice(slice({ addressType: 'IPv6', endpoints: [{ addresses: ['FD00:244::0005'] }] }));
  t.same(v6.endpoints[0].addresses, ['fd00:244::5'], 'canonical text');
  const fq = validateEndpointSlice(slice({ addressType: 'FQDN', endpoints: [{ addresses: ['db.example.com'] }] }));
  t.same([fq.endpoints[0].addresses, fq.endpoints[0].ips], [['db.example.com'], []]);

  expectIssues(t, slice({ endpoints: [{ addresses: ['fd00::5'] }] }), [['endpoints[0].addresses[0]', 'INVALID_FIELD']], [/IPv6 address; expected IPv4/]);
  expectIssues(t, slice({ addressType: 'IPv6', endpoints: [{ addresses: ['10.0.0.1'] }] }), [['endpoints[0].addresses[0]', 'INVALID_FIELD']]);
  expectIssues(t, slice({ endpoints: [{ addresses: ['10.244.0.256'] }] }), [['endpoints[0].addresses[0]', 'INVALID_FIELD']]);
  expectIssues(t, slice({ endpoints: [{ addresses: ['127.0.0.1'] }] }), [['endpoints[0].addresses[0]', 'INVALID_FIELD']], [/loopback/]);
  expectIssues(t, slice({ endpoints: [{ addresses: [] }] }), [['endpoints[0].addresses', 'INVALID_FIELD']], [/at least 1/]);
  expectIssues(t, slice({ endpoints: [{ conditions: { ready: true } }] }), [['endpoints[0].addresses', 'MISSING_FIELD']]);
  const many = Array.from({ length: 101 }, (_, i) => `10.244.${i >> 8}.${(i & 255) + 1}`);
  expectIssues(t, slice({ endpoints: [{ addresses: many }] }), [['endpoints[0].addresses', 'INVALID_FIELD']], [/at most 100/]);
  expectIssues(t, slice({ addressType: 'FQDN', endpoints: [{ addresses: ['Not_A_Name'] }] }), [['endpoints[0].addresses[0]', 'INVALID_FIELD']]);
  expectIssues(t, slice({ addressType: 'IP' }), [['addressType', 'INVALID_FIELD']], [/"IPv4", "IPv6", "FQDN"/]);
  expectIssues(t, slice({ addressType: undefined }), [['addressType', 'MISSING_FIELD']]);
});

t.test('rules with exact paths', async (t) => {
  expectIssues(t, slice({}, {}), [['metadata.labels["kubernetes.io/service-name"]', 'MISSING_FIELD']], [/names the Service/]);
  expectIssues(t, slice({}, { 'kubernetes.io/service-name': 'Web' }), [['metadata.labels["kubernetes.io/service-name"]', 'INVALID_FIELD']]);
  expectIssues(t, slice({ ports: [{ name: 'http', port: 80 }, { name: 'http', port: 81 }] }), [['ports[1].name', 'DUPLICATE_VALUE']]);
  expectIssues(t, slice({ ports: [{ port: 80 }, { port: 81 }] }), [['ports[1].name', 'DUPLICATE_VALUE']], [/duplicate port name ""/]);
  expectIssues(t, slice({ ports: [{ name: 'http', port: 0 }] }), [['ports[0].port', 'INVALID_FIELD']]);
  expectIssues(t, slice({ ports: [{ name: 'http', port: 80, protocol: 'ICMP' }] }), [['ports[0].protocol', 'INVALID_FIELD']]);
  expectIssues(t, slice({ ports: [{ name: 'Http', port: 80 }] }), [['ports[0].name', 'INVALID_FIELD']]);
  expectIssues(t, slice({ endpoints: [{ addresses: ['10.244.0.2'], conditions: { ready: 'true' } }] }), [['endpoints[0].conditions.ready', 'INVALID_TYPE']], [/expected a boolean/]);
  expectIssues(t, slice({ endpoints: [{ addresses: ['10.244.0.2'], condition: {} }] }), [['endpoints[0].condition', 'UNKNOWN_FIELD']], [/did you mean "conditions"/]);
  expectIssues(t, slice({ endpoints: [{ addresses: ['10.244.0.2'], nodeName: 'Node_A' }] }), [['endpoints[0].nodeName', 'INVALID_FIELD']]);
  expectIssues(t, slice({ endpoints: [{ addresses: ['10.244.0.2'], hostname: 'a.b' }] }), [['endpoints[0].hostname', 'INVALID_FIELD']]);
  expectIssues(t, slice({ endpoints: [{ addresses: ['10.244.0.2'], targetRef: { kind: 'Pod', nmae: 'x' } }] }), [['endpoints[0].targetRef.nmae', 'UNKNOWN_FIELD']]);
  expectIssues(t, slice({ spec: {} }), [['spec', 'UNKNOWN_FIELD']], [/allowed here: apiVersion, kind, metadata, addressType, endpoints, ports/]);
  expectIssues(t, slice({ endpoints: { addresses: [] } }), [['endpoints', 'INVALID_TYPE']], [/expected a list of endpoints/]);
  expectIssues(t, { ...slice(), apiVersion: 'discovery.k8s.io/v1beta1' }, [['apiVersion', 'UNSUPPORTED_KIND']]);

  const all = (() => {
    try {
      validateEndpointSlice(slice({ addressType: 'IPv4', endpoints: [{ addresses: ['fd00::1'] }, { addresses: [] }], ports: [{ port: 0 }] }, {}));
    } catch (e) {
      return (e as ValidationError).issues.map((i) => i.path);
    }
    return [];
  })();
  t.same(all, ['metadata.labels["kubernetes.io/service-name"]', 'endpoints[0].addresses[0]', 'endpoints[1].addresses', 'ports[0].port'], 'all problems together');
});
