/**
 * `MessageBus` and `DeliveryAdmin` on PostgreSQL: the `deliveries` table the PostgreSQL store
 * writes in the transaction that saves a parse result (the outbox, ADR 0006), shared by every
 * worker of a deployment (ADR 0052). The rules are bus-sqlite's; what several workers add:
 *
 * - a claim records its holder (`claimed_by`, this worker's id) with its lease (`lease_until`);
 * - a claim runs under `pg_try_advisory_xact_lock` on its (connection, route) pair, so two workers
 *   never claim one pair at once, and it stops at the first delivery another worker holds under
 *   a running lease: a pair's head is in one worker's hands at a time, and mailbox order is kept
 *   across workers as the embedded bus keeps it in one;
 * - `releaseAll` gives back only this worker's claims and expired ones, never a live worker's;
 * - an outcome (retry, dead letter, step, done, release, attempt marks) is written only to a
 *   delivery no other worker holds: a worker that lost its claim (its lease ran out and another
 *   took the delivery over) records nothing over the new holder's work.
 */
import { randomUUID } from 'node:crypto';
import type { ClaimedDelivery, DeliveryPair, DeliveryRecord, DeliveryState, MessageBus } from '../../core/ports/message-bus.js';
import type { DeliveryAdmin, DeliveryCounts, DeliveryQuery } from '../../core/ports/delivery-admin.js';
import type { ServerResponse } from '../../core/ports/scenario-action.js';
import { toClaimedDelivery, toDeliveryRecord, type ClaimedDeliveryRow, type DeliveryRow } from '../../core/bus/delivery-row.js';
import type { PostgresBusConnection, PostgresBusOptions } from './postgres-bus-config.js';

interface ClaimRow extends ClaimedDeliveryRow {
  lease_until: number;
  claimed_by: string | null;
}

/**
 * The parse barrier of the connection `column` names: a delivery is claimable only below its
 * connection's first message still waiting to be parsed, whose deliveries are not known yet
 * (bus-sqlite's rule; `messages_unparsed_by_connection` serves it).
 */
const parseBarrier = (column: string): string =>
  `COALESCE((SELECT min(u.id) FROM messages u WHERE u.parse_state = 0 AND u.connection = ${column}), 9223372036854775807)`;

const COLUMNS = 'd.id, d.message_id, d.connection, d.route, d.bus, d.step, d.attempts, d.next_at, d.state, d.last_error, d.response, d.created_at, d.done_at';

/** The first key of the pairs' advisory locks (ASCII "mspr"); the second is the pair's hash. */
const PAIR_LOCK = 0x6d737072;

/** Ends a claim: what every outcome but a step done sets. */
const UNCLAIM = 'lease_until = 0, claimed_by = NULL, started = false';

/** The deliveries of one deployment's schema, as one worker sees and works them. */
export class PostgresBus implements MessageBus, DeliveryAdmin {
  /** This worker, as recorded on its claims. */
  readonly workerId: string;
  private readonly db: PostgresBusConnection;
  private readonly now: () => number;

  constructor(options: PostgresBusOptions) {
    this.db = options.db;
    this.workerId = options.workerId ?? randomUUID();
    this.now = options.now ?? Date.now;
  }

  /** The condition an outcome's row must meet: no other worker holds it (`$1` is this worker). */
  private static readonly MINE = '(claimed_by IS NULL OR claimed_by = $1)';

  async releaseAll(): Promise<number> {
    // `started` stays: an attempt of a worker that died is reported by the next claim.
    const rows = await this.db.query(
      `UPDATE deliveries SET lease_until = 0, claimed_by = NULL
       WHERE state = 'pending' AND lease_until <> 0 AND (claimed_by IS NULL OR claimed_by = $1 OR lease_until <= $2) RETURNING id`,
      [this.workerId, this.now()],
      'releasing claimed deliveries',
      true,
    );
    return rows.length;
  }

