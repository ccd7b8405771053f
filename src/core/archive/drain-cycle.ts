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
import type { BatchPipeline } from './batch-pipeline.js';

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
   * Told after every listing how many of the messages it found on the server this cycle is to
   * take (not taken before, not set aside): the connection's backlog, which the runner counts
   * down as they are committed or set aside. At most `maxMessagesPerCycle`: a listing cut there
   * does not count what lies beyond it.
   */
  onListed?: (toTake: number) => void;
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
  deps.actions?.check();
  const after = await listFrom(session, deps);
  const listed = await deps.source.listCandidates(deps.maxMessagesPerCycle, after, (keys) => deps.store.lookupSettled(deps.connection, keys));
  const result: CycleResult = { listed: listed.length, taken: 0, bytes: 0, actioned: 0, vanished: 0, failed: 0, full: listed.length >= deps.maxMessagesPerCycle, queued: 0 };
  if (listed.length === 0) {
    deps.onListed?.(0);
    return result;
  }
  // Committed before (e.g. the server action was lost with the connection): act, don't refetch.
  const already = await deps.store.lookupTaken(deps.connection, listed.map((c) => c.key));
  const cycle = new Cycle(session, deps, listed, after.lastUid, already, result);
  deps.onListed?.(cycle.toTake);
  const ended = await cycle.fetchAll();
  if (cycle.deferFinal && ended.fetchError === undefined && ended.stop === undefined) {
    cycle.queueFinalCommit();
    return result;
  }
  await cycle.finish(ended);
  return cycle.act();
}

/**
 * The watermark the cycle lists above: the stored one (of the session's UIDVALIDITY), or where a
 * commit still queued in the pipeline will move it.
 */
async function listFrom(session: SourceSession, deps: DrainDeps): Promise<{ uidValidity: number; lastUid: number }> {
  const watermark = await deps.store.getWatermark(deps.connection, session.mailbox);
  const after = watermark && watermark.uidValidity === session.uidValidity ? watermark : { uidValidity: session.uidValidity, lastUid: 0 };
  const queued = deps.actions?.queuedWatermark();
  return queued && queued.uidValidity === after.uidValidity && queued.lastUid > after.lastUid ? queued : after;
}

/** How the fetch of a cycle ended: cleanly, with the fetch's error, or stopped after archive failures. */
interface FetchEnd {
  fetchError?: unknown;
  stop?: StopTaking;
}

/** One cycle's state from the listing on: the batch being filled, the puts in flight, what failed. */
class Cycle {
  private blobs: BlobWriter;
  private readonly commitMessages: number;
  private readonly commitBytes: number;
  /** SPEC "unseen only": a message that fails to archive is flagged and reported, not retried forever. */
  private readonly setAside: boolean;
  private readonly archiveFailures: { inARow: number };
  private readonly toFetch: Candidate[];
  /** How many messages this cycle is to take (the backlog its listing found). */
  get toTake(): number {
    return this.toFetch.length;
  }
  /** Committed (before or by this cycle) or set aside by the runner: what the watermark may pass. */
  private readonly committed: Set<string>;
  private readonly actionable: Candidate[];
  /** The watermark as this cycle last wrote it. */
  private mark: number;
  /** Listing (mailbox) order: a batch is committed in it, whatever order its puts finished in. */
  private readonly position: Map<string, number>;
  private batch: TakenRecord[] = [];
  private batchCandidates: Candidate[] = [];
  private batchBytes = 0;
  private readonly inBatch = new Set<string>();
  /** Archive failures (`flag-seen` only): the messages set aside. */
  private readonly failures: Array<{ candidate: Candidate; code: string; message: string }> = [];
  /** The first put that failed on the current writer (which then refuses all further work). */
  private putFailure: { candidate: Candidate; error: unknown } | null = null;
  /** Stored on a writer that failed before their batch was committed: fetched again next cycle. */
  private refetch = 0;
  private readonly fetchedKeys = new Set<string>();
  // Hashing and compressing run off the main thread; keeping buffered messages in flight overlaps
  // that work with the fetch (ADR 0001: compression CPU, not the disk, sets the rate).
  private readonly inflight = new Set<Promise<void>>();
  private inflightBytes = 0;
  private putError: unknown;
  /**
   * With a pipeline (IMAP's second session) and nothing to set aside, the cycle's last commit is
   * not waited for: the pipeline syncs and commits it, then acts on the server, while the next
   * cycle lists and fetches. Measured on the drain's critical path: ~35 ms per cycle of 500 (the
   * puts still in flight, the blob sync and the metadata transaction).
   */
  readonly deferFinal: boolean;

