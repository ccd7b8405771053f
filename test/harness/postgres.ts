/**
 * PostgreSQL for the tests: a fresh schema per test (random name, dropped after) in a real server.
 *
 * The server is the one these machines run at 127.0.0.1:5432 (trust auth, database `test`), or the
 * one `MAILSLUICE_TEST_PG_URL` names. When nothing answers there, a private server is started from
 * Debian's packages (installed with apt-get when missing): `initdb` into a temporary directory,
 * `pg_ctl start` on a free loopback port, stopped by its postmaster's PID when this process exits.
 * Nothing is ever skipped: a server that can be neither reached nor started fails the test.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { aptInstall } from './dovecot.js';
import { freePort } from './free-port.js';

const execFileP = promisify(execFile);

/** Where the tests look first. */
export const DEFAULT_TEST_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** A server the tests can use. */
export interface TestPostgres {
  /** A connection URL (database `test`). */
  url: string;
  /** The postmaster's PID when this process started the server; undefined for the machine's own. */
  pid?: number;
}

/** A fresh, empty schema on the test server. */
export interface TestSchema {
  url: string;
  schema: string;
  /** Drops the schema and everything in it. */
  drop(): Promise<void>;
}

/** Whether a server answers a query at `url` within a couple of seconds. */
export async function pgAnswers(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** The directory of Debian's PostgreSQL binaries (the newest major installed), or undefined. */
function debianBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const majors = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl'))).sort((a, b) => Number(b) - Number(a));
  return majors[0] ? join(root, majors[0], 'bin') : undefined;
}

/** PostgreSQL refuses to run as root: as root the server runs as the `postgres` user the package creates. */
function asServerUser(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

/** The private servers of this process: postmaster PID, directory, how to start it again. */
const started: Array<{ pid: number; dir: string; start: () => Promise<number> }> = [];
process.on('exit', () => {
  // Immediate shutdown (SIGQUIT): the data directory is thrown away anyway. Waited for (up to
  // 5 s, synchronously: this is an exit handler) so the directory is not removed under it.
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (const s of started) {
    if (alive(s.pid)) process.kill(s.pid, 'SIGQUIT');
    for (let i = 0; i < 100 && alive(s.pid); i++) Atomics.wait(pause, 0, 0, 50);
    rmSync(s.dir, { recursive: true, force: true });
  }
});

/**
 * Starts a private server: trust auth, listening on 127.0.0.1 only, a database `test`. Installs
 * Debian's `postgresql` when its binaries are missing. Throws with the server's log when it does
 * not come up.
 */
export async function startPrivatePostgres(): Promise<TestPostgres> {
  let bin = debianBinDir();
  if (!bin) {
    if (process.getuid?.() !== 0) throw new Error('PostgreSQL is not installed and the tests are not root: apt-get install postgresql, or set MAILSLUICE_TEST_PG_URL.');
    await aptInstall(['postgresql']);
    bin = debianBinDir();
    if (!bin) throw new Error('PostgreSQL binaries are still missing under /usr/lib/postgresql after installing the postgresql package.');
  }
  const dir = mkdtempSync(join(tmpdir(), 'ms-pg-'));
  const data = join(dir, 'data');
  if (process.getuid?.() === 0) chownSync(dir, Number((await execFileP('id', ['-u', 'postgres'])).stdout.trim()), Number((await execFileP('id', ['-g', 'postgres'])).stdout.trim()));
  const port = await freePort();
  const run = async (cmd: string, args: string[]): Promise<void> => {
    const [c, a] = asServerUser(join(bin, cmd), args);
    await execFileP(c, a, { timeout: 60_000 });
  };
  // The Unix socket in our directory (not /var/run/postgresql); fsync off: the data is thrown away.
  const opts = `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off -c max_connections=200`;
  const start = async (): Promise<number> => {
    try {
      await run('pg_ctl', ['start', '-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', '-o', opts]);
    } catch (err) {
      const log = existsSync(join(dir, 'log')) ? readFileSync(join(dir, 'log'), 'utf8') : '';
      throw new Error(`could not start a private PostgreSQL on 127.0.0.1:${port}: ${(err as Error).message}\n${log}`, { cause: err });
    }
    return Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  };
  let pid: number;
  try {
    await run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    pid = await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  started.push({ pid, dir, start });
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  try {
    await admin.query('CREATE DATABASE test');
  } finally {
    await admin.end();
  }
  return { url: `postgres://postgres@127.0.0.1:${port}/test`, pid };
}

/** Sends `signal` to the postmaster `pid` and waits (up to 10 s) until it is gone. */
async function stopPid(pid: number, signal: NodeJS.Signals): Promise<void> {
  try {
    process.kill(pid, signal);
  } catch {
    return; // gone already
  }
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`PostgreSQL ${pid} did not stop within 10 s of ${signal}`);
}

/** Stops a private server by its PID (fast shutdown) and removes its directory. */
export async function stopPrivatePostgres(server: TestPostgres): Promise<void> {
  const s = started.find((x) => x.pid === server.pid);
  if (!s) return;
  started.splice(started.indexOf(s), 1);
  await stopPid(s.pid, 'SIGINT');
  rmSync(s.dir, { recursive: true, force: true });
}

/**
 * Restarts a private server on the same port and data (an infrastructure fault): stops it by its
 * PID (fast shutdown: sessions are cut), runs `whileDown`, starts it again. Updates `server.pid`.
 */
export async function restartPrivatePostgres(server: TestPostgres, whileDown: () => Promise<void> = async () => undefined): Promise<void> {
  const s = started.find((x) => x.pid === server.pid);
  if (!s) throw new Error('restartPrivatePostgres: not a server this process started');
  await stopPid(s.pid, 'SIGINT');
  await whileDown();
  s.pid = await s.start();
  server.pid = s.pid;
}

let server: Promise<TestPostgres> | undefined;

/** The server for this test process: the configured one when it answers, else a private one (started once). */
export function testPostgres(): Promise<TestPostgres> {
  server ??= (async () => {
    const url = process.env['MAILSLUICE_TEST_PG_URL'] ?? DEFAULT_TEST_PG_URL;
    if (await pgAnswers(url)) return { url };
    return startPrivatePostgres();
  })();
  return server;
}

/** A fresh schema `ms_t_<random>` on the test server; `drop()` removes it with everything in it. */
export async function freshSchema(): Promise<TestSchema> {
  const { url } = await testPostgres();
  const schema = `ms_t_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string): Promise<void> => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE SCHEMA ${schema}`);
  return { url, schema, drop: () => admin(`DROP SCHEMA IF EXISTS ${schema} CASCADE`) };
}
