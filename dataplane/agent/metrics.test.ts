/**
 * The Prometheus endpoint on a fake stats source: per-port counters, drops by reason, flow table
 * occupancy, config version, apply latency histogram; lazy collection (stats() is called only
 * when scraped, once per scrape); /healthz, /readyz, 404.
 */
import t from 'tap';
import * as http from 'node:http';
import { AgentMetrics, MetricsServer } from './metrics';
import type { StatsSnapshot } from './stats';

function snapshot(rx: number): StatsSnapshot {
  return {
    node: 'node-a',
    configVersion: 7,
    ports: [
      { name: 'uplink', tap: 'tfup0', role: 'uplink', rxPackets: rx, rxBytes: rx * 100, txPackets: 5, txBytes: 500, txErrors: 0, drops: { 'ttl-exceeded': 2 } },
      { name: 'pod-a', tap: 'tfpa', role: 'pod', rxPackets: 3, rxBytes: 300, txPackets: rx, txBytes: rx * 100, txErrors: 1, drops: {} },
    ],
    totals: { received: rx + 3, forwarded: rx + 1, delivered: 0, dropped: 2, pending: 0, generated: 4, generatedDropped: 0, balanced: true },
    neighbors: { entries: 3, refused: 0 },
  };
}

function get(addr: string, p: string): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    http.get(`http://${addr}${p}`, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
    }).on('error', reject);
  });
}

t.test('metrics endpoint', async (t) => {
  let calls = 0;
  let rx = 10;
  let ready = false;
  const m = new AgentMetrics({
    stats: () => {
      calls++;
      return snapshot(rx);
    },
    flows: () => ({ size: 42, capacity: 262144 }),
    ready: () => ready,
    sync: () => ({ connected: true, appliedVersion: 12, nacks: 1 }),
  }, { defaultMetrics: false });
  const srv = await MetricsServer.listen('127.0.0.1:0', m);
  t.teardown(() => srv.close());
  t.equal(calls, 0, 'nothing collected before a scrape');

  m.observeApply(0.003, true);
  m.observeApply(0.2, false);
  let r = await get(srv.address, '/metrics');
  t.equal(r.status, 200);
  t.match(r.type, /text\/plain/);
  t.equal(calls, 1, 'one stats() per scrape');
  const b = r.body;
  t.match(b, /tapflow_port_rx_packets_total\{port="uplink",tap="tfup0",role="uplink"\} 10\n/);
  t.match(b, /tapflow_port_tx_bytes_total\{port="pod-a",tap="tfpa",role="pod"\} 1000\n/);
  t.match(b, /tapflow_port_tx_errors_total\{port="pod-a",tap="tfpa",role="pod"\} 1\n/);
  t.match(b, /tapflow_drops_total\{port="uplink",reason="ttl-exceeded"\} 2\n/);
  t.match(b, /tapflow_frames_total\{outcome="received"\} 13\n/);
  t.match(b, /tapflow_flow_table_entries 42\n/);
  t.match(b, /tapflow_flow_table_capacity 262144\n/);
  t.match(b, /tapflow_config_version 7\n/);
  t.match(b, /tapflow_config_applied_version 12\n/);
  t.match(b, /tapflow_controller_connected 1\n/);
  t.match(b, /tapflow_config_nacks_total 1\n/);
  t.match(b, /tapflow_counters_balanced 1\n/);
  t.match(b, /tapflow_config_apply_seconds_bucket\{le="0.005",result="ok"\} 1\n/);
  t.match(b, /tapflow_config_apply_seconds_count\{result="error"\} 1\n/);
  t.match(b, /# TYPE tapflow_port_rx_packets_total counter/);

  rx = 25;
  r = await get(srv.address, '/metrics');
  t.match(r.body, /tapflow_port_rx_packets_total\{port="uplink",tap="tfup0",role="uplink"\} 25\n/, 'fresh values each scrape');

  t.equal((await get(srv.address, '/healthz')).status, 200);
  t.equal((await get(srv.address, '/readyz')).status, 503);
  ready = true;
  t.equal((await get(srv.address, '/readyz')).status, 200);
  t.equal((await get(srv.address, '/nope')).status, 404);
});

t.test('default process metrics and a bad address', async (t) => {
  const m = new AgentMetrics({ stats: () => snapshot(1) });
  t.match(await m.text(), /tapflow_process_cpu_user_seconds_total/);
  await t.rejects(MetricsServer.listen('nonsense', m), /host:port/);
});
