/**
 * Hostile control input (issue #7): a table of malformed and hostile manifests and API calls —
 * bad CIDRs, ports out of range, negative numbers, NaN/Infinity in JSON-like YAML, wrong types,
 * unknown kinds and fields, keys with dots and slashes, `__proto__`, duplicate NSG priorities,
 * deep nesting, a document bomb, YAML anchor/alias bombs, invalid UTF-8, NUL bytes, huge
 * objects, oversized gRPC messages — sent
 *
 *  1. through the real controller API: an in-process ControlServer on a temp unix socket, the
 *     gRPC client the CLI uses. Each must be refused with INVALID_ARGUMENT (or the transport's
 *     own code) naming the field path (tapflow-field-path metadata and the issues), the desired
 *     state's version and objects untouched, the server still answering;
 *  2. through `tapflow run --config DIR` reload (root: the agent opens its TAPs in a scratch
 *     network namespace): each written into the watched directory must give a `rejected` event
 *     naming the field path, the running configuration version unchanged, the agent alive and
 *     forwarding; also a NodeConfig that changes the port set.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ControlClient } from './control-client';
import { RemoteError } from './proto';
import { serviceObj, sliceObj, startTestServer, tempDir, wire } from './test-support';

// ─── The table ─────────────────────────────────────────────────────────────────────────────

interface Case {
  name: string;
  text: string;
  /** The field path the answer must name ('' = the document root). */
  path: string;
  /** Expected issue code (default: any). */
  code?: string;
  /** Only through the controller API (the agent path reads files, where the case means nothing). */
  apiOnly?: boolean;
}

type Obj = Record<string, unknown>;
const j = (o: unknown): string => JSON.stringify(o);

