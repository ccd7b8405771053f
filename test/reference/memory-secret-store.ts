/**
 * The in-memory reference adapter of `SecretStore`: a map. Held to
 * `test/contract/secret-store.contract.ts`; what a second secret store must do, at the least.
 */
import type { SecretStore } from '../../src/core/ports/secret-store.js';

/** See the module comment. */
export class MemorySecretStore implements SecretStore {
  private readonly values = new Map<string, string>();

  get(name: string): string | undefined {
    return this.values.get(name);
  }

  names(): string[] {
    return [...this.values.keys()].sort();
  }

  async set(name: string, value: string): Promise<void> {
    this.values.set(name, value);
  }

  async delete(name: string): Promise<boolean> {
    return this.values.delete(name);
  }
}