  constructor(
    private readonly session: SourceSession,
    private readonly deps: DrainDeps,
    private readonly listed: Candidate[],
    private readonly afterUid: number,
    already: Set<string>,
    private readonly result: CycleResult,
  ) {
    this.blobs = deps.blobs;
    this.commitMessages = deps.commitEveryMessages ?? DEFAULT_COMMIT_MESSAGES;
    this.commitBytes = deps.commitEveryBytes ?? DEFAULT_COMMIT_BYTES;
    this.setAside = deps.onArchiveFailure === 'flag-seen' && deps.source.markFailed !== undefined;
    this.archiveFailures = deps.archiveFailures ?? { inARow: 0 };
    const skipped = new Set(deps.skip ? listed.filter((c) => !already.has(c.key) && deps.skip!(c.key)).map((c) => c.key) : []);
    this.toFetch = listed.filter((c) => !already.has(c.key) && !skipped.has(c.key));
    // Set-aside messages count as committed for the watermark only: they are neither fetched nor actioned.
    this.committed = new Set<string>([...already, ...skipped]);
    this.actionable = listed.filter((c) => already.has(c.key));
    this.mark = afterUid;
    this.position = new Map(listed.map((c, i) => [c.key, i]));
    this.deferFinal = deps.actions !== undefined && !this.setAside;
  }

  /** Fetches every message to take, storing each and committing in groups; how the fetch ended. */
  async fetchAll(): Promise<FetchEnd> {
    try {
      for await (const m of this.deps.source.fetch(this.toFetch)) {
        this.fetchedKeys.add(m.candidate.key);
        if (!m.buffered) {
          await this.settlePuts();
          await this.storeOne(m);
        } else await this.startPut(m);
        if (this.putFailure !== null) await this.afterPutFailure(true);
        if (this.batch.length >= this.commitMessages || this.batchBytes >= this.commitBytes) {
          await this.settlePuts();
          await this.commitBatch(true);
        }
      }
      if (!this.deferFinal) await this.settlePuts();
      return {};
    } catch (err) {
      // Puts still running belong to fully received messages: let them finish so they commit.
      await Promise.allSettled(this.inflight);
      return err instanceof StopTaking ? { stop: err } : { fetchError: err };
    }
  }

  /**
   * Hands the cycle's last commit to the pipeline. Every listed message is fetched (its put still
   * running, maybe) or gone, so the next cycle lists above the last one; if this commit fails,
   * the pipeline stops and so does the session.
   */
  queueFinalCommit(): void {
    this.countVanished();
    this.result.queued = this.fetchedKeys.size;
    const through = this.listed.reduce((m, c) => Math.max(m, c.uid ?? 0), this.afterUid);
    this.deps.actions!.submitCommit(
      async () => {
        await this.settlePuts();
        await this.commit();
        for (const c of this.toFetch) if (this.committed.has(c.key)) this.actionable.push(c);
        return this.actionable;
      },
      { uidValidity: this.session.uidValidity, lastUid: through },
    );
  }

  /**
   * After the fetch: commits the last batch, sets aside what failed, and throws the cycle's error
   * (the committed messages get their server action in the next session's recovery).
   */
  async finish(ended: FetchEnd): Promise<void> {
    const { logger } = this.deps;
    let { fetchError, stop } = ended;
    if (stop === undefined) {
      try {
        // After a fetch error the cycle ends: no fresh writer for what is left.
        await this.commitBatch(fetchError === undefined);
      } catch (err) {
        if (!(err instanceof StopTaking)) throw err;
        stop = err;
      }
    }
    if (fetchError === undefined && stop === undefined) this.countVanished();
    for (const c of this.toFetch) if (this.committed.has(c.key)) this.actionable.push(c);
    if (this.refetch > 0) logger.info('messages stored beside one that failed to archive were not committed; they stay on the server and are fetched again', { count: this.refetch });
    if (this.failures.length > 0) {
      try {
        await this.flagFailures();
      } catch (err) {
        // Logged; the cycle's own error, if any, is the one to report.
        if (fetchError === undefined && stop === undefined) throw err;
      }
    }
    if (fetchError !== undefined) {
      logger.warn('fetch failed; committed what was fully received', { committed: this.result.taken });
      throw fetchError;
    }
    if (stop !== undefined) {
      logger.warn(`${stop.reason}; stopped taking for this session`, { committed: this.result.taken, setAside: this.result.failed });
      throw stop.error;
    }
  }

