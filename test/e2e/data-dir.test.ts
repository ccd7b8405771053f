/**
 * Issue 12, items 4 and 11: the data directory belongs to one process at a time, and to its owner
 * only.
 *
 * - A `drain` (or a second `start`) on the data directory of a running `start` fails at once with
 *   `DATA_DIR_LOCKED` naming the holder's pid; the webhook receiver gets each message once.
 * - The lock dies with its holder: after a SIGKILL, a new `drain` runs.
 * - The reading commands work beside a running `start`, which they neither block nor disturb.
 * - Under umask 022, a drain, the service and `export` leave every directory 0700 and every file
 *   0600 (export: `--mode` when asked); an older data directory left 0755/0644 is tightened, and
 *   the log says so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, makeWorkspace, runCli, spawnCli, type CliResult, type Workspace } from '../harness/cli.js';
import { runUnderUmask022, spawnUnderUmask022, wrongModes } from '../harness/modes.js';
import { makeMessage } from '../harness/messages.js';
import { startWebhookReceiver, waitFor, type WebhookReceiver } from '../harness/webhook-receiver.js';
import { LOCK_HOLDER_FILE, lockDataDir } from '../../src/adapters/store-sqlite/index.js';
import { isMailsluiceError } from '../../src/core/errors/index.js';
import { freePort } from '../harness/free-port.js';

const dovecot = dovecotPerFile();

/** Collects a child's stderr. */
function stderrOf(child: ChildProcess): { text: string } {
  const out = { text: '' };
  child.stderr!.on('data', (d: Buffer) => (out.text += d.toString()));
  return out;
}

/** Resolves once the service has started: by then it holds the data directory. */
async function started(err: { text: string }): Promise<void> {
  await waitFor(() => err.text.includes('"msg":"mailsluice started"'), 20_000, `the service to start (stderr: ${err.text})`);
}

/** The pid `lock.pid` names, if any. */
function holderPid(ws: Workspace): number | undefined {
  const file = join(ws.dataDir, LOCK_HOLDER_FILE);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { pid: number }).pid : undefined;
}

/** Each message's deliveries by subject: every one exactly once. */
function assertEachOnce(receiver: WebhookReceiver, count: number): void {
  const bySubject = new Map<string, number>();
  for (const r of receiver.requests) bySubject.set(r.body.message.Subject, (bySubject.get(r.body.message.Subject) ?? 0) + 1);
  assert.equal(bySubject.size, count, `the receiver got ${bySubject.size} of ${count} messages`);
  const twice = [...bySubject].filter(([, n]) => n > 1);
  assert.deepEqual(twice, [], 'messages delivered more than once');
}

async function workspaceWithMail(count: number, receiver: WebhookReceiver, extra: Record<string, unknown> = {}): Promise<Workspace> {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, Array.from({ length: count }, (_, i) => makeMessage(i, { bodyBytes: 2000 })));
  return makeWorkspace({
    connections: [imapConnection(dovecot, user, { maxMessagesPerCycle: 50, logging: 'full' })],
    routes: [{ name: 'hook', connection: 'journal', scenario: [{ action: 'webhook', url: receiver.url }] }],
    ...extra,
  });
}

async function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = once(child, 'exit');
  child.kill(signal);
  const [code] = (await exited) as [number | null];
  return code;
}

