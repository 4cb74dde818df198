// Where configuration comes from, in increasing precedence: the schema's defaults, a JSON file
// (`--config` or HUBBUB_CONFIG), environment variables (HUBBUB_*), command-line flags. Each source
// only sets what it names; the merged result is validated once by the zod schema.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from './index.js';

type Raw = Record<string, unknown>;

/** One setting that an environment variable and a flag can both give. */
interface Override {
  env: string;
  flag: string;
  path: readonly string[];
  help: string;
  parse: (value: string) => unknown;
}

const text = (v: string): unknown => v;
const int = (v: string): unknown => (/^\d+$/.test(v) ? Number(v) : v);
const list = (v: string): unknown =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

export const overrides: readonly Override[] = [
  { env: 'HUBBUB_PORT', flag: 'port', path: ['server', 'port'], help: 'port to listen on', parse: int },
  { env: 'HUBBUB_HOST', flag: 'host', path: ['server', 'host'], help: 'address to listen on', parse: text },
  { env: 'HUBBUB_TRANSPORT', flag: 'transport', path: ['server', 'transport'], help: 'auto | uws | ws', parse: text },
  { env: 'HUBBUB_LOG_LEVEL', flag: 'log-level', path: ['logLevel'], help: 'fatal ... trace, silent', parse: text },
  { env: 'HUBBUB_REDIS_URL', flag: 'redis-url', path: ['engine', 'url'], help: 'use the Redis engine at this URL', parse: text },
  {
    env: 'HUBBUB_DATA_DIR',
    flag: 'data-dir',
    path: ['engine', 'persistence', 'path'],
    help: 'keep history and boards in DIR/hubbub.aof (fsync everysec)',
    parse: (dir) => join(dir, 'hubbub.aof'),
  },
  { env: 'HUBBUB_API_KEYS', flag: 'api-keys', path: ['api', 'keys'], help: 'HTTP API keys, comma-separated', parse: list },
  { env: 'HUBBUB_AUTH_SECRET', flag: 'auth-secret', path: ['auth', 'hmacSecret'], help: 'HMAC secret for JWTs', parse: text },
  {
    env: 'HUBBUB_ALLOWED_ORIGINS',
    flag: 'allowed-origins',
    path: ['server', 'allowedOrigins'],
    help: 'browser origins allowed, comma-separated',
    parse: list,
  },
];

export const usage = `Usage: hubbub [options]

Runs a hubbub node: a real-time pub/sub hub over WebSockets.

Options (each also an environment variable; flags win over the environment, which wins over the file):
  --config <file>            JSON configuration file (env HUBBUB_CONFIG); see docs/configuration.md
${overrides.map((o) => `  --${`${o.flag} <value>`.padEnd(25)}${o.help} (env ${o.env})`).join('\n')}
  --no-demo                  no demo pages at / and no dashboard feed (env HUBBUB_DEMO=0); a config
                             file turns the demo off too, unless it sets demo.enabled
  --repair-data              start even if the data file is damaged in the middle: truncate it there
  --help                     print this and exit
  --version                  print the version and exit
`;

export type CliRequest = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; raw: Raw };

/** Reads argv and env into raw configuration (not yet validated), or a request for help/version. */
export function readConfigSources(argv: readonly string[], env: NodeJS.ProcessEnv): CliRequest {
  const options: Record<string, { type: 'string' | 'boolean' }> = {
    config: { type: 'string' },
    'repair-data': { type: 'boolean' },
    help: { type: 'boolean' },
    version: { type: 'boolean' },
    'no-demo': { type: 'boolean' },
  };
  for (const o of overrides) options[o.flag] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, allowPositionals: false, strict: true }));
  } catch (err) {
    throw new ConfigError([`command line: ${err instanceof Error ? err.message : String(err)}`]);
  }
  if (values.help === true) return { kind: 'help' };
  if (values.version === true) return { kind: 'version' };

  const file = (values.config as string | undefined) ?? env.HUBBUB_CONFIG;
  const raw = file === undefined ? {} : readFile(file);
  demoRule(raw, file !== undefined, env.HUBBUB_DEMO, values['no-demo'] === true);
  for (const source of ['env', 'flag'] as const) {
    for (const o of overrides) {
      const value = source === 'env' ? env[o.env] : (values[o.flag] as string | undefined);
      if (value === undefined || value === '') continue;
      if (o.flag === 'data-dir') {
        // The memory engine's file; the fsync policy (everysec by default) stays the file's choice.
        const engine = (raw.engine as Raw | undefined) ?? { type: 'memory' };
        const persistence = (engine.persistence as Raw | undefined) ?? {};
        raw.engine = { ...engine, persistence: { ...persistence, path: o.parse(value) } };
        continue;
      }
      if (o.path[0] === 'engine') {
        // A Redis URL means the Redis engine, whatever the file chose.
        const engine = (raw.engine as Raw | undefined) ?? {};
        raw.engine = { ...(engine.type === 'redis' ? engine : {}), type: 'redis', url: value };
        continue;
      }
      set(raw, o.path, o.parse(value));
    }
  }
  if (values['repair-data'] === true) {
    const engine = (raw.engine as Raw | undefined) ?? { type: 'memory' };
    raw.engine = { ...engine, persistence: { ...((engine.persistence as Raw | undefined) ?? {}), repair: true } };
  }
  return { kind: 'run', raw };
}

/**
 * The demo is for the first minute on a laptop: on with no config file (`npm start`), off with a
 * file (a deployment) unless the file says `demo.enabled`; HUBBUB_DEMO and `--no-demo` decide over both.
 */
function demoRule(raw: Raw, fromFile: boolean, env: string | undefined, noDemo: boolean): void {
  const demo = raw.demo;
  const given = typeof demo === 'object' && demo !== null && !Array.isArray(demo) && 'enabled' in demo;
  if (fromFile && !given) set(raw, ['demo', 'enabled'], false);
  if (env !== undefined && env !== '') {
    const on = /^(1|true|on|yes)$/i.test(env);
    if (!on && !/^(0|false|off|no)$/i.test(env)) {
      throw new ConfigError([`HUBBUB_DEMO: use 1 or 0 (true/false), not ${JSON.stringify(env.slice(0, 32))}`]);
    }
    set(raw, ['demo', 'enabled'], on);
  }
  if (noDemo) set(raw, ['demo', 'enabled'], false);
}

function readFile(file: string): Raw {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`config file ${file}: ${err instanceof Error ? err.message : String(err)}`]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`config file ${file}: not valid JSON (${err instanceof Error ? err.message : String(err)})`]);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError([`config file ${file}: must hold a JSON object`]);
  }
  return parsed as Raw;
}

function set(target: Raw, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    const child: Raw = typeof next === 'object' && next !== null && !Array.isArray(next) ? { ...(next as Raw) } : {};
    node[key] = child;
    node = child;
  }
  node[path[path.length - 1] as string] = value;
}
