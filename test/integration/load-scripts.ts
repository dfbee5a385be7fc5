/**
 * Load generators run inside namespaces with `node -e SCRIPT args…` by the integration tests
 * (crash-restart, backend-fault): bounded in time, their results one JSON line on stdout.
 */

/**
 * `n` keep-alive HTTP/1.1 connections to host:port, each asking again as soon as it is answered
 * (10 s per answer at most). stdin: "mark" starts counting answers "after", "stop" prints one JSON
 * line [{reqs, after, pods, error, closed, timedOut}] and exits. Bounded: exits by itself after maxMs.
 */
export const KEEPALIVE_LOAD = `
const net = require('node:net');
const readline = require('node:readline');
const [host, port, n, maxMs] = process.argv.slice(1).map((x, i) => (i === 0 ? x : Number(x)));
let marked = false;
const conns = [];
for (let i = 0; i < n; i++) {
  const c = { reqs: 0, after: 0, pods: [], error: null, closed: false, timedOut: false };
  conns.push(c);
  const s = net.connect(port, host);
  let buf = '', timer = null;
  const ask = () => {
    if (c.closed) return;
    s.write('GET / HTTP/1.1\\r\\nHost: web\\r\\n\\r\\n');
    timer = setTimeout(() => { c.timedOut = true; s.destroy(); }, 10000);
  };
  s.on('connect', ask);
  s.on('data', (d) => {
    buf += d.toString();
    for (;;) {
      const end = buf.indexOf('\\r\\n\\r\\n');
      if (end < 0) return;
      const len = Number(/content-length: *(\\d+)/i.exec(buf.slice(0, end))?.[1] ?? -1);
      if (len < 0 || buf.length < end + 4 + len) return;
      const body = buf.slice(end + 4, end + 4 + len);
      buf = buf.slice(end + 4 + len);
      clearTimeout(timer);
      c.reqs++;
      if (marked) c.after++;
      try { const p = JSON.parse(body).pod; if (!c.pods.includes(p)) c.pods.push(p); } catch {}
      setTimeout(ask, 5);
    }
  });
  s.on('error', (e) => { c.error = e.code || e.message; });
  s.on('close', () => { c.closed = true; clearTimeout(timer); });
}
const done = () => { console.log(JSON.stringify(conns)); process.exit(0); };
readline.createInterface({ input: process.stdin }).on('line', (l) => {
  if (l.trim() === 'mark') { marked = true; console.log(JSON.stringify({ event: 'marked' })); }
  if (l.trim() === 'stop') done();
});
setTimeout(done, maxMs);
setInterval(() => console.log(JSON.stringify({ event: 'progress', reqs: conns.reduce((a, c) => a + c.reqs, 0) })), 500);
`;

/**
 * New connections in a loop (one GET each, Connection: close), `rate` per second, for `ms`: one
 * JSON line per attempt {t (its start, Date.now()), port (local, 0 if never connected), pod | error}. argv = [host, port, rate, ms].
 */
export const NEW_CONN_LOAD = `
const net = require('node:net');
const [host, port, rate, ms] = process.argv.slice(1).map((x, i) => (i === 0 ? x : Number(x)));
const t0 = Date.now();
const once = () => {
  const t = Date.now();
  const s = net.connect(port, host);
  let buf = '', done = false, lport = 0;
  const fin = (o) => { if (done) return; done = true; clearTimeout(timer); s.destroy(); console.log(JSON.stringify({ t, port: lport, ...o })); };
  const timer = setTimeout(() => fin({ error: 'timeout' }), 3000);
  setImmediate(() => { lport = s.localPort || 0; });
  s.on('connect', () => { lport = s.localPort; });
  s.on('connect', () => s.write('GET / HTTP/1.1\\r\\nHost: web\\r\\nConnection: close\\r\\n\\r\\n'));
  s.on('data', (d) => {
    buf += d.toString();
    const i = buf.indexOf('\\r\\n\\r\\n');
    if (i < 0) return;
    try { fin({ pod: JSON.parse(buf.slice(i + 4).split('\\n')[0]).pod }); } catch {}
  });
  s.on('error', (e) => fin({ error: e.code || e.message }));
  s.on('close', () => fin({ error: 'closed' }));
};
const iv = setInterval(once, 1000 / rate);
setTimeout(() => { clearInterval(iv); setTimeout(() => process.exit(0), 3500); }, ms);
`;
