/**
 * Service: kubectl-shaped input parses; the API server's defaults are applied; every rule,
 * broken on purpose, yields an issue at the exact path with a stable code; problems are
 * collected together.
 */
import t from 'tap';
import { parse } from 'yaml';
import { ValidationError } from './errors';
import { Service, validateService } from './service';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

/** `kubectl get svc web -o yaml --show-managed-fields`, noise included. */
const KUBECTL_SVC = `
apiVersion: v1
kind: Service
metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"name":"web","namespace":"default"},"spec":{"ports":[{"name":"http","port":80,"targetPort":"http"}],"selector":{"app":"web"}}}
  creationTimestamp: "2024-05-14T09:21:07Z"
  labels:
    app: web
  managedFields:
  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:spec:
        f:ports:
          .: {}
          k:{"port":80,"protocol":"TCP"}:
            .: {}
            f:name: {}
    manager: kubectl-client-side-apply
    operation: Update
    time: "2024-05-14T09:21:07Z"
  name: web
  namespace: default
  resourceVersion: "184467"
  uid: 6c1f0d0e-4a8b-4e55-9d0e-2f6f1b3c9a10
spec:
  clusterIP: 10.96.12.34
  clusterIPs:
  - 10.96.12.34
  internalTrafficPolicy: Cluster
  ipFamilies:
  - IPv4
  ipFamilyPolicy: SingleStack
  ports:
  - name: http
    port: 80
    protocol: TCP
    targetPort: http
  - name: metrics
    port: 9090
    protocol: TCP
    targetPort: 9090
  selector:
    app: web
  sessionAffinity: None
  type: ClusterIP
status:
  loadBalancer: {}
  conditions: []
`;

function svc(spec: Obj, meta: Obj = {}): Obj {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', ...meta }, spec };
}

function issuesOf(t: tap.Test, obj: unknown): ValidationError['issues'] {
  try {
    validateService(obj);
  } catch (e) {
    if (e instanceof ValidationError) return e.issues;
    throw e;
  }
  t.fail('expected a ValidationError');
  return [];
}

/** Expect exactly these (path, code) issues in order; optional message patterns per issue. */
function expectIssues(t: tap.Test, obj: unknown, want: [string, string][], msg?: RegExp[]): void {
  const got = issuesOf(t, obj);
  t.same(got.map((i) => [i.path, i.code]), want, want.map((w) => w.join(' ')).join(', '));
  (msg ?? []).forEach((re, i) => t.match(got[i]?.message ?? '', re));
}

const P80 = [{ port: 80 }];

t.test('kubectl get -o yaml output parses, noise and all', async (t) => {
  const s = validateService(parse(KUBECTL_SVC));
  t.equal(s.metadata.name, 'web');
  t.equal(s.metadata.namespace, 'default');
  t.equal(s.metadata.uid, '6c1f0d0e-4a8b-4e55-9d0e-2f6f1b3c9a10');
  t.equal(s.metadata.resourceVersion, '184467');
  t.equal(s.spec.clusterIP?.text, '10.96.12.34');
  t.equal(s.spec.clusterIP?.family === 4 && s.spec.clusterIP.v4, 0x0a600c22);
  t.same(s.spec.ports.map((p) => [p.name, p.port, p.protocol, p.targetPort]), [
    ['http', 80, 'TCP', 'http'],
    ['metrics', 9090, 'TCP', 9090],
  ]);
  t.same(s.spec.selector, { app: 'web' });
  t.same(s.spec.ipFamilies, ['IPv4']);
  t.equal(s.spec.ipFamilyPolicy, 'SingleStack');
  t.same(s.status.loadBalancer.ingress, []);
});

