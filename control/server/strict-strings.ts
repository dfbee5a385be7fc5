/**
 * Strict UTF-8 for the Control API. protobufjs (under @grpc/proto-loader) decodes proto3
 * `string` fields leniently: invalid UTF-8 becomes U+FFFD, and the controller would store and
 * serve text the client never sent. The request deserializers are wrapped so every string
 * field's bytes are also checked with a fatal decoder; problems ride along on the decoded
 * request (a deserializer that throws would make grpc-js answer INTERNAL) and the handler
 * refuses the call with INVALID_ARGUMENT before doing anything (`badUtf8Of`).
 */
import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import { fieldPath } from '../model/errors';
import { firstInvalidUtf8 } from '../model/utf8';
import { protoPath, PROTO_PACKAGE } from './proto';

export interface BadString {
  /** The request field (`upserts[2].text`, `refs[0].name`). */
  path: string;
  /** The field's raw bytes. */
  bytes: Uint8Array;
  /** Byte offset of the first invalid sequence in `bytes`. */
  offset: number;
}

const BAD = Symbol('tapflow.badUtf8');

/** The string fields of a decoded request that were not UTF-8 (empty when all were). */
export function badUtf8Of(req: unknown): BadString[] {
  return (req as { [BAD]?: BadString[] } | null)?.[BAD] ?? [];
}

const strict = new TextDecoder('utf-8', { fatal: true });

/** Every string field (nested messages too) of a message of `type` whose bytes are not UTF-8. */
export function invalidStrings(type: protobuf.Type, buf: Uint8Array, prefix = '', depth = 0, out: BadString[] = []): BadString[] {
  if (depth > 32) return out;
  const r = protobuf.Reader.create(buf);
  const seen = new Map<number, number>();
  while (r.pos < r.len) {
    const tag = r.uint32();
    const id = tag >>> 3;
    const wire = tag & 7;
    const f = type.fieldsById[id];
    if (f === undefined || wire !== 2 || (f.type !== 'string' && !(f.resolvedType instanceof protobuf.Type))) {
      r.skipType(wire);
      continue;
    }
    const bytes = r.bytes();
    let path = fieldPath(prefix, f.name);
    if (f.repeated) {
      const i = seen.get(id) ?? 0;
      seen.set(id, i + 1);
      path = fieldPath(path, i);
    }
    if (f.type === 'string') {
      try {
        strict.decode(bytes);
      } catch {
        out.push({ path, bytes, offset: firstInvalidUtf8(bytes) });
      }
    } else {
      invalidStrings(f.resolvedType as protobuf.Type, bytes, path, depth + 1, out);
    }
  }
  return out;
}

let root: protobuf.Namespace | null = null;

/** `def` (a service of tapflow.proto) with request deserializers that also record invalid UTF-8. */
export function withStrictStrings(def: grpc.ServiceDefinition): grpc.ServiceDefinition {
  if (root === null) root = protobuf.loadSync(protoPath()).resolveAll();
  const types = root;
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(def)) {
    const md = m as grpc.MethodDefinition<unknown, unknown> & { requestType?: { type?: { name?: string } } };
    const typeName = md.requestType?.type?.name;
    const type = typeName !== undefined ? types.lookupType(`${PROTO_PACKAGE}.${typeName}`) : null;
    if (type === null) {
      out[name] = md;
      continue;
    }
    const decode = md.requestDeserialize;
    out[name] = {
      ...md,
      requestDeserialize: (buf: Buffer) => {
        const v = decode(buf) as object;
        const bad = invalidStrings(type, buf);
        if (bad.length > 0) Object.defineProperty(v, BAD, { value: bad, enumerable: false });
        return v;
      },
    };
  }
  return out as grpc.ServiceDefinition;
}
