/**
 * The one place where what happened to a script (thrown, timed out, crashed, not loadable, a
 * bad answer) becomes a `MailsluiceError` with a catalogue code and a sentence that names the
 * module and the route. Branches on codes (`ERR_WORKER_OUT_OF_MEMORY`), never on wording.
 */
import { MailsluiceError } from '../../core/errors/index.js';
import type { ScriptActionConfig } from './script-action-config.js';
import type { ThrownInfo } from './script-child.js';
import { cpuLimitSeconds, rssLimitMb, type ScriptExit, type ScriptUser } from './script-process.js';

type Who = Pick<ScriptActionConfig, 'module' | 'route' | 'timeoutMs' | 'memoryMb' | 'startTimeoutMs'>;

function who(c: Who): string {
  return `script ${c.module} (route "${c.route}")`;
}

function base(c: Who, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { route: c.route, module: c.module, ...extra };
}

function thrownText(t: ThrownInfo): string {
  return t.name === 'Error' || t.name === '' ? t.text : `${t.name}: ${t.text}`;
}

/** The module file does not exist (or is not a file). */
export function moduleMissing(c: Who, cause?: unknown): MailsluiceError {
  return new MailsluiceError('ACTION_SCRIPT_INVALID', `${who(c)} cannot run: the module file does not exist or is not a readable file.`, {
    cause,
    details: base(c),
  });
}

/** The module's file type cannot be imported by this Node. */
export function moduleTypeUnsupported(c: Who, extension: string, nodeVersion: string): MailsluiceError {
  const ts = ['.ts', '.mts', '.cts'].includes(extension);
  const why = ts
    ? `TypeScript modules need a Node that strips types itself (22.18 or later, or 22.6 and later started with --experimental-strip-types) and this is Node ${nodeVersion}; compile the script to .js (or .mjs) and point the route's module at that file`
    : `"${extension || '(no extension)'}" is not a module type it can load; use .js, .mjs or .cjs`;
  return new MailsluiceError('ACTION_SCRIPT_INVALID', `${who(c)} cannot run: ${why}.`, { details: base(c, { extension }) });
}

/** Importing the module threw (syntax error, a missing dependency, top-level code that threw). */
export function moduleLoadThrew(c: Who, t: ThrownInfo): MailsluiceError {
  return new MailsluiceError('ACTION_SCRIPT_INVALID', `${who(c)} failed to load: ${thrownText(t)}.`, {
    details: base(c, { thrown: t }),
  });
}

/**
 * The module (or a file it imports, or a directory above them) cannot be read by the user the
 * script runs as: when the service is root that is an unprivileged user, which cannot read what
 * only root may (by design: the data directory and the configuration are root's alone).
 */
export function moduleUnreadable(c: Who, t: ThrownInfo, user: ScriptUser | null): MailsluiceError {
  const as = user ? `the user scripts run as (${user.name}, uid ${user.uid}; the service runs as root)` : 'the user the service runs as';
  return new MailsluiceError(
    'ACTION_SCRIPT_INVALID',
    `${who(c)} cannot be read by ${as}: ${thrownText(t)}; make the module, what it imports and every directory above them readable by that user (chmod o+r on the files, o+x on the directories), outside the data directory.`,
    { details: base(c, { thrown: t, ...(user ? { runsAs: user.name, uid: user.uid } : {}) }) },
  );
}

/** The module loaded but exports no `handle` function. */
export function handleMissing(c: Who, exportNames: string[]): MailsluiceError {
  const has = exportNames.length === 0 ? 'it exports nothing' : `it exports ${exportNames.join(', ')}`;
  return new MailsluiceError('ACTION_SCRIPT_INVALID', `${who(c)} exports no handle function (${has}); export function handle(message, ctx).`, {
    details: base(c, { exportNames }),
  });
}

/** Loading the module took longer than the start time limit. */
export function loadTimedOut(c: Who): MailsluiceError {
  return new MailsluiceError('ACTION_SCRIPT_TIMEOUT', `${who(c)} did not finish loading within ${c.startTimeoutMs} ms; its process was stopped.`, {
    details: base(c, { startTimeoutMs: c.startTimeoutMs }),
  });
}

/**
 * handle() threw or rejected. When the script's own ctx.readRaw() failed during the call, that
 * failure is the cause and decides whether a retry can help (a message missing from the archive
 * will still be missing).
 */
