/**
 * The Graph simulator checked with raw HTTPS requests (no Graph client of ours): the token
 * endpoint's answers and AADSTS errors, the certificate credential, Bearer checks, folder and
 * message listing with paging, delta rounds with removals and a 410 after a reset, `$value` byte
 * for byte, move's new id, delete into Deleted Items, PATCH, `$batch` with dependencies, and
 * throttling with Retry-After. What mailsluice's Graph source relies on, seen from the wire.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GRAPH_CLIENT_ID, GRAPH_CLIENT_SECRET, GRAPH_MAILBOX, GRAPH_TENANT, startGraphSimulator, type GraphSimulator } from './graph-simulator.js';

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; raw: Buffer; json: any }

function call(sim: GraphSimulator, method: string, path: string, opts: { token?: string; body?: unknown; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Reply> {
  const url = new URL(path.startsWith('https://') ? path : `${sim.url}${path}`);
  const payload = opts.form ? new URLSearchParams(opts.form).toString() : opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  const headers: Record<string, string> = {
    ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}),
    ...(payload !== undefined ? { 'Content-Type': opts.form ? 'application/x-www-form-urlencoded' : 'application/json' } : {}),
    ...opts.headers,
  };
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: sim.port, path: url.pathname + url.search, method, ca: sim.ca, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        const raw = Buffer.concat(parts);
        let json: unknown;
        try { json = JSON.parse(raw.toString('utf8')); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, raw, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const USER = `/v1.0/users/${GRAPH_MAILBOX}`;
const msg = (n: number, extra = ''): string => `From: Sender ${n} <s${n}@example.org>\r\nTo: ${GRAPH_MAILBOX}\r\nSubject: Test ${n}\r\nMessage-ID: <m${n}@example.org>\r\nDate: Mon, 7 Dec 2026 10:00:0${n % 10} +0000\r\n${extra}\r\nBody ${n}\r\n`;

const CERT_APP = '5d3c1a90-2f4b-4e6c-8a7d-9b0e1f2a3c4d';
const OTHER_APP = '0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d';
let sim: GraphSimulator;
let token: string;
let certPem = '';
let keyPem = '';

async function newToken(form: Record<string, string> = {}): Promise<Reply> {
  return call(sim, 'POST', `/${GRAPH_TENANT.id}/oauth2/v2.0/token`, {
    form: { grant_type: 'client_credentials', client_id: GRAPH_CLIENT_ID, client_secret: GRAPH_CLIENT_SECRET, scope: 'https://graph.microsoft.com/.default', ...form },
  });
}

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'graph-cert-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', '/CN=mailsluice graph test'], { stdio: 'ignore' });
  certPem = readFileSync(join(dir, 'c.pem'), 'utf8');
  keyPem = readFileSync(join(dir, 'k.pem'), 'utf8');
  rmSync(dir, { recursive: true, force: true });
  sim = await startGraphSimulator({
    apps: [
      { tenant: GRAPH_TENANT.id, clientId: GRAPH_CLIENT_ID, clientSecret: GRAPH_CLIENT_SECRET },
      { tenant: GRAPH_TENANT.id, clientId: CERT_APP, certificatePem: certPem },
      { tenant: GRAPH_TENANT.id, clientId: OTHER_APP, clientSecret: GRAPH_CLIENT_SECRET, mailboxes: ['someone.else@contoso.onmicrosoft.com'] },
    ],
  });
  const r = await newToken();
  assert.equal(r.status, 200, r.raw.toString());
  token = r.json.access_token;
});

after(async () => {
  await sim.stop();
});

test('token endpoint: client credentials answer a Bearer token with its lifetime', async () => {
  const r = await newToken();
  assert.equal(r.json.token_type, 'Bearer');
  assert.equal(r.json.expires_in, 3599);
  assert.equal(typeof r.json.access_token, 'string');
  assert.equal(r.headers['cache-control'], 'no-store, no-cache');
  const viaDomain = await call(sim, 'POST', `/${GRAPH_TENANT.domains[0]}/oauth2/v2.0/token`, { form: { grant_type: 'client_credentials', client_id: GRAPH_CLIENT_ID, client_secret: GRAPH_CLIENT_SECRET, scope: 'https://graph.microsoft.com/.default' } });
  assert.equal(viaDomain.status, 200);
});

test('token endpoint: a bad secret, an unknown app, an unknown tenant, a bad scope are AADSTS errors', async () => {
  const bad = await newToken({ client_secret: 'wrong' });
  assert.equal(bad.status, 401);
  assert.equal(bad.json.error, 'invalid_client');
  assert.match(bad.json.error_description, /^AADSTS7000215: /);
  assert.deepEqual(bad.json.error_codes, [7000215]);
  const app = await newToken({ client_id: '00000000-0000-0000-0000-000000000001' });
  assert.equal(app.status, 400);
  assert.equal(app.json.error, 'unauthorized_client');
  assert.match(app.json.error_description, /^AADSTS700016: /);
  const tenant = await call(sim, 'POST', '/nosuch.onmicrosoft.com/oauth2/v2.0/token', { form: { grant_type: 'client_credentials', client_id: GRAPH_CLIENT_ID, client_secret: GRAPH_CLIENT_SECRET, scope: 'https://graph.microsoft.com/.default' } });
  assert.equal(tenant.status, 400);
  assert.equal(tenant.json.error, 'invalid_request');
  assert.match(tenant.json.error_description, /^AADSTS90002: /);
  const scope = await newToken({ scope: 'Mail.Read' });
  assert.equal(scope.json.error, 'invalid_scope');
  assert.match(scope.json.error_description, /^AADSTS1002012: /);
  const grant = await newToken({ grant_type: 'password' });
  assert.equal(grant.json.error, 'unsupported_grant_type');
});

/** mailsluice's own token client (dist build), in a child that trusts the simulator's CA as the service would (NODE_EXTRA_CA_CERTS). */
async function mailsluiceToken(request: Record<string, unknown>): Promise<{ accessToken?: string; error?: string }> {
  const script = `
    const { requestToken } = await import(${JSON.stringify(new URL('../../src/adapters/token-oauth2/oauth2-token-request.js', import.meta.url).href)});
    const { parseClientCertificate } = await import(${JSON.stringify(new URL('../../src/adapters/token-oauth2/oauth2-client-assertion.js', import.meta.url).href)});
    const r = JSON.parse(process.argv[1]);
    if (r.clientCertificate) r.clientCertificate = parseClientCertificate(r.clientCertificate);
    try { const t = await requestToken(r); process.stdout.write(JSON.stringify({ accessToken: t.accessToken })); }
    catch (e) { process.stdout.write(JSON.stringify({ error: e.code + ': ' + e.message })); }`;
  const { stdout: out } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, JSON.stringify({ timeoutMs: 10_000, ...request })], { env: { ...process.env, NODE_EXTRA_CA_CERTS: sim.caFile } });
  return JSON.parse(out) as { accessToken?: string; error?: string };
}

