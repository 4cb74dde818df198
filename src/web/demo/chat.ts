// The chat demo: pick a name, then a room with presence (who is here, join and leave), its
// history on joining, a typing indicator sent as short-lived publications on a channel without
// history, and a "drop connection" button that shows recovery: the messages missed while away
// arrive once, in order, marked as recovered; when the hub cannot replay them (`recovered:
// false`) the page says "history reloaded" and loads the history afresh.

import { connectionBanner } from '../shared/banner.ts';
import { byId, clock, el, hue } from '../shared/dom.ts';
import { hubUrl, type Sdk, sdk } from '../shared/sdk.ts';
import { Gate } from './gate.ts';

const NAME_KEY = 'hubbub-demo-name';
const TYPING_SHOWN_MS = 3000;
const TYPING_EVERY_MS = 1500;
const HISTORY_SHOWN = 50;

const params = new URLSearchParams(location.search);
const roomParam = params.get('room') ?? 'lobby';
const room = /^[a-z0-9-]{1,32}$/.test(roomParam) ? roomParam : 'lobby';

interface ChatData {
  name: string;
  text: string;
}
interface Signal {
  type: 'hello' | 'here' | 'typing';
  name: string;
}

const text = (v: unknown, max: number): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.slice(0, max) : undefined);

function chatData(data: unknown): ChatData | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const d = data as Record<string, unknown>;
  const name = text(d.name, 32);
  const body = text(d.text, 500);
  return name !== undefined && body !== undefined ? { name, text: body } : undefined;
}

function signal(data: unknown): Signal | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const d = data as Record<string, unknown>;
  const name = text(d.name, 32);
  const type = d.type;
  if (name === undefined || (type !== 'hello' && type !== 'here' && type !== 'typing')) return undefined;
  return { type, name };
}

