/**
 * The testbed itself. Unit part (no root): names, generated NodeConfigs (checked by the real
 * validator), CLI parsing. Root part: kernel-forwarder up/down leaves nothing behind; the
 * tapflow wiring (ready line → TAPs moved, renamed, addressed) against a stand-in agent that
 * only holds the TAPs open; a failing agent makes up() reject and clean up.
 */
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { findRepoRoot, parseTestbedArgs, randomPrefix, Testbed, TestbedOptions } from './testbed';
import { validateNodeConfig } from '../control/model/node-config';

const root = findRepoRoot(__dirname);

function netnsWithPrefix(prefix: string): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(`${prefix}-`));
}

t.test('names and prefixes', async (t) => {
  t.match(randomPrefix(), /^tf[0-9a-f]{4}$/);
  t.throws(() => new Testbed({ prefix: 'TF' }), /prefix/);
  t.throws(() => new Testbed({ prefix: 'tfabcdef1' }), /prefix/, '9 characters is too long');
  t.throws(() => new Testbed({ prefix: 'tf-1' }), /prefix/);
  t.equal(new Testbed({ prefix: 'tfabcdef' }).prefix, 'tfabcdef');
  t.throws(() => new Testbed({ nodes: 3 as 1 }), /nodes/);
});

t.test('interface names fit IFNAMSIZ for the longest prefix and many pods', async (t) => {
  const tb = new Testbed({ prefix: 'tfabcdef', pods: 60, nodes: 2 });
  for (const n of tb.nodes) {
    for (const name of [n.uplinkTap, n.hostTap, ...n.pods.map((p) => p.tap)]) t.ok(Buffer.byteLength(name) <= 15, `${name} ≤ 15 bytes`);
  }
  t.equal(new Set(tb.pods.map((p) => p.ns)).size, 120, 'pod namespaces unique');
  t.equal(new Set(tb.pods.map((p) => p.ipv4)).size, 120, 'pod addresses unique');
});

t.test('generated NodeConfigs pass the NodeConfig validator', async (t) => {
  const variants: TestbedOptions[] = [
    {},
    { mode: 'cni' },
    { nodes: 2 },
    { nodes: 2, mode: 'cni' },
    { ipv6: false },
    { podAddressing: 'host' },
    { vnetHdr: false, mtu: 9000 },
    { pods: 0 },
  ];
  for (const v of variants) {
    const tb = new Testbed({ prefix: 'tfval', ...v });
    for (const n of tb.nodes) {
      const doc = tb.nodeConfig(n.index);
      t.doesNotThrow(() => validateNodeConfig(JSON.parse(JSON.stringify(doc))), `${JSON.stringify(v)} ${n.name}`);
    }
  }
  const two = new Testbed({ prefix: 'tfval', nodes: 2 });
  t.same(two.nodeConfig(1).spec.nodeRoutes, [
    { prefix: '10.244.1.0/24', nextHop: '10.0.0.5' },
    { prefix: 'fd00:244:0:1::/64', nextHop: 'fd00::5' },
  ]);
  const hooked = new Testbed({ prefix: 'tfval', nodeConfigHook: (c) => (c.spec.mtu = 1400) });
  t.equal(hooked.nodeConfig().spec.mtu, 1400, 'nodeConfigHook edits the document');
});

t.test('CLI arguments', async (t) => {
  t.same(parseTestbedArgs(['--pods', '3', '--mode', 'cni', '--nodes', '2', '--no-ipv6', '--prefix', 'tfx1', '--forwarder', 'kernel']), {
    pods: 3,
    mode: 'cni',
    nodes: 2,
    ipv6: false,
    prefix: 'tfx1',
    forwarder: 'kernel',
  });
  t.throws(() => parseTestbedArgs(['--nodes', '3']));
  t.throws(() => parseTestbedArgs(['--mode', 'bridge']));
  t.throws(() => parseTestbedArgs(['--bogus']));
});

