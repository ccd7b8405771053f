/**
 * The console's session cookie and CSRF header, as HTTP spells them (ADR 0028): the cookie holds
 * only the session's random id, `HttpOnly` (no script reads it), `SameSite=Strict` (no other
 * site's page sends it), `Path=/`, and `Secure` when the API is reached over TLS. The CSRF token
 * travels in a header no other site's page can set.
 */

/** The cookie's name. */
export const SESSION_COOKIE = 'mailsluice_session';

/** The header a cookie-authenticated state-changing request must carry its session's CSRF token in. */
export const CSRF_HEADER = 'x-csrf-token';

/** Methods that change something: a request made with the cookie must carry the CSRF token. */
export const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The session id in a `Cookie` header, or null. */
export function sessionIdFrom(cookie: string | string[] | undefined): string | null {
  const text = Array.isArray(cookie) ? cookie.join('; ') : cookie;
  if (!text) return null;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    // Our ids are base64url; anything else was not set by us.
    return /^[A-Za-z0-9_-]{1,128}$/.test(value) ? value : null;
  }
  return null;
}

/** The `Set-Cookie` value that keeps session `id` in the browser. */
export function sessionCookie(id: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/${secure ? '; Secure' : ''}`;
}

/** The `Set-Cookie` value that removes the cookie (signing out). */
export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0${secure ? '; Secure' : ''}`;
}
