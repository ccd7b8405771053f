/**
 * The SecretStore port's contract: a value is found by its name, replaced, listed by name,
 * removed; names with dots and brackets (`route.r.scenario[0].secret`) and any text (newlines,
 * non-ASCII, empty) round-trip. Run against the AES-256-GCM file store and the in-memory
 * reference adapter (test/contract/secret-store.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SecretStore } from '../../src/core/ports/secret-store.js';

/** A store on fresh storage, how to open it again on the same storage, and how to remove it. */
export interface SecretStoreHarness {
  store: SecretStore;
  /** The same storage opened again (a restart); the same object where there is nothing to reopen. */
  reopen(): SecretStore;
  cleanup(): Promise<void>;
}

/** Builds a fresh store for one test. */
export type SecretStoreFactory = () => Promise<SecretStoreHarness>;

async function withStore(factory: SecretStoreFactory, fn: (h: SecretStoreHarness) => Promise<void>): Promise<void> {
  const h = await factory();
  try {
    await fn(h);
  } finally {
    await h.cleanup();
  }
}

/** Registers the secret store's contract tests for the adapter `name`. */
export function runSecretStoreContract(name: string, factory: SecretStoreFactory): void {
  test(`${name} secret store: set, get, replace, list, delete; values survive reopening`, () =>
    withStore(factory, async (h) => {
      const { store } = h;
      assert.equal(store.get('connection.a.auth.password'), undefined);
      assert.deepEqual(store.names(), []);
      await store.set('connection.a.auth.password', 'hunter2');
      await store.set('route.r.scenario[0].secret', 'whsec_abc');
      assert.equal(store.get('connection.a.auth.password'), 'hunter2');
      await store.set('connection.a.auth.password', 'changed');
      assert.equal(store.get('connection.a.auth.password'), 'changed');
      assert.deepEqual(store.names(), ['connection.a.auth.password', 'route.r.scenario[0].secret']);
      const again = h.reopen();
      assert.equal(again.get('connection.a.auth.password'), 'changed');
      assert.equal(again.get('route.r.scenario[0].secret'), 'whsec_abc');
      assert.equal(await again.delete('route.r.scenario[0].secret'), true);
      assert.equal(await again.delete('route.r.scenario[0].secret'), false);
      assert.equal(again.get('route.r.scenario[0].secret'), undefined);
      assert.deepEqual(h.reopen().names(), ['connection.a.auth.password']);
    }));

  test(`${name} secret store: any text round-trips (empty, newlines, non-ASCII, long)`, () =>
    withStore(factory, async (h) => {
      const values = ['', 'line1\nline2\r\n', 'pässwörd ✓ 密码', 'x'.repeat(100_000)];
      for (const [i, v] of values.entries()) await h.store.set(`v${i}`, v);
      const again = h.reopen();
      for (const [i, v] of values.entries()) assert.equal(again.get(`v${i}`), v);
    }));

  test(`${name} secret store: a name that is not stored is undefined, also one like an object's own property`, () =>
    withStore(factory, async (h) => {
      assert.equal(h.store.get('constructor'), undefined);
      assert.equal(h.store.get('__proto__'), undefined);
      assert.equal(await h.store.delete('toString'), false);
    }));
}
