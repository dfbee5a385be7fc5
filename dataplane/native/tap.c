/*
 * tapflow_native: the only native code in tapflow. Batched Linux TAP I/O for Node.
 *
 * Why C: the data plane moves every frame through read(2)/write(2) on a TAP fd, and Node has
 * no API for a character-device fd that reads into a caller-owned slab without allocating
 * (fs.readSync allocates nothing but costs a libuv request and a JS<->C++ crossing per frame,
 * and net.Socket/dgram do not take a TAP fd). This addon does one JS->C crossing per *batch*:
 * readBatch() loops read(2) into fixed slots of a slab, writeBatch() loops write(2)/writev(2)
 * over (offset, length) pairs. TAP has no recvmmsg/sendmmsg, so it is still one syscall per
 * frame; what the batch amortises is the crossing and the argument checks.
 *
 * Slot layout (see dataplane/io/port.ts): every frame has VNET_HDR_LEN (10) bytes of headroom.
 * Slot i starts at i*slotSize and its Ethernet header is always at i*slotSize + 10. On a vnet
 * TAP the kernel's virtio_net_hdr fills the headroom; on a plain TAP the headroom is left alone.
 *
 * Exports (all synchronous; the fd is O_NONBLOCK, so nothing here ever blocks):
 *   openTap(name, flags) -> { fd, name }          TAP_VNET_HDR=1, TAP_MULTI_QUEUE=2
 *   setOffload(fd, offloads)                      TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6,
 *                                                 TUN_F_TSO_ECN, TUN_F_UFO
 *   readBatch(fd, slab, slotSize, vnetHdrLen, maxFrames, lengths) -> frames read
 *   writeBatch(fd, slab, offsets, lengths, count, mode) -> frames written
 *   lastWriteErrno() -> errno of the last failed frame of the last writeBatch (0 = none)
 *   lastWriteBytes() -> bytes (without vnet header) the last writeBatch wrote
 *   startPoll(fd, callback) -> handle ; stopPoll(handle)
 *   closeFd(fd)
 *
 * Errors: programmer errors throw TypeError (code ERR_INVALID_ARG_TYPE) or RangeError
 * (code ERR_OUT_OF_RANGE); syscall failures throw an Error shaped like Node's own system
 * errors: .code = errno name ('EBADFD'), .errno = -errno (Node's convention), .syscall.
 *
 * Threads: each Node thread (main or worker) has its own lastWrite* state (_Thread_local);
 * there is no other mutable global state.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_tun.h>

#define NAPI_VERSION 8  /* async cleanup hooks; Node >= 14.8 */
#include <sched.h>
#include <grp.h>
#include <sys/prctl.h>
#include <node_api.h>
#include <uv.h>

/* Bytes of headroom in front of every frame; sizeof(struct virtio_net_hdr). */
#define VNET_HDR_LEN 10

/* openTap() flag bits (ours, not the kernel's). */
#define TAP_VNET_HDR 1u
#define TAP_MULTI_QUEUE 2u

/* writeBatch() modes. */
enum {
  WRITE_PLAIN = 0,      /* write the frame only */
  WRITE_VNET_HDR = 1,   /* the frame's virtio_net_hdr is in its headroom: write it too */
  WRITE_ZERO_HDR = 2,   /* vnet port, headroom is garbage: writev(zero header, frame) */
};

/* The all-zero virtio_net_hdr: no checksum offload, VIRTIO_NET_HDR_GSO_NONE. */
static const uint8_t zero_vnet_hdr[VNET_HDR_LEN];

/* Outcome of the last writeBatch() on this thread, for the failure path only. */
static _Thread_local int last_write_errno;
static _Thread_local double last_write_bytes;

/* ---------------------------------------------------------------- errors */

static const char *errno_name(int e) {
  switch (e) {
#define E(x) case x: return #x;
    E(EPERM) E(ENOENT) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(EBADF) E(EAGAIN) E(ENOMEM)
    E(EACCES) E(EFAULT) E(EBUSY) E(EEXIST) E(ENODEV) E(EINVAL) E(ENFILE) E(EMFILE)
    E(ENOTTY) E(ENOSPC) E(ERANGE) E(ENAMETOOLONG) E(ENOSYS) E(EBADFD) E(EMSGSIZE)
    E(EOPNOTSUPP) E(ENETDOWN) E(ENOBUFS) E(EPROTO) E(EOVERFLOW)
#undef E
    default: return "EUNKNOWN";
  }
}

