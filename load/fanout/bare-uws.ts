// Bare uWebSockets.js fan-out server, the ceiling row of `npm run bench:fanout`: every socket
// subscribes to topic 'bench' on open; every text message from a socket whose URL has `?pub=1` is
// `app.publish('bench', msg, false)`. GET /health answers 200 so the runner knows it listens.
// Usage: node --import tsx load/fanout/bare-uws.ts <port> [--pings]
// --pings: hubbub's keepalive (idleTimeout 50 s with automatic pings, as for its default 25 s ping
// interval) instead of none, for comparing idle cost.

import uws from '@trufflesuite/uws-js-unofficial';

interface UserData {
  pub: boolean;
}

const port = Number(process.argv[2] ?? '9001');
const pings = process.argv.includes('--pings');
// The package falls back to a slow pure-JS imitation when its native binary does not load; that
// would make a meaningless ceiling. Only the native module exports the compressor constants.
if (typeof (uws as { DISABLED?: unknown }).DISABLED !== 'number') {
  console.error('bare-uws: the uWebSockets.js native binary did not load (JS fallback); refusing to run');
  process.exit(1);
}
const app = uws.App();

app.ws<UserData>('/*', {
  compression: uws.DISABLED,
  maxPayloadLength: 1024 * 1024,
  // Well above what the bench keeps in flight (window x payload), so publish never drops a frame.
  maxBackpressure: 16 * 1024 * 1024,
  idleTimeout: pings ? 50 : 0,
  sendPingsAutomatically: pings,
  upgrade: (res, req, context) => {
    res.upgrade<UserData>(
      { pub: new URLSearchParams(req.getQuery() ?? '').get('pub') === '1' },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open: (ws) => {
    ws.subscribe('bench');
  },
  message: (ws, message, isBinary) => {
    if (!isBinary && ws.getUserData().pub) app.publish('bench', message, false);
  },
});
app.get('/health', (res) => {
  res.end('ok');
});
app.listen('127.0.0.1', port, (listenSocket) => {
  if (!listenSocket) {
    console.error(`bare-uws: cannot listen on 127.0.0.1:${port}`);
    process.exit(1);
  }
  console.log(`bare-uws listening on 127.0.0.1:${port}`);
});

// Exit with the runner: when it dies without killing us (SIGKILL), we get a new parent.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
