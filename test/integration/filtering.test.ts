/**
 * NSGs and NetworkPolicies through a running tapflow agent, with real TCP between network
 * namespaces (root; skipped otherwise).
 *
 * One node in Azure CNI mode (pods hold VNet addresses 10.0.1.2-4, on-link for the client
 * 10.0.0.10), 3 pods serving HTTP on 8080 (pod-1 also on 9090). The agent runs with
 * `--config <dir>` holding the Azure resources (VNet, the node NIC whose IP configurations are
 * the node IP and the pod IPs — as AKS with Azure CNI has them — and its NSG), the Namespaces,
 * the Pods (labels, named ports, IPs from the testbed) and the NetworkPolicies. Each change
 * rewrites one file atomically and waits for the agent's {"event":"applied"} line (SIGHUP if
 * the directory watch missed it).
 *
 *   pod-1  shop/web      app=web     ports http=8080, admin=9090
 *   pod-2  shop/client   app=client
 *   pod-3  dev/client    app=client  (same label, another namespace)
 *
 * Shown:
 *  - NSG: a Deny rule (priority 100) stops new TCP connections client → pod within the connect
 *    timeout and the agent counts `nsg-denied`; rewritten to Allow, they go through.
 *  - Stateful: a keep-alive connection opened while allowed keeps working after the rule is
 *    rewritten to Deny; a new connection is denied.
 *  - NetworkPolicy: a default-deny ingress policy isolates namespace shop (pod → pod and
 *    client → pod denied, `policy-denied` counted; dev is untouched); an allow-by-label policy
 *    opens exactly app=client (shop) → app=web on the named port "http", nothing else.
 *
 * Denied = curl exits 28 (connect timeout 2 s) and the matching drop counter grew; every wait
 * polls with a deadline.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { Test } from 'tap';
import { ExecResult, PodInfo, Testbed } from '../../scripts/testbed';
import { FORWARDER, pingOk, PodReply, skipReason, statsInvariantProblem, waitFor } from './helpers';

const reason = FORWARDER !== 'tapflow'
  ? 'NSGs and NetworkPolicies need the tapflow forwarder (TAPFLOW_TEST_FORWARDER=kernel has no filters)'
  : skipReason(['ip', 'curl', 'ping', 'timeout']);

const HTTP = 8080;
const ADMIN = 9090;
const SUB = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-aks/providers/Microsoft.Network';
const NSG_NAME = 'aks-node-nsg';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

/** Namespace, name and labels of each testbed pod (by index). */
const ROLES = [
  { ns: 'shop', name: 'web', labels: { app: 'web' }, ports: [{ name: 'http', containerPort: HTTP }, { name: 'admin', containerPort: ADMIN }] },
  { ns: 'shop', name: 'client', labels: { app: 'client' }, ports: [] },
  { ns: 'dev', name: 'client', labels: { app: 'client' }, ports: [] },
];

// ─── Manifests ─────────────────────────────────────────────────────────────────────────────

function nsgRule(name: string, priority: number, access: 'Allow' | 'Deny', src: string, dport: string): Obj {
  return {
    name,
    properties: { priority, direction: 'Inbound', access, protocol: 'Tcp', sourceAddressPrefix: src, sourcePortRange: '*', destinationAddressPrefix: '*', destinationPortRange: dport },
  };
}

function nsg(rules: Obj[]): Obj {
  return { type: 'Microsoft.Network/networkSecurityGroups', name: NSG_NAME, id: `${SUB}/networkSecurityGroups/${NSG_NAME}`, location: 'westeurope', properties: { securityRules: rules } };
}

