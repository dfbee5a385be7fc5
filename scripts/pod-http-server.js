#!/usr/bin/env node
'use strict';
// Tiny HTTP server for testbed pods (demo, integration tests).
//
//   node scripts/pod-http-server.js [port=8080] [pod-name=$HOSTNAME] [bind=::]
//
// Dual-stack on :: by default. Every response is one JSON line naming the pod and the peer:
//   {"pod":"pod-1","remote":"10.0.0.10","remotePort":41234,"local":"10.244.0.2","localPort":8080,"method":"GET","url":"/"}
// GET /bytes/N answers N bytes of 'x' (N <= 64 MiB) for MTU/offload checks. Keep-alive on.
// Prints "listening <port>" on stdout once bound; exits 0 on SIGTERM/SIGINT.
const http = require('node:http');
const os = require('node:os');

const port = Number(process.argv[2] || 8080);
const pod = process.argv[3] || process.env.POD_NAME || os.hostname();
const bind = process.argv[4] || '::';
const MAX_BYTES = 64 * 1024 * 1024;

function plain(addr) {
  return typeof addr === 'string' && addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}

const server = http.createServer((req, res) => {
  const m = /^\/bytes\/(\d+)$/.exec(req.url || '');
  if (m) {
    const n = Math.min(Number(m[1]), MAX_BYTES);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n, 'x-pod': pod });
    const chunk = Buffer.alloc(Math.min(n, 65536), 'x');
    let left = n;
    const pump = () => {
      while (left > 0) {
        const c = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= c.length;
        if (!res.write(c)) return void res.once('drain', pump);
      }
      res.end();
    };
    return pump();
  }
  const body =
    JSON.stringify({
      pod,
      remote: plain(req.socket.remoteAddress),
      remotePort: req.socket.remotePort,
      local: plain(req.socket.localAddress),
      localPort: req.socket.localPort,
      method: req.method,
      url: req.url,
    }) + '\n';
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-pod': pod });
  res.end(body);
});
server.keepAliveTimeout = 30000;
let host = bind;
server.on('error', (e) => {
  if (host === '::' && (e.code === 'EAFNOSUPPORT' || e.code === 'EADDRNOTAVAIL')) {
    host = '0.0.0.0'; // IPv6 disabled in this namespace
    return listen();
  }
  process.stderr.write(`pod-http-server: ${e.message}\n`);
  process.exit(1);
});
function listen() {
  server.listen({ port, host, ipv6Only: false }, () => {
    process.stdout.write(`listening ${server.address().port}\n`);
  });
}
listen();
function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
