// The console's channel browser and its two actions: this node's channels with their
// subscribers; for one channel, who is present, the last messages of its history and its
// leaderboard top (whichever its namespace keeps); a form to publish; a form to disconnect a user.

import { clock, el, byId } from '../shared/dom.ts';
import type { Api } from './api.ts';

interface ChannelRow {
  channel: string;
  subscribers: number;
}
interface Member {
  client: string;
  user: string;
}
interface Pub {
  offset: number;
  data: unknown;
  time?: number;
  from?: Member;
}
interface Entry {
  member: string;
  score: number;
  rank: number;
}

const REFRESH_MS = 3000;

export class ChannelBrowser {
  private selected: string | undefined;

  constructor(private readonly api: Api) {
    byId('refresh').addEventListener('click', () => void this.refresh());
    byId<HTMLFormElement>('publish-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.publish();
    });
    byId<HTMLFormElement>('disconnect-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.disconnect();
    });
    window.setInterval(() => {
      if (document.visibilityState === 'visible') void this.refresh();
    }, REFRESH_MS);
    void this.refresh();
  }

  async refresh(): Promise<void> {
    try {
      const { channels } = await this.api.get<{ channels: ChannelRow[] }>('/api/channels', { limit: 200 });
      const list = byId('channels');
      const rows = channels.map((c) => {
        const internal = c.channel.startsWith('$');
        const button = el('button', { type: 'button', class: 'link', text: c.channel, disabled: internal, 'aria-pressed': String(c.channel === this.selected) });
        button.addEventListener('click', () => void this.open(c.channel));
        return el('li', { 'data-channel': c.channel }, button, internal ? el('span', { class: 'tag', text: 'internal' }) : null, el('span', { class: 'num', text: `${c.subscribers} sub${c.subscribers === 1 ? '' : 's'}` }));
      });
      list.replaceChildren(...(rows.length > 0 ? rows : [el('li', { class: 'muted', text: 'no channel has a subscriber on this node' })]));
      if (this.selected !== undefined) void this.details(this.selected);
    } catch (err) {
      this.fail('channels-error', err);
    }
  }

  private async open(channel: string): Promise<void> {
    this.selected = channel;
    byId<HTMLInputElement>('pub-channel').value = channel;
    for (const b of byId('channels').querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.textContent === channel));
    await this.details(channel);
  }

  private async details(channel: string): Promise<void> {
    const box = byId('detail');
    const keeps = this.api.namespaces[channel.split(':')[0] ?? ''] ?? { history: false, presence: false, leaderboard: false };
    const when = <T>(on: boolean, ask: () => Promise<T>): Promise<T | undefined> => (on ? ask() : Promise.resolve(undefined));
    try {
      const [presence, history, board] = await Promise.all([
        when(keeps.presence, () => this.api.get<{ members: Member[] }>('/api/presence', { channel })),
        when(keeps.history, () => this.api.get<{ publications: Pub[]; offset: number }>('/api/history', { channel, limit: 10, reverse: 'true' })),
        when(keeps.leaderboard, () => this.api.get<{ entries: Entry[] }>('/api/leaderboard/top', { channel, limit: 10 })),
      ]);
      if (this.selected !== channel) return;
      const parts: HTMLElement[] = [el('h3', { text: channel })];
      if (presence !== undefined) {
        parts.push(el('h4', { text: `Present (${presence.members.length})` }));
        parts.push(el('ul', { class: 'plain' }, ...presence.members.map((m) => el('li', {}, el('code', { text: m.client.slice(0, 8) }), ` ${m.user === '' ? 'anonymous' : m.user}`))));
      }
      if (history !== undefined) {
        parts.push(el('h4', { text: `Last messages (offset ${history.offset})` }));
        parts.push(
          el('ol', { class: 'plain history' }, ...history.publications.map((p) => el('li', {}, el('span', { class: 'muted', text: `#${p.offset} ${p.time === undefined ? '' : clock(p.time)} ` }), el('code', { text: JSON.stringify(p.data).slice(0, 200) })))),
        );
        if (history.publications.length === 0) parts.push(el('p', { class: 'muted', text: 'nothing kept' }));
      }
      if (board !== undefined) {
        parts.push(el('h4', { text: 'Leaderboard top' }));
        parts.push(el('ol', { class: 'plain' }, ...board.entries.map((e) => el('li', { text: `${e.rank + 1}. ${e.member} — ${e.score}` }))));
      }
      if (presence === undefined && history === undefined && board === undefined) parts.push(el('p', { class: 'muted', text: 'Its namespace keeps no presence, history or board.' }));
      box.replaceChildren(...parts);
    } catch (err) {
      this.fail('channels-error', err);
    }
  }

  private async publish(): Promise<void> {
    const out = byId('publish-result');
    const channel = byId<HTMLInputElement>('pub-channel').value.trim();
    let data: unknown;
    try {
      data = JSON.parse(byId<HTMLTextAreaElement>('pub-data').value);
    } catch {
      out.textContent = 'The data must be JSON, e.g. {"text":"hello"} or "hello".';
      out.dataset.tone = 'warn';
      return;
    }
    try {
      const r = await this.api.post<{ offset: number }>('/api/publish', { channel, data });
      out.textContent = `Published to ${channel} at offset ${r.offset}.`;
      out.dataset.tone = 'ok';
      if (this.selected === channel) void this.details(channel);
    } catch (err) {
      out.textContent = err instanceof Error ? err.message : String(err);
      out.dataset.tone = 'warn';
    }
  }

  private async disconnect(): Promise<void> {
    const out = byId('disconnect-result');
    const user = byId<HTMLInputElement>('dc-user').value.trim();
    const reconnect = byId<HTMLInputElement>('dc-reconnect').checked;
    try {
      const r = await this.api.post<{ disconnected: number }>('/api/disconnect', { user, reconnect, reason: 'disconnected from the console' });
      out.textContent = `Closed ${r.disconnected} connection${r.disconnected === 1 ? '' : 's'} of ${user === '' ? 'anonymous users' : user} on this node (other nodes close theirs too).`;
      out.dataset.tone = 'ok';
    } catch (err) {
      out.textContent = err instanceof Error ? err.message : String(err);
      out.dataset.tone = 'warn';
    }
  }

  private fail(id: string, err: unknown): void {
    const line = byId(id);
    line.textContent = err instanceof Error ? err.message : String(err);
    line.hidden = false;
  }
}
