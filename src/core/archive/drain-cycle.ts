/**
 * One drain cycle of one connection, the critical path of mailsluice:
 * list candidates → fetch (stream) → store raw (hash, compress) → group commit (blob sync, then
 * one metadata transaction) → server action. Parsing and routing follow later from the committed
 * rows, so a burst empties the mailbox at close to the server's speed (docs/pipeline.md).
 *
 * No I/O here: the source, blob writer, store and clock are ports.
 */
import type { ByteBudget } from '../memory/byte-budget.js';
import type { BlobWriter, PutResult } from '../ports/blob-store.js';
import type { Candidate, FetchedMessage, MailboxSource, SourceSession } from '../ports/mailbox-source.js';
import type { MessageStore, TakenRecord } from '../ports/message-store.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import { toMailsluiceError } from '../errors/index.js';
import { isDiskFull } from './disk-full.js';

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
  /**
   * Told after every commit, so progress counts what is durable even if the cycle then fails;
   * `largest` is the size of its largest message (what the link carried whole).
   */
  onCommit?: (messages: number, bytes: number, largest: number) => void;
  /**
   * When given (sources with `concurrentActions`), a cycle's last commit and its server actions
   * are queued here and run behind the next cycle's fetch instead of being awaited by this cycle.
   */
  actions?: BatchPipeline;
  /**
   * What a failure to archive a message does: its `blobs.put` failing, or the commit (blob sync
   * or metadata transaction) of the batch it is in.
   * - `retry` (the default): the cycle fails; the runner backs off and reconnects, and every
   *   message not committed is fetched again, for as long as the archive keeps failing.
   * - `flag-seen` (IMAP `unseenOnly`, SPEC "Connection settings"): those messages are *set aside*.
   *   At the end of the cycle `source.markFailed` flags them (`\Seen`) so the listing skips them
   *   from then on; they get no server action (nothing is deleted), each is logged as an error
   *   and they are counted (`CycleResult.failed`, `onFailed`). The cycle goes on with the rest of
   *   the listing on a fresh writer from `renewBlobs`. A second failure with nothing committed
   *   since the first (`archiveFailures`) means the archive itself is failing (disk full), not
   *   one message: the cycle then stops taking, flags what failed and fails, so the runner backs
   *   off instead of flagging the whole mailbox. A source without `markFailed` gets `retry`.
   */
  onArchiveFailure?: 'retry' | 'flag-seen';
  /**
   * With `flag-seen`: closes the current blob writer (after a failure it refuses all further
   * work) and returns a fresh one, which must also be `blobs` for the session's later cycles.
   * Without it, the cycle stops taking at the first failure.
   */
  renewBlobs?: () => Promise<BlobWriter>;
  /**
   * With `flag-seen`: archive failures of this session with nothing committed since, kept across
   * its cycles (one object per session); without it, counted per cycle.
   */
  archiveFailures?: { inARow: number };
  /** Told how many messages were set aside (flagged), so the status counts them even if the cycle then fails. */
  onFailed?: (messages: number) => void;
  /**
   * The process's one budget of message bytes in memory (ADR 0017): a buffered body holds its
   * bytes from the fetch until the blob writer has stored it (the compression thread's copy
   * included). Streamed bodies are bounded by the source's back-pressure window instead.
   */
  budget?: ByteBudget;
  /**
   * Listed messages not to fetch: set aside by the runner because session after session broke
   * during their transfer (`core/archive/partial-transfer.ts`, ADR 0015). They stay on the server
   * with no server action, and the watermark passes them as it passes flagged ones, so the mail
   * above them is taken and not listed again.
   */
  skip?: (key: string) => boolean;
}

/** A batch queued for its server action, and whether its commit has finished. */
interface QueuedBatch {
  ready: Promise<void>;
  settled: boolean;
  candidates: Candidate[];
}

/**
 * Most candidates one server action takes when queued batches are merged
 * ({@link BatchPipeline}). Measured with 20,000 small messages on a disk-backed Dovecot: flag +
 * UID EXPUNGE in commands of 500 took 2.7–3.0 s, of 5,000 2.0–2.2 s; larger commands gain little
 * more and a crash leaves more to redo.
 */