function azure(nodeIP: string, pods: PodInfo[]): Obj[] {
  const subnet = `${SUB}/virtualNetworks/aks-vnet/subnets/aks-subnet`;
  return [
    {
      type: 'Microsoft.Network/virtualNetworks',
      name: 'aks-vnet',
      id: `${SUB}/virtualNetworks/aks-vnet`,
      properties: { addressSpace: { addressPrefixes: ['10.0.0.0/16'] }, subnets: [{ name: 'aks-subnet', properties: { addressPrefix: '10.0.0.0/16' } }] },
    },
    {
      // Azure CNI: the pods' addresses are secondary IP configurations of the node's NIC.
      type: 'Microsoft.Network/networkInterfaces',
      name: 'aks-node-nic',
      id: `${SUB}/networkInterfaces/aks-node-nic`,
      properties: {
        networkSecurityGroup: { id: `${SUB}/networkSecurityGroups/${NSG_NAME}` },
        ipConfigurations: [nodeIP, ...pods.map((p) => p.ipv4)].map((ip, i) => ({ name: `ipconfig${i + 1}`, properties: { privateIPAddress: ip, primary: i === 0, subnet: { id: subnet } } })),
      },
    },
  ];
}

function k8s(pods: PodInfo[]): Obj[] {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { team: 'shop' } } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'dev', labels: { team: 'dev' } } },
    ...pods.map((p, i) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: ROLES[i].name, namespace: ROLES[i].ns, labels: ROLES[i].labels },
      spec: { nodeName: 'node-1', containers: [{ name: 'c', image: 'pod-http-server', ports: ROLES[i].ports }] },
      status: { phase: 'Running', podIP: p.ipv4, podIPs: [{ ip: p.ipv4 }] },
    })),
  ];
}

const DEFAULT_DENY_INGRESS = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'default-deny-ingress', namespace: 'shop' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } };
const WEB_FROM_CLIENT = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'web-from-client', namespace: 'shop' },
  spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ protocol: 'TCP', port: 'http' }] }] },
};

