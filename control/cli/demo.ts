/**
 * `tapflow demo`: a one-node testbed (scripts/testbed.ts) with pods serving HTTP on 8080,
 * every packet switched by a tapflow agent; prints the curl commands that reach the pods,
 * proves one, and stays up until Ctrl-C, then removes everything it made.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, findRepoRoot, Forwarder, NetworkMode, Testbed, waitFor } from '../../scripts/testbed';

const HELP = `usage: tapflow demo [--pods N] [--mode kubenet|cni] [--no-ipv6] [--port P] [--duration SECONDS]

Builds a node in network namespaces — a client (the VNet), N pods (default 3) — starts a tapflow
agent that owns every pod's TAP, runs a tiny HTTP server in each pod, prints the commands that
reach the pods through tapflow and runs one of them. Stays up until Ctrl-C (or --duration),
then stops the agent and deletes every namespace and interface it created.

Needs root, /dev/net/tun, iproute2 and curl.

options:
  --pods N          pods on the node (1..50, default 3)
  --mode M          kubenet (default: pod CIDR routed via the node IP) or cni (pods on VNet addresses)
  --no-ipv6         IPv4 only
  --port P          HTTP port in the pods (default 8080)
  --duration S      tear down after S seconds instead of waiting for Ctrl-C
  --forwarder F     tapflow (default) or kernel (the same topology routed by Linux, for comparison)
  -h, --help        this text
`;

interface DemoOptions {
  pods: number;
  mode: NetworkMode;
  ipv6: boolean;
  port: number;
  durationSec?: number;
  forwarder: Forwarder;
}

function parse(argv: string[]): DemoOptions | 'help' {
  const o: DemoOptions = { pods: 3, mode: 'kubenet', ipv6: true, port: 8080, forwarder: 'tapflow' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const int = (min: number, max: number): number => {
      const v = argv[++i];
      if (v === undefined || !/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new Error(`${a} needs a number ${min}..${max}`);
      return Number(v);
    };
    switch (a) {
      case '-h':
      case '--help':
        return 'help';
      case '--pods':
        o.pods = int(1, 50);
        break;
      case '--mode': {
        const m = argv[++i];
        if (m !== 'kubenet' && m !== 'cni') throw new Error('--mode must be kubenet or cni');
        o.mode = m;
        break;
      }
      case '--ipv6':
        o.ipv6 = true;
        break;
      case '--no-ipv6':
        o.ipv6 = false;
        break;
      case '--port':
        o.port = int(1, 65535);
        break;
      case '--duration':
        o.durationSec = int(1, 86400);
        break;
      case '--forwarder': {
        const f = argv[++i];
        if (f !== 'tapflow' && f !== 'kernel') throw new Error('--forwarder must be tapflow or kernel');
        o.forwarder = f;
        break;
      }
      default:
        throw new Error(`unknown argument ${a}`);
    }
  }
  return o;
}

function urlFor(addr: string, port: number): string {
  return addr.includes(':') ? `'http://[${addr}]:${port}/'` : `http://${addr}:${port}/`;
}

export async function demoCommand(argv: string[]): Promise<number> {
  const out = (s = '') => process.stdout.write(s + '\n');
  let o: DemoOptions | 'help';
  try {
    o = parse(argv);
  } catch (e) {
    process.stderr.write(`tapflow demo: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (o === 'help') {
    out(HELP.trimEnd());
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('tapflow demo: needs root (it creates network namespaces and TAP devices); try: sudo node bin/tapflow demo\n');
    return 1;
  }
  if (!fs.existsSync('/dev/net/tun')) {
    process.stderr.write('tapflow demo: /dev/net/tun is missing (modprobe tun)\n');
    return 1;
  }

  const opts = o;
  const tb = new Testbed({
    pods: opts.pods,
    mode: opts.mode,
    ipv6: opts.ipv6,
    forwarder: opts.forwarder,
    log: (l) => process.stderr.write(`${l}\n`),
  });
  // Ctrl-C / SIGTERM: leave the wait below; down() runs in finally. A second Ctrl-C while
  // tearing down is ignored (the exit hook in testbed.ts still cleans up if we are killed).
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const onSignal = () => stop();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    out(`tapflow demo: building a ${opts.mode} node with ${opts.pods} pod(s) (forwarder: ${opts.forwarder}) ...`);
    await tb.up();
    await tb.startHttpServers(opts.port);
    await tb.waitAllReachable(15000);

    const node = tb.node(1);
    const c = tb.client.ns;
    const bin = path.relative(process.cwd(), path.join(findRepoRoot(__dirname), 'bin', 'tapflow')) || 'bin/tapflow';
    out();
    out(describe(tb));
    out();
    out(
      opts.forwarder === 'tapflow'
        ? 'Every packet below crosses tapflow (client ⇄ uplink TAP ⇄ tapflow ⇄ pod TAP ⇄ pod eth0).'
        : `Every packet below is routed by the kernel in ${node.ns} (veth pairs; the comparison baseline).`,
    );
    out('From the client (the VNet):');
    for (const pod of tb.pods) {
      out(`  ip netns exec ${c} curl ${urlFor(pod.ipv4, opts.port)}`);
      if (pod.ipv6) out(`  ip netns exec ${c} curl -g ${urlFor(pod.ipv6, opts.port)}`);
    }
    out(`From the node itself (its stack sits behind tapflow's host port):`);
    for (const pod of tb.pods) out(`  ip netns exec ${node.ns} curl ${urlFor(pod.ipv4, opts.port)}`);
    if (tb.pods.length > 1) {
      out('From one pod to another:');
      out(`  ip netns exec ${tb.pods[0].ns} curl ${urlFor(tb.pods[1].ipv4, opts.port)}`);
    }
    out('Other things to try:');
    out(`  ip netns exec ${c} ping -c 3 ${tb.pods[0].ipv4}`);
    out(`  ip netns exec ${c} ping -t 1 -c 1 ${tb.pods[0].ipv4}        # time exceeded, from ${node.ipv4}`);
    if (node.adminSocket) out(`  node ${bin} stats --admin-socket ${node.adminSocket}`);
    out();

    const first = tb.pods[0];
    const cmd = ['curl', '-sS', '--max-time', '5', `http://${first.ipv4}:${opts.port}/`];
    out(`$ ip netns exec ${c} ${cmd.join(' ')}`);
    const r = await waitFor(
      async () => {
        const x = await tb.exec(c, cmd, { timeoutMs: 8000 });
        return x.code === 0 ? x : undefined;
      },
      { timeoutMs: 15000, intervalMs: 200, what: `HTTP answer from ${first.name}` },
    );
    out(r.stdout.trimEnd());
    const answer = JSON.parse(r.stdout) as { pod?: string };
    if (answer.pod !== first.name) throw new Error(`expected ${first.name} to answer, got ${r.stdout.trim()}`);
    out(`ok: ${first.name} answered through ${opts.forwarder}.`);
    out();
    if (opts.durationSec !== undefined) {
      out(`Up for ${opts.durationSec} s (--duration), then cleaning up.`);
      await Promise.race([stopped, new Promise((res) => setTimeout(res, opts.durationSec! * 1000))]);
    } else {
      out('Up until Ctrl-C.');
      await stopped;
    }
    out('tapflow demo: cleaning up ...');
    return 0;
  } catch (e) {
    process.stderr.write(`tapflow demo: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await tb.down();
    for (const node of tb.nodes) {
      const stats = (node.stopped as { stats?: { totals?: unknown } } | undefined)?.stats;
      if (stats?.totals) out(`${node.name} agent stopped; totals ${JSON.stringify(stats.totals)}`);
    }
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    out('tapflow demo: removed every namespace and interface it created.');
  }
}

if (require.main === module) {
  demoCommand(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: Error) => {
      process.stderr.write(`${e.stack ?? e.message}\n`);
      process.exit(1);
    },
  );
}
