/**
 * Server reflection and the listen/auth policy of a real `tapflow serve` (child process; no
 * root needed):
 *
 *  - on a temp unix socket: list the services by reflection (grpcurl when installed, else the
 *    generic client of test/support/reflection-client.ts), resolve `tapflow.v1.Control` from
 *    reflection only (no local .proto) and call Apply / Get / List with that descriptor;
 *  - a non-loopback `--listen` without credentials is refused (exit 1, says which flags to add,
 *    touches no data dir);
 *  - with `--token-file`: calls (Control and reflection) without the token, or with another one,
 *    get UNAUTHENTICATED; with it they succeed; the CLI likewise.
 */
import t from 'tap';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { execIn, findRepoRoot, waitFor } from '../../scripts/testbed';
import { ReflectionClient } from '../support/reflection-client';

const ROOT = findRepoRoot(__dirname);
const BIN = path.join(ROOT, 'bin', 'tapflow');
const built = fs.existsSync(path.join(ROOT, 'dist', 'control', 'cli', 'serve.js'));

function haveGrpcurl(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v grpcurl'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

interface Serve {
  child: ChildProcess;
  ready: { listen: string; auth: string; desiredStateVersion: number };
  stderr: () => string;
  stop: () => Promise<void>;
}

/** `tapflow serve ARGS` until its ready line; stop() is SIGTERM then (bounded) SIGKILL. */
async function serve(args: string[]): Promise<Serve> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let exit: number | null | undefined;
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<void>((resolve) => child.on('exit', (c) => { exit = c; resolve(); }));
  const stop = async () => {
    if (exit !== undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const line = await waitFor(() => {
      const l = out.split('\n').find((x) => x.includes('"ready"'));
      if (l) return l;
      if (exit !== undefined) throw new Error(`tapflow serve exited (${exit}): ${err.trim().slice(-1000)}`);
      return undefined;
    }, { timeoutMs: 20000, intervalMs: 20, what: 'tapflow serve ready' });
    return { child, ready: JSON.parse(line) as Serve['ready'], stderr: () => err, stop };
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
}

const CONTROL_METHODS = ['Apply', 'Delete', 'Flows', 'Get', 'List', 'Stats', 'Trace', 'Watch'];

const SERVICE = {
  apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' },
  spec: { clusterIP: '10.96.100.10', ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
};

t.test('reflection on a unix socket: list, resolve Control, call it dynamically', { skip: built ? false : 'not built (dist/control/cli/serve.js)' }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-reflection-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'c.sock');
  const s = await serve(['--listen', `unix:${sock}`, '--data-dir', path.join(dir, 'data'), '-q']);
  t.teardown(s.stop);
  t.equal(s.ready.auth, 'none');
  t.equal((fs.statSync(sock).mode & 0o777).toString(8), '600', 'the socket is 0600');

  const rc = new ReflectionClient(`unix:${sock}`);
  t.teardown(() => rc.close());
  const services = await rc.listServices();
  t.same(services, ['tapflow.v1.AgentSync', 'tapflow.v1.Control'], 'reflection lists the two services');
  t.equal(rc.reflectionVersion, 'v1', 'grpc.reflection.v1 answered');
  const alpha = new ReflectionClient(`unix:${sock}`, { version: 'v1alpha' });
  t.teardown(() => alpha.close());
  t.same(await alpha.listServices(), services, 'grpc.reflection.v1alpha (older grpcurl) answers the same');

  if (haveGrpcurl()) {
    const r = await execIn(null, ['grpcurl', '-unix', '-plaintext', sock, 'list'], { timeoutMs: 10000 });
    t.equal(r.code, 0, `grpcurl list (${r.stderr.trim()})`);
    for (const name of services) t.match(r.stdout, name, `grpcurl lists ${name}`);
  } else {
    t.comment('grpcurl is not installed: the generic reflection client (test/support/reflection-client.ts) stands in for it');
  }

  // The descriptor of tapflow.v1.Control from reflection only; calls built from it.
  const files = await rc.filesForSymbol('tapflow.v1.Control');
  t.ok(files.length >= 1, `reflection returned ${files.length} file descriptor(s)`);
  const control = await rc.service('tapflow.v1.Control');
  t.teardown(() => control.close());
  t.same(control.methods, CONTROL_METHODS, 'Control methods, from the reflected descriptor');
  t.equal(control.definition.Get.path, '/tapflow.v1.Control/Get');
  t.equal(control.definition.Watch.responseStream, true, 'Watch is server-streaming');

  const applied = await control.unary<{ version: string; results: { key: string; action: string }[] }>('Apply', {
    upserts: [{ kind: 'Service', namespace: 'default', name: 'web', text: JSON.stringify(SERVICE), source: 'reflection.test' }],
  });
  t.equal(applied.version, '1', 'dynamic Apply: version 1 (uint64 as a string)');
  t.same(applied.results, [{ key: 'Service/default/web', action: 'created' }]);

  const got = await control.unary<{ version: string; object: { kind: string; name: string; text: string; version: string } }>('Get', { kind: 'Service', namespace: 'default', name: 'web' });
  t.equal(got.object.kind, 'Service');
  t.equal(got.object.version, '1');
  t.same(JSON.parse(got.object.text), SERVICE, 'dynamic Get: the object as applied');

  const listed = await control.unary<{ version: string; objects: { name: string }[] }>('List', { kind: 'svc', namespace: '' });
  t.equal(listed.version, '1');
  t.same(listed.objects.map((o) => o.name), ['web'], 'dynamic List (short kind name "svc")');

  const missing = await control.unary('Get', { kind: 'Service', namespace: 'default', name: 'nope' }).then(() => null, (e: grpc.ServiceError) => e);
  t.equal(missing?.code, grpc.status.NOT_FOUND, 'dynamic Get of a missing object: NOT_FOUND');
  t.equal(missing?.metadata.get('tapflow-error-code')[0], 'NOT_FOUND', 'with the tapflow-error-code trailer');

  const invalid = await control.unary('Apply', {
    upserts: [{ kind: 'Service', namespace: 'default', name: 'web', text: JSON.stringify({ ...SERVICE, spec: { ...SERVICE.spec, ports: [{ port: 70000 }] } }), source: 'bad.json' }],
  }).then(() => null, (e: grpc.ServiceError) => e);
  t.equal(invalid?.code, grpc.status.INVALID_ARGUMENT, 'dynamic Apply of an invalid object: INVALID_ARGUMENT');
  t.equal(invalid?.metadata.get('tapflow-field-path')[0], 'spec.ports[0].port', 'with the field path trailer');
});

t.test('a non-loopback listen address without credentials is refused', { skip: built ? false : 'not built' }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-reflection-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const data = path.join(dir, 'data');
  const r = await execIn(null, [process.execPath, BIN, 'serve', '--listen', '0.0.0.0:0', '--data-dir', data], { timeoutMs: 20000 });
  t.equal(r.code, 1, 'tapflow serve exits 1');
  t.match(r.stderr, /refusing to listen on 0\.0\.0\.0:0 without authentication/, 'says why');
  t.match(r.stderr, '--token-file', 'and names --token-file');
  t.match(r.stderr, '--tls-cert', 'and the mutual TLS flags');
  t.notOk(r.stdout.includes('"ready"'), 'never ready');
  t.notOk(fs.existsSync(data), 'the data dir was not touched');
});

