// A frame fuzzer against a live hub process: attacker connections send arbitrary and mutated
// frames (random bytes, invalid UTF-8, deep nesting, huge numbers, __proto__ keys, every method
// with wrong field types, batches over the limit, oversize and binary frames), replaced as the hub
// closes them, while a control subscriber must receive every publication the backend made, once
// and in order. Used bounded by the suite (test/e2e/fuzz.test.ts) and long by `npm run fuzz`.

import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import WebSocket from 'ws';
import { methods } from '../../src/protocol/index.js';
import { HubTestClient } from './hub-client.js';
import { type HubProcess, spawnHub } from './process.js';

export const FUZZ_API_KEY = 'fuzz-api-key-0123456789abcdef';
const MAX_PAYLOAD = 16 * 1024;

export interface FuzzOptions {
  transport: 'ws' | 'uws';
  frames: number;
  seed: number;
  attackers?: number;
  /** Progress callback, every few thousand frames. */
  progress?: (sent: number) => void;
}

export interface FuzzReport {
  transport: string;
  frames: number;
  connections: number;
  closes: Record<string, number>;
  controlSent: number;
  controlReceived: number;
  controlLost: number;
  controlDuplicated: number;
  controlOutOfOrder: number;
  crashed: boolean;
  rssBeforeKb: number;
  rssAfterKb: number;
  seconds: number;
}

const channels = ['chat:a', 'chat:b', 'scores:s', 'ctl:feed', 'nope:x', 'chat:', ':a', 'chat:a:b', 'CHAT:a', '$hubbub:control'];

const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(...channels, '__proto__', 'constructor', '\ud800', '', 'x'.repeat(300)),
  fc.jsonValue({ maxDepth: 3 }),
);

/** Mostly well-formed commands with hostile values: these get past the JSON layer into the hub. */
const command = fc
  .record(
    {
      id: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 1_000_000 }) }, { weight: 1, arbitrary: anyValue }),
      method: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...methods) }, { weight: 1, arbitrary: anyValue }),
      channel: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...channels) }, { weight: 1, arbitrary: anyValue }),
      data: anyValue,
      member: fc.oneof(fc.constantFrom('m1', 'm2', '\udfff', '\ufffd'), anyValue),
      by: fc.oneof(fc.double(), anyValue),
      since: fc.oneof(fc.record({ offset: fc.oneof(fc.nat(), anyValue), epoch: anyValue }), anyValue),
      last: anyValue,
      limit: anyValue,
      offset: anyValue,
      n: anyValue,
      reverse: anyValue,
      joinLeave: anyValue,
      token: anyValue,
      idempotencyKey: anyValue,
      extra: anyValue,
    },
    { requiredKeys: ['id', 'method'] },
  )
  .map((c) => JSON.stringify(c));

const deep = fc
  .tuple(fc.integer({ min: 10, max: 7000 }), fc.constantFrom('[', '{"k":'))
  .map(([n, open]) => `{"id":1,"method":"publish","channel":"chat:a","data":${open.repeat(n)}0${(open === '[' ? ']' : '}').repeat(n)}}`);

const hugeNumber = fc
  .constantFrom('1e400', '-1e400', '123456789012345678901234567890', '1e-400', '-0', '0.1e309')
  .map((n) => `{"id":2,"method":"incr","channel":"scores:s","member":"m","by":${n}}`);

const protoKeys = fc.constantFrom(
  '{"id":3,"method":"publish","channel":"chat:a","data":{"__proto__":{"admin":true}}}',
  '{"id":3,"method":"subscribe","channel":"chat:a","__proto__":{"since":{"offset":0,"epoch":"x"}}}',
  '{"id":3,"__proto__":{"method":"ping"}}',
  '{"id":3,"method":"constructor"}',
  '{"id":3,"method":"toString"}',
  '{"id":3,"method":"hasOwnProperty"}',
);

type Attack = { text: string } | { bytes: Buffer; binary: boolean };

/** Frames the hub answers without closing the connection (errors included). */
const surviving: fc.Arbitrary<Attack> = fc.oneof(
  { weight: 10, arbitrary: command.map((text) => ({ text })) },
  { weight: 3, arbitrary: fc.array(command, { minLength: 1, maxLength: 8 }).map((b) => ({ text: `[${b.join(',')}]` })) },
  { weight: 2, arbitrary: deep.map((text) => ({ text })) },
  { weight: 1, arbitrary: hugeNumber.map((text) => ({ text })) },
  { weight: 1, arbitrary: protoKeys.map((text) => ({ text })) },
);

/** Frames that end the connection (bad frames, invalid UTF-8, binary, oversize) or may. */
const closing: fc.Arbitrary<Attack> = fc.oneof(
  fc.array(command, { minLength: 101, maxLength: 105 }).map((b) => ({ text: `[${b.join(',')}]` })),
  fc.string({ unit: 'binary', maxLength: 100 }).map((text) => ({ text })),
  fc.json({ maxDepth: 4 }).map((text) => ({ text })),
  fc.uint8Array({ maxLength: 200 }).map((a) => ({ bytes: Buffer.from(a), binary: false })),
  fc.uint8Array({ maxLength: 50 }).map((a) => ({ bytes: Buffer.from(a), binary: true })),
  fc.tuple(command, fc.nat()).map(([t, n]) => ({ text: t.slice(0, n % (t.length + 1)) })),
  fc.constant({ text: `{"id":1,"method":"ping","pad":"${'x'.repeat(MAX_PAYLOAD + 10)}"}` }),
);

