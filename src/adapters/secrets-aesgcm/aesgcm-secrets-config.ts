/**
 * Options of the AES-256-GCM secret store and the constants behind them, each with its reason.
 */

/** Where the key comes from: a file (made when `create` and it does not exist), or its text as given (an environment variable's value). */
export type AesGcmKeySource = { file: string; create: boolean } | { text: string | undefined; origin: string };

/** Options of {@link openAesGcmSecretStore}. */
export interface AesGcmSecretsOptions {
  /** The store's file (`dataDir/secrets.enc`). */
  file: string;
  /** Its key: 32 bytes, raw or base64. Read only when a value is decrypted or stored, so an empty store needs none. */
  key: AesGcmKeySource;
}

/** Internal constants, each with why it has this value. */
export const AESGCM_SECRETS = {
  /** The store's file name in dataDir. */
  fileName: 'secrets.enc',
  /** The default key file's name in dataDir (when `secretsKey` is not set). */
  keyFileName: 'secrets.key',
  /** AES-256: a 32-byte key. */
  keyBytes: 32,
  /** GCM's standard nonce: 96 random bits per value, never reused under one key (2^-32 collision odds only after 2^32 values). */
  ivBytes: 12,
  /** The full 128-bit tag: a tampered value or a wrong key is refused, never decrypted to garbage. */
  tagBytes: 16,
  /** Owner read and write only: the values are credentials. */
  fileMode: 0o600,
  /**
   * Bound to every value as additional data with its name, so a value moved to another name
   * (a password swapped into another connection's entry) fails authentication.
   */
  aadPrefix: 'mailsluice-secret:v1:',
  /** The file format's version, refused if it is not this one. */
  version: 1,
} as const;
