/**
 * The Graph source against the Graph simulator (test/harness/graph-simulator.ts), beyond the
 * contract suite: throttling (HTTP 429/503 and per request inside a $batch), a token expired
 * mid-drain renewed, a revoked app refused with SOURCE_AUTH_REJECTED and nothing secret in the
 * log, large messages streamed and small ones buffered, vanished and cut messages, folder paths,
 * every delete policy, unseenOnly and markFailed, and the connection test's steps. Never run
 * against a real tenant.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createGraphSource, probeGraph, type GraphSource } from '../../src/adapters/source-graph/index.js';
import type { ConnectionConfig } from '../../src/config/loader.js';
import type { Logger } from '../../src/core/ports/logger.js';
import type { SourceRuntime } from '../../src/core/ports/mailbox-source.js';
import { JsonlLogger } from '../../src/adapters/logger-jsonl/index.js';
import { MailsluiceError } from '../../src/core/errors/index.js';
import type { Candidate, FetchedMessage, TransferMemory } from '../../src/core/ports/mailbox-source.js';
import { GRAPH_CLIENT_ID, GRAPH_CLIENT_SECRET, GRAPH_MAILBOX, GRAPH_TENANT, startGraphSimulator, type GraphSimulator, type GraphSimulatorOptions } from '../harness/graph-simulator.js';
import { graphConnection, graphRuntime } from '../harness/graph-connection.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { MemorySyncStateStore } from '../reference/memory-sync-state.js';

/** A Graph source with a token source of its own, as the composition root builds one. */
function graphSource(conn: ConnectionConfig, logger: Logger, extra: SourceRuntime = {}): GraphSource {
  return createGraphSource(conn, logger, graphRuntime(conn, logger, extra));
}

const sims: GraphSimulator[] = [];
after(async () => {
  await Promise.all(sims.map((s) => s.stop()));
});

async function sim(options: GraphSimulatorOptions = {}): Promise<GraphSimulator> {
  const s = await startGraphSimulator(options);
  sims.push(s);
  return s;
}

let clock = Date.UTC(2026, 0, 1);
function fill(s: GraphSimulator, raws: Buffer[], folder = 'inbox', isRead = false): string[] {
  return raws.map((raw) => s.add(folder, raw, { received: new Date((clock += 1000)), isRead }));
}

