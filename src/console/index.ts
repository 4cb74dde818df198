// The operator console's server side: tickets for its WebSocket, its internal channel, and the
// numbers every node publishes there while a console watches.

export { CONSOLE_CHANNEL, type ConsoleOptions, OperatorConsole } from './operator-console.js';
export type { NodeNumbers } from './numbers.js';
