/**
 * The console's session over real HTTP against a running service (issue 14, "Access control";
 * ADR 0028): signing in with a token sets an HttpOnly, SameSite=Strict cookie and answers the
 * CSRF token; the cookie opens paths by the token's role; a state-changing request made with it
 * needs the CSRF token (403 API_CSRF_REJECTED), a Bearer request does not; signing out and
 * revoking the token end the session; failed sign-ins and unknown Bearer tokens are limited per
 * address (429 API_RATE_LIMITED with Retry-After).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, runCli } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { callApi, createToken, startService, type RunningService, drainedWithApi } from '../harness/api-client.js';

const dovecot = dovecotPerFile();

/** A request with the session cookie (and a CSRF token when given). */
async function withCookie(url: string, cookie: string, init: { method?: string; csrf?: string; body?: unknown } = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const headers: Record<string, string> = { cookie };
  if (init.csrf !== undefined) headers['x-csrf-token'] = init.csrf;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, { method: init.method ?? 'GET', headers, ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}) });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: res.headers };
}

async function signIn(base: string, token: string): Promise<{ status: number; body: Record<string, unknown>; setCookie: string }> {
  const res = await fetch(`${base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, body, setCookie: res.headers.get('set-cookie') ?? '' };
}

test('start: the console signs in with a token, its cookie opens paths by role, CSRF guards state changes, sign-out and revocation end it', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [0, 1].map((i) => makeMessage(i, { bodyBytes: 300 })));
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user)] });
  let service: RunningService | undefined;
  try {
    const admin = await createToken(ws, 'console-admin', 'admin');
    const viewer = await createToken(ws, 'console-viewer', 'viewer');
    service = await startService(ws, base);

    const none = await withCookie(`${base}/api/v1/session`, '');
    assert.deepEqual([none.status, none.body.code], [401, 'API_UNAUTHORIZED'], 'no cookie: nobody signed in');

    const signed = await signIn(base, admin);
    assert.equal(signed.status, 200, JSON.stringify(signed.body));
    assert.deepEqual(signed.body.principal, { name: 'console-admin', role: 'admin' });
    const csrf = signed.body.csrfToken as string;
    assert.match(csrf, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(Date.parse(signed.body.expiresAt as string) > Date.now() + 11 * 3600_000, 'about 12 hours idle');
    assert.match(signed.setCookie, /^mailsluice_session=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/$/, 'no Secure over plain HTTP');
    assert.ok(!signed.setCookie.includes(admin), 'the cookie holds a session id, not the token');
    const cookie = signed.setCookie.split(';')[0]!;

    const who = await withCookie(`${base}/api/v1/session`, cookie);
    assert.deepEqual([who.status, (who.body.principal as { name: string }).name, who.body.csrfToken], [200, 'console-admin', csrf]);
    const list = await withCookie(`${base}/api/v1/connections`, cookie);
    assert.equal(list.status, 200, 'a GET with the cookie needs no CSRF token');
    const search = await withCookie(`${base}/api/v1/messages`, cookie);
    assert.equal(search.status, 200, 'an admin session searches');

    const noCsrf = await withCookie(`${base}/api/v1/connections/journal/run`, cookie, { method: 'POST' });
    assert.deepEqual([noCsrf.status, noCsrf.body.code], [403, 'API_CSRF_REJECTED'], 'a POST with the cookie and no CSRF token');
    assert.match(noCsrf.body.message as string, /x-csrf-token/i);
    const wrongCsrf = await withCookie(`${base}/api/v1/connections/journal/run`, cookie, { method: 'POST', csrf: `${csrf.slice(0, -1)}x` });
    assert.deepEqual([wrongCsrf.status, wrongCsrf.body.code], [403, 'API_CSRF_REJECTED'], 'the wrong CSRF token');
    const run = await withCookie(`${base}/api/v1/connections/journal/run`, cookie, { method: 'POST', csrf });
    assert.equal(run.status, 202, JSON.stringify(run.body));
    const bearerRun = await callApi(`${base}/api/v1/connections/journal/run`, admin, { method: 'POST' });
    assert.equal(bearerRun.status, 202, 'a Bearer request needs no CSRF token');

    // A viewer's session: its role, not more.
    const v = await signIn(base, viewer);
    const vCookie = v.setCookie.split(';')[0]!;
    assert.equal((await withCookie(`${base}/api/v1/connections`, vCookie)).status, 200);
    const vSearch = await withCookie(`${base}/api/v1/messages`, vCookie);
    assert.deepEqual([vSearch.status, vSearch.body.code], [403, 'API_FORBIDDEN']);

    // Signing out needs the CSRF token too, then the cookie opens nothing.
    const outNoCsrf = await withCookie(`${base}/api/v1/session`, cookie, { method: 'DELETE' });
    assert.deepEqual([outNoCsrf.status, outNoCsrf.body.code], [403, 'API_CSRF_REJECTED']);
    const out = await withCookie(`${base}/api/v1/session`, cookie, { method: 'DELETE', csrf });
    assert.equal(out.status, 204);
    assert.match(out.headers.get('set-cookie') ?? '', /^mailsluice_session=; .*Max-Age=0/);
    assert.equal((await withCookie(`${base}/api/v1/session`, cookie)).status, 401);
    assert.equal((await withCookie(`${base}/api/v1/connections`, cookie)).status, 401, 'signed out: the cookie is nobody');

    // Revoking the token (beside the running service, on the CLI) ends its session.
    const revoked = await runCli(['token', 'revoke', 'console-viewer'], ws);
    assert.equal(revoked.code, 0, revoked.stderr);
    const after = await withCookie(`${base}/api/v1/connections`, vCookie);
    assert.deepEqual([after.status, after.body.code], [401, 'API_UNAUTHORIZED'], 'a revoked token ends its sessions');
    assert.equal((await withCookie(`${base}/api/v1/session`, vCookie)).status, 401);
  } finally {
    await service?.stop();
    ws.cleanup();
  }
});

test('start: failed sign-ins and unknown Bearer tokens are limited per address: the 11th within a minute is 429 with Retry-After', async () => {
  const user = await dovecot.createUser();
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user)] });
  let service: RunningService | undefined;
  try {
    const good = await createToken(ws, 'ops', 'viewer');
    service = await startService(ws, base);
    const bad = await signIn(base, 'not-a-token');
    assert.deepEqual([bad.status, bad.body.code], [401, 'API_UNAUTHORIZED']);
    for (let i = 0; i < 4; i++) assert.equal((await signIn(base, `msl_${'B'.repeat(43)}`)).status, 401);
    for (let i = 0; i < 5; i++) assert.equal((await callApi(`${base}/api/v1/connections`, `msl_${'C'.repeat(43)}`)).status, 401, 'a wrong Bearer counts too');
    assert.equal((await callApi(`${base}/api/v1/connections`)).status, 401, 'no credentials at all is not a failed attempt');
    const limited = await fetch(`${base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: good }) });
    const body = (await limited.json()) as { code: string };
    assert.deepEqual([limited.status, body.code], [429, 'API_RATE_LIMITED'], 'the address is limited: even a good token waits');
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    const bearer = await callApi(`${base}/api/v1/connections`, good);
    assert.deepEqual([bearer.status, bearer.body.code], [429, 'API_RATE_LIMITED'], 'Bearer requests from that address too');
    assert.equal((await fetch(`${base}/healthz`)).status, 200, 'the open paths stay open');
    assert.match(service.stderr(), /api credentials refused/);
  } finally {
    await service?.stop();
    ws.cleanup();
  }
});
