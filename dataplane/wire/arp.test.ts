import t from 'tap';
import { DropReason } from '../pipeline/drop-reason';
import {
  ARP_FRAME_LEN, ARP_OP_REPLY, ARP_OP_REQUEST, arpHlen, arpHtype, arpIsGratuitous, arpIsProbe, arpOp, arpPlen,
  arpPtype, arpRequestToReply, arpShaOff, arpSpa, arpThaOff, arpTpa, checkArp, emitArp,
} from './arp';
import { parseMac } from './address';
import { buildArp, toHex } from './build';
import { ARP_REPLY, ARP_REQUEST } from './fixtures';

const A = parseMac('a6:f9:52:b6:1e:69')!;
const B = parseMac('fa:de:dc:30:96:57')!;

t.test('deconstruct', async (t) => {
  t.equal(checkArp(ARP_REQUEST, 14, 28), DropReason.None);
  t.equal(arpHtype(ARP_REQUEST, 14), 1);
  t.equal(arpPtype(ARP_REQUEST, 14), 0x0800);
  t.equal(arpHlen(ARP_REQUEST, 14), 6);
  t.equal(arpPlen(ARP_REQUEST, 14), 4);
  t.equal(arpOp(ARP_REQUEST, 14), ARP_OP_REQUEST);
  t.equal(toHex(ARP_REQUEST, arpShaOff(14), 6), 'a6f952b61e69');
  t.equal(arpSpa(ARP_REQUEST, 14), 0x0a000a03);
  t.equal(toHex(ARP_REQUEST, arpThaOff(14), 6), '000000000000');
  t.equal(arpTpa(ARP_REQUEST, 14), 0x0a000a01);
  t.notOk(arpIsGratuitous(ARP_REQUEST, 14));
  t.notOk(arpIsProbe(ARP_REQUEST, 14));
  t.equal(arpOp(ARP_REPLY, 14), ARP_OP_REPLY);
});

t.test('construct request and reply', async (t) => {
  const buf = new Uint8Array(50).fill(0x55);
  t.equal(emitArp(buf, 1, ARP_OP_REQUEST, A, 0, 0x0a000a03, null, 0, 0x0a000a01), ARP_FRAME_LEN);
  t.equal(toHex(buf, 1, 42), toHex(ARP_REQUEST));
  t.equal(buf[0], 0x55);
  t.equal(buf[43], 0x55, 'nothing written past the frame');
  t.equal(emitArp(buf, 0, ARP_OP_REPLY, B, 0, 0x0a000a01, A, 0, 0x0a000a03), 42);
  t.equal(toHex(buf, 0, 42), toHex(ARP_REPLY));
  const req = ARP_REQUEST.slice();
  arpRequestToReply(req, 0, 14, B, 0);
  t.equal(toHex(req), toHex(ARP_REPLY), 'request turned into the reply in place');
  const viaBuild = buildArp({ op: 1, srcMac: 'a6:f9:52:b6:1e:69', srcIp: '10.0.0.1', targetIp: '10.0.0.1' });
  t.ok(arpIsGratuitous(viaBuild, 14));
});

t.test('malformed fields and truncation', async (t) => {
  for (let len = 0; len < 28; len++) t.equal(checkArp(ARP_REQUEST, 14, len), DropReason.ArpMalformed, `len ${len}`);
  const cases: [number, number][] = [[0, 1], [1, 6], [2, 0x86], [4, 16], [5, 16], [7, 0], [7, 3]];
  for (const [i, v] of cases) {
    const f = ARP_REQUEST.slice();
    f[14 + i] = v;
    t.equal(checkArp(f, 14, 28), DropReason.ArpMalformed, `byte ${i} = ${v}`);
  }
});
