/**
 * The bound on a silent HTTPS server (EWS, Graph), as one long-lived timer per client (the POP3
 * wire's way):
 * a wait (for an answer's headers, or for the next chunk of its body) only notes when it began;
 * the timer, armed once, re-checks when it fires and re-arms for what is left, so a 100 MB
 * answer read in 64 KB chunks costs a clock read per chunk instead of a timer set and cleared
 * (and a promise raced) per chunk. No wait in progress when it fires: it stops until the next.
 */
import type { MailsluiceError } from '../../core/errors/index.js';

/** How long a wait may last on a silent server (0: no limit), and what to say meanwhile. */
export interface Silence {
  limitMs: number;
  /** The limit is the operator's `dataTimeoutMs` (else the internal bound): said in the error. */
  byOperator: boolean;
  warnEveryMs: number;
  onSilence: ((ms: number, what: string) => void) | undefined;
}

/** setTimeout's longest delay. */
const MAX_TIMER_MS = 2_147_483_647;

/** See the module comment. */
export class SilenceWatch {
  private timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires (`performance.now()`). */
  private timerAt = 0;
  /** The wait in progress: what it is for ('' when none), when it began, how to fail it. */
  private what = '';
  private since = 0;
  private fail: (() => void) | undefined;
  /** Silence of the current wait already told to `onSilence` (whole `warnEveryMs` steps). */
  private told = 0;
  /** Waits begun, so an `end` of an earlier one leaves a later one alone. */
  private waits = 0;

  constructor(private readonly s: Silence) {}

  /** Whether this bound does anything (a limit, or warnings someone listens to). */
  get active(): boolean {
    return this.s.limitMs > 0 || (!!this.s.onSilence && this.s.warnEveryMs > 0);
  }

  /**
   * Starts a wait for `what`; `fail` is called once its silence reaches the limit (the caller
   * then destroys what it waits on). Returns the wait's ticket for {@link end}.
   */
  begin(what: string, fail: (err: MailsluiceError) => void, error: (limitMs: number, what: string, byOperator: boolean) => MailsluiceError): number {
    this.what = what;
    this.since = performance.now();
    this.told = 0;
    this.fail = () => fail(error(this.s.limitMs, what, this.s.byOperator));
    if (this.active) this.armWithin(this.nextStep(), this.since);
    return ++this.waits;
  }

  /** Ends the wait `ticket` (the timer stays armed: it finds no wait, or a later one, and acts on that). */
  end(ticket: number): void {
    if (ticket !== this.waits) return;
    this.what = '';
    this.fail = undefined;
  }

  /** Stops the timer (the client closes). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.end(this.waits);
  }

  /** The silence at which the current wait's next bound falls: the next warning or the limit. */
  private nextStep(): number {
    const { limitMs, warnEveryMs, onSilence } = this.s;
    const toLimit = limitMs > 0 ? limitMs : Infinity;
    const toWarn = onSilence && warnEveryMs > 0 ? this.told + warnEveryMs : Infinity;
    return Math.min(toLimit, toWarn);
  }

  /** Makes sure the timer fires within `silence` of the wait's start (an earlier timer is left alone: it re-checks). */
  private armWithin(silence: number, now: number): void {
    if (silence === Infinity) return;
    const at = this.since + silence;
    if (this.timer) {
      if (this.timerAt <= at) return;
      clearTimeout(this.timer);
    }
    this.timerAt = at;
    this.timer = setTimeout(this.onTimer, Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(at - now))));
    // A pending bound alone must not keep the process alive (the request it bounds does).
    this.timer.unref?.();
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    if (!this.what) return;
    const now = performance.now();
    const silent = now - this.since;
    const { limitMs, warnEveryMs, onSilence } = this.s;
    if (limitMs > 0 && silent >= limitMs) {
      const fail = this.fail;
      this.end(this.waits);
      fail?.();
      return;
    }
    if (onSilence && warnEveryMs > 0 && silent >= this.told + warnEveryMs) {
      this.told = Math.floor(silent / warnEveryMs) * warnEveryMs;
      onSilence(this.told, this.what);
    }
    this.armWithin(this.nextStep(), now);
  };
}
