/**
 * The store roles' contract suites run against the PostgreSQL adapter (adapters/store-postgres),
 * each test in a fresh schema of a real server (test/harness/postgres.ts), the outbox read from
 * its `deliveries` table. Plus what only PostgreSQL has: migrations once under an advisory lock,
 * the append-only trigger, and the connection errors as catalogue codes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { createPostgresStore, PostgresConnection, POSTGRES_MIGRATIONS, type PostgresStore } from '../../src/adapters/store-postgres/index.js';
import { isMailsluiceError } from '../../src/core/errors/index.js';
import { freshSchema, restartPrivatePostgres, startPrivatePostgres, stopPrivatePostgres, pgAnswers, type TestSchema } from '../harness/postgres.js';
import { freePort } from '../harness/free-port.js';
import { runSyncStateStoreContract } from './sync-state-store.contract.js';
import { runTokenStoreContract } from './token-store.contract.js';
import { runAuditLogContract } from './audit-log.contract.js';
import { runDrainLedgerContract } from './drain-ledger.contract.js';
import { runParseQueueContract } from './parse-queue.contract.js';
import { runArchiveReaderContract } from './archive-reader.contract.js';
import { runSearchIndexContract } from './search-index.contract.js';
import { commitAndList, parsedOk, taken, withStore, type QueuedDelivery, type StoreFactory } from './store-harness.js';
import { textQuery } from '../harness/search-text.js';

const COLUMN: Record<string, string> = { at: 'at', who: 'who', origin: 'origin', action: 'action', detail: 'detail', prevHash: 'prev_hash', hash: 'hash' };

/** A store in a fresh schema; cleanup closes it and drops the schema. */
async function openStore(): Promise<{ store: PostgresStore; schema: TestSchema; cleanup(): Promise<void> }> {
  const schema = await freshSchema();
  const store = await createPostgresStore({ url: schema.url, schema: schema.schema, poolSize: 4 });
  return {
    store,
    schema,
    async cleanup() {
      await store.close();
      await schema.drop();
    },
  };
}

/** Runs `sql` on a connection of its own in `schema`, as someone with the database's credentials would. */
async function asOwner(s: TestSchema, fn: (c: pg.Client) => Promise<void>): Promise<void> {
  const c = new pg.Client({ connectionString: s.url, options: `-c search_path=${s.schema}` });
  await c.connect();
  try {
    await fn(c);
  } finally {
    await c.end();
  }
}

runSyncStateStoreContract('postgres', async () => {
  const h = await openStore();
  let store = h.store;
  return {
    states: store.syncState,
    async reopen() {
      await store.close();
      store = await createPostgresStore({ url: h.schema.url, schema: h.schema.schema });
      return store.syncState;
    },
    async cleanup() {
      await store.close();
      await h.schema.drop();
    },
  };
});

runTokenStoreContract('postgres', async () => {
  const h = await openStore();
  return { tokens: h.store.tokens, cleanup: h.cleanup };
});

runAuditLogContract('postgres', async () => {
  const h = await openStore();
  return {
    log: h.store.audit,
    async alter(seq, fields) {
      await asOwner(h.schema, async (c) => {
        await c.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change');
        for (const [k, v] of Object.entries(fields)) await c.query(`UPDATE audit_log SET ${COLUMN[k]} = $1 WHERE seq = $2`, [v, seq]);
      });
    },
    async remove(seq) {
      await asOwner(h.schema, async (c) => {
        await c.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change');
        await c.query('DELETE FROM audit_log WHERE seq = $1', [seq]);
      });
    },
    cleanup: h.cleanup,
  };
});

test('postgres audit log: the table refuses UPDATE and DELETE from a connection of its own', async () => {
  const h = await openStore();
  try {
    await h.store.audit.append({ at: 1, who: 'ops', origin: 'cli', action: 'archive.search', detail: {} });
    await asOwner(h.schema, async (c) => {
      await assert.rejects(c.query("UPDATE audit_log SET who = 'x'"), /append-only/);
      await assert.rejects(c.query('DELETE FROM audit_log'), /append-only/);
    });
    assert.equal((await h.store.audit.list())[0]!.who, 'ops');
  } finally {
    await h.cleanup();
  }
});

