// The operator console in real Chromium against a hub process with auth on: it refuses anyone
// without an API key; with one it shows the live connection count (pushed over the hub's own
// internal channel), lists and browses a channel, publishes to it (the subscriber gets it) and
// disconnects a user. The key never appears in a URL or in the hub's log, and ordinary clients
// cannot reach the internal channel.

import { SignJWT } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { buildClient } from '../../client/build.mjs';
import { HubClient, type HubError, type Message } from '../../client/src/index.js';
import { buildWeb } from '../../src/web/build.mjs';
import { chromiumAvailable, DESKTOP, inCI, launchChromium, screenshots, warnWithoutChromium, watchErrors } from '../helpers/browser.js';
import { type HubProcess, spawnHub } from '../helpers/process.js';

warnWithoutChromium('the console page tests');

const KEY = 'console-test-key-0123456789';
const SECRET = 'a-secret-of-at-least-32-characters-long!';
const WAIT = { timeout: 10_000 };

function token(user: string): Promise<string> {
  return new SignJWT({ sub: user, caps: { 'chat:*': ['subscribe', 'publish', 'presence', 'history'] } })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET));
}

describe('the operator console', () => {
  it.runIf(!chromiumAvailable && inCI)('needs Chromium in CI', () => {
    throw new Error('Chromium not found: the console tests cannot run; install chromium in the CI image');
  });

  describe.skipIf(!chromiumAvailable)('in headless Chromium', () => {
    let hub: HubProcess;
    let browser: Browser;
    const errors: string[] = [];
    const urls: string[] = [];
    const clients: HubClient[] = [];

    beforeAll(async () => {
      await Promise.all([buildWeb(), buildClient({ declarations: false })]);
      [hub, browser] = await Promise.all([
        spawnHub({ HUBBUB_LOG_LEVEL: 'debug', HUBBUB_API_KEYS: KEY, HUBBUB_AUTH_SECRET: SECRET }),
        launchChromium(),
      ]);
    });

    afterAll(async () => {
      await Promise.all(clients.map((c) => c.close()));
      await browser?.close();
      hub?.child.kill('SIGKILL');
      await hub?.exited;
    });

    afterEach(() => {
      expect(errors).toEqual([]);
    });

    const url = (path = '') => `http://127.0.0.1:${hub.port}${path}`;

    async function open(): Promise<Page> {
      const context = await browser.newContext({ viewport: DESKTOP });
      const page = await context.newPage();
      watchErrors(page, errors);
      page.on('request', (r) => urls.push(r.url()));
      await page.goto(url('/console'));
      return page;
    }

    function client(options: ConstructorParameters<typeof HubClient>[1] = {}): HubClient {
      const c = new HubClient(`ws://127.0.0.1:${hub.port}/ws`, { WebSocket, reconnect: false, ...options });
      clients.push(c);
      return c;
    }

    it('is refused without the API key', async () => {
      const page = await open();
      expect(await page.isVisible('#login')).toBe(true);
      await page.fill('#key', 'not-the-key-0123456789');
      await page.press('#key', 'Enter');
      await page.waitForSelector('#login-error:has-text("refused")', WAIT);
      expect(await page.isVisible('#dashboard')).toBe(false);
      await screenshots(page, 'console-login');
      // The browser itself logs the refused request (401); that is its network log, not the page's error.
      expect(errors).toEqual([expect.stringMatching(/Failed to load resource: the server responded with a status of 401/)]);
      errors.length = 0;

      const ticket = await fetch(url('/api/console/ticket'), { method: 'POST', body: '{}' });
      expect(ticket.status).toBe(401);

      // A made-up ticket is a bad token; an ordinary user cannot name the internal channel.
      const forged = client({ token: 'op_forged-ticket-0000000000000000' });
      const refused = await new Promise<HubError>((resolve) => forged.on('error', resolve));
      expect(refused.code).toBe('unauthorized');
      const alice = client({ token: () => token('alice') });
      const sneaky = alice.subscribe('$hubbub:console');
      const denied = await new Promise<HubError>((resolve) => sneaky.on('error', resolve));
      expect(denied.code).toBe('invalid_channel');
      await alice.close();
    });

    it('shows live connections, browses and publishes to a channel, and disconnects a user', async () => {
      const page = await open();
      await page.fill('#key', KEY);
      await page.press('#key', 'Enter');
      await page.waitForSelector('#dashboard', { state: 'visible', ...WAIT });
      // Its own connection, pushed over the internal channel.
      await page.waitForSelector('#t-connections:text-is("1")', WAIT);

      const alice = client({ token: () => token('alice') });
      const room = alice.subscribe('chat:room');
      const received: unknown[] = [];
      room.on('message', (m: Message) => received.push(m.data));
      await room.ready;
      await page.waitForSelector('#t-connections:text-is("2")', WAIT);
      await page.waitForSelector('#nodes tr', WAIT);
      expect(await page.textContent('#nodes tr')).toContain('memory · ok');

      await page.click('#refresh');
      await page.waitForSelector('#channels li[data-channel="chat:room"]', WAIT);
      expect(await page.textContent('#channels li[data-channel="chat:room"]')).toContain('1 sub');
      await page.click('#channels li[data-channel="chat:room"] button');
      await page.waitForSelector('#detail:has-text("Present (1)")', WAIT);
      expect(await page.textContent('#detail')).toContain('alice');

      await page.fill('#pub-data', '{"text":"from the console"}');
      expect(await page.inputValue('#pub-channel')).toBe('chat:room');
      await page.click('#publish-form button');
      await page.waitForSelector('#publish-result:has-text("offset 1")', WAIT);
      await expect.poll(() => received, WAIT).toEqual([{ text: 'from the console' }]);
      await page.waitForSelector('#detail:has-text("from the console")', WAIT);

      const gone = new Promise<{ code: number; reconnect: boolean }>((resolve) => alice.on('disconnected', resolve));
      await page.fill('#dc-user', 'alice');
      await page.click('#disconnect-form button');
      await page.waitForSelector('#disconnect-result:has-text("Closed 1 connection of alice")', WAIT);
      expect(await gone).toMatchObject({ code: 4103, reconnect: false });
      await page.waitForSelector('#t-connections:text-is("1")', WAIT);
      await screenshots(page, 'console');

      // The key went only in headers: no URL the page asked for, and nothing the hub logged, holds it.
      expect(urls.filter((u) => u.includes(KEY))).toEqual([]);
      expect(page.url()).toBe(url('/console'));
      expect(hub.output()).not.toContain(KEY);
      expect(hub.output()).toContain('"msg":"connection open"');
    });
  });
});
