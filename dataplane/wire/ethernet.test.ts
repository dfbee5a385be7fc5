import t from 'tap';
import { DropReason } from '../pipeline/drop-reason';
import { buildFrame, hex, toHex } from './build';
import {
  checkEthernet, emitEthernet, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN,
  ethDstIs, ethDstIsBroadcast, ethDstIsMulticast, ethHeaderLen, ethInnerType, ethOuterVlanId, ethPopVlan,
  ethPushVlan, ethSwapAddrs, ethTagOff, ethType, ethVlanCount, setEthDst, setEthSrc, setEthType, setVlanVid, vlanDei,
  vlanPcp, vlanTci, vlanTpid, vlanVid,
} from './ethernet';
import { ARP_REQUEST, CAPTURE_TCP4, CAPTURE_UDP4_MDNS } from './fixtures';

t.test('deconstruct a real frame', async (t) => {
  t.equal(checkEthernet(CAPTURE_TCP4, 0, CAPTURE_TCP4.length), DropReason.None);
  t.equal(toHex(CAPTURE_TCP4, 0, 6), 'b03cdc87c85a', 'destination');
  t.equal(toHex(CAPTURE_TCP4, 6, 6), 'b01921af4410', 'source');
  t.equal(ethType(CAPTURE_TCP4, 0), ETHERTYPE_IPV4);
  t.equal(ethInnerType(CAPTURE_TCP4, 0), ETHERTYPE_IPV4);
  t.equal(ethVlanCount(CAPTURE_TCP4, 0), 0);
  t.equal(ethHeaderLen(CAPTURE_TCP4, 0), 14);
  t.equal(ethOuterVlanId(CAPTURE_TCP4, 0), -1);
  t.notOk(ethDstIsMulticast(CAPTURE_TCP4, 0));
  t.ok(ethDstIsMulticast(CAPTURE_UDP4_MDNS, 0), '01:00:5e:00:00:fb');
  t.notOk(ethDstIsBroadcast(CAPTURE_UDP4_MDNS, 0));
  t.ok(ethDstIsBroadcast(ARP_REQUEST, 0));
  t.equal(ethType(ARP_REQUEST, 0), ETHERTYPE_ARP);
  t.ok(ethDstIs(CAPTURE_TCP4, 0, hex('00 b03cdc87c85a'), 1));
});

t.test('802.1Q and 802.1ad tags', async (t) => {
  const f = buildFrame({ vlan: [{ id: 0x123, pcp: 6, dei: true, tpid: ETHERTYPE_QINQ }, { id: 42 }],
    ip: { version: 6, src: '::1', dst: '::2' } });
  t.equal(checkEthernet(f, 0, f.length), DropReason.None);
  t.equal(ethVlanCount(f, 0), 2);
  t.equal(ethHeaderLen(f, 0), 22);
  t.equal(ethInnerType(f, 0), ETHERTYPE_IPV6);
  t.equal(ethOuterVlanId(f, 0), 0x123);
  const outer = ethTagOff(0, 0);
  t.equal(vlanTpid(f, outer), ETHERTYPE_QINQ);
  t.equal(vlanPcp(f, outer), 6);
  t.ok(vlanDei(f, outer));
  t.equal(vlanVid(f, outer), 0x123);
  t.equal(vlanTci(f, outer), 0xd123);
  const inner = ethTagOff(0, 1);
  t.equal(vlanTpid(f, inner), ETHERTYPE_VLAN);
  t.equal(vlanVid(f, inner), 42);
  setVlanVid(f, outer, 0xfff);
  t.equal(vlanTci(f, outer), 0xdfff, 'PCP/DEI kept');
  const three = buildFrame({ vlan: [1, 2, 3] });
  t.equal(checkEthernet(three, 0, three.length), DropReason.VlanUnsupported);
  t.equal(ethVlanCount(three, 0), 2, 'bounded');
});

t.test('truncated at every length', async (t) => {
  const f = buildFrame({ vlan: [{ id: 1, tpid: ETHERTYPE_QINQ }, 2], payload: 'abcd' });
  for (let len = 0; len <= f.length; len++) {
    const want = len < 14 || (len < 18) || (len < 22) ? DropReason.EthTruncated : DropReason.None;
    t.equal(checkEthernet(f, 0, len), want, `len ${len}`);
  }
});

t.test('construct', async (t) => {
  const buf = new Uint8Array(20).fill(0xaa);
  const dst = hex('ffffffffffff');
  const src = hex('00 02 00 00 00 00 01');
  t.equal(emitEthernet(buf, 2, dst, 0, src, 1, ETHERTYPE_ARP), 14);
  t.equal(toHex(buf), 'aaaaffffffffffff0200000000010806aaaaaaaa');
  setEthDst(buf, 2, src, 1);
  setEthSrc(buf, 2, dst, 0);
  setEthType(buf, 2, ETHERTYPE_IPV6);
  t.equal(toHex(buf, 2, 14), '020000000001ffffffffffff86dd');
  ethSwapAddrs(buf, 2);
  t.equal(toHex(buf, 2, 14), 'ffffffffffff02000000000186dd');
});

t.test('push and pop a tag', async (t) => {
  const plain = buildFrame({ ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2' }, l4: { proto: 'udp' } });
  const slab = new Uint8Array(plain.length + 8);
  slab.set(plain, 8);
  const off = ethPushVlan(slab, 8, ETHERTYPE_VLAN, (3 << 13) | 77);
  t.equal(off, 4);
  const tagged = buildFrame({ vlan: { id: 77, pcp: 3 }, ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2' }, l4: { proto: 'udp' } });
  t.equal(toHex(slab, off, tagged.length), toHex(tagged));
  const back = ethPopVlan(slab, off);
  t.equal(back, 8);
  t.equal(toHex(slab, back, plain.length), toHex(plain));
});