function svc(spec: Obj = {}, meta: Obj = {}, extra: Obj = {}): Obj {
  return {
    apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default', ...meta },
    spec: { clusterIP: '10.96.0.10', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], ...spec },
    ...extra,
  };
}
const withPort = (p: Obj): string => j(svc({ ports: [{ name: 'http', targetPort: 8080, protocol: 'TCP', ...p }] }));
const yamlSvc = (portExpr: string): string => `apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\nspec: {clusterIP: 10.96.0.10, ports: [{name: http, port: ${portExpr}}]}\n`;
const NSG_ID = '/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg1';
function nsg(rules: Obj[]): string {
  return j({ type: 'Microsoft.Network/networkSecurityGroups', name: 'nsg1', id: NSG_ID, properties: { securityRules: rules } });
}
function rule(name: string, priority: number, p: Obj = {}): Obj {
  return { name, properties: { priority, direction: 'Inbound', access: 'Allow', protocol: 'Tcp', sourceAddressPrefix: '*', sourcePortRange: '*', destinationAddressPrefix: '*', destinationPortRange: '80', ...p } };
}
const policy = (spec: Obj): string => j({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'default' }, spec: { podSelector: {}, ...spec } });
const slice = (o: Obj): string => j({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', ports: [{ name: 'http', port: 8080 }], endpoints: [{ addresses: ['10.244.0.2'] }], ...o });
function deepObject(levels: number): Obj {
  let v: unknown = 'x';
  for (let i = 0; i < levels; i++) v = { a: v };
  return v as Obj;
}
const ALIAS_BOMB = [
  'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
  'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]', 'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]', 'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
  'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]', 'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]', 'g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]',
  'apiVersion: v1', 'kind: Service', 'metadata: {name: web}', 'spec: {ports: [{port: 80}], selector: {x: *g}}', '',
].join('\n');
const MERGE_BOMB = 'base: &b {x: 1}\n' + Array.from({ length: 200 }, (_, i) => `k${i}: {<<: *b}`).join('\n') + '\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n';

const CASES: Case[] = [
  { name: 'clusterIP not an address', text: j(svc({ clusterIP: '10.96.0.300' })), path: 'spec.clusterIP', code: 'INVALID_FIELD' },
  { name: 'port 70000', text: withPort({ port: 70000 }), path: 'spec.ports[0].port', code: 'INVALID_FIELD' },
  { name: 'port -1 (negative)', text: withPort({ port: -1 }), path: 'spec.ports[0].port', code: 'INVALID_FIELD' },
  { name: 'port 0', text: withPort({ port: 0 }), path: 'spec.ports[0].port', code: 'INVALID_FIELD' },
  { name: 'port as a string', text: withPort({ port: '80' }), path: 'spec.ports[0].port', code: 'INVALID_TYPE' },
  { name: 'port 80.5', text: withPort({ port: 80.5 }), path: 'spec.ports[0].port', code: 'INVALID_TYPE' },
  { name: 'port .nan (YAML NaN)', text: yamlSvc('.nan'), path: 'spec.ports[0].port', code: 'INVALID_TYPE' },
  { name: 'port .inf (YAML Infinity)', text: yamlSvc('.inf'), path: 'spec.ports[0].port', code: 'INVALID_TYPE' },
  { name: 'port -.inf in JSON-like YAML', text: '{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"port": -.inf}]}}', path: 'spec.ports[0].port', code: 'INVALID_TYPE' },
  { name: 'port 1e400 (overflows to Infinity)', text: '{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":{"ports":[{"port":1e400}]}}', path: 'spec.ports[0].port' },
  { name: 'targetPort 65536', text: withPort({ port: 80, targetPort: 65536 }), path: 'spec.ports[0].targetPort', code: 'INVALID_FIELD' },
  { name: 'nodePort 99999', text: j(svc({ type: 'NodePort', ports: [{ port: 80, nodePort: 99999 }] })), path: 'spec.ports[0].nodePort', code: 'INVALID_FIELD' },
  { name: 'negative affinity timeout', text: j(svc({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: -5 } } })), path: 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', code: 'INVALID_FIELD' },
  { name: 'loadBalancerSourceRanges /33', text: j(svc({ type: 'LoadBalancer', loadBalancerSourceRanges: ['10.0.0.0/33'] })), path: 'spec.loadBalancerSourceRanges[0]', code: 'INVALID_FIELD' },
  { name: 'unknown kind', text: j({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } }), path: 'kind', code: 'UNSUPPORTED_KIND' },
  { name: 'unknown apiVersion of a known kind', text: j({ ...svc(), apiVersion: 'v2' }), path: 'apiVersion', code: 'UNSUPPORTED_KIND' },
  { name: 'unknown field in spec', text: j(svc({ frobnicate: true })), path: 'spec.frobnicate', code: 'UNKNOWN_FIELD' },
  { name: 'spec is a string', text: j({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: 'all of it' }), path: 'spec', code: 'INVALID_TYPE' },
  { name: 'ports is an object', text: j(svc({ ports: { port: 80 } })), path: 'spec.ports', code: 'INVALID_TYPE' },
  { name: 'name with a slash', text: j(svc({}, { name: 'a/b' })), path: 'metadata.name', code: 'INVALID_FIELD' },
  { name: 'name with dots', text: j(svc({}, { name: 'a.b' })), path: 'metadata.name', code: 'INVALID_FIELD' },
  { name: 'label key with two slashes', text: j(svc({}, { labels: { 'a/b/c': 'x' } })), path: 'metadata.labels["a/b/c"]', code: 'INVALID_FIELD' },
  { name: 'a top-level key with a dot', text: j({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] }, 'spec.ports': [] }), path: '["spec.ports"]', code: 'UNKNOWN_FIELD' },
  { name: '__proto__ key (prototype pollution)', text: '{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","labels":{"__proto__":{"x":"1"}}},"spec":{"ports":[{"port":80}]},"__proto__":{"polluted":true}}', path: '__proto__', code: 'UNKNOWN_FIELD' },
  { name: 'NUL byte in the name', text: j(svc({}, { name: 'we\u0000b' })), path: 'metadata.name', code: 'INVALID_FIELD' },
  { name: 'EndpointSlice address 999.1.1.1', text: slice({ endpoints: [{ addresses: ['999.1.1.1'] }] }), path: 'endpoints[0].addresses[0]', code: 'INVALID_FIELD' },
  { name: 'NetworkPolicy ipBlock /40', text: policy({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/40' } }] }] }), path: 'spec.ingress[0].from[0].ipBlock.cidr', code: 'INVALID_FIELD' },
  { name: 'NetworkPolicy except outside its cidr', text: policy({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.1.0.0/24'] } }] }] }), path: 'spec.ingress[0].from[0].ipBlock.except[0]', code: 'INVALID_FIELD' },
  { name: 'NetworkPolicy endPort below port', text: policy({ ingress: [{ ports: [{ port: 9000, endPort: 8000 }] }] }), path: 'spec.ingress[0].ports[0].endPort', code: 'INVALID_FIELD' },
  { name: 'NSG duplicate priorities', text: nsg([rule('a', 100), rule('b', 100)]), path: 'properties.securityRules[1].properties.priority', code: 'DUPLICATE_VALUE' },
  { name: 'NSG priority 99', text: nsg([rule('a', 99)]), path: 'properties.securityRules[0].properties.priority', code: 'INVALID_FIELD' },
  { name: 'NSG priority 5000', text: nsg([rule('a', 5000)]), path: 'properties.securityRules[0].properties.priority', code: 'INVALID_FIELD' },
  { name: 'NSG prefix 300.0.0.0/8', text: nsg([rule('a', 100, { sourceAddressPrefix: '300.0.0.0/8' })]), path: 'properties.securityRules[0].properties.sourceAddressPrefix', code: 'INVALID_FIELD' },
  { name: 'NSG port range reversed', text: nsg([rule('a', 100, { destinationPortRange: '100-50' })]), path: 'properties.securityRules[0].properties.destinationPortRange', code: 'INVALID_FIELD' },
  {
    name: 'NodeConfig podCIDR /33',
    text: j({ apiVersion: 'tapflow.dev/v1alpha1', kind: 'NodeConfig', metadata: { name: 'n' }, spec: { nodeName: 'n', nodeIPs: ['10.0.0.4'], podCIDRs: ['10.244.0.0/33'], clusterCIDRs: ['10.244.0.0/16'], vnetPrefixes: ['10.0.0.0/16'], ports: [{ name: 'u', tap: 'u', role: 'uplink' }] } }),
    path: 'spec.podCIDRs[0]', code: 'INVALID_FIELD', apiOnly: true,
  },
  { name: 'nesting 200 levels deep', text: j(svc({}, {}, { status: deepObject(200) })), path: `status${'.a'.repeat(63)}`, code: 'INVALID_FIELD' },
  { name: 'nesting 100000 levels deep', text: '{"apiVersion":"v1","kind":"Service","metadata":{"name":"w"},"spec":' + '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000) + '}', path: '', code: 'PARSE_ERROR' },
  { name: 'YAML alias bomb (billion laughs)', text: ALIAS_BOMB, path: '', code: 'PARSE_ERROR' },
  { name: 'YAML merge-key fan-out', text: MERGE_BOMB, path: '', code: 'PARSE_ERROR' },
  { name: 'document bomb (20000 documents)', text: '---\n'.repeat(20_000) + j(svc()) + '\n', path: '', code: 'INVALID_FIELD' },
  { name: 'duplicate keys in YAML', text: 'apiVersion: v1\nkind: Service\nkind: Pod\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n', path: '', code: 'PARSE_ERROR' },
  { name: 'annotations of 1 MB (huge object)', text: j(svc({}, { annotations: { big: 'x'.repeat(1_000_000) } })), path: 'metadata.annotations', code: 'INVALID_FIELD' },
  { name: 'a top-level list of scalars', text: '[1, 2, 3]', path: '[0]', code: 'INVALID_TYPE' },
];

// ─── Helpers ───────────────────────────────────────────────────────────────────────────────

async function refusal(p: Promise<unknown>): Promise<RemoteError | Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('the call was accepted');
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n >>>= 7; }
  out.push(n);
  return Buffer.from(out);
}

/** ApplyRequest{upserts: [Object{text, source}]} encoded by hand, so the text may be any bytes (invalid UTF-8). */
function rawApplyRequest(text: Buffer): Buffer {
  const src = Buffer.from('raw.json');
  const obj = Buffer.concat([Buffer.from([0x2a]), varint(text.length), text, Buffer.from([0x32]), varint(src.length), src]);
  return Buffer.concat([Buffer.from([0x0a]), varint(obj.length), obj]);
}

function rawApply(address: string, body: Buffer, method = 'Apply'): Promise<RemoteError | null> {
  const client = new grpc.Client(address.replace(/^unix:/, 'unix:'), grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(`/tapflow.v1.Control/${method}`, (b: Buffer) => b, (b: Buffer) => b, body, (err) => {
      client.close();
      resolve(err ? new RemoteError(err) : null);
    });
  });
}

// ─── 1. The controller API ─────────────────────────────────────────────────────────────────

t.test(`controller API: ${CASES.length} hostile manifests refused with their field path; version and objects untouched`, async (t) => {
  t.ok(CASES.length >= 30, `${CASES.length} cases`);
  const s = await startTestServer();
  t.teardown(s.stop);
  const c = new ControlClient({ address: s.address, maxMessageBytes: 64 << 20 });
  t.teardown(() => c.close());
  const good = await c.apply({ upserts: [wire(serviceObj('web', 80, 'default', 10)), wire(sliceObj('web-1', 'web', 2))] });
  const before = (await c.get('Service', 'web', 'default')).object!.text;
  for (const k of CASES) {
    const t0 = Date.now();
    const e = await refusal(c.apply({ upserts: [{ text: k.text, source: `${k.name}.yaml`, doc: 0 }] }));
    const ms = Date.now() - t0;
    if (!(e instanceof RemoteError)) { t.fail(`${k.name}: not a gRPC error: ${e.message}`); continue; }
    t.equal(e.grpcCode, grpc.status.INVALID_ARGUMENT, `${k.name}: INVALID_ARGUMENT (${e.message.split('\n')[1]?.trim().slice(0, 140) ?? e.message.slice(0, 140)})`);
    const paths = e.issues.map((i) => i.path);
    t.ok(paths.includes(k.path), `${k.name}: names the field path "${k.path}" (issues: ${JSON.stringify(paths.slice(0, 3))})`);
    if (k.code !== undefined) t.ok(e.issues.some((i) => i.path === k.path && i.code === k.code), `${k.name}: code ${k.code}`);
    t.ok(ms < 5000, `${k.name}: answered in ${ms} ms`);
  }
  t.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false, 'Object.prototype not polluted');
  const st = await c.stats();
  t.equal(st.version, good.version, `the desired state is still at version ${good.version}`);
  t.equal(st.objects, 2, 'still the two objects');
  t.equal((await c.get('Service', 'web', 'default')).object!.text, before, 'web unchanged');
  // And a well-formed change still goes through afterwards.
  t.equal((await c.apply({ upserts: [wire(serviceObj('api', 80, 'default', 11))] })).version, good.version + 1, 'a good Apply is still accepted');
});

t.test('controller API: hostile calls', async (t) => {
  const s = await startTestServer();
  t.teardown(s.stop);
  const c = new ControlClient({ address: s.address, maxMessageBytes: 64 << 20 });
  t.teardown(() => c.close());
  const v = (await c.apply({ upserts: [wire(serviceObj('web', 80, 'default', 10))] })).version;

  // Oversized gRPC message (server limit 16 MiB), sent by a client that allows 64 MiB.
  const big = await refusal(c.apply({ upserts: [{ kind: 'Service', name: 'web', namespace: 'default', text: j(svc({}, { annotations: { x: 'y'.repeat(17 << 20) } })) }] }));
  t.equal((big as RemoteError).grpcCode, grpc.status.RESOURCE_EXHAUSTED, `17 MiB message: RESOURCE_EXHAUSTED (${big.message.slice(0, 80)})`);
  // The same with the CLI's own client: refused before it leaves.
  const cli = new ControlClient({ address: s.address });
  t.teardown(() => cli.close());
  const local = await refusal(cli.apply({ upserts: [{ text: 'x'.repeat(17 << 20) }] }));
  t.match(local.message, /larger than|RESOURCE_EXHAUSTED/i, `the CLI's client refuses to send it: ${local.message.slice(0, 80)}`);

  // Invalid UTF-8 on the wire (a hand-encoded request; proto3 strings must be UTF-8).
  const bad = Buffer.concat([Buffer.from('{"apiVersion":"v1","kind":"Service","metadata":{"name":"web'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"},"spec":{"ports":[{"port":80}]}}')]);
  const utf = await rawApply(s.address, rawApplyRequest(bad));
  t.ok(utf !== null, 'invalid UTF-8 in the name: refused');
  t.equal(utf?.grpcCode, grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
  t.equal(utf?.path, 'metadata.name', `names metadata.name (${utf?.message.split('\n')[1]?.trim().slice(0, 100)})`);
  const inValue = Buffer.concat([Buffer.from('{"apiVersion":"v1","kind":"Service","metadata":{"name":"utf","annotations":{"a":"'), Buffer.from([0xc3, 0x28, 0xa0, 0xa1]), Buffer.from('"}},"spec":{"ports":[{"port":80}]}}')]);
  const utfValue = await rawApply(s.address, rawApplyRequest(inValue));
  t.equal(utfValue?.grpcCode, grpc.status.INVALID_ARGUMENT, 'invalid UTF-8 in an annotation value: INVALID_ARGUMENT, not stored with U+FFFD');
  t.equal(utfValue?.path, 'metadata.annotations.a', 'names metadata.annotations.a');
  t.match(utfValue?.issues[0], { source: 'raw.json', code: 'PARSE_ERROR', message: /upserts\[0\]\.text: invalid UTF-8 at byte 81 \(0xc3 0x28/ });
  const expected = v;
  // GetRequest{kind: "Service", name: <bytes>}: any string field of any Control request.
  const getName = Buffer.from([0x66, 0x6f, 0xff]);
  const utfGet = await rawApply(s.address, Buffer.concat([Buffer.from([0x0a, 7]), Buffer.from('Service'), Buffer.from([0x1a, getName.length]), getName]), 'Get');
  t.equal(utfGet?.grpcCode, grpc.status.INVALID_ARGUMENT, 'Get with invalid UTF-8 in the name: INVALID_ARGUMENT, not NOT_FOUND');
  t.equal(utfGet?.path, 'name', 'names the request field');
  t.equal(utfGet?.code, 'PARSE_ERROR');
  const garbage = await rawApply(s.address, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
  t.equal(garbage?.grpcCode, grpc.status.INTERNAL, `a request that is not protobuf: refused (${garbage?.message.slice(0, 60)})`);

  // The request's identifying fields must agree with the text.
  const mismatch = await refusal(c.apply({ upserts: [{ ...wire(serviceObj('web', 80, 'default', 10)), kind: 'Pod' }] })) as RemoteError;
  t.equal(mismatch.grpcCode, grpc.status.INVALID_ARGUMENT, 'kind in the request ≠ kind in the text: INVALID_ARGUMENT');
  t.ok(mismatch.issues.some((i) => i.path === 'kind'), 'names kind');
  const dup = await refusal(c.apply({ upserts: [wire(serviceObj('web', 81, 'default', 10))], deletes: [{ kind: 'Service', namespace: 'default', name: 'web' }] })) as RemoteError;
  t.ok(dup.issues.some((i) => i.code === 'DUPLICATE_VALUE'), 'upsert and delete of one object in a batch: DUPLICATE_VALUE');
  const twice = await refusal(c.apply({ upserts: [wire(serviceObj('x', 80, 'default', 12)), wire(serviceObj('x', 81, 'default', 12))] })) as RemoteError;
  t.ok(twice.issues.some((i) => i.path === 'metadata.name' && i.code === 'DUPLICATE_VALUE'), 'the same object twice in a batch: metadata.name DUPLICATE_VALUE');
  const stale = await refusal(c.apply({ upserts: [wire(serviceObj('y', 80, 'default', 13))], expectedVersion: v + 100 })) as RemoteError;
  t.equal(stale.grpcCode, grpc.status.ABORTED, 'a stale expectedVersion: ABORTED (CONFLICT)');
  const manyBad = await refusal(c.apply({ upserts: Array.from({ length: 3000 }, (_, i) => ({ text: j(svc({ ports: [{ port: 70000 + i }] }, { name: `s${i}` })) })) })) as RemoteError;
  t.equal(manyBad.grpcCode, grpc.status.INVALID_ARGUMENT, '3000 bad objects in one batch: INVALID_ARGUMENT');
  t.equal(manyBad.path, 'spec.ports[0].port', 'the first path in the metadata');
  t.ok(manyBad.issues.length <= 20 && manyBad.message.length < 20_000, `the answer stays bounded (${manyBad.issues.length} issues in metadata, ${manyBad.message.length} chars)`);

  // Relayed queries.
  const noNode = await refusal(c.trace('', '{}')) as RemoteError;
  t.equal(noNode.path, 'node', 'Trace without a node: names node');
  t.equal((await refusal(c.trace('ghost', '{}')) as RemoteError).grpcCode, grpc.status.UNAVAILABLE, 'Trace to an absent agent: UNAVAILABLE');
  const flows = await refusal(c.flows('node-a', 0, '{not json')) as RemoteError;
  t.equal(flows.grpcCode, grpc.status.INVALID_ARGUMENT, 'Flows with a filter that is not JSON: INVALID_ARGUMENT');
  t.equal(flows.path, 'filterJson', 'names filterJson');
  const empty = await refusal(c.get('', '')) as RemoteError;
  t.equal(empty.grpcCode, grpc.status.INVALID_ARGUMENT, 'Get without kind and name: INVALID_ARGUMENT');
  t.equal(empty.code, 'MISSING_FIELD');
  t.equal(empty.path, 'kind', 'names kind');
  const pathKind = await refusal(c.list('../../../etc', '../..')) as RemoteError;
  t.equal(pathKind.code, 'UNSUPPORTED_KIND', 'List with a path-like kind: UNSUPPORTED_KIND');
  t.equal(pathKind.path, 'kind');
  t.equal((await c.list('svc', '../..')).objects.length, 0, 'List with a path-like namespace: nothing, no error');
  t.equal((await refusal(c.get('Service', '../../../../etc/passwd', '..')) as RemoteError).grpcCode, grpc.status.NOT_FOUND, 'Get of a path-like name: NOT_FOUND');

  // Watch streams with hostile arguments end with an error or stream nothing.
  const wk = c.watch({ kinds: Array.from({ length: 1000 }, (_, i) => `Kind${i}`) }, () => undefined);
  const wkErr = await wk.done.then(() => null, (e: unknown) => e) as RemoteError | null;
  t.equal(wkErr?.code, 'UNSUPPORTED_KIND', 'Watch with 1000 unknown kinds: UNSUPPORTED_KIND');
  t.equal(wkErr?.path, 'kinds[0]', 'names kinds[0]');
  const w = c.watch({ kinds: ['svc'], namespace: '\u0000', sinceVersion: 2 ** 52 }, () => undefined);
  await new Promise((r) => setTimeout(r, 100));
  w.call.cancel();
  await w.done;
  t.pass('Watch with a NUL namespace and a huge sinceVersion: served and cancelled');

  const st = await c.stats();
  t.equal(st.version, expected, `still version ${expected}`);
  t.ok(st.serverVersion.length > 0, 'the server still answers');
});

// ─── 2. tapflow run --config reload ────────────────────────────────────────────────────────

const root = path.resolve(__dirname, '..', '..', '..');
const bin = path.join(root, 'bin', 'tapflow');
const rootReason = process.getuid?.() !== 0 ? 'needs root (the agent opens TAPs in a scratch network namespace)'
  : !fs.existsSync('/dev/net/tun') ? 'needs /dev/net/tun'
    : spawnSync('ip', ['-V']).status !== 0 ? 'needs iproute2' : false;

function adminGet(sock: string, p: string): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: sock, path: p, timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => { try { resolve(JSON.parse(body)); } catch (e) { reject(e); } });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('admin socket timeout')));
  });
}

async function until<T>(f: () => T | undefined, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('tapflow run --config: every hostile manifest and a port-set change rejected on reload; the running version stays', { skip: rootReason }, async (t) => {
  const dir = tempDir('tapflow-hostile-');
  const ns = `tfhi${process.pid % 100000}`;
  t.teardown(() => {
    spawnSync('ip', ['netns', 'del', ns]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  spawnSync('ip', ['netns', 'add', ns]);
  const cfgDir = path.join(dir, 'config');
  fs.mkdirSync(cfgDir);
  const nodeFile = path.join(dir, 'node.json');
  const node = (extraPort: boolean) => ({
    apiVersion: 'tapflow.dev/v1alpha1', kind: 'NodeConfig', metadata: { name: 'n1' },
    spec: {
      nodeName: 'n1', nodeIPs: ['10.0.0.4'], podCIDRs: ['10.244.0.0/24'], clusterCIDRs: ['10.244.0.0/16'], serviceCIDRs: ['10.96.0.0/12'], vnetPrefixes: ['10.0.0.0/16'],
      ports: [
        { name: 'uplink', tap: 'hiup', role: 'uplink' }, { name: 'host', tap: 'hihost', role: 'host' },
        ...(extraPort ? [{ name: 'pod-9', tap: 'hipod9', role: 'pod', addresses: ['10.244.0.9'] }] : []),
      ],
    },
  });
  fs.writeFileSync(nodeFile, j(node(false)));
  fs.writeFileSync(path.join(cfgDir, 'good.json'), j({ apiVersion: 'v1', kind: 'List', items: [serviceObj('good', 80, 'default', 20), sliceObj('good-1', 'good', 2)] }));
  const sock = path.join(dir, 'admin.sock');
  const agent = spawn('ip', ['netns', 'exec', ns, process.execPath, bin, 'run', '--node-config', nodeFile, '--config', cfgDir, '--admin-socket', sock], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  agent.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  agent.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  let exited: number | null | undefined;
  agent.on('exit', (code) => (exited = code));
  t.teardown(async () => {
    if (exited === undefined) {
      agent.kill('SIGTERM');
      await until(() => (exited !== undefined ? true : undefined), 5000, 'agent exit').catch(() => agent.kill('SIGKILL'));
    }
  });
  const events = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  await until(() => events().find((e) => e.event === 'ready'), 20000, `the agent's ready line (stderr: ${err.slice(-300)})`);
  const version0 = (await adminGet(sock, '/stats')).configVersion as number;
  t.equal(version0, 1, 'running version 1');
  const hostile = path.join(cfgDir, 'hostile.yaml');
  let hups = 0;

  /** Write a file atomically, then wait for the next reload verdict (the watch fires; SIGHUP if it did not). */
  const reload = async (file: string, text: string): Promise<Record<string, unknown>> => {
    const n = events().filter((e) => e.event === 'applied' || e.event === 'rejected').length;
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
    const t0 = Date.now();
    let hup = false;
    const ev = await until(() => {
      const l = events().filter((e) => e.event === 'applied' || e.event === 'rejected');
      if (l.length > n) return l[l.length - 1];
      if (!hup && Date.now() - t0 > 2000) { hup = true; hups++; agent.kill('SIGHUP'); }
      return undefined;
    }, 10000, `a reload verdict for ${path.basename(file)}`);
    if (process.env.TAPFLOW_TEST_VERBOSE) t.comment(`${path.basename(file)}: verdict after ${Date.now() - t0} ms${hup ? ' (SIGHUP)' : ''}`);
    // Let a second (debounced) reload of the same content land before the next case.
    await new Promise((r) => setTimeout(r, 350));
    const l = events().filter((e) => e.event === 'applied' || e.event === 'rejected');
    return l[l.length - 1] ?? ev;
  };

  for (const k of CASES.filter((c) => !c.apiOnly)) {
    const ev = await reload(hostile, k.text);
    t.equal(ev.event, 'rejected', `${k.name}: rejected`);
    const error = String(ev.error ?? '');
    const paths = (ev.paths as string[] | undefined) ?? [];
    const wanted = k.path === '' ? 'hostile.yaml[doc ' : k.path;
    t.ok(paths.some((p) => p.includes(wanted)) || error.includes(wanted), `${k.name}: names ${k.path || '(the document)'} (${error.split('\n')[1]?.trim().slice(0, 120)})`);
    t.equal(ev.version, version0, `${k.name}: still version ${version0}`);
  }
  // A NodeConfig changing the port set: rejected (ports are opened once), path spec.ports.
  fs.rmSync(hostile);
  const back = await reload(path.join(cfgDir, 'good.json'), fs.readFileSync(path.join(cfgDir, 'good.json'), 'utf8'));
  t.equal(back.event, 'applied', 'without the hostile file the configuration applies again');
  const v1 = back.version as number;
  const ports = await reload(nodeFile, j(node(true)));
  t.equal(ports.event, 'rejected', 'a NodeConfig adding a port: rejected');
  t.equal(ports.path, 'spec.ports', `names spec.ports (${String(ports.error).slice(0, 120)})`);
  t.equal(ports.version, v1, `still version ${v1}`);
  const badNode = await reload(nodeFile, j({ ...node(false), spec: { ...node(false).spec, podCIDRs: ['10.244.0.0/33'] } }));
  t.equal(badNode.event, 'rejected', 'a NodeConfig with a bad CIDR: rejected');
  t.match(String(badNode.error), /spec\.podCIDRs\[0\]/, 'names spec.podCIDRs[0]');

  t.equal(hups, 0, 'every change (files replaced by rename, again and again) was seen by the watch: no SIGHUP needed');
  const stats = await adminGet(sock, '/stats');
  t.equal(stats.configVersion, v1, `the agent still runs version ${v1}`);
  t.equal(exited, undefined, 'the agent is alive');
  t.equal(stats.totals.balanced, true, 'its counters balance');
  t.notMatch(err, /internal error|TypeError|RangeError|at .*\.js:\d+/, 'nothing unexpected on stderr');
});
