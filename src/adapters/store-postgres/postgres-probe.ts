/**
 * The infrastructure check of PostgreSQL (`config check` and `test-connection` in scale-out
 * mode): the server reached with the configured URL, and where the deployment's schema stands.
 * Reads only: it never creates the schema or migrates it (the first worker does).
 */
import { MailsluiceError } from '../../core/errors/index.js';
import { PostgresConnection } from './postgres-connection.js';
import { MIGRATIONS } from './postgres-schema.js';
import type { PostgresStoreOptions } from './postgres-store-config.js';

/** A check's connect timeout: an operator waiting at `config check` is told in seconds. */
const PROBE_CONNECT_TIMEOUT_MS = 5_000;

/**
 * One connection, the server's version and the schema's migration level, as one sentence;
 * throws the store's mapped `STORE_UNAVAILABLE` (unreachable, auth-failed, no-such-database).
 */
export async function probePostgres(options: Pick<PostgresStoreOptions, 'url' | 'schema'>): Promise<string> {
  const conn = new PostgresConnection({ ...options, poolSize: 1, connectTimeoutMs: PROBE_CONNECT_TIMEOUT_MS });
  try {
    const [server] = await conn.query<{ version: string }>("SELECT current_setting('server_version') AS version", [], 'checking the server');
    // to_regclass in the schema itself: search_path already names it, and it may not exist yet.
    const [table] = await conn.query<{ t: string | null }>("SELECT to_regclass('schema_version')::text AS t", [], 'checking the schema');
    let level: string;
    if (!table?.t) level = `schema "${options.schema}" not created yet (the first worker creates it)`;
    else {
      const [row] = await conn.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_version', [], 'checking the schema');
      const v = row?.v ?? 0;
      if (v > MIGRATIONS.length) {
        throw new MailsluiceError('ARCHIVE_TOO_NEW', `schema "${options.schema}" on ${conn.server} is at version ${v}; this build knows ${MIGRATIONS.length}: run the newer mailsluice that migrated it`);
      }
      level = `schema "${options.schema}" at version ${v} of ${MIGRATIONS.length}${v < MIGRATIONS.length ? ' (the next worker to start migrates it)' : ''}`;
    }
    return `PostgreSQL ${server?.version.split(' ')[0] ?? '?'} at ${conn.server}, ${level}`;
  } finally {
    await conn.close().catch(() => undefined);
  }
}
