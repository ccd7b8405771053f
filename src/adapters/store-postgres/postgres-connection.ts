/**
 * `PostgresConnection`: the pool every role of the PostgreSQL store shares, the deployment's
 * schema as every connection's `search_path`, transactions on one pooled client, and the
 * migrations, applied once under an advisory lock however many workers start at once.
 */
import pg from 'pg';
import { MailsluiceError } from '../../core/errors/index.js';
import { mapPostgresError } from './postgres-error-map.js';
import { MIGRATIONS } from './postgres-schema.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_POOL_SIZE, SCHEMA_NAME, type PostgresStoreOptions } from './postgres-store-config.js';

/** A query runner: the pool, or the client of an open transaction. */
export type Queryable = Pick<pg.PoolClient, 'query'>;

/**
 * int8 (ids, sizes, milliseconds) as JavaScript numbers rather than node-postgres' default
 * strings: every such value here is far below 2^53. Per pool, so nothing global is changed.
 */
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

/** The first key of the migrations' advisory lock (ASCII "msmg"); the second is the schema's hash. */
const MIGRATION_LOCK = 0x6d736d67;

/** The pool and the schema of one deployment. */
export class PostgresConnection {
  readonly pool: pg.Pool;
  /** `host:port/database`, for sentences (never the password). */
  readonly server: string;

  constructor(readonly options: PostgresStoreOptions) {
    if (!SCHEMA_NAME.test(options.schema)) {
      throw new MailsluiceError('CONFIG_INVALID', `scaleOut.postgres.schema "${options.schema}" is not a plain lower-case name (letters, digits, _; at most 63)`);
    }
    const u = new URL(options.url);
    this.server = `${u.hostname}:${u.port || '5432'}${u.pathname}`;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? DEFAULT_POOL_SIZE,
      connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      // The schema is a startup parameter, so it is in force before the first query of every
      // connection, including one the pool opens again after the server restarted.
      options: `-c search_path=${options.schema}`,
      types: TYPES,
    });
    // An idle client whose server went away emits here; without a listener that kills the process.
    // The next query on the pool opens a new connection (or fails with STORE_UNAVAILABLE).
    this.pool.on('error', () => undefined);
  }

  /** One statement on any pooled connection; errors mapped with `doing`. */
  async query<R extends pg.QueryResultRow>(text: string, values: unknown[], doing: string, write = false): Promise<R[]> {
    try {
      return (await this.pool.query<R>(text, values)).rows;
    } catch (err) {
      throw mapPostgresError(err, { server: this.server, doing, write });
    }
  }

  /** Runs `fn` in one transaction on one client: committed when it resolves, rolled back when it throws. */
  async tx<T>(doing: string, fn: (c: pg.PoolClient) => Promise<T>, write = true): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw mapPostgresError(err, { server: this.server, doing, write });
    }
    let broken: unknown;
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: unknown) => {
        broken = e;
      });
      throw mapPostgresError(err, { server: this.server, doing, write });
    } finally {
      // A client whose rollback failed is in an unknown state: destroyed, not reused.
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  /**
   * Creates the schema when missing and applies the migrations it lacks, in one transaction
   * under `pg_advisory_xact_lock`: of several workers starting at once one migrates, the others
   * wait for it and find nothing to do. Answers how many migrations this call applied.
   */
  async migrate(): Promise<number> {
    return this.tx('migrating the schema', async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [MIGRATION_LOCK, this.options.schema]);
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${this.options.schema}`);
      await c.query('CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, applied_at bigint NOT NULL)');
      const { rows } = await c.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_version');
      const current = rows[0]?.v ?? 0;
      if (current > MIGRATIONS.length) {
        throw new MailsluiceError('ARCHIVE_TOO_NEW', `schema "${this.options.schema}" on ${this.server} is at version ${current}; this build knows ${MIGRATIONS.length}: run the newer mailsluice that migrated it`);
      }
      for (let v = current + 1; v <= MIGRATIONS.length; v++) {
        await c.query(MIGRATIONS[v - 1]!);
        await c.query('INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)', [v, Date.now()]);
      }
      return MIGRATIONS.length - current;
    });
  }

  /** Closes every pooled connection. */
  async close(): Promise<void> {
    await this.pool.end();
  }
}
