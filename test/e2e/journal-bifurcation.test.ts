/**
 * Bifurcated Exchange journal reports end to end (docs/journal-reports.md, "Bifurcation"): the two
 * reports of one original (test/fixtures/journal/bifurcation-*.eml) delivered into a real Dovecot
 * mailbox, drained by the real CLI, become one archived message: `search` lists one, `stats`
 * counts both reports taken and one merged, `export` writes both raw reports, and a webhook
 * receiver on 127.0.0.1 gets exactly one delivery for the original, carrying the merged `Journal`
 * recipients and `Bcc`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { makeWorkspace, runCli, imapConnection, REPO_ROOT, type Workspace } from '../harness/cli.js';
import { startWebhookReceiver, type ReceivedRequest, type WebhookReceiver } from '../harness/webhook-receiver.js';

const dovecot = dovecotPerFile();

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'journal');
const REPORT_A = readFileSync(join(FIXTURES, 'bifurcation-a.eml'));
const REPORT_B = readFileSync(join(FIXTURES, 'bifurcation-b.eml'));
const MERGED = ['Bcc:dave@contoso.example', 'Cc:carol@contoso.example', 'To:bob@contoso.example', 'To:partner@fabrikam.example'];

interface Recipient {
  Address: string;
  Kind: string;
}

function recipientsOf(r: ReceivedRequest): string[] {
  const j = r.body.message['Journal'] as { Recipients: Recipient[] } | undefined;
  return (j?.Recipients ?? []).map((x) => `${x.Kind}:${x.Address}`).sort();
}

/** `hook` takes every message; `dave` only mail to dave@ (a Bcc that report b alone lists). */
function workspace(user: { username: string; password: string }, hook: WebhookReceiver, dave: WebhookReceiver): Workspace {
  return makeWorkspace({
    connections: [imapConnection(dovecot, user)],
    deliveryRetry: { baseMs: 50, maxMs: 200 },
    routes: [
      { name: 'hook', connection: 'journal', bus: 0, scenario: [{ action: 'webhook', url: hook.url, secret: 'hook-secret' }] },
      { name: 'dave', connection: 'journal', bus: 1, filter: { to: 'dave@' }, scenario: [{ action: 'webhook', url: dave.url, secret: 'dave-secret' }] },
    ],
  });
}