test("token endpoint: mailsluice's OAuth2 client gets a token with the secret and with the certificate, and Graph takes both", async () => {
  const bySecret = await mailsluiceToken({ tokenUrl: sim.tokenUrl(), clientId: GRAPH_CLIENT_ID, clientSecret: GRAPH_CLIENT_SECRET, scope: 'https://graph.microsoft.com/.default' });
  assert.ok(bySecret.accessToken, bySecret.error);
  assert.equal((await call(sim, 'GET', `${USER}/mailFolders/inbox`, { token: bySecret.accessToken })).status, 200);
  const byCert = await mailsluiceToken({ tokenUrl: sim.tokenUrl(GRAPH_TENANT.domains[0]), clientId: CERT_APP, clientCertificate: certPem + keyPem, scope: 'https://graph.microsoft.com/.default' });
  assert.ok(byCert.accessToken, byCert.error);
  assert.equal((await call(sim, 'GET', `${USER}/mailFolders/inbox`, { token: byCert.accessToken })).status, 200);
  const wrong = await mailsluiceToken({ tokenUrl: sim.tokenUrl(), clientId: GRAPH_CLIENT_ID, clientSecret: 'nope', scope: 'https://graph.microsoft.com/.default' });
  assert.match(wrong.error ?? '', /^SOURCE_AUTH_REJECTED: .*AADSTS7000215/);
});