t.test('defaults as the API server applies them', async (t) => {
  const s: Service = validateService({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a' }, spec: { ports: [{ port: 53, protocol: 'UDP' }] } });
  t.equal(s.metadata.namespace, 'default');
  t.equal(s.spec.type, 'ClusterIP');
  t.same(s.spec.ports, [{ index: 0, name: '', protocol: 'UDP', port: 53, targetPort: 53, nodePort: 0, appProtocol: null }]);
  t.equal(s.spec.clusterIP, null, 'not allocated');
  t.same(s.spec.clusterIPs, []);
  t.equal(s.spec.headless, false);
  t.same(s.spec.ipFamilies, [], 'undecided: the compiler picks from serviceCIDRs');
  t.equal(s.spec.ipFamilyPolicy, 'SingleStack');
  t.equal(s.spec.selector, null);
  t.equal(s.spec.sessionAffinity, 'None');
  t.equal(s.spec.sessionAffinityConfig, null);
  t.equal(s.spec.externalTrafficPolicy, 'Cluster');
  t.equal(s.spec.internalTrafficPolicy, 'Cluster');
  t.equal(s.spec.healthCheckNodePort, 0);
  t.equal(s.spec.publishNotReadyAddresses, false);
  t.equal(s.spec.allocateLoadBalancerNodePorts, true);
  t.equal(s.spec.internal, false);
  t.equal(s.spec.healthProbe, null);

  const d = validateService(svc({ ports: [{ port: 80, protocol: '', targetPort: 0, name: '' }], type: '', selector: {} }));
  t.equal(d.spec.ports[0].protocol, 'TCP', 'protocol "" → TCP');
  t.equal(d.spec.ports[0].targetPort, 80, 'targetPort 0 → port');
  t.equal(d.spec.type, 'ClusterIP', 'type "" → ClusterIP');
  t.equal(d.spec.selector, null, 'an empty selector is no selector');

  const n = validateService(svc({ ports: [{ port: 80, targetPort: null, nodePort: null }], clusterIP: null }));
  t.equal(n.spec.ports[0].targetPort, 80, 'null means absent');
});

t.test('session affinity', async (t) => {
  const a = validateService(svc({ ports: P80, sessionAffinity: 'ClientIP' }));
  t.same(a.spec.sessionAffinityConfig, { clientIP: { timeoutSeconds: 10800 } }, 'default timeout 10800');
  const b = validateService(svc({ ports: P80, sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } }));
  t.equal(b.spec.sessionAffinityConfig?.clientIP.timeoutSeconds, 60);
  const c = validateService(svc({ ports: P80, sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: {} } }));
  t.equal(c.spec.sessionAffinityConfig?.clientIP.timeoutSeconds, 10800);

  expectIssues(t, svc({ ports: P80, sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } } }), [['spec.sessionAffinityConfig.clientIP.timeoutSeconds', 'INVALID_FIELD']], [/must be 1\.\.86400/]);
  expectIssues(t, svc({ ports: P80, sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 86401 } } }), [['spec.sessionAffinityConfig.clientIP.timeoutSeconds', 'INVALID_FIELD']]);
  expectIssues(t, svc({ ports: P80, sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } }), [['spec.sessionAffinityConfig', 'INVALID_FIELD']], [/sessionAffinity is None/]);
  expectIssues(t, svc({ ports: P80, sessionAffinity: 'Sticky' }), [['spec.sessionAffinity', 'INVALID_FIELD']], [/"None", "ClientIP"/]);
  expectIssues(t, svc({ ports: P80, sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeout: 5 } } }), [['spec.sessionAffinityConfig.clientIP.timeout', 'UNKNOWN_FIELD']], [/did you mean "timeoutSeconds"/]);
});

