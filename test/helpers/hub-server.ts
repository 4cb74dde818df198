// Starts a real hub in this process on a free port, on the transport under test.

import { type ConfigInput, parseConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observability/index.js';
import { type RunningHub, type StartOptions, startHub } from '../../src/server.js';

export type TransportName = 'ws' | 'uws';

export interface TestHub extends RunningHub {
  url: string;
}

export async function startTestHub(transport: TransportName, config: ConfigInput = {}, options: StartOptions = {}): Promise<TestHub> {
  const parsed = parseConfig({
    ...config,
    logLevel: 'silent',
    server: { host: '127.0.0.1', port: 0, pingIntervalMs: 10_000, ...config.server, transport },
  });
  const running = await startHub(parsed, createLogger('silent'), options);
  return Object.assign(running, { url: `ws://127.0.0.1:${running.port}${parsed.server.path}` });
}
