/**
 * The parse-and-index stage: follows the committed rows (the parse queue), reads each raw blob
 * back, parses it off the main thread and writes attributes and the full-text index in groups.
 * It is off the drain's critical path, so a burst empties the mailbox first and this catches up.
 */
import type { BlobStore } from '../ports/blob-store.js';
import type { MessageParser, ParseOutcome } from '../ports/message-parser.js';
import type { MessageStore, UnparsedMessage } from '../ports/message-store.js';
import type { Logger } from '../ports/logger.js';
import type { Clock } from '../ports/clock.js';
import { MAX_FULL_PARSE_BYTES, MAX_HEADER_BYTES } from '../message/limits.js';
import { YieldToDrain } from './yield-to-drain.js';

/** The first `max` bytes of a stream (at least; whole chunks), closing it early. */
async function readPrefix(stream: AsyncIterable<Uint8Array>, max: number): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of stream) {
    chunks.push(c);
    n += c.byteLength;
    if (n >= max) break;
  }
  return Buffer.concat(chunks);
}

/** Longest the stage yields to a busy drain before it indexes one page anyway. */
const DEFAULT_MAX_PAUSE_MS = 10_000;

/** What the index stage needs. */
export interface IndexDeps {
  store: MessageStore;
  blobs: BlobStore;
  parser: MessageParser;
  logger: Logger;
  clock: Clock;
  /** Parses in flight at once (keep every worker busy). */
  concurrency: number;
  /** Results saved per transaction. */
  saveEvery?: number;
  /**
   * True while a drain is moving mail: the stage then yields the CPU to the critical path, but
   * for at most `maxPauseMs`; after that it indexes alongside until the drain goes quiet, so a
   * mailbox that never goes quiet is still indexed.
   */
  busy?: () => boolean;
  maxPauseMs?: number;
}

/** Totals of an index run. */
export interface IndexTotals {
  parsed: number;
  unparsable: number;
  bytes: number;
}

/**
 * Indexes until `stop()` says so and nothing is waiting. `stop` is polled whenever the queue is
 * empty, so a drain can say "no more will come" and the stage finishes what is left.
 */
export async function runIndexStage(deps: IndexDeps, stop: () => boolean, signal?: AbortSignal): Promise<IndexTotals> {
  const totals: IndexTotals = { parsed: 0, unparsable: 0, bytes: 0 };
  const saveEvery = deps.saveEvery ?? 200;
  let afterId = 0;
  let results: Array<{ id: number; outcome: ParseOutcome }> = [];
  const flush = async (): Promise<void> => {
    if (results.length === 0) return;
    const r = results;
    results = [];
    await deps.store.saveParsed(r);
  };
  const one = async (m: UnparsedMessage): Promise<void> => {
    let outcome: ParseOutcome;
    try {
      if (m.size > MAX_FULL_PARSE_BYTES) {
        // Only the head: a message over the full-parse limit must never sit whole in memory.
        outcome = await deps.parser.parse(await readPrefix(deps.blobs.stream(m.blob), MAX_HEADER_BYTES), m.size);
      } else {
        outcome = await deps.parser.parse(await deps.blobs.read(m.blob, m.sha256));
      }
    } catch (err) {
      // A blob that cannot be read is an archive fault, not a mail fault: leave it queued.
      deps.logger.error('cannot read a blob for parsing; it stays queued', { id: m.id, sha256: m.sha256, error: String((err as Error).message ?? err) });
      return;
    }
    if (outcome.ok) totals.parsed++;
    else {
      totals.unparsable++;
      deps.logger.warn('message archived raw but unparsable', { id: m.id, sha256: m.sha256, code: outcome.code, reason: outcome.reason });
    }
    totals.bytes += m.size;
    results.push({ id: m.id, outcome });
    if (results.length >= saveEvery) await flush();
  };
  const yielding = new YieldToDrain(deps.clock, deps.busy, deps.maxPauseMs ?? DEFAULT_MAX_PAUSE_MS);
  for (;;) {
    if (signal?.aborted) break;
    if (yielding.shouldWait()) {
      await deps.clock.sleep(20, signal);
      continue;
    }
    const page = await deps.store.listUnparsed(deps.concurrency * 8, afterId);
    if (page.length === 0) {
      await flush();
      if (stop()) {
        // One more look: rows committed between the last page and stop() turning true.
        const late = await deps.store.listUnparsed(1, afterId);
        if (late.length === 0) break;
        continue;
      }
      await deps.clock.sleep(50, signal);
      continue;
    }
    afterId = page[page.length - 1]!.id;
    // Keep `concurrency` parses in flight across the page.
    let next = 0;
    const workers = Array.from({ length: Math.min(deps.concurrency, page.length) }, async () => {
      while (next < page.length) {
        const m = page[next++]!;
        await one(m);
      }
    });
    await Promise.all(workers);
  }
  await flush();
  return totals;
}
