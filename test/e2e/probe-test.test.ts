/**
 * The probe test (issue 14, item 1; ADR 0027) and a route's message attributes, end to end: a
 * real Dovecot takes the probe over LMTP (the connection's `testRelay`), a running `start` drains
 * it, and a webhook route that matches everything receives nothing for it; a message with a
 * forged probe header is routed like any other, and its webhook body holds exactly the attributes
 * the route's `attributes` keeps, renames and adds. The API's probe test and the CLI's (beside
 * the service, and with no service running) report their steps; a relay that refuses a recipient
 * fails the send step with PROBE_RELAY_FAILED; a connection without testRelay is a 409.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, makeWorkspace, runCli } from '../harness/cli.js';
import { freePort } from '../harness/free-port.js';
import { createToken, startService, type RunningService } from '../harness/api-client.js';
import { startWebhookReceiver, waitFor } from '../harness/webhook-receiver.js';

const dovecot = dovecotPerFile();

type Step = { step: string; ok: boolean; ms: number; detail: string; code?: string };
type Result = { ok: boolean; steps: Step[]; warnings: string[]; probe?: { messageId: string } };

function forgedProbe(): Buffer {
  return Buffer.from(
    [
      'From: Outsider <outsider@example.test>',
      'To: journal@example.test',
      'Subject: forged probe',
      'Date: Sun, 06 Dec 2026 10:00:00 +0000',
      'Message-ID: <forged-1@example.test>',
      // The shape of a real probe header, with a MAC made without the archive's key.
      `X-Mailsluice-Probe: ${randomBytes(12).toString('hex')}.${randomBytes(16).toString('base64url')}`,
      'X-Ticket: T-7',
      '',
      'Routes must not be skipped for this one.',
      '',
    ].join('\r\n'),
  );
}

test('probe test over LMTP: every step ok through the API and the CLI, the probe archived marked and routed nowhere; a forged probe routed with the route attributes', async () => {
  const user = await dovecot.createUser({ username: `probe.${randomBytes(4).toString('hex')}@example.test` });
  const receiver = await startWebhookReceiver();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const relay = { host: dovecot.host, port: dovecot.lmtpPort, protocol: 'lmtp', security: 'none', waitMs: 30_000 };
  const ws = makeWorkspace({
    connections: [
      imapConnection(dovecot, user, { pollIntervalMs: 200, testRecipients: [user.username], testRelay: relay }),
      imapConnection(dovecot, user, { name: 'refused', enabled: false, testRecipients: ['nobody-here@example.test'], testRelay: relay }),
      imapConnection(dovecot, user, { name: 'plain', enabled: false }),
    ],
    routes: [
      {
        name: 'everything',
        connection: 'journal',
        scenario: [{ action: 'webhook', url: receiver.url }],
        attributes: { keep: ['Subject', 'From', 'ArchiveId'], rename: { Subject: 'Title' }, add: [{ name: 'Ticket', header: 'x-ticket' }, { name: 'Tenant', value: 'acme' }] },
      },
    ],
    api: { listen: `127.0.0.1:${port}` },
  });
  let service: RunningService | undefined;
  try {
    const drained = await runCli(['drain'], ws);
    assert.equal(drained.code, 0, drained.stderr);
    const admin = await createToken(ws, 'root', 'admin');
    const auth = { authorization: `Bearer ${admin}` };
    service = await startService(ws, base);

    // The API's probe test, whole: the plain steps, then send, arrive, archive.
    const res = await fetch(`${base}/api/v1/connections/journal/test?probe=true&wait=true`, { method: 'POST', headers: auth });
    assert.equal(res.status, 200);
    const api = (await res.json()) as Result;
    assert.equal(api.ok, true, JSON.stringify(api.steps));
    assert.deepEqual(api.steps.slice(-3).map((s) => [s.step, s.ok]), [['send', true], ['arrive', true], ['archive', true]]);
    assert.match(api.steps.at(-1)!.detail, /marked as a probe/);
    assert.match(api.probe?.messageId ?? '', /^probe-[0-9a-f]{24}@mailsluice\.invalid$/);

    // Streamed: the probe steps as events, as they complete, then the whole result.
    const streamed = await (await fetch(`${base}/api/v1/connections/journal/test?probe=true`, { method: 'POST', headers: auth })).text();
    const events = streamed
      .split('\n\n')
      .filter((b) => b.trim())
      .map((b) => ({ event: /^event: (.*)$/m.exec(b)?.[1], data: JSON.parse(/^data: (.*)$/m.exec(b)?.[1] ?? 'null') as Step & Result }));
    assert.deepEqual(events.filter((e) => e.event === 'step').slice(-3).map((e) => [e.data.step, e.data.ok]), [['send', true], ['arrive', true], ['archive', true]]);
    assert.equal(events.at(-1)?.event, 'done');
    assert.equal(events.at(-1)?.data.ok, true);

    // The connection view shows the probe settings (never a password).
    const view = (await (await fetch(`${base}/api/v1/connections/journal`, { headers: auth })).json()) as { testRecipients: string[]; testRelay: Record<string, unknown> };
    assert.deepEqual(view.testRecipients, [user.username]);
    assert.deepEqual(view.testRelay, { host: dovecot.host, port: dovecot.lmtpPort, protocol: 'lmtp', security: 'none', from: 'probe@mailsluice.invalid', waitMs: 30_000 });

    // In the archive, marked; found by its Message-ID.
    const found = (await (await fetch(`${base}/api/v1/messages?messageId=${encodeURIComponent(api.probe!.messageId)}`, { headers: auth })).json()) as { hits: Array<{ probe?: boolean; subject: string }> };
    assert.equal(found.hits.length, 1);
    assert.equal(found.hits[0]!.probe, true);

    // The CLI beside the running service: the service runs the test through its control socket
    // (it archives the probe and follows it there) and records it as the local user's.
    const cli = await runCli(['test-connection', 'journal', '--probe', '--json'], ws);
    assert.equal(cli.code, 0, cli.stdout + cli.stderr);
    const viaCli = JSON.parse(cli.stdout) as Result;
    assert.deepEqual(viaCli.steps.slice(-3).map((s) => [s.step, s.ok]), [['send', true], ['arrive', true], ['archive', true]]);
    assert.ok(viaCli.steps.every((s) => !('summary' in s)), 'the steps as the command prints them alone');
    assert.notEqual(viaCli.probe?.messageId, api.probe?.messageId, 'every probe has its own Message-ID');
    const text = await runCli(['test-connection', 'journal', '--probe'], ws);
    assert.equal(text.code, 0, text.stdout + text.stderr);
    assert.match(text.stdout, /^ok +resolve .*\n(.*\n)*ok +auth .*\n(.*\n)*ok +send .*accepted the probe.*\nok +arrive .*\nok +archive .*marked as a probe.*\nconnection journal works\n$/);
    const audit = await runCli(['audit', 'list', '--json'], ws);
    const tests = audit.stdout.trim().split('\n').map((l) => JSON.parse(l) as { who: string; origin: string; action: string; detail: Record<string, unknown> }).filter((r) => r.action === 'connection.test');
    assert.deepEqual(tests.map((r) => [r.who.startsWith('local:') ? 'local' : r.who, r.origin === 'control socket' ? 'socket' : 'tcp', r.detail]), [
      ['root', 'tcp', { connection: 'journal', probe: true }],
      ['root', 'tcp', { connection: 'journal', probe: true }],
      ['local', 'socket', { connection: 'journal', probe: true }],
      ['local', 'socket', { connection: 'journal', probe: true }],
    ]);

    // A forged probe header is only a header: that message IS routed, with the route's attributes.
    await dovecot.deliver(user.username, forgedProbe());
    await waitFor(() => receiver.requests.length >= 1, 30_000, 'the webhook of the forged probe');
    const forgedHit = (await (await fetch(`${base}/api/v1/messages?messageId=forged-1%40example.test`, { headers: auth })).json()) as { hits: Array<{ probe?: boolean }> };
    assert.equal(forgedHit.hits[0]?.probe, undefined, 'a forged probe is not marked');
    // Give a (wrongly) routed probe time to show up too, then count.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(receiver.requests.length, 1, `only the forged probe was routed: ${receiver.requests.map((r) => r.body.message['Title']).join(', ')}`);
    const message = receiver.requests[0]!.body.message;
    assert.deepEqual(Object.keys(message), ['Title', 'From', 'ArchiveId', 'Ticket', 'Tenant']);
    assert.equal(message['Title'], 'forged probe');
    assert.deepEqual(message['From'], { Name: 'Outsider', Address: 'outsider@example.test' });
    assert.match(String(message['ArchiveId']), /^[0-9a-f]{64}$/);
    assert.equal(message['Ticket'], 'T-7');
    assert.equal(message['Tenant'], 'acme');

    // The route view shows its attributes.
    const route = (await (await fetch(`${base}/api/v1/routes/everything`, { headers: auth })).json()) as { attributes: unknown };
    assert.deepEqual(route.attributes, { keep: ['Subject', 'From', 'ArchiveId'], rename: { Subject: 'Title' }, add: [{ name: 'Ticket', header: 'x-ticket' }, { name: 'Tenant', value: 'acme' }] });

    // A relay that refuses the recipient: the send step fails with its code and the relay's reply.
    const refused = (await (await fetch(`${base}/api/v1/connections/refused/test?probe=true&wait=true`, { method: 'POST', headers: auth })).json()) as Result;
    assert.equal(refused.ok, false);
    const failed = refused.steps.at(-1)!;
    assert.equal(failed.step, 'send');
    assert.equal(failed.code, 'PROBE_RELAY_FAILED');
    assert.match(failed.detail, /refused .*nobody-here@example\.test/);

    // No relay configured: refused before anything is sent, naming what is missing.
    const plain = await fetch(`${base}/api/v1/connections/plain/test?probe=true`, { method: 'POST', headers: auth });
    assert.equal(plain.status, 409);
    const plainBody = (await plain.json()) as { code: string; message: string };
    assert.equal(plainBody.code, 'PROBE_NOT_CONFIGURED');

    await service.stop();
    service = undefined;

    // No service: the CLI sees the probe in the mailbox and says the archive step waits for one.
    const alone = await runCli(['test-connection', 'journal', '--probe'], ws);
    assert.equal(alone.code, 0, alone.stdout + alone.stderr);
    assert.match(alone.stdout, /ok +send .*accepted the probe/);
    assert.match(alone.stdout, /ok +arrive .*in the mailbox INBOX/);
    assert.doesNotMatch(alone.stdout, / archive /);
    assert.match(alone.stdout, /WARN no service runs on this archive/);

    // The next drain archives it marked, and the route still takes nothing for it.
    const again = await runCli(['drain'], ws);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(receiver.requests.length, 1);
  } finally {
    await service?.stop().catch(() => undefined);
    await receiver.close();
    ws.cleanup();
  }
});
