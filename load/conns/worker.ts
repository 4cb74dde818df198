// One load process of `npm run bench:conns`: opens COUNT WebSocket connections from one source
// address over raw TCP (the handshake and frames written by hand: a few hundred bytes of state per
// socket, so the load side stays small), subscribes each (hubbub: connect + subscribe in one frame;
// bare servers subscribe every socket on open; Socket.IO (engine.io v4): `40` after the server's
// open packet `0{...}`, subscribed at its `40{...}`, the server joins it to the room), answers
// pings (WebSocket pings; Socket.IO's `2` with `3`), and reports to its parent:
//   {type:'ready', opened, failed}       every connection subscribed (or failed)
//   {type:'armed'}                       on 'arm': from now on, the first delivery is timed
//   {type:'received', count, last}       on 'report': how many sockets got a delivery (a text
//                                        frame; Socket.IO: an event `42...`) since 'arm', and when
//                                        the last of them did (performance.timeOrigin + now(), ms)
// Usage (from run.ts): node --import tsx load/conns/worker.ts <port> <path> <count> <localAddress> <proto>

import net from 'node:net';
import process from 'node:process';
import { now } from '../lib/proc.js';
import { maskedFrame, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, readFrames, upgradeRequest } from '../lib/ws-frame.js';

const [portArg, path = '/', countArg, localAddress = '127.0.0.1', proto = 'bare'] = process.argv.slice(2);
const port = Number(portArg);
const count = Number(countArg);
const OPENING_AT_ONCE = 200;

const SIO_CONNECT = Buffer.from('40');
const SIO_PONG = Buffer.from('3');
const SUBSCRIBE = Buffer.from(JSON.stringify([{ id: 1, method: 'connect' }, { id: 2, method: 'subscribe', channel: 'bench:conns' }]));

interface Conn {
  socket: net.Socket;
  buffered: Buffer | undefined;
  upgraded: boolean;
  subscribed: boolean;
  /** Counted as opened or failed. */
  settled: boolean;
  /** First text frame after 'arm' (ms), or 0. */
  receivedAt: number;
}

const conns: Conn[] = [];
let armed = false;
let opened = 0;
let failed = 0;
let settled = 0;
/** Why connections failed: an HTTP status line, 'closed', or the error code of the subscribe reply. */
const failures: Record<string, number> = {};

function settle(c: Conn, ok: boolean, why = 'closed'): void {
  if (c.settled) return;
  c.settled = true;
  if (ok) opened++;
  else {
    failed++;
    failures[why] = (failures[why] ?? 0) + 1;
  }
  settled++;
  if (settled === count) process.send?.({ type: 'ready', opened, failed, failures });
}

function onFrames(c: Conn, data: Buffer): void {
  const buf = c.buffered === undefined ? data : Buffer.concat([c.buffered, data]);
  c.buffered = readFrames(buf, (opcode, payload) => {
    if (opcode === OP_PING) c.socket.write(maskedFrame(OP_PONG, payload));
    else if (opcode === OP_TEXT && proto === 'socketio') onSocketIo(c, payload);
    else if (opcode === OP_TEXT) {
      if (!c.subscribed) {
        // hubbub: the reply to connect + subscribe.
        c.subscribed = true;
        const error = /"code":"([a-z_]+)"/.exec(payload.toString());
        settle(c, !payload.includes('"error"'), error?.[1] ?? 'error');
      } else if (armed && c.receivedAt === 0) c.receivedAt = now();
    } else if (opcode === OP_CLOSE) c.socket.end();
  });
}

/** An engine.io v4 / Socket.IO v5 text packet: the first byte is the engine.io packet type. */
function onSocketIo(c: Conn, payload: Buffer): void {
  const type = payload[0];
  if (type === 0x32 /* '2' ping */) c.socket.write(maskedFrame(OP_TEXT, SIO_PONG));
  else if (type === 0x30 /* '0' open */) c.socket.write(maskedFrame(OP_TEXT, SIO_CONNECT));
  else if (type === 0x34 /* '4' message */) {
    const sio = payload[1];
    if (sio === 0x30 /* '0' connect */ && !c.subscribed) {
      c.subscribed = true;
      settle(c, true);
    } else if (sio === 0x34 /* '4' connect_error */) settle(c, false, 'connect_error');
    else if (sio === 0x32 /* '2' event */ && armed && c.receivedAt === 0) c.receivedAt = now();
  }
}

function open(): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    const c: Conn = { socket, buffered: undefined, upgraded: false, subscribed: false, settled: false, receivedAt: 0 };
    conns.push(c);
    let head = '';
    // The next connection opens once this one is upgraded (or failed); its subscribe reply may come later.
    const finish = (ok: boolean, why?: string): void => {
      if (!ok) settle(c, false, why);
      resolve();
    };
    socket.setNoDelay(true);
    socket.once('connect', () => {
      socket.write(upgradeRequest(path, `127.0.0.1:${port}`));
    });
    socket.on('data', (data: Buffer) => {
      if (c.upgraded) return onFrames(c, data);
      head += data.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!head.startsWith('HTTP/1.1 101')) {
        socket.destroy();
        return finish(false, head.slice(0, head.indexOf('\r\n')));
      }
      c.upgraded = true;
      const rest = Buffer.from(head.slice(end + 4), 'latin1');
      if (proto === 'hubbub') socket.write(maskedFrame(OP_TEXT, SUBSCRIBE));
      else if (proto === 'socketio') {
        // Subscribed once the server's Socket.IO connect reply arrives (onSocketIo).
      } else {
        c.subscribed = true;
        settle(c, true);
      }
      if (rest.length > 0) onFrames(c, rest);
      finish(true);
    });
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
  });
}

async function main(): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(OPENING_AT_ONCE, count) }, async () => {
    while (next < count) {
      next++;
      await open();
    }
  });
  await Promise.all(lanes);
}

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'arm') {
    armed = true;
    for (const c of conns) c.receivedAt = 0;
    process.send?.({ type: 'armed' });
  } else if (msg.type === 'report') {
    let count = 0;
    let last = 0;
    for (const c of conns) {
      if (c.receivedAt === 0) continue;
      count++;
      if (c.receivedAt > last) last = c.receivedAt;
    }
    process.send?.({ type: 'received', count, last });
  } else if (msg.type === 'exit') {
    for (const c of conns) c.socket.destroy();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));

void main();
