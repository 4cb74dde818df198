// This node's presence entries: refreshed every third of their TTL while their subscriptions
// live (members of a node that stops doing this expire), and removed when they end, with the
// removals in flight kept so that shutdown can wait for them. The refresh visits the present
// subscriptions only, never every connection.

import type { Engine } from '../engine/types.js';
import type { Logger } from '../observability/index.js';
import type { Session, Subscription } from '../session.js';

export class PresenceUpkeep {
  private readonly timer: NodeJS.Timeout;
  private readonly removals = new Set<Promise<void>>();
  /** The subscriptions whose presence entry this node keeps, and their sessions. */
  private readonly present = new Map<Subscription, Session>();

  constructor(
    private readonly engine: Engine,
    private readonly ttlMs: number,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => this.refresh(), Math.max(1000, ttlMs / 3));
    this.timer.unref();
  }

  /** The subscription's presence entry was added: it is refreshed from now on. */
  added(session: Session, sub: Subscription): void {
    sub.present = true;
    this.present.set(sub, session);
  }

  /** Removes a subscription's presence entry (its `present` flag goes at once). */
  remove(session: Session, sub: Subscription): void {
    sub.present = false;
    this.present.delete(sub);
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

  private refresh(): void {
    for (const [sub, session] of this.present) {
      this.engine
        .addPresence(sub.channel, sub.member ?? session.info, { ttlMs: this.ttlMs, joinLeave: sub.namespace.joinLeave })
        .catch((err: unknown) => this.log.error({ err, channel: sub.channel }, 'presence update failed'));
    }
  }
}
