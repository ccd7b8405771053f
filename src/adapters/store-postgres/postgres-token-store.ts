/** The API tokens on PostgreSQL (`TokenStore`): `api_tokens`, a token kept as its SHA-256 and found by it (ADR 0022). */
import type { StoredToken, TokenInfo, TokenStore } from '../../core/ports/token-store.js';
import type { Role } from '../../core/access/principal.js';
import { MailsluiceError } from '../../core/errors/index.js';
import type { PostgresConnection } from './postgres-connection.js';
import { pgState } from './postgres-error-map.js';

const COLUMNS = 'name, role, created_at AS "createdAt", last_used_at AS "lastUsedAt"';

/** Keeps API tokens as hashes in the deployment's schema. */
export class PostgresTokenStore implements TokenStore {
  constructor(private readonly conn: PostgresConnection) {}

  async addToken(token: { name: string; role: Role; hash: string; createdAt: number }): Promise<void> {
    try {
      await this.conn.query('INSERT INTO api_tokens (name, role, hash, created_at) VALUES ($1, $2, $3, $4)', [token.name, token.role, token.hash, token.createdAt], `storing token ${token.name}`, true);
    } catch (err) {
      // 23505 unique_violation on the primary key (the name).
      if (pgState((err as { cause?: unknown }).cause) === '23505' && /api_tokens_pkey/.test(String((err as { cause?: { constraint?: string } }).cause?.constraint))) {
        throw new MailsluiceError('TOKEN_EXISTS', `a token named "${token.name}" exists already (mailsluice token list; revoke it first to replace it)`);
      }
      throw err;
    }
  }

  async listTokens(): Promise<TokenInfo[]> {
    return this.conn.query<TokenInfo>(`SELECT ${COLUMNS} FROM api_tokens ORDER BY name`, [], 'listing tokens');
  }

  async findTokenByHash(hash: string): Promise<StoredToken | null> {
    const rows = await this.conn.query<StoredToken>(`SELECT ${COLUMNS}, hash FROM api_tokens WHERE hash = $1`, [hash], 'looking up a token');
    return rows[0] ?? null;
  }

  async touchToken(name: string, at: number, notBefore: number): Promise<void> {
    await this.conn.query(
      'UPDATE api_tokens SET last_used_at = $1 WHERE name = $2 AND (last_used_at IS NULL OR last_used_at < $3)',
      [at, name, notBefore],
      `recording the use of token ${name}`,
      true,
    );
  }

  async revokeToken(name: string): Promise<boolean> {
    const rows = await this.conn.query('DELETE FROM api_tokens WHERE name = $1 RETURNING name', [name], `revoking token ${name}`, true);
    return rows.length > 0;
  }
}
