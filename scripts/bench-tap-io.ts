/**
 * Throughput of TapPort.send (writeBatch) and TapPort.receive (readBatch) between two TAPs.
 *
 * Two TAPs are enslaved to a bridge in a throwaway netns; frames written to A are flooded by
 * the bridge (unknown unicast destination) to B, where we read them back. Single-threaded,
 * no poll: write one batch, drain B, repeat. Needs root.
 *
 *   node dist/scripts/bench-tap-io.js [--seconds 3] [--batch 64] [--size 64] [--vnet]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { TapPort } from '../dataplane/io/tap-port';
import { VNET_HDR_LEN } from '../dataplane/io/port';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

const seconds = arg('seconds', 3);
const batch = arg('batch', 64);
const size = Math.max(60, arg('size', 64));
const vnet = process.argv.includes('--vnet');

const ip = (...args: string[]): void => {
  execFileSync('ip', args, { timeout: 10_000, stdio: 'inherit' });
};

const tag = randomBytes(3).toString('hex');
const ns = `tfbench-${process.pid}-${tag}`;
const a = TapPort.open(`tfba${tag}`, { vnetHdr: vnet, batch });
const b = TapPort.open(`tfbb${tag}`, { vnetHdr: vnet, batch });

function cleanup(): void {
  a.close();
  b.close();
  try {
    ip('netns', 'del', ns);
  } catch {
    /* already gone */
  }
}

try {
  ip('netns', 'add', ns);
  ip('-n', ns, 'link', 'add', 'br0', 'type', 'bridge');
  for (const p of [a, b]) {
    ip('link', 'set', p.name, 'netns', ns);
    ip('-n', ns, 'link', 'set', p.name, 'master', 'br0', 'up');
  }
  ip('-n', ns, 'link', 'set', 'br0', 'up');

  // `batch` identical frames: unknown unicast dst (flooded), ethertype 0x88b5 (local experimental).
  const stride = 2048;
  const slab = new Uint8Array(batch * stride);
  const offsets = new Uint32Array(batch);
  const lengths = new Uint32Array(batch).fill(size);
  for (let i = 0; i < batch; i++) {
    const o = (offsets[i] = i * stride + VNET_HDR_LEN);
    slab.set([0x02, 0xbb, 0, 0, 0, 1, 0x02, 0xaa, 0, 0, 0, 1, 0x88, 0xb5], o);
  }

  let rounds = 0;
  let written = 0;
  let read = 0;
  let writeNs = 0n;
  let readNs = 0n;
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    for (let r = 0; r < 64; r++) {
      const t0 = process.hrtime.bigint();
      written += a.send(slab, offsets, lengths, batch, false);
      const t1 = process.hrtime.bigint();
      for (let n = b.receive(); n > 0; n = b.receive()) read += n;
      readNs += process.hrtime.bigint() - t1;
      writeNs += t1 - t0;
      rounds++;
    }
  }
  const mpps = (n: number, ns: bigint): string => (Number(ns) === 0 ? '-' : ((n * 1e3) / Number(ns)).toFixed(3));
  console.log(`${vnet ? 'vnet_hdr' : 'plain'} TAPs, ${size}-byte frames, batch ${batch}, ${rounds} rounds`);
  console.log(`  write: ${written} frames, ${mpps(written, writeNs)} Mpps while writing (${(Number(writeNs) / Math.max(written, 1)).toFixed(0)} ns/frame), tx errors ${a.counters.txErrors}`);
  console.log(`  read:  ${read} frames, ${mpps(read, readNs)} Mpps while reading (${(Number(readNs) / Math.max(read, 1)).toFixed(0)} ns/frame)`);
  console.log(`  delivered ${((100 * read) / Math.max(written, 1)).toFixed(1)}% of written frames`);
} finally {
  cleanup();
}
