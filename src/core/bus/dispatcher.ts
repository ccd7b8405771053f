/**
 * The dispatcher: works through the deliveries of every bus (docs/pipeline.md, "route" and
 * "deliver"). Each bus is a lane of its own, with its own claim loop and its own concurrency, so a
 * slow or failing route on one bus never delays another. Within a lane, the unit of order is the
 * (connection, route) pair: its deliveries are started lowest message id first, one at a time or,
 * for a route whose one action keeps call order with several in flight (a pipelined webhook), up
 * to that many at once (ADR 0008); a delivery that fails holds back its own pair only
 * (head-of-line per pair) until it is done or dead. No I/O of its own: the bus, the blob store,
 * the parser and the actions are ports; time and randomness come from the Clock and a random
 * function.
 */
import type { BlobStore } from '../ports/blob-store.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { MessageParser } from '../ports/message-parser.js';
import type { ClaimedDelivery, DeliveryPair, MessageBus } from '../ports/message-bus.js';
import type { ActionOutcome, DeliveryContext, ScenarioAction, ServerResponse } from '../ports/scenario-action.js';
import type { MessageAttributes } from '../message/attributes.js';
import type { AttributeMapping } from '../routing/route-attributes.js';
import type { BodiesSource } from '../ports/bodies-handoff.js';
import { MAX_FULL_PARSE_BYTES } from '../message/limits.js';
import { parseSavedAttributes } from '../message/parsed-record.js';
import { backoffDelay, type BackoffPolicy } from '../connection/backoff.js';
import { MailsluiceError, toMailsluiceError } from '../errors/index.js';

/** One configured action of a route, ready to run, with its attempt budget. */
export interface RouteStep {
  action: ScenarioAction;
  /** Attempts of this step before the delivery is dead-lettered (a non-retryable error: at once). */
  maxAttempts: number;
}

/** A route as the dispatcher runs it. */
export interface RouteRuntime {
  name: string;
  connection: string;
  bus: number;
  steps: RouteStep[];
  /** Applied by the connection after the scenario succeeded (unless an action returned one). */
  response?: ServerResponse | undefined;
  /** Applied by the connection after the delivery was dead-lettered. */
  errorResponse?: ServerResponse | undefined;
  /** Which attributes the scenario receives, under which names, and what it adds (the route's `attributes`). */
  attributes?: AttributeMapping | undefined;
}

/** Tunables of the dispatcher; defaults in {@link DISPATCH_DEFAULTS}. */
export interface DispatchTuning {
  /** Deliveries (pairs) in flight per bus. */
  concurrency: number;
  /** Retry back-off: exponential with jitter between these bounds. */
  backoff: BackoffPolicy;
  /** Deliveries of one pair claimed at a time (one query, then worked through in order). */
  claimBatch: number;
  /** How long a claim holds; embedded mode releases every claim at start anyway. */
  leaseMs: number;
  /** How often an idle lane looks for due deliveries. */
  pollMs: number;
  /** Longest a delivery done waits to be recorded with others (one transaction per batch). */
  doneFlushMs: number;
  /** Deliveries of a pair whose message is prepared ahead of the one being sent. */
  prepareAhead: number;
}

/** Defaults, each with its reason. */
export const DISPATCH_DEFAULTS: DispatchTuning = {
  concurrency: 4,
  // 1 s doubling to 5 minutes, as for connections: a receiver that is down is not hammered.
  backoff: { baseMs: 1000, maxMs: 5 * 60 * 1000 },
  // One claim per 128 deliveries of a pair: each claim is a write transaction, and on the
  // dispatcher's own connection (ADR 0007) it may wait for the drain's or the index stage's
  // commit; with a pipelined route 32 went by in a few milliseconds.
  claimBatch: 128,
  // Longer than any one attempt may take (webhook timeouts are seconds to a minute).
  leaseMs: 10 * 60 * 1000,
  // An idle lane notices a newly queued message within this (the p99 latency target is 1 s).
  pollMs: 25,
  // One transaction (then with its fsync) per delivery held one route to ~300 deliveries/s on
  // this VM; batching the writes bounds what a crash re-sends (same keys) to what finished in
  // the last 100 ms.
  doneFlushMs: 100,
  // Enough to keep both parser threads busy while one send is in flight; each holds one message.
  prepareAhead: 8,
};

