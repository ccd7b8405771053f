/** The store's object keys: a blob's address is its SHA-256. */
const KEY_RE = /^sha256\/([0-9a-f]{2})\/([0-9a-f]{2})\/([0-9a-f]{64})$/;

/** The object key of a blob: its SHA-256, fanned out by its first two bytes (a listing by prefix stays short). */
export function s3BlobKey(sha256: string): string {
  return `sha256/${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}`;
}

/** The SHA-256 a ref names, or null when the ref is not one of this store's. */
export function parseS3BlobRef(ref: string): string | null {
  const m = KEY_RE.exec(ref);
  return m && m[3]!.startsWith(m[1]! + m[2]!) ? m[3]! : null;
}
