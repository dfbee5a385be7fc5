/**
 * The controller's side of AgentSync.Sync (Envoy xDS style): one session per agent stream.
 *
 * HELLO {node, last_applied_version, store_id} → the controller answers with a DELTA from that
 * version when its history reaches back there (and the store id matches), else a SNAPSHOT of
 * every object relevant to the node (its own NodeConfig by spec.nodeName, and every object of
 * the other kinds). Afterwards each commit produces a DELTA relative to the version the agent
 * last ACKed. One push is in flight per agent: commits arriving meanwhile coalesce into the next
 * push (kube-proxy's "mark dirty, sync later"). A NACKed version is never resent; the next push
 * waits for a newer version and is computed from the agent's ACKed version, so the agent never
 * has to undo anything. NACK with code RESYNC (the agent's base does not match) forces a
 * SNAPSHOT. Large pushes are split into chunks of at most `chunkBytes` of object text, sent with
 * backpressure; the agent applies on the chunk marked `last`.
 *
 * The hub keeps a status per node (connected, acked/sent version, last error) that outlives the
 * stream, and relays queries (trace, flows, stats) to a connected agent.
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { ErrorCode, TapflowError } from '../model/errors';
import { rawTextOf } from '../store/file-store';
import type { CommitResult, FileStore, StoredObject } from '../store/file-store';
import { ServerCode, ServerError } from './errors';
import {
  PAgentStatus, PErrorDetail, PObject, PObjectRef, PSyncRequest, PSyncResponse, toServiceError,
} from './proto';

export type SyncCall = grpc.ServerDuplexStream<PSyncRequest, PSyncResponse>;

export interface AgentHubOptions {
  /** Split pushes into messages of at most this much object text (default 4 MiB). */
  chunkBytes?: number;
  /** At most this many agent sessions at once (default 10000). */
  maxAgents?: number;
  /** Relayed query timeout (default 10 s). */
  queryTimeoutMs?: number;
  /** Send the HELLO within this long after opening the stream (default 10 s). */
  helloTimeoutMs?: number;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

interface InFlight {
  nonce: string;
  version: number;
  type: 'SNAPSHOT' | 'DELTA';
}

interface PendingQuery {
  resolve: (json: string) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** Everything the controller remembers about one node's agent. */
export interface AgentRecord {
  node: string;
  connected: boolean;
  peer: string;
  agentVersion: string;
  ackedVersion: number;
  sentVersion: number;
  lastError: PErrorDetail | null;
  lastErrorVersion: number;
  nacks: number;
  connectedAtMs: number;
  lastSeenMs: number;
}

/** Is this stored object part of what `node`'s agent gets? */
export function relevantTo(o: StoredObject, node: string): boolean {
  if (o.kind !== 'NodeConfig') return true;
  const raw = o.raw as { spec?: { nodeName?: unknown }; metadata?: { name?: unknown } } | null;
  const nodeName = raw?.spec?.nodeName ?? raw?.metadata?.name;
  return nodeName === node;
}

/** The wire form of a stored object (its text made once, at commit: rawTextOf). */
export function wireObject(o: StoredObject): PObject {
  return { kind: o.kind, apiVersion: o.apiVersion, namespace: o.namespace, name: o.name, text: rawTextOf(o), source: o.source ?? '', doc: 0, version: o.version };
}

/** `Kind/namespace/name` → a ref. Parsed from the right: ARM kinds contain '/', names and namespaces never do. */
export function refOfKey(key: string): PObjectRef {
  const b = key.lastIndexOf('/');
  const a = key.lastIndexOf('/', b - 1);
  return { kind: key.slice(0, a), namespace: key.slice(a + 1, b), name: key.slice(b + 1) };
}

class Session {
  readonly record: AgentRecord;
  inFlight: InFlight | null = null;
  /** The agent's running version (what deltas are computed from). */
  acked = 0;
  /** Newest version the agent NACKed: never resend it. */
  nacked = 0;
  needSnapshot = false;
  sending = false;
  closed = false;
  hello = false;
  readonly queries = new Map<number, PendingQuery>();

