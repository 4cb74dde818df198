// Bare `ws` fan-out server for `npm run bench:fanout`: a ws WebSocketServer on node:http that
// relays each message to every other open client with `client.send(data, { binary })`, the
// broadcast idiom from the ws README. GET /health answers 200 so the runner knows it listens.
// Usage: node --import tsx load/fanout/bare-ws.ts <port>

import http from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';

const port = Number(process.argv[2] ?? '9002');

const server = http.createServer((req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404, { 'content-type': 'text/plain' });
  res.end(req.url === '/health' ? 'ok' : 'not found');
});
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 1024 * 1024 });

wss.on('connection', (ws) => {
  ws.on('error', () => ws.terminate()); // a protocol error ends that socket, not the server
  ws.on('message', (data, isBinary) => {
    for (const client of wss.clients) {
      if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    }
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`bare-ws listening on 127.0.0.1:${port}`);
});

// Exit with the runner: when it dies without killing us (SIGKILL), we get a new parent.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
