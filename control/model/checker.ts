/**
 * The field reader every validator builds on (NodeConfig, and through K8sChecker every
 * Kubernetes kind): reads fields of a decoded JSON/YAML object and records each problem as an
 * Issue with a kubectl-style path, never throwing. Kind-specific readers (addresses, CIDRs,
 * labels, ports) live in the subclasses.
 *
 * Messages are part of the API (tests and users match them). The two places where validators
 * word them differently are hooks a subclass overrides: how a value from the input is quoted
 * (`show`) and which allowed word is proposed for a misspelling (`closest`), plus the expected
 * type of a map value (`mapValue`).
 *
 * positionOf() maps an Issue's path back to its line and column when the input was text.
 */
import { Document, LineCounter, isMap, isScalar, isSeq } from 'yaml';
import { ErrorCode, Issues, fieldPath, splitPath } from './errors';

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** `s` in double quotes, shortened when long (for messages). */
export function quote(s: string): string {
  return JSON.stringify(s.length > 72 ? `${s.slice(0, 64)}…` : s);
}

/** "got number 5", "got a list", ... for type errors. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'got null';
  if (Array.isArray(v)) return 'got a list';
  if (typeof v === 'object') return 'got an object';
  if (typeof v === 'string') return `got string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  return `got ${typeof v} ${String(v)}`;
}

export function oneOf(xs: readonly string[]): string {
  return xs.map((x) => `"${x}"`).join(', ');
}

function editDistance(a: string, b: string): number {
  const d: number[] = [];
  for (let j = 0; j <= b.length; j++) d.push(j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length];
}

/**
 * The allowed word closest to `key` (case-insensitive match, plural, or edit distance ≤ 2), or
 * null. `prefixes`: also propose the first allowed word that starts with a key of 4+ letters.
 */
export function suggest(key: string, allowed: readonly string[], prefixes = true): string | null {
  const lower = key.toLowerCase();
  for (const a of allowed) if (a.toLowerCase() === lower || a === key + 's' || a === key + 'es') return a;
  if (prefixes && lower.length >= 4) for (const a of allowed) if (a.toLowerCase().startsWith(lower)) return a;
  let best: string | null = null;
  let bestD = 3;
  for (const a of allowed) {
    const d = editDistance(lower, a.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = a;
    }
  }
  return best;
}

/** Range and wording for integer fields. */
export interface IntRule {
  min: number;
  max: number;
  /** What the number is, for messages ("a port number"). */
  what?: string;
}

/**
 * Reads fields of a decoded JSON/YAML object and records problems in `issues`. Every reader
 * returns `undefined` when the value is absent or unusable (the issue is already recorded).
 */
export class FieldChecker {
  constructor(readonly issues: Issues) {}

  /** How a key or value taken from the input is written in a message. */
  protected show(s: string): string {
    return quote(s);
  }
  /** The allowed word to propose for the unknown `s`, or null. */
  protected closest(s: string, allowed: readonly string[]): string | null {
    return suggest(s, allowed);
  }
  /** What stringMap expects each value to be. */
  protected readonly mapValue: string = 'a string (quote numbers and booleans: "true", "80")';

  invalid(path: string, message: string): void {
    this.issues.add(path, ErrorCode.INVALID_FIELD, message);
  }
  type(path: string, expected: string, v: unknown): void {
    this.issues.add(path, ErrorCode.INVALID_TYPE, `expected ${expected}, ${describeValue(v)}`);
  }
  missing(path: string, message: string): void {
    this.issues.add(path, ErrorCode.MISSING_FIELD, message);
  }
  dup(path: string, message: string): void {
    this.issues.add(path, ErrorCode.DUPLICATE_VALUE, message);
  }
  unknown(path: string, key: string, allowed: readonly string[]): void {
    const s = this.closest(key, allowed);
    this.issues.add(
      fieldPath(path, key),
      ErrorCode.UNKNOWN_FIELD,
      `unknown field ${this.show(key)}${s !== null ? `; did you mean "${s}"?` : ''} (allowed here: ${allowed.join(', ')})`,
    );
  }

  /** An object whose keys must be in `allowed` (others are UNKNOWN_FIELD); null when `v` is not an object. */
  object(v: unknown, path: string, allowed: readonly string[], expected = 'an object'): Obj | null {
    if (!isObj(v)) {
      this.type(path, expected, v);
      return null;
    }
    for (const key of Object.keys(v)) if (!allowed.includes(key)) this.unknown(path, key, allowed);
    return v;
  }

  /** An object whose keys are not checked (status blocks, opaque sub-objects); null when not an object. */
  looseObject(v: unknown, path: string, expected = 'an object'): Obj | null {
    if (!isObj(v)) {
      this.type(path, expected, v);
      return null;
    }
    return v;
  }

  /** The value at o[key]; null and undefined both mean "absent". */
  get(o: Obj, key: string): unknown {
    const v = o[key];
    return v === null ? undefined : v;
  }

  /** A string field. `emptyIsAbsent`: "" counts as unset (Go zero value of a non-pointer string). */
  string(o: Obj, key: string, path: string, what: string, required: string | null, emptyIsAbsent = false): string | undefined {
    const p = fieldPath(path, key);
    let v = this.get(o, key);
    if (emptyIsAbsent && v === '') v = undefined;
    if (v === undefined) {
      if (required !== null) this.missing(p, required);
      return undefined;
    }
    if (typeof v !== 'string') {
      this.type(p, `a string (${what})`, v);
      return undefined;
    }
    return v;
  }

