/**
 * One operating-system process that runs a user's script (ADR 0013): started from
 * `script-child.js` through `prlimit` (or `/bin/sh`'s `ulimit` where util-linux is missing) with
 * OS limits on open files and CPU time, an empty environment, a temporary working directory of
 * its own, in a process group of its own (so what the script starts dies with it) and, when the
 * service runs as root, as an unprivileged user. Its memory is watched from here: the resident
 * set is read from `/proc/<pid>/status` every {@link SCRIPT_TUNING.watchMs} and the process group
 * is killed once it passes the limit (an address-space limit would stop V8 itself, which
 * reserves far more than it uses).
 *
 * Messages cross the IPC channel with the structured-clone serialization, as they crossed the
 * thread boundary before.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { SCRIPT_TUNING, type ScriptActionConfig } from './script-action-config.js';
import { SCRIPT_CHILD_MARK, type FromScriptChild, type ToScriptChild } from './script-child.js';

/** The user a script runs as when the service is root. */
export interface ScriptUser {
  name: string;
  uid: number;
  gid: number;
}

/** Why the process ended, as far as this side knows. */
export interface ScriptExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when this side killed it for its memory: the resident set seen, in MiB. */
  rssMb?: number;
  /** V8 reported its heap limit reached (on the process's stderr) before it died. */
  heapExhausted: boolean;
}

const CHILD_URL = new URL('./script-child.js', import.meta.url);
/** Where util-linux puts prlimit; looked up once, not through PATH (the PATH is the service's). */
const PRLIMIT_PATHS = ['/usr/bin/prlimit', '/bin/prlimit', '/usr/sbin/prlimit'];
/** Node's sentence when V8 cannot grow the heap past --max-old-space-size. */
const HEAP_OOM = /JavaScript heap out of memory|Reached heap limit/;

let prlimitPath: string | null | undefined;
function findPrlimit(): string | null {
  if (prlimitPath === undefined) prlimitPath = PRLIMIT_PATHS.find((p) => existsSync(p)) ?? null;
  return prlimitPath;
}

/**
 * The unprivileged user scripts run as when the service is root: `nobody` from /etc/passwd, or
 * 65534 (its number on Debian, Alpine and RHEL) when the file has no such entry. Null when the
 * service is not root (it cannot change users then; README says what a script can read).
 */
export function scriptUser(): ScriptUser | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  const name = SCRIPT_TUNING.rootRunsAs;
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === name && f.length >= 4) return { name, uid: Number(f[2]), gid: Number(f[3]) };
    }
  } catch {
    // no /etc/passwd: the conventional number below
  }
  return { name, uid: 65534, gid: 65534 };
}

/** The CPU-time limit of one process, in seconds: a backstop behind the wall-clock limit. */
export function cpuLimitSeconds(c: Pick<ScriptActionConfig, 'timeoutMs'>): number {
  return Math.max(SCRIPT_TUNING.minCpuSeconds, Math.ceil((c.timeoutMs * SCRIPT_TUNING.cpuCallsPerProcess) / 1000));
}

/** The resident-set limit of one process, in MiB: the heap limit plus what Node itself takes. */
export function rssLimitMb(c: Pick<ScriptActionConfig, 'memoryMb'>): number {
  return c.memoryMb + SCRIPT_TUNING.processBaseMb;
}

/** Resident set (MiB) and CPU time used (s) of a process, from /proc; null where there is none. */
function readStat(pid: number): { rssMb: number; cpuSeconds: number } | null {
  let stat: string;
  let status: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    status = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count after its end.
  // f[0] is field 3 (state): utime is field 14, stime 15 (clock ticks).
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]);
  // VmRSS in kB, whatever the page size (4 KiB on x86-64, up to 64 KiB on some arm64 kernels).
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
  return { rssMb: kb / 1024, cpuSeconds: ticks / SCRIPT_TUNING.clockTicks };
}

/**
 * Working directories of script processes not yet removed. A `drain` exits as soon as its work is
 * done, before a process's grace timer (unref'd) would remove its directory: whatever is left is
 * removed as the service exits, so no run leaves `mailsluice-script-*` directories behind.
 */
const liveDirs = new Set<string>();
let exitHook = false;

function removeDir(dir: string): void {
  liveDirs.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Directories a service killed outright (SIGKILL, a power cut) left behind: named with its pid
 * (`mailsluice-script-<pid>-…`), removed by the next service that starts a script once that pid
 * is gone. A live pid's are never touched (another service on this machine), nor names without one.
 */
function sweepOrphans(): void {
  if (swept) return;
  swept = true;
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(/^mailsluice-script-(\d+)-/.exec(name)?.[1] ?? NaN);
    if (!Number.isInteger(pid) || pid === process.pid || isAlive(pid)) continue;
    try {
      rmSync(join(tmpdir(), name), { recursive: true, force: true });
    } catch {
      // someone else's to clean (another user's directory): left alone
    }
  }
}
let swept = false;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function keepDir(dir: string): void {
  liveDirs.add(dir);
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const d of [...liveDirs]) {
      try {
        removeDir(d);
      } catch {
        // best effort at exit: a directory that cannot be removed is left, not a crash
      }
    }
  });
}

