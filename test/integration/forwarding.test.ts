/**
 * End to end through tapflow on one kubenet node (root; skipped otherwise):
 * client (VNet, MTU 9000) ⇄ uplink ⇄ tapflow ⇄ pods (MTU 1500), IPv4 and IPv6.
 *
 * ping, HTTP (TCP) and UDP client↔pod and pod↔pod; the host port; TTL expiry and
 * oversized DF packets answered with ICMP errors from the node IP; the forwarded bytes on the
 * wire (TTL − 1, gateway MAC); and the agent's counters adding up.
 *
 * TAPFLOW_TEST_FORWARDER=kernel runs the same assertions against kernel routing.
 */
import t from 'tap';
import { Testbed } from '../../scripts/testbed';
import {
  capture,
  curlJson,
  flushRouteCache,
  FORWARDER,
  linkMac,
  neighMac,
  ping,
  pingOk,
  podAddrs,
  skipReason,
  statsInvariantProblem,
  testbedFor,
  udpEcho,
} from './helpers';

const reason = skipReason();
if (reason) {
  t.plan(0, reason);
} else {
  let tb: Testbed;
  const HTTP = 8080;

  t.before(async () => {
    tb = await testbedFor(t, { pods: 2, mode: 'kubenet', nodes: 1, ipv6: true, mtu: 1500, uplinkMtu: 9000 });
    await tb.startHttpServers(HTTP);
  });

  t.test('client reaches every pod (ping, v4 + v6)', async (t) => {
    for (const pod of tb.pods) {
      for (const a of podAddrs(pod)) t.ok(await pingOk(tb, tb.client.ns, a), `client → ${pod.name} ${a}`);
    }
  });

  t.test('pod ↔ pod ping (v4 + v6)', async (t) => {
    const [p1, p2] = tb.pods;
    for (const [from, to] of [
      [p1, p2],
      [p2, p1],
    ]) {
      for (const a of podAddrs(to)) t.ok(await pingOk(tb, from.ns, a), `${from.name} → ${to.name} ${a}`);
    }
  });

  t.test('pod → client ping (v4 + v6)', async (t) => {
    const p1 = tb.pods[0];
    t.ok(await pingOk(tb, p1.ns, tb.client.ipv4), `${p1.name} → client ${tb.client.ipv4}`);
    t.ok(await pingOk(tb, p1.ns, tb.client.ipv6!), `${p1.name} → client ${tb.client.ipv6}`);
  });

  t.test('HTTP client → pod answers from the right pod, no SNAT', async (t) => {
    for (const pod of tb.pods) {
      for (const a of podAddrs(pod)) {
        const r = await curlJson(tb, tb.client.ns, a, HTTP);
        t.equal(r.pod, pod.name, `${a} answered by ${pod.name}`);
        t.equal(r.remote, a.includes(':') ? tb.client.ipv6 : tb.client.ipv4, 'pod sees the client address');
      }
    }
  });

  t.test('HTTP pod → pod', async (t) => {
    const [p1, p2] = tb.pods;
    for (const a of podAddrs(p2)) {
      const r = await curlJson(tb, p1.ns, a, HTTP);
      t.equal(r.pod, p2.name, `${p1.name} → ${a} answered by ${p2.name}`);
      t.equal(r.remote, a.includes(':') ? p1.ipv6 : p1.ipv4, `${p2.name} sees ${p1.name}'s address`);
    }
  });

  t.test('HTTP bulk transfer client ← pod (1 MB, segmentation/offloads)', async (t) => {
    const pod = tb.pods[0];
    for (const a of podAddrs(pod)) {
      const u = `http://${a.includes(':') ? `[${a}]` : a}:${HTTP}/bytes/1000000`;
      const r = await tb.exec(tb.client.ns, ['curl', '-sS', '-g', '--max-time', '15', '-o', '/dev/null', '-w', '%{size_download}', u], { timeoutMs: 20000 });
      t.equal(r.code, 0, `curl ${u}: ${r.stderr.trim()}`);
      t.equal(r.stdout.trim(), '1000000', `${a}: all bytes arrived`);
    }
  });

  t.test('HTTP from the node (host port) → pod', async (t) => {
    const pod = tb.pods[0];
    const node = tb.node(1);
    for (const a of podAddrs(pod)) {
      const r = await curlJson(tb, node.ns, a, HTTP);
      t.equal(r.pod, pod.name, `node → ${a} answered by ${pod.name}`);
      if (FORWARDER === 'tapflow') t.equal(r.remote, a.includes(':') ? node.ipv6 : node.ipv4, 'pod sees the node IP');
    }
  });

  t.test('UDP echo client ↔ pod and pod ↔ pod (v4 + v6)', async (t) => {
    const [p1, p2] = tb.pods;
    const cases: [string, string, string][] = [];
    for (const a of podAddrs(p1)) cases.push([tb.client.ns, p1.ns, a]);
    for (const a of podAddrs(p2)) cases.push([p1.ns, p2.ns, a]);
    for (const [from, to, a] of cases) {
      const r = await udpEcho(tb, from, to, a, 50, 1000);
      t.equal(r.sentBytes, 50_000, `${from} → ${a}: sent 50 × 1000 bytes`);
      t.equal(r.bad, 0, 'echoes intact');
      // 50 paced datagrams on an idle testbed: all of them, but tolerate one straggler
      t.ok(r.receivedBytes >= 49_000, `${from} ⇄ ${a}: ${r.receivedBytes} bytes echoed back`);
    }
  });

  t.test('TTL 1: "time exceeded" from the node IP', async (t) => {
    const pod = tb.pods[0];
    const node = tb.node(1);
    const r4 = await ping(tb, tb.client.ns, pod.ipv4, { ttl: 1 });
    t.match(r4.stdout, new RegExp(`From ${node.ipv4.replace(/\./g, '\\.')}.*Time to live exceeded`), `v4: ${r4.stdout.trim()}`);
    const r6 = await ping(tb, tb.client.ns, pod.ipv6!, { ttl: 1 });
    t.match(r6.stdout, new RegExp(`From ${node.ipv6}.*Time exceeded`), `v6: ${r6.stdout.trim()}`);
  });

  t.test('TTL 1 pod → pod: "time exceeded" from the ingress pod port\'s gateway', async (t) => {
    const [p1, p2] = tb.pods;
    const r4 = await ping(tb, p1.ns, p2.ipv4, { ttl: 1 });
    t.match(r4.stdout, new RegExp(`From ${p1.gateway4.replace(/\./g, '\\.')}.*Time to live exceeded`), `v4: ${r4.stdout.trim()}`);
    const r6 = await ping(tb, p1.ns, p2.ipv6!, { ttl: 1 });
    t.match(r6.stdout, new RegExp(`From ${p1.gateway6}.*Time exceeded`), `v6: ${r6.stdout.trim()}`);
  });

  t.test('a pod cannot send from an address it does not own', { skip: FORWARDER !== 'tapflow' ? 'kernel routing does not filter sources' : false }, async (t) => {
    const p1 = tb.pods[0];
    const spoofed = '10.244.0.200';
    await tb.execOk(p1.ns, ['ip', 'addr', 'add', `${spoofed}/32`, 'dev', 'eth0']);
    try {
      const before = (await tb.stats()).ports.find((p) => p.name === p1.name)!;
      const r = await tb.exec(p1.ns, ['ping', '-n', '-c', '1', '-W', '1', '-I', spoofed, tb.client.ipv4], { timeoutMs: 5000 });
      t.not(r.code, 0, `ping from ${spoofed} gets no answer`);
      const after = (await tb.stats()).ports.find((p) => p.name === p1.name)!;
      const drops = (x: typeof after) => Object.values(x.drops).reduce((a, b) => a + b, 0);
      t.ok(drops(after) > drops(before), `counted as a drop on ${p1.name}: ${JSON.stringify(after.drops)}`);
    } finally {
      await tb.exec(p1.ns, ['ip', 'addr', 'del', `${spoofed}/32`, 'dev', 'eth0']);
    }
  });

  t.test('oversized DF: frag needed (mtu 1500) / packet too big from the node IP', async (t) => {
    const pod = tb.pods[0];
    const node = tb.node(1);
    await flushRouteCache(tb, tb.client.ns);
    const r4 = await ping(tb, tb.client.ns, pod.ipv4, { size: 2000, dontFragment: true });
    t.match(r4.stdout, new RegExp(`From ${node.ipv4.replace(/\./g, '\\.')}.*Frag needed.*mtu = 1500`), `v4: ${r4.stdout.trim()} ${r4.stderr.trim()}`);
    const r6 = await ping(tb, tb.client.ns, pod.ipv6!, { size: 2000 });
    t.match(r6.stdout, new RegExp(`From ${node.ipv6}.*Packet too big: mtu=1500`), `v6: ${r6.stdout.trim()} ${r6.stderr.trim()}`);
    // the client learned the path MTU: a 1400-byte DF ping still goes through
    const ok = await ping(tb, tb.client.ns, pod.ipv4, { size: 1400, dontFragment: true });
    t.equal(ok.code, 0, '1400-byte DF ping fits');
    await flushRouteCache(tb, tb.client.ns);
  });

  t.test('bytes on the wire: TTL − 1 and the gateway MAC as source', async (t) => {
    const pod = tb.pods[0];
    const podMac = await linkMac(tb, pod.ns);
    for (const [addr, gw, src, filter] of [
      [pod.ipv4, pod.gateway4, tb.client.ipv4, `icmp and src host ${tb.client.ipv4} and icmp[icmptype] == icmp-echo`],
      [pod.ipv6!, pod.gateway6!, tb.client.ipv6!, `icmp6 and src host ${tb.client.ipv6} and ip6[40] == 128`],
    ] as const) {
      const frames = await capture(tb, pod.ns, filter, 1, async () => {
        const r = await ping(tb, tb.client.ns, addr, { ttl: 64 });
        t.equal(r.code, 0, `ping ${addr} (ttl 64)`);
      });
      t.equal(frames.length, 1, `captured the echo request to ${addr}`);
      const f = frames[0];
      if (!f) continue;
      t.equal(f.src, src, 'source address unchanged');
      t.equal(f.dst, addr, 'destination address unchanged');
      t.equal(f.ttl, 63, 'TTL/hop limit decremented by exactly 1');
      t.equal(f.dstMac, podMac, "destination MAC is the pod's eth0");
      const gwMac = await neighMac(tb, pod.ns, gw);
      t.ok(gwMac, `pod resolved its gateway ${gw}`);
      t.equal(f.srcMac, gwMac, `source MAC is the gateway MAC the pod resolved for ${gw}`);
    }
  });

  t.test('agent counters add up', { skip: FORWARDER !== 'tapflow' ? 'kernel forwarder has no agent' : false }, async (t) => {
    const s = await tb.stats();
    t.equal(statsInvariantProblem(s), null, 'received = forwarded + delivered + dropped + pending');
    t.ok(s.totals.received > 0, `received ${s.totals.received}`);
    t.ok(s.totals.forwarded > 0, `forwarded ${s.totals.forwarded}`);
    const names = s.ports.map((p) => p.name).sort();
    t.same(names, ['host', 'pod-1', 'pod-2', 'uplink'].sort(), 'one stats entry per port');
    for (const p of s.ports) t.ok(p.rxPackets > 0, `${p.name} received ${p.rxPackets} packets`);
  });
}
