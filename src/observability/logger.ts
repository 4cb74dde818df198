// The one way hubbub logs: pino JSON lines (pretty-printed when stdout is a terminal). Nothing in
// src/ writes to the console directly. Tokens, keys and authorization headers are redacted wherever
// they appear in a log object.

import { type Logger, pino } from 'pino';
import type { Config } from '../config/index.js';

export type { Logger } from 'pino';

const REDACT = ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization', 'apiKey', '*.apiKey'];

export function createLogger(level: Config['logLevel'] = 'info', pretty = process.stdout.isTTY === true): Logger {
  const options = { name: 'hubbub', level, redact: { paths: REDACT, censor: '[redacted]' } };
  if (!pretty) return pino(options);
  return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } });
}
