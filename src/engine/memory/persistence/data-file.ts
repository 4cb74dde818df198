// Opening, replaying and compacting the data file. Compaction writes a snapshot of the current
// state to `<path>.rewrite` while writes continue (they are copied aside too), appends the copies,
// fsyncs, renames it over the file and fsyncs the directory: a crash at any point leaves either the
// old file or the new one, each complete.

import { mkdir, open, readFile, rename, rm, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../../observability/index.js';
import { Journal, type JournalFile, writeAll } from './journal.js';
import { type AofRecord, type FsyncPolicy, MAGIC, RecordWriter } from './records.js';
import { DataFileError, scanRecords, type ScanResult } from './replay.js';

export interface PersistenceOptions {
  path: string;
  fsync: FsyncPolicy;
  /** Truncate at damage in the middle of the file instead of refusing to start. */
  repair: boolean;
  rewriteMinBytes: number;
  rewriteGrowthPercent: number;
}

export interface DataFile {
  journal: Journal;
  replay: ScanResult & { bytes: number; ms: number };
  /**
   * Writes a snapshot and swaps it in; resolves with the new size. `snapshot` encodes into `w` and
   * awaits `flush()` now and then, which writes what it encoded so far (and lets the loop breathe).
   */
  rewrite(snapshot: Snapshot): Promise<{ bytes: number; ms: number }>;
}

async function syncDir(dir: string): Promise<void> {
  const fd = await open(dir, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

export type Snapshot = (w: RecordWriter, flush: () => Promise<void>) => Promise<void>;

/** Thrown by a swap that failed after the rename: the journal's old file is gone. */
class AfterRename extends Error {}

export async function openDataFile(
  options: PersistenceOptions,
  log: Logger,
  apply: (record: AofRecord) => void,
  onGrow: (bytes: number) => void,
  /** Opens the file for appending; tests pass one that fails. */
  openFile: (path: string) => Promise<JournalFile> = (path) => open(path, 'a'),
): Promise<DataFile> {
  const { path } = options;
  await mkdir(dirname(path), { recursive: true });
  // A compaction the last run did not finish: the file it was replacing is still whole.
  await rm(`${path}.rewrite`, { force: true });
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
    buf = Buffer.alloc(0);
  }
  const started = performance.now();
  const scan = scanRecords(buf, apply);
  const ms = performance.now() - started;
  const { damage } = scan;
  if (damage !== undefined) {
    const where = `${path} at byte offset ${damage.offset}`;
    if (!damage.torn && !options.repair) {
      throw new DataFileError(
        `the data file is damaged in the middle: ${where} ${damage.reason}, and ${damage.droppedRecords} intact records follow. ` +
          `Keep a copy of the file, then start with --repair-data to truncate it there (dropping ${damage.droppedBytes} bytes).`,
      );
    }
    const context = { path, offset: damage.offset, droppedBytes: damage.droppedBytes, droppedRecords: damage.droppedRecords };
    if (damage.torn) log.warn(context, `persistence: cut off a torn last record at byte offset ${damage.offset} (a crash mid-write)`);
    else log.warn(context, `persistence: repaired ${path}: truncated at byte offset ${damage.offset}, dropping ${damage.droppedBytes} bytes and ${damage.droppedRecords} records`);
    await truncate(path, scan.validEnd);
  }
  let bytes = scan.validEnd;
  if (bytes < MAGIC.length) {
    const fresh = await open(path, 'w');
    try {
      await writeAll(fresh, MAGIC);
      await fresh.datasync();
    } finally {
      await fresh.close();
    }
    await syncDir(dirname(path));
    bytes = MAGIC.length;
  }
  const journal = new Journal(await openFile(path), { fsync: options.fsync, path, bytes, log, onGrow });

  async function rewrite(snapshot: Snapshot): Promise<{ bytes: number; ms: number }> {
    const begun = performance.now();
    const tmp = `${path}.rewrite`;
    // From here every record is also copied aside. The snapshot is taken while writes go on, so a
    // part of it may already show a change whose record is in that tail too: records say what the
    // state becomes (offsets, resulting scores), so applying such a record again changes nothing.
    journal.startRewrite();
    let size = 0;
    const out = await open(tmp, 'w').catch((err: unknown) => {
      journal.abortRewrite();
      throw err;
    });
    try {
      await writeAll(out, MAGIC);
      size = MAGIC.length;
      const w = new RecordWriter(1 << 20);
      const flush = async () => {
        await writeAll(out, w.bytes());
        size += w.length;
        w.reset();
      };
      w.write({ type: 'open', time: Date.now(), fsync: options.fsync });
      await snapshot(w, flush);
      await flush();
      await journal.finishRewrite(async (tail) => {
        const rest = Buffer.concat(tail);
        await writeAll(out, rest);
        size += rest.length;
        await out.datasync();
        await out.close();
        await rename(tmp, path);
        try {
          await syncDir(dirname(path));
          return { file: await openFile(path), bytes: size };
        } catch (err) {
          throw new AfterRename(err instanceof Error ? err.message : String(err));
        }
      });
    } catch (err) {
      journal.abortRewrite();
      await out.close().catch(() => undefined);
      if (err instanceof AfterRename) journal.failNow(err, 'rewrite');
      else await rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
    return { bytes: size, ms: performance.now() - begun };
  }

  return { journal, replay: { ...scan, bytes: buf.length, ms }, rewrite };
}
