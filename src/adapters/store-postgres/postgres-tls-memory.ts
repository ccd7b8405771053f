/**
 * The STARTTLS downgrade memory on PostgreSQL (`TlsMemory`, ADR 0016): as in archive.db, a
 * `mailbox_state` row under the mailbox name "" (no folder is named so), `last_uid` 1 once the
 * server offered TLS, so `migrate --to scale-out` copies it as it is.
 *
 * The port is synchronous (a source is built synchronously, with the security the memory decides)
 * and a query is not, so the memory is read into this worker at {@link PostgresTlsMemory.refresh}
 * and answered from there; a change is applied here at once and written through, in order, and
 * {@link PostgresTlsMemory.flush} waits for the writes and throws the first that failed. What
 * another worker recorded is seen at the next `refresh`: the scale-out composition root refreshes
 * before it builds the source of a connection it just leased (ADR 0050, "The STARTTLS memory").
 */
import type { TlsMemory } from '../../core/connection/tls-downgrade.js';
import type { PostgresConnection } from './postgres-connection.js';

/** Whether servers offered TLS, per connection, read into this worker and written through. */
export class PostgresTlsMemory implements TlsMemory {
  private offered = new Set<string>();
  /** The writes in order: each starts after the one before it settled. */
  private writes: Promise<void> = Promise.resolve();
  private failure: unknown = null;

  constructor(private readonly conn: PostgresConnection) {}

  /** Reads the memory of every connection again (after this worker's own writes landed). */
  async refresh(): Promise<void> {
    await this.flush();
    const rows = await this.conn.query<{ connection: string }>(
      "SELECT connection FROM mailbox_state WHERE mailbox = '' AND last_uid = 1",
      [],
      'reading the STARTTLS memory',
    );
    this.offered = new Set(rows.map((r) => r.connection));
  }

  tlsOffered(connection: string): boolean {
    return this.offered.has(connection);
  }

  /** See {@link tlsOffered}; false forgets (the operator's `connection reset-tls`). */
  setTlsOffered(connection: string, offered: boolean): void {
    if (offered) this.offered.add(connection);
    else this.offered.delete(connection);
    const write = offered
      ? () =>
          this.conn.query(
            "INSERT INTO mailbox_state (connection, mailbox, uid_validity, last_uid) VALUES ($1, '', 0, 1) ON CONFLICT (connection, mailbox) DO UPDATE SET last_uid = 1",
            [connection],
            `remembering that ${connection}'s server offered STARTTLS`,
            true,
          )
      : () => this.conn.query("DELETE FROM mailbox_state WHERE connection = $1 AND mailbox = ''", [connection], `forgetting ${connection}'s STARTTLS memory`, true);
    this.writes = this.writes.then(write).then(
      () => undefined,
      (err: unknown) => {
        this.failure ??= err;
      },
    );
  }

  /** Waits for every write so far; throws the first that failed (once). */
  async flush(): Promise<void> {
    await this.writes;
    const failed = this.failure;
    this.failure = null;
    if (failed !== null) throw failed;
  }
}
