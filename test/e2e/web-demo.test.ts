// The demo pages as a newcomer meets them, in real Chromium against a hub process started the
// way `npm start` starts it (no config file, so the demo is on): two people chat and see each
// other's presence and typing; one drops its connection and gets exactly the messages it missed;
// the leaderboard reorders from another page's clicks; the dashboard's chart fills from the hub's
// feed; the pages say when the hub goes away and when it is back. No page logs an error.

import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildClient } from '../../client/build.mjs';
import { buildWeb } from '../../src/web/build.mjs';
import { chromiumAvailable, DESKTOP, inCI, launchChromium, screenshots, warnWithoutChromium, watchErrors } from '../helpers/browser.js';
import { type HubProcess, spawnHub } from '../helpers/process.js';

warnWithoutChromium('the demo page tests');

const WAIT = { timeout: 10_000 };

describe('the demo pages', () => {
  it.runIf(!chromiumAvailable && inCI)('needs Chromium in CI', () => {
    throw new Error('Chromium not found: the page tests cannot run; install chromium in the CI image');
  });

  describe.skipIf(!chromiumAvailable)('in headless Chromium', () => {
    let hub: HubProcess;
    let browser: Browser;
    const contexts: BrowserContext[] = [];
    const errors: string[] = [];

    beforeAll(async () => {
      await Promise.all([buildWeb(), buildClient({ declarations: false })]);
      [hub, browser] = await Promise.all([spawnHub({ HUBBUB_LOG_LEVEL: 'warn' }), launchChromium()]);
    });

    afterAll(async () => {
      await browser?.close();
      hub?.child.kill('SIGKILL');
      await hub?.exited;
    });

    afterEach(() => {
      expect(errors).toEqual([]);
    });

    const base = () => `http://127.0.0.1:${hub.port}`;

    async function open(path: string): Promise<Page> {
      const context = await browser.newContext({ viewport: DESKTOP });
      contexts.push(context);
      const page = await context.newPage();
      watchErrors(page, errors);
      await page.goto(base() + path);
      return page;
    }

    async function joinChat(name: string): Promise<Page> {
      const page = await open('/chat');
      await page.fill('#name', name);
      await page.press('#name', 'Enter');
      await page.waitForSelector('#status[data-state="connected"]', WAIT);
      await page.waitForSelector('#history-note:has-text("history loaded")', WAIT);
      return page;
    }

    const texts = (page: Page) => page.$$eval('#messages .msg', (lis) => lis.map((li) => `${li.querySelector('.author')?.textContent}: ${li.querySelector('.text')?.textContent}`));
    const people = (page: Page) => page.$$eval('#people .who', (els) => els.map((e) => e.textContent ?? '').sort());

    async function send(page: Page, text: string): Promise<void> {
      const before = (await texts(page)).length;
      await page.fill('#text', text);
      await page.press('#text', 'Enter');
      // Shown once the hub has it: the page's own message comes back from the channel.
      await expect.poll(() => page.locator('#messages .msg').count(), WAIT).toBeGreaterThan(before);
    }

    let alice: Page;
    let bob: Page;

    it('opens on an index of the three demos and the console', async () => {
      const page = await open('/');
      const links = await page.$$eval('.cards a', (as) => as.map((a) => a.getAttribute('href')));
      expect(links).toEqual(['/chat', '/leaderboard', '/dashboard']);
      expect(await page.$$eval('nav a', (as) => as.map((a) => a.getAttribute('href')))).toContain('/console');
      await screenshots(page, 'index');
    });

    it('lets two people chat, each seeing the other in the room and typing', async () => {
      alice = await joinChat('Alice');
      bob = await joinChat('Bob');
      await alice.waitForSelector('#people .who:text-is("Bob")', WAIT);
      await bob.waitForSelector('#people .who:text-is("Alice")', WAIT);
      expect(await people(alice)).toEqual(['Alice', 'Bob']);
      expect(await people(bob)).toEqual(['Alice', 'Bob']);

      await bob.type('#text', 'hel');
      await alice.waitForSelector('#typing:has-text("Bob is typing…")', WAIT);
      await bob.fill('#text', 'hello Alice');
      await bob.press('#text', 'Enter');
      await alice.waitForSelector('#messages .msg:has-text("hello Alice")', WAIT);
      await send(alice, 'hi Bob');
      await bob.waitForSelector('#messages .msg:has-text("hi Bob")', WAIT);
      expect(await texts(alice)).toEqual(['Bob: hello Alice', 'Alice: hi Bob']);
      expect(await texts(bob)).toEqual(['Bob: hello Alice', 'Alice: hi Bob']);
      await screenshots(alice, 'chat');
    });

    it('gives a dropped connection exactly the messages it missed, once, in order', async () => {
      const before = await texts(alice);
      await alice.click('#drop');
      await alice.waitForSelector('#status[data-state="offline"]', WAIT);
      await bob.waitForSelector('#people .who:text-is("Alice")', { state: 'detached', ...WAIT });
      for (const text of ['while you were away 1', 'while you were away 2', 'while you were away 3']) await send(bob, text);
      expect(await texts(alice)).toEqual(before);
      await screenshots(alice, 'chat-dropped');

      await alice.click('#drop');
      await alice.waitForSelector('#status[data-state="connected"]', WAIT);
      await expect.poll(() => alice.locator('#messages .msg').count(), WAIT).toBeGreaterThanOrEqual(before.length + 3);
      await send(bob, 'and now live');
      await alice.waitForSelector('#messages .msg:has-text("and now live")', WAIT);
      expect(await texts(alice)).toEqual([
        ...before,
        'Bob: while you were away 1',
        'Bob: while you were away 2',
        'Bob: while you were away 3',
        'Bob: and now live',
      ]);
      // The missed ones are marked as recovered; the live one is not.
      expect(await alice.$$eval('#messages .msg', (lis) => lis.map((li) => li.classList.contains('missed')))).toEqual([
        ...before.map(() => false),
        true,
        true,
        true,
        false,
      ]);
      expect(await alice.textContent('#history-note')).toBe('reconnected · 3 missed messages recovered');
      await screenshots(alice, 'chat-recovered');
    });

    it('reorders the leaderboard on every page when another page gives points', async () => {
      const viewer = await open('/leaderboard');
      const player = await open('/leaderboard');
      await viewer.waitForSelector('#status[data-state="connected"]', WAIT);
      await player.waitForSelector('#status[data-state="connected"]', WAIT);
      const order = (page: Page) => page.$$eval('#board .player', (lis) => lis.map((li) => `${li.getAttribute('data-member')}=${li.querySelector('.score')?.textContent}`));
      expect((await order(viewer)).slice(0, 2)).toEqual(['Ada=0', 'Grace=0']);

      // By keyboard, then by mouse: the +1 buttons are real buttons.
      await player.focus('[data-member="Radia"] button');
      await player.keyboard.press('Enter');
      await player.keyboard.press('Space');
      await player.click('[data-member="Radia"] button');
      await viewer.waitForSelector('#board .player:first-child[data-member="Radia"]', WAIT);
      for (let i = 0; i < 5; i++) await player.click('[data-member="Ken"] button');
      await viewer.waitForSelector('#board .player:first-child[data-member="Ken"] .score:text-is("5")', WAIT);
      expect((await order(viewer)).slice(0, 2)).toEqual(['Ken=5', 'Radia=3']);
      expect(await viewer.$eval('#board .player', (li) => li.querySelector('.rank')?.textContent)).toBe('1');
      await player.waitForSelector('#board .player:first-child[data-member="Ken"] .score:text-is("5")', WAIT);
      expect(await player.textContent('#clicks')).toBe('8');
      await screenshots(viewer, 'leaderboard');
    });

    it("draws the dashboard's chart from the hub's feed, with rate and latency readouts", async () => {
      const page = await open('/dashboard');
      await expect.poll(async () => Number(await page.getAttribute('svg.chart', 'data-points')), WAIT).toBeGreaterThanOrEqual(6);
      expect(Number(await page.textContent('#points'))).toBeGreaterThanOrEqual(6);
      expect(await page.textContent('#rate')).toMatch(/^\d+(\.\d)?$/);
      expect(await page.textContent('#latency')).toMatch(/^\d+$/);
      expect(await page.$eval('polyline.series', (l) => l.getAttribute('points')?.split(' ').length)).toBeGreaterThanOrEqual(6);
      await screenshots(page, 'dashboard');
    });

    it('shows a banner when the hub goes away, and reconnects when it is back', async () => {
      const page = await open('/leaderboard');
      await page.waitForSelector('#status[data-state="connected"]', WAIT);
      const { port } = hub;
      hub.child.kill('SIGTERM');
      await hub.exited;
      await page.waitForSelector('#banner:has-text("The hub went away")', WAIT);
      expect(await page.getAttribute('#status', 'data-state')).not.toBe('connected');
      await screenshots(page, 'hub-gone');
      hub = await spawnHub({ HUBBUB_LOG_LEVEL: 'warn' }, [], port);
      await page.waitForSelector('#status[data-state="connected"]', { timeout: 30_000 });
      await page.waitForSelector('#banner:has-text("Reconnected")', WAIT);
      // While the hub was down the browser logged its failed connection attempts; those are the
      // browser's network messages, not the page's errors.
      const own = errors.filter((e) => !/WebSocket connection to '.*' failed/.test(e));
      errors.length = 0;
      errors.push(...own);
    }, 45_000);
  });
});
