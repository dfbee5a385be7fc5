/**
 * The agent's side of AgentSync.Sync: keeps one stream to the controller, applies what it pushes
 * through `onConfig`, and ACKs or NACKs.
 *
 *   start() ─► HELLO {node, last_applied_version, store_id} ─► SNAPSHOT|DELTA chunks ─► onConfig
 *                                                        ok ─► persist ─► ACK {version, nonce}
 *                                                     throws ─► NACK {version, nonce, error}
 *
 * A delta costs O(what changed), not O(objects): `onConfig` gets the change (a ConfigUpdate;
 * `manifests()` builds the whole list only when asked), the running map is updated in place
 * once the update is accepted, and only changed objects are persisted.
 *
 * The running configuration (version + every object) is kept in memory and in `stateDir` (a
 * FileStore: one fsync'd journal record per applied version, atomic, survives kill -9). A
 * NACKed push never replaces it. `loadPersisted()` gives the agent the last applied
 * configuration at start, before (or without) any controller. Objects are parsed and validated
 * once, when they arrive: a delta re-validates only what changed.
 *
 * Reconnects with exponential backoff (initial 250 ms, ×2, capped at 30 s, ±20 % jitter; reset
 * once a stream delivered a push); on reconnect the HELLO carries the applied version, so the
 * controller resumes with a delta.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { ErrorCode, TapflowError } from '../model/errors';
import { FileStore, ObjectInput } from '../store/file-store';
import { clientChannelOptions } from './control-client';
import { ServerCode } from './errors';
import { BatchIssue, BatchValidationError, Manifest, issuesOf, keyOf, manifestOfText } from './model-adapter';
import {
  PErrorDetail, PObject, PObjectRef, PSyncRequest, PSyncResponse, services, toErrorDetail,
} from './proto';
import { TlsFiles, parseAddress, channelCredentials } from './transport';

export interface AgentSyncClientOptions {
  /** Controller address: unix:/path, /path, host:port. */
  address: string;
  /** This node's name (the NodeConfig's spec.nodeName). */
  node: string;
  token?: string;
  tls?: TlsFiles;
  /** Where the last applied configuration is kept (created if needed). */
  stateDir: string;
  /** Apply a configuration. Throw (a ValidationError, with field paths) to NACK it. */
  onConfig: (update: ConfigUpdate) => Promise<void>;
  /** Answer a relayed query (trace, flows, stats) with JSON. Absent: UNIMPLEMENTED. */
  onQuery?: (kind: string, json: string) => Promise<string>;
  agentVersion?: string;
  backoff?: { initialMs?: number; maxMs?: number; factor?: number; jitter?: number };
  maxMessageBytes?: number;
  /** fsync the state dir's writes (default true). */
  fsync?: boolean;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

/** One accepted-or-rejected step of the configuration, as onConfig sees it. */
export interface ConfigUpdate {
  version: number;
  /** SNAPSHOT: `upserts` is the whole configuration. DELTA: what changed since the running version. */
  type: 'SNAPSHOT' | 'DELTA';
  /** New or changed objects (every object for a SNAPSHOT). */
  upserts: Manifest[];
  /** Keys (`Kind/namespace/name`) of objects that are gone (DELTA only). */
  removes: string[];
  /** The whole configuration after this update. O(objects): built when called. */
  manifests(): Manifest[];
}

export interface PersistedConfig {
  version: number;
  storeId: string;
  manifests: Manifest[];
}

export interface AgentSyncStatus {
  node: string;
  connected: boolean;
  appliedVersion: number;
  storeId: string;
  objects: number;
  lastError: PErrorDetail | null;
  lastErrorVersion: number;
  reconnects: number;
  applies: number;
  nacks: number;
  /** Seconds the last onConfig took. */
  lastApplySeconds: number;
}

interface Entry {
  obj: PObject;
  manifest: Manifest;
}

interface Pending {
  type: 'SNAPSHOT' | 'DELTA';
  version: number;
  nonce: string;
  base: number;
  storeId: string;
  upserts: PObject[];
  removes: PObjectRef[];
  nextChunk: number;
}

/** The meta record in the state store: which controller version the objects are. */
const META_KEY = '_tapflow/agent/applied';

/**
 * Events: 'connected', 'disconnected' (err), 'applied' (version, seconds), 'nack' (version,
 * error), 'error' is never emitted (failures are logged and retried).
 */
