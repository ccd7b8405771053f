/**
 * The API tokens' store (issue 14, "Access control"; ADR 0022): a token is kept only as the
 * SHA-256 of its secret, under a unique name, with its role and when it was made and last used.
 */
import type { Role } from '../access/principal.js';

/** A token as the store lists it: never its secret, never its hash. */
export interface TokenInfo {
  name: string;
  role: Role;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** When it was last used (to the minute or so: see `touchToken`), or null. */
  lastUsedAt: number | null;
}

/** A stored token with its hash, as the verifier needs it. */
export interface StoredToken extends TokenInfo {
  /** SHA-256 of the token, 64 lowercase hex digits. */
  hash: string;
}

/** Where API tokens are kept, by name and by hash. */
export interface TokenStore {
  /** Stores a new token by its hash; throws `TOKEN_EXISTS` when a token of that name exists. */
  addToken(token: { name: string; role: Role; hash: string; createdAt: number }): Promise<void>;
  /** Every token, ordered by name, without hashes. */
  listTokens(): Promise<TokenInfo[]>;
  /** The token whose hash is `hash`, or null when none is (or it was revoked). */
  findTokenByHash(hash: string): Promise<StoredToken | null>;
  /** Records that token `name` was used at `at`, unless it was recorded used at or after `notBefore` (so frequent use costs no write). */
  touchToken(name: string, at: number, notBefore: number): Promise<void>;
  /** Removes token `name` and answers whether there was one. */
  revokeToken(name: string): Promise<boolean>;
}
