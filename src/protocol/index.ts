export {
  type Command,
  type CommandOf,
  type Method,
  methods,
  type ParsedFrame,
  parseChannel,
  parseFrame,
  type Rejected,
} from './commands.js';
export { CloseCodes, type ErrorCode, ErrorCodes, HubError, isHubError, shouldReconnect } from './errors.js';
export * from './frames.js';
