// Live dashboard: a few backends publish points through the HTTP API at a fixed total rate
// (PUBLISH_PER_S, spread over CHANNELS channels), and many viewers (SUBSCRIBERS) each follow one
// channel. Measures delivery latency and checks every viewer gets every point in order: a skipped
// offset counts in `gaps`, and what its channel holds past a viewer's last point at the end in `lost`.
//
// Run (the channels' namespace needs history for the end check; the default `chat` has it):
//   k6 run -e HUB=ws://127.0.0.1:8080/ws -e API=http://127.0.0.1:8080 -e API_KEY=<an api.keys entry> \
//     -e SUBSCRIBERS=500 -e CHANNELS=4 -e PUBLISH_PER_S=20 -e DURATION_S=60 load/k6/dashboard.ts
// Also: PUBLISHERS (2 VUs publishing), SETTLE_S (2: publishing starts once viewers are in),
// DRAIN_S (3), NAMESPACE (chat), AUTH_SECRET (when the hub has auth on).

import exec from 'k6/execution';
import type { Options } from 'k6/options';
import { setTimeout } from 'k6/timers';
import { apiPost, connectParams, env, envNumber, Follower, HubSocket, type Position, target } from './lib/hub.ts';
import { errors, published } from './lib/metrics.ts';

const SUBSCRIBERS = envNumber('SUBSCRIBERS', 500);
const CHANNELS = envNumber('CHANNELS', 4);
const PUBLISHERS = envNumber('PUBLISHERS', 2);
const RATE = envNumber('PUBLISH_PER_S', 20);
const DURATION_S = envNumber('DURATION_S', 60);
const SETTLE_S = envNumber('SETTLE_S', 2);
const DRAIN_S = envNumber('DRAIN_S', 3);
const NAMESPACE = env('NAMESPACE', 'chat');

const channel = (n: number) => `${NAMESPACE}:k6-dash-${n % CHANNELS}`;

export const options: Options = {
  scenarios: {
    viewers: { executor: 'per-vu-iterations', vus: SUBSCRIBERS, iterations: 1, maxDuration: `${DURATION_S + 30}s`, exec: 'viewer' },
    feed: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      startTime: `${SETTLE_S}s`,
      duration: `${DURATION_S - SETTLE_S - DRAIN_S}s`,
      preAllocatedVUs: PUBLISHERS,
      maxVUs: PUBLISHERS,
      exec: 'publish',
    },
  },
  thresholds: {
    delivery_latency_ms: ['p(99)<250'],
    gaps: ['count==0'],
    lost: ['count==0'],
    errors: ['count==0'],
    deliveries: ['count>0'],
  },
};

/** One viewer: follows one channel from the start to the end of the test, then checks the tail. */
export function viewer(): void {
  const me = exec.scenario.iterationInTest;
  const follower = new Follower(channel(me));
  const endAt = exec.scenario.startTime + DURATION_S * 1000;
  let done = false;
  const socket = new HubSocket(target.hub, {
    onOpen: () => void session(),
    onPush: (push) => {
      if (push.push === 'disconnect') errors.add(1);
      else follower.onPush(push);
    },
    onClose: () => {
      if (!done) errors.add(1);
    },
  });

  async function session(): Promise<void> {
    try {
      await socket.request('connect', connectParams(`k6-viewer-${me}`, { [`${NAMESPACE}:*`]: ['subscribe', 'history'] }));
      follower.begin(await socket.request<Position>('subscribe', { channel: follower.channel, joinLeave: false }));
    } catch {
      errors.add(1);
      done = true;
      socket.close();
      return;
    }
    setTimeout(() => void finish(), Math.max(0, endAt - Date.now()));
  }

  async function finish(): Promise<void> {
    await follower.countMissing(socket);
    done = true;
    socket.close();
  }
}

/** One point from a backend, round-robin over the channels. */
export async function publish(): Promise<void> {
  const res = await apiPost('publish', { channel: channel(exec.scenario.iterationInTest), data: { t: Date.now(), v: Math.random() } });
  if (res.status === 200) published.add(1);
  else errors.add(1);
}
