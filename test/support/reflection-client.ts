/**
 * A generic gRPC server-reflection client (what `grpcurl list` / `grpcurl describe` / a dynamic
 * `grpcurl -d '{…}' … Service/Method` do), for tests that must not rely on a local .proto:
 *
 *   const rc = new ReflectionClient('unix:/tmp/c.sock', { metadata: { authorization: 'Bearer …' } });
 *   await rc.listServices();                          // ['tapflow.v1.AgentSync', 'tapflow.v1.Control']
 *   const svc = await rc.service('tapflow.v1.Control'); // descriptor from reflection only
 *   svc.methods;                                       // ['Apply', 'Delete', 'Flows', …]
 *   await svc.unary('List', { kind: 'Service' });      // dynamic call, plain-object request/response
 *   svc.close(); rc.close();
 *
 * The reflection protocol itself (grpc.reflection.v1, falling back to v1alpha: the same messages)
 * is defined inline below from the published spec; the served files come back as serialized
 * FileDescriptorProtos (plus their dependencies, fetched by name until closed), are put together
 * as a FileDescriptorSet and loaded with @grpc/proto-loader. Nothing here knows tapflow.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export type ReflectionVersion = 'v1' | 'v1alpha';

export interface ReflectionClientOptions {
  /** Default: insecure (plaintext), as `grpcurl -plaintext`. */
  credentials?: grpc.ChannelCredentials;
  /** Sent with every call, reflection and dynamic (e.g. `{ authorization: 'Bearer TOKEN' }`). */
  metadata?: Record<string, string>;
  /** Per call (default 10 s). */
  timeoutMs?: number;
  /** Default: v1, then v1alpha when the server does not implement v1. */
  version?: ReflectionVersion;
  /** How the dynamic messages are decoded (proto-loader options; default longs/enums as String, defaults on). */
  loaderOptions?: protoLoader.Options;
}

/** The reflection service (grpc/reflection/v1/reflection.proto), as protobufjs JSON. */
function reflectionJson(version: ReflectionVersion): object {
  const str = (id: number) => ({ type: 'string', id });
  return {
    nested: {
      grpc: {
        nested: {
          reflection: {
            nested: {
              [version]: {
                nested: {
                  ServerReflection: {
                    methods: {
                      ServerReflectionInfo: {
                        requestType: 'ServerReflectionRequest', requestStream: true,
                        responseType: 'ServerReflectionResponse', responseStream: true,
                      },
                    },
                  },
                  ServerReflectionRequest: {
                    oneofs: { messageRequest: { oneof: ['fileByFilename', 'fileContainingSymbol', 'fileContainingExtension', 'allExtensionNumbersOfType', 'listServices'] } },
                    fields: {
                      host: str(1), fileByFilename: str(3), fileContainingSymbol: str(4),
                      fileContainingExtension: { type: 'ExtensionRequest', id: 5 }, allExtensionNumbersOfType: str(6), listServices: str(7),
                    },
                  },
                  ExtensionRequest: { fields: { containingType: str(1), extensionNumber: { type: 'int32', id: 2 } } },
                  ServerReflectionResponse: {
                    oneofs: { messageResponse: { oneof: ['fileDescriptorResponse', 'allExtensionNumbersResponse', 'listServicesResponse', 'errorResponse'] } },
                    fields: {
                      validHost: str(1), originalRequest: { type: 'ServerReflectionRequest', id: 2 },
                      fileDescriptorResponse: { type: 'FileDescriptorResponse', id: 4 },
                      allExtensionNumbersResponse: { type: 'ExtensionNumberResponse', id: 5 },
                      listServicesResponse: { type: 'ListServiceResponse', id: 6 },
                      errorResponse: { type: 'ErrorResponse', id: 7 },
                    },
                  },
                  FileDescriptorResponse: { fields: { fileDescriptorProto: { rule: 'repeated', type: 'bytes', id: 1 } } },
                  ExtensionNumberResponse: { fields: { baseTypeName: str(1), extensionNumber: { rule: 'repeated', type: 'int32', id: 2 } } },
                  ListServiceResponse: { fields: { service: { rule: 'repeated', type: 'ServiceResponse', id: 1 } } },
                  ServiceResponse: { fields: { name: str(1) } },
                  ErrorResponse: { fields: { errorCode: { type: 'int32', id: 1 }, errorMessage: str(2) } },
                },
              },
            },
          },
        },
      },
    },
  };
}

