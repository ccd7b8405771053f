/**
 * Server responses, applied by the connection that took the message (SPEC "Route settings": a
 * route's scenario may return a response, flags to set or a folder to move to, that the
 * connection applies on the server after success, and an error response after failure).
 *
 * The connection runner calls {@link applyPendingResponses} at the start of each cycle, after
 * `recoverPendingActions`: every response of this connection's finished deliveries that is not
 * recorded yet, in batches, each batch one call of `MailboxSource.applyResponses` (UID sets
 * grouped by identical flags and folder). Each response ends recorded `applied`,
 * `not-applicable` or `failed`, durably; a crash before the record applies it again at the next
 * start, which is harmless: adding flags is idempotent, and a message moved already is no longer
 * in the mailbox (`not-applicable`).
 *
 * A response is applicable only while the message is still in the drained mailbox under the
 * identity it was taken with: the UIDVALIDITY and UID for a source that addresses messages by UID
 * (IMAP), the candidate key for one that addresses them by key (EWS's ItemId); deletePolicy
 * leave, mark-seen or (IMAP) delete; `config check` warns about the others. No I/O here: the
 * source and the ledger are ports.
 */
import type { MailboxSource, ResponseOutcome, ResponseRequest, SourceSession } from '../ports/mailbox-source.js';
import type { PendingResponse, ResponseLedger, ResponseRecord } from '../ports/response-ledger.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import { MailsluiceError } from '../errors/index.js';

/** What applying responses needs. */
export interface ApplyResponsesDeps {
  connection: string;
  /** Only the responses of messages taken from this folder (a connection with several folders). */
  mailbox?: string;
  source: MailboxSource;
  ledger: ResponseLedger;
  clock: Clock;
  logger: Logger;
  /** Responses per `applyResponses` call and per recording transaction (default 500). */
  batch?: number;
}

/** What one call applied. */
export interface ResponseTotals {
  applied: number;
  notApplicable: number;
  failed: number;
}

const DEFAULT_BATCH = 500;

/** Adds `b` to `a`. */
export function addResponseTotals(a: ResponseTotals, b: ResponseTotals): void {
  a.applied += b.applied;
  a.notApplicable += b.notApplicable;
  a.failed += b.failed;
}

/**
 * Why a pending response cannot be applied in this session without asking the server, or null
 * when the source should try.
 */
function notHere(p: PendingResponse, session: SourceSession, source: MailboxSource): string | null {
  if (!source.applyResponses) return 'this connection\'s protocol has no flags or folders to apply a response with';
  if ((source.responsesBy ?? 'uid') === 'uid' && p.uid === null) return 'the message was taken without a UID (POP3)';
  if (source.responsesBy === 'key' && p.key === null) return 'the message was not taken from a mailbox (no source key)';
  if (p.mailbox !== session.mailbox) return `the message was taken from mailbox ${JSON.stringify(p.mailbox)}, and the connection now drains ${JSON.stringify(session.mailbox)}`;
  if (p.uidValidity !== session.uidValidity) return `UIDVALIDITY of ${JSON.stringify(p.mailbox)} changed (${p.uidValidity} when taken, ${session.uidValidity} now): UID ${p.uid} no longer names the message`;
  return null;
}

/**
 * Applies every pending response of the connection on the open session and records each.
 * Throws when the session fails (nothing of the failing batch is recorded: it is tried again by
 * the next cycle or session) or the ledger cannot record.
 */
export async function applyPendingResponses(session: SourceSession, deps: ApplyResponsesDeps): Promise<ResponseTotals> {
  const { connection, source, ledger, clock, logger } = deps;
  const batch = deps.batch ?? DEFAULT_BATCH;
  const totals: ResponseTotals = { applied: 0, notApplicable: 0, failed: 0 };
  const seen = new Set<string>();
  for (;;) {
    const pending = await ledger.pendingResponses(connection, batch, deps.mailbox);
    if (pending.length === 0) return totals;
    const records: ResponseRecord[] = [];
    const requests: ResponseRequest[] = [];
    const byId = new Map<string, PendingResponse>();
    for (const p of pending) {
      // Every pending response of a batch is recorded before the next is read: one seen twice
      // means the ledger did not record it, and going on would loop.
      if (seen.has(p.deliveryId)) throw new MailsluiceError('INTERNAL', `the response of delivery ${p.deliveryId} is still pending after it was recorded`);
      seen.add(p.deliveryId);
      byId.set(p.deliveryId, p);
      const why = notHere(p, session, source);
      if (why !== null) records.push({ deliveryId: p.deliveryId, result: 'not-applicable', note: why });
      else requests.push({ id: p.deliveryId, key: p.key ?? '', ...(p.uid !== null ? { uid: p.uid } : {}), response: p.response });
    }
    const outcomes: ResponseOutcome[] = requests.length > 0 ? await source.applyResponses!(requests) : [];
    const answered = new Map(outcomes.map((o) => [o.id, o]));
    for (const r of requests) {
      const o = answered.get(r.id);
      records.push(
        o
          ? { deliveryId: r.id, result: o.outcome, note: o.outcome === 'applied' ? null : (o.reason ?? null) }
          : { deliveryId: r.id, result: 'failed', note: 'the source returned no outcome for it' },
      );
    }
    await ledger.recordResponses(records, clock.now());
    for (const rec of records) {
      const p = byId.get(rec.deliveryId)!;
      const fields = { delivery: rec.deliveryId, ...(p.uid !== null ? { uid: p.uid } : { key: p.key }), response: p.response, ...(rec.note ? { reason: rec.note } : {}) };
      if (rec.result === 'applied') {
        totals.applied++;
        // The connection's `full` log: every message handled.
        logger.debug('server response applied', fields);
      } else if (rec.result === 'not-applicable') {
        totals.notApplicable++;
        logger.info('server response not applicable', fields);
      } else {
        totals.failed++;
        logger.error('server response failed', fields);
      }
    }
    if (pending.length < batch) return totals;
  }
}
