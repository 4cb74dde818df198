// The connection banner every page shows: a clear line when the hub goes away (and when the
// SDK will try again), and a short "back" note when it returns. Screen readers hear it (role=status).

import { el } from './dom.ts';
import type { Sdk } from './sdk.ts';

export interface Banner {
  /** Shows a message of the page's own (e.g. "connection dropped on purpose"); undefined hides it. */
  note(text: string | undefined, tone?: 'warn' | 'ok'): void;
}

export function connectionBanner(client: Sdk.HubClient, status: HTMLElement): Banner {
  const banner = el('div', { class: 'banner', role: 'status', 'aria-live': 'polite', hidden: true, id: 'banner' });
  document.body.prepend(banner);
  let hideTimer: number | undefined;
  let own: string | undefined;
  let everConnected = false;

  const show = (text: string, tone: 'warn' | 'ok') => {
    window.clearTimeout(hideTimer);
    banner.textContent = text;
    banner.dataset.tone = tone;
    banner.hidden = false;
  };
  const setStatus = (state: string, text: string) => {
    status.dataset.state = state;
    status.textContent = text;
  };

  setStatus('connecting', 'connecting…');
  client.on('connected', () => {
    setStatus('connected', 'live');
    if (own !== undefined) return;
    if (everConnected) {
      show('Reconnected to the hub.', 'ok');
      hideTimer = window.setTimeout(() => (banner.hidden = true), 2500);
    } else banner.hidden = true;
    everConnected = true;
  });
  client.on('disconnected', (info) => {
    setStatus('offline', 'offline');
    if (own !== undefined) return;
    const when = info.reconnect && info.delayMs !== undefined ? ` Trying again in ${Math.max(1, Math.round(info.delayMs / 1000))} s…` : '';
    const why = info.reason === '' ? `code ${info.code}` : info.reason;
    show(info.reconnect ? `The hub went away (${why}).${when}` : `Disconnected (${why}). Reload the page to connect again.`, 'warn');
  });
  client.on('state', (state) => {
    if (state === 'connecting' && own === undefined && !banner.hidden && banner.dataset.tone === 'warn') {
      banner.textContent = banner.textContent?.replace(/ Trying again.*$/, ' Reconnecting…') ?? '';
    }
    if (state === 'connecting') setStatus('connecting', 'connecting…');
  });
  return {
    note(text, tone = 'warn') {
      own = text;
      if (text === undefined) banner.hidden = true;
      else show(text, tone);
    },
  };
}
