/**
 * The TokenStore port's contract, and the token verifier (`app/tokens.ts`) over it: a token is
 * kept as a hash, found by it, listed without it, unique by name, gone when revoked; its last
 * use is written at most once a granularity. Run against SQLite and the in-memory reference
 * adapter (test/contract/token-store.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TokenStore } from '../../src/core/ports/token-store.js';
import type { Clock } from '../../src/core/ports/clock.js';
import { createToken, hashToken, LAST_USED_GRANULARITY_MS, verifyToken } from '../../src/app/tokens.js';
import { MailsluiceError } from '../../src/core/errors/index.js';

/** A token store on fresh storage, and how to remove it. */
export interface TokenStoreHarness {
  tokens: TokenStore;
  cleanup(): Promise<void>;
}

/** Builds a fresh token store for one test. */
export type TokenStoreFactory = () => Promise<TokenStoreHarness>;

/** A clock the test moves by hand. */
function manualClock(start = 1_800_000_000_000): Clock & { t: number } {
  const c = { t: start, now: () => c.t, sleep: async () => undefined };
  return c;
}

async function withTokens(factory: TokenStoreFactory, fn: (tokens: TokenStore) => Promise<void>): Promise<void> {
  const h = await factory();
  try {
    await fn(h.tokens);
  } finally {
    await h.cleanup();
  }
}

/** Registers the token store's contract tests for the adapter `name`. */
export function runTokenStoreContract(name: string, factory: TokenStoreFactory): void {
  test(`${name} token store: a token is found by its hash, listed without it, unique by name, gone when revoked`, () =>
    withTokens(factory, async (tokens) => {
      await tokens.addToken({ name: 'ops', role: 'admin', hash: 'a'.repeat(64), createdAt: 1000 });
      await tokens.addToken({ name: 'audit', role: 'auditor', hash: 'b'.repeat(64), createdAt: 2000 });
      assert.deepEqual(await tokens.listTokens(), [
        { name: 'audit', role: 'auditor', createdAt: 2000, lastUsedAt: null },
        { name: 'ops', role: 'admin', createdAt: 1000, lastUsedAt: null },
      ]);
      assert.deepEqual(await tokens.findTokenByHash('a'.repeat(64)), { name: 'ops', role: 'admin', hash: 'a'.repeat(64), createdAt: 1000, lastUsedAt: null });
      assert.equal(await tokens.findTokenByHash('c'.repeat(64)), null);
      await assert.rejects(
        tokens.addToken({ name: 'ops', role: 'viewer', hash: 'd'.repeat(64), createdAt: 3000 }),
        (e: unknown) => e instanceof MailsluiceError && e.code === 'TOKEN_EXISTS',
      );
      assert.equal(await tokens.revokeToken('ops'), true);
      assert.equal(await tokens.revokeToken('ops'), false);
      assert.equal(await tokens.findTokenByHash('a'.repeat(64)), null);
      assert.deepEqual((await tokens.listTokens()).map((t) => t.name), ['audit']);
    }));

  test(`${name} token store: touchToken writes the last use only when the one recorded is older than notBefore`, () =>
    withTokens(factory, async (tokens) => {
      await tokens.addToken({ name: 'ops', role: 'viewer', hash: 'a'.repeat(64), createdAt: 1000 });
      await tokens.touchToken('ops', 5000, 4000);
      assert.equal((await tokens.findTokenByHash('a'.repeat(64)))?.lastUsedAt, 5000);
      await tokens.touchToken('ops', 6000, 4000);
      assert.equal((await tokens.findTokenByHash('a'.repeat(64)))?.lastUsedAt, 5000, 'recent enough: not written');
      await tokens.touchToken('ops', 9000, 8000);
      assert.equal((await tokens.findTokenByHash('a'.repeat(64)))?.lastUsedAt, 9000);
      await tokens.touchToken('nobody', 9000, 8000);
    }));

  test(`${name} tokens: a created token verifies as its principal, a revoked or malformed one does not`, () =>
    withTokens(factory, async (tokens) => {
      const clock = manualClock();
      const created = await createToken(tokens, clock, 'grafana', 'viewer');
      assert.match(created.token, /^msl_[A-Za-z0-9_-]{43}$/);
      assert.deepEqual(Object.keys(created).sort(), ['created', 'name', 'role', 'token']);
      assert.equal(created.created, new Date(clock.t).toISOString());
      const stored = await tokens.findTokenByHash(hashToken(created.token));
      assert.equal(stored?.name, 'grafana', 'kept as its SHA-256');
      assert.ok(!JSON.stringify(await tokens.listTokens()).includes(created.token.slice(4)), 'never listed');
      assert.deepEqual(await verifyToken(tokens, clock, `Bearer ${created.token}`), { name: 'grafana', role: 'viewer' });
      assert.deepEqual(await verifyToken(tokens, clock, created.token), { name: 'grafana', role: 'viewer' });
      assert.equal((await tokens.listTokens())[0]?.lastUsedAt, clock.t);
      // Used again within the granularity: the last use is not written again.
      const first = clock.t;
      clock.t += LAST_USED_GRANULARITY_MS / 2;
      await verifyToken(tokens, clock, `Bearer ${created.token}`);
      assert.equal((await tokens.listTokens())[0]?.lastUsedAt, first);
      clock.t += LAST_USED_GRANULARITY_MS;
      await verifyToken(tokens, clock, `Bearer ${created.token}`);
      assert.equal((await tokens.listTokens())[0]?.lastUsedAt, clock.t);
      // One character changed, a wrong prefix, nothing: null.
      const last = created.token.at(-1) === 'A' ? 'B' : 'A';
      assert.equal(await verifyToken(tokens, clock, `Bearer ${created.token.slice(0, -1)}${last}`), null);
      assert.equal(await verifyToken(tokens, clock, `Bearer xyz_${created.token.slice(4)}`), null);
      assert.equal(await verifyToken(tokens, clock, ''), null);
      assert.equal(await verifyToken(tokens, clock, 'Bearer'), null);
      assert.equal(await tokens.revokeToken('grafana'), true);
      assert.equal(await verifyToken(tokens, clock, `Bearer ${created.token}`), null, 'revoked');
    }));

  test(`${name} tokens: a bad name or role is refused before anything is stored`, () =>
    withTokens(factory, async (tokens) => {
      const clock = manualClock();
      for (const [n, r] of [['', 'admin'], ['has space', 'admin'], ['-lead', 'admin'], ['x'.repeat(65), 'admin'], ['ok', 'root']] as const) {
        await assert.rejects(createToken(tokens, clock, n, r), (e: unknown) => e instanceof MailsluiceError && e.code === 'CLI_USAGE', `${n} ${r}`);
      }
      assert.deepEqual(await tokens.listTokens(), []);
    }));
}
