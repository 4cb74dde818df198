// The append-only file's records. Each is framed `[u32 length][u32 crc32c][u8 type][payload]`
// (little-endian; length and checksum cover type + payload), so a reader can tell a whole record
// from a torn or damaged one. Payloads are binary: strings as u32 byte length + UTF-8, numbers as
// f64 (Infinity is a valid expiry), optional fields behind a u8 flag.

import type { ClientInfo } from '../../types.js';
import { crc32c } from './crc32c.js';

/** The file starts with this, so a file that is not ours is never replayed or truncated. */
export const MAGIC = Buffer.from('HUBBAOF1', 'latin1');
export const HEADER_BYTES = 9;
/** Larger than any record the engine writes; a longer length field is damage, not a record. */
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;

export type FsyncPolicy = 'always' | 'everysec' | 'no';
const POLICIES: readonly FsyncPolicy[] = ['always', 'everysec', 'no'];

export const RecordType = {
  /** A run started with this fsync policy (replay decides from it what an unclean stop may have lost). */
  open: 1,
  /** A clean shutdown: everything before it was fsynced. */
  close: 2,
  /** A publication: the stream's epoch, the new offset and the first offset still held after it. */
  append: 3,
  /** Entries before `first` were evicted (memory budget). */
  trim: 4,
  /** The stream was removed (removeHistory, stream limit, expiry). */
  drop: 5,
  /** A leaderboard member's resulting score, or null when it left: replay is exact and idempotent. */
  score: 6,
  /** A snapshot's stream header: an empty log at `top`, entries follow as appends. */
  stream: 7,
  /** A snapshot's idempotency key still inside its window. */
  idem: 8,
} as const;

export interface AppendRecord {
  type: 'append';
  channel: string;
  epoch: string;
  offset: number;
  first: number;
  time: number;
  data: string;
  from: ClientInfo | undefined;
  expiresAt: number;
  ttlMs: number;
  idempotencyKey: string | undefined;
  idempotencyExpiresAt: number;
}

export type AofRecord =
  | { type: 'open'; time: number; fsync: FsyncPolicy }
  | { type: 'close' }
  | AppendRecord
  | { type: 'trim'; channel: string; epoch: string; first: number }
  | { type: 'drop'; channel: string }
  | { type: 'score'; board: string; member: string; score: number | null }
  | { type: 'stream'; channel: string; epoch: string; top: number; expiresAt: number; ttlMs: number }
  | { type: 'idem'; channel: string; key: string; offset: number; expiresAt: number };

/** Encodes records back to back into one growing buffer (a batch, or a snapshot chunk). */
export class RecordWriter {
  buf: Buffer;
  pos = 0;
  private start = 0;

