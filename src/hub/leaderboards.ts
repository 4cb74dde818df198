// Leaderboard channels: live top-N pushes coalesced to one per board per interval, and the
// leaderboard commands (reads need a subscription; `incr` needs the namespace's clientIncr and the
// capability).

import type { NamespaceConfig } from '../config/index.js';
import type { Engine } from '../engine/types.js';
import type { Logger } from '../observability/index.js';
import { boardFrame, type CommandOf, HubError } from '../protocol/index.js';
import type { Session } from '../session.js';
import type { Channel, Delivery } from './delivery.js';
import { notAvailable } from './initial-state.js';

const str = JSON.stringify;

/** At most one push of the top-N per board per interval, and only when it changed. */
export function coalesceBoardUpdate(board: string, channels: ReadonlyMap<string, Channel>, engine: Engine, delivery: Delivery, log: Logger): void {
  const ch = channels.get(board);
  const options = ch?.namespace.leaderboard;
  if (ch === undefined || options === undefined || ch.boardTimer !== undefined) return;
  ch.boardTimer = setTimeout(() => {
    ch.boardTimer = undefined;
    engine.leaderboardTop(board, options.top).then(
      (entries) => {
        const json = str(entries);
        if (json === ch.lastBoard || channels.get(board) !== ch) return;
        ch.lastBoard = json;
        delivery.fanOut(ch, board, boardFrame(board, entries));
      },
      (err: unknown) => log.error({ err, board }, 'leaderboard update failed'),
    );
  }, options.updateIntervalMs);
}

/** Runs one leaderboard command; `authorizeIncr` throws when the connection may not increment. */
export async function leaderboardCommand(
  engine: Engine,
  session: Session,
  cmd: CommandOf<'top' | 'rank' | 'around' | 'incr'>,
  ns: NamespaceConfig,
  authorizeIncr: () => void,
): Promise<string> {
  const board = ns.leaderboard;
  if (board === undefined) throw notAvailable('leaderboards', cmd.channel);
  if (cmd.method === 'incr') {
    if (!board.clientIncr) {
      throw new HubError('forbidden', `clients may not change ${cmd.channel}; use the server API`);
    }
    authorizeIncr();
    const options = board.maxMembers === undefined ? {} : { maxMembers: board.maxMembers };
    return str({ score: await engine.leaderboardIncr(cmd.channel, cmd.member, cmd.by, options) });
  }
  if (!session.subscriptions.has(cmd.channel)) {
    throw new HubError('not_subscribed', `subscribe to ${cmd.channel} before reading it`);
  }
  switch (cmd.method) {
    case 'top':
      return str({ entries: await engine.leaderboardTop(cmd.channel, cmd.limit ?? board.top, cmd.offset ?? 0) });
    case 'rank': {
      const [rank, score] = await Promise.all([engine.leaderboardRank(cmd.channel, cmd.member), engine.leaderboardScore(cmd.channel, cmd.member)]);
      return str({ rank, score });
    }
    case 'around':
      return str({ entries: await engine.leaderboardAround(cmd.channel, cmd.member, cmd.n ?? 5) });
  }
}
