// Server frames, built as strings. A publication's payload is already JSON text, so frames are
// concatenated around it rather than re-stringified: one encode per publication, whatever the
// number of subscribers, and the same string (or its bytes) goes to every one of them.

import type { ClientInfo, LeaderboardEntry, Publication } from '../engine/types.js';
import type { HubError } from './errors.js';

const str = JSON.stringify;

function fromField(from: ClientInfo | undefined): string {
  return from === undefined ? '' : `,"from":${str(from)}`;
}

/** `{"push":"pub",...}`: a live publication. */
export function publicationFrame(channel: string, pub: Publication, epoch: string): string {
  return `{"push":"pub","channel":${str(channel)},"offset":${pub.offset},"epoch":${str(epoch)},"data":${pub.data}${fromField(pub.from)}}`;
}

/** A publication inside a reply (subscribe recovery, history): the channel and epoch are given once. */
export function publicationJson(pub: Publication): string {
  return `{"offset":${pub.offset},"data":${pub.data},"time":${pub.time}${fromField(pub.from)}}`;
}

export function publicationsJson(pubs: readonly Publication[]): string {
  let out = '[';
  for (let i = 0; i < pubs.length; i++) out += (i === 0 ? '' : ',') + publicationJson(pubs[i] as Publication);
  return `${out}]`;
}

export function joinFrame(channel: string, member: ClientInfo): string {
  return `{"push":"join","channel":${str(channel)},"member":${str(member)}}`;
}

export function leaveFrame(channel: string, member: ClientInfo): string {
  return `{"push":"leave","channel":${str(channel)},"member":${str(member)}}`;
}

export function boardFrame(channel: string, entries: readonly LeaderboardEntry[]): string {
  return `{"push":"board","channel":${str(channel)},"entries":${str(entries)}}`;
}

/** The connection's token expires in `inMs`: send a `refresh` command with a new one before then. */
export function expiringFrame(inMs: number): string {
  return `{"push":"expiring","inMs":${Math.max(0, Math.round(inMs))}}`;
}

/** The server dropped a subscription it can no longer feed in order: subscribe again with `since`. */
export function resubscribeFrame(channel: string, reason: string): string {
  return `{"push":"resubscribe","channel":${str(channel)},"reason":${str(reason)}}`;
}

/** Sent just before the server closes a connection, so the client learns why and what to do. */
export function disconnectFrame(code: number, reason: string, reconnect: boolean): string {
  return `{"push":"disconnect","code":${code},"reason":${str(reason)},"reconnect":${reconnect}}`;
}

/** `resultJson` is already JSON text. */
export function replyFrame(id: number, resultJson: string): string {
  return `{"id":${id},"result":${resultJson}}`;
}

export function errorFrame(id: number, err: HubError): string {
  const details = err.details === undefined ? '' : `,"details":${str(err.details)}`;
  return `{"id":${id},"error":{"code":${str(err.code)},"message":${str(err.message)},"temporary":${err.temporary}${details}}}`;
}
