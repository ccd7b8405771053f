/**
 * Connection leases on PostgreSQL (`ConnectionLeases`, ADR 0053): a row per leased key in
 * `connection_leases` (holder, token, expiry), tokens from the `lease_tokens` sequence, the
 * workers' heartbeats in `lease_workers`. Every expiry is set and compared on the server's clock
 * (`clock_timestamp()`: the time of the statement, not of its transaction's start), so the
 * workers' clocks never meet. Each operation is one statement: atomic without a transaction.
 */
import { MailsluiceError } from '../../core/errors/index.js';
import type { CommitFence, ConnectionLeases, HeldLease } from '../../core/ports/connection-leases.js';
import type { PostgresConnection, Queryable } from './postgres-connection.js';

/** `$n` milliseconds from now on the server's clock. */
const FROM_NOW = (n: number): string => `clock_timestamp() + $${n}::bigint * interval '1 millisecond'`;

/** How long a worker's heartbeat row stays after it expired (a worker list for the operator), before a leave sweeps it. */
const GONE_WORKER_KEPT = `interval '1 day'`;

/**
 * Checks, inside the commit's transaction `c`, that `fence` still holds: the lease row under that
 * token, unexpired. `FOR SHARE` locks the row to COMMIT, so no other worker's grant (an UPDATE
 * of the row) can come between this check and the commit: every commit under a token is ordered
 * before the next token's grant. Throws `LEASE_LOST` otherwise (the transaction is rolled back).
 */
export async function checkFence(c: Queryable, fence: CommitFence): Promise<void> {
  const { rows } = await c.query(
    'SELECT 1 FROM connection_leases WHERE key = $1 AND token = $2 AND expires_at > clock_timestamp() FOR SHARE',
    [fence.key, fence.token],
  );
  if (rows.length === 0) {
    throw new MailsluiceError('LEASE_LOST', `the lease on ${fence.key} under token ${fence.token} ran out or another worker holds it now; nothing of this commit was stored`, {
      details: { key: fence.key, token: fence.token },
    });
  }
}

/** See the module comment. */
export class PostgresConnectionLeases implements ConnectionLeases {
  constructor(private readonly conn: PostgresConnection) {}

  async acquire(key: string, holder: string, termMs: number): Promise<number | null> {
    // A grant takes a new token even for the same holder: a run under the old one is fenced out.
    // ON CONFLICT … WHERE re-reads the row after any lock on it (a commit's FOR SHARE) is gone.
    const rows = await this.conn.query<{ token: number }>(
      `INSERT INTO connection_leases (key, holder, token, expires_at) VALUES ($1, $2, nextval('lease_tokens'), ${FROM_NOW(3)})
       ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, token = excluded.token, expires_at = excluded.expires_at
       WHERE connection_leases.expires_at <= clock_timestamp() OR connection_leases.holder = excluded.holder
       RETURNING token`,
      [key, holder, termMs],
      `acquiring the lease on ${key}`,
      true,
    );
    return rows[0]?.token ?? null;
  }

  async renew(holder: string, leases: readonly CommitFence[], termMs: number): Promise<Set<string>> {
    if (leases.length === 0) return new Set();
    const rows = await this.conn.query<{ key: string }>(
      `UPDATE connection_leases l SET expires_at = ${FROM_NOW(4)}
       FROM unnest($2::text[], $3::bigint[]) AS x(k, t)
       WHERE l.key = x.k AND l.token = x.t AND l.holder = $1 AND l.expires_at > clock_timestamp()
       RETURNING l.key`,
      [holder, leases.map((l) => l.key), leases.map((l) => l.token), termMs],
      `renewing ${leases.length} leases`,
      true,
    );
    return new Set(rows.map((r) => r.key));
  }

  async release(key: string, holder: string, token: number): Promise<void> {
    await this.conn.query('DELETE FROM connection_leases WHERE key = $1 AND holder = $2 AND token = $3', [key, holder, token], `releasing the lease on ${key}`, true);
  }

  async holdings(): Promise<HeldLease[]> {
    return this.conn.query<HeldLease>(
      `SELECT key, holder, token, floor(extract(epoch FROM expires_at - clock_timestamp()) * 1000)::bigint AS "remainingMs"
       FROM connection_leases WHERE expires_at > clock_timestamp() ORDER BY key COLLATE "C"`,
      [],
      'reading the connection leases',
    );
  }

  async heartbeat(worker: string, termMs: number): Promise<void> {
    await this.conn.query(
      `INSERT INTO lease_workers (worker, expires_at) VALUES ($1, ${FROM_NOW(2)})
       ON CONFLICT (worker) DO UPDATE SET expires_at = excluded.expires_at`,
      [worker, termMs],
      'recording this worker\'s heartbeat',
      true,
    );
  }

  async liveWorkers(): Promise<string[]> {
    const rows = await this.conn.query<{ worker: string }>('SELECT worker FROM lease_workers WHERE expires_at > clock_timestamp() ORDER BY worker COLLATE "C"', [], 'listing the live workers');
    return rows.map((r) => r.worker);
  }

  async leave(worker: string): Promise<void> {
    await this.conn.query(
      `DELETE FROM lease_workers WHERE worker = $1 OR expires_at < clock_timestamp() - ${GONE_WORKER_KEPT}`,
      [worker],
      'recording that this worker stopped',
      true,
    );
  }
}
