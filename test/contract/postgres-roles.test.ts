/**
 * The archive roles of the PostgreSQL store (legal holds, retention's purge, verify's index side,
 * the STARTTLS memory) against the same contract suites as SQLite, each test in a fresh schema of
 * a real server (test/harness/postgres.ts). Plus what only PostgreSQL has: the holds' trigger,
 * two workers' STARTTLS memories, a purge and a group commit of the same bytes at once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { createPostgresStore, type PostgresStore } from '../../src/adapters/store-postgres/index.js';
import { freshSchema, type TestSchema } from '../harness/postgres.js';
import { runHoldStoreContract } from './hold-store.contract.js';
import { runRetentionStoreContract } from './retention-store.contract.js';
import { runArchiveCheckContract } from './archive-check.contract.js';
import { runTlsMemoryContract } from './tls-memory.contract.js';
import { commitAndList, parsedOk, sha, taken, withRoles, type ArchiveRolesFactory, type QueuedDelivery } from './store-harness.js';

const open = (s: TestSchema): Promise<PostgresStore> => createPostgresStore({ url: s.url, schema: s.schema, poolSize: 4 });

const rolesFactory: ArchiveRolesFactory = async () => {
  const s = await freshSchema();
  const store = await open(s);
  const q = (sql: string, values: unknown[]): Promise<unknown[]> => store.connection.query(sql, values, 'setting the scene', true);
  return {
    store,
    holds: store.holds,
    retention: store.retention,
    check: store.check,
    deliveries: () => store.connection.query<QueuedDelivery>('SELECT id, message_id AS "messageId", route, next_at AS "dueAt", created_at AS "createdAt" FROM deliveries ORDER BY id', [], 'reading the outbox'),
    async deliveryDone(ids) {
      await q("UPDATE deliveries SET state = 'done' WHERE id = ANY($1::text[])", [ids]);
    },
    async mergeInto(id, primary, original) {
      await q('UPDATE messages SET journal_original = $1 WHERE id IN ($2, $3)', [original, id, primary]);
      await q('UPDATE messages SET merged_into = $1 WHERE id = $2', [primary, id]);
    },
    async cleanup() {
      await store.close();
      await s.drop();
    },
  };
};

runHoldStoreContract('postgres', rolesFactory);
runRetentionStoreContract('postgres', rolesFactory);
runArchiveCheckContract('postgres', rolesFactory);

runTlsMemoryContract('postgres', async () => {
  const s = await freshSchema();
  let store = await open(s);
  return {
    memory: store.tls,
    ledger: store,
    async reopen() {
      await store.close();
      store = await open(s);
      return { memory: store.tls, ledger: store };
    },
    async cleanup() {
      await store.close();
      await s.drop();
    },
  };
});

test('postgres holds: the table keeps every hold and lets only its release be written, once, whoever asks', () =>
  withRoles(rolesFactory, async (h) => {
    const [a] = await commitAndList(h, [taken('c', 1)]);
    const base = { reason: 'r', query: null, ids: [a!], placedBy: 'x', placedAt: 1, releasedBy: null, releasedAt: null, releaseReason: null };
    await h.holds.placeHold({ name: 'kept', ...base });
    await h.holds.placeHold({ name: 'gone', ...base });
    await h.holds.releaseHold('gone', { by: 'x', at: 2, reason: 'done' });
    const store = h.store as unknown as PostgresStore;
    const c = new pg.Client({ connectionString: store.connection.options.url, options: `-c search_path=${store.connection.options.schema}` });
    await c.connect();
    try {
      await assert.rejects(c.query("DELETE FROM legal_holds WHERE name = 'gone'"), /kept for the record/);
      await assert.rejects(c.query("UPDATE legal_holds SET released_at = NULL WHERE name = 'gone'"), /only ever released, once/);
      await assert.rejects(c.query("UPDATE legal_holds SET ids = '{}' WHERE name = 'kept'"), /only ever released, once/);
    } finally {
      await c.end();
    }
    assert.deepEqual((await h.holds.getHold('kept'))?.ids, [a]);
  }));

test('postgres STARTTLS memory: what one worker records another sees at its next refresh; a reset likewise', async () => {
  const s = await freshSchema();
  const [one, two] = [await open(s), await open(s)];
  try {
    one.tls.setTlsOffered('journal', true);
    await one.tls.flush();
    assert.equal(two.tls.tlsOffered('journal'), false, 'read at its start, before');
    await two.tls.refresh();
    assert.equal(two.tls.tlsOffered('journal'), true);
    two.tls.setTlsOffered('journal', false);
    await two.tls.flush();
    await one.tls.refresh();
    assert.equal(one.tls.tlsOffered('journal'), false);
  } finally {
    await one.close();
    await two.close();
    await s.drop();
  }
});

test('postgres retention: a purge and a group commit of the same bytes at once leave the message and its blob row', async () => {
  const s = await freshSchema();
  const [purger, drainer] = [await open(s), await open(s)];
  try {
    await drainer.commitTaken([taken('a', 1)]);
    const [m1] = (await purger.listUnparsed(10)).map((m) => m.id);
    await purger.saveParsed([{ id: m1!, outcome: parsedOk() }]);
    await purger.markActionDone('a', ['imap:INBOX:1:1']);
    const entry = () => ({ at: 1, who: 't', origin: 't', action: 'archive.purge', detail: {} });
    // Connection b takes the same bytes while a's message is purged: either order, never a message without its blob row.
    const [r] = await Promise.all([purger.retention.purgeBatch([m1!], entry), drainer.commitTaken([taken('b', 2, 1)])]);
    assert.deepEqual(r.purged.map((p) => p.id), [m1]);
    const left = await purger.check.messagesOf([sha(1)]);
    assert.deepEqual(left.map((m) => m.connection), ['b']);
    assert.equal((await purger.check.catalogueRowsOf([sha(1)])).length, 1, 'the catalogue row is there for b');
  } finally {
    await purger.close();
    await drainer.close();
    await s.drop();
  }
});

test("postgres retention: a blob another worker purged is forgotten by this worker's hasBlob at the commit that misses its row", async () => {
  const s = await freshSchema();
  const [drainer, purger] = [await open(s), await open(s)];
  try {
    await drainer.commitTaken([taken('a', 1)]);
    const [m1] = (await purger.listUnparsed(10)).map((m) => m.id);
    await purger.saveParsed([{ id: m1!, outcome: parsedOk() }]);
    await purger.markActionDone('a', ['imap:INBOX:1:1']);
    await purger.retention.purgeBatch([m1!], () => ({ at: 1, who: 't', origin: 't', action: 'archive.purge', detail: {} }));
    assert.equal(drainer.hasBlob(sha(1)), true, 'this worker stored it and was not told');
    // Its bytes come back under connection b: the record says "stored already" and has no blob row to point at.
    await assert.rejects(drainer.commitTaken([taken('b', 2, 1, { blob: false })]), /STORE_WRITE_FAILED|refused/);
    assert.equal(drainer.hasBlob(sha(1)), false, 'forgotten: the next attempt stores the bytes');
    await drainer.commitTaken([taken('b', 2, 1)]);
    assert.deepEqual((await drainer.check.messagesOf([sha(1)])).map((m) => m.connection), ['b']);
    assert.equal(purger.hasBlob(sha(1)), false);
  } finally {
    await drainer.close();
    await purger.close();
    await s.drop();
  }
});
