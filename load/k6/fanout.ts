// k6 load script: VUs subscribe to one channel while one VU publishes; checks that every
// subscriber sees every publication in order and reports delivery latency as a k6 Trend.
// Run against a hub:  k6 run -e HUB=ws://127.0.0.1:8080/ws load/k6/fanout.ts
// Settings: CHANNEL (chat:k6), SUBSCRIBERS (200), PUBLISH_PER_S (100), DURATION_S (30),
// AUTH_SECRET (when the hub has auth on), SETTLE_S (2: the publisher starts then), DRAIN_S (3: it
// stops this long before the subscribers leave).
// (k6 runs TypeScript directly; `npm run typecheck` checks this file against @types/k6.)

import type { Options } from 'k6/options';
import { clearInterval, setInterval, setTimeout } from 'k6/timers';
import { connectParams, env, envNumber, Follower, HubSocket, type Position, target } from './lib/hub.ts';
import { errors, published } from './lib/metrics.ts';

const CHANNEL = env('CHANNEL', 'chat:k6');
const DURATION_S = envNumber('DURATION_S', 30);
const RATE = envNumber('PUBLISH_PER_S', 100);
const SETTLE_S = envNumber('SETTLE_S', 2);
const DRAIN_S = envNumber('DRAIN_S', 3);
const CAPS = { [CHANNEL]: ['subscribe', 'publish'] };

export const options: Options = {
  scenarios: {
    subscribers: { executor: 'constant-vus', vus: envNumber('SUBSCRIBERS', 200), duration: `${DURATION_S}s`, exec: 'subscriber' },
    publisher: { executor: 'per-vu-iterations', vus: 1, iterations: 1, maxDuration: `${DURATION_S}s`, exec: 'publisher', startTime: `${SETTLE_S}s` },
  },
  thresholds: {
    delivery_latency_ms: ['p(99)<50'],
    gaps: ['count==0'],
    errors: ['count==0'],
    deliveries: ['count>0'],
  },
};

export function subscriber(): void {
  const follower = new Follower(CHANNEL);
  const socket = new HubSocket(target.hub, {
    onOpen: () => {
      socket
        .request('connect', connectParams('k6-fanout', CAPS))
        .then(() => socket.request<Position>('subscribe', { channel: CHANNEL, joinLeave: false }))
        .then(
          (position) => follower.begin(position),
          () => errors.add(1),
        );
    },
    onPush: (push) => follower.onPush(push),
  });
  setTimeout(() => socket.close(), DURATION_S * 1000);
}

export function publisher(): void {
  const socket = new HubSocket(target.hub, {
    onOpen: () => {
      socket.request('connect', connectParams('k6-fanout-publisher', CAPS)).then(publish, () => errors.add(1));
    },
  });
  function publish(): void {
    const timer = setInterval(() => {
      socket.request('publish', { channel: CHANNEL, data: { t: Date.now() } }).then(
        () => published.add(1),
        () => errors.add(1),
      );
    }, 1000 / RATE);
    // Stop DRAIN_S before the subscribers leave, and close once the last replies are in.
    setTimeout(
      () => {
        clearInterval(timer);
        setTimeout(() => socket.close(), (DRAIN_S * 1000) / 2);
      },
      (DURATION_S - SETTLE_S - DRAIN_S) * 1000,
    );
  }
}
