/**
 * Scale-out workers (issue 20, items 4 and 5) against the real servers: Dovecot, the machine's
 * PostgreSQL (a fresh schema) and a private Ceph RGW. Two `mailsluice start` processes in
 * `mode: scale-out` share three mailboxes: the connections spread between them; each message
 * is in the bucket byte for byte, gone from its mailbox, and delivered to the webhook once; a
 * worker killed with SIGKILL has its connections taken over by the other within its lease term;
 * and the fencing token recorded with every commit shows no two workers ever held one
 * connection at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { cephRgwPerFile } from '../harness/ceph-rgw.js';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { freshSchema } from '../harness/postgres.js';
import { imapConnection, makeWorkspace, spawnCli, type Workspace } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { startWebhookReceiver } from '../harness/webhook-receiver.js';
import { createS3BlobStore } from '../../src/adapters/blob-s3/index.js';

const ceph = cephRgwPerFile();
const dovecot = dovecotPerFile();
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function until(what: string, probe: () => Promise<boolean> | boolean, ms: number): Promise<number> {
  const started = Date.now();
  while (!(await probe())) {
    assert.ok(Date.now() - started < ms, `${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return Date.now() - started;
}

/** A worker process with its own dataDir, and its stderr kept for the failure message. */
function startWorker(ws: Workspace, env: NodeJS.ProcessEnv): { child: ChildProcess; log: () => string } {
  const child = spawnCli(['start'], ws, env);
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  return { child, log: () => log };
}

async function exited(child: ChildProcess, killAfterMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  // A worker that does not stop on SIGTERM fails the test, but is not left running.
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  await new Promise((r) => child.once('exit', r));
  clearTimeout(timer);
}