export class AgentSyncClient extends EventEmitter {
  private readonly opts: AgentSyncClientOptions;
  private readonly client: grpc.Client;
  private readonly state: FileStore;
  private current = new Map<string, Entry>();
  private version = 0;
  private storeId = '';
  private call: grpc.ClientDuplexStream<PSyncRequest, PSyncResponse> | null = null;
  private pending: Pending | null = null;
  private queue: Promise<void> = Promise.resolve();
  private running = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private attempt = 0;
  /** The last persist failed: the next one rewrites everything that differs. */
  private persistStale = false;
  private readonly st: Omit<AgentSyncStatus, 'node' | 'appliedVersion' | 'storeId' | 'objects'> = {
    connected: false, lastError: null, lastErrorVersion: 0, reconnects: 0, applies: 0, nacks: 0, lastApplySeconds: 0,
  };
  private readonly log: (event: string, fields: Record<string, unknown>) => void;

  constructor(opts: AgentSyncClientOptions) {
    super();
    if (!opts.node) throw new TapflowError('node: required', { code: ErrorCode.MISSING_FIELD, path: 'node' });
    this.opts = opts;
    this.log = opts.log ?? (() => undefined);
    const addr = parseAddress(opts.address);
    const { AgentSync } = services();
    this.client = new AgentSync(addr.target, channelCredentials(opts.tls), {
      ...clientChannelOptions(opts),
      'grpc.initial_reconnect_backoff_ms': 250,
      'grpc.max_reconnect_backoff_ms': 5000,
    });
    this.state = FileStore.open(opts.stateDir, { fsync: opts.fsync ?? true, historyLimit: 1, warn: (m) => this.log('state-warning', { message: m }) });
    this.restore();
  }

  /**
   * The last applied configuration from stateDir (what the agent should forward with at start,
   * controller or not), or null when there is none. Throws when it no longer validates.
   */
  loadPersisted(): PersistedConfig | null {
    if (this.version === 0) return null;
    return { version: this.version, storeId: this.storeId, manifests: this.manifests() };
  }

  /** The configuration running now (the last applied). */
  manifests(): Manifest[] {
    return [...this.current.values()].map((e) => e.manifest);
  }

  get appliedVersion(): number {
    return this.version;
  }

  status(): AgentSyncStatus {
    return { node: this.opts.node, appliedVersion: this.version, storeId: this.storeId, objects: this.current.size, ...this.st };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const call = this.call;
    this.call = null;
    if (call) {
      call.removeAllListeners('data');
      call.on('error', () => undefined);
      call.cancel();
    }
    await this.queue.catch(() => undefined);
    this.client.close();
    this.state.close();
  }

  // ─── Stream ────────────────────────────────────────────────────────────────────────────────

  private connect(): void {
    if (!this.running) return;
    const fn = (this.client as unknown as Record<string, () => grpc.ClientDuplexStream<PSyncRequest, PSyncResponse>>).Sync.bind(this.client);
    const call = fn();
    this.call = call;
    this.pending = null;
    let ended = false;
    const end = (err: Error | null) => {
      if (ended) return;
      ended = true;
      if (this.call === call) this.call = null;
      const was = this.st.connected;
      this.st.connected = false;
      if (was) this.emit('disconnected', err);
      this.log('sync-disconnected', { error: err?.message ?? null });
      this.scheduleReconnect();
    };
    call.on('metadata', () => {
      this.st.connected = true;
      this.emit('connected');
    });
    call.on('data', (m: PSyncResponse) => this.onResponse(call, m));
    call.on('error', (err) => end(err));
    call.on('end', () => end(null));
    call.write(this.request({
      type: 'HELLO', node: this.opts.node, lastAppliedVersion: this.version, storeId: this.storeId,
      agentVersion: this.opts.agentVersion ?? '',
    }));
  }

  private scheduleReconnect(): void {
    if (!this.running || this.retryTimer !== null) return;
    const b = this.opts.backoff ?? {};
    const initial = b.initialMs ?? 250;
    const max = b.maxMs ?? 30000;
    const factor = b.factor ?? 2;
    const jitter = b.jitter ?? 0.2;
    const base = Math.min(max, initial * Math.pow(factor, this.attempt));
    const delay = Math.max(0, Math.round(base * (1 - jitter + 2 * jitter * Math.random())));
    this.attempt++;
    this.st.reconnects++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
    this.retryTimer.unref?.();
  }

