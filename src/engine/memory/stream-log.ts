// One channel's capped history for the memory engine, with the semantics of a Redis stream under
// XADD MAXLEN plus TTL trimming. Publishing is the hot path, so entries live in a ring buffer of
// parallel arrays addressed by offset arithmetic: an append allocates nothing in steady state.

import { HubError } from '../../protocol/errors.js';
import type { ClientInfo, Publication, StreamPosition } from '../types.js';

/** Capacity a log starts with: small, because most channels hold few entries. */
const MIN_CAPACITY = 8;

function nextPow2(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n));
}

function checkCount(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new HubError('bad_request', `${name} must be a non-negative integer, got ${value}`);
  }
}

/** Built by push so V8 keeps the array packed (a preallocated `new Array(n)` stays holey). */
function emptySlots<T>(capacity: number): (T | undefined)[] {
  const slots: (T | undefined)[] = [];
  for (let i = 0; i < capacity; i++) slots.push(undefined);
  return slots;
}

export class StreamLog {
  readonly epoch: string;
  private _top = 0;
  private _first = 1;
  private _bytes = 0;
  // Capacity is 0 or a power of two so that `offset & mask` finds the slot; masking works for any
  // safe-integer offset because ToInt32 keeps the low bits.
  private mask = -1;
  private datas: (string | undefined)[] = [];
  private times = new Float64Array(0);
  private froms: (ClientInfo | undefined)[] = [];

  /** `top`: the offset the log starts after (a stream restored from the append-only file). */
  constructor(epoch: string, top = 0) {
    this.epoch = epoch;
    this._top = top;
    this._first = top + 1;
  }

  get top(): number {
    return this._top;
  }

  get first(): number {
    return this._first;
  }

  get length(): number {
    return this._top - this._first + 1;
  }

  get bytes(): number {
    return this._bytes;
  }

  append(data: string, time: number, from: ClientInfo | undefined, maxLen: number): number {
    checkCount(maxLen, 'maxLen');
    let len = this._top - this._first + 1;
    if (maxLen === 0) {
      // The offset must advance even when nothing is kept, or clients would see it reused.
      if (len > 0) this.release(len);
      this._first = ++this._top + 1;
      this.compact();
      return this._top;
    }
    let excess = 0;
    if (len >= maxLen) {
      excess = len - maxLen + 1;
      this.release(excess);
      len -= excess;
    }
    if (len > this.mask) {
      // len + 1 <= maxLen here, so doubling never overshoots what maxLen can use.
      this.resize(this.mask < 0 ? Math.min(MIN_CAPACITY, nextPow2(maxLen)) : (this.mask + 1) * 2);
    }
    const offset = ++this._top;
    const slot = offset & this.mask;
    this.datas[slot] = data;
    this.times[slot] = time;
    this.froms[slot] = from;
    this._bytes += data.length;
    // Only a shrunken maxLen drops more than one entry at once; steady state skips the check.
    if (excess > 1) this.compact();
    return offset;
  }

  trimOlderThan(cutoff: number): number {
    // Times are appended non-decreasing, so the first entry not older ends the scan; should the
    // clock step back, trimming stops early and keeps entries rather than losing newer ones.
    let n = 0;
    const len = this.length;
    while (n < len && this.times[(this._first + n) & this.mask]! < cutoff) n++;
    if (n > 0) {
      this.release(n);
      this.compact();
    }
    return n;
  }

  dropOldest(n: number): number {
    checkCount(n, 'n');
    const freed = this.release(Math.min(n, this.length));
    this.compact();
    return freed;
  }

  covers(since: StreamPosition): boolean {
    return (
      since.epoch === this.epoch &&
      Number.isSafeInteger(since.offset) &&
      since.offset >= this._first - 1 &&
      since.offset <= this._top
    );
  }

  read(options: { since?: StreamPosition; limit?: number; reverse?: boolean } = {}): Publication[] {
    const { since, limit, reverse = false } = options;
    if (limit !== undefined) checkCount(limit, 'limit');
    if (since !== undefined) {
      if (!Number.isSafeInteger(since.offset) || since.offset < 0) {
        throw new HubError('bad_request', `since.offset must be a non-negative integer, got ${since.offset}`);
      }
      if (since.epoch !== this.epoch || (!reverse && !this.covers(since))) {
        throw new HubError(
          'unrecoverable_position',
          `Position ${since.offset} of epoch ${since.epoch} can no longer be recovered: the client must reload its state`,
          { epoch: this.epoch, top: this._top, first: this._first },
        );
      }
    }
    const out: Publication[] = [];
    let from: number;
    let count: number;
    if (reverse) {
      from = since === undefined ? this._top : Math.min(since.offset - 1, this._top);
      count = from - this._first + 1;
    } else {
      from = since === undefined ? this._first : since.offset + 1;
      count = this._top - from + 1;
    }
    if (limit !== undefined && limit < count) count = limit;
    const step = reverse ? -1 : 1;
    const { datas, times, froms, mask } = this;
    for (let i = 0, offset = from; i < count; i++, offset += step) {
      const slot = offset & mask;
      const data = datas[slot]!;
      const time = times[slot]!;
      const author = froms[slot];
      out.push(author === undefined ? { offset, data, time } : { offset, data, time, from: author });
    }
    return out;
  }

  /** Drops the n oldest entries, clearing their slots so the payloads can be collected. */
  private release(n: number): number {
    let freed = 0;
    const { datas, froms, mask } = this;
    for (let i = 0, offset = this._first; i < n; i++, offset++) {
      const slot = offset & mask;
      freed += datas[slot]!.length;
      datas[slot] = undefined;
      froms[slot] = undefined;
    }
    this._first += n;
    this._bytes -= freed;
    return freed;
  }

  /** Gives memory back after a big trim; the quarter threshold keeps resizes amortised O(1). */
  private compact(): void {
    const len = this.length;
    const cap = this.mask + 1;
    if (len === 0 ? cap > 0 : cap > MIN_CAPACITY && len <= cap >>> 2) {
      this.resize(len === 0 ? 0 : Math.max(MIN_CAPACITY, nextPow2(len) * 2));
    }
  }

  private resize(capacity: number): void {
    const mask = capacity - 1;
    const datas = emptySlots<string>(capacity);
    const times = new Float64Array(capacity);
    const froms = emptySlots<ClientInfo>(capacity);
    for (let offset = this._first; offset <= this._top; offset++) {
      const from = offset & this.mask;
      const to = offset & mask;
      datas[to] = this.datas[from];
      times[to] = this.times[from]!;
      froms[to] = this.froms[from];
    }
    this.datas = datas;
    this.times = times;
    this.froms = froms;
    this.mask = mask;
  }
}
