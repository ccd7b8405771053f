/**
 * Runs one connection: a fresh source per connect, pending actions finished first, then drain
 * cycles, each after the server responses of finished deliveries are applied; between cycles it
 * waits (IDLE or poll interval, cut short by {@link ConnectionRunner.wake}) and outside the
 * schedule it idles. Failures are contained here: own back-off with jitter, own error state.
 */
import { plaintextCredentialsWarning, type SecurityMode } from './tls-downgrade.js';
import type { BlobStore, BlobWriter } from '../ports/blob-store.js';
import type { MailboxSource, SourceRuntime, SourceSession } from '../ports/mailbox-source.js';
import type { MessageStore } from '../ports/message-store.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { ResponseLedger } from '../ports/response-ledger.js';
import type { ByteBudget } from '../memory/byte-budget.js';
import { runDrainCycle, type DrainDeps } from '../archive/drain-cycle.js';
import { BatchPipeline } from '../archive/batch-pipeline.js';
import { recoverPendingActions } from '../archive/recover-actions.js';
import { addResponseTotals, applyPendingResponses, type ResponseTotals } from '../archive/apply-responses.js';
import { backoffDelay, DEFAULT_BACKOFF } from './backoff.js';
import { PartialTransfers } from '../archive/partial-transfer.js';
import { msUntilOpen, type Schedule } from './schedule.js';
import { RateWindow } from './rate-window.js';
import { DISK_FULL_BACKOFF, isDiskFull } from '../archive/disk-full.js';
import { toMailsluiceError, type MailsluiceError } from '../errors/index.js';

/**
 * The settings of a connection the runner reads: the validated configuration's connection
 * (`config/loader.ts`) has them all, with `mailbox` the one folder this runner drains.
 */
export interface RunnerConnection {
  name: string;
  /** The folder this runner drains. */
  mailbox: string;
  /** Every folder of the connection (its responses are scoped by folder when there are several). */
  folders: readonly string[];
  schedule: Schedule;
  security: SecurityMode;
  auth: { type: string };
  maxMessagesPerCycle: number;
  unseenOnly: boolean;
  idle: boolean;
  pollIntervalMs: number;
}

/** Live status of a connection (SPEC: state, last poll, messages taken, rate, backlog, last error). */
export interface ConnectionStatus {
  name: string;
  /** `disk-full`: taking is paused until writing to the archive works again (it is retried). */
  state: 'starting' | 'connecting' | 'draining' | 'waiting' | 'outside-schedule' | 'backoff' | 'disk-full' | 'stopped' | 'error';
  lastPollAt: number | null;
  taken: number;
  bytes: number;
  actioned: number;
  /** Messages that could not be archived and were set aside, flagged on the server (`unseenOnly`). */
  failed: number;
  /**
   * Messages set aside because session after session broke during their transfer with no
   * progress (larger than what the link carries): left on the server, not taken again by this
   * run (ADR 0015).
   */
  setAside: number;
  cycles: number;
  /** Server responses of finished deliveries: applied, not applicable (message gone), failed (refused). */
  responses: ResponseTotals;
  failures: number;
  lastError: { code: string; message: string; at: number } | null;
  /** Every failure recorded since the runner started, by catalogue code (the metrics' errors). */
  errorsByCode: Record<string, number>;
  /** When the last cycle that completed ended (ms since the epoch); null before the first. */
  lastSuccessAt: number | null;
  /**
   * When the runner, now waiting, starts its next session or cycle (ms since the epoch): the end
   * of its poll interval, back-off or pause outside the schedule window. Null while a session
   * runs, and while it waits on IDLE (the server says when mail comes).
   */
  nextAttemptAt: number | null;
  /**
   * When this runner was made (ms since the epoch): a configuration applied again restarts only
   * the runners of changed connections, and this is how an operator tells which did.
   */
  startedAt: number;
  /** Sessions this runner opened (logged in) since it started. */
  sessions: number;
  /**
   * Messages the last listing found on the server not yet taken, counted down as they are
   * committed (or set aside); 0 once a listing finds the mailbox empty. At most the cycle's
   * `maxMessagesPerCycle`: a larger mailbox shows that much until its listings find fewer.
   */
  backlog: number;
  /** Messages committed per second over the last minute (as of {@link ConnectionRunner.snapshot}). */
  rateLastMinute: number;
  /** Set while the last session's credentials crossed unencrypted (ADR 0016); absent otherwise. */
  plaintextCredentials?: string;
  /** When the server certificate of the last TLS session expires (ms since the epoch); absent without TLS. */
  certificateExpiresAt?: number;
}

