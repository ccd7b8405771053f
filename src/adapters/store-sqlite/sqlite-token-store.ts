/** The API tokens on SQLite (`TokenStore`): the `api_tokens` table of `archive.db`, found by hash. */
import type { StoredToken, TokenInfo, TokenStore } from '../../core/ports/token-store.js';
import type { Role } from '../../core/access/principal.js';
import { MailsluiceError } from '../../core/errors/index.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { mapSqliteError } from './sqlite-error-map.js';

const COLUMNS = 'name, role, created_at AS createdAt, last_used_at AS lastUsedAt';

/** Keeps API tokens as hashes on the shared connection. */
export class SqliteTokenStore implements TokenStore {
  constructor(private readonly conn: SqliteConnection) {}

  async addToken(token: { name: string; role: Role; hash: string; createdAt: number }): Promise<void> {
    try {
      this.conn.stmt('INSERT INTO api_tokens (name, role, hash, created_at) VALUES (?, ?, ?, ?)').run(token.name, token.role, token.hash, token.createdAt);
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new MailsluiceError('TOKEN_EXISTS', `a token named "${token.name}" exists already (mailsluice token list; revoke it first to replace it)`);
      }
      throw mapSqliteError(err, `storing token ${token.name}`);
    }
  }

  async listTokens(): Promise<TokenInfo[]> {
    try {
      if (!this.conn.hasTable('api_tokens')) return []; // an older archive opened read-only
      return this.conn.stmt(`SELECT ${COLUMNS} FROM api_tokens ORDER BY name`).all() as TokenInfo[];
    } catch (err) {
      throw mapSqliteError(err, 'listing tokens');
    }
  }

  async findTokenByHash(hash: string): Promise<StoredToken | null> {
    try {
      if (!this.conn.hasTable('api_tokens')) return null;
      return (this.conn.stmt(`SELECT ${COLUMNS}, hash FROM api_tokens WHERE hash = ?`).get(hash) as StoredToken | undefined) ?? null;
    } catch (err) {
      throw mapSqliteError(err, 'looking up a token');
    }
  }

  async touchToken(name: string, at: number, notBefore: number): Promise<void> {
    try {
      // Not fsynced: a last-used time a power cut takes back is harmless, and the API's requests
      // must not each wait for a disk flush.
      this.conn.withoutFsync(() =>
        this.conn.stmt('UPDATE api_tokens SET last_used_at = ? WHERE name = ? AND (last_used_at IS NULL OR last_used_at < ?)').run(at, name, notBefore),
      );
    } catch (err) {
      throw mapSqliteError(err, `recording the use of token ${name}`);
    }
  }

  async revokeToken(name: string): Promise<boolean> {
    try {
      return this.conn.stmt('DELETE FROM api_tokens WHERE name = ?').run(name).changes > 0;
    } catch (err) {
      throw mapSqliteError(err, `revoking token ${name}`);
    }
  }
}