  private onResponse(call: grpc.ClientDuplexStream<PSyncRequest, PSyncResponse>, m: PSyncResponse): void {
    if (call !== this.call) return;
    if (!this.st.connected) {
      this.st.connected = true;
      this.emit('connected');
    }
    if (m.type === 'QUERY') {
      void this.answerQuery(call, m);
      return;
    }
    let p = this.pending;
    if (p === null || p.nonce !== m.nonce) {
      if (m.chunk !== 0) return; // the tail of a push we did not see start: wait for the next one
      p = { type: m.type, version: m.version, nonce: m.nonce, base: m.baseVersion, storeId: m.storeId, upserts: [], removes: [], nextChunk: 0 };
      this.pending = p;
    }
    if (m.chunk !== p.nextChunk) {
      this.pending = null;
      return;
    }
    p.nextChunk++;
    for (const o of m.upserts) p.upserts.push(o);
    for (const r of m.removes) p.removes.push(r);
    if (!m.last) return;
    this.pending = null;
    const push = p;
    this.attempt = 0; // this stream works: the next reconnect starts from the initial delay
    this.queue = this.queue.then(() => this.applyPush(call, push)).catch((err: unknown) => {
      this.log('sync-apply-internal-error', { error: (err as Error)?.message ?? String(err) });
    });
  }

  private async applyPush(call: grpc.ClientDuplexStream<PSyncRequest, PSyncResponse>, p: Pending): Promise<void> {
    const nack = (err: unknown) => {
      const detail = toErrorDetail(err);
      this.st.nacks++;
      this.st.lastError = detail;
      this.st.lastErrorVersion = p.version;
      this.log('sync-nack', { version: p.version, code: detail.code, path: detail.path, message: detail.message });
      this.emit('nack', p.version, detail);
      if (this.call === call) call.write(this.request({ type: 'NACK', version: p.version, nonce: p.nonce, error: detail }));
    };
    if (p.type === 'DELTA' && (p.base !== this.version || p.storeId !== this.storeId)) {
      nack(new TapflowError(`delta from version ${p.base} of store ${p.storeId}, but this agent runs version ${this.version} of store ${this.storeId || '(none)'}`, { code: ServerCode.RESYNC }));
      return;
    }
    // Parse only what is new; the running map is not touched until the update is accepted.
    const snapshot = p.type === 'SNAPSHOT';
    const next = snapshot ? new Map<string, Entry>() : null;
    const changed = new Map<string, Entry>();
    const removed = new Set<string>();
    const issues: BatchIssue[] = [];
    for (const r of p.removes) {
      const key = keyOf(r.kind, r.namespace, r.name);
      if (this.current.has(key)) removed.add(key);
    }
    for (const o of p.upserts) {
      const key = keyOf(o.kind, o.namespace, o.name);
      removed.delete(key);
      const old = this.current.get(key);
      if (old !== undefined && old.obj.text === o.text) {
        next?.set(key, old);
        continue;
      }
      try {
        const manifest = manifestOfText(o.text, key);
        if (manifest.key !== key) throw new TapflowError(`the controller sent ${key} but the text is ${manifest.key}`, { code: ErrorCode.INVALID_FIELD, path: 'metadata.name' });
        const e = { obj: o, manifest };
        changed.set(key, e);
        next?.set(key, e);
      } catch (err) {
        issues.push(...issuesOf(err, { key }));
      }
    }
    if (issues.length > 0) {
      nack(new BatchValidationError(issues));
      return;
    }
    if (next !== null) for (const key of this.current.keys()) if (!next.has(key)) removed.add(key);
    if (snapshot || changed.size > 0 || removed.size > 0) {
      const current = this.current;
      const update: ConfigUpdate = {
        version: p.version, type: p.type,
        upserts: snapshot ? [...next!.values()].map((e) => e.manifest) : [...changed.values()].map((e) => e.manifest),
        removes: snapshot ? [] : [...removed],
        manifests: () => {
          if (next !== null) return [...next.values()].map((e) => e.manifest);
          const out: Manifest[] = [];
          for (const [k, e] of current) if (!removed.has(k) && !changed.has(k)) out.push(e.manifest);
          for (const e of changed.values()) out.push(e.manifest);
          return out;
        },
      };
      const t0 = process.hrtime.bigint();
      try {
        await this.opts.onConfig(update);
      } catch (err) {
        nack(err);
        return;
      } finally {
        this.st.lastApplySeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      }
    }
    if (next !== null) {
      this.current = next;
    } else {
      for (const k of removed) this.current.delete(k);
      for (const [k, e] of changed) this.current.set(k, e);
    }
    this.version = p.version;
    this.storeId = p.storeId;
    this.st.applies++;
    if (this.st.lastErrorVersion <= p.version) this.st.lastError = null;
    try {
      this.persist(snapshot || this.persistStale ? null : { changed, removed });
      this.persistStale = false;
    } catch (err) {
      // The configuration runs; only its copy on disk is stale (the next push rewrites all of it). Say so; ACK anyway.
      this.persistStale = true;
      this.log('sync-persist-failed', { version: p.version, error: (err as Error).message });
    }
    this.emit('applied', p.version, this.st.lastApplySeconds);
    this.log('sync-applied', { version: p.version, type: p.type, objects: this.current.size, seconds: this.st.lastApplySeconds });
    if (this.call === call) call.write(this.request({ type: 'ACK', version: p.version, nonce: p.nonce }));
  }

