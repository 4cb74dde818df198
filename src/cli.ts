#!/usr/bin/env node
// `hubbub` / `npm start`: reads the configuration (a JSON file from --config, then environment
// variables on top), validates it, starts a node and stops it cleanly on SIGINT/SIGTERM.

import { readFileSync } from 'node:fs';
import { ConfigError, parseConfig } from './config/index.js';
import { createLogger } from './observability/index.js';
import { startHub } from './server.js';

function rawConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Record<string, unknown> {
  const at = argv.indexOf('--config');
  const file = at >= 0 ? argv[at + 1] : undefined;
  const raw = (file === undefined ? {} : JSON.parse(readFileSync(file, 'utf8'))) as Record<string, unknown>;
  const server = { ...((raw.server as Record<string, unknown> | undefined) ?? {}) };
  if (env.HUBBUB_PORT !== undefined) server.port = Number(env.HUBBUB_PORT);
  if (env.HUBBUB_HOST !== undefined) server.host = env.HUBBUB_HOST;
  if (env.HUBBUB_TRANSPORT !== undefined) server.transport = env.HUBBUB_TRANSPORT;
  return {
    ...raw,
    server,
    ...(env.HUBBUB_LOG_LEVEL === undefined ? {} : { logLevel: env.HUBBUB_LOG_LEVEL }),
  };
}

async function main(): Promise<number> {
  let config: ReturnType<typeof parseConfig>;
  try {
    config = parseConfig(rawConfig(process.argv, process.env));
  } catch (err) {
    if (err instanceof ConfigError) {
      createLogger('error').fatal({ code: err.code, issues: err.issues }, err.message);
      return 2;
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  const running = await startHub(config, log);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await running.close();
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