  /** The server action of the committed messages: queued in the pipeline, or run and confirmed now. */
  async act(): Promise<CycleResult> {
    const { source, store, connection } = this.deps;
    if (this.deps.actions) {
      // Counted when the pipeline settles; the next cycle's fetch overlaps the server's work.
      if (this.actionable.length) this.deps.actions.submit(this.actionable);
      return this.result;
    }
    const completed = await source.applyServerAction(this.actionable);
    await store.markActionDone(connection, completed.map((c) => c.key));
    const flushed = await source.flush();
    await store.markActionDone(connection, flushed.map((c) => c.key));
    this.result.actioned = completed.length + flushed.length;
    return this.result;
  }

  /** Listed, not fetched, and the fetch ended without an error: gone from the server meanwhile. */
  private countVanished(): void {
    this.result.vanished = this.toFetch.length - this.fetchedKeys.size;
    if (this.result.vanished > 0) this.deps.logger.info('messages vanished from the server before they were fetched', { count: this.result.vanished });
  }

  /**
   * A buffered message's put, started without waiting for it: it holds its bytes of the budget
   * (synchronous when there is room; else it waits for the parse or an attachment read to let
   * go) until stored, and at most {@link MAX_PUTS_IN_FLIGHT} / {@link MAX_PUT_BYTES_IN_FLIGHT} run.
   */
  private async startPut(m: FetchedMessage): Promise<void> {
    const budget = this.deps.budget;
    const bytes = m.bytes ?? 0;
    const release = budget ? (budget.tryAcquire(bytes) ?? (await budget.acquire(bytes))) : undefined;
    this.inflightBytes += bytes;
    const done = (): void => {
      this.inflight.delete(p);
      this.inflightBytes -= bytes;
      release?.();
    };
    const p: Promise<void> = this.storeOne(m).then(done, (err: unknown) => {
      done();
      this.putError ??= err;
    });
    this.inflight.add(p);
    while (this.inflight.size >= MAX_PUTS_IN_FLIGHT || (this.inflightBytes > MAX_PUT_BYTES_IN_FLIGHT && this.inflight.size > 0)) await Promise.race(this.inflight);
    if (this.putError !== undefined) throw this.putError;
  }

  /** Waits for the puts in flight; throws the first that failed. */
  private async settlePuts(): Promise<void> {
    await Promise.all(this.inflight);
    if (this.putError !== undefined) throw this.putError;
  }

  /** Stores one message through the blob writer and adds it to the batch. */
  private async storeOne(m: FetchedMessage): Promise<void> {
    const { connection, clock, store } = this.deps;
    let sourceFailed = false;
    const body = this.setAside ? watchSource(m.body, () => (sourceFailed = true)) : m.body;
    let put: PutResult;
    try {
      put = await this.blobs.put(body, (sha) => this.inBatch.has(sha) || store.hasBlob(sha), { owned: m.owned === true, buffered: m.buffered });
    } catch (err) {
      // The body breaking off is the fetch's failure, not the archive's.
      if (!this.setAside || sourceFailed) throw err;
      if (this.putFailure === null) this.putFailure = { candidate: m.candidate, error: err };
      else this.refetch++; // refused because an earlier put broke the writer
      return;
    }
    this.inBatch.add(put.sha256);
    this.batch.push({
      connection,
      sourceKey: m.candidate.key,
      mailbox: this.session.mailbox,
      uidValidity: this.session.uidValidity,
      uid: m.candidate.uid ?? null,
      uidl: m.candidate.uidl ?? null,
      sha256: put.sha256,
      size: put.size,
      blob: put.location,
      takenAt: clock.now(),
    });
    this.batchCandidates.push(m.candidate);
    this.batchBytes += put.size;
  }

  private dropBatch(): number {
    const n = this.batch.length;
    this.batch = [];
    this.batchCandidates = [];
    this.batchBytes = 0;
    this.inBatch.clear();
    return n;
  }

