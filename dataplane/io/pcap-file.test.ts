/**
 * pcap-file against the real captures in native-free-fixtures/: byte-exact round trips,
 * replay counts (checked against frame-counts.json, which tcpdump counted), every
 * malformed-file error code, both byte orders and ns resolution, and DumpingPort output
 * read back by tcpdump -r.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DumpingPort,
  LINKTYPE_ETHERNET,
  PCAP_DEFAULT_SNAPLEN,
  PcapFileError,
  PcapFilePort,
  PcapReader,
  PcapWriter,
} from './pcap-file';
import { MemoryPort } from './memory-port';
import { VNET_HDR_LEN } from './port';

function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + __dirname);
    dir = up;
  }
  return dir;
}

const FIXTURES = path.join(repoRoot(), 'native-free-fixtures');
const COUNTS: Record<string, number> = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'frame-counts.json'), 'utf8'));
const NAMES = Object.keys(COUNTS);

function hasTcpdump(): boolean {
  try {
    execFileSync('tcpdump', ['--version'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}
const TCPDUMP = hasTcpdump();

/** Frames tcpdump -r finds in a file (one summary line each). */
function tcpdumpCount(file: string): number {
  const out = execFileSync('tcpdump', ['-r', file, '-n', '-q'], { timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return out.toString().split('\n').filter((l) => l.length > 0).length;
}

function tmpDir(t: tap.Test): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-pcap-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

function expectCode(t: tap.Test, fn: () => unknown, code: string, msg: string): void {
  try {
    fn();
    t.fail(`${msg}: no error`);
  } catch (e) {
    t.ok(e instanceof PcapFileError, `${msg}: PcapFileError`);
    t.equal((e as PcapFileError).code, code, `${msg}: ${(e as Error).message}`);
  }
}

t.test('fixtures exist and match the manifest', async (t) => {
  t.ok(NAMES.length >= 9, `${NAMES.length} fixtures`);
  let total = 0;
  for (const name of NAMES) total += fs.statSync(path.join(FIXTURES, name)).size;
  t.ok(total < 200 * 1024, `fixtures total ${total} bytes < 200 KB`);
  if (!TCPDUMP) {
    t.comment('tcpdump not installed: skipping the cross-check of frame counts');
    return;
  }
  for (const name of NAMES) t.equal(tcpdumpCount(path.join(FIXTURES, name)), COUNTS[name], `tcpdump count ${name}`);
});

t.test('reader: header and records of every fixture', async (t) => {
  for (const name of NAMES) {
    const { header, records } = PcapReader.readAll(path.join(FIXTURES, name));
    t.equal(header.linkType, LINKTYPE_ETHERNET, `${name} is Ethernet`);
    t.equal(header.versionMajor, 2);
    t.equal(header.snaplen, PCAP_DEFAULT_SNAPLEN);
    t.equal(records.length, COUNTS[name], `${name}: ${records.length} records`);
    let prev = 0;
    for (const r of records) {
      t.equal(r.data.length, r.origLen, 'not snapped');
      t.ok(r.data.length >= 42 && r.data.length <= 1514, 'wire-sized Ethernet frame');
      const ts = r.tsSec * 1e9 + r.tsNsec;
      t.ok(ts >= prev, 'timestamps non-decreasing');
      prev = ts;
    }
  }
  // Spot checks of what the scenarios hold.
  const arp = PcapReader.readAll(path.join(FIXTURES, 'arp.pcap')).records;
  t.equal((arp[0].data[12] << 8) | arp[0].data[13], 0x0806, 'ARP ethertype');
  t.equal(arp[0].data[21], 1, 'ARP request');
  t.equal(arp[1].data[21], 2, 'ARP reply');
  const opts = PcapReader.readAll(path.join(FIXTURES, 'ipv4-options.pcap')).records;
  t.equal(opts[0].data[14] & 0x0f, 15, 'record route: IHL 15');
  const frags = PcapReader.readAll(path.join(FIXTURES, 'ipv4-fragments.pcap')).records;
  t.equal(frags[0].data[20] & 0x20, 0x20, 'first fragment has MF');
});

t.test('PcapReader -> PcapWriter round trip is byte-identical', async (t) => {
  const dir = tmpDir(t);
  for (const name of NAMES) {
    const src = path.join(FIXTURES, name);
    const dst = path.join(dir, name);
    const r = PcapReader.open(src, { bufferSize: 4096 }); // small buffer: exercises refills
    const w = PcapWriter.create(dst, { snaplen: r.header.snaplen, bufferSize: 1024 }); // and big-record bypass
    while (r.next()) w.write(r.buffer, r.dataOffset, r.capLen, r.tsSec, r.tsNsec, r.origLen);
    r.close();
    w.close();
    t.ok(Buffer.compare(fs.readFileSync(src), fs.readFileSync(dst)) === 0, `${name} identical`);
  }
});

t.test('reader over bytes in memory; rewind; iterator copies', async (t) => {
  const bytes = fs.readFileSync(path.join(FIXTURES, 'icmp4-echo.pcap'));
  const r = PcapReader.fromBytes(bytes);
  const first = [...r];
  t.equal(first.length, 6);
  t.notOk(r.next(), 'at end');
  r.rewind();
  const again = [...r];
  t.same(again, first);
  bytes.fill(0, 24); // records hold copies
  t.not(first[0].data[0], 0);
  const f = PcapReader.open(path.join(FIXTURES, 'tcp4-bulk.pcap'), { bufferSize: 100 });
  let n = 0;
  while (f.next()) n++;
  f.rewind();
  while (f.next()) n++;
  f.close();
  f.close();
  t.equal(n, 2 * COUNTS['tcp4-bulk.pcap'], 'file rewind re-reads every record');
  t.throws(() => f.next(), { code: 'TAPFLOW_PCAP_CLOSED' });
});

/** Writes a pcap by hand in any byte order / resolution. */
function handMade(le: boolean, nanos: boolean, recs: { sec: number; frac: number; data: Uint8Array }[]): Uint8Array {
  const size = 24 + recs.reduce((a, r) => a + 16 + r.data.length, 0);
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  v.setUint32(0, nanos ? 0xa1b23c4d : 0xa1b2c3d4, le);
  v.setUint16(4, 2, le);
  v.setUint16(6, 4, le);
  v.setUint32(16, 65535, le);
  v.setUint32(20, 1, le);
  let p = 24;
  for (const r of recs) {
    v.setUint32(p, r.sec, le);
    v.setUint32(p + 4, r.frac, le);
    v.setUint32(p + 8, r.data.length, le);
    v.setUint32(p + 12, r.data.length + 4, le);
    b.set(r.data, p + 16);
    p += 16 + r.data.length;
  }
  return b;
}

t.test('both byte orders, µs and ns magic', async (t) => {
  const data = Uint8Array.from({ length: 60 }, (_, i) => i);
  for (const le of [true, false]) {
    for (const nanos of [false, true]) {
      const bytes = handMade(le, nanos, [{ sec: 1700000000, frac: nanos ? 123456789 : 123456, data }]);
      const r = PcapReader.fromBytes(bytes);
      t.equal(r.header.bigEndian, !le);
      t.equal(r.header.nanos, nanos);
      t.equal(r.header.snaplen, 65535);
      const [rec] = [...r];
      t.equal(rec.tsSec, 1700000000);
      t.equal(rec.tsNsec, nanos ? 123456789 : 123456000, `${le ? 'LE' : 'BE'} ${nanos ? 'ns' : 'µs'} timestamp`);
      t.equal(rec.origLen, 64);
      t.same(rec.data, data);
    }
  }
});

t.test('truncated and corrupt files fail with clear codes, never crash', async (t) => {
  const good = fs.readFileSync(path.join(FIXTURES, 'udp4.pcap'));
  const drain = (bytes: Uint8Array, opts = {}): number => {
    const r = PcapReader.fromBytes(bytes, opts);
    let n = 0;
    while (r.next()) n++;
    return n;
  };
  expectCode(t, () => PcapReader.fromBytes(new Uint8Array(0)), 'TAPFLOW_PCAP_TRUNCATED_HEADER', 'empty');
  expectCode(t, () => PcapReader.fromBytes(good.subarray(0, 20)), 'TAPFLOW_PCAP_TRUNCATED_HEADER', '20 bytes');
  const badMagic = Uint8Array.from(good);
  badMagic[0] = 0x00;
  expectCode(t, () => PcapReader.fromBytes(badMagic), 'TAPFLOW_PCAP_BAD_MAGIC', 'bad magic');
  const ng = Uint8Array.from(good);
  new DataView(ng.buffer).setUint32(0, 0x0a0d0d0a, true);
  expectCode(t, () => PcapReader.fromBytes(ng), 'TAPFLOW_PCAP_PCAPNG', 'pcapng');
  const v3 = Uint8Array.from(good);
  v3[4] = 3;
  expectCode(t, () => PcapReader.fromBytes(v3), 'TAPFLOW_PCAP_BAD_VERSION', 'version 3');
  const raw = Uint8Array.from(good);
  raw[20] = 101; // LINKTYPE_RAW
  expectCode(t, () => PcapReader.fromBytes(raw, { linkType: LINKTYPE_ETHERNET }), 'TAPFLOW_PCAP_UNSUPPORTED_LINKTYPE', 'raw IP');
  t.equal(drain(raw), COUNTS['udp4.pcap'], 'any link type without the option');

  // Cut inside the 3rd record's header, then inside its data.
  const r0 = 24;
  const len0 = new DataView(good.buffer, good.byteOffset).getUint32(r0 + 8, true);
  const r1 = r0 + 16 + len0;
  const len1 = new DataView(good.buffer, good.byteOffset).getUint32(r1 + 8, true);
  const r2 = r1 + 16 + len1;
  for (const [cut, what] of [
    [r2 + 7, 'record header'],
    [r2 + 16 + 5, 'record data'],
  ] as const) {
    const bytes = good.subarray(0, cut);
    let n = 0;
    try {
      const r = PcapReader.fromBytes(bytes);
      while (r.next()) n++;
      t.fail('no error');
    } catch (e) {
      const err = e as PcapFileError;
      t.equal(err.code, 'TAPFLOW_PCAP_TRUNCATED_RECORD', `cut in ${what}: ${err.message}`);
      t.equal(err.record, 2);
      t.equal(err.offset, r2);
    }
    t.equal(n, 2, 'the two whole records came first');
    const r = PcapReader.fromBytes(bytes, { tolerateTruncatedTail: true });
    t.equal(drain(bytes, { tolerateTruncatedTail: true }), 2, 'tolerated: stops after 2');
    while (r.next());
    t.ok(r.truncatedTail);
  }

  const inclGtOrig = Uint8Array.from(good);
  new DataView(inclGtOrig.buffer).setUint32(r0 + 12, len0 - 1, true);
  expectCode(t, () => drain(inclGtOrig), 'TAPFLOW_PCAP_BAD_RECORD', 'incl_len > orig_len');
  const huge = Uint8Array.from(good);
  new DataView(huge.buffer).setUint32(r0 + 8, 0x7fffffff, true);
  new DataView(huge.buffer).setUint32(r0 + 12, 0x7fffffff, true);
  expectCode(t, () => drain(huge), 'TAPFLOW_PCAP_BAD_RECORD', 'incl_len 2 GiB');

  // Same through files (buffered reads) and through the replay port.
  const dir = tmpDir(t);
  const cutFile = path.join(dir, 'cut.pcap');
  fs.writeFileSync(cutFile, good.subarray(0, r2 + 16 + 5));
  expectCode(t, () => PcapReader.readAll(cutFile), 'TAPFLOW_PCAP_TRUNCATED_RECORD', 'file cut in data');
  let reported: PcapFileError | null = null;
  const port = PcapFilePort.open(cutFile, { notify: 'manual', onError: (e) => (reported = e) });
  t.equal(port.receive(), 2, 'replay delivers the good frames');
  t.equal(port.receive(), 0);
  t.equal(port.error?.code, 'TAPFLOW_PCAP_TRUNCATED_RECORD', 'and keeps the error');
  t.equal(reported, port.error);
  t.ok(port.finished);
  port.close();
  const missing = path.join(dir, 'nope.pcap');
  expectCode(t, () => PcapFilePort.open(missing), 'TAPFLOW_PCAP_IO', 'missing file');
  const notPcap = path.join(dir, 'text.pcap');
  fs.writeFileSync(notPcap, 'hello, this is not a capture file\n');
  expectCode(t, () => PcapFilePort.open(notPcap), 'TAPFLOW_PCAP_BAD_MAGIC', 'text file');
  const rawFile = path.join(dir, 'raw.pcap');
  fs.writeFileSync(rawFile, raw);
  expectCode(t, () => PcapFilePort.open(rawFile), 'TAPFLOW_PCAP_UNSUPPORTED_LINKTYPE', 'replay port wants Ethernet');
});

t.test('PcapFilePort replays every fixture frame exactly, batch by batch', async (t) => {
  for (const name of NAMES) {
    const file = path.join(FIXTURES, name);
    const expected = PcapReader.readAll(file).records.map((r) => r.data);
    const port = PcapFilePort.open(file, { batch: 4, notify: 'manual' });
    const got: Uint8Array[] = [];
    let batches = 0;
    for (let n = port.receive(); n > 0; n = port.receive()) {
      batches++;
      t.ok(n <= 4);
      for (let i = 0; i < n; i++) got.push(port.rx.slab.slice(port.rx.offsets[i], port.rx.offsets[i] + port.rx.lengths[i]));
    }
    t.equal(got.length, COUNTS[name], `${name}: ${got.length} frames`);
    t.equal(batches, Math.ceil(COUNTS[name] / 4));
    t.same(got, expected, `${name}: same bytes`);
    t.equal(port.counters.rxPackets, COUNTS[name]);
    t.ok(port.finished);
    port.close();
    port.close();
  }
});

t.test('PcapFilePort: vnetHdr zeros, repeat, oversize skip, onReadable drives to the end', async (t) => {
  const file = path.join(FIXTURES, 'tcp4-bulk.pcap');
  const count = COUNTS['tcp4-bulk.pcap'];
  const v = PcapFilePort.open(file, { vnetHdr: true, notify: 'manual' });
  v.rx.slab.fill(0xff);
  const n = v.receive();
  for (let i = 0; i < n; i++) {
    const off = v.rx.offsets[i];
    t.same(v.rx.slab.subarray(off - VNET_HDR_LEN, off), new Uint8Array(VNET_HDR_LEN));
  }
  v.close();

  const rep = PcapFilePort.open(file, { repeat: 3, notify: 'manual' });
  let total = 0;
  while (rep.receive() > 0) total += rep.rx.count;
  t.equal(total, 3 * count, 'repeat: 3 passes');
  t.equal(rep.passes, 3);
  rep.rewind();
  t.notOk(rep.finished);
  t.equal(rep.receive(), 64);
  rep.close();

  const small = PcapFilePort.open(file, { slotSize: 600, notify: 'manual' });
  let kept = 0;
  while (small.receive() > 0) kept += small.rx.count;
  const big = PcapReader.readAll(file).records.filter((r) => r.data.length > 600 - VNET_HDR_LEN).length;
  t.equal(small.rxOversize, big, 'frames longer than a slot are counted');
  t.equal(kept, count - big);
  small.close();

  const auto = PcapFilePort.open(file, { batch: 8, repeat: Infinity });
  let seen = 0;
  await new Promise<void>((resolve) => {
    auto.onReadable(() => {
      seen += auto.receive();
      if (seen >= 10 * count) {
        auto.close();
        resolve();
      }
    });
  });
  t.ok(seen >= 10 * count, `repeat Infinity keeps going (${seen} frames)`);
});

t.test('PcapFilePort output: sent frames land in a pcap tcpdump reads', async (t) => {
  const dir = tmpDir(t);
  const out = path.join(dir, 'tx.pcap');
  const src = PcapFilePort.open(path.join(FIXTURES, 'icmp6-echo-nd.pcap'), { output: out, notify: 'manual' });
  const n = src.receive();
  t.equal(src.send(src.rx.slab, src.rx.offsets, src.rx.lengths, n, false), n);
  src.close();
  const back = PcapReader.readAll(out).records.map((r) => r.data);
  t.same(back, PcapReader.readAll(path.join(FIXTURES, 'icmp6-echo-nd.pcap')).records.map((r) => r.data));
  if (TCPDUMP) t.equal(tcpdumpCount(out), n, 'tcpdump -r reads it');
  else t.comment('tcpdump not installed: skipping tcpdump -r check');

  const sink = PcapFilePort.open(path.join(FIXTURES, 'arp.pcap'), { notify: 'manual' });
  sink.receive();
  t.equal(sink.send(sink.rx.slab, sink.rx.offsets, sink.rx.lengths, 2, false), 2, 'no output: counted');
  t.equal(sink.counters.txPackets, 2);
  sink.close();
});

t.test('DumpingPort records rx and tx of a wrapped port; tcpdump -r reads the files', async (t) => {
  const dir = tmpDir(t);
  const rxFile = path.join(dir, 'rx.pcap');
  const txFile = path.join(dir, 'tx.pcap');
  const bothFile = path.join(dir, 'both.pcap');
  const fixture = PcapReader.readAll(path.join(FIXTURES, 'tcp4-http.pcap')).records.map((r) => r.data);

  const mem = new MemoryPort({ notify: 'manual' });
  const port = new DumpingPort(mem, { rx: rxFile, tx: txFile });
  t.equal(port.name, mem.name);
  t.equal(port.rx, mem.rx);
  for (const f of fixture) mem.inject(f);
  const n = port.receive();
  t.equal(n, fixture.length);
  // Echo the first 4 back out.
  t.equal(port.send(port.rx.slab, port.rx.offsets, port.rx.lengths, 4, false), 4);
  t.equal(mem.drainSent().length, 4, 'inner port got the frames');
  t.equal(PcapReader.readAll(rxFile).records.length, n, 'flushed per batch: readable before close');
  port.close();
  port.close();
  t.same(PcapReader.readAll(rxFile).records.map((r) => r.data), fixture, 'rx file = received frames');
  t.same(PcapReader.readAll(txFile).records.map((r) => r.data), fixture.slice(0, 4), 'tx file = sent frames');

  const mem2 = new MemoryPort({ notify: 'manual', vnetHdr: true });
  const both = new DumpingPort(mem2, { rx: bothFile, tx: bothFile });
  t.equal(both.rxWriter, both.txWriter, 'same path: one writer');
  for (const f of fixture.slice(0, 3)) mem2.inject(f);
  both.receive();
  both.send(mem2.rx.slab, mem2.rx.offsets, mem2.rx.lengths, 3, true);
  both.close();
  const recs = PcapReader.readAll(bothFile).records;
  t.equal(recs.length, 6, 'interleaved rx + tx');
  t.same(recs[0].data, fixture[0], 'vnet header not recorded');

  if (!TCPDUMP) {
    t.comment('tcpdump not installed: skipping tcpdump -r checks');
    return;
  }
  t.equal(tcpdumpCount(rxFile), fixture.length, 'tcpdump -r rx.pcap');
  t.equal(tcpdumpCount(txFile), 4, 'tcpdump -r tx.pcap');
  t.equal(tcpdumpCount(bothFile), 6, 'tcpdump -r both.pcap');
  const text = execFileSync('tcpdump', ['-r', rxFile, '-n'], { timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  t.match(text, /10\.77\.0\.1\.\d+ > 10\.77\.0\.2\.8080: Flags \[S\]/, 'tcpdump decodes the SYN');
});

t.test('PcapWriter: snaplen cut, default timestamps, closed errors', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'w.pcap');
  const w = PcapWriter.create(file, { snaplen: 100 });
  const big = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
  const before = Date.now() / 1000;
  w.writeFrame(big);
  w.write(big, 10, 50);
  w.close();
  w.close();
  t.throws(() => w.writeFrame(big), { code: 'TAPFLOW_PCAP_CLOSED' });
  const { header, records } = PcapReader.readAll(file);
  t.equal(header.snaplen, 100);
  t.equal(records[0].data.length, 100, 'cut to snaplen');
  t.equal(records[0].origLen, 300, 'orig_len kept');
  t.same(records[1].data, big.subarray(10, 60));
  t.ok(Math.abs(records[0].tsSec - before) < 5, 'timestamp is now');
  t.equal(records[0].tsNsec % 1000, 0, 'µs file');
  expectCode(t, () => PcapWriter.create(path.join(dir, 'no/such/dir/x.pcap')), 'TAPFLOW_PCAP_IO', 'bad path');
});
