/**
 * Loading control/proto/tapflow.proto (with @grpc/proto-loader) and the TypeScript shapes of its
 * messages as proto-loader decodes them (camelCase fields, enums as strings, uint64 as numbers,
 * defaults filled in). Also: errors ↔ gRPC status + metadata.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ErrorCode, TapflowError, ValidationError } from '../model/errors';
import { statusOf } from './errors';
import { BatchIssue, flatIssues } from './model-adapter';

export const PROTO_PACKAGE = 'tapflow.v1';

/** Where tapflow.proto is: beside the sources (control/proto), found from dist/ or from the source tree. */
export function protoPath(): string {
  const candidates = [
    path.resolve(__dirname, '..', '..', '..', 'control', 'proto', 'tapflow.proto'), // dist/control/server → repo
    path.resolve(__dirname, '..', 'proto', 'tapflow.proto'),
  ];
  for (const p of candidates) if (fs.existsSync(p)) return p;
  throw new Error(`tapflow.proto not found (looked in ${candidates.join(', ')})`);
}

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  oneofs: false,
};

let cached: protoLoader.PackageDefinition | null = null;

export function packageDefinition(): protoLoader.PackageDefinition {
  if (cached === null) cached = protoLoader.loadSync(protoPath(), LOADER_OPTIONS);
  return cached;
}

interface ServiceCtor {
  new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions): grpc.Client;
  service: grpc.ServiceDefinition;
}

export function services(): { Control: ServiceCtor; AgentSync: ServiceCtor } {
  const root = grpc.loadPackageDefinition(packageDefinition()) as unknown as { tapflow: { v1: { Control: ServiceCtor; AgentSync: ServiceCtor } } };
  return { Control: root.tapflow.v1.Control, AgentSync: root.tapflow.v1.AgentSync };
}

// ─── Message shapes (as decoded with LOADER_OPTIONS) ───────────────────────────────────────

export interface PObject {
  kind: string;
  apiVersion: string;
  namespace: string;
  name: string;
  text: string;
  source: string;
  doc: number;
  version: number;
}
export interface PObjectRef { kind: string; namespace: string; name: string }
export interface PFieldIssue { source: string; doc: number; key: string; path: string; code: string; message: string }
export interface PErrorDetail { code: string; message: string; path: string; issues: PFieldIssue[] }