test('token endpoint: a client assertion signed by another key, for another audience or expired is refused', async () => {
  const { clientAssertion, parseClientCertificate } = await import('../../src/adapters/token-oauth2/oauth2-client-assertion.js');
  const cert = parseClientCertificate(certPem + keyPem);
  const form = (assertion: string): Record<string, string> => ({
    grant_type: 'client_credentials', client_id: CERT_APP, scope: 'https://graph.microsoft.com/.default',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion,
  });
  const ok = await call(sim, 'POST', `/${GRAPH_TENANT.id}/oauth2/v2.0/token`, { form: form(clientAssertion(cert, CERT_APP, sim.tokenUrl(), Date.now())) });
  assert.equal(ok.status, 200, ok.raw.toString());
  const aud = await call(sim, 'POST', `/${GRAPH_TENANT.id}/oauth2/v2.0/token`, { form: form(clientAssertion(cert, CERT_APP, 'https://login.microsoftonline.com/x/oauth2/v2.0/token', Date.now())) });
  assert.equal(aud.json.error, 'invalid_client');
  const expired = await call(sim, 'POST', `/${GRAPH_TENANT.id}/oauth2/v2.0/token`, { form: form(clientAssertion(cert, CERT_APP, sim.tokenUrl(), Date.now() - 3_600_000)) });
  assert.match(expired.json.error_description, /^AADSTS700024: /);
  const forged = clientAssertion(cert, CERT_APP, sim.tokenUrl(), Date.now()).replace(/\.[^.]+$/, '.' + Buffer.alloc(256, 7).toString('base64url'));
  const sig = await call(sim, 'POST', `/${GRAPH_TENANT.id}/oauth2/v2.0/token`, { form: form(forged) });
  assert.match(sig.json.error_description, /^AADSTS700027: /);
  const otherApp = clientAssertion(cert, GRAPH_CLIENT_ID, sim.tokenUrl(), Date.now());
  const unregistered = await call(sim, 'POST', `/${GRAPH_TENANT.id}/oauth2/v2.0/token`, { form: { ...form(otherApp), client_id: GRAPH_CLIENT_ID } });
  assert.match(unregistered.json.error_description, /^AADSTS700027: /);
});

test('Graph: a missing, unknown, expired or revoked token is 401 InvalidAuthenticationToken', async () => {
  const none = await call(sim, 'GET', `${USER}/mailFolders/inbox`);
  assert.equal(none.status, 401);
  assert.equal(none.json.error.code, 'InvalidAuthenticationToken');
  assert.match(String(none.headers['www-authenticate']), /^Bearer /);
  assert.equal((await call(sim, 'GET', `${USER}/mailFolders/inbox`, { token: 'abc' })).status, 401);
  sim.tokens.lifetimeS = 1;
  const short = (await newToken()).json;
  assert.equal(short.expires_in, 1);
  sim.tokens.lifetimeS = 3599;
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await call(sim, 'GET', `${USER}/mailFolders/inbox`, { token: short.access_token })).status, 401);
  const t = (await newToken()).json.access_token as string;
  assert.equal((await call(sim, 'GET', `${USER}/mailFolders/inbox`, { token: t })).status, 200);
  sim.tokens.revoke(t);
  const revoked = await call(sim, 'GET', `${USER}/mailFolders/inbox`, { token: t });
  assert.equal(revoked.status, 401);
  assert.equal(revoked.json.error.code, 'InvalidAuthenticationToken');
});

test('Graph: a mailbox the app may not reach is 403 ErrorAccessDenied; an unknown user 404; /me 400', async () => {
  const other = (await newToken({ client_id: OTHER_APP })).json.access_token as string;
  const denied = await call(sim, 'GET', `${USER}/mailFolders/inbox`, { token: other });
  assert.equal(denied.status, 403);
  assert.equal(denied.json.error.code, 'ErrorAccessDenied');
  const unknown = await call(sim, 'GET', '/v1.0/users/nobody@contoso.onmicrosoft.com/mailFolders/inbox', { token });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error.code, 'ErrorInvalidUser');
  assert.equal((await call(sim, 'GET', '/v1.0/me/mailFolders/inbox', { token })).status, 400);
});

