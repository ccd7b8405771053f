/**
 * Issue 14's connection actions over HTTP against a running `start` and a real Dovecot: the
 * step-by-step test streamed as server-sent events (and whole as JSON), a wrong password ending
 * at the auth step with its catalogue code, run-now taking a message at once despite a poll
 * interval of an hour and outside a closed schedule window, the connection's log paged and
 * downloaded byte for byte without its password, and the roles (a viewer may read the log, not
 * test or run).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, makeWorkspace, runCli } from '../harness/cli.js';
import { freePort } from '../harness/free-port.js';
import { makeMessage } from '../harness/messages.js';
import { createToken, startService, type RunningService } from '../harness/api-client.js';

const dovecot = dovecotPerFile();

const HOUR = 3_600_000;

type Step = { step: string; ok: boolean; ms: number; detail: string; code?: string; summary?: string };
type Done = { ok: boolean; steps: Step[]; warnings: string[] };

/** The events of a server-sent-events body, in order. */
function parseEvents(text: string): Array<{ event: string; data: unknown }> {
  return text
    .split('\n\n')
    .filter((b) => b.trim())
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null') as unknown;
      return { event, data };
    });
}

/** A UTC day that is not today (nor yesterday, for windows past midnight). */
function notToday(): string {
  const days = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
  return days[(new Date().getUTCDay() + 3) % 7]!;
}