interface ReflectionResponse {
  messageResponse?: string;
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  listServicesResponse?: { service: { name: string }[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

type ServiceCtor = new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => grpc.Client;

/** An error answered inside the reflection stream (errorResponse), as a grpc-like error. */
export class ReflectionError extends Error {
  override name = 'ReflectionError';
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** The fields of a serialized FileDescriptorProto this client needs: name (1) and dependency (3). */
export function fileNameAndDeps(buf: Uint8Array): { name: string; deps: string[] } {
  let pos = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated FileDescriptorProto');
      const b = buf[pos++];
      v += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return v;
      mul *= 128;
    }
  };
  let name = '';
  const deps: string[] = [];
  while (pos < buf.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    switch (tag & 7) {
      case 0: varint(); break;
      case 1: pos += 8; break;
      case 5: pos += 4; break;
      case 2: {
        const len = varint();
        if (field === 1 || field === 3) {
          const s = Buffer.from(buf.subarray(pos, pos + len)).toString('utf8');
          if (field === 1) name = s;
          else deps.push(s);
        }
        pos += len;
        break;
      }
      default: throw new Error(`unsupported wire type ${tag & 7} in FileDescriptorProto`);
    }
  }
  return { name, deps };
}

/** FileDescriptorSet { repeated FileDescriptorProto file = 1; } from serialized files. */
export function fileDescriptorSet(files: Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    const len: number[] = [];
    let n = f.length;
    do {
      let b = n & 0x7f;
      n = Math.floor(n / 128);
      if (n > 0) b |= 0x80;
      len.push(b);
    } while (n > 0);
    parts.push(Buffer.from([0x0a, ...len]), Buffer.from(f));
  }
  return Buffer.concat(parts);
}

/** A service resolved through reflection: its methods and a dynamic client. */
export class DynamicService {
  private readonly client: grpc.Client;

  constructor(
    readonly name: string,
    readonly definition: grpc.ServiceDefinition,
    ctor: ServiceCtor,
    target: string,
    creds: grpc.ChannelCredentials,
    private readonly md: Record<string, string>,
    private readonly timeoutMs: number,
  ) {
    this.client = new ctor(target, creds);
  }

  get methods(): string[] {
    return Object.keys(this.definition).filter((k) => /^[A-Z]/.test(k)).sort();
  }

