/**
 * The manifest loader: YAML/JSON text (or files and directories) → validated, normalized objects.
 *
 * Input shapes: multi-document YAML (`---`), JSON, `kind: List` and typed lists (`ServiceList`,
 * items may omit kind/apiVersion as the API returns them), `kubectl get -o json|yaml` output,
 * Azure ARM resource JSON (`az ... show` objects with a top-level `type`, and `az ... list`
 * arrays). A kind registry maps (apiVersion, kind) — or an ARM `type` — to a validator;
 * NodeConfig, Service, EndpointSlice, Pod and Namespace are built in, others register themselves
 * with registerKind / registerArmType.
 *
 * Errors: every problem in every document is collected and thrown together as one
 * ManifestError (a ValidationError). Each issue's path is prefixed by file and document —
 * `services.yaml[doc 2].spec.ports[0].port` (documents count from 0 in the file, including empty
 * ones) — and carries line/column when the field exists in the text.
 *
 * DesiredState is the in-memory store of loaded objects, keyed by `Kind/namespace/name`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Composer, Document, LineCounter, Parser } from 'yaml';
import { ErrorCode, Issue, IssueCode, Issues, NotFoundError, ValidationError, fieldPath } from './errors';
import { NODE_CONFIG_API_VERSION, NODE_CONFIG_KIND, NodeConfig, validateNodeConfig } from './node-config';
import { Obj, isObj, objectKey } from './k8s';
import { positionOf } from './checker';
import { utf8Problem } from './utf8';
import { SERVICE_API_VERSION, SERVICE_KIND, Service, checkService } from './service';
import { ENDPOINT_SLICE_API_VERSION, ENDPOINT_SLICE_KIND, EndpointSlice, checkEndpointSlice } from './endpoint-slice';
import { POD_API_VERSION, POD_KIND, Pod, checkPod } from './pod';
import { NAMESPACE_API_VERSION, NAMESPACE_KIND, Namespace, checkNamespace } from './namespace';

/** At most this many objects (documents and list items together) per load call. */
export const MAX_DOCUMENTS = 10_000;
/** At most this many levels of nested maps/lists in one document. */
export const MAX_DEPTH = 64;

// ─── Types ─────────────────────────────────────────────────────────────────────────────────

export interface ManifestSource {
  /** File path as given (or as found under a given directory); null for text without a source. */
  file: string | null;
  /** Document index in the text, from 0 (empty documents count). */
  doc: number;
  /** Index in the List's items (or the top-level JSON array); null for a plain document. */
  item: number | null;
  /** 1-based line where the object starts; null when unknown (JSON fallback parser). */
  line: number | null;
}

export interface Manifest<T = unknown> {
  /** The kind; for ARM resources the registered ARM type (e.g. "Microsoft.Network/networkSecurityGroups"). */
  kind: string;
  apiVersion: string;
  /** "" for cluster-scoped kinds; ARM resources: the resource group (lower case) or "". */
  namespace: string;
  name: string;
  /** `Kind/namespace/name`. */
  key: string;
  source: ManifestSource;
  /** The normalized object the kind's validator returned. */
  object: T;
}

/** The built-in kinds' normalized types; colleagues add theirs by declaration merging. */
export interface KindMap {
  Service: Service;
  EndpointSlice: EndpointSlice;
  Pod: Pod;
  Namespace: Namespace;
  NodeConfig: NodeConfig;
}

/** An Issue from the loader: `path` is prefixed (`file[doc N].field`); `field` is relative to the document root. */
export interface ManifestIssue extends Issue {
  file: string | null;
  /** null for problems not tied to one document. */
  doc: number | null;
  field: string;
}

/** Every problem of a load, across files and documents. */
export class ManifestError extends ValidationError {
  override name = 'ManifestError';
  declare readonly issues: ManifestIssue[];
  constructor(issues: ManifestIssue[]) {
    super(issues, { what: 'manifests' });
    const n = issues.length;
    const lines = issues.map((i) => {
      const where = i.doc === null ? i.file ?? '' : docLabel(i.file, i.doc);
      const at = i.line !== undefined ? ` (line ${i.line}${i.column !== undefined ? `:${i.column}` : ''})` : '';
      return `  ${where}${i.field !== '' ? `: ${i.field}` : ''}${at}: ${i.message}`;
    });
    this.message = [`${n} problem${n === 1 ? '' : 's'} in manifests`, ...lines].join('\n');
  }
}

// ─── The kind registry ─────────────────────────────────────────────────────────────────────

