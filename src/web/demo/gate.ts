// The chat's "drop connection" button: a WebSocket class for the SDK that can close the live
// socket and, until let through again, hand the SDK sockets that close at once, as if the network
// were down. The SDK reconnects by itself and resubscribes from the last message it saw, which
// is what the page shows off.

import type { Sdk } from '../shared/sdk.ts';

export class Gate {
  down = false;
  private current: WebSocket | undefined;

  /** The constructor to pass as the SDK's `WebSocket` option. */
  readonly WebSocket: Sdk.WebSocketConstructor;

  constructor() {
    // A plain function called with `new`: the object it returns is what `new` gives the SDK.
    const open = (url: string): Sdk.WebSocketLike => {
      if (this.down) return closedSocket();
      const ws = new WebSocket(url);
      this.current = ws;
      return ws;
    };
    this.WebSocket = function GatedWebSocket(url: string): Sdk.WebSocketLike {
      return open(url);
    } as unknown as Sdk.WebSocketConstructor;
  }

  /** Closes the live socket (code 3000: the page's own) and keeps the network "down". */
  drop(): void {
    this.down = true;
    this.current?.close(3000, 'dropped by the demo page');
    this.current = undefined;
  }

  lift(): void {
    this.down = false;
  }
}

/** A socket that never opens: closes on the next tick with 1006, as a refused connection does. */
function closedSocket(): Sdk.WebSocketLike {
  const socket: Sdk.WebSocketLike = {
    readyState: 3,
    send() {},
    close() {},
    onopen: null,
    onmessage: null,
    onclose: null,
    onerror: null,
  };
  window.setTimeout(() => socket.onclose?.({ code: 1006, reason: 'offline (demo)' }), 0);
  return socket;
}
