/** The body of a streamed put as the writer reads it (`fs-blob-writer.ts`). */
import type { createHash } from 'node:crypto';
import { asBuffer } from './pack-io.js';

/** What {@link bodySource} gives: the chunks to write, their size so far, and whether the source itself failed. */
export interface BodySource {
  chunks: AsyncGenerator<Buffer>;
  size: number;
  failed: boolean;
}

/**
 * The body of a streamed put: the buffered head, then the rest of `it`, hashed and counted as it
 * goes. `failed` tells that the body itself (the mailbox source) failed; the source is released
 * (e.g. a fetch aborted) when the store side fails first.
 */
export function bodySource(head: Buffer[], headSize: number, hash: ReturnType<typeof createHash>, it: AsyncIterator<Uint8Array>): BodySource {
  const state: BodySource = { chunks: null as unknown as AsyncGenerator<Buffer>, size: headSize, failed: false };
  let done = false;
  state.chunks = (async function* (): AsyncGenerator<Buffer> {
    try {
      for (const c of head) yield c;
      head.length = 0; // let the buffered head be collected as soon as it is compressed
      for (;;) {
        let r: IteratorResult<Uint8Array>;
        try {
          r = await it.next();
        } catch (err) {
          state.failed = true;
          throw err;
        }
        if (r.done) break;
        const chunk = asBuffer(r.value);
        hash.update(chunk);
        state.size += chunk.length;
        yield chunk;
      }
      done = true;
    } finally {
      if (!done && !state.failed) await it.return?.();
    }
  })();
  return state;
}
