/**
 * libpcap classic savefile format (the `.pcap` tcpdump -w writes and tcpdump -r reads):
 * a reader, a buffered writer, a Port that replays a file as its rx, and a Port wrapper
 * that dumps another port's rx/tx into a file.
 *
 * Hand-written on purpose: the format is a 24-byte file header plus a 16-byte header per
 * record, and no maintained pure-JS package on npm both reads (both byte orders, µs and ns)
 * and writes it (`pcap` / `cap` are native libpcap bindings; `pcap-parser` reads only and
 * has been unmaintained for a decade; `pcap-generator` is an undocumented writer stub).
 *
 * Reading validates once (magic, version, record lengths) and fails with a PcapFileError
 * carrying a stable `code`; the replay port never throws from receive(), it stops and keeps
 * the error in `port.error`. Dumping is a debugging path: one timestamp per batch, records
 * go through one reused write buffer.
 *
 * Spec: https://www.tcpdump.org/manpages/pcap-savefile.5.html, draft-ietf-opsawg-pcap.
 */
import * as fs from 'node:fs';
import {
  DEFAULT_BATCH,
  FrameBatch,
  Port,
  PortCounters,
  SLOT_SIZE_GSO,
  SLOT_SIZE_PLAIN,
  VNET_HDR_LEN,
} from './port';
import { publishBatch, refuseBatch, sinkBatch } from './rx-ring';

/*
 * File header (all fields in the writer's byte order, told apart by the magic):
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                          Magic Number                         |  0
 * |         Major Version         |         Minor Version         |  4
 * |                      Reserved1 (thiszone)                     |  8
 * |                      Reserved2 (sigfigs)                      | 12
 * |                            SnapLen                            | 16
 * | FCS |f|  reserved  |             LinkType                     | 20
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
const enum FileHdr {
  MAGIC = 0,
  VERSION_MAJOR = 4,
  VERSION_MINOR = 6,
  THISZONE = 8,
  SIGFIGS = 12,
  SNAPLEN = 16,
  LINKTYPE = 20,
  LEN = 24,
}

/*
 * Record header:
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                      Timestamp (Seconds)                      |  0
 * |            Timestamp (Microseconds or nanoseconds)            |  4
 * |                    Captured Packet Length                     |  8
 * |                    Original Packet Length                     | 12
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                          Packet Data ...                      | 16
 */
const enum RecHdr {
  TS_SEC = 0,
  TS_FRAC = 4,
  INCL_LEN = 8,
  ORIG_LEN = 12,
  LEN = 16,
}

/** Magic of a microsecond-resolution file, as read in the file's own byte order. */
export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
/** Magic of a nanosecond-resolution file. */
export const PCAP_MAGIC_NSEC = 0xa1b23c4d;
/** pcapng Section Header Block type: a different format, rejected with a hint. */
const PCAPNG_MAGIC = 0x0a0d0d0a;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
/** LINKTYPE_ETHERNET: every frame starts with a 14-byte Ethernet header. */
export const LINKTYPE_ETHERNET = 1;
/** Snapshot length tcpdump writes by default; also the largest record we accept by default. */
export const PCAP_DEFAULT_SNAPLEN = 262144;
export const PCAP_FILE_HEADER_LEN: number = FileHdr.LEN;
export const PCAP_RECORD_HEADER_LEN: number = RecHdr.LEN;

export type PcapErrorCode =
  /** Fewer than 24 bytes: not even a file header. */
  | 'TAPFLOW_PCAP_TRUNCATED_HEADER'
  /** First 4 bytes are no pcap magic in either byte order. */
  | 'TAPFLOW_PCAP_BAD_MAGIC'
  /** A pcapng file (convert with `editcap -F pcap` or `tcpdump -r x.pcapng -w x.pcap`). */
  | 'TAPFLOW_PCAP_PCAPNG'
  /** Major version is not 2. */
  | 'TAPFLOW_PCAP_BAD_VERSION'
  /** Link type other than the one required (Ethernet for the replay port). */
  | 'TAPFLOW_PCAP_UNSUPPORTED_LINKTYPE'
  /** A record header or its data runs past the end of the file. */
  | 'TAPFLOW_PCAP_TRUNCATED_RECORD'
  /** A record's lengths are impossible (incl_len > orig_len or > the record limit). */
  | 'TAPFLOW_PCAP_BAD_RECORD'
  /** open/read/write failed at the OS level (`cause` holds the errno error). */
  | 'TAPFLOW_PCAP_IO'
  /** Use after close(). */
  | 'TAPFLOW_PCAP_CLOSED';

