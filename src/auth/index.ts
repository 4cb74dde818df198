export { Capabilities } from './capabilities.js';
export { AuthGuard } from './guard.js';
export { type Identity, TokenVerifier } from './tokens.js';
