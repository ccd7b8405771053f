/**
 * Issue 14, item 1 (Routes, read side and retry) over HTTP against a running `start`: the
 * configured routes without a secret, a route's deliveries by state, and an admin's retry of
 * its dead letters, which the running dispatcher then delivers exactly once each.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, makeWorkspace, runCli } from '../harness/cli.js';
import { freePort } from '../harness/free-port.js';
import { makeMessage } from '../harness/messages.js';
import { startWebhookReceiver, waitFor } from '../harness/webhook-receiver.js';
import { callApi, createToken, type Body, startService, type RunningService } from '../harness/api-client.js';

const dovecot = dovecotPerFile();


type Delivery = { id: string; state: string; attempts: number; lastError: string | null; doneAt: string | null };

test('start: routes without secrets; dead deliveries listed; an admin retry is delivered once each by the running dispatcher', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [0, 1, 2].map((i) => makeMessage(i, { bodyBytes: 800 })));
  const receiver = await startWebhookReceiver({ secret: 'whsec-topsecret' });
  receiver.answer(() => ({ status: 400 }));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const hookUrl = receiver.url.replace('http://', 'http://hookuser:hookpass@') + '?apikey=querysecret';
  const ws = makeWorkspace({
    connections: [imapConnection(dovecot, user)],
    api: { listen: `127.0.0.1:${port}` },
    routes: [
      { name: 'hook', connection: 'journal', bus: 0, scenario: [{ action: 'archive' }, { action: 'webhook', url: hookUrl, secret: 'whsec-topsecret', headers: { 'X-Api-Key': 'headersecret' } }] },
      {
        name: 'relay',
        connection: 'journal',
        bus: 1,
        enabled: false,
        filter: { subject: 'never' },
        scenario: [{ action: 'forward', to: ['archive@example.org'], relay: '127.0.0.1:1', auth: { user: 'smtpuser', pass: 'smtppass' } }],
      },
    ],
  });
  let service: RunningService | undefined;
  try {
    const drained = await runCli(['drain'], ws);
    assert.equal(drained.code, 1, 'dead letters fail the drain');
    assert.match(drained.stderr, /DELIVERIES_DEAD/);
    assert.equal(receiver.requests.length, 3);
    const viewer = await createToken(ws, 'ops', 'viewer');
    const auditor = await createToken(ws, 'legal', 'auditor');
    const admin = await createToken(ws, 'deployer', 'admin');
    service = await startService(ws, base);

    // The routes, as configured, never with a secret.
    const routes = await callApi(`${base}/api/v1/routes`, viewer);
    assert.equal(routes.status, 200);
    for (const secret of ['topsecret', 'headersecret', 'smtppass', 'hookpass', 'querysecret']) assert.ok(!routes.raw.includes(secret), `${secret} shown: ${routes.raw}`);
    const list = routes.body.routes as Array<Body & { scenario: Body[] }>;
    assert.deepEqual(list.map((r) => [r.name, r.enabled, r.bus]), [['hook', true, 0], ['relay', false, 1]]);
    assert.deepEqual(list[0]!.scenario[1]!.signed, true);
    assert.deepEqual(list[0]!.scenario[1]!.headers, ['X-Api-Key']);
    assert.equal(list[0]!.scenario[1]!.url, `${receiver.url}?…`);
    assert.equal(list[1]!.scenario[0]!.authUser, 'smtpuser');
    const one = await callApi(`${base}/api/v1/routes/relay`, viewer);
    assert.deepEqual([one.status, one.body.name, one.body.filter], [200, 'relay', { subject: 'never', match: 'contains' }]);
    assert.equal((await callApi(`${base}/api/v1/routes`)).status, 401);
    const unknown = await callApi(`${base}/api/v1/routes/nope/deliveries`, viewer);
    assert.deepEqual([unknown.status, unknown.body.code], [404, 'API_NOT_FOUND']);

    // The dead letters of the refusing receiver.
    const dead = await callApi(`${base}/api/v1/routes/hook/deliveries?state=dead`, viewer);
    assert.equal(dead.status, 200, dead.raw);
    const rows = dead.body.deliveries as Delivery[];
    assert.equal(rows.length, 3);
    assert.ok(rows.every((d) => d.state === 'dead' && d.attempts === 1 && /^ACTION_REJECTED/.test(d.lastError ?? '') && d.doneAt !== null), dead.raw);
    const paged = await callApi(`${base}/api/v1/routes/hook/deliveries?state=dead&limit=2`, viewer);
    assert.deepEqual([(paged.body.deliveries as unknown[]).length, paged.body.next], [2, '2']);
    const rest = await callApi(`${base}/api/v1/routes/hook/deliveries?state=dead&limit=2&cursor=2`, viewer);
    assert.deepEqual([(rest.body.deliveries as Delivery[]).map((d) => d.id), rest.body.next], [[rows[2]!.id], null]);
    const badState = await callApi(`${base}/api/v1/routes/hook/deliveries?state=lost`, viewer);
    assert.deepEqual([badState.status, badState.body.code], [400, 'API_BAD_REQUEST']);
    assert.match(String(badState.body.message), /state/);

    // Retry: admin only; an unknown route is 404; a malformed body 400 naming the field.
    for (const token of [viewer, auditor]) {
      const refused = await callApi(`${base}/api/v1/routes/hook/deliveries/retry`, token, { method: 'POST', body: {} });
      assert.deepEqual([refused.status, refused.body.code], [403, 'API_FORBIDDEN']);
    }
    const noRoute = await callApi(`${base}/api/v1/routes/nope/deliveries/retry`, admin, { method: 'POST', body: {} });
    assert.deepEqual([noRoute.status, noRoute.body.code], [404, 'API_NOT_FOUND']);
    const badBody = await callApi(`${base}/api/v1/routes/hook/deliveries/retry`, admin, { method: 'POST', body: { ids: 'all' } });
    assert.deepEqual([badBody.status, badBody.body.code], [400, 'API_BAD_REQUEST']);
    assert.match(String(badBody.body.message), /ids/);
    assert.equal(receiver.requests.length, 3, 'nothing was retried by the refusals');

    // Fixed receiver: one by id (and one that is not a dead delivery of this route), then the rest.
    receiver.answer(() => ({ status: 200 }));
    const byId = await callApi(`${base}/api/v1/routes/hook/deliveries/retry`, admin, { method: 'POST', body: { ids: [rows[0]!.id, 'journal.relay.1'] } });
    assert.equal(byId.status, 200, byId.raw);
    assert.deepEqual(byId.body, { replayed: 1, ids: [rows[0]!.id], notDead: ['journal.relay.1'] });
    await waitFor(() => receiver.accepted().length === 1, 15_000, 'the replayed delivery');
    const all = await callApi(`${base}/api/v1/routes/hook/deliveries/retry`, admin, { method: 'POST' });
    assert.equal(all.status, 200, all.raw);
    assert.equal(all.body.replayed, 2);
    await waitFor(() => receiver.accepted().length >= 3, 15_000, 'the other two');
    await new Promise((r) => setTimeout(r, 500)); // time for a duplicate to show, were there one
    const perMessage = new Map<string, number>();
    for (const r of receiver.accepted()) perMessage.set(r.body.message.ArchiveId, (perMessage.get(r.body.message.ArchiveId) ?? 0) + 1);
    assert.deepEqual([...perMessage.values()], [1, 1, 1], 'exactly one accepted request per message');
    let done: Delivery[] = [];
    const deadline = Date.now() + 10_000;
    while (done.length < 3 && Date.now() < deadline) {
      done = (await callApi(`${base}/api/v1/routes/hook/deliveries?state=done`, viewer)).body.deliveries as Delivery[];
      if (done.length < 3) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(done.length, 3, 'recorded done');
    assert.deepEqual((await callApi(`${base}/api/v1/routes/hook/deliveries?state=dead`, viewer)).body.deliveries, []);

    // The retries are on the audit log, by the admin's token.
    const audit = await callApi(`${base}/api/v1/audit?who=deployer`, auditor);
    assert.deepEqual(
      (audit.body.records as Array<{ action: string; detail: Body }>).map((r) => [r.action, r.detail.allDead ?? r.detail.ids]),
      [
        ['deliveries.retry', [rows[0]!.id, 'journal.relay.1']],
        ['deliveries.retry', true],
      ],
    );
  } finally {
    await service?.stop();
    await receiver.close();
    ws.cleanup();
  }
});
