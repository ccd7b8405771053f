/**
 * The drain ledger on SQLite (`DrainLedger`): `blobs`, `messages` and `source_keys` written by the
 * drain's group commit, `mailbox_state` (watermarks, and the STARTTLS memory under mailbox "").
 */
import type { DrainLedger, MailboxWatermark, PendingAction, TakenRecord } from '../../core/ports/drain-ledger.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { mapSqliteError } from './sqlite-error-map.js';
import { immediateOnMain } from '../sqlite-node/sqlite-write-lock.js';

/** What the drain records, on the shared connection. */
export class SqliteDrainLedger implements DrainLedger {
  constructor(private readonly conn: SqliteConnection) {}

  hasBlob(sha256: string): boolean {
    return this.conn.stmt('SELECT 1 FROM blobs WHERE sha256 = ?').get(sha256) !== undefined;
  }

  async lookupTaken(connection: string, keys: string[]): Promise<Set<string>> {
    return this.keysWhere('', connection, keys);
  }

  async lookupSettled(connection: string, keys: string[]): Promise<Set<string>> {
    return this.keysWhere(' AND action_state <> 0', connection, keys);
  }

  // One statement per call, the keys as a JSON array: a statement per key cost the drain ~6 µs
  // each in calls into the binding, 500 per cycle.
  private keysWhere(condition: string, connection: string, keys: string[]): Set<string> {
    if (keys.length === 0) return new Set();
    const json = JSON.stringify(keys);
    // A purged message's keys count as taken and settled (docs/retention.md): it is not taken back.
    const purged = this.conn.hasTable('purged_keys')
      ? ' UNION ALL SELECT source_key FROM purged_keys WHERE connection = ? AND source_key IN (SELECT value FROM json_each(?))'
      : '';
    const rows = this.conn
      .stmt(`SELECT source_key FROM source_keys WHERE connection = ? AND source_key IN (SELECT value FROM json_each(?))${condition}${purged}`)
      .pluck()
      .all(...(purged ? [connection, json, connection, json] : [connection, json])) as string[];
    return new Set(rows);
  }

  /**
   * One transaction per batch, and one statement per table, the rows as a JSON array: a statement
   * per row and table cost the drain ~8 µs each in calls into the binding, three per message.
   * `json_each` keeps the array's order, so message ids follow the batch's (mailbox) order.
   */
  async commitTaken(records: TakenRecord[], watermark?: { connection: string; mailbox: string } & MailboxWatermark): Promise<void> {
    // Blobs first: with puts running concurrently, a duplicate's record (blob null) can come
    // before the record that stored the bytes.
    const insBlobs = this.conn.stmt(
      `INSERT OR IGNORE INTO blobs (sha256, ref, stored_size, size)
       SELECT value->>0, value->>1, value->>2, value->>3 FROM json_each(?)`,
    );
    // A content-hash duplicate (same connection and bytes) inserts no row; its key points at the first.
    const insMsgs = this.conn.stmt(
      `INSERT INTO messages (connection, sha256, size, mailbox, uid_validity, uid, uidl, taken_at)
       SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7 FROM json_each(?) WHERE true
       ON CONFLICT (connection, sha256) DO NOTHING`,
    );
    const insKeys = this.conn.stmt(
      `INSERT OR IGNORE INTO source_keys (connection, source_key, message_id, mailbox, uid_validity, uid, uidl, action_state)
       SELECT value->>0, value->>8, (SELECT id FROM messages m WHERE m.connection = value->>0 AND m.sha256 = value->>1),
              value->>3, value->>4, value->>5, value->>6, 0
       FROM json_each(?)`,
    );
    const upWm = this.conn.stmt(
      `INSERT INTO mailbox_state (connection, mailbox, uid_validity, last_uid) VALUES (?, ?, ?, ?)
       ON CONFLICT (connection, mailbox) DO UPDATE SET uid_validity = excluded.uid_validity, last_uid = excluded.last_uid`,
    );
    const blobs = JSON.stringify(records.filter((r) => r.blob).map((r) => [r.sha256, r.blob!.ref, r.blob!.storedSize, r.size]));
    const rows = JSON.stringify(records.map((r) => [r.connection, r.sha256, r.size, r.mailbox, r.uidValidity, r.uid, r.uidl, r.takenAt, r.sourceKey]));
    try {
      immediateOnMain(this.conn.db, () => {
          if (records.length > 0) {
            insBlobs.run(blobs);
            insMsgs.run(rows);
            insKeys.run(rows);
          }
          if (watermark) upWm.run(watermark.connection, watermark.mailbox, watermark.uidValidity, watermark.lastUid);
        });
    } catch (err) {
      throw mapSqliteError(err, `committing ${records.length} messages`);
    }
  }

