/**
 * Options of the `script` scenario action, their defaults and the tunables behind them, each
 * with its reason.
 */
import { isAbsolute } from 'node:path';
import { MailsluiceError } from '../../core/errors/index.js';
import type { Logger } from '../../core/ports/logger.js';

/** Options of {@link createScriptAction} (what a route's `script` step configures). */
export interface ScriptActionOptions {
  /**
   * Absolute path of the user's module (`.js`, `.mjs`, `.cjs`; `.ts`/`.mts`/`.cts` only on a Node
   * that strips types itself, see README.md). It must export `handle(message, ctx)`.
   * Relative paths are rejected: the config loader resolves them against the config file.
   */
  module: string;
  /** Time limit of one call of `handle`, in milliseconds; the worker is stopped when it is up. */
  timeoutMs: number;
  /**
   * Memory limit of the script's process in MiB: its JS heap (`--max-old-space-size`), and with
   * {@link SCRIPT_TUNING.processBaseMb} added, its resident set (Buffers included). Default 128.
   */
  memoryMb?: number;
  /** The route's system name, for error sentences and logs. */
  route: string;
  /**
   * Script processes run at once for this route (each loads the module once). Default 1: calls
   * queue and run one at a time, in the order they were made.
   */
  workers?: number;
  /**
   * The environment the script sees as `process.env`. Default empty: the service's own
   * environment holds its secrets (`{ env: NAME }` in the config) and is not the script's.
   */
  env?: Record<string, string>;
  /**
   * Where the script's `console` output goes: stdout lines as `info`, stderr lines as `warn`
   * records (`{ route, module, stream }`). Without a logger it is dropped: the service's own
   * stdout carries its structured log and must not be interleaved with free text.
   */
  logger?: Logger;
}

/** {@link ScriptActionOptions} validated, with defaults filled in. */
export interface ScriptActionConfig {
  readonly module: string;
  readonly timeoutMs: number;
  readonly memoryMb: number;
  readonly route: string;
  readonly workers: number;
  readonly env: Readonly<Record<string, string>>;
  /** Time a new process may take to load the module before its calls fail (retryable). */
  readonly startTimeoutMs: number;
}

/** Internal tunables, each with why it has this value. */
export const SCRIPT_TUNING = {
  /** Default heap of a script process: room for a parsed message and a small library or two. */
  defaultMemoryMb: 128,
  /**
   * Below this V8 cannot start Node with the module loader and our glue in it; a smaller
   * setting would make every call crash instead of failing clearly at configuration.
   */
  minMemoryMb: 16,
  /** A few processes per route at most: each holds its own memory of `memoryMb`. */
  maxWorkers: 16,
  /**
   * Added to `memoryMb` for the resident-set limit: what Node itself takes besides the script's
   * heap (code, the module loader, IPC buffers: ~45 MiB on Node 20), with room to spare.
   */
  processBaseMb: 64,
  /** How often a script process's memory (and CPU time) is read from /proc: the most a script can allocate past its limit is what it allocates in this time. */
  watchMs: 50,
  /**
   * Open files of a script process (RLIMIT_NOFILE, soft and hard): plenty for a script's own
   * files and sockets, and it cannot reach the service's descriptors, which live in another process.
   */
  openFiles: 256,
  /**
   * The CPU-time limit (RLIMIT_CPU) of a reused process is `timeoutMs` times this (at least
   * {@link minCpuSeconds}): a backstop for what escapes the wall-clock limit (a child the script
   * started spins on). A process past half of it is replaced when idle, so an innocent later call
   * never meets it.
   */
  cpuCallsPerProcess: 20,
  minCpuSeconds: 60,
  /** When the service is root, scripts run as this user (as Dovecot runs its services unprivileged). */
  rootRunsAs: 'nobody',
  /** /proc reports CPU time in clock ticks (USER_HZ: 100 on every Linux architecture Node runs on). */
  clockTicks: 100,
  /** After a process exits, its last output (V8's out-of-memory sentence) is awaited this long at most. */
  outputGraceMs: 200,
  /**
   * Loading the module is not timed by `timeoutMs` (a cold start on a busy 2-core machine takes
   * hundreds of milliseconds, and would fail the first message); it has this floor instead, so a
   * module whose top-level code never finishes still fails its calls rather than hanging them.
   */
  minStartTimeoutMs: 10_000,
  /** Longest piece of a thrown error's text kept in a failure sentence; the rest is cut. */
  maxErrorTextChars: 500,
  /** Longest line of script output logged; a script printing a whole message must not flood the log. */
  maxOutputLineChars: 2000,
} as const;

/** Validates options and fills in defaults; throws `CONFIG_INVALID` for a wiring mistake. */
export function resolveScriptActionConfig(options: ScriptActionOptions): ScriptActionConfig {
  const problems: string[] = [];
  if (typeof options.module !== 'string' || options.module === '' || !isAbsolute(options.module)) {
    problems.push(`module must be an absolute path (got ${JSON.stringify(options.module)})`);
  }
  if (!Number.isInteger(options.timeoutMs) || options.timeoutMs <= 0) {
    problems.push(`timeoutMs must be a positive whole number of milliseconds (got ${String(options.timeoutMs)})`);
  }
  const memoryMb = options.memoryMb ?? SCRIPT_TUNING.defaultMemoryMb;
  if (!Number.isInteger(memoryMb) || memoryMb < SCRIPT_TUNING.minMemoryMb) {
    problems.push(`memoryMb must be a whole number of MiB, at least ${SCRIPT_TUNING.minMemoryMb} (got ${String(memoryMb)})`);
  }
  const workers = options.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1 || workers > SCRIPT_TUNING.maxWorkers) {
    problems.push(`workers must be a whole number from 1 to ${SCRIPT_TUNING.maxWorkers} (got ${String(workers)})`);
  }
  if (typeof options.route !== 'string' || options.route === '') problems.push('route must be the route system name');
  const env = options.env ?? {};
  for (const [k, v] of Object.entries(env)) {
    if (typeof v !== 'string') problems.push(`env.${k} must be a string`);
  }
  if (problems.length > 0) {
    throw new MailsluiceError('CONFIG_INVALID', `script action of route "${String(options.route)}": ${problems.join('; ')}.`, {
      details: { problems },
    });
  }
  return Object.freeze({
    module: options.module,
    timeoutMs: options.timeoutMs,
    memoryMb,
    route: options.route,
    workers,
    env: Object.freeze({ ...env }),
    startTimeoutMs: Math.max(SCRIPT_TUNING.minStartTimeoutMs, options.timeoutMs),
  });
}
