/**
 * TapPort against real TAP devices in throwaway network namespaces.
 *
 * Each scenario opens a TAP, moves it into a fresh netns where the kernel is our peer
 * (10.99.0.2 for the plain port, 10.98.0.2 for the vnet port; we play 10.x.0.1 by answering
 * ARP by hand), and checks frames both ways. Needs root and /dev/net/tun; skipped otherwise.
 * Every child process has a timeout; ports and namespaces are removed in t.teardown.
 */
import t from 'tap';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { TapPort } from './tap-port';
import { MAX_FRAME_LEN, SLOT_SIZE_GSO, SLOT_SIZE_PLAIN, VNET_HDR_LEN } from './port';
import { loadNative, TUN_F_CSUM, WRITE_PLAIN } from '../native';

const CHILD_TIMEOUT_MS = 10_000;
const WAIT_MS = 5_000;

const canRun = process.getuid?.() === 0 && fs.existsSync('/dev/net/tun');
const skipReason = canRun ? false : 'needs root and /dev/net/tun';

// ---------------------------------------------------------------- helpers: processes

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { timeout: CHILD_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

function nsRun(ns: string, args: string[]): string {
  return run('ip', ['netns', 'exec', ns, ...args]);
}

/** Start `node -e script ...args` inside ns; resolves with stdout when it exits. */
function nsNode(ns: string, script: string, args: string[], children: ChildProcess[]): { child: ChildProcess; done: Promise<string>; ready: Promise<void> } {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], {
    timeout: CHILD_TIMEOUT_MS,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('ready\n')) markReady();
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<string>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve(out) : reject(new Error(`ns child exited ${code ?? signal}: ${err}`))));
  });
  done.catch(() => markReady());
  return { child, done, ready };
}

/** argv: count, dst ip, dst port — sends `count` datagrams 'tapflow-<i>' one after another. */
const UDP_SENDER = `
const [n, ip, port] = [+process.argv[1], process.argv[2], +process.argv[3]];
const s = require('dgram').createSocket('udp4');
let i = 0;
const next = () => (i === n ? s.close() : s.send('tapflow-' + i++, port, ip, (e) => { if (e) throw e; next(); }));
next();`;

/** argv: bind ip, port, expected count — prints "ready", then the payloads, exits after `count` or 4 s. */
const UDP_LISTENER = `
const [ip, port, n] = [process.argv[1], +process.argv[2], +process.argv[3]];
const s = require('dgram').createSocket('udp4');
const got = [];
const finish = () => { console.log(JSON.stringify(got)); process.exit(0); };
s.on('message', (m) => { got.push(m.toString()); if (got.length === n) finish(); });
s.bind(port, ip, () => console.log('ready'));
setTimeout(finish, 4000);`;

/** The payloads a UDP_LISTENER printed (its last line). */
const received = (out: string): string[] => JSON.parse(out.trim().split('\n').pop() ?? '[]') as string[];

/** argv: bind ip, port, bytes — prints "ready", sends `bytes` to the first client, exits after 4 s. */
const TCP_SERVER = `
const [ip, port, n] = [process.argv[1], +process.argv[2], +process.argv[3]];
const srv = require('net').createServer((c) => { c.on('error', () => {}); c.write(Buffer.alloc(n, 0x61)); });
srv.listen(port, ip, () => console.log('ready'));
setTimeout(() => process.exit(0), 4000);`;

