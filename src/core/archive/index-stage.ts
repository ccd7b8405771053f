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
import type { ProbeVerifier } from '../ports/probe-verifier.js';
import { markProbe, probeHeaderOf } from '../message/probe-mark.js';
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
  /**
   * Tells the probes this archive issued (ADR 0027): such a message is saved marked `Probe: true`
   * and routed nowhere. Absent: no message is taken for a probe (a forged header is just a header).
   */
  probes?: ProbeVerifier;
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
 * The results waiting to be saved, and the saves under way: a full group is saved in the
 * background while the lanes go on, at most {@link MAX_SAVES_IN_FLIGHT} at once; the first failed
 * save is thrown to whichever lane adds or flushes next.
 */
class SaveGroups {
  private results: ParseResult[] = [];
  private readonly saves: Array<Promise<void>> = [];
  private saveError: { error: unknown } | undefined;

  constructor(private readonly deps: Pick<IndexDeps, 'store' | 'bodies'>, private readonly saveEvery: number) {}

  /** Adds one result; saves the group once it is full. */
  async add(result: ParseResult): Promise<void> {
    this.results.push(result);
    if (this.results.length >= this.saveEvery) await this.flush();
  }

  /** Starts saving the current group; waits only while too many saves are in flight. */
  async flush(): Promise<void> {
    if (this.results.length > 0) {
      const r = this.results;
      this.results = [];
      if (this.deps.bodies) handOverBodies(r, this.deps.bodies);
      const p = this.deps.store.saveParsed(r).catch((error: unknown) => {
        this.saveError ??= { error };
      });
      this.saves.push(p);
      void p.then(() => {
        const i = this.saves.indexOf(p);
        if (i >= 0) this.saves.splice(i, 1);
      });
    }
    while (this.saves.length >= MAX_SAVES_IN_FLIGHT) await this.saves[0];
    if (this.saveError) throw this.saveError.error;
  }

  /** Flushes and waits until every save started so far is done. */
  async settle(): Promise<void> {
    await this.flush();
    while (this.saves.length > 0) await this.saves[0];
    if (this.saveError) throw this.saveError.error;
  }
}

/**
 * The parse queue read a page at a time by whichever lane finds the page used up; yields to a
 * busy drain between pages and every `concurrency` messages; ends once `stop()` says so and one
 * more look finds nothing.
 */
class UnparsedQueue {
  private page: UnparsedMessage[] = [];
  private at = 0;
  private afterId = 0;
  private refilling: Promise<void> | null = null;
  private readonly yielding: YieldToDrain;
  /** True once no lane should take another message (stopped, aborted or a lane failed). */
  done = false;

  constructor(
    private readonly deps: IndexDeps,
    private readonly stop: () => boolean,
    private readonly signal: AbortSignal | undefined,
    private readonly pageSize: number,
    /** Called when the queue is empty: what is parsed so far goes to the index now. */
    private readonly onEmpty: () => Promise<void>,
  ) {
    this.yielding = new YieldToDrain(deps.clock, deps.busy, deps.maxPauseMs ?? DEFAULT_MAX_PAUSE_MS);
  }

  /** The next message to parse, or undefined when the stage is to end. */
  async take(): Promise<UnparsedMessage | undefined> {
    for (;;) {
      if (this.signal?.aborted || this.done) return undefined;
      if (this.at < this.page.length) {
        // Between pages the stage also yields to a drain that started meanwhile (the service).
        if (this.at % this.deps.concurrency === 0 && this.yielding.shouldWait()) {
          this.refilling ??= this.waitWhileBusy().finally(() => (this.refilling = null));
          await this.refilling;
          continue;
        }
        return this.page[this.at++];
      }
      this.refilling ??= this.refill().finally(() => (this.refilling = null));
      await this.refilling;
    }
  }

  private async waitWhileBusy(): Promise<void> {
    while (!this.signal?.aborted && this.yielding.shouldWait()) await this.deps.clock.sleep(20, this.signal);
  }

  private async refill(): Promise<void> {
    for (;;) {
      if (this.signal?.aborted) {
        this.done = true;
        return;
      }
      if (this.yielding.shouldWait()) {
        await this.deps.clock.sleep(20, this.signal);
        continue;
      }
      const next = await this.deps.store.listUnparsed(this.pageSize, this.afterId);
      if (next.length > 0) {
        this.page = next;
        this.at = 0;
        this.afterId = next[next.length - 1]!.id;
        return;
      }
      await this.onEmpty();
      if (this.stop()) {
        // One more look: rows committed between the last page and stop() turning true.
        const late = await this.deps.store.listUnparsed(1, this.afterId);
        if (late.length === 0) {
          this.done = true;
          return;
        }
        continue;
      }
      await this.deps.clock.sleep(50, this.signal);
    }
  }
}

