// Shared by the persistence tests: engines on real files in a temp dir, and their whole readable state.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryEngine, type MemoryEngineOptions } from '../../../../../src/engine/index.js';
import type { EngineHandler, HistoryResult, LeaderboardEntry } from '../../../../../src/engine/types.js';
import { type Clock, ManualClock } from '../../../../../src/util/clock.js';

export const quiet: EngineHandler = {
  onPublication: () => {},
  onJoin: () => {},
  onLeave: () => {},
  onLeaderboardUpdate: () => {},
  onUnrecoverable: () => {},
};

export function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'hubbub-aof-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export type PersistOptions = Partial<NonNullable<MemoryEngineOptions['persistence']>>;

export async function openEngine(
  path: string,
  persistence: PersistOptions = {},
  options: Omit<MemoryEngineOptions, 'persistence'> & { clock?: Clock } = {},
): Promise<MemoryEngine> {
  const engine = new MemoryEngine({ clock: new ManualClock(), ...options, persistence: { path, fsync: 'always', ...persistence } });
  await engine.start(quiet);
  return engine;
}

export interface Snapshot {
  streams: Record<string, HistoryResult>;
  boards: Record<string, LeaderboardEntry[]>;
}

/** Everything a client could read from the given channels and boards. */
export async function readState(engine: MemoryEngine, channels: readonly string[], boards: readonly string[]): Promise<Snapshot> {
  const out: Snapshot = { streams: {}, boards: {} };
  for (const c of channels) {
    const h = await engine.history(c);
    // A channel without a stream answers with a fresh epoch each time: only its offset is state.
    out.streams[c] = h.top.offset === 0 && h.publications.length === 0 ? { publications: [], top: { offset: 0, epoch: '-' } } : h;
  }
  for (const b of boards) out.boards[b] = await engine.leaderboardTop(b, 1000);
  return out;
}
