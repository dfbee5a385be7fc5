/**
 * The control plane's one contact point with the model (control/model): text → validated
 * objects, stored raw objects → Manifests, kind names and scopes, whole-state validation.
 * Everything in control/server and the CLI goes through here, so the model's validators stay
 * the one source of truth and a change of the model's API is a change of this file only.
 */
import { ErrorCode, Issue, IssueCode, Issues, TapflowError, ValidationError } from '../model/errors';
import { objectKey } from '../model/k8s';
import { DesiredState, LoadedObject, Manifest, ManifestError, ManifestIssue, kindRegistryGeneration, loadManifestObjects, loadManifests, supportedKinds } from '../model/manifests';
import type { StoredObject } from '../store/file-store';
// Every kind registers itself with the loader on import.
import '../model/kinds';

export type { Manifest };

/** A validated object as the control plane handles it. */
export interface ParsedObject {
  key: string;
  kind: string;
  apiVersion: string;
  namespace: string;
  name: string;
  /** The object as written (plain JSON), what the store keeps and the wire carries. */
  raw: unknown;
  source: string;
  /** 0-based index of the document within its source. */
  doc: number;
  manifest: Manifest;
}

/** An Issue that also names the request object it belongs to. */
export interface BatchIssue extends Issue {
  source?: string;
  doc?: number;
  key?: string;
}

/**
 * Several objects' problems at once (an Apply batch, a multi-document file). `.issues` are
 * BatchIssues; the message has one line per issue: `source doc N (Kind/ns/name): path: message`.
 */
export class BatchValidationError extends ValidationError {
  override name = 'BatchValidationError';
  constructor(readonly batchIssues: BatchIssue[]) {
    super(batchIssues);
    this.message = formatBatch(batchIssues);
  }
}

function formatBatch(issues: BatchIssue[]): string {
  const n = issues.length;
  const lines = issues.map((i) => `  ${whereOf(i)}${i.path === '' ? '(root)' : i.path}${i.line !== undefined ? ` (line ${i.line}${i.column !== undefined ? `:${i.column}` : ''})` : ''}: ${i.message}`);
  return [`${n} problem${n === 1 ? '' : 's'}; nothing was applied`, ...lines].join('\n');
}

/**
 * One problem with a field of an API request itself (not of a manifest): an empty required
 * field, an unknown kind, a JSON argument that does not parse. Carries the issue's own code
 * (MISSING_FIELD, UNSUPPORTED_KIND, PARSE_ERROR, ...) so clients branch on it; `source` names
 * the request entry (`refs[2]`) when the field is inside one.
 */
export class RequestFieldError extends TapflowError {
  override name = 'RequestFieldError';
  declare path: string;
  constructor(code: IssueCode, path: string, message: string, readonly source?: string) {
    super(`${source !== undefined ? `${source}: ` : ''}${path}: ${message}`, { code, path });
  }
  get issue(): BatchIssue {
    return { ...(this.source !== undefined ? { source: this.source } : {}), path: this.path, code: this.code as IssueCode, message: this.message };
  }
}

/**
 * The kind a request names, checked: empty → MISSING_FIELD, unknown → UNSUPPORTED_KIND, both
 * with `path` (`kind`, `kinds[3]`). Aliases resolve (`svc` → Service).
 */
export function requireKind(name: string, path: string, source?: string): KindDesc {
  if (name === '') throw new RequestFieldError(ErrorCode.MISSING_FIELD, path, 'required: a kind (Service, svc, EndpointSlice, ...; "tapflow get kinds" lists them)', source);
  const kd = resolveKind(name);
  if (kd === undefined) throw new RequestFieldError(ErrorCode.UNSUPPORTED_KIND, path, `unknown kind ${JSON.stringify(name)}; known: ${kinds().map((k) => k.kind).join(', ')}`, source);
  return kd;
}

export function whereOf(i: { source?: string; doc?: number; key?: string }): string {
  const parts: string[] = [];
  if (i.source) parts.push(i.source);
  if (i.doc !== undefined) parts.push(`doc ${i.doc}`);
  let s = parts.join(' ');
  if (i.key) s += `${s ? ' ' : ''}(${i.key})`;
  return s ? `${s}: ` : '';
}

