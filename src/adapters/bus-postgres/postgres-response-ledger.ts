/**
 * `ResponseLedger` on PostgreSQL: the server responses of finished deliveries are columns of the
 * `deliveries` table (`response`, set by `doneMany` and `deadLetter`, cleared by `replay`;
 * `response_result`, `response_note`, `response_at` once applied), as in bus-sqlite. A response
 * is pending while it has no result (the partial index `deliveries_responses` holds exactly those
 * rows). The connection's worker drains it; with connection leases (issue 20, item 4) one worker
 * at a time.
 */
import { toPendingResponses, type ResponseRow } from '../../core/bus/delivery-row.js';
import type { PendingResponse, ResponseLedger, ResponseRecord, ResponseResult, ResponseStatus } from '../../core/ports/response-ledger.js';
import type { PostgresBusConnection, PostgresBusOptions } from './postgres-bus-config.js';

/** The server responses of one deployment's deliveries. */
export class PostgresResponseLedger implements ResponseLedger {
  private readonly db: PostgresBusConnection;

  constructor(options: PostgresBusOptions) {
    this.db = options.db;
  }

  async pendingResponses(connection: string, limit: number, mailbox?: string): Promise<PendingResponse[]> {
    // The message row gives the source key it was first taken under: the one of its keys that
    // names its mailbox, UIDVALIDITY and UID (or UIDL), the first in key order when several do.
    const rows = await this.db.query<ResponseRow>(
      `SELECT d.id, d.message_id, d.state, d.response, m.mailbox, m.uid_validity, m.uid,
              (SELECT k.source_key FROM source_keys k
               WHERE k.message_id = m.id AND k.connection = m.connection AND k.mailbox = m.mailbox AND k.uid_validity = m.uid_validity
                 AND k.uid IS NOT DISTINCT FROM m.uid AND k.uidl IS NOT DISTINCT FROM m.uidl
               ORDER BY k.source_key COLLATE "C" LIMIT 1) AS source_key
       FROM deliveries d JOIN messages m ON m.id = d.message_id
       WHERE d.connection = $1 AND d.response IS NOT NULL AND d.response_result IS NULL AND ($2::text IS NULL OR m.mailbox = $2)
       ORDER BY d.message_id, d.id COLLATE "C" LIMIT $3`,
      [connection, mailbox ?? null, limit],
      'finding server responses to apply',
    );
    return toPendingResponses(rows);
  }

  async recordResponses(records: ResponseRecord[], at: number): Promise<void> {
    if (records.length === 0) return;
    // One statement, hence one transaction, for the batch.
    await this.db.query(
      `UPDATE deliveries d SET response_result = x.result, response_note = x.note, response_at = $1
       FROM unnest($2::text[], $3::text[], $4::text[]) AS x(id, result, note) WHERE d.id = x.id AND d.response IS NOT NULL`,
      [at, records.map((r) => r.deliveryId), records.map((r) => r.result), records.map((r) => r.note)],
      'recording applied server responses',
      true,
    );
  }

  async responseStatuses(ids: readonly string[]): Promise<Map<string, ResponseStatus>> {
    const rows = await this.db.query<{ id: string; response_result: ResponseResult | null; response_note: string | null; response_at: number | null }>(
      'SELECT id, response_result, response_note, response_at FROM deliveries WHERE id = ANY($1::text[]) AND response IS NOT NULL',
      [[...ids]],
      'reading server response results',
    );
    return new Map(rows.map((r) => [r.id, { result: r.response_result, note: r.response_note, at: r.response_at }]));
  }
}
