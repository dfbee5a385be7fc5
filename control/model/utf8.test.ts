/**
 * Strict UTF-8 for manifest bytes: the first invalid sequence is found (bad lead bytes,
 * truncated and overlong sequences, surrogates, a cut-off tail), and reported as a problem
 * naming the document, the field, line and column; files loaded by path are refused with it.
 */
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { firstInvalidUtf8, utf8Problem } from './utf8';
import { ManifestError, decodeManifest, loadManifestPaths } from './manifests';
import './kinds';

const b = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

t.test('firstInvalidUtf8', async (t) => {
  t.equal(firstInvalidUtf8(b('plain')), -1);
  t.equal(firstInvalidUtf8(b('é€𝄞 ok')), -1, 'multi-byte characters are fine');
  t.equal(firstInvalidUtf8(b('ab', [0xff], 'c')), 2, 'a byte that is never UTF-8');
  t.equal(firstInvalidUtf8(b('ab', [0xc3, 0x28])), 2, 'a lead byte without its continuation');
  t.equal(firstInvalidUtf8(b('é', [0xe2, 0x82], 'x')), 2, 'a truncated 3-byte sequence');
  t.equal(firstInvalidUtf8(b('a', [0xc0, 0xaf])), 1, 'an overlong encoding of "/"');
  t.equal(firstInvalidUtf8(b('a', [0xed, 0xa0, 0x80])), 1, 'a UTF-16 surrogate');
  t.equal(firstInvalidUtf8(b('é€𝄞', [0xf0, 0x9d, 0x84])), 9, 'a sequence cut off at the end');
  t.equal(firstInvalidUtf8(b('x'.repeat(100000), [0x80])), 100000, 'a stray continuation byte far in');
});

t.test('utf8Problem names the document and the field', async (t) => {
  t.equal(utf8Problem(b('kind: Service\n')), null);
  const p = utf8Problem(b('kind: Service\n---\nkind: Service\nmetadata:\n  name: web\n  labels:\n    team: caf', [0xe9], '\n'));
  t.match(p, { doc: 1, field: 'metadata.labels.team', line: 7, column: 14, code: 'PARSE_ERROR', message: /invalid UTF-8 at byte \d+ \(0xe9/ });
  const inKey = utf8Problem(b('{"metadata":{"labels":{"a', [0xff], '":"x"}}}'));
  t.match(inKey, { doc: 0, field: 'metadata.labels', line: 1 }, 'bad bytes in a key: the map it is in');
  t.match(utf8Problem(b('# caf', [0xe9], '\nkind: Service\n')), { field: '', line: 1 }, 'in a comment: no field, the line');
});

t.test('decodeManifest and loadManifestPaths refuse invalid UTF-8', async (t) => {
  t.equal(decodeManifest(b('\ufeffkind: x'), 'f.yaml'), '\ufeffkind: x', 'the BOM is kept for the loader to strip, as before');
  t.throws(() => decodeManifest(b('a: ', [0xff]), 'f.yaml'), ManifestError);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-utf8-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'a.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'good' } }));
  fs.writeFileSync(path.join(dir, 'b.yaml'), b('apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bad\n  annotations: {note: "', [0xc3, 0x28], '"}\n'));
  let err: unknown;
  try {
    loadManifestPaths([dir]);
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof ManifestError, 'a ManifestError');
  const issues = (err as ManifestError).issues;
  t.equal(issues.length, 1);
  t.match(issues[0], { file: path.join(dir, 'b.yaml'), doc: 0, field: 'metadata.annotations.note', line: 5, code: 'PARSE_ERROR' });
  t.match((err as Error).message, /b\.yaml\[doc 0\]: metadata\.annotations\.note \(line 5:\d+\): invalid UTF-8 at byte \d+ \(0xc3 0x28/);
});
