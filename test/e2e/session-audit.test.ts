/**
 * The console's sign-ins on the audit log (ADR 0028, "On the audit log"): against a real `start`
 * with the first token made beside it through the control socket, a sign-in is recorded as
 * `session.create` (the token's name, the client's address, its role), a sign-out as
 * `session.delete`, a refused token as `session.refused` (the address alone); the token's text,
 * right or wrong, is nowhere in the audit file or the log. Refused records are bounded by the
 * sign-in limit: ten a minute per address, the 429s after them not recorded. In process: a sign-in
 * that cannot be recorded is refused and its session closed, no cookie sent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeWorkspace, runCli } from '../harness/cli.js';
import { freePort } from '../harness/free-port.js';
import { createToken, startService, type Body, type RunningService } from '../harness/api-client.js';
import { createApiApp, type ApiDeps, type OpenSession } from '../../src/api/index.js';
import { MailsluiceError } from '../../src/core/errors/index.js';
import { LOGIN_LIMIT } from '../../src/core/access/index.js';

type AuditRecord = { seq: number; who: string; origin: string; action: string; detail: Record<string, unknown> };

/** A sign-in attempt: its status, body and the cookie it set. */
async function signIn(base: string, token: string): Promise<{ status: number; body: Body; cookie: string }> {
  const res = await fetch(`${base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  return { status: res.status, body: (await res.json()) as Body, cookie: (res.headers.get('set-cookie') ?? '').split(';')[0]! };
}

/** The audit records of `action`, read beside the running service (`audit list` through the control socket). */
async function auditList(ws: Parameters<typeof runCli>[1], action: string): Promise<AuditRecord[]> {
  const cli = await runCli(['audit', 'list', '--action', action, '--json'], ws);
  assert.equal(cli.code, 0, cli.stderr);
  const out = cli.stdout.trim();
  return out ? out.split('\n').map((l) => JSON.parse(l) as AuditRecord) : [];
}

/** Every byte the archive's database keeps (the file and its write-ahead log), where the audit log lives. */
function auditFileBytes(dataDir: string): Buffer {
  const files = ['archive.db', 'archive.db-wal'].map((f) => join(dataDir, f)).filter((f) => existsSync(f));
  assert.ok(files.length > 0, 'the archive exists');
  return Buffer.concat(files.map((f) => readFileSync(f)));
}

test('start: sign-in, sign-out and a refused token are on the audit log with who, where and the role, never a token; refusals bounded by the limit', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const ws = makeWorkspace({ connections: [], api: { listen: `127.0.0.1:${port}` } });
  let service: RunningService | undefined;
  try {
    service = await startService(ws, base);
    const token = await createToken(ws, 'me', 'admin');
    const wrong = `msl_${randomBytes(32).toString('base64url')}`;

    const signed = await signIn(base, token);
    assert.equal(signed.status, 200, JSON.stringify(signed.body));
    const csrf = signed.body.csrfToken as string;
    const out = await fetch(`${base}/api/v1/session`, { method: 'DELETE', headers: { cookie: signed.cookie, 'x-csrf-token': csrf } });
    assert.equal(out.status, 204);
    // Signing out again with the ended session's cookie: no session, nothing to record.
    assert.equal((await fetch(`${base}/api/v1/session`, { method: 'DELETE', headers: { cookie: signed.cookie, 'x-csrf-token': csrf } })).status, 204);
    const refused = await signIn(base, wrong);
    assert.deepEqual([refused.status, refused.body.code, refused.cookie], [401, 'API_UNAUTHORIZED', '']);

    const created = await auditList(ws, 'session.create');
    const deleted = await auditList(ws, 'session.delete');
    const refusals = await auditList(ws, 'session.refused');
    const fields = (r: AuditRecord): unknown[] => [r.who, r.origin, r.action, r.detail];
    assert.deepEqual(created.map(fields), [['me', '127.0.0.1', 'session.create', { role: 'admin' }]]);
    assert.deepEqual(deleted.map(fields), [['me', '127.0.0.1', 'session.delete', { role: 'admin' }]]);
    assert.deepEqual(refusals.map(fields), [['-', '127.0.0.1', 'session.refused', {}]]);
    assert.ok(created[0]!.seq < deleted[0]!.seq && deleted[0]!.seq < refusals[0]!.seq, 'in the order they happened');

    // Nine more wrong tokens reach the limit's budget (ten a minute); after it, 429s, not recorded.
    for (let i = 1; i < LOGIN_LIMIT.maxFailures; i++) assert.equal((await signIn(base, `not-a-token-${i}`)).status, 401);
    for (let i = 0; i < 3; i++) assert.equal((await signIn(base, wrong)).status, 429);
    assert.equal((await auditList(ws, 'session.refused')).length, LOGIN_LIMIT.maxFailures, 'at most the limit per address a minute');

    const verified = await runCli(['audit', 'verify', '--json'], ws);
    assert.equal(verified.code, 0, verified.stderr);
    assert.equal((JSON.parse(verified.stdout) as { ok: boolean }).ok, true, 'the chain is intact');
    await service.stop();
    const log = service.stderr();
    service = undefined;
    assert.match(log, /console signed in/, 'the service log read is the one that saw the sign-in');

    // No token's text anywhere in the audit file, nor in the service's log.
    const bytes = auditFileBytes(ws.dataDir);
    for (const secret of [token, wrong, 'not-a-token-1']) {
      assert.equal(bytes.includes(secret), false, `${secret.slice(0, 8)}… is not in archive.db`);
      assert.equal(log.includes(secret), false, `${secret.slice(0, 8)}… is not in the service log`);
    }
    assert.ok(bytes.includes('session.refused'), 'the records are in the file read');
  } finally {
    await service?.stop();
    ws.cleanup();
  }
});

test('a sign-in that cannot be recorded is refused, its session closed and no cookie sent; a refused token is recorded without its text', async () => {
  const opened: OpenSession = { id: 's1', csrfToken: 'c1', principal: { name: 'me', role: 'admin' }, expiresAt: Date.now() + 1000 };
  const closed: string[] = [];
  const recorded: unknown[][] = [];
  let failRecord = true;
  const deps = {
    record: async (...args: unknown[]) => {
      if (failRecord) throw new MailsluiceError('STORE_WRITE_FAILED', 'the audit log cannot be written (disk full)');
      recorded.push(args);
    },
    sessions: {
      secureCookie: false,
      signIn: async (token: string) => {
        if (token !== 'msl_right') throw new MailsluiceError('API_UNAUTHORIZED', 'that token is not one this archive knows');
        return opened;
      },
      current: async () => null,
      signOut: (id: string) => (closed.push(id), true),
    },
    now: () => Date.now(),
    logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } },
  } as unknown as ApiDeps;
  const app = createApiApp(deps);
  const post = (token: string): Promise<Response> => Promise.resolve(app.request('/api/v1/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) }));

  const failed = await post('msl_right');
  assert.deepEqual([failed.status, ((await failed.json()) as Body).code, failed.headers.get('set-cookie')], [503, 'STORE_WRITE_FAILED', null]);
  assert.deepEqual(closed, ['s1'], 'the session opened is closed again');

  failRecord = false;
  const wrong = await post('msl_wrong-and-secret');
  assert.equal(wrong.status, 401);
  assert.deepEqual(recorded, [['-', 'unknown', 'session.refused', {}]]);
  assert.ok(!JSON.stringify(recorded).includes('wrong-and-secret'));
});
