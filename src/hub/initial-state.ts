// What a new subscriber is told: its position, and what it missed or asked to see. A recovery
// past `recovery.maxPublications` is refused at once (`recovered: false`); one too large for a
// reply frame is handed back to be replayed after the reply, paced by the connection.

import type { Config, NamespaceConfig } from '../config/index.js';
import type { Engine, Publication, StreamOptions, StreamPosition } from '../engine/types.js';
import { type CommandOf, HubError, isHubError, publicationsJson } from '../protocol/index.js';

const str = JSON.stringify;

export interface InitialState {
  /** The subscribe reply's result, as JSON text. */
  result: string;
  /** The position the subscriber has once the reply (and any replay) is written. */
  top: StreamPosition;
  /** Missed publications to send after the reply, when they are too many bytes for it. */
  replay?: Publication[];
}

export async function initialState(
  engine: Engine,
  limits: Config['recovery'],
  channel: string,
  ns: NamespaceConfig,
  cmd: CommandOf<'subscribe'>,
): Promise<InitialState> {
  const options = streamOptions(ns);
  let publications: Publication[] = [];
  let recovered: boolean | undefined;
  let top: StreamPosition;
  if (cmd.since !== undefined) {
    try {
      // One more than the limit tells whether the limit is exceeded.
      ({ publications, top } = await engine.history(channel, { ...options, since: cmd.since, limit: limits.maxPublications + 1 }));
      recovered = publications.length <= limits.maxPublications;
      if (!recovered) publications = [];
    } catch (err) {
      if (!isHubError(err, 'unrecoverable_position')) throw err;
      ({ top } = await engine.history(channel, { ...options, limit: 0 }));
      recovered = false;
    }
    if (recovered && publications.length > 0 && replySize(publications) > limits.maxReplyBytes) {
      // Too much for one frame: the reply gives `since`, and the missed publications follow it.
      const result = `{"offset":${cmd.since.offset},"epoch":${str(top.epoch)},"recovered":true${await boardEntries(engine, channel, ns)}}`;
      return { result, top, replay: publications };
    }
  } else if (cmd.last !== undefined && cmd.last > 0) {
    ({ publications, top } = await engine.history(channel, { ...options, limit: cmd.last, reverse: true }));
    publications.reverse();
  } else {
    ({ top } = await engine.history(channel, { ...options, limit: 0 }));
  }
  let result = `{"offset":${top.offset},"epoch":${str(top.epoch)}`;
  if (recovered !== undefined) result += `,"recovered":${recovered}`;
  if (publications.length > 0) result += `,"publications":${publicationsJson(publications)}`;
  return { result: `${result}${await boardEntries(engine, channel, ns)}}`, top };
}

async function boardEntries(engine: Engine, channel: string, ns: NamespaceConfig): Promise<string> {
  if (ns.leaderboard === undefined) return '';
  return `,"entries":${str(await engine.leaderboardTop(channel, ns.leaderboard.top))}`;
}

/** The size of publications as the reply would hold them, without encoding them. */
function replySize(pubs: readonly Publication[]): number {
  let n = 0;
  for (const p of pubs) n += p.data.length + 64;
  return n;
}

export function notAvailable(what: string, channel: string): HubError {
  return new HubError('not_available', `${what} is not enabled for the namespace of ${channel}`);
}

/** The history policy of a namespace, as every write and read of its streams passes it. */
export function streamOptions(ns: NamespaceConfig): StreamOptions {
  return ns.history.size > 0 ? { history: { size: ns.history.size, ttlMs: ns.history.ttlMs } } : {};
}