const MAX_MERGED_ACTION = 5000;

/**
 * The batches of a connection's session behind its drain (so named since it queues commits as
 * well as server actions): runs a cycle's last commit and server actions in order, behind the drain
 * (batches committed while the server acted on an earlier one are acted on together):
 * the cycle hands over its final group commit and returns at once, so the next cycle lists and
 * fetches while the batch is synced, committed and then expunged on the server. A batch's action
 * runs only after its commit, and is marked done only after the server confirmed it; a failure
 * stops everything queued behind it (nothing later is committed, so the watermark never passes
 * an uncommitted message), is kept and thrown by the next `check` or `settle`, and what was
 * committed but not confirmed is finished by the next session's recovery.
 */
export class BatchPipeline {
  /** Commits, one after another. */
  private commits: Promise<void> = Promise.resolve();
  /** Batches waiting for their server action, in order, each also waiting for its own commit. */
  private readonly waiting: QueuedBatch[] = [];
  /** Whether {@link BatchPipeline.runActions} is working through `waiting`. */
  private running = false;
  /** The run of server actions in progress, or a settled promise. */
  private tail: Promise<void> = Promise.resolve();
  private failure: unknown;
  private failed = false;
  private completed = 0;
  /** The watermark the commits queued so far will have written, while one is queued. */
  private pending: { uidValidity: number; lastUid: number; commits: number } | null = null;

  constructor(private readonly deps: Pick<DrainDeps, 'source' | 'store' | 'connection'>) {}

  /** Queues the server action of committed candidates. */
  submit(candidates: Candidate[]): void {
    this.queue(Promise.resolve(candidates));
  }

  /**
   * Queues a cycle's final commit (which returns the candidates it made actionable) and then
   * their server action. `through` is the watermark the commit writes if it succeeds: the next
   * cycle lists above it ({@link BatchPipeline.queuedWatermark}) rather than above the
   * stored one, or it would list the same messages again.
   */
  submitCommit(commit: () => Promise<Candidate[]>, through: { uidValidity: number; lastUid: number }): void {
    this.check();
    this.pending = { ...through, commits: (this.pending?.commits ?? 0) + 1 };
    // Commits do not wait for the server actions of earlier batches (the server's expunge is the
    // slow part); they only follow each other, and stop at the first failure.
    const committed = this.commits.then(async () => {
      if (this.failed) return [];
      try {
        return await commit();
      } catch (err) {
        this.fail(err);
        return [];
      } finally {
        if (this.pending && --this.pending.commits === 0) this.pending = null;
      }
    });
    this.commits = committed.then(() => undefined);
    this.queue(committed);
  }

  /** The watermark of the commits still queued, if any (see {@link BatchPipeline.submitCommit}). */
  queuedWatermark(): { uidValidity: number; lastUid: number } | null {
    return this.pending && { uidValidity: this.pending.uidValidity, lastUid: this.pending.lastUid };
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.failure = err;
  }

  private queue(ready: Promise<Candidate[]>): void {
    this.check();
    const entry: QueuedBatch = { settled: false, candidates: [], ready: Promise.resolve() };
    entry.ready = ready.then((c) => {
      entry.settled = true;
      entry.candidates = c;
    });
    this.waiting.push(entry);
    if (!this.running) {
      this.running = true;
      this.tail = this.runActions();
    }
  }

