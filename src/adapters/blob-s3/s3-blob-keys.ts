/**
 * The store's object keys and refs. A blob stored alone lives at its content address
 * `sha256/<h0h1>/<h2h3>/<sha256>` (the ref is that key); a small blob packed with others lives in
 * `pack/<uuid>` at a byte range (ref `pack/<uuid>:<offset>:<length>`).
 */
const KEY_RE = /^sha256\/([0-9a-f]{2})\/([0-9a-f]{2})\/([0-9a-f]{64})$/;
const PACK_REF_RE = /^(pack\/[0-9a-f-]{36}):(\d{1,15}):(\d{1,15})$/;

/** The object key of a blob stored alone: its SHA-256, fanned out by its first two bytes (a listing by prefix stays short). */
export function s3BlobKey(sha256: string): string {
  return `sha256/${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}`;
}

/** The SHA-256 a content-address ref names, or null when the ref is not one. */
export function parseS3BlobRef(ref: string): string | null {
  const m = KEY_RE.exec(ref);
  return m && m[3]!.startsWith(m[1]! + m[2]!) ? m[3]! : null;
}

/** A new pack object's key. */
export function s3PackKey(uuid: string): string {
  return `pack/${uuid}`;
}

/** The ref of a blob at `offset` in a pack. */
export function formatS3PackRef(packKey: string, offset: number, length: number): string {
  return `${packKey}:${offset}:${length}`;
}

/** Where a ref's bytes are: the object, and for a packed blob its byte range. Null for a ref not of this store. */
export function s3ObjectOf(ref: string): { key: string; offset: number; length: number | null } | null {
  if (parseS3BlobRef(ref) !== null) return { key: ref, offset: 0, length: null };
  const m = PACK_REF_RE.exec(ref);
  if (!m) return null;
  const length = Number(m[3]);
  return length > 0 ? { key: m[1]!, offset: Number(m[2]), length } : null;
}
