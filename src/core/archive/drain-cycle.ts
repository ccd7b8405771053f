/**
 * One drain cycle of one connection, the critical path of mailsluice:
 * list candidates → fetch (stream) → store raw (hash, compress) → group commit (blob sync, then
 * one metadata transaction) → server action. Parsing and routing follow later from the committed
 * rows, so a burst empties the mailbox at close to the server's speed (docs/pipeline.md).
 *
 * No I/O here: the source, blob writer, store and clock are ports.
 */
import type { BlobWriter } from '../ports/blob-store.js';
import type { Candidate, FetchedMessage, MailboxSource, SourceSession } from '../ports/mailbox-source.js';
import type { MessageStore, TakenRecord } from '../ports/message-store.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';

/** What a drain cycle needs. */
export interface DrainDeps {
  connection: string;
  source: MailboxSource;
  store: MessageStore;
  blobs: BlobWriter;
  clock: Clock;
  logger: Logger;
  /** Messages listed and taken per cycle at most. */
  maxMessagesPerCycle: number;
  /** Group commit: commit after this many messages… */
  commitEveryMessages?: number;
  /** …or this many raw bytes, whichever comes first. */
  commitEveryBytes?: number;
  /** Told after every commit, so progress counts what is durable even if the cycle then fails. */
  onCommit?: (messages: number, bytes: number) => void;
  /**
   * When given (sources with `concurrentActions`), server actions are queued here and run behind
   * the next cycle's fetch instead of being awaited by this cycle.
   */
  actions?: ServerActionPipeline;
}

/**
 * Runs server actions one batch at a time, in order, behind the drain: the cycle that committed
 * a batch returns at once and the next cycle's fetch overlaps the server's expunge work. A batch
 * is marked done only after the server confirmed it; a failure is kept and thrown by the next
 * `check` or `settle`, and what was not confirmed is finished by the next session's recovery.
 */
export class ServerActionPipeline {
  private tail: Promise<void> = Promise.resolve();
  private failure: unknown;
  private failed = false;
  private completed = 0;

  constructor(private readonly deps: Pick<DrainDeps, 'source' | 'store' | 'connection'>) {}

  /** Queues the server action of committed candidates. */
  submit(candidates: Candidate[]): void {
    this.check();
    const { source, store, connection } = this.deps;
    this.tail = this.tail.then(async () => {
      if (this.failed) return;
      try {
        const done = await source.applyServerAction(candidates);
        await store.markActionDone(connection, done.map((c) => c.key));
        const flushed = await source.flush();
        await store.markActionDone(connection, flushed.map((c) => c.key));
        this.completed += done.length + flushed.length;
      } catch (err) {
        this.failed = true;
        this.failure = err;
      }
    });
  }

  /** Throws the failure of an earlier batch, if any. */
  check(): void {
    if (this.failed) throw this.failure;
  }

  /** Waits for every queued batch; returns how many actions completed since the last call. */
  async settle(): Promise<number> {
    await this.tail;
    this.check();
    const n = this.completed;
    this.completed = 0;
    return n;
  }
}

/** What one cycle did. */
export interface CycleResult {
  /** Candidates the server listed. */
  listed: number;
  /** Messages newly committed to the archive (including content-hash duplicates). */
  taken: number;
  /** Raw bytes newly committed. */
  bytes: number;
  /** Messages whose server action completed. */
  actioned: number;
  /** Listed messages that disappeared before they could be fetched. */
  vanished: number;
  /** Whether the listing was cut at maxMessagesPerCycle (so more may be waiting). */
  full: boolean;
}

const DEFAULT_COMMIT_MESSAGES = 500;
// Bounds what a crash can make us fetch again, and how much a batch holds in the WAL.
const DEFAULT_COMMIT_BYTES = 64 * 1024 * 1024;
// Buffered messages stored concurrently: the blob writer batches the puts started together into one
// job for its compression thread, so more in flight means fewer, larger hand-offs (ADR 0001).
const MAX_PUTS_IN_FLIGHT = 16;
// …and at most this many of their bytes (when the source tells them): bodies of a few MiB fetched
// in bulk are hashed on the blob writer's thread too, and each holds copies while in flight.
const MAX_PUT_BYTES_IN_FLIGHT = 32 * 1024 * 1024;