/** What the runner needs. */
export interface ConnectionRunnerDeps<C extends RunnerConnection = RunnerConnection> {
  /** The connection, with `mailbox` the one folder this runner drains. */
  config: C;
  /** The name its status goes by: the connection's, or `<connection>/<folder>` when it drains several folders. */
  label?: string;
  createSource: (cfg: C, logger: Logger, runtime?: SourceRuntime) => MailboxSource;
  store: MessageStore;
  blobStore: BlobStore;
  clock: Clock;
  random: () => number;
  logger: Logger;
  /** Progress callback after each cycle. */
  onCycle?: (status: ConnectionStatus) => void;
  /** The responses of finished deliveries to apply on the server; without it none are applied. */
  responses?: ResponseLedger;
  /** The process's budget of message bytes in memory, for the drain's buffered bodies (ADR 0017). */
  budget?: ByteBudget;
}

/** Options of a run. */
export interface RunOptions {
  /** Drain until nothing is left, then return (the `drain` command). */
  once: boolean;
  /** With `once`: give up after this many consecutive retryable failures. */
  maxFailures?: number;
  signal?: AbortSignal;
}

/** Drives one connection until stopped (service) or empty (`drain`). */
export class ConnectionRunner<C extends RunnerConnection = RunnerConnection> {
  readonly status: ConnectionStatus;
  /** Set by {@link wake}: a response is waiting, so the next wait is skipped. */
  private responsesDue = false;
  /** Aborts the wait under way (set while waiting). */
  private waker: AbortController | null = null;
  /** Set by {@link runNow}: the next cycle starts at once, inside the schedule window or not. */
  private runNowDue = false;
  /** Aborts a pause between sessions (outside the schedule, back-off): only {@link runNow} cuts those short. */
  private pauseWaker: AbortController | null = null;
  /** After applying responses failed: not before this (ms since the epoch), and how often in a row. */
  private responsesRetryAt = 0;
  private responseFailures = 0;
  /** Set while taking is paused on a full disk, so the first commit after it says it resumed. */
  private diskFull = false;
  /**
   * Archive failures with nothing committed since (`unseenOnly`): per session, but kept across a
   * pause for a full disk, so the next session's first failure counts as the same disk, not one
   * more message to set aside (otherwise every retry flagged one more message).
   */
  private readonly archiveFailures = { inARow: 0 };
  /** Broken transfers, kept across this runner's sessions (each connect builds a fresh source). */
  private readonly transfers = new PartialTransfers();
  /** Messages committed in the last minute, for the status's rate. */
  private readonly rate = new RateWindow();

  constructor(private readonly deps: ConnectionRunnerDeps<C>) {
    this.status = {
      name: deps.label ?? deps.config.name,
      state: 'starting',
      lastPollAt: null,
      taken: 0,
      bytes: 0,
      actioned: 0,
      failed: 0,
      setAside: 0,
      cycles: 0,
      responses: { applied: 0, notApplicable: 0, failed: 0 },
      failures: 0,
      backlog: 0,
      rateLastMinute: 0,
      lastError: null,
      errorsByCode: {},
      lastSuccessAt: null,
      nextAttemptAt: null,
      startedAt: deps.clock.now(),
      sessions: 0,
    };
  }

  /** The live status with its rate brought up to now (the rate falls while nothing is committed). */
  snapshot(): ConnectionStatus {
    this.status.rateLastMinute = this.rate.perSecond(this.deps.clock.now());
    return this.status;
  }

  /** The name of the connection (shared by the runners of its folders). */
  get connection(): string {
    return this.deps.config.name;
  }

  /**
   * The responses this runner applies: of its folder only when the connection drains several
   * (another folder's UIDs mean nothing on this session), else all of the connection's, so that
   * those of a folder no longer configured are recorded as not applicable.
   */
  private folderScope(): { mailbox?: string } {
    return this.deps.config.folders.length > 1 ? { mailbox: this.deps.config.mailbox } : {};
  }

  /**
   * A delivery of this connection finished with a server response: the wait between cycles
   * (poll interval, IDLE) ends now, or the next one is skipped, so the next cycle applies it.
   */
  wake(): void {
    this.responsesDue = true;
    this.waker?.abort();
  }

  /**
   * An operator asked for a cycle now (the API's "run now"): the wait between cycles ends, a
   * back-off or a pause outside the schedule window is cut short, and one cycle runs even
   * outside the window; after it the schedule rules again.
   */
  runNow(): void {
    this.runNowDue = true;
    this.waker?.abort();
    this.pauseWaker?.abort();
  }

