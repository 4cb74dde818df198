// A typed client of the HTTP API, for backends written in TypeScript/JavaScript.

export { type ApiMember, type ApiPublication, type BroadcastResult, HubApi, HubApiError, type HubApiOptions, type Position, type Target } from './hub-api.js';