/**
 * Finishes server actions that were committed but not confirmed before a crash or disconnect,
 * so those messages are removed without being archived again. Returns how many completed.
 */
export async function recoverPendingActions(session: SourceSession, deps: DrainDeps): Promise<number> {
  const { store, source, connection, logger } = deps;
  const superseded = await store.supersedePending(connection, session.mailbox, session.uidValidity);
  if (superseded > 0) {
    logger.warn('UIDVALIDITY changed: pending server actions of the old UIDs are superseded; those messages are recognised by content hash', {
      superseded,
    });
  }
  const pending = await store.pendingActions(connection, session.mailbox, session.uidValidity);
  if (pending.length === 0) return 0;
  logger.info('finishing server actions committed before an interruption', { count: pending.length });
  const candidates: Candidate[] = pending.map((p) => ({
    key: p.sourceKey,
    size: 0,
    ...(p.uid !== null ? { uid: p.uid } : {}),
    ...(p.uidl !== null ? { uidl: p.uidl } : {}),
  }));
  let done = 0;
  for (let i = 0; i < candidates.length; i += deps.maxMessagesPerCycle) {
    const chunk = candidates.slice(i, i + deps.maxMessagesPerCycle);
    const completed = await source.applyServerAction(chunk);
    await store.markActionDone(connection, completed.map((c) => c.key));
    done += completed.length;
  }
  const flushed = await source.flush();
  await store.markActionDone(connection, flushed.map((c) => c.key));
  return done + flushed.length;
}

/**
 * Runs one cycle. Messages are committed in groups as they stream in; server actions run only
 * after the fetch ends (IMAP cannot take commands inside a FETCH) and only for committed ones.
 * On a fetch error, what was fully received is still committed before the error propagates.
 */
