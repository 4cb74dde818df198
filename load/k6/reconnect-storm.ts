// Reconnect storm: SUBSCRIBERS clients follow CHANNELS channels (with history) while a backend
// publishes through the HTTP API. When the operator restarts the hub, every socket closes and
// every VU reconnects at once (RETRY_MS between attempts while the hub is down) and resubscribes
// `since` the last offset it saw. It must get exactly what it missed: the publications after
// that offset, in order, then live ones with no gap and no repeat. The hub may say it cannot
// (`recovered: false`, a new epoch): that is counted in `reported_gaps`. A gap the hub did not
// report is counted in `silent_gaps`, which must stay 0.
//
// Run: start a hub whose offsets survive a restart, e.g. the default `chat` namespace (history
// 100 per channel: enough for PUBLISH_PER_S / CHANNELS * the restart's seconds) with
//   hubbub --data-dir /tmp/hubbub-data --config hub.json      (hub.json: {"api":{"keys":["<key>"]}})
//   k6 run -e HUB=ws://127.0.0.1:8080/ws -e API=http://127.0.0.1:8080 -e API_KEY=<key> \
//     -e SUBSCRIBERS=500 -e DURATION_S=60 load/k6/reconnect-storm.ts
// and, half way through, restart the hub: Ctrl-C (or SIGTERM) and start it again with the same
// flags. A graceful stop keeps the epochs, so everyone should resume (`resumes`) and
// `reported_gaps` stay 0; a SIGKILL under fsync everysec renews them, and then every subscriber
// gets `recovered: false` (reported, not silent). `resumes: count>0` fails a run with no restart.
// Also: CHANNELS (10), PUBLISH_PER_S (50), RETRY_MS (250), JITTER_MS (0: all at once),
// SETTLE_S (2), DRAIN_S (3), NAMESPACE (chat), AUTH_SECRET (when the hub has auth on).

import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { setTimeout } from 'k6/timers';
import {
  apiPost,
  asPublication,
  connectParams,
  env,
  envNumber,
  HubError,
  HubSocket,
  missingAtEnd,
  type Position,
  type Push,
  sentAt,
  StreamCursor,
  target,
} from './lib/hub.ts';
import { deliveries, errors, latency, lost, published } from './lib/metrics.ts';

const SUBSCRIBERS = envNumber('SUBSCRIBERS', 500);
const CHANNELS = envNumber('CHANNELS', 10);
const RATE = envNumber('PUBLISH_PER_S', 50);
const DURATION_S = envNumber('DURATION_S', 60);
const SETTLE_S = envNumber('SETTLE_S', 2);
const DRAIN_S = envNumber('DRAIN_S', 3);
const RETRY_MS = envNumber('RETRY_MS', 250);
const JITTER_MS = envNumber('JITTER_MS', 0);
const NAMESPACE = env('NAMESPACE', 'chat');

const channel = (n: number) => `${NAMESPACE}:k6-storm-${n % CHANNELS}`;

export const options: Options = {
  scenarios: {
    subscribers: { executor: 'per-vu-iterations', vus: SUBSCRIBERS, iterations: 1, maxDuration: `${DURATION_S + 30}s`, exec: 'subscriber' },
    feed: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      startTime: `${SETTLE_S}s`,
      duration: `${DURATION_S - SETTLE_S - DRAIN_S}s`,
      preAllocatedVUs: 4,
      maxVUs: 20, // requests to a hub that is going down may hang a while: more VUs keep the rate
      exec: 'publish',
    },
  },
  thresholds: {
    silent_gaps: ['count==0'],
    unresumed: ['count==0'],
    lost: ['count==0'],
    errors: ['count==0'],
    resumes: ['count>0'],
    deliveries: ['count>0'],
    delivery_latency_ms: ['p(95)<250'],
  },
};

/** Publications that never arrived and that the hub never owned up to. */
const silentGaps = new Counter('silent_gaps');
/** Resubscriptions the hub answered `recovered: false`: it said it could not replay. */
const reportedGaps = new Counter('reported_gaps');
/** Resubscriptions that got every missed publication back. */
const resumes = new Counter('resumes');
/** Missed publications replayed on resubscription. */
const recoveredPubs = new Counter('recovered_publications');
/** From the socket closing to the recovered subscribe reply, ms. */
const recoveryMs = new Trend('recovery_ms', true);
/** Connection attempts after a close (many fail while the hub is down: not an error). */
const reconnects = new Counter('reconnect_attempts');
/** VUs not connected when the test ended: they never got back. */
const unresumed = new Counter('unresumed');
/** HTTP publishes that failed (expected while the hub is down; not a threshold). */
const publishFailures = new Counter('publish_failures');

