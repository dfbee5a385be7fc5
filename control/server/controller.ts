/**
 * The controller: the desired state (a FileStore, validated through the model), the Control
 * service (Apply/Get/List/Delete/Watch, Trace/Flows/Stats relayed to agents) and AgentSync
 * (agent-stream.ts), served with @grpc/grpc-js on a unix socket or an address, with server
 * reflection.
 *
 * Apply is atomic: every object of the batch is parsed and validated (each text through the
 * model's loader, then the whole next state), every problem is collected with its source,
 * document and field path, and only a batch without any problem is committed — as one journal
 * record, one version. `Controller` is the transport-free core (tests and the bench use it
 * directly); `ControlServer` puts it on gRPC.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { ConflictError, ErrorCode, NotFoundError, TapflowError } from '../model/errors';
import { Change, FileStore, FileStoreOptions, ObjectInput, StoredObject, rawTextOf } from '../store/file-store';
import { AgentHub, AgentHubOptions, SyncCall, refOfKey, wireObject } from './agent-stream';
import { ServerError } from './errors';
import { badUtf8Of, withStrictStrings } from './strict-strings';
import { invalidUtf8Message, utf8Problem } from '../model/utf8';
import {
  BatchIssue, BatchValidationError, DesiredState, ParsedObject, RequestFieldError, isNamespaced, issuesOf, keyOf,
  parseText, requireKind, resolveKind, storedToParsed,
} from './model-adapter';
import {
  PApplyRequest, PApplyResponse, PDeleteRequest, PFlowsRequest, PFlowsResponse, PGetRequest, PGetResponse, PListRequest,
  PListResponse, PObjectRef, PObjectResult, PStatsRequest, PStatsResponse, PTraceRequest, PTraceResponse,
  PWatchEvent, PWatchRequest, packageDefinition, services, toServiceError,
} from './proto';
import {
  DEFAULT_MAX_MESSAGE_BYTES, TlsFiles, bearerInterceptor, checkListenPolicy, parseAddress, serverCredentials,
} from './transport';

export type Logger = (event: string, fields: Record<string, unknown>) => void;

export function serverVersion(): string {
  for (const p of [path.resolve(__dirname, '..', '..', '..', 'package.json'), path.resolve(__dirname, '..', '..', 'package.json')]) {
    try {
      return (JSON.parse(fs.readFileSync(p, 'utf8')) as { version: string }).version;
    } catch {
      // try the next
    }
  }
  return '0.0.0';
}

interface Watcher {
  call: grpc.ServerWritableStream<PWatchRequest, PWatchEvent>;
  kinds: Set<string> | null;
  namespace: string;
}

export interface ControllerOptions {
  store?: FileStoreOptions;
  hub?: AgentHubOptions;
  /** Buffered events per watcher before it is cut off as too slow (default 10000). */
  maxWatchBacklog?: number;
  /** Watch streams at once (default 1000). */
  maxWatchers?: number;
  log?: Logger;
}

/** The transport-free core: store + validated state + agent hub + watchers. */
export class Controller {
  readonly store: FileStore;
  readonly hub: AgentHub;
  private state: DesiredState;
  private watchers = new Set<Watcher>();
  private readonly maxWatchBacklog: number;
  private readonly maxWatchers: number;
  private readonly log: Logger;

  constructor(dataDir: string, opts: ControllerOptions = {}) {
    this.log = opts.log ?? (() => undefined);
    this.store = FileStore.open(dataDir, { ...opts.store, warn: (m) => this.log('store-warning', { message: m }) });
    this.maxWatchBacklog = opts.maxWatchBacklog ?? 10000;
    this.maxWatchers = opts.maxWatchers ?? 1000;
    const manifests = [];
    for (const o of this.store.values()) {
      try {
        manifests.push(storedToParsed(o).manifest);
      } catch (err) {
        // The model got stricter than the data: keep serving the object (agents decide), say so.
        this.log('store-invalid-object', { key: o.key, error: (err as Error).message });
      }
    }
    this.state = new DesiredState(manifests);
    this.hub = new AgentHub(this.store, { ...opts.hub, log: opts.hub?.log ?? this.log });
    this.store.onCommit((r) => this.fanOut(r.version, r.changes));
  }

