// Property: whatever the wire does — lost and duplicated pushes, dropped connections,
// resubscribe pushes, trimmed history, a new epoch — a subscription emits each publication at
// most once, in order, never across a silent gap (every jump is announced by a `subscribed` with
// recovered: false), and ends at the stream's top. A simulated hub (the real one's rules:
// replies in order, live pushes after the subscribe reply) drives the real Subscription.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HubClient } from '../../client/src/client.js';
import { HubError, type Message, type SubscribedInfo, Subscription } from '../../client/src/index.js';

type Callback = (err: HubError | undefined, result: unknown) => void;
type Params = Record<string, unknown> & { since?: { offset: number; epoch: string } };

type Action =
  | { kind: 'publish' }
  | { kind: 'publishLost' }
  | { kind: 'duplicate'; back: number }
  | { kind: 'serve' }
  | { kind: 'deliver' }
  | { kind: 'drop' }
  | { kind: 'resubscribePush' }
  | { kind: 'trim' }
  | { kind: 'newEpoch' };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: 'publish' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'publishLost' as const }) },
  { weight: 1, arbitrary: fc.nat(5).map((back) => ({ kind: 'duplicate' as const, back })) },
  { weight: 4, arbitrary: fc.constant({ kind: 'serve' as const }) },
  { weight: 6, arbitrary: fc.constant({ kind: 'deliver' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'drop' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'resubscribePush' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'trim' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'newEpoch' as const }) },
);

type WireItem = { push: Record<string, unknown> } | { cb: Callback; err?: HubError; result?: unknown };

/** One channel's stream and one connection to it, with the hub's ordering rules. */
class SimulatedHub {
  epoch = 'e0';
  top = 0;
  /** Offsets at or below this are no longer held (trimmed, or before this epoch). */
  floor = 0;
  subscribed = false;
  lastSent = 0;
  /** Commands the hub has not run yet, in order. */
  inbox: { method: string; params: Params; cb: Callback }[] = [];
  /** What is on its way to the client, in order. */
  wire: WireItem[] = [];
  alreadySubscribed = 0;

  /** Stands in for HubClient: the subscription only calls these. */
  readonly client = {
    state: 'connected',
    _subs: new Map(),
    _delay: () => 0,
    _call: (method: string, params: Params, cb: Callback) => {
      this.inbox.push({ method, params, cb });
    },
  };

  publish(lost: boolean): void {
    this.top++;
    if (this.subscribed && !lost) this.sendPub(this.top);
  }

  sendPub(offset: number): void {
    this.lastSent = Math.max(this.lastSent, offset);
    this.wire.push({ push: { push: 'pub', channel: 'chat:p', offset, epoch: this.epoch, data: offset } });
  }

  serve(): void {
    const cmd = this.inbox.shift();
    if (!cmd) return;
    if (cmd.method === 'unsubscribe') {
      const was = this.subscribed;
      this.subscribed = false;
      this.wire.push({ cb: cmd.cb, ...(was ? { result: {} } : { err: new HubError('not_subscribed', 'x') }) });
      return;
    }
    if (this.subscribed) {
      this.alreadySubscribed++;
      this.wire.push({ cb: cmd.cb, err: new HubError('already_subscribed', 'x') });
      return;
    }
    this.subscribed = true;
    const since = cmd.params.since;
    const result: Record<string, unknown> = { offset: this.top, epoch: this.epoch };
    if (since) {
      const recoverable = since.epoch === this.epoch && since.offset >= this.floor && since.offset <= this.top;
      result.recovered = recoverable;
      if (recoverable) {
        result.publications = Array.from({ length: this.top - since.offset }, (_, i) => ({
          offset: since.offset + 1 + i,
          data: since.offset + 1 + i,
          time: 0,
        }));
      }
    }
    this.wire.push({ cb: cmd.cb, result });
    this.lastSent = this.top;
  }

  deliver(sub: Subscription): void {
    const item = this.wire.shift();
    if (!item) return;
    if ('push' in item) sub._push(item.push);
    else item.cb(item.err, item.result);
  }

  /** The socket drops: the client fails what it was waiting for, then reconnects and subscribes. */
  drop(sub: Subscription): void {
    const disconnected = new HubError('disconnected', 'dropped', true);
    const waiting = [...this.inbox.map((c) => c.cb), ...this.wire.flatMap((w) => ('cb' in w ? [w.cb] : []))];
    this.inbox = [];
    this.wire = [];
    this.subscribed = false;
    for (const cb of waiting) cb(disconnected, undefined);
    sub._reset();
    sub._subscribe();
  }
}

describe('Subscription recovery (property)', () => {
  it('emits every publication at most once, in order, with every jump announced, and ends at the top', () => {
    fc.assert(
      fc.property(fc.array(action, { maxLength: 120 }), (actions) => {
        const hub = new SimulatedHub();
        const sub = new Subscription(hub.client as unknown as HubClient, 'chat:p', {});
        hub.client._subs.set('chat:p', sub);
        const seen: (['message', Message] | ['subscribed', SubscribedInfo])[] = [];
        sub.on('message', (m) => seen.push(['message', m]));
        sub.on('subscribed', (s) => seen.push(['subscribed', s]));
        sub._subscribe();
        for (const a of actions) {
          switch (a.kind) {
            case 'publish':
            case 'publishLost':
              hub.publish(a.kind === 'publishLost');
              break;
            case 'duplicate':
              if (hub.subscribed && hub.lastSent > 0) hub.sendPub(Math.max(1, hub.lastSent - a.back));
              break;
            case 'serve':
              hub.serve();
              break;
            case 'deliver':
              hub.deliver(sub);
              break;
            case 'drop':
              hub.drop(sub);
              break;
            case 'resubscribePush':
              if (hub.subscribed) {
                hub.subscribed = false;
                hub.wire.push({ push: { push: 'resubscribe', channel: 'chat:p', reason: 'lost' } });
              }
              break;
            case 'trim':
              hub.floor = hub.top;
              break;
            case 'newEpoch':
              hub.epoch = `e${Number(hub.epoch.slice(1)) + 1}`;
              hub.top = 0;
              hub.floor = 0;
              hub.lastSent = 0;
              break;
          }
        }
        // Let everything in flight settle, then publish once more: a lost last push is only
        // detectable by the next one.
        const settle = () => {
          for (let i = 0; i < 1000 && (hub.inbox.length > 0 || hub.wire.length > 0); i++) {
            hub.serve();
            while (hub.wire.length > 0) hub.deliver(sub);
          }
        };
        settle();
        hub.publish(false);
        settle();
        expect(hub.inbox).toEqual([]);
        expect(hub.alreadySubscribed).toBe(0);

        let at: { offset: number; epoch: string } | undefined;
        for (const [type, e] of seen) {
          if (type === 'subscribed') {
            // recovered: true continues where the app is; false is the announced jump (reload).
            if (e.recovered) expect(e.epoch).toBe(at?.epoch);
            else at = { offset: e.offset, epoch: e.epoch };
          } else {
            expect(at).toBeDefined();
            expect([e.epoch, e.offset]).toEqual([at?.epoch, (at?.offset ?? 0) + 1]);
            at = { offset: e.offset, epoch: e.epoch };
          }
        }
        expect(at).toEqual({ offset: hub.top, epoch: hub.epoch });
        expect(sub.position).toEqual(at);
        expect(sub.state).toBe('subscribed');
      }),
      { numRuns: 500 },
    );
  });
});