/**
 * A kind's validator: record problems in `issues` (paths relative to the object, `spec.ports[0]`)
 * and return the normalized object, or throw a ValidationError (its issues are taken over).
 */
export type KindValidator<T = unknown> = (obj: unknown, issues: Issues) => T | undefined;

export interface KindOptions<T = unknown> {
  /** Default true for registerKind (namespace "default" when absent), false for ARM types. */
  namespaced?: boolean;
  /** Where the object's namespace and name are; default: `metadata.namespace`/`metadata.name` of the normalized object (ARM: resourceGroup and `name`). */
  identify?: (obj: T, raw: Obj) => { namespace: string; name: string };
}

interface KindEntry {
  apiVersion: string;
  kind: string;
  validate: KindValidator;
  namespaced: boolean;
  identify: (obj: unknown, raw: Obj) => { namespace: string; name: string };
}

const kinds = new Map<string, KindEntry>();
const armTypes = new Map<string, KindEntry>();
let registryGeneration = 0;

/** Bumped by every registerKind / registerArmType (callers cache what they derive from the registry). */
export function kindRegistryGeneration(): number {
  return registryGeneration;
}

/** Register (or replace) the validator for an apiVersion + kind. */
export function registerKind<T>(apiVersion: string, kind: string, validate: KindValidator<T>, options: KindOptions<T> = {}): void {
  const namespaced = options.namespaced ?? true;
  const identify = (options.identify as KindEntry['identify'] | undefined) ?? ((obj: unknown, raw: Obj) => metaIdentity(obj, raw, namespaced));
  kinds.set(`${apiVersion}\n${kind}`, { apiVersion, kind, validate, namespaced, identify });
  registryGeneration++;
}

/** Register (or replace) the validator for an Azure ARM resource type (matched case-insensitively). */
export function registerArmType<T>(type: string, validate: KindValidator<T>, options: KindOptions<T> = {}): void {
  const identify = (options.identify as KindEntry['identify'] | undefined) ?? armIdentity;
  armTypes.set(type.toLowerCase(), { apiVersion: '', kind: type, validate, namespaced: options.namespaced ?? false, identify });
  registryGeneration++;
}

/** "apiVersion kind" of every registered kind plus the ARM types, sorted. */
export function supportedKinds(): string[] {
  return [...[...kinds.values()].map((e) => `${e.apiVersion} ${e.kind}`), ...[...armTypes.values()].map((e) => `ARM ${e.kind}`)].sort();
}

function metaIdentity(obj: unknown, raw: Obj, namespaced: boolean): { namespace: string; name: string } {
  const m = (isObj(obj) && isObj(obj.metadata) ? obj.metadata : isObj(raw.metadata) ? raw.metadata : {}) as Obj;
  const name = typeof m.name === 'string' ? m.name : '';
  const ns = typeof m.namespace === 'string' && m.namespace !== '' ? m.namespace : namespaced ? 'default' : '';
  return { namespace: namespaced ? ns : '', name };
}

function armIdentity(_obj: unknown, raw: Obj): { namespace: string; name: string } {
  let rg = typeof raw.resourceGroup === 'string' ? raw.resourceGroup : '';
  if (rg === '' && typeof raw.id === 'string') rg = /\/resourceGroups\/([^/]+)/i.exec(raw.id)?.[1] ?? '';
  return { namespace: rg.toLowerCase(), name: typeof raw.name === 'string' ? raw.name : '' };
}

registerKind(NODE_CONFIG_API_VERSION, NODE_CONFIG_KIND, (o) => validateNodeConfig(o), { namespaced: false });
registerKind(SERVICE_API_VERSION, SERVICE_KIND, checkService);
registerKind(ENDPOINT_SLICE_API_VERSION, ENDPOINT_SLICE_KIND, checkEndpointSlice);
registerKind(POD_API_VERSION, POD_KIND, checkPod);
registerKind(NAMESPACE_API_VERSION, NAMESPACE_KIND, checkNamespace, { namespaced: false });

// ─── Loading ───────────────────────────────────────────────────────────────────────────────

export interface LoadOptions {
  /** Skip objects of kinds nobody registered (a Deployment next to its Service) instead of reporting UNSUPPORTED_KIND. */
  ignoreUnsupportedKinds?: boolean;
  /**
   * false: read JSON input with JSON.parse and record no source lines for clean objects (the
   * controller's and agents' bulk path; ~100× faster). Problems are still reported with lines.
   */
  positions?: boolean;
  /**
   * true (with positions): read JSON input with JSON.parse plus a light scan of the text
   * (scanJson) that gives every object the same source line the YAML reader would. Input the
   * YAML reader could read differently (duplicate keys, a `<<` or `__proto__` key, tabs or CR
   * outside strings, a line break between a key and its colon, a very long key) and input with
   * any problem goes the YAML way, so the objects, the raw values and every issue (line:column
   * included) are those of the YAML path. What `parseText` (the controller's Apply, the CLI) uses.
   */
  fastJson?: boolean;
}

