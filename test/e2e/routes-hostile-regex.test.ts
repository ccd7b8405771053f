/**
 * A route regex that backtracks catastrophically on one message (issue 12, item 1): with a
 * backtracking engine `^(\w+\s?)*$` against sixty `a`s and a `!` never returns, so `drain` hung
 * on the main thread, the message stayed unparsed and every restart hung again. Route regexes now
 * run on a linear-time engine (docs/adr/0012-linear-time-route-regexes.md): the drain ends, the
 * other messages reach the route once each, and the hostile ones are archived byte for byte.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDovecot, type DovecotInstance } from '../harness/dovecot.js';
import { makeWorkspace, runCli, spawnCli, imapConnection } from '../harness/cli.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { startWebhookReceiver } from '../harness/webhook-receiver.js';
import { assertArchiveHolds } from '../harness/archive.js';

let dovecot: DovecotInstance;
before(async () => {
  dovecot = await startDovecot();
});
after(async () => {
  await dovecot?.stop();
});

/** Message `i` of the generator with its Subject line replaced by `subject` (folded as given). */
function withSubject(i: number, subject: string): Buffer {
  const text = makeMessage(i, { bodyBytes: 600 }).toString('utf8');
  return Buffer.from(text.replace(/^Subject: [^\r\n]*/m, `Subject: ${subject}`));
}

/** Longer than any drain of a dozen small messages takes here, even on a loaded machine. */
const DRAIN_LIMIT_MS = 60_000;

test('a backtracking-prone route regex and a hostile subject: drain ends in seconds, other messages delivered once, the hostile ones archived', async () => {
  const user = await dovecot.createUser();
  const normal = Array.from({ length: 8 }, (_, i) => makeMessage(i, { bodyBytes: 600, tag: i % 2 ? 'urgent' : undefined }));
  // 2^60 ways to split the a's for a backtracking engine, and then the `!` fails them all.
  const hostile = withSubject(100, `${'a'.repeat(60)}!`);
  // The same shape at 60 KiB, folded over a thousand lines: every word is a 2^59 trap, and the
  // whole subject is still within what a condition reads, so the `!` is seen and nothing matches.
  const long = withSubject(101, `${Array.from({ length: 1000 }, () => 'a'.repeat(60)).join('\r\n ')}!`);
  const mail = [normal[0]!, normal[1]!, hostile, ...normal.slice(2, 5), long, ...normal.slice(5)];
  await dovecot.loadMaildir(user.username, mail);
  const hook = await startWebhookReceiver({ secret: 'words-secret' });
  const ws = makeWorkspace({
    connections: [imapConnection(dovecot, user)],
    routes: [
      {
        name: 'words',
        connection: 'journal',
        bus: 0,
        filter: { match: 'regex', subject: '^(\\w+\\s?)*$' },
        scenario: [{ action: 'webhook', url: hook.url, secret: 'words-secret' }],
      },
    ],
  });
  try {
    const started = Date.now();
    const child = spawnCli(['drain', '--json'], ws);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), DRAIN_LIMIT_MS);
    const [code, signal] = (await new Promise((resolve) => child.on('close', (c, s) => resolve([c, s])))) as [number | null, NodeJS.Signals | null];
    clearTimeout(killer);
    const elapsed = Date.now() - started;
    assert.equal(signal, null, `drain had not finished after ${DRAIN_LIMIT_MS} ms and was killed; stderr:\n${stderr.slice(-2000)}`);
    assert.equal(code, 0, stderr);
    const summary = JSON.parse(stdout) as { taken: number; routes: Record<string, { delivered: number; dead: number; failed: number }> };
    assert.equal(summary.taken, mail.length);
    assert.equal(summary.routes.words!.delivered, normal.length, JSON.stringify(summary.routes));

    // Exactly the normal messages, once each (one request, one idempotency key per message).
    const subjects = hook.requests.map((r) => r.body.message.Subject).sort();
    assert.deepEqual(subjects, normal.map((_, i) => `Report ${i}${i % 2 ? ' urgent' : ''}`).sort());
    assert.equal(new Set(hook.requests.map((r) => r.key)).size, normal.length);
    assert.ok(hook.requests.every((r) => r.signatureOk && r.status === 200));

    // Every message archived raw, the hostile ones included, and all of them parsed (none left
    // in the parse queue for the next start to hang on).
    await assertArchiveHolds(ws, new Map(mail.map((m) => [sha256(m), m])));
    const stats = await runCli(['stats', '--json'], ws);
    assert.equal(stats.code, 0, stats.stderr);
    const s = JSON.parse(stats.stdout) as { messages: number; unparsed: number };
    assert.deepEqual([s.messages, s.unparsed], [mail.length, 0], stats.stdout);
    process.stdout.write(`# hostile regex drain: ${mail.length} messages in ${elapsed} ms\n`);
  } finally {
    await hook.close();
    ws.cleanup();
  }
});
