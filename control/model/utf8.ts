/**
 * Strict UTF-8 for manifest input. Node's default decoding (fs 'utf8', Buffer#toString,
 * protobuf strings) replaces invalid bytes with U+FFFD, so a mangled file or request would be
 * stored and served as if it were what the user wrote. Everything that turns bytes into manifest
 * text goes through `decodeManifest`, which refuses invalid UTF-8 and names where it is: the
 * document, the field (found in the lossily decoded text), line, column and byte offset.
 */
import { Composer, LineCounter, Parser, isMap, isScalar, isSeq } from 'yaml';
import type { Node as YNode } from 'yaml';
import { ErrorCode, fieldPath } from './errors';

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lossy = new TextDecoder('utf-8', { ignoreBOM: true });

function decodes(bytes: Uint8Array, stream: boolean): boolean {
  try {
    // A fresh decoder per streamed check: stream mode keeps state between calls.
    (stream ? new TextDecoder('utf-8', { fatal: true }) : strict).decode(bytes, { stream });
    return true;
  } catch {
    return false;
  }
}

/** Byte offset where the first invalid UTF-8 sequence starts, or -1 when `bytes` is valid UTF-8. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  if (decodes(bytes, false)) return -1;
  // Shortest prefix that fails in stream mode (a cut-off sequence at the end is not an error
  // there), found by bisection: the decoder does not say where it failed.
  if (decodes(bytes, true)) {
    // Only a sequence cut off at the end: it starts at the last lead byte.
    let start = bytes.length - 1;
    while (start > 0 && (bytes[start] & 0xc0) === 0x80) start--;
    return start;
  }
  let ok = 0;
  let bad = bytes.length;
  while (bad - ok > 1) {
    const mid = (ok + bad) >>> 1;
    if (decodes(bytes.subarray(0, mid), true)) ok = mid;
    else bad = mid;
  }
  // The failing byte may end a sequence that started up to 3 bytes earlier.
  let start = bad - 1;
  while (start > 0 && bad - start < 4 && !decodes(bytes.subarray(0, start), false)) start--;
  return start;
}

export interface Utf8Problem {
  /** Byte offset of the first invalid sequence. */
  offset: number;
  /** Document index (multi-document YAML), from 0. */
  doc: number;
  /** Field path inside the document ('' when not inside a field). */
  field: string;
  line: number;
  column: number;
  code: typeof ErrorCode.PARSE_ERROR;
  message: string;
}

/** Where the first invalid UTF-8 in `bytes` is, as a manifest problem; null when the bytes are valid. */
export function utf8Problem(bytes: Uint8Array): Utf8Problem | null {
  const offset = firstInvalidUtf8(bytes);
  if (offset < 0) return null;
  const text = lossy.decode(bytes);
  const index = lossy.decode(bytes.subarray(0, offset)).length; // the first U+FFFD in `text`
  const at = locateIndex(text, index);
  return { offset, ...at, code: ErrorCode.PARSE_ERROR, message: `${invalidUtf8Message(bytes, offset)}; nothing was read from it` };
}

/** `invalid UTF-8 at byte 12 (0xff 0xfe)` */
export function invalidUtf8Message(bytes: Uint8Array, offset: number): string {
  const shown = Array.from(bytes.subarray(offset, Math.min(bytes.length, offset + 4)), (b) => `0x${b.toString(16).padStart(2, '0')}`).join(' ');
  return `invalid UTF-8 at byte ${offset} (${shown}): text must be UTF-8`;
}

/** Document, field path, line and column of a character index in YAML/JSON text (best effort). */
function locateIndex(text: string, index: number): { doc: number; field: string; line: number; column: number } {
  const lc = new LineCounter();
  let doc = 0;
  let field = '';
  // Only the documents up to the bad bytes matter.
  const end = text.indexOf('\n---', index);
  if (end >= 0) text = text.slice(0, end + 1);
  try {
    const composer = new Composer({ uniqueKeys: false });
    let i = 0;
    for (const d of composer.compose(new Parser(lc.addNewLine).parse(text), true)) {
      if ((d.range?.[0] ?? 0) <= index) doc = i;
      const r = (d.contents as { range?: [number, number, number] } | null)?.range;
      if (r !== undefined && index >= r[0] && index < r[2]) field = fieldAt(d.contents as YNode, index, '', 0);
      i++;
    }
  } catch {
    // Unparseable (too deep, ...): the line and column still say where.
  }
  const lp = lc.linePos(index);
  return { doc, field, line: lp.line, column: lp.col };
}

function fieldAt(node: YNode, index: number, path: string, depth: number): string {
  if (depth > 64) return path;
  const inside = (n: unknown): boolean => {
    const r = (n as { range?: [number, number, number] } | null)?.range;
    return r !== undefined && index >= r[0] && index < r[2];
  };
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : null;
      if (key === null) continue;
      if (inside(pair.key)) return path; // in a key: its decoded form would show U+FFFD
      if (inside(pair.value)) return fieldAt(pair.value as YNode, index, fieldPath(path, key), depth + 1);
    }
  } else if (isSeq(node)) {
    for (let k = 0; k < node.items.length; k++) {
      if (inside(node.items[k])) return fieldAt(node.items[k] as YNode, index, fieldPath(path, k), depth + 1);
    }
  }
  return path;
}