type Parse = (raw: Buffer, totalSize?: number) => Promise<ParseOutcome | ParsedRecord>;

/**
 * Reads `m` back and parses it, holding its charge of the byte budget meanwhile; undefined when
 * it was not parsed (stopped while waiting for the budget, or its blob could not be read: it
 * stays queued either way).
 */
async function readAndParse(deps: IndexDeps, parse: Parse, m: UnparsedMessage, signal?: AbortSignal): Promise<ParseOutcome | ParsedRecord | undefined> {
  let release: Release | undefined;
  if (deps.budget) {
    const charge = parseCharge(m);
    try {
      release = deps.budget.tryAcquire(charge) ?? (await deps.budget.acquire(charge, signal));
    } catch (err) {
      // Stopped while waiting: the message stays queued for the next run.
      if (signal?.aborted) return undefined;
      throw err;
    }
  }
  try {
    if (m.size > MAX_FULL_PARSE_BYTES) {
      // Only the head: a message over the full-parse limit must never sit whole in memory.
      return await parse(await readPrefix(deps.blobs.stream(m.blob, m.sha256), MAX_HEADER_BYTES), m.size);
    }
    // Checksum, not hash: the record's header names this blob and its CRC-32 catches a torn
    // or corrupted copy; hashing all bytes again cost ~0.3 s per 278 MB of mail here.
    return await parse(await deps.blobs.read(m.blob, m.sha256, { check: 'checksum' }));
  } catch (err) {
    // A blob that cannot be read is an archive fault, not a mail fault: leave it queued.
    deps.logger.error('cannot read a blob for parsing; it stays queued', { id: m.id, sha256: m.sha256, error: String((err as Error).message ?? err) });
    return undefined;
  } finally {
    // The raw bytes and the parse's copies are let go here; the outcome kept is bounded by the
    // parser's limits (body length, attachments listed, not their bytes).
    release?.();
  }
}

/**
 * `m`'s parse result with the deliveries of the routes that take it. Routing needs the
 * attributes, and they exist only now: the routes are decided here and queued with the parse
 * result (an unparsable message is routed on what could be read of it).
 */
function routed(deps: IndexDeps, m: UnparsedMessage, outcome: ParseOutcome | ParsedRecord): ParseResult {
  if (deps.probes) {
    // Only a probe whose header carries this archive's MAC skips the routes: anyone can send a
    // message with the header to a journal mailbox, and must not suppress its routing by it.
    const header = probeHeaderOf(outcome);
    if (header !== undefined && deps.probes.issued(header)) return { id: m.id, outcome: markProbe(outcome) };
  }
  const routes = deps.routes;
  if (!routes?.has(m.connection)) return { id: m.id, outcome };
  const attributes = (): Partial<MessageAttributes> =>
    'record' in outcome ? (JSON.parse(outcome.attributesJson) as Partial<MessageAttributes>) : outcome.ok ? outcome.attributes : (outcome.partial ?? {});
  const deliveries = routes.match({ id: m.id, connection: m.connection, size: m.size, attributes }, deps.clock.now());
  return deliveries.length > 0 ? { id: m.id, outcome, deliveries } : { id: m.id, outcome };
}

/** Counts `outcome` into `totals`, logging an unparsable message. */
function count(deps: IndexDeps, totals: IndexTotals, m: UnparsedMessage, outcome: ParseOutcome | ParsedRecord): void {
  if (outcome.ok) totals.parsed++;
  else {
    totals.unparsable++;
    const why = 'record' in outcome ? outcome.error : outcome;
    deps.logger.warn('message archived raw but unparsable', { id: m.id, sha256: m.sha256, code: why?.code, reason: why?.reason });
  }
  totals.bytes += m.size;
}

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
  const groups = new SaveGroups(deps, saveEvery);
  const queue = new UnparsedQueue(deps, stop, signal, Math.max(deps.concurrency * 8, saveEvery), () => groups.flush());
  // The record form when the parser offers it: built on the parser's thread, not this one.
  const parse: Parse = deps.parser.parseToRecord
    ? deps.parser.parseToRecord.bind(deps.parser)
    : (raw, totalSize) => deps.parser.parse(raw, totalSize);
  const lanes = Array.from({ length: Math.max(1, deps.concurrency) }, async () => {
    try {
      for (let m = await queue.take(); m; m = await queue.take()) {
        const outcome = await readAndParse(deps, parse, m, signal);
        if (!outcome) continue;
        count(deps, totals, m, outcome);
        await groups.add(routed(deps, m, outcome));
      }
    } catch (err) {
      queue.done = true; // a failed save stops every lane; the error is thrown below
      throw err;
    }
  });
  const settled = await Promise.allSettled(lanes);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  await groups.settle();
  if (failed) throw failed.reason;
  return totals;
}