async function status(base: string, name: string, token: string): Promise<{ taken: number; state: string | null }> {
  const res = await fetch(`${base}/api/v1/connections/${name}/status`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  return (await res.json()) as { taken: number; state: string | null };
}

async function until(what: string, cond: () => Promise<boolean>, ms: number): Promise<number> {
  const started = Date.now();
  while (!(await cond())) {
    assert.ok(Date.now() - started < ms, `${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return Date.now() - started;
}

test('start: test streams its steps, run-now takes at once, the log pages and downloads, by role', async () => {
  const user = await dovecot.createUser();
  const night = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [0, 1].map((i) => makeMessage(i, { bodyBytes: 500 })));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const closed = { timezone: 'UTC', windows: [{ days: [notToday()], from: '00:00', to: '00:01' }] };
  const ws = makeWorkspace({
    connections: [
      imapConnection(dovecot, user, { pollIntervalMs: HOUR, logging: 'full' }),
      imapConnection(dovecot, night, { name: 'night', pollIntervalMs: HOUR, schedule: closed }),
      imapConnection(dovecot, { username: user.username, password: 'not-the-password' }, { name: 'locked', enabled: false }),
    ],
    api: { listen: `127.0.0.1:${port}` },
  });
  let service: RunningService | undefined;
  try {
    // Makes the archive (tokens live in it) and takes the two messages there.
    const drained = await runCli(['drain'], ws);
    assert.equal(drained.code, 0, drained.stderr);
    const admin = await createToken(ws, 'root', 'admin');
    const viewer = await createToken(ws, 'ops', 'viewer');
    const as = (token: string, extra: Record<string, string> = {}) => ({ headers: { authorization: `Bearer ${token}`, ...extra } });

    service = await startService(ws, base);
    await until('the first cycle', async () => (await status(base, 'journal', viewer)).taken === 2, 30_000);

    // The test, streamed: every step in order as an event, then `done`.
    const streamed = await fetch(`${base}/api/v1/connections/journal/test`, { method: 'POST', ...as(admin) });
    assert.equal(streamed.status, 200);
    assert.match(streamed.headers.get('content-type') ?? '', /^text\/event-stream/);
    // Read as it comes: the first step arrives in an earlier read than the result.
    const reads: string[] = [];
    const reader = streamed.body!.pipeThrough(new TextDecoderStream()).getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) reads.push(r.value);
    const firstStepRead = reads.findIndex((t) => t.includes('event: step'));
    const doneRead = reads.findIndex((t) => t.includes('event: done'));
    assert.ok(firstStepRead >= 0 && firstStepRead < doneRead, `steps streamed before the end (${reads.length} reads)`);
    const events = parseEvents(reads.join(''));
    const steps = events.filter((e) => e.event === 'step').map((e) => e.data as Step);
    assert.deepEqual(
      steps.map((s) => s.step),
      ['resolve', 'connect', 'greeting', 'capabilities', 'tls', 'auth', 'mailbox', 'count'],
    );
    assert.ok(steps.every((s) => s.ok && typeof s.ms === 'number' && s.detail));
    assert.equal(events.at(-1)?.event, 'done');
    const done = events.at(-1)!.data as Done;
    assert.equal(done.ok, true);
    assert.deepEqual(done.steps, steps, 'the result holds the steps as streamed');

    // Whole, as JSON: ?wait=true, or Accept: application/json.
    const waited = await fetch(`${base}/api/v1/connections/journal/test?wait=true`, { method: 'POST', ...as(admin) });
    assert.match(waited.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(((await waited.json()) as Done).ok, true);
    const accepted = await fetch(`${base}/api/v1/connections/journal/test`, { method: 'POST', ...as(admin, { accept: 'application/json' }) });
    assert.equal(((await accepted.json()) as Done).steps.length, 8);

    // A wrong password (a disabled connection may be tested): the auth step fails with its code.
    const locked = parseEvents(await (await fetch(`${base}/api/v1/connections/locked/test`, { method: 'POST', ...as(admin) })).text());
    const lockedDone = locked.at(-1)!;
    assert.equal(lockedDone.event, 'done');
    const failed = (lockedDone.data as Done).steps.at(-1)!;
    assert.equal((lockedDone.data as Done).ok, false);
    assert.deepEqual([failed.step, failed.ok, failed.code], ['auth', false, 'SOURCE_AUTH_REJECTED']);
    assert.ok(failed.summary && failed.detail, 'the catalogue sentence and what happened');
    assert.deepEqual(
      locked.filter((e) => e.event === 'step').map((e) => (e.data as Step).step),
      ['resolve', 'connect', 'greeting', 'capabilities', 'tls', 'auth'],
    );

    // Run now: a message loaded after the first cycle is taken within seconds, not after the hour.
    await dovecot.loadMaildir(user.username, [makeMessage(7, { bodyBytes: 500 })]);
    const ran = await fetch(`${base}/api/v1/connections/journal/run`, { method: 'POST', ...as(admin) });
    assert.equal(ran.status, 202);
    const ranBody = (await ran.json()) as { name: string; runners: number; status: { name: string } };
    assert.deepEqual([ranBody.name, ranBody.runners, ranBody.status.name], ['journal', 1, 'journal']);
    await until('run-now taking the new message', async () => (await status(base, 'journal', viewer)).taken === 3, 10_000);

    // Outside its schedule window too, for one cycle; then it idles again.
    await until('night outside its window', async () => (await status(base, 'night', viewer)).state === 'outside-schedule', 10_000);
    await dovecot.loadMaildir(night.username, [makeMessage(8, { bodyBytes: 500 })]);
    assert.equal((await fetch(`${base}/api/v1/connections/night/run`, { method: 'POST', ...as(admin) })).status, 202);
    await until('run-now outside the window', async () => (await status(base, 'night', viewer)).taken === 1, 10_000);
    await until('night back outside its window', async () => (await status(base, 'night', viewer)).state === 'outside-schedule', 10_000);

    const disabled = await fetch(`${base}/api/v1/connections/locked/run`, { method: 'POST', ...as(admin) });
    assert.deepEqual([disabled.status, ((await disabled.json()) as { code: string }).code], [409, 'CONNECTION_DISABLED']);
    const unknown = await fetch(`${base}/api/v1/connections/nobody/run`, { method: 'POST', ...as(admin) });
    assert.deepEqual([unknown.status, ((await unknown.json()) as { code: string }).code], [404, 'API_NOT_FOUND']);

    // Roles: a viewer reads the log but neither tests nor runs.
    for (const action of ['test', 'run']) {
      const r = await fetch(`${base}/api/v1/connections/journal/${action}`, { method: 'POST', ...as(viewer) });
      assert.deepEqual([r.status, ((await r.json()) as { code: string }).code], [403, 'API_FORBIDDEN'], action);
    }
    assert.equal((await fetch(`${base}/api/v1/connections/journal/log`, { method: 'POST' })).status, 405);

    // Tests and runs are on the audit log under the admin token's name; refused ones are not.
    const audit = await runCli(['audit', 'list', '--json'], ws);
    assert.equal(audit.code, 0, audit.stderr);
    const acts = audit.stdout.trim().split('\n').map((l) => JSON.parse(l) as { who: string; action: string; detail: { connection?: string } }).filter((r) => r.action.startsWith('connection.'));
    assert.ok(acts.length > 0 && acts.every((r) => r.who === 'root'), JSON.stringify(acts));
    assert.ok(acts.some((r) => r.action === 'connection.test' && r.detail.connection === 'journal'), 'a test is audited');
    assert.ok(acts.some((r) => r.action === 'connection.run' && r.detail.connection === 'night'), 'a run is audited');
    assert.ok(!acts.some((r) => r.action === 'connection.run' && (r.detail.connection === 'locked' || r.detail.connection === 'nobody')), 'refused runs are not');
    assert.ok(!acts.some((r) => r.detail.connection === 'nobody'), 'nor requests for a connection that does not exist');

    // The log, newest first, in pages that follow one another.
    const page = async (q: string) => {
      const r = await fetch(`${base}/api/v1/connections/journal/log${q}`, as(viewer));
      assert.equal(r.status, 200);
      return (await r.json()) as { records: Array<{ time: string; msg: string; level: string }>; next: string | null };
    };
    const all = await page('?limit=1000');
    assert.ok(all.records.length >= 3, JSON.stringify(all));
    const times = all.records.map((r) => r.time);
    assert.deepEqual(times, [...times].sort().reverse(), 'newest first');
    assert.equal(all.next, null);
    const first = await page('?limit=2');
    const second = await page(`?limit=2&cursor=${first.next}`);
    assert.deepEqual([...first.records, ...second.records], all.records.slice(0, 4));
    const errors = await page('?level=warn');
    assert.ok(errors.records.every((r) => r.level === 'warn' || r.level === 'error'));
    const bad = await fetch(`${base}/api/v1/connections/journal/log?cursor=x`, as(viewer));
    assert.deepEqual([bad.status, ((await bad.json()) as { code: string }).code], [400, 'API_BAD_REQUEST']);

    // The download: the file byte for byte, as an attachment; the password is nowhere in it.
    const dl = await fetch(`${base}/api/v1/connections/journal/log/download`, as(viewer));
    assert.equal(dl.status, 200);
    assert.equal(dl.headers.get('content-disposition'), 'attachment; filename="journal.log"');
    const bytes = Buffer.from(await dl.arrayBuffer());
    assert.equal(dl.headers.get('content-length'), String(bytes.length));
    const file = readFileSync(join(ws.dataDir, 'logs', 'journal.log'));
    assert.ok(bytes.length > 0);
    assert.ok(file.subarray(0, bytes.length).equals(bytes), 'the file as it was when asked');
    assert.ok(!file.includes(user.password), 'no password in the log');
    const empty = await fetch(`${base}/api/v1/connections/locked/log/download`, as(viewer));
    assert.deepEqual([empty.status, empty.headers.get('content-length'), empty.headers.get('content-disposition')], [200, '0', 'attachment; filename="locked.log"']);
  } finally {
    await service?.stop();
    ws.cleanup();
  }
});
