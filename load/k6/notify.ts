// Notification push: every VU is a user whose connection the hub subscribes, on the server
// side, to its personal channel (`personalChannels`: `<namespace>:<user>`), and a backend POSTs
// notifications to random users through the HTTP API (`/api/publish` with `user`) at
// PUSH_PER_S. Every user must get its own notifications, in order, and nobody else's; delivery
// latency is measured from the backend's send time.
//
// Run against a hub with auth on and personal channels:
//   {"auth":{"hmacSecret":"<secret>"},"api":{"keys":["<key>"]},"personalChannels":{"enabled":true},
//    "namespaces":{"personal":{"history":{"size":100}}}}
//   k6 run -e HUB=ws://127.0.0.1:8080/ws -e API=http://127.0.0.1:8080 -e API_KEY=<key> \
//     -e AUTH_SECRET=<secret> -e USERS=1000 -e PUSH_PER_S=100 -e DURATION_S=60 load/k6/notify.ts
// Tokens are HS256, signed in the script with AUTH_SECRET (sub k6-user-<n>, `history` on its own
// channel for the end check). Also: BACKENDS (2 VUs), SETTLE_S (2), DRAIN_S (3), NAMESPACE (personal).

import exec from 'k6/execution';
import type { Options } from 'k6/options';
import { setTimeout } from 'k6/timers';
import { apiPost, env, envNumber, Follower, HubSocket, type Position, target, userToken } from './lib/hub.ts';
import { errors, published } from './lib/metrics.ts';

const USERS = envNumber('USERS', 1000);
const BACKENDS = envNumber('BACKENDS', 2);
const RATE = envNumber('PUSH_PER_S', 100);
const DURATION_S = envNumber('DURATION_S', 60);
const SETTLE_S = envNumber('SETTLE_S', 2);
const DRAIN_S = envNumber('DRAIN_S', 3);
const NAMESPACE = env('NAMESPACE', 'personal');

const userName = (n: number) => `k6-user-${n}`;

export const options: Options = {
  scenarios: {
    users: { executor: 'per-vu-iterations', vus: USERS, iterations: 1, maxDuration: `${DURATION_S + 30}s`, exec: 'user' },
    backend: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      startTime: `${SETTLE_S}s`,
      duration: `${DURATION_S - SETTLE_S - DRAIN_S}s`,
      preAllocatedVUs: BACKENDS,
      maxVUs: BACKENDS,
      exec: 'notify',
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

interface ConnectResult {
  user: string;
  subs?: Record<string, Position>;
}

/** One user, connected for the whole test; the hub subscribed it to its channel at connect. */
export function user(): void {
  const me = userName(exec.scenario.iterationInTest);
  const follower = new Follower(`${NAMESPACE}:${me}`);
  const endAt = exec.scenario.startTime + DURATION_S * 1000;
  let done = false;
  const socket = new HubSocket(target.hub, {
    onOpen: () => void session(),
    onPush: (push) => {
      // Anything but its own channel's publications is someone else's notification, or trouble.
      if (push.push === 'disconnect' || (push.push === 'pub' && !follower.onPush(push))) errors.add(1);
    },
    onClose: () => {
      if (!done) errors.add(1);
    },
  });

  async function session(): Promise<void> {
    try {
      const result = await socket.request<ConnectResult>('connect', { token: userToken(me, { [follower.channel]: ['history'] }) });
      const sub = result.subs?.[follower.channel];
      if (sub === undefined) throw new Error('no personal channel in the connect reply: is personalChannels on?');
      follower.begin(sub);
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

/** The backend: one notification to a random user. */
export async function notify(): Promise<void> {
  const to = userName(Math.floor(Math.random() * USERS));
  const res = await apiPost('publish', { user: to, data: { t: Date.now(), kind: 'k6' } });
  if (res.status === 200) published.add(1);
  else errors.add(1);
}