  /** Call a unary method by name; resolves with the decoded response, rejects with the grpc ServiceError. */
  unary<T = Record<string, unknown>>(method: string, request: Record<string, unknown>, metadata: Record<string, string> = this.md): Promise<T> {
    const m = this.definition[method];
    if (!m) throw new Error(`${this.name} has no method ${method} (has ${this.methods.join(', ')})`);
    if (m.requestStream || m.responseStream) throw new Error(`${this.name}.${method} is a streaming method`);
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(metadata)) md.set(k, v);
    return new Promise<T>((resolve, reject) => {
      this.client.makeUnaryRequest(
        m.path, m.requestSerialize, m.responseDeserialize, request, md, { deadline: Date.now() + this.timeoutMs },
        (err: grpc.ServiceError | null, res?: unknown) => (err ? reject(err) : resolve(res as T)),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

export class ReflectionClient {
  private readonly creds: grpc.ChannelCredentials;
  private readonly md: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly clients = new Map<ReflectionVersion, grpc.Client>();
  private version: ReflectionVersion | null;

  constructor(readonly target: string, private readonly opts: ReflectionClientOptions = {}) {
    this.creds = opts.credentials ?? grpc.credentials.createInsecure();
    this.md = opts.metadata ?? {};
    this.timeoutMs = opts.timeoutMs ?? 10000;
    this.version = opts.version ?? null;
  }

  /** The version the server answered (after a first call). */
  get reflectionVersion(): ReflectionVersion | null {
    return this.version;
  }

  /** `grpcurl list`: the full names of the services the server offers, sorted. */
  async listServices(): Promise<string[]> {
    const r = await this.request({ listServices: '*' });
    if (!r.listServicesResponse) throw new Error(`unexpected reflection answer ${r.messageResponse}`);
    return r.listServicesResponse.service.map((s) => s.name).sort();
  }

  /** The serialized files declaring `symbol` and, transitively, every file they import. */
  async filesForSymbol(symbol: string): Promise<Uint8Array[]> {
    const byName = new Map<string, Uint8Array>();
    const add = (bufs: Uint8Array[]) => {
      for (const b of bufs) {
        const { name } = fileNameAndDeps(b);
        if (!byName.has(name)) byName.set(name, b);
      }
    };
    add(await this.files({ fileContainingSymbol: symbol }));
    for (let guard = 0; guard < 1000; guard++) {
      const missing = [...byName.values()].flatMap((b) => fileNameAndDeps(b).deps).find((d) => !byName.has(d));
      if (missing === undefined) return [...byName.values()];
      add(await this.files({ fileByFilename: missing }));
      if (!byName.has(missing)) throw new Error(`the server did not return ${missing}`);
    }
    throw new Error('too many dependencies');
  }

  /** A proto-loader package definition built only from what reflection returned for `symbol`. */
  async packageDefinition(symbol: string): Promise<protoLoader.PackageDefinition> {
    const files = await this.filesForSymbol(symbol);
    return protoLoader.loadFileDescriptorSetFromBuffer(fileDescriptorSet(files), {
      longs: String, enums: String, defaults: true, arrays: true, ...this.opts.loaderOptions,
    });
  }

  /** A service by full name (`pkg.Service`), resolved through reflection, with a dynamic client. */
  async service(fullName: string): Promise<DynamicService> {
    const def = await this.packageDefinition(fullName);
    const sd = def[fullName];
    if (!sd || !isServiceDefinition(sd)) throw new Error(`${fullName} is not a service in the reflected files (${Object.keys(def).join(', ')})`);
    let node: unknown = grpc.loadPackageDefinition(def);
    for (const part of fullName.split('.')) node = (node as Record<string, unknown>)[part];
    return new DynamicService(fullName, sd as grpc.ServiceDefinition, node as ServiceCtor, this.target, this.creds, this.md, this.timeoutMs);
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private async files(req: Record<string, string>): Promise<Uint8Array[]> {
    const r = await this.request(req);
    if (!r.fileDescriptorResponse) throw new Error(`unexpected reflection answer ${r.messageResponse}`);
    return r.fileDescriptorResponse.fileDescriptorProto;
  }

  /** One request on its own ServerReflectionInfo stream (v1; v1alpha when v1 is UNIMPLEMENTED). */
  private async request(req: Record<string, unknown>): Promise<ReflectionResponse> {
    if (this.version !== null) return this.requestWith(this.version, req);
    try {
      const r = await this.requestWith('v1', req);
      this.version = 'v1';
      return r;
    } catch (err) {
      if ((err as grpc.ServiceError).code !== grpc.status.UNIMPLEMENTED) throw err;
      const r = await this.requestWith('v1alpha', req);
      this.version = 'v1alpha';
      return r;
    }
  }

  private requestWith(version: ReflectionVersion, req: Record<string, unknown>): Promise<ReflectionResponse> {
    let client = this.clients.get(version);
    if (client === undefined) {
      const def = protoLoader.fromJSON(reflectionJson(version) as Parameters<typeof protoLoader.fromJSON>[0], { longs: String, enums: String, defaults: true, arrays: true, oneofs: true });
      const ctor = (grpc.loadPackageDefinition(def) as unknown as { grpc: { reflection: Record<string, { ServerReflection: ServiceCtor }> } }).grpc.reflection[version].ServerReflection;
      client = new ctor(this.target, this.creds);
      this.clients.set(version, client);
    }
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(this.md)) md.set(k, v);
    const call = (client as unknown as { ServerReflectionInfo(md: grpc.Metadata, o: grpc.CallOptions): grpc.ClientDuplexStream<unknown, ReflectionResponse> })
      .ServerReflectionInfo(md, { deadline: Date.now() + this.timeoutMs });
    return new Promise<ReflectionResponse>((resolve, reject) => {
      let done = false;
      call.on('data', (r: ReflectionResponse) => {
        if (done) return;
        done = true;
        call.end();
        if (r.errorResponse) reject(new ReflectionError(r.errorResponse.errorCode, r.errorResponse.errorMessage));
        else resolve(r);
      });
      call.on('error', (e) => {
        if (!done) {
          done = true;
          reject(e);
        }
      });
      call.on('end', () => {
        if (!done) {
          done = true;
          reject(new Error('reflection stream ended without an answer'));
        }
      });
      call.write({ host: '', ...req });
    });
  }
}

function isServiceDefinition(x: unknown): boolean {
  if (typeof x !== 'object' || x === null) return false;
  const first = Object.values(x as Record<string, unknown>)[0] as { path?: unknown } | undefined;
  return first !== undefined && typeof first.path === 'string';
}