test('postgres: workers starting at once on an empty schema all open it; exactly one migrates', async () => {
  const s = await freshSchema();
  const conns = Array.from({ length: 4 }, () => new PostgresConnection({ url: s.url, schema: s.schema, poolSize: 1 }));
  try {
    const applied = await Promise.all(conns.map((c) => c.migrate()));
    assert.deepEqual([...applied].sort(), [0, 0, 0, POSTGRES_MIGRATIONS.length], `applied per worker: ${applied.join(', ')}`);
    const rows = await conns[0]!.query<{ version: number }>('SELECT version FROM schema_version ORDER BY version', [], 'test');
    assert.deepEqual(rows.map((r) => r.version), POSTGRES_MIGRATIONS.map((_, i) => i + 1));
    assert.equal(await conns[1]!.migrate(), 0, 'opened again: nothing to do');
  } finally {
    for (const c of conns) await c.close();
    await s.drop();
  }
});

test('postgres: a schema that does not exist yet is created by the first start', async () => {
  const s = await freshSchema();
  await s.drop();
  try {
    const store = await createPostgresStore({ url: s.url, schema: s.schema });
    try {
      await store.syncState.put('j', 'INBOX', 'S');
      assert.equal(await store.syncState.get('j', 'INBOX'), 'S');
    } finally {
      await store.close();
    }
  } finally {
    await s.drop();
  }
});

