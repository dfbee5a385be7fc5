/**
 * `tapflow demo`: a one-node testbed (scripts/testbed.ts) with pods serving HTTP on 8080,
 * every packet switched by a tapflow agent — fed by a real control plane: a `tapflow serve`
 * controller (child process, unix socket in the demo's temp dir), the agent started with
 * `--controller`, and a ClusterIP/NodePort Service over the pods applied with `tapflow apply`.
 * Prints the curl and `tapflow get` commands, proves a few, and stays up until Ctrl-C (or
 * --duration), then removes everything it made (agent, controller, namespaces, temp dir).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, execIn, findRepoRoot, Forwarder, NetworkMode, Testbed, waitFor } from '../../scripts/testbed';

/** The demo Service: ClusterIP(s), service port, NodePort. */
const SVC_VIP4 = '10.96.0.80';
const SVC_VIP6 = 'fd00:96::80';
const SVC_PORT = 80;
const NODE_PORT = 30080;

const HELP = `usage: tapflow demo [--pods N] [--mode kubenet|cni] [--no-ipv6] [--port P] [--duration SECONDS] [--no-controller]

Builds a node in network namespaces — a client (the VNet), N pods (default 3) — starts a tapflow
controller (tapflow serve, on a unix socket in a temp dir) and a tapflow agent connected to it
that owns every pod's TAP, runs a tiny HTTP server in each pod, applies a Service (ClusterIP
${SVC_VIP4}, NodePort ${NODE_PORT}) over the pods with tapflow apply, prints the commands that reach the
pods and the Service through tapflow and runs some of them. Stays up until Ctrl-C (or
--duration), then stops the agent and the controller and deletes every namespace, interface and
file it created.

Needs root, /dev/net/tun, iproute2 and curl.

options:
  --pods N          pods on the node (1..50, default 3)
  --mode M          kubenet (default: pod CIDR routed via the node IP) or cni (pods on VNet addresses)
  --no-ipv6         IPv4 only
  --port P          HTTP port in the pods (default 8080)
  --duration S      tear down after S seconds instead of waiting for Ctrl-C
  --forwarder F     tapflow (default) or kernel (the same topology routed by Linux, for comparison;
                    no control plane)
  --no-controller   no tapflow serve: the agent runs standalone (pods only, no Service)
  -h, --help        this text
`;

interface DemoOptions {
  pods: number;
  mode: NetworkMode;
  ipv6: boolean;
  port: number;
  durationSec?: number;
  forwarder: Forwarder;
  controller: boolean;
}