/** A netns with one TAP moved in and addressed; everything is removed by the returned cleanup. */
function setupNamespace(port: TapPort, addr: string): string {
  const ns = `tft-${process.pid}-${randomBytes(3).toString('hex')}`;
  run('ip', ['netns', 'add', ns]);
  try {
    // No IPv6 chatter (router solicitations, MLD) to filter out; absent sysctls are fine.
    nsRun(ns, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  } catch {
    /* IPv6 not built in */
  }
  run('ip', ['link', 'set', port.name, 'netns', ns]);
  run('ip', ['-n', ns, 'addr', 'add', addr, 'dev', port.name]);
  run('ip', ['-n', ns, 'link', 'set', port.name, 'up']);
  return ns;
}

function deleteNamespace(ns: string): void {
  try {
    run('ip', ['netns', 'del', ns]);
  } catch {
    /* already gone */
  }
}

// ---------------------------------------------------------------- helpers: frames

const OUR_MAC = Uint8Array.of(0x02, 0x00, 0x00, 0x99, 0x00, 0x01);
const ETH_HLEN = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_ARP = 0x0806;
/** virtio_net_hdr.flags bit: csum_start/csum_offset describe a checksum still to fill. */
const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
/** virtio_net_hdr.gso_type: TCP over IPv4 segmentation. */
const VIRTIO_NET_HDR_GSO_TCPV4 = 1;

const ip4 = (s: string): number[] => s.split('.').map(Number);
const u16 = (f: Uint8Array, o: number): number => (f[o] << 8) | f[o + 1];
const le16 = (f: Uint8Array, o: number): number => f[o] | (f[o + 1] << 8);
const same = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => a.length === b.length && Array.from(a).every((x, i) => x === b[i]);
const hexMac = (m: Uint8Array): string => Array.from(m, (b) => b.toString(16).padStart(2, '0')).join(':');

function isArpRequestFor(f: Uint8Array, ip: string): boolean {
  return f.length >= 42 && u16(f, 12) === ETHERTYPE_ARP && u16(f, 20) === 1 && same(f.subarray(38, 42), ip4(ip));
}

function isUdpTo(f: Uint8Array, ip: string, port: number): boolean {
  return f.length >= 42 && u16(f, 12) === ETHERTYPE_IPV4 && f[23] === 17 && same(f.subarray(30, 34), ip4(ip)) && u16(f, 36) === port;
}

function isTcpFrom(f: Uint8Array, sport: number): boolean {
  return f.length >= 54 && u16(f, 12) === ETHERTYPE_IPV4 && f[23] === 6 && u16(f, 34) === sport;
}

/** ARP reply to `req` (an ARP request), claiming its target IP for OUR_MAC. Returns 42 bytes. */
function arpReply(req: Uint8Array): Uint8Array {
  const f = new Uint8Array(42);
  f.set(req.subarray(22, 28), 0); // eth dst = requester's MAC
  f.set(OUR_MAC, 6);
  f[12] = 0x08; f[13] = 0x06;
  f.set([0, 1, 0x08, 0x00, 6, 4, 0, 2], 14); // htype ether, ptype ipv4, hlen, plen, oper reply
  f.set(OUR_MAC, 22); // sha
  f.set(req.subarray(38, 42), 28); // spa = the IP asked for
  f.set(req.subarray(22, 28), 32); // tha
  f.set(req.subarray(28, 32), 38); // tpa
  return f;
}

/** Internet checksum (RFC 1071) of `b`, seeded with `sum`. */
function csum(b: Uint8Array, sum = 0): number {
  for (let i = 0; i < b.length; i += 2) sum += (b[i] << 8) | (i + 1 < b.length ? b[i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * Ethernet + IPv4 (+ `l4` as payload) at `at` in `buf`, from OUR_MAC; returns the frame
 * length. `l4CsumAt` >= 0: fill the L4 checksum at that offset in l4 (pseudo-header included).
 */
function writeIp4(buf: Uint8Array, at: number, dstMac: Uint8Array, src: string, dst: string, proto: number, l4: Uint8Array, l4CsumAt = -1): number {
  const ipLen = 20 + l4.length;
  const f = buf.subarray(at, at + ETH_HLEN + ipLen);
  f.set(dstMac, 0);
  f.set(OUR_MAC, 6);
  f[12] = 0x08; f[13] = 0x00;
  f.set([0x45, 0, ipLen >> 8, ipLen & 0xff, 0, 1, 0x40, 0, 64, proto, 0, 0, ...ip4(src), ...ip4(dst)], 14);
  const ipSum = csum(f.subarray(14, 34));
  f[24] = ipSum >> 8; f[25] = ipSum & 0xff;
  f.set(l4, 34);
  if (l4CsumAt >= 0) {
    const pseudo = Uint8Array.of(...ip4(src), ...ip4(dst), 0, proto, l4.length >> 8, l4.length & 0xff);
    const sum = csum(f.subarray(34), 0xffff & ~csum(pseudo));
    f[34 + l4CsumAt] = sum >> 8; f[35 + l4CsumAt] = sum & 0xff;
  }
  return f.length;
}

/** Ethernet + IPv4 + UDP (checksum 0: none) at `at` in `buf`; returns the frame length. */
function writeUdp(buf: Uint8Array, at: number, dstMac: Uint8Array, src: string, dst: string, sport: number, dport: number, payload: string): number {
  const data = Buffer.from(payload);
  const udp = new Uint8Array(8 + data.length);
  udp.set([sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, udp.length >> 8, udp.length & 0xff, 0, 0]);
  udp.set(data, 8);
  return writeIp4(buf, at, dstMac, src, dst, 17, udp);
}

const TCP_SYN = 0x02;
const TCP_ACK = 0x10;

/** A TCP segment without payload (SYN gets an MSS 1460 option), as a complete frame. */
function tcpFrame(dstMac: Uint8Array, src: string, dst: string, sport: number, dport: number, seq: number, ack: number, flags: number): Uint8Array {
  const opts = flags & TCP_SYN ? [2, 4, 0x05, 0xb4] : [];
  const tcp = new Uint8Array(20 + opts.length);
  const dv = new DataView(tcp.buffer);
  dv.setUint16(0, sport);
  dv.setUint16(2, dport);
  dv.setUint32(4, seq >>> 0);
  dv.setUint32(8, ack >>> 0);
  tcp[12] = (tcp.length / 4) << 4;
  tcp[13] = flags;
  dv.setUint16(14, 65535);
  tcp.set(opts, 20);
  const buf = new Uint8Array(ETH_HLEN + 20 + tcp.length);
  writeIp4(buf, 0, dstMac, src, dst, 6, tcp, 16);
  return buf;
}

/** One frame to send: copied to a fresh slab with headroom. */
function single(frame: Uint8Array): [Uint8Array, Uint32Array, Uint32Array] {
  const slab = new Uint8Array(VNET_HDR_LEN + frame.length);
  slab.set(frame, VNET_HDR_LEN);
  return [slab, Uint32Array.of(VNET_HDR_LEN), Uint32Array.of(frame.length)];
}

/**
 * Drains a port on every wakeup into copies (10 bytes of headroom + frame) and records the
 * size of each non-empty receive() batch, so tests can wait for specific frames.
 */
class Sink {
  readonly frames: Uint8Array[] = [];
  readonly batches: number[] = [];
  readonly errors: NodeJS.ErrnoException[] = [];
  readonly statuses: number[] = [];
  private wake: (() => void) | null = null;

  constructor(readonly port: TapPort) {
    port.onReadable(((status: number) => this.drain(status)) as () => void);
  }

  drain(status = 0): void {
    if (status !== 0) this.statuses.push(status);
    const rx = this.port.rx;
    try {
      for (let n = this.port.receive(); n > 0; n = this.port.receive()) {
        this.batches.push(n);
        for (let i = 0; i < n; i++) this.frames.push(rx.slab.slice(rx.offsets[i] - VNET_HDR_LEN, rx.offsets[i] + rx.lengths[i]));
      }
    } catch (e) {
      this.errors.push(e as NodeJS.ErrnoException);
    }
    this.wake?.();
  }

  /** Remove and return the first frame (with its headroom) whose Ethernet frame matches. */
  async take(what: string, match: (frame: Uint8Array) => boolean, ms = WAIT_MS): Promise<Uint8Array> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.frames.findIndex((f) => match(f.subarray(VNET_HDR_LEN)));
      if (i >= 0) return this.frames.splice(i, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; have ${this.frames.length} other frames`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /** Wait until `cond()` holds, re-checking on every wakeup. */
  async until(what: string, cond: () => boolean, ms = WAIT_MS): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

const tapName = (prefix: string): string => prefix + randomBytes(3).toString('hex');

// ---------------------------------------------------------------- tests

t.test('addon rejects programmer errors before any syscall', async (t) => {
  const n = loadNative();
  const slab = new Uint8Array(4 * 2048);
  const lengths = new Uint32Array(4);
  t.throws(() => n.readBatch(0, slab, 2048, 0, 5, lengths), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }, 'slab too small');
  t.throws(() => n.readBatch(0, slab, 2048, 0, 4, new Uint32Array(3)), { name: 'RangeError' }, 'lengths too short');
  t.throws(() => n.readBatch(0, slab, 2048, 4 as 0, 4, lengths), { name: 'RangeError' }, 'vnetHdrLen not 0/10');
  t.throws(() => n.readBatch(0, new Uint16Array(4096) as unknown as Uint8Array, 2048, 0, 4, lengths), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => n.readBatch(-1, slab, 2048, 0, 4, lengths), { name: 'RangeError' }, 'negative fd');
  t.throws(() => n.writeBatch(0, slab, Uint32Array.of(8190), Uint32Array.of(3), 1, WRITE_PLAIN), { name: 'RangeError' }, 'frame past slab end');
  t.throws(() => n.writeBatch(0, slab, Uint32Array.of(4), Uint32Array.of(3), 1, 1), { name: 'RangeError' }, 'no headroom for mode 1');
  t.throws(() => n.writeBatch(0, slab, Uint32Array.of(10), Uint32Array.of(3), 2, WRITE_PLAIN), { name: 'RangeError' }, 'count > offsets');
  t.throws(() => n.writeBatch(0, slab, Uint32Array.of(10), Uint32Array.of(3), 1, 3 as 0), { name: 'RangeError' }, 'bad mode');
  t.throws(() => n.startPoll(0, 'nope' as unknown as () => void), { name: 'TypeError' });
  t.throws(() => n.stopPoll({} as never), { name: 'TypeError' });
  t.throws(() => n.openTap('x'.repeat(16), 0), { code: 'ENAMETOOLONG', errno: -36 }, 'name longer than 15 bytes');
  t.throws(() => n.openTap('x'.repeat(14) + 'é', 0), { code: 'ENAMETOOLONG' }, 'multi-byte name overflow is not truncated');
});

t.test('plain TAP: ARP, unicast, batches both ways, errors', { skip: skipReason }, async (t) => {
  const children: ChildProcess[] = [];
  const port = TapPort.open(tapName('tft'), {});
  let ns = '';
  t.teardown(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    port.close();
    if (ns) deleteNamespace(ns);
  });
  t.equal(port.vnetHdr, false);
  t.equal(port.slotSize, SLOT_SIZE_PLAIN);
  t.equal(port.rx.offsets[3], 3 * SLOT_SIZE_PLAIN + VNET_HDR_LEN, 'Ethernet header at slot start + 10');
  t.equal(port.receive(), 0, 'nothing queued: 0, no throw');

  ns = setupNamespace(port, '10.99.0.2/24');
  const sink = new Sink(port);

  // The kernel in ns wants 10.99.0.1: it has to ask us first.
  const sender = nsNode(ns, UDP_SENDER, ['1', '10.99.0.1', '9999'], children);
  const req = (await sink.take('ARP request for 10.99.0.1', (f) => isArpRequestFor(f, '10.99.0.1'))).subarray(VNET_HDR_LEN);
  t.equal(u16(req, 12), ETHERTYPE_ARP, 'ethertype ARP');
  t.same(Array.from(req.subarray(38, 42)), [10, 99, 0, 1], 'ARP target IP');
  t.same(Array.from(req.subarray(28, 32)), [10, 99, 0, 2], 'ARP sender IP');
  const tapMac = req.slice(22, 28);

  const before = { ...port.counters };
  t.equal(port.send(...single(arpReply(req)), 1, false), 1, 'ARP reply sent');
  t.equal(port.counters.txPackets, before.txPackets + 1);
  t.equal(port.counters.txBytes, before.txBytes + 42);
  const udp = (await sink.take('UDP datagram to 10.99.0.1:9999', (f) => isUdpTo(f, '10.99.0.1', 9999))).subarray(VNET_HDR_LEN);
  t.equal(u16(udp, 12), ETHERTYPE_IPV4, 'IPv4');
  t.equal(udp[23], 17, 'IP protocol UDP');
  t.same(Array.from(udp.subarray(30, 34)), [10, 99, 0, 1], 'IP dst');
  t.same(Array.from(udp.subarray(0, 6)), Array.from(OUR_MAC), 'sent to the MAC we announced');
  t.match(nsRun(ns, ['ip', 'neigh', 'show', '10.99.0.1']), hexMac(OUR_MAC), 'kernel learned our MAC');
  await sender.done;
  t.ok(port.counters.rxPackets >= 2 && port.counters.rxBytes >= 42 + udp.length, 'rx counters');

  // 50 datagrams queued while the event loop is blocked: one wakeup must read them in batches.
  const batchesBefore = sink.batches.length;
  nsRun(ns, [process.execPath, '-e', UDP_SENDER, '50', '10.99.0.1', '9998']);
  const got: Uint8Array[] = [];
  for (let i = 0; i < 50; i++) got.push(await sink.take(`datagram ${i} of 50`, (f) => isUdpTo(f, '10.99.0.1', 9998)));
  const payloads = got.map((f) => Buffer.from(f.subarray(VNET_HDR_LEN + 42)).toString());
  t.same(payloads, Array.from({ length: 50 }, (_, i) => `tapflow-${i}`), 'all 50, in order');
  const newBatches = sink.batches.slice(batchesBefore);
  t.ok(Math.max(...newBatches) > 1, `a readBatch returned several frames (batches: ${newBatches.join(',')})`);
  t.ok(newBatches.every((n) => n <= port.rx.offsets.length), 'never more than the batch size');

  // 20 frames in one send(); the slab is a subarray with a non-zero byteOffset.
  const listener = nsNode(ns, UDP_LISTENER, ['10.99.0.2', '7777', '20'], children);
  await listener.ready;
  const backing = new Uint8Array(5 + 20 * 256);
  const slab = backing.subarray(5);
  const offsets = new Uint32Array(20);
  const lengths = new Uint32Array(20);
  let bytes = 0;
  for (let i = 0; i < 20; i++) {
    offsets[i] = i * 256 + VNET_HDR_LEN;
    lengths[i] = writeUdp(slab, offsets[i], tapMac, '10.99.0.1', '10.99.0.2', 5555, 7777, `w-${i}`);
    bytes += lengths[i];
  }
  const tx = { ...port.counters };
  t.equal(port.send(slab, offsets, lengths, 20, false), 20, 'writeBatch wrote 20');
  t.equal(port.counters.txPackets - tx.txPackets, 20, 'txPackets +20');
  t.equal(port.counters.txBytes - tx.txBytes, bytes, 'txBytes');
  t.equal(port.counters.txErrors, tx.txErrors, 'no tx errors');
  t.same(received(await listener.done), Array.from({ length: 20 }, (_, i) => `w-${i}`), 'the namespace got all 20');

  // A runt frame is refused by the kernel (EINVAL): skipped, counted, the rest still go out.
  const listener2 = nsNode(ns, UDP_LISTENER, ['10.99.0.2', '7778', '2'], children);
  await listener2.ready;
  const mixed = new Uint8Array(3 * 256);
  const mOff = Uint32Array.of(10, 266, 522);
  const mLen = Uint32Array.of(0, 5, 0);
  mLen[0] = writeUdp(mixed, 10, tapMac, '10.99.0.1', '10.99.0.2', 5555, 7778, 'ok-a');
  mLen[2] = writeUdp(mixed, 522, tapMac, '10.99.0.1', '10.99.0.2', 5555, 7778, 'ok-b');
  const e0 = { ...port.counters };
  t.equal(port.send(mixed, mOff, mLen, 3, false), 2, 'bad frame skipped, others written');
  t.equal(port.counters.txErrors - e0.txErrors, 1, 'one tx error');
  t.equal(port.counters.txBytes - e0.txBytes, mLen[0] + mLen[2], 'txBytes counts written frames only');
  t.equal(port.lastSendErrno(), 22, 'EINVAL reported by lastSendErrno');
  t.same(received(await listener2.done), ['ok-a', 'ok-b']);

  // Down interface: the kernel refuses writes with EIO.
  run('ip', ['-n', ns, 'link', 'set', port.name, 'down']);
  const e1 = port.counters.txErrors;
  t.equal(port.send(...single(arpReply(req)), 1, false), 0, 'nothing written while down');
  t.equal(port.counters.txErrors - e1, 1);
  t.equal(port.lastSendErrno(), 5, 'EIO while down');

  port.close();
  port.close();
  t.equal(port.fd, -1);
  t.equal(port.receive(), 0, 'receive after close: 0');
  t.throws(() => port.onReadable(() => {}), /closed/);
});

t.test('vnet_hdr TAP: header in the headroom, modes 1 and 2, TAP deleted under us', { skip: skipReason }, async (t) => {
  const children: ChildProcess[] = [];
  const port = TapPort.open(tapName('tfv'), { vnetHdr: true, batch: 8 });
  let ns = '';
  t.teardown(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    port.close();
    if (ns) deleteNamespace(ns);
  });
  t.equal(port.vnetHdr, true);
  t.equal(port.slotSize, SLOT_SIZE_GSO);
  t.equal(port.rx.offsets.length, 8);
  t.equal(port.rx.offsets[1], SLOT_SIZE_GSO + VNET_HDR_LEN);

  ns = setupNamespace(port, '10.98.0.2/24');
  const sink = new Sink(port);

  nsNode(ns, UDP_SENDER, ['1', '10.98.0.1', '9999'], children);
  const reqSlot = await sink.take('ARP request', (f) => isArpRequestFor(f, '10.98.0.1'));
  const req = reqSlot.subarray(VNET_HDR_LEN);
  t.equal(req.length, 42, 'length excludes the 10-byte vnet header');
  t.equal(reqSlot[0], 0, 'vnet flags: none');
  t.equal(reqSlot[1], 0, 'vnet gso_type: NONE');
  t.equal(le16(reqSlot, 4), 0, 'gso_size 0');
  const tapMac = req.slice(22, 28);

  // Mode 2: garbage headroom, the addon sends a zero header instead.
  const [rs, ro, rl] = single(arpReply(req));
  rs.fill(0xee, 0, VNET_HDR_LEN);
  t.equal(port.send(rs, ro, rl, 1, false), 1, 'ARP reply with a zero header (mode 2)');
  const udpSlot = await sink.take('UDP datagram', (f) => isUdpTo(f, '10.98.0.1', 9999));
  const udp = udpSlot.subarray(VNET_HDR_LEN);
  t.equal(udp.length, 42 + 'tapflow-0'.length, 'frame length');
  t.equal(u16(udp, 16), udp.length - ETH_HLEN, 'IP total length agrees with the frame length');
  t.equal(udpSlot[1], 0, 'no GSO for a small datagram');
  // TUN_F_CSUM is on (default offloads): the kernel leaves the UDP checksum to us.
  t.equal(udpSlot[0], VIRTIO_NET_HDR_F_NEEDS_CSUM, 'vnet flags: NEEDS_CSUM');
  t.equal(le16(udpSlot, 6), ETH_HLEN + 20, 'csum_start = UDP header (little-endian)');
  t.equal(le16(udpSlot, 8), 6, 'csum_offset = UDP checksum field (little-endian)');

  // Mode 1: headers in the headroom; a bad gso_type in the middle frame is refused (EINVAL).
  const listener = nsNode(ns, UDP_LISTENER, ['10.98.0.2', '7777', '2'], children);
  await listener.ready;
  const slab = new Uint8Array(3 * 256);
  const offsets = Uint32Array.of(10, 266, 522);
  const lengths = new Uint32Array(3);
  for (let i = 0; i < 3; i++) lengths[i] = writeUdp(slab, offsets[i], tapMac, '10.98.0.1', '10.98.0.2', 5555, 7777, `v-${i}`);
  slab[256 + 1] = 0x77; // frame 1: unknown gso_type
  const c0 = { ...port.counters };
  t.equal(port.send(slab, offsets, lengths, 3, true), 2, 'two of three written (mode 1)');
  t.equal(port.lastSendErrno(), 22, 'EINVAL for the bad header');
  t.equal(port.counters.txErrors - c0.txErrors, 1);
  t.equal(port.counters.txBytes - c0.txBytes, lengths[0] + lengths[2]);
  t.same(received(await listener.done), ['v-0', 'v-2'], 'good frames delivered');

  // TSO: a TCP server in the namespace sends its first flight to us as GSO super-frames.
  const server = nsNode(ns, TCP_SERVER, ['10.98.0.2', '8080', '30000'], children);
  await server.ready;
  const ISS = 1000;
  t.equal(port.send(...single(tcpFrame(tapMac, '10.98.0.1', '10.98.0.2', 40000, 8080, ISS, 0, TCP_SYN)), 1, false), 1, 'SYN');
  const synAck = (await sink.take('SYN-ACK', (f) => isTcpFrom(f, 8080) && f[47] === (TCP_SYN | TCP_ACK))).subarray(VNET_HDR_LEN);
  const serverIss = new DataView(synAck.buffer, synAck.byteOffset).getUint32(38);
  t.equal(port.send(...single(tcpFrame(tapMac, '10.98.0.1', '10.98.0.2', 40000, 8080, ISS + 1, serverIss + 1, TCP_ACK)), 1, false), 1, 'ACK');
  const gso = await sink.take('TCP GSO super-frame', (f) => isTcpFrom(f, 8080) && f.length > 1514, WAIT_MS);
  const seg = gso.subarray(VNET_HDR_LEN);
  t.equal(gso[1], VIRTIO_NET_HDR_GSO_TCPV4, 'gso_type TCPV4');
  t.ok(le16(gso, 4) > 0 && le16(gso, 4) <= 1460, `gso_size ${le16(gso, 4)} is an MSS (little-endian)`);
  t.ok(seg.length > le16(gso, 4) + 54 && seg.length <= MAX_FRAME_LEN, `super-frame of ${seg.length} bytes fits a GSO slot`);
  t.equal(u16(seg, 16), seg.length - ETH_HLEN, 'IP total length covers the whole super-frame');
  t.equal(gso[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_F_NEEDS_CSUM, 'checksum left to us');
  t.equal(le16(gso, 6), ETH_HLEN + 20, 'csum_start = TCP header');
  t.equal(le16(gso, 8), 16, 'csum_offset = TCP checksum field');
  t.comment(`GSO vnet header ${Buffer.from(gso.subarray(0, VNET_HDR_LEN)).toString('hex')}, frame ${seg.length} bytes`);

  // Deleting the TAP under an open fd: one wakeup with an error status, reads fail EBADFD.
  const errorsBefore = sink.errors.length;
  run('ip', ['-n', ns, 'link', 'del', port.name]);
  await sink.until('read error after delete', () => sink.errors.length > errorsBefore);
  t.equal(sink.errors[errorsBefore].code, 'EBADFD', 'read after delete: EBADFD');
  t.ok(sink.statuses.length > 0 && sink.statuses.every((s) => s < 0), `poll reported the error (${sink.statuses.join(',')})`);
  const e = port.counters.txErrors;
  t.equal(port.send(rs, ro, rl, 1, false), 0, 'send after delete writes nothing');
  t.equal(port.counters.txErrors - e, 1);
  t.equal(port.lastSendErrno(), 77, 'EBADFD');
  port.close();
  port.close();
});

t.test('multi-queue, open errors, offloads without vnet', { skip: skipReason }, async (t) => {
  const name = tapName('tfm');
  const q0 = TapPort.open(name, { multiQueue: true });
  t.teardown(() => q0.close());
  const q1 = TapPort.open(name, { multiQueue: true });
  t.teardown(() => q1.close());
  t.equal(q1.name, name, 'second queue on the same TAP');
  t.not(q0.fd, q1.fd);
  t.throws(() => TapPort.open(name, {}), { code: 'EINVAL' }, 'single-queue open of a multi-queue TAP');
  t.throws(() => TapPort.open('bad/name', {}), { code: 'EINVAL', syscall: 'ioctl(TUNSETIFF)' });
  t.throws(() => TapPort.open(tapName('tfe') + 'xxxxxxxxx', {}), { code: 'ENAMETOOLONG' });
  t.throws(() => TapPort.open(tapName('tfo'), { offloads: TUN_F_CSUM }), RangeError, 'offloads need vnetHdr');
  t.throws(() => TapPort.open(tapName('tfb'), { batch: 0 }), RangeError);
  const auto = TapPort.open('', {});
  t.teardown(() => auto.close());
  t.match(auto.name, /^tap\d+$/, 'empty name: the kernel picks one');
});

// Regression: a worker terminated while polling a TAP segfaulted (libuv ran our uv_close
// callback after the worker had unloaded the addon); fixed with an async cleanup hook.
t.test('worker terminated with an active poll exits cleanly', { skip: skipReason }, async (t) => {
  const script = `
const { Worker, isMainThread, parentPort } = require('worker_threads');
if (isMainThread) {
  let left = 4, polling = 0;
  for (let i = 0; i < 4; i++) {
    const w = new Worker(process.argv[1], { eval: true, argv: [process.argv[1], process.argv[2]] });
    w.on('message', (m) => { if (m === 'polling') polling++; w.terminate(); });
    w.on('error', (e) => console.log('worker error', e));
    w.on('exit', () => { if (--left === 0) console.log('all exited, ' + polling + ' were polling'); });
  }
} else {
  const n = require(process.argv[3]).loadNative();
  n.startPoll(n.openTap('', 0).fd, () => {});
  parentPort.postMessage('polling');
}`;
  const loader = require.resolve('../native');
  const out = execFileSync(process.execPath, ['-e', script, script, loader], { timeout: CHILD_TIMEOUT_MS }).toString();
  t.match(out, 'all exited, 4 were polling');
});
