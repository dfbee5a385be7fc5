/**
 * Test-only: parseText as it was before the single-read fast path (the YAML loader with
 * positions, then the whole text parsed again by `yaml` for the raw values), kept verbatim so
 * the tests can prove the fast path yields the same objects and the same errors.
 */
import { parseAllDocuments } from 'yaml';
import { Obj, isObj } from '../model/k8s';
import { Manifest, loadManifests } from '../model/manifests';
import { BatchValidationError, ParsedObject, issuesOf, toParsed } from './model-adapter';

export function parseTextReference(text: string, source: string, where: { source?: string; doc?: number } = {}): ParsedObject[] {
  let manifests: Manifest[];
  try {
    manifests = loadManifests(text, source);
  } catch (err) {
    throw new BatchValidationError(issuesOf(err, where));
  }
  const docs = rawDocuments(text);
  return manifests.map((m) => toParsed(m, rawOf(m, docs), where.source ?? source, where.doc ?? m.source.doc));
}

function rawDocuments(text: string): unknown[] {
  const t = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    const docs = parseAllDocuments(t, { uniqueKeys: true, merge: true });
    const list = Array.isArray(docs) ? docs : [docs];
    if (list.length > 0 && list[0].errors.length > 0 && /^\s*[[{]/.test(t)) return [JSON.parse(t) as unknown];
    return list.map((d) => (d.errors.length > 0 ? undefined : (d.toJS({ maxAliasCount: 100 }) as unknown)));
  } catch {
    return [];
  }
}

function rawOf(m: Manifest, docs: unknown[]): unknown {
  const d = docs[m.source.doc];
  if (m.source.item === null) return d ?? m.object;
  let items: unknown[] | null = null;
  let listKind: { kind: string; apiVersion: string } | null = null;
  if (Array.isArray(d)) items = d;
  else if (isObj(d) && Array.isArray(d.items)) {
    items = d.items;
    if (typeof d.kind === 'string' && d.kind !== 'List') listKind = { kind: d.kind.slice(0, -4), apiVersion: typeof d.apiVersion === 'string' ? d.apiVersion : '' };
  }
  const it = items?.[m.source.item];
  if (!isObj(it)) return m.object;
  if (listKind !== null && it.kind === undefined) return { apiVersion: listKind.apiVersion, kind: listKind.kind, ...(it as Obj) };
  return it;
}
