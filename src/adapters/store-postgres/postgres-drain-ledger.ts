/**
 * The drain ledger on PostgreSQL (`DrainLedger`): `blobs`, `messages` and `source_keys` written by
 * the drain's group commit in one transaction, `mailbox_state` (watermarks).
 */
import type { DrainLedger, MailboxWatermark, PendingAction, TakenRecord } from '../../core/ports/drain-ledger.js';
import type { CommitFence } from '../../core/ports/connection-leases.js';
import type { PostgresConnection } from './postgres-connection.js';
import { pgState } from './postgres-error-map.js';
import { checkFence } from './postgres-connection-leases.js';

/**
 * The advisory lock that orders id allocation with commits (ASCII "msid"); the purge takes it
 * too before it removes catalogue rows, so a group commit never refers to a blob row removed
 * under it.
 */
export const ID_ORDER_LOCK = 0x6d736964;

/** What the drain records, on the shared pool. */
export class PostgresDrainLedger implements DrainLedger {
  /**
   * The blobs this worker knows are stored: `hasBlob` is synchronous (the blob writer asks it
   * mid-stream) and a query is not. Filled by this worker's commits; a blob another worker stored
   * is unknown here, so its bytes are put once more (content-addressed and deduplicated by the
   * blob store) and the commit keeps the first row (`ON CONFLICT DO NOTHING`). A miss costs a PUT,
   * never a lost or doubled message.
   */
  private readonly knownBlobs = new Set<string>();

  constructor(private readonly conn: PostgresConnection) {}

  hasBlob(sha256: string): boolean {
    return this.knownBlobs.has(sha256);
  }

  async lookupTaken(connection: string, keys: string[]): Promise<Set<string>> {
    return this.keysWhere('', connection, keys);
  }

  async lookupSettled(connection: string, keys: string[]): Promise<Set<string>> {
    return this.keysWhere(' AND action_state <> 0', connection, keys);
  }

  /** Forgets blobs whose catalogue rows a purge removed: their bytes must be stored again if they come back. */
  forgetBlobs(sha256s: Iterable<string>): void {
    for (const s of sha256s) this.knownBlobs.delete(s);
  }

  /** Of `keys`, those of `connection` with a source key meeting `condition`, and those of purged messages (taken and settled for good). */
  private async keysWhere(condition: string, connection: string, keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const rows = await this.conn.query<{ source_key: string }>(
      `SELECT source_key FROM source_keys WHERE connection = $1 AND source_key = ANY($2::text[])${condition}
       UNION ALL SELECT source_key FROM purged_keys WHERE connection = $1 AND source_key = ANY($2::text[])`,
      [connection, keys],
      `looking up ${keys.length} source keys of ${connection}`,
    );
    return new Set(rows.map((r) => r.source_key));
  }

  /**
   * One transaction per group (BEGIN … COMMIT on one pooled client), one statement per table with
   * the rows as arrays (`unnest`): a round trip per row would cost the group its latency 3×n times.
   * `WITH ORDINALITY … ORDER BY` keeps the batch's order, so message ids follow the mailbox order.
   * A `fence` is checked after the id-order lock (as late as can be, right before the writes) and
   * its token written into each message row (`lease_token`).
   */
  async commitTaken(records: TakenRecord[], watermark?: { connection: string; mailbox: string } & MailboxWatermark, fence?: CommitFence): Promise<void> {
    // Sorted by hash: one lock order for the blob keys, should group commits ever stop being
    // serialised by ID_ORDER_LOCK (two groups in opposite orders could otherwise deadlock).
    const stored = records.filter((r) => r.blob).sort((x, y) => (x.sha256 < y.sha256 ? -1 : x.sha256 > y.sha256 ? 1 : 0));
    try {
      await this.commitInTransaction(records, stored, watermark, fence);
    } catch (err) {
      // 23503: a duplicate's blob row is gone (another worker purged it after this one stored the
      // bytes). Forgotten, so the drain's next attempt stores the bytes again instead of failing for good.
      if (pgState((err as { cause?: unknown }).cause) === '23503') this.forgetBlobs(records.filter((r) => !r.blob).map((r) => r.sha256));
      throw err;
    }
    for (const r of stored) this.knownBlobs.add(r.sha256);
  }

