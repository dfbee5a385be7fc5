/**
 * Pieces shared by the control-plane CLI commands (serve, apply, get, delete, version): argument
 * parsing with positionals, kubectl-like error printing (file, document and field path of every
 * problem), and tables. Exit codes as kubectl: 0 ok, 1 error; 2 usage (as the rest of tapflow).
 */
import { parseArgs } from 'node:util';
import { TapflowError } from '../model/errors';
import { BatchValidationError, whereOf } from './model-adapter';
import { RemoteError } from './proto';

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

/** A usage problem: the command prints it with its usage text and exits 2. */
export class CliUsageError extends Error {
  override name = 'CliUsageError';
}

export interface Parsed {
  values: Record<string, unknown>;
  positionals: string[];
}

export function parseCli(args: string[], options: OptionSpec, maxPositionals: number): Parsed {
  let r: { values: Record<string, unknown>; positionals: string[] };
  try {
    r = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true }) as typeof r;
  } catch (e) {
    throw new CliUsageError((e as Error).message);
  }
  if (r.positionals.length > maxPositionals && !r.values.help) {
    throw new CliUsageError(`unexpected argument${r.positionals.length - maxPositionals > 1 ? 's' : ''}: ${r.positionals.slice(maxPositionals).join(' ')}`);
  }
  return r;
}

/**
 * Run a command body with the shared error handling: usage → 2, anything else → 1, printed the
 * way kubectl does (`error: …`, one line per problem with file, document and field path).
 */
export async function runCli(usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof CliUsageError) {
      process.stderr.write(`error: ${err.message}\n\n${usage}`);
      return 2;
    }
    process.stderr.write(describeError(err) + '\n');
    return 1;
  }
}

export function describeError(err: unknown): string {
  if (err instanceof BatchValidationError) {
    return `error: ${err.message}`;
  }
  if (err instanceof RemoteError) {
    if (err.issues.length > 0) {
      const n = err.issues.length;
      const lines = err.issues.map((i) => `  ${whereOf({ ...(i.source ? { source: i.source } : {}), doc: i.doc, ...(i.key ? { key: i.key } : {}) })}${i.path === '' ? '(root)' : i.path}: ${i.message}`);
      return [`error: ${n} problem${n === 1 ? '' : 's'}; nothing was applied (${err.code})`, ...lines].join('\n');
    }
    if (err.code === 'UNAVAILABLE') return `error: cannot reach the controller: ${err.message}`;
    if (err.code === 'NOT_FOUND') return `Error from server (NotFound): ${err.message}`;
    return `error: ${err.code}: ${err.message}`;
  }
  if (err instanceof TapflowError) return `error: ${err.code}: ${err.message}`;
  const e = err as NodeJS.ErrnoException;
  return `error: ${e && e.code ? `${e.code}: ` : ''}${e && e.message ? e.message : String(err)}`;
}

/** Left-aligned columns separated by 3 spaces, as kubectl prints them. */
export function formatTable(rows: string[][]): string {
  if (rows.length === 0) return '';
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]))).join('   ').trimEnd()).join('\n') + '\n';
}

/** Read all of stdin as bytes (decode manifests with decodeManifest: strict UTF-8). */
export function readStdin(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (d: Buffer) => chunks.push(d));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks)));
    process.stdin.on('error', reject);
  });
}