/** What the dispatcher needs. */
export interface DispatcherDeps {
  bus: MessageBus;
  blobs: BlobStore;
  /** Re-parses a message for its bodies (TextBody, HtmlBody are not stored with the attributes). */
  parser?: MessageParser;
  /** Bodies the index stage handed over in memory (ADR 0011); looked up before a re-parse. */
  bodies?: BodiesSource;
  routes: readonly RouteRuntime[];
  clock: Clock;
  /** In [0, 1), for back-off jitter. */
  random: () => number;
  logger: Logger;
  tuning?: Partial<DispatchTuning>;
}

/** Per route, what one run of the dispatcher did. */
export interface DispatchTotals {
  routes: Record<string, { delivered: number; dead: number; retries: number }>;
}

/** How a run ends. */
export interface DispatchRunOptions {
  /**
   * `drain`: return once `finished()` (no more deliveries will be queued) and no lane has a
   * delivery in flight or due within `retryHorizonMs`. Without it, run until `signal` aborts.
   */
  untilIdle?: { finished: () => boolean; retryHorizonMs: number };
  signal?: AbortSignal;
  /** Counted into as deliveries end (a drain's progress line reads it); returned at the end. */
  totals?: DispatchTotals;
}

type Result = 'done' | 'dead' | 'retry' | 'aborted';

/** The signal of a run that is never stopped (`drain` without one). */
const NEVER_ABORTED = new AbortController().signal;

/** A delivery's message, being built ahead of its send. */
type Prepared = { readRaw: () => Promise<Buffer>; message: Promise<MessageAttributes> };

/** A delivery done, waiting to be recorded with others. */
/**
 * A delivery done; `attempts`: those its last step took, the one that succeeded included (the
 * step's count is reset when a step succeeds, so without it a delivery retried and then done
 * listed the failures only, or 0 after a later step).
 */
type DoneRecord = { id: string; at: number; response: ServerResponse | null; attempts: number };

/**
 * Records attempts started before their actions run (`MessageBus.attemptsStarted`), so that an
 * attempt whose process dies is counted at the next claim. Starts asked for in one turn are
 * written together, and the deliveries finished since the last write are unmarked in the same
 * write (their `done` is batched for later: a crash before it must not count them as
 * interrupted). Writes run one at a time, in order, so the actions start in the order asked.
 */
class AttemptMarks {
  private starting: Array<{ id: string; resolve: () => void; reject: (e: unknown) => void }> = [];
  private finished: string[] = [];
  private scheduled = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly bus: MessageBus) {}

  /** Resolves once the start of an attempt of `id` is recorded. */
  start(id: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.starting.push({ id, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      // After the current turn (a microtask), so a window of pipelined sends shares one write.
      this.chain = this.chain.then(async () => {
        await Promise.resolve();
        this.scheduled = false;
        const batch = this.starting.splice(0);
        const finished = this.finished.splice(0);
        try {
          await this.bus.attemptsStarted(
            batch.map((b) => b.id),
            finished,
          );
          for (const b of batch) b.resolve();
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      });
    });
  }

  /** `id`'s attempt succeeded; its mark goes with the next write (or its `done`). */
  finish(id: string): void {
    this.finished.push(id);
  }
}

/**
 * The deliveries of one pair done but not yet recorded: written together (one transaction) before
 * the pair is claimed again or stops, or when the oldest has waited `doneFlushMs`. A crash before
 * the write sends them again under the same keys: at least once, as promised. Writes run one after
 * another behind the sends: a send does not wait for a write (the database may be busy with the
 * drain's commit); the pair waits for them only before it claims again or stops, and a failed
 * write fails the pair there.
 */
class DoneWriter {
  /** Done, not yet written; the pair's deliveries push here. */
  readonly finished: DoneRecord[] = [];
  /** When the oldest of {@link finished} was done. */
  oldest = 0;
  private writing: Promise<void> = Promise.resolve();
  private writeError: { error: unknown } | undefined;

  constructor(
    private readonly bus: MessageBus,
    /** Counts what was written into the run's totals. */
    private readonly counted: (n: number) => void,
  ) {}

  /** Writes what is done; `background`: does not wait for it (nor report its failure yet). */
  async flush(background = false): Promise<void> {
    if (this.finished.length > 0) {
      const batch = this.finished.splice(0);
      this.writing = this.writing.then(async () => {
        if (this.writeError) return;
        try {
          await this.bus.doneMany(batch);
          this.counted(batch.length);
        } catch (error) {
          this.writeError = { error };
        }
      });
    }
    if (background) return;
    await this.writing;
    if (this.writeError) throw this.writeError.error;
  }
}

