/**
 * Encryption at rest as decisions, without I/O (issue 16, item 1; ADR 0033): what a master key
 * is, how it is named (its key id), what the keyring file holds and when it opens the archive,
 * and when a data key has sealed enough records to be replaced. The blob store's adapter does
 * the file reading and the AES-256-GCM work these rules ask for.
 */
/** A master key and a data key are both AES-256 keys: 32 bytes. */
export const KEY_BYTES = 32;

/** The keyring file's name in the data directory (in every backup; the master key never is). */
export const KEYRING_FILE = 'archive-keys.json';

/** The keyring's format number; another one is refused. */
export const KEYRING_FORMAT = 1;

/**
 * Records one data key seals before the store takes a new one. Nonces are random 96-bit values,
 * which NIST SP 800-38D allows for up to 2^32 messages per key; this stays far below that.
 */
export const RECORDS_PER_DATA_KEY = 2 ** 24;

/**
 * The key id of a master key from its SHA-256 (hex): the first 8 bytes. It names the key in the
 * keyring and in error lines without revealing it (64 bits of a hash of 256 random bits).
 */
export function keyIdOfDigest(sha256Hex: string): string {
  return sha256Hex.slice(0, 16).toLowerCase();
}

/** One data key as the keyring file holds it: wrapped (AES-256-GCM) by the master key `kek`. */
export interface WrappedDataKey {
  /** The data key's number, written in every record it sealed (u32, never 0). */
  id: number;
  /** Key id of the master key that wraps it. */
  kek: string;
  /** GCM nonce of the wrap, base64 (12 bytes). */
  nonce: string;
  /** The wrapped key followed by its 16-byte GCM tag, base64 (48 bytes). */
  wrapped: string;
  /** When the data key was made (ISO 8601). */
  createdAt: string;
}

/**
 * The databases' key (ADR 0035) as the keyring holds it: one random key for every SQLite file of
 * the archive, wrapped like a data key (AAD {@link DATABASE_KEY_AAD}), so a rotation re-wraps it
 * and never rewrites a database.
 */
export type WrappedDatabaseKey = Omit<WrappedDataKey, 'id'>;

/** The AAD of the database key's wrap: no data key's entry can be passed off as it. */
export const DATABASE_KEY_AAD = 'mailsluice-database-key';

/** The keyring file (`archive-keys.json`). */
export interface Keyring {
  format: typeof KEYRING_FORMAT;
  keys: WrappedDataKey[];
  /** The databases' key, from the first start with encryption on (absent in older keyrings). */
  database?: WrappedDatabaseKey;
}

/** An empty keyring (an archive that never held an encrypted blob). */
export function emptyKeyring(): Keyring {
  return { format: KEYRING_FORMAT, keys: [] };
}

/** Reads a keyring document; returns a sentence saying why it is not one. */
export function parseKeyring(text: string): Keyring | string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return 'is not JSON';
  }
  const d = doc as Partial<Keyring> | null;
  if (!d || d.format !== KEYRING_FORMAT || !Array.isArray(d.keys)) return `is not a keyring of format ${KEYRING_FORMAT}`;
  for (const k of d.keys) {
    const ok =
      Number.isInteger(k?.id) && k.id > 0 && k.id <= 0xffffffff && typeof k.kek === 'string' && typeof k.nonce === 'string' && typeof k.wrapped === 'string' && typeof k.createdAt === 'string';
    if (!ok) return 'holds an entry that is not a wrapped data key';
  }
  const db = d.database;
  if (db === undefined) return { format: KEYRING_FORMAT, keys: d.keys };
  if (!db || typeof db.kek !== 'string' || typeof db.nonce !== 'string' || typeof db.wrapped !== 'string' || typeof db.createdAt !== 'string') {
    return 'holds a database key that is not a wrapped key';
  }
  return { format: KEYRING_FORMAT, keys: d.keys, database: db };
}

/**
 * The additional authenticated data of a data key's wrap: binds the wrapped bytes to the data
 * key's number, so an entry copied under another number does not unwrap.
 */
export function wrapAad(id: number): string {
  return `mailsluice-data-key:${id}`;
}

/**
 * Whether an archive with `keyring` may be opened with the configured master key (`masterId`,
 * or null when `archive.encryption` is not set): the sentence of ARCHIVE_KEY_INVALID, or null.
 * Checked before anything is read from the archive or taken from a mailbox.
 */
export function keyringRefusal(keyring: Keyring, masterId: string | null): string | null {
  if (masterId === null) {
    if (keyring.database) {
      return `the archive's databases are encrypted under master key ${keyring.database.kek} but archive.encryption is not configured (turning encryption off is not supported: the archive would not open)`;
    }
    if (keyring.keys.length === 0) return null;
    return `the archive holds blobs encrypted under master key ${keyring.keys[0]!.kek} but archive.encryption is not configured`;
  }
  const other = [...keyring.keys, ...(keyring.database ? [keyring.database] : [])].find((k) => k.kek !== masterId);
  if (other) return `the master key given (key id ${masterId}) is not the archive's master key (key id ${other.kek})`;
  return null;
}

/**
 * Whether the file at `path` (relative to the data directory, `/`-separated) is one of the
 * archive's SQLite databases that encryption covers (ADR 0035): every `*.db` at the top
 * (`archive.db`, `search.db`, any a later version adds) and the copies made before a schema
 * migration (`backups/*.db`). Not `lock.db`: an empty database whose only use is its lock.
 */
export function isEncryptedDatabase(path: string): boolean {
  if (path === 'lock.db') return false;
  return /^(?:backups\/)?[^/]+\.db$/.test(path);
}

/** Whether the active data key has sealed enough records to be replaced by a new one. */
export function dataKeySpent(sealed: number): boolean {
  return sealed >= RECORDS_PER_DATA_KEY;
}

/** A fresh data key number not yet in `keyring`, from a random u32 `candidate`. */
export function nextDataKeyId(keyring: Keyring, candidate: number): number {
  const used = new Set(keyring.keys.map((k) => k.id));
  let id = candidate >>> 0 || 1;
  while (used.has(id)) id = (id % 0xffffffff) + 1;
  return id;
}
