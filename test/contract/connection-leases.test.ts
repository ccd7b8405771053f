/**
 * The connection leases' contract run against PostgreSQL (adapters/store-postgres, a fresh schema
 * per test; the fenced commit is `commitTaken` itself) and the in-memory reference adapter. Plus
 * what only PostgreSQL shows: the token recorded with each message row, a refused commit storing
 * nothing, and a grant waiting for a fenced commit under way (no takeover between its check and
 * its COMMIT).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { createPostgresStore, type PostgresStore } from '../../src/adapters/store-postgres/index.js';
import { isMailsluiceError, MailsluiceError } from '../../src/core/errors/index.js';
import { freshSchema, type TestSchema } from '../harness/postgres.js';
import { MemoryConnectionLeases } from '../reference/memory-connection-leases.js';
import { runConnectionLeasesContract } from './connection-leases.contract.js';
import { taken } from './store-harness.js';

async function openStore(): Promise<{ store: PostgresStore; schema: TestSchema; cleanup(): Promise<void> }> {
  const schema = await freshSchema();
  const store = await createPostgresStore({ url: schema.url, schema: schema.schema, poolSize: 10 });
  return {
    store,
    schema,
    async cleanup() {
      await store.close();
      await schema.drop();
    },
  };
}

runConnectionLeasesContract('postgres', async () => {
  const h = await openStore();
  let uid = 0;
  return {
    leases: h.store.leases,
    commitUnder: async (fence) => {
      uid++;
      await h.store.commitTaken([taken(fence.key, uid)], { connection: fence.key, mailbox: 'INBOX', uidValidity: 1, lastUid: uid }, fence);
    },
    cleanup: h.cleanup,
  };
});

runConnectionLeasesContract('memory', async () => {
  const leases = new MemoryConnectionLeases();
  return {
    leases,
    commitUnder: async (fence) => {
      if (!leases.fenceHolds(fence)) throw new MailsluiceError('LEASE_LOST', `the lease on ${fence.key} under token ${fence.token} is lost`);
    },
    cleanup: async () => undefined,
  };
});

/** The rows of `messages` with their lease tokens, in id order. */
async function tokenRows(s: TestSchema): Promise<Array<{ connection: string; uid: number; lease_token: number | null }>> {
  const c = new pg.Client({ connectionString: s.url, options: `-c search_path=${s.schema}` });
  await c.connect();
  try {
    return (await c.query('SELECT connection, uid::int AS uid, lease_token::int AS lease_token FROM messages ORDER BY id')).rows;
  } finally {
    await c.end();
  }
}

test('postgres fencing: the token is recorded with each message; a commit under a lost token stores nothing, not even its watermark', async () => {
  const h = await openStore();
  try {
    const { store } = h;
    const t1 = (await store.leases.acquire('c', 'w1', 1000))!;
    await store.commitTaken([taken('c', 1), taken('c', 2)], { connection: 'c', mailbox: 'INBOX', uidValidity: 1, lastUid: 2 }, { key: 'c', token: t1 });
    await store.commitTaken([taken('c', 3)]); // no fence (the embedded way): no token
    await new Promise((r) => setTimeout(r, 1200));
    const t2 = (await store.leases.acquire('c', 'w2', 60_000))!;
    await assert.rejects(
      store.commitTaken([taken('c', 4), taken('c', 5)], { connection: 'c', mailbox: 'INBOX', uidValidity: 1, lastUid: 5 }, { key: 'c', token: t1 }),
      (e: unknown) => isMailsluiceError(e, 'LEASE_LOST') && /token/.test(e.message),
    );
    await assert.rejects(store.commitTaken([], { connection: 'c', mailbox: 'INBOX', uidValidity: 1, lastUid: 9 }, { key: 'c', token: t1 }), (e: unknown) => isMailsluiceError(e, 'LEASE_LOST'), 'a watermark alone is fenced too');
    assert.deepEqual(await store.getWatermark('c', 'INBOX'), { uidValidity: 1, lastUid: 2 });
    assert.deepEqual(await store.lookupTaken('c', ['imap:INBOX:1:4', 'imap:INBOX:1:5']), new Set());
    assert.equal(store.hasBlob(taken('c', 4).sha256), false);
    await store.commitTaken([taken('c', 4)], undefined, { key: 'c', token: t2 });
    assert.deepEqual(await tokenRows(h.schema), [
      { connection: 'c', uid: 1, lease_token: t1 },
      { connection: 'c', uid: 2, lease_token: t1 },
      { connection: 'c', uid: 3, lease_token: null },
      { connection: 'c', uid: 4, lease_token: t2 },
    ]);
  } finally {
    await h.cleanup();
  }
});

test('postgres fencing: a takeover waits for a fenced commit that checked its lease, so every commit under a token precedes the next grant', async () => {
  const h = await openStore();
  const c = new pg.Client({ connectionString: h.schema.url, options: `-c search_path=${h.schema.schema}` });
  await c.connect();
  try {
    const t1 = (await h.store.leases.acquire('c', 'w1', 1000))!;
    // A commit's transaction that passed its fence check and has not committed yet.
    await c.query('BEGIN');
    assert.equal((await c.query('SELECT 1 FROM connection_leases WHERE key = $1 AND token = $2 AND expires_at > clock_timestamp() FOR SHARE', ['c', t1])).rowCount, 1);
    await new Promise((r) => setTimeout(r, 1200)); // the lease expires meanwhile
    let granted: number | null | undefined;
    const takeover = h.store.leases.acquire('c', 'w2', 60_000).then((t) => (granted = t));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(granted, undefined, 'the grant waits for the commit');
    await c.query('COMMIT');
    await takeover;
    assert.ok(granted! > t1, 'and is made right after it');
  } finally {
    await c.end();
    await h.cleanup();
  }
});
