// The browser SDK as the pages get it: the hub's own /hubbub.js sets the global `Hubbub` (loaded
// by a script tag before the page's script). Types come from the SDK's sources, so a page that
// misuses the SDK fails `npm run typecheck`; nothing of them ends up in the bundle.

import type * as Sdk from '../../../client/src/index.ts';

export type { Sdk };

/** The SDK's classes, from the global that /hubbub.js sets. */
export function sdk(): typeof Sdk {
  const g = globalThis as unknown as { Hubbub?: typeof Sdk };
  if (g.Hubbub === undefined) throw new Error('/hubbub.js did not load');
  return g.Hubbub;
}

/** The hub's WebSocket URL: same host as the page, the path the hub put in the page's meta tag. */
export function hubUrl(): string {
  const path = document.querySelector<HTMLMetaElement>('meta[name="hubbub-ws-path"]')?.content ?? '/ws';
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path.startsWith('/') ? path : '/ws'}`;
}
