// Makes the README's two pictures, docs/demo.png and docs/console.png: a hub process, three
// people in the chat demo (one drops its connection and recovers), then some traffic for the
// console to show. `npm run docs:screenshots` (needs Chromium at /usr/bin/chromium).

import WebSocket from 'ws';
import { HubClient } from '../client/src/index.js';
import { launchChromium } from '../test/helpers/browser.js';
import { spawnHub } from '../test/helpers/process.js';

const KEY = 'docs-key-0123456789abcdef';
const hub = await spawnHub({ HUBBUB_LOG_LEVEL: 'warn', HUBBUB_API_KEYS: KEY });
const base = `http://127.0.0.1:${hub.port}`;
const ws = `ws://127.0.0.1:${hub.port}/ws`;
const browser = await launchChromium();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// chat: three people
const ctx = async () => (await browser.newContext({ viewport: { width: 1280, height: 760 }, deviceScaleFactor: 1 })).newPage();
const join = async (name: string) => {
  const p = await ctx();
  await p.goto(`${base}/chat`);
  await p.fill('#name', name);
  await p.press('#name', 'Enter');
  await p.waitForSelector('#status[data-state="connected"]');
  return p;
};
const say = async (p: Awaited<ReturnType<typeof ctx>>, text: string) => {
  await p.fill('#text', text);
  await p.press('#text', 'Enter');
  await sleep(250);
};
const ada = await join('Ada');
const grace = await join('Grace');
const linus = await join('Linus');
await sleep(800);
await say(grace, 'Morning! Is the deploy done?');
await say(linus, 'Yes, v2.4 is live on all three nodes');
await say(ada, 'Nice. Dropping my connection to test recovery…');
await ada.click('#drop');
await sleep(500);
await say(grace, 'Ada, you should get this one when you are back');
await say(linus, 'and this one, in order, exactly once');
await ada.click('#drop');
await ada.waitForSelector('#status[data-state="connected"]');
await sleep(800);
await linus.type('#text', 'Looks good from h', { delay: 30 });
await sleep(600);
await ada.mouse.move(0, 0);
await ada.setViewportSize({ width: 1060, height: 700 });
await grace.setViewportSize({ width: 390, height: 700 });
await sleep(300);
const a = (await ada.screenshot({ animations: 'disabled' })).toString('base64');
const g = (await grace.screenshot({ animations: 'disabled' })).toString('base64');
const board = await ctx();
await board.setViewportSize({ width: 1600, height: 860 });
await board.setContent(`<!doctype html><html><head><style>
body{margin:0;height:860px;display:flex;align-items:center;justify-content:center;gap:40px;font:15px system-ui,sans-serif;
background:radial-gradient(circle at 20% 10%,#c7d2fe 0,transparent 45%),radial-gradient(circle at 85% 90%,#ddd6fe 0,transparent 40%),#eef0fb}
figure{margin:0;display:flex;flex-direction:column;align-items:center;gap:14px}
.win{border-radius:14px;overflow:hidden;box-shadow:0 24px 60px rgba(30,27,75,.28),0 2px 8px rgba(30,27,75,.12);background:#fff}
.bar{height:30px;background:#e5e7f2;display:flex;align-items:center;gap:7px;padding:0 12px}.bar i{width:11px;height:11px;border-radius:50%;background:#f87171}.bar i+i{background:#fbbf24}.bar i+i+i{background:#34d399}
.bar span{margin-left:14px;font-size:12px;color:#555b75;background:#fff;border-radius:6px;padding:2px 12px}
.phone{border-radius:34px;border:10px solid #1c1d2b}
img{display:block}
figcaption{color:#3b3f5c;font-weight:600}
</style></head><body>
<figure><div class="win"><div class="bar"><i></i><i></i><i></i><span>localhost:8080/chat</span></div><img src="data:image/png;base64,${a}" width="1060" height="700"></div><figcaption>Ada, in one tab: dropped her connection, got back exactly what she missed</figcaption></figure>
<figure><div class="win phone"><img src="data:image/png;base64,${g}" width="390" height="700"></div><figcaption>Grace, on her phone</figcaption></figure>
</body></html>`);
await board.screenshot({ path: 'docs/demo.png' });

// console with some traffic
const clients: HubClient[] = [];
for (let i = 0; i < 24; i++) {
  const c = new HubClient(ws, { WebSocket });
  c.subscribe(i % 2 ? 'chat:lobby' : 'scores:weekly');
  if (i % 3 === 0) c.subscribe('chat:ops');
  clients.push(c);
}
const con = await ctx();
await con.setViewportSize({ width: 1280, height: 900 });
await con.goto(`${base}/console`);
await con.fill('#key', KEY);
await con.press('#key', 'Enter');
const pub = clients[1]!;
let t = 0;
const timer = setInterval(() => {
  t += 0.05;
  const n = Math.round(6 + 5 * Math.sin(t / 1.5) + Math.random() * 3);
  for (let i = 0; i < n; i++) void pub.publish('chat:lobby', { text: `tick ${t}` }).catch(() => {});
}, 50);
void clients[2]!.publish('nope:x', {}).catch(() => {});
void clients[3]!.publish('chat:', {}).catch(() => {});
await sleep(26_000);
await con.click('#refresh');
await con.click('#channels li[data-channel="demo-chat:lobby"] button');
await sleep(1500);
clearInterval(timer);
await con.mouse.move(0, 0);
await con.evaluate('window.scrollTo(0, 0)');
await sleep(200);
await con.screenshot({ path: 'docs/console.png', animations: 'disabled', fullPage: true });
await browser.close();
for (const c of clients) void c.close();
hub.child.kill('SIGKILL');
process.exit(0);