const rootReason = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync('/dev/net/tun') ? 'needs /dev/net/tun' : false;

t.test('kernel forwarder: up, traffic, down leaves nothing; down and sweep idempotent', { skip: rootReason }, async (t) => {
  const tb = new Testbed({ forwarder: 'kernel', pods: 2 });
  t.teardown(() => tb.down());
  await tb.up();
  t.equal(netnsWithPrefix(tb.prefix).length, 4, 'client, node, 2 pods');
  await tb.waitAllReachable(10000);
  const srv = await tb.startHttpServers(8080);
  t.equal(srv.length, 2);
  const r = await tb.execOk(tb.client.ns, ['curl', '-sS', '--max-time', '5', 'http://10.244.0.3:8080/']);
  t.equal(JSON.parse(r.stdout).pod, 'pod-2');
  await tb.down();
  await tb.down();
  t.same(netnsWithPrefix(tb.prefix), [], 'no namespaces left');
  t.same(await Testbed.sweep(tb.prefix), [], 'sweep finds nothing');
  t.notOk(fs.existsSync(tb.tmpDir), 'temp dir removed');
});

t.test('a testbed whose owner was SIGKILLed is reaped by the next up (never a live owner\'s)', { skip: rootReason }, async (t) => {
  const prefix = randomPrefix();
  const script = `const { Testbed } = require(${JSON.stringify(path.join(__dirname, 'testbed.js'))});
new Testbed({ forwarder: 'kernel', pods: 1, ipv6: false, prefix: ${JSON.stringify(prefix)} }).up().then(() => { console.log('up'); setInterval(() => {}, 1000); });`;
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(async () => { child.kill('SIGKILL'); await Testbed.sweep(prefix); });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('owner did not come up in 30 s')), 30000);
    child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('up')) { clearTimeout(timer); resolve(); } });
  });
  t.equal(netnsWithPrefix(prefix).length, 3, 'the owner\'s client, node and pod namespaces exist');
  t.same(await Testbed.reapOrphans(), [], 'a live owner\'s testbed is left alone');
  t.equal(netnsWithPrefix(prefix).length, 3);
  child.kill('SIGKILL'); // no exit handler runs: nothing is taken down
  await new Promise((r) => child.once('exit', r));
  t.equal(netnsWithPrefix(prefix).length, 3, 'SIGKILL left the namespaces behind');
  t.ok((await Testbed.reapOrphans()).includes(prefix), 'reaped once the owner is gone');
  t.same(netnsWithPrefix(prefix), [], 'no namespaces left');
});

/** A stand-in `bin/tapflow`: opens the NodeConfig's TAPs with the real TapPort and holds them. */
function fakeAgentRoot(mode: 'hold' | 'fail'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-fake-agent-'));
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'tapflow' }));
  fs.mkdirSync(path.join(dir, 'scripts'));
  fs.copyFileSync(path.join(root, 'scripts', 'pod-http-server.js'), path.join(dir, 'scripts', 'pod-http-server.js'));
  const tapPort = path.join(root, 'dist', 'dataplane', 'io', 'tap-port.js');
  const script =
    mode === 'fail'
      ? `console.error('fake agent: refusing to start'); process.exit(3);`
      : `
const fs = require('fs');
const { TapPort } = require(${JSON.stringify(tapPort)});
const args = process.argv.slice(2);
const cfg = JSON.parse(fs.readFileSync(args[args.indexOf('--node-config') + 1], 'utf8'));
const ports = cfg.spec.ports.map((p) => ({ p, tap: TapPort.open(p.tap) }));
console.log(JSON.stringify({ event: 'ready', pid: process.pid, ports: ports.map(({ p }) => ({ name: p.name, tap: p.tap })) }));
const stop = () => { for (const x of ports) x.tap.close(); console.log(JSON.stringify({ event: 'stopped', stats: { totals: {} } })); process.exit(0); };
process.on('SIGTERM', stop); process.on('SIGINT', stop);
setInterval(() => {}, 1000);
`;
  fs.writeFileSync(path.join(dir, 'bin', 'tapflow'), script);
  return dir;
}