t.test('ports', async (t) => {
  expectIssues(t, svc({ ports: [{ port: 80 }, { port: 443 }] }), [['spec.ports[0].name', 'MISSING_FIELD'], ['spec.ports[1].name', 'MISSING_FIELD']], [/more than one port/]);
  expectIssues(t, svc({ ports: [{ name: 'http', port: 80 }, { name: 'http', port: 443 }] }), [['spec.ports[1].name', 'DUPLICATE_VALUE']], [/also spec\.ports\[0\]\.name/]);
  expectIssues(t, svc({ ports: [{ name: 'HTTP', port: 80 }] }), [['spec.ports[0].name', 'INVALID_FIELD']], [/DNS-1123 label/]);
  expectIssues(t, svc({ ports: [{ port: 0 }] }), [['spec.ports[0].port', 'INVALID_FIELD']], [/must be 1\.\.65535/]);
  expectIssues(t, svc({ ports: [{ port: 65536 }] }), [['spec.ports[0].port', 'INVALID_FIELD']]);
  expectIssues(t, svc({ ports: [{ port: '80' }] }), [['spec.ports[0].port', 'INVALID_TYPE']], [/expected a port number \(an integer 1\.\.65535\), got string "80"/]);
  expectIssues(t, svc({ ports: [{}] }), [['spec.ports[0].port', 'MISSING_FIELD']]);
  expectIssues(t, svc({ ports: [{ port: 80, protocol: 'tcp' }] }), [['spec.ports[0].protocol', 'INVALID_FIELD']], [/did you mean "TCP"/]);
  expectIssues(t, svc({ ports: [{ port: 80, targetPort: '8080' }] }), [['spec.ports[0].targetPort', 'INVALID_FIELD']], [/without quotes/]);
  expectIssues(t, svc({ ports: [{ port: 80, targetPort: 'http_port' }] }), [['spec.ports[0].targetPort', 'INVALID_FIELD']], [/port name/]);
  expectIssues(t, svc({ ports: [{ port: 80, targetPort: 'a-very-long-port-name' }] }), [['spec.ports[0].targetPort', 'INVALID_FIELD']], [/at most 15/]);
  expectIssues(t, svc({ ports: [{ port: 80, targetPort: 70000 }] }), [['spec.ports[0].targetPort', 'INVALID_FIELD']]);
  expectIssues(t, svc({ ports: [{ port: 80, targetPort: true }] }), [['spec.ports[0].targetPort', 'INVALID_TYPE']], [/port number \(1\.\.65535\) or a port name/]);
  expectIssues(t, svc({ ports: [{ port: 80, nodePort: 30080 }] }), [['spec.ports[0].nodePort', 'INVALID_FIELD']], [/may not be used when type is ClusterIP/]);
  expectIssues(t, svc({ type: 'NodePort', ports: [{ port: 80, nodePort: -1 }] }), [['spec.ports[0].nodePort', 'INVALID_FIELD']]);
  expectIssues(t, svc({ ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80 }] }), [['spec.ports[1]', 'DUPLICATE_VALUE']], [/duplicate port 80\/TCP \(also spec\.ports\[0\]\)/]);
  expectIssues(t, svc({ type: 'NodePort', ports: [{ name: 'a', port: 80, nodePort: 30001 }, { name: 'b', port: 81, nodePort: 30001 }] }), [['spec.ports[1].nodePort', 'DUPLICATE_VALUE']]);
  expectIssues(t, svc({ ports: [{ port: 80, appProtocol: 'bad proto' }] }), [['spec.ports[0].appProtocol', 'INVALID_FIELD']]);
  expectIssues(t, svc({ ports: [{ port: 80, targetport: 8080 }] }), [['spec.ports[0].targetport', 'UNKNOWN_FIELD']], [/did you mean "targetPort"/]);
  expectIssues(t, svc({}), [['spec.ports', 'MISSING_FIELD']]);
  expectIssues(t, svc({ ports: [] }), [['spec.ports', 'MISSING_FIELD']]);
  expectIssues(t, svc({ ports: 80 }), [['spec.ports', 'INVALID_TYPE']], [/expected a list of service ports/]);
  expectIssues(t, svc({ ports: ['80'] }), [['spec.ports[0]', 'INVALID_TYPE']]);

  // Same number, different protocols: fine (DNS).
  const dns = validateService(svc({ ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }] }));
  t.same(dns.spec.ports.map((p) => `${p.port}/${p.protocol}`), ['53/UDP', '53/TCP']);
  const sctp = validateService(svc({ type: 'NodePort', ports: [{ port: 9000, protocol: 'SCTP', nodePort: 30900, appProtocol: 'kubernetes.io/h2c' }] }));
  t.same([sctp.spec.ports[0].protocol, sctp.spec.ports[0].nodePort, sctp.spec.ports[0].appProtocol], ['SCTP', 30900, 'kubernetes.io/h2c']);
});

