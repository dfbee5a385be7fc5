/**
 * `tapflow apply -f FILE|DIR|-`: send manifests to the controller as one atomic batch.
 *
 * Multi-document YAML and JSON, Lists, `kubectl get -o yaml|json` output, ARM JSON (NSGs),
 * NodeConfigs. Everything is validated here first (the same model validators the controller
 * runs), so a typo is reported with file, document and field path before anything is sent; the
 * controller validates again and applies all or nothing (one version).
 */
import * as fs from 'node:fs';
import { BatchIssue, BatchValidationError, ParsedObject, issuesOf, parseText } from '../server/model-adapter';
import { decodeManifest, listManifestFiles } from '../model/manifests';
import { CONNECTION_HELP, CONNECTION_OPTIONS, clientFromOptions } from '../server/control-client';
import { CliUsageError, parseCli, readStdin, runCli } from '../server/cli-support';
import { isObj } from '../model/k8s';
import type { PObject } from '../server/proto';

export const APPLY_USAGE = `Usage: tapflow apply -f FILE|DIR|- [-f ...] [-n NAMESPACE] [--dry-run] [connection options]

Validates the manifests and applies them to the controller's desired state as one batch: all
objects or none, one new version. Directories are read recursively (*.yaml, *.yml, *.json);
"-" reads standard input. Prints one line per object: created, configured or unchanged.

Options:
  -f, --filename PATH  file, directory or - (repeatable)
  -n, --namespace NS   namespace for namespaced objects that name none (default: "default")
  --dry-run            validate on the controller, change nothing
  -o, --output FMT     "name" (default) or "json" (the controller's answer)
  -h, --help           this help

${CONNECTION_HELP}

Exit status: 0 applied, 1 invalid manifests or controller error (nothing applied), 2 usage.
`;

export async function applyCommand(args: string[]): Promise<number> {
  return runCli(APPLY_USAGE, async () => {
    const { values } = parseCli(args, {
      filename: { type: 'string', short: 'f', multiple: true },
      namespace: { type: 'string', short: 'n' },
      'dry-run': { type: 'boolean' },
      output: { type: 'string', short: 'o' },
      ...CONNECTION_OPTIONS,
    }, 0);
    if (values.help) {
      process.stdout.write(APPLY_USAGE);
      return 0;
    }
    const files = (values.filename as string[] | undefined) ?? [];
    if (files.length === 0) throw new CliUsageError('-f FILE|DIR|- is required');
    const output = (values.output as string | undefined) ?? 'name';
    if (output !== 'name' && output !== 'json') throw new CliUsageError(`-o must be name or json, got "${output}"`);
    const objects = await readManifests(files, values.namespace as string | undefined);
    if (objects.length === 0) {
      process.stderr.write('error: no objects passed to apply\n');
      return 1;
    }
    const client = clientFromOptions(values);
    try {
      const res = await client.apply({ upserts: objects.map(toWire), dryRun: values['dry-run'] === true });
      if (output === 'json') {
        process.stdout.write(JSON.stringify(res, null, 2) + '\n');
      } else {
        const suffix = values['dry-run'] ? ' (dry run)' : '';
        for (const r of res.results) process.stdout.write(`${displayName(r.key)} ${r.action}${suffix}\n`);
      }
      return 0;
    } finally {
      client.close();
    }
  });
}

/** Read and validate every input; throws one BatchValidationError listing every problem of every file. */
export async function readManifests(paths: string[], namespace?: string): Promise<ParsedObject[]> {
  const out: ParsedObject[] = [];
  const issues: BatchIssue[] = [];
  const inputs: { source: string; bytes: Uint8Array }[] = [];
  let stdinUsed = false;
  const filePaths: string[] = [];
  for (const p of paths) {
    if (p === '-') {
      if (stdinUsed) throw new CliUsageError('"-f -" given twice');
      stdinUsed = true;
      inputs.push({ source: '<stdin>', bytes: await readStdin() });
    } else {
      filePaths.push(p);
    }
  }
  for (const f of listManifestFiles(filePaths)) inputs.push({ source: f, bytes: fs.readFileSync(f) });
  for (const { source, bytes } of inputs) {
    try {
      for (const o of parseText(decodeManifest(bytes, source), source)) out.push(namespace !== undefined ? withNamespace(o, namespace) : o);
    } catch (err) {
      if (err instanceof BatchValidationError) issues.push(...err.batchIssues);
      else issues.push(...issuesOf(err, { source }));
    }
  }
  const seen = new Map<string, string>();
  for (const o of out) {
    const prev = seen.get(o.key);
    if (prev !== undefined) issues.push({ source: o.source, doc: o.doc, key: o.key, path: 'metadata.name', code: 'DUPLICATE_VALUE', message: `${o.key} is defined twice (also ${prev})` });
    seen.set(o.key, `${o.source} doc ${o.doc}`);
  }
  if (issues.length > 0) throw new BatchValidationError(issues);
  return out;
}

/** -n NS: namespaced k8s objects that name no namespace get NS; naming another one is an error (as kubectl). */
function withNamespace(o: ParsedObject, ns: string): ParsedObject {
  const raw = o.raw;
  if (!isObj(raw) || o.namespace === '' || typeof raw.kind !== 'string') return o; // cluster-scoped or ARM
  const md = isObj(raw.metadata) ? raw.metadata : {};
  const given = typeof md.namespace === 'string' && md.namespace !== '' ? md.namespace : null;
  if (given !== null && given !== ns) {
    throw new BatchValidationError([{ source: o.source, doc: o.doc, key: o.key, path: 'metadata.namespace', code: 'INVALID_FIELD', message: `the namespace from the provided object "${given}" does not match the namespace "${ns}"; you must pass '--namespace=${given}' to perform this operation` }]);
  }
  if (given !== null) return o;
  const patched = { ...raw, metadata: { ...md, namespace: ns } };
  return { ...o, raw: patched, namespace: ns, key: `${o.kind}/${ns}/${o.name}` };
}

function toWire(o: ParsedObject): Partial<PObject> {
  return { kind: o.kind, apiVersion: o.apiVersion, namespace: o.namespace, name: o.name, text: JSON.stringify(o.raw), source: o.source, doc: o.doc };
}

/** `Service/default/web` → `service/web` (kubectl's output names). */
export function displayName(key: string): string {
  const b = key.lastIndexOf('/');
  const a = key.lastIndexOf('/', b - 1);
  const kind = key.slice(0, a);
  const short = kind.includes('/') ? kind : kind.toLowerCase();
  return `${short}/${key.slice(b + 1)}`;
}
