/**
 * The in-memory reference adapter of `MessageBus` and `DeliveryAdmin`: the semantics of the SQLite
 * bus (head of line per (connection, route) pair, the parse barrier, claims, marks of attempts
 * started, dead letters, replay) in a few arrays, held to the same contract
 * (`test/contract/message-bus.contract.ts`). The unit tests use it instead of hand-made fakes;
 * `memory-response-ledger.ts` reads the responses its rows carry.
 *
 * What the store does in SQLite (take a message, save its parse result with its deliveries, the
 * outbox) is {@link MemoryBus.take} and {@link MemoryBus.route} here; {@link MemoryBus.add} queues
 * a delivery of an already routed message in one call.
 */
import type { ClaimedDelivery, DeliveryMessage, DeliveryPair, DeliveryRecord, MessageBus } from '../../src/core/ports/message-bus.js';
import type { DeliveryAdmin, DeliveryCounts, DeliveryQuery } from '../../src/core/ports/delivery-admin.js';
import type { ResponseResult } from '../../src/core/ports/response-ledger.js';
import type { ServerResponse } from '../../src/core/ports/scenario-action.js';

/** A delivery as kept: the record plus what the SQLite table keeps beside it. */
export interface MemoryDeliveryRow extends DeliveryRecord {
  leaseUntil: number;
  /** An attempt recorded started and not ended (attemptsStarted). */
  started: boolean;
  /** How applying the response ended (the response ledger's columns). */
  responseResult: ResponseResult | null;
  responseNote: string | null;
  responseAt: number | null;
}

/** A message as the bus sees it: its connection, whether it is routed yet, what a claim hands over. */
export interface MemoryMessage extends DeliveryMessage {
  id: number;
  connection: string;
  /** Its parse result saved (its deliveries queued); false: it is its connection's parse barrier. */
  routed: boolean;
  /** The candidate key it was taken under (`imap:…`, `pop3:…`, `ews:…`). */
  sourceKey: string;
}

/** Where a message was taken (defaults: INBOX, UIDVALIDITY 7, the message id as UID). */
export interface MemorySourceKey {
  mailbox?: string;
  uidValidity?: number;
  uid?: number | null;
  uidl?: string | null;
  /** The candidate key; default `imap:<mailbox>:<uidvalidity>:<uid>`, or `pop3:<uidl or id>` without a UID. */
  key?: string;
}

const record = (r: MemoryDeliveryRow): DeliveryRecord => ({
  id: r.id,
  messageId: r.messageId,
  connection: r.connection,
  route: r.route,
  bus: r.bus,
  step: r.step,
  attempts: r.attempts,
  nextAt: r.nextAt,
  state: r.state,
  lastError: r.lastError,
  response: r.response,
  createdAt: r.createdAt,
  doneAt: r.doneAt,
});

/** See the module comment. */
export class MemoryBus implements MessageBus, DeliveryAdmin {
  readonly rows: MemoryDeliveryRow[] = [];
  readonly messages = new Map<number, MemoryMessage>();
  /** Every attemptsStarted call, in order: [started, finished]. */
  readonly startWrites: Array<[string[], string[]]> = [];

  /** Takes a message of `connection`, waiting to be parsed (the parse barrier), and returns its id. */
  take(connection: string, key: MemorySourceKey = {}): number {
    const id = Math.max(0, ...this.messages.keys()) + 1;
    this.messages.set(id, this.message(id, connection, false, key));
    return id;
  }

  /** Saves message `id`'s parse result with a delivery on each route (the store's outbox). */
  route(id: number, routes: ReadonlyArray<{ route: string; bus: number }>, at = 0): void {
    const m = this.messages.get(id);
    if (!m) throw new Error(`no message ${id}`);
    m.routed = true;
    for (const r of routes) this.queue(m.connection, r.route, r.bus, id, at);
  }

  /** Queues a delivery of message `messageId` on `route` (the message routed, with default facts, when not taken before). */
  add(connection: string, route: string, bus: number, messageId: number, at = 0): void {
    if (!this.messages.has(messageId)) this.messages.set(messageId, this.message(messageId, connection, true, {}));
    this.queue(connection, route, bus, messageId, at);
  }

  get(id: string): MemoryDeliveryRow {
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
    const heads = new Map<string, MemoryDeliveryRow>();
    for (const r of this.rows) {
      if (r.bus !== bus || r.state !== 'pending') continue;
      const k = `${r.connection}\u0000${r.route}`;
      const h = heads.get(k);
      if (!h || r.messageId < h.messageId) heads.set(k, r);
    }
    return [...heads.values()]
      .filter((h) => h.nextAt <= now && h.leaseUntil <= now && h.messageId < this.barrier(h.connection))
      .sort((a, b) => (a.connection < b.connection ? -1 : a.connection > b.connection ? 1 : a.route < b.route ? -1 : a.route > b.route ? 1 : 0))
      .sort((a, b) => a.nextAt - b.nextAt)
      .slice(0, limit)
      .map((h) => ({ connection: h.connection, route: h.route }));
  }