  constructor(readonly call: SyncCall, record: AgentRecord) {
    this.record = record;
  }
}

function emptyResponse(): PSyncResponse {
  return {
    type: 'DELTA', version: 0, nonce: '', baseVersion: 0, storeId: '', upserts: [], removes: [],
    chunk: 0, last: true, queryId: 0, queryKind: '', queryJson: '',
  };
}

export class AgentHub {
  private readonly sessions = new Map<string, Session>();
  private readonly records = new Map<string, AgentRecord>();
  private readonly chunkBytes: number;
  private readonly maxAgents: number;
  private readonly queryTimeoutMs: number;
  private readonly helloTimeoutMs: number;
  private readonly log: (event: string, fields: Record<string, unknown>) => void;
  private queryId = 0;
  private unsubscribe: () => void;
  private closed = false;
  /** Waiters for "every connected agent acked ≥ v" (tests, bench, `apply --wait`). */
  private ackWaiters: { version: number; nodes: string[] | null; resolve: () => void }[] = [];

  constructor(private readonly store: FileStore, opts: AgentHubOptions = {}) {
    this.chunkBytes = opts.chunkBytes ?? 4 * 1024 * 1024;
    this.maxAgents = opts.maxAgents ?? 10000;
    this.queryTimeoutMs = opts.queryTimeoutMs ?? 10000;
    this.helloTimeoutMs = opts.helloTimeoutMs ?? 10000;
    this.log = opts.log ?? (() => undefined);
    this.unsubscribe = store.onCommit((r) => this.onCommit(r));
  }

  /** Serve one Sync stream. */
  handle(call: SyncCall): void {
    if (this.closed) {
      call.emit('error', toServiceError(new ServerError('UNAVAILABLE', 'controller is shutting down')));
      return;
    }
    let session: Session | null = null;
    const helloTimer = setTimeout(() => {
      if (session === null) this.fail(call, new ServerError('FAILED_PRECONDITION', `no HELLO within ${this.helloTimeoutMs} ms`));
    }, this.helloTimeoutMs);
    helloTimer.unref();
    call.on('data', (msg: PSyncRequest) => {
      try {
        if (session === null) {
          clearTimeout(helloTimer);
          session = this.onHello(call, msg);
          return;
        }
        this.onMessage(session, msg);
      } catch (err) {
        this.fail(call, err);
      }
    });
    const done = () => {
      clearTimeout(helloTimer);
      if (session !== null) this.onClosed(session);
    };
    call.on('end', () => {
      done();
      call.end();
    });
    call.on('cancelled', done);
    call.on('error', done);
    call.on('close', done);
  }

  /** The status of every agent seen since start (connected or not), sorted by node. */
  statuses(): PAgentStatus[] {
    return [...this.records.values()].sort((a, b) => (a.node < b.node ? -1 : 1)).map((r) => ({ ...r }));
  }

  record(node: string): AgentRecord | undefined {
    return this.records.get(node);
  }

  /**
   * Resolve when every named node (default: every connected agent) has ACKed `version` or newer,
   * or NACKed something at least that new (it has answered). For tests and benchmarks.
   */
  waitForAcks(version: number, nodes: string[] | null = null): Promise<void> {
    return new Promise((resolve) => {
      const w = { version, nodes, resolve };
      if (this.acksReached(w)) resolve();
      else this.ackWaiters.push(w);
    });
  }

