/**
 * `tapflow flows --node NODE [--limit N] [--proto P] [--address IP] [-o table|json]`: a running
 * agent's connection table, relayed by the controller (Control.Flows → the agent's sync stream).
 */
import { CONNECTION_HELP, CONNECTION_OPTIONS, clientFromOptions } from '../server/control-client';
import { CliUsageError, formatTable, parseCli, runCli } from '../server/cli-support';
import { CONN_STATE_NAMES } from '../../dataplane/flows/flow-table';

export const FLOWS_USAGE = `Usage: tapflow flows --node NODE [--limit N] [--proto tcp|udp|sctp|icmp] [--address IP] [-o table|json] [connection options]

Prints the agent's tracked connections: both directions' tuples, state, NAT (service and
backend), packets and bytes per direction.

${CONNECTION_HELP}
`;

interface Tuple { src: string; dst: string; sport: number; dport: number }
interface Flow { id: number; proto: number; state: number; orig: Tuple; reply: Tuple | null; packets: number[]; bytes: number[]; service: string | null; backend: string | null }

export async function flowsCommand(args: string[]): Promise<number> {
  return runCli(FLOWS_USAGE, async () => {
    const { values } = parseCli(args, {
      node: { type: 'string' }, limit: { type: 'string' }, proto: { type: 'string' }, address: { type: 'string' },
      output: { type: 'string', short: 'o' }, ...CONNECTION_OPTIONS,
    }, 0);
    if (values.help) { process.stdout.write(FLOWS_USAGE); return 0; }
    if (!values.node) throw new CliUsageError('--node is required');
    const output = (values.output as string | undefined) ?? 'table';
    if (output !== 'table' && output !== 'json') throw new CliUsageError(`-o must be table or json, got "${output}"`);
    const limit = values.limit !== undefined ? Number(values.limit) : 1000;
    if (!Number.isInteger(limit) || limit < 1) throw new CliUsageError('--limit must be a positive integer');
    const client = clientFromOptions(values);
    try {
      const r = await client.flows(values.node as string, limit, JSON.stringify({ limit, proto: values.proto, address: values.address }));
      if (output === 'json') { process.stdout.write(r.flowsJson + '\n'); return 0; }
      const d = JSON.parse(r.flowsJson) as { size: number; capacity: number; evicted: number; flows: Flow[] };
      const t = (x: Tuple | null) => (x ? `${x.src}:${x.sport} → ${x.dst}:${x.dport}` : '-');
      const rows = [['PROTO', 'STATE', 'ORIGINAL', 'REPLY', 'SERVICE', 'BACKEND', 'PKTS', 'BYTES']];
      for (const f of d.flows) rows.push([String(f.proto), CONN_STATE_NAMES[f.state] ?? String(f.state), t(f.orig), t(f.reply), f.service ?? '-', f.backend ?? '-',
        `${f.packets[0]}/${f.packets[1]}`, `${f.bytes[0]}/${f.bytes[1]}`]);
      process.stdout.write(formatTable(rows) + `\n${d.size} of ${d.capacity} connections, ${d.evicted} evicted\n`);
      return 0;
    } finally {
      client.close();
    }
  });
}
