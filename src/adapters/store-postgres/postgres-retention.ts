/**
 * The purge's side of the PostgreSQL store (`RetentionStore`; docs/retention.md): the messages a
 * page at a time with the facts the policy reads, and a batch removed in one transaction with its
 * audit record, as store-sqlite's `SqliteRetention` does. The policy (what expired, what a hold
 * keeps) is the core's (`app/purge.ts`, `core/archive/retention.ts`); this file only says why a row
 * is busy and removes what it is given.
 *
 * Several workers share the database, so the batch's transaction excludes what SQLite's single
 * writer excluded by itself: the parse save's merge (the batch's journal keys locked, as the
 * parse queue locks them), any other write to the batch's rows (`FOR UPDATE`, then "busy"
 * judged in a statement of its own, so it sees what the writers it waited for committed), and
 * group commits (`ID_ORDER_LOCK`, taken first: a batch of 500 holds the drain's commits for a few
 * milliseconds) so no commit refers to a catalogue row while it goes.
 */
import type pg from 'pg';
import type { AuditEntry } from '../../core/ports/audit-log.js';
import type { DatabaseSpace, PurgeBatchResult, PurgedMessage, RetentionRow, RetentionStore } from '../../core/ports/retention-store.js';
import { messageAddresses } from '../../core/archive/retention.js';
import { parseSavedAttributes } from '../../core/message/parsed-record.js';
import type { PostgresConnection } from './postgres-connection.js';
import type { PostgresAuditLog } from './postgres-audit-log.js';
import { ID_ORDER_LOCK } from './postgres-drain-ledger.js';
import { journalLockKey, lockJournalKeys } from './postgres-parse-queue.js';

/**
 * Why message `m` may not go now: not parsed yet, its server action not done, a delivery pending
 * or a server response not applied yet (`pending`); another journal report merged into it (`linked`).
 */
const BUSY = `CASE
    WHEN m.parse_state = 0 THEN 'pending'
    WHEN EXISTS (SELECT 1 FROM source_keys k WHERE k.message_id = m.id AND k.action_state = 0) THEN 'pending'
    WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id
                 AND (d.state = 'pending' OR (d.response IS NOT NULL AND d.response_result IS NULL))) THEN 'pending'
    WHEN m.journal_original IS NOT NULL AND EXISTS (SELECT 1 FROM messages x
                 WHERE x.merged_into = m.id AND x.connection = m.connection AND x.journal_original = m.journal_original) THEN 'linked'
    ELSE NULL END`;

/** The tables the purge frees rows of: what `compactDatabases` vacuums and measures. */
const TABLES = ['messages', 'source_keys', 'deliveries', 'blobs'] as const;

type RawRow = Omit<RetentionRow, 'routes' | 'addresses'> & { routes: string[] | null; attributes: string | null };

/** Reads and removes for the purge, on the shared pool. */
export class PostgresRetention implements RetentionStore {
  /**
   * @param forgetBlobs told the hashes whose catalogue rows went (the drain ledger's `hasBlob`
   *   memory, so this worker stores those bytes again should they come back).
   */
  constructor(
    private readonly conn: PostgresConnection,
    private readonly audit: PostgresAuditLog,
    private readonly forgetBlobs: (sha256s: readonly string[]) => void,
  ) {}

  async page(afterId: number, limit: number, want: { routes: boolean; addresses: boolean }): Promise<RetentionRow[]> {
    const routes = want.routes ? 'array(SELECT d.route FROM deliveries d WHERE d.message_id = m.id ORDER BY d.route)' : 'NULL';
    const rows = await this.conn.query<RawRow>(
      `SELECT m.id, m.connection, m.sha256, m.size, m.taken_at AS "takenAt", m.date AS "receivedDate", ${BUSY} AS busy,
         ${routes} AS routes, ${want.addresses ? 'm.attributes' : 'NULL'} AS attributes
       FROM messages m WHERE m.id > $1 ORDER BY m.id LIMIT $2`,
      [afterId, limit],
      `reading messages after ${afterId} for the purge`,
    );
    return rows.map(({ routes: r, attributes: a, ...row }) => ({
      ...row,
      ...(want.routes ? { routes: r ?? [] } : {}),
      ...(want.addresses ? { addresses: messageAddresses(parseSavedAttributes(a, row.id)) } : {}),
    }));
  }

  async purgeBatch(ids: readonly number[], audit: (purged: readonly PurgedMessage[]) => AuditEntry): Promise<PurgeBatchResult> {
    if (ids.length === 0) return { purged: [], keptBusy: 0, blobsRemoved: 0, record: null };
    const result = await this.conn.tx(`purging ${ids.length} messages`, (c) => this.removeInTransaction(c, ids, audit));
    if (result.blobsGone.length > 0) this.forgetBlobs(result.blobsGone);
    const { blobsGone: _gone, ...out } = result;
    return out;
  }