test('a drain or a second start on the data directory of a running start fails at once naming its pid; nothing is delivered twice; SIGKILL releases it', async () => {
  const COUNT = 300;
  const receiver = await startWebhookReceiver();
  // A little time per request, so the service is still at work when the second process comes.
  receiver.answer(() => ({ status: 200, delayMs: 2 }));
  const ws = await workspaceWithMail(COUNT, receiver);
  const start = spawnCli(['start'], ws);
  const err = stderrOf(start);
  try {
    await started(err);
    for (const command of ['drain', 'start']) {
      const t0 = Date.now();
      const r = await runCli([command], ws);
      const ms = Date.now() - t0;
      // Seen once in a loaded fresh-clone run: a drain that was not refused. Say whether the holder was still alive and what it logged.
      assert.equal(r.code, 1, `${command} beside start: ${r.stderr}; start exit ${String(start.exitCode)} signal ${String(start.signalCode)}; start's stderr ends: ${err.text.slice(-2000)}`);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, `one line: ${r.stderr}`);
      assert.match(lines[0]!, new RegExp(`^mailsluice: DATA_DIR_LOCKED: data directory .* is in use by another mailsluice process \\(pid ${start.pid}, "start" since `));
      // "At once": refused while the holder still runs. A whole CLI run is mostly Node starting,
      // 1 to 11 s on a loaded 2-core machine, so only a hang is bounded here; the lock's own
      // answer is timed below.
      assert.equal(start.exitCode, null, 'the holder still runs');
      assert.ok(ms < 60_000, `${command} took ${ms} ms to be refused`);
      console.log(`${command} beside start refused in ${ms} ms (whole CLI run)`);
    }
    assert.equal(holderPid(ws), start.pid, `${LOCK_HOLDER_FILE} names the service`);
    // The lock itself answers in milliseconds.
    const t0 = process.hrtime.bigint();
    assert.throws(() => lockDataDir(ws.dataDir, 'test'), (e: unknown) => isMailsluiceError(e, 'DATA_DIR_LOCKED') && e.message.includes(`pid ${start.pid}`));
    const refusedMs = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(`lock held elsewhere detected in ${refusedMs.toFixed(1)} ms`);
    assert.ok(refusedMs < 1000, `the lock took ${refusedMs} ms to refuse`);

    await waitFor(() => receiver.accepted().length >= COUNT, 60_000, `all ${COUNT} deliveries (stderr: ${err.text})`);
    await new Promise((r) => setTimeout(r, 300)); // room for a duplicate to show up
    assertEachOnce(receiver, COUNT);

    // SIGKILL: no clean-up runs, the kernel drops the lock with the process.
    const killedAt = process.hrtime.bigint();
    await stop(start, 'SIGKILL');
    const lock = lockDataDir(ws.dataDir, 'test');
    console.log(`lock taken ${(Number(process.hrtime.bigint() - killedAt) / 1e6).toFixed(1)} ms after the SIGKILL (exit seen included)`);
    lock.release();
    const after = await runCli(['drain'], ws);
    assert.equal(after.code, 0, `drain after the SIGKILL: ${after.stderr}`);
    assert.equal(existsSync(join(ws.dataDir, LOCK_HOLDER_FILE)), false, 'a clean exit removes its lock.pid');
    assertEachOnce(receiver, COUNT);
  } finally {
    await stop(start, 'SIGKILL');
    await receiver.close();
    ws.cleanup();
  }
});

test('stats, search, export, logs and deliveries list (and deliveries retry) run beside a running start and do not disturb it', async () => {
  const COUNT = 300;
  const receiver = await startWebhookReceiver();
  receiver.answer(() => ({ status: 200, delayMs: 2 }));
  const ws = await workspaceWithMail(COUNT, receiver);
  const start = spawnCli(['start'], ws);
  const err = stderrOf(start);
  try {
    await started(err);
    // `deliveries retry` writes, through SQLite's own locking, beside the service (ADR 0014).
    const readers = [['stats'], ['search', 'Report'], ['export', '--out', 'exported'], ['logs', 'journal'], ['deliveries', 'list'], ['deliveries', 'retry', '--all-dead']];
    let rounds = 0;
    // While the service takes and delivers, and once more after it is done.
    for (let done = false; !done; ) {
      done = receiver.accepted().length >= COUNT;
      for (const args of readers) {
        const r: CliResult = await runCli(args, ws);
        assert.equal(r.code, 0, `${args.join(' ')} beside start: ${r.stderr}`);
        assert.doesNotMatch(r.stderr, /mailsluice: [A-Z_]+:/, `${args.join(' ')}: ${r.stderr}`);
      }
      rounds++;
      assert.ok(rounds < 40, `the service did not deliver ${COUNT} messages (stderr: ${err.text})`);
    }
    const stats = await runCli(['stats', '--json'], ws);
    assert.equal((JSON.parse(stats.stdout) as { messages: number }).messages, COUNT);
    assertEachOnce(receiver, COUNT);
    assert.equal(start.exitCode, null, 'the service still runs');
    assert.doesNotMatch(err.text, /"level":"error"/, 'the service logged no error');
    assert.equal(await stop(start, 'SIGTERM'), 0, err.text);
  } finally {
    await stop(start, 'SIGKILL');
    await receiver.close();
    ws.cleanup();
  }
});

