/**
 * The alerts applied live and kept across a restart (ADR 0026, amended; ADR 0024), against a
 * running `start`, a real Dovecot and real webhook receivers: a dead letter fires one alert; the
 * file edited (a second channel, a shorter `resendMinutes`) and SIGHUP → the new interval and
 * channel are used without a restart and without a second "firing"; the service restarted while
 * the rule fires → nothing is sent again before the resend interval; the dead letter retried
 * while the service is down → "resolved" is sent once at the next start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, runCli } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { startWebhookReceiver, type ReceivedRequest } from '../harness/webhook-receiver.js';
import { callApi, createToken, drainedWithApi, startService, type RunningService } from '../harness/api-client.js';

const dovecot = dovecotPerFile();

type AlertBody = { event: string; rule: string; at: string };
type Alert = { rule: string; state: string; lastSentAt: string | null; channels: string[] };

async function until(what: string, cond: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const started = Date.now();
  while (!(await cond())) {
    assert.ok(Date.now() - started < ms, `${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const events = (requests: ReceivedRequest[]): string[] => requests.map((r) => (r.body as unknown as AlertBody).event);

test('alerts: a new channel and resend interval apply on SIGHUP without a duplicate; a restart neither re-sends nor forgets a resolution', async () => {
  const user = await dovecot.createUser();
  const refusing = await startWebhookReceiver();
  refusing.answer(() => ({ status: 500 }));
  const hookA = await startWebhookReceiver();
  const hookB = await startWebhookReceiver();
  let service: RunningService | undefined;
  try {
    const alertsOf = (resendMinutes: number, ruleChannels: string[]): Record<string, unknown> => ({
      checkSeconds: 1,
      resendMinutes,
      // Channel b exists only once the rule names it: the reload makes its notifier.
      channels: [{ name: 'a', type: 'webhook', url: hookA.url }, ...(ruleChannels.includes('b') ? [{ name: 'b', type: 'webhook', url: hookB.url }] : [])],
      rules: [{ name: 'dead', kind: 'dead-letters', route: 'crm', channels: ruleChannels }],
    });
    const base0 = {
      connections: [imapConnection(dovecot, user)],
      routes: [{ name: 'crm', connection: 'journal', scenario: [{ action: 'webhook', url: refusing.url, maxAttempts: 1 }] }],
    };
    const { ws, base } = await drainedWithApi({ ...base0, alerts: alertsOf(10, ['a']) });
    const config = (alerts: Record<string, unknown>): Record<string, unknown> => ({ ...base0, alerts, api: { listen: new URL(base).host } });
    const viewer = await createToken(ws, 'ops', 'viewer');
    const listed = async (): Promise<Alert> => ((await callApi(`${base}/api/v1/alerts`, viewer)).body.alerts as Alert[])[0]!;

    service = await startService(ws, base);
    // A message whose only delivery is refused: a dead letter.
    await dovecot.deliver(user.username, makeMessage(1, { bodyBytes: 300 }));
    await until('the dead letter', () => refusing.requests.length === 1, 20_000);
    await until('the firing alert', () => hookA.requests.length === 1, 15_000);
    const firedAt = Date.now();
    assert.deepEqual(events(hookA.requests), ['firing']);

    // Edited by hand: a second channel, and a resend interval of 6 s instead of 10 min.
    ws.writeConfig(config(alertsOf(0.1, ['a', 'b'])));
    service.child.kill('SIGHUP');
    await until('the configuration applied', () => /"configuration applied"/.test(service!.stderr()), 10_000);
    assert.match(service.stderr(), /"alerts: rules and channels applied".*"kept":\["dead"\].*"channelsRenewed":\["b"\]/);
    assert.doesNotMatch(service.stderr(), /waitingForRestart":\["alerts/, 'the alerts do not wait for a restart');
    assert.deepEqual((await listed()).channels, ['a', 'b']);
    // The reminder comes at the new interval, to both channels; never a second "firing".
    await until('the reminder on both channels', () => hookA.requests.length === 2 && hookB.requests.length === 1, 20_000);
    assert.ok(Date.now() - firedAt >= 5_500, 'not before the new interval');
    assert.deepEqual(events(hookA.requests), ['firing', 'reminder']);
    assert.deepEqual(events(hookB.requests), ['reminder']);
    const remindedAt = (await listed()).lastSentAt;
    assert.ok(remindedAt);

    // A longer interval again (applied by the file watch or at the restart), then a restart while the rule fires.
    ws.writeConfig(config(alertsOf(10, ['a', 'b'])));
    await service.stop();
    service = undefined;
    const stateFile = join(ws.dataDir, 'alert-state.json');
    assert.equal(statSync(stateFile).mode & 0o777, 0o600, 'the alert state is owner-only');
    service = await startService(ws, base);
    await until('the state resumed', () => /"alerts: state resumed from the last run"/.test(service!.stderr()), 10_000);
    const resumed = await listed();
    assert.deepEqual([resumed.state, resumed.lastSentAt], ['firing', remindedAt]);
    // Several checks (one a second) and nothing sent: the rule fires still, its last send is recent.
    await sleep(4000);
    assert.deepEqual([events(hookA.requests), events(hookB.requests)], [['firing', 'reminder'], ['reminder']], 'no duplicate after the restart');
    assert.equal((await listed()).state, 'firing');

    // Stopped; the dead letter retried while it is down (the CLI does it itself), to a route that now accepts.
    await service.stop();
    service = undefined;
    refusing.answer(() => ({ status: 204 }));
    const retried = await runCli(['deliveries', 'retry', '--all-dead'], ws);
    assert.equal(retried.code, 0, retried.stderr);
    service = await startService(ws, base);
    await until('the resolution', () => hookA.requests.length === 3 && hookB.requests.length === 2, 15_000);
    assert.deepEqual(events(hookA.requests), ['firing', 'reminder', 'resolved']);
    assert.deepEqual(events(hookB.requests), ['reminder', 'resolved']);
    await sleep(2500);
    assert.equal(hookA.requests.length, 3, 'resolved once');
    assert.equal((await listed()).state, 'ok');
    await service.stop();
    service = undefined;
  } finally {
    await service?.stop().catch(() => undefined);
    await refusing.close();
    await hookA.close();
    await hookB.close();
  }
});
