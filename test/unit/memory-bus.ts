/**
 * An in-memory `MessageBus` for the dispatcher's unit tests: the same semantics as the SQLite bus
 * (head-of-line per pair, claims, dead letters), a few lines of arrays.
 */
import type { ClaimedDelivery, DeliveryCounts, DeliveryPair, DeliveryQuery, DeliveryRecord, MessageBus } from '../../src/core/ports/message-bus.js';
import type { ServerResponse } from '../../src/core/ports/scenario-action.js';

interface Row extends DeliveryRecord {
  leaseUntil: number;
  /** An attempt recorded started and not ended (attemptsStarted). */
  started: boolean;
}

/** See the module comment. */
export class MemoryBus implements MessageBus {
  readonly rows: Row[] = [];

  /** Queues a delivery of message `messageId` on `route`. */
  add(connection: string, route: string, bus: number, messageId: number, at = 0): void {
    this.rows.push({
      id: `${connection}.${route}.${messageId}`,
      messageId,
      connection,
      route,
      bus,
      step: 0,
      attempts: 0,
      nextAt: at,
      state: 'pending',
      lastError: null,
      response: null,
      createdAt: at,
      doneAt: null,
      leaseUntil: 0,
      started: false,
    });
  }

  get(id: string): Row {
    const r = this.rows.find((x) => x.id === id);
    if (!r) throw new Error(`no delivery ${id}`);
    return r;
  }

  async releaseAll(): Promise<number> {
    let n = 0;
    for (const r of this.rows) if (r.state === 'pending' && r.leaseUntil !== 0) (r.leaseUntil = 0), n++;
    return n;
  }

  async duePairs(bus: number, now: number, limit: number): Promise<DeliveryPair[]> {
    const heads = new Map<string, Row>();
    for (const r of this.rows) {
      if (r.bus !== bus || r.state !== 'pending') continue;
      const k = `${r.connection}\u0000${r.route}`;
      const h = heads.get(k);
      if (!h || r.messageId < h.messageId) heads.set(k, r);
    }
    return [...heads.values()]
      .filter((h) => h.nextAt <= now && h.leaseUntil <= now)
      .slice(0, limit)
      .map((h) => ({ connection: h.connection, route: h.route }));
  }

  async claim(bus: number, pair: DeliveryPair, limit: number, leaseUntil: number): Promise<ClaimedDelivery[]> {
    const rows = this.rows
      .filter((r) => r.bus === bus && r.state === 'pending' && r.connection === pair.connection && r.route === pair.route)
      .sort((a, b) => a.messageId - b.messageId)
      .slice(0, limit);
    for (const r of rows) r.leaseUntil = leaseUntil;
    return rows.map((r) => ({
      ...r,
      interrupted: r.started,
      message: {
        sha256: `sha-${r.messageId}`,
        size: 100,
        blob: { ref: `ref-${r.messageId}`, storedSize: 100 },
        attributesJson: JSON.stringify({ Subject: `message ${r.messageId}` }),
        parsed: true,
        mailbox: 'INBOX',
        uidValidity: 7,
        uid: r.messageId,
        uidl: null,
      },
    }));
  }

  async release(ids: string[]): Promise<void> {
    for (const id of ids) Object.assign(this.get(id), { leaseUntil: 0, started: false });
  }

  /** Every attemptsStarted call, in order: [started, finished]. */
  readonly startWrites: Array<[string[], string[]]> = [];

  async attemptsStarted(started: readonly string[], finished: readonly string[]): Promise<void> {
    this.startWrites.push([[...started], [...finished]]);
    for (const id of finished) this.get(id).started = false;
    for (const id of started) this.get(id).started = true;
  }

  async stepDone(id: string, nextStep: number): Promise<void> {
    Object.assign(this.get(id), { step: nextStep, attempts: 0, lastError: null, started: false });
  }

  async doneMany(records: ReadonlyArray<{ id: string; at: number; response: ServerResponse | null }>): Promise<void> {
    for (const r of records) Object.assign(this.get(r.id), { state: 'done', doneAt: r.at, leaseUntil: 0, response: r.response, started: false });
  }

  async retryLater(id: string, step: number, attempts: number, nextAt: number, error: string): Promise<void> {
    Object.assign(this.get(id), { step, attempts, nextAt, lastError: error, leaseUntil: 0, started: false });
  }

  async deadLetter(id: string, step: number, attempts: number, at: number, error: string, response: ServerResponse | null): Promise<void> {
    Object.assign(this.get(id), { state: 'dead', step, attempts, doneAt: at, lastError: error, response, leaseUntil: 0, started: false });
  }

  async list(q: DeliveryQuery): Promise<DeliveryRecord[]> {
    return this.rows.filter((r) => (!q.state || r.state === q.state) && (!q.route || r.route === q.route) && (!q.connection || r.connection === q.connection));
  }

  async replay(selection: { ids: string[] } | { allDead: true; route?: string }, now: number): Promise<string[]> {
    const hit = this.rows.filter((r) => r.state === 'dead' && ('ids' in selection ? selection.ids.includes(r.id) : !selection.route || r.route === selection.route));
    for (const r of hit) Object.assign(r, { state: 'pending', attempts: 0, nextAt: now, doneAt: null, response: null, started: false });
    return hit.map((r) => r.id);
  }

  async nextDue(bus: number, routes: readonly string[]): Promise<number | null> {
    const due = this.rows.filter((r) => r.bus === bus && r.state === 'pending' && routes.includes(r.route)).map((r) => r.nextAt);
    return due.length ? Math.min(...due) : null;
  }

  async counts(): Promise<DeliveryCounts> {
    const out: DeliveryCounts = {};
    for (const r of this.rows) (out[r.route] ??= { pending: 0, done: 0, dead: 0 })[r.state]++;
    return out;
  }
}
