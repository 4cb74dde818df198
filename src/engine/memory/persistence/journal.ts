// The writer of the append-only file. Records are encoded into a batch; one `write` (and, under
// `always`, one fdatasync) per batch through the async fs API, so the disk work runs on libuv's
// thread pool, and a write in flight collects the next batch (group commit). Under `always` a
// caller awaits `durable()` before acknowledging; the other policies never wait.

import type { FileHandle } from 'node:fs/promises';
import type { Logger } from '../../../observability/index.js';
import { HubError } from '../../../protocol/errors.js';
import { type AofRecord, type FsyncPolicy, RecordWriter } from './records.js';

/** The part of a file handle the journal uses; tests inject a failing one. */
export type JournalFile = Pick<FileHandle, 'write' | 'datasync' | 'close'>;

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A batch nobody awaits (everysec) must not become an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export async function writeAll(file: Pick<FileHandle, 'write'>, bytes: Buffer): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await file.write(bytes, done, bytes.length - done);
    done += bytesWritten;
  }
}

export interface JournalOptions {
  fsync: FsyncPolicy;
  path: string;
  /** The file's size when opened. */
  bytes: number;
  log: Logger;
  /** Called after a write when the file has grown (the engine decides whether to compact). */
  onGrow?: (bytes: number) => void;
}

export class Journal {
  /** Set by the first disk error; every later write fails with it (restart to recover). */
  failed: HubError | undefined;
  failures = 0;
  bytes: number;
  records = 0;

  private file: JournalFile;
  private batch = new RecordWriter();
  private spare = new RecordWriter();
  /** The batch being filled, and the one being written: what `durable()` waits for. */
  private current: Deferred | undefined;
  private flying: Deferred | undefined;
  private running: Promise<void> | undefined;
  private scheduled = false;
  private paused = false;
  private dirty = false;
  private syncWanted = false;
  private readonly timer: NodeJS.Timeout | undefined;
  /** Copies of records appended while a snapshot is written (compaction). */
  private rewrite: Buffer[] | undefined;
  private closed = false;

  constructor(
    file: JournalFile,
    private readonly options: JournalOptions,
  ) {
    this.file = file;
    this.bytes = options.bytes;
    if (options.fsync === 'everysec') {
      this.timer = setInterval(() => {
        if (!this.dirty) return;
        this.syncWanted = true;
        this.schedule();
      }, 1000);
      this.timer.unref();
    }
  }

  get fsync(): FsyncPolicy {
    return this.options.fsync;
  }

  /** Throws `persistence_failed` once the disk has failed, before the caller changes any state. */
  check(): void {
    if (this.failed !== undefined) throw this.failed;
    if (this.closed) throw new HubError('engine_closed', 'the engine is closed; the hub is shutting down');
  }

  append(record: AofRecord): void {
    // After a failure nothing is written again; a closed file takes nothing more.
    if (this.failed !== undefined || this.closed) return;
    const before = this.batch.pos;
    this.batch.write(record);
    this.records++;
    if (this.rewrite !== undefined) this.rewrite.push(Buffer.from(this.batch.buf.subarray(before, this.batch.pos)));
    this.schedule();
  }

