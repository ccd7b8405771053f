/** Reading an archived message's raw bytes for an answer (attachments, the `.eml`). */
import { isMailsluiceError } from '../../core/errors/index.js';
import type { ArchivedMessage } from '../../core/ports/archive-reader.js';
import type { ApiDeps } from '../api-server-config.js';

/** The raw bytes of `message` (found by `archiveId`), looked up once more if its blob moved meanwhile. */
export async function readRaw(deps: Pick<ApiDeps, 'archive' | 'blobs'>, message: ArchivedMessage, archiveId: string): Promise<Uint8Array> {
  try {
    return await deps.blobs.read(message.blob, message.sha256);
  } catch (err) {
    // The compress stage may have moved the blob (and deleted its staging copy) since it was
    // looked up: look again once.
    if (!isMailsluiceError(err, 'STORE_NOT_FOUND')) throw err;
    const again = await deps.archive.findArchived(archiveId);
    if (!again || again.blob.ref === message.blob.ref) throw err;
    return deps.blobs.read(again.blob, again.sha256);
  }
}