t.test('ExternalName', async (t) => {
  const e = validateService(svc({ type: 'ExternalName', externalName: 'api.example.com.' }));
  t.equal(e.spec.externalName, 'api.example.com', 'trailing dot dropped');
  t.same(e.spec.ports, [], 'ports not required');
  t.equal(e.spec.ipFamilyPolicy, null);
  t.same(e.spec.ipFamilies, []);
  expectIssues(t, svc({ type: 'ExternalName' }), [['spec.externalName', 'MISSING_FIELD']]);
  expectIssues(t, svc({ type: 'ExternalName', externalName: 'API_host' }), [['spec.externalName', 'INVALID_FIELD']]);
  expectIssues(t, svc({ type: 'ExternalName', externalName: 'a.example.com', clusterIP: '10.96.0.5' }), [['spec.clusterIP', 'INVALID_FIELD']], [/must not be set for ExternalName/]);
  expectIssues(t, svc({ type: 'ExternalName', externalName: 'a.example.com', ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack' }), [['spec.ipFamilies', 'INVALID_FIELD'], ['spec.ipFamilyPolicy', 'INVALID_FIELD']]);
  expectIssues(t, svc({ type: 'ExternalName', externalName: 'a.example.com', ports: [{ port: 80, nodePort: 30000 }] }), [['spec.ports[0].nodePort', 'INVALID_FIELD']]);
  expectIssues(t, svc({ type: 'ExternalName', externalName: 'a.example.com' }, { annotations: { 'tapflow.dev/health-probe': '{"port":80}' } }), [['metadata.annotations["tapflow.dev/health-probe"]', 'INVALID_FIELD']]);
  t.equal(validateService(svc({ ports: P80, externalName: 'ignored.example.com' })).spec.externalName, null, 'ignored unless ExternalName, as the API does');
});

t.test('headless', async (t) => {
  const h = validateService(svc({ clusterIP: 'None', selector: { app: 'db' } }));
  t.equal(h.spec.headless, true);
  t.equal(h.spec.clusterIP, null);
  t.same(h.spec.clusterIPs, []);
  t.same(h.spec.ports, [], 'headless services may have no ports');
  t.equal(h.spec.ipFamilyPolicy, 'SingleStack');
  t.equal(validateService(svc({ clusterIP: 'None', clusterIPs: ['None'] })).spec.ipFamilyPolicy, 'RequireDualStack', 'headless without selector: RequireDualStack (API default)');
  expectIssues(t, svc({ type: 'NodePort', clusterIP: 'None', ports: P80 }), [['spec.clusterIP', 'INVALID_FIELD']], [/may not be "None" for NodePort/]);
  expectIssues(t, svc({ type: 'LoadBalancer', clusterIPs: ['None'], ports: P80 }), [['spec.clusterIPs[0]', 'INVALID_FIELD']]);
  expectIssues(t, svc({ clusterIPs: ['10.96.0.1', 'None'], ports: P80 }), [['spec.clusterIPs[1]', 'INVALID_FIELD']], [/first and only/]);
});

t.test('cluster IPs and IP families (dual-stack)', async (t) => {
  const d = validateService(svc({ ports: P80, clusterIP: '10.96.60.7', clusterIPs: ['10.96.60.7', 'FD00:96::3C07'] }));
  t.same(d.spec.clusterIPs.map((x) => x.text), ['10.96.60.7', 'fd00:96::3c07'], 'canonical text');
  t.equal(d.spec.clusterIP?.text, '10.96.60.7');
  t.same(d.spec.ipFamilies, ['IPv4', 'IPv6'], 'derived from clusterIPs');
  t.equal(d.spec.ipFamilyPolicy, 'RequireDualStack', 'two IPs default to RequireDualStack');
  const six = validateService(svc({ ports: P80, clusterIPs: ['fd00:96::a'] }));
  t.equal(six.spec.clusterIP?.text, 'fd00:96::a', 'clusterIP follows clusterIPs[0]');
  t.same(six.spec.ipFamilies, ['IPv6']);
  const fam = validateService(svc({ ports: P80, ipFamilies: ['IPv6', 'IPv4'], ipFamilyPolicy: 'PreferDualStack' }));
  t.same(fam.spec.ipFamilies, ['IPv6', 'IPv4']);
  t.equal(fam.spec.ipFamilyPolicy, 'PreferDualStack');

  expectIssues(t, svc({ ports: P80, clusterIP: '10.96.0.300' }), [['spec.clusterIP', 'INVALID_FIELD']]);
  expectIssues(t, svc({ ports: P80, clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.2'] }), [['spec.clusterIPs', 'INVALID_FIELD']], [/first value must match spec\.clusterIP/]);
  expectIssues(t, svc({ ports: P80, clusterIPs: ['10.96.0.1', '10.96.0.2'] }), [['spec.clusterIPs[1]', 'INVALID_FIELD']], [/at most one IP per family/]);
  expectIssues(t, svc({ ports: P80, clusterIPs: ['10.96.0.1', 'fd00::1', '10.96.0.2'] }), [['spec.clusterIPs', 'INVALID_FIELD']]);
  expectIssues(t, svc({ ports: P80, clusterIP: '10.96.0.1', ipFamilies: ['IPv6'] }), [['spec.clusterIP', 'INVALID_FIELD']], [/expected an IPv6 address as spec\.ipFamilies\[0\] says/]);
  expectIssues(t, svc({ ports: P80, ipFamilies: ['IPv4', 'IPv4'] }), [['spec.ipFamilies[1]', 'DUPLICATE_VALUE']]);
  expectIssues(t, svc({ ports: P80, ipFamilies: ['ipv4'] }), [['spec.ipFamilies[0]', 'INVALID_FIELD']]);
  expectIssues(t, svc({ ports: P80, ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'SingleStack' }), [['spec.ipFamilyPolicy', 'INVALID_FIELD']], [/PreferDualStack or RequireDualStack/]);
  expectIssues(t, svc({ ports: P80, ipFamilyPolicy: 'DualStack' }), [['spec.ipFamilyPolicy', 'INVALID_FIELD']]);
  expectIssues(t, svc({ ports: P80, clusterIPs: ['10.96.0.1', 'fd00::1'], ipFamilies: ['IPv4'] }), [['spec.ipFamilies', 'INVALID_FIELD']]);
});

t.test('traffic policies and health check node port', async (t) => {
  const l = validateService(svc({ type: 'LoadBalancer', ports: P80, externalTrafficPolicy: 'Local', healthCheckNodePort: 32145, internalTrafficPolicy: 'Local' }));
  t.equal(l.spec.externalTrafficPolicy, 'Local');
  t.equal(l.spec.healthCheckNodePort, 32145);
  t.equal(l.spec.internalTrafficPolicy, 'Local');
  t.equal(validateService(svc({ type: 'NodePort', ports: P80, externalTrafficPolicy: 'Global' })).spec.externalTrafficPolicy, 'Cluster', 'legacy "Global" = Cluster');
  t.equal(validateService(svc({ ports: P80, externalIPs: ['203.0.113.7'], externalTrafficPolicy: 'Local' })).spec.externalTrafficPolicy, 'Local', 'ClusterIP with externalIPs is externally accessible');
  t.equal(validateService(svc({ type: 'LoadBalancer', ports: P80, externalTrafficPolicy: 'Local' })).spec.healthCheckNodePort, 0, 'not set = to be allocated');

  expectIssues(t, svc({ ports: P80, externalTrafficPolicy: 'Local' }), [['spec.externalTrafficPolicy', 'INVALID_FIELD']], [/may only be set for externally-accessible services/]);
  expectIssues(t, svc({ type: 'NodePort', ports: P80, externalTrafficPolicy: 'Locale' }), [['spec.externalTrafficPolicy', 'INVALID_FIELD']], [/did you mean "Local"/]);
  expectIssues(t, svc({ type: 'NodePort', ports: P80, externalTrafficPolicy: 'Local', healthCheckNodePort: 32000 }), [['spec.healthCheckNodePort', 'INVALID_FIELD']], [/type is LoadBalancer and externalTrafficPolicy is Local/]);
  expectIssues(t, svc({ type: 'LoadBalancer', ports: P80, healthCheckNodePort: 32000 }), [['spec.healthCheckNodePort', 'INVALID_FIELD']]);
  expectIssues(t, svc({ type: 'LoadBalancer', ports: P80, externalTrafficPolicy: 'Local', healthCheckNodePort: 70000 }), [['spec.healthCheckNodePort', 'INVALID_FIELD']]);
  expectIssues(t, svc({ ports: P80, internalTrafficPolicy: 'Node' }), [['spec.internalTrafficPolicy', 'INVALID_FIELD']]);
  t.equal(validateService(svc({ ports: P80, trafficDistribution: 'PreferClose' })).spec.trafficDistribution, 'PreferClose');
  expectIssues(t, svc({ ports: P80, trafficDistribution: 'Nearby' }), [['spec.trafficDistribution', 'INVALID_FIELD']]);
});

t.test('LoadBalancer-only fields, source ranges and the annotation', async (t) => {
  const lb = validateService(svc({
    type: 'LoadBalancer', ports: P80, loadBalancerIP: '20.61.12.34', loadBalancerClass: 'example.com/vip',
    loadBalancerSourceRanges: ['10.1.2.3/8', ' 192.168.10.0/24 ', '2001:db8::1/48'], allocateLoadBalancerNodePorts: false,
  }));
  t.equal(lb.spec.loadBalancerIP?.text, '20.61.12.34');
  t.equal(lb.spec.loadBalancerClass, 'example.com/vip');
  t.same(lb.spec.loadBalancerSourceRanges.map((c) => c.text), ['10.0.0.0/8', '192.168.10.0/24', '2001:db8::/48'], 'host bits cleared, space trimmed (as the API reads them)');
  t.equal(lb.spec.allocateLoadBalancerNodePorts, false);

  const ann = validateService(svc({ type: 'LoadBalancer', ports: P80 }, { annotations: { 'service.beta.kubernetes.io/load-balancer-source-ranges': '203.0.113.0/24, 198.51.100.0/24' } }));
  t.same(ann.spec.loadBalancerSourceRanges.map((c) => c.text), ['203.0.113.0/24', '198.51.100.0/24'], 'annotation used when the field is empty');
  const both = validateService(svc({ type: 'LoadBalancer', ports: P80, loadBalancerSourceRanges: ['10.0.0.0/8'] }, { annotations: { 'service.beta.kubernetes.io/load-balancer-source-ranges': 'junk' } }));
  t.same(both.spec.loadBalancerSourceRanges.map((c) => c.text), ['10.0.0.0/8'], 'the field wins; the annotation is not read');

  expectIssues(t, svc({ ports: P80, loadBalancerSourceRanges: ['10.0.0.0/8'] }), [['spec.loadBalancerSourceRanges', 'INVALID_FIELD']], [/may only be used when type is LoadBalancer/]);
  expectIssues(t, svc({ type: 'LoadBalancer', ports: P80, loadBalancerSourceRanges: ['10.0.0.0/8', '10.0.0.0'] }), [['spec.loadBalancerSourceRanges[1]', 'INVALID_FIELD']], [/not a valid CIDR/]);
  expectIssues(t, svc({ type: 'LoadBalancer', ports: P80 }, { annotations: { 'service.beta.kubernetes.io/load-balancer-source-ranges': '10.0.0.0/8,nope' } }), [['metadata.annotations["service.beta.kubernetes.io/load-balancer-source-ranges"]', 'INVALID_FIELD']], [/"nope" is not a valid CIDR/]);
  expectIssues(t, svc({ type: 'NodePort', ports: P80 }, { annotations: { 'service.beta.kubernetes.io/load-balancer-source-ranges': '10.0.0.0/8' } }), [['metadata.annotations["service.beta.kubernetes.io/load-balancer-source-ranges"]', 'INVALID_FIELD']]);
  expectIssues(t, svc({ type: 'NodePort', ports: P80, loadBalancerClass: 'example.com/vip' }), [['spec.loadBalancerClass', 'INVALID_FIELD']]);
  expectIssues(t, svc({ ports: P80, allocateLoadBalancerNodePorts: true }), [['spec.allocateLoadBalancerNodePorts', 'INVALID_FIELD']]);
  expectIssues(t, svc({ type: 'LoadBalancer', ports: P80, loadBalancerIP: '20.61.12' }), [['spec.loadBalancerIP', 'INVALID_FIELD']]);
  expectIssues(t, svc({ type: 'LoadBalancer', ports: P80, allocateLoadBalancerNodePorts: 'yes' }), [['spec.allocateLoadBalancerNodePorts', 'INVALID_TYPE']], [/expected a boolean/]);
});

t.test('externalIPs', async (t) => {
  const e = validateService(svc({ ports: P80, externalIPs: ['203.0.113.7', '203.0.113.7', '2001:db8::7'] }));
  t.same(e.spec.externalIPs.map((x) => x.text), ['203.0.113.7', '2001:db8::7'], 'deduplicated');
  expectIssues(t, svc({ ports: P80, externalIPs: ['203.0.113.300', '127.0.0.1', '169.254.1.1', '0.0.0.0', 'fe80::1'] }), [
    ['spec.externalIPs[0]', 'INVALID_FIELD'],
    ['spec.externalIPs[1]', 'INVALID_FIELD'],
    ['spec.externalIPs[2]', 'INVALID_FIELD'],
    ['spec.externalIPs[3]', 'INVALID_FIELD'],
    ['spec.externalIPs[4]', 'INVALID_FIELD'],
  ], [/not a valid/, /loopback/, /link-local/, /unspecified/, /link-local/]);
});

t.test('annotations: Azure internal LB and the tapflow health probe', async (t) => {
  const INT = 'service.beta.kubernetes.io/azure-load-balancer-internal';
  const HP = 'tapflow.dev/health-probe';
  t.equal(validateService(svc({ type: 'LoadBalancer', ports: P80 }, { annotations: { [INT]: 'true' } })).spec.internal, true);
  t.equal(validateService(svc({ type: 'LoadBalancer', ports: P80 }, { annotations: { [INT]: 'false' } })).spec.internal, false);
  t.equal(validateService(svc({ ports: P80 }, { annotations: { [INT]: 'true' } })).spec.internal, false, 'only LoadBalancer services are internal LBs');
  expectIssues(t, svc({ type: 'LoadBalancer', ports: P80 }, { annotations: { [INT]: 'True' } }), [[`metadata.annotations["${INT}"]`, 'INVALID_FIELD']], [/"true" or "false"/]);
  expectIssues(t, svc({ type: 'LoadBalancer', ports: P80 }, { annotations: { [INT]: true } }), [[`metadata.annotations["${INT}"]`, 'INVALID_TYPE']], [/expected a string/]);

  const hp = validateService(svc({ ports: P80 }, { annotations: { [HP]: '{"protocol":"http","port":8080,"path":"/ready","intervalSeconds":10,"unhealthyThreshold":3}' } }));
  t.same(hp.spec.healthProbe, { protocol: 'http', port: 8080, path: '/ready', intervalSeconds: 10, unhealthyThreshold: 3 });
  const tcp = validateService(svc({ ports: P80 }, { annotations: { [HP]: '{"port":5432}' } }));
  t.same(tcp.spec.healthProbe, { protocol: 'tcp', port: 5432, path: null, intervalSeconds: 5, unhealthyThreshold: 2 }, 'defaults');
  const http = validateService(svc({ ports: P80 }, { annotations: { [HP]: '{"protocol":"http","port":80}' } }));
  t.equal(http.spec.healthProbe?.path, '/healthz');

  const base = `metadata.annotations["${HP}"]`;
  expectIssues(t, svc({ ports: P80 }, { annotations: { [HP]: '{"port":80,"intervalSeconds":0}' } }), [[`${base}.intervalSeconds`, 'INVALID_FIELD']], [/must be 1\.\.3600/]);
  t.equal(`${base}.intervalSeconds`, 'metadata.annotations["tapflow.dev/health-probe"].intervalSeconds');
  expectIssues(t, svc({ ports: P80 }, { annotations: { [HP]: '{"port":80,' } }), [[base, 'INVALID_FIELD']], [/not valid JSON/]);
  expectIssues(t, svc({ ports: P80 }, { annotations: { [HP]: '[80]' } }), [[base, 'INVALID_TYPE']]);
  expectIssues(t, svc({ ports: P80 }, { annotations: { [HP]: '{"protocol":"udp","port":80}' } }), [[`${base}.protocol`, 'INVALID_FIELD']]);
  expectIssues(t, svc({ ports: P80 }, { annotations: { [HP]: '{"protocol":"tcp","port":80,"path":"/x"}' } }), [[`${base}.path`, 'INVALID_FIELD']], [/only http probes/]);
  expectIssues(t, svc({ ports: P80 }, { annotations: { [HP]: '{"protocol":"http","port":80,"path":"healthz"}' } }), [[`${base}.path`, 'INVALID_FIELD']]);
  expectIssues(t, svc({ ports: P80 }, { annotations: { [HP]: '{"protocol":"http"}' } }), [[`${base}.port`, 'MISSING_FIELD']]);
  expectIssues(t, svc({ ports: P80 }, { annotations: { [HP]: '{"port":80,"interval":5}' } }), [[`${base}.interval`, 'UNKNOWN_FIELD']], [/did you mean "intervalSeconds"/]);
  expectIssues(t, svc({ ports: P80 }, { annotations: { [HP]: '{"port":"80"}' } }), [[`${base}.port`, 'INVALID_TYPE']]);
});

t.test('unknown fields, wrong types, metadata and type meta', async (t) => {
  expectIssues(t, svc({ ports: P80, sessionAfinity: 'None' }), [['spec.sessionAfinity', 'UNKNOWN_FIELD']], [/did you mean "sessionAffinity"/]);
  expectIssues(t, svc({ ports: P80, topologyKeys: ['*'] }), [['spec.topologyKeys', 'UNKNOWN_FIELD']]);
  expectIssues(t, { ...svc({ ports: P80 }), extra: 1 }, [['extra', 'UNKNOWN_FIELD']]);
  expectIssues(t, svc({ ports: P80 }, { nmae: 'x' }), [['metadata.nmae', 'UNKNOWN_FIELD']], [/did you mean "name"/]);
  t.ok(validateService({ ...svc({ ports: P80 }), status: { loadBalancer: {}, whatever: { deep: 1 } } }), 'status is tolerated');
  expectIssues(t, svc({ ports: P80, type: 5 }), [['spec.type', 'INVALID_TYPE']], [/expected a string, one of "ClusterIP", "NodePort", "LoadBalancer", "ExternalName", got number 5/]);
  expectIssues(t, svc({ ports: P80, type: 'Nodeport' }), [['spec.type', 'INVALID_FIELD']], [/did you mean "NodePort"/]);
  expectIssues(t, svc({ ports: P80, selector: ['app=web'] }), [['spec.selector', 'INVALID_TYPE']], [/map of string to string/]);
  expectIssues(t, svc({ ports: P80, selector: { app: 5 } }), [['spec.selector.app', 'INVALID_TYPE']]);
  expectIssues(t, svc({ ports: P80, selector: { 'bad key!': 'x' } }), [['spec.selector["bad key!"]', 'INVALID_FIELD']]);
  expectIssues(t, svc({ ports: P80, selector: { app: 'has space' } }), [['spec.selector.app', 'INVALID_FIELD']]);
  expectIssues(t, svc({ ports: P80 }, { name: 'Web' }), [['metadata.name', 'INVALID_FIELD']], [/DNS-1035/]);
  expectIssues(t, svc({ ports: P80 }, { name: '1web' }), [['metadata.name', 'INVALID_FIELD']], [/starting with a letter/]);
  expectIssues(t, svc({ ports: P80 }, { name: undefined, generateName: 'web-' }), [['metadata.name', 'MISSING_FIELD']], [/generateName is not enough/]);
  expectIssues(t, svc({ ports: P80 }, { namespace: 'Prod' }), [['metadata.namespace', 'INVALID_FIELD']]);
  expectIssues(t, svc({ ports: P80 }, { labels: { 'app.kubernetes.io/name': 'x'.repeat(64) } }), [['metadata.labels["app.kubernetes.io/name"]', 'INVALID_FIELD']]);
  expectIssues(t, { ...svc({ ports: P80 }), apiVersion: 'v2' }, [['apiVersion', 'UNSUPPORTED_KIND']]);
  expectIssues(t, { kind: 'Service', metadata: { name: 'a' }, spec: { ports: P80 } }, [['apiVersion', 'MISSING_FIELD']]);
  expectIssues(t, { apiVersion: 'v1', kind: 'Service', spec: { ports: P80 } }, [['metadata', 'MISSING_FIELD']]);
  expectIssues(t, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'a' } }, [['spec', 'MISSING_FIELD']]);
  expectIssues(t, 'Service', [['', 'INVALID_TYPE']]);
  t.equal(validateService(svc({ ports: P80 }, { namespace: 'shop' })).metadata.namespace, 'shop');
});

t.test('status.loadBalancer.ingress is kept', async (t) => {
  const s = validateService({ ...svc({ type: 'LoadBalancer', ports: P80 }), status: { loadBalancer: { ingress: [{ ip: '20.61.12.34', ipMode: 'VIP' }, { hostname: 'lb.example.com' }] } } });
  t.same(s.status.loadBalancer.ingress.map((i) => [i.ip?.text ?? null, i.hostname, i.ipMode]), [['20.61.12.34', null, 'VIP'], [null, 'lb.example.com', null]]);
  expectIssues(t, { ...svc({ type: 'LoadBalancer', ports: P80 }), status: { loadBalancer: { ingress: [{ ip: 'not-an-ip' }] } } }, [['status.loadBalancer.ingress[0].ip', 'INVALID_FIELD']]);
});

t.test('every problem is reported at once', async (t) => {
  const err = issuesOf(t, svc({ type: 'ClusterIP', ports: [{ port: 0 }, { name: 'b', port: 80, nodePort: 30001 }], sessionAffinity: 'Sticky', externalTrafficPolicy: 'Local', bogus: true }, { name: 'Bad_Name' }));
  t.same(err.map((i) => i.path).sort(), [
    'metadata.name', 'spec.bogus', 'spec.externalTrafficPolicy', 'spec.ports[0].name', 'spec.ports[0].port', 'spec.ports[1].nodePort', 'spec.sessionAffinity',
  ]);
  try {
    validateService(svc({ ports: [{ port: 0 }] }));
  } catch (e) {
    t.match((e as Error).message, /1 problem in Service\n {2}spec\.ports\[0\]\.port: 0 is out of range; must be 1\.\.65535/);
  }
});
