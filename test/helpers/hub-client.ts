// A minimal protocol client for tests: real `ws` sockets, commands with ids and awaited replies,
// pushes collected in arrival order, and waits on events instead of sleeps.

import WebSocket from 'ws';

export type Frame = { [key: string]: unknown };

export class ReplyError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: Frame | undefined,
  ) {
    super(`${code}: ${message}`);
  }
}

export class HubTestClient {
  readonly pushes: Frame[] = [];
  /** Every frame in arrival order, replies included. */
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: Frame) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const parsed = JSON.parse(data.toString()) as Frame | Frame[];
      for (const frame of Array.isArray(parsed) ? parsed : [parsed]) this.receive(frame);
      for (const listener of this.listeners) listener();
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        for (const w of this.waiting.values()) w.reject(new Error(`closed ${code}`));
        for (const listener of this.listeners) listener();
        resolve({ code, reason: reason.toString() });
      });
    });
  }

  static async open(url: string, options: { connect?: boolean; headers?: Record<string, string> } = {}): Promise<HubTestClient> {
    const ws = new WebSocket(url, { headers: options.headers ?? {} });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const client = new HubTestClient(ws);
    if (options.connect !== false) await client.call('connect');
    return client;
  }

  /** Sends one command and resolves with its result, or rejects with a ReplyError. */
  call(method: string, params: Frame = {}): Promise<Frame> {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ id, method, ...params }));
    return this.reply(id);
  }

  /** Sends several commands in one frame; resolves with each reply frame. */
  async batch(commands: Frame[]): Promise<Frame[]> {
    const withIds = commands.map((c) => ({ id: this.nextId++, ...c }));
    const replies = withIds.map((c) => this.reply(c.id).then((result) => ({ result }), (error: unknown) => ({ error })));
    this.ws.send(JSON.stringify(withIds));
    return Promise.all(replies);
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  pushesOf(kind: string, channel?: string): Frame[] {
    return this.pushes.filter((p) => p.push === kind && (channel === undefined || p.channel === channel));
  }

  /** Resolves once `check` returns true, re-checked on every frame; rejects after timeoutMs. */
  async until(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    if (check()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const listener = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve();
      };
      this.listeners.add(listener);
    });
  }

  close(): void {
    this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }

  private reply(id: number): Promise<Frame> {
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  private receive(frame: Frame): void {
    this.frames.push(frame);
    if (typeof frame.id !== 'number') {
      this.pushes.push(frame);
      return;
    }
    const w = this.waiting.get(frame.id);
    if (w === undefined) return;
    this.waiting.delete(frame.id);
    const error = frame.error as { code: string; message: string; details?: Frame } | undefined;
    if (error !== undefined) w.reject(new ReplyError(error.code, error.message, error.details));
    else w.resolve(frame.result as Frame);
  }
}

/** Rejects unless `promise` fails with a reply error of this code; returns the error. */
export async function expectCode(promise: Promise<unknown>, code: string): Promise<ReplyError> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected error ${code}, got ${JSON.stringify(outcome.value)}`);
  if (!(outcome.error instanceof ReplyError)) throw outcome.error;
  if (outcome.error.code !== code) throw new Error(`expected error ${code}, got ${outcome.error.message}`);
  return outcome.error;
}
