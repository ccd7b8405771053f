/**
 * The archive's counts for a metrics scrape, read on a thread of their own
 * (`metrics-reader-worker.ts`) so a scrape never blocks the drain's thread for the length of a
 * table scan. Started with the first scrape, ended with the API. Scrapes that arrive while a read
 * is under way share it.
 */
import { Worker } from 'node:worker_threads';
import { MailsluiceError, type ErrorCode } from '../core/errors/index.js';
import type { ArchiveStats } from '../core/ports/archive-reader.js';
import type { DeliveryCounts } from '../core/ports/delivery-admin.js';

/** What the reader thread is started with (structured-cloned). */
export interface MetricsReaderData {
  dbFile: string;
  /** The databases' key (ADR 0035), or null. */
  dbKey: Uint8Array | null;
}

/** What one read returns. */
export interface ArchiveCounts {
  archive: ArchiveStats;
  unparsed: number;
  deliveries: DeliveryCounts;
}

/** Main thread → reader. */
export type ToMetricsReader = { type: 'read'; id: number } | { type: 'close' };

/** Reader → main thread. */
export type FromMetricsReader = { type: 'read'; id: number; counts?: ArchiveCounts; error?: { code: ErrorCode; message: string } };

/** The reader of `dbFile`'s counts. */
export interface MetricsReader {
  /** The counts now (a read under way is shared). */
  read(): Promise<ArchiveCounts>;
  /** Ends the thread; a read under way fails. */
  close(): Promise<void>;
}

/** A reader of `dbFile` (opened with `dbKey`, the databases' key, when encrypted); its thread starts on the first read. */
export function createMetricsReader(dbFile: string, dbKey: Uint8Array | null = null): MetricsReader {
  let worker: Worker | null = null;
  let next = 0;
  let current: Promise<ArchiveCounts> | null = null;
  const waiting = new Map<number, { resolve: (c: ArchiveCounts) => void; reject: (e: Error) => void }>();
  const failAll = (err: Error): void => {
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  const start = (): Worker => {
    const data: MetricsReaderData = { dbFile, dbKey };
    const w = new Worker(new URL('./metrics-reader-worker.js', import.meta.url), { workerData: data });
    // Idle between scrapes: it must not keep the process alive.
    w.unref();
    w.on('message', (m: FromMetricsReader) => {
      const p = waiting.get(m.id);
      if (!p) return;
      waiting.delete(m.id);
      if (m.counts) p.resolve(m.counts);
      else p.reject(new MailsluiceError(m.error?.code ?? 'INTERNAL', m.error?.message ?? 'the metrics reader answered nothing'));
    });
    w.on('error', (err) => failAll(new MailsluiceError('INTERNAL', `the metrics reader thread failed: ${err.message}`, { cause: err })));
    w.on('exit', () => {
      worker = null;
      failAll(new MailsluiceError('INTERNAL', 'the metrics reader thread ended'));
    });
    return w;
  };
  return {
    read() {
      current ??= new Promise<ArchiveCounts>((resolve, reject) => {
        worker ??= start();
        const id = ++next;
        waiting.set(id, { resolve, reject });
        worker.postMessage({ type: 'read', id } satisfies ToMetricsReader);
      }).finally(() => {
        current = null;
      });
      return current;
    },
    async close() {
      const w = worker;
      if (!w) return;
      worker = null;
      const exited = new Promise((r) => w.once('exit', r));
      w.postMessage({ type: 'close' } satisfies ToMetricsReader);
      await exited;
    },
  };
}
