// The one zod schema for hubbub's whole configuration. Every option has its default and its
// description here; types elsewhere are inferred from it (z.infer), and docs/configuration.md is
// generated from it (`npm run docs:config`), so nothing about an option is written twice.

import { z } from 'zod';

const ms = () => z.number().int().nonnegative();
const positiveInt = () => z.number().int().positive();

export const memoryEngineSchema = z
  .object({
    type: z.literal('memory').describe('The embedded single-node engine.'),
    maxStreams: positiveInt()
      .default(1_000_000)
      .describe(
        'Streams (channels with an offset or history) held at once; beyond, the least recently used is forgotten.',
      ),
    maxHistoryEntries: positiveInt()
      .default(10_000_000)
      .describe(
        'History entries across all streams; beyond, the oldest entries of the least recently used streams go first.',
      ),
    maxHistoryBytes: positiveInt()
      .default(1024 * 1024 * 1024)
      .describe('History payload size across all streams, in characters of JSON text; evicted like entries.'),
    streamMetaTtlMs: ms()
      .default(24 * 60 * 60 * 1000)
      .describe('An idle stream (no publication) is forgotten after this long, its epoch with it; 0: never.'),
    idempotencyWindowMs: positiveInt()
      .default(5 * 60 * 1000)
      .describe('How long a publish idempotency key is remembered.'),
    sweep: z
      .object({
        intervalMs: positiveInt().default(100).describe('How often the incremental expiry sweep runs.'),
        budget: positiveInt().default(1000).describe('Keys examined per structure per sweep round.'),
        maxTickMs: z
          .number()
          .positive()
          .default(2)
          .describe('A sweep tick never runs longer than this, however much has expired.'),
      })
      .prefault({})
      .describe('Background expiry.'),
  })
  .strict();

export const engineSchema = z.discriminatedUnion('type', [memoryEngineSchema]);

export const configSchema = z
  .object({
    logLevel: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info')
      .describe('Minimum level of the JSON log lines.'),
    engine: engineSchema.prefault({ type: 'memory' }).describe('Where shared state lives.'),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type MemoryEngineConfig = z.infer<typeof memoryEngineSchema>;
