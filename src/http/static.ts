// The pages the hub serves: the demos at / and the operator console at /console, built by
// `npm run build` into dist/web/ (nothing is built or fetched at run time). A request can only
// name a page from the table below or an asset whose name is letters, digits and dashes with a
// known extension, so no request path ever reaches the file system as given: `..`, encoded or
// not, cannot match.

import type { HttpResponse } from '../transport/types.js';

export interface Pages {
  demo: boolean;
  console: boolean;
  /** The WebSocket path (server.path), written into each page's `hubbub-ws-path` meta tag. */
  wsPath: string;
}

const PAGES = new Map<string, { file: string; of: 'demo' | 'console' }>([
  ['/', { file: 'index.html', of: 'demo' }],
  ['/chat', { file: 'chat.html', of: 'demo' }],
  ['/leaderboard', { file: 'leaderboard.html', of: 'demo' }],
  ['/dashboard', { file: 'dashboard.html', of: 'demo' }],
  ['/console', { file: 'console.html', of: 'console' }],
]);

const TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  ico: 'image/x-icon',
};

const ASSET = /^\/web\/([a-z0-9][a-z0-9-]{0,63})\.(js|css|svg|png|ico)$/;

/**
 * The pages load only their own scripts and styles and talk only to this hub: an injected script
 * could not run, and the console's key could not be sent anywhere else.
 */
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-cache',
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** The page or asset at `path` (no query), or undefined when there is none or its part is off. */
export function servePage(path: string, on: Pages, read: (rel: string) => Buffer | undefined): HttpResponse | undefined {
  const page = PAGES.get(path);
  if (page !== undefined) {
    if (!on[page.of]) return undefined;
    const body = read(`web/${page.file}`);
    return body === undefined ? notBuilt() : { status: 200, headers: PAGE_HEADERS, body: withPath(body, on.wsPath) };
  }
  const asset = ASSET.exec(path);
  if (asset === null || !(on.demo || on.console)) return undefined;
  const [, name, ext] = asset as unknown as [string, string, string];
  const body = read(`web/${name}.${ext}`);
  if (body === undefined) return undefined;
  return {
    status: 200,
    headers: { 'content-type': TYPES[ext] as string, 'cache-control': 'public, max-age=300', 'x-content-type-options': 'nosniff' },
    body,
  };
}

const filled = new WeakMap<Buffer, { path: string; page: Buffer }>();
/** The page with the WebSocket path in place, once per file version (HTML-escaped: it is configuration). */
function withPath(body: Buffer, path: string): Buffer {
  const done = filled.get(body);
  if (done?.path === path) return done.page;
  const escaped = path.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const page = Buffer.from(body.toString('utf8').replaceAll('%WS_PATH%', escaped));
  filled.set(body, { path, page });
  return page;
}

function notBuilt(): HttpResponse {
  return {
    status: 503,
    headers: { 'content-type': 'text/plain; charset=utf-8' },
    body: 'The pages are not built: run `npm run build` (npm install runs it).\n',
  };
}