/** Every error this module throws: a stable `code`, the file and the byte offset involved. */
export class PcapFileError extends Error {
  override readonly name = 'PcapFileError';
  readonly code: PcapErrorCode;
  /** File path, or '<memory>' for a reader over bytes. */
  readonly path: string;
  /** Byte offset in the file where the problem starts (-1 when not about a position). */
  readonly offset: number;
  /** 0-based index of the record involved (-1 when not about a record). */
  readonly record: number;

  constructor(code: PcapErrorCode, message: string, path: string, offset = -1, record = -1, cause?: unknown) {
    super(`${path}: ${message}`, cause === undefined ? undefined : { cause });
    this.code = code;
    this.path = path;
    this.offset = offset;
    this.record = record;
  }
}

/** What the file header says. */
export interface PcapFileHeader {
  /** True when the file was written big-endian. */
  readonly bigEndian: boolean;
  /** True for a 0xa1b23c4d file: the fraction field counts nanoseconds. */
  readonly nanos: boolean;
  readonly versionMajor: number;
  readonly versionMinor: number;
  readonly thiszone: number;
  readonly snaplen: number;
  /** LinkType (low 16 bits of the field). */
  readonly linkType: number;
  /** The whole 32-bit field, FCS bits included. */
  readonly linkTypeRaw: number;
}

/** One record with its own copy of the bytes (tests and tools; replay uses next()). */
export interface PcapRecord {
  /** 0-based index in the file. */
  readonly index: number;
  readonly tsSec: number;
  /** Fraction of the second in nanoseconds (µs files are scaled by 1000). */
  readonly tsNsec: number;
  /** Length of the packet on the wire; data.length may be smaller (snaplen). */
  readonly origLen: number;
  readonly data: Uint8Array;
}

export interface PcapReaderOptions {
  /** Reject files whose link type differs (e.g. LINKTYPE_ETHERNET). Default: accept any. */
  linkType?: number;
  /** Largest incl_len accepted; larger is TAPFLOW_PCAP_BAD_RECORD. Default 262144. */
  maxRecordLen?: number;
  /**
   * Treat a cut-off last record as the end of the file (what tcpdump does with a capture
   * killed mid-write) instead of throwing TAPFLOW_PCAP_TRUNCATED_RECORD; `truncatedTail`
   * tells it happened. Default false.
   */
  tolerateTruncatedTail?: boolean;
  /** Read buffer size for files (grows to fit one record). Default 1 MiB. */
  bufferSize?: number;
}

const MEMORY_PATH = '<memory>';

/**
 * memcpy between Uint8Arrays without allocating a subarray view: Buffer#copy accepts any
 * Uint8Array as `this` (Node validates source as "Buffer or Uint8Array").
 */
const bufferCopy = Buffer.prototype.copy;

/**
 * Sequential pcap reader over a file (buffered synchronous reads, constant memory) or over
 * bytes in memory. Zero-copy access: after next() returns true, the current record's bytes
 * are buffer[dataOffset, dataOffset + capLen) until the following next().
 */
export class PcapReader implements Iterable<PcapRecord> {
  readonly path: string;
  readonly header: PcapFileHeader;
  /** Timestamp of the current record. */
  tsSec = 0;
  /** Nanoseconds part of the current record's timestamp. */
  tsNsec = 0;
  /** Captured length of the current record (bytes available). */
  capLen = 0;
  /** Original (wire) length of the current record. */
  origLen = 0;
  /** Index of the current record; -1 before the first next(). */
  index = -1;
  /** True when tolerateTruncatedTail ended the file at a partial record. */
  truncatedTail = false;

  private fd: number;
  private buf: Buffer;
  private view: DataView;
  /** Index in buf of the current record's data. */
  private dataOff = 0;
  /** Next unread byte in buf. */
  private pos = 0;
  /** End of valid bytes in buf. */
  private end = 0;
  /** File offset of buf[0]. */
  private bufFileOff = 0;
  /** No more bytes to read from the source. */
  private eof: boolean;
  private closed = false;
  private readonly le: boolean;
  private readonly fracScale: number;
  private readonly maxRecordLen: number;
  private readonly tolerateTail: boolean;