  /** A failure as the status shows it: the last error, and one more of its code. */
  private recordFailure(e: { code: string; message: string }): void {
    this.status.lastError = { code: e.code, message: e.message, at: this.deps.clock.now() };
    this.status.errorsByCode[e.code] = (this.status.errorsByCode[e.code] ?? 0) + 1;
  }

  /** Whether a cycle may start now: the schedule is open, or a {@link runNow} is due. */
  private mayRun(): boolean {
    return this.runNowDue || msUntilOpen(this.deps.config.schedule, this.deps.clock.now()) <= 0;
  }

  /** Sleeps between sessions, ended early by the stop signal or by {@link runNow}; the status says when the next attempt is. */
  private async pause(ms: number, stop?: AbortSignal, nextAttemptAt = this.deps.clock.now() + ms): Promise<void> {
    if (this.runNowDue) return;
    const wake = new AbortController();
    const onStop = (): void => wake.abort();
    stop?.addEventListener('abort', onStop, { once: true });
    if (stop?.aborted) wake.abort();
    this.pauseWaker = wake;
    this.status.nextAttemptAt = nextAttemptAt;
    try {
      await this.deps.clock.sleep(ms, wake.signal);
    } finally {
      this.status.nextAttemptAt = null;
      this.pauseWaker = null;
      stop?.removeEventListener('abort', onStop);
    }
  }

  /**
   * Applies the pending responses of this connection on its open session. A failure does not
   * fail the cycle: archiving must not wait for responses. It is logged, the responses stay
   * pending, and they are tried again after a back-off (a dead session fails the cycle anyway).
   */
  private async applyResponses(session: SourceSession, source: MailboxSource): Promise<void> {
    const { config, clock, logger } = this.deps;
    const ledger = this.deps.responses;
    this.responsesDue = false;
    if (!ledger || clock.now() < this.responsesRetryAt) return;
    try {
      const t = await applyPendingResponses(session, { connection: config.name, source, ledger, clock, logger, ...this.folderScope() });
      addResponseTotals(this.status.responses, t);
      if (t.applied + t.notApplicable + t.failed > 0) logger.info('server responses applied', { ...t });
      this.responseFailures = 0;
      this.responsesRetryAt = 0;
    } catch (err) {
      const e = toMailsluiceError(err);
      this.responseFailures++;
      const inMs = backoffDelay(this.responseFailures, this.deps.random());
      this.responsesRetryAt = clock.now() + inMs;
      this.recordFailure(e);
      logger.error('applying server responses failed; they stay pending and are tried again', { code: e.code, error: e.message, inMs });
    }
  }

  /**
   * Applies the pending responses of this connection on a session of its own, once (`drain`, after
   * its dispatch ended: deliveries finished after the connection's last cycle). Does nothing when
   * none are pending or the schedule is closed; a failure is logged and leaves them pending for the
   * next drain or the service.
   */
  async applyResponsesNow(signal?: AbortSignal): Promise<void> {
    const { config, clock, logger } = this.deps;
    const ledger = this.deps.responses;
    if (!ledger || signal?.aborted || (await ledger.pendingResponses(config.name, 1, this.folderScope().mailbox)).length === 0) return;
    if (msUntilOpen(config.schedule, clock.now()) > 0) {
      logger.info('outside the schedule window; server responses left for later');
      return;
    }
    const source = this.deps.createSource(config, logger);
    try {
      const session = await source.open(signal);
      this.responsesRetryAt = 0;
      await this.applyResponses(session, source);
    } catch (err) {
      const e = toMailsluiceError(err);
      this.recordFailure(e);
      logger.error('connecting to apply server responses failed; they stay pending', { code: e.code, error: e.message });
    } finally {
      await source.close().catch(() => undefined);
    }
  }

