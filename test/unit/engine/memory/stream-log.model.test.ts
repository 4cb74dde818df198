// Model-based test of StreamLog, the memory engine's ring buffer: random command sequences
// (appends under a changing MAXLEN, including 0 and shrinking runs, TTL trims with
// non-decreasing cutoffs, drops, reads in every mode, covers) run against a plain array, and
// every answer is compared, unrecoverable_position errors and their details included.

import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StreamLog } from '../../../../src/engine/memory/stream-log.js';
import type { ClientInfo, Publication, StreamPosition } from '../../../../src/engine/types.js';
import { isHubError } from '../../../../src/protocol/errors.js';

const EPOCH = 'e1';
const alice: ClientInfo = { client: 'c1', user: 'alice' };

/** The model: every entry still held, oldest first, and the clock the commands advance. */
class ArrayLog {
  entries: Publication[] = [];
  top = 0;
  now = 0;
  /** TTL cutoffs only move forward, as now - ttl does on a clock that does not step back. */
  cutoff = Number.NEGATIVE_INFINITY;

  get first(): number {
    return this.entries[0]?.offset ?? this.top + 1;
  }

  get bytes(): number {
    return this.entries.reduce((sum, e) => sum + e.data.length, 0);
  }

  append(data: string, from: ClientInfo | undefined, maxLen: number): number {
    const offset = ++this.top;
    const time = this.now;
    this.entries.push(from === undefined ? { offset, data, time } : { offset, data, time, from });
    this.entries = maxLen === 0 ? [] : this.entries.slice(-maxLen);
    return offset;
  }

  trimOlderThan(cutoff: number): number {
    const kept = this.entries.filter((e) => e.time >= cutoff);
    const dropped = this.entries.length - kept.length;
    this.entries = kept;
    return dropped;
  }

  dropOldest(n: number): number {
    return this.entries.splice(0, n).reduce((sum, e) => sum + e.data.length, 0);
  }

  covers(since: StreamPosition): boolean {
    return (
      since.epoch === EPOCH &&
      Number.isSafeInteger(since.offset) &&
      since.offset >= this.first - 1 &&
      since.offset <= this.top
    );
  }

  /** The publications, or the error a read must fail with: its code and details. */
  read(since: StreamPosition | undefined, limit: number | undefined, reverse: boolean): unknown {
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) return { code: 'bad_request' };
    if (since !== undefined) {
      if (!(Number.isSafeInteger(since.offset) && since.offset >= 0)) return { code: 'bad_request' };
      // Forward reads resume after a position, so every later entry must still be held; a
      // reverse read pages back from one, so only the epoch has to match.
      if (since.epoch !== EPOCH || (!reverse && !this.covers(since))) {
        const details = { epoch: EPOCH, top: this.top, first: this.first };
        return { code: 'unrecoverable_position', details };
      }
    }
    const picked = reverse
      ? this.entries.filter((e) => since === undefined || e.offset < since.offset).reverse()
      : this.entries.filter((e) => since === undefined || e.offset > since.offset);
    return limit === undefined ? picked : picked.slice(0, limit);
  }
}

/** A read's publications, or its HubError as { code, details? }. */
function outcome(fn: () => Publication[]): unknown {
  try {
    return fn();
  } catch (err) {
    if (!isHubError(err)) throw err;
    return err.details === undefined ? { code: err.code } : { code: err.code, details: err.details };
  }
}

/** expect() costs more than the ring operations it checks: call it only to report a mismatch. */
function same(actual: unknown, expected: unknown): void {
  if (!isDeepStrictEqual(actual, expected)) expect(actual).toEqual(expected);
}

interface Real {
  log: StreamLog;
}
type Cmd = fc.Command<ArrayLog, Real>;

function command(label: string, run: (m: ArrayLog, r: Real) => void): Cmd {
  return {
    check: () => true,
    run: (m, r) => {
      run(m, r);
      const { log } = r;
      same([log.top, log.first, log.length, log.bytes], [m.top, m.first, m.entries.length, m.bytes]);
      same(log.read(), m.entries);
    },
    toString: () => label,
  };
}

// Small MAXLENs trim on every append, larger ones let the ring grow through several capacities.
const maxLenArb = fc.oneof(
  { weight: 1, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 6 }) },
  { weight: 2, arbitrary: fc.integer({ min: 7, max: 300 }) },
  { weight: 1, arbitrary: fc.constantFrom(2 ** 31, Number.MAX_SAFE_INTEGER) },
);
const dataArb = fc.string({ maxLength: 6 });