  /** The batch removed with its audit record, inside the transaction of `c`. */
  private async removeInTransaction(c: pg.PoolClient, ids: readonly number[], audit: (purged: readonly PurgedMessage[]) => AuditEntry): Promise<PurgeBatchResult & { blobsGone: string[] }> {
    // First, before any row is touched: a group commit re-inserting one of the batch's messages
    // (same connection and bytes) would wait on this transaction while holding the lock it waits for.
    await c.query('SELECT pg_advisory_xact_lock($1)', [ID_ORDER_LOCK]);
    const journal = await c.query<{ original: string; sender: string | null }>(
      'SELECT DISTINCT journal_original AS original, journal_sender AS sender FROM messages WHERE id = ANY($1::bigint[]) AND journal_original IS NOT NULL',
      [ids],
    );
    await lockJournalKeys(c, journal.rows.map((j) => journalLockKey(j.original, j.sender ?? '')));
    await c.query('SELECT id FROM messages WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE', [ids]);
    const rows = (await c.query<PurgedMessage & { busy: string | null }>(`SELECT m.id, m.sha256, m.connection, m.size, ${BUSY} AS busy FROM messages m WHERE m.id = ANY($1::bigint[]) ORDER BY m.id`, [ids])).rows;
    const purged = rows.filter((r) => r.busy === null).map(({ busy: _busy, ...p }) => p);
    const keptBusy = rows.length - purged.length;
    if (purged.length === 0) return { purged, keptBusy, blobsRemoved: 0, record: null, blobsGone: [] };
    const go = purged.map((p) => p.id);
    // Still answered as taken: a message left on the server is not taken back after its purge.
    await c.query('INSERT INTO purged_keys (connection, source_key) SELECT connection, source_key FROM source_keys WHERE message_id = ANY($1::bigint[]) ON CONFLICT DO NOTHING', [go]);
    await c.query('DELETE FROM source_keys WHERE message_id = ANY($1::bigint[])', [go]);
    await c.query('DELETE FROM deliveries WHERE message_id = ANY($1::bigint[])', [go]);
    await c.query('DELETE FROM messages WHERE id = ANY($1::bigint[])', [go]);
    // Single-instance storage: another connection's message may hold the same bytes. Under the
    // id-order lock, so no group commit refers to a catalogue row while it goes.
    const gone = await c.query<{ sha256: string }>(
      'DELETE FROM blobs b WHERE b.sha256 = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.sha256 = b.sha256) RETURNING b.sha256',
      [[...new Set(purged.map((p) => p.sha256))]],
    );
    const blobsGone = gone.rows.map((r) => r.sha256);
    // Their records stay in the packs until compaction: verify must know they were purged, not lost.
    await c.query('INSERT INTO purged_blobs (sha256) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING', [blobsGone]);
    const record = await this.audit.appendInTransaction(c, audit(purged));
    return { purged, keptBusy, blobsRemoved: blobsGone.length, record, blobsGone };
  }

  /**
   * Nothing to sweep: the purge's transaction removes everything it removes, and nothing of a
   * message lives outside this database (SQLite's full-text rows live in search.db, removed after
   * the commit; here they are to be rows of this database, removed with the message).
   */
  async sweepSearch(): Promise<number> {
    return 0;
  }

  /**
   * `VACUUM` of the tables the purge frees rows in: their dead rows' space made reusable (the file
   * shrinks only where a table's tail pages emptied). No `VACUUM FULL`: it locks each table for
   * the whole rewrite, and the drain commits into them all the time. Sizes by
   * `pg_total_relation_size` (table, indexes, TOAST), keyed by table.
   */
  async compactDatabases(): Promise<DatabaseSpace> {
    const started = Date.now();
    const sizes = async (): Promise<Record<string, number>> => {
      const rows = await this.conn.query<{ t: string; bytes: number }>(
        'SELECT t, pg_total_relation_size(t::regclass) AS bytes FROM unnest($1::text[]) AS t',
        [TABLES],
        'measuring the tables',
      );
      return Object.fromEntries(rows.map((r) => [r.t, r.bytes]));
    };
    const before = await sizes();
    // One table per statement (VACUUM runs outside a transaction): the drain's commits go on between them.
    for (const t of TABLES) await this.conn.query(`VACUUM (ANALYZE) ${t}`, [], `vacuuming ${t}`, true);
    const after = await sizes();
    const files: DatabaseSpace['files'] = {};
    for (const t of TABLES) files[t] = { bytesBefore: before[t] ?? 0, bytesAfter: after[t] ?? 0 };
    const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
    return { files, bytesBefore: sum(before), bytesAfter: sum(after), converted: [], seconds: (Date.now() - started) / 1000 };
  }
}