async function readAll(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

async function fetchAll(src: GraphSource, cands: Candidate[]): Promise<Array<{ m: FetchedMessage; bytes: Buffer }>> {
  const out: Array<{ m: FetchedMessage; bytes: Buffer }> = [];
  for await (const m of src.fetch(cands)) out.push({ m, bytes: await readAll(m.body) });
  return out;
}

/** A logger whose every line is kept, to look for secrets in. */
function capture(): { logger: JsonlLogger; lines: string[] } {
  const lines: string[] = [];
  return { logger: new JsonlLogger([{ level: 'debug', stream: { write: (s: string) => lines.push(s) } }]), lines };
}

async function rejectsWith(p: Promise<unknown>, code: string, text?: RegExp): Promise<MailsluiceError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof MailsluiceError, `not a MailsluiceError: ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (text) assert.match(err.message, text);
    return err;
  }
  assert.fail(`expected ${code}`);
}

async function drainOnce(src: GraphSource): Promise<Buffer[]> {
  await src.open();
  const cands = await src.listCandidates(1000);
  const got = await fetchAll(src, cands);
  await src.applyServerAction(cands);
  return got.map((g) => g.bytes);
}

test('throttling: HTTP 429 and 503 are waited out as Retry-After says, 429 inside a $batch per request; past the retries SOURCE_PROTOCOL (retryable)', async () => {
  const s = await sim();
  const raws = [1, 2, 3].map((i) => makeMessage(i));
  fill(s, raws);
  const src = graphSource(graphConnection(s), new JsonlLogger([]));
  try {
    await src.open();
    s.fault.throttle(1, 1, 429);
    s.fault.throttle(1, 1, 503);
    const t0 = Date.now();
    const cands = await src.listCandidates(100);
    assert.ok(Date.now() - t0 >= 1900, `waited ${Date.now() - t0} ms for two Retry-After: 1`);
    assert.equal(cands.length, 3);
    assert.deepEqual((await fetchAll(src, cands)).map((g) => sha256(g.bytes)), raws.map(sha256));
    s.fault.throttleBatchItems(2, 1);
    const t1 = Date.now();
    const done = await src.applyServerAction(cands);
    assert.ok(Date.now() - t1 >= 900, 'the throttled batch items were waited out');
    assert.equal(done.length, 3, 'every message actioned, the throttled ones on the second try');
    assert.equal(s.messages('inbox').length, 0);
    s.fault.throttle(20, 0, 429);
    await rejectsWith(src.listCandidates(100), 'SOURCE_PROTOCOL', /HTTP 429 6 times in a row/).then((e) => assert.equal(e.retryable, true));
  } finally {
    await src.close();
  }
});

test('a token that expires mid-drain is renewed (401 once), and a short-lived one before it expires; nothing is lost', async () => {
  const s = await sim();
  const raws = [1, 2, 3, 4].map((i) => makeMessage(i));
  fill(s, raws);
  const src = graphSource(graphConnection(s), new JsonlLogger([]));
  try {
    await src.open();
    const cands = await src.listCandidates(100);
    s.tokens.expireAll();
    const got = await fetchAll(src, cands);
    assert.deepEqual(got.map((g) => sha256(g.bytes)), raws.map(sha256));
    assert.equal(s.tokens.issued.length, 2, 'one more token after the refusal');
    assert.equal((await src.applyServerAction(cands)).length, 4);
    assert.equal(s.messages('inbox').length, 0);
  } finally {
    await src.close();
  }
  // Issued for 2 s, renewed 20 % early: a drain spread over 3 s asks for new ones without a 401.
  const s2 = await sim({ tokenLifetimeS: 2 });
  fill(s2, raws);
  const src2 = graphSource(graphConnection(s2), new JsonlLogger([]));
  try {
    await src2.open();
    await new Promise((r) => setTimeout(r, 1700));
    assert.equal((await drainOnce(src2)).length, 4);
    assert.ok(s2.tokens.issued.length >= 2);
    assert.equal(s2.requests.filter((r) => r.status === 401).length, 0, 'renewed before the server refused it');
  } finally {
    await src2.close();
  }
});

test('a revoked app is SOURCE_AUTH_REJECTED after one renewal; neither the secret nor a token is in the log or the sentence', async () => {
  const s = await sim();
  fill(s, [makeMessage(1)]);
  const { logger, lines } = capture();
  const src = graphSource(graphConnection(s), logger);
  try {
    await src.open();
    s.tokens.revoke();
    s.tokens.forced.push({ status: 401, body: { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' } });
    const e = await rejectsWith(src.listCandidates(10), 'SOURCE_AUTH_REJECTED', /invalid_client/);
    const text = [...lines, e.message].join('\n');
    assert.ok(!text.includes(GRAPH_CLIENT_SECRET), 'the secret is not logged');
    for (const t of s.tokens.issued) assert.ok(!text.includes(t.token), 'no token is logged');
    // Refused for good: the renewed token is refused too (a second 401), and no third is asked for.
    const src2 = graphSource(graphConnection(s), logger);
    s.tokens.forced.length = 0;
    try {
      await src2.open();
      s.tokens.revoke();
      s.tokens.forced.push({ status: 200, body: { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: 'eyJ.withdrawn.consent' } });
      const asked = s.tokens.requests.length;
      await rejectsWith(src2.listCandidates(10), 'SOURCE_AUTH_REJECTED', /HTTP 401.*also a freshly issued one/);
      assert.equal(s.tokens.requests.length, asked + 1, 'renewed once');
    } finally {
      await src2.close();
    }
    const text2 = lines.join('\n');
    for (const t of [...s.tokens.issued.map((x) => x.token), 'eyJ.withdrawn.consent']) assert.ok(!text2.includes(t), 'no token is logged');
  } finally {
    await src.close();
  }
});

test('a large message streams (not buffered) byte for byte; small ones are buffered; vanished ones are skipped; a cut one is SOURCE_NETWORK and told to the transfer memory', async () => {
  const s = await sim();
  const big = makeMessage(1, { attachmentBytes: 3 * 1024 * 1024 });
  const raws = [makeMessage(2), big, makeMessage(3), makeMessage(4)];
  const ids = fill(s, raws);
  const interrupted: string[] = [];
  const transfers: TransferMemory = { resumable: () => undefined, keep: () => false, interrupted: (k) => void interrupted.push(k), forget: () => undefined };
  const src = graphSource(graphConnection(s), new JsonlLogger([]), { transfers });
  try {
    await src.open();
    const cands = await src.listCandidates(100);
    assert.equal(cands[1]!.size, big.length, 'the size comes with the listing');
    s.remove(ids[2]!);
    const got = await fetchAll(src, cands);
    assert.deepEqual(got.map((g) => sha256(g.bytes)), [raws[0]!, big, raws[3]!].map(sha256));
    assert.deepEqual(got.map((g) => g.m.buffered), [true, false, true]);
    s.fault.cutValue(100_000);
    await rejectsWith(fetchAll(src, [cands[1]!]), 'SOURCE_NETWORK');
    assert.deepEqual(interrupted, [cands[1]!.key]);
    // The next request goes out on a fresh connection.
    assert.equal(sha256((await fetchAll(src, [cands[1]!]))[0]!.bytes), sha256(big));
  } finally {
    await src.close();
  }
});

test('with several /$value asked ahead the messages come in listing order, large ones streamed among them, vanished ones skipped; stopping early leaves the source usable', async () => {
  const s = await sim();
  const raws = Array.from({ length: 14 }, (_, i) => (i === 3 || i === 8 ? makeMessage(100 + i, { attachmentBytes: 2 * 1024 * 1024 }) : makeMessage(100 + i)));
  const ids = fill(s, raws);
  const src = graphSource(graphConnection(s), new JsonlLogger([]));
  try {
    await src.open();
    const cands = await src.listCandidates(100);
    s.remove(ids[5]!);
    s.remove(ids[9]!);
    const got = await fetchAll(src, cands);
    const kept = raws.filter((_, i) => i !== 5 && i !== 9);
    assert.deepEqual(got.map((g) => g.m.candidate.key), cands.filter((_, i) => i !== 5 && i !== 9).map((c) => c.key));
    assert.deepEqual(got.map((g) => sha256(g.bytes)), kept.map(sha256));
    assert.deepEqual(got.map((g) => g.m.buffered), kept.map((r) => r.length < 1024 * 1024));
    // Stopped after two, with requests in flight ahead (one of them a large answer): the next fetch is whole.
    const early: string[] = [];
    for await (const m of src.fetch(cands)) {
      await readAll(m.body);
      early.push(m.candidate.key);
      if (early.length === 2) break;
    }
    assert.deepEqual(early, [cands[0]!.key, cands[1]!.key]);
    const again = await fetchAll(src, cands.slice(2, 5));
    assert.deepEqual(again.map((g) => sha256(g.bytes)), raws.slice(2, 5).map(sha256));
  } finally {
    await src.close();
  }
});

test('folders: a well-known name, a path of display names (from the top or under a well-known one); a missing step is SOURCE_MAILBOX_NOT_FOUND naming it', async () => {
  const s = await sim();
  s.createFolder('Inbox/Journal');
  fill(s, [makeMessage(1), makeMessage(2)], 'Inbox/Journal');
  for (const folder of ['Inbox/Journal', 'inbox/journal', 'INBOX/Journal']) {
    const src = graphSource(graphConnection(s, {}, { folder }), new JsonlLogger([]));
    try {
      const session = await src.open();
      assert.equal(session.exists, 2, folder);
      assert.equal((await src.listCandidates(10)).length, 2);
    } finally {
      await src.close();
    }
  }
  const src = graphSource(graphConnection(s, {}, { folder: 'Inbox/Nope' }), new JsonlLogger([]));
  await rejectsWith(src.open(), 'SOURCE_MAILBOX_NOT_FOUND', /no folder "Nope" under "Inbox"/).finally(() => src.close());
  const other = graphSource(graphConnection(s, {}, { mailbox: 'nobody@contoso.onmicrosoft.com' }), new JsonlLogger([]));
  await rejectsWith(other.open(), 'SOURCE_MAILBOX_NOT_FOUND', /no mailbox "nobody@contoso.onmicrosoft.com"/).finally(() => other.close());
});

test('delete policies: delete-and-expunge is permanentDelete, delete moves to Deleted Items, mark-seen marks read, move moves, leave keeps and settled skips', async () => {
  const run = async (extra: Record<string, unknown>): Promise<GraphSimulator> => {
    const s = await sim();
    if (extra.moveTo) s.createFolder(String(extra.moveTo));
    fill(s, [makeMessage(1), makeMessage(2)]);
    const src = graphSource(graphConnection(s, extra), new JsonlLogger([]));
    try {
      await src.open();
      const cands = await src.listCandidates(10);
      await fetchAll(src, cands);
      assert.equal((await src.applyServerAction(cands)).length, 2, JSON.stringify(extra));
      // Actioned twice (an answer lost, a restart): the 404s count as done.
      if (extra.deletePolicy !== 'mark-seen' && extra.deletePolicy !== 'leave') assert.equal((await src.applyServerAction(cands)).length, 2);
    } finally {
      await src.close();
    }
    return s;
  };
  const expunged = await run({ deletePolicy: 'delete-and-expunge' });
  assert.equal(expunged.messages('inbox').length, 0);
  assert.equal(expunged.messages('deleteditems').length, 0);
  assert.equal(expunged.count('permanentDelete'), 2);
  const deleted = await run({ deletePolicy: 'delete' });
  assert.equal(deleted.messages('inbox').length, 0);
  assert.equal(deleted.messages('deleteditems').length, 2);
  const seen = await run({ deletePolicy: 'mark-seen', unseenOnly: true });
  assert.deepEqual(seen.messages('inbox').map((m) => m.isRead), [true, true]);
  const moved = await run({ deletePolicy: 'move', moveTo: 'Inbox/Done' });
  assert.equal(moved.messages('inbox').length, 0);
  assert.equal(moved.messages('Inbox/Done').length, 2);
  const left = await run({ deletePolicy: 'leave' });
  assert.equal(left.messages('inbox').length, 2);
  const src = graphSource(graphConnection(left, { deletePolicy: 'leave' }), new JsonlLogger([]));
  try {
    await src.open();
    const all = await src.listCandidates(10);
    const rest = await src.listCandidates(10, undefined, async (keys) => new Set(keys.filter((k) => k === all[0]!.key)));
    assert.deepEqual(rest.map((c) => c.key), [all[1]!.key]);
  } finally {
    await src.close();
  }
});

test('unseenOnly lists unread messages only; markFailed marks them read so the next listing skips them', async () => {
  const s = await sim();
  fill(s, [makeMessage(1)], 'inbox', true);
  fill(s, [makeMessage(2), makeMessage(3)]);
  const src = graphSource(graphConnection(s, { unseenOnly: true }), new JsonlLogger([]));
  try {
    await src.open();
    const cands = await src.listCandidates(10);
    assert.equal(cands.length, 2);
    await src.markFailed(cands.slice(0, 1));
    assert.deepEqual((await src.listCandidates(10)).map((c) => c.key), [cands[1]!.key]);
  } finally {
    await src.close();
  }
});

test('the connection test: resolve, token, connect, tls, auth, mailbox, count; each failure at its step with its code', async () => {
  const s = await sim({ apps: [{ tenant: GRAPH_TENANT.id, clientId: GRAPH_CLIENT_ID, clientSecret: GRAPH_CLIENT_SECRET }, { tenant: GRAPH_TENANT.id, clientId: 'c0ffee00-0000-4000-8000-000000000001', clientSecret: 'other-secret', mailboxes: ['someone@contoso.onmicrosoft.com'] }] });
  fill(s, [makeMessage(1), makeMessage(2)]);
  const logger = new JsonlLogger([]);
  const ok = await probeGraph(graphConnection(s), logger, undefined, graphRuntime(graphConnection(s), logger));
  assert.equal(ok.ok, true, JSON.stringify(ok.steps));
  assert.deepEqual(ok.steps.map((x) => x.step), ['resolve', 'token', 'connect', 'tls', 'auth', 'mailbox', 'count']);
  assert.match(ok.steps[1]!.detail, /client credentials grant/);
  assert.equal(ok.messages, 2);
  const failing = async (graph: Record<string, unknown>, step: string, code: string, text: RegExp, extra: Record<string, unknown> = {}): Promise<void> => {
    const conn = graphConnection(s, extra, graph);
    const r = await probeGraph(conn, logger, undefined, graphRuntime(conn, logger));
    const last = r.steps.at(-1)!;
    assert.equal(r.ok, false);
    assert.deepEqual([last.step, last.code], [step, code], last.detail);
    assert.match(last.detail, text);
    assert.ok(!last.detail.includes('other-secret') && !last.detail.includes(GRAPH_CLIENT_SECRET));
  };
  await failing({ clientSecret: 'wrong' }, 'token', 'SOURCE_AUTH_REJECTED', /refused to issue a token/);
  await failing({ mailbox: 'nobody@contoso.onmicrosoft.com' }, 'mailbox', 'SOURCE_MAILBOX_NOT_FOUND', /no mailbox/);
  await failing({ folder: 'Archive/Nope' }, 'mailbox', 'SOURCE_MAILBOX_NOT_FOUND', /no folder "Nope"/);
  await failing({ clientId: 'c0ffee00-0000-4000-8000-000000000001', clientSecret: 'other-secret' }, 'auth', 'SOURCE_AUTH_REJECTED', /HTTP 403.*Mail\.ReadWrite/);
  await failing({}, 'token', 'SOURCE_TLS_UNTRUSTED', /not trusted|certificate/, { tls: { verify: true } });
});

test('with leave and a sync-state store the listing is a delta query: the link advances only past settled pages, a later listing asks from it, an expired one starts over', async () => {
  const s = await sim();
  const ids = fill(s, [1, 2, 3].map((i) => makeMessage(i)));
  const states = new MemorySyncStateStore();
  const done = new Set<string>();
  const settled = async (keys: string[]): Promise<Set<string>> => new Set(keys.filter((k) => done.has(k)));
  const { logger, lines } = capture();
  const src = graphSource(graphConnection(s, { deletePolicy: 'leave' }), logger, { syncState: states });
  try {
    await src.open();
    const first = await src.listCandidates(10, undefined, settled);
    assert.deepEqual(first.map((c) => c.key), ids.map((id) => `graph:${id}`), 'oldest first');
    assert.equal(await states.get('journal', `${GRAPH_MAILBOX}/inbox`), undefined, 'nothing settled: the link stays where it was');
    for (const c of first) done.add(c.key);
    assert.deepEqual(await src.listCandidates(10, undefined, settled), []);
    const link = await states.get('journal', `${GRAPH_MAILBOX}/inbox`);
    assert.match(link ?? '', /\$deltatoken=/, 'the deltaLink is durable once every message is settled');
    const fourth = fill(s, [makeMessage(4)])[0]!;
    const before = s.count('delta');
    assert.deepEqual((await src.listCandidates(10, undefined, settled)).map((c) => c.key), [`graph:${fourth}`]);
    assert.equal(s.count('delta') - before, 1, 'one page from the stored link, not the whole folder');
    s.fault.expireDeltaTokens();
    assert.deepEqual((await src.listCandidates(10, undefined, settled)).map((c) => c.key), [`graph:${fourth}`], 'a full round again, what was taken skipped');
    assert.ok(lines.some((l) => l.includes('no longer knows the stored delta link')));
  } finally {
    await src.close();
  }
});
