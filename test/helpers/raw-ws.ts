// A WebSocket client on a bare TCP socket, for sending what a well-behaved client never would:
// unmasked frames, reserved bits, unknown opcodes, bad close codes, broken UTF-8, half-open
// handshakes. It parses what the server sends back so a test can assert what a client would see.

import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export const Op = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  /** Default true. */
  fin?: boolean;
  /** The three reserved bits, 0..7 (RSV1 = 4). */
  rsv?: number;
  /** Default true: clients must mask. */
  mask?: boolean;
  /** Forces a length encoding (a short payload may still be sent with the 16- or 64-bit form). */
  lengthBits?: 7 | 16 | 64;
}

export interface ReceivedFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  payload: Buffer;
}

/** How the connection ended as a client sees it: the close frame's code, or 1006 with none. */
export interface Ending {
  code: number;
  reason: string;
  /** The reason bytes, to check they are valid UTF-8. */
  raw: Buffer;
}

export function encodeFrame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0));
  const n = payload.length;
  const bits = spec.lengthBits ?? (n < 126 ? 7 : n < 65536 ? 16 : 64);
  const masked = spec.mask ?? true;
  const head = 2 + (bits === 16 ? 2 : bits === 64 ? 8 : 0) + (masked ? 4 : 0);
  const out = Buffer.alloc(head + n);
  out[0] = ((spec.fin ?? true) ? 0x80 : 0) | (((spec.rsv ?? 0) & 7) << 4) | (spec.opcode & 0xf);
  let at = 2;
  if (bits === 7) out[1] = n;
  else if (bits === 16) {
    out[1] = 126;
    out.writeUInt16BE(n, 2);
    at = 4;
  } else {
    out[1] = 127;
    out.writeBigUInt64BE(BigInt(n), 2);
    at = 10;
  }
  if (!masked) {
    payload.copy(out, at);
    return out;
  }
  out[1] = (out[1] ?? 0) | 0x80;
  const key = randomBytes(4);
  key.copy(out, at);
  at += 4;
  for (let i = 0; i < n; i++) out[at + i] = (payload[i] ?? 0) ^ (key[i & 3] ?? 0);
  return out;
}

/** A close frame's payload: the code in two bytes, then the reason. */
export function closePayload(code: number, reason: Buffer | string = ''): Buffer {
  const r = typeof reason === 'string' ? Buffer.from(reason) : reason;
  const out = Buffer.alloc(2 + r.length);
  out.writeUInt16BE(code, 0);
  r.copy(out, 2);
  return out;
}