  /** Opens a file and validates its header. Throws PcapFileError. */
  static open(path: string, opts: PcapReaderOptions = {}): PcapReader {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      throw new PcapFileError('TAPFLOW_PCAP_IO', `cannot open: ${(e as Error).message}`, path, -1, -1, e);
    }
    try {
      return new PcapReader(path, fd, null, opts);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** A reader over bytes already in memory (not copied). Throws PcapFileError. */
  static fromBytes(bytes: Uint8Array, opts: PcapReaderOptions = {}): PcapReader {
    return new PcapReader(MEMORY_PATH, -1, bytes, opts);
  }

  /** Reads a whole file into records (tests, tools). */
  static readAll(path: string, opts: PcapReaderOptions = {}): { header: PcapFileHeader; records: PcapRecord[] } {
    const r = PcapReader.open(path, opts);
    try {
      return { header: r.header, records: [...r] };
    } finally {
      r.close();
    }
  }

  private constructor(path: string, fd: number, bytes: Uint8Array | null, opts: PcapReaderOptions) {
    this.path = path;
    this.fd = fd;
    this.maxRecordLen = opts.maxRecordLen ?? PCAP_DEFAULT_SNAPLEN;
    this.tolerateTail = opts.tolerateTruncatedTail ?? false;
    if (bytes !== null) {
      this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      this.end = bytes.byteLength;
      this.eof = true;
    } else {
      this.buf = Buffer.allocUnsafe(Math.max(opts.bufferSize ?? 1 << 20, FileHdr.LEN + RecHdr.LEN));
      this.eof = false;
    }
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);

    if (!this.fill(FileHdr.LEN)) {
      throw new PcapFileError(
        'TAPFLOW_PCAP_TRUNCATED_HEADER',
        `file is ${this.end} bytes, shorter than the ${FileHdr.LEN}-byte pcap file header`,
        path,
        0,
      );
    }
    const magicLe = this.view.getUint32(FileHdr.MAGIC, true);
    let le: boolean;
    let nanos: boolean;
    if (magicLe === PCAP_MAGIC_USEC) [le, nanos] = [true, false];
    else if (magicLe === PCAP_MAGIC_NSEC) [le, nanos] = [true, true];
    else if (magicLe === 0xd4c3b2a1) [le, nanos] = [false, false];
    else if (magicLe === 0x4d3cb2a1) [le, nanos] = [false, true];
    else if (magicLe === PCAPNG_MAGIC) {
      throw new PcapFileError(
        'TAPFLOW_PCAP_PCAPNG',
        'pcapng is not supported; convert it with `tcpdump -r IN -w OUT.pcap`',
        path,
        0,
      );
    } else {
      throw new PcapFileError(
        'TAPFLOW_PCAP_BAD_MAGIC',
        `bad magic 0x${magicLe.toString(16).padStart(8, '0')}: not a pcap file`,
        path,
        0,
      );
    }
    this.le = le;
    this.fracScale = nanos ? 1 : 1000;
    const v = this.view;
    const versionMajor = v.getUint16(FileHdr.VERSION_MAJOR, le);
    const versionMinor = v.getUint16(FileHdr.VERSION_MINOR, le);
    if (versionMajor !== PCAP_VERSION_MAJOR) {
      throw new PcapFileError(
        'TAPFLOW_PCAP_BAD_VERSION',
        `unsupported pcap version ${versionMajor}.${versionMinor} (want 2.x)`,
        path,
        FileHdr.VERSION_MAJOR,
      );
    }
    const linkTypeRaw = v.getUint32(FileHdr.LINKTYPE, le);
    this.header = {
      bigEndian: !le,
      nanos,
      versionMajor,
      versionMinor,
      thiszone: v.getInt32(FileHdr.THISZONE, le),
      snaplen: v.getUint32(FileHdr.SNAPLEN, le),
      linkType: linkTypeRaw & 0xffff,
      linkTypeRaw,
    };
    if (opts.linkType !== undefined && this.header.linkType !== opts.linkType) {
      throw new PcapFileError(
        'TAPFLOW_PCAP_UNSUPPORTED_LINKTYPE',
        `link type ${this.header.linkType}, want ${opts.linkType}`,
        path,
        FileHdr.LINKTYPE,
      );
    }
    this.pos = FileHdr.LEN;
  }