  get version(): number {
    return this.store.version;
  }

  /** The validated desired state (read-only for callers; updated in place on every commit). */
  desired(): DesiredState {
    return this.state;
  }

  /** Validate a batch all together; commit it all or nothing as one version. */
  apply(req: Pick<PApplyRequest, 'upserts' | 'deletes'> & Partial<PApplyRequest>, opts: { deletesField?: string } = {}): PApplyResponse {
    if (req.expectedVersion && req.expectedVersion !== this.store.version) {
      throw new ConflictError(`the desired state is at version ${this.store.version}, not ${req.expectedVersion}; read it again and retry`);
    }
    const issues: BatchIssue[] = [];
    const parsed: ParsedObject[] = [];
    const seen = new Map<string, string>();
    req.upserts.forEach((o, i) => {
      const source = o.source || `upserts[${i}]`;
      const kd = o.kind !== '' ? resolveKind(o.kind) : undefined;
      const named = kd !== undefined && o.name !== '' ? this.resolveRef({ kind: o.kind, namespace: o.namespace, name: o.name }).key : undefined;
      const where = { source, doc: o.doc, ...(named !== undefined ? { key: named } : {}) };
      if (o.text.trim() === '') {
        issues.push({ ...where, path: 'text', code: ErrorCode.MISSING_FIELD, message: 'required: the object\'s manifest (JSON or YAML)' });
        return;
      }
      let objs: ParsedObject[];
      try {
        objs = parseText(o.text, source, where);
      } catch (err) {
        issues.push(...issuesOf(err, where));
        return;
      }
      if (objs.length !== 1) {
        issues.push({ ...where, path: '', code: ErrorCode.INVALID_FIELD, message: `expected exactly one object in the text, found ${objs.length}` });
        return;
      }
      const p = objs[0];
      const kw = { ...where, key: p.key };
      if (o.kind !== '' && (kd?.kind ?? o.kind) !== p.kind) issues.push({ ...kw, path: 'kind', code: ErrorCode.INVALID_FIELD, message: `the request names kind "${o.kind}" but the text is a ${p.kind}` });
      if (o.name !== '' && o.name !== p.name) issues.push({ ...kw, path: 'metadata.name', code: ErrorCode.INVALID_FIELD, message: `the request names "${o.name}" but the text names "${p.name}"` });
      if (o.namespace !== '' && o.namespace !== p.namespace) issues.push({ ...kw, path: 'metadata.namespace', code: ErrorCode.INVALID_FIELD, message: `the request names namespace "${o.namespace}" but the object is in "${p.namespace}"` });
      const dup = seen.get(p.key);
      if (dup !== undefined) issues.push({ ...kw, path: 'metadata.name', code: ErrorCode.DUPLICATE_VALUE, message: `${p.key} appears twice in the batch (also ${dup})` });
      seen.set(p.key, `${source} doc ${o.doc}`);
      parsed.push(p);
    });
    const deletes: { kind: string; namespace: string; name: string; key: string }[] = [];
    const notFound = new Set<BatchIssue>();
    req.deletes.forEach((d, i) => {
      const source = `${opts.deletesField ?? 'deletes'}[${i}]`;
      try {
        this.checkRef(d, source);
      } catch (err) {
        if (!(err instanceof RequestFieldError)) throw err;
        issues.push(err.issue);
        return;
      }
      const ref = this.resolveRef(d);
      const where = { source, key: ref.key };
      if (seen.has(ref.key)) {
        issues.push({ ...where, path: '', code: ErrorCode.DUPLICATE_VALUE, message: `${ref.key} is both upserted and deleted in one batch` });
        return;
      }
      seen.set(ref.key, where.source);
      if (this.store.get(ref.key) === undefined && !req.ignoreNotFound) {
        const nf: BatchIssue = { ...where, path: '', code: ErrorCode.INVALID_FIELD, message: `${ref.key} not found` };
        notFound.add(nf);
        issues.push(nf);
        return;
      }
      deletes.push(ref);
    });
    if (issues.length > 0) {
      // A batch whose only problem is a missing delete target is NOT_FOUND, like kubectl delete.
      if (issues.every((i) => notFound.has(i))) {
        throw new NotFoundError(issues.map((i) => i.message).join('; '));
      }
      throw new BatchValidationError(issues);
    }
    // Cross-object checks of the model go here (nextState on a clone) once it has any; today
    // every rule is per object, so the state is updated in place after the commit below.

    const results: PObjectResult[] = [];
    for (const p of parsed) {
      const cur = this.store.get(p.key);
      const action = cur === undefined ? 'created' : rawTextOf(cur) === JSON.stringify(p.raw) && cur.apiVersion === p.apiVersion ? 'unchanged' : 'configured';
      results.push({ key: p.key, action });
    }
    for (const d of deletes) if (this.store.get(d.key) !== undefined) results.push({ key: d.key, action: 'deleted' });
    if (req.dryRun) return { version: this.store.version, results };

    const upserts: ObjectInput[] = parsed.map((p) => ({
      key: p.key, kind: p.kind, apiVersion: p.apiVersion, namespace: p.namespace, name: p.name, raw: p.raw,
      ...(p.source ? { source: p.source } : {}),
    }));
    // Update the validated state first (commit() listeners may read it), undo if the commit fails.
    const undo: (() => void)[] = [];
    for (const d of deletes) {
      const old = this.state.get(d.kind, d.namespace, d.name);
      this.state.delete(d.kind, d.namespace, d.name);
      if (old !== undefined) undo.push(() => this.state.upsert(old));
    }
    for (const p of parsed) {
      const old = this.state.get(p.kind, p.namespace, p.name);
      this.state.upsert(p.manifest);
      undo.push(() => (old !== undefined ? this.state.upsert(old) : this.state.delete(p.kind, p.namespace, p.name)));
    }
    let version: number;
    try {
      version = this.store.commit(upserts, deletes.map((d) => d.key)).version;
    } catch (err) {
      for (let i = undo.length - 1; i >= 0; i--) undo[i]();
      throw err;
    }
    this.log('apply', { version, upserts: upserts.length, deletes: deletes.length });
    return { version, results };
  }

