/**
 * agent.flows (what `tapflow flows` relays): tuples printed the way the rest of tapflow
 * prints addresses (RFC 5952 for IPv6), and the address filter matching any spelling of an
 * address.
 */
import t from 'tap';
import { parseNodeConfig } from '../../control/model/node-config';
import { DesiredState } from '../../control/model/manifests';
import { MemoryPort } from '../io/memory-port';
import { buildFrame } from '../wire/build';
import { GW_MAC, MAC, NODE_YAML } from '../../test/support/node-fixture';
import { Agent } from './agent';

const CFG = parseNodeConfig(NODE_YAML, 'node-fixture');

interface FlowsReply { size: number; flows: { proto: number; orig: { src: string; dst: string; sport: number; dport: number }; reply: { src: string } }[] }

t.test('flows: RFC 5952 tuples, address filter by any spelling, proto filter', async (t) => {
  const ports = new Map<string, MemoryPort>();
  const agent = await Agent.start(CFG, {
    openPort: (name) => { const p = new MemoryPort({ name }); ports.set(name, p); return p; },
    state: new DesiredState([]), healthCheckServer: false,
  });
  t.teardown(() => agent.stop());
  const up = ports.get('uplink')!;
  up.inject(buildFrame({ srcMac: MAC.client, dstMac: GW_MAC, ip: { version: 6, src: 'fd00::10', dst: 'fd00:244::2', ttl: 64 }, l4: { proto: 'udp', sport: 4000, dport: 53, payload: new Uint8Array(8) } }));
  up.inject(buildFrame({ srcMac: MAC.client, dstMac: GW_MAC, ip: { version: 4, src: '10.0.0.10', dst: '10.244.0.2', ttl: 64 }, l4: { proto: 'tcp', sport: 4001, dport: 80, flags: 0x02 } }));
  await new Promise((r) => setTimeout(r, 20));
  const q = (f: object) => JSON.parse(agent.flows(JSON.stringify(f))) as FlowsReply;
  const all = q({});
  t.equal(all.size, 2, 'two connections tracked');
  const v6 = all.flows.find((f) => f.proto === 17)!;
  t.same(v6.orig, { src: 'fd00::10', dst: 'fd00:244::2', sport: 4000, dport: 53 }, 'IPv6 tuple in RFC 5952 form');
  t.equal(v6.reply.src, 'fd00:244::2');
  t.equal(q({ address: 'fd00:244::2' }).flows.length, 1, 'canonical spelling matches');
  t.equal(q({ address: 'FD00:244:0:0:0:0:0:2' }).flows.length, 1, 'any spelling of the same address matches');
  t.equal(q({ address: 'fd00:244::3' }).flows.length, 0, 'another address does not');
  t.same(q({ address: '10.244.0.2' }).flows.map((f) => f.orig), [{ src: '10.0.0.10', dst: '10.244.0.2', sport: 4001, dport: 80 }], 'IPv4 by address');
  t.same(q({ proto: 'tcp' }).flows.map((f) => f.proto), [6], 'proto filter');
});
