/**
 * IMAP settings, part 6: how messages are fetched and when. partialFetch (and the chunking of
 * huge messages regardless of it), connectTimeoutMs against a server that never greets,
 * dataTimeoutMs against a server that hangs mid-FETCH, and schedule windows.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { startDovecot, type DovecotInstance, type TestUser } from '../harness/dovecot.js';
import { exportArchive } from '../harness/archive.js';
import { makeWorkspace, runCli, spawnCli, imapConnection, type Workspace } from '../harness/cli.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { startImapProxy, startSilentServer, serverMessages, commandOf, type ImapProxy, type SilentServer } from '../harness/imap-proxy.js';

let dovecot: DovecotInstance;
const closers: Array<ImapProxy | SilentServer> = [];
before(async () => {
  dovecot = await startDovecot();
});
after(async () => {
  for (const c of closers) await c.close();
  await dovecot?.stop();
});

async function proxied(user: TestUser, extra: Record<string, unknown>, stall?: Parameters<typeof startImapProxy>[0]['stall']): Promise<{ ws: Workspace; proxy: ImapProxy }> {
  const proxy = await startImapProxy({ targetPort: dovecot.imapPort, ...(stall ? { stall } : {}) });
  closers.push(proxy);
  const ws = makeWorkspace({ connections: [imapConnection({ host: proxy.host, imapPort: proxy.port, imapsPort: dovecot.imapsPort, caCertPath: dovecot.caCertPath }, user, { security: 'none', ...extra })] });
  return { ws, proxy };
}

/** SHA-256 of every exported .eml, sorted (each checked to hash to its own name). */
async function exportedShas(ws: Workspace): Promise<string[]> {
  return [...(await exportArchive(ws)).keys()].sort();
}

async function archived(ws: Workspace): Promise<number> {
  const r = await runCli(['stats', '--json'], ws);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { messages: number }).messages;
}

/** `BODY.PEEK[]<offset.length>` fetches as [uid, offset, length]. */
function partialFetches(proxy: ImapProxy): Array<[string, number, number]> {
  const out: Array<[string, number, number]> = [];
  for (const c of proxy.clientLines().map(commandOf)) {
    const m = /^UID FETCH (\S+) .*BODY\.PEEK\[\]<(\d+)\.(\d+)>/i.exec(c);
    if (m) out.push([m[1]!, Number(m[2]), Number(m[3])]);
  }
  return out;
}

/** Whole-message fetches (`BODY.PEEK[]` without a range). */
function wholeFetches(proxy: ImapProxy): string[] {
  return proxy.clientLines().map(commandOf).filter((c) => /^UID FETCH .*BODY\.PEEK\[\](?!<)/i.test(c));
}

describe('fetch', { concurrency: true }, () => {
  test('partialFetch: every message comes in BODY.PEEK[]<offset.length> chunks and is archived byte for byte', async () => {
    const user = await dovecot.createUser();
    const raws = [...Array.from({ length: 4 }, (_, i) => makeMessage(i, { bodyBytes: 3000 })), makeMessage(9, { attachmentBytes: 1_800_000 })];
    await dovecot.loadMaildir(user.username, raws);
    const onServer = (await serverMessages(dovecot, user)).map((m) => sha256(m.source)).sort();
    const { ws, proxy } = await proxied(user, { partialFetch: true });
    try {
      const r = await runCli(['drain', '--json'], ws);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout.trim()) as { taken: number }).taken, 5);
      assert.deepEqual(wholeFetches(proxy), [], 'no whole-message fetch with partialFetch');
      const parts = partialFetches(proxy);
      const uids = new Set(parts.map(([u]) => u));
      assert.equal(uids.size, 5, `each message fetched in parts: ${JSON.stringify(parts)}`);
      // The 2.4 MB one (UID 5) needs several chunks, at consecutive offsets.
      const big = parts.filter(([u]) => u === '5');
      assert.ok(big.length >= 2, JSON.stringify(big));
      big.forEach(([, off, len], i) => assert.equal(off, i * len));
      assert.deepEqual(await exportedShas(ws), onServer);
      assert.equal(await dovecot.messageCount(user.username), 0);
    } finally {
      ws.cleanup();
    }
  });

  test('partialFetch false: every message in one bulk FETCH, a 10 MB message streamed through it, no chunked FETCH', async () => {
    const user = await dovecot.createUser();
    const raws = [...Array.from({ length: 3 }, (_, i) => makeMessage(i, { bodyBytes: 3000 })), makeMessage(7, { attachmentBytes: 7_600_000 })];
    assert.ok(raws[3]!.length > 10_000_000);
    await dovecot.loadMaildir(user.username, raws);
    const onServer = (await serverMessages(dovecot, user)).map((m) => sha256(m.source)).sort();
    const { ws, proxy } = await proxied(user, { partialFetch: false });
    try {
      const r = await runCli(['drain', '--json'], ws);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout.trim()) as { taken: number }).taken, 4);
      // ADR 0009: a body over the chunking threshold streams out of the bulk FETCH with
      // back-pressure (never whole in memory), so it needs no size asked first and no round trip
      // per chunk; the bounded memory is pinned by test/imap/imap-wire.test.ts and the bench.
      const whole = wholeFetches(proxy);
      assert.equal(whole.length, 1, whole.join('\n'));
      assert.match(whole[0]!, /^UID FETCH 1:4 /);
      assert.deepEqual(partialFetches(proxy), []);
      assert.deepEqual(await exportedShas(ws), onServer);
    } finally {
      ws.cleanup();
    }
  });
});