function parse(argv: string[]): DemoOptions | 'help' {
  const o: DemoOptions = { pods: 3, mode: 'kubenet', ipv6: true, port: 8080, forwarder: 'tapflow', controller: true };
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
      case '--no-controller':
        o.controller = false;
        break;
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
  const root = findRepoRoot(__dirname);
  const binAbs = path.join(root, 'bin', 'tapflow');
  const bin = path.relative(process.cwd(), binAbs) || 'bin/tapflow';
  const withController = opts.controller && opts.forwarder === 'tapflow';
  // The control plane's files (socket, store, logs, the manifest): one temp dir, removed at the end.
  const dir = withController ? fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-demo-')) : '';
  const server = withController ? `unix:${path.join(dir, 'control.sock')}` : '';
  const controller = withController ? new DemoController(binAbs, root, server, dir) : null;
  const tb = new Testbed({
    pods: opts.pods,
    mode: opts.mode,
    ipv6: opts.ipv6,
    forwarder: opts.forwarder,
    ...(withController ? { agentArgs: ['--controller', server] } : {}),
    log: (l) => process.stderr.write(`${l}\n`),
  });
  // Ctrl-C / SIGTERM: leave the wait below; down() runs in finally. A second Ctrl-C while
  // tearing down is ignored (the exit hooks — testbed.ts's and the controller's — still clean up
  // if we are killed).
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const onSignal = () => stop();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  /** The CLI as a child process (what a user types), bounded. */
  const tapflow = (args: string[]) => execIn(null, [process.execPath, binAbs, ...args, '--server', server], { timeoutMs: 30000 });
  try {
    if (controller) {
      out(`tapflow demo: starting the controller (tapflow serve --listen ${server}) ...`);
      await controller.start();
    }
    out(`tapflow demo: building a ${opts.mode} node with ${opts.pods} pod(s) (forwarder: ${opts.forwarder}) ...`);
    await tb.up();
    await tb.startHttpServers(opts.port);
    await tb.waitAllReachable(15000);

    const node = tb.node(1);
    const c = tb.client.ns;
    const dual = opts.ipv6 && node.ipv6 !== undefined;
    let applyOutput = '';
    if (controller) {
      // The Service over every pod, through the real CLI; then wait for the agent's ACK.
      const manifest = path.join(dir, 'web.yaml');
      fs.writeFileSync(manifest, serviceManifest(tb.pods.map((p) => ({ ipv4: p.ipv4, ipv6: dual ? p.ipv6 : undefined })), opts.port, node.name, dual));
      const r = await tapflow(['apply', '-f', manifest]);
      if (r.code !== 0) throw new Error(`tapflow apply -f ${manifest} failed (exit ${r.code}): ${r.stderr.trim()}`);
      applyOutput = r.stdout.trimEnd();
      await waitFor(async () => {
        const g = await tapflow(['get', 'agents', '-o', 'json']);
        if (g.code !== 0) return false;
        const d = JSON.parse(g.stdout) as { version: number; agents: { node: string; connected: boolean; ackedVersion: number }[] };
        return d.agents.some((a) => a.node === node.name && a.connected && a.ackedVersion === d.version);
      }, { timeoutMs: 20000, intervalMs: 250, what: `the agent on ${node.name} to run the applied version` });
      // The VNet's route table: the service CIDR via the node, so the client reaches ClusterIPs too.
      await tb.execOk(c, ['ip', 'route', 'add', tb.serviceCIDRs[0], 'via', node.ipv4, 'dev', 'eth0']);
      if (dual && tb.serviceCIDRs[1]) await tb.execOk(c, ['ip', 'route', 'add', tb.serviceCIDRs[1], 'via', node.ipv6!, 'dev', 'eth0']);
    }

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
    if (controller) {
      out();
      out(`Control plane: tapflow serve on ${server} (store ${path.join(dir, 'data')}, log ${controller.logFile});`);
      out(`the agent runs what it pushes. Applied (${bin} apply -f ${path.join(dir, 'web.yaml')}):`);
      for (const l of applyOutput.split('\n')) out(`  ${l}`);
      out(`Service web (NodePort, over the ${tb.pods.length} pod(s)) — ClusterIP ${SVC_VIP4}${dual ? ` / ${SVC_VIP6}` : ''}, port ${SVC_PORT}, NodePort ${NODE_PORT}:`);
      out(`  ip netns exec ${tb.pods[0].ns} curl ${urlFor(SVC_VIP4, SVC_PORT)}          # ClusterIP, from a pod`);
      if (dual) out(`  ip netns exec ${tb.pods[0].ns} curl -g ${urlFor(SVC_VIP6, SVC_PORT)}`);
      out(`  ip netns exec ${c} curl ${urlFor(SVC_VIP4, SVC_PORT)}          # ClusterIP, from the client (route ${tb.serviceCIDRs[0]} via ${node.ipv4})`);
      if (dual) out(`  ip netns exec ${c} curl -g ${urlFor(SVC_VIP6, SVC_PORT)}`);
      out(`  ip netns exec ${c} curl ${urlFor(node.ipv4, NODE_PORT)}          # NodePort, on the node IP`);
      if (dual) out(`  ip netns exec ${c} curl -g ${urlFor(node.ipv6!, NODE_PORT)}`);
      out('The control plane:');
      out(`  node ${bin} get services --server ${server}`);
      out(`  node ${bin} get endpointslices --server ${server}`);
      out(`  node ${bin} get agents --server ${server}`);
      out(`  node ${bin} apply -f ${path.join(dir, 'web.yaml')} --server ${server}     # edit it first: the agent follows`);
    }
    out('Other things to try:');
    out(`  ip netns exec ${c} ping -c 3 ${tb.pods[0].ipv4}`);
    out(`  ip netns exec ${c} ping -t 1 -c 1 ${tb.pods[0].ipv4}        # time exceeded, from ${node.ipv4}`);
    if (node.adminSocket) out(`  node ${bin} stats --admin-socket ${node.adminSocket}`);
    out();

    /** Run one curl (polled, bounded) and print it and its answer. */
    const prove = async (ns: string, addr: string, port: number, what: string): Promise<{ pod?: string }> => {
      const cmd = ['curl', '-sS', '-g', '--max-time', '5', `http://${addr.includes(':') ? `[${addr}]` : addr}:${port}/`];
      out(`$ ip netns exec ${ns} ${cmd.join(' ')}`);
      const r = await waitFor(
        async () => {
          const x = await tb.exec(ns, cmd, { timeoutMs: 8000 });
          return x.code === 0 ? x : undefined;
        },
        { timeoutMs: 15000, intervalMs: 200, what: `HTTP answer: ${what}` },
      );
      out(r.stdout.trimEnd());
      return JSON.parse(r.stdout) as { pod?: string };
    };
    const first = tb.pods[0];
    const answer = await prove(c, first.ipv4, opts.port, first.name);
    if (answer.pod !== first.name) throw new Error(`expected ${first.name} to answer, got ${JSON.stringify(answer)}`);
    out(`ok: ${first.name} answered through ${opts.forwarder}.`);
    if (controller) {
      const names = new Set(tb.pods.map((p) => p.name));
      for (const [ns, addr, port, what] of [
        [first.ns, SVC_VIP4, SVC_PORT, 'the ClusterIP from a pod'],
        [c, SVC_VIP4, SVC_PORT, 'the ClusterIP from the client'],
        [c, node.ipv4, NODE_PORT, 'the NodePort from the client'],
      ] as const) {
        const a = await prove(ns, addr, port, what);
        if (!a.pod || !names.has(a.pod)) throw new Error(`${what}: expected one of the pods to answer, got ${JSON.stringify(a)}`);
        out(`ok: ${what} answered by ${a.pod}.`);
      }
      out(`$ ${bin} get services --server ${server}`);
      out((await tapflow(['get', 'services'])).stdout.trimEnd());
      out(`$ ${bin} get agents --server ${server}`);
      out((await tapflow(['get', 'agents'])).stdout.trimEnd());
    }
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
    if (controller) process.stderr.write(controller.tail());
    return 1;
  } finally {
    await tb.down();
    for (const node of tb.nodes) {
      const stats = (node.stopped as { stats?: { totals?: unknown } } | undefined)?.stats;
      if (stats?.totals) out(`${node.name} agent stopped; totals ${JSON.stringify(stats.totals)}`);
    }
    if (controller) {
      await controller.stop();
      out('controller stopped.');
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    out('tapflow demo: removed every namespace, interface and file it created.');
  }
}

/** A Service of type NodePort (ClusterIP too) and its EndpointSlice(s) over the given pods. */
function serviceManifest(pods: { ipv4: string; ipv6?: string }[], targetPort: number, nodeName: string, dual: boolean): string {
  const slice = (family: 'IPv4' | 'IPv6', addrs: string[]) => `---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-${family === 'IPv4' ? 'v4' : 'v6'}
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: ${family}
endpoints:
${addrs.map((a) => `- addresses: ["${a}"]\n  conditions: {ready: true}\n  nodeName: ${nodeName}`).join('\n')}
ports:
- name: http
  port: ${targetPort}
  protocol: TCP
`;
  const v6 = pods.map((p) => p.ipv6).filter((a): a is string => a !== undefined);
  return `# tapflow demo: the pods' HTTP servers behind one Service (ClusterIP + NodePort).
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  type: NodePort
  selector: {app: web}
${dual ? `  ipFamilyPolicy: PreferDualStack\n  ipFamilies: [IPv4, IPv6]\n  clusterIP: ${SVC_VIP4}\n  clusterIPs: [${SVC_VIP4}, "${SVC_VIP6}"]` : `  clusterIP: ${SVC_VIP4}`}
  ports:
  - name: http
    port: ${SVC_PORT}
    targetPort: ${targetPort}
    nodePort: ${NODE_PORT}
${slice('IPv4', pods.map((p) => p.ipv4))}${dual && v6.length ? slice('IPv6', v6) : ''}`;
}

/** `tapflow serve` as a child process: logs in the demo dir, killed on any exit of ours. */
class DemoController {
  readonly logFile: string;
  private readonly outFile: string;
  private child: import('node:child_process').ChildProcess | null = null;
  private exit: string | undefined;
  private readonly killSync = () => {
    if (this.child && this.exit === undefined) this.child.kill('SIGKILL');
  };

  constructor(private readonly bin: string, private readonly cwd: string, private readonly listen: string, private readonly dir: string) {
    this.logFile = path.join(dir, 'controller.log');
    this.outFile = path.join(dir, 'controller.out');
  }

  async start(): Promise<void> {
    const outFd = fs.openSync(this.outFile, 'w');
    const errFd = fs.openSync(this.logFile, 'w');
    try {
      this.child = spawn(process.execPath, [this.bin, 'serve', '--listen', this.listen, '--data-dir', path.join(this.dir, 'data')], {
        cwd: this.cwd, stdio: ['ignore', outFd, errFd], env: { ...process.env, TAPFLOW_PARENT_PID: String(process.pid) },
      });
    } finally {
      fs.closeSync(outFd);
      fs.closeSync(errFd);
    }
    process.on('exit', this.killSync);
    this.child.on('exit', (code, sig) => (this.exit = sig ? `signal ${sig}` : `exit ${code}`));
    this.child.on('error', (e) => (this.exit = `spawn error: ${e.message}`));
    await waitFor(() => {
      if (fs.readFileSync(this.outFile, 'utf8').includes('"ready"')) return true;
      if (this.exit !== undefined) throw new Error(`tapflow serve ended (${this.exit}) before ready:\n${this.tail()}`);
      return false;
    }, { timeoutMs: 20000, intervalMs: 50, what: 'tapflow serve ready' });
  }

  /** SIGTERM, then SIGKILL after 5 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child && this.exit === undefined) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    process.removeListener('exit', this.killSync);
  }

  /** The end of its log, for error messages. */
  tail(): string {
    try {
      const text = fs.readFileSync(this.logFile, 'utf8').trim();
      return text ? `--- controller log (${this.logFile}) ---\n${text.slice(-3000)}\n` : '';
    } catch {
      return '';
    }
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