  constructor(capacity = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  get length(): number {
    return this.pos;
  }

  reset(): void {
    this.pos = 0;
  }

  /** The bytes written so far (a view: valid until the next reset). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  write(record: AofRecord): void {
    this.begin(RecordType[record.type]);
    switch (record.type) {
      case 'open':
        this.f64(record.time);
        this.u8(POLICIES.indexOf(record.fsync));
        break;
      case 'close':
        break;
      case 'append':
        this.str(record.channel);
        this.str(record.epoch);
        this.f64(record.offset);
        this.f64(record.first);
        this.f64(record.time);
        this.str(record.data);
        this.optStr(record.from === undefined ? undefined : JSON.stringify(record.from));
        this.f64(record.expiresAt);
        this.f64(record.ttlMs);
        this.optStr(record.idempotencyKey);
        this.f64(record.idempotencyExpiresAt);
        break;
      case 'trim':
        this.str(record.channel);
        this.str(record.epoch);
        this.f64(record.first);
        break;
      case 'drop':
        this.str(record.channel);
        break;
      case 'score':
        this.str(record.board);
        this.str(record.member);
        this.u8(record.score === null ? 0 : 1);
        if (record.score !== null) this.f64(record.score);
        break;
      case 'stream':
        this.str(record.channel);
        this.str(record.epoch);
        this.f64(record.top);
        this.f64(record.expiresAt);
        this.f64(record.ttlMs);
        break;
      case 'idem':
        this.str(record.channel);
        this.str(record.key);
        this.f64(record.offset);
        this.f64(record.expiresAt);
        break;
    }
    this.end();
  }

  private begin(type: number): void {
    this.ensure(HEADER_BYTES);
    this.start = this.pos;
    this.pos += 8;
    this.buf[this.pos++] = type;
  }

  private end(): void {
    const { buf, start } = this;
    buf.writeUInt32LE(this.pos - start - 8, start);
    buf.writeUInt32LE(crc32c(buf, start + 8, this.pos), start + 4);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  private f64(v: number): void {
    this.ensure(8);
    this.pos = this.buf.writeDoubleLE(v, this.pos);
  }

  private str(s: string): void {
    this.ensure(4 + s.length * 3);
    const n = this.buf.write(s, this.pos + 4, 'utf8');
    this.buf.writeUInt32LE(n, this.pos);
    this.pos += 4 + n;
  }

  private optStr(s: string | undefined): void {
    this.u8(s === undefined ? 0 : 1);
    if (s !== undefined) this.str(s);
  }
}

/** A record whose checksum matched but whose payload does not parse: a bug or a forged file. */
export class BadPayload extends Error {}

class Reader {
  constructor(
    private readonly buf: Buffer,
    private pos: number,
    private readonly end: number,
  ) {}

  done(): boolean {
    return this.pos === this.end;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new BadPayload('record payload ends early');
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  int(): number {
    const v = this.f64();
    if (!Number.isSafeInteger(v) || v < 0) throw new BadPayload(`not an offset: ${v}`);
    return v;
  }

  str(): string {
    this.need(4);
    const n = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  optStr(): string | undefined {
    return this.u8() === 0 ? undefined : this.str();
  }
}

function parseFrom(json: string | undefined): ClientInfo | undefined {
  if (json === undefined) return undefined;
  const v: unknown = JSON.parse(json);
  if (typeof v !== 'object' || v === null || typeof (v as ClientInfo).client !== 'string') {
    throw new BadPayload('publication author is not a client');
  }
  return v as ClientInfo;
}

/** Decodes the payload of a record already framed and checksummed at [start, end). */
export function decodeRecord(buf: Buffer, start: number, end: number): AofRecord {
  const type = buf[start];
  const r = new Reader(buf, start + 1, end);
  let record: AofRecord;
  switch (type) {
    case RecordType.open: {
      const time = r.f64();
      const fsync = POLICIES[r.u8()];
      if (fsync === undefined) throw new BadPayload('unknown fsync policy');
      record = { type: 'open', time, fsync };
      break;
    }
    case RecordType.close:
      record = { type: 'close' };
      break;
    case RecordType.append:
      record = {
        type: 'append',
        channel: r.str(),
        epoch: r.str(),
        offset: r.int(),
        first: r.int(),
        time: r.f64(),
        data: r.str(),
        from: parseFrom(r.optStr()),
        expiresAt: r.f64(),
        ttlMs: r.f64(),
        idempotencyKey: r.optStr(),
        idempotencyExpiresAt: r.f64(),
      };
      break;
    case RecordType.trim:
      record = { type: 'trim', channel: r.str(), epoch: r.str(), first: r.int() };
      break;
    case RecordType.drop:
      record = { type: 'drop', channel: r.str() };
      break;
    case RecordType.score: {
      const board = r.str();
      const member = r.str();
      record = { type: 'score', board, member, score: r.u8() === 0 ? null : r.f64() };
      break;
    }
    case RecordType.stream:
      record = { type: 'stream', channel: r.str(), epoch: r.str(), top: r.int(), expiresAt: r.f64(), ttlMs: r.f64() };
      break;
    case RecordType.idem:
      record = { type: 'idem', channel: r.str(), key: r.str(), offset: r.int(), expiresAt: r.f64() };
      break;
    default:
      throw new BadPayload(`unknown record type ${String(type)}`);
  }
  if (!r.done()) throw new BadPayload('record payload has trailing bytes');
  return record;
}

/** Whether a whole, intact record starts at `at`: returns its end, or -1. */
export function recordEnd(buf: Buffer, at: number): number {
  if (at + HEADER_BYTES > buf.length) return -1;
  const len = buf.readUInt32LE(at);
  if (len < 1 || len > MAX_RECORD_BYTES || at + 8 + len > buf.length) return -1;
  const type = buf[at + 8]!;
  if (type < RecordType.open || type > RecordType.idem) return -1;
  if (crc32c(buf, at + 8, at + 8 + len) !== buf.readUInt32LE(at + 4)) return -1;
  return at + 8 + len;
}
