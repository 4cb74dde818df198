// k6 load script: VUs subscribe to one channel while one VU publishes; checks that every
// subscriber sees every publication in order and reports delivery latency as a k6 Trend.
// Run against a hub:  k6 run -e HUB=ws://127.0.0.1:8080/ws load/k6/fanout.ts
// (k6 runs TypeScript directly; `npm run typecheck` checks this file against @types/k6.)

import { check } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { clearInterval, setInterval, setTimeout } from 'k6/timers';
import { type MessageEvent, WebSocket } from 'k6/websockets';

const HUB = __ENV.HUB ?? 'ws://127.0.0.1:8080/ws';
const CHANNEL = __ENV.CHANNEL ?? 'chat:k6';
const DURATION_S = Number(__ENV.DURATION_S ?? 30);
const RATE = Number(__ENV.PUBLISH_PER_S ?? 100);

export const options: Options = {
  scenarios: {
    subscribers: { executor: 'constant-vus', vus: Number(__ENV.SUBSCRIBERS ?? 200), duration: `${DURATION_S}s`, exec: 'subscriber' },
    publisher: { executor: 'constant-vus', vus: 1, duration: `${DURATION_S}s`, exec: 'publisher', startTime: '2s' },
  },
  thresholds: {
    delivery_latency_ms: ['p(99)<50'],
    gaps: ['count==0'],
  },
};

const latency = new Trend('delivery_latency_ms', true);
const gaps = new Counter('gaps');
const delivered = new Counter('deliveries');

interface Push {
  push?: string;
  offset?: number;
  data?: { t?: number };
}

export function subscriber(): void {
  const ws = new WebSocket(HUB);
  let last = -1;
  ws.addEventListener('open', () => {
    ws.send(JSON.stringify([
      { id: 1, method: 'connect' },
      { id: 2, method: 'subscribe', channel: CHANNEL },
    ]));
  });
  ws.addEventListener('message', (event) => {
    const frame = JSON.parse(String((event as MessageEvent).data)) as Push | Push[];
    if (Array.isArray(frame)) {
      check(frame, { 'connected and subscribed': (f) => f.length === 2 });
      return;
    }
    if (frame.push !== 'pub' || frame.offset === undefined) return;
    if (last >= 0 && frame.offset !== last + 1) gaps.add(1);
    last = frame.offset;
    delivered.add(1);
    if (frame.data?.t !== undefined) latency.add(Date.now() - frame.data.t);
  });
  setTimeout(() => ws.close(), DURATION_S * 1000);
}

export function publisher(): void {
  const ws = new WebSocket(HUB);
  let id = 1;
  ws.addEventListener('open', () => {
    ws.send(JSON.stringify({ id: id++, method: 'connect' }));
    const timer = setInterval(() => {
      ws.send(JSON.stringify({ id: id++, method: 'publish', channel: CHANNEL, data: { t: Date.now() } }));
    }, 1000 / RATE);
    setTimeout(() => {
      clearInterval(timer);
      ws.close();
    }, (DURATION_S - 3) * 1000);
  });
}
