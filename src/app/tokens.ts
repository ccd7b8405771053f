/**
 * API tokens as the operator and the API use them (issue 14, "Access control"; ADR 0022): made
 * from 32 random bytes, shown once, kept as their SHA-256; a bearer verified by hashing it,
 * looking the hash up and comparing in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../core/ports/clock.js';
import type { TokenStore } from '../core/ports/token-store.js';
import { isRole, type Principal, type Role } from '../core/access/principal.js';
import { TOKEN_PREFIX, TOKEN_SECRET_BYTES, tokenFromBearer, tokenNameProblem } from '../core/access/api-token.js';
import { MailsluiceError } from '../core/errors/index.js';

/** How stale a token's last-used time may get: a client polling every second writes it once a minute. */
export const LAST_USED_GRANULARITY_MS = 60_000;

/** What `token create` answers (the `--json` contract): the token itself only here, once. */
export interface CreatedToken {
  token: string;
  name: string;
  role: Role;
  /** ISO 8601. */
  created: string;
}

/** SHA-256 of a UTF-8 string as 64 lowercase hex digits (the core's `Sha256Hex`). */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The SHA-256 of a token, as the store keeps it. */
export function hashToken(token: string): string {
  return sha256Hex(token);
}

/** Throws `CLI_USAGE` unless `name` can name a token and `role` is a role. */
export function assertTokenRequest(name: string, role: string): asserts role is Role {
  const problem = tokenNameProblem(name);
  if (problem) throw new MailsluiceError('CLI_USAGE', problem);
  if (!isRole(role)) throw new MailsluiceError('CLI_USAGE', `--role must be admin, auditor or viewer, not ${role}`);
}

/** Makes a token named `name` with `role`, stores its hash and answers the token (never stored). */
export async function createToken(tokens: TokenStore, clock: Clock, name: string, role: string): Promise<CreatedToken> {
  assertTokenRequest(name, role);
  const token = TOKEN_PREFIX + randomBytes(TOKEN_SECRET_BYTES).toString('base64url');
  const createdAt = clock.now();
  await tokens.addToken({ name, role, hash: hashToken(token), createdAt });
  return { token, name, role, created: new Date(createdAt).toISOString() };
}

/**
 * The principal a bearer (`Bearer msl_…` or the bare token) stands for, or null: not a token's
 * shape, unknown, or revoked. The look-up is by the SHA-256 of what was presented, which a
 * caller cannot steer byte by byte, and the hashes are compared again in constant time. The
 * last-used time is written at most once a {@link LAST_USED_GRANULARITY_MS}.
 */
export async function verifyToken(tokens: TokenStore, clock: Clock, bearer: string): Promise<Principal | null> {
  const token = tokenFromBearer(bearer);
  if (!token) return null;
  const hash = hashToken(token);
  const found = await tokens.findTokenByHash(hash);
  if (!found || !timingSafeEqual(Buffer.from(found.hash, 'hex'), Buffer.from(hash, 'hex'))) return null;
  const now = clock.now();
  if (found.lastUsedAt === null || found.lastUsedAt < now - LAST_USED_GRANULARITY_MS) {
    await tokens.touchToken(found.name, now, now - LAST_USED_GRANULARITY_MS);
  }
  return { name: found.name, role: found.role };
}
