/**
 * How a bus contract's harness queues deliveries on a real store, as production does: messages
 * committed by the drain ledger (waiting to be parsed), then their parse results saved with their
 * deliveries by the parse queue (the outbox). Shared by the SQLite and PostgreSQL bus tests.
 */
import type { DrainLedger } from '../../src/core/ports/drain-ledger.js';
import type { ParseQueue } from '../../src/core/ports/parse-queue.js';
import type { MessageAttributes } from '../../src/core/message/attributes.js';
import type { BusHarness } from './message-bus.contract.js';

const attrs = { From: null, To: [], Cc: [], Bcc: [], Subject: 's', ReceivedDate: null, GlobalMessageId: '', InReplyTo: '', References: [], TextBody: '', HtmlBody: '', Attachments: [], CustomHeaders: [] } as unknown as MessageAttributes;

/** `take` and `route` over the store `store()` answers (it may be replaced by a reopen). */
export function storeQueuing(store: () => DrainLedger & ParseQueue): Pick<BusHarness, 'take' | 'route'> {
  let taken = 0;
  return {
    async take(connection, keys) {
      const records = keys.map((k) => {
        const n = ++taken;
        return {
          connection,
          sourceKey: k.key ?? (k.uid === null ? `pop3:${k.uidl ?? n}` : `imap:${k.mailbox}:${k.uidValidity}:${k.uid}`),
          mailbox: k.mailbox,
          uidValidity: k.uidValidity,
          uid: k.uid,
          uidl: k.uidl ?? null,
          sha256: String(n).padStart(64, '0'),
          size: 10,
          blob: { ref: `pack-00000001:${n}:10`, storedSize: 10 },
          takenAt: 0,
        };
      });
      await store().commitTaken(records);
      const shas = new Set(records.map((r) => r.sha256));
      return (await store().listUnparsed(100_000)).filter((m) => m.connection === connection && shas.has(m.sha256)).map((m) => m.id);
    },
    async route(entries, createdAt = 0) {
      await store().saveParsed(
        entries.map((e) => ({
          id: e.id,
          outcome: { ok: true as const, attributes: attrs },
          deliveries: e.routes.map(({ route, bus }) => ({ id: `${e.connection}.${route}.${e.id}`, messageId: e.id, connection: e.connection, route, bus, createdAt })),
        })),
      );
    },
  };
}
