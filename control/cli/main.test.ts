/**
 * The CLI's process hygiene: a child started with TAPFLOW_PARENT_PID (by the demo or a test
 * testbed) exits when that process is no longer its parent, through its SIGTERM cleanup.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const bin = path.join(__dirname, '..', '..', '..', 'bin', 'tapflow');

function serve(parentPid: string): { done: Promise<{ code: number | null; ms: number }>; kill: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-main-test-'));
  const t0 = Date.now();
  const child = spawn(process.execPath, [bin, 'serve', '--listen', `unix:${path.join(dir, 'c.sock')}`, '--data-dir', path.join(dir, 'data')], {
    stdio: 'ignore', env: { ...process.env, TAPFLOW_PARENT_PID: parentPid },
  });
  const done = new Promise<{ code: number | null; ms: number }>((resolve) => child.on('exit', (code) => {
    fs.rmSync(dir, { recursive: true, force: true });
    resolve({ code, ms: Date.now() - t0 });
  }));
  return { done, kill: () => child.kill('SIGKILL') };
}

t.test('a child whose recorded parent is not its parent exits on its own', async (t) => {
  // PID 2 (kthreadd) is never this child's parent: as if the real parent had died.
  const s = serve('2');
  const timer = setTimeout(s.kill, 15000);
  const r = await s.done;
  clearTimeout(timer);
  t.equal(r.code, 0, `exited cleanly (after ${r.ms} ms), not killed by the guard timer`);
});

t.test('a child whose parent is alive keeps running', async (t) => {
  const s = serve(String(process.pid));
  let exited = false;
  void s.done.then(() => (exited = true));
  await new Promise((r) => setTimeout(r, 2500));
  t.notOk(exited, 'still running after 2.5 s');
  s.kill();
  await s.done;
});