test('postgres: nothing listening, an unknown database, a refused user are STORE_UNAVAILABLE with a reason', async () => {
  const s = await freshSchema();
  const u = new URL(s.url);
  const port = await freePort();
  const cases: Array<[string, string, boolean]> = [
    [`postgres://postgres@127.0.0.1:${port}/test`, 'unreachable', true],
    [`postgres://postgres@${u.host}/no_such_db_${s.schema}`, 'no-such-database', false],
  ];
  await asOwner(s, async (c) => {
    await c.query(`CREATE ROLE ${s.schema}_nologin NOLOGIN`);
  });
  cases.push([`postgres://${s.schema}_nologin@${u.host}/test`, 'auth-failed', false]);
  try {
    for (const [url, reason, retryable] of cases) {
      await assert.rejects(createPostgresStore({ url, schema: s.schema, connectTimeoutMs: 3000 }), (e: unknown) => {
        assert.ok(isMailsluiceError(e), String(e));
        assert.equal(e.code, 'STORE_UNAVAILABLE', e.message);
        assert.equal(e.details?.['reason'], reason, e.message);
        assert.equal(e.retryable, retryable, e.message);
        assert.match(e.message, /127\.0\.0\.1:\d+\//, 'the sentence names the server');
        return true;
      });
    }
  } finally {
    await asOwner(s, async (c) => {
      await c.query(`DROP ROLE ${s.schema}_nologin`);
    });
    await s.drop();
  }
});

const storeFactory: StoreFactory = async (options = {}) => {
  const s = await freshSchema();
  const store = await createPostgresStore({ url: s.url, schema: s.schema, poolSize: 4, ...options });
  return {
    store,
    async deliveries() {
      const rows = await store.connection.query<QueuedDelivery>(
        'SELECT id, message_id AS "messageId", route, next_at AS "dueAt", created_at AS "createdAt" FROM deliveries ORDER BY id',
        [],
        'reading the outbox',
      );
      return rows;
    },
    async cleanup() {
      await store.close();
      await s.drop();
    },
  };
};

runDrainLedgerContract('postgres', storeFactory);
runParseQueueContract('postgres', storeFactory);
runSearchIndexContract('postgres', storeFactory);
runArchiveReaderContract('postgres', storeFactory);

test('postgres drain ledger: a group that fails part way commits nothing of it', () =>
  withStore(storeFactory, async (h) => {
    await h.store.commitTaken([taken('c', 1)]);
    // Message 3 is a duplicate of bytes no record of the group stored: its row cannot reference a
    // blob, so the group fails; messages 2 and 4, written in the same transaction, must not stay.
    await assert.rejects(h.store.commitTaken([taken('c', 2), taken('c', 3, 3, { blob: false }), taken('c', 4)], { connection: 'c', mailbox: 'INBOX', uidValidity: 1, lastUid: 4 }), (e: unknown) => isMailsluiceError(e, 'STORE_WRITE_FAILED'));
    assert.deepEqual(await h.store.lookupTaken('c', ['imap:INBOX:1:1', 'imap:INBOX:1:2', 'imap:INBOX:1:3', 'imap:INBOX:1:4']), new Set(['imap:INBOX:1:1']));
    assert.equal(h.store.hasBlob(taken('c', 2).sha256), false, 'a blob of a rolled-back group is not known');
    assert.equal(await h.store.getWatermark('c', 'INBOX'), null);
    const s = await h.store.stats();
    assert.deepEqual([s.messages, s.blobs], [1, 1]);
  }));

test('postgres drain ledger: two workers committing overlapping groups at once both succeed, each message once', async () => {
  const s = await freshSchema();
  const a = await createPostgresStore({ url: s.url, schema: s.schema, poolSize: 2 });
  const b = await createPostgresStore({ url: s.url, schema: s.schema, poolSize: 2 });
  try {
    // The same bytes from two connections, in opposite orders: one blob row each, no deadlock.
    const group = (connection: string, order: number[]) => order.map((n) => taken(connection, n));
    const up = Array.from({ length: 64 }, (_, i) => i + 1);
    await Promise.all([a.commitTaken(group('c', up)), b.commitTaken(group('d', [...up].reverse()))]);
    const st = await a.stats();
    assert.deepEqual([st.blobs, st.messages, st.connections['c']?.messages, st.connections['d']?.messages], [64, 128, 64, 64]);
  } finally {
    await a.close();
    await b.close();
    await s.drop();
  }
});

test('postgres: a store outlives a server restart (STORE_UNAVAILABLE, retryable, while it is down); the private server stops by its PID', async () => {
  const server = await startPrivatePostgres();
  try {
    const store = await createPostgresStore({ url: server.url, schema: 'ms_restart', poolSize: 2, connectTimeoutMs: 2000 });
    try {
      await store.commitTaken([taken('c', 1)]);
      await restartPrivatePostgres(server, async () => {
        await assert.rejects(store.lookupTaken('c', ['imap:INBOX:1:1']), (e: unknown) => isMailsluiceError(e, 'STORE_UNAVAILABLE') && e.retryable);
        await assert.rejects(store.commitTaken([taken('c', 2)]), (e: unknown) => isMailsluiceError(e, 'STORE_UNAVAILABLE') && e.retryable);
      });
      // The pool's connections died with the server; the next query opens a new one.
      assert.deepEqual(await store.lookupTaken('c', ['imap:INBOX:1:1', 'imap:INBOX:1:2']), new Set(['imap:INBOX:1:1']), 'what committed before is there, the refused group is not');
      await store.commitTaken([taken('c', 2)]);
      assert.equal((await store.stats()).messages, 2);
    } finally {
      await store.close();
    }
  } finally {
    await stopPrivatePostgres(server);
  }
  assert.equal(await pgAnswers(server.url), false, 'stopped');
  assert.throws(() => process.kill(server.pid!, 0), 'the postmaster is gone');
});

test('postgres parse queue: ids follow the commit order across workers, so paging by afterId (as the index stage does) misses no message', async () => {
  const s = await freshSchema();
  const [a, b] = await Promise.all([1, 2].map(() => createPostgresStore({ url: s.url, schema: s.schema, poolSize: 2 })));
  const holder = new pg.Client({ connectionString: s.url, options: `-c search_path=${s.schema}` });
  await holder.connect();
  try {
    await a!.commitTaken([], { connection: 'a', mailbox: 'INBOX', uidValidity: 1, lastUid: 0 });
    // Worker a's group is held after its messages got their ids (its watermark row is locked
    // here), while worker b commits a group of its own.
    await holder.query('BEGIN');
    await holder.query(`SELECT 1 FROM mailbox_state WHERE connection = 'a' FOR UPDATE`);
    const first = a!.commitTaken(Array.from({ length: 8 }, (_, i) => taken('a', i + 1)), { connection: 'a', mailbox: 'INBOX', uidValidity: 1, lastUid: 8 });
    await new Promise((r) => setTimeout(r, 300));
    const second = b!.commitTaken(Array.from({ length: 8 }, (_, i) => taken('b', i + 1, i + 101)));
    await new Promise((r) => setTimeout(r, 300));
    // The index stage reads a page now; then everything commits and it reads on after that page.
    const early = await a!.listUnparsed(100);
    await holder.query('COMMIT');
    await Promise.all([first, second]);
    const later = await a!.listUnparsed(100, early.at(-1)?.id ?? 0);
    assert.equal(early.length + later.length, 16, `read ${early.length} early (ids ${early.map((m) => m.id).join(',')}) and ${later.length} after`);
  } finally {
    await holder.end();
    await a!.close();
    await b!.close();
    await s.drop();
  }
});

test('postgres search rebuild: a new index is current; rebuilt rows and their progress are written together; a purged message gets no row back', () =>
  withStore(storeFactory, async (h) => {
    const store = h.store as PostgresStore;
    const rebuild = store.searchRebuild;
    assert.deepEqual(await rebuild.buildState(), { version: rebuild.indexVersion, rebuild: null }, 'every row was written by this format');
    assert.deepEqual(await store.indexProgress(), { rebuilding: false, done: 0, total: 0 });
    const [a, b, c] = await commitAndList(h, [taken('c', 1), taken('c', 2), taken('c', 3)]);
    await store.saveParsed([{ id: a!, outcome: parsedOk({ TextBody: 'old words' }) }, { id: b!, outcome: parsedOk() }]);
    assert.deepEqual(await rebuild.rebuildScope(), { end: b, total: 2 }, 'the parsed messages only');
    assert.deepEqual((await rebuild.listIndexed(0, b!, 10)).map((m) => m.id), [a, b]);
    assert.deepEqual((await rebuild.listIndexed(a!, c!, 10)).map((m) => m.id), [b], 'after the last done, parsed only');
    const progress = { target: rebuild.indexVersion + 1, after: a!, end: b!, done: 1, total: 2 };
    // Message c's row is asked for though it is gone by then (purged): it is not written.
    await store.connection.query('DELETE FROM source_keys WHERE message_id = $1', [c], 'test');
    await store.connection.query('DELETE FROM messages WHERE id = $1', [c], 'test');
    const entry = (id: number, body: string) => ({ id, subject: '', from: '', to: '', cc: '', bcc: '', body, attachmentNames: '', hasAttachments: false });
    await rebuild.writeRebuilt([entry(a!, 'rebuilt text'), entry(c!, 'ghost')], { version: rebuild.indexVersion, rebuild: progress });
    assert.deepEqual(await rebuild.buildState(), { version: rebuild.indexVersion, rebuild: progress });
    assert.deepEqual(await store.indexProgress(), { rebuilding: true, done: 1, total: 2 });
    assert.deepEqual((await store.search({ query: textQuery('rebuilt') })).map((x) => x.id), [a]);
    assert.deepEqual((await store.search({ query: textQuery('old') })).map((x) => x.id), [], 'the row was replaced');
    assert.deepEqual((await store.connection.query<{ id: number }>('SELECT id FROM message_search ORDER BY id', [], 'test')).map((r) => r.id), [a, b]);
    await rebuild.writeRebuilt([], { version: rebuild.indexVersion, rebuild: null });
    assert.deepEqual(await store.indexProgress(), { rebuilding: false, done: 0, total: 0 });
  }));

test('postgres search: a body past tsvector limits (positions, per-word positions) is saved and its words found; a count out of time says so', () =>
  withStore(storeFactory, async (h) => {
    const [a, b] = await commitAndList(h, [taken('c', 1), taken('c', 2)]);
    // 30,000 words: positions past 16,383 and the same word more than 256 times.
    const body = `${Array.from({ length: 30_000 }, (_, i) => (i % 2 ? 'filler' : `w${i % 500}`)).join(' ')} lastword`;
    await h.store.saveParsed([{ id: a!, outcome: parsedOk({ TextBody: body }) }, { id: b!, outcome: parsedOk({ TextBody: 'Café naïve ёлка e-mail' }) }]);
    assert.deepEqual((await h.store.search({ query: textQuery('lastword') })).map((x) => x.id), [a]);
    assert.deepEqual((await h.store.search({ query: textQuery('filler w498') })).map((x) => x.id), [a]);
    assert.deepEqual((await h.store.search({ query: textQuery('cafe "naive елка"') })).map((x) => x.id), [], 'ё is not е in an exact phrase');
    assert.deepEqual((await h.store.search({ query: textQuery('CAFE "naive ёлка" "e mail"') })).map((x) => x.id), [b], 'Latin diacritics folded, words cut as unicode61 cuts them');
    const q = { query: textQuery('filler OR naive') };
    assert.deepEqual(await h.store.count(q, 60_000), { total: 2, more: false }, 'in time: exact');
    // A 1 ms budget: whether it runs out (then counted again up to a page) or not, fewer than a page match: exact.
    const quick = await h.store.count({ query: textQuery('"filler w2" OR "filler w4" OR "filler w6"') }, 0.001);
    assert.deepEqual(quick, { total: 1, more: false });
  }));