/* Throw a Node-style system error. Always returns NULL so callers can `return throw_errno(...)`. */
static napi_value throw_errno(napi_env env, int err, const char *syscall, const char *what) {
  char msg[160];
  napi_value code, message, error, num, sys;
  snprintf(msg, sizeof msg, "%s: %s failed: %s (%s)", what, syscall, strerror(err), errno_name(err));
  if (napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message) != napi_ok ||
      napi_create_error(env, code, message, &error) != napi_ok ||
      napi_create_int32(env, -err, &num) != napi_ok ||
      napi_set_named_property(env, error, "errno", num) != napi_ok ||
      napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys) != napi_ok ||
      napi_set_named_property(env, error, "syscall", sys) != napi_ok) {
    napi_throw_error(env, errno_name(err), msg);  /* degraded but still coded */
    return NULL;
  }
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

static napi_value throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
  return NULL;
}

/* ---------------------------------------------------------------- argument helpers */

/* A JS number that is an integer in [min, max]. Returns 0 on success, else has thrown. */
static int get_int(napi_env env, napi_value v, const char *name, double min, double max, int64_t *out) {
  double d;
  char msg[96];
  if (napi_get_value_double(env, v, &d) != napi_ok) {
    snprintf(msg, sizeof msg, "%s must be a number", name);
    throw_type(env, msg);
    return -1;
  }
  if (!(d >= min && d <= max) || d != floor(d)) {
    snprintf(msg, sizeof msg, "%s must be an integer in [%.0f, %.0f], got %g", name, min, max, d);
    throw_range(env, msg);
    return -1;
  }
  *out = (int64_t)d;
  return 0;
}

static int get_fd(napi_env env, napi_value v, int *fd) {
  int64_t x;
  if (get_int(env, v, "fd", 0, INT_MAX, &x)) return -1;
  *fd = (int)x;
  return 0;
}

/*
 * A typed array of the given element type. `data` already includes the view's byteOffset
 * (napi_get_typedarray_info adjusts it), so a subarray() view works as-is.
 */
