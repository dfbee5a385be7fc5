/**
 * Malformed packets on the real path (root; skipped otherwise, and skipped cleanly when the
 * optional `raw-socket` package is not installed): one kubenet node, two pods serving HTTP.
 * From the client namespace, test/integration/malformed-sender.ts crafts IP packets with
 * raw-socket (IP_HDRINCL / IPV6_HDRINCL) — bad version, bad options, good options, fragments
 * (first, middle, last, overlapping, a first fragment cutting the TCP header), ICMP errors
 * quoting truncated inner headers, ICMP shorter than its header, TCP with every flag
 * combination (v4 and v6), bad TCP data offsets, bad UDP lengths, IPv6 payload lengths and
 * extension chains that lie — and, through libpcap (`cap`) as whole frames, the lies Linux
 * will not let through a raw socket (bad IHL, bad header checksum, bad Total Length). They go
 * through the uplink TAP into a running tapflow while a good HTTP load (autocannon, keep-alive,
 * bounded) runs to a pod.
 *
 * Asserted: every class's drop reason counted on the uplink at least as often as sent (the
 * well-formed ones forwarded instead), the counters balanced, the HTTP load without a single
 * error, and the agent still serving afterwards.
 */
import t from 'tap';
import * as path from 'node:path';
import { findRepoRoot, Testbed } from '../../scripts/testbed';
import { FORWARDER, linkMac, neighMac, pingOk, skipReason, statsInvariantProblem, testbedFor, waitFor } from './helpers';
import type { ClassResult, SenderConfig } from './malformed-sender';

const repo = findRepoRoot(__dirname);

function rawSocketMissing(): string | false {
  try {
    require(path.join(repo, 'node_modules', 'raw-socket'));
    return false;
  } catch (e) {
    return `the optional raw-socket package is not available (npm install --save-optional raw-socket): ${(e as Error).message.split('\n')[0]}`;
  }
}

const reason = FORWARDER !== 'tapflow' ? 'drop counters need the tapflow forwarder' : skipReason(['ip', 'ping', 'curl', 'timeout']) || rawSocketMissing();

if (reason) {
  t.plan(0, reason);
} else {
  t.test('malformed packets through the uplink: dropped by reason, counted, balanced; a good HTTP load never notices', async (t) => {
    const tb: Testbed = await testbedFor(t, { pods: 2, mode: 'kubenet', nodes: 1, ipv6: true });
    const pod = tb.pods[0];
    await tb.startHttpServers(8080);
    t.ok(await pingOk(tb, tb.client.ns, pod.ipv4), 'client reaches pod-1 (v4)');
    t.ok(await pingOk(tb, tb.client.ns, pod.ipv6!), 'client reaches pod-1 (v6)');
    const node = tb.node(1);
    const gwMac = await waitFor(() => neighMac(tb, tb.client.ns, node.ipv4), { timeoutMs: 5000, what: 'the client\'s neighbor entry for the node IP' });
    const cfg: SenderConfig = {
      repo, srcMac: await linkMac(tb, tb.client.ns), gwMac, client4: tb.client.ipv4, client6: tb.client.ipv6!, pod4: pod.ipv4, pod6: pod.ipv6!, repeat: 3,
    };

    // The good stream: keep-alive HTTP to pod-1, bounded (-d 8, -c 4), started first.
    const autocannon = path.join(repo, 'node_modules', 'autocannon', 'autocannon.js');
    const load = tb.exec(tb.client.ns, [process.execPath, autocannon, '-c', '4', '-d', '8', '-t', '5', '-j', `http://${pod.ipv4}:8080/`], { timeoutMs: 40000 });
    await new Promise((r) => setTimeout(r, 1500));

    const before = await tb.stats();
    const sender = path.join(repo, 'dist', 'test', 'integration', 'malformed-sender.js');
    const r = await tb.exec(tb.client.ns, [process.execPath, sender, JSON.stringify(cfg)], { timeoutMs: 60000 });
    t.equal(r.code, 0, `the sender ran${r.code !== 0 ? `: ${r.stderr.trim().slice(-400)}` : ''}`);
    const classes = JSON.parse(r.stdout.trim().split('\n').pop() ?? '[]') as ClassResult[];
    t.ok(classes.length >= 15, `${classes.length} classes of malformed packets`);

    const lr = await load;
    const upDrops = (s: typeof before) => s.ports.find((p) => p.name === 'uplink')!.drops;
    // Expected counts per reason (several classes may share one).
    const want: Record<string, number> = {};
    let forwardedWanted = 0;
    for (const c of classes) {
      if (c.skipped) { t.comment(`skipped: ${c.name} (${c.skipped})`); continue; }
      t.equal(c.failed, 0, `${c.name}: ${c.sent} sent${c.failed ? `, ${c.failed} refused by the kernel: ${c.errors.join('; ')}` : ''}`);
      if (c.expect === 'forwarded') forwardedWanted += c.sent;
      else want[c.expect] = (want[c.expect] ?? 0) + c.sent;
    }
    // The drops land as the frames are read: poll until every expected count is there (bounded).
    let after = await tb.stats();
    await waitFor(async () => {
      after = await tb.stats();
      const d = upDrops(after), b = upDrops(before);
      return Object.entries(want).every(([k, n]) => (d[k] ?? 0) - (b[k] ?? 0) >= n);
    }, { timeoutMs: 5000, what: 'the drop counters' }).catch(() => undefined);
    const delta: Record<string, number> = {};
    for (const [k, v] of Object.entries(upDrops(after))) if (v - (upDrops(before)[k] ?? 0) > 0) delta[k] = v - (upDrops(before)[k] ?? 0);
    for (const [k, n] of Object.entries(want)) t.ok((delta[k] ?? 0) >= n, `${k}: +${delta[k] ?? 0} on the uplink (≥ ${n} sent)`);
    const fwd = after.totals.forwarded - before.totals.forwarded;
    t.ok(fwd >= forwardedWanted, `well-formed oddities forwarded: +${fwd} (≥ ${forwardedWanted}: options, fragments, ICMP errors, 2 × 256 TCP flag combinations)`);
    t.equal(statsInvariantProblem(after), null, 'received = forwarded + delivered + dropped + pending');
    t.comment(`uplink drops during the run: ${JSON.stringify(delta)}`);

    t.equal(lr.code, 0, `autocannon ran${lr.code !== 0 ? `: ${lr.stderr.trim().slice(-300)}` : ''}`);
    const j = JSON.parse(lr.stdout) as { errors: number; timeouts: number; non2xx: number; '2xx': number; requests: { average: number }; latency: { p99: number } };
    t.equal(j.errors, 0, 'the good HTTP load: no connection errors');
    t.equal(j.timeouts, 0, 'no timeouts');
    t.equal(j.non2xx, 0, 'every answer 2xx');
    t.ok(j['2xx'] > 200, `${j['2xx']} requests answered during the malformed traffic (${Math.round(j.requests.average)} req/s, p99 ${j.latency.p99} ms)`);
    t.ok(await pingOk(tb, tb.client.ns, tb.pods[1].ipv4), 'and the node still forwards to pod-2 afterwards');
  });
}
