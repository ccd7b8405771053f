/**
 * The in-memory reference adapter of `TokenStore`: a map by name, searched by hash. Held to
 * `test/contract/token-store.contract.ts`; what a second store backend must do, at the least.
 */
import type { StoredToken, TokenInfo, TokenStore } from '../../src/core/ports/token-store.js';
import type { Role } from '../../src/core/access/principal.js';
import { MailsluiceError } from '../../src/core/errors/index.js';

/** See the module comment. */
export class MemoryTokenStore implements TokenStore {
  private readonly byName = new Map<string, StoredToken>();

  async addToken(token: { name: string; role: Role; hash: string; createdAt: number }): Promise<void> {
    if (this.byName.has(token.name)) throw new MailsluiceError('TOKEN_EXISTS', `a token named "${token.name}" exists already`);
    this.byName.set(token.name, { ...token, lastUsedAt: null });
  }

  async listTokens(): Promise<TokenInfo[]> {
    return [...this.byName.values()]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map(({ name, role, createdAt, lastUsedAt }) => ({ name, role, createdAt, lastUsedAt }));
  }

  async findTokenByHash(hash: string): Promise<StoredToken | null> {
    for (const t of this.byName.values()) if (t.hash === hash) return { ...t };
    return null;
  }

  async touchToken(name: string, at: number, notBefore: number): Promise<void> {
    const t = this.byName.get(name);
    if (t && (t.lastUsedAt === null || t.lastUsedAt < notBefore)) t.lastUsedAt = at;
  }

  async revokeToken(name: string): Promise<boolean> {
    return this.byName.delete(name);
  }
}
