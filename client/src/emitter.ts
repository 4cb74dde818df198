// A minimal typed event emitter: `on` returns its own unsubscribe. A throwing listener neither
// stops the others nor the SDK's own bookkeeping; its error is rethrown as an unhandled rejection.

type Listener = (arg: never) => void;

export class Emitter<E> {
  /** @internal */
  _l: Record<string, Set<Listener>> = {};

  /** Calls `fn` on every `type` event; returns a function that stops it. */
  on<K extends keyof E & string>(type: K, fn: (arg: E[K]) => void): () => void {
    const set = (this._l[type] ??= new Set());
    set.add(fn);
    return () => {
      set.delete(fn);
    };
  }

  /** @internal */
  _emit(type: string, arg?: unknown): void {
    for (const fn of this._l[type] ?? []) {
      try {
        (fn as (arg: unknown) => void)(arg);
      } catch (err) {
        void Promise.reject(err);
      }
    }
  }
}
