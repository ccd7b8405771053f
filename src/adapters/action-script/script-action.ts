/**
 * The `script` scenario action: the operator's module runs in processes of its own
 * (script-process.ts, ADR 0013) with OS limits, a memory watch and a time limit per message, so
 * a throwing, hanging, memory-hungry or self-killing script costs one attempt and one process,
 * never the service.
 *
 * A process is kept across calls while it is healthy (starting one and loading a module costs
 * ~100 ms, more than most scripts take to run) and replaced after a timeout or crash.
 * Calls queue and go to the first idle process, up to `workers` at once (default 1).
 */
import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MessageAttributes } from '../../core/message/attributes.js';
import { mapAttributes } from '../../core/routing/route-attributes.js';
import type { ActionOutcome, DeliveryContext, ScenarioAction } from '../../core/ports/scenario-action.js';
import type { Logger } from '../../core/ports/logger.js';
import { toMailsluiceError, type MailsluiceError } from '../../core/errors/index.js';
import { resolveScriptActionConfig, SCRIPT_TUNING, type ScriptActionConfig, type ScriptActionOptions } from './script-action-config.js';
import type { FromScriptChild, ScriptContextData, ToScriptChild } from './script-child.js';
import { ScriptProcess, scriptUser, type ScriptExit } from './script-process.js';
import { validateScriptResponse } from './script-response.js';
import * as map from './script-error-map.js';

/** Module types every supported Node imports. */
const JS_EXTENSIONS = new Set(['.js', '.mjs', '.cjs']);
/** TypeScript module types, importable only where Node strips types itself. */
const TS_EXTENSIONS = new Set(['.ts', '.mts', '.cts']);

/**
 * Whether this Node imports `.ts` files natively (`process.features.typescript`, Node 22.10+:
 * "strip" or "transform" when on, false when off; absent on Node 20).
 */
function nodeStripsTypes(): boolean {
  const features = process.features as unknown as Record<string, unknown>;
  return Boolean(features['typescript']);
}

interface Call {
  readonly id: number;
  readonly message: MessageAttributes;
  readonly ctx: DeliveryContext;
  /** Resolves run()'s promise; only the first outcome counts. */
  readonly settle: (o: ActionOutcome) => void;
  /** Set when the script's own ctx.readRaw() failed during this call. */
  rawError: MailsluiceError | undefined;
  /** Removes the abort listener from ctx.signal. */
  detach: () => void;
}

interface Slot {
  /** Undefined while the module file is being checked, before the process starts. */
  worker: ScriptProcess | undefined;
  state: 'starting' | 'idle' | 'busy' | 'gone';
  call: Call | undefined;
  /** The call's time limit, or the start time limit while starting. */
  timer: NodeJS.Timeout | undefined;
}

/**
 * Creates the `script` action of one route. Nothing starts until the first `run`; `close()`
 * stops the workers. Throws `CONFIG_INVALID` only for options that cannot be right (a relative
 * module path, a non-positive time limit); everything about the module file itself (missing,
 * wrong type, no `handle`) is reported by `run` as a failed attempt, so fixing the file takes
 * effect without restarting the service.
 */
export function createScriptAction(options: ScriptActionOptions): ScenarioAction {
  return new ScriptAction(resolveScriptActionConfig(options), options.logger);
}

class ScriptAction implements ScenarioAction {
  readonly kind = 'script' as const;
  readonly #config: ScriptActionConfig;
  readonly #logger: Logger | undefined;
  readonly #slots = new Set<Slot>();
  readonly #queue: Call[] = [];
  #nextId = 1;
  #closed = false;

  constructor(config: ScriptActionConfig, logger: Logger | undefined) {
    this.#config = config;
    this.#logger = logger?.child({ route: config.route, module: config.module });
  }

