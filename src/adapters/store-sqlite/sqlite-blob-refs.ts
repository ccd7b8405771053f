/**
 * The metadata side of reclaiming pack space (`BlobRefCatalogue`, ADR 0036): the catalogue's
 * live refs, and the switch of a rewritten pack's rows to their copies in one `BEGIN IMMEDIATE`.
 */
import type { BlobRefCatalogue, LiveRef, RefMove } from '../../core/ports/pack-reclaim.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { mapSqliteError } from './sqlite-error-map.js';
import { immediateOnMain } from '../sqlite-node/sqlite-write-lock.js';

/** The `blobs` table's refs on the shared connection. */
export class SqliteBlobRefs implements BlobRefCatalogue {
  constructor(private readonly conn: SqliteConnection) {}

  async liveRefs(): Promise<LiveRef[]> {
    try {
      return this.conn.stmt('SELECT sha256, ref FROM blobs').all() as LiveRef[];
    } catch (err) {
      throw mapSqliteError(err, 'reading the blob catalogue');
    }
  }

  async switchRefs(moves: readonly RefMove[], vacated: string | null): Promise<{ moved: number; remaining: number }> {
    try {
      return immediateOnMain(this.conn.db, () => {
          // Compare and set: a row purged or moved since the refs were read is not touched.
          const set = this.conn.stmt('UPDATE blobs SET ref = ?, stored_size = ? WHERE sha256 = ? AND ref = ?');
          let moved = 0;
          for (const m of moves) moved += set.run(m.to, m.storedSize, m.sha256, m.from).changes;
          const remaining =
            vacated === null ? 0 : (this.conn.stmt('SELECT COUNT(*) AS n FROM blobs WHERE substr(ref, 1, ?) = ?').get(vacated.length, vacated) as { n: number }).n;
          return { moved, remaining };
        });
    } catch (err) {
      throw mapSqliteError(err, 'switching blob refs to their copies');
    }
  }

  refOf(sha256: string): string | null {
    try {
      return (this.conn.stmt('SELECT ref FROM blobs WHERE sha256 = ?').get(sha256) as { ref: string } | undefined)?.ref ?? null;
    } catch (err) {
      throw mapSqliteError(err, 'looking up a blob ref');
    }
  }
}