/** One JSON List per file, written atomically (dot files are not read by the agent). */
function writeManifest(dir: string, file: string, objects: Obj[]): void {
  const tmp = path.join(dir, `.${file}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 1));
  fs.renameSync(tmp, path.join(dir, file));
}

/**
 * One keep-alive HTTP/1.1 connection: argv = [host, port]. Sends a request at start and one
 * more per "again" line on stdin; prints {"event":"connected","local":PORT}, then
 * {"event":"response","pod":...,"local":PORT} per answer, or {"event":"error"|"end"|"timeout"}
 * (4 s per request) when the connection fails.
 */
const KEEPALIVE_CLIENT = `
const net = require('node:net');
const readline = require('node:readline');
const [host, port] = process.argv.slice(1);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const sock = net.connect(Number(port), host);
let buf = '', timer = null;
const ask = () => {
  sock.write('GET / HTTP/1.1\\r\\nHost: web\\r\\n\\r\\n');
  timer = setTimeout(() => { out({ event: 'timeout' }); process.exit(0); }, 4000);
};
sock.on('connect', () => { out({ event: 'connected', local: sock.localPort }); ask(); });
sock.on('data', (d) => {
  buf += d.toString();
  const end = buf.indexOf('\\r\\n\\r\\n');
  if (end < 0) return;
  const len = Number(/content-length: *(\\d+)/i.exec(buf.slice(0, end))?.[1] ?? -1);
  if (len < 0 || buf.length < end + 4 + len) return;
  const body = buf.slice(end + 4, end + 4 + len);
  buf = buf.slice(end + 4 + len);
  clearTimeout(timer);
  out({ event: 'response', pod: JSON.parse(body).pod, local: sock.localPort });
});
sock.on('error', (e) => { clearTimeout(timer); out({ event: 'error', code: e.code }); process.exit(0); });
sock.on('end', () => { clearTimeout(timer); out({ event: 'end' }); process.exit(0); });
setTimeout(() => { out({ event: 'timeout', what: 'lifetime' }); process.exit(0); }, 60000).unref();
readline.createInterface({ input: process.stdin }).on('line', (l) => { if (l.trim() === 'again') ask(); });
`;

if (reason) {
  t.plan(0, reason);
} else {
  const cfgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapflow-filtering-test-'));
  t.teardown(() => fs.rmSync(cfgDir, { recursive: true, force: true }));
  const tb = new Testbed({
    pods: 3,
    mode: 'cni',
    ipv6: false,
    forwarder: 'tapflow',
    agentArgs: ['--config', cfgDir],
    nodeConfigHook: (doc) => {
      // Name each pod port's pod, so NetworkPolicies see the Pod objects written below.
      doc.spec.ports.forEach((port) => {
        const i = Number(/^pod-(\d+)$/.exec(String(port.name))?.[1] ?? 0) - 1;
        if (i >= 0 && ROLES[i]) port.pod = { namespace: ROLES[i].ns, name: ROLES[i].name };
      });
    },
    log: process.env.TAPFLOW_TEST_VERBOSE ? (l) => t.comment(l) : undefined,
  });
  // Cleanup on any failure, including one in before().
  t.teardown(async () => {
    if (process.env.TAPFLOW_TEST_VERBOSE) t.comment(tb.agentLogs());
    await tb.down();
  });
  const [web, shopClient, devClient] = tb.pods;
  const node = tb.node(1);
  const client = tb.client;

  /** The agent's stdout (ready / applied / rejected events). */
  const agentOut = (): string => {
    try {
      return fs.readFileSync(node.agentLog!.stdout, 'utf8');
    } catch {
      return '';
    }
  };
  const events = (kind: string): Obj[] =>
    agentOut()
      .split('\n')
      .filter((l) => l.includes(`"event":"${kind}"`))
      .map((l) => JSON.parse(l) as Obj);

  /** Rewrite one config file and wait (bounded) until the agent applied it. */
  async function reconfigure(file: string, objects: Obj[]): Promise<Obj> {
    const before = events('applied').length + events('rejected').length;
    writeManifest(cfgDir, file, objects);
    const t0 = Date.now();
    let hupped = false;
    await waitFor(
      () => {
        if (events('applied').length + events('rejected').length > before) return true;
        if (!hupped && Date.now() - t0 > 3000) {
          hupped = true; // the directory watch did not fire: ask for a reload explicitly
          process.kill(node.agentPid!, 'SIGHUP');
        }
        return false;
      },
      { timeoutMs: 10000, intervalMs: 25, what: `the agent to apply ${file}` },
    );
    const rejected = events('rejected');
    if (rejected.length > 0) throw new Error(`the agent rejected the configuration: ${JSON.stringify(rejected[rejected.length - 1])}`);
    const applied = events('applied');
    return applied[applied.length - 1];
  }

  /** Drops of one reason over every port. */
  async function dropped(what: 'nsg-denied' | 'policy-denied'): Promise<number> {
    const s = await tb.stats();
    return s.ports.reduce((n, p) => n + (p.drops[what] ?? 0), 0);
  }

  const httpArgs = (addr: string, port: number) => ['curl', '-sS', '--connect-timeout', '2', '--max-time', '4', `http://${addr}:${port}/`];

  /** A new connection that must succeed (up to 3 tries: the first SYN of a path may wait for ARP). */
  async function allowed(t: Test, from: { ns: string; name: string }, to: PodInfo, port: number): Promise<void> {
    let r: ExecResult | undefined;
    for (let i = 0; i < 3; i++) {
      r = await tb.exec(from.ns, httpArgs(to.ipv4, port), { timeoutMs: 10000 });
      if (r.code === 0) break;
    }
    if (r?.code !== 0) return void t.fail(`${from.name} → ${to.name}:${port} should connect: curl exit ${r?.code} ${r?.stderr.trim()}`);
    const reply = JSON.parse(r.stdout) as PodReply;
    t.equal(reply.pod, to.name, `${from.name} → ${to.name} ${to.ipv4}:${port}: connected, answered by ${reply.pod}`);
  }

  /** A new connection that must not be established: no answer within the connect timeout, and the drop counter grows. */
  async function denied(t: Test, from: { ns: string; name: string }, to: PodInfo, port: number, counter: 'nsg-denied' | 'policy-denied'): Promise<void> {
    const before = await dropped(counter);
    const t0 = Date.now();
    const r = await tb.exec(from.ns, httpArgs(to.ipv4, port), { timeoutMs: 10000 });
    const ms = Date.now() - t0;
    t.equal(r.code, 28, `${from.name} → ${to.name} ${to.ipv4}:${port}: no connection (curl exit ${r.code}: ${r.stderr.trim() || r.stdout.trim()})`);
    t.ok(ms < 5000, `gave up within a bounded time (${ms} ms)`);
    const after = await dropped(counter);
    t.ok(after > before, `${counter} counted: ${before} → ${after}`);
  }

  const from = (p: PodInfo) => ({ ns: p.ns, name: `${p.name} (${ROLES[tb.pods.indexOf(p)].ns}/${ROLES[tb.pods.indexOf(p)].name})` });
  const theClient = { ns: client.ns, name: `client ${client.ipv4}` };

  t.before(async () => {
    // Manifests first: the agent loads them at start (pod addresses are known from the plan).
    writeManifest(cfgDir, 'azure.json', azure(node.ipv4, tb.pods));
    writeManifest(cfgDir, 'nsg.json', [nsg([])]);
    writeManifest(cfgDir, 'k8s.json', k8s(tb.pods));
    writeManifest(cfgDir, 'policies.json', []);
    await tb.up();
    const ready = events('ready')[0];
    if (!ready) throw new Error(`no ready line from the agent: ${agentOut()}`);
    await tb.startHttpServers(HTTP);
    await tb.startHttpServers(ADMIN, [web]);
    await tb.waitAllReachable();
  });

  t.test('baseline: with the default NSG rules and no policy every path is open', async (t) => {
    await allowed(t, theClient, web, HTTP);
    await allowed(t, from(shopClient), web, HTTP);
    await allowed(t, from(shopClient), web, ADMIN);
    await allowed(t, from(devClient), web, HTTP);
    await allowed(t, from(web), shopClient, HTTP);
    await allowed(t, theClient, shopClient, HTTP);
  });

  t.test('NSG: a Deny rule (priority 100) stops new TCP connections; rewritten to Allow, they pass', async (t) => {
    const applied = await reconfigure('nsg.json', [nsg([nsgRule('Deny-Client-HTTP', 100, 'Deny', `${client.ipv4}/32`, String(HTTP))])]);
    t.ok(Number(applied.version) > 1, `applied generation ${applied.version}`);
    await denied(t, theClient, web, HTTP, 'nsg-denied');
    await denied(t, theClient, shopClient, HTTP, 'nsg-denied');
    // Only TCP 8080 from the client is denied: ping still passes (AllowVnetInBound), and pod → pod
    // traffic never leaves the node's NIC, where Azure applies NSGs.
    t.ok(await pingOk(tb, client.ns, web.ipv4), 'ping client → pod-1 still answered');
    await allowed(t, from(shopClient), web, HTTP);

    await reconfigure('nsg.json', [nsg([nsgRule('Allow-Client-HTTP', 100, 'Allow', `${client.ipv4}/32`, String(HTTP))])]);
    await allowed(t, theClient, web, HTTP);
    await allowed(t, theClient, shopClient, HTTP);
  });

  t.test('NSG, stateful: an established keep-alive connection survives the removal of its allow rule; a new one is denied', async (t) => {
    await reconfigure('nsg.json', [nsg([nsgRule('Allow-Client-HTTP', 100, 'Allow', `${client.ipv4}/32`, String(HTTP))])]);
    const conn = tb.spawn(client.ns, [process.execPath, '-e', KEEPALIVE_CLIENT, web.ipv4, String(HTTP)], { stdio: ['pipe', 'pipe', 'pipe'] });
    t.teardown(() => conn.kill('SIGKILL'));
    const lines = (): Obj[] => conn.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Obj);
    const first = JSON.parse(await conn.waitFor(/"event":"(response|error|end|timeout)"/, 10000, 'stdout')) as Obj;
    t.equal(first.event, 'response', `first answer on the keep-alive connection: ${JSON.stringify(first)}`);
    t.equal(first.pod, web.name, `answered by ${web.name}`);

    const applied = await reconfigure('nsg.json', [nsg([nsgRule('Deny-Client-HTTP', 100, 'Deny', `${client.ipv4}/32`, String(HTTP))])]);
    t.ok(applied, `deny applied (generation ${applied.version})`);

    conn.child.stdin!.write('again\n');
    await waitFor(() => lines().filter((l) => l.event !== 'connected').length >= 2, { timeoutMs: 8000, what: 'the second answer (or an error)' });
    const second = lines().filter((l) => l.event !== 'connected')[1];
    t.equal(second.event, 'response', `the established connection still works after the deny: ${JSON.stringify(second)}`);
    t.equal(second.local, first.local, `same connection (local port ${first.local})`);
    t.equal(lines().filter((l) => l.event === 'connected').length, 1, 'never reconnected');

    await denied(t, theClient, web, HTTP, 'nsg-denied');

    // And once more on the old connection, after the new one was refused.
    conn.child.stdin!.write('again\n');
    await waitFor(() => lines().filter((l) => l.event !== 'connected').length >= 3, { timeoutMs: 8000, what: 'the third answer (or an error)' });
    t.equal(lines().filter((l) => l.event !== 'connected')[2].event, 'response', 'a third answer on the established connection');
    conn.kill('SIGKILL');

    // Open the NSG again for what follows.
    await reconfigure('nsg.json', [nsg([])]);
    await allowed(t, theClient, web, HTTP);
  });

  t.test('NetworkPolicy: default deny ingress isolates namespace shop', async (t) => {
    await reconfigure('policies.json', [DEFAULT_DENY_INGRESS]);
    await denied(t, theClient, web, HTTP, 'policy-denied');
    await denied(t, from(shopClient), web, HTTP, 'policy-denied');
    await denied(t, from(devClient), web, HTTP, 'policy-denied');
    await denied(t, from(web), shopClient, HTTP, 'policy-denied');
    await denied(t, theClient, shopClient, HTTP, 'policy-denied');
    // Namespace dev is not isolated, and shop's egress is not restricted.
    await allowed(t, from(web), devClient, HTTP);
    await allowed(t, theClient, devClient, HTTP);
  });

  t.test('NetworkPolicy: allow app=client → app=web on the named port "http" opens exactly that path', async (t) => {
    await reconfigure('policies.json', [DEFAULT_DENY_INGRESS, WEB_FROM_CLIENT]);
    await allowed(t, from(shopClient), web, HTTP);
    // Everything else stays closed.
    await denied(t, from(shopClient), web, ADMIN, 'policy-denied'); // not the named port
    await denied(t, from(devClient), web, HTTP, 'policy-denied'); // app=client, but of namespace dev
    await denied(t, theClient, web, HTTP, 'policy-denied'); // not a pod
    await denied(t, from(web), shopClient, HTTP, 'policy-denied'); // the reverse direction
    // The allowed path keeps working.
    await allowed(t, from(shopClient), web, HTTP);
  });

  t.test('agent counters add up', async (t) => {
    const s = await tb.stats();
    t.equal(statsInvariantProblem(s), null, 'received = forwarded + delivered + dropped + pending');
    const totals = (r: string) => s.ports.reduce((n, p) => n + (p.drops[r] ?? 0), 0);
    t.ok(totals('nsg-denied') > 0, `nsg-denied ${totals('nsg-denied')}`);
    t.ok(totals('policy-denied') > 0, `policy-denied ${totals('policy-denied')}`);
    t.same(events('rejected'), [], 'no configuration was rejected');
  });
}
