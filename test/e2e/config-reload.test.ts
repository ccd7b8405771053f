/**
 * Issue 14, item 2 ("applied live"), against a running `start` and a real Dovecot (ADR 0024):
 * the configuration file edited by hand and applied on SIGHUP restarts only the changed
 * connection's runner (the other keeps its runner and its session), and the changed one polls at
 * its new interval; a connection added to the file (no signal: the file watch) drains without a
 * restart, and removed, stops; a file that does not validate changes nothing and the service
 * drains on; a changed route delivers what is taken after it; a new `api.listen` waits for a
 * restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, makeWorkspace, runCli, type Workspace } from '../harness/cli.js';
import { freePort } from '../harness/free-port.js';
import { makeMessage } from '../harness/messages.js';
import { callApi, createToken, startService, type RunningService } from '../harness/api-client.js';
import { startWebhookReceiver } from '../harness/webhook-receiver.js';

const dovecot = dovecotPerFile();

const HOUR = 3_600_000;

type Folder = { folder: string; state: string; taken: number; cycles: number; startedAt: string; sessions: number };
type Status = { name: string; state: string | null; taken: number; folders: Folder[] };

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms: number): Promise<T> {
  const started = Date.now();
  for (;;) {
    const got = await probe();
    if (got !== undefined && got !== false) return got;
    assert.ok(Date.now() - started < ms, `${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The service's JSON log records with message `msg`. */
function records(service: RunningService, msg: string): Array<Record<string, unknown>> {
  return service
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => r['msg'] === msg);
}

/** How many times `username` logged in to the test Dovecot, by its own log (independent of ours). */
function logins(username: string): number {
  return readFileSync(dovecot.logPath, 'utf8').split('\n').filter((l) => l.includes('Login: user=<' + username + '>')).length;
}

/** Waits for the `n`th `configuration applied` record and returns it. */
function applied(service: RunningService, n: number): Promise<Record<string, unknown>> {
  return until(`reload ${n}`, async () => records(service, 'configuration applied')[n - 1], 20_000);
}

async function setup(extra: Record<string, unknown> = {}): Promise<{ ws: Workspace; base: string; token: string; config: Record<string, unknown>; alpha: { username: string; password: string }; beta: { username: string; password: string } }> {
  const alpha = await dovecot.createUser();
  const beta = await dovecot.createUser();
  const port = await freePort();
  const config: Record<string, unknown> = {
    connections: [imapConnection(dovecot, alpha, { name: 'alpha', pollIntervalMs: HOUR }), imapConnection(dovecot, beta, { name: 'beta', pollIntervalMs: 100 })],
    api: { listen: `127.0.0.1:${port}` },
    ...extra,
  };
  const ws = makeWorkspace(config);
  // Makes the archive (tokens live in it).
  const drained = await runCli(['drain'], ws);
  assert.equal(drained.code, 0, drained.stderr);
  return { ws, base: `http://127.0.0.1:${port}`, token: await createToken(ws, 'root', 'admin'), config, alpha, beta };
}

