/**
 * The embedded durable store of the desired state: a JSON snapshot plus an append-only journal
 * in one directory.
 *
 *   DIR/snapshot.json   {format, storeId, version, objects: [...]}   written to a temp file,
 *                       fsync'd, renamed over the old one, directory fsync'd (atomic)
 *   DIR/journal.log     one line per commit:  <crc32 hex8> <json>\n
 *                       json = {v, t, up: [StoredObject...], del: [key...]}; each append fsync'd
 *   DIR/LOCK            the pid of the process that holds the store (one writer)
 *
 * A commit is one journal record: it bumps the version by exactly one and is durable when
 * `commit()` returns (write + fsync). On open the snapshot is loaded, then every journal record
 * with a version above the snapshot's is replayed in order. A torn or corrupt record (bad CRC,
 * bad JSON, missing newline, version not the next one) ends the journal: it and everything after
 * it are truncated away, with a warning — a crash mid-append loses at most that unacknowledged
 * commit. When the journal grows past `compactBytes` the store writes a new snapshot and starts
 * an empty journal (records at or below the snapshot version are skipped on replay, so a crash
 * between the two steps is harmless).
 *
 * Objects are stored as their raw JSON (what the user wrote, parsed), never the normalized
 * model form: the model re-validates them on load, so a newer validator sees the original text.
 *
 * Synchronous I/O on purpose: commits are serialized by construction, and a controller commit is
 * milliseconds (the fsync) — nothing else in the process waits on the data path.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

/** One object as stored. `key` = `Kind/namespace/name` (namespace "" for cluster-scoped kinds). */
export interface StoredObject {
  key: string;
  kind: string;
  apiVersion: string;
  namespace: string;
  name: string;
  /** The object as the user wrote it (parsed JSON/YAML), re-validated by the model on load. */
  raw: unknown;
  /** Where it was applied from (file name), for messages. */
  source?: string;
  /** The version at which this object last changed (set by the store). */
  version: number;
}

export type ObjectInput = Omit<StoredObject, 'version'>;

/** One change of one commit, with the previous and new object (undefined = absent). */
export interface Change {
  key: string;
  version: number;
  before: StoredObject | undefined;
  after: StoredObject | undefined;
}

export interface CommitResult {
  version: number;
  changes: Change[];
}

export interface FileStoreOptions {
  /** Write a snapshot and start a new journal when the journal passes this size (default 64 MiB). */
  compactBytes?: number;
  /** fsync every write (default true; tests of other layers may turn it off for speed). */
  fsync?: boolean;
  /** Changes kept in memory for `changesSince` (default 100000). */
  historyLimit?: number;
  /** Warnings (corrupt tail truncated, stale lock). Default: stderr. */
  warn?: (msg: string) => void;
}

interface Snapshot {
  format: 1;
  storeId: string;
  version: number;
  objects: StoredObject[];
}

interface JournalRecord {
  v: number;
  t: number;
  up: StoredObject[];
  del: string[];
}

/** JSON text of each stored object's raw (stored objects are immutable): made once, by the commit's journal write. */
const rawTexts = new WeakMap<StoredObject, string>();

/** `JSON.stringify(o.raw)`, cached: what the wire and the journal carry. */
export function rawTextOf(o: StoredObject): string {
  let t = rawTexts.get(o);
  if (t === undefined) {
    t = JSON.stringify(o.raw) ?? 'null';
    rawTexts.set(o, t);
  }
  return t;
}

const SNAPSHOT = 'snapshot.json';
const JOURNAL = 'journal.log';
const LOCK = 'LOCK';

export class StoreError extends Error {
  override name = 'StoreError';
  code = 'STORE_ERROR';
}

export class FileStore {
  private objects = new Map<string, StoredObject>();
  private _version = 0;
  private _storeId = '';
  private journalFd = -1;
  private journalBytes = 0;
  /** Keys changed per version, oldest first, for deltas; `historyFloor` = oldest version it can answer from. */
  private history: { version: number; keys: string[] }[] = [];
  private historyKeys = 0;
  private historyFloor = 0;
  private closed = false;
  private readonly compactBytes: number;
  private readonly doFsync: boolean;
  private readonly historyLimit: number;
  private readonly warn: (msg: string) => void;
  /** Called after every commit (the server fans out to watchers and agents). */
  private listeners: ((r: CommitResult) => void)[] = [];

