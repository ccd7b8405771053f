/**
 * Hostile scripts against the real CLI and Dovecot (issue 12, items 2 and 3): a script that kills
 * its own process costs attempts, never the service; a message whose handling takes its runner
 * down (here: the test SIGKILLs the service while the script runs) is dead-lettered after
 * `maxAttempts` instead of crash-looping every restart; and a script sees none of the service's
 * secrets: its environment, the configuration file, a `{ file }` secret, `api-url.key`, nor its
 * root user.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDovecot, type DovecotInstance } from '../harness/dovecot.js';
import { imapConnection, makeWorkspace, runCli, spawnCli, type Workspace } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { startWebhookReceiver, waitFor } from '../harness/webhook-receiver.js';
import { freePort } from '../harness/free-port.js';

let dovecot: DovecotInstance;
before(async () => {
  dovecot = await startDovecot();
});
after(async () => {
  await dovecot?.stop();
});

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

interface Delivery {
  id: string;
  state: string;
  attempts: number;
  lastError: string | null;
}

async function deliveries(ws: Workspace, env: NodeJS.ProcessEnv = {}): Promise<Delivery[]> {
  const r = await runCli(['deliveries', 'list', '--json'], ws, env);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Delivery);
}

/** A directory the script may use (it runs as another user when the tests run as root). */
function openDir(ws: Workspace, name: string): string {
  const d = join(ws.dir, name);
  mkdirSync(d);
  chmodSync(d, 0o777);
  return d;
}

/** The workspace is readable like /etc or /var/lib: only the files' own modes protect them. */
function likeSystemDirs(ws: Workspace): void {
  chmodSync(ws.dir, 0o755);
}

test('a script that SIGKILLs its own process: dead-lettered after its attempts, the others delivered, drain exits normally', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [makeMessage(1), makeMessage(2, { tag: 'die' }), makeMessage(3)]);
  const ws = makeWorkspace();
  likeSystemDirs(ws);
  const scripts = openDir(ws, 'scripts');
  writeFileSync(join(scripts, 'suicide.mjs'), "export function handle(m) { if (m.Subject.endsWith('die')) process.kill(process.pid, 'SIGKILL'); }\n");
  ws.writeConfig({
    connections: [imapConnection(dovecot, user)],
    deliveryRetry: { baseMs: 50, maxMs: 100 },
    routes: [{ name: 'tag', connection: 'journal', scenario: [{ action: 'script', module: './scripts/suicide.mjs', timeoutMs: 10_000, maxAttempts: 2 }] }],
  });
  // The scripts' working directories go in a temporary directory of the test's own, to be counted.
  const tmp = openDir(ws, 'tmp');
  try {
    const r = await runCli(['drain'], ws, { TMPDIR: tmp });
    assert.equal(r.signal, null, `drain was killed: ${r.stderr}`);
    // It ends by itself, and says that one delivery was dead-lettered (exit 1, SPEC: non-zero on failure).
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^mailsluice: DELIVERIES_DEAD: 1 delivery was dead-lettered \(tag: 1\)/m);
    assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('mailsluice-script-')), [], 'no script working directory is left after drain exits');
    const ds = await deliveries(ws);
    assert.deepEqual(ds.map((d) => d.state).sort(), ['dead', 'done', 'done']);
    const dead = ds.find((d) => d.state === 'dead')!;
    assert.equal(dead.attempts, 2);
    assert.match(dead.lastError ?? '', /^ACTION_SCRIPT_CRASHED: .*was killed by SIGKILL while handling the message/);
  } finally {
    ws.cleanup();
  }
});