  get(req: PGetRequest): PGetResponse {
    this.checkRef(req);
    const ref = this.resolveRef(req);
    const o = this.store.get(ref.key);
    if (o === undefined) {
      throw new NotFoundError(`${ref.kind} "${ref.name}" not found${isNamespaced(ref.kind) ? ` in namespace "${ref.namespace}"` : ''}`);
    }
    return { object: wireObject(o), version: this.store.version };
  }

  list(req: PListRequest): PListResponse {
    const kind = req.kind === '' ? '' : requireKind(req.kind, 'kind').kind;
    return { objects: this.store.list(kind, req.namespace).map(wireObject), version: this.store.version };
  }

  stats(): Omit<PStatsResponse, 'agentStatsJson'> {
    return {
      serverVersion: serverVersion(), version: this.store.version, storeId: this.store.storeId,
      objects: this.store.size, agents: this.hub.statuses(),
    };
  }

  /** Serve one Watch stream. */
  watch(call: grpc.ServerWritableStream<PWatchRequest, PWatchEvent>): void {
    if (this.watchers.size >= this.maxWatchers) {
      call.emit('error', toServiceError(new ServerError('RESOURCE_EXHAUSTED', `too many watchers (max ${this.maxWatchers})`)));
      return;
    }
    const req = call.request;
    const kinds = req.kinds.length > 0 ? new Set(req.kinds.map((k, i) => requireKind(k, `kinds[${i}]`).kind)) : null;
    const w: Watcher = { call, kinds, namespace: req.namespace };
    const match = (o: { kind: string; namespace: string }) => (w.kinds === null || w.kinds.has(o.kind)) && (w.namespace === '' || o.namespace === w.namespace);
    const v = this.store.version;
    const since = req.sinceVersion > 0 ? this.store.changesSince(req.sinceVersion) : null;
    if (since !== null) {
      for (const key of since) this.sendChange(w, v, key, this.store.get(key), match, false);
    } else {
      for (const o of this.store.list()) if (match(o)) call.write({ type: 'ADDED', version: v, object: wireObject(o) });
      call.write({ type: 'SYNCED', version: v, object: null });
    }
    this.watchers.add(w);
    const done = () => this.watchers.delete(w);
    call.on('cancelled', done);
    call.on('close', done);
    call.on('error', done);
  }