  async duePairs(bus: number, now: number, limit: number): Promise<DeliveryPair[]> {
    // A skip scan over `deliveries_lane` (bus, connection, route, message_id), as bus-sqlite's:
    // one indexed seek per pair, whose first row is the pair's head; a DISTINCT ON read every
    // pending row of the bus. A head that waits for its retry, is claimed (by any worker) or is
    // not below its connection's parse barrier holds its pair back.
    const rows = await this.db.query<{ connection: string; route: string }>(
      `WITH RECURSIVE heads AS (
         (SELECT connection, route, message_id, next_at, lease_until FROM deliveries
          WHERE bus = $1 AND state = 'pending' ORDER BY connection, route, message_id LIMIT 1)
         UNION ALL
         SELECT n.* FROM heads h, LATERAL (
           SELECT connection, route, message_id, next_at, lease_until FROM deliveries
           WHERE bus = $1 AND state = 'pending' AND (connection, route) > (h.connection, h.route)
           ORDER BY connection, route, message_id LIMIT 1) n
       )
       SELECT connection, route FROM heads
       WHERE next_at <= $2 AND lease_until <= $2 AND message_id < ${parseBarrier('heads.connection')}
       ORDER BY next_at, connection COLLATE "C", route COLLATE "C" LIMIT $3`,
      [bus, now, limit],
      'finding due deliveries',
    );
    return rows.map((r) => ({ connection: r.connection, route: r.route }));
  }

  async claim(bus: number, pair: DeliveryPair, limit: number, leaseUntil: number): Promise<ClaimedDelivery[]> {
    return this.db.tx('claiming deliveries', async (c) => {
      // Another worker claiming this pair right now gets it; this one comes back empty rather
      // than waiting to find the head held (system names have no `.`: the key is the pair's).
      const lock = await c.query<{ got: boolean }>('SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS got', [PAIR_LOCK, `${pair.connection}.${pair.route}`]);
      if (!lock.rows[0]!.got) return [];
      // Read after the lock, so under READ COMMITTED it sees the last claim of the pair committed.
      const { rows } = await c.query<ClaimRow>(
        `SELECT ${COLUMNS}, d.started, d.lease_until, d.claimed_by, m.sha256, m.size, m.mailbox, m.uid_validity, m.uid, m.uidl, m.parse_state, m.attributes, b.ref, b.stored_size
         FROM deliveries d JOIN messages m ON m.id = d.message_id JOIN blobs b ON b.sha256 = m.sha256
         WHERE d.bus = $1 AND d.state = 'pending' AND d.connection = $2 AND d.route = $3 AND d.message_id < ${parseBarrier('d.connection')}
         ORDER BY d.message_id LIMIT $4`,
        [bus, pair.connection, pair.route, limit],
      );
      // In message order up to the first another worker holds under a running lease: nothing
      // behind another worker's delivery is taken, so one pair is never worked by two at once.
      const now = this.now();
      const held = rows.findIndex((r) => r.claimed_by !== null && r.claimed_by !== this.workerId && r.lease_until > now);
      const mine = held === -1 ? rows : rows.slice(0, held);
      if (mine.length > 0) {
        await c.query('UPDATE deliveries SET lease_until = $1, claimed_by = $2 WHERE id = ANY($3::text[])', [leaseUntil, this.workerId, mine.map((r) => r.id)]);
      }
      return mine.map(toClaimedDelivery);
    });
  }

  async release(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query(`UPDATE deliveries SET ${UNCLAIM} WHERE id = ANY($2::text[]) AND ${PostgresBus.MINE}`, [this.workerId, ids], 'releasing deliveries', true);
  }

  async attemptsStarted(started: readonly string[], finished: readonly string[]): Promise<void> {
    if (started.length === 0 && finished.length === 0) return;
    // Committed without waiting for the WAL flush (`synchronous_commit = off` for this
    // transaction only): the mark survives the worker dying, which is what it is for, and may be
    // lost with the server (an uncounted attempt at most), as bus-sqlite's mark without an fsync.
    await this.db.tx('recording attempts started', async (c) => {
      await c.query('SET LOCAL synchronous_commit = off');
      await c.query(`UPDATE deliveries SET started = (id = ANY($2::text[])) WHERE (id = ANY($2::text[]) OR id = ANY($3::text[])) AND ${PostgresBus.MINE}`, [
        this.workerId,
        [...started],
        [...finished],
      ]);
    });
  }

  async stepDone(id: string, nextStep: number): Promise<void> {
    await this.db.query(
      `UPDATE deliveries SET step = $3, attempts = 0, last_error = NULL, started = false WHERE id = $2 AND ${PostgresBus.MINE}`,
      [this.workerId, id, nextStep],
      'recording a delivery step',
      true,
    );
  }

