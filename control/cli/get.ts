/**
 * `tapflow get KIND [NAME] [-n NS | -A] [-o table|json|yaml|name]` — read the desired state, as
 * kubectl does (a table by default: Service shows NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S)).
 * `tapflow get agents` lists the agents the controller knows, their versions and last error.
 */
import { stringify } from 'yaml';
import { isObj } from '../model/k8s';
import { CONNECTION_HELP, CONNECTION_OPTIONS, clientFromOptions } from '../server/control-client';
import { CliUsageError, formatTable, parseCli, runCli } from '../server/cli-support';
import { kinds, resolveKind } from '../server/model-adapter';
import type { PAgentStatus, PObject } from '../server/proto';
import { displayName } from './apply';

export const GET_USAGE = `Usage: tapflow get KIND [NAME] [-n NAMESPACE | -A] [-o table|wide|json|yaml|name] [connection options]
       tapflow get agents [-o table|json|yaml]

Prints objects of the desired state. KIND is a kind, plural or short name: service (svc),
endpointslice (eps), pod (po), namespace (ns), networkpolicy (netpol), nodeconfig (nc),
nsg, ... ("tapflow get kinds" lists them), or "agents".

Options:
  -n, --namespace NS      namespace (default "default" for namespaced kinds)
  -A, --all-namespaces    every namespace
  -o, --output FMT        table (default), wide, json, yaml or name
  -h, --help              this help

${CONNECTION_HELP}

Exit status: 0 ok, 1 not found or controller error, 2 usage.
`;

export async function getCommand(args: string[]): Promise<number> {
  return runCli(GET_USAGE, async () => {
    const { values, positionals } = parseCli(args, {
      namespace: { type: 'string', short: 'n' },
      'all-namespaces': { type: 'boolean', short: 'A' },
      output: { type: 'string', short: 'o' },
      ...CONNECTION_OPTIONS,
    }, 2);
    if (values.help) {
      process.stdout.write(GET_USAGE);
      return 0;
    }
    const output = (values.output as string | undefined) ?? 'table';
    if (!['table', 'wide', 'json', 'yaml', 'name'].includes(output)) throw new CliUsageError(`-o must be table, wide, json, yaml or name, got "${output}"`);
    if (positionals.length === 0) throw new CliUsageError('KIND is required');
    const what = positionals[0];
    if (what === 'kinds') {
      const rows = [['KIND', 'APIVERSION', 'NAMESPACED', 'SHORTNAMES']];
      for (const k of kinds()) rows.push([k.kind, k.apiVersion || 'ARM', String(k.namespaced), k.shortNames.join(',')]);
      process.stdout.write(formatTable(rows));
      return 0;
    }
    const isAgents = what === 'agents' || what === 'agent';
    const kd = isAgents ? undefined : resolveKind(what);
    if (!isAgents && kd === undefined) throw new CliUsageError(`unknown kind "${what}"; "tapflow get kinds" lists them`);
    if (values.namespace !== undefined && values['all-namespaces']) throw new CliUsageError('-n and -A cannot be used together');
    const client = clientFromOptions(values);
    try {
      if (kd === undefined) {
        const st = await client.stats();
        const agents = positionals[1] ? st.agents.filter((a) => a.node === positionals[1]) : st.agents;
        if (positionals[1] && agents.length === 0) {
          process.stderr.write(`Error from server (NotFound): agent "${positionals[1]}" not found\n`);
          return 1;
        }
        printAgents(agents, st.version, output);
        return 0;
      }
      const allNs = values['all-namespaces'] === true || !kd.namespaced || (kd.arm && values.namespace === undefined);
      const ns = allNs ? '' : (values.namespace as string | undefined) ?? 'default';
      let objects: PObject[];
      if (positionals[1] !== undefined) {
        const r = await client.get(kd.kind, positionals[1], ns);
        objects = r.object ? [r.object] : [];
      } else {
        objects = (await client.list(kd.kind, ns)).objects;
      }
      const single = positionals[1] !== undefined;
      if (output === 'json' || output === 'yaml') {
        const raws = objects.map((o) => JSON.parse(o.text) as unknown);
        const doc = single ? raws[0] : { apiVersion: 'v1', kind: 'List', items: raws };
        process.stdout.write(output === 'json' ? JSON.stringify(doc, null, 2) + '\n' : stringify(doc));
        return 0;
      }
      if (output === 'name') {
        for (const o of objects) process.stdout.write(displayName(`${o.kind}/${o.namespace}/${o.name}`) + '\n');
        return 0;
      }
      if (objects.length === 0) {
        process.stderr.write(ns ? `No resources found in ${ns} namespace.\n` : 'No resources found\n');
        return 0;
      }
      process.stdout.write(formatTable(tableOf(kd.kind, objects, allNs && kd.namespaced, output === 'wide')));
      return 0;
    } finally {
      client.close();
    }
  });
}

type Raw = Record<string, unknown>;

function str(v: unknown, dflt = ''): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : dflt;
}

