/**
 * The in-memory reference adapter of `ResponseLedger`: the responses carried by a
 * {@link MemoryBus}'s deliveries (set by `doneMany` and `deadLetter`, cleared by `replay`), pending
 * until their result is recorded, as the SQLite ledger reads them from the same table. Held to
 * `test/contract/response-ledger.contract.ts`.
 */
import type { PendingResponse, ResponseLedger, ResponseRecord, ResponseStatus } from '../../src/core/ports/response-ledger.js';
import type { MemoryBus } from './memory-bus.js';

/** See the module comment. */
export class MemoryResponseLedger implements ResponseLedger {
  constructor(private readonly bus: MemoryBus) {}

  async pendingResponses(connection: string, limit: number, mailbox?: string): Promise<PendingResponse[]> {
    const out: PendingResponse[] = [];
    const rows = this.bus.rows
      .filter((r) => r.connection === connection && r.response !== null && r.responseResult === null && r.state !== 'pending')
      .sort((a, b) => a.messageId - b.messageId || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const r of rows) {
      const m = this.bus.messages.get(r.messageId)!;
      if (mailbox !== undefined && m.mailbox !== mailbox) continue;
      if (out.length === limit) break;
      out.push({ deliveryId: r.id, messageId: r.messageId, state: r.state as 'done' | 'dead', response: r.response!, mailbox: m.mailbox, uidValidity: m.uidValidity, uid: m.uid, key: m.sourceKey });
    }
    return out;
  }

  async recordResponses(records: ResponseRecord[], at: number): Promise<void> {
    for (const rec of records) {
      const r = this.bus.rows.find((x) => x.id === rec.deliveryId);
      if (r && r.response !== null) Object.assign(r, { responseResult: rec.result, responseNote: rec.note, responseAt: at });
    }
  }

  async responseStatuses(ids: readonly string[]): Promise<Map<string, ResponseStatus>> {
    const out = new Map<string, ResponseStatus>();
    for (const id of ids) {
      const r = this.bus.rows.find((x) => x.id === id);
      if (r && r.response !== null) out.set(id, { result: r.responseResult, note: r.responseNote, at: r.responseAt });
    }
    return out;
  }
}
