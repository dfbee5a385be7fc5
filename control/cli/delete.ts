/**
 * `tapflow delete KIND NAME [NAME...] [-n NS]` or `tapflow delete -f FILE|DIR|-`: remove objects
 * from the desired state — all named objects in one batch (one version), or none.
 */
import { CONNECTION_HELP, CONNECTION_OPTIONS, clientFromOptions } from '../server/control-client';
import { CliUsageError, parseCli, runCli } from '../server/cli-support';
import { resolveKind } from '../server/model-adapter';
import type { PObjectRef } from '../server/proto';
import { displayName, readManifests } from './apply';

export const DELETE_USAGE = `Usage: tapflow delete KIND NAME [NAME...] [-n NAMESPACE] [--ignore-not-found] [connection options]
       tapflow delete -f FILE|DIR|- [--ignore-not-found]

Deletes the named objects from the desired state in one batch: all of them or, when one does
not exist (and --ignore-not-found is not given), none.

Options:
  -n, --namespace NS     namespace (default "default" for namespaced kinds)
  -f, --filename PATH    delete the objects these manifests define (repeatable)
  --ignore-not-found     absent objects are not an error
  -h, --help             this help

${CONNECTION_HELP}

Exit status: 0 deleted, 1 not found or controller error, 2 usage.
`;

export async function deleteCommand(args: string[]): Promise<number> {
  return runCli(DELETE_USAGE, async () => {
    const { values, positionals } = parseCli(args, {
      namespace: { type: 'string', short: 'n' },
      filename: { type: 'string', short: 'f', multiple: true },
      'ignore-not-found': { type: 'boolean' },
      ...CONNECTION_OPTIONS,
    }, Infinity);
    if (values.help) {
      process.stdout.write(DELETE_USAGE);
      return 0;
    }
    const files = (values.filename as string[] | undefined) ?? [];
    const refs: PObjectRef[] = [];
    if (files.length > 0) {
      if (positionals.length > 0) throw new CliUsageError('give either -f or KIND NAME, not both');
      for (const o of await readManifests(files, values.namespace as string | undefined)) refs.push({ kind: o.kind, namespace: o.namespace, name: o.name });
    } else {
      if (positionals.length < 2) throw new CliUsageError('KIND and NAME are required');
      const kd = resolveKind(positionals[0]);
      if (kd === undefined) throw new CliUsageError(`unknown kind "${positionals[0]}"; "tapflow get kinds" lists them`);
      const ns = kd.namespaced ? (values.namespace as string | undefined) ?? (kd.arm ? '' : 'default') : '';
      for (const name of positionals.slice(1)) refs.push({ kind: kd.kind, namespace: ns, name });
    }
    const client = clientFromOptions(values);
    try {
      const res = await client.delete(refs, values['ignore-not-found'] === true);
      for (const r of res.results) {
        const [kind, name] = displayName(r.key).split(/\/(?=[^/]*$)/);
        process.stdout.write(`${kind} "${name}" deleted\n`);
      }
      return 0;
    } finally {
      client.close();
    }
  });
}
