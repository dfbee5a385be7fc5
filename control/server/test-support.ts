/**
 * Shared pieces of the control-plane tests and the bench: temp dirs, manifest builders, a server
 * on a temp unix socket.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ControlServer, ControlServerOptions } from './controller';
import type { PObject } from './proto';

export function tempDir(prefix = 'tapflow-cp-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A ClusterIP Service in `ns` with one TCP port; clusterIP derived from `i` (10.96.x.y). */
export function serviceObj(name: string, port = 80, ns = 'default', i = 1): Record<string, unknown> {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, namespace: ns },
    spec: {
      clusterIP: `10.96.${(i >> 8) & 255}.${i & 255}`,
      selector: { app: name },
      ports: [{ name: 'http', port, targetPort: 8080, protocol: 'TCP' }],
    },
  };
}

/** An IPv4 EndpointSlice for service `svc` with `n` endpoints (10.244.a.b). */
export function sliceObj(name: string, svc: string, n: number, ns = 'default', base = 0): Record<string, unknown> {
  const endpoints = [];
  for (let k = 0; k < n; k++) {
    const i = base + k;
    endpoints.push({ addresses: [`10.${244 + ((i >> 16) & 7)}.${(i >> 8) & 255}.${i & 255}`], conditions: { ready: true }, nodeName: k % 2 === 0 ? 'node-a' : 'node-b' });
  }
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints,
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
}

export function nodeConfigObj(node: string): Record<string, unknown> {
  return {
    apiVersion: 'tapflow.dev/v1alpha1', kind: 'NodeConfig',
    metadata: { name: node },
    spec: {
      nodeName: node,
      nodeIPs: ['10.0.0.4'],
      podCIDRs: ['10.244.0.0/24'],
      clusterCIDRs: ['10.244.0.0/16'],
      vnetPrefixes: ['10.0.0.0/16'],
      defaultGateway: { ipv4: '10.0.0.1' },
      ports: [
        { name: 'uplink', tap: 'tfup0', role: 'uplink' },
        { name: 'host', tap: 'tfhost0', role: 'host' },
      ],
    },
  };
}

/** The wire form of an object for Apply. */
export function wire(o: Record<string, unknown>, source = 'test', doc = 0): Partial<PObject> {
  const md = o.metadata as { name: string; namespace?: string };
  return { kind: o.kind as string, name: md.name, namespace: md.namespace ?? '', text: JSON.stringify(o), source, doc };
}

/** A controller on a fresh temp unix socket + data dir; stop() removes both. */
export async function startTestServer(opts: Partial<ControlServerOptions> = {}): Promise<{ server: ControlServer; dir: string; address: string; stop: () => Promise<void> }> {
  const dir = tempDir();
  const server = await ControlServer.start({ listen: `unix:${path.join(dir, 'control.sock')}`, dataDir: path.join(dir, 'data'), ...opts });
  return {
    server, dir, address: server.address,
    stop: async () => {
      await server.stop(500);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function waitFor(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() - t0 > timeoutMs) return reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}
