// Socket.IO fan-out server, the "most common alternative" row of the comparisons: every client
// joins room 'bench' on connect; a `p` event from a client whose handshake query has `pub=1` is
// sent to the room with `socket.to('bench').emit('m', data)` (the rooms idiom of the Socket.IO
// docs). WebSocket transport only, no compression, so the rows compare servers rather than
// transports. GET /health answers 200 so the runner knows it listens.
// Wire, for raw clients: GET /socket.io/?EIO=4&transport=websocket[&pub=1]; the server opens with
// `0{...}`, the client sends `40` and gets `40{"sid":...}`; deliveries are `42["m",<data>]`; the
// server's ping `2` must be answered with `3` within pingTimeout.
// Usage: node --import tsx load/fanout/bare-socketio.ts <port>

import http from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.argv[2] ?? '9003');

const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  }
  // Anything else under /socket.io/ is answered by Socket.IO; other paths get its 400.
});
const io = new Server(server, {
  transports: ['websocket'],
  perMessageDeflate: false,
  maxHttpBufferSize: 1024 * 1024,
  serveClient: false,
});

io.on('connection', (socket) => {
  const pub = socket.handshake.query['pub'] === '1';
  if (!pub) void socket.join('bench');
  else socket.on('p', (data: unknown) => socket.to('bench').emit('m', data));
});

server.listen(port, '127.0.0.1', () => {
  console.log(`bare-socketio listening on 127.0.0.1:${port}`);
});

// Exit with the runner: when it dies without killing us (SIGKILL), we get a new parent.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