  /** The buffer holding the current record's bytes (valid until the next next()). */
  get buffer(): Buffer {
    return this.buf;
  }

  /** Offset of the current record's first byte in `buffer`. */
  get dataOffset(): number {
    return this.dataOff;
  }

  /**
   * Advances to the next record. Returns false at the end of the file; throws
   * PcapFileError (TRUNCATED_RECORD, BAD_RECORD, IO, CLOSED) on a bad record.
   */
  next(): boolean {
    if (this.closed) throw new PcapFileError('TAPFLOW_PCAP_CLOSED', 'reader is closed', this.path);
    const recIndex = this.index + 1;
    const recFileOff = this.bufFileOff + this.pos;
    if (!this.fill(RecHdr.LEN)) {
      const have = this.end - this.pos;
      if (have === 0) return false;
      return this.truncated(recFileOff, recIndex, `record header cut off: ${have} of ${RecHdr.LEN} bytes`);
    }
    const v = this.view;
    const p = this.pos;
    const le = this.le;
    const incl = v.getUint32(p + RecHdr.INCL_LEN, le);
    const orig = v.getUint32(p + RecHdr.ORIG_LEN, le);
    if (incl > this.maxRecordLen) {
      throw new PcapFileError(
        'TAPFLOW_PCAP_BAD_RECORD',
        `record ${recIndex}: incl_len ${incl} exceeds the limit ${this.maxRecordLen}`,
        this.path,
        recFileOff,
        recIndex,
      );
    }
    if (incl > orig) {
      throw new PcapFileError(
        'TAPFLOW_PCAP_BAD_RECORD',
        `record ${recIndex}: incl_len ${incl} > orig_len ${orig}`,
        this.path,
        recFileOff,
        recIndex,
      );
    }
    if (!this.fill(RecHdr.LEN + incl)) {
      const have = this.end - this.pos - RecHdr.LEN;
      return this.truncated(recFileOff, recIndex, `record data cut off: ${have} of ${incl} bytes`);
    }
    // fill() may have moved the bytes: read through this.pos/this.view again.
    const q = this.pos;
    this.tsSec = this.view.getUint32(q + RecHdr.TS_SEC, le);
    this.tsNsec = this.view.getUint32(q + RecHdr.TS_FRAC, le) * this.fracScale;
    this.capLen = incl;
    this.origLen = orig;
    this.dataOff = q + RecHdr.LEN;
    this.pos = this.dataOff + incl;
    this.index = recIndex;
    return true;
  }

  /** Copies the current record's bytes into dst at off (no allocation). Returns capLen. */
  copyTo(dst: Uint8Array, off: number): number {
    this.buf.copy(dst, off, this.dataOff, this.dataOff + this.capLen);
    return this.capLen;
  }

  /** Goes back to the first record. */
  rewind(): void {
    if (this.closed) throw new PcapFileError('TAPFLOW_PCAP_CLOSED', 'reader is closed', this.path);
    this.index = -1;
    this.truncatedTail = false;
    if (this.fd < 0) {
      this.pos = FileHdr.LEN;
      return;
    }
    // Re-read from the first record.
    this.bufFileOff = FileHdr.LEN;
    this.pos = 0;
    this.end = 0;
    this.eof = false;
  }

  *records(): IterableIterator<PcapRecord> {
    while (this.next()) {
      yield {
        index: this.index,
        tsSec: this.tsSec,
        tsNsec: this.tsNsec,
        origLen: this.origLen,
        data: this.copyOut(),
      };
    }
  }

  /** A fresh copy of the current record's bytes. */
  copyOut(): Uint8Array {
    const data = new Uint8Array(this.capLen);
    this.buf.copy(data, 0, this.dataOff, this.dataOff + this.capLen);
    return data;
  }

  [Symbol.iterator](): IterableIterator<PcapRecord> {
    return this.records();
  }