  async doneMany(records: ReadonlyArray<{ id: string; at: number; response: ServerResponse | null; attempts?: number }>): Promise<void> {
    if (records.length === 0) return;
    // One statement for the batch over arrays, as the store's group commit.
    await this.db.query(
      `UPDATE deliveries d SET state = 'done', done_at = x.at, ${UNCLAIM}, last_error = NULL, response = x.response, attempts = COALESCE(x.attempts, d.attempts)
       FROM unnest($2::text[], $3::bigint[], $4::text[], $5::int[]) AS x(id, at, response, attempts)
       WHERE d.id = x.id AND (d.claimed_by IS NULL OR d.claimed_by = $1)`,
      [this.workerId, records.map((r) => r.id), records.map((r) => r.at), records.map((r) => (r.response ? JSON.stringify(r.response) : null)), records.map((r) => r.attempts ?? null)],
      'recording deliveries done',
      true,
    );
  }

  async retryLater(id: string, step: number, attempts: number, nextAt: number, error: string): Promise<void> {
    await this.db.query(
      `UPDATE deliveries SET step = $3, attempts = $4, next_at = $5, last_error = $6, ${UNCLAIM} WHERE id = $2 AND ${PostgresBus.MINE}`,
      [this.workerId, id, step, attempts, nextAt, error],
      'scheduling a delivery retry',
      true,
    );
  }

  async deadLetter(id: string, step: number, attempts: number, at: number, error: string, response: ServerResponse | null): Promise<void> {
    await this.db.query(
      `UPDATE deliveries SET state = 'dead', step = $3, attempts = $4, done_at = $5, last_error = $6, response = $7, ${UNCLAIM} WHERE id = $2 AND ${PostgresBus.MINE}`,
      [this.workerId, id, step, attempts, at, error, response ? JSON.stringify(response) : null],
      'dead-lettering a delivery',
      true,
    );
  }

  async list(q: DeliveryQuery): Promise<DeliveryRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (sql: (n: number) => string, ...values: unknown[]): void => {
      where.push(sql(args.length + 1));
      args.push(...values);
    };
    if (q.state !== undefined) add((n) => `d.state = $${n}`, q.state);
    if (q.route !== undefined) add((n) => `d.route = $${n}`, q.route);
    if (q.connection !== undefined) add((n) => `d.connection = $${n}`, q.connection);
    // In the ORDER BY's own terms (route in byte order, as SQLite's): the page after `after`.
    if (q.after) add((n) => `(d.message_id > $${n} OR (d.message_id = $${n} AND d.route COLLATE "C" > $${n + 1}))`, q.after.messageId, q.after.route);
    args.push(q.limit ?? 1000);
    const rows = await this.db.query<DeliveryRow>(
      `SELECT ${COLUMNS} FROM deliveries d ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY d.message_id, d.route COLLATE "C" LIMIT $${args.length}`,
      args,
      'listing deliveries',
    );
    return rows.map(toDeliveryRecord);
  }

  async replay(selection: { ids: string[] } | { allDead: true; route?: string }, now: number): Promise<string[]> {
    // The response goes with its result: the replayed delivery ends with a response of its own.
    const set = `SET state = 'pending', attempts = 0, next_at = $1, ${UNCLAIM}, done_at = NULL, response = NULL, response_result = NULL, response_note = NULL, response_at = NULL`;
    const [where, args] =
      'ids' in selection
        ? ['id = ANY($2::text[])', [now, selection.ids]]
        : selection.route !== undefined
          ? ['route = $2', [now, selection.route]]
          : ['true', [now]];
    const rows = await this.db.query<{ id: string }>(`UPDATE deliveries ${set} WHERE state = 'dead' AND ${where} RETURNING id`, args, 'replaying dead deliveries', true);
    return rows.map((r) => r.id);
  }

  async nextDue(bus: number, routes: readonly string[]): Promise<number | null> {
    if (routes.length === 0) return null;
    const rows = await this.db.query<{ n: number | null }>(
      "SELECT min(next_at) AS n FROM deliveries WHERE bus = $1 AND state = 'pending' AND route = ANY($2::text[])",
      [bus, [...routes]],
      'finding the next due delivery',
    );
    return rows[0]?.n ?? null;
  }

  async counts(): Promise<DeliveryCounts> {
    const rows = await this.db.query<{ route: string; state: DeliveryState; n: number }>(
      'SELECT route, state, count(*) AS n FROM deliveries GROUP BY route, state',
      [],
      'counting deliveries',
    );
    const out: DeliveryCounts = {};
    for (const r of rows) (out[r.route] ??= { pending: 0, done: 0, dead: 0 })[r.state] = r.n;
    return out;
  }
}
