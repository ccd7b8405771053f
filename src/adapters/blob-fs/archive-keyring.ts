/**
 * The archive's keys on disk (ADR 0033): the master key read from its file or environment
 * variable, and the keyring file (`archive-keys.json` in the data directory, mode 0600, replaced
 * atomically) holding the data keys wrapped by it with AES-256-GCM. The rules (key ids, when the
 * keyring opens the archive) are in `core/archive/encryption.ts`.
 */
import { createCipheriv, createDecipheriv, hash, randomBytes, randomInt } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MailsluiceError } from '../../core/errors/index.js';
import {
  DATABASE_KEY_AAD,
  KEYRING_FILE,
  KEY_BYTES,
  dataKeySpent,
  emptyKeyring,
  keyringRefusal,
  keyIdOfDigest,
  nextDataKeyId,
  parseKeyring,
  wrapAad,
} from '../../core/archive/encryption.js';
import type { Keyring, WrappedDataKey, WrappedDatabaseKey } from '../../core/archive/encryption.js';
import { writeFileAtomic } from '../fs-node/atomic-write.js';
import { PRIVATE_FILE_MODE, writeNewPrivateFile } from '../fs-node/private-files.js';
import type { DataKey, DataKeys } from '../crypto-node/record-cipher.js';

/** The key id of a master key (`core/archive/encryption.ts`). */
export function masterKeyId(key: Uint8Array): string {
  return keyIdOfDigest(hash('sha256', key, 'hex'));
}

/** Where the master key comes from (`archive.encryption.key`): never the key itself in the YAML. */
export type MasterKeySource = { file: string } | { env: string };

function invalid(message: string, cause?: unknown): MailsluiceError {
  return new MailsluiceError('ARCHIVE_KEY_INVALID', `archive.encryption: ${message}`, { retryable: false, ...(cause === undefined ? {} : { cause }) });
}

/** Text of a key in an environment variable: 64 hex digits or base64 of 32 bytes. */
function keyFromText(text: string): Buffer | null {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  const b = Buffer.from(t, 'base64');
  return b.length === KEY_BYTES ? b : null;
}

