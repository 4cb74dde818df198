// The hub's side of the operator console (src/console/): which connections came in on a console
// ticket, and the internal channels (`$hubbub:...`, which no client can name) only they may
// subscribe to. The console itself plugs in as an OperatorDoor; without one, nobody is an operator.

import type { NamespaceConfig } from '../config/index.js';
import { HubError } from '../protocol/index.js';
import type { Session } from '../session.js';

export interface OperatorDoor {
  /** Whether `token` is a live ticket; a ticket is used up by this check. */
  admit(token: string): boolean;
  ticket(): string;
  /** Internal channels operators may subscribe to, with their options. */
  readonly channels: ReadonlyMap<string, NamespaceConfig>;
  /** A control message that is not the hub's own. */
  control(message: Record<string, unknown>): void;
}

export class Operators {
  private door: OperatorDoor | undefined;
  private readonly sessions = new WeakSet<Session>();

  use(door: OperatorDoor): void {
    this.door = door;
  }

  /** A one-use ticket for the console's WebSocket; `not_available` when the console is off. */
  ticket(): string {
    if (this.door === undefined) throw new HubError('not_available', 'the console is off on this hub (console.enabled)');
    return this.door.ticket();
  }

  /** At `connect`: true (and the session is an operator's) when its token is a live ticket. */
  admit(session: Session, token: string | undefined): boolean {
    if (token === undefined || this.door?.admit(token) !== true) return false;
    this.sessions.add(session);
    return true;
  }

  /** The options of an internal channel this session may subscribe to; undefined for anything else. */
  channel(session: Session, channel: string): NamespaceConfig | undefined {
    return this.sessions.has(session) ? this.door?.channels.get(channel) : undefined;
  }

  control(message: unknown): void {
    if (typeof message === 'object' && message !== null && !Array.isArray(message)) {
      this.door?.control(message as Record<string, unknown>);
    }
  }
}