/** Runs the lanes of every bus that has a route; resolves when the run ends. */
export async function runDispatcher(deps: DispatcherDeps, options: DispatchRunOptions = {}): Promise<DispatchTotals> {
  const tuning: DispatchTuning = { ...DISPATCH_DEFAULTS, ...deps.tuning };
  const totals: DispatchTotals = options.totals ?? { routes: {} };
  for (const r of deps.routes) totals.routes[r.name] ??= { delivered: 0, dead: 0, retries: 0 };
  const routeOf = new Map(deps.routes.map((r) => [pairKey(r.connection, r.name), r]));
  const buses = [...new Set(deps.routes.map((r) => r.bus))].sort((a, b) => a - b);
  const released = await deps.bus.releaseAll();
  if (released > 0) deps.logger.info('deliveries claimed by an earlier run are due again', { released });
  const lanes = buses.map((bus) => new Lane(bus, deps, tuning, routeOf, totals, options));
  await Promise.all(lanes.map((l) => l.run()));
  return totals;
}

function pairKey(connection: string, route: string): string {
  return `${connection}\u0000${route}`;
}

/** One bus: its own claim loop and its own concurrency. */
class Lane {
  private readonly active = new Map<string, Promise<void>>();
  private readonly warned = new Set<string>();
  private failure: unknown;
  private readonly marks: AttemptMarks;

  constructor(
    private readonly bus: number,
    private readonly deps: DispatcherDeps,
    private readonly tuning: DispatchTuning,
    private readonly routeOf: Map<string, RouteRuntime>,
    private readonly totals: DispatchTotals,
    private readonly options: DispatchRunOptions,
  ) {
    this.marks = new AttemptMarks(deps.bus);
  }

  async run(): Promise<void> {
    const { clock, bus } = this.deps;
    const signal = this.options.signal;
    while (!signal?.aborted) {
      if (this.failure !== undefined) break;
      let started = 0;
      if (this.active.size < this.tuning.concurrency) {
        const pairs = await bus.duePairs(this.bus, clock.now(), this.tuning.concurrency * 4);
        for (const p of pairs) {
          if (this.active.size >= this.tuning.concurrency) break;
          const key = pairKey(p.connection, p.route);
          if (this.active.has(key)) continue;
          const route = this.routeOf.get(key);
          if (!route || route.bus !== this.bus) {
            // Queued for a route that is no longer configured (or moved to another bus, or
            // disabled): left pending, listed by `deliveries list`, taken up if it comes back.
            if (!this.warned.has(key)) {
              this.warned.add(key);
              this.deps.logger.warn('deliveries wait for a route that is not configured on this bus', { bus: this.bus, connection: p.connection, route: p.route });
            }
            continue;
          }
          const work = this.workPair(p, route)
            .catch((err: unknown) => {
              // A failing bus (the database) stops the lane; the error ends the run.
              this.failure ??= err;
            })
            .finally(() => this.active.delete(key));
          this.active.set(key, work);
          started++;
        }
      }
      if (started > 0) continue;
      if (this.active.size === 0 && this.options.untilIdle && (await this.idleEnough())) break;
      // Wait for a worker to finish or the poll interval, whichever first.
      await Promise.race([clock.sleep(this.tuning.pollMs, signal), ...this.active.values()]);
    }
    await Promise.allSettled([...this.active.values()]);
    if (this.failure !== undefined) throw this.failure;
  }

  /** `drain`: nothing more will be queued and nothing of this bus is due soon. */
  private async idleEnough(): Promise<boolean> {
    const u = this.options.untilIdle!;
    if (!u.finished()) return false;
    const routes = [...this.routeOf.values()].filter((r) => r.bus === this.bus).map((r) => r.name);
    const next = await this.deps.bus.nextDue(this.bus, routes);
    return next === null || next > this.deps.clock.now() + u.retryHorizonMs;
  }

