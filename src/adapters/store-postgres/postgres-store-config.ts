/** The PostgreSQL store's options, defaults and tunables, each with its reason. */
import { DEFAULT_JOURNAL_SETTLE_MS } from '../../core/message/journal-merge.js';

export { DEFAULT_JOURNAL_SETTLE_MS };

/** What `createPostgresStore` takes (the scale-out config's `scaleOut.postgres`, when it is wired). */
export interface PostgresStoreOptions {
  /** `postgres://user[:password]@host[:port]/database`; secrets as everywhere (resolved before this). */
  url: string;
  /**
   * The schema that holds this deployment's tables (`search_path` of every pooled connection):
   * one database can hold several deployments, and every test gets its own. Created when missing.
   */
  schema: string;
  /** Pooled connections; see {@link DEFAULT_POOL_SIZE}. */
  poolSize?: number;
  /** How long a journal report's deliveries are held while mail of its connection waits (ms); 0 never holds. */
  journalSettleMs?: number;
  /** How long opening a connection may take before it fails (`STORE_UNAVAILABLE`, retryable). */
  connectTimeoutMs?: number;
}

/**
 * 10 connections per worker: a worker runs one group commit, one parse save and a few API reads
 * at a time; PostgreSQL's default `max_connections` is 100, so ten workers fit with room for
 * `psql`, the relay and migrations. More would only queue inside the server.
 */
export const DEFAULT_POOL_SIZE = 10;

/** A server that does not accept a connection in 10 s is treated as down (retried), not waited on. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** A schema name used unquoted in SQL: lower case, letters, digits and `_`, at most 63 (PostgreSQL's identifier limit). */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
