/** The master key's escrow parts: Shamir's secret sharing on `shamir-secret-sharing`. */
export { combineKeyParts, readKeyParts, writeKeyParts } from './shamir-escrow.js';
export { keyPartFile } from './shamir-escrow-config.js';
