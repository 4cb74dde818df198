// Configuration precedence as users meet it: defaults < JSON file < HUBBUB_* environment < flags,
// each source setting only what it names, and errors that name the field.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../../src/config/index.js';
import { readConfigSources, usage } from '../../../src/config/sources.js';

const dir = mkdtempSync(path.join(tmpdir(), 'hubbub-config-'));
function file(content: unknown): string {
  const p = path.join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}

function load(argv: string[], env: Record<string, string> = {}) {
  const request = readConfigSources(argv, env);
  if (request.kind !== 'run') throw new Error(`expected a run, got ${request.kind}`);
  return parseConfig(request.raw);
}

describe('configuration sources', () => {
  it('takes defaults, then the file, then the environment, then flags', () => {
    const cfg = file({ server: { port: 1111, host: '10.0.0.1', maxConnections: 5 }, logLevel: 'debug' });
    expect(load([]).server.port).toBe(8080);
    expect(load(['--config', cfg]).server).toMatchObject({ port: 1111, host: '10.0.0.1', maxConnections: 5 });
    const env = { HUBBUB_PORT: '2222', HUBBUB_LOG_LEVEL: 'warn' };
    expect(load(['--config', cfg], env)).toMatchObject({ logLevel: 'warn', server: { port: 2222, host: '10.0.0.1', maxConnections: 5 } });
    const flags = load(['--config', cfg, '--port', '3333', '--host', '127.0.0.1'], env);
    expect(flags.server).toMatchObject({ port: 3333, host: '127.0.0.1', maxConnections: 5 });
    expect(load([], { HUBBUB_CONFIG: cfg }).server.port).toBe(1111);
  });

  it('turns the append-only file on with --data-dir or HUBBUB_DATA_DIR (fsync everysec), keeping the file\'s policy', () => {
    expect(load([]).engine).not.toHaveProperty('persistence');
    expect(load(['--data-dir', '/var/lib/hubbub']).engine).toMatchObject({
      type: 'memory',
      persistence: { path: path.join('/var/lib/hubbub', 'hubbub.aof'), fsync: 'everysec', repair: false },
    });
    expect(load([], { HUBBUB_DATA_DIR: '/data' }).engine).toMatchObject({ persistence: { path: '/data/hubbub.aof' } });
    const cfg = file({ engine: { type: 'memory', maxStreams: 10, persistence: { path: '/x/a.aof', fsync: 'always' } } });
    expect(load(['--config', cfg, '--data-dir', '/data', '--repair-data']).engine).toMatchObject({
      maxStreams: 10,
      persistence: { path: '/data/hubbub.aof', fsync: 'always', repair: true },
    });
    expect(usage).toContain('--data-dir');
    expect(usage).toContain('--repair-data');
  });

  it('reads lists, secrets and the Redis URL from the environment', () => {
    const cfg = load([], {
      HUBBUB_API_KEYS: 'key-one-0123456789, key-two-0123456789',
      HUBBUB_AUTH_SECRET: 's'.repeat(32),
      HUBBUB_ALLOWED_ORIGINS: 'https://a.example.com,https://b.example.com',
    });
    expect(cfg.api.keys).toEqual(['key-one-0123456789', 'key-two-0123456789']);
    expect(cfg.auth.hmacSecret).toBe('s'.repeat(32));
    expect(cfg.server.allowedOrigins).toEqual(['https://a.example.com', 'https://b.example.com']);
    const request = readConfigSources(['--redis-url', 'redis://10.0.0.9:6380'], {});
    expect(request.kind === 'run' && request.raw.engine).toEqual({ type: 'redis', url: 'redis://10.0.0.9:6380' });
  });

  it('names the field and the reason for a bad value from any source', () => {
    const bad = (argv: string[], env: Record<string, string> = {}) => {
      try {
        load(argv, env);
      } catch (err) {
        if (err instanceof ConfigError) return err.issues.join('\n');
        throw err;
      }
      throw new Error('expected a ConfigError');
    };
    expect(bad([], { HUBBUB_PORT: 'eighty' })).toMatch(/^server\.port: /);
    expect(bad(['--transport', 'pigeon'])).toMatch(/^server\.transport: /);
    expect(bad([], { HUBBUB_AUTH_SECRET: 'short' })).toMatch(/^auth\.hmacSecret: .*32/);
    expect(bad(['--config', file({ namespaces: { chat: { histroy: {} } } })])).toMatch(/namespaces\.chat.*histroy/);
    expect(bad(['--config', file('{ not json')])).toMatch(/not valid JSON/);
    expect(bad(['--config', path.join(dir, 'missing.json')])).toMatch(/missing\.json/);
    expect(bad(['--prot', '1'])).toMatch(/command line: .*--prot/);
  });

  it('answers --help and --version without reading anything else', () => {
    expect(readConfigSources(['--help', '--config', '/nonexistent'], {})).toEqual({ kind: 'help' });
    expect(readConfigSources(['--version'], {})).toEqual({ kind: 'version' });
    for (const name of ['--config', '--port', 'HUBBUB_REDIS_URL', 'HUBBUB_API_KEYS', '--help']) expect(usage).toContain(name);
  });

  it('shows the demo with no config file, hides it with one unless the file or HUBBUB_DEMO asks, and --no-demo always hides it', () => {
    expect(load([]).demo.enabled).toBe(true);
    expect(load(['--no-demo']).demo.enabled).toBe(false);
    expect(load([], { HUBBUB_DEMO: '0' }).demo.enabled).toBe(false);
    const production = file({ server: { port: 1111 } });
    expect(load(['--config', production]).demo.enabled).toBe(false);
    expect(load(['--config', production], { HUBBUB_DEMO: 'true' }).demo.enabled).toBe(true);
    const withDemo = file({ demo: { enabled: true, feedIntervalMs: 500 } });
    expect(load(['--config', withDemo]).demo).toEqual({ enabled: true, feedIntervalMs: 500 });
    expect(load(['--config', withDemo, '--no-demo']).demo).toEqual({ enabled: false, feedIntervalMs: 500 });
    expect(() => load([], { HUBBUB_DEMO: 'maybe' })).toThrow(/HUBBUB_DEMO: use 1 or 0/);
    expect(usage).toContain('--no-demo');
  });
});
