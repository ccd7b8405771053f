/**
 * The reference `ScenarioAction`: an in-memory receiver behind the port, written to its contract
 * (test/contract/scenario-action.contract.ts) and passing it like any adapter, for unit tests that
 * need an action (the dispatcher's). It records every call with the context it came with, answers
 * as it is told (`decide`), and keeps its promises whatever `decide` does: an abort ends a call at
 * once as a retryable failure, an aborted or closed action sends nothing, a `decide` that throws
 * becomes a failed outcome (the port never throws).
 *
 * By default it answers as the contract's receivers do, by the message's Subject
 * ({@link answerBySubject}): `refuse-retryable`, `refuse-permanent`, `hang`, anything else accepted.
 */
import { MailsluiceError, toMailsluiceError } from '../../src/core/errors/index.js';
import type { MessageAttributes } from '../../src/core/message/attributes.js';
import type { ActionOutcome, DeliveryContext, ScenarioAction } from '../../src/core/ports/scenario-action.js';

/** One call of `run`, as the receiver got it. */
export interface MemoryActionCall {
  message: MessageAttributes;
  ctx: DeliveryContext;
  /** `ctx.idempotencyKey`. */
  key: string;
  /** `ctx.attempt`. */
  attempt: number;
  /** `message.Subject`. */
  subject: string;
}

/** How the receiver answers a call; `calls` holds every call so far, this one last. A promise that never settles hangs until the abort. */
export type Decide = (call: MemoryActionCall, calls: readonly MemoryActionCall[]) => ActionOutcome | Promise<ActionOutcome>;

/** Options of {@link MemoryAction}. */
export interface MemoryActionOptions {
  /** The kind it reports (default `webhook`: an action that reaches a receiver). */
  kind?: ScenarioAction['kind'];
  /** Calls that may be in flight at once and still arrive in order (the port's `inOrder`); absent: one at a time. */
  inOrder?: number;
  /** How it answers (default {@link answerBySubject}). */
  decide?: Decide;
}

/** The contract's receiver convention: `refuse-retryable`, `refuse-permanent`, `hang` by Subject; anything else accepted. */
export const answerBySubject: Decide = (call) => {
  if (call.subject === 'refuse-retryable') return { ok: false, error: new MailsluiceError('ACTION_RECEIVER_ERROR', 'the reference receiver answered 503') };
  if (call.subject === 'refuse-permanent') return { ok: false, error: new MailsluiceError('ACTION_REJECTED', 'the reference receiver refused the delivery with 400') };
  if (call.subject === 'hang') return new Promise<ActionOutcome>(() => undefined);
  return { ok: true };
};

/** The reference action (see the module comment). */
export class MemoryAction implements ScenarioAction {
  readonly kind: ScenarioAction['kind'];
  readonly inOrder?: number;
  /** Every call that reached the receiver, in call order. */
  readonly calls: MemoryActionCall[] = [];
  /** The messages accepted, by idempotency key: as a receiver that deduplicates keeps them (a key accepted twice is here once). */
  readonly delivered = new Map<string, MessageAttributes>();
  #decide: Decide;
  #closed = false;

  constructor(options: MemoryActionOptions = {}) {
    this.kind = options.kind ?? 'webhook';
    if (options.inOrder !== undefined) this.inOrder = options.inOrder;
    this.#decide = options.decide ?? answerBySubject;
  }

  /** Changes how it answers from now on. */
  answer(decide: Decide): void {
    this.#decide = decide;
  }

  async run(message: MessageAttributes, ctx: DeliveryContext): Promise<ActionOutcome> {
    if (this.#closed) return { ok: false, error: new MailsluiceError('ACTION_TIMEOUT', 'the reference action is closed (the service is stopping)') };
    if (ctx.signal.aborted) return aborted();
    const call: MemoryActionCall = { message, ctx, key: ctx.idempotencyKey, attempt: ctx.attempt, subject: message.Subject };
    this.calls.push(call);
    let onAbort: (() => void) | undefined;
    const abort = new Promise<ActionOutcome>((resolve) => {
      onAbort = () => resolve(aborted());
      ctx.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const outcome = await Promise.race([Promise.resolve().then(() => this.#decide(call, this.calls)), abort]);
      if (outcome.ok) this.delivered.set(call.key, message);
      return outcome;
    } catch (err) {
      return { ok: false, error: toMailsluiceError(err) };
    } finally {
      if (onAbort) ctx.signal.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

function aborted(): ActionOutcome {
  return { ok: false, error: new MailsluiceError('ACTION_TIMEOUT', "the attempt was aborted (the service is stopping or the attempt's time is up)") };
}
