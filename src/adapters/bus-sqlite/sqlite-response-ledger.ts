/**
 * `ResponseLedger` on the embedded SQLite database: the server responses of finished deliveries
 * are columns of the `deliveries` table (`response`, set by `doneMany` and `deadLetter`, cleared
 * by `replay`; `response_result`/`response_note`/`response_at` once applied), on the store's own
 * connection like the bus. A response is pending while it has no result (the partial index
 * `deliveries_responses` holds exactly those rows).
 */
import { toPendingResponses, type ResponseRow } from '../../core/bus/delivery-row.js';
import type { PendingResponse, ResponseLedger, ResponseRecord, ResponseResult, ResponseStatus } from '../../core/ports/response-ledger.js';
import { SqliteStatements } from './sqlite-statements.js';
import type { SqliteBusOptions } from './sqlite-bus-config.js';
import { immediateOnMain } from '../sqlite-node/sqlite-write-lock.js';

/** The server responses of one `archive.db`'s deliveries. */
export class SqliteResponseLedger implements ResponseLedger {
  private readonly sql: SqliteStatements;

  constructor(options: SqliteBusOptions) {
    this.sql = new SqliteStatements(options);
  }

  async pendingResponses(connection: string, limit: number, mailbox?: string): Promise<PendingResponse[]> {
    // Served by the partial index deliveries_responses (same WHERE terms); the message row gives
    // the source key the message was first taken under: its mailbox, UIDVALIDITY and UID, and the
    // key itself from source_keys (by source_keys_message), the one row of them that matches those
    // (an IMAP key names its UID; EWS items of identical bytes share a message, and the first key
    // in key order stands for them).
    const rows = await this.sql.run(
      'finding server responses to apply',
      () =>
        this.sql.stmt(
          `SELECT d.id, d.message_id, d.state, d.response, m.mailbox, m.uid_validity, m.uid,
                  (SELECT k.source_key FROM source_keys k
                   WHERE k.message_id = m.id AND k.connection = m.connection AND k.mailbox = m.mailbox
                     AND k.uid_validity = m.uid_validity AND k.uid IS m.uid AND k.uidl IS m.uidl
                   ORDER BY k.source_key LIMIT 1) AS source_key
           FROM deliveries d JOIN messages m ON m.id = d.message_id
           WHERE d.connection = ? AND d.response IS NOT NULL AND d.response_result IS NULL AND (? IS NULL OR m.mailbox = ?)
           ORDER BY d.message_id, d.id LIMIT ?`,
        ).all(connection, mailbox ?? null, mailbox ?? null, limit) as Array<ResponseRow>,
    );
    return toPendingResponses(rows);
  }

  async recordResponses(records: ResponseRecord[], at: number): Promise<void> {
    const s = this.sql.stmt('UPDATE deliveries SET response_result = ?, response_note = ?, response_at = ? WHERE id = ? AND response IS NOT NULL');
    await this.sql.run('recording applied server responses', () =>
      immediateOnMain(this.sql.db, () => {
        for (const r of records) s.run(r.result, r.note, at, r.deliveryId);
      }),
    );
  }

  async responseStatuses(ids: readonly string[]): Promise<Map<string, ResponseStatus>> {
    const s = this.sql.stmt('SELECT response_result, response_note, response_at FROM deliveries WHERE id = ? AND response IS NOT NULL');
    const out = new Map<string, ResponseStatus>();
    await this.sql.run('reading server response results', () => {
      for (const id of ids) {
        const r = s.get(id) as { response_result: ResponseResult | null; response_note: string | null; response_at: number | null } | undefined;
        if (r) out.set(id, { result: r.response_result, note: r.response_note, at: r.response_at });
      }
    });
    return out;
  }
}