const nativeReason = (() => {
  if (rootReason) return rootReason;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(path.join(root, 'dist', 'dataplane', 'native', 'index.js')).loadNative();
    return false;
  } catch (e) {
    return `native addon unavailable: ${(e as Error).message.split('\n')[0]}`;
  }
})();

t.test('tapflow wiring: TAPs from the agent end up as eth0 in their namespaces', { skip: nativeReason }, async (t) => {
  const fake = fakeAgentRoot('hold');
  t.teardown(() => fs.rmSync(fake, { recursive: true, force: true }));
  for (const nodes of [1, 2] as const) {
    const tb = new Testbed({ forwarder: 'tapflow', pods: 2, nodes, repoRoot: fake, readyTimeoutMs: 10000 });
    t.teardown(() => tb.down());
    await tb.up();
    for (const pod of tb.pods) {
      const r = await tb.execOk(pod.ns, ['ip', '-j', 'addr', 'show', 'eth0']);
      const link = JSON.parse(r.stdout)[0];
      t.equal(link.mtu, 1500, `${pod.name} eth0 mtu`);
      const addrs = link.addr_info.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`);
      t.ok(addrs.includes(`${pod.ipv4}/24`), `${pod.name} has ${pod.ipv4}/24`);
      t.ok(addrs.includes(`${pod.ipv6}/64`), `${pod.name} has ${pod.ipv6}/64`);
      const routes = await tb.execOk(pod.ns, ['ip', 'route', 'show', 'default']);
      t.match(routes.stdout, `via ${pod.gateway4}`, `${pod.name} default route`);
    }
    for (const node of tb.nodes) {
      const h = await tb.execOk(node.ns, ['ip', '-j', 'addr', 'show', node.hostTap]);
      const addrs = JSON.parse(h.stdout)[0].addr_info.map((a: { local: string }) => a.local);
      t.same(addrs.filter((a: string) => !a.startsWith('fe80')).sort(), [node.ipv4, node.ipv6].sort(), `${node.name} host port holds the node IPs`);
      const left = await tb.execOk(node.ns, ['ip', '-o', 'link', 'show']);
      t.notMatch(left.stdout, new RegExp(`${tb.prefix}n\\d+[up]`), `${node.name}: only the host TAP stays in the node namespace`);
    }
    if (nodes === 1) {
      const c = await tb.execOk(tb.client.ns, ['ip', '-o', 'addr', 'show', 'eth0']);
      t.match(c.stdout, '10.0.0.10/16', 'client eth0 is the uplink TAP');
    } else {
      const br = await tb.execOk(tb.vnetNs!, ['ip', '-o', 'link', 'show', 'master', 'br0']);
      for (const n of tb.nodes) t.match(br.stdout, n.uplinkTap, `${n.uplinkTap} on the VNet bridge`);
    }
    await tb.down();
    t.ok(tb.nodes.every((n) => n.stopped?.event === 'stopped'), 'agents stopped gracefully (SIGTERM)');
    t.same(netnsWithPrefix(tb.prefix), [], 'no namespaces left');
  }
});

t.test('an agent that dies before ready: up() rejects with its stderr, nothing left', { skip: rootReason }, async (t) => {
  const fake = fakeAgentRoot('fail');
  t.teardown(() => fs.rmSync(fake, { recursive: true, force: true }));
  const tb = new Testbed({ forwarder: 'tapflow', pods: 1, repoRoot: fake, readyTimeoutMs: 10000 });
  t.teardown(() => tb.down());
  await t.rejects(tb.up(), /before ready[\s\S]*refusing to start/);
  t.same(netnsWithPrefix(tb.prefix), [], 'no namespaces left');
});
