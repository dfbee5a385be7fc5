/**
 * parseText's single read (JSON through JSON.parse + scanJson, raw values from the loader)
 * against the previous two-read implementation (parse-reference.ts: the YAML loader, then the
 * text parsed again for the raw values): the same ParsedObjects (manifest, source line, raw) and
 * the same errors (issues with source, doc, field path, line:column; the same message) for
 * valid and invalid JSON and YAML, the examples, and seeded random mutations. Also: the JSON
 * fast path is really taken for clean JSON (the YAML parser is never called), scanJson refuses
 * what the YAML reader reads differently, the controller stores what the reference parses,
 * and the kind cache follows the registry.
 */
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as util from 'node:util';
import * as yaml from 'yaml';
import { BatchValidationError, ParsedObject, parseText, resolveKind } from './model-adapter';
import { parseTextReference } from './parse-reference';
import { MAX_DOCUMENTS, registerKind, scanJson } from '../model/manifests';
import { Controller } from './controller';
import { nodeConfigObj, serviceObj, sliceObj, tempDir, wire } from './test-support';

const EXAMPLES = path.join(__dirname, '..', '..', '..', 'examples');
const J = JSON.stringify;

type Outcome = { ok: unknown[]; raw: string[] } | { error: string; message: string; issues: unknown };

function outcome(fn: (text: string, source: string) => ParsedObject[], text: string): Outcome {
  try {
    const r = fn(text, 'src.json');
    return { ok: r.map((p) => ({ ...p, manifest: { ...p.manifest } })), raw: r.map((p) => J(p.raw)) };
  } catch (err) {
    if (!(err instanceof BatchValidationError)) throw err;
    return { error: err.name, message: err.message, issues: err.batchIssues };
  }
}

/** How many times the YAML parser ran during fn. */
function yamlParses(fn: () => void): number {
  const proto = yaml.Parser.prototype as unknown as { parse: (...a: unknown[]) => Generator };
  const orig = proto.parse;
  let n = 0;
  proto.parse = function (this: unknown, ...a: unknown[]) {
    n++;
    return orig.apply(this, a);
  };
  try {
    fn();
  } finally {
    proto.parse = orig;
  }
  return n;
}

function same(t: tap.Test, label: string, text: string): Outcome {
  const fast = outcome(parseText, text);
  const ref = outcome(parseTextReference, text);
  if (util.isDeepStrictEqual(fast, ref)) t.pass(label);
  else t.fail(label, { fast: util.inspect(fast, { depth: 8 }), ref: util.inspect(ref, { depth: 8 }) });
  return fast;
}