  /** Releases the file. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd >= 0) {
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }

  private truncated(fileOff: number, recIndex: number, what: string): boolean {
    if (this.tolerateTail) {
      this.truncatedTail = true;
      this.pos = this.end;
      return false;
    }
    throw new PcapFileError(
      'TAPFLOW_PCAP_TRUNCATED_RECORD',
      `record ${recIndex} at byte ${fileOff}: ${what} (file truncated?)`,
      this.path,
      fileOff,
      recIndex,
    );
  }

  /** Makes buf[pos, pos + n) valid, reading more of the file as needed. False at EOF. */
  private fill(n: number): boolean {
    if (this.end - this.pos >= n) return true;
    if (this.eof) return false;
    // Move the unread tail to the front; grow when one record is larger than the buffer.
    const keep = this.end - this.pos;
    if (n > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(n, this.buf.length * 2));
      this.buf.copy(bigger, 0, this.pos, this.end);
      this.buf = bigger;
      this.view = new DataView(bigger.buffer, bigger.byteOffset, bigger.byteLength);
    } else if (this.pos > 0) {
      this.buf.copyWithin(0, this.pos, this.end);
    }
    this.bufFileOff += this.pos;
    this.pos = 0;
    this.end = keep;
    while (this.end < n) {
      let got: number;
      try {
        got = fs.readSync(this.fd, this.buf, this.end, this.buf.length - this.end, this.bufFileOff + this.end);
      } catch (e) {
        throw new PcapFileError('TAPFLOW_PCAP_IO', `read failed: ${(e as Error).message}`, this.path, -1, -1, e);
      }
      if (got === 0) {
        this.eof = true;
        return false;
      }
      this.end += got;
    }
    return true;
  }
}

export interface PcapWriterOptions {
  /** Snapshot length written in the header; longer frames are cut to it. Default 262144. */
  snaplen?: number;
  /** Default LINKTYPE_ETHERNET. */
  linkType?: number;
  /** Write buffer size. Default 64 KiB. */
  bufferSize?: number;
}

/** Wall clock for records written without a timestamp, without allocating. */
let nowSec = 0;
let nowNsec = 0;
function readClock(): void {
  const ms = performance.timeOrigin + performance.now();
  nowSec = Math.floor(ms / 1000);
  nowNsec = Math.floor((ms - nowSec * 1000) * 1e6);
}

/**
 * Appends records to a new pcap file: little-endian, microsecond magic, version 2.4,
 * snaplen 262144 by default. Buffered; flush() pushes the buffer to the file, close()
 * flushes and closes. The file header is written at create(), so the file is a valid
 * (empty) capture from the start.
 */
export class PcapWriter {
  readonly path: string;
  readonly snaplen: number;
  readonly linkType: number;
  /** Records written so far. */
  records = 0;
  private fd: number;
  private readonly buf: Buffer;
  private readonly view: DataView;
  private used = 0;

  /** Creates (or truncates) `path` and writes the file header. Throws PcapFileError. */
  static create(path: string, opts: PcapWriterOptions = {}): PcapWriter {
    let fd: number;
    try {
      fd = fs.openSync(path, 'w');
    } catch (e) {
      throw new PcapFileError('TAPFLOW_PCAP_IO', `cannot create: ${(e as Error).message}`, path, -1, -1, e);
    }
    return new PcapWriter(path, fd, opts);
  }

  private constructor(path: string, fd: number, opts: PcapWriterOptions) {
    this.path = path;
    this.fd = fd;
    this.snaplen = opts.snaplen ?? PCAP_DEFAULT_SNAPLEN;
    this.linkType = opts.linkType ?? LINKTYPE_ETHERNET;
    this.buf = Buffer.allocUnsafe(Math.max(opts.bufferSize ?? 1 << 16, FileHdr.LEN + RecHdr.LEN));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    const v = this.view;
    v.setUint32(FileHdr.MAGIC, PCAP_MAGIC_USEC, true);
    v.setUint16(FileHdr.VERSION_MAJOR, PCAP_VERSION_MAJOR, true);
    v.setUint16(FileHdr.VERSION_MINOR, PCAP_VERSION_MINOR, true);
    v.setInt32(FileHdr.THISZONE, 0, true);
    v.setUint32(FileHdr.SIGFIGS, 0, true);
    v.setUint32(FileHdr.SNAPLEN, this.snaplen, true);
    v.setUint32(FileHdr.LINKTYPE, this.linkType, true);
    this.used = FileHdr.LEN;
    this.flush();
  }

