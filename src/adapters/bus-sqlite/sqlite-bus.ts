/**
 * `MessageBus` and `DeliveryAdmin` on the embedded SQLite database: the `deliveries` table of
 * `archive.db`, on the store's own connection (the store queues deliveries in the transaction that
 * saves a parse result; this class claims them, records their progress, lists, counts and replays
 * them). WAL with the connection's `synchronous` (`FULL` but on the dispatcher's own connection,
 * ADR 0007): a delivery recorded done survives a power cut, so it is not sent again.
 *
 * Every transaction that reads and then writes begins IMMEDIATE: the dispatcher's thread and the
 * main thread are two connections to one database (ADR 0007), and a deferred transaction whose
 * read snapshot went stale by the other's commit fails at its first write with "database is
 * locked" at once, without the busy timeout helping. The store's transactions do the same.
 */
import type { ClaimedDelivery, DeliveryPair, DeliveryRecord, DeliveryState, MessageBus } from '../../core/ports/message-bus.js';
import type { DeliveryAdmin, DeliveryCounts, DeliveryQuery } from '../../core/ports/delivery-admin.js';
import type { ServerResponse } from '../../core/ports/scenario-action.js';
import { toClaimedDelivery, toDeliveryRecord, type ClaimedDeliveryRow, type DeliveryRow } from '../../core/bus/delivery-row.js';
import { SqlWhere } from '../sqlite-node/sql-where.js';
import { SqliteStatements } from './sqlite-statements.js';
import type { SqliteBusOptions } from './sqlite-bus-config.js';
import { immediateOnMain } from '../sqlite-node/sqlite-write-lock.js';

/**
 * The parse barrier of `connection` (an SQL expression: a column or `?`). Mailbox order across the parse stage: the index stage parses in parallel and saves in groups,
 * so message N+1 can be routed (its deliveries queued) before message N. A delivery is therefore
 * claimable only below the connection's first message still waiting to be parsed, whose
 * deliveries are not known yet (`messages_unparsed_by_connection` is a partial index on exactly those rows).
 */
function parseBarrier(connection: string): string {
  return `COALESCE((SELECT MIN(u.id) FROM messages u WHERE u.parse_state = 0 AND u.connection = ${connection}), 9223372036854775807)`;
}

const COLUMNS = 'd.id, d.message_id, d.connection, d.route, d.bus, d.step, d.attempts, d.next_at, d.state, d.last_error, d.response, d.created_at, d.done_at';

/** The deliveries of one `archive.db`. */
export class SqliteBus implements MessageBus, DeliveryAdmin {
  private readonly sql: SqliteStatements;
  private readonly db: SqliteStatements['db'];
  /** The connection's `PRAGMA synchronous` (1 NORMAL, 2 FULL, 3 EXTRA), read at the first mark write. */
  private syncLevel: number | undefined;

  constructor(options: SqliteBusOptions) {
    this.sql = new SqliteStatements(options);
    this.db = options.db;
  }

  private stmt(sql: string): ReturnType<SqliteStatements['stmt']> {
    return this.sql.stmt(sql);
  }

  private run<T>(doing: string, fn: () => T): Promise<T> {
    return this.sql.run(doing, fn);
  }

  async releaseAll(): Promise<number> {
    return this.run('releasing claimed deliveries', () => this.stmt("UPDATE deliveries SET lease_until = 0 WHERE state = 'pending' AND lease_until <> 0").run().changes);
  }

  async duePairs(bus: number, now: number, limit: number): Promise<DeliveryPair[]> {
    // A skip scan over the partial index `deliveries_lane` (bus, connection, route, message_id):
    // per pair one indexed seek, whose first row is the pair's head (lowest pending message id).
    // A GROUP BY over every pending row cost ~4 ms per call with 5,000 queued, and a lane calls
    // this every `pollMs` while it has room. The seek is the next route of the same connection,
    // else the first pair of the next connection: a row value `(connection, route) > (?, ?)`
    // seeks on the connection only and then scans all its rows. A pair whose head waits for its
    // retry, is claimed, or is not below its connection's parse barrier is not due, whatever
    // stands behind it.
    const cols = 'connection, route, message_id, next_at, lease_until';
    const sameConnection = this.stmt(
      `SELECT ${cols} FROM deliveries WHERE bus = ? AND state = 'pending' AND connection = ? AND route > ? ORDER BY route, message_id LIMIT 1`,
    );
    const nextConnection = this.stmt(`SELECT ${cols} FROM deliveries WHERE bus = ? AND state = 'pending' AND connection > ? ORDER BY connection, route, message_id LIMIT 1`);
    type Head = { connection: string; route: string; message_id: number; next_at: number; lease_until: number };
    const next = (after: { connection: string; route: string } | null): Head | undefined =>
      after === null
        ? (nextConnection.get(bus, '') as Head | undefined)
        : ((sameConnection.get(bus, after.connection, after.route) ?? nextConnection.get(bus, after.connection)) as Head | undefined);
    const barrier = this.stmt(`SELECT ${parseBarrier('?')} AS b`);
    return this.run('finding due deliveries', () => {
      const due: Array<DeliveryPair & { nextAt: number }> = [];
      let after: Head | null = null;
      for (;;) {
        const head = next(after);
        if (!head) break;
        after = head;
        if (head.next_at > now || head.lease_until > now) continue;
        if (head.message_id >= (barrier.get(head.connection) as { b: number }).b) continue;
        due.push({ connection: head.connection, route: head.route, nextAt: head.next_at });
      }
      due.sort((a, b) => a.nextAt - b.nextAt);
      return due.slice(0, limit).map(({ connection, route }) => ({ connection, route }));
    });
  }

