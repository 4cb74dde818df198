// Server-side subscriptions: channels a connection is subscribed to without asking, from the
// connect hook's answer, the token's `channels` claim, its user's personal channel, or a backend's
// POST /api/subscribe. At connect the client sends the last position it saw per channel (`subs`),
// and each server-side channel is recovered from there like a client subscription; the connect
// reply carries every one's subscribe result. Later ones arrive as `subscribed` pushes.

import type { Config } from '../config/index.js';
import type { StreamPosition } from '../engine/types.js';
import type { Logger } from '../observability/index.js';
import { isHubError } from '../protocol/index.js';
import type { Session } from '../session.js';

const str = JSON.stringify;

/** What a backend asked for (POST /api/subscribe or /api/unsubscribe), as it travels between nodes. */
export interface ServerSubscriptionOp {
  op: 'subscribe' | 'unsubscribe';
  channel: string;
  user?: string;
  client?: string;
}

export interface ServerSubsHost {
  serverSubscribe(session: Session, channel: string, since?: StreamPosition): Promise<{ result: string; after: () => void }>;
  serverUnsubscribe(session: Session, channel: string): boolean;
  /** This node's sessions, connected or not. */
  localSessions(): Iterable<Session>;
}

export class ServerSubscriptions {
  constructor(
    private readonly host: ServerSubsHost,
    private readonly personal: Config['personalChannels'],
    private readonly log: Logger,
  ) {}

  /** The personal channel of `user`, or undefined when they are off (or the user is anonymous). */
  personalChannel(user: string): string | undefined {
    return this.personal.enabled && user !== '' ? `${this.personal.namespace}:${user}` : undefined;
  }

  /**
   * Subscribes a connecting session to its server-side channels, each from the position the
   * client gave for it. Returns the `subs` field of the connect reply (JSON text, or '' when there
   * are none) and what runs once that reply is written. A channel the hub cannot serve (bad name,
   * unknown namespace: the backend's mistake) is logged and left out; the connect still succeeds.
   */
  async atConnect(session: Session, positions: Readonly<Record<string, StreamPosition>> | undefined): Promise<{ json: string; after: () => void }> {
    const channels = new Set(session.serverChannels);
    const personal = this.personalChannel(session.info.user);
    if (personal !== undefined) channels.add(personal);
    if (channels.size === 0) return { json: '', after: () => {} };
    const parts: string[] = [];
    const afters: (() => void)[] = [];
    for (const channel of channels) {
      try {
        const { result, after } = await this.host.serverSubscribe(session, channel, positions?.[channel]);
        parts.push(`${str(channel)}:${result}`);
        afters.push(after);
      } catch (err) {
        if (!session.isOpen) break;
        this.log.warn({ err, channel, client: session.info.client, user: session.info.user }, 'server-side subscription at connect failed; left out');
      }
    }
    return {
      json: `,"subs":{${parts.join(',')}}`,
      after: () => {
        for (const after of afters) after();
      },
    };
  }

  /** Applies a backend's request to the matching connected sessions of this node. */
  apply(op: ServerSubscriptionOp): void {
    for (const session of [...this.host.localSessions()]) {
      if (!session.connected || !session.isOpen) continue;
      if (op.user !== undefined ? session.info.user !== op.user : session.info.client !== op.client) continue;
      if (op.op === 'unsubscribe') {
        if (this.host.serverUnsubscribe(session, op.channel)) session.send(`{"push":"unsubscribed","channel":${str(op.channel)}}`);
        continue;
      }
      this.host.serverSubscribe(session, op.channel).then(
        ({ result, after }) => {
          session.send(`{"push":"subscribed","channel":${str(op.channel)},${result.slice(1)}`);
          after();
        },
        (err: unknown) => {
          // Already subscribed (e.g. by its token) is what was asked for.
          if (isHubError(err, 'already_subscribed') || !session.isOpen) return;
          this.log.warn({ err, channel: op.channel, client: session.info.client }, 'server-side subscribe failed');
        },
      );
    }
  }
}

/** A control message's fields, checked: anything on the control channel is read defensively. */
export function serverSubscriptionOp(m: Record<string, unknown>): ServerSubscriptionOp | undefined {
  if ((m.op !== 'subscribe' && m.op !== 'unsubscribe') || typeof m.channel !== 'string') return undefined;
  if (typeof m.user === 'string') return { op: m.op, channel: m.channel, user: m.user };
  if (typeof m.client === 'string') return { op: m.op, channel: m.channel, client: m.client };
  return undefined;
}
