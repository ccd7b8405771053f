/**
 * OAuth2 that renews itself (issue 19, item 1) against a real server: Dovecot's `oauth2` passdb,
 * which checks every XOAUTH2 / OAUTHBEARER login at the harness's token server by introspection
 * (test/harness/oauth2-dovecot.ts). Through the real CLI: IMAP and POP3 drains with client
 * credentials (messages archived and gone from the server, read independently with doveadm), a
 * token that expires mid-drain renewed without losing or doubling a message, a wrong client
 * secret and a revoked fixed token as SOURCE_AUTH_REJECTED with a clear sentence, the fixed
 * accessToken form still working, and neither the tokens nor the secret in any output or file.
 * In process: a revoked token refused by Dovecot is invalidated and the login retried once with
 * a new one (IMAP and POP3), and test-connection's `token` step. Not tested: a real Microsoft
 * identity platform or Exchange Online (ADR 0045).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOAuth2Dovecot, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAUTH_USER, type OAuth2Dovecot } from '../harness/oauth2-dovecot.js';
import { startImapProxy, serverMessages, type ImapProxy, type ImapProxyOptions } from '../harness/imap-proxy.js';
import { makeWorkspace, imapConnection, pop3Connection, type CliResult, type Workspace, runCliWithin } from '../harness/cli.js';
import { assertArchiveHolds } from '../harness/archive.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { stringify } from 'yaml';
import { checkConfigText, type ConnectionConfig } from '../../src/config/loader.js';
import { JsonlLogger } from '../../src/adapters/logger-jsonl/index.js';
import { OAuth2TokenSource } from '../../src/adapters/token-oauth2/index.js';
import { ImapSource } from '../../src/adapters/source-imap/index.js';
import { Pop3Client, pop3ClientOptions } from '../../src/adapters/source-pop3/index.js';
import { testConnection, type ProbeResult } from '../../src/app/test-connection.js';

let server: OAuth2Dovecot;
const proxies: ImapProxy[] = [];
before(async () => {
  server = await startOAuth2Dovecot();
});
after(async () => {
  for (const p of proxies) await p.close();
  await server?.stop();
});

/**
 * The secret (and a fixed token) reach mailsluice through the environment, so the config file
 * does not hold them; set on this process, so every CLI run (export too) inherits them.
 */
process.env.OAUTH_TEST_CLIENT_SECRET = OAUTH_CLIENT_SECRET;
/** The internal bound on silence, lowered so a stalled session ends in seconds. */
const FAST_SILENCE = { MAILSLUICE_SILENCE_LIMIT_MS: '3000', MAILSLUICE_SILENCE_WARN_MS: '1000' };

const user = (): { username: string; password: string } => ({ username: OAUTH_USER, password: server.password });

/** Client credentials against the harness's token endpoint. */
function clientCredentials(type: 'xoauth2' | 'oauthbearer' = 'xoauth2', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type, username: OAUTH_USER, tokenUrl: server.tokens.tokenUrl, clientId: OAUTH_CLIENT_ID, clientSecret: { env: 'OAUTH_TEST_CLIENT_SECRET' }, scope: 'mail', ...extra };
}

function imap(auth: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return imapConnection(server.dovecot, user(), { auth, logging: 'full', ...extra });
}

function pop3(auth: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return pop3Connection(server.dovecot, user(), { auth, logging: 'full', ...extra });
}

async function proxy(o: ImapProxyOptions): Promise<ImapProxy> {
  const p = await startImapProxy(o);
  proxies.push(p);
  return p;
}