  async claim(bus: number, pair: DeliveryPair, limit: number, leaseUntil: number): Promise<ClaimedDelivery[]> {
    const barrier = this.barrier(pair.connection);
    const rows = this.rows
      .filter((r) => r.bus === bus && r.state === 'pending' && r.connection === pair.connection && r.route === pair.route && r.messageId < barrier)
      .sort((a, b) => a.messageId - b.messageId)
      .slice(0, limit);
    for (const r of rows) r.leaseUntil = leaseUntil;
    return rows.map((r) => {
      const { id: _id, connection: _c, routed: _r, sourceKey: _k, ...message } = this.messages.get(r.messageId)!;
      return { ...record(r), interrupted: r.started, message: { ...message, blob: { ...message.blob } } };
    });
  }

  async release(ids: string[]): Promise<void> {
    for (const id of ids) Object.assign(this.get(id), { leaseUntil: 0, started: false });
  }

  async attemptsStarted(started: readonly string[], finished: readonly string[]): Promise<void> {
    if (started.length === 0 && finished.length === 0) return;
    this.startWrites.push([[...started], [...finished]]);
    for (const id of finished) this.get(id).started = false;
    for (const id of started) this.get(id).started = true;
  }

  async stepDone(id: string, nextStep: number): Promise<void> {
    Object.assign(this.get(id), { step: nextStep, attempts: 0, lastError: null, started: false });
  }

  async doneMany(records: ReadonlyArray<{ id: string; at: number; response: ServerResponse | null; attempts?: number }>): Promise<void> {
    for (const r of records) {
      const row = this.get(r.id);
      Object.assign(row, { state: 'done', doneAt: r.at, leaseUntil: 0, started: false, lastError: null, response: r.response, attempts: r.attempts ?? row.attempts });
    }
  }

  async retryLater(id: string, step: number, attempts: number, nextAt: number, error: string): Promise<void> {
    Object.assign(this.get(id), { step, attempts, nextAt, lastError: error, leaseUntil: 0, started: false });
  }

  async deadLetter(id: string, step: number, attempts: number, at: number, error: string, response: ServerResponse | null): Promise<void> {
    Object.assign(this.get(id), { state: 'dead', step, attempts, doneAt: at, lastError: error, response, leaseUntil: 0, started: false });
  }

  async list(q: DeliveryQuery): Promise<DeliveryRecord[]> {
    return this.rows
      .filter((r) => (!q.state || r.state === q.state) && (!q.route || r.route === q.route) && (!q.connection || r.connection === q.connection))
      .sort((a, b) => a.messageId - b.messageId || (a.route < b.route ? -1 : a.route > b.route ? 1 : 0))
      .slice(0, q.limit ?? 1000)
      .map(record);
  }

  async replay(selection: { ids: string[] } | { allDead: true; route?: string }, now: number): Promise<string[]> {
    const dead = (r: MemoryDeliveryRow | undefined): r is MemoryDeliveryRow => r?.state === 'dead';
    const hit =
      'ids' in selection
        ? selection.ids.map((id) => this.rows.find((r) => r.id === id)).filter(dead)
        : this.rows.filter((r) => dead(r) && (!selection.route || r.route === selection.route));
    for (const r of hit) {
      Object.assign(r, { state: 'pending', attempts: 0, nextAt: now, leaseUntil: 0, started: false, doneAt: null, response: null, responseResult: null, responseNote: null, responseAt: null });
    }
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

  /** The connection's first message not routed yet: nothing of it at or above is claimable. */
  private barrier(connection: string): number {
    let b = Infinity;
    for (const m of this.messages.values()) if (m.connection === connection && !m.routed && m.id < b) b = m.id;
    return b;
  }

  private message(id: number, connection: string, routed: boolean, key: MemorySourceKey): MemoryMessage {
    const mailbox = key.mailbox ?? 'INBOX';
    const uidValidity = key.uidValidity ?? 7;
    const uid = key.uid === undefined ? id : key.uid;
    return {
      id,
      connection,
      routed,
      sha256: `sha-${id}`,
      size: 100,
      blob: { ref: `ref-${id}`, storedSize: 100 },
      attributesJson: JSON.stringify({ Subject: `message ${id}` }),
      parsed: true,
      mailbox,
      uidValidity,
      uid: key.uid === undefined ? id : key.uid,
      uidl: key.uidl ?? null,
      sourceKey: key.key ?? (uid === null ? `pop3:${key.uidl ?? id}` : `imap:${mailbox}:${uidValidity}:${uid}`),
    };
  }

  private queue(connection: string, route: string, bus: number, messageId: number, at: number): void {
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
      responseResult: null,
      responseNote: null,
      responseAt: null,
    });
  }
}