  /**
   * Resolves when every record appended so far is on disk (written and fdatasync'ed); rejects
   * with `persistence_failed` if the disk refused. Only `always` makes callers wait for this.
   */
  durable(): Promise<void> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    if (this.batch.pos > 0) {
      this.current ??= deferred();
      return this.current.promise;
    }
    return this.running !== undefined && this.flying !== undefined ? this.flying.promise : Promise.resolve();
  }

  /** Starts copying appended records aside: they follow the snapshot into the new file. */
  startRewrite(): void {
    this.rewrite = [];
  }

  abortRewrite(): void {
    this.rewrite = undefined;
  }

  /**
   * With writes paused: drains every pending record into the old file, then hands `swap` the
   * records appended since the snapshot (all already in the old file too) and, once the swap is
   * done, continues writing to the file it returns.
   */
  async finishRewrite(swap: (tail: Buffer[]) => Promise<{ file: JournalFile; bytes: number }>): Promise<void> {
    this.paused = true;
    try {
      // Until the batch is empty at a synchronous point: a record appended by a continuation that
      // ran between a drain and this line would otherwise be both in the tail and still pending.
      do await this.drain();
      while (this.batch.pos > 0 && this.failed === undefined);
      if (this.failed !== undefined) throw this.failed;
      const tail = this.rewrite ?? [];
      this.rewrite = undefined;
      const old = this.file;
      const next = await swap(tail);
      this.file = next.file;
      this.bytes = next.bytes;
      await old.close();
    } finally {
      this.paused = false;
      this.schedule();
    }
  }

  /** Flushes and fsyncs everything, writes the clean-shutdown record, and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    this.paused = true;
    try {
      if (this.failed === undefined) {
        await this.drain();
        this.append({ type: 'close' });
        this.syncWanted = true;
        await this.drain();
      }
    } finally {
      this.closed = true;
      this.rewrite = undefined;
      await this.file.close().catch(() => undefined);
    }
  }

  private schedule(): void {
    if (this.scheduled || this.running !== undefined || this.paused) return;
    this.scheduled = true;
    // setImmediate runs after this turn's I/O callbacks: every publish of the turn shares the write.
    setImmediate(() => {
      this.scheduled = false;
      if (this.running === undefined && !this.paused) this.running = this.run();
    });
  }

  /** Writes until nothing is pending (a paused journal waits for the run in flight first). */
  private async drain(): Promise<void> {
    if (this.running !== undefined) await this.running;
    if (this.batch.pos > 0 || this.syncWanted) {
      this.running = this.run();
      await this.running;
    }
  }

  private async run(): Promise<void> {
    try {
      while (this.failed === undefined && (this.batch.pos > 0 || this.syncWanted)) {
        const out = this.batch;
        this.batch = this.spare;
        this.spare = out;
        const waiting = this.current ?? deferred();
        this.current = undefined;
        this.flying = waiting;
        const wrote = out.pos;
        let op = 'write';
        try {
          if (out.pos > 0) {
            await writeAll(this.file, out.bytes());
            this.bytes += out.pos;
            this.dirty = true;
          }
          if (this.options.fsync === 'always' || this.syncWanted) {
            op = 'fsync';
            this.syncWanted = false;
            await this.file.datasync();
            this.dirty = false;
          }
          out.reset();
          waiting.resolve();
        } catch (err) {
          out.reset();
          this.fail(err, op);
          waiting.reject(this.failed);
          this.rejectPending();
          return;
        }
        if (wrote > 0) this.options.onGrow?.(this.bytes);
      }
    } finally {
      this.running = undefined;
      this.flying = undefined;
    }
    if (this.batch.pos > 0 && !this.paused) this.schedule();
  }

  /** Records appended while the failing write was in flight fail with it. */
  private rejectPending(): void {
    this.current?.reject(this.failed);
    this.current = undefined;
  }

  /** A failure outside the write loop (a compaction that lost the file): refuse writes from now on. */
  failNow(err: unknown, op: string): void {
    if (this.failed === undefined) this.fail(err, op);
  }

  private fail(err: unknown, op: string): void {
    this.failures++;
    const code = (err as { code?: unknown }).code;
    const reason = err instanceof Error ? err.message : String(err);
    this.failed = new HubError(
      'persistence_failed',
      `the hub could not save this to disk (${op}: ${reason}); retry later`,
      { op, ...(typeof code === 'string' ? { errno: code } : {}) },
    );
    // Logged once: every later write fails with the same error without touching the disk.
    this.options.log.error(
      { err, op, path: this.options.path, bytes: this.bytes },
      'persistence failed: writes are refused until the hub restarts',
    );
  }
}
