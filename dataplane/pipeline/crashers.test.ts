/**
 * Replays every crasher the fuzzers saved under native-free-fixtures/crashers/ (see its
 * README): each batch goes through a fresh forwarder of the same world profile and generation
 * (Services, NetworkPolicy, NSG loaded, test/support/fuzz-world.ts). Nothing may throw, and
 * received = forwarded + delivered + Σ dropped + pending with every table within its bound.
 * Passes when the directory holds no crasher.
 */
import t from 'tap';
import * as path from 'node:path';
import { crashersDir, loadCrashers, replayCrasher } from '../../test/support/fuzz-world';

const crashers = loadCrashers();
if (crashers.length === 0) {
  t.pass(`no crashers in ${path.relative(process.cwd(), crashersDir()) || crashersDir()}`);
} else {
  for (const { file, crasher } of crashers) {
    t.test(`${path.basename(file)}: ${crasher.error.split('\n')[0]} (seed ${crasher.seed}, ${crasher.frames.length} frames, ${crasher.profile})`, (t) => {
      let problem: string | null = null;
      t.doesNotThrow(() => { problem = replayCrasher(crasher); }, 'the batch goes through without an exception');
      t.equal(problem, null, 'counters balance and every table stays within its bound');
      t.end();
    });
  }
}
