/**
 * What the dispatcher thread opens of the archive (ADR 0007): the bus it works through and the
 * blob store it reads message bytes from, on connections of its own. The main thread describes
 * the archive as plain data (structured-cloned into the thread); the thread opens it here, so
 * the dispatcher thread is the same for every deployment and only this module knows each kind.
 */
import type { MessageBus } from '../core/ports/message-bus.js';
import type { BlobStore } from '../core/ports/blob-store.js';

/** The embedded archive: `archive.db` (the `deliveries` table) and the pack files in dataDir. */
export interface EmbeddedDispatchArchive {
  kind: 'embedded';
  dbFile: string;
  blobsDir: string;
  /** The archive's master key and data directory, when the raw store is encrypted (ADR 0033). */
  archiveKey?: { dataDir: string; master: Uint8Array };
  /** The databases' key (ADR 0035), when they are encrypted. */
  dbKey?: Uint8Array;
}

/** A scale-out archive: the `deliveries` table in PostgreSQL, shared by the workers, and the S3 bucket. */
export interface ScaleOutDispatchArchive {
  kind: 'scale-out';
  postgres: { url: string; schema: string };
  s3: { endpoint: string; bucket: string; region: string; accessKeyId: string; secretAccessKey: string };
  /** The worker's name, recorded as the holder of its claims (its own claims are released at its restart). */
  workerId: string;
}

/** The archive as the main thread describes it to the dispatcher thread. */
export type DispatchArchive = EmbeddedDispatchArchive | ScaleOutDispatchArchive;

/** The archive as the dispatcher thread opened it. */
export interface OpenedDispatchArchive {
  bus: MessageBus;
  blobs: BlobStore;
  close(): Promise<void>;
}

/** Opens `d` on the calling thread's own connections. */
export function openDispatchArchive(d: DispatchArchive): Promise<OpenedDispatchArchive> {
  return d.kind === 'scale-out' ? openScaleOut(d) : openEmbedded(d);
}

/**
 * The dispatcher's bus on a small pool of its own (claims, outcomes: a few statements at once)
 * and the bucket. Only a connection: the main thread opened the store, which migrated the schema.
 */
async function openScaleOut(d: ScaleOutDispatchArchive): Promise<OpenedDispatchArchive> {
  const [{ PostgresConnection }, { createPostgresBus }, { createS3BlobStore }] = await Promise.all([
    import('../adapters/store-postgres/index.js'),
    import('../adapters/bus-postgres/index.js'),
    import('../adapters/blob-s3/index.js'),
  ]);
  const db = new PostgresConnection({ ...d.postgres, poolSize: 4 });
  const blobs = createS3BlobStore(d.s3);
  return {
    bus: createPostgresBus({ db, workerId: d.workerId }),
    blobs,
    async close() {
      blobs.close();
      await db.close();
    },
  };
}

async function openEmbedded(d: EmbeddedDispatchArchive): Promise<OpenedDispatchArchive> {
  const [{ createSqliteStore }, { createSqliteBus }, { ArchiveKeyring, createFsBlobStore }] = await Promise.all([
    import('../adapters/store-sqlite/index.js'),
    import('../adapters/bus-sqlite/index.js'),
    import('../adapters/blob-fs/index.js'),
  ]);
  // No fsync per commit on this connection: what it records (claims, steps, done, retries) may be
  // lost on a power cut without breaking at least once (a delivery not recorded done is sent
  // again under the same key), and its commits no longer hold the write lock the drain's and the
  // index stage's commits wait for (ADR 0007).
  const store = createSqliteStore({ file: d.dbFile, synchronous: 'normal', waitForLocks: 'yield', key: d.dbKey ?? null });
  try {
    const keyring = d.archiveKey ? await ArchiveKeyring.open(d.archiveKey.dataDir, Buffer.from(d.archiveKey.master)) : undefined;
    const blobs = await createFsBlobStore({ directory: d.blobsDir, ...(keyring ? { keyring } : {}) });
    // A stale ref (its pack rewritten since, ADR 0036) is looked up again.
    blobs.setRelocator((sha256) => store.blobRefs.refOf(sha256));
    return { bus: createSqliteBus(store.connection()), blobs, close: () => store.close() };
  } catch (err) {
    await store.close();
    throw err;
  }
}