test('folders: well-known names, totalItemCount, a child folder found by displayName', async () => {
  const id = sim.createFolder('Inbox/Journal Feed');
  sim.add('Inbox/Journal Feed', msg(1));
  const inbox = await call(sim, 'GET', `${USER}/mailFolders/Inbox?$select=displayName,totalItemCount`, { token });
  assert.equal(inbox.status, 200);
  assert.equal(inbox.json.displayName, 'Inbox');
  assert.equal(inbox.json.id, sim.folderId('inbox'));
  const found = await call(sim, 'GET', `${USER}/mailFolders/inbox/childFolders?$filter=${encodeURIComponent("displayName eq 'journal feed'")}`, { token });
  assert.equal(found.status, 200);
  assert.deepEqual(found.json.value.map((f: { id: string }) => f.id), [id]);
  const byId = await call(sim, 'GET', `${USER}/mailFolders/${encodeURIComponent(id)}`, { token });
  assert.equal(byId.json.totalItemCount, 1);
  const keyed = await call(sim, 'GET', `/v1.0/users('${GRAPH_MAILBOX}')/mailFolders('${encodeURIComponent(id)}')`, { token });
  assert.equal(keyed.json.id, id, 'the OData key form Graph uses in its own links');
  assert.equal((await call(sim, 'GET', `${USER}/mailFolders/%E0%A4%A`, { token })).status, 400);
  const top = await call(sim, 'GET', `${USER}/mailFolders?$filter=${encodeURIComponent("displayName eq 'Archive'")}`, { token });
  assert.equal(top.json.value[0].id, sim.folderId('archive'));
  assert.equal((await call(sim, 'GET', `${USER}/mailFolders/nosuchname`, { token })).json.error.code, 'ErrorInvalidIdMalformed');
});

test('requests outside the documented shape fail loudly in the Graph error shape', async () => {
  const unknownOption = await call(sim, 'GET', `${USER}/mailFolders/inbox/messages?$frobnicate=1`, { token });
  assert.equal(unknownOption.status, 400);
  assert.equal(unknownOption.json.error.code, 'BadRequest');
  const badSelect = await call(sim, 'GET', `${USER}/mailFolders/inbox/messages?$select=size`, { token });
  assert.equal(badSelect.status, 400);
  assert.match(badSelect.json.error.message, /Could not find a property named 'size'/);
  const id = sim.add('inbox', msg(2));
  const badJson = await call(sim, 'PATCH', `${USER}/messages/${encodeURIComponent(id)}`, { token, body: '{isRead: true' });
  assert.equal(badJson.status, 400);
  const badProp = await call(sim, 'PATCH', `${USER}/messages/${encodeURIComponent(id)}`, { token, body: { isread: true } });
  assert.equal(badProp.status, 400);
  const wrongMethod = await call(sim, 'PUT', `${USER}/messages/${encodeURIComponent(id)}`, { token, body: { isRead: true } });
  assert.equal(wrongMethod.status, 405);
  assert.equal(typeof wrongMethod.json.error.message, 'string');
  sim.remove(id);
});

test('list messages: $select, $top, $orderby=receivedDateTime, @odata.nextLink to the end', async () => {
  sim.createFolder('Paging');
  const t0 = Date.parse('2026-12-01T00:00:00Z');
  const ids = [4, 1, 3, 0, 2].map((n) => [n, sim.add('Paging', msg(n), { received: new Date(t0 + n * 60_000) })] as const).sort((a, b) => a[0] - b[0]).map(([, id]) => id);
  const seen: string[] = [];
  let url: string | undefined = `${USER}/mailFolders/${encodeURIComponent(sim.folderId('Paging'))}/messages?$select=id,subject,receivedDateTime,internetMessageId,isRead&$top=2&$orderby=receivedDateTime`;
  let pages = 0;
  while (url) {
    const r = await call(sim, 'GET', url, { token });
    assert.equal(r.status, 200, r.raw.toString());
    for (const m of r.json.value) {
      assert.deepEqual(Object.keys(m).sort(), ['@odata.etag', 'id', 'internetMessageId', 'isRead', 'receivedDateTime', 'subject']);
      seen.push(m.id);
    }
    url = r.json['@odata.nextLink'];
    pages++;
  }
  assert.equal(pages, 3);
  assert.deepEqual(seen, ids);
});

async function deltaRound(link: string, pageSize = 2): Promise<{ items: any[]; deltaLink: string; pages: number }> {
  const items: any[] = [];
  let url: string = link;
  let pages = 0;
  for (;;) {
    const r: Reply = await call(sim, 'GET', url, { token, headers: { Prefer: `odata.maxpagesize=${pageSize}` } });
    assert.equal(r.status, 200, r.raw.toString());
    assert.equal(r.headers['preference-applied'], `odata.maxpagesize=${pageSize}`);
    assert.ok(!(r.json['@odata.nextLink'] && r.json['@odata.deltaLink']));
    items.push(...r.json.value);
    pages++;
    if (r.json['@odata.deltaLink']) return { items, deltaLink: r.json['@odata.deltaLink'], pages };
    url = r.json['@odata.nextLink'];
  }
}

