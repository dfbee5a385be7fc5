import t from 'tap';
import { DropReason } from '../pipeline/drop-reason';
import { buildFrame, toHex } from './build';
import { l4Checksum4, l4Checksum6 } from './checksum';
import { CAPTURE_TCP4, Prng } from './fixtures';
import {
  checkTcp, TCP_ACK, TCP_OPT_MSS, TCP_OPT_TIMESTAMP, TCP_OPT_WSCALE, TCP_PSH, TCP_SYN, tcpAck, tcpAdjustForAddr4,
  tcpChecksum, tcpClampMss, tcpDstPort, tcpFillChecksum4, tcpFillChecksum6, tcpFindOption, tcpFlags, tcpHeaderLen,
  tcpMss, tcpRewriteDstPort, tcpRewriteSrcPort, tcpSeq, tcpSrcPort, tcpUrgent, tcpWindow,
} from './tcp';

const SRC = 0x68128a43, DST = 0xc0a800eb;

t.test('deconstruct a real segment', async (t) => {
  const b = CAPTURE_TCP4, o = 34;
  t.equal(checkTcp(b, o, 45), DropReason.None);
  t.equal(tcpSrcPort(b, o), 443);
  t.equal(tcpDstPort(b, o), 20781);
  t.equal(tcpSeq(b, o), 0x0a348e3e);
  t.equal(tcpAck(b, o), 0x2ab3e697);
  t.equal(tcpHeaderLen(b, o), 20);
  t.equal(tcpFlags(b, o), TCP_PSH | TCP_ACK);
  t.equal(tcpWindow(b, o), 11);
  t.equal(tcpChecksum(b, o), 0x239d);
  t.equal(tcpUrgent(b, o), 0);
  t.equal(tcpMss(b, o), -1);
});

t.test('construct: fill checksum reproduces the capture', async (t) => {
  const b = CAPTURE_TCP4.slice();
  b[50] = 0; b[51] = 0;
  tcpFillChecksum4(b, 34, 45, SRC, DST);
  t.equal(toHex(b), toHex(CAPTURE_TCP4));
  const v6 = buildFrame({ ip: { version: 6, src: 'fd00::1', dst: 'fd00::2' }, l4: { proto: 'tcp', sport: 1, dport: 2, payload: 'abc' } });
  const want = tcpChecksum(v6, 54);
  tcpFillChecksum6(v6, 14, 54, 23);
  t.equal(tcpChecksum(v6, 54), want);
  t.equal(l4Checksum6(v6, 14, 54, 23, 6), 0);
});

t.test('truncation and bad data offsets', async (t) => {
  for (let len = 0; len < 20; len++) t.equal(checkTcp(CAPTURE_TCP4, 34, len), DropReason.TcpTruncated, `len ${len}`);
  const b = CAPTURE_TCP4.slice();
  for (let doff = 0; doff < 16; doff++) {
    b[46] = doff << 4;
    const want = doff < 5 || doff * 4 > 45 ? DropReason.TcpBadOffset : DropReason.None;
    t.equal(checkTcp(b, 34, 45), want, `data offset ${doff}`);
  }
});

t.test('options, MSS clamping (incremental = full)', async (t) => {
  const opts = [TCP_OPT_MSS, 4, 0x05, 0xb4, 1, TCP_OPT_WSCALE, 3, 7, TCP_OPT_TIMESTAMP, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1];
  const f = buildFrame({ ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2' }, l4: { proto: 'tcp', flags: TCP_SYN, tcpOptions: opts } });
  const o = 34;
  t.equal(checkTcp(f, o, f.length - o), DropReason.None);
  t.equal(tcpMss(f, o), 1460);
  t.equal(tcpFindOption(f, o, TCP_OPT_WSCALE), o + 25);
  t.equal(tcpFindOption(f, o, TCP_OPT_TIMESTAMP), o + 28);
  t.equal(tcpFindOption(f, o, 30), -1);
  t.notOk(tcpClampMss(f, o, 1500));
  t.ok(tcpClampMss(f, o, 1360));
  t.equal(tcpMss(f, o), 1360);
  t.equal(l4Checksum4(f, o, f.length - o, 6, 0x0a000001, 0x0a000002), 0);
  // odd option offset
  const g = buildFrame({ ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2' }, l4: { proto: 'tcp', flags: TCP_SYN, tcpOptions: [1, 2, 4, 0x23, 0x28] } });
  t.ok(tcpClampMss(g, o, 1000));
  t.equal(tcpMss(g, o), 1000);
  t.equal(l4Checksum4(g, o, g.length - o, 6, 0x0a000001, 0x0a000002), 0, 'odd offset');
  // malformed option list stops the walk
  const h = buildFrame({ ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2' }, l4: { proto: 'tcp', tcpOptions: [3, 0, 2, 4, 1, 1, 1, 1] } });
  t.equal(tcpMss(h, o), -1);
  const k = buildFrame({ ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2' }, l4: { proto: 'tcp', tcpOptions: [1, 1, 2, 40] } });
  t.equal(tcpFindOption(k, o, TCP_OPT_MSS), -1, 'option longer than the header');
});

t.test('NAT rewrites keep the checksum right (random)', async (t) => {
  const r = new Prng(9293);
  let bad = 0;
  for (let i = 0; i < 3000; i++) {
    const src = r.u32(), dst = r.u32();
    const f = buildFrame({ ip: { version: 4, src: '1.1.1.1', dst: '2.2.2.2' }, l4: { proto: 'tcp', sport: r.below(65536), dport: r.below(65536), payload: r.bytes(r.below(60)) } });
    const o = 34, len = f.length - o;
    tcpFillChecksum4(f, o, len, src, dst);
    tcpRewriteSrcPort(f, o, r.below(65536));
    tcpRewriteDstPort(f, o, r.below(65536));
    const nsrc = r.u32();
    tcpAdjustForAddr4(f, o, src, nsrc);
    if (l4Checksum4(f, o, len, 6, nsrc, dst) !== 0) bad++;
  }
  t.equal(bad, 0);
});
