/**
 * `tapflow trace`: what tapflow does with a packet, offline (no TAP, no root), through the
 * same compiled tables and forwarder the agent runs (dataplane/agent/tracer.ts).
 */
import * as fs from 'node:fs';
import { loadManifestPaths, loadManifests, Manifest } from '../model/manifests';
import '../model/kinds';
import { Tracer, TracePacket, TraceProto, TraceResult } from '../../dataplane/agent/tracer';
import { parse, UsageError } from './main';
import { TapflowError } from '../model/errors';

export const TRACE_USAGE = `Usage: tapflow trace --node NODE --src IP[:PORT] --dst IP:PORT --proto P [--server ADDR]   (live, through the controller)
       tapflow trace -f FILE_OR_DIR... --src IP[:PORT] --dst IP:PORT --proto tcp|udp|sctp|icmp
                     [--from pod|pod:NS/NAME|node|external|port:NAME] [--flags syn|ack|...] [--node NAME] [-o json|text]
       tapflow trace -f FILE_OR_DIR... --packets FILE.jsonl [-o json|text]

Runs the packet through the compiled tables and the forwarder tapflow runs live (on memory
ports) and prints: verdict (forward|local|drop|reject), reason, dnat, snat, masquerade,
endpoints (the candidates the balancer chose from), endpoint (the one chosen), egress port.

--packets: one JSON object per line — a packet {"src","dst","proto","from","flags"}, or
{"apply": <manifest>}, {"delete": {"kind","namespace","name"}}, {"advance": MS} — with flow
state kept across lines (a reply follows its connection, affinity holds, deletes end flows).
`;

function render(r: TraceResult): string {
  const lines = [
    `${r.packet.proto} ${r.packet.src} → ${r.packet.dst} from ${r.packet.from} (${r.ingress})`,
    `  verdict:    ${r.verdict} (${r.reason})`,
  ];
  if (r.service) lines.push(`  service:    ${r.service} via ${r.frontend}`);
  if (r.endpoints.length) lines.push(`  endpoints:  ${r.endpoints.join(', ')}`);
  if (r.endpoint) lines.push(`  endpoint:   ${r.endpoint}`);
  if (r.dnat) lines.push(`  dnat:       ${r.dnat.ip}:${r.dnat.port}`);
  if (r.snat) lines.push(`  snat:       ${r.snat.ip}:${r.snat.port}${r.masquerade ? ' (masquerade)' : ''}`);
  if (r.route) lines.push(`  route:      ${r.route}`);
  if (r.egress) lines.push(`  egress:     ${r.egress}${r.out ? ` as ${r.out.src} → ${r.out.dst} ttl ${r.out.ttl}` : ''}`);
  if (r.conn) lines.push(`  connection: ${r.conn.new ? 'new' : 'existing'}, ${r.conn.direction} direction, ${r.conn.state}`);
  for (const g of r.generated) lines.push(`  generated:  ${g}`);
  if (r.security) {
    lines.push(`  security:   ${r.security.allowed ? 'allowed' : 'denied'} (${r.security.reason})`);
    for (const s of r.security.steps) {
      const rule = s.ruleInfo ? ` — ${s.ruleInfo.kind === 'nsg' ? `${s.ruleInfo.nsg}/${s.ruleInfo.name} priority ${s.ruleInfo.priority}` : s.ruleInfo.policy ?? s.ruleInfo.name}` : '';
      lines.push(`    ${s.stage}: ${s.subject}: ${s.verdict}${rule}${s.detail ? ` (${s.detail})` : ''}`);
    }
  }
  return lines.join('\n');
}

export async function traceCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    file: { type: 'string', short: 'f', multiple: true },
    src: { type: 'string' }, dst: { type: 'string' }, proto: { type: 'string' },
    from: { type: 'string' }, flags: { type: 'string' }, node: { type: 'string' },
    packets: { type: 'string' }, output: { type: 'string', short: 'o' },
    server: { type: 'string' }, 'token-file': { type: 'string' },
  }, TRACE_USAGE);
  if (values.help) { process.stdout.write(TRACE_USAGE); return 0; }
  const files = (values.file as unknown as string[] | undefined) ?? [];
  if (files.length === 0 && values.node) {
    // Live: the agent of that node traces with its running configuration.
    const { clientFromOptions } = await import('../server/control-client');
    const client = clientFromOptions(values as Record<string, unknown>);
    try {
      const pkt = { src: values.src, dst: values.dst, proto: values.proto, ...(values.from ? { from: values.from } : {}), ...(values.flags ? { flags: values.flags } : {}) };
      const r = await client.trace(values.node as string, JSON.stringify(pkt));
      const res = JSON.parse(r.resultJson) as TraceResult;
      process.stdout.write(((values.output as string | undefined) ?? 'json') === 'json' ? JSON.stringify(res) + '\n' : render(res) + '\n');
      return 0;
    } finally { client.close(); }
  }
  if (files.length === 0) throw new UsageError(`-f is required (the manifests, including a NodeConfig)\n\n${TRACE_USAGE}`);
  const out = (values.output as string | undefined) ?? 'json';
  if (out !== 'json' && out !== 'text') throw new UsageError(`-o must be json or text, got "${out}"`);
  const tracer = Tracer.fromManifests(loadManifestPaths(files), values.node as string | undefined);
  const print = (r: TraceResult) => process.stdout.write(out === 'json' ? JSON.stringify(r) + '\n' : render(r) + '\n\n');
  if (values.packets) {
    const lines = fs.readFileSync(values.packets as string, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (line.trim() === '' || line.trim().startsWith('#')) return;
      let o: Record<string, unknown>;
      try { o = JSON.parse(line) as Record<string, unknown>; } catch (e) {
        throw new TapflowError(`${values.packets}:${i + 1}: not JSON: ${(e as Error).message}`, { code: 'PARSE_ERROR' });
      }
      if (o.apply !== undefined) { tracer.apply(loadManifests(JSON.stringify(o.apply), `${values.packets}:${i + 1}`) as Manifest[]); return; }
      if (o.delete !== undefined) {
        const d = o.delete as { kind: string; namespace?: string; name: string };
        tracer.apply([], [{ kind: d.kind, namespace: d.namespace ?? 'default', name: d.name }]);
        return;
      }
      if (o.advance !== undefined) { tracer.advance(Number(o.advance)); return; }
      print(tracer.trace(o as unknown as TracePacket));
    });
    return 0;
  }
  for (const k of ['src', 'dst', 'proto'] as const) if (!values[k]) throw new UsageError(`--${k} is required\n\n${TRACE_USAGE}`);
  print(tracer.trace({
    src: values.src as string, dst: values.dst as string, proto: values.proto as TraceProto,
    ...(values.from ? { from: values.from as string } : {}), ...(values.flags ? { flags: values.flags as string } : {}),
  }));
  return 0;
}
