/**
 * The parse-and-index stage: follows the committed rows (the parse queue), reads each raw blob
 * back, parses it off the main thread and writes attributes and the full-text index in groups.
 * It is off the drain's critical path, so a burst empties the mailbox first and this catches up.
 */
import type { BlobStore } from '../ports/blob-store.js';
import type { MessageParser } from '../ports/message-parser.js';
import type { ParseQueue, ParseResult, UnparsedMessage } from '../ports/parse-queue.js';
import type { ParseOutcome } from '../message/parse-outcome.js';
import type { ParsedRecord } from '../message/parsed-record.js';
import type { Logger } from '../ports/logger.js';
import type { Clock } from '../ports/clock.js';
import { MAX_FULL_PARSE_BYTES, MAX_HEADER_BYTES } from '../message/limits.js';
import { YieldToDrain } from './yield-to-drain.js';
import type { RouteMatcher } from '../routing/route-matcher.js';
import type { MessageAttributes } from '../message/attributes.js';
import type { BodiesSink, HandedBodies } from '../ports/bodies-handoff.js';
import { PARSE_CHARGE_FACTOR, type ByteBudget, type Release } from '../memory/byte-budget.js';

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
  /** The parse queue: where the stage reads what waits and saves what it parsed. */
  store: ParseQueue;
  blobs: BlobStore;
  parser: MessageParser;
  logger: Logger;
  clock: Clock;
  /**
   * Messages in flight at once (read back, queued at the parser or being parsed). Enough to
   * keep every parser worker fed while blob reads and result hand-offs are on their way.
   */
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
  /**
   * The routes: each saved parse result queues one delivery per route of its connection whose
   * filter matches, in the same transaction (the outbox). Absent: nothing is routed.
   */
  routes?: RouteMatcher;
  /**
   * The dispatcher's in-memory hand-off (ADR 0011): the bodies of a message that routes take go
   * there, before its deliveries are saved. Absent (no dispatcher thread): the dispatcher, when
   * one runs, parses the message again for them.
   */
  bodies?: BodiesSink;
  /**
   * The process's one budget of message bytes in memory (ADR 0017): a message is read and parsed
   * only once its bytes fit, so the lanes never hold several large messages at once. Absent: no
   * bound but `concurrency`.
   */
  budget?: ByteBudget;
}

/** What reading and parsing `m` holds in memory, counted against the budget. */
export function parseCharge(m: Pick<UnparsedMessage, 'size'>): number {
  return m.size > MAX_FULL_PARSE_BYTES ? MAX_HEADER_BYTES : m.size * PARSE_CHARGE_FACTOR;
}

/** Totals of an index run. */
export interface IndexTotals {
  parsed: number;
  unparsable: number;
  bytes: number;
}

/**
 * Moves the bodies of routed records in `results` to `sink` (in place). Handed over before the
 * save that makes their deliveries visible, so the dispatcher can find them when it claims them.
 */
function handOverBodies(results: ParseResult[], sink: BodiesSink): void {
  const entries: HandedBodies[] = [];
  for (const r of results) {
    const o = r.outcome;
    if (!r.deliveries || r.deliveries.length === 0 || !('record' in o) || o.bodiesJson === undefined) continue;
    entries.push({ messageId: r.id, bodiesJson: o.bodiesJson, uses: r.deliveries.length });
    const { bodiesJson: _handed, ...kept } = o;
    r.outcome = kept;
  }
  if (entries.length > 0) sink.handOver(entries);
}

/** Saves in flight at once: one being written while the next group fills. */
const MAX_SAVES_IN_FLIGHT = 2;

/**
 * Indexes until `stop()` says so and nothing is waiting. `stop` is polled whenever the queue is
 * empty, so a drain can say "no more will come" and the stage finishes what is left.
 *
 * A pipeline, not pages in lock-step: `concurrency` lanes each take the next queued message,
 * read it, parse it and add its outcome to the current group; a full group is saved in the
 * background (at most {@link MAX_SAVES_IN_FLIGHT} at once) while the lanes go on, so no parser
 * waits for a slow message of the same page, a page query or a save.
 */
