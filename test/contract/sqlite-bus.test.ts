/**
 * The bus and response-ledger contracts on the SQLite adapter (`adapters/bus-sqlite`), on a real
 * `archive.db` whose deliveries the SQLite store queues (`saveParsed`, the outbox); a reopen is a
 * new store connection over the same file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../harness/sqlite-keep.js';
import { createSqliteStore, type SqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { createSqliteBus, createSqliteResponseLedger } from '../../src/adapters/bus-sqlite/index.js';
import type { MessageAttributes } from '../../src/core/message/attributes.js';
import { runMessageBusContract, type BusHarness } from './message-bus.contract.js';
import { runResponseLedgerContract } from './response-ledger.contract.js';

const attrs = { From: null, To: [], Cc: [], Bcc: [], Subject: 's', ReceivedDate: null, GlobalMessageId: '', InReplyTo: '', References: [], TextBody: '', HtmlBody: '', Attachments: [], CustomHeaders: [] } as unknown as MessageAttributes;

async function open(): Promise<BusHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'ms-bus-contract-'));
  const file = join(dir, 'archive.db');
  let store: SqliteStore = createSqliteStore({ file });
  let taken = 0;
  const h: BusHarness = {
    bus: createSqliteBus(store.connection()),
    ledger: createSqliteResponseLedger(store.connection()),
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
      await store.commitTaken(records);
      const shas = new Set(records.map((r) => r.sha256));
      return (await store.listUnparsed(100_000)).filter((m) => m.connection === connection && shas.has(m.sha256)).map((m) => m.id);
    },
    async route(entries, createdAt = 0) {
      await store.saveParsed(
        entries.map((e) => ({
          id: e.id,
          outcome: { ok: true as const, attributes: attrs },
          deliveries: e.routes.map(({ route, bus }) => ({ id: `${e.connection}.${route}.${e.id}`, messageId: e.id, connection: e.connection, route, bus, createdAt })),
        })),
      );
    },
    async reopen() {
      await store.close();
      store = createSqliteStore({ file });
      h.bus = createSqliteBus(store.connection());
      h.ledger = createSqliteResponseLedger(store.connection());
    },
    async close() {
      await store.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}

runMessageBusContract('sqlite', open);
runResponseLedgerContract('sqlite', open);