/** Load every object in `text` (YAML or JSON). Throws ManifestError with every problem. */
export function loadManifests(text: string, source?: string, options?: LoadOptions): Manifest[] {
  const l = new Loader(options ?? {});
  l.addText(text, source ?? null);
  return l.finish();
}

/** A loaded object and the plain value it was validated from (a List item with the List's kind/apiVersion when it names none). */
export interface LoadedObject {
  manifest: Manifest;
  raw: unknown;
}

/** loadManifests, also returning each object's raw value (what was read, before validation). */
export function loadManifestObjects(text: string, source?: string, options?: LoadOptions): LoadedObject[] {
  const l = new Loader(options ?? {});
  l.addText(text, source ?? null);
  const ms = l.finish();
  return ms.map((manifest, i) => ({ manifest, raw: l.raws[i] }));
}

/**
 * Load files and directories (recursively: *.yaml, *.yml, *.json, sorted by name, dot-entries
 * skipped; a file named explicitly is read whatever its extension). Throws NotFoundError for a
 * missing path, ManifestError with every problem otherwise.
 */
export function loadManifestPaths(paths: string[], options?: LoadOptions): Manifest[] {
  const l = new Loader(options ?? {});
  for (const f of listManifestFiles(paths)) l.addBytes(fs.readFileSync(f), f);
  return l.finish();
}

/**
 * Manifest bytes (a file, stdin, a request) → text, strictly: invalid UTF-8 throws a
 * ManifestError naming the file, document, field, line and byte offset (never U+FFFD).
 */
export function decodeManifest(bytes: Uint8Array, file: string | null): string {
  const l = new Loader({});
  const text = l.decode(bytes, file);
  if (text === null) l.finish();
  return text as string;
}

const MANIFEST_EXT = /\.(ya?ml|json)$/i;

/** The files loadManifestPaths reads, in order. */
export function listManifestFiles(paths: string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const visitedDirs = new Set<string>();
  const add = (f: string): void => {
    const abs = path.resolve(f);
    if (!seen.has(abs)) {
      seen.add(abs);
      out.push(f);
    }
  };
  const walk = (dir: string): void => {
    const real = fs.realpathSync(dir);
    if (visitedDirs.has(real)) return;
    visitedDirs.add(real);
    const names = fs.readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
    for (const n of names) {
      const full = path.join(dir, n);
      let st: fs.Stats;
      try {
        st = fs.statSync(full);
      } catch {
        continue; // dangling symlink
      }
      if (st.isDirectory()) walk(full);
      else if (st.isFile() && MANIFEST_EXT.test(n)) add(full);
    }
  };
  for (const p of paths) {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`${p}: no such file or directory`);
      throw e;
    }
    if (st.isDirectory()) walk(p);
    else add(p);
  }
  return out;
}

function docLabel(file: string | null, doc: number): string {
  return `${file ?? ''}[doc ${doc}]`;
}

/** `a` + `b` as one field path (`items[2]` + `spec.x` → `items[2].spec.x`). */
function joinPath(a: string, b: string): string {
  if (b === '') return a;
  if (a === '') return b;
  return b.startsWith('[') ? a + b : `${a}.${b}`;
}

interface DocCtx {
  file: string | null;
  doc: number;
  /** The YAML document (for line numbers), null for the JSON fallback. */
  ydoc: Document.Parsed | null;
  lc: LineCounter | null;
  /** fastJson: the 1-based line an object (item index, null = the document) starts on. */
  lineOf?: (item: number | null) => number | null;
}

class Loader {
  readonly issues: ManifestIssue[] = [];
  readonly manifests: Manifest[] = [];
  /** The raw value of each manifest, by index. */
  readonly raws: unknown[] = [];
  private readonly byKey = new Map<string, Manifest>();
  private objects = 0;
  private capped = false;

  constructor(private readonly opts: LoadOptions) {}