async function json<T>(args: string[], ws: Workspace): Promise<T> {
  const r = await runCli([...args, '--json'], ws);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

async function lines<T>(args: string[], ws: Workspace): Promise<T[]> {
  const r = await runCli([...args, '--json'], ws);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

type Stats = { messages: number; journalMerged: number; unparsed: number; connections: Record<string, { messages: number; journalMerged: number }> };

test('two reports of one original drained together: one archived message, one delivery per route with the merged recipients and Bcc', async () => {
  const user = await dovecot.createUser();
  // Both delivered (LMTP, as Exchange would) before the drain starts.
  await dovecot.deliverMany(user.username, [REPORT_A, REPORT_B]);
  const hook = await startWebhookReceiver({ secret: 'hook-secret' });
  const dave = await startWebhookReceiver({ secret: 'dave-secret' });
  const ws = workspace(user, hook, dave);
  try {
    const summary = await json<{ taken: number; parsed: number; routes: Record<string, { delivered: number; dead: number; failed: number }> }>(['drain'], ws);
    assert.equal(summary.taken, 2);
    assert.equal(summary.parsed, 2);
    assert.equal(summary.routes['hook']?.delivered, 1, 'the original reaches the route once, not once per report');
    assert.equal(summary.routes['dave']?.delivered, 1);

    // Exactly one delivery per route, for the original, with the merged envelope.
    assert.equal(hook.requests.length, 1);
    assert.equal(dave.requests.length, 1);
    for (const r of [hook.requests[0]!, dave.requests[0]!]) {
      assert.equal(r.status, 200);
      assert.ok(r.signatureOk);
      const m = r.body.message;
      assert.equal(m.Subject, 'Merger (confidential)');
      assert.equal(m['GlobalMessageId'], 'merger-0309@contoso.example');
      assert.equal((m['Journal'] as { Sender: string }).Sender, 'alice@contoso.example');
      assert.deepEqual(recipientsOf(r), MERGED);
      assert.deepEqual(m['Bcc'], [{ Name: '', Address: 'dave@contoso.example' }]);
    }
    // Both routes got the same message (the primary), under its own delivery ids.
    const primary = hook.requests[0]!.body.deliveryId.split('.').pop();
    assert.equal(dave.requests[0]!.body.deliveryId, `journal.dave.${primary}`);
    assert.equal(hook.requests[0]!.body.message.ArchiveId, dave.requests[0]!.body.message.ArchiveId);

    // search lists the one message (also by the blind copy only report b names); stats counts
    // both reports taken from the mailbox, one of them merged.
    const all = await lines<{ id: number; sha256: string }>(['search'], ws);
    assert.equal(all.length, 1);
    assert.equal(String(all[0]!.id), primary);
    assert.equal(all[0]!.sha256, hook.requests[0]!.body.message.ArchiveId);
    assert.equal((await lines(['search', 'dave'], ws)).length, 1);
    assert.equal((await lines(['search', '--to', 'dave@contoso.example'], ws)).length, 1);
    const stats = await json<Stats>(['stats'], ws);
    assert.equal(stats.messages, 2);
    assert.equal(stats.journalMerged, 1);
    assert.equal(stats.unparsed, 0);
    assert.equal(stats.connections['journal']?.messages, 2);
    assert.equal(stats.connections['journal']?.journalMerged, 1);

    // export writes both reports, raw.
    const out = join(ws.dir, 'export');
    await json(['export', '--out', out], ws);
    const files = readdirSync(out).sort();
    assert.equal(files.length, 2);
    for (const f of files) {
      const raw = readFileSync(join(out, f));
      assert.equal(`${createHash('sha256').update(raw).digest('hex')}.eml`, f);
      assert.match(raw.toString('latin1'), /^X-MS-Journal-Report:/m, 'the report as received, not the original');
    }

    // A second drain finds nothing and sends nothing again.
    const again = await json<{ taken: number }>(['drain'], ws);
    assert.equal(again.taken, 0);
    assert.equal(hook.requests.length, 1);
    assert.equal(dave.requests.length, 1);
  } finally {
    await hook.close();
    await dave.close();
    ws.cleanup();
  }
});

test('a report arriving after its sibling was delivered: merged in the archive, not sent again; a route only it matches gets the original', async () => {
  const user = await dovecot.createUser();
  const hook = await startWebhookReceiver({ secret: 'hook-secret' });
  const dave = await startWebhookReceiver({ secret: 'dave-secret' });
  const ws = workspace(user, hook, dave);
  try {
    await dovecot.deliverMany(user.username, [REPORT_A]);
    const first = await json<{ taken: number; routes: Record<string, { delivered: number }> }>(['drain'], ws);
    assert.equal(first.taken, 1);
    assert.equal(hook.requests.length, 1);
    assert.deepEqual(recipientsOf(hook.requests[0]!), ['Cc:carol@contoso.example', 'To:bob@contoso.example'], 'report a alone');
    assert.equal(dave.requests.length, 0, 'report a names no dave');

    await dovecot.deliverMany(user.username, [REPORT_B]);
    const second = await json<{ taken: number; routes: Record<string, { delivered: number }> }>(['drain'], ws);
    assert.equal(second.taken, 1);
    assert.equal(hook.requests.length, 1, 'the original was delivered already: the late recipients are not re-sent');
    assert.equal(dave.requests.length, 1, 'the route only report b matched gets the original, once');
    const primary = hook.requests[0]!.body.deliveryId.split('.').pop();
    assert.equal(dave.requests[0]!.body.deliveryId, `journal.dave.${primary}`);
    assert.deepEqual(recipientsOf(dave.requests[0]!), MERGED);

    const all = await lines<{ id: number }>(['search'], ws);
    assert.deepEqual(all.map((h) => String(h.id)), [primary]);
    const stats = await json<Stats>(['stats'], ws);
    assert.equal(stats.messages, 2);
    assert.equal(stats.journalMerged, 1);
  } finally {
    await hook.close();
    await dave.close();
    ws.cleanup();
  }
});
