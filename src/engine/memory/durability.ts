// The memory engine's link to its append-only file: replay at start, the start-up log line,
// epochs renewed after an unsafe crash, compaction when the file has grown, and a clean close.

import { randomBytes } from 'node:crypto';
import type { PersistenceConfig } from '../../config/schema.js';
import type { Logger } from '../../observability/index.js';
import type { Clock } from '../../util/clock.js';
import { applyRecord, type DurableState, renewEpochs, writeSnapshot } from './durable.js';
import { type DataFile, type Journal, type JournalFile, openDataFile } from './persistence/index.js';

export const newEpoch = (): string => randomBytes(6).toString('base64url');

export class Durability {
  journal: Journal | undefined;
  private data: DataFile | undefined;
  private rewriting: Promise<void> | undefined;
  /** The file's size when last written whole: compaction runs on growth past it. */
  private rewrittenBytes = 0;
  private rewrites = 0;
  private closed = false;

  constructor(
    private readonly config: PersistenceConfig,
    private readonly state: DurableState,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly openFile: ((path: string) => Promise<JournalFile>) | undefined,
  ) {}

  /** Replays the file into the state; `settle` runs before writing starts (budgets, eviction). */
  async open(settle: () => void): Promise<void> {
    const { config, state } = this;
    const data = await openDataFile(config, this.log, (r) => applyRecord(state, r), (bytes) => this.grew(bytes), this.openFile);
    const { replay } = data;
    // A crash under everysec/no may have lost offsets that clients already saw: new epochs.
    const unsafe = !replay.clean && replay.lastPolicy !== 'always' && replay.records > 0;
    const renewed = unsafe ? renewEpochs(state, newEpoch) : 0;
    this.data = data;
    this.journal = data.journal;
    settle();
    if (renewed > 0) await this.compact();
    this.rewrittenBytes = data.journal.bytes;
    data.journal.append({ type: 'open', time: this.clock.now(), fsync: config.fsync });
    const ms = Math.round(replay.ms);
    const context = {
      path: config.path,
      fsync: config.fsync,
      records: replay.records,
      bytes: replay.bytes,
      replayMs: ms,
      streams: state.streams.size,
      boards: state.boards.count,
      cleanShutdown: replay.clean,
      renewedEpochs: renewed,
    };
    this.log.info(context, `history and leaderboards survive a restart: kept in ${config.path} (fsync ${config.fsync}); replayed ${replay.records} records in ${ms} ms`);
    if (renewed > 0) {
      this.log.warn(context, `the last run stopped without a clean shutdown under fsync ${replay.lastPolicy ?? 'unknown'}: ${renewed} streams get new epochs (clients reload their history)`);
    }
  }

  /** Rewrites the file as a snapshot of the live state (compaction); writes continue meanwhile. */
  compact(): Promise<void> {
    const data = this.data;
    if (data === undefined || this.closed) return Promise.resolve();
    this.rewriting ??= data
      .rewrite((w, flush) => writeSnapshot(this.state, w, this.clock.now(), flush))
      .then(
        ({ bytes, ms }) => {
          this.rewrites++;
          this.log.info({ bytes, ms: Math.round(ms) }, 'persistence: compacted the append-only file');
        },
        (err: unknown) => this.log.error({ err }, 'persistence: compaction failed; the old file is kept'),
      )
      .finally(() => {
        this.rewriting = undefined;
        this.rewrittenBytes = data.journal.bytes;
      });
    return this.rewriting;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.rewriting;
    await this.journal?.close();
  }

  stats(): Record<string, number> {
    const j = this.journal;
    if (j === undefined) return {};
    return { persistenceBytes: j.bytes, persistenceRecords: j.records, persistenceFailures: j.failures, persistenceRewrites: this.rewrites };
  }

  private grew(bytes: number): void {
    const { rewriteMinBytes, rewriteGrowthPercent } = this.config;
    if (this.rewriting !== undefined) return;
    if (bytes >= rewriteMinBytes && bytes >= this.rewrittenBytes * (1 + rewriteGrowthPercent / 100)) void this.compact();
  }
}
