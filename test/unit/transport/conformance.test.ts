// RFC 6455 conformance of both transports, in the spirit of the Autobahn testsuite: frames a
// well-behaved client never sends, written byte by byte on raw TCP, and what a client then sees
// (the close code it receives, or the answer), what the listener hears, and that the server goes
// on serving another client connected alongside.
//
// uWS exceptions: uWebSockets.js parses frames in native code that JS cannot reach (see the top of
// src/transport/uws-transport.ts). Where it differs, a case states uWS's actual behaviour under
// `uws`, so a uWS build that starts to conform fails here and the exception can be lifted.

import { describe, expect, it } from 'vitest';
import { closePayload, type FrameSpec, Op, type RawWs } from '../../helpers/raw-ws.js';
import { KINDS, type Kind, start } from '../../helpers/transport-harness.js';

/** uWS drops the TCP connection without a close frame on every protocol error it detects. */
const UWS_DROPS = 1006;
/** uWS answers a close frame it considers invalid with an empty close frame (no status code). */
const UWS_EMPTY_CLOSE = 1005;
const MAX_PAYLOAD = 128 * 1024;

type Outcome =
  /** The server closes: the code the client receives (1006: no close frame), and what the listener hears. */
  | { close: number; heard?: number }
  /** The server answers a text message with `echo:<text>`. */
  | { echo: string }
  /** The server answers a ping with a pong carrying this payload. */
  | { pong: Buffer }
  /** Nothing happens within the wait: the connection neither answers nor closes. */
  | { stalls: true };

interface Case {
  name: string;
  frames: FrameSpec[];
  expect: Outcome;
  /** uWS's native behaviour where it differs from `expect`. */
  uws?: Outcome;
}

const text = (payload: Buffer | string, fin = true): FrameSpec => ({ opcode: Op.text, payload, fin });
const cont = (payload: Buffer | string, fin = true): FrameSpec => ({ opcode: Op.continuation, payload, fin });
const close = (payload: Buffer): FrameSpec => ({ opcode: Op.close, payload });
const protocolError = { close: 1002, heard: 1002 };
const dropped = { close: UWS_DROPS, heard: 1006 };

const framing: Case[] = [
  ...[
    ['7-bit length (0 bytes)', 0, 7],
    ['7-bit length (125 bytes)', 125, 7],
    ['16-bit length (126 bytes)', 126, 16],
    ['16-bit length (65535 bytes)', 65_535, 16],
    ['64-bit length (65536 bytes)', 65_536, 64],
    ['64-bit length (100000 bytes)', 100_000, 64],
  ].map(([name, n, bits]): Case => {
    const body = 'a'.repeat(n as number);
    return { name: `${name}`, frames: [{ opcode: Op.text, payload: body, lengthBits: bits as 7 | 16 | 64 }], expect: { echo: body } };
  }),
  {
    name: 'fragmented text message (start, continuation, final continuation)',
    frames: [text('Hello, ', false), cont('fragmented ', false), cont('world')],
    expect: { echo: 'Hello, fragmented world' },
  },
  {
    name: 'ping interleaved inside a fragmented message: answered, message intact',
    frames: [text('ab', false), { opcode: Op.ping, payload: 'mid' }, cont('cd', false), { opcode: Op.pong, payload: 'x' }, cont('ef')],
    expect: { echo: 'abcdef' },
  },
  {
    name: 'control frame with a payload over 125 bytes',
    frames: [{ opcode: Op.ping, payload: Buffer.alloc(126, 1) }],
    expect: protocolError,
    uws: dropped,
  },
  {
    name: 'fragmented control frame (ping without FIN)',
    frames: [{ opcode: Op.ping, payload: 'a', fin: false }],
    expect: protocolError,
    uws: dropped,
  },
  ...[4, 2, 1, 7].map(
    (rsv): Case => ({
      name: `reserved bits ${rsv.toString(2).padStart(3, '0')} set without an extension`,
      frames: [{ opcode: Op.text, payload: 'a', rsv }],
      expect: protocolError,
      uws: dropped,
    }),
  ),
  ...[3, 7, 11, 15].map(
    (opcode): Case => ({
      name: `unknown opcode 0x${opcode.toString(16)}`,
      frames: [{ opcode, payload: 'a' }],
      expect: protocolError,
      uws: dropped,
    }),
  ),
  { name: 'continuation frame without a message to continue', frames: [cont('a')], expect: protocolError, uws: dropped },
  {
    name: 'new text frame inside a fragmented message',
    frames: [text('a', false), text('b')],
    expect: protocolError,
    uws: dropped,
  },
  {
    // uWS reads every client frame as masked: it takes the payload for the masking key and waits.
    name: 'unmasked client frame',
    frames: [{ opcode: Op.text, payload: 'hi', mask: false }],
    expect: protocolError,
    uws: { stalls: true },
  },
];

const utf8: Case[] = [
  {
    name: 'valid multi-byte UTF-8 split across fragments',
    frames: [text(Buffer.from([0xce, 0xba, 0xe1]), false), cont(Buffer.from([0xbd, 0xb9, 0xcf, 0x83]))],
    expect: { echo: 'κόσ' },
  },
  {
    name: 'invalid UTF-8 in a text frame',
    frames: [text(Buffer.from([0x48, 0xc3, 0x28]))],
    expect: { close: 1007, heard: 1007 },
    uws: { close: UWS_DROPS, heard: 1007 },
  },
  {
    name: 'invalid UTF-8 split across fragments',
    frames: [text(Buffer.from([0xce, 0xba, 0xe1]), false), cont(Buffer.from([0xbd]), false), cont(Buffer.from([0xff]))],
    expect: { close: 1007, heard: 1007 },
    uws: { close: UWS_DROPS, heard: 1007 },
  },
  {
    name: 'surrogate half encoded in UTF-8 (ED A0 80)',
    frames: [text(Buffer.from([0xed, 0xa0, 0x80]))],
    expect: { close: 1007, heard: 1007 },
    uws: { close: UWS_DROPS, heard: 1007 },
  },
];

