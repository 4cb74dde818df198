#!/usr/bin/env node
// `hubbub` / `npm start`: validates the configuration and starts the engine. The WebSocket server
// arrives with the hub; until then this proves the build runs and the defaults are valid.

import { ConfigError, parseConfig } from './config/index.js';
import { createEngine } from './engine/index.js';
import { createLogger } from './observability/index.js';

async function main(): Promise<number> {
  let config: ReturnType<typeof parseConfig>;
  try {
    config = parseConfig({ logLevel: process.env.HUBBUB_LOG_LEVEL ?? 'info' });
  } catch (err) {
    if (err instanceof ConfigError) {
      createLogger('error').fatal({ code: err.code, issues: err.issues }, err.message);
      return 2;
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  const engine = createEngine(config.engine);
  await engine.start({
    onPublication: () => {},
    onJoin: () => {},
    onLeave: () => {},
    onLeaderboardUpdate: () => {},
  });
  log.info({ engine: engine.kind, stats: await engine.stats() }, 'engine ready, no server yet');
  await engine.close();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    createLogger('fatal').fatal({ err }, 'hubbub failed to start');
    process.exitCode = 1;
  },
);