/** See the module comment. */
export class ScriptProcess {
  readonly #child: ChildProcess;
  readonly #dir: string;
  readonly #rssLimitMb: number;
  readonly #cpuSeconds: number;
  readonly #watch: NodeJS.Timeout;
  #killedForRss: number | undefined;
  #heapExhausted = false;
  #ended = false;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  #reported = false;
  #cpuUsed = 0;

  /**
   * Starts the process; `onMessage` gets what it sends, `onExit` is called once when it is gone
   * (whoever ended it). Throws when it cannot be spawned at all.
   */
  constructor(c: ScriptActionConfig, onMessage: (msg: FromScriptChild) => void, onExit: (exit: ScriptExit) => void) {
    const user = scriptUser();
    this.#rssLimitMb = rssLimitMb(c);
    this.#cpuSeconds = cpuLimitSeconds(c);
    // A working directory of its own: relative paths in the script never land in the service's
    // directory (which may be the data directory), and whatever it writes goes away with it.
    sweepOrphans();
    this.#dir = mkdtempSync(join(tmpdir(), `mailsluice-script-${process.pid}-`));
    keepDir(this.#dir);
    if (user) chownSync(this.#dir, user.uid, user.gid);
    const node = [
      process.execPath,
      `--max-old-space-size=${c.memoryMb}`,
      // Type stripping is a flag on Node 22.6–22.17: the child needs it as the service has it.
      ...process.execArgv.filter((a) => a === '--experimental-strip-types'),
      fileURLToPath(CHILD_URL),
      SCRIPT_CHILD_MARK,
    ];
    const nofile = SCRIPT_TUNING.openFiles;
    const prlimit = findPrlimit();
    const argv = prlimit
      ? [prlimit, `--nofile=${nofile}`, `--cpu=${this.#cpuSeconds}`, '--', ...node]
      : ['/bin/sh', '-c', `ulimit -n ${nofile} && ulimit -t ${this.#cpuSeconds} && exec "$@"`, 'sh', ...node];
    this.#child = spawn(argv[0]!, argv.slice(1), {
      cwd: this.#dir,
      // Nothing of the service's environment (its secrets come from there); Node needs none.
      env: { ...c.env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
      // A process group of its own: a kill reaches whatever the script started too.
      detached: true,
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    });
    const child = this.#child;
    child.on('message', (msg: FromScriptChild) => onMessage(msg));
    // A spawn failure (EAGAIN, ENOENT) arrives as 'error' and may come without 'exit'.
    child.on('error', () => this.#exited(onExit, { code: null, signal: null }));
    child.on('exit', (code, signal) => this.#exited(onExit, { code, signal }));
    child.on('close', () => this.#closed(onExit));
    child.stderr?.on('data', (chunk: Buffer | string) => {
      if (!this.#heapExhausted && HEAP_OOM.test(String(chunk))) this.#heapExhausted = true;
    });
    this.#watch = setInterval(() => this.#look(), SCRIPT_TUNING.watchMs);
    this.#watch.unref();
  }

  get stdout(): Readable {
    return this.#child.stdout!;
  }

  get stderr(): Readable {
    return this.#child.stderr!;
  }

  /** CPU seconds used so far and the process's limit: an idle process near it is replaced. */
  get nearCpuLimit(): boolean {
    return this.#cpuUsed >= this.#cpuSeconds / 2;
  }

  /** Sends a message; false when the channel is gone (the process is ending). */
  send(msg: ToScriptChild): boolean {
    if (this.#ended || !this.#child.connected) return false;
    try {
      this.#child.send(msg);
      return true;
    } catch {
      return false;
    }
  }

  /** Whether an awaited call keeps the service's event loop alive (busy) or not (idle). */
  hold(busy: boolean): void {
    const handles = [this.#child, this.#child.channel, this.#child.stdout, this.#child.stderr] as Array<{ ref?: () => void; unref?: () => void } | null | undefined>;
    for (const h of handles) (busy ? h?.ref : h?.unref)?.call(h);
  }

  /** Kills the process and everything it started (SIGKILL to its group). */
  kill(): void {
    const pid = this.#child.pid;
    if (pid === undefined || this.#ended) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      try {
        this.#child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  #look(): void {
    const pid = this.#child.pid;
    if (pid === undefined || this.#ended) return;
    const s = readStat(pid);
    if (!s) return;
    this.#cpuUsed = s.cpuSeconds;
    if (s.rssMb > this.#rssLimitMb && this.#killedForRss === undefined) {
      this.#killedForRss = Math.round(s.rssMb);
      this.kill();
    }
  }

  /**
   * The process is gone: what it started goes too (SIGKILL to its group), then its output is
   * awaited (V8's out-of-memory sentence comes on stderr, after the exit) for a moment at most.
   */
  #exited(onExit: (exit: ScriptExit) => void, e: { code: number | null; signal: NodeJS.Signals | null }): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#exit = e;
    clearInterval(this.#watch);
    const pid = this.#child.pid;
    if (pid !== undefined) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // the group is empty
      }
    }
    setTimeout(() => this.#closed(onExit), SCRIPT_TUNING.outputGraceMs).unref();
  }

  #closed(onExit: (exit: ScriptExit) => void): void {
    const e = this.#exit;
    if (!e || this.#reported) return;
    this.#reported = true;
    removeDir(this.#dir);
    onExit({ ...e, heapExhausted: this.#heapExhausted, ...(this.#killedForRss !== undefined ? { rssMb: this.#killedForRss } : {}) });
  }
}
