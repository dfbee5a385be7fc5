/**
 * Two kubenet nodes joined by a VNet bridge (root; skipped otherwise): a pod on node 1 reaches
 * a pod on node 2 through both tapflow agents via spec.nodeRoutes (podCIDR via the other node
 * IP on the uplink), without SNAT; the client reaches pods on both nodes through the VNet route
 * table (podCIDRs via node IPs). IPv4 and IPv6.
 */
import t from 'tap';
import { Testbed } from '../../scripts/testbed';
import { curlJson, FORWARDER, isV6, pingOk, podAddrs, skipReason, statsInvariantProblem, testbedFor, udpEcho } from './helpers';

const reason = skipReason();
if (reason) {
  t.plan(0, reason);
} else {
  let tb: Testbed;
  const HTTP = 8080;

  t.before(async () => {
    tb = await testbedFor(t, { pods: 1, mode: 'kubenet', nodes: 2, ipv6: true });
    await tb.startHttpServers(HTTP);
  });

  t.test('pods are on different nodes and podCIDRs', async (t) => {
    t.equal(tb.pods.length, 2);
    t.equal(tb.pods[0].node, 1);
    t.equal(tb.pods[1].node, 2);
  });

  t.test('pod on node 1 ⇄ pod on node 2 (ping, v4 + v6)', async (t) => {
    const [a, b] = tb.pods;
    for (const addr of podAddrs(b)) t.ok(await pingOk(tb, a.ns, addr), `${a.name} → ${b.name} ${addr}`);
    for (const addr of podAddrs(a)) t.ok(await pingOk(tb, b.ns, addr), `${b.name} → ${a.name} ${addr}`);
  });

  t.test('HTTP pod on node 1 → pod on node 2 keeps the pod source address', async (t) => {
    const [a, b] = tb.pods;
    for (const addr of podAddrs(b)) {
      const r = await curlJson(tb, a.ns, addr, HTTP);
      t.equal(r.pod, b.name, `${addr} answered by ${b.name}`);
      t.equal(r.remote, isV6(addr) ? a.ipv6 : a.ipv4, `${b.name} sees ${a.name}'s address (no SNAT inside the cluster)`);
    }
  });

  t.test('UDP pod on node 2 ⇄ pod on node 1', async (t) => {
    const [a, b] = tb.pods;
    for (const addr of podAddrs(a)) {
      const r = await udpEcho(tb, b.ns, a.ns, addr, 30, 1200);
      t.equal(r.bad, 0, 'echoes intact');
      t.ok(r.receivedBytes >= 29 * 1200, `${addr}: ${r.receivedBytes}/${r.sentBytes} bytes echoed`);
    }
  });

  t.test('client reaches pods on both nodes via the node IPs', async (t) => {
    for (const pod of tb.pods) {
      for (const addr of podAddrs(pod)) {
        const r = await curlJson(tb, tb.client.ns, addr, HTTP);
        t.equal(r.pod, pod.name, `client → ${addr} answered by ${pod.name}`);
      }
    }
  });

  t.test('both agents: counters add up', { skip: FORWARDER !== 'tapflow' ? 'kernel forwarder has no agent' : false }, async (t) => {
    for (const node of tb.nodes) {
      const s = await tb.stats(node.index);
      t.equal(statsInvariantProblem(s), null, `${node.name}: received = forwarded + delivered + dropped + pending`);
      t.ok(s.totals.forwarded > 0, `${node.name} forwarded ${s.totals.forwarded}`);
    }
  });
}
