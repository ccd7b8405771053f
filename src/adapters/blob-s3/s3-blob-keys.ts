/**
 * The store's object keys and refs. A blob stored alone lives at its content address
 * `sha256/<h0h1>/<h2h3>/<sha256>` in clear, `sealed/<h0h1>/<h2h3>/<sha256>` encrypted (the ref is
 * that key); a small blob packed with others lives in `pack/<uuid>` at a byte range (ref
 * `pack/<uuid>:<offset>:<length>`, the length of its payload as stored).
 */
const KEY_RE = /^(sha256|sealed)\/([0-9a-f]{2})\/([0-9a-f]{2})\/([0-9a-f]{64})$/;
const PACK_REF_RE = /^(pack\/[0-9a-f-]{36}):(\d{1,15}):(\d{1,15})$/;

/**
 * The object key of a blob stored alone: its SHA-256, fanned out by its first two bytes (a listing
 * by prefix stays short), under `sealed/` when its bytes are encrypted (the key says how to read it).
 */
export function s3BlobKey(sha256: string, sealed = false): string {
  return `${sealed ? 'sealed' : 'sha256'}/${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}`;
}

/** The SHA-256 a content-address ref names, or null when the ref is not one. */
export function parseS3BlobRef(ref: string): string | null {
  const m = KEY_RE.exec(ref);
  return m && m[4]!.startsWith(m[2]! + m[3]!) ? m[4]! : null;
}

/** Whether a blob stored alone is encrypted (its key is under `sealed/`). */
export function isSealedS3Key(key: string): boolean {
  return key.startsWith('sealed/');
}

/** A new pack object's key. */
export function s3PackKey(uuid: string): string {
  return `pack/${uuid}`;
}

/** The ref of a blob at `offset` in a pack; `length` is its payload as stored (raw, or sealed). */
export function formatS3PackRef(packKey: string, offset: number, length: number): string {
  return `${packKey}:${offset}:${length}`;
}

/**
 * Where a ref's bytes are: the object, and for a packed blob its record's offset and payload
 * length as stored (null: the whole object). `sealed` says a blob stored alone is encrypted; a
 * packed record says it in its header.
 */
export interface S3Object {
  key: string;
  offset: number;
  length: number | null;
  sealed: boolean;
}

/** Where a ref's bytes are; null for a ref not of this store. */
export function s3ObjectOf(ref: string): S3Object | null {
  if (parseS3BlobRef(ref) !== null) return { key: ref, offset: 0, length: null, sealed: isSealedS3Key(ref) };
  const m = PACK_REF_RE.exec(ref);
  if (!m) return null;
  const length = Number(m[3]);
  return length > 0 ? { key: m[1]!, offset: Number(m[2]), length, sealed: false } : null;
}