static int get_typed(napi_env env, napi_value v, napi_typedarray_type want, const char *name,
                     void **data, size_t *length) {
  bool is_ta = false;
  napi_typedarray_type type;
  char msg[96];
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, v, &type, length, data, NULL, NULL) != napi_ok || type != want) {
    snprintf(msg, sizeof msg, "%s must be a %s", name,
             want == napi_uint8_array ? "Uint8Array" : "Uint32Array");
    throw_type(env, msg);
    return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------- openTap / setOffload / closeFd */

/*
 * openTap(name, flags[, netnsPath]): with netnsPath, the TAP is opened inside that network
 * namespace (this thread enters it for the open + TUNSETIFF and returns at once; the fd
 * keeps working from anywhere). That is how tapflow attaches to a persistent TAP a CNI
 * plugin created in a pod's namespace, and re-attaches after a restart.
 */
static napi_value OpenTap(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result, v;
  char name[IFNAMSIZ];
  char nspath[4096];
  size_t name_len = 0, ns_len = 0;
  int64_t flags;
  struct ifreq ifr;
  int fd;
  int home_ns = -1, target_ns = -1;
  napi_valuetype nst = napi_undefined;

  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) return throw_type(env, "openTap(name, flags[, netnsPath]) takes 2 or 3 arguments");
  if (argc >= 3 && napi_typeof(env, argv[2], &nst) != napi_ok) return NULL;
  if (nst != napi_undefined && nst != napi_null) {
    if (nst != napi_string) return throw_type(env, "netnsPath must be a string");
    if (napi_get_value_string_utf8(env, argv[2], nspath, sizeof nspath, &ns_len) != napi_ok) return NULL;
    if (ns_len == 0 || ns_len >= sizeof nspath - 1) return throw_range(env, "netnsPath must be a path");
  }
  /* Measure first: a bounded copy stops before a multi-byte character and would hide the overflow. */
  if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &name_len) != napi_ok)
    return throw_type(env, "name must be a string");
  if (get_int(env, argv[1], "flags", 0, TAP_VNET_HDR | TAP_MULTI_QUEUE, &flags)) return NULL;
  /* IFNAMSIZ includes the NUL; the kernel would silently truncate, we refuse. */
  if (name_len >= IFNAMSIZ)
    return throw_errno(env, ENAMETOOLONG, "open", "openTap: interface name longer than 15 bytes");
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len) != napi_ok) return NULL;
  if (strlen(name) != name_len) return throw_range(env, "name must not contain NUL");

  if (ns_len > 0) {
    home_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home_ns < 0) return throw_errno(env, errno, "open", "openTap: /proc/thread-self/ns/net");
    target_ns = open(nspath, O_RDONLY | O_CLOEXEC);
    if (target_ns < 0) { int e = errno; close(home_ns); return throw_errno(env, e, "open", "openTap: netns path"); }
    if (setns(target_ns, CLONE_NEWNET) < 0) {
      int e = errno; close(home_ns); close(target_ns);
      return throw_errno(env, e, "setns", "openTap: entering the netns");
    }
    close(target_ns);
  }
  fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (home_ns >= 0) { (void)setns(home_ns, CLONE_NEWNET); close(home_ns); }
    return throw_errno(env, e, "open", "openTap: /dev/net/tun");
  }

  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, name_len);  /* empty name: the kernel picks tap%d */
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (flags & TAP_VNET_HDR) ifr.ifr_flags |= IFF_VNET_HDR;
  if (flags & TAP_MULTI_QUEUE) ifr.ifr_flags |= IFF_MULTI_QUEUE;
  {
    int rc = ioctl(fd, TUNSETIFF, &ifr), e = errno;
    if (home_ns >= 0) {
      /* Back home before anything else runs on this thread. */
      if (setns(home_ns, CLONE_NEWNET) < 0) abort();
      close(home_ns);
      home_ns = -1;
    }
    errno = e;
    if (rc < 0) goto fail_ioctl_setiff;
  }

  if (flags & TAP_VNET_HDR) {
    /*
     * Header size stays at the default 10 bytes (no TUNSETVNETHDRSZ). Force little-endian
     * fields: on little-endian hosts that is already the legacy-virtio default, so a failure
     * (kernel without TUNSETVNETLE) only matters on big-endian hosts.
     */
    int le = 1;
    if (ioctl(fd, TUNSETVNETLE, &le) < 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
      goto fail_ioctl_vnetle;
#endif
    }
  }

  if (napi_create_object(env, &result) != napi_ok ||
      napi_create_int32(env, fd, &v) != napi_ok ||
      napi_set_named_property(env, result, "fd", v) != napi_ok ||
      napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &v) != napi_ok ||
      napi_set_named_property(env, result, "name", v) != napi_ok) {
    close(fd);
    return NULL;  /* a JS exception is pending */
  }
  return result;

fail_ioctl_setiff: {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "ioctl(TUNSETIFF)", "openTap");
  }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
fail_ioctl_vnetle: {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "ioctl(TUNSETVNETLE)", "openTap");
  }
#endif
}

static napi_value SetOffload(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int fd;
  int64_t offloads;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) return throw_type(env, "setOffload(fd, offloads) takes 2 arguments");
  if (get_fd(env, argv[0], &fd) || get_int(env, argv[1], "offloads", 0, UINT32_MAX, &offloads)) return NULL;
  if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)offloads) < 0)
    return throw_errno(env, errno, "ioctl(TUNSETOFFLOAD)", "setOffload");
  return NULL;
}

/* setPersist(fd, on): TUNSETPERSIST — the device outlives this fd (crash-restart: the pod keeps
 * its eth0 while the agent is down, and the agent re-attaches by name). */
static napi_value SetPersist(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int64_t fd, on;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) return throw_type(env, "setPersist(fd, on) takes 2 arguments");
  if (get_int(env, argv[0], "fd", 0, INT32_MAX, &fd)) return NULL;
  if (get_int(env, argv[1], "on", 0, 1, &on)) return NULL;
  if (ioctl((int)fd, TUNSETPERSIST, (unsigned long)on) < 0) return throw_errno(env, errno, "ioctl(TUNSETPERSIST)", "setPersist");
  return NULL;
}