function obj(v: unknown): Raw {
  return isObj(v) ? v : {};
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** The kubectl-like table of objects of one kind. */
export function tableOf(kind: string, objects: PObject[], withNamespace: boolean, wide: boolean): string[][] {
  const col = COLUMNS[kind] ?? DEFAULT_COLUMNS;
  const head = [...(withNamespace ? ['NAMESPACE'] : []), 'NAME', ...col.head, ...(wide && col.wide ? col.wide.head : [])];
  const rows = [head];
  for (const o of objects) {
    const raw = JSON.parse(o.text) as Raw;
    rows.push([...(withNamespace ? [o.namespace] : []), o.name, ...col.cells(raw, o), ...(wide && col.wide ? col.wide.cells(raw) : [])]);
  }
  return rows;
}

interface Columns {
  head: string[];
  cells: (raw: Raw, o: PObject) => string[];
  wide?: { head: string[]; cells: (raw: Raw) => string[] };
}

const DEFAULT_COLUMNS: Columns = { head: ['VERSION'], cells: (_raw, o) => [String(o.version)] };

/** kubectl's PORT(S): 80/TCP, 80:30080/TCP. */
export function servicePorts(spec: Raw): string {
  const ps = arr(spec.ports).map((p) => {
    const x = obj(p);
    const np = typeof x.nodePort === 'number' && x.nodePort > 0 ? `:${x.nodePort}` : '';
    return `${str(x.port)}${np}/${str(x.protocol, 'TCP')}`;
  });
  return ps.length ? ps.join(',') : '<none>';
}

function serviceExternal(spec: Raw, status: Raw): string {
  const type = str(spec.type, 'ClusterIP');
  if (type === 'ExternalName') return str(spec.externalName, '<none>');
  const ips = arr(spec.externalIPs).map((x) => str(x));
  const ingress = arr(obj(status.loadBalancer).ingress).map((i) => str(obj(i).ip) || str(obj(i).hostname)).filter((x) => x);
  const all = [...ingress, ...ips];
  if (all.length) return all.join(',');
  return type === 'LoadBalancer' ? '<pending>' : '<none>';
}

const COLUMNS: Record<string, Columns> = {
  Service: {
    head: ['TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)'],
    cells: (raw) => {
      const spec = obj(raw.spec);
      const type = str(spec.type, 'ClusterIP');
      return [type, type === 'ExternalName' ? '<none>' : str(spec.clusterIP, '<none>'), serviceExternal(spec, obj(raw.status)), servicePorts(spec)];
    },
    wide: { head: ['SELECTOR'], cells: (raw) => [Object.entries(obj(obj(raw.spec).selector)).map(([k, v]) => `${k}=${str(v)}`).join(',') || '<none>'] },
  },
  EndpointSlice: {
    head: ['ADDRESSTYPE', 'PORTS', 'ENDPOINTS'],
    cells: (raw) => {
      const ports = arr(raw.ports).map((p) => str(obj(p).port)).filter((p) => p);
      const addrs = arr(raw.endpoints).flatMap((e) => arr(obj(e).addresses).map((a) => str(a)));
      const shown = addrs.slice(0, 3).join(',');
      return [str(raw.addressType), ports.join(',') || '<unset>', addrs.length > 3 ? `${shown} + ${addrs.length - 3} more...` : shown || '<unset>'];
    },
  },
  Pod: {
    head: ['STATUS', 'IP', 'NODE'],
    cells: (raw) => [str(obj(raw.status).phase, '<unknown>'), str(obj(raw.status).podIP, '<none>'), str(obj(raw.spec).nodeName, '<none>')],
  },
  Namespace: { head: ['STATUS'], cells: (raw) => [str(obj(raw.status).phase, 'Active')] },
  NetworkPolicy: {
    head: ['POD-SELECTOR'],
    cells: (raw) => {
      const sel = obj(obj(raw.spec).podSelector);
      const ml = Object.entries(obj(sel.matchLabels)).map(([k, v]) => `${k}=${str(v)}`);
      const me = arr(sel.matchExpressions).map((e) => `${str(obj(e).key)} ${str(obj(e).operator)}`);
      return [[...ml, ...me].join(',') || '<none>'];
    },
  },
  NodeConfig: {
    head: ['NODE', 'MODE', 'NODE-IPS', 'PORTS'],
    cells: (raw) => {
      const spec = obj(raw.spec);
      return [str(spec.nodeName, str(obj(raw.metadata).name)), str(spec.networkMode, 'kubenet'), arr(spec.nodeIPs).map((x) => str(x)).join(',') || '<none>', String(arr(spec.ports).length)];
    },
  },
  'Microsoft.Network/networkSecurityGroups': {
    head: ['LOCATION', 'RULES'],
    cells: (raw) => [str(raw.location, '<none>'), String(arr(obj(raw.properties).securityRules).length)],
  },
};

function printAgents(agents: PAgentStatus[], version: number, output: string): void {
  if (output === 'json' || output === 'yaml') {
    const doc = { version, agents };
    process.stdout.write(output === 'json' ? JSON.stringify(doc, null, 2) + '\n' : stringify(doc));
    return;
  }
  if (output === 'name') {
    for (const a of agents) process.stdout.write(`agent/${a.node}\n`);
    return;
  }
  if (agents.length === 0) {
    process.stderr.write('No agents have connected.\n');
    return;
  }
  const rows = [['NODE', 'CONNECTED', 'VERSION', 'ACKED', 'SENT', 'NACKS', 'LAST-SEEN', 'LAST-ERROR']];
  for (const a of agents) {
    const err = a.lastError ? `v${a.lastErrorVersion} ${a.lastError.code}${a.lastError.path ? ` ${a.lastError.path}` : ''}: ${a.lastError.message.split('\n')[0]}` : '<none>';
    rows.push([a.node, a.connected ? 'True' : 'False', a.agentVersion || '-', String(a.ackedVersion), String(a.sentVersion), String(a.nacks), age(a.lastSeenMs), err]);
  }
  process.stdout.write(formatTable(rows));
  process.stdout.write(`\ndesired state version ${version}\n`);
}

function age(ms: number): string {
  if (!ms) return '-';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}