test('start: SIGHUP restarts only the edited connection, a connection added to the file drains and removed stops, an invalid file changes nothing', async () => {
  const { ws, base, token, config, alpha, beta } = await setup();
  const status = async (name: string): Promise<Status> => {
    const r = await callApi(`${base}/api/v1/connections/${name}/status`, token);
    assert.equal(r.status, 200, r.raw);
    return r.body as unknown as Status;
  };
  let service: RunningService | undefined;
  try {
    service = await startService(ws, base);
    const a0 = await until('alpha connected', async () => ((await status('alpha')).folders[0]?.state === 'waiting' ? (await status('alpha')).folders[0] : undefined), 20_000);
    const b0 = await until('beta polled', async () => ((await status('beta')).folders[0]?.cycles ?? 0) >= 3 && (await status('beta')).folders[0], 20_000);
    assert.equal(b0.sessions, 1);
    const betaLogins = logins(beta.username);
    assert.ok(betaLogins >= 2, `the drain and the service logged in as beta (${betaLogins})`);

    // alpha polls once an hour: a message delivered now would wait. Its interval is edited in
    // the file and the service told with SIGHUP.
    const connections = config['connections'] as Array<Record<string, unknown>>;
    const edited = { ...config, connections: [{ ...connections[0], pollIntervalMs: 200 }, connections[1]] };
    ws.writeConfig(edited);
    service.child.kill('SIGHUP');
    const first = await applied(service, 1);
    assert.deepEqual([first['started'], first['restarted'], first['stopped'], first['routesChanged'], first['waitingForRestart']], [[], ['alpha'], [], false, []]);
    const hup = service.stderr().indexOf('"SIGHUP: applying the configuration file"');
    assert.ok(hup >= 0 && hup < service.stderr().indexOf('"configuration applied"'), 'applied on SIGHUP, before the file watch would have');
    const a1 = (await status('alpha')).folders[0]!;
    assert.ok(Date.parse(a1.startedAt) > Date.parse(a0.startedAt), `alpha's runner is a new one (${a0.startedAt} → ${a1.startedAt})`);
    // The new runner polls every 200 ms: a message delivered now is taken within seconds.
    await dovecot.deliver(alpha.username, makeMessage(1));
    await until('alpha took the message at its new interval', async () => (await status('alpha')).taken === 1, 5_000);
    // Deleted on the server by the action session, just after the commit.
    await until('deleted from alpha', async () => (await dovecot.messageCount(alpha.username)) === 0, 5_000);
    // beta was not touched: the same runner (started when it was) on the same session, still polling.
    const b1 = (await status('beta')).folders[0]!;
    assert.equal(b1.startedAt, b0.startedAt, "beta's runner is the one that started with the service");
    assert.equal(b1.sessions, 1, 'beta logged in once: its session was not reconnected');
    assert.equal(logins(beta.username), betaLogins, "Dovecot saw no new login of beta's");
    assert.ok(b1.cycles > b0.cycles);

    // The file watch saw the same write: applied again, nothing changes.
    const second = await applied(service, 2);
    assert.deepEqual([second['started'], second['restarted'], second['stopped']], [[], [], []]);

    // A connection added to the file, no signal: the file watch applies it and it drains.
    const gamma = await dovecot.createUser();
    await dovecot.loadMaildir(gamma.username, [0, 1, 2].map((i) => makeMessage(i, { bodyBytes: 300 })));
    const withGamma = { ...edited, connections: [...edited.connections, imapConnection(dovecot, gamma, { name: 'gamma', pollIntervalMs: 100 })] };
    ws.writeConfig(withGamma);
    const third = await applied(service, 3);
    assert.deepEqual([third['started'], third['restarted'], third['stopped']], [['gamma'], [], []]);
    await until('gamma drained', async () => (await status('gamma')).taken === 3, 20_000);
    await until('gone from the server', async () => (await dovecot.messageCount(gamma.username)) === 0, 5_000);
    const listed = await callApi(`${base}/api/v1/connections`, token);
    assert.deepEqual((listed.body['connections'] as Array<{ name: string }>).map((c) => c.name), ['alpha', 'beta', 'gamma']);

    // Removed: its runner stops, it is no longer a connection of the service, the rest runs on.
    ws.writeConfig(edited);
    const fourth = await applied(service, 4);
    assert.deepEqual([fourth['started'], fourth['restarted'], fourth['stopped']], [[], [], ['gamma']]);
    assert.equal((await callApi(`${base}/api/v1/connections/gamma/status`, token)).status, 404);
    await dovecot.deliver(gamma.username, makeMessage(9));
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await dovecot.messageCount(gamma.username), 1, 'no runner takes from gamma any more');

    // A file that does not validate: the log names the problem, the running configuration stays.
    ws.writeConfig({ ...edited, connections: [edited.connections[0], { ...connections[1], pollIntervalMs: -5 }] });
    service.child.kill('SIGHUP');
    const refused = await until('the refusal', async () => records(service!, 'configuration not applied: the running one stays')[0], 10_000);
    assert.equal(refused['code'], 'CONFIG_INVALID');
    assert.match(String(refused['error']), /connections\[1\]\.pollIntervalMs/);
    await dovecot.deliver(beta.username, makeMessage(2));
    await until('beta drained on', async () => (await status('beta')).taken === 1, 10_000);
    const b2 = (await status('beta')).folders[0]!;
    // (Dovecot now sees one more login of beta's: the session that deletes what was taken, ADR 0004.)
    assert.deepEqual([b2.startedAt, b2.sessions], [b0.startedAt, 1]);
    assert.equal(records(service, 'configuration applied').length, 4, 'nothing was applied');
    assert.equal((await callApi(`${base}/healthz`)).status, 200);
  } finally {
    await service?.stop();
    ws.cleanup();
  }
});

