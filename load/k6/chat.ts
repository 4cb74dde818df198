// Chat rooms: ROOMS rooms of MEMBERS members; each member subscribes to its room and says
// something every MESSAGE_EVERY_S seconds (a human rate, started at a random moment), and every
// member must receive everything said in its room, in order: a skipped offset counts in `gaps`,
// and what the room holds past a member's last delivery at the end counts in `lost`.
//
// Run (a hub whose `chat` namespace lets clients publish and keeps history, as the default does):
//   k6 run -e HUB=ws://127.0.0.1:8080/ws -e ROOMS=100 -e MEMBERS=10 -e DURATION_S=60 load/k6/chat.ts
// With auth on, add -e AUTH_SECRET=<auth.hmacSecret>: each member then connects with an HS256
// token for user k6-<n>. Other settings: MESSAGE_EVERY_S (5), DRAIN_S (3: publishing stops this
// long before the end, so the last messages can arrive), NAMESPACE (chat).

import exec from 'k6/execution';
import type { Options } from 'k6/options';
import { setTimeout } from 'k6/timers';
import { connectParams, env, envNumber, Follower, HubSocket, type Position, target } from './lib/hub.ts';
import { errors, published } from './lib/metrics.ts';

const ROOMS = envNumber('ROOMS', 100);
const MEMBERS = envNumber('MEMBERS', 10);
const EVERY_MS = envNumber('MESSAGE_EVERY_S', 5) * 1000;
const DURATION_MS = envNumber('DURATION_S', 60) * 1000;
const DRAIN_MS = envNumber('DRAIN_S', 3) * 1000;
const NAMESPACE = env('NAMESPACE', 'chat');

export const options: Options = {
  scenarios: {
    members: {
      executor: 'per-vu-iterations',
      vus: ROOMS * MEMBERS,
      iterations: 1,
      maxDuration: `${Math.ceil(DURATION_MS / 1000) + 30}s`,
      exec: 'member',
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

/** One member's whole session: connect, join the room, talk until the end, check, leave. */
export function member(): void {
  const me = exec.scenario.iterationInTest;
  const room = `${NAMESPACE}:k6-room-${Math.floor(me / MEMBERS) % ROOMS}`;
  // Every member keeps the same clock: the scenario's start, not its own.
  const stopTalkingAt = exec.scenario.startTime + DURATION_MS - DRAIN_MS;
  const endAt = exec.scenario.startTime + DURATION_MS;
  const follower = new Follower(room);
  let done = false;
  let said = 0;

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
      await socket.request('connect', connectParams(`k6-${me}`, { [`${NAMESPACE}:*`]: ['subscribe', 'publish', 'history'] }));
      follower.begin(await socket.request<Position>('subscribe', { channel: room, joinLeave: false }));
    } catch {
      errors.add(1);
      done = true;
      socket.close();
      return;
    }
    setTimeout(talk, Math.random() * EVERY_MS);
    setTimeout(() => void finish(), Math.max(0, endAt - Date.now()));
  }

  function talk(): void {
    if (Date.now() >= stopTalkingAt || socket.closed) return;
    said++;
    socket.request('publish', { channel: room, data: { t: Date.now(), from: me, n: said } }).then(
      () => published.add(1),
      () => errors.add(1),
    );
    setTimeout(talk, EVERY_MS);
  }

  async function finish(): Promise<void> {
    await follower.countMissing(socket);
    done = true;
    socket.close();
  }
}
