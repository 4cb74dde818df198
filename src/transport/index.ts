// The door to the transports: picks uWebSockets.js when its native binary loads (or ws otherwise),
// and says which one runs and why. Only this file decides; the hub sees the Transport interface.

import { maxHeaderSize } from 'node:http';
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

/**
 * Tried in order. An official uWebSockets.js install (it is not on npm) wins. Then the bundled
 * builds: @btc-vision/uwebsockets.js repackages uWS.js 20.57.0 for Node 20, 22, 24 and 25 but its
 * Linux binaries need glibc >= 2.38; the trufflesuite build (uWS 20.30, Node 16 to 20, glibc >= 2.27)
 * stays last because on Node 20 it is the only one that loads on Debian 12, Ubuntu 22.04 or RHEL 9.
 * docs/operations.md ("uWebSockets.js build") says what each ships and why it is trusted.
 */
const UWS_PACKAGES = ['uWebSockets.js', '@btc-vision/uwebsockets.js', '@trufflesuite/uws-js-unofficial'] as const;

/** What the bundled builds cover, for the message when none of them loads. */
const UWS_COVERAGE =
  'the bundled uWebSockets.js builds ship binaries for Node 20, 22, 24 and 25 on linux x64/arm64 with glibc >= 2.38, ' +
  'darwin x64/arm64 and win32 x64, and for Node 20 only on linux x64/arm64 with glibc 2.27 to 2.37';

/**
 * ABIs (process.versions.modules) a package ships binaries for, where loading it for another one has
 * a cost: the trufflesuite loader warns on stderr and falls back to a JS server on an old ws.
 */
const UWS_ABIS: Partial<Record<(typeof UWS_PACKAGES)[number], readonly string[]>> = {
  '@trufflesuite/uws-js-unofficial': ['93', '108', '115'],
};

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
  // uWS 20.57 answers request heads over this (default 4 KB) with 431, where node:http (the ws
  // transport) allows 16 KB; read once when the addon loads. An operator's own value stands.
  process.env.UWS_HTTP_MAX_HEADERS_SIZE ??= String(maxHeaderSize);
  const reasons: string[] = [];
  for (const name of UWS_PACKAGES) {
    let file: string;
    try {
      file = require.resolve(name);
    } catch {
      reasons.push(`${name}: not installed`);
      continue;
    }
    const abis = UWS_ABIS[name];
    if (abis !== undefined && !abis.includes(process.versions.modules)) {
      reasons.push(`${name}: no binary for ABI ${process.versions.modules} (ships ${abis.join(', ')})`);
      continue;
    }
    let mod: unknown;
    try {
      mod = require(name);
    } catch (err) {
      reasons.push(`${name}: ${lastLine(err instanceof Error ? err.message : String(err))}`);
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

/** uWS.js wraps the loader's error in a paragraph of advice; its last line says what failed. */
function lastLine(message: string): string {
  const lines = message.split('\n').filter((line) => line.trim() !== '');
  return lines.at(-1)?.trim() ?? message;
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

/** `transport: "uws"` where no native build loads: a start-up refusal, not a fault. */
export class UwsUnavailableError extends Error {
  readonly code = 'UWS_UNAVAILABLE';
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
    throw new UwsUnavailableError(
      `transport 'uws' needs a native uWebSockets.js build and none loads: ${UWS_COVERAGE}; this is ${describeRuntime()}. ` +
        `Use transport 'ws' or 'auto' here. (${uws.reason})`,
    );
  }
  log.info({ transport: 'ws', reason: `no native uWebSockets.js build loads on ${describeRuntime()}: ${uws.reason}` }, 'transport: ws');
  return new WsTransport(options, log);
}

/** `Node v22.12.0 (ABI 127) on linux x64, glibc 2.36`: what decides which uWS binary can load. */
export function describeRuntime(): string {
  const glibc = glibcVersion();
  const libc = glibc === undefined ? '' : `, glibc ${glibc}`;
  return `Node ${process.version} (ABI ${process.versions.modules}) on ${process.platform} ${process.arch}${libc}`;
}

/** The C library's version on glibc Linux; undefined elsewhere (musl, macOS, Windows). */
function glibcVersion(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const report: unknown = process.report.getReport();
  if (typeof report !== 'object' || report === null || !('header' in report)) return undefined;
  const header: unknown = report.header;
  if (typeof header !== 'object' || header === null || !('glibcVersionRuntime' in header)) return undefined;
  return typeof header.glibcVersionRuntime === 'string' ? header.glibcVersionRuntime : undefined;
}