  async claim(bus: number, pair: DeliveryPair, limit: number, leaseUntil: number): Promise<ClaimedDelivery[]> {
    const select = this.stmt(
      `SELECT ${COLUMNS}, d.started, m.sha256, m.size, m.mailbox, m.uid_validity, m.uid, m.uidl, m.parse_state, m.attributes, b.ref, b.stored_size
       FROM deliveries d JOIN messages m ON m.id = d.message_id JOIN blobs b ON b.sha256 = m.sha256
       WHERE d.bus = ? AND d.state = 'pending' AND d.connection = ? AND d.route = ? AND d.message_id < ${parseBarrier('d.connection')}
       ORDER BY d.message_id LIMIT ?`,
    );
    // One statement for the whole claim (the ids as a JSON array), not one per row.
    const lease = this.stmt('UPDATE deliveries SET lease_until = ? WHERE id IN (SELECT value FROM json_each(?))');
    return this.run('claiming deliveries', () =>
      immediateOnMain(this.db, () => {
        const rows = select.all(bus, pair.connection, pair.route, limit) as ClaimedDeliveryRow[];
        if (rows.length > 0) lease.run(leaseUntil, JSON.stringify(rows.map((r) => r.id)));
        return rows.map(toClaimedDelivery);
      }),
    );
  }

  async release(ids: string[]): Promise<void> {
    const s = this.stmt('UPDATE deliveries SET lease_until = 0, started = 0 WHERE id = ?');
    await this.run('releasing deliveries', () =>
      immediateOnMain(this.db, () => {
        for (const id of ids) s.run(id);
      }),
    );
  }

  async stepDone(id: string, nextStep: number): Promise<void> {
    await this.run('recording a delivery step', () => this.stmt('UPDATE deliveries SET step = ?, attempts = 0, last_error = NULL, started = 0 WHERE id = ?').run(nextStep, id));
  }

  async attemptsStarted(started: readonly string[], finished: readonly string[]): Promise<void> {
    if (started.length === 0 && finished.length === 0) return;
    // By primary key through `IN (json_each)`, as the claim's lease: an UPDATE ... FROM json_each
    // scanned the whole table per write (~300 µs at 2,000 deliveries).
    const mark = this.stmt('UPDATE deliveries SET started = ? WHERE id IN (SELECT value FROM json_each(?))');
    await this.run('recording attempts started', () => {
      // In the WAL, not yet fsynced: that survives the process dying, which is what the mark is
      // for, without an fsync before every action. The next commit with the connection's own
      // setting (a claim, a retry, doneMany) makes it durable along with its own rows.
      const write = (): void => immediateOnMain(this.db, () => {
        if (finished.length > 0) mark.run(0, JSON.stringify(finished));
        if (started.length > 0) mark.run(1, JSON.stringify(started));
      });
      // The dispatcher's own connection is already NORMAL (ADR 0007): no toggling there, three
      // statements per mark write saved on the path of every delivery.
      this.syncLevel ??= (this.stmt('PRAGMA synchronous').get() as { synchronous: number }).synchronous;
      if (this.syncLevel === 1) {
        write();
        return;
      }
      this.stmt('PRAGMA synchronous = NORMAL').run();
      try {
        write();
      } finally {
        // The statements are cached (see stmt()); the connection's setting is put back.
        this.stmt(`PRAGMA synchronous = ${this.syncLevel === 3 ? 3 : 2}`).run();
      }
    });
  }