  private async answerQuery(call: grpc.ClientDuplexStream<PSyncRequest, PSyncResponse>, m: PSyncResponse): Promise<void> {
    let res: Partial<PSyncRequest>;
    try {
      if (this.opts.onQuery === undefined) {
        throw new TapflowError(`this agent does not answer ${m.queryKind} queries`, { code: 'UNIMPLEMENTED' });
      }
      res = { resultJson: await this.opts.onQuery(m.queryKind, m.queryJson) };
    } catch (err) {
      res = { error: toErrorDetail(err) };
    }
    if (this.call === call) call.write(this.request({ type: 'QUERY_RESULT', queryId: m.queryId, ...res }));
  }

  private request(r: Partial<PSyncRequest>): PSyncRequest {
    return {
      type: 'HELLO', node: this.opts.node, lastAppliedVersion: 0, storeId: '', agentVersion: '', version: 0, nonce: '',
      error: null, queryId: 0, resultJson: '', ...r,
    };
  }

  // ─── Persistence (a FileStore in stateDir) ─────────────────────────────────────────────────

  private restore(): void {
    const meta = this.state.get(META_KEY)?.raw as { version?: number; storeId?: string; node?: string } | undefined;
    if (meta === undefined || typeof meta.version !== 'number') return;
    if (meta.node !== this.opts.node) {
      this.log('state-other-node', { persistedNode: meta.node, node: this.opts.node });
      return;
    }
    const current = new Map<string, Entry>();
    for (const o of this.state.values()) {
      if (o.key === META_KEY) continue;
      // Objects are kept as their wire text (older state dirs: as parsed JSON).
      const text = typeof o.raw === 'string' ? o.raw : JSON.stringify(o.raw);
      try {
        current.set(o.key, { obj: { kind: o.kind, apiVersion: o.apiVersion, namespace: o.namespace, name: o.name, text, source: '', doc: 0, version: 0 }, manifest: manifestOfText(text, o.key) });
      } catch (err) {
        // The model no longer accepts what was applied: start empty, the controller sends a snapshot.
        this.log('state-invalid', { key: o.key, error: (err as Error).message });
        return;
      }
    }
    this.current = current;
    this.version = meta.version;
    this.storeId = meta.storeId ?? '';
  }

  /**
   * Write the running configuration to stateDir as one record: only `delta` (what this update
   * changed), or with null everything that differs from the store (snapshots, and after a
   * failed write). Objects are stored as their wire text, never re-parsed.
   */
  private persist(delta: { changed: Map<string, Entry>; removed: Set<string> } | null): void {
    const upserts: ObjectInput[] = [];
    const deletes: string[] = [];
    const input = (key: string, e: Entry): ObjectInput => ({ key, kind: e.obj.kind, apiVersion: e.obj.apiVersion, namespace: e.obj.namespace, name: e.obj.name, raw: e.obj.text });
    if (delta !== null) {
      for (const [key, e] of delta.changed) upserts.push(input(key, e));
      for (const key of delta.removed) deletes.push(key);
    } else {
      for (const [key, e] of this.current) {
        if (this.state.get(key)?.raw === e.obj.text) continue;
        upserts.push(input(key, e));
      }
      for (const o of this.state.values()) if (o.key !== META_KEY && !this.current.has(o.key)) deletes.push(o.key);
    }
    upserts.push({ key: META_KEY, kind: '_tapflow', apiVersion: '', namespace: 'agent', name: 'applied', raw: { version: this.version, storeId: this.storeId, node: this.opts.node } });
    this.state.commit(upserts, deletes);
  }
}
