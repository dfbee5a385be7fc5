/**
 * PcapPort on a real veth pair: one end stays in the root namespace under the PcapPort,
 * the other moves into a fresh netns whose kernel is our peer (10.79.0.2). The peer sends
 * UDP to 10.79.0.1, so it ARPs for it; we see the request arrive, answer it by hand, and
 * check the peer's neighbor table learned our MAC and its queued datagram reaches us.
 * Needs root and the `cap` package; skipped otherwise. Every child has a timeout; the
 * port, veth and netns are removed in t.teardown, also on failure.
 *
 * Also: `cap` is loaded lazily (TAPFLOW_PCAP_UNAVAILABLE when missing, checked in a child
 * process that cannot resolve it), and nothing else in dist/ requires it.
 */
import t from 'tap';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PcapPort, PcapPortError, pcapAvailable } from './pcap-port';

const CHILD_TIMEOUT_MS = 10_000;

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { timeout: CHILD_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

function quiet(cmd: string, args: string[]): void {
  spawnSync(cmd, args, { timeout: CHILD_TIMEOUT_MS, stdio: 'ignore' });
}

const isRoot = process.getuid?.() === 0;
const hasCap = pcapAvailable();
const hasIp = spawnSync('ip', ['-V'], { stdio: 'ignore', timeout: 5000 }).status === 0;
const skipVeth = !isRoot ? 'needs root' : !hasCap ? 'cap (libpcap binding) not installed' : !hasIp ? 'needs iproute2' : false;

t.test('cap is loaded lazily; missing cap gives TAPFLOW_PCAP_UNAVAILABLE', async (t) => {
  // A child where require('cap') fails as if the package were not installed.
  const hook = `
    const Module = require('module');
    const orig = Module._resolveFilename;
    Module._resolveFilename = function (req, ...rest) {
      if (req === 'cap') { const e = new Error("Cannot find module 'cap'"); e.code = 'MODULE_NOT_FOUND'; throw e; }
      return orig.call(this, req, ...rest);
    };
    const m = require(${JSON.stringify(path.join(__dirname, 'pcap-port.js'))});
    const loadedAtImport = Object.keys(require.cache).some((k) => k.includes('/node_modules/cap/'));
    let code = 'none', message = '';
    try { m.PcapPort.open('lo'); } catch (e) { code = e.code; message = e.message; }
    console.log(JSON.stringify({ loadedAtImport, code, message, available: m.pcapAvailable() }));
  `;
  const r = spawnSync(process.execPath, ['-e', hook], { timeout: CHILD_TIMEOUT_MS, encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  t.equal(out.loadedAtImport, false, 'importing pcap-port does not load cap');
  t.equal(out.code, 'TAPFLOW_PCAP_UNAVAILABLE');
  t.match(out.message, /libpcap-dev/);
  t.match(out.message, /npm install cap/);
  t.equal(out.available, false);
});

t.test('nothing else in dist/ requires cap', async (t) => {
  const dist = path.resolve(__dirname, '..', '..');
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js') && !e.name.startsWith('pcap-port.')) {
        if (/require\(["']cap["']\)|from ["']cap["']/.test(fs.readFileSync(p, 'utf8'))) offenders.push(p);
      }
    }
  };
  walk(dist);
  t.same(offenders, [], 'only pcap-port.js loads cap');
});

t.test('open() on a missing interface: TAPFLOW_PCAP_OPEN_FAILED', { skip: skipVeth }, async (t) => {
  try {
    PcapPort.open('tfnosuch0');
    t.fail('opened a missing interface');
  } catch (e) {
    t.ok(e instanceof PcapPortError);
    t.equal((e as PcapPortError).code, 'TAPFLOW_PCAP_OPEN_FAILED', (e as Error).message);
  }
});

t.test('closed and failed ports survive garbage collection (cap 0.2.1 handle bugs)', { skip: skipVeth }, async (t) => {
  // Regression: a collected Cap segfaults later (its uv_poll_t is freed while still in
  // libuv's handle queue) and a Cap whose open() threw aborts on a nan assertion when
  // collected. PcapPort keeps every handle reachable. Checked in a child with gc().
  const script = `
    const { PcapPort } = require(${JSON.stringify(path.join(__dirname, 'pcap-port.js'))});
    let code = 'none';
    (async () => {
      for (let i = 0; i < 20; i++) {
        PcapPort.open('lo', { filter: 'ether proto 0x88b5' }).close();
        try { PcapPort.open('lo', { filter: 'this is (( not bpf' }); } catch (e) { code = e.code; }
        global.gc();
        await new Promise((r) => setTimeout(r, 5));
      }
      global.gc();
      console.log(code);
    })();
  `;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { timeout: 30_000, encoding: 'utf8' });
  t.equal(r.signal, null, 'not killed by a signal');
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout.trim(), 'TAPFLOW_PCAP_OPEN_FAILED', 'bad filter reported');
});

t.test('a non-Ethernet interface (tun): TAPFLOW_PCAP_UNSUPPORTED_LINKTYPE', { skip: skipVeth || (!fs.existsSync('/dev/net/tun') && 'needs /dev/net/tun') }, async (t) => {
  const tun = `tfv${randomBytes(3).toString('hex')}t`;
  t.teardown(() => quiet('ip', ['link', 'del', tun]));
  run('ip', ['tuntap', 'add', 'mode', 'tun', 'name', tun]);
  run('ip', ['link', 'set', tun, 'up']);
  t.throws(() => PcapPort.open(tun), { code: 'TAPFLOW_PCAP_UNSUPPORTED_LINKTYPE' });
});

// ---------------------------------------------------------------- frames

const OUR_MAC = Uint8Array.of(0x02, 0x00, 0x5e, 0x10, 0x79, 0x01);
const OUR_IP = Uint8Array.of(10, 79, 0, 1);
const PEER_IP = '10.79.0.2';

function macStr(b: Uint8Array, off: number): string {
  return Array.from(b.subarray(off, off + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

function etherType(f: Uint8Array): number {
  return (f[12] << 8) | f[13];
}

/** ARP request for OUR_IP? */
function isArpForUs(f: Uint8Array): boolean {
  return f.length >= 42 && etherType(f) === 0x0806 && f[21] === 1 && f.subarray(38, 42).every((x, i) => x === OUR_IP[i]);
}

function arpReply(req: Uint8Array): Uint8Array {
  const f = new Uint8Array(60); // padded to the Ethernet minimum
  f.set(req.subarray(6, 12), 0); // dst: requester
  f.set(OUR_MAC, 6);
  f.set([0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02], 12);
  f.set(OUR_MAC, 22); // sender hw
  f.set(OUR_IP, 28); // sender ip
  f.set(req.subarray(22, 32), 32); // target hw + ip = requester's sender
  return f;
}

t.test('PcapPort on a veth: ARP in, ARP reply out, the kernel learns it', { skip: skipVeth, timeout: 30_000 }, async (t) => {
  const id = randomBytes(3).toString('hex');
  const a = `tfv${id}a`;
  const b = `tfv${id}b`;
  const ns = `tfn${id}`;
  let port: PcapPort | null = null;
  t.teardown(() => {
    port?.close();
    quiet('ip', ['link', 'del', a]);
    quiet('ip', ['netns', 'del', ns]);
  });

  run('ip', ['netns', 'add', ns]);
  run('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
  // Our end has no addresses: the root-namespace kernel stays quiet on it.
  fs.writeFileSync(`/proc/sys/net/ipv6/conf/${a}/disable_ipv6`, '1');
  run('ip', ['link', 'set', b, 'netns', ns]);
  run('ip', ['-n', ns, 'addr', 'add', `${PEER_IP}/24`, 'dev', b]);
  run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  run('ip', ['-n', ns, 'link', 'set', b, 'up']);
  run('ip', ['link', 'set', a, 'up']);

  port = PcapPort.open(a, { batch: 16 });
  const p = port;
  t.equal(p.name, a);
  t.equal(p.vnetHdr, false);

  const frames: Uint8Array[] = [];
  let wakeups = 0;
  let waiter: (() => void) | null = null;
  p.onReadable(() => {
    wakeups++;
    for (let n = p.receive(); n > 0; n = p.receive()) {
      for (let i = 0; i < n; i++) frames.push(p.rx.slab.slice(p.rx.offsets[i], p.rx.offsets[i] + p.rx.lengths[i]));
    }
    waiter?.();
  });
  const waitFor = async (pred: (f: Uint8Array) => boolean, what: string): Promise<Uint8Array> => {
    const deadline = Date.now() + 8000;
    for (;;) {
      const hit = frames.find(pred);
      if (hit !== undefined) return hit;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; saw ${frames.length} frames`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      waiter = null;
    }
  };

  // The peer sends 3 datagrams to 10.79.0.1:9 (discard), spaced out; the first needs ARP.
  const sender = spawn(
    'ip',
    [
      'netns', 'exec', ns, process.execPath, '-e',
      `const s = require('dgram').createSocket('udp4'); let i = 0;
       const go = () => { s.send('tapflow-' + i, 9, '10.79.0.1'); if (++i < 3) setTimeout(go, 300); else setTimeout(() => s.close(), 100); };
       go();`,
    ],
    { timeout: CHILD_TIMEOUT_MS, stdio: 'ignore' },
  );
  const senderDone = new Promise<void>((resolve) => sender.on('exit', () => resolve()));
  t.teardown(() => {
    if (sender.exitCode === null) sender.kill();
  });

  const req = await waitFor(isArpForUs, 'ARP request for 10.79.0.1');
  t.pass(`ARP request from ${macStr(req, 6)} arrived`);
  t.equal(macStr(req, 0), 'ff:ff:ff:ff:ff:ff', 'broadcast');
  t.ok(wakeups > 0, 'readiness signalled');
  t.ok(p.counters.rxPackets >= 1);

  const reply = arpReply(req);
  const slab = new Uint8Array(256);
  slab.set(reply, 10);
  t.equal(p.send(slab, Uint32Array.of(10), Uint32Array.of(reply.length), 1, false), 1, 'ARP reply sent');
  t.equal(p.counters.txPackets, 1);
  t.equal(p.counters.txErrors, 0);

  // The datagram queued behind ARP now comes to our MAC.
  const udp = await waitFor(
    (f) => etherType(f) === 0x0800 && f[23] === 17 && f.subarray(0, 6).every((x, i) => x === OUR_MAC[i]),
    'UDP datagram to our MAC',
  );
  t.equal(Buffer.from(udp.subarray(42)).toString().startsWith('tapflow-'), true, 'payload');
  await senderDone;

  const neigh = run('ip', ['-n', ns, 'neigh', 'show', '10.79.0.1', 'dev', b]);
  t.match(neigh, new RegExp(`lladdr ${macStr(OUR_MAC, 0)}`), `kernel neighbor table: ${neigh.trim()}`);
  t.notOk(
    frames.some((f) => f.subarray(6, 12).every((x, i) => x === OUR_MAC[i])),
    "inbound filter: our own transmitted frames are not received back",
  );
  t.equal(p.rxRingFull, 0);
  t.equal(p.rxTooBig, 0);

  p.close();
  p.close();
  t.equal(p.receive(), 0, 'closed: receive returns 0');
  t.equal(p.send(slab, Uint32Array.of(10), Uint32Array.of(60), 1, false), 0, 'closed: send refuses');
});