  /** Works through one pair in message order until it is empty, blocked or the run stops. */
  private async workPair(pair: DeliveryPair, route: RouteRuntime): Promise<void> {
    const { bus, clock } = this.deps;
    const signal = this.options.signal;
    const done = new DoneWriter(bus, (n) => ((this.totals.routes[route.name] ??= { delivered: 0, dead: 0, retries: 0 }).delivered += n));
    const finished = done.finished;
    const dueFlush = (): void => {
      if (finished.length > 0 && clock.now() - done.oldest >= this.tuning.doneFlushMs) void done.flush(true);
    };
    // Deliveries on their way at once: one, unless the route is a single action that keeps call
    // order with several in flight (a pipelined webhook). A failure is then overtaken by at most
    // `window - 1` later messages already sent (ADR 0008).
    const only = route.steps.length === 1 ? route.steps[0]!.action : undefined;
    const window = Math.max(1, Math.floor(only?.inOrder ?? 1));
    for (;;) {
      const claimed = await bus.claim(this.bus, pair, this.tuning.claimBatch, clock.now() + this.tuning.leaseMs);
      // Messages are prepared (blob read, re-parse for the bodies) a few ahead of the one being
      // sent: the sends stay in mailbox order, but their preparation, which waits on the read
      // and parser threads, overlaps the previous send instead of adding to it.
      const prepared = new Map<number, Prepared>();
      const prepare = (upTo: number): void => {
        for (let k = 0; k < claimed.length && k <= upTo; k++) if (!prepared.has(k)) prepared.set(k, this.prepare(claimed[k]!, route));
      };
      // Started deliveries, oldest first; `next` is the first not started.
      const flying: Array<{ d: ClaimedDelivery; result: Promise<Result> }> = [];
      const unrecorded: string[] = [];
      let next = 0;
      let blocked = false;
      try {
        for (;;) {
          while (!blocked && flying.length < window && next < claimed.length && !signal?.aborted) {
            dueFlush();
            const d = claimed[next]!;
            // The head of the pair is waiting for its retry: everything behind it waits too.
            if (d.nextAt > clock.now()) {
              blocked = true;
              break;
            }
            prepare(next + Math.max(this.tuning.prepareAhead, window));
            const p = prepared.get(next)!;
            // Built before its turn: with several in flight, each action call is made only after
            // the previous one's, which is the order an in-order action puts them on the wire.
            await p.message.catch(() => undefined);
            flying.push({ d, result: this.deliver(d, route, finished, p) });
            next++;
          }
          const head = flying.shift();
          if (!head) break;
          const r = await head.result;
          if (r === 'done' && finished.length === 1) done.oldest = clock.now();
          // Also while a window of sends is answered without a new one starting: the done records
          // (and the drain's progress, which counts them) do not wait for the whole window.
          else dueFlush();
          // Stopped: released below, unrecorded, tried again next run.
          if (r === 'aborted') unrecorded.push(head.d.id);
          // A retry holds the pair back; deliveries already on their way behind it finish first.
          if (r === 'retry') blocked = true;
        }
      } finally {
        // Normally empty here; after an unexpected error, their outcomes are awaited so nothing
        // is recorded after the claim was released.
        for (const f of flying.splice(0)) if ((await f.result.catch(() => 'aborted' as const)) === 'aborted') unrecorded.push(f.d.id);
        await done.flush();
        const rest = [...unrecorded, ...claimed.slice(next).map((d) => d.id)];
        if (rest.length > 0) await bus.release(rest);
      }
      if (blocked || signal?.aborted || claimed.length < this.tuning.claimBatch) return;
    }
  }

  /** Starts building what a delivery's scenario sees; a failure is kept for `deliver` to record. */
  private prepare(d: ClaimedDelivery, route: RouteRuntime): Prepared {
    let raw: Promise<Buffer> | undefined;
    const readRaw = (): Promise<Buffer> => (raw ??= this.deps.blobs.read(d.message.blob, d.message.sha256));
    const message = this.buildMessage(d, route, readRaw);
    // Prepared ahead, it may never be awaited (the pair blocks on a retry first): not unhandled.
    message.catch(() => undefined);
    return { readRaw, message };
  }

  /** Runs a delivery's scenario from its recorded step; records each step and the end. */
  private async deliver(d: ClaimedDelivery, route: RouteRuntime, finished: DoneRecord[], prepared: Prepared): Promise<Result> {
    const { bus, clock, logger } = this.deps;
    const count = (this.totals.routes[route.name] ??= { delivered: 0, dead: 0, retries: 0 });
    // Its last attempt never ended: whatever ran it died (maybe because of this very message).
    if (d.interrupted) {
      const error = new MailsluiceError(
        'DELIVERY_INTERRUPTED',
        `attempt ${d.attempts + 1} of step ${d.step} never ended: the process running it died before its outcome was recorded`,
      );
      return this.fail(d, route, d.step, d.attempts + 1, error, count);
    }
    const readRaw = prepared.readRaw;
    let message: MessageAttributes;
    try {
      message = await prepared.message;
    } catch (err) {
      return this.fail(d, route, d.step, d.attempts + 1, toMailsluiceError(err), count);
    }
    let response: ServerResponse | null = null;
    let attempts = 0;
    for (let step = d.step; step < route.steps.length; step++) {
      const { action } = route.steps[step]!;
      const attempt = step === d.step ? d.attempts + 1 : 1;
      attempts = attempt;
      const ctx: DeliveryContext = {
        route: route.name,
        connection: route.connection,
        deliveryId: d.id,
        idempotencyKey: `${d.id}.${step}`,
        step,
        attempt,
        readRaw,
        ...(route.attributes ? { attributes: route.attributes } : {}),
        // The run's own signal: a controller per step cost more than a loopback POST.
        signal: this.options.signal ?? NEVER_ABORTED,
      };
      let outcome: ActionOutcome;
      // Recorded before the action runs: an action that takes its runner down (a script that
      // kills the service) is then one counted attempt, not a crash loop at zero attempts.
      await this.marks.start(d.id);
      try {
        outcome = await action.run(message, ctx);
      } catch (err) {
        // The port says an action returns its failures; one that throws is treated the same.
        outcome = { ok: false, error: toMailsluiceError(err) };
      }
      // Stopped mid-attempt: nothing recorded, the delivery is released and runs again later.
      if (!outcome.ok && this.options.signal?.aborted) return 'aborted';
      if (!outcome.ok) return this.fail(d, route, step, attempt, outcome.error, count);
      if (outcome.response) response = outcome.response;
      if (step + 1 < route.steps.length) await bus.stepDone(d.id, step + 1);
    }
    this.marks.finish(d.id);
    finished.push({ id: d.id, at: clock.now(), response: response ?? route.response ?? null, attempts });
    logger.debug('delivered', { delivery: d.id, route: route.name });
    return 'done';
  }

