// The node's own HTTP endpoints, on whichever transport serves HTTP: liveness, readiness, metrics,
// the browser SDK bundle, the pages (demos at /, the console at /console), and the backend API
// under /api/.

import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Engine } from '../engine/types.js';
import type { Metrics } from '../observability/index.js';
import type { HttpRequest, HttpResponse } from '../transport/types.js';
import { type Pages, servePage } from './static.js';

export type HttpHandler = (req: HttpRequest) => Promise<HttpResponse | undefined>;

export interface Endpoints {
  engine: Engine;
  /** Undefined when metrics are switched off. */
  metrics: Metrics | undefined;
  api: HttpHandler | undefined;
  /** Which pages are on. */
  pages: Pages;
  /** The engine failed the readiness ping. */
  onEngineError(): void;
}

const JSON_TYPE = { 'content-type': 'application/json' };
const READY_TIMEOUT_MS = 2000;

export async function serveHttp(req: HttpRequest, at: Endpoints): Promise<HttpResponse> {
  if (req.method !== 'HEAD') return route(req, at);
  // A HEAD answer is the GET answer without its body (RFC 9110 9.3.2). A transport that wrote the
  // body anyway would have the client read it as the start of the next response on the connection.
  const out = await route({ ...req, method: 'GET' }, at);
  return { ...out, body: '' };
}

async function route(req: HttpRequest, at: Endpoints): Promise<HttpResponse> {
  const path = req.url.split('?')[0] ?? '';
  const get = req.method === 'GET';
  if (get && path === '/health') return { status: 200, headers: JSON_TYPE, body: '{"status":"ok"}' };
  if (get && path === '/ready') return ready(at);
  if (get && path === '/metrics' && at.metrics !== undefined) {
    return { status: 200, headers: { 'content-type': at.metrics.contentType }, body: await at.metrics.text() };
  }
  // /apps/ is Pusher's HTTP API (protocols/pusher), served by the same handler.
  if ((path.startsWith('/api/') || path.startsWith('/apps/')) && at.api !== undefined) {
    const out = await at.api(req);
    if (out !== undefined) return out;
  }
  if (get) {
    const page = servePage(path, at.pages, readBuilt);
    if (page !== undefined) return page;
  }
  if (get && path === '/hubbub.js') {
    const bundle = clientBundle();
    if (bundle !== undefined) {
      return {
        status: 200,
        headers: { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=300' },
        body: bundle,
      };
    }
  }
  return {
    status: 404,
    headers: JSON_TYPE,
    body: JSON.stringify({ error: { code: 'not_found', message: `no route ${req.method} ${path}` } }),
  };
}

/** Readiness: the engine answers a ping in time. */
async function ready(at: Endpoints): Promise<HttpResponse> {
  const engine = at.engine.kind;
  try {
    await withTimeout(at.engine.ping(), READY_TIMEOUT_MS);
    return { status: 200, headers: JSON_TYPE, body: JSON.stringify({ status: 'ready', engine }) };
  } catch (err) {
    at.onEngineError();
    const error = err instanceof Error ? err.message : String(err);
    return { status: 503, headers: JSON_TYPE, body: JSON.stringify({ status: 'not ready', engine, error }) };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(t);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

const requireHere = createRequire(import.meta.url);
/**
 * The browser SDK's minified IIFE (global `Hubbub`): `hubbub-client/hubbub.min.js`, a dependency
 * of this package (in the repository, the client/ workspace, built by `npm run build`).
 */
function clientBundle(): Buffer | undefined {
  let file: string;
  try {
    file = requireHere.resolve('hubbub-client/hubbub.min.js');
  } catch {
    return undefined; // not installed: /hubbub.js answers 404
  }
  return readCached(file);
}

/**
 * A file `npm run build` wrote under dist/ (`rel` is relative to dist/), found from dist/http/
 * (the built server) and from src/http/ (tests, tsx). `rel` must be a path the caller built from
 * names it knows, never one a request gave.
 */
export function readBuilt(rel: string): Buffer | undefined {
  for (const base of ['../', '../../dist/']) {
    const bytes = readCached(fileURLToPath(new URL(base + rel, import.meta.url)));
    if (bytes !== undefined) return bytes;
  }
  return undefined;
}

const built = new Map<string, { mtimeMs: number; bytes: Buffer }>();
/** Cached, and read again when the file changes (a rebuild is served without a restart). */
function readCached(file: string): Buffer | undefined {
  try {
    const { mtimeMs } = statSync(file);
    let cached = built.get(file);
    if (cached?.mtimeMs !== mtimeMs) {
      cached = { mtimeMs, bytes: readFileSync(file) };
      built.set(file, cached);
    }
    return cached.bytes;
  } catch {
    return undefined; // not built (yet)
  }
}