t.test('--token-file: calls without the token are UNAUTHENTICATED, with it they succeed', { skip: built ? false : 'not built' }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-reflection-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const tokenFile = path.join(dir, 'token');
  const token = 'test-token-' + Math.random().toString(36).slice(2);
  fs.writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
  // Not loopback: allowed because of the token. Port 0: any free port (the ready line tells).
  const s = await serve(['--listen', '0.0.0.0:0', '--token-file', tokenFile, '--data-dir', path.join(dir, 'data'), '-q']);
  t.teardown(s.stop);
  t.equal(s.ready.auth, 'token');
  const port = Number(/:(\d+)$/.exec(s.ready.listen)?.[1]);
  t.ok(port > 0, `listening on ${s.ready.listen}`);
  const target = `127.0.0.1:${port}`;

  // Reflection is behind the token too.
  const anon = new ReflectionClient(target);
  t.teardown(() => anon.close());
  const anonErr = await anon.listServices().then(() => null, (e: grpc.ServiceError) => e);
  t.equal(anonErr?.code, grpc.status.UNAUTHENTICATED, 'reflection without a token: UNAUTHENTICATED');

  const authed = new ReflectionClient(target, { metadata: { authorization: `Bearer ${token}` } });
  t.teardown(() => authed.close());
  t.same(await authed.listServices(), ['tapflow.v1.AgentSync', 'tapflow.v1.Control'], 'reflection with the token');
  const control = await authed.service('tapflow.v1.Control');
  t.teardown(() => control.close());

  const listed = await control.unary<{ version: string; objects: unknown[] }>('List', { kind: '', namespace: '' });
  t.same(listed, { version: '0', objects: [] }, 'Control.List with the token succeeds');
  const stats = await control.unary<{ version: string }>('Stats', {});
  t.equal(stats.version, '0', 'Control.Stats with the token succeeds');

  const noToken = await control.unary('List', { kind: '' }, {}).then(() => null, (e: grpc.ServiceError) => e);
  t.equal(noToken?.code, grpc.status.UNAUTHENTICATED, 'Control.List without a token: UNAUTHENTICATED');
  t.match(noToken?.details, /missing "authorization: Bearer/, 'says the header is missing');
  const wrong = await control.unary('List', { kind: '' }, { authorization: `Bearer ${token}x` }).then(() => null, (e: grpc.ServiceError) => e);
  t.equal(wrong?.code, grpc.status.UNAUTHENTICATED, 'Control.List with another token: UNAUTHENTICATED');
  t.match(wrong?.details, /invalid bearer token/);
  const applyNoToken = await control.unary('Apply', {
    upserts: [{ kind: 'Service', namespace: 'default', name: 'web', text: JSON.stringify(SERVICE) }],
  }, {}).then(() => null, (e: grpc.ServiceError) => e);
  t.equal(applyNoToken?.code, grpc.status.UNAUTHENTICATED, 'Control.Apply without a token: UNAUTHENTICATED');
  t.equal((await control.unary<{ version: string }>('Stats', {})).version, '0', 'and it changed nothing');

  // The CLI: --token-file or nothing.
  const cli = (args: string[]) => execIn(null, [process.execPath, BIN, ...args, '--server', target, '--timeout', '10'], {
    timeoutMs: 20000, env: { TAPFLOW_TOKEN_FILE: '' },
  });
  const cliNo = await cli(['get', 'services']);
  t.equal(cliNo.code, 1, 'tapflow get without --token-file exits 1');
  t.match(cliNo.stderr, /UNAUTHENTICATED/, 'and says UNAUTHENTICATED');
  const cliYes = await cli(['get', 'services', '-o', 'json', '--token-file', tokenFile]);
  t.equal(cliYes.code, 0, `tapflow get --token-file exits 0 (${cliYes.stderr.trim()})`);
  t.same(JSON.parse(cliYes.stdout).items, [], 'and lists the (empty) services');
});