export async function runDrainCycle(session: SourceSession, deps: DrainDeps): Promise<CycleResult> {
  const { store, source, blobs, connection, clock, logger } = deps;
  const commitMessages = deps.commitEveryMessages ?? DEFAULT_COMMIT_MESSAGES;
  const commitBytes = deps.commitEveryBytes ?? DEFAULT_COMMIT_BYTES;

  deps.actions?.check();
  const watermark = await store.getWatermark(connection, session.mailbox);
  const after = watermark && watermark.uidValidity === session.uidValidity ? watermark : { uidValidity: session.uidValidity, lastUid: 0 };
  const listed = await source.listCandidates(deps.maxMessagesPerCycle, after, (keys) => store.lookupSettled(connection, keys));
  const result: CycleResult = { listed: listed.length, taken: 0, bytes: 0, actioned: 0, vanished: 0, full: listed.length >= deps.maxMessagesPerCycle };
  if (listed.length === 0) return result;

  // Committed before (e.g. the server action was lost with the connection): act, don't refetch.
  const already = await store.lookupTaken(connection, listed.map((c) => c.key));
  const toFetch = listed.filter((c) => !already.has(c.key));
  const committed = new Set<string>(already);
  const actionable: Candidate[] = listed.filter((c) => already.has(c.key));

  let batch: TakenRecord[] = [];
  let batchBytes = 0;
  const inBatch = new Set<string>();
  const commit = async (): Promise<void> => {
    if (batch.length === 0) return;
    // Blob bytes must be durable before the rows that reference them (SPEC "Guarantees").
    await blobs.sync();
    await store.commitTaken(batch, { connection, mailbox: session.mailbox, ...watermarkAfter(listed, committed, batch, session.uidValidity, after.lastUid) });
    for (const r of batch) {
      committed.add(r.sourceKey);
      // The connection's `full` log: every message handled (other levels drop this at no cost).
      logger.debug('message archived', { key: r.sourceKey, sha256: r.sha256, size: r.size, stored: r.blob !== null });
    }
    deps.onCommit?.(batch.length, batch.reduce((n, r) => n + r.size, 0));
    batch = [];
    batchBytes = 0;
    inBatch.clear();
  };

  const fetchedKeys = new Set<string>();
  let fetchError: unknown;
  // Hashing and compressing run off the main thread; keeping buffered messages in flight overlaps
  // that work with the fetch (ADR 0001: compression CPU, not the disk, sets the rate).
  const inflight = new Set<Promise<void>>();
  let inflightBytes = 0;
  let putError: unknown;
  const store1 = async (m: FetchedMessage): Promise<void> => {
    const put = await blobs.put(m.body, (sha) => inBatch.has(sha) || store.hasBlob(sha));
    inBatch.add(put.sha256);
    fetchedKeys.add(m.candidate.key);
    batch.push({
      connection,
      sourceKey: m.candidate.key,
      mailbox: session.mailbox,
      uidValidity: session.uidValidity,
      uid: m.candidate.uid ?? null,
      uidl: m.candidate.uidl ?? null,
      sha256: put.sha256,
      size: put.size,
      blob: put.location,
      takenAt: clock.now(),
    });
    result.taken++;
    result.bytes += put.size;
    batchBytes += put.size;
  };
  const settle = async (): Promise<void> => {
    await Promise.all(inflight);
    if (putError !== undefined) throw putError;
  };
  try {
    for await (const m of source.fetch(toFetch)) {
      if (!m.buffered) {
        await settle();
        await store1(m);
      } else {
        const bytes = m.bytes ?? 0;
        inflightBytes += bytes;
        const p: Promise<void> = store1(m).then(
          () => {
            inflight.delete(p);
            inflightBytes -= bytes;
          },
          (err: unknown) => {
            inflight.delete(p);
            inflightBytes -= bytes;
            putError ??= err;
          },
        );
        inflight.add(p);
        while (inflight.size >= MAX_PUTS_IN_FLIGHT || (inflightBytes > MAX_PUT_BYTES_IN_FLIGHT && inflight.size > 0)) await Promise.race(inflight);
        if (putError !== undefined) throw putError;
      }
      if (batch.length >= commitMessages || batchBytes >= commitBytes) {
        await settle();
        await commit();
      }
    }
    await settle();
  } catch (err) {
    fetchError = err;
    // Puts still running belong to fully received messages: let them finish so they commit.
    await Promise.allSettled(inflight);
  }
  await commit();
  if (fetchError === undefined) {
    result.vanished = toFetch.length - fetchedKeys.size;
    if (result.vanished > 0) logger.info('messages vanished from the server before they were fetched', { count: result.vanished });
  }
  for (const c of toFetch) if (committed.has(c.key)) actionable.push(c);
  if (fetchError !== undefined) {
    // The committed ones are safe; their server action runs on the next session's recovery.
    logger.warn('fetch failed; committed what was fully received', { committed: result.taken });
    throw fetchError;
  }

  if (deps.actions) {
    // Counted when the pipeline settles; the next cycle's fetch overlaps the server's work.
    if (actionable.length) deps.actions.submit(actionable);
    return result;
  }
  const completed = await source.applyServerAction(actionable);
  await store.markActionDone(connection, completed.map((c) => c.key));
  const flushed = await source.flush();
  await store.markActionDone(connection, flushed.map((c) => c.key));
  result.actioned = completed.length + flushed.length;
  return result;
}

/**
 * The highest UID below which every listed candidate is committed (or was listed before this
 * cycle): the watermark never passes a message that was not committed (n8n lost mail that way).
 */
function watermarkAfter(listed: Candidate[], committed: Set<string>, batch: TakenRecord[], uidValidity: number, lastUid: number): { uidValidity: number; lastUid: number } {
  const nowCommitted = new Set(committed);
  for (const r of batch) nowCommitted.add(r.sourceKey);
  let mark = lastUid;
  for (const c of listed) {
    if (c.uid === undefined) continue;
    if (!nowCommitted.has(c.key)) break;
    mark = Math.max(mark, c.uid);
  }
  return { uidValidity, lastUid: mark };
}
