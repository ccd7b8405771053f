/**
 * Runs one connection: a fresh source per connect, pending actions finished first, then drain
 * cycles; between cycles it waits (IDLE or poll interval) and outside the schedule it idles.
 * Failures are contained here: own back-off with jitter, own error state.
 */
import type { BlobStore, BlobWriter } from '../core/ports/blob-store.js';
import type { MailboxSource } from '../core/ports/mailbox-source.js';
import type { MessageStore } from '../core/ports/message-store.js';
import type { Clock } from '../core/ports/clock.js';
import type { Logger } from '../core/ports/logger.js';
import { recoverPendingActions, runDrainCycle, ServerActionPipeline, type DrainDeps } from '../core/archive/drain-cycle.js';
import { backoffDelay, DEFAULT_BACKOFF } from '../core/connection/backoff.js';
import { msUntilOpen } from '../core/connection/schedule.js';
import { toMailsluiceError, type MailsluiceError } from '../core/errors/index.js';
import type { ConnectionConfig } from '../config/loader.js';

/** Live status of a connection (SPEC: state, last poll, messages taken, rate, backlog, last error). */
export interface ConnectionStatus {
  name: string;
  state: 'starting' | 'connecting' | 'draining' | 'waiting' | 'outside-schedule' | 'backoff' | 'stopped' | 'error';
  lastPollAt: number | null;
  taken: number;
  bytes: number;
  actioned: number;
  /** Messages that could not be archived and were set aside, flagged on the server (`unseenOnly`). */
  failed: number;
  cycles: number;
  failures: number;
  lastError: { code: string; message: string; at: number } | null;
}

/** What the runner needs. */
export interface ConnectionRunnerDeps {
  config: ConnectionConfig;
  createSource: (cfg: ConnectionConfig, logger: Logger) => MailboxSource;
  store: MessageStore;
  blobStore: BlobStore;
  clock: Clock;
  random: () => number;
  logger: Logger;
  /** Progress callback after each cycle. */
  onCycle?: (status: ConnectionStatus) => void;
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
export class ConnectionRunner {
  readonly status: ConnectionStatus;

  constructor(private readonly deps: ConnectionRunnerDeps) {
    this.status = { name: deps.config.name, state: 'starting', lastPollAt: null, taken: 0, bytes: 0, actioned: 0, failed: 0, cycles: 0, failures: 0, lastError: null };
  }

  /** Runs; with `once`, resolves when the mailbox is drained and rejects on a final error. */
  async run(options: RunOptions): Promise<void> {
    const { config, clock, logger } = this.deps;
    const signal = options.signal;
    while (!signal?.aborted) {
      const wait = msUntilOpen(config.schedule, clock.now());
      if (wait > 0) {
        if (options.once) {
          logger.info('outside the schedule window; drain skipped');
          this.status.state = 'outside-schedule';
          return;
        }
        this.status.state = 'outside-schedule';
        await clock.sleep(Math.min(wait, 60_000), signal);
        continue;
      }
      try {
        const drained = await this.session(options);
        this.status.failures = 0;
        if (options.once && drained) {
          this.status.state = 'stopped';
          return;
        }
      } catch (err) {
        const e: MailsluiceError = toMailsluiceError(err);
        this.status.failures++;
        this.status.lastError = { code: e.code, message: e.message, at: clock.now() };
        logger.error('connection failed', { code: e.code, error: e.message, failures: this.status.failures });
        if (options.once && (!e.retryable || this.status.failures >= (options.maxFailures ?? 5))) {
          this.status.state = 'error';
          throw e;
        }
        this.status.state = 'backoff';
        // A non-retryable error (rejected credentials, untrusted certificate, missing mailbox) waits
        // the longest back-off at once: retrying fast could lock the account and cannot help.
        const delay = e.retryable ? backoffDelay(this.status.failures, this.deps.random()) : DEFAULT_BACKOFF.maxMs;
        logger.warn('retrying the connection later', { inMs: delay, retryable: e.retryable });
        await clock.sleep(delay, signal);
      }
    }
    this.status.state = 'stopped';
  }

  /** One connected session; returns true when the mailbox had nothing left to take. */
  private async session(options: RunOptions): Promise<boolean> {
    const { config, store, clock, logger } = this.deps;
    this.status.state = 'connecting';
    const source = this.deps.createSource(config, logger);
    let writer: BlobWriter | null = null;
    let actions: ServerActionPipeline | null = null;
    try {
      const session = await source.open(options.signal);
      writer = await this.deps.blobStore.openWriter();
      const deps: DrainDeps = {
        connection: config.name,
        source,
        store,
        blobs: writer,
        clock,
        logger,
        maxMessagesPerCycle: config.maxMessagesPerCycle,
        onCommit: (messages: number, bytes: number) => {
          this.status.taken += messages;
          this.status.bytes += bytes;
        },
        // SPEC "unseen only": a message that fails to archive is flagged \Seen and reported, so it
        // is not retried forever; without unseenOnly nothing could skip it, so it is retried.
        onArchiveFailure: config.unseenOnly ? 'flag-seen' : 'retry',
        renewBlobs: async () => {
          const failed = writer;
          writer = null;
          await failed?.close().catch(() => undefined);
          writer = await this.deps.blobStore.openWriter();
          deps.blobs = writer;
          return writer;
        },
        archiveFailures: { inARow: 0 },
        onFailed: (messages: number) => {
          this.status.failed += messages;
        },
        ...(source.concurrentActions ? { actions: (actions = new ServerActionPipeline({ source, store, connection: config.name })) } : {}),
      };
      const recovered = await recoverPendingActions(session, deps);
      this.status.actioned += recovered;
      while (!options.signal?.aborted) {
        if (msUntilOpen(config.schedule, clock.now()) > 0) return false;
        this.status.state = 'draining';
        this.status.lastPollAt = clock.now();
        const r = await runDrainCycle(session, deps);
        this.status.cycles++;
        this.status.actioned += r.actioned;
        if (r.taken > 0 || r.failed > 0) logger.info('cycle committed', { taken: r.taken, bytes: r.bytes, actioned: r.actioned, vanished: r.vanished, failed: r.failed });
        this.deps.onCycle?.(this.status);
        // A failed first attempt cleared; what stays is the state.
        this.status.failures = 0;
        // More may be waiting: no pause. A cycle that moved nothing (everything vanished) waits.
        // One that set messages aside looks again at once: mail stored beside them was not
        // committed and is listed again, and the flagged ones no longer are.
        if (r.taken > 0 || r.actioned > 0 || r.failed > 0) continue;
        // Nothing new: the mailbox is empty once the queued server actions are confirmed. A cycle
        // that listed only already-committed messages queued their actions: look again after them.
        if (actions) {
          const n = await actions.settle();
          this.status.actioned += n;
          if (n > 0 && r.listed > 0) continue;
        }
        if (options.once) return true;
        this.status.state = 'waiting';
        await source.waitForChange(config.idle ? Number.MAX_SAFE_INTEGER : config.pollIntervalMs, options.signal);
      }
      return false;
    } finally {
      // Let queued actions finish (or fail) before the connections close; what they did not
      // confirm stays pending and the next session's recovery finishes it.
      if (actions) this.status.actioned += await actions.settle().catch(() => 0);
      await writer?.close().catch(() => undefined);
      await source.close().catch(() => undefined);
    }
  }
}
