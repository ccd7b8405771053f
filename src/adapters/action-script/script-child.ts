/**
 * Process entry of the `script` action (ADR 0013): loads the user's module once, then runs its
 * `handle(message, ctx)` for one message at a time as the service asks over the IPC channel.
 * Started by script-process.ts only; imported elsewhere (for its types) it does nothing.
 *
 * The service owns every decision (time limit, memory, validation of the answer, error codes);
 * this side only reports what happened, as plain data, because an Error does not cross the
 * process boundary with its `code` and class intact. It ends itself when the channel closes, so
 * a service that died leaves no script process behind.
 */
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import type { DeliveryContext } from '../../core/ports/scenario-action.js';

/** The first message: what to load. */
export interface ScriptChildInit {
  type: 'init';
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

/** Messages the service sends. */
export type ToScriptChild =
  | ScriptChildInit
  | { type: 'run'; callId: number; message: unknown; ctx: ScriptContextData }
  | { type: 'raw'; callId: number; reqId: number; bytes: Uint8Array }
  | { type: 'raw-failed'; callId: number; reqId: number; text: string; code?: string };

/** Messages the process sends. */
export type FromScriptChild =
  /** The module is loaded and exports a handle function; calls may be timed from now. */
  | { type: 'ready' }
  /** Loading the module threw (`threw`) or it exports no handle function (`no-handle`). */
  | { type: 'load-failed'; reason: 'threw' | 'no-handle'; error?: ThrownInfo; exportNames?: string[] }
  /** The script called ctx.readRaw(). */
  | { type: 'read-raw'; callId: number; reqId: number }
  /** handle() returned (or resolved to) `response`. */
  | { type: 'done'; callId: number; ok: true; response: unknown }
  /** handle() threw or rejected (`threw`), or what it returned cannot be serialized (`uncloneable`). */
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

/** Runs the child's side once the service's `init` arrives. */
function serve(send: (msg: FromScriptChild) => void, init: ScriptChildInit): void {
  const { moduleUrl, maxErrorTextChars } = init;
  const post = (msg: FromScriptChild): void => send(msg);

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

  const run = async (handle: Handle, req: Extract<ToScriptChild, { type: 'run' }>): Promise<void> => {
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
      // A function, a symbol or a class instance with private state cannot be serialized.
      post({ type: 'done', callId, ok: false, reason: 'uncloneable', error: describeThrown(err, maxErrorTextChars) });
    }
  };

  const start = async (): Promise<void> => {
    let mod: Record<string, unknown>;
    try {
      // Checked as this process's user first: the module loader reports a directory it may not
      // enter as "Cannot find module", which would send the operator looking for a missing file.
      accessSync(fileURLToPath(moduleUrl), constants.R_OK);
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
    process.on('message', (msg: ToScriptChild) => {
      if (msg.type === 'init') return;
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

/** Set by script-process.ts in the argument list, so importing this module elsewhere does nothing. */
export const SCRIPT_CHILD_MARK = '--mailsluice-script-child';

if (process.argv.includes(SCRIPT_CHILD_MARK) && typeof process.send === 'function') {
  const send = process.send.bind(process) as (msg: FromScriptChild) => boolean;
  // The service is gone (it closed the channel or died): nothing may outlive it.
  process.on('disconnect', () => process.exit(0));
  process.once('message', (msg: ToScriptChild) => {
    if (msg?.type === 'init') serve((m) => void send(m), msg);
  });
}
