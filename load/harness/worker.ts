// One client process of the load harness: raw-socket WebSocket clients from one source address
// (load/lib/ws-frame.ts), each subscribed to one channel. Deliveries are parsed cheaply (the
// offset and the payload's send time by scanning, never JSON.parse) and checked by offset:
// the next offset is a delivery, an older one a duplicate, a jump a silent gap. Every (re)connect
// resubscribes with `since` the last offset seen, so a resumed stream is checked the same way.
// Some clients publish (fanout: one; chat: every member) and some churn (disconnect, reconnect).
// Driven by run.ts over IPC (messages.ts); started with child_process.fork.

import net from 'node:net';
import process from 'node:process';
import { monoMs as now } from '../lib/proc.js';
import { maskedFrame, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, readFrames, upgradeRequest } from '../lib/ws-frame.js';
import { Histogram } from './histogram.js';
import type { FromWorker, Position, Tally, ToWorker, WorkerInit } from './messages.js';

const OPENING_AT_ONCE = 200;
const INITIAL_ATTEMPTS = 3;
const PUB_PREFIX = Buffer.from('{"push":"pub"');
const OFFSET_KEY = Buffer.from('"offset":');
const TIME_KEY = Buffer.from('"t":');
const CLOSE_NORMAL = maskedFrame(OP_CLOSE, Buffer.from([0x03, 0xe8]));

const enum State {
  Idle,
  Connecting,
  Subscribing,
  Live,
}

interface Client {
  i: number;
  channel: string;
  state: State;
  socket: net.Socket | undefined;
  buffered: Buffer | undefined;
  nextId: number;
  /** Stream position: the epoch and offset subscribed at, and the last offset delivered. */
  epoch: string;
  base: number;
  last: number;
  /** Expected deliveries of earlier epochs or of stretches before a reported gap. */
  closedExpected: number;
  /** Pushes up to this offset replay a recovery: not timed. */
  replayTo: number;
  received: number;
  silentGaps: number;
  reportedGaps: number;
  resumed: number;
  duplicates: number;
  reconnects: number;
  /** Publishes sent and not yet answered. */
  inFlight: number;
  /** Counted in the initial 'ready' report (subscribed or failed). */
  settled: boolean;
  /** Attempts at the first connection. */
  attempts: number;
}

let init: WorkerInit;
const clients: Client[] = [];
const hist = new Histogram();
const errors: Record<string, number> = {};
const acked = new Map<string, Position>();
let deliveries = 0;
let published = 0;
let acks = 0;
let retries = 0;
let unplannedCloses = 0;
let loadRunning = true;
let shuttingDown = false;
let initialSettled = 0;
let initialFailed = 0;
let loadTimer: NodeJS.Timeout | undefined;

const send = (m: FromWorker): void => {
  process.send?.(m);
};
const count = (what: string): void => {
  errors[what] = (errors[what] ?? 0) + 1;
};
const text = (c: Client, obj: unknown): void => {
  c.socket?.write(maskedFrame(OP_TEXT, Buffer.from(JSON.stringify(obj))));
};

/** The integer or decimal number right after `key` in `buf`, or NaN. */
function numberAfter(buf: Buffer, key: Buffer, from = 0): number {
  const at = buf.indexOf(key, from);
  if (at < 0) return Number.NaN;
  let end = at + key.length;
  while (end < buf.length) {
    const ch = buf[end] as number;
    if ((ch < 48 || ch > 57) && ch !== 46 && ch !== 45 && ch !== 101 && ch !== 43) break;
    end++;
  }
  return Number(buf.toString('latin1', at + key.length, end));
}

function onPublication(c: Client, offset: number): void {
  deliveries++;
  if (offset === c.last + 1) {
    c.received++;
    c.last = offset;
  } else if (offset <= c.last) c.duplicates++;
  else {
    // A jump nobody announced: the publications in between never came.
    c.silentGaps++;
    c.received++;
    c.last = offset;
  }
}

interface SubscribeResult {
  offset: number;
  epoch: string;
  recovered?: boolean;
  publications?: { offset: number }[];
}
interface Reply {
  id: number;
  result?: unknown;
  error?: { code: string };
}

function onSubscribed(c: Client, r: SubscribeResult): void {
  c.state = State.Live;
  if (c.epoch === '') {
    c.epoch = r.epoch;
    c.base = c.last = r.offset;
  } else if (r.recovered === true) {
    c.resumed++;
    // A recovery too large for the reply follows it as ordinary pushes, up to the reply's offset.
    c.replayTo = r.offset;
    for (const p of r.publications ?? []) onPublication(c, p.offset);
  } else {
    // The hub said it cannot replay what was missed: a reported gap, not a silent one. What was
    // expected up to here is what came; count afresh from the new position.
    c.reportedGaps++;
    c.closedExpected += c.last - c.base;
    c.epoch = r.epoch;
    c.base = c.last = r.offset;
  }
}

