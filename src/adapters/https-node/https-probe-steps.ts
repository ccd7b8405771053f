/**
 * The bookkeeping the HTTPS sources' connection tests share (EWS, Graph; the step types are
 * IMAP's, `imap-probe.ts`): each step told to the listener as it ends, timed from the step
 * before, logged, a failure turned into the catalogue error the protocol's map makes of it, and
 * the resolve step over `node:dns`.
 */
import { lookup } from 'node:dns/promises';
import { MailsluiceError } from '../../core/errors/index.js';
import type { Logger } from '../../core/ports/logger.js';
import type { ProbeResult, ProbeStep, ProbeStepListener } from '../source-imap/imap-probe.js';

/** The steps of one connection test so far. */
export class ProbeSteps {
  readonly steps: ProbeStep[] = [];
  /** The steps that passed. */
  readonly done = new Set<ProbeStep['step']>();
  private t0 = Date.now();

  constructor(
    private log: Logger,
    private readonly onStep: ProbeStepListener | undefined,
    /** The protocol's map of a failure to a catalogue error (its sentences). */
    private mapError: (err: unknown) => MailsluiceError = (err) => (err instanceof MailsluiceError ? err : new MailsluiceError('CONFIG_INVALID', String(err))),
  ) {}

  /** From now on, log with `log` and map failures with `mapError` (once the server is known). */
  at(log: Logger, mapError: (err: unknown) => MailsluiceError): void {
    this.log = log;
    this.mapError = mapError;
  }

  private record(s: ProbeStep): void {
    this.steps.push(s);
    this.onStep?.(s);
  }

  pass(step: ProbeStep['step'], detail: string): void {
    const now = Date.now();
    this.record({ step, ok: true, detail, ms: now - this.t0 });
    this.done.add(step);
    this.log.debug('connection test step passed', { step, detail });
    this.t0 = now;
  }

  /** Records `step` as failed with `err` and returns the test's failed result. */
  fail(step: ProbeStep['step'], err: unknown): ProbeResult {
    const e = this.mapError(err);
    this.record({ step, ok: false, detail: e.message, code: e.code, ms: Date.now() - this.t0 });
    this.log.warn('connection test step failed', { step, code: e.code, detail: e.message });
    return { ok: false, steps: this.steps };
  }

  /** The `resolve` step for `host`; the failed result when it does not resolve. */
  async resolve(host: string): Promise<ProbeResult | undefined> {
    try {
      const a = await lookup(host);
      this.pass('resolve', `${host} is ${a.address}`);
      return undefined;
    } catch (err) {
      return this.fail('resolve', err);
    }
  }
}
