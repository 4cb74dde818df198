// The memory engine's state as the append-only file sees it: applying a replayed record, writing a
// snapshot for compaction, and renewing epochs after a crash that may have lost acknowledged
// writes. The engine hands in a narrow view of its streams and boards (`DurableState`).

import type { HistoryOptions, HistoryResult } from '../types.js';
import type { Leaderboards } from './leaderboards.js';
import type { AofRecord, RecordWriter } from './persistence/index.js';
import { StreamLog } from './stream-log.js';

export interface Stream {
  readonly name: string;
  log: StreamLog;
  /** Meta TTL: the stream is forgotten (its epoch with it) when idle past this. */
  expiresAt: number;
  /** The history TTL last asked for, so the sweep can trim entries nobody reads. */
  ttlMs: number;
  /** Idempotency keys in insertion order, which is expiry order for a fixed window. */
  idempotency: Map<string, { offset: number; expiresAt: number }> | undefined;
  /** Under fsync `always`: the newest offset on disk (and delivered); reads show nothing newer. */
  durableTop: number;
}

/** A history read that shows nothing after the stream's newest durable offset. */
export function readDurable(stream: Stream, options: HistoryOptions): HistoryResult {
  const { log, durableTop } = stream;
  const read = { ...options };
  if (read.reverse === true && (read.since === undefined || read.since.offset > durableTop)) {
    read.since = { offset: durableTop + 1, epoch: log.epoch };
  }
  const publications = log.read(read).filter((p) => p.offset <= durableTop);
  return { publications, top: { offset: durableTop, epoch: log.epoch } };
}

export interface DurableState {
  readonly streams: Map<string, Stream>;
  readonly boards: Leaderboards;
  /** Creates (or replaces) the channel's stream with an empty log at `top`. */
  putStream(channel: string, epoch: string, top: number, expiresAt: number, ttlMs: number): Stream;
  dropStream(stream: Stream): void;
  /** Keeps the engine's totals right after a stream's log changed. */
  account(stream: Stream, lengthBefore: number, bytesBefore: number): void;
}

/** Applies one replayed record. Idempotent: a record already reflected in the state changes nothing. */
export function applyRecord(state: DurableState, r: AofRecord): void {
  switch (r.type) {
    case 'open':
    case 'close':
      return;
    case 'append': {
      let stream = state.streams.get(r.channel);
      const top = stream?.log.top ?? 0;
      if (stream === undefined || stream.log.epoch !== r.epoch || r.offset > top + 1) {
        stream = state.putStream(r.channel, r.epoch, r.offset - 1, r.expiresAt, r.ttlMs);
      } else if (r.offset <= top) {
        return;
      }
      const { log } = stream;
      const lengthBefore = log.length;
      const bytesBefore = log.bytes;
      log.append(r.data, r.time, r.from, r.first > r.offset ? 0 : r.offset - r.first + 1);
      state.account(stream, lengthBefore, bytesBefore);
      stream.expiresAt = r.expiresAt;
      stream.ttlMs = r.ttlMs;
      stream.durableTop = log.top;
      if (r.idempotencyKey !== undefined) {
        stream.idempotency ??= new Map();
        stream.idempotency.set(r.idempotencyKey, { offset: r.offset, expiresAt: r.idempotencyExpiresAt });
      }
      return;
    }
    case 'trim': {
      const stream = state.streams.get(r.channel);
      if (stream === undefined || stream.log.epoch !== r.epoch || r.first <= stream.log.first) return;
      const { log } = stream;
      const lengthBefore = log.length;
      const bytesBefore = log.bytes;
      log.dropOldest(Math.min(r.first - log.first, log.length));
      state.account(stream, lengthBefore, bytesBefore);
      return;
    }
    case 'drop': {
      const stream = state.streams.get(r.channel);
      if (stream !== undefined) state.dropStream(stream);
      return;
    }
    case 'stream':
      state.putStream(r.channel, r.epoch, r.top, r.expiresAt, r.ttlMs);
      return;
    case 'idem': {
      const stream = state.streams.get(r.channel);
      if (stream === undefined) return;
      stream.idempotency ??= new Map();
      stream.idempotency.set(r.key, { offset: r.offset, expiresAt: r.expiresAt });
      return;
    }
    case 'score':
      if (r.score === null) state.boards.remove(r.board, r.member);
      else state.boards.set(r.board, r.member, r.score, 'always', undefined);
      return;
  }
}

/** Encoded bytes after which a snapshot writes out what it has and yields to the event loop. */
const SNAPSHOT_CHUNK = 1 << 20;

/**
 * Encodes the live state: streams that have not expired, with the entries their history TTL still
 * keeps, idempotency keys inside their window, and every board. Expired history is left behind.
 * Writes go on between chunks; each stream and board is copied at one instant before it is
 * encoded, and any change after that instant is in the compaction's tail as well.
 */
export async function writeSnapshot(state: DurableState, w: RecordWriter, now: number, flush: () => Promise<void>): Promise<void> {
  for (const stream of state.streams.values()) {
    if (stream.expiresAt <= now) continue;
    const { log, name: channel } = stream;
    if (stream.ttlMs > 0 && log.length > 0) {
      const lengthBefore = log.length;
      const bytesBefore = log.bytes;
      log.trimOlderThan(now - stream.ttlMs);
      state.account(stream, lengthBefore, bytesBefore);
    }
    const { epoch, first } = log;
    const { expiresAt, ttlMs } = stream;
    const publications = log.read();
    const keys = [...(stream.idempotency ?? [])];
    w.write({ type: 'stream', channel, epoch, top: first - 1, expiresAt, ttlMs });
    for (const p of publications) {
      w.write({
        type: 'append',
        channel,
        epoch,
        offset: p.offset,
        first,
        time: p.time,
        data: p.data,
        from: p.from,
        expiresAt,
        ttlMs,
        idempotencyKey: undefined,
        idempotencyExpiresAt: 0,
      });
      if (w.length >= SNAPSHOT_CHUNK) await flush();
    }
    for (const [key, seen] of keys) {
      if (seen.expiresAt > now) w.write({ type: 'idem', channel, key, offset: seen.offset, expiresAt: seen.expiresAt });
    }
    if (w.length >= SNAPSHOT_CHUNK) await flush();
  }
  for (const [board, lb] of [...state.boards.entries()]) {
    for (const { member, score } of lb.top(lb.size, 0)) {
      w.write({ type: 'score', board, member, score });
      if (w.length >= SNAPSHOT_CHUNK) await flush();
    }
  }
}

/**
 * After a crash under `everysec` or `no`, the last publications clients saw may not be in the file,
 * so the offsets after the file's end may have been handed out already: every stream gets a new
 * epoch (clients reload instead of recovering a wrong history). Entries are kept.
 */
export function renewEpochs(state: DurableState, newEpoch: () => string): number {
  let renewed = 0;
  for (const stream of state.streams.values()) {
    const old = stream.log;
    const log = new StreamLog(newEpoch(), old.first - 1);
    for (const p of old.read()) log.append(p.data, p.time, p.from, Number.MAX_SAFE_INTEGER);
    stream.log = log;
    stream.durableTop = log.top;
    renewed++;
  }
  return renewed;
}
