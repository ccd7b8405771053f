/**
 * Recording an API request on the audit log (issue 14, item 4; ADR 0022) before it reads
 * archived content or changes anything: the token's name, the remote address, what was asked.
 * A failure to record fails the request, as it fails the command at the command line.
 */
import type { Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { ApiEnv } from './api-app.js';
import type { ApiDeps } from './api-server-config.js';

/** The client's address, or `unknown` where the request did not come over a socket (a test's `app.request`). */
export function remoteAddress(c: Context<ApiEnv>): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Records `action` with `detail` for the request's principal; resolves only once it is recorded. */
export async function recordRequest(c: Context<ApiEnv>, deps: Pick<ApiDeps, 'record'>, action: string, detail: Record<string, unknown>): Promise<void> {
  await recordRequestAs(c, deps, c.get('principal').name, action, detail);
}

/**
 * Records `action` as done by `who` from the request's address: for the session paths, which
 * are open (no principal is set on them) and learn who acts from the token or cookie themselves.
 */
export async function recordRequestAs(c: Context<ApiEnv>, deps: Pick<ApiDeps, 'record'>, who: string, action: string, detail: Record<string, unknown>): Promise<void> {
  if (!deps.record) return;
  await deps.record(who, remoteAddress(c), action, detail);
}