  /**
   * Appends one record: bytes[off, off + len). Timestamp defaults to now (nanoseconds are
   * truncated to microseconds); origLen defaults to len. Throws PcapFileError on I/O failure.
   */
  write(bytes: Uint8Array, off: number, len: number, tsSec?: number, tsNsec = 0, origLen = len): void {
    if (this.fd < 0) throw new PcapFileError('TAPFLOW_PCAP_CLOSED', 'writer is closed', this.path);
    if (tsSec === undefined) {
      readClock();
      tsSec = nowSec;
      tsNsec = nowNsec;
    }
    const incl = len < this.snaplen ? len : this.snaplen;
    if (this.used + RecHdr.LEN > this.buf.length) this.flush();
    const v = this.view;
    const p = this.used;
    v.setUint32(p + RecHdr.TS_SEC, tsSec >>> 0, true);
    v.setUint32(p + RecHdr.TS_FRAC, Math.floor(tsNsec / 1000), true);
    v.setUint32(p + RecHdr.INCL_LEN, incl, true);
    v.setUint32(p + RecHdr.ORIG_LEN, origLen > incl ? origLen : incl, true);
    this.used = p + RecHdr.LEN;
    if (this.used + incl <= this.buf.length) {
      bufferCopy.call(bytes, this.buf, this.used, off, off + incl);
      this.used += incl;
    } else {
      // Larger than what is left: flush the header, write the data straight from the caller.
      this.flush();
      this.writeOut(bytes, off, incl);
    }
    this.records++;
  }

  /** Appends a whole frame (convenience over write()). */
  writeFrame(frame: Uint8Array, tsSec?: number, tsNsec = 0, origLen = frame.length): void {
    this.write(frame, 0, frame.length, tsSec, tsNsec, origLen);
  }

  /** Pushes buffered records to the file. */
  flush(): void {
    if (this.used === 0 || this.fd < 0) return;
    const n = this.used;
    this.used = 0;
    this.writeOut(this.buf, 0, n);
  }

  /** Flushes and closes the file. Idempotent. */
  close(): void {
    if (this.fd < 0) return;
    try {
      this.flush();
    } finally {
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }

  private writeOut(bytes: Uint8Array, off: number, len: number): void {
    try {
      while (len > 0) {
        const n = fs.writeSync(this.fd, bytes, off, len);
        off += n;
        len -= n;
      }
    } catch (e) {
      throw new PcapFileError('TAPFLOW_PCAP_IO', `write failed: ${(e as Error).message}`, this.path, -1, -1, e);
    }
  }
}

function newCounters(): PortCounters {
  return { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txErrors: 0 };
}

export interface PcapFilePortOptions {
  /** Port name. Default: the file's base name. */
  name?: string;
  /** Put a zeroed virtio_net_hdr (no checksum offload, no GSO) in every rx headroom. Default false. */
  vnetHdr?: boolean;
  /** Frames per receive(). Default DEFAULT_BATCH. */
  batch?: number;
  /** Rx slot size. Default SLOT_SIZE_GSO with vnetHdr, SLOT_SIZE_PLAIN without. */
  slotSize?: number;
  /** Record everything sent to this port here: a path (owned, closed by close()) or a writer (not closed). */
  output?: string | PcapWriter;
  /** Times to play the file; Infinity loops forever (benchmarks). Default 1. */
  repeat?: number;
  /**
   * 'immediate' (default): after onReadable(cb), cb runs from setImmediate until the replay
   * is exhausted (once per turn of the event loop). 'manual': never; call receive() yourself.
   */
  notify?: 'immediate' | 'manual';
  /** Called once when the replay stops on a bad record (also kept in `error`). */
  onError?: (err: PcapFileError) => void;
  /** Passed to the reader. */
  maxRecordLen?: number;
}

/**
 * A Port whose rx replays an Ethernet pcap file batch by batch (as fast as receive() is
 * called, timestamps ignored) and whose tx optionally appends to an output pcap (otherwise
 * frames are counted and dropped). A frame longer than a slot is skipped and counted in
 * `rxOversize`. A bad record ends the replay: receive() returns 0 from then on and `error`
 * holds the PcapFileError; it never throws.
 */
export class PcapFilePort implements Port {
  readonly name: string;
  readonly vnetHdr: boolean;
  readonly rx: FrameBatch;
  readonly counters: PortCounters = newCounters();
  readonly reader: PcapReader;
  /** Where tx goes, or null when sent frames are just counted. */
  readonly output: PcapWriter | null;
  /** Frames skipped because they do not fit a slot. */
  rxOversize = 0;
  /** The error that stopped the replay, if any. */
  error: PcapFileError | null = null;
  /** Completed passes over the file. */
  passes = 0;

