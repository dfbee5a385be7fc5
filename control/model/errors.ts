/**
 * The one error base of the control plane (undici style): every error tapflow raises at an
 * API boundary is a TapflowError with a stable `code`. Subclasses fix the name, a default
 * message and the code; callers branch on `code`, never on message text.
 *
 * Validators do not throw on the first problem: they collect every problem as an Issue
 * ({path, message, code}) in an `Issues` list and throw one ValidationError at the end.
 * A path names the field the way kubectl does: `spec.ports[2].role`,
 * `metadata.labels["app.kubernetes.io/name"]`; the root object is the empty path "".
 *
 * The codes are part of the API (CLI exit messages, gRPC error details): append only.
 */

/** Stable error codes. */
export const ErrorCode = {
  /** A value is present, of the right type, but not allowed (format, range, rule). */
  INVALID_FIELD: 'INVALID_FIELD',
  /** A value has the wrong JSON type (string where a list is expected, ...). */
  INVALID_TYPE: 'INVALID_TYPE',
  /** A required field is absent (or null). */
  MISSING_FIELD: 'MISSING_FIELD',
  /** A field the schema does not know: a typo or a field of another version. */
  UNKNOWN_FIELD: 'UNKNOWN_FIELD',
  /** A value that must be unique appears twice (port names, addresses, ...). */
  DUPLICATE_VALUE: 'DUPLICATE_VALUE',
  /** The text is not valid YAML/JSON (or not exactly one document). */
  PARSE_ERROR: 'PARSE_ERROR',
  /** apiVersion/kind not handled by this build. */
  UNSUPPORTED_KIND: 'UNSUPPORTED_KIND',
  /** A ValidationError: one or more Issues, see `.issues`. */
  VALIDATION_FAILED: 'VALIDATION_FAILED',
  /** An object named in a request does not exist. */
  NOT_FOUND: 'NOT_FOUND',
  /** A write raced another one (resourceVersion mismatch) or the name is taken. */
  CONFLICT: 'CONFLICT',
  /** A bug: an invariant of tapflow itself was broken. */
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Codes an Issue can carry (a field-level problem). */
export type IssueCode =
  | typeof ErrorCode.INVALID_FIELD
  | typeof ErrorCode.INVALID_TYPE
  | typeof ErrorCode.MISSING_FIELD
  | typeof ErrorCode.UNKNOWN_FIELD
  | typeof ErrorCode.DUPLICATE_VALUE
  | typeof ErrorCode.PARSE_ERROR
  | typeof ErrorCode.UNSUPPORTED_KIND;

/** gRPC status codes (google.rpc.Code) the server maps our codes to. */
const GRPC: Record<ErrorCode, number> = {
  INVALID_FIELD: 3, // INVALID_ARGUMENT
  INVALID_TYPE: 3,
  MISSING_FIELD: 3,
  UNKNOWN_FIELD: 3,
  DUPLICATE_VALUE: 3,
  PARSE_ERROR: 3,
  UNSUPPORTED_KIND: 3,
  VALIDATION_FAILED: 3,
  NOT_FOUND: 5, // NOT_FOUND
  CONFLICT: 10, // ABORTED (retry with a fresh read)
  INTERNAL: 13, // INTERNAL
};

/** The gRPC status code for an error code; unknown codes (and non-tapflow errors) are INTERNAL. */
export function grpcStatusOf(code: string): number {
  return Object.prototype.hasOwnProperty.call(GRPC, code) ? GRPC[code as ErrorCode] : 13;
}

export class TapflowError extends Error {
  override name = 'TapflowError';
  /** Stable, machine-readable; one of ErrorCode. */
  code: string;
  /** The field path the error is about, when there is one (`spec.ports[2].role`). */
  path?: string;
  constructor(message?: string, options?: { code?: string; path?: string; cause?: unknown }) {
    super(message ?? 'tapflow error', options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.code = options?.code ?? ErrorCode.INTERNAL;
    if (options?.path !== undefined) this.path = options.path;
  }
}

/** A field with a value that is not allowed. */
export class InvalidFieldError extends TapflowError {
  override name = 'InvalidFieldError';
  constructor(path: string, message?: string) {
    super(`${labelOf(path)}: ${message ?? 'invalid value'}`, { code: ErrorCode.INVALID_FIELD, path });
  }
}

/** A field with a value of the wrong type. */
export class InvalidTypeError extends TapflowError {
  override name = 'InvalidTypeError';
  constructor(path: string, message?: string) {
    super(`${labelOf(path)}: ${message ?? 'wrong type'}`, { code: ErrorCode.INVALID_TYPE, path });
  }
}

export class MissingFieldError extends TapflowError {
  override name = 'MissingFieldError';
  constructor(path: string, message?: string) {
    super(`${labelOf(path)}: ${message ?? 'required field is missing'}`, { code: ErrorCode.MISSING_FIELD, path });
  }
}

export class UnknownFieldError extends TapflowError {
  override name = 'UnknownFieldError';
  constructor(path: string, message?: string) {
    super(`${labelOf(path)}: ${message ?? 'unknown field'}`, { code: ErrorCode.UNKNOWN_FIELD, path });
  }
}

export class DuplicateValueError extends TapflowError {
  override name = 'DuplicateValueError';
  constructor(path: string, message?: string) {
    super(`${labelOf(path)}: ${message ?? 'duplicate value'}`, { code: ErrorCode.DUPLICATE_VALUE, path });
  }
}

/** Malformed input text. `source` names the file (or "<stdin>"), line/column are 1-based. */
export class ParseError extends TapflowError {
  override name = 'ParseError';
  source?: string;
  line?: number;
  column?: number;
  constructor(message?: string, where?: { source?: string; line?: number; column?: number }) {
    super(`${whereOf(where)}${message ?? 'parse error'}`, { code: ErrorCode.PARSE_ERROR });
    if (where?.source !== undefined) this.source = where.source;
    if (where?.line !== undefined) this.line = where.line;
    if (where?.column !== undefined) this.column = where.column;
  }
}

export class UnsupportedKindError extends TapflowError {
  override name = 'UnsupportedKindError';
  constructor(message?: string, path?: string) {
    super(message ?? 'unsupported apiVersion/kind', { code: ErrorCode.UNSUPPORTED_KIND, ...(path !== undefined ? { path } : {}) });
  }
}

export class NotFoundError extends TapflowError {
  override name = 'NotFoundError';
  constructor(message?: string) {
    super(message ?? 'not found', { code: ErrorCode.NOT_FOUND });
  }
}

export class ConflictError extends TapflowError {
  override name = 'ConflictError';
  constructor(message?: string) {
    super(message ?? 'conflict', { code: ErrorCode.CONFLICT });
  }
}

/** One field-level problem. line/column (1-based) are set when the input was YAML/JSON text. */
export interface Issue {
  path: string;
  message: string;
  code: IssueCode;
  line?: number;
  column?: number;
}

/**
 * All the problems a validator found. `.issues` is in document order of discovery; `.path` is
 * the first issue's path. The message lists every issue, one per line.
 */
export class ValidationError extends TapflowError {
  override name = 'ValidationError';
  readonly issues: Issue[];
  source?: string;
  constructor(issues: Issue[], options?: { source?: string; what?: string }) {
    super(formatIssues(issues, options?.source, options?.what), {
      code: ErrorCode.VALIDATION_FAILED,
      ...(issues.length > 0 ? { path: issues[0].path } : {}),
    });
    this.issues = issues;
    if (options?.source !== undefined) this.source = options.source;
  }
}

/** The issue collector validators thread through their checks. */
export class Issues {
  readonly list: Issue[] = [];
  add(path: string, code: IssueCode, message: string): void {
    this.list.push({ path, code, message });
  }
  get length(): number {
    return this.list.length;
  }
  /** Throw a ValidationError carrying every issue, if there is at least one. */
  throwIfAny(options?: { source?: string; what?: string }): void {
    if (this.list.length > 0) throw new ValidationError(this.list.slice(), options);
  }
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** `fieldPath('spec.ports', 2)` → `spec.ports[2]`; `fieldPath('spec', 'mtu')` → `spec.mtu`; odd keys are quoted. */
export function fieldPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  if (IDENT.test(key)) return parent === '' ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key)}]`;
}

/** Inverse of fieldPath: `spec.ports[2].role` → ['spec', 'ports', 2, 'role']. */
export function splitPath(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  const re = /\.?([A-Za-z_$][A-Za-z0-9_$-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/y;
  let m: RegExpExecArray | null;
  while (re.lastIndex < path.length && (m = re.exec(path)) !== null) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(JSON.parse(m[3]) as string);
  }
  return out;
}

function labelOf(path: string): string {
  return path === '' ? '(root)' : path;
}

function whereOf(where?: { source?: string; line?: number; column?: number }): string {
  if (where === undefined) return '';
  let s = where.source ?? '';
  if (where.line !== undefined) s += `${s === '' ? 'line ' : ':'}${where.line}${where.column !== undefined ? `:${where.column}` : ''}`;
  return s === '' ? '' : `${s}: `;
}

function formatIssues(issues: Issue[], source?: string, what?: string): string {
  const n = issues.length;
  const head = `${source !== undefined ? `${source}: ` : ''}${n} problem${n === 1 ? '' : 's'}${what !== undefined ? ` in ${what}` : ''}`;
  const lines = issues.map((i) => {
    const at = i.line !== undefined ? ` (line ${i.line}${i.column !== undefined ? `:${i.column}` : ''})` : '';
    return `  ${labelOf(i.path)}${at}: ${i.message}`;
  });
  return [head, ...lines].join('\n');
}
