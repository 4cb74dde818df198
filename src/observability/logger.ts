// The one way hubbub logs: pino JSON lines (pretty-printed when stdout is a terminal). Nothing in
// src/ writes to the console directly. Tokens, keys and authorization headers are redacted wherever
// they appear in a log object.
//
// Logging never blocks the hub: lines go out asynchronously through a bounded buffer, so a log
// reader that stalls (a full pipe) drops lines instead of freezing the event loop, and one that
// went away (EPIPE) is ignored. Either way SIGTERM and the sockets are still served.

import { type Logger, pino } from 'pino';
import type { Config } from '../config/index.js';

export type { Logger } from 'pino';

const REDACT = ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization', 'cookie', '*.cookie', 'headers.cookie', 'apiKey', '*.apiKey'];
/** Unwritten log text held for a slow reader before lines are dropped. */
const MAX_BUFFERED = 4 * 1024 * 1024;

export interface LoggerTarget {
  /** File descriptor: 1 (stdout, the default) or 2. */
  fd?: number;
  /** Write synchronously (for the last words before an exit). */
  sync?: boolean;
}

type Destination = ReturnType<typeof pino.destination>;
const destinations = new WeakMap<Logger, Destination>();

function destination({ fd = 1, sync = false }: LoggerTarget): Destination {
  const dest = pino.destination({ dest: fd, sync, maxLength: sync ? 0 : MAX_BUFFERED });
  // EPIPE and the like: the reader is gone and there is nobody left to tell.
  dest.on('error', () => {});
  return dest;
}

export function createLogger(
  level: Config['logLevel'] = 'info',
  pretty = process.stdout.isTTY === true,
  target: LoggerTarget = {},
): Logger {
  const options = { name: 'hubbub', level, redact: { paths: REDACT, censor: '[redacted]' } };
  if (!pretty) {
    const dest = destination(target);
    const log = pino(options, dest);
    destinations.set(log, dest);
    return log;
  }
  return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } });
}

/**
 * Before exiting: writes out what is buffered, waiting at most `ms`, then drops the rest. pino
 * would otherwise flush synchronously at exit, which blocks for ever on a reader that stalled.
 */
export async function closeLogger(log: Logger, ms = 500): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    try {
      log.flush(() => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      resolve();
    }
  });
  dropLogger(log);
}

/** Drops whatever the logger has not written yet (no blocking flush at exit). */
export function dropLogger(log: Logger): void {
  const dest = destinations.get(log);
  destinations.delete(log);
  dest?.destroy();
}