test('under start, a script that SIGKILLs its own process: dead-lettered after its attempts, the service keeps running and stops normally', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [makeMessage(1, { tag: 'die' }), makeMessage(2)]);
  const ws = makeWorkspace();
  likeSystemDirs(ws);
  const scripts = openDir(ws, 'scripts');
  writeFileSync(join(scripts, 'suicide.mjs'), "export function handle(m) { if (m.Subject.endsWith('die')) process.kill(process.pid, 'SIGKILL'); }\n");
  ws.writeConfig({
    connections: [imapConnection(dovecot, user)],
    deliveryRetry: { baseMs: 50, maxMs: 100 },
    routes: [{ name: 'tag', connection: 'journal', scenario: [{ action: 'script', module: './scripts/suicide.mjs', timeoutMs: 10_000, maxAttempts: 3 }] }],
  });
  const child = spawnCli(['start'], ws);
  let stderr = '';
  child.stdout!.resume();
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  try {
    let states: string[] = [];
    const deadline = Date.now() + 60_000;
    // The reading commands make no archive (ARCHIVE_NOT_FOUND): wait until start has made it.
    await waitFor(() => existsSync(join(ws.dataDir, 'archive.db')) && statSync(join(ws.dataDir, 'archive.db')).size > 0, 30_000, 'start to create the archive');
    while (Date.now() < deadline) {
      states = (await deliveries(ws)).map((d) => d.state).sort();
      if (states.join() === 'dead,done') break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.deepEqual(states, ['dead', 'done'], stderr);
    assert.equal(child.exitCode, null, `the service is still running: ${stderr}`);
    child.kill('SIGTERM');
    assert.deepEqual(await exited, { code: 0, signal: null }, stderr);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    ws.cleanup();
  }
});

test('a message whose handling kills the service is dead-lettered after maxAttempts; it is not run again, the others are delivered', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [makeMessage(1), makeMessage(2, { tag: 'hang' }), makeMessage(3)]);
  const ws = makeWorkspace();
  likeSystemDirs(ws);
  const scripts = openDir(ws, 'scripts');
  const marks = openDir(ws, 'marks');
  // Marks each run of the hostile message (with the script process's pid), then never finishes:
  // the test kills the service meanwhile, as a script that took its runner down would.
  writeFileSync(
    join(scripts, 'hang.mjs'),
    `import { writeFileSync } from 'node:fs';
     export async function handle(m, ctx) {
       if (!m.Subject.endsWith('hang')) return;
       writeFileSync(${JSON.stringify(marks)} + '/run-' + ctx.attempt + '-' + process.pid, '');
       await new Promise(() => {});
     }\n`,
  );
  ws.writeConfig({
    connections: [imapConnection(dovecot, user)],
    deliveryRetry: { baseMs: 50, maxMs: 100 },
    routes: [{ name: 'tag', connection: 'journal', scenario: [{ action: 'script', module: './scripts/hang.mjs', timeoutMs: 120_000, maxAttempts: 2 }] }],
  });
  // The scripts' working directories in a directory of the test's own: a killed service leaves
  // its own behind, which the next one that runs a script removes.
  const tmp = openDir(ws, 'tmp');
  try {
    for (let run = 1; run <= 2; run++) {
      // Once as the service, once as a drain.
      const child = spawnCli([run === 1 ? 'start' : 'drain'], ws, { TMPDIR: tmp });
      child.stdout!.resume();
      child.stderr!.resume();
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      await waitFor(() => readdirSync(marks).length >= run, 30_000, `run ${run} of the hostile message`);
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL');
    }
    const runs = readdirSync(marks);
    assert.deepEqual(runs.map((n) => n.split('-')[1]).sort(), ['1', '2'], 'each killed run counted an attempt');
    // The script processes of the killed services did not outlive them.
    await waitFor(() => runs.every((n) => !alive(Number(n.split('-')[2]))), 10_000, 'the script processes to end');

    // The second run removed what the first, killed, left; its own is left by its own death.
    assert.equal(readdirSync(tmp).filter((f) => f.startsWith('mailsluice-script-')).length, 1, 'the killed drain left its script directory');
    const r = await runCli(['drain'], ws, { TMPDIR: tmp });
    assert.equal(r.signal, null, `drain was killed: ${r.stderr}`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^mailsluice: DELIVERIES_DEAD: 1 delivery was dead-lettered \(tag: 1\)/m);
    assert.equal(readdirSync(marks).length, 2, 'the message was not run a third time');
    assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('mailsluice-script-')), [], 'the killed services\' script directories were removed, and this drain left none');
    const ds = await deliveries(ws);
    assert.deepEqual(ds.map((d) => d.state).sort(), ['dead', 'done', 'done']);
    const dead = ds.find((d) => d.state === 'dead')!;
    assert.equal(dead.attempts, 2);
    assert.match(dead.lastError ?? '', /^DELIVERY_INTERRUPTED: attempt 2 of step 0 never ended/);
  } finally {
    ws.cleanup();
  }
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}


