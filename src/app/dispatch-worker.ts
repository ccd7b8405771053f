/**
 * The dispatcher's own thread (ADR 0007): a composition root of its own, started by
 * `dispatch-thread.ts`. It opens the archive's bus and blob store on connections of its own
 * (`dispatch-archive.ts`; embedded: `archive.db` in WAL, so the drain's and the index stage's
 * transactions go on beside it), builds the route runtimes from the configuration it is handed, and runs the core
 * dispatcher until the main thread says the run is over.
 *
 * Messages: in, `finish` (drain: nothing more will be queued) and `abort`; out, `wake` (a
 * delivery ended with a server response for this connection), `progress` and `latency` (twice a
 * second) and finally `done` with the totals or `failed` with the error.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { randomInt } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { runDispatcher } from '../core/bus/dispatcher.js';
import { toMailsluiceError } from '../core/errors/index.js';
import type { MessageParser } from '../core/ports/message-parser.js';
import { openDispatchArchive, type OpenedDispatchArchive } from './dispatch-archive.js';
import { createPostalMimeParser, postalMimeAttachmentFinder } from '../adapters/parser-postal-mime/index.js';
import { createUrlSigner } from '../api/signed-url.js';
import { JsonlLogger } from '../adapters/logger-jsonl/index.js';
import { systemClock } from '../adapters/clock-system/index.js';
import { closeRouteRuntimes, createRouteRuntimes } from './action-factory.js';
import { wakeOnResponse } from './response-wake.js';
import { BodiesCache } from '../adapters/bodies-messageport/index.js';
import type { DispatchWorkerData, FromDispatchWorker, ToDispatchWorker } from './dispatch-thread.js';
import type { DispatchTotals } from '../core/bus/dispatcher.js';
import { tapLatency } from './dispatch-latency.js';

const port = parentPort;
if (!port) throw new Error('dispatch-worker.js runs only as a worker thread');
const input = workerData as DispatchWorkerData;
const post = (m: FromDispatchWorker): void => port.postMessage(m);

/** How often the totals so far are reported (for `drain`'s progress line, redrawn as often). */
const PROGRESS_MS = 500;

let finished = false;
const ac = new AbortController();
// Every step in flight listens to the run's signal (dispatcher.ts: one signal, not one controller
// per step): a webhook window of 16 on a few lanes is dozens of listeners, by design, which
// Node's default of 10 would report as a leak on stderr.
setMaxListeners(0, ac.signal);
port.on('message', (m: ToDispatchWorker) => {
  if (m.type === 'finish') finished = true;
  else if (m.type === 'abort') ac.abort();
});

async function main(): Promise<void> {
  const logger = new JsonlLogger([{ level: input.stderrLevel, stream: process.stderr }]);
  let archive: OpenedDispatchArchive | null = null;
  const bodies = new BodiesCache(input.bodiesPort);
  let started: MessageParser | null = null;
  // Only for a message whose bodies were neither handed over (a restart, an entry dropped, a
  // replayed dead letter) nor saved: started on first use.
  const parser: MessageParser = {
    parse: (raw, totalSize) => (started ??= createPostalMimeParser()).parse(raw, totalSize),
    close: async () => started?.close(),
  };
  try {
    archive = await openDispatchArchive(input.archive);
    const { bus, blobs } = archive;
    // The API's key came from the main thread, which serves the URLs signed with it.
    const signer = input.urlSigning ? createUrlSigner(input.urlSigning.key, input.urlSigning) : null;
    const routes = createRouteRuntimes(input.routes, logger, {
      attachments: postalMimeAttachmentFinder,
      ...(signer ? { referenceUrl: (archiveId: string, sha256: string) => signer.attachmentUrl(archiveId, sha256, systemClock.now()) } : {}),
    }, input.brokers);
    // Reported as it goes, so a drain's progress line shows deliveries, not only messages taken.
    const live: DispatchTotals = { routes: {} };
    // Latencies for the metrics' histogram, in the same beat as the totals (dispatch-latency.ts).
    const latency = input.latency ? tapLatency(bus) : null;
    const flushLatency = (): void => {
      const samples = latency?.take();
      if (samples) post({ type: 'latency', samples });
    };
    const progress = setInterval(() => {
      post({ type: 'progress', totals: live });
      flushLatency();
    }, PROGRESS_MS);
    progress.unref();
    try {
      const totals = await runDispatcher(
        {
          bus: wakeOnResponse(latency?.bus ?? bus, (connection) => post({ type: 'wake', connection })),
          blobs,
          parser,
          bodies,
          routes,
          clock: systemClock,
          random: () => randomInt(0, 1_000_000) / 1_000_000,
          logger,
          tuning: input.tuning,
        },
        {
          ...(input.untilIdle ? { untilIdle: { finished: () => finished, retryHorizonMs: input.untilIdle.retryHorizonMs } } : {}),
          signal: ac.signal,
          totals: live,
        },
      );
      flushLatency();
      post({ type: 'done', totals });
    } finally {
      clearInterval(progress);
      await closeRouteRuntimes(routes);
    }
  } finally {
    bodies.close();
    await parser.close();
    await archive?.close();
  }
}

main()
  .catch((err: unknown) => {
    const e = toMailsluiceError(err);
    post({ type: 'failed', error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } });
  })
  // Nothing more to hear from the main thread: the thread ends once its last handles close.
  .finally(() => port.unref());
