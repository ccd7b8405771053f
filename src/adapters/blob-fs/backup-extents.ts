/**
 * What a backup must copy of the blob directory for a snapshot of the metadata (issue 16, item 2;
 * ADR 0032): per file, the length the snapshot's refs reach. Packs are append-only, and bytes a
 * committed row points at were synced before the commit and are never rewritten (ADR 0001), so
 * copying each file up to that length, after the snapshot, gives every ref of the snapshot its
 * whole record, and nothing a later commit (or a torn, uncommitted tail) added.
 *
 * A `stage-` ref whose staging pack was compacted (ADR 0018) is found through its redirect: the
 * redirect file is needed whole, and the compactor's pack up to the copy's end. A staging pack
 * compacted after this was worked out is gone when the backup copies it: the app asks again
 * (the redirect is durable before the staging pack is deleted).
 */
import { readFile, stat } from 'node:fs/promises';
import { RECORD_HEADER_SIZE } from './pack-format.js';
import { packName, parseFsBlobRef, type FsBlobRef } from './pack-io.js';
import { decodeRedirect, redirectPath, type RedirectEntry } from './staging-redirect.js';

/** File name in the blob directory → the bytes of it a backup needs. */
export type BlobExtents = Map<string, number>;

function reach(extents: BlobExtents, ref: FsBlobRef): void {
  const name = `${packName(ref.packId, ref.staging === true)}.mspack`;
  const end = ref.offset + RECORD_HEADER_SIZE + ref.storedSize;
  if ((extents.get(name) ?? 0) < end) extents.set(name, end);
}

/**
 * The extents of the blob directory `directory` that the refs `refs` (every `blobs.ref` of a
 * metadata snapshot) need. The refs are taken as they come (a page at a time from the snapshot):
 * what is held is one length per file.
 */
export async function backupExtents(directory: string, refs: Iterable<string> | AsyncIterable<string>): Promise<BlobExtents> {
  const extents: BlobExtents = new Map();
  // Per staging pack: its redirect table, or null when it has none (still staged).
  const redirects = new Map<number, Map<number, RedirectEntry> | null>();
  const tableOf = async (packId: number): Promise<Map<number, RedirectEntry> | null> => {
    if (redirects.has(packId)) return redirects.get(packId)!;
    const path = redirectPath(directory, packId);
    let table: Map<number, RedirectEntry> | null = null;
    try {
      table = decodeRedirect(await readFile(path), packId, path);
      extents.set(`${packName(packId, true)}.redirect`, (await stat(path)).size);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    redirects.set(packId, table);
    return table;
  };
  for await (const text of refs) {
    const ref = parseFsBlobRef(text);
    if (!ref.staging) {
      reach(extents, ref);
      continue;
    }
    // The redirect first: once it exists the staging pack may be deleted at any moment.
    const moved = (await tableOf(ref.packId))?.get(ref.offset);
    reach(extents, moved ? moved.to : ref);
  }
  return extents;
}
