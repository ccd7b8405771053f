/** The master key's escrow parts: Shamir's secret sharing on `shamir-secret-sharing`. */
export { combineKeyParts, keyPartFile, readKeyParts, writeKeyParts } from './shamir-escrow.js';