export function scriptThrew(c: Who, t: ThrownInfo, rawError?: MailsluiceError): MailsluiceError {
  return new MailsluiceError('ACTION_SCRIPT_FAILED', `${who(c)} threw: ${thrownText(t)}.`, {
    ...(rawError ? { cause: rawError, retryable: rawError.retryable } : {}),
    details: base(c, { thrown: t }),
  });
}

/** handle() returned something that cannot cross the process boundary (a function, a symbol). */
export function responseUncloneable(c: Who, t: ThrownInfo): MailsluiceError {
  return new MailsluiceError('ACTION_SCRIPT_BAD_RESPONSE', `${who(c)} returned a value that cannot be passed back (${t.text}); return plain data.`, {
    details: base(c, { thrown: t }),
  });
}

/** handle() returned a value that is not a valid response. */
export function badResponse(c: Who, problem: string): MailsluiceError {
  return new MailsluiceError('ACTION_SCRIPT_BAD_RESPONSE', `${who(c)} returned an invalid response: ${problem}.`, {
    details: base(c, { problem }),
  });
}

/** handle() did not settle within the time limit. */
export function scriptTimedOut(c: Who): MailsluiceError {
  return new MailsluiceError(
    'ACTION_SCRIPT_TIMEOUT',
    `${who(c)} did not finish within its time limit of ${c.timeoutMs} ms; its process was stopped and a new one takes the next message.`,
    { details: base(c, { timeoutMs: c.timeoutMs }) },
  );
}

/** The attempt was aborted (service stopping, attempt deadline, action closed) before or while it ran. */
export function scriptAborted(c: Who, running: boolean): MailsluiceError {
  const what = running ? 'was stopped while it ran' : 'did not run';
  return new MailsluiceError('ACTION_SCRIPT_TIMEOUT', `${who(c)} ${what}: the attempt was aborted (the service is stopping or the attempt's time is up).`, {
    details: base(c, { aborted: true }),
  });
}

/**
 * The script's process ended without being told to, or could not be started (`message`): out of
 * its heap (V8's own limit, `--max-old-space-size`), over its resident-set limit (killed by the
 * memory watch: Buffers live outside the heap), over its CPU-time limit (SIGXCPU), killed by a
 * signal (its own `process.kill(process.pid, 'SIGKILL')`, the kernel's OOM killer), or it exited.
 */
export function workerDied(c: Who, exit: ScriptExit | { message: string }, during: 'call' | 'load'): MailsluiceError {
  const where = during === 'load' ? 'while loading' : 'while handling the message';
  let what: string;
  let reason: string;
  if ('message' in exit) {
    what = `could not be started ${where}: ${exit.message}`;
    reason = 'spawn';
  } else if (exit.rssMb !== undefined) {
    what = `used ${exit.rssMb} MiB of memory ${where}, over its limit of ${rssLimitMb(c)} MiB (memoryMb ${c.memoryMb} plus ${rssLimitMb(c) - c.memoryMb} MiB for Node itself); its process was killed`;
    reason = 'memory';
  } else if (exit.heapExhausted) {
    what = `ran out of its memory limit of ${c.memoryMb} MiB ${where}`;
    reason = 'heap';
  } else if (exit.signal === 'SIGXCPU') {
    what = `used its CPU-time limit of ${cpuLimitSeconds(c)} s ${where}`;
    reason = 'cpu';
  } else if (exit.signal !== null) {
    what = `was killed by ${exit.signal} ${where} (by the script itself, or the system)`;
    reason = 'signal';
  } else {
    what = `ended its process ${where} (exit code ${String(exit.code)})`;
    reason = 'exit';
  }
  return new MailsluiceError('ACTION_SCRIPT_CRASHED', `${who(c)} ${what}; a new process takes the next message.`, {
    details: base(c, {
      reason,
      ...('message' in exit ? {} : { exitCode: exit.code, signal: exit.signal }),
    }),
  });
}

/** The action was closed before the call could run. */
export function actionClosed(c: Who): MailsluiceError {
  return new MailsluiceError('ACTION_SCRIPT_TIMEOUT', `${who(c)} did not run: the script action is closed (the service is stopping).`, {
    details: base(c, { closed: true }),
  });
}