export function upgradeRequest(path: string, port: number, headers: Record<string, string> = {}): string {
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

export class RawWs {
  readonly frames: ReceivedFrame[] = [];
  /** The HTTP status line and headers of the handshake answer. */
  head = '';
  private buffered = Buffer.alloc(0);
  /** Bytes after a non-101 answer's head. */
  private body = Buffer.alloc(0);
  private handshaken = false;
  private refused = false;
  private ending: Ending | undefined;
  private tcpClosed = false;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.tcpClosed = true;
      this.ending ??= { code: 1006, reason: '', raw: Buffer.alloc(0) };
      this.notify();
    });
  }

  /** Opens TCP, upgrades, and resolves once the server answered 101 (rejects on any other answer). */
  static async open(port: number, path = '/ws', headers: Record<string, string> = {}): Promise<RawWs> {
    const client = await RawWs.tcp(port);
    const status = await client.upgrade(path, headers);
    if (status !== 101) {
      client.destroy();
      throw new Error(`upgrade refused: ${client.head.split('\r\n')[0] ?? '(no answer)'}`);
    }
    return client;
  }

  /** Sends an upgrade request; resolves with the answer's HTTP status (0: closed without one). */
  async upgrade(path = '/ws', headers: Record<string, string> = {}): Promise<number> {
    const port = this.socket.remotePort ?? 0;
    this.write(upgradeRequest(path, port, headers));
    await this.until(() => this.handshaken || this.tcpClosed);
    return Number(/^HTTP\/1\.1 (\d{3})/.exec(this.head)?.[1] ?? 0);
  }

  /** The body of a refused upgrade or an HTTP answer, once the server closed the connection. */
  async answerBody(): Promise<string> {
    await this.until(() => this.tcpClosed);
    return this.body.toString('utf8');
  }

  /** A connected TCP socket that has sent nothing yet. */
  static tcp(port: number): Promise<RawWs> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawWs(socket));
      });
    });
  }

  send(spec: FrameSpec): void {
    this.write(encodeFrame(spec));
  }

  write(bytes: Buffer | string): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  text(payload: Buffer | string): void {
    this.send({ opcode: Op.text, payload });
  }

  /** Resolves with the next data frame (text or binary) at or after index `from`. */
  async message(from = 0): Promise<ReceivedFrame> {
    let found: ReceivedFrame | undefined;
    await this.until(() => {
      found = this.frames.slice(from).find((f) => f.opcode === Op.text || f.opcode === Op.binary);
      return found !== undefined || this.ending !== undefined;
    });
    if (found === undefined) throw new Error(`closed before a message: ${JSON.stringify(this.ending)}`);
    return found;
  }

  async frame(opcode: number): Promise<ReceivedFrame> {
    let found: ReceivedFrame | undefined;
    await this.until(() => {
      found = this.frames.find((f) => f.opcode === opcode);
      return found !== undefined || this.tcpClosed;
    });
    if (found === undefined) throw new Error(`closed before a frame with opcode ${opcode}`);
    return found;
  }

  /** How the server ended the connection (its close frame, or 1006); undefined if still open after `ms`. */
  async ended(ms = 3000): Promise<Ending | undefined> {
    const timer = new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
    await Promise.race([this.until(() => this.ending !== undefined), timer]);
    return this.ending;
  }

  /** Resolves once the TCP connection is gone; false if it is still up after `ms`. */
  async tcpEnded(ms = 3000): Promise<boolean> {
    const timer = new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
    await Promise.race([this.until(() => this.tcpClosed), timer]);
    return this.tcpClosed;
  }

  get isClosed(): boolean {
    return this.tcpClosed;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private until(condition: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (!condition()) return;
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
      check();
    });
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private onData(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    if (!this.handshaken) {
      const end = this.buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      this.head = this.buffered.subarray(0, end).toString('latin1');
      this.buffered = this.buffered.subarray(end + 4);
      this.handshaken = true;
      // A refusal's body is not frames.
      if (!this.head.startsWith('HTTP/1.1 101')) {
        this.body = this.buffered;
        this.buffered = Buffer.alloc(0);
        this.refused = true;
      }
    } else if (this.refused) {
      this.body = Buffer.concat([this.body, this.buffered]);
      this.buffered = Buffer.alloc(0);
    }
    while (this.parseOne());
    this.notify();
  }

  private parseOne(): boolean {
    const b = this.buffered;
    if (b.length < 2) return false;
    const b0 = b[0] ?? 0;
    const b1 = b[1] ?? 0;
    let len = b1 & 0x7f;
    let at = 2;
    if (len === 126) {
      if (b.length < 4) return false;
      len = b.readUInt16BE(2);
      at = 4;
    } else if (len === 127) {
      if (b.length < 10) return false;
      len = Number(b.readBigUInt64BE(2));
      at = 10;
    }
    if (b1 & 0x80) at += 4; // servers must not mask; tolerate it anyway
    if (b.length < at + len) return false;
    const frame: ReceivedFrame = {
      fin: (b0 & 0x80) !== 0,
      rsv: (b0 >> 4) & 7,
      opcode: b0 & 0xf,
      payload: Buffer.from(b.subarray(at, at + len)),
    };
    this.buffered = b.subarray(at + len);
    this.frames.push(frame);
    if (frame.opcode === Op.close && this.ending === undefined) {
      const p = frame.payload;
      const raw = p.length >= 2 ? p.subarray(2) : Buffer.alloc(0);
      this.ending = { code: p.length >= 2 ? p.readUInt16BE(0) : 1005, reason: raw.toString('utf8'), raw };
    }
    return true;
  }
}
