/**
 * The thread that reads the archive's counts for a metrics scrape (`metrics-reader.ts`): its own
 * read-only connection to `archive.db`, so the scans behind them (the archive's per-connection
 * totals and the deliveries per route and state walk their whole tables: about 0.7 s for a
 * million messages) run beside the drain, never on its thread. WAL: reading blocks no writer.
 *
 * Messages: in, `read` with a request number; out, `read` with the counts or the error.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createSqliteStore } from '../adapters/store-sqlite/index.js';
import { createSqliteBus } from '../adapters/bus-sqlite/index.js';
import { toMailsluiceError } from '../core/errors/index.js';
import type { FromMetricsReader, MetricsReaderData, ToMetricsReader } from './metrics-reader.js';

const port = parentPort;
if (!port) throw new Error('metrics-reader-worker.js runs only as a worker thread');
const input = workerData as MetricsReaderData;
const store = createSqliteStore({ file: input.dbFile, readonly: true, key: input.dbKey });
const bus = createSqliteBus(store.connection());

port.on('message', (m: ToMetricsReader) => {
  if (m.type === 'close') {
    void store.close().finally(() => port.close());
    return;
  }
  const post = (out: FromMetricsReader): void => port.postMessage(out);
  Promise.all([store.stats(), store.countUnparsed(), bus.counts()]).then(
    ([archive, unparsed, deliveries]) => post({ type: 'read', id: m.id, counts: { archive, unparsed, deliveries } }),
    (err: unknown) => {
      const e = toMailsluiceError(err);
      post({ type: 'read', id: m.id, error: { code: e.code, message: e.message } });
    },
  );
});