  close(): void {
    for (const w of this.watchers) w.call.end();
    this.watchers.clear();
    this.hub.close();
    this.store.close();
  }

  /** Delete's refs, checked before anything is looked up: the first bad one throws. */
  delete(req: PDeleteRequest): PApplyResponse {
    if (req.refs.length === 0) throw new RequestFieldError(ErrorCode.MISSING_FIELD, 'refs', 'required: at least one object to delete');
    req.refs.forEach((r, i) => this.checkRef(r, `refs[${i}]`));
    return this.apply({ upserts: [], deletes: req.refs, ignoreNotFound: req.ignoreNotFound }, { deletesField: 'refs' });
  }

  /** A ref's required fields: kind (known) and name. Throws RequestFieldError. */
  checkRef(r: PObjectRef, source?: string): void {
    requireKind(r.kind, 'kind', source);
    if (r.name === '') throw new RequestFieldError(ErrorCode.MISSING_FIELD, 'name', 'required: the object\'s name', source);
  }

  /** A ref with the kind resolved (`svc` → Service) and the namespace defaulted. */
  resolveRef(r: PObjectRef): { kind: string; namespace: string; name: string; key: string } {
    const kd = resolveKind(r.kind);
    const kind = kd?.kind ?? r.kind;
    const namespaced = kd?.namespaced ?? true;
    const namespace = namespaced ? (r.namespace || (kd?.arm ? '' : 'default')) : '';
    return { kind, namespace, name: r.name, key: keyOf(kind, namespace, r.name) };
  }

  private fanOut(version: number, changes: Change[]): void {
    for (const w of this.watchers) {
      const match = (o: { kind: string; namespace: string }) => (w.kinds === null || w.kinds.has(o.kind)) && (w.namespace === '' || o.namespace === w.namespace);
      for (const c of changes) this.sendChange(w, version, c.key, c.after, match, c.before === undefined);
      if (w.call.writableLength > this.maxWatchBacklog) {
        this.watchers.delete(w);
        w.call.emit('error', toServiceError(new ServerError('RESOURCE_EXHAUSTED', `watcher too slow: more than ${this.maxWatchBacklog} events buffered`)));
      }
    }
  }

  private sendChange(w: Watcher, version: number, key: string, after: StoredObject | undefined, match: (o: { kind: string; namespace: string }) => boolean, created: boolean): void {
    if (after !== undefined) {
      if (!match(after)) return;
      w.call.write({ type: created ? 'ADDED' : 'MODIFIED', version, object: wireObject(after) });
      return;
    }
    const ref = refOfKey(key);
    if (!match(ref)) return;
    w.call.write({
      type: 'DELETED', version,
      object: { kind: ref.kind, apiVersion: '', namespace: ref.namespace, name: ref.name, text: '', source: '', doc: 0, version },
    });
  }
}

export interface ControlServerOptions extends ControllerOptions {
  /** unix:/path, /path, host:port or [v6]:port (port 0: any free port). */
  listen: string;
  dataDir: string;
  /** Bearer token required on every call (`authorization: Bearer <token>`). */
  token?: string;
  /** Mutual TLS. */
  tls?: TlsFiles;
  /** Max gRPC message size, both directions (default 16 MiB). */
  maxMessageBytes?: number;
  /** Max concurrent streams per client connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS, default 100). */
  maxStreamsPerClient?: number;
}


/** The controller on gRPC. */
export class ControlServer {
  private stopped = false;

  private constructor(
    readonly controller: Controller,
    readonly server: grpc.Server,
    /** The address clients use (with the real port when 0 was asked for). */
    readonly address: string,
    private readonly socketPath: string | null,
  ) {}