  private constructor(readonly dir: string, opts: FileStoreOptions) {
    this.compactBytes = opts.compactBytes ?? 64 * 1024 * 1024;
    this.doFsync = opts.fsync ?? true;
    this.historyLimit = opts.historyLimit ?? 100000;
    this.warn = opts.warn ?? ((m) => process.stderr.write(`warning: ${m}\n`));
  }

  /** Open (creating if needed) the store in `dir`: load the snapshot, replay the journal. */
  static open(dir: string, opts: FileStoreOptions = {}): FileStore {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const s = new FileStore(dir, opts);
    s.lock();
    try {
      s.load();
    } catch (err) {
      s.unlock();
      throw err;
    }
    return s;
  }

  get version(): number {
    return this._version;
  }

  /** Random id of this store, fixed at creation: versions of different stores are not comparable. */
  get storeId(): string {
    return this._storeId;
  }

  get size(): number {
    return this.objects.size;
  }

  get(key: string): StoredObject | undefined {
    return this.objects.get(key);
  }

  /** Objects, sorted by key; optionally of one kind and/or namespace. */
  list(kind?: string, namespace?: string): StoredObject[] {
    const out: StoredObject[] = [];
    for (const o of this.objects.values()) {
      if (kind !== undefined && kind !== '' && o.kind !== kind) continue;
      if (namespace !== undefined && namespace !== '' && o.namespace !== namespace) continue;
      out.push(o);
    }
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return out;
  }

  /** Every object (unsorted, live view: do not mutate). */
  values(): IterableIterator<StoredObject> {
    return this.objects.values();
  }