  private async commitInTransaction(records: TakenRecord[], stored: TakenRecord[], watermark?: { connection: string; mailbox: string } & MailboxWatermark, fence?: CommitFence): Promise<void> {
    const col = <T>(f: (r: TakenRecord) => T): T[] => records.map(f);
    await this.conn.tx(`committing ${records.length} messages`, async (c) => {
      if (records.length > 0) {
        // Ids must become visible in id order (the port: "in id order (commit order)"; the index
        // stage pages by afterId). A sequence hands ids out before commit, so two groups can
        // commit in the other order and a page read between would skip the earlier ids for good.
        // This lock, taken first and held until COMMIT, makes the next group take its ids
        // after this one is visible: group commits are serialised across workers (which also
        // rules out two groups waiting on each other's blob rows).
        await c.query('SELECT pg_advisory_xact_lock($1)', [ID_ORDER_LOCK]);
      }
      if (fence) await checkFence(c, fence);
      if (records.length > 0) {
        // Blobs first: with puts running concurrently, a duplicate's record (blob null) can come
        // before the record that stored the bytes.
        await c.query(
          `INSERT INTO blobs (sha256, ref, stored_size, size)
           SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) ON CONFLICT (sha256) DO NOTHING`,
          [stored.map((r) => r.sha256), stored.map((r) => r.blob!.ref), stored.map((r) => r.blob!.storedSize), stored.map((r) => r.size)],
        );
        const rows = [col((r) => r.connection), col((r) => r.sha256), col((r) => r.size), col((r) => r.mailbox), col((r) => r.uidValidity), col((r) => r.uid), col((r) => r.uidl), col((r) => r.takenAt), col((r) => r.sourceKey)];
        // A content-hash duplicate (same connection and bytes) inserts no row; its key points at the first.
        await c.query(
          `INSERT INTO messages (connection, sha256, size, mailbox, uid_validity, uid, uidl, taken_at, lease_token)
           SELECT c, s, z, mb, uv, u, ul, t, $9::bigint FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::bigint[])
             WITH ORDINALITY AS x(c, s, z, mb, uv, u, ul, t, n) ORDER BY n
           ON CONFLICT (connection, sha256) DO NOTHING`,
          [...rows.slice(0, 8), fence?.token ?? null],
        );
        await c.query(
          `INSERT INTO source_keys (connection, source_key, message_id, mailbox, uid_validity, uid, uidl, action_state)
           SELECT x.c, x.k, m.id, x.mb, x.uv, x.u, x.ul, 0
           FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[]) AS x(c, s, mb, uv, u, ul, k)
           JOIN messages m ON m.connection = x.c AND m.sha256 = x.s
           ON CONFLICT (connection, source_key) DO NOTHING`,
          [rows[0], rows[1], rows[3], rows[4], rows[5], rows[6], rows[8]],
        );
      }
      if (watermark) {
        await c.query(
          `INSERT INTO mailbox_state (connection, mailbox, uid_validity, last_uid) VALUES ($1, $2, $3, $4)
           ON CONFLICT (connection, mailbox) DO UPDATE SET uid_validity = excluded.uid_validity, last_uid = excluded.last_uid`,
          [watermark.connection, watermark.mailbox, watermark.uidValidity, watermark.lastUid],
        );
      }
    });
  }

  async markActionDone(connection: string, keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.conn.query('UPDATE source_keys SET action_state = 1 WHERE connection = $1 AND source_key = ANY($2::text[])', [connection, keys], 'recording server actions', true);
  }

  async pendingActions(connection: string, mailbox: string, uidValidity: number): Promise<PendingAction[]> {
    return this.conn.query<PendingAction>(
      `SELECT source_key AS "sourceKey", uid, uidl FROM source_keys
       WHERE connection = $1 AND mailbox = $2 AND uid_validity = $3 AND action_state = 0 ORDER BY uid, uidl`,
      [connection, mailbox, uidValidity],
      `listing the pending server actions of ${connection} ${mailbox}`,
    );
  }

  async supersedePending(connection: string, mailbox: string, currentUidValidity: number): Promise<number> {
    const rows = await this.conn.query(
      'UPDATE source_keys SET action_state = 2 WHERE connection = $1 AND mailbox = $2 AND uid_validity <> $3 AND action_state = 0 RETURNING 1',
      [connection, mailbox, currentUidValidity],
      `superseding the pending actions of ${connection} ${mailbox}`,
      true,
    );
    return rows.length;
  }

  async getWatermark(connection: string, mailbox: string): Promise<MailboxWatermark | null> {
    const rows = await this.conn.query<MailboxWatermark>(
      'SELECT uid_validity AS "uidValidity", last_uid AS "lastUid" FROM mailbox_state WHERE connection = $1 AND mailbox = $2',
      [connection, mailbox],
      `reading the watermark of ${connection} ${mailbox}`,
    );
    return rows[0] ?? null;
  }
}