test('delta: a first round pages through the folder; the next lists new, changed and removed messages; a reset is 410', async () => {
  sim.createFolder('Delta');
  const a = [0, 1, 2, 3, 4].map((n) => sim.add('Delta', msg(n)));
  const first = await deltaRound(`${USER}/mailFolders/${encodeURIComponent(sim.folderId('Delta'))}/messages/delta?$select=subject,receivedDateTime,internetMessageId`);
  assert.equal(first.pages, 3);
  assert.deepEqual(first.items.map((m) => m.id).sort(), [...a].sort());
  assert.deepEqual(Object.keys(first.items[0]).sort(), ['@odata.etag', '@odata.type', 'id', 'internetMessageId', 'receivedDateTime', 'subject']);
  assert.match(first.deltaLink, /\$deltatoken=/);
  const empty = await deltaRound(first.deltaLink);
  assert.deepEqual(empty.items, []);
  const added = sim.add('Delta', msg(5));
  sim.remove(a[0]!);
  const moved = await call(sim, 'POST', `${USER}/messages/${encodeURIComponent(a[1]!)}/move`, { token, body: { destinationId: 'archive' } });
  assert.equal(moved.status, 201);
  await call(sim, 'PATCH', `${USER}/messages/${encodeURIComponent(a[2]!)}`, { token, body: { isRead: true } });
  const second = await deltaRound(empty.deltaLink, 10);
  const byId = new Map(second.items.map((m) => [m.id, m]));
  assert.deepEqual(byId.get(a[0]!)?.['@removed'], { reason: 'deleted' });
  assert.deepEqual(byId.get(a[1]!)?.['@removed'], { reason: 'deleted' });
  assert.equal(byId.get(added)?.subject, 'Test 5');
  assert.ok(byId.has(a[2]!) && !byId.get(a[2]!)['@removed']);
  assert.equal(second.items.length, 4);
  // The selected properties ride in the token: the second round still has only them.
  assert.deepEqual(Object.keys(byId.get(added)).sort(), ['@odata.etag', '@odata.type', 'id', 'internetMessageId', 'receivedDateTime', 'subject']);
  sim.fault.expireDeltaTokens();
  const gone = await call(sim, 'GET', second.deltaLink, { token });
  assert.equal(gone.status, 410);
  assert.equal(gone.json.error.code, 'SyncStateNotFound');
  const bogus = await call(sim, 'GET', `${USER}/mailFolders/inbox/messages/delta?$deltatoken=bogus`, { token });
  assert.equal(bogus.status, 410);
});

test('$value: the raw MIME byte for byte, streamed; a missing message is 404 ErrorItemNotFound', async () => {
  const raw = Buffer.concat([Buffer.from(msg(7, 'Content-Type: application/octet-stream\r\n')), Buffer.alloc(300_000, 0xe9), Buffer.from('\r\n')]);
  const id = sim.add('inbox', raw);
  const r = await call(sim, 'GET', `${USER}/messages/${encodeURIComponent(id)}/$value`, { token });
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/plain/);
  assert.ok(r.raw.equals(raw));
  const inFolder = await call(sim, 'GET', `${USER}/mailFolders/inbox/messages/${encodeURIComponent(id)}/$value`, { token });
  assert.ok(inFolder.raw.equals(raw));
  sim.remove(id);
  const gone = await call(sim, 'GET', `${USER}/messages/${encodeURIComponent(id)}/$value`, { token });
  assert.equal(gone.status, 404);
  assert.equal(gone.json.error.code, 'ErrorItemNotFound');
});