  issue(ctx: DocCtx, field: string, code: IssueCode, message: string, pos?: { line: number; column: number } | null): void {
    if (pos === undefined) pos = this.position(ctx, field);
    const path = joinPath(docLabel(ctx.file, ctx.doc), field);
    this.issues.push({ path, code, message, field, file: ctx.file, doc: ctx.doc, ...(pos !== null ? { line: pos.line, column: pos.column } : {}) });
  }

  position(ctx: DocCtx, field: string): { line: number; column: number } | null {
    if (ctx.ydoc === null || ctx.lc === null) return null;
    return positionOf(ctx.ydoc, ctx.lc, field) ?? null;
  }

  /**
   * JSON fast path (controller pushes, `kubectl get -o json`): JSON.parse is ~100× faster
   * than the YAML composer. Keeps the result only when the input is clean; otherwise rolls
   * back and returns false, so the YAML path reports every issue with its line and column.
   * `exact` (fastJson): only input scanJson accepts, with the YAML path's source lines.
   */
  private addJson(text: string, file: string | null, exact: boolean): boolean {
    const first = text.trimStart().charCodeAt(0);
    if (first !== 0x7b /* { */ && first !== 0x5b /* [ */) return false;
    let v: unknown;
    try { v = JSON.parse(text); } catch { return false; }
    if (v === undefined || v === null) return false;
    let lineOf: DocCtx['lineOf'];
    if (exact) {
      const shape = scanJson(text);
      if (shape === null) return false;
      lineOf = lineFinder(text, shape);
    }
    const issues = this.issues.length, manifests = this.manifests.length, objects = this.objects;
    const keys = new Map(this.byKey);
    this.addValue(v, { file, doc: 0, ydoc: null, lc: null, ...(lineOf !== undefined ? { lineOf } : {}) });
    if (this.issues.length === issues) return true;
    this.issues.length = issues;
    this.manifests.length = manifests;
    this.raws.length = manifests;
    this.objects = objects;
    this.byKey.clear();
    for (const [k, m] of keys) this.byKey.set(k, m);
    this.capped = false;
    return false;
  }

  /** Strict UTF-8 decoding; an issue and null when the bytes are not UTF-8. */
  decode(bytes: Uint8Array, file: string | null): string | null {
    const bad = utf8Problem(bytes);
    if (bad === null) return new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
    const ctx: DocCtx = { file, doc: bad.doc, ydoc: null, lc: null };
    this.issue(ctx, bad.field, bad.code, bad.message, { line: bad.line, column: bad.column });
    return null;
  }

  addBytes(bytes: Uint8Array, file: string | null): void {
    const text = this.decode(bytes, file);
    if (text !== null) this.addText(text, file);
  }

  addText(input: string, file: string | null): void {
    if (this.capped) return;
    const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
    if (this.opts.positions === false ? this.addJson(text, file, false) : this.opts.fastJson === true && this.addJson(text, file, true)) return;
    const lc = new LineCounter();
    const parser = new Parser(lc.addNewLine);
    const composer = new Composer({ uniqueKeys: true, merge: true });
    let index = 0;
    for (const ydoc of composer.compose(parser.parse(text), false)) {
      const ctx: DocCtx = { file, doc: index, ydoc, lc };
      index++;
      if (index > MAX_DOCUMENTS) {
        this.issue(ctx, '', ErrorCode.INVALID_FIELD, `too many documents: at most ${MAX_DOCUMENTS} objects are read per load; split the input`, null);
        this.capped = true;
        return;
      }
      if (ydoc.errors.length > 0) {
        for (const e of ydoc.errors) {
          const lp = e.linePos?.[0] ?? (e.pos !== undefined ? lc.linePos(e.pos[0]) : undefined);
          const pos = lp !== undefined ? { line: lp.line, column: lp.col } : null;
          const msg = /call stack|RESOURCE_EXHAUSTION/i.test(e.message) || e.code === 'RESOURCE_EXHAUSTION'
            ? `nesting is too deep: at most ${MAX_DEPTH} levels of maps and lists`
            : e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
          this.issue(ctx, '', ErrorCode.PARSE_ERROR, msg, pos);
        }
        continue;
      }
      if (ydoc.contents === null) continue; // empty document (a trailing ---, only comments)
      let v: unknown;
      try {
        v = ydoc.toJS({ maxAliasCount: 100 });
      } catch (e) {
        this.issue(ctx, '', ErrorCode.PARSE_ERROR, e instanceof RangeError ? `nesting is too deep: at most ${MAX_DEPTH} levels of maps and lists` : e instanceof Error ? e.message : String(e));
        continue;
      }
      if (v === null || v === undefined) continue;
      this.addValue(v, ctx);
      if (this.capped) return;
    }
  }