  /** Relay a query to `node`'s agent; resolves with its JSON answer. */
  query(node: string, kind: string, json: string): Promise<string> {
    const s = this.sessions.get(node);
    if (s === undefined || s.closed) {
      return Promise.reject(new ServerError('UNAVAILABLE', `no agent of node "${node}" is connected`));
    }
    const id = ++this.queryId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        s.queries.delete(id);
        reject(new ServerError('DEADLINE_EXCEEDED', `agent of node "${node}" did not answer the ${kind} query within ${this.queryTimeoutMs} ms`));
      }, this.queryTimeoutMs);
      s.queries.set(id, { resolve, reject, timer });
      const m = emptyResponse();
      m.type = 'QUERY';
      m.queryId = id;
      m.queryKind = kind;
      m.queryJson = json;
      s.call.write(m);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    for (const s of this.sessions.values()) {
      this.endSession(s, new ServerError('UNAVAILABLE', 'controller is shutting down'));
    }
    for (const w of this.ackWaiters) w.resolve();
    this.ackWaiters = [];
  }

  // ─── Protocol ──────────────────────────────────────────────────────────────────────────────

  private onHello(call: SyncCall, msg: PSyncRequest): Session {
    if (msg.type !== 'HELLO') throw new ServerError('FAILED_PRECONDITION', `the first message must be HELLO, got ${msg.type}`);
    if (!msg.node) throw new TapflowError('HELLO.node: required', { code: ErrorCode.MISSING_FIELD, path: 'node' });
    if (!this.sessions.has(msg.node) && this.sessions.size >= this.maxAgents) {
      throw new ServerError('RESOURCE_EXHAUSTED', `too many agents connected (max ${this.maxAgents})`);
    }
    const old = this.sessions.get(msg.node);
    if (old !== undefined) this.endSession(old, new ServerError('UNAVAILABLE', 'replaced by a newer stream from the same node'));
    const now = Date.now();
    const prev = this.records.get(msg.node);
    const record: AgentRecord = {
      node: msg.node, connected: true, peer: call.getPeer(), agentVersion: msg.agentVersion,
      ackedVersion: msg.lastAppliedVersion, sentVersion: 0,
      lastError: prev?.lastError ?? null, lastErrorVersion: prev?.lastErrorVersion ?? 0, nacks: prev?.nacks ?? 0,
      connectedAtMs: now, lastSeenMs: now,
    };
    this.records.set(msg.node, record);
    const s = new Session(call, record);
    s.hello = true;
    const v = msg.lastAppliedVersion;
    if (v > 0 && msg.storeId === this.store.storeId && v <= this.store.version && this.store.changesSince(v) !== null) {
      s.acked = v;
    } else {
      s.needSnapshot = true;
      s.acked = 0;
    }
    this.sessions.set(msg.node, s);
    this.log('agent-connected', { node: msg.node, peer: record.peer, lastApplied: v, resume: !s.needSnapshot });
    this.pump(s);
    return s;
  }

  private onMessage(s: Session, msg: PSyncRequest): void {
    s.record.lastSeenMs = Date.now();
    switch (msg.type) {
      case 'ACK': {
        if (s.inFlight === null || msg.nonce !== s.inFlight.nonce) return; // stale: an answer to a superseded push
        s.acked = s.inFlight.version;
        s.record.ackedVersion = s.acked;
        if (s.acked >= s.record.lastErrorVersion) s.record.lastError = null;
        s.inFlight = null;
        this.log('agent-ack', { node: s.record.node, version: s.acked });
        this.checkWaiters();
        this.pump(s);
        return;
      }
      case 'NACK': {
        if (s.inFlight === null || msg.nonce !== s.inFlight.nonce) return;
        const v = s.inFlight.version;
        const wasDelta = s.inFlight.type === 'DELTA';
        s.inFlight = null;
        s.record.nacks++;
        s.record.lastError = msg.error ?? { code: ErrorCode.INTERNAL, message: 'NACK without an error', path: '', issues: [] };
        s.record.lastErrorVersion = v;
        this.log('agent-nack', { node: s.record.node, version: v, code: s.record.lastError.code, path: s.record.lastError.path, message: s.record.lastError.message });
        if (s.record.lastError.code === ServerCode.RESYNC && wasDelta) {
          s.needSnapshot = true; // the agent's base is not what we thought: start over (once: snapshots have no base)
        } else {
          s.nacked = Math.max(s.nacked, v);
        }
        this.checkWaiters();
        this.pump(s);
        return;
      }
      case 'QUERY_RESULT': {
        const q = s.queries.get(msg.queryId);
        if (q === undefined) return;
        s.queries.delete(msg.queryId);
        clearTimeout(q.timer);
        if (msg.error && msg.error.code) {
          q.reject(new TapflowError(msg.error.message, { code: msg.error.code, ...(msg.error.path ? { path: msg.error.path } : {}) }));
        } else {
          q.resolve(msg.resultJson);
        }
        return;
      }
      case 'HELLO':
        throw new ServerError('FAILED_PRECONDITION', 'HELLO sent twice on one stream');
      default:
        throw new ServerError('FAILED_PRECONDITION', `unknown message type ${String(msg.type)}`);
    }
  }

  private onCommit(_r: CommitResult): void {
    for (const s of this.sessions.values()) this.pump(s);
  }

  /** Send the next push if none is in flight and there is something newer than the agent has. */
  private pump(s: Session): void {
    if (s.closed || s.sending || s.inFlight !== null) return;
    const version = this.store.version;
    if (!s.needSnapshot) {
      if (version <= s.acked || version <= s.nacked) return;
    }
    let push: { type: 'SNAPSHOT' | 'DELTA'; upserts: PObject[]; removes: PObjectRef[]; base: number };
    const node = s.record.node;
    const keys = s.needSnapshot ? null : this.store.changesSince(s.acked);
    if (keys === null) {
      const upserts: PObject[] = [];
      for (const o of this.store.values()) if (relevantTo(o, node)) upserts.push(wireObject(o));
      push = { type: 'SNAPSHOT', upserts, removes: [], base: 0 };
    } else {
      const upserts: PObject[] = [];
      const removes: PObjectRef[] = [];
      for (const key of keys) {
        const o = this.store.get(key);
        if (o !== undefined && relevantTo(o, node)) upserts.push(wireObject(o));
        else removes.push(refOfKey(key));
      }
      push = { type: 'DELTA', upserts, removes, base: s.acked };
    }
    s.needSnapshot = false;
    const nonce = randomBytes(8).toString('hex');
    s.inFlight = { nonce, version, type: push.type };
    s.record.sentVersion = version;
    void this.send(s, push.type, version, nonce, push.base, push.upserts, push.removes);
  }

  private async send(s: Session, type: 'SNAPSHOT' | 'DELTA', version: number, nonce: string, base: number, upserts: PObject[], removes: PObjectRef[]): Promise<void> {
    s.sending = true;
    try {
      let chunk = 0;
      let i = 0;
      let r = 0;
      do {
        const m = emptyResponse();
        m.type = type;
        m.version = version;
        m.nonce = nonce;
        m.baseVersion = base;
        m.storeId = this.store.storeId;
        m.chunk = chunk++;
        let bytes = 0;
        while (i < upserts.length && (bytes === 0 || bytes + upserts[i].text.length <= this.chunkBytes)) {
          bytes += upserts[i].text.length + 64;
          m.upserts.push(upserts[i++]);
        }
        while (r < removes.length && bytes + 128 <= this.chunkBytes) {
          bytes += 128;
          m.removes.push(removes[r++]);
        }
        m.last = i >= upserts.length && r >= removes.length;
        if (s.closed) return;
        if (!s.call.write(m)) await new Promise<void>((resolve) => {
          const go = () => { s.call.off('drain', go); s.call.off('close', go); resolve(); };
          s.call.on('drain', go);
          s.call.on('close', go);
        });
        if (m.last) break;
      } while (!s.closed);
      this.log('agent-push', { node: s.record.node, type, version, base, upserts: upserts.length, removes: removes.length, chunks: chunk });
    } finally {
      s.sending = false;
    }
  }

  private onClosed(s: Session): void {
    if (s.closed) return;
    s.closed = true;
    for (const q of s.queries.values()) {
      clearTimeout(q.timer);
      q.reject(new ServerError('UNAVAILABLE', `agent of node "${s.record.node}" disconnected`));
    }
    s.queries.clear();
    if (this.sessions.get(s.record.node) === s) {
      this.sessions.delete(s.record.node);
      s.record.connected = false;
      s.record.lastSeenMs = Date.now();
      this.log('agent-disconnected', { node: s.record.node, acked: s.acked });
    }
    this.checkWaiters();
  }

  private endSession(s: Session, err: Error): void {
    this.onClosed(s);
    this.fail(s.call, err);
  }

  private fail(call: SyncCall, err: unknown): void {
    try {
      call.emit('error', toServiceError(err));
    } catch {
      // stream already gone
    }
  }

  private acksReached(w: { version: number; nodes: string[] | null }): boolean {
    const nodes = w.nodes ?? [...this.sessions.keys()];
    for (const n of nodes) {
      const s = this.sessions.get(n);
      if (s === undefined) {
        if (w.nodes !== null) return false; // a named node that is not connected has not answered
        continue;
      }
      if (s.acked < w.version && s.nacked < w.version) return false;
    }
    return true;
  }

  private checkWaiters(): void {
    if (this.ackWaiters.length === 0) return;
    const keep: typeof this.ackWaiters = [];
    for (const w of this.ackWaiters) {
      if (this.closed || this.acksReached(w)) w.resolve();
      else keep.push(w);
    }
    this.ackWaiters = keep;
  }
}