/** Delivers `n` messages and returns them as the server holds them, by hash. */
async function deliver(n: number, tag: string, bodyBytes = 1500): Promise<Map<string, Buffer>> {
  await server.dovecot.deliverMany(OAUTH_USER, Array.from({ length: n }, (_, i) => makeMessage(i, { bodyBytes, tag })));
  return new Map((await serverMessages(server.dovecot, user())).map((m) => [sha256(m.source), m.source]));
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

/**
 * Neither the client secret nor any token the endpoint issued appears in the CLI's output or in
 * any file of the workspace (logs, archive, state). Asserts the check has something to look for.
 */
function assertNoSecretsLeaked(r: CliResult, ws: Workspace, issuedFrom = 0): void {
  const needles = [OAUTH_CLIENT_SECRET, ...server.tokens.issued.slice(issuedFrom)];
  assert.ok(needles.length > 1, 'at least one token was issued to look for');
  const logs = filesUnder(ws.dir).filter((f) => /\.log(\.\d+)?$/.test(f));
  assert.ok(logs.length > 0, `a connection log was written (logging: full): ${filesUnder(ws.dir).join(', ')}`);
  const places: Array<[string, Buffer]> = [['stdout', Buffer.from(r.stdout)], ['stderr', Buffer.from(r.stderr)], ...filesUnder(ws.dir).map((f): [string, Buffer] => [f, readFileSync(f)])];
  for (const [where, bytes] of places) for (const n of needles) assert.equal(bytes.indexOf(n), -1, `a secret or token (${n.slice(0, 4)}…) is in ${where}`);
}

function failedWith(r: CliResult, code: string): string {
  assert.notEqual(r.code, 0, `expected ${code}; stdout: ${r.stdout}`);
  const line = r.stderr.split('\n').find((l) => l.startsWith('mailsluice: '));
  assert.match(line ?? '', new RegExp(`^mailsluice: ${code}: \\S`), r.stderr);
  return line!;
}

/** `drain --json` of one connection; returns the result and what was taken. */
async function drain(conn: Record<string, unknown>, env: NodeJS.ProcessEnv = {}, check?: (r: CliResult, ws: Workspace) => Promise<void>): Promise<CliResult> {
  const ws = makeWorkspace({ connections: [conn] });
  try {
    const r = await runCliWithin(['drain', '--json'], ws, 90_000, env);
    await check?.(r, ws);
    return r;
  } finally {
    ws.cleanup();
  }
}

describe('client credentials', () => {
  for (const [proto, type] of [['IMAP', 'xoauth2'], ['IMAP', 'oauthbearer'], ['POP3', 'xoauth2'], ['POP3', 'oauthbearer']] as const) {
    test(`${proto} ${type}: a token from the endpoint, drained, gone from the server; no token or secret in output or files`, async () => {
      const served = await deliver(3, `cc-${proto}-${type}`);
      const before = { requests: server.tokens.tokenRequests.length, issued: server.tokens.issued.length, active: server.tokens.introspections.active, log: readFileSync(server.dovecot.logPath).length };
      const conn = proto === 'IMAP' ? imap(clientCredentials(type)) : pop3(clientCredentials(type));
      await drain(conn, {}, async (r, ws) => {
        assert.equal(r.code, 0, r.stderr);
        assert.equal((JSON.parse(r.stdout.trim()) as { taken: number }).taken, 3);
        await assertArchiveHolds(ws, served, `after the ${proto} ${type} drain`);
        assertNoSecretsLeaked(r, ws, before.issued);
      });
      assert.equal(await server.dovecot.messageCount(OAUTH_USER), 0, 'mailbox empty');
      assert.ok(server.tokens.tokenRequests.length > before.requests, 'the token endpoint was asked');
      assert.deepEqual(server.tokens.tokenRequests.at(-1), { grant_type: 'client_credentials', client_id: OAUTH_CLIENT_ID, client_secret: OAUTH_CLIENT_SECRET, scope: 'mail' });
      assert.ok(server.tokens.introspections.active > before.active, 'Dovecot checked the token at the introspection endpoint');
      // Dovecot's own record of the logins: the configured mechanism only, on the right protocol.
      const logins = readFileSync(server.dovecot.logPath).subarray(before.log).toString('utf8').split('\n').filter((l) => /-login: Info: Login:/.test(l));
      const mech = type === 'xoauth2' ? 'XOAUTH2' : 'OAUTHBEARER';
      assert.ok(logins.length > 0 && logins.every((l) => l.includes(`${proto.toLowerCase()}-login:`) && l.includes(`method=${mech},`)), `only ${mech} logins over ${proto}:\n${logins.join('\n')}`);
    });
  }
});

test('POP3 with a refresh token: the refresh_token grant, drained; the refresh token never in output or files', async () => {
  const served = await deliver(2, 'refresh-token');
  const refreshToken = server.tokens.newRefreshToken();
  process.env.OAUTH_TEST_REFRESH_TOKEN = refreshToken;
  const issued = server.tokens.issued.length;
  const auth = { type: 'oauthbearer', username: OAUTH_USER, tokenUrl: server.tokens.tokenUrl, clientId: OAUTH_CLIENT_ID, refreshToken: { env: 'OAUTH_TEST_REFRESH_TOKEN' } };
  await drain(pop3(auth), {}, async (r, ws) => {
    assert.equal(r.code, 0, r.stderr);
    await assertArchiveHolds(ws, served, 'after the drain with a refresh token');
    assertNoSecretsLeaked(r, ws, issued);
    for (const [where, text] of [['stdout', r.stdout], ['stderr', r.stderr], ...filesUnder(ws.dir).map((f) => [f, readFileSync(f, 'latin1')])]) assert.ok(!text!.includes(refreshToken), `the refresh token is in ${where}`);
  });
  assert.equal(await server.dovecot.messageCount(OAUTH_USER), 0);
  assert.deepEqual(server.tokens.tokenRequests.at(-1), { grant_type: 'refresh_token', client_id: OAUTH_CLIENT_ID, refresh_token: refreshToken });
});

test('IMAP with a client certificate (private_key_jwt): the endpoint verifies the signed assertion, drained; the key never in output or files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'oauth2-cert-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', '/CN=mailsluice-oauth-client'], { stdio: 'ignore' });
    const pem = readFileSync(join(dir, 'c.pem'), 'utf8') + readFileSync(join(dir, 'k.pem'), 'utf8');
    writeFileSync(join(dir, 'client.pem'), pem, { mode: 0o600 });
    server.tokens.clientCertificatePem = pem;
    const served = await deliver(2, 'certificate');
    const checked = server.tokens.assertions.length;
    const auth = { type: 'xoauth2', username: OAUTH_USER, tokenUrl: server.tokens.tokenUrl, clientId: OAUTH_CLIENT_ID, clientCertificate: { file: join(dir, 'client.pem') } };
    await drain(imap(auth), {}, async (r, ws) => {
      assert.equal(r.code, 0, r.stderr);
      await assertArchiveHolds(ws, served, 'after the drain with a client certificate');
      // A line from the middle of the key's base64: no trace of the key anywhere.
      const keyLine = readFileSync(join(dir, 'k.pem'), 'utf8').split('\n')[5]!;
      for (const [where, text] of [['stdout', r.stdout], ['stderr', r.stderr], ...filesUnder(ws.dir).map((f) => [f, readFileSync(f, 'latin1')])]) assert.ok(!text!.includes(keyLine), `the private key is in ${where}`);
    });
    assert.equal(await server.dovecot.messageCount(OAUTH_USER), 0);
    const fresh = server.tokens.assertions.slice(checked);
    assert.ok(fresh.length > 0 && fresh.every((a) => a.refused === ''), JSON.stringify(fresh.map((a) => a.refused)));
  } finally {
    server.tokens.clientCertificatePem = undefined;
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('a token that expires mid-drain', () => {
  test('IMAP: the session broken after the token expired reconnects with a new token from the endpoint; every message archived once, mailbox empty', async () => {
    const served = await deliver(6, 'expiry-imap', 20_000);
    // Tokens of 2 s (renewed 0.4 s early); the first session stalls mid-FETCH and is dropped at the 3 s silence limit.
    server.tokens.ttlS = 2;
    const before = { requests: server.tokens.tokenRequests.length, refused: server.tokens.introspections.total - server.tokens.introspections.active };
    const p = await proxy({ targetPort: server.dovecot.imapPort, stall: { afterClientLine: /UID FETCH .*BODY\.PEEK\[\]/, afterBytes: 30_000 } });
    const conn = imapConnection({ ...server.dovecot, host: p.host, imapPort: p.port }, user(), { security: 'none', dataTimeoutMs: 0, auth: clientCredentials(), logging: 'full' });
    try {
      await drain(conn, FAST_SILENCE, async (r, ws) => {
        assert.equal(r.code, 0, r.stderr);
        assert.ok(p.connections[0]!.stalled, 'the first session was the broken one');
        assert.match(r.stderr, /SOURCE_DATA_TIMEOUT/, 'the first session ended on the silence limit');
        await assertArchiveHolds(ws, served, 'after a drain across a token expiry');
      });
    } finally {
      server.tokens.ttlS = 30;
    }
    assert.equal(await server.dovecot.messageCount(OAUTH_USER), 0, 'mailbox empty');
    assert.ok(server.tokens.tokenRequests.length - before.requests >= 2, `a second token was obtained (${server.tokens.tokenRequests.length - before.requests} requests)`);
    assert.equal(server.tokens.introspections.total - server.tokens.introspections.active, before.refused, 'renewed before expiry: Dovecot never saw an expired token');
  });
});

describe('a token that expires mid-drain (POP3)', () => {
  test('POP3: the session stalled mid-RETR past the token\'s expiry; the next session logs in with a new token; every message archived once, maildrop empty', async () => {
    const served = await deliver(6, 'expiry-pop3', 20_000);
    server.tokens.ttlS = 2;
    const before = { requests: server.tokens.tokenRequests.length, refused: server.tokens.introspections.total - server.tokens.introspections.active };
    const p = await proxy({ targetPort: server.dovecot.pop3Port, stall: { afterClientLine: /^RETR /i, afterBytes: 5_000 } });
    const conn = pop3Connection({ ...server.dovecot, host: p.host, pop3Port: p.port }, user(), { security: 'none', dataTimeoutMs: 0, auth: clientCredentials('oauthbearer'), logging: 'full' });
    try {
      await drain(conn, FAST_SILENCE, async (r, ws) => {
        assert.equal(r.code, 0, r.stderr);
        assert.ok(p.connections[0]!.stalled, 'the first session was the broken one');
        await assertArchiveHolds(ws, served, 'after a POP3 drain across a token expiry');
      });
    } finally {
      server.tokens.ttlS = 30;
    }
    assert.equal(await server.dovecot.messageCount(OAUTH_USER), 0, 'maildrop empty');
    assert.ok(server.tokens.tokenRequests.length - before.requests >= 2, 'a second token was obtained');
    assert.equal(server.tokens.introspections.total - server.tokens.introspections.active, before.refused, 'renewed before expiry: Dovecot never saw an expired token');
  });
});

describe('refusals', () => {
  for (const proto of ['IMAP', 'POP3'] as const) {
    test(`${proto}: a wrong client secret is SOURCE_AUTH_REJECTED naming the endpoint and invalid_client, never the secret`, async () => {
      await deliver(1, `wrong-secret-${proto}`);
      const auth = clientCredentials('xoauth2', { clientSecret: 'this-is-the-wrong-secret' });
      const r = await drain(proto === 'IMAP' ? imap(auth) : pop3(auth));
      const line = failedWith(r, 'SOURCE_AUTH_REJECTED');
      assert.match(line, /the token endpoint 127\.0\.0\.1:\d+ \(client credentials grant, client "mailclient"\) refused to issue a token \(HTTP 401, invalid_client: client authentication failed\)/);
      assert.ok(!r.stdout.includes('this-is-the-wrong-secret') && !r.stderr.includes('this-is-the-wrong-secret'));
      assert.ok(await server.dovecot.messageCount(OAUTH_USER) >= 1, 'nothing was taken');
    });

    test(`${proto}: a revoked fixed accessToken is SOURCE_AUTH_REJECTED, tried once (it cannot be renewed)`, async () => {
      const token = await fetchToken();
      server.tokens.revoke(token);
      const auth = { type: 'xoauth2', username: OAUTH_USER, accessToken: { env: 'OAUTH_TEST_TOKEN' } };
      const before = server.tokens.introspections.total;
      process.env.OAUTH_TEST_TOKEN = token;
      const r = await drain(proto === 'IMAP' ? imap(auth) : pop3(auth));
      const line = failedWith(r, 'SOURCE_AUTH_REJECTED');
      assert.match(line, proto === 'IMAP' ? /rejected the login of "journal".*AUTHENTICATE XOAUTH2 with the configured accessToken/ : /rejected the login of "journal" \(AUTH XOAUTH2 with the configured accessToken/);
      // Dovecot's error challenge: Google's form for XOAUTH2 ("401"), RFC 7628's for OAUTHBEARER.
      assert.match(line, /OAuth status "(401|invalid_token)"/);
      assert.ok(!line.includes(token));
      assert.equal(server.tokens.introspections.total - before, 1, 'one login attempt: a fixed token is not retried');
    });
  }
});

test('the fixed accessToken form still works (IMAP and POP3)', async () => {
  for (const proto of ['IMAP', 'POP3'] as const) {
    const served = await deliver(2, `fixed-${proto}`);
    const token = await fetchToken();
    const auth = { type: 'xoauth2', username: OAUTH_USER, accessToken: { env: 'OAUTH_TEST_TOKEN' } };
    process.env.OAUTH_TEST_TOKEN = token;
    await drain(proto === 'IMAP' ? imap(auth) : pop3(auth), {}, async (r, ws) => {
      assert.equal(r.code, 0, r.stderr);
      await assertArchiveHolds(ws, served, `after the ${proto} drain with a fixed token`);
      assert.ok(!r.stderr.includes(token) && !r.stdout.includes(token));
    });
    assert.equal(await server.dovecot.messageCount(OAUTH_USER), 0);
  }
});

/** A token straight from the endpoint, as an operator renewing it by hand would get one. */
async function fetchToken(): Promise<string> {
  const res = await fetch(server.tokens.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: OAUTH_CLIENT_ID, client_secret: OAUTH_CLIENT_SECRET }).toString(),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

/** A connection as the loader makes it (secrets read), for the in-process tests. */
function loaded(conn: Record<string, unknown>): ConnectionConfig {
  const { config, problems } = checkConfigText(stringify({ dataDir: './data', api: { enabled: false }, connections: [conn] }));
  assert.deepEqual(problems, []);
  return config!.connections[0]!;
}

/** A logger into memory, at debug level: the test reads everything it wrote. */
function memoryLogger(): { logger: JsonlLogger; lines: string[] } {
  const lines: string[] = [];
  return { logger: new JsonlLogger([{ level: 'debug', stream: { write: (l: string) => lines.push(l) } }]), lines };
}

/** A token source holding a token the server no longer accepts (revoked after it was issued). */
async function sourceWithRevokedToken(): Promise<{ tokens: OAuth2TokenSource; revoked: string }> {
  const tokens = new OAuth2TokenSource({ tokenUrl: server.tokens.tokenUrl, clientId: OAUTH_CLIENT_ID, clientSecret: OAUTH_CLIENT_SECRET });
  const revoked = await tokens.token();
  server.tokens.revoke(revoked);
  return { tokens, revoked };
}

describe('a token the server refuses is renewed once (in process)', () => {
  test('IMAP: the revoked token is refused, invalidated, and a new one logs in on the same connection', async () => {
    const { tokens, revoked } = await sourceWithRevokedToken();
    const { logger, lines } = memoryLogger();
    const before = server.tokens.introspections.total;
    const source = new ImapSource(loaded(imap(clientCredentials())), logger, { accessTokens: tokens });
    try {
      await source.connect();
      assert.deepEqual(source.oauthLogin, { mechanism: 'XOAUTH2', user: OAUTH_USER, renewed: true });
    } finally {
      await source.close();
    }
    assert.equal(server.tokens.introspections.total - before, 2, 'two logins: the revoked token, then the new one');
    assert.ok(!lines.join('').includes(revoked) && !lines.join('').includes(server.tokens.issued.at(-1)!));
  });

  test('POP3: the same, with AUTH OAUTHBEARER', async () => {
    const { tokens } = await sourceWithRevokedToken();
    const steps: string[] = [];
    const client = await Pop3Client.connect({ ...pop3ClientOptions(loaded(pop3(clientCredentials('oauthbearer'))), tokens), onProgress: (step, detail) => steps.push(`${step}: ${detail}`) });
    await client.quit();
    assert.ok(steps.includes('auth: logged in as "journal" with AUTH OAUTHBEARER (the first token was refused; a new one was accepted)'), steps.join('\n'));
  });

  test('IMAP: when the endpoint only hands out refused tokens, SOURCE_AUTH_REJECTED after one retry, saying so', async () => {
    const { tokens } = await sourceWithRevokedToken();
    server.tokens.forced.push({ status: 200, body: { access_token: 'not-a-token-dovecot-knows', token_type: 'Bearer', expires_in: 60 } });
    const source = new ImapSource(loaded(imap(clientCredentials())), memoryLogger().logger, { accessTokens: tokens });
    try {
      await assert.rejects(source.connect(), (e: { code?: string; message?: string }) => {
        assert.equal(e.code, 'SOURCE_AUTH_REJECTED');
        assert.match(e.message ?? '', /rejected the login of "journal".*AUTHENTICATE XOAUTH2 with a token from the token endpoint 127\.0\.0\.1:\d+ .*OAuth status "(401|invalid_token)"/);
        assert.match(e.message ?? '', /a new token was obtained and refused too/);
        assert.ok(!(e.message ?? '').includes('not-a-token-dovecot-knows'));
        return true;
      });
    } finally {
      await source.close();
    }
  });
});

describe('test-connection: a token step before the login', () => {
  const check = (r: ProbeResult): void => {
    assert.equal(r.ok, true, JSON.stringify(r.steps));
    const names = r.steps.map((s) => s.step);
    assert.ok(names.indexOf('token') >= 0 && names.indexOf('token') < names.indexOf('auth'), names.join(', '));
    const token = r.steps.find((s) => s.step === 'token')!;
    assert.match(token.detail, /^obtained a token from the token endpoint 127\.0\.0\.1:\d+ \(client credentials grant, client "mailclient"\), issued for 30 s/);
    const all = JSON.stringify(r);
    for (const t of [...server.tokens.issued, OAUTH_CLIENT_SECRET]) assert.ok(!all.includes(t), 'no token or secret in the steps');
  };
  test('IMAP', async () => {
    const requests = server.tokens.tokenRequests.length;
    const r = await testConnection(loaded(imap(clientCredentials('oauthbearer'))));
    check(r);
    assert.equal(server.tokens.tokenRequests.length, requests + 1, 'the test asked the endpoint once; the login used that token');
    assert.equal(r.steps.find((s) => s.step === 'auth')!.detail, 'logged in with OAUTHBEARER as "journal"');
  });
  test('POP3', async () => {
    const r = await testConnection(loaded(pop3(clientCredentials())));
    check(r);
    assert.equal(r.steps.find((s) => s.step === 'auth')!.detail, 'logged in as "journal" with AUTH XOAUTH2');
  });
  test('a wrong secret fails at the token step, with the endpoint\'s sentence', async () => {
    const r = await testConnection(loaded(imap(clientCredentials('xoauth2', { clientSecret: 'nope-wrong' }))));
    assert.equal(r.ok, false);
    const last = r.steps.at(-1)!;
    assert.equal(last.step, 'token');
    assert.equal(last.code, 'SOURCE_AUTH_REJECTED');
    assert.match(last.detail, /invalid_client/);
  });
});
