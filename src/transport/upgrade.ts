// The one way both transports ask the hub about an upgrade: a hook that throws refuses it with
// 500 (and a log line) instead of taking the transport down.

import type { Logger } from '../observability/logger.js';
import type { TransportHooks, UpgradeRequest } from './types.js';

export type Refusal = { status: number; message: string };

export function consultUpgrade(hooks: TransportHooks, upgrade: UpgradeRequest, log: Logger): Refusal | undefined {
  try {
    return hooks.onUpgrade(upgrade);
  } catch (err) {
    log.error({ err }, 'onUpgrade failed');
    return { status: 500, message: 'internal error' };
  }
}
