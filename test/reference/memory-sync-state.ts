/**
 * The in-memory reference adapter of `SyncStateStore`: a map by connection and folder. Held to
 * `test/contract/sync-state-store.contract.ts`; what a second store backend must do, at the least.
 */
import type { SyncStateStore } from '../../src/core/ports/sync-state-store.js';

/** See the module comment. */
export class MemorySyncStateStore implements SyncStateStore {
  private readonly states = new Map<string, string>();

  private static key(connection: string, folder: string): string {
    return JSON.stringify([connection, folder]);
  }

  async get(connection: string, folder: string): Promise<string | undefined> {
    return this.states.get(MemorySyncStateStore.key(connection, folder));
  }

  async put(connection: string, folder: string, state: string): Promise<void> {
    this.states.set(MemorySyncStateStore.key(connection, folder), state);
  }

  async drop(connection: string, folder: string): Promise<void> {
    this.states.delete(MemorySyncStateStore.key(connection, folder));
  }
}
