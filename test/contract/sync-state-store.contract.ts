/**
 * The SyncStateStore port's contract: a state is kept per connection and folder (neither leaks
 * into another), replaced by the next put, gone when dropped, kept byte for byte however long
 * (EWS states run to kilobytes of base64), and, for a store on disk, still there after a reopen.
 * Run against SQLite and the in-memory reference adapter (test/contract/sync-state-store.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SyncStateStore } from '../../src/core/ports/sync-state-store.js';

/** A sync-state store on fresh storage; `reopen` (stores on disk) opens the same storage again. */
export interface SyncStateHarness {
  states: SyncStateStore;
  reopen?(): Promise<SyncStateStore>;
  cleanup(): Promise<void>;
}

/** Builds a fresh sync-state store for one test. */
export type SyncStateFactory = () => Promise<SyncStateHarness>;

async function withStates(factory: SyncStateFactory, fn: (h: SyncStateHarness) => Promise<void>): Promise<void> {
  const h = await factory();
  try {
    await fn(h);
  } finally {
    await h.cleanup();
  }
}

/** Registers the sync-state store's contract tests for the adapter `name`. */
export function runSyncStateStoreContract(name: string, factory: SyncStateFactory): void {
  test(`${name} sync states: one per connection and folder, replaced by a put, gone when dropped`, () =>
    withStates(factory, async ({ states }) => {
      assert.equal(await states.get('journal', 'INBOX'), undefined);
      await states.put('journal', 'INBOX', 'S1');
      await states.put('journal', 'Archive/2026', 'F1');
      await states.put('other', 'INBOX', 'O1');
      assert.equal(await states.get('journal', 'INBOX'), 'S1');
      assert.equal(await states.get('journal', 'Archive/2026'), 'F1');
      assert.equal(await states.get('other', 'INBOX'), 'O1');
      await states.put('journal', 'INBOX', 'S2');
      assert.equal(await states.get('journal', 'INBOX'), 'S2', 'replaced');
      await states.drop('journal', 'INBOX');
      assert.equal(await states.get('journal', 'INBOX'), undefined, 'dropped');
      assert.equal(await states.get('journal', 'Archive/2026'), 'F1', 'the other folder kept');
      assert.equal(await states.get('other', 'INBOX'), 'O1', 'the other connection kept');
      await states.drop('journal', 'INBOX'); // nothing there: no error
      await states.drop('nobody', 'INBOX');
    }));

  test(`${name} sync states: names that could run together stay apart, and a long state comes back byte for byte`, () =>
    withStates(factory, async ({ states }) => {
      await states.put('a/b', 'c', 'first');
      await states.put('a', 'b/c', 'second');
      assert.equal(await states.get('a/b', 'c'), 'first');
      assert.equal(await states.get('a', 'b/c'), 'second');
      const long = Buffer.from(Array.from({ length: 48_000 }, (_, i) => (i * 7919) % 256)).toString('base64') + '€\u0000"\'';
      await states.put('journal', 'INBOX', long);
      assert.equal(await states.get('journal', 'INBOX'), long);
    }));

  test(`${name} sync states: what was put is there after the store is opened again`, async (t) => {
    const h = await factory();
    try {
      if (!h.reopen) return t.skip('not a store on disk');
      await h.states.put('journal', 'INBOX', 'S9');
      await h.states.put('journal', 'Sent', 'T1');
      await h.states.drop('journal', 'Sent');
      const again = await h.reopen();
      assert.equal(await again.get('journal', 'INBOX'), 'S9');
      assert.equal(await again.get('journal', 'Sent'), undefined);
    } finally {
      await h.cleanup();
    }
  });
}
