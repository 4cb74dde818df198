// The formats hubbub writes into Redis: pub/sub messages (publication, join, leave, board update,
// told apart by their first character) and stream entries. A publication's payload goes last and
// untouched, so it is never parsed or re-encoded on its way between nodes.

import type { ClientInfo, JsonValue, LeaderboardUpdate, Publication } from '../types.js';

export type TopicMessage =
  | { kind: 'publication'; publication: Publication; epoch: string }
  | { kind: 'join' | 'leave'; member: ClientInfo }
  | { kind: 'board'; update: LeaderboardUpdate };

/** Thrown for a message or entry that hubbub did not write (another app on the same prefix?). */
export class WireError extends Error {
  override readonly name = 'WireError';
}

/** JSON text of a member, as stored and announced. JSON.stringify never emits a raw newline. */
export function encodeClientInfo(member: ClientInfo): string {
  return JSON.stringify(member);
}

export function decodeClientInfo(json: string): ClientInfo {
  const value: unknown = JSON.parse(json);
  if (typeof value !== 'object' || value === null) throw new WireError('member is not an object');
  const { client, user, info } = value as Record<string, unknown>;
  if (typeof client !== 'string' || typeof user !== 'string') throw new WireError('member without client or user');
  // `info` came from JSON.parse, so it is JSON.
  return info === undefined ? { client, user } : { client, user, info: info as JsonValue };
}

/**
 * `p<offset> <epoch> <time>\n<from JSON or nothing>\n<data>`; built by the publish script, so this
 * is the only place that reads it.
 */
export function decodeTopicMessage(message: string): TopicMessage {
  switch (message.charCodeAt(0)) {
    case 0x70: {
      // 'p'
      const sp1 = message.indexOf(' ', 1);
      const sp2 = message.indexOf(' ', sp1 + 1);
      const nl1 = message.indexOf('\n', sp2 + 1);
      const nl2 = message.indexOf('\n', nl1 + 1);
      if (sp1 < 0 || sp2 < 0 || nl1 < 0 || nl2 < 0) throw new WireError('malformed publication message');
      const offset = Number(message.slice(1, sp1));
      const epoch = message.slice(sp1 + 1, sp2);
      const time = Number(message.slice(sp2 + 1, nl1));
      const data = message.slice(nl2 + 1);
      const publication: Publication =
        nl2 === nl1 + 1
          ? { offset, data, time }
          : { offset, data, time, from: decodeClientInfo(message.slice(nl1 + 1, nl2)) };
      return { kind: 'publication', publication, epoch };
    }
    case 0x6a: // 'j'
      return { kind: 'join', member: decodeClientInfo(message.slice(1)) };
    case 0x6c: // 'l'
      return { kind: 'leave', member: decodeClientInfo(message.slice(1)) };
    case 0x62: {
      // 'b': `b<score or nothing>\n<member>`
      const nl = message.indexOf('\n');
      if (nl < 0) throw new WireError('malformed board message');
      const member = message.slice(nl + 1);
      return { kind: 'board', update: { member, score: nl === 1 ? null : parseScore(message.slice(1, nl)) } };
    }
    default:
      throw new WireError(`unknown message kind ${JSON.stringify(message.slice(0, 1))}`);
  }
}

/** Redis prints scores with up to 17 significant digits, which round-trip exactly; -0 becomes 0. */
export function parseScore(text: string): number {
  return Number(text) + 0;
}

/**
 * Stream entries as XRANGE returns them: `[id, [field, value, ...]]`, id `<offset>-0`, fields
 * `t` (time), `d` (data) and, when there is an author, `f` (ClientInfo JSON).
 */
export function decodeEntries(raw: unknown): Publication[] {
  if (!Array.isArray(raw)) throw new WireError('stream entries are not an array');
  const out: Publication[] = [];
  for (const entry of raw as unknown[]) {
    if (!Array.isArray(entry)) throw new WireError('stream entry is not an array');
    const [id, fields] = entry as [unknown, unknown];
    if (typeof id !== 'string' || !Array.isArray(fields)) throw new WireError('malformed stream entry');
    let time = 0;
    let data: string | undefined;
    let from: ClientInfo | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name: unknown = fields[i];
      const value: unknown = fields[i + 1];
      if (typeof value !== 'string') continue;
      if (name === 't') time = Number(value);
      else if (name === 'd') data = value;
      else if (name === 'f') from = decodeClientInfo(value);
    }
    if (data === undefined) throw new WireError(`stream entry ${id} has no data`);
    const offset = Number.parseInt(id, 10);
    out.push(from === undefined ? { offset, data, time } : { offset, data, time, from });
  }
  return out;
}
