/**
 * Issue 14, item 6 (alerts; ADR 0026) against a running `start`, a real Dovecot, a real webhook
 * receiver and a real mailbox: a connection whose server stops fires one signed webhook alert,
 * then a reminder after the resend interval, and `GET /api/v1/alerts` shows it firing; the
 * server certificate seen at its STARTTLS session is read for the expiry rule; a dead letter
 * fires an alert that arrives by e-mail (over Dovecot's LMTP, into a mailbox); a test
 * notification goes out on request, and only an admin may ask for one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { startDovecot } from '../harness/dovecot.js';
import { imapConnection, makeWorkspace, runCli, type Workspace } from '../harness/cli.js';
import { freePort } from '../harness/free-port.js';
import { makeMessage } from '../harness/messages.js';
import { startWebhookReceiver, type ReceivedRequest } from '../harness/webhook-receiver.js';
import { serverMessages } from '../harness/imap-proxy.js';
import { callApi, createToken, startService, type RunningService } from '../harness/api-client.js';

const dovecot = dovecotPerFile();

type Alert = { rule: string; kind: string; state: string; since: string | null; summary: string | null; lastSentAt: string | null; lastError: unknown; owed: string[] };
type AlertBody = { type: string; event: string; rule: string; kind: string; summary: string; since: string | null; at: string };

async function until(what: string, cond: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const started = Date.now();
  while (!(await cond())) {
    assert.ok(Date.now() - started < ms, `${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function alertsOf(requests: ReceivedRequest[], rule: string): AlertBody[] {
  return requests.map((r) => r.body as unknown as AlertBody).filter((b) => b.rule === rule);
}

/** A workspace drained once (its archive holds the tokens), with the API on a free port. */
async function drained(config: Record<string, unknown>): Promise<{ ws: Workspace; base: string }> {
  const port = await freePort();
  const ws = makeWorkspace({ ...config, api: { listen: `127.0.0.1:${port}` } });
  const r = await runCli(['drain'], ws);
  assert.equal(r.code, 0, r.stderr);
  return { ws, base: `http://127.0.0.1:${port}` };
}

