/**
 * FileStore durability: commit/reload, kill -9 of a writer mid-journal (every acknowledged
 * commit survives), a torn or corrupt journal tail is truncated with a warning, compaction,
 * crash between snapshot and journal reset, the writer lock, changesSince.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileStore, ObjectInput, crc32 } from './file-store';

function tmpDir(t: { teardown(fn: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-store-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

function svc(name: string, port: number, ns = 'default'): ObjectInput {
  return {
    key: `Service/${ns}/${name}`, kind: 'Service', apiVersion: 'v1', namespace: ns, name,
    raw: { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { ports: [{ port }] } },
  };
}

t.test('commit, get, list, reload', async (t) => {
  const dir = tmpDir(t);
  const s = FileStore.open(dir);
  t.equal(s.version, 0);
  const id = s.storeId;
  t.match(id, /^[0-9a-f-]{36}$/);
  const r1 = s.commit([svc('a', 80), svc('b', 81)], []);
  t.equal(r1.version, 1);
  t.equal(r1.changes.length, 2);
  const r2 = s.commit([svc('a', 80)], []); // unchanged: no version bump
  t.equal(r2.version, 1);
  t.equal(r2.changes.length, 0);
  const r3 = s.commit([svc('a', 8080)], ['Service/default/b', 'Service/default/absent']);
  t.equal(r3.version, 2);
  t.same(r3.changes.map((c) => [c.key, c.before !== undefined, c.after !== undefined]),
    [['Service/default/a', true, true], ['Service/default/b', true, false]]);
  t.equal(s.get('Service/default/a')?.version, 2);
  t.same(s.list('Service').map((o) => o.name), ['a']);
  t.throws(() => s.commit([svc('x', 1), svc('x', 2)], []), /twice/);
  s.close();

  const s2 = FileStore.open(dir);
  t.equal(s2.version, 2);
  t.equal(s2.storeId, id);
  t.same((s2.get('Service/default/a')?.raw as { spec: { ports: { port: number }[] } }).spec.ports[0].port, 8080);
  t.equal(s2.get('Service/default/b'), undefined);
  s2.close();
});

t.test('kill -9 mid-journal: every acknowledged commit survives', async (t) => {
  const dir = tmpDir(t);
  const mod = path.join(__dirname, 'file-store.js');
  // The child commits as fast as it can and prints each version once commit() returned.
  const code = `
    const { FileStore } = require(${JSON.stringify(mod)});
    const s = FileStore.open(${JSON.stringify(dir)}, { compactBytes: 50000 });
    for (let i = 1; ; i++) {
      const name = 'svc-' + i;
      const pad = 'x'.repeat(i % 500);
      s.commit([{ key: 'Service/default/' + name, kind: 'Service', apiVersion: 'v1', namespace: 'default', name,
        raw: { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default', annotations: { pad } }, spec: { ports: [{ port: i % 65535 + 1 }] } } }], []);
      process.stdout.write(s.version + '\\n');
    }`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  let acked = 0;
  let buf = '';
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) if (l) acked = Number(l);
      if (acked >= 400 && child.exitCode === null && !child.killed) {
        child.kill('SIGKILL');
      }
    });
    child.on('exit', () => resolve());
  });
  t.ok(acked >= 400, `child acknowledged ${acked} commits before SIGKILL`);
  const warnings: string[] = [];
  const s = FileStore.open(dir, { warn: (m) => warnings.push(m) }); // stale LOCK of the dead child is taken over
  t.ok(s.version >= acked, `reloaded version ${s.version} >= last acknowledged ${acked}`);
  t.equal(s.size, s.version, 'one object per commit');
  for (let i = 1; i <= s.version; i++) {
    const o = s.get(`Service/default/svc-${i}`);
    if (!o) { t.fail(`svc-${i} missing`); break; }
    if (o.version !== i) { t.fail(`svc-${i} at version ${o.version}`); break; }
  }
  const snapVersion = (JSON.parse(fs.readFileSync(path.join(dir, 'snapshot.json'), 'utf8')) as { version: number }).version;
  t.ok(snapVersion > 0, `compaction ran while writing (snapshot at version ${snapVersion})`);
  t.ok(warnings.every((w) => /stale lock|corrupt journal tail/.test(w)), warnings.join('; '));
  // It still takes writes after recovery.
  const before = s.version;
  t.equal(s.commit([svc('after', 1)], []).version, before + 1);
  s.close();
  const s2 = FileStore.open(dir);
  t.equal(s2.version, before + 1);
  s2.close();
});

t.test('corrupt tail: torn record, bad checksum, version gap — truncated with a warning', async (t) => {
  const dir = tmpDir(t);
  const s = FileStore.open(dir);
  s.commit([svc('a', 1)], []);
  s.commit([svc('b', 2)], []);
  const id0 = s.storeId;
  s.close();
  const jp = path.join(dir, 'journal.log');

  // 1. a torn append (no newline)
  fs.appendFileSync(jp, '0badc0de {"v":3,"t":0,"up":[');
  let warnings: string[] = [];
  let s2 = FileStore.open(dir, { warn: (m) => warnings.push(m) });
  t.equal(s2.version, 2);
  t.equal(warnings.length, 1);
  t.match(warnings[0], /corrupt journal tail.*incomplete/);
  t.equal(fs.statSync(jp).size, 0, 'torn record dropped, the rest folded into a snapshot');
  t.not(s2.storeId, id0, 'a new store id: agents that saw the lost tail resync');
  s2.close();

  // 2. a full line with a bad checksum, then a valid-looking record after it: both dropped
  const body = JSON.stringify({ v: 3, t: 0, up: [], del: ['Service/default/a'] });
  const body4 = JSON.stringify({ v: 4, t: 0, up: [], del: ['Service/default/b'] });
  fs.appendFileSync(jp, `00000000 ${body}\n${crc32(Buffer.from(body4)).toString(16).padStart(8, '0')} ${body4}\n`);
  warnings = [];
  s2 = FileStore.open(dir, { warn: (m) => warnings.push(m) });
  t.equal(s2.version, 2);
  t.ok(s2.get('Service/default/a'), 'the corrupt delete was not applied');
  t.match(warnings[0], /checksum mismatch/);
  t.equal(fs.statSync(jp).size, 0);
  s2.close();

  // 3. a correct record with a version gap
  const gap = JSON.stringify({ v: 9, t: 0, up: [], del: [] });
  fs.appendFileSync(jp, `${crc32(Buffer.from(gap)).toString(16).padStart(8, '0')} ${gap}\n`);
  warnings = [];
  s2 = FileStore.open(dir, { warn: (m) => warnings.push(m) });
  t.match(warnings[0], /does not follow 2/);
  t.equal(s2.version, 2);
  // 4. garbage bytes
  s2.close();
  fs.appendFileSync(jp, Buffer.from([0xff, 0x00, 0x13, 0x37, 0x0a]));
  warnings = [];
  s2 = FileStore.open(dir, { warn: (m) => warnings.push(m) });
  t.equal(warnings.length, 1);
  t.equal(s2.version, 2);
  t.equal(s2.commit([svc('c', 3)], []).version, 3, 'appends after the truncation point');
  s2.close();
  s2 = FileStore.open(dir);
  t.equal(s2.version, 3);
  t.ok(s2.get('Service/default/c'));
  s2.close();
});

t.test('compaction and a crash between snapshot and journal reset', async (t) => {
  const dir = tmpDir(t);
  const s = FileStore.open(dir, { compactBytes: 1 << 30 });
  for (let i = 0; i < 10; i++) s.commit([svc(`s${i}`, i + 1)], []);
  const jp = path.join(dir, 'journal.log');
  const journal = fs.readFileSync(jp);
  s.compact();
  t.equal(fs.statSync(jp).size, 0);
  s.commit([svc('s10', 11)], []);
  s.close();
  // Simulate the crash: the old journal (versions 1..10, already in the snapshot) is still there,
  // followed by version 11.
  const v11 = fs.readFileSync(jp);
  fs.writeFileSync(jp, Buffer.concat([journal, v11]));
  const warnings: string[] = [];
  const s2 = FileStore.open(dir, { warn: (m) => warnings.push(m) });
  t.equal(s2.version, 11);
  t.equal(s2.size, 11);
  t.same(warnings, []);
  s2.close();
  // A snapshot that is not JSON is not a torn write (it is only ever renamed into place): refuse.
  fs.writeFileSync(path.join(dir, 'snapshot.json'), '{"format":1,');
  t.throws(() => FileStore.open(dir), /refusing to start on a damaged store/);
});

t.test('one writer per data dir', async (t) => {
  const dir = tmpDir(t);
  const s = FileStore.open(dir);
  // Our own pid in LOCK is re-entrant for the same process, so fake a live foreign one (pid 1).
  s.close();
  fs.writeFileSync(path.join(dir, 'LOCK'), '1');
  t.throws(() => FileStore.open(dir), /in use by process 1/);
  fs.rmSync(path.join(dir, 'LOCK'));
  FileStore.open(dir).close();
});

t.test('changesSince', async (t) => {
  const dir = tmpDir(t);
  const s = FileStore.open(dir, { historyLimit: 3 });
  s.commit([svc('a', 1)], []); // v1
  s.commit([svc('b', 1)], []); // v2
  s.commit([svc('a', 2)], []); // v3
  t.same(s.changesSince(3), []);
  t.same(s.changesSince(2), ['Service/default/a']);
  t.same(s.changesSince(1)?.sort(), ['Service/default/a', 'Service/default/b']);
  s.commit([svc('c', 1), svc('d', 1)], []); // v4: history trimmed to ≤ 3 keys
  t.equal(s.changesSince(0), null, 'history no longer reaches back');
  t.equal(s.changesSince(99), null, 'future version');
  t.same(s.changesSince(3)?.sort(), ['Service/default/c', 'Service/default/d']);
  const seen: number[] = [];
  const off = s.onCommit((r) => seen.push(r.version));
  s.commit([], ['Service/default/a']);
  off();
  s.commit([], ['Service/default/b']);
  t.same(seen, [5]);
  s.close();
});
