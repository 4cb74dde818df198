// The application's backend as a collaborator: proxy hooks (connect, refresh, subscribe, publish,
// rpc) over HTTP or in-process, behind one interface.

export { BackendHooks } from './backend-hooks.js';
export { HookFailure, type HookFailureKind } from './failure.js';
export { HttpHooks } from './http-hooks.js';
export * from './types.js';
export * from './webhooks/index.js';