  static async start(opts: ControlServerOptions): Promise<ControlServer> {
    const addr = parseAddress(opts.listen);
    checkListenPolicy(addr, opts.token, opts.tls);
    const maxMsg = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const controller = new Controller(opts.dataDir, { ...opts, hub: { chunkBytes: Math.max(64 * 1024, Math.floor(maxMsg / 4)), ...opts.hub } });
    try {
      const server = new grpc.Server({
        'grpc.max_receive_message_length': maxMsg,
        'grpc.max_send_message_length': maxMsg,
        'grpc.max_concurrent_streams': opts.maxStreamsPerClient ?? 100,
        'grpc.keepalive_time_ms': 30000,
        'grpc.keepalive_timeout_ms': 10000,
        'grpc.keepalive_permit_without_calls': 1,
        'grpc.http2.min_ping_interval_without_data_ms': 5000,
        interceptors: opts.token !== undefined ? [bearerInterceptor(opts.token)] : [],
      });
      const svc = services();
      server.addService(withStrictStrings(svc.Control.service), controlHandlers(controller));
      server.addService(svc.AgentSync.service, {
        Sync: (call: SyncCall) => controller.hub.handle(call),
      });
      new ReflectionService(packageDefinition()).addToServer(server);

      let socketPath: string | null = null;
      if (addr.kind === 'unix') {
        socketPath = addr.path;
        fs.mkdirSync(path.dirname(addr.path), { recursive: true, mode: 0o755 });
        removeStaleSocket(addr.path);
      }
      const port = await new Promise<number>((resolve, reject) => {
        server.bindAsync(addr.target, serverCredentials(opts.tls), (err, p) => (err ? reject(err) : resolve(p)));
      });
      if (socketPath !== null) fs.chmodSync(socketPath, 0o600);
      const address = addr.kind === 'unix' ? addr.target : addr.target.replace(/:\d+$/, `:${port}`);
      return new ControlServer(controller, server, address, socketPath);
    } catch (err) {
      controller.close();
      throw err;
    }
  }

  /** Stop accepting calls, end streams, close the store. Waits at most graceMs for calls to finish. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.controller.hub.close();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      t.unref();
      this.server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
    this.controller.close();
    if (this.socketPath !== null) fs.rmSync(this.socketPath, { force: true });
  }
}

function removeStaleSocket(p: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new ServerError('FAILED_PRECONDITION', `${p} exists and is not a socket; refusing to replace it`);
  fs.rmSync(p, { force: true });
}

/** A JSON-object request argument ('' = none): PARSE_ERROR / INVALID_TYPE naming `path`. */
function jsonObjectArg(text: string, path: string): Record<string, unknown> {
  if (text === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new RequestFieldError(ErrorCode.PARSE_ERROR, path, `not valid JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new RequestFieldError(ErrorCode.INVALID_TYPE, path, `expected a JSON object, got ${v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v}`);
  }
  return v as Record<string, unknown>;
}

const FLOW_PROTOS = ['tcp', 'udp', 'sctp', 'icmp', 'icmpv6'];

/** Flows' filter_json: {limit?, proto?, address?}, checked field by field (the agent would ignore what it does not understand). */
function flowsFilter(text: string): { limit: number; proto?: string; address?: string } {
  const f = jsonObjectArg(text, 'filterJson');
  const out: { limit: number; proto?: string; address?: string } = { limit: 0 };
  for (const [k, v] of Object.entries(f)) {
    const path = `filterJson.${k}`;
    if (v === null || v === undefined) continue;
    if (k === 'limit') {
      if (typeof v !== 'number' || !Number.isInteger(v)) throw new RequestFieldError(ErrorCode.INVALID_TYPE, path, 'expected an integer');
      if (v < 0) throw new RequestFieldError(ErrorCode.INVALID_FIELD, path, 'must not be negative');
      out.limit = v;
    } else if (k === 'proto') {
      if (typeof v !== 'string') throw new RequestFieldError(ErrorCode.INVALID_TYPE, path, 'expected a string');
      if (!FLOW_PROTOS.includes(v.toLowerCase())) throw new RequestFieldError(ErrorCode.INVALID_FIELD, path, `unknown protocol ${JSON.stringify(v)}; one of ${FLOW_PROTOS.join(', ')}`);
      out.proto = v.toLowerCase();
    } else if (k === 'address') {
      if (typeof v !== 'string') throw new RequestFieldError(ErrorCode.INVALID_TYPE, path, 'expected a string (an IP address)');
      out.address = v;
    } else {
      throw new RequestFieldError(ErrorCode.UNKNOWN_FIELD, path, 'unknown filter field; known: limit, proto, address');
    }
  }
  return out;
}

type Unary<Req, Res> = (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => void;

/**
 * Refuse a request with string fields that were not UTF-8 (strict-strings.ts): a manifest text
 * names its source, document and the field the bad bytes are in; any other field is named as
 * the request field (`refs[0].name`).
 */
function refuseInvalidUtf8(req: unknown): void {
  const bad = badUtf8Of(req);
  if (bad.length === 0) return;
  const upserts = (req as Partial<PApplyRequest>).upserts;
  if (upserts === undefined) throw new RequestFieldError(ErrorCode.PARSE_ERROR, bad[0].path, invalidUtf8Message(bad[0].bytes, bad[0].offset));
  throw new BatchValidationError(bad.map((b): BatchIssue => {
    const m = /^upserts\[(\d+)\]\.text$/.exec(b.path);
    const p = m !== null ? utf8Problem(b.bytes) : null;
    if (m === null || p === null) return { path: b.path, code: ErrorCode.PARSE_ERROR, message: invalidUtf8Message(b.bytes, b.offset) };
    const i = Number(m[1]);
    const o = upserts[i];
    return { source: o.source || `upserts[${i}]`, doc: o.doc + p.doc, path: p.field, code: p.code, message: `${b.path}: ${p.message}`, line: p.line, column: p.column };
  }));
}

function unary<Req, Res>(fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>): Unary<Req, Res> {
  return (call, cb) => {
    Promise.resolve()
      .then(() => refuseInvalidUtf8(call.request))
      .then(() => fn(call.request, call))
      .then((res) => cb(null, res), (err: unknown) => {
        if (!(err instanceof TapflowError)) process.stderr.write(`tapflow controller: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
        cb(toServiceError(err) as grpc.ServiceError, null);
      });
  };
}

