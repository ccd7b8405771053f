/**
 * The batches of a connection's session behind its drain: a cycle's last commit and the server
 * actions of committed batches, run in order while the next cycle lists and fetches (ADR 0004,
 * revision; ADR 0003, revision). Split from `drain-cycle.ts`, which hands it its batches.
 */
import type { Candidate, MailboxSource } from '../ports/mailbox-source.js';
import type { MessageStore } from '../ports/message-store.js';

/** What a {@link BatchPipeline} needs: the session's source, the store and the connection's name. */
export interface BatchPipelineDeps {
  connection: string;
  source: MailboxSource;
  store: MessageStore;
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

  constructor(private readonly deps: BatchPipelineDeps) {}

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