test("a script sees none of the service's secrets: environment, config file, { file } secret, api-url.key, root", { skip: !isRoot && 'needs root: a script runs as another user only when the service is root' }, async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [makeMessage(1)]);
  const hookSecret = 'whsec-file-secret-73019';
  const recv = await startWebhookReceiver({ secret: hookSecret });
  const ws = makeWorkspace();
  likeSystemDirs(ws);
  const scripts = openDir(ws, 'scripts');
  const secretFile = join(ws.dir, 'hook.secret');
  writeFileSync(secretFile, hookSecret, { mode: 0o600 });
  const port = await freePort();
  writeFileSync(
    join(scripts, 'snoop.mjs'),
    `import { readFileSync } from 'node:fs';
     import { execFileSync } from 'node:child_process';
     const tryRead = (p) => { try { return 'READ:' + readFileSync(p, 'latin1'); } catch (e) { return 'DENIED:' + e.code; } };
     export function handle() {
       const seen = {
         env: JSON.stringify(process.env),
         selfEnviron: tryRead('/proc/self/environ'),
         serviceEnviron: tryRead('/proc/' + process.ppid + '/environ'),
         config: tryRead(${JSON.stringify(ws.configPath)}),
         fileSecret: tryRead(${JSON.stringify(secretFile)}),
         urlKey: tryRead(${JSON.stringify(join(ws.dataDir, 'api-url.key'))}),
         uid: execFileSync('/usr/bin/id', ['-u'], { encoding: 'utf8' }).trim(),
         cwd: process.cwd(),
       };
       throw new Error('SEEN ' + JSON.stringify(seen));
     }\n`,
  );
  ws.writeConfig({
    connections: [imapConnection(dovecot, user, { auth: { type: 'basic', username: user.username, password: { env: 'MAILBOX_PASSWORD' } } })],
    api: { listen: `127.0.0.1:${port}` },
    routes: [
      { name: 'snoop', connection: 'journal', scenario: [{ action: 'script', module: './scripts/snoop.mjs', timeoutMs: 10_000, maxAttempts: 1 }] },
      { name: 'hook', connection: 'journal', scenario: [{ action: 'webhook', url: recv.url, secret: { file: secretFile } }] },
    ],
  });
  // The operator keeps the configuration to the service's user, as it names the secrets.
  chmodSync(ws.configPath, 0o600);
  try {
    const env = { MAILBOX_PASSWORD: user.password, MAILSLUICE_TEST_TOKEN: 'env-token-58213' };
    const r = await runCli(['drain'], ws, env);
    assert.equal(recv.requests.length, 1, `the webhook route ran with its { file } secret: ${r.stderr}`);
    assert.ok(readFileSync(join(ws.dataDir, 'api-url.key')).length === 32, 'the API made its key');
    const dead = (await deliveries(ws, env)).find((d) => d.id.includes('.snoop.'));
    const text = dead?.lastError ?? '';
    const seen = JSON.parse(/SEEN (\{.*\})\.$/.exec(text)?.[1] ?? 'null') as Record<'env' | 'selfEnviron' | 'serviceEnviron' | 'config' | 'fileSecret' | 'urlKey' | 'uid' | 'cwd', string> | null;
    assert.ok(seen, `the script reported what it saw: ${text}`);
    assert.equal(seen.env, '{}');
    for (const secret of [user.password, 'env-token-58213', hookSecret]) assert.ok(!text.includes(secret), `a secret leaked: ${text}`);
    assert.ok(!seen.selfEnviron.includes('MAILBOX_PASSWORD'), seen.selfEnviron);
    assert.equal(seen.serviceEnviron, 'DENIED:EACCES');
    assert.equal(seen.config, 'DENIED:EACCES');
    assert.equal(seen.fileSecret, 'DENIED:EACCES');
    assert.equal(seen.urlKey, 'DENIED:EACCES');
    assert.equal(seen.uid, '65534', 'a process the script starts is not root');
    assert.ok(!seen.cwd.startsWith(ws.dir), `the script's working directory is its own: ${seen.cwd}`);
  } finally {
    await recv.close();
    ws.cleanup();
  }
});
