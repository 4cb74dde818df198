// Turns raw configuration into a validated Config, or an error that names each bad field.

import { type Config, configSchema } from './schema.js';

export type {
  AuthConfig,
  Capability,
  Caps,
  Config,
  ConfigInput,
  HooksConfig,
  MemoryEngineConfig,
  NamespaceConfig,
  PusherAppConfig,
  PusherConfig,
  WebhookEventName,
  WebhooksConfig,
} from './schema.js';
export { capabilityNames, capsSchema, configSchema, memoryEngineSchema, namespaceSchema, webhookEventNames } from './schema.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'invalid_config';

  constructor(readonly issues: readonly string[]) {
    super(`invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
  }
}

export function parseConfig(raw: unknown): Config {
  const result = configSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const field = issue.path.length > 0 ? issue.path.join('.') : '(root)';
      return `${field}: ${issue.message}`;
    }),
  );
}

export function defaultConfig(): Config {
  return parseConfig({});
}
