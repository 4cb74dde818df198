// The door to the transports: picks uWebSockets.js when its native binary loads (or ws otherwise),
// and says which one runs and why. Only this file decides; the hub sees the Transport interface.

import { createRequire } from 'node:module';
import type { Logger } from '../observability/logger.js';
import type { Transport, TransportOptions } from './types.js';
import { type UwsModule, UwsTransport } from './uws-transport.js';
import { WsTransport } from './ws-transport.js';

export type * from './types.js';
export type TransportKind = 'auto' | 'uws' | 'ws';

export type UwsProbe =
  | { ok: true; module: UwsModule; /** Package that provided it. */ from: string; /** Its entry file. */ file: string }
  | { ok: false; reason: string };

/** An official uWebSockets.js install wins over the bundled unofficial Node 20 build. */
const UWS_PACKAGES = ['uWebSockets.js', '@trufflesuite/uws-js-unofficial'] as const;

const require = createRequire(import.meta.url);
let probe: UwsProbe | undefined;

/**
 * Loads uWS once and tells whether it is the native addon. The unofficial package silently falls
 * back to a JS reimplementation on top of ws (dist/index.js) when its binary does not load; that
 * fallback is slower than plain ws, so it counts as unavailable.
 */
export function loadUws(): UwsProbe {
  probe ??= probeUws();
  return probe;
}

function probeUws(): UwsProbe {
  const reasons: string[] = [];
  for (const name of UWS_PACKAGES) {
    let file: string;
    try {
      file = require.resolve(name);
    } catch {
      reasons.push(`${name}: not installed`);
      continue;
    }
    let mod: unknown;
    try {
      mod = require(name);
    } catch (err) {
      reasons.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    if (!isNativeUws(mod)) {
      reasons.push(`${name}: native binary did not load (JS fallback)`);
      continue;
    }
    return { ok: true, module: mod as UwsModule, from: name, file };
  }
  return { ok: false, reason: reasons.join('; ') };
}

/**
 * The native addon and the JS fallback export the same core (App, us_listen_socket_close,
 * us_socket_local_port), but only the addon's functions are native code, and only the addon has
 * SSLApp and getParts (the fallback instead has a `default` export).
 */
export function isNativeUws(mod: unknown): boolean {
  if (typeof mod !== 'object' || mod === null) return false;
  const m = mod as Record<string, unknown>;
  return (
    typeof m.App === 'function' &&
    Function.prototype.toString.call(m.App).includes('[native code]') &&
    typeof m.us_listen_socket_close === 'function' &&
    typeof m.us_socket_local_port === 'function' &&
    typeof m.SSLApp === 'function' &&
    typeof m.getParts === 'function'
  );
}

export function createTransport(kind: TransportKind, options: TransportOptions, log: Logger): Transport {
  if (kind === 'ws') {
    log.info({ transport: 'ws', reason: 'configured' }, 'transport: ws');
    return new WsTransport(options, log);
  }
  const uws = loadUws();
  if (uws.ok) {
    log.info(
      { transport: 'uws', reason: kind === 'uws' ? 'configured' : 'native uWebSockets.js loaded', module: uws.from },
      'transport: uws',
    );
    return new UwsTransport(options, log, uws.module);
  }
  if (kind === 'uws') {
    throw new Error(`transport 'uws' needs the native uWebSockets.js build, which is unavailable (${uws.reason}); use 'ws' or 'auto'`);
  }
  log.info({ transport: 'ws', reason: `uWebSockets.js unavailable: ${uws.reason}` }, 'transport: ws');
  return new WsTransport(options, log);
}