/** Turn any error of validating one text into BatchIssues tagged with source/doc/key. */
export function issuesOf(err: unknown, where: { source?: string; doc?: number; key?: string }): BatchIssue[] {
  if (err instanceof BatchValidationError) return err.batchIssues.map((i) => ({ ...where, ...i }));
  if (err instanceof ManifestError) {
    return err.issues.map((i: ManifestIssue) => ({
      ...where,
      ...(i.file !== null && where.source === undefined ? { source: i.file } : {}),
      ...(i.doc !== null && where.doc === undefined ? { doc: i.doc } : {}),
      path: i.field, code: i.code, message: i.message,
      ...(i.line !== undefined ? { line: i.line } : {}), ...(i.column !== undefined ? { column: i.column } : {}),
    }));
  }
  if (err instanceof ValidationError) return err.issues.map((i) => ({ ...where, ...i }));
  if (err instanceof TapflowError) {
    return [{ ...where, path: err.path ?? '', code: ErrorCode.PARSE_ERROR, message: err.message }];
  }
  throw err;
}

/**
 * Parse and validate text holding one or more manifests (multi-document YAML, JSON, ARM JSON).
 * Throws BatchValidationError naming source, document and field path of every problem.
 */
export function parseText(text: string, source: string, where: { source?: string; doc?: number } = {}): ParsedObject[] {
  let loaded: LoadedObject[];
  try {
    // One read of the text: JSON through JSON.parse (same objects, lines and issues as the YAML
    // reader, which still reads YAML and any JSON with a problem), the raw values from the loader.
    loaded = loadManifestObjects(text, source, { fastJson: true });
  } catch (err) {
    throw new BatchValidationError(issuesOf(err, where));
  }
  return loaded.map(({ manifest: m, raw }) => toParsed(m, raw, where.source ?? source, where.doc ?? m.source.doc));
}

/** The text of a stored/wire object (what travels in Object.text). */
export function textOf(raw: unknown): string {
  return JSON.stringify(raw);
}

/** A stored object back to a Manifest (validated again: the model may be newer than the store). */
export function manifestOf(o: { kind: string; namespace: string; name: string; raw: unknown; source?: string }): Manifest {
  const ms = loadManifests(textOf(o.raw), o.source || objectKey(o.kind, o.namespace, o.name), { positions: false });
  if (ms.length !== 1) throw new TapflowError(`stored object ${objectKey(o.kind, o.namespace, o.name)} holds ${ms.length} manifests`, { code: ErrorCode.INTERNAL });
  return ms[0];
}

/** One object's text (as it travels on the wire) → its Manifest. Throws ManifestError. */
export function manifestOfText(text: string, source: string): Manifest {
  const ms = loadManifests(text, source, { positions: false });
  if (ms.length !== 1) throw new TapflowError(`${source}: expected one object, found ${ms.length}`, { code: ErrorCode.INVALID_FIELD });
  return ms[0];
}

export function toParsed(m: Manifest, raw: unknown, source: string, doc: number): ParsedObject {
  return {
    key: m.key, kind: m.kind, apiVersion: m.apiVersion, namespace: m.namespace, name: m.name,
    raw, source, doc, manifest: m,
  };
}

export function storedToParsed(o: StoredObject): ParsedObject {
  return toParsed(manifestOf(o), o.raw, o.source ?? '', 0);
}

/**
 * The desired state after a batch: `base` with `deletes` removed and `upserts` added. Every
 * object was validated on its own when parsed; cross-object rules the model grows go here.
 * Throws BatchValidationError.
 */
export function nextState(base: DesiredState, upserts: readonly ParsedObject[], deletes: readonly { kind: string; namespace: string; name: string }[]): DesiredState {
  const next = base.clone();
  const issues: BatchIssue[] = [];
  for (const d of deletes) next.delete(d.kind, d.namespace, d.name);
  for (const o of upserts) {
    try {
      next.upsert(o.manifest);
    } catch (err) {
      issues.push(...issuesOf(err, { source: o.source, doc: o.doc, key: o.key }));
    }
  }
  if (issues.length) throw new BatchValidationError(issues);
  return next;
}

export { DesiredState };

/** Key of an object: `Kind/namespace/name`. */
export function keyOf(kind: string, namespace: string, name: string): string {
  return objectKey(kind, namespace, name);
}