  /** One decoded document: an object, a List, or a top-level array (az ... list). */
  addValue(v: unknown, ctx: DocCtx): void {
    const deep = tooDeep(v);
    if (deep !== null) {
      this.issue(ctx, deep, ErrorCode.INVALID_FIELD, `nesting is too deep: at most ${MAX_DEPTH} levels of maps and lists`);
      return;
    }
    if (Array.isArray(v)) {
      v.forEach((x, i) => this.addObject(x, ctx, fieldPath('', i), i, null));
      return;
    }
    if (isObj(v) && typeof v.kind === 'string' && v.kind.endsWith('List') && Array.isArray(v.items)) {
      const itemKind = v.kind === 'List' ? null : { kind: v.kind.slice(0, -4), apiVersion: typeof v.apiVersion === 'string' ? v.apiVersion : '' };
      v.items.forEach((x, i) => this.addObject(x, ctx, fieldPath('items', i), i, itemKind));
      return;
    }
    if (isObj(v) && typeof v.kind === 'string' && v.kind.endsWith('List') && v.items === undefined) {
      return; // an empty List (kubectl prints `items: []`; some tools omit it)
    }
    this.addObject(v, ctx, '', null, null);
  }

  addObject(raw: unknown, ctx: DocCtx, prefix: string, item: number | null, listKind: { kind: string; apiVersion: string } | null): void {
    if (this.capped) return;
    this.objects++;
    if (this.objects > MAX_DOCUMENTS) {
      this.issue(ctx, prefix, ErrorCode.INVALID_FIELD, `too many objects: at most ${MAX_DOCUMENTS} objects are read per load; split the input`);
      this.capped = true;
      return;
    }
    const at = (f: string): string => joinPath(prefix, f);
    if (!isObj(raw)) {
      this.issue(ctx, prefix, ErrorCode.INVALID_TYPE, `expected a Kubernetes object (apiVersion, kind, metadata, ...), ${raw === null ? 'got null' : Array.isArray(raw) ? 'got a list' : `got ${typeof raw}`}`);
      return;
    }
    let obj: Obj = raw;
    if (listKind !== null && obj.kind === undefined) obj = { apiVersion: listKind.apiVersion, kind: listKind.kind, ...obj };

    let entry: KindEntry | undefined;
    let apiVersion = '';
    let kind = '';
    if (obj.kind === undefined && typeof obj.type === 'string' && obj.type.includes('/')) {
      entry = armTypes.get(obj.type.toLowerCase());
      if (entry === undefined) {
        if (this.opts.ignoreUnsupportedKinds === true) return;
        const known = [...armTypes.values()].map((e) => e.kind);
        this.issue(ctx, at('type'), ErrorCode.UNSUPPORTED_KIND, `unsupported ARM resource type "${obj.type}"${known.length > 0 ? `; supported: ${known.join(', ')}` : '; no ARM types are registered'}`);
        return;
      }
      kind = entry.kind;
      apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : '';
    } else {
      let ok = true;
      if (typeof obj.kind !== 'string' || obj.kind === '') {
        if (obj.kind === undefined || obj.kind === null || obj.kind === '') this.issue(ctx, at('kind'), ErrorCode.MISSING_FIELD, 'required: the object\'s kind (Service, EndpointSlice, ...)');
        else this.issue(ctx, at('kind'), ErrorCode.INVALID_TYPE, `expected a string (the kind), ${typeof obj.kind}`);
        ok = false;
      }
      if (typeof obj.apiVersion !== 'string' || obj.apiVersion === '') {
        if (obj.apiVersion === undefined || obj.apiVersion === null || obj.apiVersion === '') this.issue(ctx, at('apiVersion'), ErrorCode.MISSING_FIELD, 'required: the object\'s apiVersion (v1, discovery.k8s.io/v1, ...)');
        else this.issue(ctx, at('apiVersion'), ErrorCode.INVALID_TYPE, `expected a string (the apiVersion), ${typeof obj.apiVersion}`);
        ok = false;
      }
      if (!ok) return;
      kind = obj.kind as string;
      apiVersion = obj.apiVersion as string;
      entry = kinds.get(`${apiVersion}\n${kind}`);
      if (entry === undefined) {
        if (this.opts.ignoreUnsupportedKinds === true) return;
        const sameKind = [...kinds.values()].filter((e) => e.kind === kind);
        if (sameKind.length > 0) {
          this.issue(ctx, at('apiVersion'), ErrorCode.UNSUPPORTED_KIND, `unsupported apiVersion "${apiVersion}" for kind ${kind}; this build reads ${sameKind.map((e) => `"${e.apiVersion}"`).join(', ')}`);
        } else {
          this.issue(ctx, at('kind'), ErrorCode.UNSUPPORTED_KIND, `unsupported kind "${kind}" (apiVersion "${apiVersion}"); supported: ${[...kinds.values()].map((e) => e.kind).join(', ')}${armTypes.size > 0 ? ' and ARM resources' : ''}`);
        }
        return;
      }
    }

    const issues = new Issues();
    let value: unknown;
    try {
      value = entry.validate(obj, issues);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      for (const i of e.issues) issues.add(i.path, i.code, i.message);
    }
    if (issues.length > 0 || value === undefined) {
      for (const i of issues.list) this.issue(ctx, at(i.path), i.code, i.message);
      if (issues.length === 0) this.issue(ctx, prefix, ErrorCode.INVALID_FIELD, `the ${kind} validator returned nothing`);
      return;
    }
    const id = entry.identify(value, obj);
    const key = objectKey(kind, id.namespace, id.name);
    const line = ctx.lineOf !== undefined ? ctx.lineOf(item) : this.position(ctx, prefix)?.line ?? null;
    const source: ManifestSource = { file: ctx.file, doc: ctx.doc, item, line };
    const prev = this.byKey.get(key);
    if (prev !== undefined) {
      const where = `${docLabel(prev.source.file, prev.source.doc)}${prev.source.item !== null ? `[${prev.source.item}]` : ''}${prev.source.line !== null ? ` (line ${prev.source.line})` : ''}`;
      this.issue(ctx, at(entry.apiVersion === '' ? 'name' : 'metadata.name'), ErrorCode.DUPLICATE_VALUE, `${key} is defined twice; also at ${where}`);
      return;
    }
    const m: Manifest = { kind, apiVersion, namespace: id.namespace, name: id.name, key, source, object: value };
    this.byKey.set(key, m);
    this.manifests.push(m);
    this.raws.push(obj);
  }