export async function runIndexStage(
  deps: IndexDeps,
  stop: () => boolean,
  signal?: AbortSignal,
  /** Counted into as the stage goes (a drain's progress line reads it); returned at the end. */
  totals: IndexTotals = { parsed: 0, unparsable: 0, bytes: 0 },
): Promise<IndexTotals> {
  const saveEvery = deps.saveEvery ?? 200;
  const pageSize = Math.max(deps.concurrency * 8, saveEvery);
  let afterId = 0;
  let results: ParseResult[] = [];
  const saves: Array<Promise<void>> = [];
  let saveError: { error: unknown } | undefined;

  /** Starts saving the current group; waits only while too many saves are in flight. */
  const flush = async (): Promise<void> => {
    if (results.length > 0) {
      const r = results;
      results = [];
      if (deps.bodies) handOverBodies(r, deps.bodies);
      const p = deps.store.saveParsed(r).catch((error: unknown) => {
        saveError ??= { error };
      });
      saves.push(p);
      void p.then(() => {
        const i = saves.indexOf(p);
        if (i >= 0) saves.splice(i, 1);
      });
    }
    while (saves.length >= MAX_SAVES_IN_FLIGHT) await saves[0];
    if (saveError) throw saveError.error;
  };
  /** Flushes and waits until every save started so far is done. */
  const settle = async (): Promise<void> => {
    await flush();
    while (saves.length > 0) await saves[0];
    if (saveError) throw saveError.error;
  };

  // The record form when the parser offers it: built on the parser's thread, not this one.
  const parse = deps.parser.parseToRecord
    ? deps.parser.parseToRecord.bind(deps.parser)
    : (raw: Buffer, totalSize?: number): Promise<ParseOutcome> => deps.parser.parse(raw, totalSize);
  const one = async (m: UnparsedMessage): Promise<void> => {
    let outcome: ParseOutcome | ParsedRecord;
    let release: Release | undefined;
    if (deps.budget) {
      const charge = parseCharge(m);
      try {
        release = deps.budget.tryAcquire(charge) ?? (await deps.budget.acquire(charge, signal));
      } catch (err) {
        // Stopped while waiting: the message stays queued for the next run.
        if (signal?.aborted) return;
        throw err;
      }
    }
    try {
      if (m.size > MAX_FULL_PARSE_BYTES) {
        // Only the head: a message over the full-parse limit must never sit whole in memory.
        outcome = await parse(await readPrefix(deps.blobs.stream(m.blob), MAX_HEADER_BYTES), m.size);
      } else {
        // Checksum, not hash: the record's header names this blob and its CRC-32 catches a torn
        // or corrupted copy; hashing all bytes again cost ~0.3 s per 278 MB of mail here.
        outcome = await parse(await deps.blobs.read(m.blob, m.sha256, { check: 'checksum' }));
      }
    } catch (err) {
      // A blob that cannot be read is an archive fault, not a mail fault: leave it queued.
      deps.logger.error('cannot read a blob for parsing; it stays queued', { id: m.id, sha256: m.sha256, error: String((err as Error).message ?? err) });
      return;
    } finally {
      // The raw bytes and the parse's copies are let go here; the outcome kept is bounded by the
      // parser's limits (body length, attachments listed, not their bytes).
      release?.();
    }
    if (outcome.ok) totals.parsed++;
    else {
      totals.unparsable++;
      const why = 'record' in outcome ? outcome.error : outcome;
      deps.logger.warn('message archived raw but unparsable', { id: m.id, sha256: m.sha256, code: why?.code, reason: why?.reason });
    }
    totals.bytes += m.size;
    // Routing needs the attributes, and they exist only now: the routes that take the message
    // are decided here and queued with the parse result (an unparsable message is routed on
    // what could be read of it).
    const routes = deps.routes;
    if (routes?.has(m.connection)) {
      const o = outcome;
      const attributes = (): Partial<MessageAttributes> =>
        'record' in o ? (JSON.parse(o.attributesJson) as Partial<MessageAttributes>) : o.ok ? o.attributes : (o.partial ?? {});
      const deliveries = routes.match({ id: m.id, connection: m.connection, size: m.size, attributes }, deps.clock.now());
      results.push(deliveries.length > 0 ? { id: m.id, outcome, deliveries } : { id: m.id, outcome });
    } else results.push({ id: m.id, outcome });
    if (results.length >= saveEvery) await flush();
  };

  // The queue, read a page at a time by whichever lane finds it empty.
  let page: UnparsedMessage[] = [];
  let at = 0;
  let done = false;
  let refilling: Promise<void> | null = null;
  const yielding = new YieldToDrain(deps.clock, deps.busy, deps.maxPauseMs ?? DEFAULT_MAX_PAUSE_MS);
  const refill = async (): Promise<void> => {
    for (;;) {
      if (signal?.aborted) {
        done = true;
        return;
      }
      if (yielding.shouldWait()) {
        await deps.clock.sleep(20, signal);
        continue;
      }
      const next = await deps.store.listUnparsed(pageSize, afterId);
      if (next.length > 0) {
        page = next;
        at = 0;
        afterId = next[next.length - 1]!.id;
        return;
      }
      // Nothing waiting: what is parsed so far goes to the index now, not when a group fills.
      await flush();
      if (stop()) {
        // One more look: rows committed between the last page and stop() turning true.
        const late = await deps.store.listUnparsed(1, afterId);
        if (late.length === 0) {
          done = true;
          return;
        }
        continue;
      }
      await deps.clock.sleep(50, signal);
    }
  };
  const take = async (): Promise<UnparsedMessage | undefined> => {
    for (;;) {
      if (signal?.aborted || done) return undefined;
      if (at < page.length) {
        // Between pages the stage also yields to a drain that started meanwhile (the service).
        if (at % deps.concurrency === 0 && yielding.shouldWait()) {
          refilling ??= (async () => {
            while (!signal?.aborted && yielding.shouldWait()) await deps.clock.sleep(20, signal);
          })().finally(() => (refilling = null));
          await refilling;
          continue;
        }
        return page[at++];
      }
      refilling ??= refill().finally(() => (refilling = null));
      await refilling;
    }
  };
  const lanes = Array.from({ length: Math.max(1, deps.concurrency) }, async () => {
    try {
      for (let m = await take(); m; m = await take()) await one(m);
    } catch (err) {
      done = true; // a failed save stops every lane; the error is thrown below
      throw err;
    }
  });
  const settled = await Promise.allSettled(lanes);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  await settle();
  if (failed) throw failed.reason;
  return totals;
}
