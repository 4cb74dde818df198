// Waiting on events instead of sleeping: a Signal is poked whenever something a test may be
// waiting for happens (a frame, a client event), and `until` re-checks its condition then.

type Listener = () => void;

export class Signal {
  private readonly listeners = new Set<Listener>();

  notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Resolves once `check()` holds (checked now and on every notify); rejects after timeoutMs. */
  until(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const listener = () => {
        let done: boolean;
        try {
          done = check();
        } catch (err) {
          done = true;
          reject(err as Error);
        }
        if (!done) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve();
      };
      this.listeners.add(listener);
    });
  }
}

interface EmitterLike {
  on(type: never, fn: (arg: never) => void): () => void;
}

export interface Recorded {
  type: string;
  arg: unknown;
  at: number;
}

/** Records the emitter's events of `types` in order, and pokes `signal` on each. */
export function watch(signal: Signal, emitter: EmitterLike, ...types: string[]): Recorded[] {
  const seen: Recorded[] = [];
  const on = emitter.on.bind(emitter) as unknown as (type: string, fn: (arg: unknown) => void) => () => void;
  for (const type of types) {
    on(type, (arg) => {
      seen.push({ type, arg, at: Date.now() });
      signal.notify();
    });
  }
  return seen;
}

/** The arguments of the recorded events of one type. */
export function argsOf<T = unknown>(seen: Recorded[], type: string): T[] {
  return seen.filter((e) => e.type === type).map((e) => e.arg as T);
}