  onCommit(fn: (r: CommitResult) => void): () => void {
    this.listeners.push(fn);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== fn);
    };
  }

  /**
   * Apply upserts and deletes as one durable commit (version + 1). Objects equal to the stored
   * ones (same raw JSON) and deletes of absent keys are no-ops; when nothing changes the version
   * stays and no record is written. Returns the new version and the effective changes.
   */
  commit(upserts: readonly ObjectInput[], deletes: readonly string[]): CommitResult {
    if (this.closed) throw new StoreError('store is closed');
    const version = this._version + 1;
    const changes: Change[] = [];
    const up: StoredObject[] = [];
    const del: string[] = [];
    const seen = new Set<string>();
    for (const o of upserts) {
      if (seen.has(o.key)) throw new StoreError(`${o.key} appears twice in one commit`);
      seen.add(o.key);
      const before = this.objects.get(o.key);
      const text = JSON.stringify(o.raw) ?? 'null';
      if (before !== undefined && before.apiVersion === o.apiVersion && rawTextOf(before) === text) continue;
      const after: StoredObject = { ...o, version };
      rawTexts.set(after, text);
      up.push(after);
      changes.push({ key: o.key, version, before, after });
    }
    for (const key of deletes) {
      if (seen.has(key)) throw new StoreError(`${key} appears twice in one commit`);
      seen.add(key);
      const before = this.objects.get(key);
      if (before === undefined) continue;
      del.push(key);
      changes.push({ key, version, before, after: undefined });
    }
    if (changes.length === 0) return { version: this._version, changes };
    const rec: JournalRecord = { v: version, t: Date.now(), up, del };
    this.append(rec);
    this.applyRecord(rec);
    const result = { version, changes };
    if (this.journalBytes >= this.compactBytes) this.compact();
    for (const l of this.listeners) l(result);
    return result;
  }

  /**
   * Keys changed after `version` (exclusive) up to now, or null when the in-memory history no
   * longer reaches back that far (the caller then sends everything).
   */
  changesSince(version: number): string[] | null {
    if (version === this._version) return [];
    if (version > this._version || version < this.historyFloor) return null;
    const keys = new Set<string>();
    // history is sorted by version; scan from the end.
    for (let i = this.history.length - 1; i >= 0 && this.history[i].version > version; i--) {
      for (const k of this.history[i].keys) keys.add(k);
    }
    return [...keys];
  }

  /** Write a snapshot of the current state and start an empty journal. */
  compact(): void {
    if (this.closed) throw new StoreError('store is closed');
    this.writeSnapshot();
    fs.closeSync(this.journalFd);
    const jp = path.join(this.dir, JOURNAL);
    this.journalFd = fs.openSync(jp, 'w', 0o600);
    if (this.doFsync) fs.fsyncSync(this.journalFd);
    this.journalBytes = 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.journalFd >= 0) fs.closeSync(this.journalFd);
    this.journalFd = -1;
    this.unlock();
    this.listeners = [];
  }

  // ─── Internals ─────────────────────────────────────────────────────────────────────────────

  private load(): void {
    const sp = path.join(this.dir, SNAPSHOT);
    const jp = path.join(this.dir, JOURNAL);
    let snap: Snapshot | null = null;
    if (fs.existsSync(sp)) {
      const text = fs.readFileSync(sp, 'utf8');
      try {
        snap = JSON.parse(text) as Snapshot;
      } catch (err) {
        // The snapshot is only ever replaced by rename, so a broken one is not a torn write.
        throw new StoreError(`${sp}: not valid JSON (${(err as Error).message}); refusing to start on a damaged store`);
      }
      if (snap.format !== 1 || typeof snap.version !== 'number' || !Array.isArray(snap.objects)) {
        throw new StoreError(`${sp}: unknown snapshot format`);
      }
    }
    if (snap === null) {
      snap = { format: 1, storeId: randomUUID(), version: 0, objects: [] };
      this._storeId = snap.storeId;
      this.writeSnapshot();
    }
    this._storeId = snap.storeId;
    this._version = snap.version;
    for (const o of snap.objects) this.objects.set(o.key, o);
    this.historyFloor = snap.version;

    // Replay the journal; truncate at the first bad record.
    let buf: Buffer = Buffer.alloc(0);
    if (fs.existsSync(jp)) buf = fs.readFileSync(jp);
    let off = 0;
    let bad: string | null = null;
    while (off < buf.length) {
      const nl = buf.indexOf(0x0a, off);
      if (nl < 0) {
        bad = 'incomplete last record (no newline)';
        break;
      }
      const line = buf.subarray(off, nl);
      const rec = parseRecord(line);
      if (typeof rec === 'string') {
        bad = rec;
        break;
      }
      if (rec.v <= this._version) {
        off = nl + 1; // already in the snapshot (crash between snapshot and journal reset)
        continue;
      }
      if (rec.v !== this._version + 1) {
        bad = `record version ${rec.v} does not follow ${this._version}`;
        break;
      }
      this.applyRecord(rec);
      off = nl + 1;
    }
    if (bad !== null) {
      this.warn(`${jp}: corrupt journal tail at byte ${off} of ${buf.length} (${bad}); truncating it — ` +
        `the state is as of version ${this._version}`);
      fs.truncateSync(jp, off);
    }
    this.journalFd = fs.openSync(jp, 'a', 0o600);
    this.journalBytes = off;
    if (bad !== null) {
      // The lost tail may have been seen by agents (versions above this one, other content):
      // a new store id makes every agent take a full snapshot instead of a delta.
      this._storeId = randomUUID();
      this.compact();
    }
  }

  private append(rec: JournalRecord): void {
    const body = Buffer.from(recordJson(rec), 'utf8');
    const head = Buffer.from(`${crc32(body).toString(16).padStart(8, '0')} `, 'latin1');
    const parts = [head, body, NEWLINE];
    const size = head.length + body.length + 1;
    try {
      // The line in one writev, without copying the body into it.
      let written = 0;
      while (written < size) {
        written += fs.writevSync(this.journalFd, written === 0 ? parts : remaining(parts, written));
      }
      if (this.doFsync) fs.fsyncSync(this.journalFd);
    } catch (err) {
      // Never leave a partial record behind later ones: cut the journal back to the last good one.
      try {
        fs.ftruncateSync(this.journalFd, this.journalBytes);
      } catch {
        this.closed = true; // cannot restore the invariant: refuse further writes
      }
      throw new StoreError(`journal write failed: ${(err as Error).message}`, { cause: err });
    }
    this.journalBytes += size;
  }

  private applyRecord(rec: JournalRecord): void {
    const keys: string[] = [];
    for (const o of rec.up) {
      this.objects.set(o.key, o);
      keys.push(o.key);
    }
    for (const k of rec.del) {
      this.objects.delete(k);
      keys.push(k);
    }
    this._version = rec.v;
    this.history.push({ version: rec.v, keys });
    this.historyKeys += keys.length;
    while (this.historyKeys > this.historyLimit && this.history.length > 1) {
      const h = this.history.shift()!;
      this.historyKeys -= h.keys.length;
      this.historyFloor = h.version;
    }
  }

  private writeSnapshot(): void {
    const snap: Snapshot = { format: 1, storeId: this._storeId, version: this._version, objects: [...this.objects.values()] };
    const sp = path.join(this.dir, SNAPSHOT);
    const tmp = `${sp}.tmp-${process.pid}`;
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      const body = Buffer.from(JSON.stringify(snap), 'utf8');
      let written = 0;
      while (written < body.length) written += fs.writeSync(fd, body, written, body.length - written);
      if (this.doFsync) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, sp);
    if (this.doFsync) fsyncDir(this.dir);
  }

  private lock(): void {
    const lp = path.join(this.dir, LOCK);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = fs.openSync(lp, 'wx', 0o600);
        fs.writeSync(fd, String(process.pid));
        fs.closeSync(fd);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = Number(fs.readFileSync(lp, 'utf8').trim());
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
          throw new StoreError(`${this.dir} is in use by process ${pid} (${lp}); one controller per data dir`);
        }
        this.warn(`${lp}: stale lock of process ${pid || '?'}, taking it over`);
        fs.rmSync(lp, { force: true });
      }
    }
    throw new StoreError(`cannot lock ${lp}`);
  }

  private unlock(): void {
    const lp = path.join(this.dir, LOCK);
    try {
      if (fs.readFileSync(lp, 'utf8').trim() === String(process.pid)) fs.rmSync(lp, { force: true });
    } catch {
      // already gone
    }
  }
}