const s = serviceObj('web');
const sl = sliceObj('web-1', 'web', 3);
const cases: Record<string, string> = {
  'compact Service': J(s),
  'pretty Service': J(s, null, 2),
  'pretty EndpointSlice': J(sl, null, 2),
  'leading blank lines': `\n\n  ${J(s, null, 2)}\n\n`,
  'byte order mark': `\ufeff${J(s)}`,
  'CRLF line ends': J(s, null, 2).replace(/\n/g, '\r\n'),
  'tab indentation': J(s, null, '\t'),
  'top-level array': J([s, serviceObj('b')], null, 2),
  'kind: List': J({ apiVersion: 'v1', kind: 'List', items: [s, serviceObj('b')] }, null, 2),
  'typed list, items without kind': J({ apiVersion: 'v1', kind: 'ServiceList', items: [{ metadata: { name: 'x' }, spec: { ports: [{ port: 80 }] } }, { metadata: { name: 'y' }, spec: { ports: [{ port: 81 }] } }] }, null, 2),
  'List with items in metadata too': J({ apiVersion: 'v1', kind: 'List', metadata: { items: [1] }, items: [s] }, null, 2),
  'empty List': J({ apiVersion: 'v1', kind: 'List', items: [] }),
  'duplicate key': '{"apiVersion":"v1","kind":"Service","kind":"Service","metadata":{"name":"a"},"spec":{"ports":[{"port":80}]}}',
  'duplicate key, escaped': '{"apiVersion":"v1","kind":"Service","k\\u0069nd":"Service","metadata":{"name":"a"},"spec":{"ports":[{"port":80}]}}',
  'duplicate key among many': J({ ...s, metadata: { name: 'web', annotations: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, 'v'])) } }).replace('"k39":"v"', '"k39":"v","k3":"w"'),
  'many keys': J({ ...s, metadata: { name: 'web', annotations: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, 'v'])) } }),
  'merge key <<': '{"apiVersion":"v1","kind":"Service","metadata":{"name":"a","labels":{"<<":{"x":"y"}}},"spec":{"ports":[{"port":80}]}}',
  '__proto__ key': '{"apiVersion":"v1","kind":"Service","metadata":{"name":"a","labels":{"__proto__":{"x":"y"}}},"spec":{"ports":[{"port":80}]}}',
  'port out of range, pretty': J(serviceObj('web', 70000), null, 2),
  'port out of range, compact': J(serviceObj('web', 70000)),
  'bad clusterIP': J({ ...s, spec: { ...(s.spec as object), clusterIP: '10.1.2.300' } }, null, 2),
  'bad slice address': J(sliceObj('e', 'web', 2), null, 2).replace('10.244.0.1', '10.244.0.999'),
  'unknown kind': J({ apiVersion: 'v1', kind: 'Deployment', metadata: { name: 'x' } }),
  'missing kind': J({ apiVersion: 'v1', metadata: { name: 'x' } }),
  'array of numbers': '[1,2]',
  'a string': '"x"',
  'a number': '42',
  'null': 'null',
  'empty object': '{}',
  'same object twice in an array': J([s, s], null, 2),
  'line break before a colon': '{"apiVersion"\n:"v1","kind":"Service","metadata":{"name":"a"},"spec":{"ports":[{"port":80}]}}',
  'spaces around colons': '{"apiVersion" : "v1", "kind" :"Service","metadata":{"name":"a"},"spec":{"ports":[{"port":80}]}}',
  'key of 1500 characters': J({ ...s, metadata: { name: 'web', labels: { ['k'.repeat(1500)]: 'v' } } }),
  'escapes in strings': J({ ...s, metadata: { name: 'web', annotations: { 'a/b': 'x\\"y\u00e9\ud83d\ude00\n\t\u0001', c: 'a\\/b' } } }),
  'raw tab in a string': '{"apiVersion":"v1","kind":"Service","metadata":{"name":"a","annotations":{"x":"a\tb"}},"spec":{"ports":[{"port":80}]}}',
  'numbers: 8.0e1, -0, 1e400': J(s).replace('"port":80', '"port":8.0e1').replace('"targetPort":8080', '"targetPort":-0'),
  'infinite port': J(s).replace('"port":80', '"port":1e400'),
  'nested too deep': `{"apiVersion":"v1","kind":"Service","metadata":{"name":"a","annotations":${'{"a":'.repeat(70)}1${'}'.repeat(70)}},"spec":{"ports":[{"port":80}]}}`,
  'trailing comma (not JSON)': '{"apiVersion":"v1","kind":"Service","metadata":{"name":"a"},"spec":{"ports":[{"port":80},]}}',
  'two JSON documents': `${J(s)}\n---\n${J(serviceObj('b'))}`,
  'YAML': 'apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  ports:\n  - port: 80\n',
  'YAML, bad port': 'apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  ports:\n  - port: 99999\n',
  'YAML then JSON': `apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  ports:\n  - port: 80\n---\n${J(serviceObj('b'))}`,
  'NodeConfig': J(nodeConfigObj('node-a'), null, 2),
  'NodeConfig, bad CIDR': J(nodeConfigObj('node-a'), null, 2).replace('10.244.0.0/24', '10.244.0.0/33'),
};

t.test('the same objects and the same errors as the two-read implementation', async (t) => {
  for (const [label, text] of Object.entries(cases)) same(t, label, text);
});

