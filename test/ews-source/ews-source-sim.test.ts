/**
 * The EWS source against the EWS simulator (test/harness/ews-simulator.ts), beyond the contract
 * suite: NTLM over HTTP with and without channel binding required, a wrong password, Basic, no
 * fallback to a scheme not configured, throttling (ErrorServerBusy, HTTP 503 and 429), large
 * items streamed, vanished items, the version refusal, folder paths, every delete policy,
 * unseenOnly, and the connection test's steps. Never run against a real Exchange.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { makeCertificates } from '../harness/dovecot.js';
import { EwsClient, createEwsSource, ewsClientOptions, probeEws, type EwsSource } from '../../src/adapters/source-ews/index.js';
import * as soap from '../../src/adapters/source-ews/ews-soap.js';
import { responseMessages } from '../../src/adapters/source-ews/ews-client.js';
import { child } from '../../src/adapters/source-ews/ews-xml.js';
import { JsonlLogger } from '../../src/adapters/logger-jsonl/index.js';
import { MailsluiceError } from '../../src/core/errors/index.js';
import type { Candidate, FetchedMessage } from '../../src/core/ports/mailbox-source.js';
import { startEwsSimulator, type EwsSimulator, type EwsSimulatorOptions } from '../harness/ews-simulator.js';
import { MemorySyncStateStore } from '../reference/memory-sync-state.js';
import { EWS_USER, ewsConnection } from '../harness/ews-connection.js';
import { makeMessage, sha256 } from '../harness/messages.js';

const sims: EwsSimulator[] = [];
after(async () => {
  await Promise.all(sims.map((s) => s.stop()));
});

async function sim(options: EwsSimulatorOptions = {}): Promise<EwsSimulator> {
  const s = await startEwsSimulator({ validateFirst: 2, ...options });
  sims.push(s);
  return s;
}

let clock = Date.UTC(2026, 0, 1);
function fill(s: EwsSimulator, raws: Buffer[], folder = 'Inbox', isRead = false): string[] {
  return raws.map((raw) => s.add(folder, raw, { received: new Date((clock += 1000)), isRead }));
}

async function readAll(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

async function fetchAll(src: EwsSource, cands: Candidate[]): Promise<Array<{ m: FetchedMessage; bytes: Buffer }>> {
  const out: Array<{ m: FetchedMessage; bytes: Buffer }> = [];
  for await (const m of src.fetch(cands)) out.push({ m, bytes: await readAll(m.body) });
  return out;
}

async function refusal(p: Promise<unknown>): Promise<MailsluiceError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof MailsluiceError, `not a catalogue error: ${String(err)}`);
    return err;
  }
  assert.fail('expected a failure');
}

const logger = (): JsonlLogger => new JsonlLogger([]);

test('NTLM with channel binding required logs in (as CORP\\journal and as journal with auth.domain); a wrong password is SOURCE_AUTH_REJECTED', async () => {
  const s = await sim({ auth: ['NTLM'], channelBinding: 'required' });
  fill(s, [makeMessage(1)]);
  for (const auth of [
    { type: 'ntlm', username: `${EWS_USER.domain}\\${EWS_USER.username}`, password: EWS_USER.password },
    { type: 'ntlm', username: EWS_USER.username, domain: EWS_USER.domain, password: EWS_USER.password },
  ]) {
    const src = createEwsSource(ewsConnection(s, { auth }), logger());
    try {
      assert.equal((await src.open()).exists, 1);
    } finally {
      await src.close();
    }
  }
  assert.deepEqual(s.authRefusals.filter((r) => r !== 'no Authorization header'), []);
  const bad = createEwsSource(ewsConnection(s, { auth: { type: 'ntlm', username: 'CORP\\journal', password: 'wrong' } }), logger());
  const e = await refusal(bad.open());
  await bad.close();
  assert.equal(e.code, 'SOURCE_AUTH_REJECTED');
  assert.match(e.message, /NTLM/);
  assert.doesNotMatch(e.message, /wrong/);
  assert.ok(s.authRefusals.length > 0);
});

test('NTLM without channel binding required, and the connection holds the login across requests', async () => {
  const s = await sim({ auth: ['NTLM', 'Basic'], channelBinding: 'none' });
  fill(s, [makeMessage(1), makeMessage(2)]);
  const src = createEwsSource(ewsConnection(s), logger());
  try {
    await src.open();
    const cands = await src.listCandidates(10);
    assert.equal((await fetchAll(src, cands)).length, 2);
  } finally {
    await src.close();
  }
  assert.ok(s.requests.every((r) => r.user.toUpperCase() === 'CORP\\JOURNAL'), JSON.stringify(s.requests.map((r) => r.user)));
});

test('Basic logs in when offered; auth ntlm against a Basic-only server is refused without trying Basic', async () => {
  const s = await sim({ auth: ['Basic'] });
  fill(s, [makeMessage(1)]);
  const basic = createEwsSource(ewsConnection(s, { auth: { type: 'basic', username: 'CORP\\journal', password: EWS_USER.password } }), logger());
  try {
    assert.equal((await basic.open()).exists, 1);
  } finally {
    await basic.close();
  }
  const served = s.requests.length;
  const ntlm = createEwsSource(ewsConnection(s), logger());
  const e = await refusal(ntlm.open());
  await ntlm.close();
  assert.equal(e.code, 'SOURCE_AUTH_UNSUPPORTED');
  assert.match(e.message, /offers Basic; auth is ntlm/);
  assert.equal(s.requests.length, served, 'no request was served under another scheme');
  const wrong = createEwsSource(ewsConnection(s, { auth: { type: 'basic', username: 'CORP\\journal', password: 'nope' } }), logger());
  assert.equal((await refusal(wrong.open())).code, 'SOURCE_AUTH_REJECTED');
  await wrong.close();
});

test('throttling: ErrorServerBusy and HTTP 503/429 are waited out and retried, a bounded number of times', async () => {
  const s = await sim({ auth: ['NTLM'] });
  fill(s, [makeMessage(1), makeMessage(2)]);
  const src = createEwsSource(ewsConnection(s), logger());
  try {
    await src.open();
    s.fault.serverBusy(2, 30);
    const t0 = Date.now();
    const cands = await src.listCandidates(10);
    assert.equal(cands.length, 2);
    assert.ok(Date.now() - t0 >= 60, 'waited the BackOffMilliseconds asked');
    assert.equal(s.requests.filter((r) => r.operation === 'FindItem').length, 3);
    // Exchange 2013 and later send it as a SOAP fault.
    s.fault.serverBusy(1, 20, { asFault: true });
    assert.equal((await src.listCandidates(10)).length, 2);
    s.fault.httpStatus(503, 1, 0);
    s.fault.httpStatus(429, 1, 0);
    assert.equal((await fetchAll(src, cands)).length, 2);
    s.fault.serverBusy(10, 1);
    const e = await refusal(src.listCandidates(10));
    assert.equal(e.code, 'SOURCE_PROTOCOL');
    assert.ok(e.retryable);
    assert.match(e.message, /ErrorServerBusy/);
  } finally {
    await src.close();
  }
});

test('a large item streams (not buffered) byte for byte; small ones come batched and buffered; vanished ones are skipped', async () => {
  const s = await sim({ auth: ['NTLM'] });
  const raws = [makeMessage(1), makeMessage(2, { attachmentBytes: 3 * 1024 * 1024 }), makeMessage(3), makeMessage(4, { attachmentBytes: 2 * 1024 * 1024 }), makeMessage(5)];
  const ids = fill(s, raws);
  const src = createEwsSource(ewsConnection(s), logger());
  try {
    await src.open();
    const cands = await src.listCandidates(10);
    assert.deepEqual(cands.map((c) => c.key), ids.map((id) => `ews:${id}`));
    const got = await fetchAll(src, cands);
    assert.deepEqual(got.map((g) => sha256(g.bytes)), raws.map(sha256));
    assert.deepEqual(got.map((g) => g.m.buffered), [true, false, true, false, true]);
    // Gone between listing and fetch: one small, one large.
    const other = createEwsSource(ewsConnection(s), logger());
    await other.open();
    assert.equal((await other.applyServerAction([cands[2]!, cands[3]!])).length, 2);
    await other.close();
    const again = await fetchAll(src, cands);
    assert.deepEqual(again.map((g) => g.m.candidate.key), [cands[0]!.key, cands[1]!.key, cands[4]!.key]);
  } finally {
    await src.close();
  }
});

test('a server refusing the configured version fails with SOURCE_VERSION_REFUSED naming both versions', async () => {
  const s = await sim({ auth: ['NTLM'], refuseVersions: ['Exchange2007_SP1'] });
  const src = createEwsSource(ewsConnection(s, { ews: { url: s.url, version: '2007SP1' } }), logger());
  const e = await refusal(src.open());
  await src.close();
  assert.equal(e.code, 'SOURCE_VERSION_REFUSED');
  assert.match(e.message, /ews\.version is 2007SP1/);
  assert.match(e.message, /Exchange 2016 \(15\.1\.2507\.6/);
  assert.ok(s.requests.some((r) => r.requestVersion === 'Exchange2007_SP1'));
});

test('a folder path is found under the top of the mailbox; a missing one is SOURCE_MAILBOX_NOT_FOUND naming the step', async () => {
  const s = await sim({ auth: ['NTLM'] });
  s.createFolder('Inbox/Journal');
  fill(s, [makeMessage(1), makeMessage(2)], 'Inbox/Journal');
  fill(s, [makeMessage(3)]);
  const src = createEwsSource(ewsConnection(s, { mailbox: 'Inbox/Journal' }), logger());
  try {
    assert.equal((await src.open()).exists, 2);
    assert.equal((await src.listCandidates(10)).length, 2);
  } finally {
    await src.close();
  }
  const missing = createEwsSource(ewsConnection(s, { mailbox: 'Inbox/Nope' }), logger());
  const e = await refusal(missing.open());
  await missing.close();
  assert.equal(e.code, 'SOURCE_MAILBOX_NOT_FOUND');
  assert.match(e.message, /no folder "Nope" under "Inbox"/);
});

test('delete policies: delete moves to Deleted Items, mark-seen marks read, move moves, leave keeps and settled skips', async () => {
  const s = await sim({ auth: ['NTLM'] });
  s.createFolder('Inbox/Done');
  const run = async (extra: Record<string, unknown>): Promise<Candidate[]> => {
    fill(s, [makeMessage(1), makeMessage(2)]);
    const src = createEwsSource(ewsConnection(s, extra), logger());
    try {
      await src.open();
      const cands = await src.listCandidates(10);
      await fetchAll(src, cands);
      assert.equal((await src.applyServerAction(cands)).length, cands.length);
      assert.deepEqual(await src.flush(), []);
      return cands;
    } finally {
      await src.close();
    }
  };
  await run({ deletePolicy: 'delete' });
  assert.equal(s.items('Inbox').length, 0);
  assert.equal(s.items('Deleted Items').length, 2);
  await run({ deletePolicy: 'move', moveTo: 'Inbox/Done' });
  assert.equal(s.items('Inbox').length, 0);
  assert.equal(s.items('Inbox/Done').length, 2);
  await run({ deletePolicy: 'mark-seen', unseenOnly: true });
  assert.deepEqual(s.items('Inbox').map((i) => i.isRead), [true, true]);
  // unseenOnly: read items are not listed.
  const seen = createEwsSource(ewsConnection(s, { unseenOnly: true }), logger());
  await seen.open();
  assert.equal((await seen.listCandidates(10)).length, 0);
  await seen.close();
  await run({ deletePolicy: 'delete-and-expunge' });
  assert.equal(s.items('Inbox').length, 0);
  const kept = await run({ deletePolicy: 'leave' });
  assert.equal(s.items('Inbox').length, 2);
  const src = createEwsSource(ewsConnection(s, { deletePolicy: 'leave' }), logger());
  try {
    await src.open();
    const first = kept[0]!.key;
    const listed = await src.listCandidates(1, undefined, async (keys) => new Set(keys.filter((k) => k === first)));
    assert.deepEqual(listed.map((c) => c.key), [kept[1]!.key], 'the settled one is skipped and the limit is filled with the next');
  } finally {
    await src.close();
  }
});

test('leave with a sync-state store: SyncFolderItems pages from the stored state, advanced only past settled items; FindItem without settled (the connection test) and where the folder empties', async () => {
  const ops: string[] = [];
  const s = await sim({ auth: ['NTLM'], trace: (e, t) => void (e === 'request' && ops.push(/<m:(SyncFolderItems|FindItem|GetItem|GetFolder|FindFolder)\b/.exec(t)?.[1] ?? '?')) });
  const ids = fill(s, Array.from({ length: 7 }, (_, i) => makeMessage(i + 1)));
  const states = new MemorySyncStateStore();
  const done = new Set<string>();
  const settled = async (keys: string[]): Promise<Set<string>> => new Set(keys.filter((k) => done.has(k)));
  const src = createEwsSource(ewsConnection(s, { deletePolicy: 'leave' }), logger(), { syncState: states });
  try {
    await src.open();
    ops.length = 0;
    assert.equal((await src.listCandidates(10)).length, 7, 'without settled: FindItem');
    assert.deepEqual(ops, ['FindItem']);
    assert.equal(await states.get('journal', 'INBOX'), undefined, 'and no state written');
    ops.length = 0;
    const first = await src.listCandidates(3, undefined, settled);
    assert.deepEqual(first.map((c) => c.key), ids.slice(0, 3).map((id) => `ews:${id}`), 'oldest first, cut at the limit');
    assert.ok(ops.every((o) => o === 'SyncFolderItems'), ops.join());
    assert.equal(await states.get('journal', 'INBOX'), undefined, 'nothing settled: nothing stored');
    first.slice(0, 2).forEach((c) => done.add(c.key));
    const second = await src.listCandidates(3, undefined, settled);
    assert.deepEqual(second.map((c) => c.key), ids.slice(2, 5).map((id) => `ews:${id}`), 'the third again, then the next');
    assert.equal(await states.get('journal', 'INBOX'), undefined, 'the first page holds the third: still nothing stored');
    ids.forEach((id) => done.add(`ews:${id}`));
    assert.deepEqual(await src.listCandidates(3, undefined, settled), []);
    const stored = await states.get('journal', 'INBOX');
    assert.ok(stored, 'every item settled: the state advanced');
    // A refused stored state: dropped, a full sync, the settled ones filtered.
    s.fault.invalidateSyncStates();
    const late = fill(s, [makeMessage(8)]);
    ops.length = 0;
    assert.deepEqual((await src.listCandidates(10, undefined, settled)).map((c) => c.key), [`ews:${late[0]}`]);
    assert.equal(ops.filter((o) => o === 'SyncFolderItems').length, 2, 'the refused request and one full sync of a page of 10');
    assert.equal(await states.get('journal', 'INBOX'), undefined, 'the refused state dropped; the new page holds the new item');
  } finally {
    await src.close();
  }
  // Where the folder empties, FindItem as before, whatever the store holds.
  const del = createEwsSource(ewsConnection(s, { deletePolicy: 'delete' }), logger(), { syncState: states });
  try {
    await del.open();
    ops.length = 0;
    assert.equal((await del.listCandidates(100, undefined, settled)).length, 1);
    assert.deepEqual(ops, ['FindItem']);
  } finally {
    await del.close();
  }
});

test('mark-seen without unseenOnly lists by SyncFolderItems too: its own read flags are changes to pass over, not items to take', async () => {
  const s = await sim({ auth: ['NTLM'] });
  fill(s, [makeMessage(1), makeMessage(2), makeMessage(3)]);
  const states = new MemorySyncStateStore();
  const done = new Set<string>();
  const settled = async (keys: string[]): Promise<Set<string>> => new Set(keys.filter((k) => done.has(k)));
  const src = createEwsSource(ewsConnection(s, { deletePolicy: 'mark-seen' }), logger(), { syncState: states });
  try {
    await src.open();
    const cands = await src.listCandidates(10, undefined, settled);
    assert.equal(cands.length, 3);
    assert.equal((await src.applyServerAction(cands)).length, 3);
    cands.forEach((c) => done.add(c.key));
    assert.deepEqual(s.items('Inbox').map((i) => i.isRead), [true, true, true]);
    assert.deepEqual(await src.listCandidates(10, undefined, settled), []);
    const first = await states.get('journal', 'INBOX');
    assert.ok(first);
    // The next listing sees the three ReadFlagChanges, takes nothing, and moves past them.
    assert.deepEqual(await src.listCandidates(10, undefined, settled), []);
    assert.notEqual(await states.get('journal', 'INBOX'), first);
    const late = fill(s, [makeMessage(4)]);
    assert.deepEqual((await src.listCandidates(10, undefined, settled)).map((c) => c.key), [`ews:${late[0]}`]);
  } finally {
    await src.close();
  }
});

test('markFailed marks items read so an unseenOnly listing skips them', async () => {
  const s = await sim({ auth: ['NTLM'] });
  fill(s, [makeMessage(1), makeMessage(2)]);
  const src = createEwsSource(ewsConnection(s, { unseenOnly: true }), logger());
  try {
    await src.open();
    const cands = await src.listCandidates(10);
    await src.markFailed(cands.slice(0, 1));
    assert.deepEqual((await src.listCandidates(10)).map((c) => c.key), [cands[1]!.key]);
  } finally {
    await src.close();
  }
});

test('the connection test: resolve, connect, tls, auth (NTLM named), version, mailbox, count; each failure at its step', async () => {
  const s = await sim({ auth: ['NTLM'], channelBinding: 'required', refuseVersions: ['Exchange2010'] });
  fill(s, [makeMessage(1), makeMessage(2), makeMessage(3)]);
  const ok = await probeEws(ewsConnection(s), logger());
  assert.equal(ok.ok, true, JSON.stringify(ok.steps));
  assert.deepEqual(ok.steps.map((x) => x.step), ['resolve', 'connect', 'tls', 'auth', 'version', 'mailbox', 'count']);
  assert.equal(ok.messages, 3);
  const auth = ok.steps.find((x) => x.step === 'auth')!.detail;
  assert.match(auth, /NTLM \(NTLMv2\) as "journal" in domain "CORP", bound to this TLS connection/);
  assert.match(ok.steps.find((x) => x.step === 'version')!.detail, /Exchange 2016 \(15\.1\.2507\.6.*Exchange2016/);
  const failedAt = async (extra: Record<string, unknown>): Promise<{ step: string; code: string | undefined; detail: string }> => {
    const r = await probeEws(ewsConnection(s, extra), logger());
    assert.equal(r.ok, false);
    const last = r.steps[r.steps.length - 1]!;
    return { step: last.step, code: last.code, detail: last.detail };
  };
  const pw = await failedAt({ auth: { type: 'ntlm', username: 'CORP\\journal', password: 'bad-password' } });
  assert.deepEqual([pw.step, pw.code], ['auth', 'SOURCE_AUTH_REJECTED']);
  assert.doesNotMatch(pw.detail, /bad-password/);
  const ver = await failedAt({ ews: { url: s.url, version: '2010' } });
  assert.deepEqual([ver.step, ver.code], ['version', 'SOURCE_VERSION_REFUSED']);
  const box = await failedAt({ mailbox: 'Archive/2026' });
  assert.deepEqual([box.step, box.code], ['mailbox', 'SOURCE_MAILBOX_NOT_FOUND']);
  const untrusted = await failedAt({ tls: { verify: true } });
  assert.deepEqual([untrusted.step, untrusted.code], ['tls', 'SOURCE_TLS_UNTRUSTED']);
  const port = s.port;
  await s.stop();
  sims.splice(sims.indexOf(s), 1);
  const refused = await failedAt({ ews: { url: `127.0.0.1:${port}/EWS/Exchange.asmx`, version: '2016' } });
  assert.deepEqual([refused.step, refused.code], ['connect', 'SOURCE_CONNECT_REFUSED']);
});

/**
 * A TLS-terminating relay in front of the simulator, with a certificate of its own that the
 * client trusts: what a man in the middle (or a TLS-inspecting proxy) is. Channel binding is
 * what lets the server tell: the client binds its NTLM login to the relay's certificate.
 */
