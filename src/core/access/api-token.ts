/**
 * The shape of an API token and of its name (ADR 0022). A token is `msl_` followed by 43
 * base64url characters (32 random bytes): the prefix makes a leaked one findable by secret
 * scanners and tells an operator what it is; the store keeps only its SHA-256.
 */

/** What every token begins with. */
export const TOKEN_PREFIX = 'msl_';

/** How many random bytes a token carries (256 bits: no guessing, so one fast hash is enough). */
export const TOKEN_SECRET_BYTES = 32;

/** A token as a whole: the prefix and 43 base64url characters. */
const TOKEN_SHAPE = /^msl_[A-Za-z0-9_-]{43}$/;

/** A token's name: what the audit log records as who acted, and what `token revoke` takes. */
const NAME_SHAPE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Whether `text` has the shape of a token (checked before any look-up). */
export function isTokenShaped(text: string): boolean {
  return TOKEN_SHAPE.test(text);
}

/** The token in an `Authorization` header's value (`Bearer msl_…`) or given bare, or null. */
export function tokenFromBearer(bearer: string): string | null {
  const m = /^\s*(?:Bearer\s+)?(\S+)\s*$/i.exec(bearer);
  const token = m?.[1];
  return token !== undefined && isTokenShaped(token) ? token : null;
}

/** Why `name` cannot name a token, or null when it can. */
export function tokenNameProblem(name: string): string | null {
  return NAME_SHAPE.test(name) ? null : `a token name is 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit (not "${name}")`;
}
