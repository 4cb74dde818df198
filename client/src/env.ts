// The host globals the SDK touches, looked up when used (so fake timers apply) and typed
// structurally, so the SDK needs neither the DOM nor the Node type library.

import type { WebSocketConstructor } from './types.js';

interface Host {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
  WebSocket?: WebSocketConstructor;
  addEventListener?(type: 'online', fn: () => void): void;
  removeEventListener?(type: 'online', fn: () => void): void;
  console?: { error(message: string): void };
}

export const host = globalThis as unknown as Host;