  /** Runs; with `once`, resolves when the mailbox is drained and rejects on a final error. */
  async run(options: RunOptions): Promise<void> {
    const { config, clock, logger } = this.deps;
    const signal = options.signal;
    while (!signal?.aborted) {
      const wait = this.runNowDue ? 0 : msUntilOpen(config.schedule, clock.now());
      if (wait > 0) {
        if (options.once) {
          logger.info('outside the schedule window; drain skipped');
          this.status.state = 'outside-schedule';
          return;
        }
        this.status.state = 'outside-schedule';
        // Looked at again every minute (the schedule may be edited); the next attempt is when the window opens.
        await this.pause(Math.min(wait, 60_000), signal, clock.now() + wait);
        continue;
      }
      try {
        const drained = await this.session(options);
        this.transfers.sessionEnded(false);
        this.status.failures = 0;
        if (options.once && drained) {
          this.status.state = 'stopped';
          return;
        }
      } catch (err) {
        const e: MailsluiceError = toMailsluiceError(err);
        // A run-now whose session failed is spent: its back-off is not to be skipped over and over.
        this.runNowDue = false;
        // A session that committed a batch or received more of a message made progress: the
        // link works, if poorly, so the count of failures in a row (and the back-off) starts over.
        const ended = this.transfers.sessionEnded(true);
        if (ended.progressed) this.status.failures = 0;
        for (const m of ended.setAside) {
          this.status.setAside++;
          logger.error('message set aside: the connection broke during its transfer session after session with no progress; it stays on the server and is not taken again by this run', {
            key: m.key,
            sessions: m.sessions,
            bytesReceived: m.bytesKept,
          });
        }
        this.status.failures++;
        this.recordFailure(e);
        logger.error('connection failed', { code: e.code, error: e.message, failures: this.status.failures });
        if (options.once && (!e.retryable || this.status.failures >= (options.maxFailures ?? 5))) {
          this.status.state = 'error';
          throw e;
        }
        if (isDiskFull(e)) {
          // Nothing of the batch was committed, so nothing was deleted on the server: wait for
          // space, looking again at intervals of its own (DISK_FULL_BACKOFF), and go on by itself.
          this.status.state = 'disk-full';
          this.diskFull = true;
          const delay = backoffDelay(this.status.failures, this.deps.random(), DISK_FULL_BACKOFF);
          logger.warn('the disk is full: taking is paused until space returns; nothing is deleted on the server', { inMs: delay, error: e.message });
          this.status.nextAttemptAt = clock.now() + delay;
          await clock.sleep(delay, signal).finally(() => (this.status.nextAttemptAt = null));
          continue;
        }
        this.status.state = 'backoff';
        // A non-retryable error (rejected credentials, untrusted certificate, missing mailbox) waits
        // the longest back-off at once: retrying fast could lock the account and cannot help.
        const delay = e.retryable ? backoffDelay(this.status.failures, this.deps.random()) : DEFAULT_BACKOFF.maxMs;
        logger.warn('retrying the connection later', { inMs: delay, retryable: e.retryable });
        await this.pause(delay, signal);
      }
    }
    this.status.state = 'stopped';
  }

  /** The source's wait, ended early by the stop signal or by {@link wake}. */
  private async waitForChange(source: MailboxSource, ms: number, stop?: AbortSignal): Promise<void> {
    const wake = new AbortController();
    const onStop = (): void => wake.abort();
    stop?.addEventListener('abort', onStop, { once: true });
    if (stop?.aborted) wake.abort();
    this.waker = wake;
    // IDLE (`ms` unbounded): the server says when mail comes, so no time is known.
    this.status.nextAttemptAt = ms >= Number.MAX_SAFE_INTEGER ? null : this.deps.clock.now() + ms;
    try {
      await source.waitForChange(ms, wake.signal);
    } finally {
      this.status.nextAttemptAt = null;
      this.waker = null;
      stop?.removeEventListener('abort', onStop);
    }
  }

  /** One connected session; returns true when the mailbox had nothing left to take. */
  private async session(options: RunOptions): Promise<boolean> {
    const { config, logger } = this.deps;
    this.status.state = 'connecting';
    const source = this.deps.createSource(config, logger, { transfers: this.transfers });
    const held: SessionHeld = { writer: null, actions: null };
    try {
      const session = await source.open(options.signal);
      this.status.sessions++;
      const plaintext = source.tlsInUse === undefined ? null : plaintextCredentialsWarning(config.name, config.security, config.auth.type, source.tlsInUse);
      if (plaintext) this.status.plaintextCredentials = plaintext;
      else delete this.status.plaintextCredentials;
      if (source.certificateExpiresAt !== undefined) this.status.certificateExpiresAt = source.certificateExpiresAt;
      else delete this.status.certificateExpiresAt;
      held.writer = await this.deps.blobStore.openWriter();
      // A session after a pause for a full disk goes on counting: its first failure is the disk.
      if (!this.diskFull) this.archiveFailures.inARow = 0;
      const deps = this.drainDeps(source, held);
      const recovered = await recoverPendingActions(session, deps);
      this.status.actioned += recovered;
      return await this.cycles(session, source, deps, held.actions, options);
    } finally {
      // Let queued actions finish (or fail) before the connections close; what they did not
      // confirm stays pending and the next session's recovery finishes it.
      if (held.actions) this.status.actioned += await held.actions.settle().catch(() => 0);
      await held.writer?.close().catch(() => undefined);
      await source.close().catch(() => undefined);
    }
  }