test('two workers share the connections, survive a SIGKILL of one, and archive each message once', async () => {
  const db = await freshSchema();
  const bucket = await ceph.createBucket('workers');
  const hook = await startWebhookReceiver({ secret: 'hook-secret' });
  const users = [await dovecot.createUser(), await dovecot.createUser(), await dovecot.createUser()];
  const names = ['alpha', 'beta', 'gamma'];
  const sent = new Map<string, Buffer>();
  let n = 0;
  const deliver = async (user: number, count: number): Promise<void> => {
    // Written into the Maildir as they are (LMTP would add trace headers): the bytes archived are these.
    const raws = Array.from({ length: count }, () => makeMessage(n++));
    for (const raw of raws) sent.set(sha(raw), raw);
    await dovecot.loadMaildir(users[user]!.username, raws);
  };
  const config = {
    mode: 'scale-out',
    scaleOut: {
      postgres: { url: { env: 'TEST_PG_URL' }, schema: db.schema },
      s3: { endpoint: ceph.endpoint, bucket, accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey },
      nats: { servers: '127.0.0.1:4222', stream: 'UNUSED' },
    },
    connections: users.map((u, i) => imapConnection(dovecot, u, { name: names[i] })),
    routes: names.map((c) => ({ name: `hook_${c}`, connection: c, scenario: [{ action: 'webhook', url: hook.url, secret: 'hook-secret' }] })),
  };
  const [wsA, wsB] = [makeWorkspace(config), makeWorkspace(config)];
  const env = { TEST_PG_URL: db.url };
  const sql = new pg.Client({ connectionString: db.url, options: `-c search_path=${db.schema}` });
  await sql.connect();
  const workers: Array<ReturnType<typeof startWorker>> = [];
  let failedStop = 0;
  const mailboxesEmpty = async (): Promise<boolean> => (await Promise.all(users.map((u) => dovecot.messageCount(u.username)))).every((c) => c === 0);
  try {
    for (let u = 0; u < 3; u++) await deliver(u, 10);
    workers.push(startWorker(wsA, env));
    await until('worker A drains the three mailboxes', mailboxesEmpty, 60_000).catch((e: Error) => assert.fail(`${e.message}\n${workers[0]!.log()}`));

    workers.push(startWorker(wsB, env));
    const holders = async (): Promise<Map<string, string>> =>
      new Map((await sql.query<{ key: string; holder: string }>('SELECT key, holder FROM connection_leases WHERE expires_at > clock_timestamp()')).rows.map((r) => [r.key, r.holder]));
    await until('the connections spread over both workers', async () => new Set((await holders()).values()).size === 2, 30_000).catch((e: Error) => assert.fail(`${e.message}\n${workers[1]!.log()}`));
    for (let u = 0; u < 3; u++) await deliver(u, 5);
    await until('both workers drain the new mail', mailboxesEmpty, 60_000);

    // The worker holding alpha is killed; alpha's new mail is taken by the other.
    const before = await holders();
    const victim = [...before.values()].filter((h) => h === before.get('alpha'))[0]!;
    const victimIndex = workers.findIndex((w) => w.log().includes(victim));
    const killed = victimIndex >= 0 ? workers[victimIndex]! : workers[0]!;
    killed.child.kill('SIGKILL');
    await exited(killed.child);
    await deliver(0, 5);
    const takeover = await until('alpha taken over after the SIGKILL', async () => (await dovecot.messageCount(users[0]!.username)) === 0, 30_000);
    process.stderr.write(`# alpha's mail drained ${takeover} ms after the SIGKILL of its worker\n`);

    await until('every delivery reached the webhook', () => new Set(hook.accepted().map((r) => r.key)).size === sent.size, 60_000);

    // Each message archived once, byte for byte in the bucket.
    const rows = (await sql.query<{ sha256: string; connection: string; ref: string }>('SELECT m.sha256, m.connection, b.ref FROM messages m JOIN blobs b ON b.sha256 = m.sha256')).rows;
    assert.equal(rows.length, sent.size, 'one row per message sent');
    assert.deepEqual(new Set(rows.map((r) => r.sha256)), new Set(sent.keys()));
    const blobs = createS3BlobStore({ endpoint: ceph.endpoint, bucket, accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey });
    try {
      for (const r of rows) assert.ok(Buffer.from(await blobs.read({ ref: r.ref, storedSize: 0 }, r.sha256)).equals(sent.get(r.sha256)!), `${r.sha256} byte for byte`);
    } finally {
      blobs.close();
    }
    // Each delivery reached the receiver under one idempotency key, and no message twice.
    const keys = hook.accepted().map((r) => r.key);
    assert.equal(new Set(keys).size, sent.size);
    assert.equal(new Set(hook.accepted().map((r) => r.body.message.ArchiveId)).size, sent.size);
    // No two holders at once: per connection, the tokens of its commits never go back in commit order.
    const tokens = (await sql.query<{ connection: string; lease_token: number | null }>('SELECT connection, lease_token FROM messages ORDER BY id')).rows;
    const last = new Map<string, number>();
    for (const t of tokens) {
      assert.ok(t.lease_token !== null, 'every commit was fenced');
      assert.ok(t.lease_token >= (last.get(t.connection) ?? 0), `connection ${t.connection}: a commit under token ${t.lease_token} after one under ${last.get(t.connection)}`);
      last.set(t.connection, t.lease_token);
    }
  } catch (err) {
    workers.forEach((w, i) => process.stderr.write(`# worker ${i} log:\n${w.log()}\n`));
    throw err;
  } finally {
    const running = workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
    for (const w of running) w.child.kill('SIGTERM');
    await Promise.all(running.map((w) => exited(w.child)));
    const stuck = running.filter((w) => w.child.exitCode !== 0);
    // Not thrown over a failure of the test itself, which says more.
    if (stuck.length > 0) process.stderr.write(`# ${stuck.length} worker(s) did not exit 0 on SIGTERM\n`);
    failedStop = stuck.length;
    await sql.end();
    await hook.close();
    wsA.cleanup();
    wsB.cleanup();
    await db.drop();
  }
  assert.equal(failedStop, 0, 'every worker stopped by SIGTERM exits 0');
});