test('start: a changed route delivers what is taken after it; a new api.listen waits for a restart', async () => {
  const receiver = await startWebhookReceiver();
  const { ws, base, token, config, beta } = await setup();
  const status = async (name: string): Promise<Status> => (await callApi(`${base}/api/v1/connections/${name}/status`, token)).body as unknown as Status;
  let service: RunningService | undefined;
  try {
    // No route: no dispatcher thread. One added starts it.
    service = await startService(ws, base);
    const hook = { name: 'hook', connection: 'beta', filter: { subject: 'first' }, scenario: [{ action: 'webhook', url: receiver.url }] };
    // Applied by the file watch (SIGHUP is the test above's).
    ws.writeConfig({ ...config, routes: [hook] });
    const first = await applied(service, 1);
    assert.equal(first['routesChanged'], true);
    await dovecot.deliver(beta.username, makeMessage(1, { tag: 'first' }));
    await until('the route delivered', async () => receiver.accepted().length === 1, 20_000);
    assert.equal(receiver.accepted()[0]!.body.message.Subject, 'Report 1 first');

    // Its filter changed: the dispatcher runs the new route, the index stage routes by it.
    ws.writeConfig({ ...config, routes: [{ ...hook, filter: { subject: 'second' } }] });
    const second = await applied(service, 2);
    assert.deepEqual([second['routesChanged'], second['restarted']], [true, []]);
    await dovecot.deliver(beta.username, makeMessage(2, { tag: 'first' }));
    await dovecot.deliver(beta.username, makeMessage(3, { tag: 'second' }));
    await until('both taken', async () => (await status('beta')).taken === 3, 20_000);
    await until('the new route delivered', async () => receiver.accepted().length === 2, 20_000);
    assert.equal(receiver.accepted()[1]!.body.message.Subject, 'Report 3 second');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(receiver.accepted().length, 2, 'the message matching only the old filter was not delivered');

    // A new listen address: saved, reported waiting, the API stays where it was.
    const other = await freePort();
    ws.writeConfig({ ...config, routes: [{ ...hook, filter: { subject: 'second' } }], api: { listen: `127.0.0.1:${other}` } });
    const third = await applied(service, 3);
    // The public URL, not set, is derived from the listen address: it changes with it.
    assert.deepEqual([third['waitingForRestart'], third['routesChanged']], [['api.listen', 'api.publicUrl'], false]);
    // Applied again, it is reported again, and warned about once.
    service.child.kill('SIGHUP');
    assert.deepEqual((await applied(service, 4))['waitingForRestart'], ['api.listen', 'api.publicUrl']);
    assert.equal(records(service, 'configuration changed where only a restart applies it: the service runs on as before there until restarted').length, 1);
    assert.equal((await callApi(`${base}/healthz`)).status, 200);
    assert.equal(await fetch(`http://127.0.0.1:${other}/healthz`).then(() => 'answered', () => 'refused'), 'refused');
  } finally {
    await service?.stop();
    await receiver.close();
    ws.cleanup();
  }
});

test('start: a connection restarted again and again while it drains loses nothing and takes nothing twice', async () => {
  const { ws, base, token, config, alpha } = await setup();
  const total = 3000;
  await dovecot.loadMaildir(alpha.username, Array.from({ length: total }, (_, i) => makeMessage(i, { bodyBytes: 500 })));
  const connections = config['connections'] as Array<Record<string, unknown>>;
  const withAlpha = (extra: Record<string, unknown>): Record<string, unknown> => ({ ...config, connections: [{ ...connections[0], maxMessagesPerCycle: 5, ...extra }, connections[1]] });
  // Small cycles, so the drain is under way at each reload.
  ws.writeConfig(withAlpha({ pollIntervalMs: 100 }));
  const taken = async (): Promise<number> => ((await callApi(`${base}/api/v1/connections/alpha/status`, token)).body as unknown as Status).taken;
  let service: RunningService | undefined;
  try {
    service = await startService(ws, base);
    const seen: number[] = [];
    for (let i = 1; i <= 3; i++) {
      const before = await until(`alpha draining before reload ${i}`, async () => {
        const n = await taken();
        return n > (seen.at(-1) ?? 0) && n < total ? n : undefined;
      }, 20_000);
      seen.push(before);
      ws.writeConfig(withAlpha({ pollIntervalMs: 100 + i }));
      service.child.kill('SIGHUP');
      const r = await applied(service, 2 * i - 1);
      assert.deepEqual(r['restarted'], ['alpha']);
      // The file watch's own reload of the same write finds nothing more to do.
      assert.deepEqual((await applied(service, 2 * i))['restarted'], []);
    }
    assert.ok(seen[2]! < total, `the reloads came while alpha was draining (${seen.join(', ')} of ${total})`);
    await until('every message archived', async () => (await taken()) === total, 60_000);
    await until('the mailbox emptied', async () => (await dovecot.messageCount(alpha.username)) === 0, 10_000);
    // Nothing archived twice: the archive holds exactly the messages delivered.
    const stats = await callApi(`${base}/api/v1/stats`, token);
    assert.equal(stats.body['messages'], total, stats.raw);
  } finally {
    await service?.stop();
    ws.cleanup();
  }
});