t.test('errors of JSON input keep their line:column', async (t) => {
  const r = same(t, 'port out of range', J(serviceObj('web', 70000), null, 2));
  t.match(r, { error: 'BatchValidationError', issues: [{ source: 'src.json', path: 'spec.ports[0].port', line: 16, column: 9 }] });
  t.match((r as { message: string }).message, /src\.json doc 0: spec\.ports\[0\]\.port \(line 16:9\): 70000 is out of range/);
  const d = same(t, 'duplicate key', '{\n  "apiVersion": "v1",\n  "kind": "Service",\n  "kind": "Service"\n}');
  t.match(d, { error: 'BatchValidationError', issues: [{ code: 'PARSE_ERROR', line: 4, column: 3 }] });
});

t.test('the examples, as written and as JSON', async (t) => {
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const n of fs.readdirSync(d).sort()) {
      const f = path.join(d, n);
      if (fs.statSync(f).isDirectory()) walk(f);
      else files.push(f);
    }
  };
  walk(EXAMPLES);
  t.ok(files.length > 3, 'examples found');
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    same(t, path.relative(EXAMPLES, f), text);
    const docs = yaml.parseAllDocuments(text);
    if (Array.isArray(docs) && docs.length === 1 && docs[0].errors.length === 0) {
      const v = docs[0].toJS() as unknown;
      same(t, `${path.relative(EXAMPLES, f)} as pretty JSON`, J(v, null, 2));
      same(t, `${path.relative(EXAMPLES, f)} as compact JSON`, J(v));
    }
  }
});

t.test('seeded random mutations of Services and EndpointSlices, in arrays and Lists', async (t) => {
  let seed = 7;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)];
  const vals: unknown[] = [0, -1, 80, 65536, '80', 'http', null, true, [], {}, '10.0.0.1', '::1', 'bad ip', 1.5, '', 'TCP', 'SCTP', 'foo'];
  const mutate = (o: unknown, depth = 0): unknown => {
    if (Array.isArray(o)) return o.map((x) => mutate(x, depth + 1));
    if (o !== null && typeof o === 'object') {
      const r: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(o)) {
        const x = rnd();
        if (x < 0.03) continue;
        r[k] = x < 0.08 ? pick(vals) : mutate(v, depth + 1);
      }
      if (rnd() < 0.03) r[`extra${depth}`] = pick(vals);
      return r;
    }
    return o;
  };
  let differ = 0;
  let fast = 0;
  const N = 600;
  for (let i = 0; i < N; i++) {
    const base = pick([serviceObj(`w${i}`, 80, 'default', i + 1), sliceObj(`s${i}`, 'w', 3, 'default', i)]);
    const m = rnd() < 0.5 ? mutate(base) : base;
    const shape = rnd();
    const text = shape < 0.6 ? J(m, null, pick([0, 2, 4]))
      : shape < 0.8 ? J([m, serviceObj(`z${i}`)], null, pick([0, 2]))
        : J({ apiVersion: 'v1', kind: 'List', items: [m, sliceObj(`q${i}`, 'w', 1)] }, null, pick([0, 1, 3]));
    if (yamlParses(() => outcome(parseText, text)) === 0) fast++;
    if (!util.isDeepStrictEqual(outcome(parseText, text), outcome(parseTextReference, text))) {
      differ++;
      t.fail(`input ${i} differs`, { text });
    }
  }
  t.equal(differ, 0, `all ${N} inputs give the same result`);
  t.ok(fast > N / 4 && fast < N, `both paths are exercised (${fast} of ${N} read without YAML)`);
});

t.test('clean JSON is read without the YAML parser, with the YAML path\'s lines', async (t) => {
  let parsed: ParsedObject[] = [];
  t.equal(yamlParses(() => { parsed = parseText(J([s, serviceObj('b')], null, 2), 'f'); }), 0, 'no YAML parse for clean JSON');
  t.same(parsed.map((p) => [p.key, p.manifest.source.item, p.manifest.source.line]), [['Service/default/web', 0, 2], ['Service/default/b', 1, 24]]);
  t.equal(yamlParses(() => parseText('apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}]}\n', 'f')), 1, 'YAML is parsed once (not again for the raw values)');
  t.ok(yamlParses(() => t.throws(() => parseText(J(serviceObj('web', 70000)), 'f'))) > 0, 'a problem is reported by the YAML path');
});