export interface KindDesc {
  kind: string;
  apiVersion: string;
  namespaced: boolean;
  /** An Azure ARM resource type (namespace = resource group). */
  arm: boolean;
  /** Lower-case names a user may type: plural, singular, short names. */
  aliases: string[];
  /** kubectl's SHORTNAMES (svc, eps, po, ...). */
  shortNames: string[];
}

/** Kinds whose objects have no namespace (the rest are namespaced; ARM resources use the resource group). */
const CLUSTER_SCOPED = new Set(['Namespace', 'NodeConfig', 'Node', 'ClusterRole']);

let kindsCache: { generation: number; list: KindDesc[] } | null = null;

/** Every kind the model handles (rebuilt only when a kind was registered since). */
export function kinds(): KindDesc[] {
  return kindList().map((k) => ({ ...k, aliases: [...k.aliases], shortNames: [...k.shortNames] }));
}

function kindList(): KindDesc[] {
  const generation = kindRegistryGeneration();
  if (kindsCache === null || kindsCache.generation !== generation) kindsCache = { generation, list: buildKinds() };
  return kindsCache.list;
}

/** `svc`, `services`, `Service`, `nsg` → the kind; undefined when unknown. */
export function resolveKind(name: string): KindDesc | undefined {
  const n = name.toLowerCase();
  const k = kindList().find((x) => x.kind.toLowerCase() === n || x.aliases.includes(n));
  return k === undefined ? undefined : { ...k, aliases: [...k.aliases], shortNames: [...k.shortNames] };
}

function buildKinds(): KindDesc[] {
  return supportedKinds().map((line) => {
    const sp = line.indexOf(' ');
    const apiVersion = line.slice(0, sp);
    const kind = line.slice(sp + 1);
    const arm = apiVersion === 'ARM';
    return { kind, apiVersion: arm ? '' : apiVersion, namespaced: arm ? true : !CLUSTER_SCOPED.has(kind), arm, aliases: aliasesOf(kind), shortNames: shortNamesOf(kind) };
  });
}

export function isNamespaced(kind: string): boolean {
  return resolveKind(kind)?.namespaced ?? true;
}

const SHORT: Record<string, string[]> = {
  Service: ['svc'],
  EndpointSlice: ['eps', 'endpointslice'],
  Pod: ['po'],
  Namespace: ['ns'],
  NetworkPolicy: ['netpol'],
  NodeConfig: ['nc'],
  NetworkSecurityGroup: ['nsg', 'nsgs'],
  'Microsoft.Network/networkSecurityGroups': ['nsg', 'nsgs'],
  'Microsoft.Network/virtualNetworks': ['vnet', 'vnets'],
  'Microsoft.Network/virtualNetworks/subnets': ['subnet', 'subnets'],
  'Microsoft.Network/networkInterfaces': ['nic', 'nics'],
  Ingress: ['ing'],
  Secret: [],
};

function shortNamesOf(kind: string): string[] {
  return SHORT[kind] ?? SHORT[Object.keys(SHORT).find((k) => k.toLowerCase() === kind.toLowerCase()) ?? ''] ?? [];
}

function aliasesOf(kind: string): string[] {
  const short = kind.includes('/') ? kind.slice(kind.lastIndexOf('/') + 1) : kind; // ARM: networkSecurityGroups
  const l = short.toLowerCase();
  const singular = l.endsWith('ies') ? `${l.slice(0, -3)}y` : l.endsWith('s') ? l.slice(0, -1) : l;
  const plural = singular.endsWith('y') ? `${singular.slice(0, -1)}ies` : singular.endsWith('s') ? `${singular}es` : `${singular}s`;
  const byName = shortNamesOf(kind);
  return [...new Set([kind.toLowerCase(), singular, plural, ...byName])];
}

/** Issues as a one-level list (for gRPC metadata and CLI printing). */
export function flatIssues(err: unknown): BatchIssue[] {
  if (err instanceof BatchValidationError) return err.batchIssues;
  if (err instanceof RequestFieldError) return [err.issue];
  if (err instanceof ManifestError) return issuesOf(err, {});
  if (err instanceof ValidationError) return err.issues;
  return [];
}

export { Issues };
