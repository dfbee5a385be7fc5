/**
 * Typed loader for the `tapflow_native` addon (dataplane/native/tap.c).
 *
 * The addon is built by `npm install` (node-gyp, into dataplane/native/build/Release). It is
 * loaded lazily by loadNative() so that code paths that never open a TAP (memory ports,
 * pcap files, the control plane) work on machines without it.
 *
 * The constants below mirror linux/if_tun.h and tap.c; loadNative() checks that the built
 * addon agrees, so a stale build fails at load time instead of misbehaving.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** openTap() flag: IFF_VNET_HDR, frames carry a 10-byte virtio_net_hdr. */
export const TAP_VNET_HDR = 1;
/** openTap() flag: IFF_MULTI_QUEUE, each open of the same name adds a queue. */
export const TAP_MULTI_QUEUE = 2;

/** setOffload() bits (linux/if_tun.h): the kernel may hand us unchecksummed packets. */
export const TUN_F_CSUM = 0x01;
/** We accept TCP/IPv4 GSO super-frames. */
export const TUN_F_TSO4 = 0x02;
/** We accept TCP/IPv6 GSO super-frames. */
export const TUN_F_TSO6 = 0x04;
/** We accept TSO with ECN (CWR) set. */
export const TUN_F_TSO_ECN = 0x08;
/** We accept UFO super-frames (kernels since 4.14 never produce them). */
export const TUN_F_UFO = 0x10;

/** writeBatch() mode: write the frame only (plain TAP). */
export const WRITE_PLAIN = 0;
/** writeBatch() mode: vnet TAP, the frame's virtio_net_hdr sits in its 10-byte headroom. */
export const WRITE_VNET_HDR = 1;
/** writeBatch() mode: vnet TAP, headroom is garbage: send a zero header in front. */
export const WRITE_ZERO_HDR = 2;
export type WriteMode = typeof WRITE_PLAIN | typeof WRITE_VNET_HDR | typeof WRITE_ZERO_HDR;

/** Opaque uv_poll handle returned by startPoll(). */
export interface PollHandle {
  readonly __tapflowPollHandle: unique symbol;
}

/**
 * A syscall failure thrown by the addon, shaped like Node's own system errors:
 * `code` is the errno name ('EBADFD'), `errno` is the negated errno (Node's convention).
 * Argument mistakes throw TypeError (code ERR_INVALID_ARG_TYPE) or RangeError (ERR_OUT_OF_RANGE).
 */
export interface NativeSystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

export interface TapflowNative {
  /** Open /dev/net/tun as a TAP (IFF_TAP|IFF_NO_PI, non-blocking, close-on-exec). An empty name lets the kernel pick. */
  /** With netnsPath, open (or create) the TAP inside that network namespace. */
  openTap(name: string, flags: number, netnsPath?: string): { fd: number; name: string };
  /** setgroups/setgid/setuid to an unprivileged user (all threads; clears every capability) + NO_NEW_PRIVS. */
  dropPrivileges(uid: number, gid: number): void;
  /** TUNSETPERSIST: the device outlives its file descriptors. */
  setPersist(fd: number, on: number): void;
  /** TUNSETOFFLOAD with TUN_F_* bits. */
  setOffload(fd: number, offloads: number): void;
  /**
   * Read up to maxFrames frames without blocking. Frame i's Ethernet header lands at
   * i*slotSize + 10 (the vnet header, if any, just before it); lengths[i] excludes the vnet
   * header. Returns the count (0 when nothing is queued). Throws a NativeSystemError only if
   * the very first read fails with something other than EAGAIN.
   */
  readBatch(fd: number, slab: Uint8Array, slotSize: number, vnetHdrLen: 0 | 10, maxFrames: number, lengths: Uint32Array): number;
  /**
   * Write frames slab[offsets[i] .. offsets[i]+lengths[i]) for i < count. Returns frames
   * written; never throws for I/O errors (see lastWriteErrno/lastWriteBytes).
   */
  writeBatch(fd: number, slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, mode: WriteMode): number;
  /** errno of the last failed frame of this thread's last writeBatch, 0 if all were written. */
  lastWriteErrno(): number;
  /** Bytes (vnet header excluded) written by this thread's last writeBatch. */
  lastWriteBytes(): number;
  /**
   * Watch fd for readability; `callback(status)` runs once per wakeup as a top-level
   * callback (microtasks run after it). status is 0, or a negative libuv error when the fd
   * reported POLLERR, after which libuv stops watching. The handle keeps the loop alive.
   */
  startPoll(fd: number, callback: (status: number) => void): PollHandle;
  /** Stop and release a poll handle. Idempotent. Must be called before closing its fd. */
  stopPoll(handle: PollHandle): void;
  /** close(2). */
  closeFd(fd: number): void;

  readonly TAP_VNET_HDR: number;
  readonly TAP_MULTI_QUEUE: number;
  readonly TUN_F_CSUM: number;
  readonly TUN_F_TSO4: number;
  readonly TUN_F_TSO6: number;
  readonly TUN_F_TSO_ECN: number;
  readonly TUN_F_UFO: number;
  readonly WRITE_PLAIN: number;
  readonly WRITE_VNET_HDR: number;
  readonly WRITE_ZERO_HDR: number;
  readonly VNET_HDR_LEN: number;
}

const ADDON_REL = path.join('dataplane', 'native', 'build', 'Release', 'tapflow_native.node');

/** Where the addon may be: repo root is three levels above dist/dataplane/native, two above dataplane/native. */
export function addonCandidates(): string[] {
  return [path.resolve(__dirname, '..', '..', '..', ADDON_REL), path.resolve(__dirname, '..', '..', ADDON_REL)];
}

let cached: TapflowNative | undefined;

/** Load (once) and return the addon. Throws code TAPFLOW_NATIVE_MISSING if it was never built. */
export function loadNative(): TapflowNative {
  if (cached !== undefined) return cached;
  const candidates = addonCandidates();
  const file = candidates.find((p) => fs.existsSync(p));
  if (file === undefined) {
    throw Object.assign(
      new Error(
        `tapflow native addon not found (looked in ${candidates.join(', ')}); ` +
          'run `npm install` in the repository root, which builds it with node-gyp',
      ),
      { code: 'TAPFLOW_NATIVE_MISSING' },
    );
  }
  let addon: TapflowNative;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addon = require(file) as TapflowNative;
  } catch (cause) {
    throw Object.assign(
      new Error(`tapflow native addon at ${file} failed to load; rebuild it with \`npm install\`: ${String(cause)}`, { cause }),
      { code: 'TAPFLOW_NATIVE_MISSING' },
    );
  }
  const expected: Record<string, number> = {
    TAP_VNET_HDR, TAP_MULTI_QUEUE, TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN, TUN_F_UFO,
    WRITE_PLAIN, WRITE_VNET_HDR, WRITE_ZERO_HDR, VNET_HDR_LEN: 10,
  };
  for (const [key, value] of Object.entries(expected)) {
    if ((addon as unknown as Record<string, unknown>)[key] !== value) {
      throw Object.assign(new Error(`tapflow native addon at ${file} is stale (${key}); rebuild it with \`npm install\``), {
        code: 'TAPFLOW_NATIVE_MISSING',
      });
    }
  }
  cached = addon;
  return addon;
}