const appendArb = fc
  .record({
    data: dataArb,
    dt: fc.oneof(fc.nat(3), fc.constant(0.5)),
    withFrom: fc.boolean(),
    maxLen: maxLenArb,
  })
  .map(({ data, dt, withFrom, maxLen }) =>
    command(`append(${JSON.stringify(data)}, +${dt}ms, ${withFrom ? 'from' : '-'}, ${maxLen})`, (m, r) => {
      m.now += dt;
      const from = withFrom ? alice : undefined;
      same(r.log.append(data, m.now, from, maxLen), m.append(data, from, maxLen));
    }),
  );

/** Many appends at once, so the ring wraps and grows; MAXLENs sorted downwards shrink it again. */
const burstArb = fc
  .record({
    count: fc.integer({ min: 1, max: 400 }),
    maxLens: fc.array(maxLenArb, { minLength: 1, maxLength: 4 }),
    shrinking: fc.boolean(),
  })
  .map(({ count, maxLens, shrinking }) => {
    const lens = shrinking ? [...maxLens].sort((a, b) => b - a) : maxLens;
    return command(`burst(${count}, maxLens ${lens.join('/')})`, (m, r) => {
      for (let i = 0; i < count; i++) {
        const maxLen = lens[Math.floor((i * lens.length) / count)] as number;
        if (i % 7 === 0) m.now++;
        const data = `p${m.top + 1}`;
        same(r.log.append(data, m.now, undefined, maxLen), m.append(data, undefined, maxLen));
      }
    });
  });

const trimArb = fc.record({ back: fc.integer({ min: -2, max: 40 }) }).map(({ back }) =>
  command(`trimOlderThan(now - ${back})`, (m, r) => {
    m.cutoff = Math.max(m.cutoff, m.now - back);
    same(r.log.trimOlderThan(m.cutoff), m.trimOlderThan(m.cutoff));
  }),
);

const tickArb = fc
  .integer({ min: 1, max: 20 })
  .map((dt) => command(`tick(+${dt}ms)`, (m) => void (m.now += dt)));

const dropArb = fc
  .nat(12)
  .map((n) => command(`dropOldest(${n})`, (m, r) => same(r.log.dropOldest(n), m.dropOldest(n))));

/** Positions near the edges that matter (first - 1, top, top + 1) and malformed ones. */
const sinceArb = fc.oneof(
  fc.record({
    from: fc.constantFrom('first' as const, 'top' as const),
    delta: fc.integer({ min: -3, max: 3 }),
  }),
  fc.record({
    from: fc.constant('absolute' as const),
    delta: fc.oneof(fc.nat(1500), fc.constantFrom(-1, 2.5, 2 ** 53)),
  }),
);
type Since = typeof sinceArb extends fc.Arbitrary<infer T> ? T : never;

function sinceOffset(m: ArrayLog, s: Since): number {
  if (s.from === 'first') return m.first - 1 + s.delta;
  if (s.from === 'top') return m.top + s.delta;
  return s.delta;
}

const readArb = fc
  .record({
    since: fc.option(sinceArb, { nil: undefined }),
    otherEpoch: fc.boolean(),
    limit: fc.option(fc.oneof(fc.nat(10), fc.constantFrom(-1, 1.5)), { nil: undefined }),
    reverse: fc.boolean(),
  })
  .map(({ since, otherEpoch, limit, reverse }) =>
    command(`read(${JSON.stringify({ since, otherEpoch, limit, reverse })})`, (m, r) => {
      const position =
        since === undefined ? undefined : { offset: sinceOffset(m, since), epoch: otherEpoch ? 'e0' : EPOCH };
      const options = {
        reverse,
        ...(position === undefined ? {} : { since: position }),
        ...(limit === undefined ? {} : { limit }),
      };
      same(
        outcome(() => r.log.read(options)),
        m.read(position, limit, reverse),
      );
      if (position !== undefined) same(r.log.covers(position), m.covers(position));
    }),
  );

describe('StreamLog against an array', () => {
  it('agrees on offsets, trims, bytes, covers and every read, errors included', () => {
    const commands = [appendArb, appendArb, burstArb, trimArb, tickArb, dropArb, readArb, readArb];
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: 40, size: 'max' }), (cmds) => {
        fc.modelRun(() => ({ model: new ArrayLog(), real: { log: new StreamLog(EPOCH) } }), cmds);
      }),
      { numRuns: 2000 },
    );
  });
});