  /**
   * Recorded without waiting for the disk (`synchronous = NORMAL` for this transaction): losing
   * it in a power cut only means the action is done again at the next session's recovery, which
   * is harmless (flagging or expunging a UID twice changes nothing), while an fsync per cycle
   * held the drain's main thread. The next FULL commit's fsync of the WAL persists it anyway.
   */
  async markActionDone(connection: string, keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    const s = this.conn.stmt('UPDATE source_keys SET action_state = 1 WHERE connection = ? AND source_key IN (SELECT value FROM json_each(?))');
    try {
      this.conn.withoutFsync(() => immediateOnMain(this.conn.db, () => s.run(connection, JSON.stringify(keys))));
    } catch (err) {
      throw mapSqliteError(err, 'recording server actions');
    }
  }

  async pendingActions(connection: string, mailbox: string, uidValidity: number): Promise<PendingAction[]> {
    return this.conn
      .stmt(
        `SELECT source_key AS sourceKey, uid, uidl FROM source_keys
         WHERE connection = ? AND mailbox = ? AND uid_validity = ? AND action_state = 0 ORDER BY uid, uidl`,
      )
      .all(connection, mailbox, uidValidity) as PendingAction[];
  }

  async supersedePending(connection: string, mailbox: string, currentUidValidity: number): Promise<number> {
    const r = this.conn
      .stmt('UPDATE source_keys SET action_state = 2 WHERE connection = ? AND mailbox = ? AND uid_validity <> ? AND action_state = 0')
      .run(connection, mailbox, currentUidValidity);
    return r.changes;
  }

  async getWatermark(connection: string, mailbox: string): Promise<MailboxWatermark | null> {
    const row = this.conn
      .stmt('SELECT uid_validity AS uidValidity, last_uid AS lastUid FROM mailbox_state WHERE connection = ? AND mailbox = ?')
      .get(connection, mailbox) as MailboxWatermark | undefined;
    return row ?? null;
  }

  /**
   * STARTTLS downgrade memory (`TlsMemory`, ADR 0016): a `mailbox_state` row under the mailbox
   * name "" (no folder is named so; config requires a name), `last_uid` 1 once the server offered
   * TLS. A row rather than a table: no migration for one flag per connection.
   */
  tlsOffered(connection: string): boolean {
    const row = this.conn.stmt(`SELECT last_uid AS v FROM mailbox_state WHERE connection = ? AND mailbox = ''`).get(connection) as { v: number } | undefined;
    return row?.v === 1;
  }

  /** See {@link tlsOffered}; false forgets (the operator's `connection reset-tls`). */
  setTlsOffered(connection: string, offered: boolean): void {
    if (offered) {
      this.conn
        .stmt(`INSERT INTO mailbox_state (connection, mailbox, uid_validity, last_uid) VALUES (?, '', 0, 1) ON CONFLICT (connection, mailbox) DO UPDATE SET last_uid = 1`)
        .run(connection);
    } else this.conn.stmt(`DELETE FROM mailbox_state WHERE connection = ? AND mailbox = ''`).run(connection);
  }
}
