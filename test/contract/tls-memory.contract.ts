/**
 * The TlsMemory contract (ADR 0016, core/connection/tls-downgrade.ts): per connection, whether a
 * server offered STARTTLS, remembered once set (across a reopen of the store: the protection is
 * only as good as the memory is durable), forgotten by the operator's reset, and never confused
 * with the connection's mailbox watermarks, which share the store.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TlsMemory } from '../../src/core/connection/tls-downgrade.js';
import type { DrainLedger } from '../../src/core/ports/drain-ledger.js';

/** A memory on fresh storage; `reopen` closes the store and opens the same storage again. */
export interface TlsMemoryHarness {
  memory: TlsMemory;
  ledger: DrainLedger;
  reopen(): Promise<{ memory: TlsMemory; ledger: DrainLedger }>;
  cleanup(): Promise<void>;
}

/** Registers the STARTTLS memory's contract tests for the adapter `name`. */
export function runTlsMemoryContract(name: string, factory: () => Promise<TlsMemoryHarness>): void {
  test(`${name} STARTTLS memory: remembered per connection across a reopen, forgotten by the reset, apart from watermarks`, async () => {
    const h = await factory();
    try {
      assert.equal(h.memory.tlsOffered('journal'), false);
      await h.ledger.commitTaken([], { connection: 'journal', mailbox: 'INBOX', uidValidity: 7, lastUid: 40 });
      h.memory.setTlsOffered('journal', true);
      h.memory.setTlsOffered('journal', true);
      assert.equal(h.memory.tlsOffered('journal'), true);
      assert.equal(h.memory.tlsOffered('other'), false);
      let { memory, ledger } = await h.reopen();
      assert.equal(memory.tlsOffered('journal'), true, 'durable');
      assert.equal(memory.tlsOffered('other'), false);
      assert.deepEqual(await ledger.getWatermark('journal', 'INBOX'), { uidValidity: 7, lastUid: 40 });
      memory.setTlsOffered('journal', false);
      assert.equal(memory.tlsOffered('journal'), false);
      ({ memory, ledger } = await h.reopen());
      assert.equal(memory.tlsOffered('journal'), false, 'the reset is durable too');
      assert.deepEqual(await ledger.getWatermark('journal', 'INBOX'), { uidValidity: 7, lastUid: 40 }, 'the reset leaves the watermark');
    } finally {
      await h.cleanup();
    }
  });
}
