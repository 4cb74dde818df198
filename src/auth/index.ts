export { Capabilities } from './capabilities.js';
export { type Identity, TokenVerifier } from './tokens.js';