  private readonly slotSize: number;
  private readonly repeat: number;
  private readonly notifyMode: 'immediate' | 'manual';
  private readonly onError: ((err: PcapFileError) => void) | undefined;
  private readonly ownsOutput: boolean;
  private cb: (() => void) | null = null;
  private scheduled = false;
  private exhausted = false;
  private closed = false;
  private passFrames = 0;

  /** Opens `path` (must be LINKTYPE_ETHERNET). Throws PcapFileError for a bad header. */
  static open(path: string, opts: PcapFilePortOptions = {}): PcapFilePort {
    const reader = PcapReader.open(path, { linkType: LINKTYPE_ETHERNET, maxRecordLen: opts.maxRecordLen });
    try {
      return new PcapFilePort(reader, opts);
    } catch (e) {
      reader.close();
      throw e;
    }
  }

  constructor(reader: PcapReader, opts: PcapFilePortOptions = {}) {
    if (reader.header.linkType !== LINKTYPE_ETHERNET) {
      throw new PcapFileError(
        'TAPFLOW_PCAP_UNSUPPORTED_LINKTYPE',
        `link type ${reader.header.linkType}, the replay port needs Ethernet (1)`,
        reader.path,
        FileHdr.LINKTYPE,
      );
    }
    this.reader = reader;
    this.name = opts.name ?? (reader.path.split('/').pop() as string);
    this.vnetHdr = opts.vnetHdr ?? false;
    this.slotSize = opts.slotSize ?? (this.vnetHdr ? SLOT_SIZE_GSO : SLOT_SIZE_PLAIN);
    this.repeat = opts.repeat ?? 1;
    this.notifyMode = opts.notify ?? 'immediate';
    this.onError = opts.onError;
    const batch = opts.batch ?? DEFAULT_BATCH;
    this.rx = {
      slab: new Uint8Array(batch * this.slotSize),
      offsets: new Uint32Array(batch),
      lengths: new Uint32Array(batch),
      count: 0,
    };
    for (let i = 0; i < batch; i++) this.rx.offsets[i] = i * this.slotSize + VNET_HDR_LEN;
    if (typeof opts.output === 'string') {
      this.output = PcapWriter.create(opts.output);
      this.ownsOutput = true;
    } else {
      this.output = opts.output ?? null;
      this.ownsOutput = false;
    }
  }

  /** True once every pass has been played (or a bad record stopped the replay). */
  get finished(): boolean {
    return this.exhausted;
  }

  receive(): number {
    const rx = this.rx;
    rx.count = 0;
    if (this.exhausted || this.closed) return 0;
    const slab = rx.slab;
    const offsets = rx.offsets;
    const lengths = rx.lengths;
    const max = offsets.length;
    const room = this.slotSize - VNET_HDR_LEN;
    const reader = this.reader;
    let n = 0;
    let bytes = 0;
    try {
      while (n < max) {
        if (!reader.next()) {
          this.passes++;
          // Stop after the last pass, or after a pass that delivered nothing (no endless spin).
          if (this.passes >= this.repeat || this.passFrames === 0) {
            this.exhausted = true;
            break;
          }
          this.passFrames = 0;
          reader.rewind();
          continue;
        }
        const len = reader.capLen;
        if (len > room) {
          this.rxOversize++;
          continue;
        }
        this.passFrames++;
        const off = offsets[n];
        reader.copyTo(slab, off);
        if (this.vnetHdr) slab.fill(0, off - VNET_HDR_LEN, off);
        lengths[n] = len;
        bytes += len;
        n++;
      }
    } catch (e) {
      this.exhausted = true;
      this.error = e instanceof PcapFileError ? e : new PcapFileError('TAPFLOW_PCAP_IO', String(e), reader.path);
      if (this.onError) this.onError(this.error);
    }
    return publishBatch(rx, this.counters, n, bytes);
  }

  send(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, _withVnetHdr: boolean): number {
    const c = this.counters;
    if (this.closed) return refuseBatch(c, count);
    const out = this.output;
    if (out === null) return sinkBatch(c, lengths, count);
    readClock();
    const sec = nowSec;
    const nsec = nowNsec;
    let sent = 0;
    for (let i = 0; i < count; i++) {
      try {
        out.write(slab, offsets[i], lengths[i], sec, nsec);
        c.txBytes += lengths[i];
        sent++;
      } catch {
        c.txErrors++;
      }
    }
    c.txPackets += sent;
    return sent;
  }

