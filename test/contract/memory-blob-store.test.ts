/** The BlobStore contract on the in-memory reference adapter (test/reference/memory-blob-store.ts). */
import { runBlobStoreContract } from './blob-store.contract.js';
import { MemoryBlobSpace, MemoryBlobStore } from '../reference/memory-blob-store.js';

runBlobStoreContract('memory', async () => {
  const space = new MemoryBlobSpace();
  const store = new MemoryBlobStore(space);
  return {
    store,
    cleanup: async () => undefined,
    // A restart: what was synced is there, what was only put is gone with the old instance.
    reopen: async () => new MemoryBlobStore(space),
    corrupt: async (location) => store.corrupt(location),
    // A crash mid-put: a record begun and never synced, which a new instance must not see.
    tearTail: async () => {
      const w = await store.openWriter();
      await w.put((async function* () { yield Buffer.from('half a record'); })(), () => false);
    },
    wholeInMemory: true,
  };
});