test('move answers the message with a new id; delete puts it into Deleted Items; permanentDelete removes it; PATCH sets read, categories, flag', async () => {
  const id = sim.add('inbox', msg(8));
  const moved = await call(sim, 'POST', `${USER}/messages/${encodeURIComponent(id)}/move`, { token, body: { destinationId: 'archive' } });
  assert.equal(moved.status, 201);
  assert.notEqual(moved.json.id, id);
  assert.equal(moved.json.parentFolderId, sim.folderId('archive'));
  assert.equal(sim.message(id), undefined);
  assert.equal((await call(sim, 'GET', `${USER}/messages/${encodeURIComponent(id)}`, { token })).json.error.code, 'ErrorItemNotFound');
  const patched = await call(sim, 'PATCH', `${USER}/messages/${encodeURIComponent(moved.json.id)}`, { token, body: { isRead: true, categories: ['archived'], flag: { flagStatus: 'flagged' } } });
  assert.equal(patched.status, 200);
  assert.deepEqual([patched.json.isRead, patched.json.categories, patched.json.flag], [true, ['archived'], { flagStatus: 'flagged' }]);
  const del = await call(sim, 'DELETE', `${USER}/messages/${encodeURIComponent(moved.json.id)}`, { token });
  assert.equal(del.status, 204);
  const inDeleted = sim.messages('deleteditems').find((m) => m.internetMessageId === '<m8@example.org>');
  assert.ok(inDeleted);
  assert.deepEqual(inDeleted.categories, ['archived']);
  const perm = await call(sim, 'POST', `${USER}/messages/${encodeURIComponent(inDeleted.id)}/permanentDelete`, { token });
  assert.equal(perm.status, 204);
  assert.equal(sim.message(inDeleted.id), undefined);
});

test('$batch: per-request answers, dependsOn, a failed dependency 424, $value base64, more than 20 refused', async () => {
  const ids = [10, 11].map((n) => sim.add('inbox', msg(n)));
  const u = (s: string): string => `/users/${GRAPH_MAILBOX}/messages/${encodeURIComponent(s)}`;
  const r = await call(sim, 'POST', '/v1.0/$batch', {
    token,
    body: {
      requests: [
        { id: '1', method: 'GET', url: `${u(ids[0]!)}/$value` },
        { id: '2', method: 'PATCH', url: u(ids[0]!), headers: { 'Content-Type': 'application/json' }, body: { isRead: true } },
        { id: '3', method: 'POST', url: `${u(ids[0]!)}/move`, dependsOn: ['2'], headers: { 'Content-Type': 'application/json' }, body: { destinationId: 'archive' } },
        { id: '4', method: 'DELETE', url: u('AAMkAGnosuch') },
        { id: '5', method: 'DELETE', url: u(ids[1]!), dependsOn: ['4'] },
      ],
    },
  });
  assert.equal(r.status, 200, r.raw.toString());
  const byId = new Map<string, any>(r.json.responses.map((x: { id: string }) => [x.id, x]));
  assert.equal(byId.get('1').status, 200);
  assert.equal(Buffer.from(byId.get('1').body, 'base64').toString(), msg(10));
  assert.equal(byId.get('2').body.isRead, true);
  assert.equal(byId.get('3').status, 201);
  assert.equal(byId.get('4').status, 400);
  assert.equal(byId.get('5').status, 424);
  assert.ok(sim.message(ids[1]!), 'a request whose dependency failed is not run');
  const tooMany = await call(sim, 'POST', '/v1.0/$batch', { token, body: { requests: Array.from({ length: 21 }, (_, i) => ({ id: String(i), method: 'GET', url: '/users/x/mailFolders/inbox' })) } });
  assert.equal(tooMany.status, 400);
  assert.equal(sim.requests.filter((x) => x.inBatch).length >= 5, true);
});

test('throttling: 429 and 503 with Retry-After, on requests and on batch items', async () => {
  sim.fault.throttle(1, 3);
  const t = await call(sim, 'GET', `${USER}/mailFolders/inbox`, { token });
  assert.equal(t.status, 429);
  assert.equal(t.headers['retry-after'], '3');
  assert.equal(t.json.error.code, 'TooManyRequests');
  sim.fault.throttle(1, 1, 503);
  const u = await call(sim, 'GET', `${USER}/mailFolders/inbox`, { token });
  assert.equal(u.status, 503);
  assert.equal(u.headers['retry-after'], '1');
  assert.equal((await call(sim, 'GET', `${USER}/mailFolders/inbox`, { token })).status, 200);
  sim.fault.throttleBatchItems(1, 5);
  const b = await call(sim, 'POST', '/v1.0/$batch', { token, body: { requests: [{ id: 'a', method: 'GET', url: `/users/${GRAPH_MAILBOX}/mailFolders/inbox` }, { id: 'b', method: 'GET', url: `/users/${GRAPH_MAILBOX}/mailFolders/archive` }] } });
  assert.equal(b.status, 200);
  const items = new Map<string, any>(b.json.responses.map((x: { id: string }) => [x.id, x]));
  assert.equal(items.get('a').status, 429);
  assert.equal(items.get('a').headers['Retry-After'], '5');
  assert.equal(items.get('b').status, 200);
  sim.fault.throttleRate(1, 2);
  assert.equal((await call(sim, 'GET', `${USER}/mailFolders/inbox`, { token })).status, 429);
  sim.fault.throttleRate(0, 0);
  assert.equal((await call(sim, 'GET', `${USER}/mailFolders/inbox`, { token })).status, 200);
  assert.ok(sim.count('getFolder') > 0);
});

