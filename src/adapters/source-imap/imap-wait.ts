/**
 * Waiting for new mail between cycles: IDLE where the server offers it and the connection asks
 * for it (re-armed, bounded by the safety poll), else a sleep of the poll interval; either cut
 * short by `* n EXISTS`, a closed session or the caller's signal.
 */
import type { Logger } from '../../core/ports/logger.js';
import type { ImapWire } from './imap-wire.js';
import { IMAP_TUNING, type ImapSourceConfig } from './imap-source-config.js';

/** What waiting needs of its source. */
export interface WaitHost {
  readonly cfg: Pick<ImapSourceConfig, 'idle' | 'idleSafetyPollMs' | 'pollIntervalMs'>;
  readonly logger: Logger;
  /** Whether the server offered the capability. */
  hasCap(name: string): boolean;
  /** Whether the source's session has closed (a wait then ends at once). */
  isClosed(): boolean;
  /** The main session's wire, if it is open. */
  mainWire(): ImapWire | undefined;
}

/** The wait of one source: woken by {@link signal} (new mail or a closed session). */
export class ChangeWaiter {
  /** When a listing last found mail (see IMAP_TUNING.idleLingerMs). */
  lastFoundAt = 0;
  private changed = false;
  private wake: (() => void) | null = null;

  constructor(private readonly host: WaitHost) {}

  /** Something changed (new mail, or the session closed): a running wait ends. */
  signal(): void {
    this.changed = true;
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /**
   * Waits for new mail: with `idle` (and the server's IDLE), in IDLE, re-armed every
   * {@link IMAP_TUNING.idleRearmMs} and never longer than the safety poll, because servers are
   * known to stop notifying silently; otherwise (or if IDLE is refused) for `ms`. Right after a
   * listing found mail, `idle` polls briefly instead ({@link IMAP_TUNING.idleLingerMs}).
   */
  async waitForChange(ms: number, signal?: AbortSignal): Promise<void> {
    const { cfg } = this.host;
    if (cfg.idle && Date.now() - this.lastFoundAt < IMAP_TUNING.idleLingerMs) {
      await this.sleep(Math.min(ms, IMAP_TUNING.lingerPollMs), signal);
      this.changed = false;
      return;
    }
    // With IDLE the safety poll bounds the wait; a server without IDLE is polled as if idle were
    // off (the runner asks for "until a change" when idle is on).
    const wait = cfg.idle ? Math.min(ms, this.host.hasCap('IDLE') ? cfg.idleSafetyPollMs : cfg.pollIntervalMs) : ms;
    const until = Date.now() + wait;
    while (!this.changed && !this.host.isClosed() && !signal?.aborted) {
      const left = until - Date.now();
      if (left <= 0) break;
      let idling: { stop: () => Promise<void> } | null = null;
      const wire = this.host.mainWire();
      if (cfg.idle && this.host.hasCap('IDLE') && wire?.usable) {
        try {
          idling = await wire.idle();
        } catch (err) {
          // Refused or the session broke: sleep instead; the next command reports a broken session.
          this.host.logger.debug('IDLE failed; polling instead', { error: String((err as Error)?.message ?? err) });
        }
      }
      await this.sleep(idling ? Math.min(left, IMAP_TUNING.idleRearmMs) : left, signal);
      if (idling) await idling.stop().catch(() => undefined);
    }
    this.changed = false;
  }

  /** Sleeps `ms`, cut short by new mail, a closed session or `signal`. */
  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.changed || this.host.isClosed() || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
