// Laravel Echo on pusher-js in headless Chromium, as a Laravel front end uses it: a page served
// here with the libraries' own browser builds and an auth endpoint at /broadcasting/auth (signed
// with the `pusher` SDK), against a hubbub process on uWS.

import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, inCI, launchChromium, warnWithoutChromium } from '../helpers/browser.js';
import { APP, next, type PusherHub, startPusherHub } from '../helpers/pusher.js';

const require = createRequire(import.meta.url);
const scripts: Record<string, string> = {
  '/pusher.js': readFileSync(require.resolve('pusher-js/dist/web/pusher.min.js'), 'utf8'),
  '/echo.js': readFileSync(require.resolve('laravel-echo/iife'), 'utf8'),
};

function page(hubPort: number): string {
  return `<!doctype html><meta charset="utf-8"><title>echo</title>
<script src="/pusher.js"></script><script src="/echo.js"></script>
<script>
  window.received = [];
  window.here = null;
  window.joined = [];
  const echo = new Echo.default({
    broadcaster: 'pusher', key: ${JSON.stringify(APP.key)}, cluster: 'mt1',
    wsHost: '127.0.0.1', wsPort: ${hubPort}, forceTLS: false, enabledTransports: ['ws', 'wss'], disableStats: true,
  });
  echo.private('orders').listen('.OrderPaid', (e) => window.received.push(e));
  echo.join('room').here((users) => (window.here = users)).joining((user) => window.joined.push(user));
</script>`;
}

describe('Laravel Echo in Chromium', () => {
  warnWithoutChromium('the Laravel Echo browser test');
  it.runIf(!chromiumAvailable && inCI)('needs Chromium in CI', () => {
    throw new Error('no Chromium: install it (apt-get install chromium) on the CI runner');
  });

  describe.skipIf(!chromiumAvailable)('headless', () => {
    let h: PusherHub;
    let site: Server;
    let browser: Browser;
    beforeAll(async () => {
      h = await startPusherHub('uws');
      const sdk = h.sdk();
      site = createServer((req, res) => {
        if (req.method === 'POST' && req.url === '/broadcasting/auth') {
          let body = '';
          req.on('data', (d: Buffer) => (body += d.toString()));
          req.on('end', () => {
            const form = new URLSearchParams(body);
            const socketId = form.get('socket_id') ?? '';
            const channel = form.get('channel_name') ?? '';
            // The signed-in user of this page, as Laravel's /broadcasting/auth would know it.
            const auth = channel.startsWith('presence-')
              ? sdk.authorizeChannel(socketId, channel, { user_id: 'ada', user_info: { name: 'Ada' } })
              : sdk.authorizeChannel(socketId, channel);
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(auth));
          });
          return;
        }
        const script = scripts[req.url ?? ''];
        if (script !== undefined) return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
        res.writeHead(200, { 'content-type': 'text/html' }).end(page(h.port));
      });
      await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
      browser = await launchChromium();
    }, 60_000);
    afterAll(async () => {
      await browser?.close();
      site?.close();
      await h?.close();
    });

    it('receives a private event, its presence members and a join through Echo', async () => {
      const tab = await browser.newPage();
      const errors: string[] = [];
      tab.on('pageerror', (err) => errors.push(err.message));
      await tab.goto(`http://127.0.0.1:${(site.address() as AddressInfo).port}/`);
      await tab.waitForFunction('window.here !== null', undefined, { timeout: 10_000 });
      expect(await tab.evaluate('window.here')).toEqual([{ name: 'Ada' }]);
      // Another member joins from Node: Echo's joining callback sees them.
      const bob = await h.client('bob');
      await next(bob.subscribe('presence-room'), 'pusher:subscription_succeeded');
      await tab.waitForFunction('window.joined.length === 1', undefined, { timeout: 10_000 });
      expect(await tab.evaluate('window.joined')).toEqual([{ name: 'bob' }]);
      await h.sdk().trigger('private-orders', 'OrderPaid', { order: 42 });
      await tab.waitForFunction('window.received.length === 1', undefined, { timeout: 10_000 });
      expect(await tab.evaluate('window.received')).toEqual([{ order: 42 }]);
      expect(errors).toEqual([]);
      bob.disconnect();
      await tab.close();
    }, 30_000);
  });
});