function onReply(c: Client, reply: Reply): void {
  if (reply.error !== undefined) {
    if (reply.id >= 3) {
      c.inFlight--;
      count(`publish: ${reply.error.code}`);
    } else {
      count(`subscribe: ${reply.error.code}`);
      settleInitial(c, false);
    }
    return;
  }
  if (reply.id === 2) {
    const first = c.epoch === '';
    onSubscribed(c, reply.result as SubscribeResult);
    if (first) settleInitial(c, true);
  } else if (reply.id >= 3) {
    c.inFlight--;
    acks++;
    const { offset, epoch } = reply.result as { offset: number; epoch: string };
    const had = acked.get(c.channel);
    if (had === undefined || had[0] !== epoch || had[1] < offset) acked.set(c.channel, [epoch, offset]);
  }
}

function onText(c: Client, payload: Buffer): void {
  if (payload.length > PUB_PREFIX.length && payload.compare(PUB_PREFIX, 0, PUB_PREFIX.length, 0, PUB_PREFIX.length) === 0) {
    const offset = numberAfter(payload, OFFSET_KEY, PUB_PREFIX.length);
    const live = c.last + 1 === offset && offset > c.replayTo;
    onPublication(c, offset);
    // Latency of live deliveries only: a replayed publication's age is the outage, not the hub.
    const t = live ? numberAfter(payload, TIME_KEY) : Number.NaN;
    if (!Number.isNaN(t)) hist.add(now() - t);
    return;
  }
  const msg = JSON.parse(payload.toString()) as Reply | Reply[] | { push: string; channel?: string };
  if (Array.isArray(msg)) for (const r of msg) onReply(c, r);
  else if ('push' in msg) {
    // The hub dropped the subscription and says so: subscribe again from the last offset.
    if (msg.push === 'resubscribe') {
      c.state = State.Subscribing;
      text(c, { id: 2, method: 'subscribe', channel: c.channel, since: { offset: c.last, epoch: c.epoch } });
    }
  } else onReply(c, msg);
}

function settleInitial(c: Client, ok: boolean): void {
  if (c.settled) return;
  c.settled = true;
  initialSettled++;
  if (!ok) initialFailed++;
  if (initialSettled === init.channels.length) send({ type: 'ready', subscribed: initialSettled - initialFailed, failed: initialFailed });
}

/** Opens (or reopens) a client's socket; resolves once upgraded or failed. */
function open(c: Client): Promise<void> {
  return new Promise((resolve) => {
    c.state = State.Connecting;
    c.buffered = undefined;
    c.inFlight = 0;
    const socket = net.connect({ port: init.port, host: init.host, localAddress: init.localAddress });
    c.socket = socket;
    let head = '';
    let upgraded = false;
    let failure = 'closed before the upgrade';
    socket.setNoDelay(true);
    socket.once('connect', () => socket.write(upgradeRequest(init.path, `${init.host}:${init.port}`)));
    socket.on('data', (data: Buffer) => {
      if (upgraded) {
        const buf = c.buffered === undefined ? data : Buffer.concat([c.buffered, data]);
        c.buffered = readFrames(buf, (opcode, payload) => {
          if (opcode === OP_TEXT) onText(c, payload);
          else if (opcode === OP_PING) socket.write(maskedFrame(OP_PONG, payload));
          else if (opcode === OP_CLOSE) socket.end();
        });
        return;
      }
      head += data.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!head.startsWith('HTTP/1.1 101')) {
        failure = `HTTP ${head.slice(9, head.indexOf('\r\n'))}`;
        socket.destroy();
        return;
      }
      upgraded = true;
      c.state = State.Subscribing;
      const since = c.epoch === '' ? {} : { since: { offset: c.last, epoch: c.epoch } };
      text(c, [{ id: 1, method: 'connect' }, { id: 2, method: 'subscribe', channel: c.channel, ...since }]);
      const rest = Buffer.from(head.slice(end + 4), 'latin1');
      if (rest.length > 0) socket.emit('data', rest);
      resolve();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      failure = err.code ?? err.message;
    });
    socket.on('close', () => {
      const wasLive = c.state === State.Live;
      const planned = c.socket !== socket;
      if (c.socket === socket) c.socket = undefined;
      if (c.inFlight > 0) errors['publish: unanswered'] = (errors['publish: unanswered'] ?? 0) + c.inFlight;
      c.inFlight = 0;
      resolve();
      if (planned || shuttingDown) return;
      c.state = State.Idle;
      if (c.epoch === '' && !wasLive) {
        // Never subscribed. A busy hub's accept queue overflows when thousands connect at once:
        // try again a few times, as a real client would, then count it as failed.
        if (c.attempts++ < INITIAL_ATTEMPTS - 1 && !c.settled) {
          retries++;
          setTimeout(() => void open(c), 200 + Math.random() * 800);
          return;
        }
        if (!upgraded) count(`connect: ${failure}`);
        settleInitial(c, false);
        return;
      }
      // Cut off by the hub (a restart, a slow-consumer close...): back at once, with `since`.
      if (wasLive) unplannedCloses++;
      else retries++;
      c.reconnects++;
      setTimeout(() => void open(c), wasLive ? Math.random() * init.reconnectJitterMs : 100 + Math.random() * 200);
    });
  });
}

