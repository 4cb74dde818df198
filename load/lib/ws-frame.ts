// Hand-made WebSocket client framing for the load processes: the upgrade request, masked client
// frames, and a parser for the server's (unmasked) frames. A few hundred bytes of state per
// socket, so one load process holds tens of thousands of connections.

import { randomBytes } from 'node:crypto';

export const OP_TEXT = 0x1;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

export function upgradeRequest(path: string, host: string): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`
  );
}

/** A masked client frame (RFC 6455 5.3): clients must mask, servers close unmasked frames. */
export function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const head = len < 126 ? 2 : len < 65_536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + 4 + len);
  out[0] = 0x80 | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65_536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(len), 2);
  }
  const mask = randomBytes(4);
  mask.copy(out, head);
  for (let i = 0; i < len; i++) out[head + 4 + i] = (payload[i] as number) ^ (mask[i & 3] as number);
  return out;
}

/**
 * Splits `buf` (what was left from last time plus new data) into whole frames, calling
 * `onFrame(opcode, payload)` for each; returns the incomplete tail to keep for next time. The
 * payload is a view into `buf`: copy it to keep it.
 */
export function readFrames(buf: Buffer, onFrame: (opcode: number, payload: Buffer) => void): Buffer | undefined {
  for (;;) {
    if (buf.length < 2) break;
    const opcode = (buf[0] as number) & 0x0f;
    let len = (buf[1] as number) & 0x7f;
    let off = 2;
    if (len === 126) {
      if (buf.length < 4) break;
      len = buf.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (buf.length < 10) break;
      len = Number(buf.readBigUInt64BE(2));
      off = 10;
    }
    if (buf.length < off + len) break;
    onFrame(opcode, buf.subarray(off, off + len));
    buf = buf.subarray(off + len);
  }
  return buf.length > 0 ? Buffer.from(buf) : undefined;
}