async function relay(s: EwsSimulator): Promise<{ url: string; ca: string; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ews-relay-'));
  const c = await makeCertificates(dir);
  const [key, cert, ca] = await Promise.all([readFile(c.serverKeyPath), readFile(c.serverCertPath), readFile(c.caCertPath, 'utf8')]);
  const open = new Set<tls.TLSSocket>();
  const server = tls.createServer({ key, cert }, (down) => {
    const up = tls.connect({ host: '127.0.0.1', port: s.port, ca: s.ca });
    open.add(down).add(up);
    down.pipe(up).pipe(down);
    const end = (): void => {
      down.destroy();
      up.destroy();
    };
    down.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `127.0.0.1:${port}/EWS/Exchange.asmx`,
    ca,
    stop: async () => {
      for (const sock of open) sock.destroy();
      await new Promise((r) => server.close(r));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

test('channel binding: through a TLS-terminating relay the login is refused when the server requires binding, accepted when it does not', async () => {
  for (const binding of ['required', 'none'] as const) {
    const s = await sim({ auth: ['NTLM'], channelBinding: binding });
    const r = await relay(s);
    try {
      const src = createEwsSource(ewsConnection(s, { ews: { url: r.url, version: '2016' }, tls: { verify: true, ca: r.ca } }), logger());
      const outcome = await src.open().then(() => 'logged in', (err: unknown) => (err instanceof MailsluiceError ? err.code : String(err)));
      await src.close();
      assert.equal(outcome, binding === 'required' ? 'SOURCE_AUTH_REJECTED' : 'logged in', `channelBinding ${binding}`);
      if (binding === 'required') assert.ok(s.authRefusals.some((x) => /ChannelBindings/.test(x)), s.authRefusals.join('; '));
    } finally {
      await r.stop();
    }
  }
});

/**
 * IDLE_UNVALIDATED: the idle tests measure how soon a wait ends, and the simulator's schema check
 * of a request takes about half a second, so they run unvalidated; the subscription requests are
 * validated by the next test.
 */
test('every kind of request the source sends passes the simulator\'s validation against Microsoft\'s schemas', async () => {
  const s = await sim({ auth: ['NTLM'], validateFirst: Infinity });
  assert.ok(s.schemaDir, "Microsoft's EWS schemas were not found (test/fixtures/ews-schema/README.md says where they go)");
  const id = fill(s, [makeMessage(1)])[0]!;
  const client = new EwsClient(ewsClientOptions(ewsConnection(s)));
  try {
    const requests: Array<[string, string]> = [
      ['GetFolder', soap.getFolder({ distinguished: 'inbox' })],
      ['FindFolder', soap.findFolder({ distinguished: 'msgfolderroot' }, 'Inbox')],
      ['FindItem', soap.findItem({ distinguished: 'inbox' }, 0, 10, true)],
      ['SyncFolderItems', soap.syncFolderItems({ distinguished: 'inbox' }, undefined, 10)],
      ['SyncFolderItems', soap.syncFolderItems({ distinguished: 'inbox' }, 'bm90IGEgc3RhdGU=', 512)],
      ['GetItem', soap.getItemMime([id])],
      ['UpdateItem', soap.updateItems([{ id, isRead: true }])],
      ['Subscribe', soap.subscribeStreaming({ distinguished: 'inbox' })],
      ['Subscribe', soap.subscribePull({ distinguished: 'inbox' }, 10)],
      ['MoveItem', soap.moveItem([id], { distinguished: 'deleteditems' })],
      ['DeleteItem', soap.deleteItem([id], 'MoveToDeletedItems')],
      ['DeleteItem', soap.deleteItem([id], 'HardDelete')],
    ];
    for (const [op, body] of requests) await client.call(op, body);
    const pull = responseMessages(await client.call('Subscribe', soap.subscribePull({ distinguished: 'inbox' }, 10)))[0]!;
    const pullId = child(pull, 'SubscriptionId')!.text;
    await client.call('GetEvents', soap.getEvents(pullId, child(pull, 'Watermark')!.text));
    await client.call('Unsubscribe', soap.unsubscribe(pullId));
    const streaming = responseMessages(await client.call('Subscribe', soap.subscribeStreaming({ distinguished: 'inbox' })))[0]!;
    // The request is checked before the answer starts; the answer is left at its first bytes.
    const ans = await client.open('GetStreamingEvents', soap.getStreamingEvents(child(streaming, 'SubscriptionId')!.text, 1));
    assert.equal(ans.status, 200);
    ans.res.destroy();
  } finally {
    client.close();
  }
  assert.deepEqual(s.validationErrors, []);
});

test('idle: a streaming subscription (2016) ends the wait on new mail; a silenced one still ends it at the safety poll', async () => {
  const s = await sim({ auth: ['NTLM'], keepAliveMs: 200, validate: false }); // timings: see IDLE_UNVALIDATED
  const src = createEwsSource(ewsConnection(s, { idle: true, idleSafetyPollMs: 1500 }), logger());
  try {
    await src.open();
    await src.waitForChange(300); // subscribes; nothing new
    assert.ok(s.requests.some((r) => r.operation === 'Subscribe'));
    setTimeout(() => fill(s, [makeMessage(1)]), 200);
    let t0 = Date.now();
    await src.waitForChange(Number.MAX_SAFE_INTEGER);
    const early = Date.now() - t0;
    assert.ok(early < 1200, `new mail ended the wait after ${early} ms`);
    s.fault.silenceNotifications();
    setTimeout(() => fill(s, [makeMessage(2)]), 200);
    t0 = Date.now();
    await src.waitForChange(Number.MAX_SAFE_INTEGER);
    const late = Date.now() - t0;
    assert.ok(late >= 1400 && late < 4000, `the safety poll ended the wait after ${late} ms`);
    // An abort ends a wait at once.
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    t0 = Date.now();
    await src.waitForChange(Number.MAX_SAFE_INTEGER, ac.signal);
    assert.ok(Date.now() - t0 < 1000);
  } finally {
    await src.close();
  }
});

test('idle: a pull subscription (2010) is polled with GetEvents and ends the wait on new mail', async () => {
  const s = await sim({ auth: ['NTLM'], validate: false });
  const src = createEwsSource(ewsConnection(s, { idle: true, idleSafetyPollMs: 20_000, ews: { url: s.url, version: '2010' } }), logger());
  try {
    await src.open();
    await src.waitForChange(300); // subscribes and polls; nothing new
    assert.ok(s.requests.some((r) => r.operation === 'Subscribe' && r.requestVersion === 'Exchange2010'));
    fill(s, [makeMessage(1)]);
    const t0 = Date.now();
    await src.waitForChange(Number.MAX_SAFE_INTEGER);
    assert.ok(Date.now() - t0 < 2000, `new mail ended the wait after ${Date.now() - t0} ms`);
    assert.ok(s.requests.some((r) => r.operation === 'GetEvents'));
    assert.ok(!s.requests.some((r) => r.operation === 'GetStreamingEvents'));
  } finally {
    await src.close();
  }
  assert.ok(s.requests.some((r) => r.operation === 'Unsubscribe'), 'the pull subscription is ended on close');
});

test('without idle, waitForChange is a plain pause and subscribes to nothing', async () => {
  const s = await sim({ auth: ['NTLM'] });
  const src = createEwsSource(ewsConnection(s), logger());
  try {
    await src.open();
    const t0 = Date.now();
    await src.waitForChange(150);
    assert.ok(Date.now() - t0 >= 140);
    assert.ok(!s.requests.some((r) => r.operation === 'Subscribe'));
  } finally {
    await src.close();
  }
});

test('an answer cut mid-item fails the fetch (SOURCE_NETWORK), tells the transfer memory which item, and the next request logs in again', async () => {
  const s = await sim({ auth: ['NTLM'] });
  const raws = [makeMessage(1, { attachmentBytes: 2 * 1024 * 1024 }), makeMessage(2)];
  fill(s, raws);
  const interrupted: string[] = [];
  const transfers = { resumable: () => undefined, keep: () => false, interrupted: (key: string) => void interrupted.push(key), forget: () => undefined };
  const src = createEwsSource(ewsConnection(s), logger(), { transfers });
  try {
    await src.open();
    const cands = await src.listCandidates(10);
    s.fault.cutResponse('GetItem', 100_000);
    const e = await refusal(fetchAll(src, cands));
    assert.equal(e.code, 'SOURCE_NETWORK');
    assert.match(e.message, /GetItem/);
    assert.deepEqual(interrupted, [cands[0]!.key]);
    const again = await fetchAll(src, cands);
    assert.deepEqual(again.map((g) => sha256(g.bytes)), raws.map(sha256));
  } finally {
    await src.close();
  }
});

test('a server that never finishes the handshake hits the connect timeout; one silent after the request hits dataTimeoutMs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ews-silent-'));
  const c = await makeCertificates(dir);
  const [key, cert, ca] = await Promise.all([readFile(c.serverKeyPath), readFile(c.serverCertPath), readFile(c.caCertPath, 'utf8')]);
  const net = await import('node:net');
  const held = new Set<import('node:net').Socket>();
  const mute = net.createServer((sock) => void held.add(sock)); // accepts TCP, never speaks TLS
  const deaf = tls.createServer({ key, cert }, (sock) => void held.add(sock)); // TLS, then silence
  await Promise.all([new Promise<void>((r) => mute.listen(0, '127.0.0.1', r)), new Promise<void>((r) => deaf.listen(0, '127.0.0.1', r))]);
  const url = (srv: import('node:net').Server): string => `127.0.0.1:${(srv.address() as { port: number }).port}/EWS/Exchange.asmx`;
  const base = { name: 'x', tls: { verify: true, minVersion: 'TLSv1.2' as const, ca }, auth: { type: 'none' as const, disablePlain: false, apop: false }, mailbox: 'INBOX', unseenOnly: false, idle: false, idleSafetyPollMs: 60000, deletePolicy: 'delete-and-expunge' as const };
  try {
    let t0 = Date.now();
    const a = createEwsSource({ ...base, ews: { url: url(mute), version: '2016' }, connectTimeoutMs: 300, dataTimeoutMs: 0 }, logger());
    const ea = await refusal(a.open());
    await a.close();
    assert.equal(ea.code, 'SOURCE_CONNECT_TIMEOUT');
    assert.match(ea.message, /TLS handshake did not finish/);
    assert.ok(Date.now() - t0 < 3000);
    t0 = Date.now();
    const b = createEwsSource({ ...base, ews: { url: url(deaf), version: '2016' }, connectTimeoutMs: 5000, dataTimeoutMs: 300 }, logger());
    const eb = await refusal(b.open());
    await b.close();
    assert.equal(eb.code, 'SOURCE_DATA_TIMEOUT');
    assert.match(eb.message, /for 300 ms while waiting for the answer to/);
    assert.ok(Date.now() - t0 < 3000);
  } finally {
    for (const s of held) s.destroy();
    await Promise.all([new Promise((r) => mute.close(r)), new Promise((r) => deaf.close(r))]);
    await rm(dir, { recursive: true, force: true });
  }
});

test('idle: a streaming answer the server closes (its ConnectionTimeout) is opened again, and new mail still ends the wait', async () => {
  const s = await sim({ auth: ['NTLM'], keepAliveMs: 100, connectionTimeoutMs: 300, validate: false });
  const src = createEwsSource(ewsConnection(s, { idle: true, idleSafetyPollMs: 5000 }), logger());
  try {
    await src.open();
    await src.waitForChange(1000); // subscribes; the server closes the stream at least twice meanwhile
    assert.ok(s.requests.filter((r) => r.operation === 'GetStreamingEvents').length >= 2);
    assert.equal(s.requests.filter((r) => r.operation === 'Subscribe').length, 1, 'the subscription is kept');
    setTimeout(() => fill(s, [makeMessage(1)]), 100);
    const t0 = Date.now();
    await src.waitForChange(Number.MAX_SAFE_INTEGER);
    assert.ok(Date.now() - t0 < 2500, `new mail ended the wait after ${Date.now() - t0} ms`);
  } finally {
    await src.close();
  }
});

test('idle: a pull subscription the server no longer knows is made again, and new mail still ends the wait', async () => {
  const s = await sim({ auth: ['NTLM'], validate: false });
  const src = createEwsSource(ewsConnection(s, { idle: true, idleSafetyPollMs: 20_000, ews: { url: s.url, version: '2007SP1' } }), logger());
  try {
    await src.open();
    await src.waitForChange(300); // subscribes
    // Behind the source's back, the subscription ends (as a server restart or expiry would end it).
    const pullId = (src as unknown as { notifier: { pull: { id: string } } }).notifier.pull.id;
    const other = new EwsClient(ewsClientOptions(ewsConnection(s)));
    await other.call('Unsubscribe', soap.unsubscribe(pullId));
    other.close();
    fill(s, [makeMessage(1)]);
    await src.waitForChange(300); // GetEvents: ErrorSubscriptionNotFound, subscribes again (the item came before it: not an event)
    assert.equal(s.requests.filter((r) => r.operation === 'Subscribe').length, 2, 'subscribed again');
    fill(s, [makeMessage(2)]);
    const t0 = Date.now();
    await src.waitForChange(Number.MAX_SAFE_INTEGER);
    assert.ok(Date.now() - t0 < 2000, `new mail ended the wait after ${Date.now() - t0} ms`);
  } finally {
    await src.close();
  }
});
