/**
 * Routes under SIGKILL, and lanes under load: mailsluice is killed at random moments while it
 * dispatches (drain and the service), then run to the end; every message reached every route
 * at least once and never under two keys for one step. And a route on bus 1 whose receiver takes
 * 2 s per request does not hold back bus 0 (measured).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import '../harness/sqlite-keep.js';
import { startDovecot, type DovecotInstance } from '../harness/dovecot.js';
import { makeWorkspace, runCli, spawnCli, imapConnection, runKilledAtRandom } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { seededRandom } from '../harness/random.js';
import { startWebhookReceiver, waitFor, type ReceivedRequest } from '../harness/webhook-receiver.js';

let dovecot: DovecotInstance;
before(async () => {
  dovecot = await startDovecot();
});
after(async () => {
  await dovecot?.stop();
});

const COUNT = Number(process.env.ROUTES_CRASH_MESSAGES ?? 300);
const KILLS = Number(process.env.ROUTES_CRASH_KILLS ?? 8);

function num(r: ReceivedRequest): number {
  return Number(/^Report (\d+)/.exec(r.body.message.Subject)?.[1]);
}

test('SIGKILL mid-dispatch loses no delivery and never sends one step under two keys', async () => {
  const seed = Number(process.env.CRASH_SEED ?? Date.now() % 100000);
  const random = seededRandom(seed);
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, Array.from({ length: COUNT }, (_, i) => makeMessage(i, { bodyBytes: 2000 })));
  const one = await startWebhookReceiver({ secret: 'k1' });
  const two = await startWebhookReceiver({ secret: 'k2' });
  // A few milliseconds per request, so the kills land mid-dispatch.
  one.answer(() => ({ status: 200, delayMs: 3 }));
  two.answer(() => ({ status: 200, delayMs: 2 }));
  const ws = makeWorkspace({
    connections: [imapConnection(dovecot, user, { maxMessagesPerCycle: 100 })],
    deliveryRetry: { baseMs: 50, maxMs: 200 },
    routes: [
      { name: 'single', connection: 'journal', bus: 0, scenario: [{ action: 'webhook', url: one.url, secret: 'k1' }] },
      // Two webhook steps: a kill between them must resume at the second, not send the first again under another key.
      { name: 'double', connection: 'journal', bus: 1, scenario: [{ action: 'webhook', url: two.url, secret: 'k2' }, { action: 'webhook', url: two.url, secret: 'k2' }] },
    ],
  });
  try {
    // Half the runs are the service, half drains.
    const killed = await runKilledAtRandom(ws, { args: (i) => [i % 2 === 0 ? 'drain' : 'start'], kills: KILLS, minMs: 300, spreadMs: 2500, random, seed, untilDone: false });
    const final = await runCli(['drain', '--json'], ws);
    assert.equal(final.code, 0, `final drain failed (seed ${seed}): ${final.stderr}`);
    assert.ok(killed > 0, `no run was killed (seed ${seed})`);

    // At least once: every message at every route (and step).
    const single = new Map<number, Set<string>>();
    for (const r of one.requests) single.set(num(r), (single.get(num(r)) ?? new Set()).add(r.key));
    assert.equal(single.size, COUNT, `route single got ${single.size} of ${COUNT} messages (seed ${seed})`);
    for (const [n, keys] of single) assert.equal(keys.size, 1, `message ${n} under ${[...keys].join(', ')} (seed ${seed})`);
    const double = new Map<string, Set<string>>();
    for (const r of two.requests) {
      const step = r.key.split('.').at(-1)!;
      const k = `${num(r)}.${step}`;
      double.set(k, (double.get(k) ?? new Set()).add(r.key));
    }
    assert.equal(double.size, COUNT * 2, `route double: ${double.size} of ${COUNT * 2} message steps (seed ${seed})`);
    for (const [k, keys] of double) assert.equal(keys.size, 1, `message step ${k} under ${[...keys].join(', ')} (seed ${seed})`);
    for (const r of [...one.requests, ...two.requests]) assert.ok(r.signatureOk);
    const resent = one.requests.length - COUNT + (two.requests.length - 2 * COUNT);
    const db = new Database(join(ws.dataDir, 'archive.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state').all() as Array<{ state: string; n: number }>;
      assert.deepEqual(rows, [{ state: 'done', n: COUNT * 2 }]);
    } finally {
      db.close();
    }
    console.log(`routes crash test: ${killed} kills, seed ${seed}, ${COUNT} messages on 2 routes, ${resent} requests sent again after a kill (same keys)`);
  } finally {
    await one.close();
    await two.close();
    ws.cleanup();
  }
});

test('a route on bus 1 that takes 2 s per request does not delay bus 0', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, Array.from({ length: 10 }, (_, i) => makeMessage(i, { bodyBytes: 2000 })));
  const fast = await startWebhookReceiver();
  const slow = await startWebhookReceiver();
  slow.answer(() => ({ status: 200, delayMs: 2000 }));
  const ws = makeWorkspace({
    connections: [imapConnection(dovecot, user)],
    routes: [
      // A window narrower than the 10 messages, so "no second window" below can fail.
      { name: 'slow', connection: 'journal', bus: 1, scenario: [{ action: 'webhook', url: slow.url, pipeline: 4 }] },
      { name: 'fast', connection: 'journal', bus: 0, scenario: [{ action: 'webhook', url: fast.url }] },
    ],
  });
  const child = spawnCli(['start'], ws);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await waitFor(() => fast.accepted().length === 10, 20_000, `bus 0 to get all 10 (stderr: ${stderr})`);
    await waitFor(() => slow.requests.length >= 1, 5_000, 'bus 1 to start');
    const fastFirst = fast.requests[0]!.at;
    const fastLast = fast.requests.at(-1)!.at;
    const slowFirst = slow.requests[0]!.at;
    console.log(`lanes: bus 0 delivered 10 in ${fastLast - fastFirst} ms; bus 1 had ${slow.requests.length} request(s) under way, its first ${slowFirst - fastFirst} ms after bus 0's first`);
    assert.ok(fastLast - fastFirst < 1500, `bus 0 took ${fastLast - fastFirst} ms for 10 deliveries while bus 1 was stuck`);
    // Bus 1's receiver answers each request after 2 s: bus 0 was done while bus 1's route had at
    // most its pipeline (4, ADR 0008) of requests on their way and no second window.
    assert.ok(slow.requests.length <= 4, `bus 1 got ${slow.requests.length} requests by the time bus 0 was done`);
    // A stop mid-request (the slow one) is prompt: the attempt is aborted and retried later.
    const stopping = Date.now();
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    assert.equal(code, 0, stderr);
    assert.ok(Date.now() - stopping < 3000, `stopped in ${Date.now() - stopping} ms`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await fast.close();
    await slow.close();
    ws.cleanup();
  }
});