const closing: Case[] = [
  { name: 'close without a payload: answered without a code', frames: [close(Buffer.alloc(0))], expect: { close: 1005, heard: 1005 } },
  ...[1000, 1001, 1003, 1007, 1008, 1011, 4000, 4999].map(
    (code): Case => ({
      name: `close with valid code ${code}: echoed`,
      frames: [close(closePayload(code, 'bye'))],
      expect: { close: code, heard: code },
    }),
  ),
  ...[1012, 1013, 1014, 3000, 3999].map(
    (code): Case => ({
      name: `close with valid code ${code}: echoed`,
      frames: [close(closePayload(code))],
      expect: { close: code, heard: code },
      // uWS accepts only 1000-1011 and 4000-4999.
      uws: { close: UWS_EMPTY_CLOSE, heard: 1006 },
    }),
  ),
  ...[0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535].map(
    (code): Case => ({
      name: `close with invalid code ${code}`,
      frames: [close(closePayload(code))],
      expect: protocolError,
      uws: { close: UWS_EMPTY_CLOSE, heard: 1006 },
    }),
  ),
  {
    name: 'close payload of 1 byte',
    frames: [close(Buffer.from([0x03]))],
    expect: protocolError,
    uws: { close: UWS_EMPTY_CLOSE, heard: 1005 },
  },
  {
    name: 'close reason that is not UTF-8',
    frames: [close(closePayload(1000, Buffer.from([0xce, 0xba, 0xff])))],
    expect: { close: 1007, heard: 1007 },
    uws: { close: UWS_EMPTY_CLOSE, heard: 1006 },
  },
];

const pings: Case[] = [
  { name: 'ping with a payload: pong with the same payload', frames: [{ opcode: Op.ping, payload: 'hello?' }], expect: { pong: Buffer.from('hello?') } },
  {
    name: 'ping with 125 bytes of binary payload',
    frames: [{ opcode: Op.ping, payload: Buffer.alloc(125, 0xfe) }],
    expect: { pong: Buffer.alloc(125, 0xfe) },
  },
  { name: 'ping without a payload', frames: [{ opcode: Op.ping }], expect: { pong: Buffer.alloc(0) } },
];

const oversize: Case[] = [
  {
    name: 'text frame one byte over maxPayloadBytes',
    frames: [text('x'.repeat(MAX_PAYLOAD + 1))],
    expect: { close: 1009, heard: 1009 },
  },
  {
    name: 'fragmented message over maxPayloadBytes in total',
    frames: [text('x'.repeat(MAX_PAYLOAD / 2), false), cont('x'.repeat(MAX_PAYLOAD / 2), false), cont('x')],
    expect: { close: 1009, heard: 1009 },
  },
  {
    // Past uWS's own limit (twice ours) it drops the socket before JS sees the frame.
    name: 'frame header announcing 1 GB',
    frames: [],
    expect: { close: 1009, heard: 1009 },
    uws: { close: UWS_DROPS, heard: 1009 },
  },
];

const suites = { framing, utf8, closing, pings, oversize };

/** How long a case that expects nothing to happen waits before it says so. */
const STALL_MS = 300;

async function outcomeOf(c: RawWs, expected: Outcome): Promise<Outcome> {
  if ('echo' in expected) {
    const message = await c.message();
    const body = message.payload.toString('utf8');
    return body.startsWith('echo:') ? { echo: body.slice(5) } : { close: -1 };
  }
  if ('pong' in expected) return { pong: (await c.frame(Op.pong)).payload };
  const ended = await c.ended('stalls' in expected ? STALL_MS : 3000);
  return ended === undefined ? { stalls: true } : { close: ended.code };
}

describe.each(KINDS)('%s transport conforms to RFC 6455', (kind: Kind) => {
  for (const [suite, cases] of Object.entries(suites)) {
    describe(suite, () => {
      it.each(cases)('$name', async (testCase) => {
        const { connect, harness, raw } = await start(kind, { maxPayloadBytes: MAX_PAYLOAD, maxBackpressureBytes: 4 * 1024 * 1024 });
        const bystander = await connect();
        const c = await raw();
        const side = await harness.side(2);
        const expected = (kind === 'uws' ? testCase.uws : undefined) ?? testCase.expect;
        if (testCase.name.startsWith('frame header announcing')) {
          // Only the header: a peer that announces more than it will ever send.
          const head = Buffer.from([0x81, 0xff, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4]);
          c.write(head);
        }
        for (const frame of testCase.frames) c.send(frame);
        const seen = await outcomeOf(c, expected);
        if ('close' in expected) {
          expect(seen).toEqual({ close: expected.close });
          if (expected.heard !== undefined) expect((await harness.closedOf(side)).code).toBe(expected.heard);
        } else {
          expect(seen).toEqual(expected);
          expect(side.closed).toBeUndefined();
        }
        // Whatever that client did, the one beside it is still served.
        await bystander.ask('still there?', 'echo:still there?');
        c.destroy();
      });
    });
  }
});