function listTree(dir: string): string[] {
  const out: string[] = [];
  const visit = (rel: string): void => {
    for (const n of readdirSync(join(dir, rel))) {
      const r = rel ? `${rel}/${n}` : n;
      out.push(r);
      if (statSync(join(dir, r)).isDirectory()) visit(r);
    }
  };
  visit('');
  return out;
}


test('under umask 022 the data directory and exports are readable by their owner only; an older 0755 data directory is tightened', async () => {
  const receiver = await startWebhookReceiver();
  const port = await freePort();
  // The API on: its URL key is made in the data directory too.
  const ws = await workspaceWithMail(20, receiver, { api: { enabled: true, listen: `127.0.0.1:${port}` } });
  try {
    const drain = await runUnderUmask022(['drain'], ws);
    assert.equal(drain.code, 0, drain.stderr);
    assert.deepEqual(wrongModes(ws.dataDir), []);
    const files = listTree(ws.dataDir);
    for (const expected of ['archive.db', 'search.db', 'blobs', 'logs', 'logs/journal.log', 'api-url.key', 'lock.db']) {
      assert.ok(files.includes(expected), `${expected} in ${files.join(', ')}`);
    }
    assert.ok(files.some((f) => /^blobs\/.*\.mspack$/.test(f)), `a pack file in ${files.join(', ')}`);

    // Exports: 0600 files (eml and mbox) in a 0700 directory it makes; --mode when asked.
    for (const args of [['export', '--out', 'eml'], ['export', '--format', 'mbox', '--out', 'mbox']]) {
      const r = await runUnderUmask022(args, ws);
      assert.equal(r.code, 0, r.stderr);
      const out = join(ws.dir, args.at(-1)!);
      assert.ok(readdirSync(out).length > 0, `${out} has files`);
      assert.deepEqual(wrongModes(out), []);
    }
    const shared = await runUnderUmask022(['export', '--mode', '640', '--out', 'shared'], ws);
    assert.equal(shared.code, 0, shared.stderr);
    assert.deepEqual(wrongModes(join(ws.dir, 'shared'), { dir: 0o750, file: 0o640 }), []);

    // While the service runs: the WAL files of both databases and lock.pid are there too.
    const start = spawnUnderUmask022(['start'], ws);
    const err = stderrOf(start);
    try {
      await waitFor(() => existsSync(join(ws.dataDir, 'archive.db-wal')) && existsSync(join(ws.dataDir, 'search.db-wal')), 20_000, `the service's WAL files (stderr: ${err.text})`);
      await started(err);
      assert.equal(holderPid(ws), start.pid);
      const running = listTree(ws.dataDir);
      for (const f of ['archive.db-wal', 'archive.db-shm', 'search.db-wal', 'search.db-shm', 'lock.pid']) assert.ok(running.includes(f), `${f} in ${running.join(', ')}`);
      assert.deepEqual(wrongModes(ws.dataDir), []);
      assert.equal(await stop(start, 'SIGTERM'), 0, err.text);
    } finally {
      await stop(start, 'SIGKILL');
    }

    // A data directory an older version left readable by all is tightened, and the log says so.
    chmodSync(ws.dataDir, 0o755);
    chmodSync(join(ws.dataDir, 'blobs'), 0o755);
    chmodSync(join(ws.dataDir, 'archive.db'), 0o644);
    chmodSync(join(ws.dataDir, 'logs', 'journal.log'), 0o644);
    const again = await runUnderUmask022(['drain'], ws);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /"msg":"data directory was readable by other users; tightened to owner only \(directories 0700, files 0600\)".*"changed":4/);
    assert.deepEqual(wrongModes(ws.dataDir), []);
  } finally {
    await receiver.close();
    ws.cleanup();
  }
});
