import t from 'tap';
import { DropReason } from '../pipeline/drop-reason';
import { buildFrame, hex, toHex } from './build';
import {
  checkSctp, crc32c, sctpChecksum, sctpChecksumOk, sctpComputeChecksum, sctpDstPort, sctpFillChecksum, sctpSrcPort,
  sctpVerificationTag, setSctpDstPort,
} from './sctp';

t.test('CRC32c known vectors', async (t) => {
  t.equal(crc32c(new TextEncoder().encode('123456789'), 0, 9), 0xe3069283, 'check value');
  t.equal(crc32c(new Uint8Array(32), 0, 32), 0x8a9136aa, 'RFC 3720 B.4: 32 bytes of zeros');
  t.equal(crc32c(new Uint8Array(32).fill(0xff), 0, 32), 0x62a8ab43, 'RFC 3720 B.4: 32 bytes of ones');
  const inc = new Uint8Array(32).map((_, i) => i);
  t.equal(crc32c(inc, 0, 32), 0x46dd794e, 'RFC 3720 B.4: incrementing');
});

t.test('deconstruct, construct, verify', async (t) => {
  const f = buildFrame({ ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2' }, l4: { proto: 'sctp', sport: 5000, dport: 36412, vtag: 0xdeadbeef, payload: hex('0100000c 00000000 00000000') } });
  const o = 34, len = f.length - o;
  t.equal(checkSctp(f, o, len), DropReason.None);
  t.equal(sctpSrcPort(f, o), 5000);
  t.equal(sctpDstPort(f, o), 36412);
  t.equal(sctpVerificationTag(f, o), 0xdeadbeef);
  t.ok(sctpChecksumOk(f, o, len));
  const c = sctpChecksum(f, o);
  t.equal(c, sctpComputeChecksum(f, o, len));
  t.equal(toHex(f, o + 8, 4), [c & 0xff, (c >>> 8) & 0xff, (c >>> 16) & 0xff, c >>> 24].map((x) => x.toString(16).padStart(2, '0')).join(''),
    'stored least significant byte first (RFC 9260 appendix A)');
  setSctpDstPort(f, o, 1);
  t.notOk(sctpChecksumOk(f, o, len));
  sctpFillChecksum(f, o, len);
  t.ok(sctpChecksumOk(f, o, len));
  for (let n = 0; n < 12; n++) t.equal(checkSctp(f, o, n), DropReason.SctpTruncated);
});