  run(message: MessageAttributes, ctx: DeliveryContext): Promise<ActionOutcome> {
    if (this.#closed) return Promise.resolve({ ok: false, error: map.actionClosed(this.#config) });
    if (ctx.signal.aborted) return Promise.resolve({ ok: false, error: map.scriptAborted(this.#config, false) });
    return new Promise<ActionOutcome>((resolve) => {
      let done = false;
      const call: Call = {
        id: this.#nextId++,
        // Shaped by the route's `attributes` (the script sees what a webhook would).
        message: mapAttributes(message, ctx.attributes) as MessageAttributes,
        ctx,
        rawError: undefined,
        settle: (o) => {
          if (done) return;
          done = true;
          call.detach();
          resolve(o);
        },
        detach: () => ctx.signal.removeEventListener('abort', onAbort),
      };
      const onAbort = (): void => this.#abort(call);
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(call);
      this.#pump();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const call of this.#queue.splice(0)) call.settle({ ok: false, error: map.actionClosed(this.#config) });
    const slots = [...this.#slots];
    this.#slots.clear();
    await Promise.all(
      slots.map(async (slot) => {
        const call = slot.call;
        this.#retire(slot);
        call?.settle({ ok: false, error: map.scriptAborted(this.#config, true) });
        slot.worker?.kill();
      }),
    );
  }

  /** Hands queued calls to idle workers and starts workers (up to the limit) for the rest. */
  #pump(): void {
    if (this.#closed) return;
    for (const slot of this.#slots) {
      if (this.#queue.length === 0) break;
      if (slot.state === 'idle') this.#assign(slot, this.#queue.shift()!);
    }
    let starting = 0;
    for (const slot of this.#slots) if (slot.state === 'starting') starting++;
    while (this.#queue.length > starting && this.#slots.size < this.#config.workers) {
      this.#spawn();
      starting++;
    }
  }

  #assign(slot: Slot, call: Call): void {
    const worker = slot.worker!;
    slot.state = 'busy';
    slot.call = call;
    const c = call.ctx;
    const ctx: ScriptContextData = {
      route: c.route,
      connection: c.connection,
      deliveryId: c.deliveryId,
      idempotencyKey: c.idempotencyKey,
      step: c.step,
      attempt: c.attempt,
    };
    // A busy worker keeps the service alive (the caller awaits its answer); an idle one does not.
    worker.hold(true);
    try {
      if (!worker.send({ type: 'run', callId: call.id, message: call.message, ctx } satisfies ToScriptChild)) throw new Error('the script process is gone');
    } catch (err) {
      // The process died between its last answer and this call: the call is its crash.
      this.#retire(slot);
      worker.kill();
      call.settle({ ok: false, error: map.workerDied(this.#config, { message: err instanceof Error ? err.message : String(err) }, 'call') });
      this.#pump();
      return;
    }
    slot.timer = setTimeout(() => this.#timeout(slot), this.#config.timeoutMs);
  }

  #spawn(): void {
    const slot: Slot = { worker: undefined, state: 'starting', call: undefined, timer: undefined };
    this.#slots.add(slot);
    void this.#start(slot);
  }

  /** Checks the module file, then starts a process that loads it. */
  async #start(slot: Slot): Promise<void> {
    const c = this.#config;
    const ext = extname(c.module).toLowerCase();
    if (!JS_EXTENSIONS.has(ext) && !(TS_EXTENSIONS.has(ext) && nodeStripsTypes())) {
      this.#startFailed(slot, () => map.moduleTypeUnsupported(c, ext, process.versions.node));
      return;
    }
    try {
      const st = await stat(c.module);
      if (!st.isFile()) throw new Error('not a regular file');
    } catch (err) {
      this.#startFailed(slot, () => map.moduleMissing(c, err));
      return;
    }
    if (slot.state === 'gone') return;
    let worker: ScriptProcess;
    try {
      worker = new ScriptProcess(
        c,
        (msg) => this.#onMessage(slot, msg),
        (exit) => this.#died(slot, exit),
      );
    } catch (err) {
      this.#startFailed(slot, () => map.workerDied(c, { message: err instanceof Error ? err.message : String(err) }, 'load'));
      return;
    }
    slot.worker = worker;
    // The script's console output is piped here (logged or dropped), never mixed into the
    // service's stdout, which carries the structured log.
    this.#pipeOutput(worker);
    worker.send({ type: 'init', moduleUrl: pathToFileURL(c.module).href, maxErrorTextChars: SCRIPT_TUNING.maxErrorTextChars });
    slot.timer = setTimeout(() => {
      this.#retire(slot);
      worker.kill();
      this.#startFailed(slot, () => map.loadTimedOut(c));
    }, c.startTimeoutMs);
  }

  /**
   * A worker could not be started or load the module. Every queued call fails with the same
   * reason: they were waiting for this module as it is on disk now, and a broken module would
   * otherwise cost a thread start per queued message. Workers already running keep going.
   */
  #startFailed(slot: Slot, error: () => MailsluiceError): void {
    this.#retire(slot);
    for (const call of this.#queue.splice(0)) call.settle({ ok: false, error: error() });
  }

  #onMessage(slot: Slot, msg: FromScriptChild): void {
    if (slot.state === 'gone' || typeof msg !== 'object' || msg === null) return;
    const c = this.#config;
    switch (msg.type) {
      case 'ready':
        if (slot.state !== 'starting') return;
        clearTimeout(slot.timer);
        slot.timer = undefined;
        slot.state = 'idle';
        slot.worker?.hold(false);
        this.#pump();
        return;
      case 'load-failed': {
        if (slot.state !== 'starting') return;
        const worker = slot.worker;
        this.#startFailed(slot, () =>
          msg.reason === 'no-handle'
            ? map.handleMissing(c, msg.exportNames ?? [])
            : msg.error?.code === 'EACCES' || msg.error?.code === 'EPERM'
              ? map.moduleUnreadable(c, msg.error, scriptUser())
              : map.moduleLoadThrew(c, msg.error ?? { name: 'Error', text: 'unknown' }),
        );
        worker?.kill();
        return;
      }
      case 'read-raw':
        this.#serveRaw(slot, msg.callId, msg.reqId);
        return;
      case 'done': {
        const call = slot.call;
        // Only the call this worker is running may answer; anything else is stale or forged.
        if (slot.state !== 'busy' || !call || call.id !== msg.callId) return;
        clearTimeout(slot.timer);
        slot.timer = undefined;
        slot.state = 'idle';
        slot.call = undefined;
        const worker = slot.worker;
        worker?.hold(false);
        call.settle(this.#outcomeOf(msg, call));
        // Near its CPU-time limit a process would die in a later, innocent call: replaced now.
        if (worker?.nearCpuLimit) {
          this.#retire(slot);
          worker.kill();
        }
        this.#pump();
        return;
      }
      default:
        return;
    }
  }

  #outcomeOf(msg: Extract<FromScriptChild, { type: 'done' }>, call: Call): ActionOutcome {
    const c = this.#config;
    if (!msg.ok) {
      return { ok: false, error: msg.reason === 'uncloneable' ? map.responseUncloneable(c, msg.error) : map.scriptThrew(c, msg.error, call.rawError) };
    }
    const check = validateScriptResponse(msg.response);
    if (!check.ok) return { ok: false, error: map.badResponse(c, check.problem) };
    return check.response ? { ok: true, response: check.response } : { ok: true };
  }

  /**
   * Answers the script's ctx.readRaw() with the real DeliveryContext.readRaw() of the call the
   * process is running now, and of no other.
   */
  #serveRaw(slot: Slot, callId: number, reqId: number): void {
    const call = slot.call;
    const worker = slot.worker;
    if (slot.state !== 'busy' || !call || call.id !== callId || !worker) return;
    const reply = (msg: ToScriptChild): void => {
      // The call may have timed out while the archive was read: its process is gone then.
      if (slot.call !== call || slot.state !== 'busy') return;
      worker.send(msg);
    };
    call.ctx.readRaw().then(
      (raw) => reply({ type: 'raw', callId, reqId, bytes: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) }),
      (err: unknown) => {
        const e = toMailsluiceError(err);
        call.rawError = e;
        reply({ type: 'raw-failed', callId, reqId, text: `reading the raw message failed: ${e.message}`, code: e.code });
      },
    );
  }

  #timeout(slot: Slot): void {
    const call = slot.call;
    const worker = slot.worker;
    this.#retire(slot);
    // SIGKILL stops even a synchronous endless loop.
    worker?.kill();
    call?.settle({ ok: false, error: map.scriptTimedOut(this.#config) });
    this.#pump();
  }

  /** ctx.signal fired: a queued call is dropped, a running one stops its worker. */
  #abort(call: Call): void {
    const i = this.#queue.indexOf(call);
    if (i >= 0) {
      this.#queue.splice(i, 1);
      call.settle({ ok: false, error: map.scriptAborted(this.#config, false) });
      return;
    }
    for (const slot of this.#slots) {
      if (slot.call !== call) continue;
      const worker = slot.worker;
      this.#retire(slot);
      worker?.kill();
      call.settle({ ok: false, error: map.scriptAborted(this.#config, true) });
      this.#pump();
      return;
    }
  }

  /**
   * The process ended without being told to: out of memory (its heap, or its resident set as
   * watched), an uncaught exception, process.exit(), a signal (its own SIGKILL, the CPU limit).
   */
  #died(slot: Slot, exit: ScriptExit): void {
    if (slot.state === 'gone') return;
    const { state, call } = slot;
    this.#retire(slot);
    const c = this.#config;
    if (state === 'starting') this.#startFailed(slot, () => map.workerDied(c, exit, 'load'));
    else if (call) call.settle({ ok: false, error: map.workerDied(c, exit, 'call') });
    // An idle worker that died (a late timer of an earlier message) is simply not reused.
    this.#pump();
  }

  /** Takes a slot out of service for good; the caller terminates its thread if needed. */
  #retire(slot: Slot): void {
    clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.state = 'gone';
    slot.call = undefined;
    this.#slots.delete(slot);
  }

  /** Forwards the script's console output, line by line, to the logger (or drops it). */
  #pipeOutput(worker: ScriptProcess): void {
    const logger = this.#logger;
    for (const [stream, level] of [
      [worker.stdout, 'info'],
      [worker.stderr, 'warn'],
    ] as const) {
      if (!logger) {
        // Drained so a chatty script cannot fill the pipe and block.
        stream.resume();
        continue;
      }
      let pending = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        pending += chunk;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        if (pending.length > SCRIPT_TUNING.maxOutputLineChars) {
          lines.push(pending);
          pending = '';
        }
        for (const line of lines) {
          const text = line.length > SCRIPT_TUNING.maxOutputLineChars ? `${line.slice(0, SCRIPT_TUNING.maxOutputLineChars)}…` : line;
          logger[level]('script output', { stream: level === 'info' ? 'stdout' : 'stderr', line: text });
        }
      });
    }
  }
}