  async doneMany(records: ReadonlyArray<{ id: string; at: number; response: ServerResponse | null; attempts?: number }>): Promise<void> {
    if (records.length === 0) return;
    // One statement for the batch (rows as a JSON array): a statement per delivery was most of the
    // dispatcher thread's SQLite time.
    const s = this.stmt(
      `UPDATE deliveries SET state = 'done', done_at = j.value->>1, lease_until = 0, started = 0, last_error = NULL, response = j.value->>2,
         attempts = COALESCE(j.value->>3, attempts)
       FROM json_each(?) j WHERE deliveries.id = j.value->>0`,
    );
    const rows = JSON.stringify(records.map((r) => [r.id, r.at, r.response ? JSON.stringify(r.response) : null, r.attempts ?? null]));
    await this.run('recording deliveries done', () => immediateOnMain(this.db, () => s.run(rows)));
  }

  async retryLater(id: string, step: number, attempts: number, nextAt: number, error: string): Promise<void> {
    await this.run('scheduling a delivery retry', () =>
      this.stmt('UPDATE deliveries SET step = ?, attempts = ?, next_at = ?, last_error = ?, lease_until = 0, started = 0 WHERE id = ?').run(step, attempts, nextAt, error, id),
    );
  }

  async deadLetter(id: string, step: number, attempts: number, at: number, error: string, response: ServerResponse | null): Promise<void> {
    const dead = this.stmt("UPDATE deliveries SET state = 'dead', step = ?, attempts = ?, done_at = ?, last_error = ?, response = ?, lease_until = 0, started = 0 WHERE id = ?");
    await this.run('dead-lettering a delivery', () => dead.run(step, attempts, at, error, response ? JSON.stringify(response) : null, id));
  }

  async list(q: DeliveryQuery): Promise<DeliveryRecord[]> {
    const where = new SqlWhere().when('d.state = ?', q.state).when('d.route = ?', q.route).when('d.connection = ?', q.connection);
    // A row value in the ORDER BY's own terms: the page after `after`, however deep.
    if (q.after) where.withArgs('(d.message_id, d.route) > (?, ?)', q.after.messageId, q.after.route);
    const sql = `SELECT ${COLUMNS} FROM deliveries d ${where.clause()} ORDER BY d.message_id, d.route LIMIT ?`;
    return this.run('listing deliveries', () => (this.stmt(sql).all(...where.args, q.limit ?? 1000) as DeliveryRow[]).map(toDeliveryRecord));
  }

  async replay(selection: { ids: string[] } | { allDead: true; route?: string }, now: number): Promise<string[]> {
    // The response goes with its result: the replayed delivery ends with a response of its own.
    const set = "SET state = 'pending', attempts = 0, next_at = ?, lease_until = 0, started = 0, done_at = NULL, response = NULL, response_result = NULL, response_note = NULL, response_at = NULL";
    return this.run('replaying dead deliveries', () =>
      immediateOnMain(this.db, () => {
        if ('ids' in selection) {
          const s = this.stmt(`UPDATE deliveries ${set} WHERE id = ? AND state = 'dead' RETURNING id`);
          return selection.ids.flatMap((id) => (s.all(now, id) as Array<{ id: string }>).map((r) => r.id));
        }
        const rows = selection.route
          ? (this.stmt(`UPDATE deliveries ${set} WHERE state = 'dead' AND route = ? RETURNING id`).all(now, selection.route) as Array<{ id: string }>)
          : (this.stmt(`UPDATE deliveries ${set} WHERE state = 'dead' RETURNING id`).all(now) as Array<{ id: string }>);
        return rows.map((r) => r.id);
      }),
    );
  }

  async nextDue(bus: number, routes: readonly string[]): Promise<number | null> {
    if (routes.length === 0) return null;
    const sql = `SELECT MIN(next_at) AS n FROM deliveries WHERE bus = ? AND state = 'pending' AND route IN (${routes.map(() => '?').join(', ')})`;
    return this.run('finding the next due delivery', () => (this.stmt(sql).get(bus, ...routes) as { n: number | null }).n);
  }

  async counts(): Promise<DeliveryCounts> {
    const rows = await this.run(
      'counting deliveries',
      () => this.stmt('SELECT route, state, COUNT(*) AS n FROM deliveries GROUP BY route, state').all() as Array<{ route: string; state: DeliveryState; n: number }>,
    );
    const out: DeliveryCounts = {};
    for (const r of rows) (out[r.route] ??= { pending: 0, done: 0, dead: 0 })[r.state] = r.n;
    return out;
  }
}
