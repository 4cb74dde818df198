// What `npm run build` ships for the client: the bundles and declarations in client/dist, the
// size budget of the script-tag bundle, types a consumer can compile against, and a Node
// process that exits by itself once its clients are closed (no timer or socket left behind).

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { type BuildResult, buildClient } from '../../client/build.mjs';
import { freePort } from '../helpers/process.js';
import { startTestHub } from '../helpers/hub-server.js';

const root = join(import.meta.dirname, '../..');
// Raised from 4096 for server-side subscriptions (the `publication` event, recovered from positions sent at connect) and rpc (issue 15).
const BUDGET = 4224;
let built: BuildResult;

beforeAll(async () => {
  built = await buildClient();
});

describe('client build', () => {
  it(`keeps the gzipped script-tag bundle within ${BUDGET} bytes`, () => {
    const min = readFileSync(join(root, 'client/dist/hubbub.min.js'));
    const gzipped = gzipSync(min, { level: 9 }).length;
    console.info(`hubbub.min.js: ${min.length} bytes minified, ${gzipped} bytes gzipped (budget ${BUDGET})`);
    expect(gzipped).toBe(built.gzipped);
    expect(gzipped).toBeLessThanOrEqual(BUDGET);
  });

  it('writes the ESM bundle, the global-setting IIFE and the declarations', async () => {
    for (const f of ['index.js', 'index.js.map', 'hubbub.min.js', 'index.d.ts', 'client.d.ts', 'subscription.d.ts', 'types.d.ts']) {
      expect(built.files).toContain(join(root, 'client/dist', f));
    }
    const esm = (await import(/* @vite-ignore */ pathToFileURL(join(root, 'client/dist/index.js')).href)) as Record<string, unknown>;
    expect(Object.keys(esm).sort()).toEqual(['HubClient', 'HubError', 'Leaderboard', 'Subscription']);
    // The IIFE defines the global Hubbub and nothing else.
    const scope: Record<string, unknown> = {};
    new Function('globalThis', readFileSync(join(root, 'client/dist/hubbub.min.js'), 'utf8'))(scope);
    expect(Object.keys(scope)).toEqual(['Hubbub']);
    expect(Object.keys(scope.Hubbub as object).sort()).toEqual(['HubClient', 'HubError', 'Leaderboard', 'Subscription']);
    // Internals are mangled in the bundle and absent from the declarations.
    expect(readFileSync(join(root, 'client/dist/client.d.ts'), 'utf8')).not.toMatch(/\b_\w+/);
  });

  it('gives a TypeScript consumer of hubbub-client the public API, typed, and nothing internal', () => {
    // Inside the repository (in the git-ignored .tmp/), so that 'hubbub-client' resolves to the
    // client workspace's own exports, as it will for a consumer that installed it.
    mkdirSync(join(root, '.tmp'), { recursive: true });
    const dir = mkdtempSync(join(root, '.tmp', 'consumer-'));
    try {
      const file = join(dir, 'consumer.ts');
      writeFileSync(
        file,
        [
          "import { HubClient, HubError, type Message, type BoardEntry } from 'hubbub-client';",
          "import WebSocket from 'ws';",
          "const client = new HubClient('ws://localhost:8080/ws', { WebSocket, token: async () => 'jwt', reconnect: { minDelayMs: 100 } });",
          "client.on('state', (s: 'disconnected' | 'connecting' | 'connected' | 'closed') => s);",
          "const sub = client.subscribe('chat:lobby', { recover: true, last: 10 });",
          "sub.on('message', (m: Message) => m.offset + m.epoch.length);",
          "sub.on('subscribed', ({ recovered }) => recovered === true);",
          "const board = client.leaderboard('scores:weekly', { top: 10 });",
          "board.on('update', (entries: BoardEntry[]) => entries[0]?.member);",
          'export async function run(): Promise<number> {',
          "  const { offset } = await sub.publish({ text: 'hi' });",
          "  const rank: number | null = (await board.rank('alice')).rank;",
          "  const e = new HubError('x', 'y');",
          '  return offset + (rank ?? 0) + e.code.length;',
          '}',
          '// @ts-expect-error internals are not in the declarations',
          'client._call;',
          '// @ts-expect-error events are checked by name',
          "sub.on('mesage', () => {});",
          '',
        ].join('\n'),
      );
      const program = ts.createProgram([file], {
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        target: ts.ScriptTarget.ES2022,
        lib: ['lib.es2023.d.ts'],
        types: ['node'],
        noEmit: true,
        skipLibCheck: true,
      });
      const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      expect(diagnostics).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lets a Node process exit by itself after close(): no timer, listener or socket left', async () => {
    const hub = await startTestHub('ws');
    const deadUrl = `ws://127.0.0.1:${await freePort()}/ws`;
    const script = `
      import { HubClient } from ${JSON.stringify(pathToFileURL(join(root, 'client/dist/index.js')).href)};
      import WebSocket from 'ws';
      const [url, deadUrl] = process.argv.slice(-2);
      const live = new HubClient(url, { WebSocket });
      const sub = live.subscribe('chat:exit');
      await sub.ready;
      const got = new Promise((resolve) => sub.on('message', (m) => resolve(m.data)));
      await live.publish('chat:exit', 'bye');
      const data = await got;
      // A command waiting (with its timeout timer) and a reconnect timer, both ten minutes long.
      const dead = new HubClient(deadUrl, { WebSocket, timeoutMs: 600000, reconnect: { minDelayMs: 600000, maxDelayMs: 600000 } });
      const pending = dead.publish('chat:x', 1).catch((e) => e.code);
      await new Promise((resolve) => dead.on('disconnected', resolve));
      await Promise.all([live.close(), dead.close()]);
      process.stdout.write(JSON.stringify({ data, pending: await pending, states: [live.state, dead.state] }));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, hub.url, deadUrl], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += String(d)));
    child.stderr.on('data', (d: Buffer) => (err += String(d)));
    try {
      const exit = await new Promise<number | null | 'still running'>((resolve) => {
        const timer = setTimeout(() => resolve('still running'), 10_000);
        child.once('exit', (code) => {
          clearTimeout(timer);
          resolve(code);
        });
      });
      expect({ exit, err }).toEqual({ exit: 0, err: '' });
      expect(JSON.parse(out)).toEqual({ data: 'bye', pending: 'closed', states: ['closed', 'closed'] });
    } finally {
      child.kill('SIGKILL');
      await hub.close();
    }
  });
});