describe('timeouts', { concurrency: true }, () => {
  test('connectTimeoutMs: a server that accepts and never greets is given up on within the timeout', async () => {
    const silent = await startSilentServer();
    closers.push(silent);
    const user = { username: 'nobody', password: 'x' };
    const ws = makeWorkspace({ connections: [imapConnection({ host: '127.0.0.1', imapPort: silent.port, imapsPort: silent.port, caCertPath: dovecot.caCertPath }, user, { security: 'none', connectTimeoutMs: 1000 })] });
    try {
      // test-connection: the greeting step fails after about the timeout.
      const t0 = Date.now();
      const probe = await runCli(['test-connection', 'journal', '--json'], ws);
      const probeMs = Date.now() - t0;
      assert.notEqual(probe.code, 0);
      const res = JSON.parse(probe.stdout.trim()) as { ok: boolean; steps: Array<{ step: string; ok: boolean; code?: string; detail: string; ms: number }> };
      const fail = res.steps.find((s) => !s.ok)!;
      assert.equal(fail.step, 'greeting');
      assert.match(fail.code ?? '', /^SOURCE_(GREETING_INVALID|CONNECT_TIMEOUT)$/);
      assert.ok(fail.ms >= 900 && fail.ms < 3000, `gave up after ${fail.ms} ms`);
      // The step's own time is the timeout's measure; the whole command (Node's start included,
      // seconds on a loaded CI machine) only must not hang.
      assert.ok(probeMs < 20_000, `test-connection took ${probeMs} ms`);

      // The drain: with the default (30 s) the first attempt would still be waiting; with 1 s it
      // has given up and reconnected (back-off 0.5–1 s) well within 5 s.
      const child = spawnCli(['drain'], ws);
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      // Counted from the drain's first connection, not from its spawn: Node's own start takes
      // seconds on a loaded CI machine and is not what connectTimeoutMs bounds.
      const spawned = Date.now();
      while (silent.accepted() < 2 && Date.now() - spawned < 30_000) await new Promise((r) => setTimeout(r, 20));
      const start = Date.now();
      while (silent.accepted() < 3 && Date.now() - start < 5000) await new Promise((r) => setTimeout(r, 50));
      const attempts = silent.accepted() - 1; // one was the probe
      child.kill('SIGTERM');
      await once(child, 'close');
      assert.ok(attempts >= 2, `expected a retry after the 1 s timeout within 5 s, saw ${attempts} connection(s); stderr:\n${stderr}`);
      assert.match(stderr, /SOURCE_(GREETING_INVALID|CONNECT_TIMEOUT)/, stderr);
    } finally {
      ws.cleanup();
    }
  });

  test('dataTimeoutMs: a server that hangs mid-FETCH is dropped, the drain retries, nothing is lost or doubled', async () => {
    const user = await dovecot.createUser();
    const raws = Array.from({ length: 20 }, (_, i) => makeMessage(i, { bodyBytes: 6000 }));
    await dovecot.loadMaildir(user.username, raws);
    const onServer = (await serverMessages(dovecot, user)).map((m) => sha256(m.source)).sort();
    const { ws, proxy } = await proxied(user, { dataTimeoutMs: 1500, logging: 'full' }, { afterClientLine: /UID FETCH .*BODY\.PEEK\[\]/i, afterBytes: 40_000, connections: 1 });
    try {
      const child = spawnCli(['drain', '--json'], ws);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const [code] = (await once(child, 'close')) as [number | null];
      clearTimeout(killer);
      assert.equal(proxy.connections[0]?.stalled, true, 'the first connection must have hung mid-FETCH');
      assert.equal(code, 0, `the drain must drop the hung connection and finish on a new one; stderr:\n${stderr}`);
      assert.ok(proxy.connections.length >= 2, 'a new connection after the timeout');
      assert.match(stderr, /"code":"SOURCE_DATA_TIMEOUT"/, `the failure names the no-data timeout:\n${stderr}`);
      assert.equal(await dovecot.messageCount(user.username), 0);
      assert.equal(await archived(ws), 20, 'every message exactly once');
      assert.deepEqual(await exportedShas(ws), onServer);
      const log = readFileSync(join(ws.dataDir, 'logs', 'journal.log'), 'utf8');
      // What was fully received before the hang was committed, and its deletion finished later.
      assert.match(log, /committed what was fully received/);
      assert.match(log, /finishing server actions committed before an interruption/);
      resolveDataTimeoutSummary(JSON.parse(stdout.trim()) as { taken: number });
    } finally {
      ws.cleanup();
    }
  });
});