  finish(): Manifest[] {
    if (this.issues.length > 0) throw new ManifestError(this.issues);
    return this.manifests;
  }
}

/**
 * Where the objects of a JSON text start (offsets into the text): the document, the elements of
 * a top-level array, the elements of the top-level object's `items`. null when the YAML reader
 * could read the text differently from JSON.parse, or would not give the same positions: a
 * duplicate key in any object (YAML: error; JSON.parse: the last wins), a `<<` key (a YAML merge
 * key) or `__proto__` (the YAML reader's objects treat it differently), a tab or a carriage return
 * outside strings (YAML's whitespace rules differ), a line break between a key and its colon or a
 * key longer than 1000 characters (YAML's implicit-key rules). The text must already be valid
 * JSON (JSON.parse accepted it): the scan does not check the syntax.
 */
export function scanJson(t: string): { root: number; items: number[] } | null {
  const n = t.length;
  const items: number[] = [];
  // One frame per open container: is it an object, its keys so far, are its elements collected.
  const isObject: boolean[] = [];
  const keys: (string[] | Set<string>)[] = [];
  const collect: boolean[] = [];
  let top = -1;
  let keyNext = false;
  let rootKey = '';
  let root = -1;
  let i = 0;
  while (i < n) {
    const c = t.charCodeAt(i);
    if (c === 0x20 || c === 0x0a) { i++; continue; }
    if (c === 0x09 || c === 0x0d) return null;
    if (root < 0) root = i;
    if (c === 0x2c /* , */) { keyNext = top >= 0 && isObject[top]; i++; continue; }
    if (c === 0x3a /* : */) { i++; continue; }
    if (c === 0x7d /* } */ || c === 0x5d /* ] */) { top--; keyNext = false; i++; continue; }
    if (c === 0x22 /* " */) {
      let k = i + 1;
      for (;;) {
        k = t.indexOf('"', k);
        if (k < 0) return null;
        let b = k - 1;
        while (t.charCodeAt(b) === 0x5c /* \ */) b--;
        if ((k - 1 - b) % 2 === 0) break;
        k++;
      }
      if (top >= 0 && keyNext) {
        if (k - i > 1001) return null;
        let key = t.slice(i + 1, k);
        if (key.includes('\\')) {
          try { key = JSON.parse(t.slice(i, k + 1)) as string; } catch { return null; }
        }
        if (key === '<<' || key === '__proto__') return null;
        const ks = keys[top];
        if (Array.isArray(ks)) {
          if (ks.includes(key)) return null;
          ks.push(key);
          if (ks.length > 16) keys[top] = new Set(ks);
        } else {
          if (ks.has(key)) return null;
          ks.add(key);
        }
        if (top === 0) rootKey = key;
        keyNext = false;
        // Only spaces between the key and its colon (JSON.parse checked there is one).
        i = k + 1;
        while (t.charCodeAt(i) === 0x20) i++;
        if (t.charCodeAt(i) !== 0x3a) return null;
        i++;
        continue;
      }
      if (top >= 0 && collect[top]) items.push(i);
      i = k + 1;
      continue;
    }
    if (top >= 0 && collect[top]) items.push(i);
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const obj = c === 0x7b;
      const col = !obj && (top === -1 || (top === 0 && isObject[0] && rootKey === 'items'));
      top++;
      isObject[top] = obj;
      keys[top] = [];
      collect[top] = col;
      keyNext = obj;
      i++;
      continue;
    }
    // A number, true, false or null.
    i++;
    while (i < n) {
      const d = t.charCodeAt(i);
      if (d === 0x2c || d === 0x7d || d === 0x5d || d === 0x20 || d === 0x0a || d === 0x09 || d === 0x0d) break;
      i++;
    }
  }
  return root < 0 ? null : { root, items };
}

