// The one way hubbub logs: pino JSON lines. Nothing in src/ writes to the console directly.

import { type Logger, pino } from 'pino';
import type { Config } from '../config/index.js';

export type { Logger } from 'pino';

export function createLogger(level: Config['logLevel'] = 'info'): Logger {
  return pino({ name: 'hubbub', level });
}