  /**
   * Applies the queued batches in order. The batches behind the first that are already committed
   * when it starts go with it as one server action (at most {@link MAX_MERGED_ACTION}): while the
   * server expunges one batch, the drain commits several more, and Dovecot's STORE + UID EXPUNGE
   * costs about 17 ms a command besides its per-message work, so a backlog is cleared in fewer,
   * larger commands. Nothing waits for a merge: a batch is never held back for a later one.
   */
  private async runActions(): Promise<void> {
    const { source, store, connection } = this.deps;
    // `running` is cleared in the same turn as the loop sees the queue empty: cleared any later
    // (a `.finally` on this promise), a batch queued in between would find it set, start no run,
    // and wait unseen by `settle`.
    try {
      while (this.waiting.length > 0) {
        await this.waiting[0]!.ready;
        const candidates: Candidate[] = [];
        for (let next = this.waiting[0]; next?.settled && (candidates.length === 0 || candidates.length + next.candidates.length <= MAX_MERGED_ACTION); next = this.waiting[0]) {
          this.waiting.shift();
          for (const c of next.candidates) candidates.push(c);
        }
        if (this.failed || candidates.length === 0) continue;
        try {
          const done = await source.applyServerAction(candidates);
          await store.markActionDone(connection, done.map((c) => c.key));
          const flushed = await source.flush();
          await store.markActionDone(connection, flushed.map((c) => c.key));
          this.completed += done.length + flushed.length;
        } catch (err) {
          this.fail(err);
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** Throws the failure of an earlier batch, if any. */
  check(): void {
    if (this.failed) throw this.failure;
  }

  /** Waits for every queued commit and batch; returns how many actions completed since the last call. */
  async settle(): Promise<number> {
    await this.commits;
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
  /**
   * Messages that could not be archived and were set aside (`onArchiveFailure: 'flag-seen'`):
   * flagged on the server, not deleted, not offered again.
   */
  failed: number;
  /** Whether the listing was cut at maxMessagesPerCycle (so more may be waiting). */
  full: boolean;
  /**
   * Messages fetched whose (final) commit the cycle handed to the server-action pipeline instead
   * of waiting for it (see {@link BatchPipeline.submitCommit}); `taken` and `bytes` count
   * them once committed, through `onCommit`.
   */
  queued: number;
}

const DEFAULT_COMMIT_MESSAGES = 500;
// Bounds what a crash can make us fetch again, and how much a batch holds in the WAL.
const DEFAULT_COMMIT_BYTES = 64 * 1024 * 1024;
// Buffered messages stored concurrently: the blob writer batches the puts started together into one
// job for its compression thread, so more in flight means fewer, larger hand-offs (ADR 0001). At
// 16 the mixed set's fetch loop spent most of its time waiting for a free slot (one-job batches,
// one round trip each); 64 took its drain from ~1.7 s to ~1.5 s and left the small set alone.
const MAX_PUTS_IN_FLIGHT = 64;
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

/** Thrown inside a cycle to stop taking after an archive failure (`flag-seen`); carries the error. */
class StopTaking {
  constructor(
    readonly error: unknown,
    readonly reason: string,
  ) {}
}

/** Passes a message body through, telling whether the source's side of it failed. */
async function* watchSource(body: AsyncIterable<Uint8Array>, failed: () => void): AsyncIterable<Uint8Array> {
  try {
    for await (const chunk of body) yield chunk;
  } catch (err) {
    failed();
    throw err;
  }
}

/**
 * Runs one cycle. Messages are committed in groups as they stream in; server actions run only
 * after the fetch ends (IMAP cannot take commands inside a FETCH) and only for committed ones.
 * On a fetch error, what was fully received is still committed before the error propagates.
 * A failure to archive fails the cycle, or, with `onArchiveFailure: 'flag-seen'`, sets the
 * messages concerned aside (see {@link DrainDeps.onArchiveFailure}).
 */
export async function runDrainCycle(session: SourceSession, deps: DrainDeps): Promise<CycleResult> {
  const { store, source, connection, clock, logger } = deps;
  let blobs = deps.blobs;
  const commitMessages = deps.commitEveryMessages ?? DEFAULT_COMMIT_MESSAGES;
  const commitBytes = deps.commitEveryBytes ?? DEFAULT_COMMIT_BYTES;
  // SPEC "unseen only": a message that fails to archive is flagged and reported, not retried forever.
  const setAside = deps.onArchiveFailure === 'flag-seen' && source.markFailed !== undefined;
  const archiveFailures = deps.archiveFailures ?? { inARow: 0 };

  deps.actions?.check();
  const watermark = await store.getWatermark(connection, session.mailbox);
  let after = watermark && watermark.uidValidity === session.uidValidity ? watermark : { uidValidity: session.uidValidity, lastUid: 0 };
  // A commit still queued will move the watermark on: list above where it will be.
  const queued = deps.actions?.queuedWatermark();
  if (queued && queued.uidValidity === after.uidValidity && queued.lastUid > after.lastUid) after = queued;
  const listed = await source.listCandidates(deps.maxMessagesPerCycle, after, (keys) => store.lookupSettled(connection, keys));
  const result: CycleResult = { listed: listed.length, taken: 0, bytes: 0, actioned: 0, vanished: 0, failed: 0, full: listed.length >= deps.maxMessagesPerCycle, queued: 0 };
  if (listed.length === 0) return result;

  // Committed before (e.g. the server action was lost with the connection): act, don't refetch.
  const already = await store.lookupTaken(connection, listed.map((c) => c.key));
  const skipped = new Set(deps.skip ? listed.filter((c) => !already.has(c.key) && deps.skip!(c.key)).map((c) => c.key) : []);
  const toFetch = listed.filter((c) => !already.has(c.key) && !skipped.has(c.key));
  // Set-aside messages count as committed for the watermark only: they are neither fetched nor actioned.
  const committed = new Set<string>([...already, ...skipped]);
  const actionable: Candidate[] = listed.filter((c) => already.has(c.key));
  /** The watermark as this cycle last wrote it. */
  let mark = after.lastUid;
  /** Listing (mailbox) order: a batch is committed in it, whatever order its puts finished in. */
  const position = new Map(listed.map((c, i) => [c.key, i]));

  let batch: TakenRecord[] = [];
  let batchCandidates: Candidate[] = [];
  let batchBytes = 0;
  const inBatch = new Set<string>();
  const dropBatch = (): number => {
    const n = batch.length;
    batch = [];
    batchCandidates = [];
    batchBytes = 0;
    inBatch.clear();
    return n;
  };
  const commit = async (): Promise<void> => {
    if (batch.length === 0) return;
    // Blob bytes must be durable before the rows that reference them (SPEC "Guarantees").
    await blobs.sync();
    const wm = watermarkAfter(listed, committed, batch, session.uidValidity, after.lastUid);
    // Message ids then follow mailbox order, which routes keep (docs/adr/0006-outbox-and-buses.md):
    // puts run concurrently and finish in any order.
    batch.sort((a, b) => position.get(a.sourceKey)! - position.get(b.sourceKey)!);
    await store.commitTaken(batch, { connection, mailbox: session.mailbox, ...wm });
    mark = wm.lastUid;
    let bytes = 0;
    let largest = 0;
    for (const r of batch) {
      committed.add(r.sourceKey);
      bytes += r.size;
      if (r.size > largest) largest = r.size;
      // The connection's `full` log: every message handled (other levels drop this at no cost).
      logger.debug('message archived', { key: r.sourceKey, sha256: r.sha256, size: r.size, stored: r.blob !== null });
    }
    result.taken += batch.length;
    result.bytes += bytes;
    deps.onCommit?.(batch.length, bytes, largest);
    archiveFailures.inARow = 0;
    dropBatch();
  };

  // Archive failures (`flag-seen` only): the messages set aside, and the writer they failed on.
  const failures: Array<{ candidate: Candidate; code: string; message: string }> = [];
  /** The first put that failed on the current writer (which then refuses all further work). */
  let putFailure: { candidate: Candidate; error: unknown } | null = null;
  /** Stored on a writer that failed before their batch was committed: fetched again next cycle. */
  let refetch = 0;
  const blame = (cands: readonly Candidate[], err: unknown): void => {
    // The disk still full since the last failure, with nothing committed between: that is the
    // archive failing, not these messages. They are not set aside (flagged) but stay unseen and
    // are taken once space returns; only the first message a full disk refused is set aside.
    if (archiveFailures.inARow > 0 && isDiskFull(err)) return;
    const e = toMailsluiceError(err);
    for (const c of cands) failures.push({ candidate: c, code: e.code, message: e.message });
  };
  /**
   * After a failure the writer refuses all further work (and after a failed metadata commit its
   * single-instance memory names bytes no row references), so the rest goes to a fresh one; a
   * second failure with nothing committed since the first stops taking.
   */
  const replaceWriter = async (err: unknown): Promise<void> => {
    archiveFailures.inARow++;
    if (archiveFailures.inARow > 1) throw new StopTaking(err, 'archiving failed again with nothing committed since: the archive itself is failing, not one message');
    if (!deps.renewBlobs) throw new StopTaking(err, 'archiving failed and no fresh blob writer can be had');
    try {
      blobs = await deps.renewBlobs();
    } catch (renewError) {
      throw new StopTaking(renewError, 'archiving failed and opening a fresh blob writer failed too');
    }
  };

  /**
   * Sets the failed messages aside: flags them so the listing skips them, reports each, and lets
   * the watermark pass them. If the flagging fails they were not archived and stay unflagged:
   * logged, and the error fails the cycle (the runner backs off; they are tried again).
   */
  const flagFailures = async (): Promise<void> => {
    const cands = failures.map((f) => f.candidate);
    try {
      await source.markFailed!(cands);
    } catch (err) {
      const e = toMailsluiceError(err);
      logger.error('messages could not be archived, and flagging them \\Seen failed too: they stay unseen and are tried again', {
        keys: cands.map((c) => c.key),
        code: e.code,
        error: e.message,
        archiveError: failures[0]!.message,
      });
      throw err;
    }
    for (const f of failures) logger.error('message could not be archived; left on the server flagged \\Seen', { key: f.candidate.key, code: f.code, error: f.message });
    result.failed = failures.length;
    deps.onFailed?.(failures.length);
    // Flagged, they are no longer listed, so the watermark may pass them; left below them, it would
    // make the listing offer committed mail above them again (with `leave`, every cycle).
    const wm = watermarkAfter(listed, new Set([...committed, ...cands.map((c) => c.key)]), [], session.uidValidity, after.lastUid);
    if (wm.lastUid > mark) {
      await store.commitTaken([], { connection, mailbox: session.mailbox, ...wm });
      mark = wm.lastUid;
    }
  };

  const fetchedKeys = new Set<string>();
  // With a pipeline (IMAP's second session) and nothing to set aside, the cycle's last commit is
  // not waited for: the pipeline syncs and commits it, then acts on the server, while the next
  // cycle lists and fetches. Measured on the drain's critical path: ~35 ms per cycle of 500 (the
  // puts still in flight, the blob sync and the metadata transaction).
  const deferFinal = deps.actions !== undefined && !setAside;
  /** Listed, not fetched, and the fetch ended without an error: gone from the server meanwhile. */
  const countVanished = (): void => {
    result.vanished = toFetch.length - fetchedKeys.size;
    if (result.vanished > 0) logger.info('messages vanished from the server before they were fetched', { count: result.vanished });
  };
  let fetchError: unknown;
  let stop: StopTaking | undefined;
  // Hashing and compressing run off the main thread; keeping buffered messages in flight overlaps
  // that work with the fetch (ADR 0001: compression CPU, not the disk, sets the rate).
  const inflight = new Set<Promise<void>>();
  let inflightBytes = 0;
  let putError: unknown;
  const store1 = async (m: FetchedMessage): Promise<void> => {
    let sourceFailed = false;
    const body = setAside ? watchSource(m.body, () => (sourceFailed = true)) : m.body;
    let put: PutResult;
    try {
      put = await blobs.put(body, (sha) => inBatch.has(sha) || store.hasBlob(sha), { owned: m.owned === true, buffered: m.buffered });
    } catch (err) {
      // The body breaking off is the fetch's failure, not the archive's.
      if (!setAside || sourceFailed) throw err;
      if (putFailure === null) putFailure = { candidate: m.candidate, error: err };
      else refetch++; // refused because an earlier put broke the writer
      return;
    }
    inBatch.add(put.sha256);
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
    batchCandidates.push(m.candidate);
    batchBytes += put.size;
  };
  const settle = async (): Promise<void> => {
    await Promise.all(inflight);
    if (putError !== undefined) throw putError;
  };
  /**
   * A put failed (`flag-seen`): that message is set aside; the rest of its batch was stored on the
   * failed writer, cannot be synced any more, and stays on the server to be fetched again.
   */
  const afterPutFailure = async (goOn: boolean): Promise<void> => {
    if (putFailure === null) return;
    await Promise.allSettled(inflight);
    const f = putFailure;
    putFailure = null;
    blame([f.candidate], f.error);
    refetch += dropBatch();
    if (goOn) await replaceWriter(f.error);
  };
  /** Commits the batch; with `flag-seen`, a batch that cannot be committed is set aside instead. */
  const commitBatch = async (goOn: boolean): Promise<void> => {
    if (!setAside) return commit();
    await afterPutFailure(goOn);
    try {
      await commit();
    } catch (err) {
      blame(batchCandidates, err);
      dropBatch();
      if (goOn) await replaceWriter(err);
    }
  };
  try {
    for await (const m of source.fetch(toFetch)) {
      fetchedKeys.add(m.candidate.key);
      if (!m.buffered) {
        await settle();
        await store1(m);
      } else {
        const bytes = m.bytes ?? 0;
        // Synchronous when the budget has room (always, for small mail); else wait for the parse
        // or an attachment read to let go. What this cycle holds is freed by its own puts.
        const release = deps.budget ? (deps.budget.tryAcquire(bytes) ?? (await deps.budget.acquire(bytes))) : undefined;
        inflightBytes += bytes;
        const p: Promise<void> = store1(m).then(
          () => {
            inflight.delete(p);
            inflightBytes -= bytes;
            release?.();
          },
          (err: unknown) => {
            inflight.delete(p);
            inflightBytes -= bytes;
            release?.();
            putError ??= err;
          },
        );
        inflight.add(p);
        while (inflight.size >= MAX_PUTS_IN_FLIGHT || (inflightBytes > MAX_PUT_BYTES_IN_FLIGHT && inflight.size > 0)) await Promise.race(inflight);
        if (putError !== undefined) throw putError;
      }
      if (putFailure !== null) await afterPutFailure(true);
      if (batch.length >= commitMessages || batchBytes >= commitBytes) {
        await settle();
        await commitBatch(true);
      }
    }
    if (!deferFinal) await settle();
  } catch (err) {
    if (err instanceof StopTaking) stop = err;
    else fetchError = err;
    // Puts still running belong to fully received messages: let them finish so they commit.
    await Promise.allSettled(inflight);
  }
  if (deferFinal && fetchError === undefined && stop === undefined) {
    countVanished();
    result.queued = fetchedKeys.size;
    // Every listed message is fetched (its put still running, maybe) or gone, so the next cycle
    // lists above the last one; if this commit fails, the pipeline stops and so does the session.
    const through = listed.reduce((m, c) => Math.max(m, c.uid ?? 0), after.lastUid);
    deps.actions!.submitCommit(
      async () => {
        await settle();
        await commit();
        for (const c of toFetch) if (committed.has(c.key)) actionable.push(c);
        return actionable;
      },
      { uidValidity: session.uidValidity, lastUid: through },
    );
    return result;
  }
  if (stop === undefined) {
    try {
      // After a fetch error the cycle ends: no fresh writer for what is left.
      await commitBatch(fetchError === undefined);
    } catch (err) {
      if (!(err instanceof StopTaking)) throw err;
      stop = err;
    }
  }
  if (fetchError === undefined && stop === undefined) {
    countVanished();
  }
  for (const c of toFetch) if (committed.has(c.key)) actionable.push(c);
  if (refetch > 0) logger.info('messages stored beside one that failed to archive were not committed; they stay on the server and are fetched again', { count: refetch });
  if (failures.length > 0) {
    try {
      await flagFailures();
    } catch (err) {
      // Logged; the cycle's own error, if any, is the one to report.
      if (fetchError === undefined && stop === undefined) throw err;
    }
  }
  if (fetchError !== undefined) {
    // The committed ones are safe; their server action runs on the next session's recovery.
    logger.warn('fetch failed; committed what was fully received', { committed: result.taken });
    throw fetchError;
  }
  if (stop !== undefined) {
    // As after a fetch error: the committed ones get their server action in the next session's recovery.
    logger.warn(`${stop.reason}; stopped taking for this session`, { committed: result.taken, setAside: result.failed });
    throw stop.error;
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
