// `npm start` as users run it: a real process on HUBBUB_PORT with the default configuration.

import { describe, expect, it } from 'vitest';
import { HubTestClient } from '../helpers/hub-client.js';
import { spawnHub } from '../helpers/process.js';

describe.each(['ws', 'uws'])('hubbub process on %s', (transport) => {
  it('serves the default chat and scores namespaces, then shuts down on SIGTERM with the shutdown code', async () => {
    const hub = await spawnHub({ HUBBUB_TRANSPORT: transport });
    try {
      expect(await (await fetch(`http://127.0.0.1:${hub.port}/health`)).json()).toEqual({ status: 'ok' });
      const client = await HubTestClient.open(`ws://127.0.0.1:${hub.port}/ws`);
      await client.call('subscribe', { channel: 'chat:lobby' });
      expect(await client.call('publish', { channel: 'chat:lobby', data: { text: 'hello' } })).toMatchObject({ offset: 1 });
      await client.until(() => client.pushesOf('pub').length === 1);
      expect(await client.call('subscribe', { channel: 'scores:weekly' })).toMatchObject({ entries: [] });
      hub.child.kill('SIGTERM');
      expect((await client.closed).code).toBe(4000);
      expect(await hub.exited).toBe(0);
      expect(hub.output()).toContain(`"transport":"${transport}"`);
    } finally {
      hub.child.kill('SIGKILL');
    }
  });
});

describe('hubbub process configuration', () => {
  it('refuses an invalid configuration with a message naming the field', async () => {
    await expect(spawnHub({ HUBBUB_TRANSPORT: 'carrier-pigeon' })).rejects.toThrow(/server\.transport/);
  });
});
