#!/usr/bin/env node
// `hubbub` / `npm start`: reads the configuration (defaults < JSON file < HUBBUB_* environment <
// flags), validates it, starts a node, and on SIGINT/SIGTERM shuts it down gracefully: stop
// accepting, tell every client to reconnect elsewhere (close code 4000), close the engine, exit 0
// — or exit 1 if that takes longer than server.shutdownTimeoutMs.

import { ConfigError, parseConfig } from './config/index.js';
import { readConfigSources, usage } from './config/sources.js';
import { VERSION } from './hub.js';
import { closeLogger, createLogger, dropLogger, type Logger } from './observability/index.js';
import { startHub } from './server.js';
import { UwsUnavailableError } from './transport/index.js';

/**
 * The last resort: a fault that escaped every connection's containment leaves the process in an
 * unknown state, so it is logged and the process exits non-zero for its supervisor to restart it,
 * rather than serving on half-broken or hanging.
 */
function exitOnEscapedFault(): void {
  const fatal = (err: unknown, kind: string) => {
    try {
      // Synchronously and on stderr: these are the last words, and stdout's reader may be stuck.
      createLogger('fatal', false, { fd: 2, sync: true }).fatal({ err, kind }, 'hubbub: unexpected fault; exiting');
      if (log !== undefined) dropLogger(log);
    } finally {
      process.exit(70);
    }
  };
  process.on('uncaughtException', (err) => fatal(err, 'uncaughtException'));
  process.on('unhandledRejection', (err) => fatal(err, 'unhandledRejection'));
}

let log: Logger | undefined;

async function main(): Promise<number> {
  exitOnEscapedFault();
  let config: ReturnType<typeof parseConfig>;
  try {
    const request = readConfigSources(process.argv.slice(2), process.env);
    if (request.kind === 'help') {
      process.stdout.write(usage);
      return 0;
    }
    if (request.kind === 'version') {
      process.stdout.write(`hubbub ${VERSION}\n`);
      return 0;
    }
    config = parseConfig(request.raw);
  } catch (err) {
    if (err instanceof ConfigError) {
      // Plain text on stderr: this is read by a person fixing a file, before any log exists.
      process.stderr.write(`hubbub: ${err.message}\n\n${usage}`);
      return 2;
    }
    throw err;
  }
  log = createLogger(config.logLevel);
  let running: Awaited<ReturnType<typeof startHub>>;
  try {
    running = await startHub(config, log, { processMetrics: true });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (err instanceof UwsUnavailableError) {
      process.stderr.write(`hubbub: ${err.message}\n`);
      return 2;
    }
    if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES') {
      // One line for the person starting it, as for a bad configuration: no stack trace.
      const { host, port } = config.server;
      const why = code === 'EADDRINUSE' ? 'is already in use' : code === 'EACCES' ? 'needs more privileges' : `is not available on ${host}`;
      process.stderr.write(`hubbub: port ${port} ${why}\n`);
      return 2;
    }
    if (code === 'HUBBUB_DATA') {
      // A damaged or foreign data file: the message says what to do (e.g. --repair-data).
      log.fatal({ err }, 'hubbub: cannot use the data file');
      process.stderr.write(`hubbub: ${err instanceof Error ? err.message : String(err)}\n`);
      return 2;
    }
    throw err;
  }
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  log.info({ signal, timeoutMs: config.server.shutdownTimeoutMs }, 'shutting down');
  const timedOut = Symbol('timeout');
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    running.close(),
    new Promise<typeof timedOut>((resolve) => {
      timer = setTimeout(() => resolve(timedOut), config.server.shutdownTimeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (outcome === timedOut) {
    log.error({ timeoutMs: config.server.shutdownTimeoutMs }, 'shutdown timed out; exiting anyway');
    return 1;
  }
  log.info('stopped');
  return 0;
}

main().then(
  async (code) => {
    if (log !== undefined) await closeLogger(log);
    // Exit explicitly: a client socket or a keep-alive HTTP connection must not hold us open.
    process.exit(code);
  },
  (err: unknown) => {
    createLogger('fatal', false, { fd: 2, sync: true }).fatal({ err }, 'hubbub failed to start');
    process.exit(1);
  },
);