/** A round: surviving frames, and one that may close the connection at the end, one round in four. */
const round = fc.tuple(fc.array(surviving, { minLength: 20, maxLength: 60 }), fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: closing })).map(
  ([frames, last]) => (last === null ? frames : [...frames, last]),
);

function rssKb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]);
}

async function openSocket(url: string): Promise<WebSocket | undefined> {
  const ws = new WebSocket(url);
  const ok = await new Promise<boolean>((resolve) => {
    ws.once('open', () => resolve(true));
    ws.once('error', () => resolve(false));
  });
  return ok ? ws : undefined;
}

/** Starts a hub process for fuzzing: both namespaces kinds, generous limits so frames reach the hub. */
export async function startFuzzHub(transport: 'ws' | 'uws'): Promise<HubProcess> {
  const config = {
    logLevel: 'fatal',
    server: { transport, maxPayloadBytes: MAX_PAYLOAD, maxConnectionsPerIp: 10_000 },
    api: { keys: [FUZZ_API_KEY] },
    limits: { commands: { rate: 1_000_000, burst: 1_000_000 }, bytes: { rate: 1e9, burst: 1e9 }, maxChannels: 16 },
    namespaces: {
      chat: { history: { size: 50 }, presence: true, joinLeave: true, clientPublish: true },
      scores: { leaderboard: { clientIncr: true, maxMembers: 100 } },
      ctl: { public: true, history: { size: 10_000 } },
    },
  };
  const path = join(tmpdir(), `hubbub-fuzz-${process.pid}-${transport}.json`);
  writeFileSync(path, JSON.stringify(config));
  return spawnHub({}, ['--config', path]);
}

export async function fuzzHub(hub: HubProcess, options: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const url = `ws://127.0.0.1:${hub.port}/ws`;
  const api = `http://127.0.0.1:${hub.port}/api/publish`;
  let crashed = false;
  void hub.exited.then(() => {
    crashed = true;
  });
  const control = await HubTestClient.open(url);
  await control.call('subscribe', { channel: 'ctl:feed' });
  const rssBeforeKb = rssKb(hub.child.pid);

  // The ledger: every control publication the hub acknowledged, with its offset.
  let attempted = 0;
  const acked = new Map<number, number>();
  const publishControl = async () => {
    const n = ++attempted;
    const res = await fetch(api, {
      method: 'POST',
      headers: { authorization: `Bearer ${FUZZ_API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'ctl:feed', data: { ctl: n } }),
    });
    if (res.status !== 200) throw new Error(`control publish answered ${res.status}: ${await res.text()}`);
    acked.set(n, ((await res.json()) as { offset: number }).offset);
  };

  const closes: Record<string, number> = {};
  let sent = 0;
  let connections = 0;
  const attackers = options.attackers ?? 8;
  let seed = options.seed;

  const attacker = async () => {
    while (sent < options.frames && !crashed) {
      const ws = await openSocket(url);
      if (ws === undefined) throw new Error('the hub refused a connection during fuzzing');
      connections++;
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      ws.on('error', () => {});
      // Half the connections start with a connect, so commands get past `not_connected`.
      if (connections % 2 === 0) ws.send('{"id":1,"method":"connect"}');
      let open = true;
      void closed.then(() => {
        open = false;
      });
      while (open && sent < options.frames) {
        const frames = fc.sample(round, { numRuns: 1, seed: seed++ })[0] ?? [];
        for (const a of frames) {
          if (!open || ws.readyState !== WebSocket.OPEN) break;
          if ('text' in a) ws.send(a.text);
          else ws.send(a.bytes, { binary: a.binary });
          sent++;
        }
        options.progress?.(sent);
        // One round trip per round keeps the attacker in step with the hub (and its buffers bounded).
        if (open && ws.readyState === WebSocket.OPEN) {
          const id = 999_999_999;
          const answered = new Promise<void>((resolve) => {
            const onMessage = (data: WebSocket.RawData) => {
              if (data.toString().includes(`"id":${id}`)) {
                ws.off('message', onMessage);
                resolve();
              }
            };
            ws.on('message', onMessage);
            void closed.then(() => resolve());
          });
          ws.send(`{"id":${id},"method":"ping"}`);
          await answered;
        }
        await publishControl();
      }
      if (open) ws.terminate();
      const code = String(await closed);
      closes[code] = (closes[code] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: attackers }, attacker));
  await publishControl();

  const controlSent = acked.size;
  await control.until(() => control.pushesOf('pub', 'ctl:feed').length >= controlSent || crashed, 10_000, 'control publications');
  const seen = control.pushesOf('pub', 'ctl:feed').map((p) => ({ n: (p.data as { ctl: number }).ctl, offset: p.offset as number }));
  let outOfOrder = 0;
  for (let i = 1; i < seen.length; i++) if ((seen[i]?.offset as number) <= (seen[i - 1]?.offset as number)) outOfOrder++;
  const times = new Map<number, number>();
  for (const { n, offset } of seen) {
    if (acked.get(n) === offset) times.set(n, (times.get(n) ?? 0) + 1);
  }
  let lost = 0;
  let duplicated = 0;
  for (const n of acked.keys()) {
    const t = times.get(n) ?? 0;
    if (t === 0) lost++;
    else if (t > 1) duplicated++;
  }
  const rssAfterKb = rssKb(hub.child.pid);
  control.close();
  return {
    transport: options.transport,
    frames: sent,
    connections,
    closes,
    controlSent,
    controlReceived: seen.length,
    controlLost: lost,
    controlDuplicated: duplicated,
    controlOutOfOrder: outOfOrder,
    crashed: crashed || hub.child.exitCode !== null,
    rssBeforeKb,
    rssAfterKb,
    seconds: (Date.now() - started) / 1000,
  };
}
