/**
 * Issue 15, the archive's message view: `GET /api/v1/messages/{archiveId}/html` serves a hostile
 * HTML body as it is, but under the sandboxing policy (no script, no form, no remote load),
 * never sniffed, no Referer; 404 for an unknown message and for one without an HTML body; 401
 * without credentials, 403 for a viewer; recorded as a view on the audit log. Against a real
 * `start` after a real drain from Dovecot.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection } from '../harness/cli.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { hostileHtml, hostileHtmlMessage } from '../harness/hostile-html.js';
import { callApi, createToken, drainedWithApi, startService, type RunningService } from '../harness/api-client.js';
import { MESSAGE_HTML_CSP } from '../../src/api/routes/message-html.js';

const dovecot = dovecotPerFile();

test('start: the HTML body is served alone under a sandboxing CSP; 404 unknown or without HTML; 401/403; audited', async () => {
  const user = await dovecot.createUser();
  const hostile = hostileHtmlMessage(9);
  const plain = makeMessage(1, { bodyBytes: 300 });
  await dovecot.loadMaildir(user.username, [hostile, plain]);
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user)] });
  let service: RunningService | undefined;
  try {
    const auditor = await createToken(ws, 'legal', 'auditor');
    const viewer = await createToken(ws, 'ops', 'viewer');
    service = await startService(ws, base);
    const id = sha256(hostile);

    const res = await fetch(`${base}/api/v1/messages/${id}/html`, { headers: { authorization: `Bearer ${auditor}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(res.headers.get('content-security-policy'), MESSAGE_HTML_CSP);
    assert.match(MESSAGE_HTML_CSP, /^sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = await res.text();
    assert.equal(body.replace(/\r\n/g, '\n').trim(), hostileHtml(9).replace(/\r\n/g, '\n').trim(), 'the HTML body as the mail has it');

    const unknown = await callApi(`${base}/api/v1/messages/${'0'.repeat(64)}/html`, auditor);
    assert.deepEqual([unknown.status, unknown.body.code], [404, 'API_NOT_FOUND']);
    const noHtml = await callApi(`${base}/api/v1/messages/${sha256(plain)}/html`, auditor);
    assert.deepEqual([noHtml.status, noHtml.body.code], [404, 'API_NOT_FOUND']);
    const malformed = await callApi(`${base}/api/v1/messages/not-an-id/html`, auditor);
    assert.equal(malformed.status, 400);
    const anonymous = await callApi(`${base}/api/v1/messages/${id}/html`);
    assert.deepEqual([anonymous.status, anonymous.body.code], [401, 'API_UNAUTHORIZED']);
    const refused = await callApi(`${base}/api/v1/messages/${id}/html`, viewer);
    assert.deepEqual([refused.status, refused.body.code], [403, 'API_FORBIDDEN']);

    const audit = await callApi(`${base}/api/v1/audit?who=legal`, auditor);
    const views = (audit.body.records as Array<{ action: string; detail: { archiveId?: string; part?: string } }>).filter((r) => r.action === 'archive.view');
    assert.deepEqual(views[0]?.detail, { archiveId: id, part: 'html' }, 'the HTML read is recorded as a view');
  } finally {
    await service?.stop();
  }
});