test('a connection whose server stops: one signed webhook alert, a reminder after resendMinutes, listed as firing; the certificate read', async () => {
  const own = await startDovecot();
  const receiver = await startWebhookReceiver();
  let service: RunningService | undefined;
  try {
    const user = await own.createUser();
    const { ws, base } = await drained({
      connections: [imapConnection(own, user)],
      alerts: {
        checkSeconds: 1,
        resendMinutes: 0.15,
        channels: [{ name: 'hook', type: 'webhook', url: receiver.url, secret: 'alert-secret' }],
        rules: [
          { name: 'down', kind: 'connection-failing', connection: 'journal', minutes: 0.05, channels: ['hook'] },
          { name: 'cert', kind: 'certificate-expiry', days: 3650, channels: ['hook'] },
          { name: 'certfar', kind: 'certificate-expiry', days: 1, channels: ['hook'] },
        ],
      },
    });
    const viewer = await createToken(ws, 'ops', 'viewer');
    service = await startService(ws, base);
    // The test CA's server certificate is valid for 3650 days from its making: within 3650 days, not within 1.
    await until('the certificate alert', () => alertsOf(receiver.requests, 'cert').length === 1, 15_000);
    const cert = alertsOf(receiver.requests, 'cert')[0]!;
    assert.equal(cert.event, 'firing');
    assert.match(cert.summary, /^journal: the server certificate expires \d{4}-/);
    assert.equal(alertsOf(receiver.requests, 'down').length, 0, 'the connection works: no failure alert');

    await own.stop();
    const stoppedAt = Date.now();
    await until('the failure alert', () => alertsOf(receiver.requests, 'down').length >= 1, 20_000);
    assert.ok(Date.now() - stoppedAt >= 3000, 'not before minutes (0.05 = 3 s) of failure');
    const req = receiver.requests.find((r) => (r.body as unknown as AlertBody).rule === 'down')!;
    const fired = req.body as unknown as AlertBody;
    assert.deepEqual([fired.type, fired.event, fired.kind], ['mailsluice.alert', 'firing', 'connection-failing']);
    assert.match(fired.summary, /^journal failing for \d+ s \((backoff|connecting|error); last error SOURCE_[A-Z_]+: /);
    // Standard Webhooks: the signature covers the id, the time and the body.
    const id = String(req.headers['webhook-id']);
    const ts = String(req.headers['webhook-timestamp']);
    const want = createHmac('sha256', 'alert-secret').update(`${id}.${ts}.`).update(req.raw).digest('base64');
    assert.equal(req.headers['webhook-signature'], `v1,${want}`);
    assert.match(id, /^alert_/);

    const listed = await callApi(`${base}/api/v1/alerts`, viewer);
    assert.equal(listed.status, 200, listed.raw);
    const down = (listed.body.alerts as Alert[]).find((a) => a.rule === 'down')!;
    assert.deepEqual([down.kind, down.state, down.owed, down.lastError], ['connection-failing', 'firing', [], null]);
    assert.ok(down.since && down.lastSentAt && /SOURCE_/.test(down.summary ?? ''), listed.raw);
    assert.deepEqual(
      (listed.body.alerts as Alert[]).map((a) => [a.rule, a.state]),
      [['down', 'firing'], ['cert', 'firing'], ['certfar', 'ok']],
    );

    // Exactly one until the resend interval (0.15 min = 9 s) has passed, then a reminder.
    await sleep(4000);
    assert.equal(alertsOf(receiver.requests, 'down').length, 1, 'sent once, not at every check');
    await until('the reminder', () => alertsOf(receiver.requests, 'down').length === 2, 15_000);
    assert.deepEqual(alertsOf(receiver.requests, 'down').map((b) => b.event), ['firing', 'reminder']);
    assert.equal(alertsOf(receiver.requests, 'down')[1]!.since, fired.since);
    assert.ok(alertsOf(receiver.requests, 'certfar').length === 0);
    await service.stop();
    service = undefined;
  } finally {
    await service?.stop().catch(() => undefined);
    await receiver.close();
    await own.stop().catch(() => undefined);
  }
});

test('a dead letter: the alert arrives by e-mail in a real mailbox; a test notification on request, by role', async () => {
  const user = await dovecot.createUser();
  const ops = await dovecot.createUser();
  const refusing = await startWebhookReceiver();
  refusing.answer(() => ({ status: 500 }));
  const hook = await startWebhookReceiver();
  hook.answer(() => ({ status: 503 }));
  let service: RunningService | undefined;
  try {
    const { ws, base } = await drained({
      connections: [imapConnection(dovecot, user)],
      routes: [{ name: 'crm', connection: 'journal', scenario: [{ action: 'webhook', url: refusing.url, maxAttempts: 1 }] }],
      alerts: {
        checkSeconds: 1,
        channels: [
          { name: 'mail', type: 'email', relay: { host: dovecot.host, port: dovecot.lmtpPort, protocol: 'lmtp', security: 'none' }, from: 'mailsluice@example.test', to: [ops.username] },
          { name: 'hook', type: 'webhook', url: hook.url },
        ],
        rules: [
          { name: 'dead', kind: 'dead-letters', route: 'crm', channels: ['mail'] },
          { name: 'chain', kind: 'audit-chain-broken', channels: ['hook'] },
        ],
      },
    });
    const viewer = await createToken(ws, 'ops', 'viewer');
    const admin = await createToken(ws, 'deployer', 'admin');
    service = await startService(ws, base);
    // Checked once: both rules hold nothing.
    let before: Alert[] = [];
    await until('the first check', async () => {
      before = (await callApi(`${base}/api/v1/alerts`, viewer)).body.alerts as Alert[];
      return before.every((a) => a.state !== 'unknown');
    }, 10_000);
    assert.deepEqual(before.map((a) => [a.rule, a.state]), [['dead', 'ok'], ['chain', 'ok']]);
    assert.equal(await dovecot.messageCount(ops.username), 0);

    // A message arrives, its only delivery fails once: a dead letter, and the alert by mail.
    await dovecot.deliver(user.username, makeMessage(1, { bodyBytes: 300 }));
    await until('the dead letter', () => refusing.requests.length === 1, 20_000);
    await until('the alert mail', async () => (await dovecot.messageCount(ops.username)) === 1, 20_000).catch(async (err: Error) => {
      const alerts = await callApi(`${base}/api/v1/alerts`, viewer);
      throw new Error(`${err.message}; alerts: ${alerts.raw}; the service said: ${service?.stderr()}`);
    });
    const [mail] = await serverMessages(dovecot, ops);
    const text = mail!.source.toString('utf8');
    assert.match(text, /^Subject: \[mailsluice\] FIRING dead \(dead-letters\)\r$/m);
    assert.match(text, /^From: mailsluice@example\.test\r$/m);
    assert.match(text, /^Auto-Submitted: auto-generated\r$/m);
    assert.match(text, /dead letters: crm 1/);
    const firing = (await callApi(`${base}/api/v1/alerts`, viewer)).body.alerts as Alert[];
    assert.deepEqual([firing[0]!.state, firing[0]!.owed], ['firing', []]);

    // The test send: roles first.
    assert.equal((await callApi(`${base}/api/v1/alerts`)).status, 401);
    const forbidden = await callApi(`${base}/api/v1/alerts/dead/test`, viewer, { method: 'POST' });
    assert.deepEqual([forbidden.status, forbidden.body.code], [403, 'API_FORBIDDEN']);
    const unknown = await callApi(`${base}/api/v1/alerts/nope/test`, admin, { method: 'POST' });
    assert.deepEqual([unknown.status, unknown.body.code], [404, 'API_NOT_FOUND']);
    const tested = await callApi(`${base}/api/v1/alerts/dead/test`, admin, { method: 'POST' });
    assert.equal(tested.status, 200, tested.raw);
    assert.deepEqual(tested.body, { rule: 'dead', results: [{ channel: 'mail', ok: true }] });
    assert.equal(await dovecot.messageCount(ops.username), 2);
    const test2 = (await serverMessages(dovecot, ops))[1]!.source.toString('utf8');
    assert.match(test2, /^Subject: \[mailsluice\] TEST dead \(dead-letters\)\r$/m);
    assert.match(test2, /test of alert rule dead \(dead-letters\); now: dead letters: crm 1/);
    // A channel that refuses: its error, per channel.
    const refused = await callApi(`${base}/api/v1/alerts/chain/test`, admin, { method: 'POST' });
    assert.equal(refused.status, 200, refused.raw);
    const results = refused.body.results as Array<{ channel: string; ok: boolean; code?: string; message?: string }>;
    assert.deepEqual(results.map((r) => [r.channel, r.ok, r.code]), [['hook', false, 'ALERT_SEND_FAILED']]);
    assert.match(results[0]!.message!, /alert channel hook: the webhook http:\/\/127\.0\.0\.1:\d+\/hook answered 503/);
    assert.equal((hook.requests[0]!.body as unknown as AlertBody).event, 'test');
    // The test changed nothing: still firing, nothing owed.
    const after = (await callApi(`${base}/api/v1/alerts`, viewer)).body.alerts as Alert[];
    assert.deepEqual([after[0]!.state, after[0]!.lastSentAt], [firing[0]!.state, firing[0]!.lastSentAt]);
    // The audit log has the test.
    const audit = await callApi(`${base}/api/v1/audit`, admin);
    assert.match(audit.raw, /alerts\.test/);
    await service.stop();
    service = undefined;
  } finally {
    await service?.stop().catch(() => undefined);
    await refusing.close();
    await hook.close();
  }
});
