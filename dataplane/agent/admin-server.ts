/**
 * The agent's local admin endpoint: HTTP over a unix socket (root-only by file mode), so
 * `tapflow stats` and tests can read live counters without any network exposure.
 *   GET /stats    → StatsSnapshot JSON
 *   GET /healthz  → 200 "ok"
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { StatsSnapshot } from './stats';

export class AdminServer {
  private constructor(private readonly server: http.Server, readonly path: string) {}

  static async listen(path: string, stats: () => StatsSnapshot): Promise<AdminServer> {
    try { fs.unlinkSync(path); } catch { /* not there */ }
    const server = http.createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/stats') {
        const body = JSON.stringify(stats());
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body);
        return;
      }
      if (req.method === 'GET' && req.url === '/healthz') { res.writeHead(200); res.end('ok\n'); return; }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'NOT_FOUND', message: `no such endpoint: ${req.method} ${req.url}` }));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => { server.off('error', reject); resolve(); });
    });
    fs.chmodSync(path, 0o600);
    return new AdminServer(server, path);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => { try { fs.unlinkSync(this.path); } catch { /* gone */ } resolve(); }));
  }
}

/** GET a path from an admin socket; resolves with the parsed JSON body. */
export function adminGet(socketPath: string, urlPath: string, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: urlPath, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => {
        try { resolve(JSON.parse(body)); } catch (e) { reject(e); }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`admin socket ${socketPath}: timed out`)));
    req.on('error', reject);
  });
}
