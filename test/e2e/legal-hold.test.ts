/**
 * Issue 16, item 4 (legal hold) end to end, against a real `start` and a real Dovecot: a hold by
 * query placed through the API catches a message archived after it was placed (a custodian hold),
 * shows it in the message's `holds` and in its count, and a release ends it; a viewer cannot list
 * holds and an auditor cannot place one; a query that cannot be read is refused when the hold is
 * placed, naming `query`; the command line beside the running service works through its control
 * socket; every place and release is on the audit log with who, the reason and the query or ids.
 * Without a service, the command line works on the archive itself, and released holds stay listed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, runCli } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { callApi, createToken, drainedWithApi, startService, type Body, type RunningService } from '../harness/api-client.js';

const dovecot = dovecotPerFile();

type Hit = { id: number; archiveId: string; subject: string };

async function hits(base: string, token: string, text: string): Promise<Hit[]> {
  const r = await callApi(`${base}/api/v1/messages?text=${encodeURIComponent(text)}&excerpts=false`, token);
  assert.equal(r.status, 200, r.raw);
  return r.body.hits as Hit[];
}

/** Waits until a search for `text` finds `n` messages (archived and parsed by the running service). */
async function waitForHits(base: string, token: string, text: string, n: number): Promise<Hit[]> {
  const until = Date.now() + 30_000;
  for (;;) {
    const found = await hits(base, token, text);
    if (found.length === n) return found;
    assert.ok(Date.now() < until, `search ${text} found ${found.length}, not ${n}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const json = (s: string): Body[] => s.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Body);

test('start: a custodian hold placed through the API catches mail archived later; release ends it; roles, a bad query and the audit records', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [makeMessage(0, { tag: 'merger' }), makeMessage(1), makeMessage(2)]);
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user, { pollIntervalMs: 200 })] });
  let service: RunningService | undefined;
  try {
    const viewer = await createToken(ws, 'ops', 'viewer');
    const auditor = await createToken(ws, 'legal', 'auditor');
    const admin = await createToken(ws, 'counsel', 'admin');
    service = await startService(ws, base);

    const before = await waitForHits(base, auditor, 'merger', 1);
    const place = { name: 'matter-17', reason: 'Litigation hold, matter 17', query: 'merger' };
    const denied = await callApi(`${base}/api/v1/holds`, auditor, { method: 'POST', body: place });
    assert.deepEqual([denied.status, denied.body.code], [403, 'API_FORBIDDEN'], 'an auditor cannot place a hold');
    const unseen = await callApi(`${base}/api/v1/holds`, viewer);
    assert.deepEqual([unseen.status, unseen.body.code], [403, 'API_FORBIDDEN'], 'a viewer does not see the holds');

    const bad = await callApi(`${base}/api/v1/holds`, admin, { method: 'POST', body: { name: 'bad', reason: 'r', query: '"merger' } });
    assert.deepEqual([bad.status, bad.body.code], [400, 'HOLD_INVALID'], bad.raw);
    const problems = bad.body.problems as Array<{ field: string; message: string }>;
    assert.deepEqual(problems.map((p) => p.field), ['query']);
    assert.match(problems[0]!.message, /never closed/);
    const none = await callApi(`${base}/api/v1/holds`, admin, { method: 'POST', body: { name: 'empty', reason: '' } });
    assert.deepEqual([none.status, none.body.code], [400, 'HOLD_INVALID']);
    assert.deepEqual((none.body.problems as Array<{ field: string }>).map((p) => p.field).sort(), ['query', 'reason']);

    const placed = await callApi(`${base}/api/v1/holds`, admin, { method: 'POST', body: place });
    assert.equal(placed.status, 201, placed.raw);
    assert.deepEqual([placed.body.placedBy, placed.body.active, placed.body.heldNow, placed.body.query], ['counsel', true, 1, 'merger']);
    const again = await callApi(`${base}/api/v1/holds`, admin, { method: 'POST', body: place });
    assert.deepEqual([again.status, again.body.code], [409, 'HOLD_EXISTS']);

    // Archived after the hold was placed: held too.
    await dovecot.deliver(user.username, makeMessage(7, { tag: 'merger' }));
    const after = await waitForHits(base, auditor, 'merger', 2);
    const late = after.find((h) => !before.some((b) => b.id === h.id))!;
    const shown = await callApi(`${base}/api/v1/holds/matter-17`, auditor);
    assert.deepEqual([shown.status, shown.body.heldNow], [200, 2]);
    const view = await callApi(`${base}/api/v1/messages/${late.archiveId}`, auditor);
    assert.deepEqual(view.body.holds, ['matter-17']);
    const other = (await hits(base, auditor, 'Report')).find((h) => !/merger/.test(h.subject))!;
    assert.deepEqual((await callApi(`${base}/api/v1/messages/${other.archiveId}`, auditor)).body.holds, []);

    // The command line beside the service: through its control socket, as local:<user>.
    const byId = await runCli(['hold', 'place', 'keep-one', '--reason', 'Regulator request 4', '--id', String(other.id), '--json'], ws);
    assert.equal(byId.code, 0, byId.stderr);
    assert.deepEqual([(JSON.parse(byId.stdout) as Body).heldNow, (JSON.parse(byId.stdout) as Body).ids], [1, [other.id]]);
    assert.match(String((JSON.parse(byId.stdout) as Body).placedBy), /^local:/);
    assert.deepEqual((await callApi(`${base}/api/v1/messages/${other.archiveId}`, auditor)).body.holds, ['keep-one']);
    const listed = await runCli(['hold', 'list', '--json'], ws);
    assert.deepEqual(json(listed.stdout).map((h) => [h.name, h.heldNow]), [['keep-one', 1], ['matter-17', 2]]);
    const showCli = await runCli(['hold', 'show', 'matter-17'], ws);
    assert.match(showCli.stdout, /^held now +2$/m);
    const badCli = await runCli(['hold', 'place', 'bad2', '--reason', 'r', '--query', '*'], ws);
    assert.equal(badCli.code, 1);
    assert.match(badCli.stderr, /^mailsluice: HOLD_INVALID: .*query: search query: a \* on its own/);

    // Released: it keeps nothing from now on, and stays on the record.
    const noReason = await callApi(`${base}/api/v1/holds/matter-17/release`, admin, { method: 'POST', body: { reason: ' ' } });
    assert.deepEqual([noReason.status, noReason.body.code], [400, 'HOLD_INVALID']);
    const released = await callApi(`${base}/api/v1/holds/matter-17/release`, admin, { method: 'POST', body: { reason: 'Matter settled' } });
    assert.equal(released.status, 200, released.raw);
    assert.deepEqual([released.body.active, released.body.releasedBy, released.body.releaseReason, released.body.heldNow], [false, 'counsel', 'Matter settled', 0]);
    assert.deepEqual((await callApi(`${base}/api/v1/messages/${late.archiveId}`, auditor)).body.holds, []);
    const twice = await callApi(`${base}/api/v1/holds/matter-17/release`, admin, { method: 'POST', body: { reason: 'again' } });
    assert.deepEqual([twice.status, twice.body.code], [409, 'HOLD_RELEASED']);
    const active = await callApi(`${base}/api/v1/holds`, auditor);
    assert.deepEqual((active.body.holds as Body[]).map((h) => h.name), ['keep-one']);
    const all = await callApi(`${base}/api/v1/holds?all=true`, auditor);
    assert.deepEqual((all.body.holds as Body[]).map((h) => [h.name, h.active]), [['keep-one', true], ['matter-17', false]]);
    const missing = await callApi(`${base}/api/v1/holds/nosuch`, auditor);
    assert.deepEqual([missing.status, missing.body.code], [404, 'HOLD_NOT_FOUND']);

    const audit = await runCli(['audit', 'list', '--json'], ws);
    const records = json(audit.stdout).filter((r) => String(r.action).startsWith('hold.'));
    const detail = (r: Body): Body => r.detail as Body;
    const ok = records.filter((r) => r.who === 'counsel' || String(r.who).startsWith('local:'));
    assert.deepEqual(
      ok.map((r) => [r.action, detail(r).name]),
      [['hold.place', 'bad'], ['hold.place', 'empty'], ['hold.place', 'matter-17'], ['hold.place', 'matter-17'], ['hold.place', 'keep-one'], ['hold.place', 'bad2'], ['hold.release', 'matter-17'], ['hold.release', 'matter-17'], ['hold.release', 'matter-17']],
    );
    const placedRecord = ok[2]!;
    assert.deepEqual(detail(placedRecord), { name: 'matter-17', reason: 'Litigation hold, matter 17', query: 'merger', ids: [] });
    assert.deepEqual(detail(ok[4]!).ids, [other.id]);
    assert.equal(detail(ok[7]!).reason, 'Matter settled');
  } finally {
    await service?.stop();
    ws.cleanup();
  }
});

test('hold place|show|release|list without a service: on the archive itself, recorded under the OS user; errors by code', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [makeMessage(0, { tag: 'acquisition' }), makeMessage(1), makeMessage(2, { tag: 'acquisition' })]);
  const { ws } = await drainedWithApi({ connections: [imapConnection(dovecot, user)] });
  try {
    const search = await runCli(['search', 'Report', '--json'], ws);
    const ids = json(search.stdout).map((h) => Number(h.id)).sort((a, b) => a - b);
    assert.equal(ids.length, 3, search.stdout);
    const placed = await runCli(['hold', 'place', 'acq', '--reason', 'Deal review', '--query', 'acquisition', '--id', String(ids[1]), '--id', String(ids[0]), '--json'], ws);
    assert.equal(placed.code, 0, placed.stderr);
    const hold = JSON.parse(placed.stdout) as Body;
    // Message 0 by id and by query, 1 by id, 2 by query.
    assert.deepEqual([hold.heldNow, hold.ids, hold.query], [3, [ids[0], ids[1]], 'acquisition']);
    const unknown = await runCli(['hold', 'place', 'ghost', '--reason', 'r', '--id', '999999'], ws);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^mailsluice: HOLD_INVALID: hold "ghost" not placed: ids: no archived message has the id 999999/);
    const usage = await runCli(['hold', 'place', 'x', '--query', 'a'], ws);
    assert.deepEqual([usage.code, /--reason/.test(usage.stderr)], [2, true]);
    const dup = await runCli(['hold', 'place', 'acq', '--reason', 'again', '--query', 'x'], ws);
    assert.match(dup.stderr, /HOLD_EXISTS/);

    const show = await runCli(['hold', 'show', 'acq'], ws);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^reason +Deal review$/m);
    assert.match(show.stdout, /^held now +3$/m);
    const rel = await runCli(['hold', 'release', 'acq', '--reason', 'Review closed'], ws);
    assert.equal(rel.code, 0, rel.stderr);
    assert.match((await runCli(['hold', 'list'], ws)).stdout, /^0 active holds\n$/);
    const all = await runCli(['hold', 'list', '--all'], ws);
    assert.match(all.stdout, /^acq +released .* by .*: Deal review$/m);
    assert.match((await runCli(['hold', 'release', 'acq', '--reason', 'x'], ws)).stderr, /HOLD_RELEASED/);
    assert.match((await runCli(['hold', 'show', 'nosuch'], ws)).stderr, /HOLD_NOT_FOUND/);

    const audit = json((await runCli(['audit', 'list', '--action', 'hold.place', '--json'], ws)).stdout);
    assert.equal(audit[0]!.origin, 'cli');
    assert.deepEqual(audit[0]!.detail, { name: 'acq', reason: 'Deal review', query: 'acquisition', ids: [ids[1], ids[0]] });
    const releases = json((await runCli(['audit', 'list', '--action', 'hold.release', '--json'], ws)).stdout);
    assert.deepEqual(releases.map((r) => (r.detail as Body).reason), ['Review closed', 'x']);
  } finally {
    ws.cleanup();
  }
});