/*
 * dropPrivileges(uid, gid): after the TAPs are open the agent needs no capability at all
 * (it only reads and writes fds it holds and binds unprivileged ports). setgroups/setgid/
 * setuid from root to another uid clears every capability; glibc applies set*id to every
 * thread of the process (capset would only reach the calling thread). NO_NEW_PRIVS last.
 */
static napi_value DropPrivileges(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int64_t uid, gid;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) return throw_type(env, "dropPrivileges(uid, gid) takes 2 arguments");
  if (get_int(env, argv[0], "uid", 1, 0x7fffffff, &uid)) return NULL;
  if (get_int(env, argv[1], "gid", 1, 0x7fffffff, &gid)) return NULL;
  if (setgroups(0, NULL) < 0) return throw_errno(env, errno, "setgroups", "dropPrivileges");
  if (setgid((gid_t)gid) < 0) return throw_errno(env, errno, "setgid", "dropPrivileges");
  if (setuid((uid_t)uid) < 0) return throw_errno(env, errno, "setuid", "dropPrivileges");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return throw_errno(env, errno, "prctl", "dropPrivileges: PR_SET_NO_NEW_PRIVS");
  return NULL;
}

static napi_value CloseFd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1) return throw_type(env, "closeFd(fd) takes 1 argument");
  if (get_fd(env, argv[0], &fd)) return NULL;
  /* Linux releases the fd even when close() fails with EINTR: never retry. */
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, errno, "close", "closeFd");
  return NULL;
}

/* ---------------------------------------------------------------- readBatch */

/*
 * readBatch(fd, slab, slotSize, vnetHdrLen, maxFrames, lengths) -> count
 * Frame i is read to slab[i*slotSize + (10 - vnetHdrLen)], so its Ethernet header is at
 * i*slotSize + 10 either way; lengths[i] = bytes read - vnetHdrLen.
 */
static napi_value ReadBatch(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], ret;
  int fd;
  int64_t slot, hdr, max;
  uint8_t *slab;
  uint32_t *lengths;
  size_t slab_len, lengths_len, skip, cap;
  uint32_t i;

  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 6) return throw_type(env, "readBatch(fd, slab, slotSize, vnetHdrLen, maxFrames, lengths) takes 6 arguments");
  if (get_fd(env, argv[0], &fd) ||
      get_typed(env, argv[1], napi_uint8_array, "slab", (void **)&slab, &slab_len) ||
      get_int(env, argv[2], "slotSize", VNET_HDR_LEN + 1, UINT32_MAX, &slot) ||
      get_int(env, argv[3], "vnetHdrLen", 0, VNET_HDR_LEN, &hdr) ||
      get_int(env, argv[4], "maxFrames", 0, UINT32_MAX, &max) ||
      get_typed(env, argv[5], napi_uint32_array, "lengths", (void **)&lengths, &lengths_len))
    return NULL;
  if (hdr != 0 && hdr != VNET_HDR_LEN) return throw_range(env, "vnetHdrLen must be 0 or 10");
  if ((uint64_t)max * (uint64_t)slot > slab_len) return throw_range(env, "slab is smaller than maxFrames * slotSize");
  if ((uint64_t)max > lengths_len) return throw_range(env, "lengths is shorter than maxFrames");

  skip = (size_t)(VNET_HDR_LEN - hdr);
  cap = (size_t)slot - skip;
  for (i = 0; i < (uint32_t)max; i++) {
    ssize_t n;
    do n = read(fd, slab + (size_t)i * (size_t)slot + skip, cap);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || i > 0) break;  /* frames in hand win; a lasting error repeats next call */
      return throw_errno(env, errno, "read", "readBatch");
    }
    /* A vnet TAP always prepends its header; anything shorter is not a frame. */
    lengths[i] = n >= hdr ? (uint32_t)(n - hdr) : 0;
  }
  if (napi_create_uint32(env, i, &ret) != napi_ok) return NULL;
  return ret;
}

/* ---------------------------------------------------------------- writeBatch */

