/**
 * CNI mode (root; skipped otherwise): pods hold VNet addresses (10.0.1.x / fd00::1:x inside
 * 10.0.0.0/16 / fd00::/64). The client reaches them on-link — no route via the node IP: tapflow
 * answers ARP/NS for pod IPs on the uplink. Pods reach the client and each other.
 */
import t from 'tap';
import { Testbed } from '../../scripts/testbed';
import { curlJson, FORWARDER, isV6, neighMac, pingOk, podAddrs, skipReason, statsInvariantProblem, testbedFor } from './helpers';

const reason = skipReason();
if (reason) {
  t.plan(0, reason);
} else {
  let tb: Testbed;
  const HTTP = 8080;

  t.before(async () => {
    tb = await testbedFor(t, { pods: 2, mode: 'cni', nodes: 1, ipv6: true });
    await tb.startHttpServers(HTTP);
  });

  t.test('pod addresses are VNet addresses, on-link for the client', async (t) => {
    for (const pod of tb.pods) {
      t.match(pod.ipv4, /^10\.0\.1\./, `${pod.name} ${pod.ipv4}`);
      for (const addr of podAddrs(pod)) {
        const r = await tb.execOk(tb.client.ns, ['ip', 'route', 'get', addr]);
        t.notMatch(r.stdout, / via /, `client route to ${addr} is on-link: ${r.stdout.trim()}`);
      }
    }
  });

  t.test('client → pod on-link (ping + HTTP, v4 + v6)', async (t) => {
    const node = tb.node(1);
    for (const pod of tb.pods) {
      for (const addr of podAddrs(pod)) {
        t.ok(await pingOk(tb, tb.client.ns, addr), `ping ${addr}`);
        const r = await curlJson(tb, tb.client.ns, addr, HTTP);
        t.equal(r.pod, pod.name, `${addr} answered by ${pod.name}`);
        t.equal(r.remote, isV6(addr) ? tb.client.ipv6 : tb.client.ipv4, 'pod sees the client address');
        const m = await neighMac(tb, tb.client.ns, addr);
        t.ok(m, `client resolved ${addr} on the uplink`);
        // the node's uplink answers for its pods: same MAC as for the node IP
        await pingOk(tb, tb.client.ns, isV6(addr) ? node.ipv6! : node.ipv4);
        t.equal(m, await neighMac(tb, tb.client.ns, isV6(addr) ? node.ipv6! : node.ipv4), `${addr} resolves to the node's uplink MAC`);
      }
    }
  });

  t.test('pod → client and pod → pod', async (t) => {
    const [p1, p2] = tb.pods;
    t.ok(await pingOk(tb, p1.ns, tb.client.ipv4), 'pod-1 → client v4');
    t.ok(await pingOk(tb, p1.ns, tb.client.ipv6!), 'pod-1 → client v6');
    for (const addr of podAddrs(p2)) {
      const r = await curlJson(tb, p1.ns, addr, HTTP);
      t.equal(r.pod, p2.name, `${p1.name} → ${addr}`);
    }
  });

  t.test('agent counters add up', { skip: FORWARDER !== 'tapflow' ? 'kernel forwarder has no agent' : false }, async (t) => {
    const s = await tb.stats();
    t.equal(statsInvariantProblem(s), null, 'received = forwarded + delivered + dropped + pending');
  });
}