  onReadable(cb: () => void): void {
    this.cb = cb;
    this.schedule();
  }

  /** Starts the file over (and clears `finished`, not `error`). */
  rewind(): void {
    this.reader.rewind();
    this.passes = 0;
    this.passFrames = 0;
    this.exhausted = this.error !== null;
    this.schedule();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cb = null;
    this.reader.close();
    if (this.ownsOutput && this.output !== null) this.output.close();
    else if (this.output !== null) this.output.flush();
  }

  private schedule(): void {
    if (this.notifyMode !== 'immediate' || this.scheduled || this.cb === null || this.exhausted || this.closed) return;
    this.scheduled = true;
    setImmediate(this.fire);
  }

  private readonly fire = (): void => {
    this.scheduled = false;
    const cb = this.cb;
    if (cb === null || this.closed) return;
    cb();
    this.schedule();
  };
}

export interface DumpingPortOptions {
  /** Record frames received by the inner port: a path (owned) or a writer (not closed). */
  rx?: string | PcapWriter;
  /** Record frames given to send(), whether or not the inner port managed to send them. */
  tx?: string | PcapWriter;
  /** Flush after every batch so `tcpdump -r` sees frames while running. Default true. */
  flushEachBatch?: boolean;
}

/**
 * Wraps any Port and records its rx and/or tx into .pcap files (the same path for both
 * gives one interleaved file). The vnet header is not recorded: files hold Ethernet frames
 * only (GSO super-frames appear as they are, up to the 262144 snaplen). Dumping failures
 * never reach the data path: they are counted in `dumpErrors` and kept in `lastDumpError`.
 */
export class DumpingPort implements Port {
  readonly inner: Port;
  readonly rxWriter: PcapWriter | null;
  readonly txWriter: PcapWriter | null;
  dumpErrors = 0;
  lastDumpError: unknown = null;
  private readonly owned: PcapWriter[] = [];
  private readonly flushEach: boolean;
  private closed = false;

  constructor(inner: Port, opts: DumpingPortOptions) {
    this.inner = inner;
    this.flushEach = opts.flushEachBatch ?? true;
    const rx = opts.rx;
    const tx = opts.tx;
    this.rxWriter = this.writerFor(rx);
    this.txWriter = tx !== undefined && tx === rx ? this.rxWriter : this.writerFor(tx);
  }

  get name(): string {
    return this.inner.name;
  }
  get vnetHdr(): boolean {
    return this.inner.vnetHdr;
  }
  get rx(): FrameBatch {
    return this.inner.rx;
  }
  get counters(): PortCounters {
    return this.inner.counters;
  }

  receive(): number {
    const n = this.inner.receive();
    const w = this.rxWriter;
    if (n > 0 && w !== null && !this.closed) {
      const rx = this.inner.rx;
      this.dump(w, rx.slab, rx.offsets, rx.lengths, n);
    }
    return n;
  }

  send(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, withVnetHdr: boolean): number {
    const w = this.txWriter;
    if (count > 0 && w !== null && !this.closed) this.dump(w, slab, offsets, lengths, count);
    return this.inner.send(slab, offsets, lengths, count, withVnetHdr);
  }

  onReadable(cb: () => void): void {
    this.inner.onReadable(cb);
  }

  /** Closes the inner port, then closes owned writers and flushes the others. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.inner.close();
    } finally {
      for (const w of [this.rxWriter, this.txWriter]) {
        if (w === null) continue;
        try {
          if (this.owned.includes(w)) w.close();
          else w.flush();
        } catch (e) {
          this.dumpErrors++;
          this.lastDumpError = e;
        }
      }
    }
  }

  private writerFor(target: string | PcapWriter | undefined): PcapWriter | null {
    if (target === undefined) return null;
    if (typeof target !== 'string') return target;
    const w = PcapWriter.create(target);
    this.owned.push(w);
    return w;
  }

  private dump(w: PcapWriter, slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, n: number): void {
    try {
      readClock();
      for (let i = 0; i < n; i++) w.write(slab, offsets[i], lengths[i], nowSec, nowNsec);
      if (this.flushEach) w.flush();
    } catch (e) {
      this.dumpErrors++;
      this.lastDumpError = e;
    }
  }
}