/*
 * writeBatch(fd, slab, offsets, lengths, count, mode) -> frames written
 * Stops at EAGAIN/ENOBUFS (queue full: the rest would fail too) and EBADF/EBADFD (fd or TAP
 * gone); any other per-frame error (EINVAL for a malformed frame or vnet header, EIO, ...)
 * skips that frame. lastWriteErrno() tells the last such errno, lastWriteBytes() the bytes
 * written; the caller turns (count - written) into its error counter.
 */
static napi_value WriteBatch(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], ret;
  int fd;
  int64_t count, mode;
  uint8_t *slab;
  uint32_t *offsets, *lengths;
  size_t slab_len, offsets_len, lengths_len;
  uint32_t i, written = 0;
  double bytes = 0;
  int last_err = 0;

  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 6) return throw_type(env, "writeBatch(fd, slab, offsets, lengths, count, mode) takes 6 arguments");
  if (get_fd(env, argv[0], &fd) ||
      get_typed(env, argv[1], napi_uint8_array, "slab", (void **)&slab, &slab_len) ||
      get_typed(env, argv[2], napi_uint32_array, "offsets", (void **)&offsets, &offsets_len) ||
      get_typed(env, argv[3], napi_uint32_array, "lengths", (void **)&lengths, &lengths_len) ||
      get_int(env, argv[4], "count", 0, UINT32_MAX, &count) ||
      get_int(env, argv[5], "mode", WRITE_PLAIN, WRITE_ZERO_HDR, &mode))
    return NULL;
  if ((uint64_t)count > offsets_len || (uint64_t)count > lengths_len)
    return throw_range(env, "count exceeds offsets.length or lengths.length");
  /* Check every frame before writing any, so a bad argument never leaves a half-sent batch. */
  for (i = 0; i < (uint32_t)count; i++) {
    if ((uint64_t)offsets[i] + lengths[i] > slab_len) return throw_range(env, "frame extends past the end of slab");
    if (mode == WRITE_VNET_HDR && offsets[i] < VNET_HDR_LEN) return throw_range(env, "frame has no headroom for its vnet header");
  }

  for (i = 0; i < (uint32_t)count; i++) {
    uint8_t *frame = slab + offsets[i];
    size_t len = lengths[i];
    ssize_t n;
    if (mode == WRITE_PLAIN) {
      do n = write(fd, frame, len); while (n < 0 && errno == EINTR);
    } else if (mode == WRITE_VNET_HDR) {
      do n = write(fd, frame - VNET_HDR_LEN, len + VNET_HDR_LEN); while (n < 0 && errno == EINTR);
    } else {
      struct iovec iov[2] = {
        { .iov_base = (void *)zero_vnet_hdr, .iov_len = VNET_HDR_LEN },  /* kernel only reads it */
        { .iov_base = frame, .iov_len = len },
      };
      do n = writev(fd, iov, 2); while (n < 0 && errno == EINTR);
    }
    if (n < 0) {
      last_err = errno;
      if (errno == EAGAIN || errno == ENOBUFS || errno == EBADF || errno == EBADFD) break;
      continue;
    }
    written++;
    bytes += (double)len;
  }
  last_write_errno = last_err;
  last_write_bytes = bytes;
  if (napi_create_uint32(env, written, &ret) != napi_ok) return NULL;
  return ret;
}

static napi_value LastWriteErrno(napi_env env, napi_callback_info info) {
  napi_value ret;
  (void)info;
  if (napi_create_int32(env, last_write_errno, &ret) != napi_ok) return NULL;
  return ret;
}

static napi_value LastWriteBytes(napi_env env, napi_callback_info info) {
  napi_value ret;
  (void)info;
  if (napi_create_double(env, last_write_bytes, &ret) != napi_ok) return NULL;
  return ret;
}

/* ---------------------------------------------------------------- startPoll / stopPoll */

/*
 * One uv_poll_t per watched fd. Lifetime: allocated by startPoll; stopPoll (or the env's
 * async cleanup hook, when a worker or the process tears down without stopPoll) stops it,
 * drops the JS references and uv_close()s it. The close callback removes the async cleanup
 * hook: that is what makes a terminating worker wait for uv_close to finish *before* it
 * unloads this addon (a plain cleanup hook would leave libuv calling into unmapped code).
 * The memory is freed once libuv is done with it *and* the JS handle object has been
 * garbage collected, so a stale handle passed to stopPoll again is harmless.
 */
typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;          /* strong ref to the JS callback; NULL once stopped */
  napi_async_context async;   /* so each call is a proper top-level callback (microtasks run) */
  napi_async_cleanup_hook_handle cleanup;  /* removed once uv_close completes */
  int stopped;                /* stopPoll/cleanup ran */
  int uv_closed;              /* libuv's close callback ran */
  int js_collected;           /* the external handle was garbage collected */
} poll_handle;

/* Marks startPoll's externals, so stopPoll never dereferences someone else's pointer. */
static const napi_type_tag poll_handle_tag = { 0x7461706666c6f77ULL, 0x706f6c6c68616e64ULL };

static void poll_maybe_free(poll_handle *h) {
  if (h->uv_closed && h->js_collected) free(h);
}

static void on_uv_close(uv_handle_t *handle) {
  poll_handle *h = (poll_handle *)handle->data;
  h->uv_closed = 1;
  if (h->cleanup) napi_remove_async_cleanup_hook(h->cleanup);
  h->cleanup = NULL;
  poll_maybe_free(h);
}

static void poll_stop(poll_handle *h) {
  if (h->stopped) return;
  h->stopped = 1;
  uv_poll_stop(&h->poll);
  if (h->callback) napi_delete_reference(h->env, h->callback);
  if (h->async) napi_async_destroy(h->env, h->async);
  h->callback = NULL;
  h->async = NULL;
  uv_close((uv_handle_t *)&h->poll, on_uv_close);
}

/* Env teardown without stopPoll: close now; on_uv_close lets teardown continue. */
static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  poll_handle *h = (poll_handle *)arg;
  (void)handle;  /* same as h->cleanup */
  poll_stop(h);
}

static void on_external_finalize(napi_env env, void *data, void *hint) {
  poll_handle *h = (poll_handle *)data;
  (void)env;
  (void)hint;
  /* Losing the handle does not stop polling (like losing a timer id); env teardown does. */
  h->js_collected = 1;
  poll_maybe_free(h);
}

/*
 * libuv callback: once per wakeup. status < 0 means libuv saw an error on the fd (POLLERR,
 * e.g. the TAP was deleted) and already stopped watching; the JS callback gets the status
 * as its only argument so a receive() there surfaces the real errno.
 */
static void on_uv_poll(uv_poll_t *handle, int status, int events) {
  poll_handle *h = (poll_handle *)handle->data;
  napi_env env = h->env;
  napi_handle_scope scope;
  napi_value fn, recv, arg, result;
  napi_status st;
  (void)events;
  if (h->stopped || h->callback == NULL) return;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (napi_get_reference_value(env, h->callback, &fn) == napi_ok && fn != NULL &&
      napi_get_global(env, &recv) == napi_ok &&  /* make_callback needs an object receiver */
      napi_create_int32(env, status, &arg) == napi_ok) {
    st = napi_make_callback(env, h->async, recv, fn, 1, &arg, &result);
    if (st == napi_pending_exception) {
      napi_value exc;
      /* Same fate as an exception thrown from any other event callback: 'uncaughtException'. */
      if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
    }
  }
  napi_close_handle_scope(env, scope);
}