/** Reads the master key; throws ARCHIVE_KEY_INVALID naming the file or variable. */
export async function loadMasterKey(source: MasterKeySource, env: NodeJS.ProcessEnv): Promise<Buffer> {
  if ('env' in source) {
    const text = env[source.env];
    if (text === undefined || text === '') throw invalid(`the master key's environment variable ${source.env} is not set`);
    const key = keyFromText(text);
    if (!key) throw invalid(`the environment variable ${source.env} does not hold a 32-byte key (64 hex digits or base64)`);
    return key;
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(source.file);
  } catch (err) {
    throw invalid(`the master key file ${source.file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, err);
  }
  if (bytes.length !== KEY_BYTES) throw invalid(`the master key file ${source.file} holds ${bytes.length} bytes, not ${KEY_BYTES}`);
  return bytes;
}

/** Writes a new random master key to `file` (mode 0600; an existing file is never overwritten); returns its key id. */
export async function generateMasterKeyFile(file: string): Promise<string> {
  const key = randomBytes(KEY_BYTES);
  await writeMasterKeyFile(file, key);
  return masterKeyId(key);
}

/**
 * Writes `key` to `file` in the key file format (the 32 raw bytes `archive.encryption.key.file`
 * reads), mode 0600, fsynced; an existing file is never overwritten (CONFIG_INVALID naming it).
 */
export async function writeMasterKeyFile(file: string, key: Uint8Array): Promise<void> {
  if (key.length !== KEY_BYTES) throw invalid(`a master key is ${KEY_BYTES} bytes, not ${key.length}`);
  try {
    await writeNewPrivateFile(file, key);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new MailsluiceError('CONFIG_INVALID', `${file} exists already: a key file is never overwritten`);
    throw err;
  }
}

/** `key` wrapped (AES-256-GCM) under `master`, bound to `aad`. */
function wrapWith(master: Uint8Array, aad: string, key: Uint8Array, createdAt: string): WrappedDatabaseKey {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', master, nonce);
  c.setAAD(Buffer.from(aad));
  const wrapped = Buffer.concat([c.update(key), c.final(), c.getAuthTag()]);
  return { kek: masterKeyId(master), nonce: nonce.toString('base64'), wrapped: wrapped.toString('base64'), createdAt };
}

function wrap(master: Uint8Array, id: number, key: Uint8Array, createdAt: string): WrappedDataKey {
  return { id, ...wrapWith(master, wrapAad(id), key, createdAt) };
}

/** The key `k` wraps under `master`; ARCHIVE_KEY_INVALID naming `what` when it does not authenticate. */
function unwrapWith(master: Uint8Array, aad: string, k: WrappedDatabaseKey, what: string): Buffer {
  const w = Buffer.from(k.wrapped, 'base64');
  try {
    if (w.length !== KEY_BYTES + 16) throw new Error('wrong length');
    const d = createDecipheriv('aes-256-gcm', master, Buffer.from(k.nonce, 'base64'));
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(w.subarray(KEY_BYTES));
    return Buffer.concat([d.update(w.subarray(0, KEY_BYTES)), d.final()]);
  } catch (err) {
    throw invalid(`${what} does not unwrap with master key ${masterKeyId(master)} (the keyring was altered, or the key is not the archive's)`, err);
  }
}

function unwrap(master: Uint8Array, k: WrappedDataKey): Buffer {
  return unwrapWith(master, wrapAad(k.id), k, `data key ${k.id}`);
}

async function readKeyring(path: string): Promise<Keyring> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyKeyring();
    throw invalid(`the keyring ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, err);
  }
  const parsed = parseKeyring(text);
  if (typeof parsed === 'string') throw invalid(`the keyring ${path} ${parsed}`);
  return parsed;
}

/**
 * The keyring of one data directory, opened with the configured master key (or none). Opening
 * checks that the key opens every data key, so a wrong key fails here, at start.
 */
export class ArchiveKeyring {
  readonly #path: string;
  readonly #master: Buffer | null;
  #doc: Keyring;
  readonly #keys = new Map<number, Uint8Array>();
  #databaseKey: Buffer | null = null;
  #active: Promise<DataKey> | null = null;
  /** mtime, size and inode of the keyring file when last read. */
  #seenMark = '';
  #sealed = 0;

  private constructor(path: string, master: Buffer | null, doc: Keyring) {
    this.#path = path;
    this.#master = master;
    this.#doc = doc;
  }

  /** Opens the keyring in `dataDir`; throws ARCHIVE_KEY_INVALID when `master` (or its absence) does not fit it. */
  static async open(dataDir: string, master: Buffer | null): Promise<ArchiveKeyring> {
    const path = join(dataDir, KEYRING_FILE);
    const doc = await readKeyring(path);
    const refusal = keyringRefusal(doc, master ? masterKeyId(master) : null);
    if (refusal) throw invalid(refusal);
    const ring = new ArchiveKeyring(path, master, doc);
    ring.#unwrapAll();
    return ring;
  }

  #unwrapAll(): void {
    if (!this.#master) return;
    for (const k of this.#doc.keys) if (!this.#keys.has(k.id)) this.#keys.set(k.id, unwrap(this.#master, k));
    const db = this.#doc.database;
    if (db && !this.#databaseKey) this.#databaseKey = unwrapWith(this.#master, DATABASE_KEY_AAD, db, 'the database key');
  }

  /**
   * The key of the archive's SQLite databases (ADR 0035), unwrapped; null while the keyring has
   * none (encryption off, or on but no start since it was turned on) or without a master key.
   */
  get databaseKey(): Buffer | null {
    return this.#databaseKey;
  }

  /**
   * The databases' key, made (random 32 bytes), wrapped and written durably to the keyring first
   * when there is none yet: before any database is encrypted with it. Needs the master key; the
   * caller holds the data directory.
   */
  async ensureDatabaseKey(): Promise<Buffer> {
    const master = this.#master;
    if (!master) throw invalid('no master key is configured, so the databases cannot be encrypted');
    await this.reload();
    if (this.#databaseKey) return this.#databaseKey;
    const key = randomBytes(KEY_BYTES);
    const next: Keyring = { ...this.#doc, database: wrapWith(master, DATABASE_KEY_AAD, key, new Date().toISOString()) };
    await writeFileAtomic(this.#path, `${JSON.stringify(next, null, 2)}\n`, PRIVATE_FILE_MODE);
    this.#doc = next;
    this.#databaseKey = key;
    return key;
  }

  /** New blobs are encrypted (a master key is configured). */
  get encrypting(): boolean {
    return this.#master !== null;
  }

  /** The master key itself, for a thread of this process that opens the same keyring; never logged or written. */
  get masterKey(): Buffer | null {
    return this.#master;
  }

  /** The master key's id, or null. */
  get masterKeyId(): string | null {
    return this.#master ? masterKeyId(this.#master) : null;
  }

  /** The data keys by number, for reads. */
  get keys(): DataKeys {
    return this.#keys;
  }

  /** How many data keys the keyring holds. */
  get size(): number {
    return this.#doc.keys.length;
  }

  /**
   * Reads the keyring file again when it changed on disk since (a streamed read, which cannot
   * retry half way, calls this first). A missing file is an empty keyring, nothing to read.
   */
  async reloadIfChanged(): Promise<void> {
    let mark: string;
    try {
      const st = await stat(this.#path);
      mark = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      return;
    }
    if (mark !== this.#seenMark) await this.reload();
  }

  /** Reads the keyring file again (another process of the archive added a data key). */
  async reload(): Promise<void> {
    try {
      const st = await stat(this.#path);
      this.#seenMark = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      // Read below as empty (or failing with the reason).
    }
    const doc = await readKeyring(this.#path);
    const refusal = keyringRefusal(doc, this.masterKeyId);
    if (refusal) throw invalid(refusal);
    this.#doc = doc;
    this.#unwrapAll();
  }

  /**
   * The data key the next record is sealed with (one per record asked): made, wrapped and
   * written to the keyring durably before its first use, and replaced once spent. Undefined
   * without a master key.
   */
  async sealKey(): Promise<DataKey | undefined> {
    if (!this.#master) return undefined;
    if (!this.#active || dataKeySpent(this.#sealed)) {
      this.#sealed = 0;
      this.#active = this.#newDataKey();
      this.#active.catch(() => {
        this.#active = null;
      });
    }
    this.#sealed++;
    return this.#active;
  }

  async #newDataKey(): Promise<DataKey> {
    const master = this.#master!;
    await this.reload();
    const id = nextDataKeyId(this.#doc, randomInt(1, 0xffffffff));
    const key = randomBytes(KEY_BYTES);
    const next: Keyring = { ...this.#doc, keys: [...this.#doc.keys, wrap(master, id, key, new Date().toISOString())] };
    await writeFileAtomic(this.#path, `${JSON.stringify(next, null, 2)}\n`, PRIVATE_FILE_MODE);
    this.#doc = next;
    this.#keys.set(id, key);
    return { id, key };
  }

  /**
   * Re-wraps every data key and the database key under `newMaster` and replaces the keyring
   * atomically (no pack and no database is touched). Returns how many data keys were re-wrapped.
   * The caller holds the data directory.
   */
  async rotate(newMaster: Buffer): Promise<number> {
    await this.reload();
    const db = this.#doc.database;
    const next: Keyring = {
      ...this.#doc,
      keys: this.#doc.keys.map((k) => wrap(newMaster, k.id, this.#keys.get(k.id)!, k.createdAt)),
      ...(db && this.#databaseKey ? { database: wrapWith(newMaster, DATABASE_KEY_AAD, this.#databaseKey, db.createdAt) } : {}),
    };
    await writeFileAtomic(this.#path, `${JSON.stringify(next, null, 2)}\n`, PRIVATE_FILE_MODE);
    return next.keys.length;
  }
}
