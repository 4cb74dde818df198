// The SDK as a web page uses it: headless Chromium loads /hubbub.js from the hub with a script
// tag, subscribes, receives what a Node client publishes, sees presence, and survives the server
// closing its connection (reconnect, recover, each message once). Needs Chromium at
// /usr/bin/chromium (or CHROMIUM_PATH): skipped with a warning without it, failed when CI=true.

import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { buildClient } from '../../client/build.mjs';
import type * as Sdk from '../../client/src/index.js';
import { HubClient } from '../../client/src/index.js';
import type { Session } from '../../src/session.js';
import { startTestHub, type TestHub } from '../helpers/hub-server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
const inCI = process.env.CI === 'true';

if (!available && !inCI) {
  console.warn(
    `\n*** SKIPPING the browser e2e test: no Chromium at ${CHROMIUM}. Install it to run the SDK in a real ` +
      'browser; with CI=true this test fails instead of skipping. ***\n',
  );
}

/** What the page keeps on its global object for the test to read. */
interface PageState {
  Hubbub: typeof Sdk;
  client: Sdk.HubClient;
  sub: Sdk.Subscription;
  received: unknown[];
  subscribed: Sdk.SubscribedInfo[];
  states: string[];
}

describe('the client SDK in a browser', () => {
  it.runIf(!available && inCI)('needs Chromium in CI', () => {
    throw new Error(`Chromium not found at ${CHROMIUM}: the browser e2e test cannot run; install chromium in the CI image`);
  });

  describe.skipIf(!available)('headless Chromium', () => {
    let hub: TestHub;
    let browser: Browser;
    let page: Page;
    const sessions = new Set<Session>();
    const pageErrors: string[] = [];

    beforeAll(async () => {
      await buildClient();
      hub = await startTestHub('uws');
      const open = hub.hub.onOpen.bind(hub.hub);
      hub.hub.onOpen = (conn, req) => {
        const session = open(conn, req);
        sessions.add(session);
        return session;
      };
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      });
      page = await browser.newPage();
      page.on('pageerror', (err) => pageErrors.push(err.message));
    });

    afterAll(async () => {
      await browser?.close();
      await hub?.close();
    });

    /** Waits in the page until `check(state)` holds. */
    async function pageUntil(check: (state: PageState) => boolean, what: string): Promise<void> {
      await page
        .waitForFunction(
          `(${check.toString()})(globalThis)`,
          undefined,
          { timeout: 10_000, polling: 10 },
        )
        .catch((err: unknown) => {
          throw new Error(`page: timed out waiting for ${what}: ${String(err)}`);
        });
    }

    function readPage<T>(read: (state: PageState) => T): Promise<T> {
      return page.evaluate(`(${read.toString()})(globalThis)`) as Promise<T>;
    }

    it('loads /hubbub.js, receives publications and presence, and recovers after the server closes its connection', async () => {
      await page.goto(`http://127.0.0.1:${hub.port}/health`);
      await page.addScriptTag({ url: `http://127.0.0.1:${hub.port}/hubbub.js` });
      expect(await page.evaluate('typeof Hubbub.HubClient')).toBe('function');

      const pageClient = (await page.evaluate(async (url: string) => {
        const g = globalThis as unknown as PageState;
        g.received = [];
        g.subscribed = [];
        g.states = [];
        g.client = new g.Hubbub.HubClient(url);
        g.client.on('state', (s) => g.states.push(s));
        g.sub = g.client.subscribe('chat:room');
        g.sub.on('message', (m) => g.received.push(m.data));
        g.sub.on('subscribed', (s) => g.subscribed.push(s));
        await g.sub.ready;
        return g.client.info?.client;
      }, hub.url)) as string;
      expect(pageClient).toMatch(/\S/);

      const node = new HubClient(hub.url, { WebSocket });
      try {
        const nodeSub = node.subscribe('chat:room');
        await nodeSub.ready;
        await nodeSub.publish({ text: 'hello from node' });
        await pageUntil((s) => s.received.length === 1, 'the first message');
        expect(await readPage((s) => s.received)).toEqual([{ text: 'hello from node' }]);

        const members = await nodeSub.presence();
        expect(members.map((m) => m.client).sort()).toEqual([pageClient, node.info?.client].sort());
        expect(await page.evaluate('sub.presenceStats()')).toEqual({ clients: 2, users: 1 });

        // The server closes the page's connection; something is published while it is away.
        const session = [...sessions].find((s) => s.isOpen && s.info.client === pageClient);
        expect(session).toBeDefined();
        session?.close(4000, 'server restarting');
        await nodeSub.publish({ text: 'while away' });
        await pageUntil((s) => s.subscribed.length === 2 && s.client.state === 'connected', 'the reconnect');
        await nodeSub.publish({ text: 'after reconnect' });
        await pageUntil((s) => s.received.length >= 3, 'the later messages');
        expect(await readPage((s) => s.received)).toEqual([
          { text: 'hello from node' },
          { text: 'while away' },
          { text: 'after reconnect' },
        ]);
        expect(await readPage((s) => s.states)).toEqual(['connected', 'disconnected', 'connecting', 'connected']);
        expect(await readPage((s) => s.subscribed.map((x) => x.recovered))).toEqual([false, true]);
        expect(pageErrors).toEqual([]);
        await page.evaluate('client.close()');
        expect(await readPage((s) => s.client.state)).toBe('closed');
      } finally {
        await node.close();
      }
    });
  });
});