function parseRecord(line: Buffer): JournalRecord | string {
  if (line.length < 10 || line[8] !== 0x20) return 'malformed record';
  const want = parseInt(line.toString('latin1', 0, 8), 16);
  const body = line.subarray(9);
  if (!Number.isFinite(want) || crc32(body) !== want) return 'checksum mismatch';
  let rec: JournalRecord;
  try {
    rec = JSON.parse(body.toString('utf8')) as JournalRecord;
  } catch {
    return 'not valid JSON';
  }
  if (typeof rec.v !== 'number' || !Array.isArray(rec.up) || !Array.isArray(rec.del)) return 'malformed record';
  return rec;
}

const NEWLINE = Buffer.from('\n');

/** The buffers of `parts` after the first `skip` bytes (a short writev). */
function remaining(parts: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of parts) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}

/** JSON.stringify(rec), with each object's raw text taken from the cache (rawTextOf) instead of serialized again. */
function recordJson(rec: JournalRecord): string {
  const up = rec.up.map((o) => {
    const { raw: _raw, ...meta } = o;
    const m = JSON.stringify(meta);
    return `${m.slice(0, -1)}${m.length > 2 ? ',' : ''}"raw":${rawTextOf(o)}}`;
  });
  return `{"v":${rec.v},"t":${rec.t},"up":[${up.join(',')}],"del":${JSON.stringify(rec.del)}}`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

/** CRC-32 (IEEE 802.3), as zlib (its native one where Node has it: ≥ 20.15). */
export function crc32(b: Uint8Array): number {
  if (nativeCrc32 !== undefined) return nativeCrc32(b) >>> 0;
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