  bool(o: Obj, key: string, path: string, dflt: boolean): boolean {
    return this.optBool(o, key, path) ?? dflt;
  }

  /** Like `bool` but keeps "absent" distinct (undefined). */
  optBool(o: Obj, key: string, path: string): boolean | undefined {
    const v = this.get(o, key);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') {
      this.type(fieldPath(path, key), 'a boolean (true or false)', v);
      return undefined;
    }
    return v;
  }

  /** An integer value (not read from an object). */
  intValue(v: unknown, path: string, rule: IntRule): number | undefined {
    const what = rule.what ?? 'an integer';
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.type(path, `${what} (an integer ${rule.min}..${rule.max})`, v);
      return undefined;
    }
    if (v < rule.min || v > rule.max) {
      this.invalid(path, `${v} is out of range; must be ${rule.min}..${rule.max}`);
      return undefined;
    }
    return v;
  }

  int(o: Obj, key: string, path: string, rule: IntRule, required: string | null): number | undefined {
    const v = this.get(o, key);
    if (v === undefined) {
      if (required !== null) this.missing(fieldPath(path, key), required);
      return undefined;
    }
    return this.intValue(v, fieldPath(path, key), rule);
  }

  enumOf<T extends string>(o: Obj, key: string, path: string, allowed: readonly T[], required: string | null, emptyIsAbsent = false): T | undefined {
    const p = fieldPath(path, key);
    let v = this.get(o, key);
    if (emptyIsAbsent && v === '') v = undefined;
    if (v === undefined) {
      if (required !== null) this.missing(p, `${required}; one of ${oneOf(allowed)}`);
      return undefined;
    }
    if (typeof v !== 'string') {
      this.type(p, `a string, one of ${oneOf(allowed)}`, v);
      return undefined;
    }
    if (!(allowed as readonly string[]).includes(v)) {
      const s = this.closest(v, allowed);
      this.invalid(p, `must be one of ${oneOf(allowed)}; got ${this.show(v)}${s !== null ? ` (did you mean "${s}"?)` : ''}`);
      return undefined;
    }
    return v as T;
  }

  /** A list at o[key]; undefined when absent (MISSING_FIELD when `required` is a message). */
  list(o: Obj, key: string, path: string, what: string, required: string | null): unknown[] | undefined {
    const p = fieldPath(path, key);
    const v = this.get(o, key);
    if (v === undefined) {
      if (required !== null) this.missing(p, required);
      return undefined;
    }
    if (!Array.isArray(v)) {
      this.type(p, `a list of ${what}`, v);
      return undefined;
    }
    return v;
  }

  /** A list of strings; bad elements are reported and skipped. */
  stringList(o: Obj, key: string, path: string, what: string): string[] {
    const raw = this.list(o, key, path, what, null);
    const out: string[] = [];
    raw?.forEach((v, i) => {
      if (typeof v !== 'string') this.type(fieldPath(fieldPath(path, key), i), `a string (${what})`, v);
      else out.push(v);
    });
    return out;
  }

  /** A string → string map (labels, annotations, selectors); bad entries reported and skipped. */
  stringMap(v: unknown, path: string): Record<string, string> {
    const out: Record<string, string> = {};
    if (v === undefined || v === null) return out;
    if (!isObj(v)) {
      this.type(path, 'a map of string to string', v);
      return out;
    }
    for (const [key, x] of Object.entries(v)) {
      if (typeof x !== 'string') this.type(fieldPath(path, key), this.mapValue, x);
      else out[key] = x;
    }
    return out;
  }
}

// ─── Issue positions in YAML/JSON text ─────────────────────────────────────────────────────

/**
 * Line and column (1-based) in the YAML/JSON text of the field at `path`: the key of a map
 * entry, the item of a list; for a field that is absent, the nearest enclosing one that exists.
 * Undefined when not even the document has a position.
 */
export function positionOf(doc: Document.Parsed, lc: LineCounter, path: string): { line: number; column: number } | undefined {
  const off = locate(doc, splitPath(path));
  if (off === undefined) return undefined;
  const lp = lc.linePos(off);
  return { line: lp.line, column: lp.col };
}

function locate(doc: Document.Parsed, segs: (string | number)[]): number | undefined {
  for (let n = segs.length; n >= 0; n--) {
    if (n === 0) return (doc.contents as { range?: [number, number, number] } | null)?.range?.[0];
    const parent = n === 1 ? doc.contents : doc.getIn(segs.slice(0, n - 1), true);
    const last = segs[n - 1];
    if (isMap(parent)) {
      const pair = parent.items.find((it) => isScalar(it.key) && String(it.key.value) === String(last));
      const node = (pair?.key ?? undefined) as { range?: [number, number, number] } | undefined;
      if (node?.range !== undefined) return node.range[0];
    } else if (isSeq(parent) && typeof last === 'number') {
      const item = parent.items[last] as { range?: [number, number, number] } | undefined;
      if (item?.range !== undefined) return item.range[0];
    }
  }
  return undefined;
}
