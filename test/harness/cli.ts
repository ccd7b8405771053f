/**
 * Runs the real `mailsluice` binary against a private data directory and config, as an
 * operator would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { stringify } from 'yaml';

/** The repository root (dist/test/harness → ../../..). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The CLI entry. */
export const BIN = join(REPO_ROOT, 'bin', 'mailsluice.js');

/** A private working directory with a config file. */
export interface Workspace {
  dir: string;
  configPath: string;
  dataDir: string;
  writeConfig(config: Record<string, unknown>): void;
  cleanup(): void;
}

/**
 * Makes a temp workspace; `config` is written as YAML (dataDir defaults to ./data). The HTTP API
 * is off unless the config has an `api` section: its default address is one fixed port, which
 * test files running side by side (and the benchmark) would fight over; a test of the API gives
 * it a free port of its own.
 */
export function makeWorkspace(config?: Record<string, unknown>): Workspace {
  const dir = mkdtempSync(join(tmpdir(), 'mailsluice-test-'));
  const ws: Workspace = {
    dir,
    configPath: join(dir, 'mailsluice.yaml'),
    dataDir: join(dir, 'data'),
    writeConfig(c) {
      writeFileSync(ws.configPath, stringify({ dataDir: './data', api: { enabled: false }, ...c }));
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (config) ws.writeConfig(config);
  return ws;
}

/** Result of a CLI run. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts the CLI; the caller may kill it. */
export function spawnCli(args: string[], ws: Workspace, env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args, '--config', ws.configPath], { cwd: ws.dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Waits for a started CLI (however it was spawned) to end, with everything it printed. */
export function collectCli(child: ChildProcess): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
  });
}

/**
 * Runs `mailsluice drain --json` to completion with the benchmark's RSS probe preloaded
 * (bench/rss-probe.ts): what it printed, and its peak resident memory (the kernel's VmHWM, read
 * by the process itself at exit, every thread counted).
 */
export async function drainMeasured(ws: Workspace): Promise<CliResult & { peakMB: number }> {
  const probeFile = join(ws.dir, 'probe.json');
  const probe = pathToFileURL(join(REPO_ROOT, 'dist', 'bench', 'rss-probe.js')).href;
  const r = await collectCli(
    spawn(process.execPath, ['--import', probe, BIN, 'drain', '--json', '--config', ws.configPath], {
      cwd: ws.dir,
      env: { ...process.env, MAILSLUICE_BENCH_PROBE: probeFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const peakMB = r.code === 0 ? (JSON.parse(readFileSync(probeFile, 'utf8')) as { vmHwmKb: number }).vmHwmKb / 1024 : NaN;
  return { ...r, peakMB };
}

/** Runs the CLI to completion. */
export function runCli(args: string[], ws: Workspace, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return collectCli(spawnCli(args, ws, env));
}

/**
 * Runs the CLI to completion, killing it (and failing with what it printed to stderr) when it has
 * not ended within `ms`: for tests where a hang is the bug.
 */
export function runCliWithin(args: string[], ws: Workspace, ms: number, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const child = spawnCli(args, ws, env);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mailsluice ${args.join(' ')} still running after ${ms} ms (hung); stderr so far:\n${stderr.slice(-3000)}`));
    }, ms);
    collectCli(child).then(
      (r) => {
        clearTimeout(timer);
        resolvePromise(r);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/**
 * The crash tests' runs: `kills` times, the command `args(i)` started and killed with SIGKILL at
 * a random moment `minMs` to `minMs + spreadMs` after its start (`random`: the test's seeded
 * generator). A run that ends by itself must end with 0; `untilDone` stops at the first such run
 * (the work is finished). Answers how many runs were killed.
 */
export async function runKilledAtRandom(
  ws: Workspace,
  o: { args: (run: number) => string[]; kills: number; minMs: number; spreadMs: number; random: () => number; seed: number; untilDone: boolean },
): Promise<number> {
  let killed = 0;
  for (let i = 0; i < o.kills; i++) {
    const child = spawnCli(o.args(i), ws);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolvePromise) => child.on('exit', (code) => resolvePromise(code)));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.minMs + Math.floor(o.random() * o.spreadMs));
    const code = await exited;
    clearTimeout(timer);
    if (code === null) killed++;
    else if (code !== 0) throw new Error(`run ${i} (${o.args(i).join(' ')}) failed with exit code ${code} (seed ${o.seed}): ${stderr}`);
    else if (o.untilDone) break;
  }
  return killed;
}

/** An IMAP connection entry for a test Dovecot user. */
export function imapConnection(
  d: { host: string; imapPort: number; imapsPort: number; caCertPath: string },
  user: { username: string; password: string },
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name: 'journal',
    protocol: 'imap',
    host: d.host,
    port: d.imapPort,
    tlsPort: d.imapsPort,
    security: 'starttls',
    tls: { verify: true, ca: { file: d.caCertPath } },
    auth: { type: 'basic', username: user.username, password: user.password },
    pollIntervalMs: 50,
    ...extra,
  };
}

/** A POP3 connection entry for a test Dovecot user (STLS required, verified against the test CA). */
export function pop3Connection(
  d: { host: string; pop3Port: number; pop3sPort: number; caCertPath: string },
  user: { username: string; password: string },
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name: 'journal',
    protocol: 'pop3',
    host: d.host,
    port: d.pop3Port,
    tlsPort: d.pop3sPort,
    security: 'starttls',
    tls: { verify: true, ca: { file: d.caCertPath } },
    auth: { type: 'basic', username: user.username, password: user.password },
    pollIntervalMs: 50,
    ...extra,
  };
}