  /** Group commit: the blob bytes made durable, then the batch's rows and the watermark in one transaction. */
  private async commit(): Promise<void> {
    const { store, connection, logger } = this.deps;
    if (this.batch.length === 0) return;
    // Blob bytes must be durable before the rows that reference them (SPEC "Guarantees").
    await this.blobs.sync();
    const wm = watermarkAfter(this.listed, this.committed, this.batch, this.session.uidValidity, this.afterUid);
    // Message ids then follow mailbox order, which routes keep (docs/adr/0006-outbox-and-buses.md):
    // puts run concurrently and finish in any order.
    this.batch.sort((a, b) => this.position.get(a.sourceKey)! - this.position.get(b.sourceKey)!);
    await store.commitTaken(this.batch, { connection, mailbox: this.session.mailbox, ...wm });
    this.mark = wm.lastUid;
    let bytes = 0;
    let largest = 0;
    for (const r of this.batch) {
      this.committed.add(r.sourceKey);
      bytes += r.size;
      if (r.size > largest) largest = r.size;
      // The connection's `full` log: every message handled (other levels drop this at no cost).
      logger.debug('message archived', { key: r.sourceKey, sha256: r.sha256, size: r.size, stored: r.blob !== null });
    }
    this.result.taken += this.batch.length;
    this.result.bytes += bytes;
    this.deps.onCommit?.(this.batch.length, bytes, largest);
    this.archiveFailures.inARow = 0;
    this.dropBatch();
  }

  /** Commits the batch; with `flag-seen`, a batch that cannot be committed is set aside instead. */
  private async commitBatch(goOn: boolean): Promise<void> {
    if (!this.setAside) return this.commit();
    await this.afterPutFailure(goOn);
    try {
      await this.commit();
    } catch (err) {
      this.blame(this.batchCandidates, err);
      this.dropBatch();
      if (goOn) await this.replaceWriter(err);
    }
  }

  /**
   * A put failed (`flag-seen`): that message is set aside; the rest of its batch was stored on the
   * failed writer, cannot be synced any more, and stays on the server to be fetched again.
   */
  private async afterPutFailure(goOn: boolean): Promise<void> {
    if (this.putFailure === null) return;
    await Promise.allSettled(this.inflight);
    const f = this.putFailure;
    this.putFailure = null;
    this.blame([f.candidate], f.error);
    this.refetch += this.dropBatch();
    if (goOn) await this.replaceWriter(f.error);
  }

  private blame(cands: readonly Candidate[], err: unknown): void {
    // The disk still full since the last failure, with nothing committed between: that is the
    // archive failing, not these messages. They are not set aside (flagged) but stay unseen and
    // are taken once space returns; only the first message a full disk refused is set aside.
    if (this.archiveFailures.inARow > 0 && isDiskFull(err)) return;
    const e = toMailsluiceError(err);
    for (const c of cands) this.failures.push({ candidate: c, code: e.code, message: e.message });
  }

  /**
   * After a failure the writer refuses all further work (and after a failed metadata commit its
   * single-instance memory names bytes no row references), so the rest goes to a fresh one; a
   * second failure with nothing committed since the first stops taking.
   */
  private async replaceWriter(err: unknown): Promise<void> {
    this.archiveFailures.inARow++;
    if (this.archiveFailures.inARow > 1) throw new StopTaking(err, 'archiving failed again with nothing committed since: the archive itself is failing, not one message');
    if (!this.deps.renewBlobs) throw new StopTaking(err, 'archiving failed and no fresh blob writer can be had');
    try {
      this.blobs = await this.deps.renewBlobs();
    } catch (renewError) {
      throw new StopTaking(renewError, 'archiving failed and opening a fresh blob writer failed too');
    }
  }

  /**
   * Sets the failed messages aside: flags them so the listing skips them, reports each, and lets
   * the watermark pass them. If the flagging fails they were not archived and stay unflagged:
   * logged, and the error fails the cycle (the runner backs off; they are tried again).
   */
  private async flagFailures(): Promise<void> {
    const { source, store, connection, logger } = this.deps;
    const cands = this.failures.map((f) => f.candidate);
    try {
      await source.markFailed!(cands);
    } catch (err) {
      const e = toMailsluiceError(err);
      logger.error('messages could not be archived, and flagging them \\Seen failed too: they stay unseen and are tried again', {
        keys: cands.map((c) => c.key),
        code: e.code,
        error: e.message,
        archiveError: this.failures[0]!.message,
      });
      throw err;
    }
    for (const f of this.failures) logger.error('message could not be archived; left on the server flagged \\Seen', { key: f.candidate.key, code: f.code, error: f.message });
    this.result.failed = this.failures.length;
    this.deps.onFailed?.(this.failures.length);
    // Flagged, they are no longer listed, so the watermark may pass them; left below them, it would
    // make the listing offer committed mail above them again (with `leave`, every cycle).
    const wm = watermarkAfter(this.listed, new Set([...this.committed, ...cands.map((c) => c.key)]), [], this.session.uidValidity, this.afterUid);
    if (wm.lastUid > this.mark) {
      await store.commitTaken([], { connection, mailbox: this.session.mailbox, ...wm });
      this.mark = wm.lastUid;
    }
  }
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