function controlHandlers(c: Controller): grpc.UntypedServiceImplementation {
  const requireNode = (node: string): void => {
    if (!node) throw new RequestFieldError(ErrorCode.MISSING_FIELD, 'node', 'required (the agent to ask)');
  };
  return {
    Apply: unary<PApplyRequest, PApplyResponse>((req) => c.apply(req)),
    Get: unary<PGetRequest, PGetResponse>((req) => c.get(req)),
    List: unary<PListRequest, PListResponse>((req) => c.list(req)),
    Delete: unary<PDeleteRequest, PApplyResponse>((req) => c.delete(req)),
    Watch: (call: grpc.ServerWritableStream<PWatchRequest, PWatchEvent>) => {
      try {
        refuseInvalidUtf8(call.request);
        c.watch(call);
      } catch (err) {
        call.emit('error', toServiceError(err));
      }
    },
    Trace: unary<PTraceRequest, PTraceResponse>(async (req) => {
      requireNode(req.node);
      jsonObjectArg(req.packetJson, 'packetJson');
      return { node: req.node, resultJson: await c.hub.query(req.node, 'trace', req.packetJson || '{}') };
    }),
    Flows: unary<PFlowsRequest, PFlowsResponse>(async (req) => {
      requireNode(req.node);
      const f = flowsFilter(req.filterJson);
      // The agent reads {limit, proto, address} at the top level.
      const limit = req.limit || f.limit;
      const q = { ...(limit ? { limit } : {}), ...(f.proto !== undefined ? { proto: f.proto } : {}), ...(f.address !== undefined ? { address: f.address } : {}) };
      return { node: req.node, flowsJson: await c.hub.query(req.node, 'flows', JSON.stringify(q)) };
    }),
    Stats: unary<PStatsRequest, PStatsResponse>(async (req) => ({
      ...c.stats(),
      agentStatsJson: req.node ? await c.hub.query(req.node, 'stats', '{}') : '',
    })),
  };
}
