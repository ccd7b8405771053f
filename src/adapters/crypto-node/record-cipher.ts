/**
 * AES-256-GCM of one record's stored payload (ADR 0033), one format for every raw store: blob-fs
 * seals a record's compressed payload (flag bit 0 of its header, `blob-fs/pack-format.ts`),
 * blob-s3 a packed record's or a whole object's raw bytes (ADR 0049). A sealed payload is:
 *
 * ```
 * size  field
 *    4  data key number (u32 LE; names the key in the keyring, and is the GCM AAD)
 *   12  nonce (random)
 *    …  ciphertext of the compressed payload
 *   16  GCM tag
 * ```
 *
 * One GCM per record, whole or streamed: a streamed read releases plaintext before the tag is
 * checked at its end, exactly like the SHA-256 check the stream already ends with (a consumer
 * must finish it before trusting the bytes; `blob-fs/pack-stream.ts`, `blob-s3/s3-blob-store.ts`).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { CipherGCM, DecipherGCM } from 'node:crypto';

const PREFIX_BYTES = 16;
const TAG_BYTES = 16;
/** Bytes encryption adds to a payload. */
export const SEAL_OVERHEAD = PREFIX_BYTES + TAG_BYTES;

/** A data key with its number. */
export interface DataKey {
  id: number;
  key: Uint8Array;
}

/** Data keys by number (structured-cloneable, so it crosses to the helper threads). */
export type DataKeys = ReadonlyMap<number, Uint8Array>;

/**
 * What a raw store needs of the archive's keyring (blob-fs's `ArchiveKeyring` is one): whether new
 * records are sealed, the key for the next one, the keys to open them, and a reload for a key
 * another process (or worker) made since.
 */
export interface RecordKeys {
  readonly encrypting: boolean;
  /** The data key the next record is sealed with (one call per record), undefined when not encrypting. */
  sealKey(): Promise<DataKey | undefined>;
  readonly keys: DataKeys;
  /** Reads the keyring again. */
  reload(): Promise<void>;
}

function prefix(id: number): { head: Buffer; nonce: Buffer } {
  const head = Buffer.alloc(PREFIX_BYTES);
  head.writeUInt32LE(id >>> 0, 0);
  const nonce = randomBytes(12);
  nonce.copy(head, 4);
  return { head, nonce };
}

/**
 * Seals one payload piece by piece, for a writer that pushes bytes as they come (blob-s3's
 * multipart parts): `head` first, then each `update`, then `end()` (the rest and the tag).
 */
export class RecordSealer {
  /** The key number and nonce, the first 16 stored bytes. */
  readonly head: Buffer;
  readonly #cipher: CipherGCM;

  constructor(dk: DataKey) {
    const { head, nonce } = prefix(dk.id);
    this.head = head;
    this.#cipher = createCipheriv('aes-256-gcm', dk.key, nonce);
    this.#cipher.setAAD(head.subarray(0, 4));
  }

  /** The ciphertext of `piece` (as long as it, GCM being a stream cipher). */
  update(piece: Uint8Array): Buffer {
    return this.#cipher.update(piece);
  }

  /** The last stored bytes: GCM's (empty) final block and the 16-byte tag. */
  end(): Buffer {
    return Buffer.concat([this.#cipher.final(), this.#cipher.getAuthTag()]);
  }
}

/** Encrypts a whole payload (in pieces); returns the stored pieces. */
export function sealPayload(dk: DataKey, payload: readonly Uint8Array[]): Buffer[] {
  const s = new RecordSealer(dk);
  const out = [s.head];
  for (const p of payload) out.push(s.update(p));
  out.push(s.end());
  // zlib.crc32 of an empty Buffer that owns no memory answers 0 instead of the running CRC
  // (Node 20): empty pieces are left out.
  return out.filter((b) => b.length > 0);
}

/** Encrypts a payload as it streams. */
export async function* sealStream(dk: DataKey, source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const s = new RecordSealer(dk);
  yield s.head;
  for await (const c of source) {
    const out = s.update(c);
    if (out.length > 0) yield out;
  }
  yield s.end();
}

function keyFor(keys: DataKeys | undefined, id: number): Uint8Array | string {
  if (!keys) return `it is encrypted (data key ${id}) and no master key is configured`;
  return keys.get(id) ?? `its data key ${id} is not in the keyring`;
}

/** Decrypts a whole stored payload; returns the compressed payload, or a sentence saying why not. */
export function openPayload(keys: DataKeys | undefined, stored: Uint8Array): Buffer | string {
  if (stored.length < SEAL_OVERHEAD) return 'its encrypted payload is cut short';
  const b = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  const id = b.readUInt32LE(0);
  const key = keyFor(keys, id);
  if (typeof key === 'string') return key;
  try {
    const d = createDecipheriv('aes-256-gcm', key, b.subarray(4, PREFIX_BYTES));
    d.setAAD(b.subarray(0, 4));
    d.setAuthTag(b.subarray(b.length - TAG_BYTES));
    return Buffer.concat([d.update(b.subarray(PREFIX_BYTES, b.length - TAG_BYTES)), d.final()]);
  } catch {
    return 'its GCM tag does not match (altered bytes or another key)';
  }
}

/** Thrown by {@link openStream} with the sentence saying why. */
export class RecordCipherError extends Error {}

/** Decrypts a stored payload as it streams; the tag is checked at the end (throws {@link RecordCipherError}). */
export async function* openStream(keys: DataKeys | undefined, source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let pending: Buffer = Buffer.alloc(0);
  let d: DecipherGCM | null = null;
  for await (const c of source) {
    pending = pending.length === 0 ? c : Buffer.concat([pending, c]);
    if (!d) {
      if (pending.length < PREFIX_BYTES) continue;
      const id = pending.readUInt32LE(0);
      const key = keyFor(keys, id);
      if (typeof key === 'string') throw new RecordCipherError(key);
      d = createDecipheriv('aes-256-gcm', key, pending.subarray(4, PREFIX_BYTES));
      d.setAAD(pending.subarray(0, 4));
      pending = pending.subarray(PREFIX_BYTES);
    }
    // The last 16 bytes may be the tag: held back until the source ends.
    if (pending.length > TAG_BYTES) {
      const out = d.update(pending.subarray(0, pending.length - TAG_BYTES));
      pending = Buffer.from(pending.subarray(pending.length - TAG_BYTES));
      if (out.length > 0) yield out;
    }
  }
  if (!d || pending.length < TAG_BYTES) throw new RecordCipherError('its encrypted payload is cut short');
  d.setAuthTag(pending);
  let last: Buffer;
  try {
    last = d.final();
  } catch {
    throw new RecordCipherError('its GCM tag does not match (altered bytes or another key)');
  }
  if (last.length > 0) yield last;
}
