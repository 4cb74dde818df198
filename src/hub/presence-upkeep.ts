// This node's presence entries: refreshed every third of their TTL while their subscriptions
// live (members of a node that stops doing this expire), and removed when they end, with the
// removals in flight kept so that shutdown can wait for them.

import type { Engine } from '../engine/types.js';
import type { Logger } from '../observability/index.js';
import type { Session, Subscription } from '../session.js';

export class PresenceUpkeep {
  private readonly timer: NodeJS.Timeout;
  private readonly removals = new Set<Promise<void>>();

  constructor(
    private readonly engine: Engine,
    private readonly ttlMs: number,
    sessions: Iterable<Session>,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => this.refresh(sessions), Math.max(1000, ttlMs / 3));
    this.timer.unref();
  }

  /** Removes a subscription's presence entry (its `present` flag goes at once). */
  remove(session: Session, sub: Subscription): void {
    sub.present = false;
    const name = sub.channel;
    const removal = this.engine
      .removePresence(name, session.info.client, { joinLeave: sub.namespace.joinLeave })
      .catch((err: unknown) => this.log.error({ err, channel: name }, 'presence removal failed'));
    // Shutdown waits for these, so other nodes see the leaves now rather than at presence expiry.
    this.removals.add(removal);
    void removal.finally(() => this.removals.delete(removal));
  }

  /** Stops refreshing (shutdown begins). */
  stop(): void {
    clearInterval(this.timer);
  }

  /** Resolves once the removals in flight are done. */
  async drained(): Promise<void> {
    await Promise.allSettled([...this.removals]);
  }

  private refresh(sessions: Iterable<Session>): void {
    for (const session of sessions) {
      for (const sub of session.subscriptions.values()) {
        if (!sub.present) continue;
        this.engine
          .addPresence(sub.channel, sub.member ?? session.info, { ttlMs: this.ttlMs, joinLeave: sub.namespace.joinLeave })
          .catch((err: unknown) => this.log.error({ err, channel: sub.channel }, 'presence update failed'));
      }
    }
  }
}