interface SubscribeResult extends Position {
  recovered?: boolean;
  publications?: { offset: number; data: unknown }[];
}

/** One subscriber for the whole test, across as many reconnections as it takes. */
export function subscriber(): void {
  const me = exec.scenario.iterationInTest;
  const ch = channel(me);
  const endAt = exec.scenario.startTime + DURATION_S * 1000;
  /** The last position seen: kept across sockets, it is what `since` resumes from. */
  let cursor: StreamCursor | undefined;
  /** Offsets up to this came in a recovery (not live): no latency for them. */
  let liveAfter = 0;
  let droppedAt: number | undefined;
  let subscribed = false;
  let finished = false;
  let socket = open();

  setTimeout(() => void finish(), Math.max(0, endAt - Date.now()));

  function open(): HubSocket {
    const s: HubSocket = new HubSocket(target.hub, {
      onOpen: () => void subscribe(s, true),
      onPush: (push) => onPush(s, push),
      onClose: () => {
        subscribed = false;
        if (finished) return;
        droppedAt ??= Date.now();
        setTimeout(
          () => {
            if (finished) return;
            reconnects.add(1);
            socket = open();
          },
          RETRY_MS + Math.random() * JITTER_MS,
        );
      },
    });
    return s;
  }

  /** (Re)subscribes `since` the cursor, and checks what the hub replays. */
  async function subscribe(s: HubSocket, connect: boolean): Promise<void> {
    try {
      if (connect) await s.request('connect', connectParams(`k6-storm-${me}`, { [`${NAMESPACE}:*`]: ['subscribe', 'history'] }));
      const since = cursor === undefined ? {} : { since: cursor.position };
      const reply = await s.request<SubscribeResult>('subscribe', { channel: ch, joinLeave: false, ...since });
      subscribed = true;
      liveAfter = reply.offset;
      if (cursor === undefined) {
        cursor = new StreamCursor(reply);
      } else if (reply.recovered === true) {
        for (const p of reply.publications ?? []) see({ offset: p.offset, epoch: reply.epoch }, false);
        resumes.add(1);
        if (droppedAt !== undefined) recoveryMs.add(Date.now() - droppedAt);
      } else {
        reportedGaps.add(1);
        cursor = new StreamCursor(reply);
      }
      droppedAt = undefined;
    } catch (err) {
      // A socket closing mid-request is the restart itself; the close handler reconnects.
      if (!(err instanceof HubError && err.code === 'closed')) {
        errors.add(1);
        s.close();
      }
    }
  }

  function onPush(s: HubSocket, push: Push): void {
    if (push.push === 'resubscribe' && push.channel === ch) {
      subscribed = false;
      void subscribe(s, false);
      return;
    }
    const p = asPublication(push);
    if (p === undefined || p.channel !== ch) return;
    const t = sentAt(p.data);
    if (t !== undefined && p.offset > liveAfter) latency.add(Date.now() - t);
    see(p, p.offset > liveAfter);
  }

  function see(p: Position, live: boolean): void {
    deliveries.add(1);
    if (!live) recoveredPubs.add(1);
    if (cursor === undefined) {
      errors.add(1); // a publication before any subscribe reply: the protocol says never
      return;
    }
    const before = cursor.position.offset;
    const seen = cursor.see(p);
    if (seen === 'gap') silentGaps.add(p.offset - before - 1);
    else if (seen === 'epoch') silentGaps.add(1); // a new epoch not announced by recovered: false
    else if (seen === 'repeat') errors.add(1);
  }

  async function finish(): Promise<void> {
    if (subscribed && cursor !== undefined) {
      try {
        lost.add(await missingAtEnd(socket, ch, cursor));
      } catch {
        errors.add(1);
      }
    } else {
      unresumed.add(1);
    }
    finished = true;
    socket.close();
  }
}

/** The feed, round-robin over the channels; failures while the hub is down are expected. */
export async function publish(): Promise<void> {
  const res = await apiPost('publish', { channel: channel(exec.scenario.iterationInTest), data: { t: Date.now() } });
  if (res.status === 200) published.add(1);
  else publishFailures.add(1);
}
