/**
 * Worker-thread entry of the `script` action: loads the user's module once, then runs its
 * `handle(message, ctx)` for one message at a time as the parent asks. Runs only as a worker
 * (started by script-action.ts); importing it elsewhere does nothing.
 *
 * The parent owns every decision (time limit, validation of the answer, error codes); this side
 * only reports what happened, as plain data, because an Error does not cross the thread
 * boundary with its `code` and class intact.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { inspect } from 'node:util';
import type { DeliveryContext } from '../../core/ports/scenario-action.js';

/** Data the parent hands each worker at start. */
export interface ScriptWorkerInit {
  /** `file:` URL of the user's module. */
  moduleUrl: string;
  /** Longest piece of a thrown value's text to send back. */
  maxErrorTextChars: number;
}

/** The plain-data fields of the `ctx` a script receives (readRaw is added on this side). */
export type ScriptContextData = Pick<DeliveryContext, 'route' | 'connection' | 'deliveryId' | 'idempotencyKey' | 'step' | 'attempt'>;

/** What the script threw (or what failed), as plain data. */
export interface ThrownInfo {
  /** `TypeError`, `Error`, or the `typeof` of a thrown non-Error. */
  name: string;
  /** The error's message, or an inspection of a thrown non-Error; one line, cut. */
  text: string;
  /** The error's `code` when it had a string one (e.g. `ERR_MODULE_NOT_FOUND`). */
  code?: string;
  /** The first frames of the stack, for logs. */
  stack?: string;
}

/** Messages the parent sends. */
export type ToScriptWorker =
  | { type: 'run'; callId: number; message: unknown; ctx: ScriptContextData }
  | { type: 'raw'; callId: number; reqId: number; bytes: Uint8Array }
  | { type: 'raw-failed'; callId: number; reqId: number; text: string; code?: string };

/** Messages the worker sends. */
export type FromScriptWorker =
  /** The module is loaded and exports a handle function; calls may be timed from now. */
  | { type: 'ready' }
  /** Loading the module threw (`threw`) or it exports no handle function (`no-handle`). */
  | { type: 'load-failed'; reason: 'threw' | 'no-handle'; error?: ThrownInfo; exportNames?: string[] }
  /** The script called ctx.readRaw(). */
  | { type: 'read-raw'; callId: number; reqId: number }
  /** handle() returned (or resolved to) `response`. */
  | { type: 'done'; callId: number; ok: true; response: unknown }
  /** handle() threw or rejected (`threw`), or what it returned cannot cross threads (`uncloneable`). */
  | { type: 'done'; callId: number; ok: false; reason: 'threw' | 'uncloneable'; error: ThrownInfo };

type Handle = (message: unknown, ctx: unknown) => unknown;

function oneLine(s: string, max: number): string {
  const line = s.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

/** Describes anything thrown, without trusting it (a thrown object's getters may throw too). */
export function describeThrown(err: unknown, max: number): ThrownInfo {
  try {
    if (err instanceof Error) {
      const code = (err as { code?: unknown }).code;
      return {
        name: err.name,
        text: oneLine(err.message, max),
        ...(typeof code === 'string' ? { code } : {}),
        ...(typeof err.stack === 'string' ? { stack: err.stack.split('\n').slice(0, 8).join('\n') } : {}),
      };
    }
    return { name: err === null ? 'null' : typeof err, text: oneLine(inspect(err, { depth: 2, breakLength: Infinity }), max) };
  } catch {
    return { name: 'unknown', text: 'a value that could not be described' };
  }
}

const port = parentPort;
if (port) {
  const { moduleUrl, maxErrorTextChars } = workerData as ScriptWorkerInit;
  const post = (msg: FromScriptWorker, transfer?: ArrayBuffer[]): void => port.postMessage(msg, transfer);

  /** The call being run; a ctx kept from an earlier call must not read this call's message. */
  let current: number | undefined;
  let nextReq = 1;
  const rawWaiters = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();

  const readRaw = (callId: number): Promise<Buffer> => {
    if (callId !== current) {
      return Promise.reject(new Error('ctx.readRaw() was called after handle() had finished; that message is no longer available'));
    }
    const reqId = nextReq++;
    return new Promise<Buffer>((resolve, reject) => {
      rawWaiters.set(reqId, { resolve, reject });
      post({ type: 'read-raw', callId, reqId });
    });
  };

  const run = async (handle: Handle, req: Extract<ToScriptWorker, { type: 'run' }>): Promise<void> => {
    const { callId } = req;
    current = callId;
    // A fresh, frozen ctx per call: nothing the script attaches to it survives into the next.
    const ctx = Object.freeze({ ...req.ctx, readRaw: () => readRaw(callId) });
    let response: unknown;
    try {
      response = await handle(req.message, ctx);
    } catch (err) {
      current = undefined;
      post({ type: 'done', callId, ok: false, reason: 'threw', error: describeThrown(err, maxErrorTextChars) });
      return;
    }
    current = undefined;
    try {
      post({ type: 'done', callId, ok: true, response });
    } catch (err) {
      // A function, a symbol or a class instance with private state cannot be cloned.
      post({ type: 'done', callId, ok: false, reason: 'uncloneable', error: describeThrown(err, maxErrorTextChars) });
    }
  };

  const start = async (): Promise<void> => {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(moduleUrl)) as Record<string, unknown>;
    } catch (err) {
      post({ type: 'load-failed', reason: 'threw', error: describeThrown(err, maxErrorTextChars) });
      return;
    }
    // `export function handle`, or a default export holding it (CommonJS `module.exports = { handle }`).
    const def = mod['default'] as Record<string, unknown> | null | undefined;
    const named = mod['handle'];
    const viaDefault = def !== null && typeof def === 'object' ? def['handle'] : undefined;
    const handle: Handle | undefined =
      typeof named === 'function' ? (named as Handle) : typeof viaDefault === 'function' ? (viaDefault as Handle).bind(def) : undefined;
    if (!handle) {
      post({ type: 'load-failed', reason: 'no-handle', exportNames: Object.keys(mod).slice(0, 20) });
      return;
    }
    port.on('message', (msg: ToScriptWorker) => {
      if (msg.type === 'run') {
        void run(handle, msg);
        return;
      }
      const waiter = rawWaiters.get(msg.reqId);
      if (!waiter) return;
      rawWaiters.delete(msg.reqId);
      if (msg.type === 'raw') waiter.resolve(Buffer.from(msg.bytes.buffer, msg.bytes.byteOffset, msg.bytes.byteLength));
      else waiter.reject(Object.assign(new Error(msg.text), msg.code === undefined ? {} : { code: msg.code }));
    });
    post({ type: 'ready' });
  };
  void start();
}