function start(name: string): void {
  byId('join').hidden = true;
  byId('room').hidden = false;
  byId('room-name').textContent = `#${room}`;
  const gate = new Gate();
  const client = new (sdk().HubClient)(hubUrl(), { WebSocket: gate.WebSocket, name });
  const banner = connectionBanner(client, byId('status'));
  const messages = byId<HTMLOListElement>('messages');
  const people = byId<HTMLUListElement>('people');
  const activity = byId<HTMLOListElement>('activity');
  const typingLine = byId('typing');
  const historyNote = byId('history-note');
  const errorLine = byId('chat-error');

  const names = new Map<string, string>();
  const members = new Map<string, Sdk.ClientInfo>();
  const typing = new Map<string, number>();
  let me = '';
  let loads = 0;
  /** While history loads after `recovered: false`: live messages wait here, then follow it. */
  let waiting: Sdk.Message[] | undefined;
  let recoveredNow = 0;
  let wantNow = false;

  /** An activity line; one about a person names them as soon as their name is known. */
  const say = (line: string, client?: string) => {
    const li = el('li', {}, `${clock(Date.now())} `);
    if (client !== undefined) li.append(el('span', { class: 'who-name', 'data-client': client, text: nameOf(client) }), ' ');
    li.append(line);
    activity.prepend(li);
    while (activity.children.length > 8) activity.lastElementChild?.remove();
  };
  const showError = (err: { code: string; message: string }) => {
    errorLine.textContent = err.code === 'rate_limited' ? 'Slow down: the room allows 5 messages a second.' : `${err.code}: ${err.message}`;
    errorLine.hidden = false;
  };
  client.on('error', showError);
  client.on('connected', (info) => {
    me = info.client;
    names.set(me, name);
    if (wantNow) {
      wantNow = false;
      banner.note(undefined);
    }
  });
  client.on('disconnected', () => {
    // "Reconnect" pressed while the SDK waited out a backoff: go now.
    if (wantNow && !gate.down) client.connect();
  });

  const nameOf = (client: string) => names.get(client) ?? `guest ${client.slice(0, 4)}`;

  const renderPeople = () => {
    for (const span of activity.querySelectorAll<HTMLElement>('.who-name')) span.textContent = nameOf(span.dataset.client ?? '');
    people.replaceChildren(
      ...[...members.values()]
        .sort((a, b) => nameOf(a.client).localeCompare(nameOf(b.client)))
        .map((m) => {
          const who = nameOf(m.client);
          const li = el('li', { class: 'person', 'data-client': m.client }, el('span', { class: 'dot' }), el('span', { class: 'who', text: who }), m.client === me ? el('span', { class: 'you', text: 'you' }) : null);
          li.style.setProperty('--hue', String(hue(who)));
          return li;
        }),
    );
    byId('online-count').textContent = String(members.size);
  };

  const renderTyping = () => {
    const now = Date.now();
    const who = [...typing].filter(([c, until]) => until > now && c !== me).map(([c]) => nameOf(c));
    typingLine.textContent = who.length === 0 ? '' : who.length === 1 ? `${who[0]} is typing…` : `${who.join(', ')} are typing…`;
  };
  window.setInterval(renderTyping, 500);

  const render = (m: Sdk.Message, replayed: boolean) => {
    const data = chatData(m.data);
    if (data === undefined) return;
    if (m.from !== undefined) {
      names.set(m.from.client, data.name);
      // Their message is in: they are not typing it any more.
      if (typing.delete(m.from.client)) renderTyping();
    }
    const mine = m.from?.client === me;
    const li = el(
      'li',
      { class: `msg${mine ? ' mine' : ''}${replayed ? ' missed' : ''}`, 'data-offset': m.offset },
      el('span', { class: 'author', text: data.name }),
      el('span', { class: 'text', text: data.text }),
      el('time', { text: clock(m.time ?? Date.now()) }),
      replayed ? el('span', { class: 'badge', text: 'recovered', title: 'missed while offline, replayed from the channel history' }) : null,
    );
    li.style.setProperty('--hue', String(hue(data.name)));
    messages.append(li);
    while (messages.children.length > 200) messages.firstElementChild?.remove();
    messages.scrollTop = messages.scrollHeight;
  };

  const chat = client.subscribe(`demo-chat:${room}`);
  chat.on('message', (m) => {
    if (waiting !== undefined) return void waiting.push(m);
    // Replayed publications carry their server time; live ones do not.
    const replayed = m.time !== undefined;
    if (replayed) recoveredNow++;
    render(m, replayed);
    if (replayed) historyNote.textContent = `reconnected · ${recoveredNow} missed message${recoveredNow === 1 ? '' : 's'} recovered`;
  });
  chat.on('subscribed', (info) => {
    recoveredNow = 0;
    if (info.recovered) {
      historyNote.textContent = 'reconnected · nothing missed';
      say('reconnected: recovered every missed message');
    } else void reload(info);
    void chat.presence().then(
      (list) => {
        members.clear();
        for (const m of list) members.set(m.client, m);
        renderPeople();
      },
      (err: Sdk.HubError) => showError(err),
    );
  });
  chat.on('join', (m) => {
    members.set(m.client, m);
    renderPeople();
    if (m.client !== me) say('joined', m.client);
  });
  chat.on('leave', (m) => {
    members.delete(m.client);
    typing.delete(m.client);
    renderPeople();
    if (m.client !== me) say('left', m.client);
  });
  chat.on('error', showError);

  /** `recovered: false` (the first join, or a gap the hub could not replay): the history afresh. */
  async function reload(info: Sdk.SubscribedInfo): Promise<void> {
    waiting = [];
    try {
      const { publications } = await chat.history({ limit: HISTORY_SHOWN, reverse: true });
      messages.replaceChildren();
      for (const p of publications.reverse()) if (p.epoch !== info.epoch || p.offset <= info.offset) render(p, false);
      loads++;
      const n = messages.children.length;
      historyNote.textContent = `${loads === 1 ? 'history loaded' : 'history reloaded'} · ${n === 0 ? 'nothing earlier' : `${n} earlier message${n === 1 ? '' : 's'}`}`;
      if (loads > 1) say('history reloaded (the missed messages could not be replayed)');
    } catch (err) {
      showError(err as Sdk.HubError);
    } finally {
      const live = waiting;
      waiting = undefined;
      for (const m of live) render(m, false);
    }
  }

  const signals = client.subscribe(`demo-typing:${room}`, { recover: false });
  const send = (type: Signal['type']) => void signals.publish({ type, name }).catch(() => {});
  signals.on('subscribed', () => send('hello'));
  signals.on('message', (m) => {
    const s = signal(m.data);
    const from = m.from?.client;
    if (s === undefined || from === undefined || from === me) return;
    const known = names.get(from);
    names.set(from, s.name);
    if (s.type === 'hello') send('here');
    if (s.type === 'typing') typing.set(from, Date.now() + TYPING_SHOWN_MS);
    else typing.delete(from);
    if (known !== s.name) renderPeople();
    renderTyping();
  });

  const input = byId<HTMLInputElement>('text');
  let typedAt = 0;
  input.addEventListener('input', () => {
    const now = Date.now();
    if (input.value === '' || now - typedAt < TYPING_EVERY_MS) return;
    typedAt = now;
    send('typing');
  });
  byId<HTMLFormElement>('send-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const body = input.value.trim();
    if (body === '') return;
    input.value = '';
    typedAt = 0;
    errorLine.hidden = true;
    chat.publish({ name, text: body }).catch((err: Sdk.HubError) => showError(err));
  });

  const drop = byId<HTMLButtonElement>('drop');
  drop.addEventListener('click', () => {
    if (!gate.down) {
      gate.drop();
      drop.textContent = 'Reconnect';
      drop.setAttribute('aria-pressed', 'true');
      banner.note('Connection dropped on purpose. Messages sent meanwhile wait in the channel history: press Reconnect to get them.');
    } else {
      gate.lift();
      wantNow = true;
      drop.textContent = 'Drop connection';
      drop.setAttribute('aria-pressed', 'false');
      banner.note('Reconnecting…', 'ok');
      client.connect();
    }
  });
  input.focus();
}

const form = byId<HTMLFormElement>('join-form');
const nameInput = byId<HTMLInputElement>('name');
nameInput.value = localStorage.getItem(NAME_KEY) ?? '';
nameInput.focus();
form.addEventListener('submit', (e) => {
  e.preventDefault();
  const name = nameInput.value.trim().slice(0, 32);
  if (name === '') return;
  localStorage.setItem(NAME_KEY, name);
  start(name);
});
