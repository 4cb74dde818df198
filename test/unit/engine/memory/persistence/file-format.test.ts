// The append-only file on disk: checksums, a torn tail cut at every byte, damage in the middle
// refused with its byte offset (and truncated with the repair flag), a foreign file refused.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crc32c, DataFileError, recordEnd, scanRecords } from '../../../../../src/engine/memory/persistence/index.js';
import { openEngine, tempDir } from './helpers.js';

const keep = { history: { size: 1000, ttlMs: 0 } };
let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.remove());

/** A closed file holding 5 publications on chat:a, a board change, and the clean-shutdown record. */
async function writeSample(path: string): Promise<{ epoch: string }> {
  const engine = await openEngine(path);
  let epoch = '';
  for (let i = 1; i <= 5; i++) epoch = (await engine.publish('chat:a', JSON.stringify({ n: i, text: 'é😀' }), keep)).epoch;
  await engine.leaderboardIncr('scores:w', 'ann', 7);
  await engine.close();
  return { epoch };
}

/** Start offsets of every record in the file (after the 8-byte header). */
function recordStarts(buf: Buffer): number[] {
  const starts: number[] = [];
  for (let at = 8; at < buf.length; ) {
    starts.push(at);
    at = recordEnd(buf, at);
    if (at < 0) throw new Error('sample file is not intact');
  }
  return starts;
}

/** Records wholly inside the first `cut` bytes. */
function countWhole(starts: number[], fileLength: number, cut: number): number {
  const ends = [...starts.slice(1), fileLength];
  return ends.filter((end) => end <= cut).length;
}

describe('the append-only file format', () => {
  it('checksums records with CRC-32C (the standard check value)', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32))).toBe(0x8a9136aa);
  });

  it('cuts a torn tail at every byte offset of the last records and keeps every whole record before it', async () => {
    const path = join(tmp.dir, 'a.aof');
    const { epoch } = await writeSample(path);
    const whole = readFileSync(path);
    const starts = recordStarts(whole);
    // The last four records: publication 4 and 5, the board change, the clean-shutdown record.
    const from = starts[starts.length - 4]!;
    for (let cut = from; cut < whole.length; cut++) {
      const buf = whole.subarray(0, cut);
      const wholeRecords = countWhole(starts, whole.length, cut);
      const scan = scanRecords(buf, () => {});
      expect(scan.records).toBe(wholeRecords);
      expect(scan.damage === undefined ? cut === starts[wholeRecords] : scan.damage.torn).toBe(true);
    }
    // What a user sees after a crash that tore the last publication: the four before it, same epoch.
    const cut = starts[starts.length - 2]! - 3;
    const torn = join(tmp.dir, 'torn.aof');
    writeFileSync(torn, whole.subarray(0, cut));
    const engine = await openEngine(torn);
    const h = await engine.history('chat:a');
    expect(h.publications.map((p) => JSON.parse(p.data) as unknown)).toEqual([1, 2, 3, 4].map((n) => ({ n, text: 'é😀' })));
    expect(h.top).toEqual({ offset: 4, epoch });
    expect(await engine.publish('chat:a', '"next"', keep)).toMatchObject({ offset: 5, epoch });
    await engine.close();
  });

  it('starts from every torn length of the last record with the same history and the next offset', async () => {
    const path = join(tmp.dir, 'a.aof');
    await writeSample(path);
    const whole = readFileSync(path);
    const starts = recordStarts(whole);
    const lastPublication = starts[starts.length - 3]!;
    const end = starts[starts.length - 2]!;
    for (let cut = lastPublication; cut < end; cut++) {
      const p = join(tmp.dir, `cut-${cut}.aof`);
      writeFileSync(p, whole.subarray(0, cut));
      const engine = await openEngine(p);
      expect((await engine.history('chat:a')).top.offset).toBe(4);
      expect((await engine.publish('chat:a', '"again"', keep)).offset).toBe(5);
      await engine.close();
      // The torn bytes are gone from the file: the next start sees a whole file.
      expect(scanRecords(readFileSync(p), () => {}).damage).toBeUndefined();
    }
  });

  it('refuses to start on damage in the middle, naming the byte offset, and truncates there with repair', async () => {
    const path = join(tmp.dir, 'a.aof');
    await writeSample(path);
    const buf = readFileSync(path);
    const starts = recordStarts(buf);
    const bad = starts[3]!; // publication 3 (after the open record, publications 1 and 2)
    buf[bad + 12] = buf[bad + 12]! ^ 0xff;
    writeFileSync(path, buf);

    const err = await openEngine(path).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DataFileError);
    expect((err as Error).message).toContain(`at byte offset ${bad}`);
    expect((err as Error).message).toContain('--repair-data');
    expect(readFileSync(path).equals(buf)).toBe(true); // refused: not touched

    const engine = await openEngine(path, { repair: true });
    const h = await engine.history('chat:a');
    expect(h.publications.map((p) => p.offset)).toEqual([1, 2]);
    expect(await engine.leaderboardTop('scores:w', 10)).toEqual([]);
    expect((await engine.publish('chat:a', '"after repair"', keep)).offset).toBe(3);
    await engine.close();
  });

  it('refuses a file that is not a hubbub append-only file, whatever the flags', async () => {
    const path = join(tmp.dir, 'a.aof');
    writeFileSync(path, '{"not": "ours"}\n');
    await expect(openEngine(path, { repair: true })).rejects.toThrow(/not a hubbub append-only file/);
    expect(readFileSync(path, 'utf8')).toBe('{"not": "ours"}\n');
  });
});