let resolveDataTimeoutSummary: (s: { taken: number }) => void = () => undefined;
const dataTimeoutSummary = new Promise<{ taken: number }>((resolve) => (resolveDataTimeoutSummary = resolve));

describe('drain summary after a retried cycle', () => {
  // Known bug outside the IMAP adapter (reported, not fixed here): src/app/connection-runner.ts adds
  // a cycle's `taken` to its status only when the cycle succeeds, so the messages committed by a
  // cycle that then failed (here: 6 received before the hang) are archived but missing from
  // `drain --json`'s `taken` (it reports 14 of 20).
  test('drain --json counts every message archived, including those of a failed cycle', async () => {
    const s = await Promise.race([dataTimeoutSummary, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the dataTimeoutMs test did not finish')), 60_000).unref())]);
    assert.equal(s.taken, 20);
  });
});

/** "HH:MM" of `now + minutes` in a time zone, and the weekday there. */
function clock(timeZone: string, minutesFromNow: number): string {
  const f = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  return f.format(new Date(Date.now() + minutesFromNow * 60_000));
}
const ALL_DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

describe('schedule', { concurrency: true }, () => {
  // Asia/Tokyo is UTC+9 all year: a window computed on Tokyo's clock is closed if read as UTC, so
  // these tests also fail if the time zone were ignored.
  const TZ = 'Asia/Tokyo';

  test('a window that is closed now: drain takes nothing', async () => {
    const user = await dovecot.createUser();
    await dovecot.deliverMany(user.username, [makeMessage(1), makeMessage(2)]);
    const schedule = { timezone: TZ, windows: [{ days: ALL_DAYS, from: clock(TZ, 120), to: clock(TZ, 180) }] };
    const ws = makeWorkspace({ connections: [imapConnection(dovecot, user, { schedule })] });
    try {
      const r = await runCli(['drain', '--json'], ws);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout.trim()) as { taken: number }).taken, 0);
      assert.equal(await dovecot.messageCount(user.username), 2);
    } finally {
      ws.cleanup();
    }
  });

  test('a window that is open now (in its time zone): drain takes everything', async () => {
    const user = await dovecot.createUser();
    await dovecot.deliverMany(user.username, [makeMessage(1), makeMessage(2)]);
    const schedule = { timezone: TZ, windows: [{ days: ALL_DAYS, from: clock(TZ, -60), to: clock(TZ, 60) }] };
    const ws = makeWorkspace({ connections: [imapConnection(dovecot, user, { schedule })] });
    try {
      const r = await runCli(['drain', '--json'], ws);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout.trim()) as { taken: number }).taken, 2);
      assert.equal(await dovecot.messageCount(user.username), 0);
    } finally {
      ws.cleanup();
    }
  });

  test('the window\'s days count: open hours on other days only take nothing', async () => {
    const user = await dovecot.createUser();
    await dovecot.deliverMany(user.username, [makeMessage(1)]);
    const today = new Intl.DateTimeFormat('en-GB', { timeZone: TZ, weekday: 'short' }).format(new Date()).toLowerCase().slice(0, 3);
    // A window open all day, on every day but today and yesterday (so no past-midnight spill).
    const idx = ALL_DAYS.indexOf(today);
    const days = ALL_DAYS.filter((_, i) => i !== idx && i !== (idx + 6) % 7);
    const schedule = { timezone: TZ, windows: [{ days, from: '00:00', to: '23:59' }] };
    const ws = makeWorkspace({ connections: [imapConnection(dovecot, user, { schedule })] });
    try {
      const r = await runCli(['drain', '--json'], ws);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout.trim()) as { taken: number }).taken, 0);
      assert.equal(await dovecot.messageCount(user.username), 1);
    } finally {
      ws.cleanup();
    }
  });
});