static napi_value StartPoll(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], external, resource_name;
  napi_valuetype type;
  uv_loop_t *loop;
  poll_handle *h;
  int fd, rc;

  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) return throw_type(env, "startPoll(fd, callback) takes 2 arguments");
  if (get_fd(env, argv[0], &fd)) return NULL;
  if (napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function)
    return throw_type(env, "callback must be a function");
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return NULL;

  h = calloc(1, sizeof *h);
  if (h == NULL) return throw_errno(env, ENOMEM, "calloc", "startPoll");
  h->env = env;
  h->poll.data = h;
  rc = uv_poll_init(loop, &h->poll, fd);
  if (rc < 0) {
    free(h);  /* uv_poll_init failed before registering the handle with the loop */
    return throw_errno(env, -rc, "uv_poll_init", "startPoll");
  }
  if (napi_create_reference(env, argv[1], 1, &h->callback) != napi_ok ||
      napi_create_string_utf8(env, "tapflow.TapPoll", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_async_init(env, NULL, resource_name, &h->async) != napi_ok)
    goto fail_js;
  rc = uv_poll_start(&h->poll, UV_READABLE, on_uv_poll);
  if (rc < 0) {
    poll_stop(h);
    h->js_collected = 1;  /* no JS handle was ever created */
    return throw_errno(env, -rc, "uv_poll_start", "startPoll");
  }
  if (napi_add_async_cleanup_hook(env, on_env_cleanup, h, &h->cleanup) != napi_ok) goto fail_js;
  if (napi_create_external(env, h, on_external_finalize, NULL, &external) != napi_ok) goto fail_js;
  if (napi_type_tag_object(env, external, &poll_handle_tag) != napi_ok) {
    poll_stop(h);  /* the external's finalizer frees h */
    return NULL;
  }
  return external;

fail_js:
  poll_stop(h);
  h->js_collected = 1;
  return NULL;  /* a JS exception is pending */
}

static napi_value StopPoll(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_valuetype type;
  bool ours = false;
  poll_handle *h;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_external ||
      napi_check_object_type_tag(env, argv[0], &poll_handle_tag, &ours) != napi_ok || !ours ||
      napi_get_value_external(env, argv[0], (void **)&h) != napi_ok)
    return throw_type(env, "stopPoll(handle) takes a handle returned by startPoll");
  poll_stop(h);  /* no-op when already stopped; on_uv_close drops the cleanup hook */
  return NULL;
}

/* ---------------------------------------------------------------- module */

static napi_status set_u32(napi_env env, napi_value obj, const char *name, uint32_t value) {
  napi_value v;
  napi_status st = napi_create_uint32(env, value, &v);
  return st == napi_ok ? napi_set_named_property(env, obj, name, v) : st;
}

static napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor fns[] = {
    { "openTap", NULL, OpenTap, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setOffload", NULL, SetOffload, NULL, NULL, NULL, napi_enumerable, NULL },
    { "readBatch", NULL, ReadBatch, NULL, NULL, NULL, napi_enumerable, NULL },
    { "writeBatch", NULL, WriteBatch, NULL, NULL, NULL, napi_enumerable, NULL },
    { "lastWriteErrno", NULL, LastWriteErrno, NULL, NULL, NULL, napi_enumerable, NULL },
    { "lastWriteBytes", NULL, LastWriteBytes, NULL, NULL, NULL, napi_enumerable, NULL },
    { "startPoll", NULL, StartPoll, NULL, NULL, NULL, napi_enumerable, NULL },
    { "stopPoll", NULL, StopPoll, NULL, NULL, NULL, napi_enumerable, NULL },
    { "closeFd", NULL, CloseFd, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setPersist", NULL, SetPersist, NULL, NULL, NULL, napi_enumerable, NULL },
    { "dropPrivileges", NULL, DropPrivileges, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  if (napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) != napi_ok ||
      set_u32(env, exports, "TAP_VNET_HDR", TAP_VNET_HDR) != napi_ok ||
      set_u32(env, exports, "TAP_MULTI_QUEUE", TAP_MULTI_QUEUE) != napi_ok ||
      set_u32(env, exports, "TUN_F_CSUM", TUN_F_CSUM) != napi_ok ||
      set_u32(env, exports, "TUN_F_TSO4", TUN_F_TSO4) != napi_ok ||
      set_u32(env, exports, "TUN_F_TSO6", TUN_F_TSO6) != napi_ok ||
      set_u32(env, exports, "TUN_F_TSO_ECN", TUN_F_TSO_ECN) != napi_ok ||
      set_u32(env, exports, "TUN_F_UFO", TUN_F_UFO) != napi_ok ||
      set_u32(env, exports, "WRITE_PLAIN", WRITE_PLAIN) != napi_ok ||
      set_u32(env, exports, "WRITE_VNET_HDR", WRITE_VNET_HDR) != napi_ok ||
      set_u32(env, exports, "WRITE_ZERO_HDR", WRITE_ZERO_HDR) != napi_ok ||
      set_u32(env, exports, "VNET_HDR_LEN", VNET_HDR_LEN) != napi_ok)
    return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