test('$value of a 100 MB message streams without a copy per request; cutValue breaks the next answer mid-body', async () => {
  const big = Buffer.alloc(100 * 1024 * 1024, 0x41);
  Buffer.from(msg(9)).copy(big);
  const id = sim.add('inbox', big);
  const baseline = process.memoryUsage().arrayBuffers;
  let peak = 0;
  const got = await new Promise<{ status: number; length: number; hash: string }>((resolve, reject) => {
    const hash = createHash('sha256');
    let length = 0;
    request({ host: '127.0.0.1', port: sim.port, path: `${USER}/messages/${encodeURIComponent(id)}/$value`, ca: sim.ca, headers: { Authorization: `Bearer ${token}` }, agent: false }, (res) => {
      res.on('data', (d: Buffer) => {
        hash.update(d);
        length += d.length;
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, length, hash: hash.digest('hex') }));
      res.on('error', reject);
    }).on('error', reject).end();
  });
  assert.equal(got.status, 200);
  assert.equal(got.length, big.length);
  assert.equal(got.hash, createHash('sha256').update(big).digest('hex'));
  // A copy of the message would add 100 MB; chunks the client has read and GC has not yet freed account for the rest.
  assert.ok(peak < 64 * 1024 * 1024, `buffers grew by ${peak} bytes while serving 100 MB`);
  sim.fault.cutValue(1000);
  const cut = await new Promise<{ received: number; failed: boolean }>((resolve) => {
    let received = 0;
    request({ host: '127.0.0.1', port: sim.port, path: `${USER}/messages/${encodeURIComponent(id)}/$value`, ca: sim.ca, headers: { Authorization: `Bearer ${token}` }, agent: false }, (res) => {
      res.on('data', (d: Buffer) => { received += d.length; });
      res.on('end', () => resolve({ received, failed: false }));
      res.on('error', () => resolve({ received, failed: true }));
      res.on('aborted', () => resolve({ received, failed: true }));
    }).on('error', () => resolve({ received, failed: true })).end();
  });
  assert.equal(cut.failed, true);
  assert.ok(cut.received <= 1000);
  sim.remove(id);
});

test('message size through the PidTagMessageSize extended property; the OpenID configuration msal reads', async () => {
  const raw = msg(12);
  const id = sim.add('inbox', raw);
  const r = await call(sim, 'GET', `${USER}/messages/${encodeURIComponent(id)}?$select=id&$expand=${encodeURIComponent("singleValueExtendedProperties($filter=id eq 'Integer 0x0E08')")}`, { token });
  assert.equal(r.status, 200, r.raw.toString());
  assert.deepEqual(r.json.singleValueExtendedProperties, [{ id: 'Integer 0xe08', value: String(Buffer.byteLength(raw)) }]);
  const list = await call(sim, 'GET', `${USER}/mailFolders/inbox/messages?$select=id&$top=1000&$expand=${encodeURIComponent("singleValueExtendedProperties($filter=id eq 'Integer 0x0E08')")}`, { token });
  assert.ok(list.json.value.every((m: { singleValueExtendedProperties?: unknown[] }) => m.singleValueExtendedProperties?.length === 1));
  const oidc = await call(sim, 'GET', `/${GRAPH_TENANT.id}/v2.0/.well-known/openid-configuration`);
  assert.equal(oidc.json.token_endpoint, sim.tokenUrl());
  sim.tokens.forced.push({ status: 503, body: { error: 'temporarily_unavailable', error_description: 'AADSTS90033: A transient error has occurred.' } });
  assert.equal((await newToken()).status, 503);
  const notForm = await call(sim, 'POST', `/${GRAPH_TENANT.id}/oauth2/v2.0/token`, { body: { grant_type: 'client_credentials' } });
  assert.equal(notForm.status, 400);
  assert.equal(notForm.json.error, 'invalid_request');
  sim.remove(id);
});
