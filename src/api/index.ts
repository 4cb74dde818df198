// The HTTP API for backends (publish, broadcast, history, presence, leaderboards, disconnect,
// channels, stats), served under /api/ by whichever transport runs.

export { HttpApi } from './http-api.js';