/** (item index | null for the document) → its 1-based line, as the YAML reader's LineCounter counts (\n). */
function lineFinder(t: string, shape: { root: number; items: number[] }): (item: number | null) => number | null {
  let pos = 0;
  let line = 1;
  return (item) => {
    const off = item === null ? shape.root : shape.items[item];
    if (off === undefined) return null;
    if (off < pos) { pos = 0; line = 1; }
    for (let k = t.indexOf('\n', pos); k >= 0 && k < off; k = t.indexOf('\n', k + 1)) line++;
    pos = off;
    return line;
  };
}

/** Is any value nested deeper than `limit` levels? Recursion stops at the limit; allocates nothing. */
function deeperThan(v: unknown, limit: number): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (limit === 0) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (deeperThan(v[i], limit - 1)) return true;
  } else {
    for (const k in v) if (Object.prototype.hasOwnProperty.call(v, k) && deeperThan((v as Obj)[k], limit - 1)) return true;
  }
  return false;
}

/** The path (relative to the document) of the first value nested deeper than MAX_DEPTH, or null. */
function tooDeep(root: unknown): string | null {
  // The common case (every object) without building frames; only a deep one pays for the path.
  if (!deeperThan(root, MAX_DEPTH)) return null;
  return tooDeepPath(root);
}

/** The path of the first value nested deeper than MAX_DEPTH, or null. Iterative. */
function tooDeepPath(root: unknown): string | null {
  interface Frame { v: unknown; depth: number; parent: Frame | null; key: string | number }
  const stack: Frame[] = [{ v: root, depth: 1, parent: null, key: '' }];
  while (stack.length > 0) {
    const f = stack.pop() as Frame;
    if (typeof f.v !== 'object' || f.v === null) continue;
    if (f.depth > MAX_DEPTH) {
      const segs: (string | number)[] = [];
      for (let x: Frame | null = f; x !== null && x.parent !== null; x = x.parent) segs.unshift(x.key);
      return segs.reduce<string>((p, s) => fieldPath(p, s), '');
    }
    if (Array.isArray(f.v)) f.v.forEach((c, i) => stack.push({ v: c, depth: f.depth + 1, parent: f, key: i }));
    else for (const [k, c] of Object.entries(f.v)) stack.push({ v: c, depth: f.depth + 1, parent: f, key: k });
  }
  return null;
}

// ─── DesiredState ──────────────────────────────────────────────────────────────────────────

/**
 * The desired state: loaded objects keyed by `Kind/namespace/name`, with an index from
 * (namespace, service name) to EndpointSlices. Manifests and their objects are shared between
 * clones and must be treated as immutable; replace an object with upsert().
 */
export class DesiredState {
  private readonly objects = new Map<string, Manifest>();
  private readonly byKind = new Map<string, Map<string, Manifest>>();
  /** `ns/service` → EndpointSlice keys. */
  private readonly slicesByService = new Map<string, Set<string>>();
  private readonly sorted = new Map<string, Manifest[]>();
  private gen = 0;

  constructor(manifests?: Iterable<Manifest>) {
    if (manifests !== undefined) for (const m of manifests) this.upsert(m);
  }

  /** Bumped by every upsert/delete that changed something. */
  get generation(): number {
    return this.gen;
  }

