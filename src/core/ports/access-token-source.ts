/**
 * Port: where a source's OAuth2 bearer tokens come from (ADR 0045). One role: hand out a token
 * valid now, and forget one the server refused. The adapter (`token-oauth2`) obtains them from a
 * token endpoint and renews them before they expire; a fixed token the operator renews is the
 * trivial implementation. A token is a secret: it is never put into a sentence or a log.
 */
import { MailsluiceError } from '../errors/index.js';

/** Hands out OAuth2 access tokens for one connection's login. */
export interface AccessTokenSource {
  /**
   * A token valid now: the one held, or a new one when it is about to expire or was refused.
   * Concurrent callers share one request to the endpoint. Fails with a catalogue error (the
   * endpoint's refusal as SOURCE_AUTH_REJECTED, its absence as a network code).
   */
  token(signal?: AbortSignal): Promise<string>;
  /**
   * The server refused `token`: it is dropped, so the next {@link token} obtains another. Returns
   * whether another can be obtained at all (false for a fixed token: retrying would be useless).
   */
  invalidate(token: string): boolean;
  /**
   * Where the tokens come from and how long the one held lasts, for the operator: e.g. "a token
   * from the token endpoint login.microsoftonline.com (client credentials), valid for 3599 s".
   * Never the token.
   */
  describe(): string;
}

/**
 * Logs in with a token from `tokens`; when the server refuses it (`isRefusal`), the token is
 * invalidated and the login tried once more with a new one, which covers a token revoked or
 * expired early on the server's side. A second refusal, or a refusal of a token that cannot be
 * renewed, is thrown as it came (the caller maps it to SOURCE_AUTH_REJECTED).
 */
export async function loginWithToken<T>(tokens: AccessTokenSource, attempt: (token: string, retry: boolean) => Promise<T>, isRefusal: (err: unknown) => boolean, signal?: AbortSignal): Promise<T> {
  const first = await tokens.token(signal);
  try {
    return await attempt(first, false);
  } catch (err) {
    if (!isRefusal(err) || !tokens.invalidate(first)) throw err;
  }
  return attempt(await tokens.token(signal), true);
}

/**
 * The connection test's `token` step: a token from `tokens` now, and the sentence saying where
 * it came from (the endpoint's host, never the token). `where` names the connection for the
 * failure when no source was handed over.
 */
export async function tokenStep(tokens: AccessTokenSource | undefined, where: string, signal?: AbortSignal): Promise<string> {
  if (!tokens) throw new MailsluiceError('CONFIG_INVALID', `${where}: auth is OAuth2 but no token source was handed to the connection test`);
  await tokens.token(signal);
  return tokens.describe();
}
