/**
 * Issue 14's contract, end to end: tokens made with `mailsluice token create` open the running
 * service's management API by role (`Authorization: Bearer`), no token is 401, a role too low is
 * 403, and a token revoked while the service runs stops working at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, runCli } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { callApi, createToken, startService, type RunningService, drainedWithApi } from '../harness/api-client.js';

const dovecot = dovecotPerFile();

test('start: tokens from `token create` open the API by role; none is 401, too low a role 403, a revoked one 401', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [0, 1, 2].map((i) => makeMessage(i, { bodyBytes: 500 })));
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user)] });
  let service: RunningService | undefined;
  try {
    const viewer = await createToken(ws, 'ops', 'viewer');
    const auditor = await createToken(ws, 'legal', 'auditor');
    assert.match(viewer, /^msl_/);

    service = await startService(ws, base);

    const anonymous = await callApi(`${base}/api/v1/connections`);
    assert.deepEqual([anonymous.status, anonymous.body.code], [401, 'API_UNAUTHORIZED']);
    const forged = await callApi(`${base}/api/v1/connections`, `msl_${'A'.repeat(43)}`);
    assert.deepEqual([forged.status, forged.body.code], [401, 'API_UNAUTHORIZED']);

    const list = await callApi(`${base}/api/v1/connections`, viewer);
    assert.equal(list.status, 200);
    assert.deepEqual((list.body.connections as Array<{ name: string }>).map((c) => c.name), ['journal']);
    const status = await callApi(`${base}/api/v1/connections/journal/status`, viewer);
    assert.deepEqual([status.status, status.body.taken], [200, 3], 'taken since the archive began');

    const refused = await callApi(`${base}/api/v1/messages`, viewer);
    assert.deepEqual([refused.status, refused.body.code], [403, 'API_FORBIDDEN'], 'a viewer cannot search');
    const hits = await callApi(`${base}/api/v1/messages`, auditor);
    assert.equal(hits.status, 200);
    assert.equal((hits.body.hits as unknown[]).length, 3);

    // Revoked beside the running service: the next request is refused.
    const revoked = await runCli(['token', 'revoke', 'ops'], ws);
    assert.equal(revoked.code, 0, revoked.stderr);
    const after = await callApi(`${base}/api/v1/connections`, viewer);
    assert.deepEqual([after.status, after.body.code], [401, 'API_UNAUTHORIZED']);
  } finally {
    await service?.stop();
    ws.cleanup();
  }
});
