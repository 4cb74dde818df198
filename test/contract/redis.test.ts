import { pino } from 'pino';
import { afterAll, beforeAll, describe } from 'vitest';
import { RedisEngine } from '../../src/engine/index.js';
import { redisAvailable, RedisServer } from '../helpers/redis-server.js';
import { engineContract } from './engine-contract.js';

// One throwaway Redis for the file; each test's engine gets its own key prefix, so no test sees
// another's keys. Time is Redis's, so `advance` waits for real, then runs the presence sweep.
if (redisAvailable('the Redis engine contract')) {
  describe('on a throwaway redis-server', () => {
    let redis: RedisServer;
    let n = 0;

    beforeAll(async () => {
      redis = await RedisServer.start();
    });

    afterAll(async () => {
      await redis.stop();
    });

    engineContract('redis', async () => {
      const engine = new RedisEngine({ url: redis.url, keyPrefix: `contract${++n}:` }, pino({ level: 'silent' }));
      return {
        engine,
        advance: async (ms) => {
          await new Promise((resolve) => setTimeout(resolve, ms));
          await engine.sweepPresence();
        },
      };
    });
  });
}
