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
export { DEFAULT_MAX_DEPTH, jsonDataProblem, wellFormed, wellFormedString } from './validate.js';
