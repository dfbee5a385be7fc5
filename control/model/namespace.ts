/**
 * Namespace (v1) — its name and labels (NetworkPolicy namespaceSelectors match them). As the API
 * server does, the `kubernetes.io/metadata.name` label is always set to the namespace's name.
 */
import { Issues } from './errors';
import { K8sChecker, ObjectMeta, TOP_FIELDS, checkObjectMeta, checkTypeMeta } from './k8s';

export const NAMESPACE_API_VERSION = 'v1';
export const NAMESPACE_KIND = 'Namespace';
/** Set by the API server on every namespace: its own name. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export type NamespacePhase = 'Active' | 'Terminating';

export interface Namespace {
  apiVersion: typeof NAMESPACE_API_VERSION;
  kind: typeof NAMESPACE_KIND;
  /** metadata.namespace is "" (cluster-scoped); labels include kubernetes.io/metadata.name. */
  metadata: ObjectMeta;
  spec: { finalizers: string[] };
  status: { phase: NamespacePhase | null };
}

/** Validate + normalize a decoded Namespace; throws ValidationError listing every problem. */
export function validateNamespace(obj: unknown): Namespace {
  const issues = new Issues();
  const ns = checkNamespace(obj, issues);
  issues.throwIfAny({ what: 'Namespace' });
  return ns as Namespace;
}

/** Validate + normalize into `issues` (never throws); meaningful only when no issue was added. */
export function checkNamespace(input: unknown, issues: Issues): Namespace | undefined {
  const k = new K8sChecker(issues);
  const top = k.object(input, '', TOP_FIELDS, 'a Namespace object (apiVersion, kind, metadata)');
  if (top === null) return undefined;
  checkTypeMeta(k, top, NAMESPACE_API_VERSION, NAMESPACE_KIND);
  const metadata = checkObjectMeta(k, top, { kind: NAMESPACE_KIND, namespaced: false, nameRule: 'dns1123-label' });
  if (metadata.name !== '') metadata.labels[NAMESPACE_NAME_LABEL] = metadata.name;

  const spec = { finalizers: [] as string[] };
  const specRaw = k.get(top, 'spec');
  if (specRaw !== undefined) {
    const s = k.object(specRaw, 'spec', ['finalizers'], 'an object {finalizers}');
    if (s !== null) spec.finalizers = k.stringList(s, 'finalizers', 'spec', 'a finalizer name');
  }
  const status: Namespace['status'] = { phase: null };
  const stRaw = k.get(top, 'status');
  const st = stRaw === undefined ? null : k.looseObject(stRaw, 'status');
  if (st !== null) status.phase = k.enumOf<NamespacePhase>(st, 'phase', 'status', ['Active', 'Terminating'], null, true) ?? null;
  return { apiVersion: NAMESPACE_API_VERSION, kind: NAMESPACE_KIND, metadata, spec, status };
}