t.test('scanJson: object starts, and null for what YAML reads differently', async (t) => {
  t.same(scanJson('  {"a": 1}'), { root: 2, items: [] });
  t.same(scanJson('[{"a":1}, 2 ,"x"]'), { root: 0, items: [1, 10, 13] });
  t.same(scanJson('{"kind":"List","x":[1],"items":[ {"a":[3]} ,{}]}'), { root: 0, items: [33, 44] });
  t.same(scanJson('{"a":"q\\"}","b":{"items":[1]}}'), { root: 0, items: [] }, 'escaped quotes; nested items not collected');
  for (const bad of ['{"a":1,"a":2}', '{"a":1,"\\u0061":2}', '{"<<":{}}', '{"__proto__":{}}', '{\t"a":1}', '{"a":1}\r\n', '{"a"\n:1}', `{"${'k'.repeat(1001)}":1}`]) {
    t.equal(scanJson(bad), null, J(bad).slice(0, 40));
  }
  t.same(scanJson('{"a":{"b":1},"c":{"b":2}}'), { root: 0, items: [] }, 'the same key in two objects is fine');
});

t.test('the controller stores what the two-read implementation parses; errors carry positions', async (t) => {
  const dir = tempDir('tapflow-fastpath-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const c = new Controller(path.join(dir, 'data'), { store: { fsync: false } });
  t.teardown(() => c.close());
  const full = (o: ReturnType<typeof wire>) => ({ version: 0, kind: '', apiVersion: '', namespace: '', name: '', text: '', source: '', doc: 0, ...o });
  const yamlText = 'apiVersion: v1\nkind: Service\nmetadata:\n  name: y\nspec:\n  ports:\n  - port: 80\n';
  const upserts = [
    full(wire(s)), full(wire(sl)), full({ ...wire(serviceObj('p')), text: J(serviceObj('p'), null, 2) }),
    full({ kind: 'Service', name: 'y', namespace: 'default', text: yamlText, source: 'y.yaml' }),
  ];
  const r = c.apply({ upserts, deletes: [] });
  t.equal(r.version, 1, 'one version');
  for (const u of upserts) {
    const [ref] = parseTextReference(u.text, u.source);
    const stored = c.store.get(ref.key);
    t.same(stored?.raw, ref.raw, `${ref.key}: stored raw as the reference parses it`);
    t.same(c.desired().getKey(ref.key)?.object, ref.manifest.object, `${ref.key}: validated object`);
  }
  const bad = J(serviceObj('q', 70000), null, 2);
  let err: unknown;
  try {
    c.apply({ upserts: [full(wire(serviceObj('ok'))), full({ ...wire(serviceObj('q')), text: bad, source: 'q.json' })], deletes: [] });
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof BatchValidationError, 'rejected');
  t.match((err as BatchValidationError).batchIssues, [{ source: 'q.json', doc: 0, key: 'Service/default/q', path: 'spec.ports[0].port', line: 16, column: 9 }]);
  t.equal(c.version, 1, 'nothing applied');
  t.equal(c.store.get('Service/default/ok'), undefined);
});

t.test('kinds are cached but follow the registry', async (t) => {
  t.equal(resolveKind('svc')?.kind, 'Service');
  t.equal(resolveKind('fastpathwidget'), undefined);
  registerKind('test.tapflow.dev/v1', 'FastPathWidget', (o) => o);
  t.equal(resolveKind('fastpathwidgets')?.kind, 'FastPathWidget', 'a kind registered later is found');
  const k = resolveKind('svc');
  k?.aliases.push('mutated');
  t.notOk(resolveKind('svc')?.aliases.includes('mutated'), 'callers get copies');
});

t.test('the object limit: a JSON array over MAX_DOCUMENTS gives the same error', async (t) => {
  const ns = Array.from({ length: MAX_DOCUMENTS + 1 }, (_, i) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `n${i}` } }));
  const r = same(t, `${MAX_DOCUMENTS + 1} Namespaces`, J(ns));
  t.match(r, { error: 'BatchValidationError', issues: [{ path: `[${MAX_DOCUMENTS}]`, message: /too many objects/ }] });
  same(t, `${MAX_DOCUMENTS} Namespaces`, J(ns.slice(0, MAX_DOCUMENTS)));
});