/** A planned disconnect: close frame, then reopen a little later with `since`. */
function churn(c: Client): void {
  const socket = c.socket;
  if (socket === undefined) return;
  c.socket = undefined;
  c.state = State.Idle;
  c.reconnects++;
  socket.end(CLOSE_NORMAL);
  setTimeout(() => {
    if (!shuttingDown) void open(c);
  }, 50 + Math.random() * 450);
}

function publish(c: Client): void {
  const id = c.nextId++;
  c.inFlight++;
  published++;
  const data = { t: now(), p: 'x'.repeat(init.payload) };
  text(c, { id, method: 'publish', channel: c.channel, data });
}

function startLoad(): void {
  let pubDue = 0;
  let churnDue = 0;
  let nextPublisher = 0;
  let last = performance.now();
  loadTimer = setInterval(() => {
    const t = performance.now();
    const dt = (t - last) / 1000;
    last = t;
    if (!loadRunning) return;
    pubDue += init.rate * dt;
    for (let tries = 0; pubDue >= 1 && init.publishers > 0 && tries < init.publishers * 2; tries++) {
      const c = clients[nextPublisher++ % init.publishers] as Client;
      if (c.state !== State.Live) continue;
      publish(c);
      pubDue--;
    }
    // Publications due while no publisher was connected are skipped, not queued up.
    pubDue = Math.min(pubDue, 1);
    churnDue += init.churnPerSec * dt;
    while (churnDue >= 1 && init.churnable > init.publishers) {
      churnDue--;
      const c = clients[init.publishers + Math.floor(Math.random() * (init.churnable - init.publishers))] as Client;
      if (c.state === State.Live) churn(c);
    }
  }, 10);
}

function tally(finals: Record<string, Position>): FromWorker {
  const empty = (): Tally => ({ clients: 0, expected: 0, received: 0, lost: 0, silentGaps: 0, reportedGaps: 0, resumed: 0, duplicates: 0 });
  const stayed = empty();
  const reconnected = empty();
  let neverSubscribed = 0;
  let epochMismatch = 0;
  for (const c of clients) {
    if (c.epoch === '') {
      neverSubscribed++;
      continue;
    }
    const final = finals[c.channel];
    let expected = c.closedExpected;
    let received = c.received;
    if (final !== undefined && final[0] === c.epoch) {
      expected += Math.max(0, final[1] - c.base);
      // Publications past the last acknowledged one (their ack was lost) are not counted.
      received -= Math.max(0, c.last - Math.max(final[1], c.base));
    } else {
      if (final !== undefined) epochMismatch++;
      expected += c.last - c.base;
    }
    const t = c.reconnects > 0 ? reconnected : stayed;
    t.clients++;
    t.expected += expected;
    t.received += received;
    t.lost += Math.max(0, expected - received);
    t.silentGaps += c.silentGaps;
    t.reportedGaps += c.reportedGaps;
    t.resumed += c.resumed;
    t.duplicates += c.duplicates;
  }
  return { type: 'final', stayed, reconnected, neverSubscribed, epochMismatch };
}

process.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'init': {
      init = msg.init;
      init.channels.forEach((channel, i) => {
        clients.push({
          i,
          channel,
          state: State.Idle,
          socket: undefined,
          buffered: undefined,
          nextId: 3,
          epoch: '',
          base: 0,
          last: 0,
          closedExpected: 0,
          replayTo: 0,
          received: 0,
          silentGaps: 0,
          reportedGaps: 0,
          resumed: 0,
          duplicates: 0,
          reconnects: 0,
          inFlight: 0,
          settled: false,
          attempts: 0,
        });
      });
      let next = 0;
      const lanes = Array.from({ length: Math.min(OPENING_AT_ONCE, clients.length) }, async () => {
        while (next < clients.length) await open(clients[next++] as Client);
      });
      void Promise.all(lanes);
      if (clients.length === 0) send({ type: 'ready', subscribed: 0, failed: 0 });
      break;
    }
    case 'start':
      startLoad();
      break;
    case 'stats':
      send({
        type: 'stats',
        connected: clients.reduce((n, c) => n + (c.state === State.Live ? 1 : 0), 0),
        deliveries,
        published,
        acks,
        errors,
        retries,
        unplannedCloses,
        hist: hist.takeDelta(),
      });
      break;
    case 'stop-load': {
      loadRunning = false;
      // Answer once every publish sent has its ack (or after 3 s: those count as unanswered).
      const deadline = Date.now() + 3000;
      const wait = (): void => {
        const pending = clients.some((c) => c.inFlight > 0);
        const reconnecting = clients.some((c) => c.epoch !== '' && c.state !== State.Live);
        if ((pending || reconnecting) && Date.now() < deadline) return void setTimeout(wait, 20);
        send({ type: 'stopped', acked: Object.fromEntries(acked) });
      };
      wait();
      break;
    }
    case 'final':
      send(tally(msg.finals));
      break;
    case 'exit':
      shuttingDown = true;
      clearInterval(loadTimer);
      for (const c of clients) c.socket?.destroy();
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
