/**
 * Transport-level errors of the control plane: conditions that are not about a manifest (the
 * model's ErrorCodes cover those) but about the call — no such agent connected, a limit hit, a
 * missing token. Each maps to its gRPC status in `statusOf`.
 */
import { TapflowError, grpcStatusOf } from '../model/errors';

export const ServerCode = {
  /** The peer needed (an agent) is not connected, or the server is shutting down. */
  UNAVAILABLE: 'UNAVAILABLE',
  /** No or a wrong bearer token. */
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  /** A relayed query got no answer in time. */
  DEADLINE_EXCEEDED: 'DEADLINE_EXCEEDED',
  /** A limit (streams, watchers, agents, a slow consumer's buffer). */
  RESOURCE_EXHAUSTED: 'RESOURCE_EXHAUSTED',
  /** The request is well formed but cannot be done in this state (e.g. a stream without HELLO). */
  FAILED_PRECONDITION: 'FAILED_PRECONDITION',
  /** The agent does not implement the relayed query. */
  UNIMPLEMENTED: 'UNIMPLEMENTED',
  /** Sync: a delta's base is not the agent's running version; the controller answers with a snapshot. */
  RESYNC: 'RESYNC',
} as const;

const STATUS: Record<string, number> = {
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  RESYNC: 10,
};

/** gRPC status for a model ErrorCode or a ServerCode. */
export function statusOf(code: string): number {
  return Object.prototype.hasOwnProperty.call(STATUS, code) ? STATUS[code] : grpcStatusOf(code);
}

export class ServerError extends TapflowError {
  override name = 'ServerError';
  constructor(code: keyof typeof ServerCode, message: string) {
    super(message, { code });
  }
}