  /** What the session's drain cycles are handed: its source and writer, and this runner's counters. */
  private drainDeps(source: MailboxSource, held: SessionHeld): DrainDeps {
    const { config, store, clock, logger } = this.deps;
    const deps: DrainDeps = {
      connection: config.name,
      source,
      store,
      blobs: held.writer!,
      clock,
      logger,
      maxMessagesPerCycle: config.maxMessagesPerCycle,
      onCommit: (messages: number, bytes: number, largest: number) => {
        this.status.taken += messages;
        this.status.bytes += bytes;
        this.status.backlog = Math.max(0, this.status.backlog - messages);
        if (messages > 0) this.rate.add(clock.now(), messages);
        if (messages > 0) {
          logger.info('batch committed', { taken: messages, bytes });
          // Progress: failures in a row are counted between commits, not between whole cycles
          // (a link that resets every few hundred KB never completes a cycle, yet drains).
          this.status.failures = 0;
          this.transfers.committed(largest);
          if (this.diskFull) {
            this.diskFull = false;
            logger.info('the disk has space again: taking resumed');
          }
        }
      },
      // SPEC "unseen only": a message that fails to archive is flagged \Seen and reported, so it
      // is not retried forever; without unseenOnly nothing could skip it, so it is retried.
      onArchiveFailure: config.unseenOnly ? 'flag-seen' : 'retry',
      skip: (key: string) => this.transfers.isSetAside(key),
      renewBlobs: async () => {
        const failed = held.writer;
        held.writer = null;
        await failed?.close().catch(() => undefined);
        held.writer = await this.deps.blobStore.openWriter();
        deps.blobs = held.writer;
        return held.writer;
      },
      archiveFailures: this.archiveFailures,
      onFailed: (messages: number) => {
        this.status.failed += messages;
        this.status.backlog = Math.max(0, this.status.backlog - messages);
      },
      onListed: (toTake: number) => {
        this.status.backlog = toTake;
      },
      ...(this.deps.budget ? { budget: this.deps.budget } : {}),
      ...(source.concurrentActions ? { actions: (held.actions = new BatchPipeline({ source, store, connection: config.name })) } : {}),
    };
    return deps;
  }

  /** The session's cycles until it is stopped, the schedule closes or (`once`) the mailbox is empty. */
  private async cycles(session: SourceSession, source: MailboxSource, deps: DrainDeps, actions: BatchPipeline | null, options: RunOptions): Promise<boolean> {
    const { config, clock, logger } = this.deps;
    while (!options.signal?.aborted) {
      if (!this.mayRun()) return false;
      this.runNowDue = false;
      this.status.state = 'draining';
      this.status.lastPollAt = clock.now();
      await this.applyResponses(session, source);
      const r = await runDrainCycle(session, deps);
      this.status.cycles++;
      this.status.lastSuccessAt = clock.now();
      this.status.actioned += r.actioned;
      // Each commit is logged as it lands ('batch committed'; a cycle's last one may land after
      // the cycle returned, see CycleResult.queued); what else the cycle did, here.
      if (r.failed > 0 || r.vanished > 0) logger.info('cycle ended', { listed: r.listed, actioned: r.actioned, vanished: r.vanished, failed: r.failed });
      this.deps.onCycle?.(this.status);
      // A failed first attempt cleared; what stays is the state.
      this.status.failures = 0;
      // More may be waiting: no pause. A cycle that moved nothing (everything vanished) waits.
      // One that set messages aside looks again at once: mail stored beside them was not
      // committed and is listed again, and the flagged ones no longer are.
      if (r.taken > 0 || r.queued > 0 || r.actioned > 0 || r.failed > 0) continue;
      // Nothing new: the mailbox is empty once the queued server actions are confirmed. A cycle
      // that listed only already-committed messages queued their actions: look again after them.
      if (actions) {
        const n = await actions.settle();
        this.status.actioned += n;
        if (n > 0 && r.listed > 0) continue;
      }
      if (options.once) return true;
      if (this.responsesDue || this.runNowDue) continue;
      this.status.state = 'waiting';
      await this.waitForChange(source, config.idle ? Number.MAX_SAFE_INTEGER : config.pollIntervalMs, options.signal);
    }
    return false;
  }
}

/** What a session holds open and closes at its end: the blob writer (renewed after a failure) and the action pipeline. */
interface SessionHeld {
  writer: BlobWriter | null;
  actions: BatchPipeline | null;
}
