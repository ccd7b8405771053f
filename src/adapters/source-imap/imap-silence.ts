/**
 * The no-data timeout of ImapWire: the socket's idle timeout ticks while a command (not IDLE)
 * waits and the wire is not holding the socket back; each tick of silence is reported (the
 * caller logs a warning), and at the limit (the operator's `dataTimeoutMs`, else the internal
 * bound on a silent server) the session is dropped.
 */
import type { Readable } from 'node:stream';
import { ImapConnectionError } from './imap-wire-errors.js';
import type { ImapWireOptions } from './imap-wire.js';

/** Counts a session's silence and ends the session at the limit. */
export class SilenceWatch {
  /** Silence so far under the command waiting: the sum of the socket idle timeouts since data last came. */
  private silentMs = 0;
  /** The idle timeout last armed on the socket. */
  private armedMs = 0;

  constructor(
    private readonly socket: Readable,
    private readonly options: Pick<ImapWireOptions, 'dataTimeoutMs' | 'silenceLimitMs' | 'onSilence' | 'warnEveryMs' | 'where'>,
    /** Ends the session with the timeout's error. */
    private readonly drop: (err: ImapConnectionError) => void,
  ) {}

  /** The silence a command may wait through: the operator's no-data timeout, else the internal limit (0: none). */
  get limit(): number {
    return this.options.dataTimeoutMs || this.options.silenceLimitMs || 0;
  }

  /** Whether silence has been counted since data last came. */
  get counting(): boolean {
    return this.silentMs !== 0;
  }

  /**
   * Starts the count over; the timer runs only while `waiting` (a command other than IDLE waits
   * and the socket is not held back) and ticks every `warnEveryMs` (a warning) up to the limit.
   */
  restart(waiting: boolean): void {
    const limit = this.limit;
    this.silentMs = 0;
    const warnEvery = this.options.onSilence && this.options.warnEveryMs ? this.options.warnEveryMs : limit;
    this.arm(waiting ? Math.min(limit, warnEvery) : 0);
  }

  /** The socket was idle for the armed tick while `command` waited. */
  tick(command: string): void {
    if (this.armedMs === 0) return;
    this.silentMs += this.armedMs;
    const limit = this.limit;
    if (this.silentMs >= limit) {
      const which = this.options.dataTimeoutMs ? 'dataTimeoutMs' : "mailsluice's internal limit on a silent server (dataTimeoutMs is 0)";
      this.drop(new ImapConnectionError('ETIMEOUT', `nothing arrived from ${this.options.where} for ${this.silentMs} ms while waiting for the answer to ${command} (${which})`));
      return;
    }
    this.options.onSilence?.(this.silentMs, command);
    this.arm(Math.min(this.options.warnEveryMs || limit, limit - this.silentMs));
  }

  /** Arms the socket's idle timeout for the next tick: the next warning or the limit, whichever comes first. */
  private arm(ms: number): void {
    this.armedMs = ms;
    (this.socket as { setTimeout?: (ms: number) => void }).setTimeout?.(ms);
  }
}
