// Pusher-protocol tests against a real hubbub on real sockets: two apps, an auth endpoint written
// here (signing with the `pusher` server SDK, as an app backend does), and pusher-js clients
// connected the way docs/pusher.md tells users to. The hub runs in this process by default (so
// coverage sees the protocol code), or as a child process started from a config file, for the
// tests that must survive whatever a client does to the process itself (the fuzzers).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import PusherServer from 'pusher';
import PusherJs, { type Options } from 'pusher-js';
import type * as PusherTypes from 'pusher-js/types/src/core/pusher.js';

// pusher-js's types do not declare its default export: its class is typed from its own sources.
type Pusher = PusherTypes.default;
const PusherClient = PusherJs as unknown as new (key: string, options: Options) => Pusher;
import type { ConfigInput } from '../../src/config/index.js';
import { startTestHub } from './hub-server.js';
import { spawnHub } from './process.js';

export const APP = { id: 'app1', key: 'app1-key', secret: 'app1-secret-0123456789' } as const;
/** The second app keeps history: its events carry positions and clients may resume. */
export const OTHER_APP = { id: 'app2', key: 'app2-key', secret: 'app2-secret-0123456789' } as const;
export const API_KEY = 'pusher-test-api-key-0123456789';
/** The app backend's key for encrypted channels: hubbub never sees it. */
export const MASTER_KEY = Buffer.alloc(32, 7).toString('base64');

export interface PusherHub {
  /** What the hub logged (a child process only; empty in this process, where logs are silent). */
  hub: { output(): string };
  port: number;
  /** The server SDK, pointed at the hub. */
  sdk(app?: { id: string; key: string; secret: string }): PusherServer;
  /** A connected pusher-js client of APP, authorized by the test's auth endpoint as `user`. */
  client(user?: string, options?: Partial<Options>): Promise<Pusher>;
  /** pusher-js without waiting for it to connect. */
  raw(key: string, options?: Partial<Options>): Pusher;
  authUrl: string;
  close(): Promise<void>;
}

/** A hub in this process or in a child process, with what the tests need of either. */
interface Running {
  port: number;
  output(): string;
  stop(): Promise<void>;
}

async function startHere(transport: 'ws' | 'uws', config: Record<string, unknown>): Promise<Running> {
  const hub = await startTestHub(transport, config as ConfigInput);
  return { port: hub.port, output: () => '', stop: () => hub.close() };
}

async function startProcess(transport: 'ws' | 'uws', config: Record<string, unknown>): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'hubbub-pusher-'));
  const file = join(dir, 'hubbub.json');
  writeFileSync(file, JSON.stringify({ logLevel: 'warn', server: { transport }, ...config }));
  const hub = await spawnHub({ HUBBUB_CONFIG: file });
  return {
    port: hub.port,
    output: () => hub.output(),
    async stop() {
      hub.child.kill('SIGTERM');
      const exited = await Promise.race([hub.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 5000))]);
      if (exited !== true) hub.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `app`: more settings of APP (e.g. its webhooks); `where`: this process, or a child process. */
export async function startPusherHub(
  transport: 'ws' | 'uws',
  config: Record<string, unknown> = {},
  app: Record<string, unknown> = {},
  where: 'here' | 'process' = 'here',
): Promise<PusherHub> {
  const full = {
    api: { keys: [API_KEY] },
    pusher: { apps: [{ ...APP, ...app }, { ...OTHER_APP, history: { size: 100 } }] },
    ...config,
  };
  const hub = await (where === 'here' ? startHere : startProcess)(transport, full);
  const sdk = (app: { id: string; key: string; secret: string } = APP) =>
    new PusherServer({
      appId: app.id,
      key: app.key,
      secret: app.secret,
      host: '127.0.0.1',
      port: String(hub.port),
      useTLS: false,
      encryptionMasterKeyBase64: MASTER_KEY,
    });
  const auth = await authEndpoint(sdk());
  const clients: Pusher[] = [];
  const raw = (key: string, options: Partial<Options> = {}): Pusher => {
    const p = pusherClient(hub.port, key, options);
    clients.push(p);
    return p;
  };
  return {
    hub,
    port: hub.port,
    sdk,
    authUrl: auth.url,
    raw,
    async client(user = 'alice', options = {}) {
      const p = raw(APP.key, {
        channelAuthorization: { endpoint: auth.url, transport: 'ajax', params: { user } },
        userAuthentication: { endpoint: `${auth.url}/user`, transport: 'ajax', params: { user } },
        ...options,
      });
      await until(() => p.connection.state === 'connected', `pusher-js connected (state ${p.connection.state})`);
      return p;
    },
    async close() {
      for (const c of clients) c.disconnect();
      auth.server.close();
      await hub.stop();
    },
  };
}

/** pusher-js as docs/pusher.md tells users to point it at hubbub (it connects at once). */
export function pusherClient(port: number, key: string, options: Partial<Options> = {}): Pusher {
  return new PusherClient(key, {
    cluster: 'mt1',
    wsHost: '127.0.0.1',
    wsPort: port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    ...options,
  });
}

/** The app backend's auth endpoint: presence members are `{user_id: user, user_info: {name}}`. */
async function authEndpoint(sdk: PusherServer): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      const socketId = form.get('socket_id') ?? '';
      const user = form.get('user') ?? 'anonymous';
      let answer: unknown;
      if (req.url === '/auth/user') {
        answer = sdk.authenticateUser(socketId, { id: user, name: user });
      } else {
        const channel = form.get('channel_name') ?? '';
        answer = channel.startsWith('presence-')
          ? sdk.authorizeChannel(socketId, channel, { user_id: user, user_info: { name: user } })
          : sdk.authorizeChannel(socketId, channel);
      }
      res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*' });
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth`, server };
}

/** Waits for a condition, checked every 10 ms, failing after `timeoutMs`. */
export async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves with the first `event` a channel (or the client's global binding) sees. */
export function next(target: { bind(event: string, cb: (data: unknown) => void): unknown; unbind(event: string, cb: (data: unknown) => void): unknown }, event: string, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    const cb = (data: unknown) => {
      clearTimeout(timer);
      target.unbind(event, cb);
      resolve(data);
    };
    target.bind(event, cb);
  });
}
