// The leaderboard demo: a board of players anyone can give points to. Clicks go to the hub as
// `incr` commands; the hub coalesces the board's changes into at most one top-N push per 100 ms,
// and every open page reorders its rows from those pushes alone (animated, so ranks visibly move).

import { connectionBanner } from '../shared/banner.ts';
import { byId, el, hue } from '../shared/dom.ts';
import { hubUrl, type Sdk, sdk } from '../shared/sdk.ts';

const BOARD = 'demo-board:main';
const PLAYERS = ['Ada', 'Grace', 'Linus', 'Margaret', 'Ken', 'Barbara', 'Dennis', 'Radia'];

const client = new (sdk().HubClient)(hubUrl());
connectionBanner(client, byId('status'));
const list = byId<HTMLOListElement>('board');
const clicksOut = byId('clicks');
const updatesOut = byId('updates');
const errorLine = byId('board-error');
let clicks = 0;
let updates = 0;

const rows = new Map<string, HTMLLIElement>();
for (const player of PLAYERS) {
  const button = el('button', { class: 'btn plus', type: 'button', 'aria-label': `Give ${player} a point`, text: '+1' });
  const row = el(
    'li',
    { class: 'player', 'data-member': player },
    el('span', { class: 'rank', text: '–' }),
    el('span', { class: 'avatar', text: player.slice(0, 1), 'aria-hidden': 'true' }),
    el('span', { class: 'who', text: player }),
    el('span', { class: 'score', text: '0' }),
    button,
  );
  row.style.setProperty('--hue', String(hue(player)));
  button.addEventListener('click', () => {
    clicks++;
    clicksOut.textContent = String(clicks);
    board.incr(player, 1).catch((err: Sdk.HubError) => {
      errorLine.textContent = `${err.code}: ${err.message}`;
      errorLine.hidden = false;
    });
  });
  rows.set(player, row);
  list.append(row);
}

/** Puts the rows in the board's order, and animates each from where it was (FLIP). */
function show(entries: Sdk.BoardEntry[]): void {
  const before = new Map([...rows].map(([p, r]) => [p, r.getBoundingClientRect().top]));
  const scores = new Map(entries.map((e) => [e.member, e]));
  const order = [...PLAYERS].sort((a, b) => {
    const ea = scores.get(a);
    const eb = scores.get(b);
    if (ea !== undefined && eb !== undefined) return ea.rank - eb.rank;
    if (ea !== undefined) return -1;
    if (eb !== undefined) return 1;
    return PLAYERS.indexOf(a) - PLAYERS.indexOf(b);
  });
  for (const player of order) {
    const row = rows.get(player) as HTMLLIElement;
    const entry = scores.get(player);
    (row.querySelector('.rank') as HTMLElement).textContent = entry === undefined ? '–' : String(entry.rank + 1);
    (row.querySelector('.score') as HTMLElement).textContent = String(entry?.score ?? 0);
    row.classList.toggle('leader', entry?.rank === 0);
    list.append(row);
  }
  const reduced = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  for (const [player, row] of rows) {
    const dy = (before.get(player) ?? 0) - row.getBoundingClientRect().top;
    if (dy === 0 || reduced) continue;
    row.animate([{ transform: `translateY(${dy}px)` }, { transform: 'translateY(0)' }], { duration: 350, easing: 'cubic-bezier(.2,.8,.2,1)' });
  }
}

const board = client.leaderboard(BOARD, { top: PLAYERS.length });
board.on('update', (entries) => {
  updates++;
  updatesOut.textContent = String(updates);
  show(entries);
});
board.on('error', (err) => {
  errorLine.textContent = `${err.code}: ${err.message}`;
  errorLine.hidden = false;
});
client.on('error', (err) => {
  errorLine.textContent = `${err.code}: ${err.message}`;
  errorLine.hidden = false;
});
