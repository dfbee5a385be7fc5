/**
 * `tapflow version [--client] [-o json]`: this build's version and, unless --client, the
 * controller's (and its desired-state version).
 */
import { CONNECTION_HELP, CONNECTION_OPTIONS, clientFromOptions } from '../server/control-client';
import { CliUsageError, describeError, parseCli, runCli } from '../server/cli-support';
import { serverVersion } from '../server/controller';

export const VERSION_USAGE = `Usage: tapflow version [--client] [-o text|json] [connection options]

Prints the client version and the controller's (server version, desired-state version, store id).

Options:
  --client          client version only (no controller needed)
  -o, --output FMT  text (default) or json
  -h, --help        this help

${CONNECTION_HELP}

Exit status: 0 ok, 1 the controller could not be reached (the client version is printed anyway).
`;

export async function versionCommand(args: string[]): Promise<number> {
  return runCli(VERSION_USAGE, async () => {
    const { values } = parseCli(args, { client: { type: 'boolean' }, output: { type: 'string', short: 'o' }, ...CONNECTION_OPTIONS }, 0);
    if (values.help) {
      process.stdout.write(VERSION_USAGE);
      return 0;
    }
    const output = (values.output as string | undefined) ?? 'text';
    if (output !== 'text' && output !== 'json') throw new CliUsageError(`-o must be text or json, got "${output}"`);
    const clientVersion = serverVersion();
    let server: { version: string; desiredStateVersion: number; storeId: string } | null = null;
    let error: string | null = null;
    if (!values.client) {
      const client = clientFromOptions({ timeout: '5', ...values });
      try {
        const st = await client.stats();
        server = { version: st.serverVersion, desiredStateVersion: st.version, storeId: st.storeId };
      } catch (err) {
        error = describeError(err);
      } finally {
        client.close();
      }
    }
    if (output === 'json') {
      process.stdout.write(JSON.stringify({ client: { version: clientVersion }, ...(server ? { server } : {}) }, null, 2) + '\n');
    } else {
      process.stdout.write(`Client Version: ${clientVersion}\n`);
      if (server) process.stdout.write(`Server Version: ${server.version} (desired state version ${server.desiredStateVersion}, store ${server.storeId})\n`);
    }
    if (error !== null) {
      process.stderr.write(error + '\n');
      return 1;
    }
    return 0;
  });
}
