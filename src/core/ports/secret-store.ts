/**
 * The secret store (issue 14, item 2; ADR 0023): where a secret entered through the API goes
 * instead of the YAML, by name (`connection.<name>.auth.password`,
 * `route.<name>.scenario[0].secret`); the configuration refers to it as `{ secret: NAME }`.
 * Reading is synchronous because the configuration loader is: the store is read whole when it
 * is opened, and a value is decrypted (and authenticated) when it is asked for.
 */

/** Secrets by name. */
export interface SecretStore {
  /** The value of `name`, or undefined when none is stored; throws `SECRETS_UNREADABLE` when it cannot be decrypted (a wrong key, a tampered file). */
  get(name: string): string | undefined;
  /** Every stored name, sorted. */
  names(): string[];
  /** Stores `value` under `name` (replacing one there), durably before it resolves; throws `SECRETS_WRITE_FAILED`. */
  set(name: string, value: string): Promise<void>;
  /** Removes `name`, durably; whether there was one. */
  delete(name: string): Promise<boolean>;
}