  /** A failed attempt: retry later with back-off, or dead-letter (budget spent, or not retryable). */
  private async fail(d: ClaimedDelivery, route: RouteRuntime, step: number, attempt: number, error: MailsluiceError, count: { dead: number; retries: number }): Promise<Result> {
    const { bus, clock, logger } = this.deps;
    const max = route.steps[step]?.maxAttempts ?? 1;
    const text = `${error.code}: ${error.message}`;
    if (error.retryable && attempt < max) {
      const retryAfter = typeof error.details?.retryAfterMs === 'number' ? Math.min(error.details.retryAfterMs, this.tuning.backoff.maxMs) : 0;
      const delay = Math.max(backoffDelay(attempt, this.deps.random(), this.tuning.backoff), retryAfter);
      await bus.retryLater(d.id, step, attempt, clock.now() + delay, text);
      count.retries++;
      logger.warn('delivery failed; retrying later', { delivery: d.id, route: route.name, step, attempt, code: error.code, error: error.message, inMs: delay });
      return 'retry';
    }
    await bus.deadLetter(d.id, step, attempt, clock.now(), text, route.errorResponse ?? null);
    count.dead++;
    logger.error('delivery dead-lettered', { delivery: d.id, route: route.name, step, attempts: attempt, code: error.code, error: error.message });
    return 'dead';
  }

  /**
   * The attributes a scenario sees: the saved ones (those routing used), with `Source` and
   * `ArchiveId`, and the bodies from a re-parse when an action needs more than the archive.
   */
  private async buildMessage(d: ClaimedDelivery, route: RouteRuntime, readRaw: () => Promise<Buffer>): Promise<MessageAttributes> {
    const m = d.message;
    const saved = parseSavedAttributes(m.attributesJson, d.messageId);
    const message: MessageAttributes = {
      From: null,
      To: [],
      Cc: [],
      Bcc: [],
      Subject: '',
      ReceivedDate: null,
      GlobalMessageId: '',
      InReplyTo: '',
      References: [],
      TextBody: '',
      HtmlBody: '',
      Attachments: [],
      CustomHeaders: [],
      ...saved,
      Source:
        m.uidl !== null
          ? { Connection: d.connection, Uidl: m.uidl }
          : { Connection: d.connection, Mailbox: m.mailbox, UidValidity: m.uidValidity, ...(m.uid !== null ? { Uid: m.uid } : {}) },
      ArchiveId: m.sha256,
    };
    const needsBodies = route.steps.some((s) => s.action.kind !== 'archive');
    const bodiesJson = needsBodies ? this.deps.bodies?.take(d.messageId) : undefined;
    if (bodiesJson) {
      try {
        const b = JSON.parse(bodiesJson) as { TextBody?: string; HtmlBody?: string };
        message.TextBody = b.TextBody ?? '';
        message.HtmlBody = b.HtmlBody ?? '';
        return message;
      } catch {
        // unreadable: parse the raw message again below, as for a message not handed over
      }
    }
    if (needsBodies && this.deps.parser && m.parsed && m.size <= MAX_FULL_PARSE_BYTES) {
      const o = await this.deps.parser.parse(await readRaw());
      if (o.ok) {
        message.TextBody = o.attributes.TextBody;
        message.HtmlBody = o.attributes.HtmlBody;
      }
    }
    return message;
  }
}