export interface PApplyRequest {
  upserts: PObject[];
  deletes: PObjectRef[];
  dryRun: boolean;
  expectedVersion: number;
  ignoreNotFound: boolean;
}
export interface PObjectResult { key: string; action: 'created' | 'configured' | 'unchanged' | 'deleted' }
export interface PApplyResponse { version: number; results: PObjectResult[] }
export interface PGetRequest { kind: string; namespace: string; name: string }
export interface PGetResponse { object: PObject | null; version: number }
export interface PListRequest { kind: string; namespace: string }
export interface PListResponse { objects: PObject[]; version: number }
export interface PDeleteRequest { refs: PObjectRef[]; ignoreNotFound: boolean }
export interface PWatchRequest { kinds: string[]; namespace: string; sinceVersion: number }
export type PWatchType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'SYNCED';
export interface PWatchEvent { type: PWatchType; version: number; object: PObject | null }
export interface PTraceRequest { node: string; packetJson: string }
export interface PTraceResponse { node: string; resultJson: string }
export interface PFlowsRequest { node: string; limit: number; filterJson: string }
export interface PFlowsResponse { node: string; flowsJson: string }
export interface PStatsRequest { node: string }
export interface PAgentStatus {
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
export interface PStatsResponse {
  serverVersion: string;
  version: number;
  storeId: string;
  objects: number;
  agents: PAgentStatus[];
  agentStatsJson: string;
}

export type PSyncRequestType = 'HELLO' | 'ACK' | 'NACK' | 'QUERY_RESULT';
export interface PSyncRequest {
  type: PSyncRequestType;
  node: string;
  lastAppliedVersion: number;
  storeId: string;
  agentVersion: string;
  version: number;
  nonce: string;
  error: PErrorDetail | null;
  queryId: number;
  resultJson: string;
}
export type PSyncResponseType = 'SNAPSHOT' | 'DELTA' | 'QUERY';
export interface PSyncResponse {
  type: PSyncResponseType;
  version: number;
  nonce: string;
  baseVersion: number;
  storeId: string;
  upserts: PObject[];
  removes: PObjectRef[];
  chunk: number;
  last: boolean;
  queryId: number;
  queryKind: string;
  queryJson: string;
}

// ─── Errors ↔ status ───────────────────────────────────────────────────────────────────────

export const MD_ERROR_CODE = 'tapflow-error-code';
export const MD_FIELD_PATH = 'tapflow-field-path';
/** JSON list of FieldIssue (binary metadata: any bytes allowed). */
export const MD_ISSUES = 'tapflow-issues-bin';
const MAX_ISSUES_MD = 8 * 1024;

/** Unauthenticated / unavailable etc. carry these codes (not model ErrorCodes). */
export const UNAUTHENTICATED = 'UNAUTHENTICATED';

export function toErrorDetail(err: unknown): PErrorDetail {
  const issues = flatIssues(err).map(toFieldIssue);
  if (err instanceof TapflowError) {
    return { code: err.code, message: err.message, path: err.path ?? issues[0]?.path ?? '', issues };
  }
  return { code: ErrorCode.INTERNAL, message: err instanceof Error ? err.message : String(err), path: '', issues: [] };
}

export function toFieldIssue(i: BatchIssue): PFieldIssue {
  return { source: i.source ?? '', doc: i.doc ?? 0, key: i.key ?? '', path: i.path, code: i.code, message: i.message + (i.line !== undefined ? ` (line ${i.line}${i.column !== undefined ? `:${i.column}` : ''})` : '') };
}

/** A gRPC error status for any error: code by `grpcStatusOf`, the message, and metadata. */
export function toServiceError(err: unknown): Partial<grpc.StatusObject> {
  const d = toErrorDetail(err);
  const metadata = new grpc.Metadata();
  metadata.set(MD_ERROR_CODE, d.code);
  if (d.path !== '') metadata.set(MD_FIELD_PATH, d.path);
  if (d.issues.length > 0) {
    let json = JSON.stringify(d.issues);
    if (json.length > MAX_ISSUES_MD) json = JSON.stringify(d.issues.slice(0, 20));
    metadata.set(MD_ISSUES, Buffer.from(json, 'utf8'));
  }
  const code = err instanceof TapflowError ? statusOf(err.code) : grpc.status.INTERNAL;
  // gRPC status messages are one header: keep them bounded.
  const details = d.message.length > 16384 ? `${d.message.slice(0, 16384)}\n…` : d.message;
  return { code, details, metadata };
}

/** The client side: a gRPC error back into a TapflowError (ValidationError with issues when there were). */
export class RemoteError extends TapflowError {
  override name = 'RemoteError';
  readonly grpcCode: number;
  readonly issues: PFieldIssue[];
  constructor(err: grpc.ServiceError) {
    const md = err.metadata;
    const code = (md?.get(MD_ERROR_CODE)[0] as string | undefined) ?? grpcCodeName(err.code);
    const p = md?.get(MD_FIELD_PATH)[0] as string | undefined;
    super(err.details || err.message, { code, ...(p !== undefined ? { path: p } : {}) });
    this.grpcCode = err.code;
    const raw = md?.get(MD_ISSUES)[0];
    let issues: PFieldIssue[] = [];
    if (raw !== undefined) {
      try {
        issues = JSON.parse(Buffer.isBuffer(raw) ? raw.toString('utf8') : String(raw)) as PFieldIssue[];
      } catch {
        issues = [];
      }
    }
    this.issues = issues;
  }
}

export function grpcCodeName(code: number): string {
  return (grpc.status as unknown as Record<number, string>)[code] ?? String(code);
}

export function isServiceError(e: unknown): e is grpc.ServiceError {
  return e instanceof Error && typeof (e as grpc.ServiceError).code === 'number' && 'metadata' in e;
}

export { ValidationError };
