import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderConfigDocs } from '../../../src/config/docs.js';
import { ConfigError, defaultConfig, parseConfig } from '../../../src/config/index.js';

describe('configuration', () => {
  it('fills every default from an empty input', () => {
    const config = defaultConfig();
    expect(config.engine).toMatchObject({ type: 'memory', sweep: { intervalMs: 100 } });
    expect(config.logLevel).toBe('info');
  });

  it('names each bad field and the reason', () => {
    let caught: unknown;
    try {
      parseConfig({ logLevel: 'loud', engine: { type: 'memory', maxStreams: -1, bogus: 1 } });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const issues = (caught as ConfigError).issues.join('\n');
    expect(issues).toMatch(/^logLevel: /m);
    expect(issues).toMatch(/^engine\.maxStreams: .*0/m);
    expect(issues).toMatch(/^engine: .*bogus/m);
  });

  it('rejects an engine type it does not know', () => {
    expect(() => parseConfig({ engine: { type: 'mongo' } })).toThrow(/engine\.type/);
  });
});

describe('docs/configuration.md', () => {
  it('lists every option and default the schema enforces (run `npm run docs:config` after a change)', () => {
    const committed = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
    expect(committed).toBe(renderConfigDocs());
    expect(committed).toContain('`engine.maxHistoryEntries` | integer > 0 | `10000000`');
  });
});

describe('server.trustProxy', () => {
  it('accepts IPs, CIDRs and loopback, and names a bad entry at start-up', () => {
    expect(parseConfig({ server: { trustProxy: ['loopback', '10.0.0.0/8', '::1', '192.0.2.7'] } }).server.trustProxy).toHaveLength(4);
    expect(() => parseConfig({ server: { trustProxy: ['10.0.0.0/8', 'my-balancer'] } })).toThrow(/server\.trustProxy.*my-balancer/);
  });
});
