/**
 * The CLI against a real controller on a temp unix socket (the `tapflow` binary as a child
 * process): apply -f DIR / FILE / -, validation errors with file, doc and field path (exit 1,
 * nothing applied), get (table, json, yaml, name, agents, kinds), delete, version, --help on
 * every command, usage errors (exit 2), `tapflow serve` refusing a non-local address.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { startTestServer, tempDir } from '../server/test-support';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'bin', 'tapflow');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function tapflow(args: string[], input?: string | Buffer): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { timeout: 30000, env: { ...process.env, TAPFLOW_SERVER: '' } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
    else child.stdin!.end();
  });
}

const WEB = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec:
  clusterIP: 10.96.12.34
  selector: { app: web }
  ports:
  - { name: http, port: 80, targetPort: 8080 }
  - { name: np, port: 8443, nodePort: 30443, protocol: TCP }
  type: NodePort
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  namespace: default
  labels: { kubernetes.io/service-name: web }
addressType: IPv4
endpoints:
- { addresses: [10.244.0.2], conditions: { ready: true } }
- { addresses: [10.244.0.3], conditions: { ready: true } }
- { addresses: [10.244.1.2], conditions: { ready: true } }
- { addresses: [10.244.1.3], conditions: { ready: true } }
ports:
- { name: http, port: 8080, protocol: TCP }
`;

const BAD = `
apiVersion: v1
kind: Service
metadata: { name: good, namespace: default }
spec:
  clusterIP: 10.96.0.50
  ports: [{ port: 80 }]
---
apiVersion: v1
kind: Service
metadata: { name: bad, namespace: default }
spec:
  clusterIP: 10.96.0.51
  ports:
  - { name: a, port: 80 }
  - { name: b, port: 65536, protocol: TCP }
`;

t.test('apply / get / delete round trip', async (t) => {
  const s = await startTestServer();
  t.teardown(s.stop);
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'web.yaml'), WEB);
  fs.writeFileSync(path.join(dir, 'bad.yaml'), BAD);
  const srv = ['--server', s.address];

  // A bad document: exit 1, file + doc + field path, nothing applied.
  let r = await tapflow(['apply', '-f', path.join(dir, 'bad.yaml'), ...srv]);
  t.equal(r.code, 1, r.stderr);
  t.match(r.stderr, /^error: 1 problem; nothing was applied\n  \S+bad\.yaml doc 1: spec\.ports\[1\]\.port \(line 16:\d+\): 65536 is out of range/);
  t.equal(s.server.controller.version, 0, 'nothing applied');

  // A directory with one bad file: nothing at all applied either.
  r = await tapflow(['apply', '-f', dir, ...srv]);
  t.equal(r.code, 1);
  t.equal(s.server.controller.version, 0);

  fs.rmSync(path.join(dir, 'bad.yaml'));
  r = await tapflow(['apply', '-f', dir, ...srv]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 'service/web created\nendpointslice/web-abc created\n');
  r = await tapflow(['apply', '-f', dir, ...srv]);
  t.equal(r.stdout, 'service/web unchanged\nendpointslice/web-abc unchanged\n');
  t.equal(s.server.controller.version, 1);

  // From stdin, with -n for an object that names no namespace.
  r = await tapflow(['apply', '-f', '-', '-n', 'shop', ...srv], 'apiVersion: v1\nkind: Service\nmetadata: {name: cart}\nspec: {clusterIP: 10.96.7.7, ports: [{port: 6379}]}\n');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 'service/cart created\n');

  r = await tapflow(['get', 'svc', ...srv]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout,
    'NAME   TYPE       CLUSTER-IP    EXTERNAL-IP   PORT(S)\n' +
    'web    NodePort   10.96.12.34   <none>        80/TCP,8443:30443/TCP\n');
  r = await tapflow(['get', 'services', '-A', ...srv]);
  t.match(r.stdout, /^NAMESPACE\s+NAME\s+TYPE/);
  t.match(r.stdout, /shop\s+cart\s+ClusterIP\s+10\.96\.7\.7\s+<none>\s+6379\/TCP/);
  r = await tapflow(['get', 'eps', ...srv]);
  t.match(r.stdout, /web-abc\s+IPv4\s+8080\s+10\.244\.0\.2,10\.244\.0\.3,10\.244\.1\.2 \+ 1 more\.\.\./);

  r = await tapflow(['get', 'svc', 'web', '-o', 'json', ...srv]);
  t.equal(r.code, 0);
  const web = JSON.parse(r.stdout) as { metadata: { name: string }; spec: { ports: unknown[] } };
  t.equal(web.metadata.name, 'web');
  t.equal(web.spec.ports.length, 2);
  r = await tapflow(['get', 'svc', '-o', 'yaml', '-n', 'shop', ...srv]);
  t.match(parseYaml(r.stdout), { kind: 'List', items: [{ metadata: { name: 'cart', namespace: 'shop' } }] });
  r = await tapflow(['get', 'svc', '-o', 'name', '-A', ...srv]);
  t.equal(r.stdout, 'service/web\nservice/cart\n');

  // What `get -o yaml` prints applies again unchanged (round trip).
  const exported = (await tapflow(['get', 'svc', 'web', '-o', 'yaml', ...srv])).stdout;
  r = await tapflow(['apply', '-f', '-', ...srv], exported);
  t.equal(r.stdout, 'service/web unchanged\n');

  r = await tapflow(['get', 'svc', 'nope', ...srv]);
  t.equal(r.code, 1);
  t.match(r.stderr, /NotFound.*Service "nope" not found/);
  r = await tapflow(['get', 'agents', ...srv]);
  t.equal(r.code, 0);
  t.match(r.stderr, /No agents/);
  r = await tapflow(['get', 'kinds']);
  t.match(r.stdout, /Service\s+v1\s+true\s+svc\n/);

  r = await tapflow(['delete', 'svc', 'web', 'nope', ...srv]);
  t.equal(r.code, 1, 'one missing name: nothing deleted');
  t.equal(s.server.controller.store.get('Service/default/web') !== undefined, true);
  r = await tapflow(['delete', 'svc', 'web', ...srv]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 'service "web" deleted\n');
  r = await tapflow(['delete', '-f', path.join(dir, 'web.yaml'), '--ignore-not-found', ...srv]);
  t.equal(r.stdout, 'endpointslice "web-abc" deleted\n');

  r = await tapflow(['version', ...srv]);
  t.equal(r.code, 0);
  t.match(r.stdout, /^Client Version: \d+\.\d+\.\d+\nServer Version: \d+\.\d+\.\d+ \(desired state version \d+, store [0-9a-f-]+\)\n$/);
  r = await tapflow(['version', '--server', `unix:${path.join(dir, 'absent.sock')}`]);
  t.equal(r.code, 1);
  t.match(r.stdout, /Client Version/);
  t.match(r.stderr, /cannot reach the controller|UNAVAILABLE|No connection/i);
});

t.test('apply -f with invalid UTF-8: file, doc and field named, exit 1, nothing applied', async (t) => {
  const s = await startTestServer();
  t.teardown(s.stop);
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const srv = ['--server', s.address];
  fs.writeFileSync(path.join(dir, 'web.yaml'), WEB);
  let r = await tapflow(['apply', '-f', path.join(dir, 'web.yaml'), ...srv]);
  t.equal(r.code, 0, r.stderr);
  const before = s.server.controller.store.get('Service/default/web');
  // Doc 1 of the file changes web with a label value that is not UTF-8 (Latin-1 "é").
  const bytes = Buffer.concat([
    Buffer.from('apiVersion: v1\nkind: Service\nmetadata: {name: other}\nspec: {clusterIP: 10.96.0.60, ports: [{port: 80}]}\n---\n'),
    Buffer.from('apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    team: caf'), Buffer.from([0xe9]),
    Buffer.from('\nspec: {clusterIP: 10.96.12.34, ports: [{port: 80}]}\n'),
  ]);
  const file = path.join(dir, 'latin1.yaml');
  fs.writeFileSync(file, bytes);
  r = await tapflow(['apply', '-f', file, ...srv]);
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr, /^error: 1 problem; nothing was applied\n  \S+latin1\.yaml doc 1: metadata\.labels\.team \(line 11:14\): invalid UTF-8 at byte \d+ \(0xe9/, r.stderr);
  r = await tapflow(['apply', '-f', '-', ...srv], bytes);
  t.equal(r.code, 1, 'from stdin: exit 1');
  t.match(r.stderr, /<stdin> doc 1: metadata\.labels\.team .*invalid UTF-8/);
  t.equal(s.server.controller.version, 1, 'nothing applied');
  t.equal(s.server.controller.store.get('Service/default/web'), before, 'web unchanged');
  t.equal(s.server.controller.store.get('Service/default/other'), undefined, 'the valid document of that file was not applied either');
});

t.test('--help, usage errors, serve policy', async (t) => {
  for (const cmd of ['serve', 'apply', 'get', 'delete', 'version']) {
    const r = await tapflow([cmd, '--help']);
    t.equal(r.code, 0, `${cmd} --help`);
    t.match(r.stdout, new RegExp(`^Usage: tapflow ${cmd}`), cmd);
  }
  let r = await tapflow(['apply']);
  t.equal(r.code, 2);
  t.match(r.stderr, /-f FILE\|DIR\|- is required/);
  r = await tapflow(['get', 'frobs']);
  t.equal(r.code, 2);
  t.match(r.stderr, /unknown kind "frobs"/);
  r = await tapflow(['get', 'svc', '--bogus']);
  t.equal(r.code, 2);
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  r = await tapflow(['serve', '--listen', '0.0.0.0:0', '--data-dir', path.join(dir, 'd')]);
  t.equal(r.code, 1);
  t.match(r.stderr, /refusing to listen on 0\.0\.0\.0:0 without authentication.*--token-file/);
});