  get size(): number {
    return this.objects.size;
  }

  /** Insert or replace the object with this manifest's key. */
  upsert(m: Manifest): void {
    const old = this.objects.get(m.key);
    if (old === m) return;
    if (old !== undefined) this.unindex(old);
    this.objects.set(m.key, m);
    let kindMap = this.byKind.get(m.kind);
    if (kindMap === undefined) {
      kindMap = new Map();
      this.byKind.set(m.kind, kindMap);
    }
    kindMap.set(m.key, m);
    const svc = sliceService(m);
    if (svc !== null) {
      let set = this.slicesByService.get(svc);
      if (set === undefined) {
        set = new Set();
        this.slicesByService.set(svc, set);
      }
      set.add(m.key);
    }
    this.sorted.delete(m.kind);
    this.gen++;
  }

  /** Remove an object; false when there was none. */
  delete(kind: string, namespace: string, name: string): boolean {
    const key = objectKey(kind, namespace, name);
    const m = this.objects.get(key);
    if (m === undefined) return false;
    this.unindex(m);
    this.objects.delete(key);
    this.sorted.delete(kind);
    this.gen++;
    return true;
  }

  private unindex(m: Manifest): void {
    this.byKind.get(m.kind)?.delete(m.key);
    const svc = sliceService(m);
    if (svc !== null) {
      const set = this.slicesByService.get(svc);
      set?.delete(m.key);
      if (set !== undefined && set.size === 0) this.slicesByService.delete(svc);
    }
  }

  get<K extends keyof KindMap>(kind: K, namespace: string, name: string): Manifest<KindMap[K]> | undefined;
  get(kind: string, namespace: string, name: string): Manifest | undefined;
  get(kind: string, namespace: string, name: string): Manifest | undefined {
    return this.objects.get(objectKey(kind, namespace, name));
  }

  /** The object with this key (`Kind/namespace/name`). */
  getKey(key: string): Manifest | undefined {
    return this.objects.get(key);
  }

  has(kind: string, namespace: string, name: string): boolean {
    return this.objects.has(objectKey(kind, namespace, name));
  }

  /** Manifests of one kind (or all), sorted by key. */
  list<K extends keyof KindMap>(kind: K): Manifest<KindMap[K]>[];
  list(kind?: string): Manifest[];
  list(kind?: string): Manifest[] {
    if (kind === undefined) return [...this.objects.values()].sort(byKey);
    let s = this.sorted.get(kind);
    if (s === undefined) {
      s = [...(this.byKind.get(kind)?.values() ?? [])].sort(byKey);
      this.sorted.set(kind, s);
    }
    return s.slice();
  }

  /** The kinds present. */
  kinds(): string[] {
    return [...this.byKind.entries()].filter(([, m]) => m.size > 0).map(([k]) => k).sort();
  }

  services(): Service[] {
    return this.list('Service').map((m) => m.object);
  }

  service(namespace: string, name: string): Service | undefined {
    return this.get('Service', namespace, name)?.object;
  }

  /** The EndpointSlices labelled for this Service, sorted by slice name. */
  endpointSlicesFor(namespace: string, serviceName: string): EndpointSlice[] {
    const set = this.slicesByService.get(`${namespace}/${serviceName}`);
    if (set === undefined) return [];
    return [...set].sort().map((k) => (this.objects.get(k) as Manifest<EndpointSlice>).object);
  }

  endpointSlices(): EndpointSlice[] {
    return this.list('EndpointSlice').map((m) => m.object);
  }

  pods(): Pod[] {
    return this.list('Pod').map((m) => m.object);
  }

  namespaces(): Namespace[] {
    return this.list('Namespace').map((m) => m.object);
  }

  namespace(name: string): Namespace | undefined {
    return this.get('Namespace', '', name)?.object;
  }

  nodeConfigs(): NodeConfig[] {
    return this.list('NodeConfig').map((m) => m.object);
  }

  [Symbol.iterator](): IterableIterator<Manifest> {
    return this.objects.values();
  }

  /** An independent store holding the same (shared, immutable) manifests; same generation. */
  clone(): DesiredState {
    const c = new DesiredState(this.objects.values());
    c.gen = this.gen;
    return c;
  }
}

function byKey(a: Manifest, b: Manifest): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function sliceService(m: Manifest): string | null {
  if (m.kind !== ENDPOINT_SLICE_KIND) return null;
  const es = m.object as EndpointSlice;
  return `${m.namespace}/${es.serviceName}`;
}
