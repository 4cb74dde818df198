// Connection churn: VUS clients in a loop of connect, subscribe to one of CHANNELS channels,
// receive for HOLD_MS, disconnect, and again, while a backend feeds the channels through the
// HTTP API at FEED_PER_S. Measures the time to a `connect` reply (from opening the socket:
// TCP + upgrade + connect) and to a `subscribe` reply, and counts failures; each short session
// still checks its deliveries are in order.
//
// Run:
//   k6 run -e HUB=ws://127.0.0.1:8080/ws -e API=http://127.0.0.1:8080 -e API_KEY=<an api.keys entry> \
//     -e VUS=200 -e HOLD_MS=2000 -e DURATION_S=60 load/k6/churn.ts
// Also: CHANNELS (10), FEED_PER_S (20), NAMESPACE (chat), AUTH_SECRET (when the hub has auth on).
// Mind `server.maxConnectionsPerIp` (1,000): every VU of one k6 process comes from one address.

import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { setTimeout } from 'k6/timers';
import { apiPost, connectParams, env, envNumber, Follower, HubSocket, type Position, target } from './lib/hub.ts';
import { errors, published } from './lib/metrics.ts';

const VUS = envNumber('VUS', 200);
const HOLD_MS = envNumber('HOLD_MS', 2000);
const CHANNELS = envNumber('CHANNELS', 10);
const FEED_RATE = envNumber('FEED_PER_S', 20);
const DURATION_S = envNumber('DURATION_S', 60);
const NAMESPACE = env('NAMESPACE', 'chat');

const channel = (n: number) => `${NAMESPACE}:k6-churn-${n % CHANNELS}`;

export const options: Options = {
  scenarios: {
    churn: { executor: 'constant-vus', vus: VUS, duration: `${DURATION_S}s`, gracefulStop: `${Math.ceil(HOLD_MS / 1000) + 5}s`, exec: 'session' },
    feed: { executor: 'constant-arrival-rate', rate: FEED_RATE, timeUnit: '1s', duration: `${DURATION_S}s`, preAllocatedVUs: 2, maxVUs: 2, exec: 'feed' },
  },
  thresholds: {
    connect_ms: ['p(95)<500'],
    subscribe_ms: ['p(95)<100'],
    sessions: ['count>0'],
    errors: ['count==0'],
    gaps: ['count==0'],
    delivery_latency_ms: ['p(99)<250'],
  },
};

const connectMs = new Trend('connect_ms', true);
const subscribeMs = new Trend('subscribe_ms', true);
const sessions = new Counter('sessions');

/** One short session; the VU then starts the next. */
export function session(): void {
  const follower = new Follower(channel(exec.vu.iterationInScenario + exec.vu.idInTest));
  const opened = Date.now();
  let done = false;
  const socket = new HubSocket(target.hub, {
    onOpen: () => void run(),
    onPush: (push) => {
      if (push.push === 'disconnect') errors.add(1);
      else follower.onPush(push);
    },
    onClose: () => {
      if (!done) errors.add(1);
    },
  });

  async function run(): Promise<void> {
    try {
      await socket.request('connect', connectParams(`k6-churn-${exec.vu.idInTest}`, { [`${NAMESPACE}:*`]: ['subscribe'] }));
      connectMs.add(Date.now() - opened);
      const asked = Date.now();
      follower.begin(await socket.request<Position>('subscribe', { channel: follower.channel, joinLeave: false }));
      subscribeMs.add(Date.now() - asked);
      sessions.add(1);
    } catch {
      errors.add(1);
      done = true;
      socket.close();
      return;
    }
    setTimeout(() => {
      done = true;
      socket.close();
    }, HOLD_MS);
  }
}

/** The feed, round-robin over the channels. */
export async function feed(): Promise<void> {
  const res = await apiPost('publish', { channel: channel(exec.scenario.iterationInTest), data: { t: Date.now() } });
  if (res.status === 200) published.add(1);
  else errors.add(1);
}
