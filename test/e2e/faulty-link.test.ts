/**
 * Drains over a faulty link (issue 12, items 6–8): a proxy between mailsluice and Dovecot that
 * goes silent mid-FETCH / mid-RETR, half-closes a POP3 session, or resets every few hundred KB.
 * What a user relies on: the drain ends (no hang), says why in the log, archives every message
 * byte for byte with none doubled, empties the mailbox, and a message larger than what the link
 * carries is resumed (IMAP) or set aside and left on the server (POP3) while the rest moves on.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { makeWorkspace, imapConnection, pop3Connection, type Workspace, runCliWithin } from '../harness/cli.js';
import { assertArchiveHolds } from '../harness/archive.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { serverMessages, type ImapProxy, type ImapProxyOptions } from '../harness/imap-proxy.js';
import type { TestUser } from '../harness/dovecot.js';

const dovecot = dovecotPerFile();

/** The internal bound on silence, lowered so a test waits seconds, not minutes. */
const FAST_SILENCE = { MAILSLUICE_SILENCE_LIMIT_MS: '3000', MAILSLUICE_SILENCE_WARN_MS: '1000' };

async function userWith(raws: Buffer[]): Promise<TestUser> {
  const user = await dovecot.createUser();
  await dovecot.deliverMany(user.username, raws);
  return user;
}

/** What the server holds, read over IMAP (not through the code under test), by hash. */
async function onServer(user: TestUser): Promise<Map<string, Buffer>> {
  return new Map((await serverMessages(dovecot, user)).map((m) => [sha256(m.source), m.source]));
}

function imapWorkspace(proxy: ImapProxy, user: TestUser, extra: Record<string, unknown> = {}): Workspace {
  return makeWorkspace({
    connections: [imapConnection({ host: proxy.host, imapPort: proxy.port, imapsPort: dovecot.imapsPort, caCertPath: dovecot.caCertPath }, user, { security: 'none', ...extra })],
  });
}

function pop3Workspace(proxy: ImapProxy, user: TestUser, extra: Record<string, unknown> = {}): Workspace {
  return makeWorkspace({
    connections: [pop3Connection({ host: proxy.host, pop3Port: proxy.port, pop3sPort: dovecot.pop3sPort, caCertPath: dovecot.caCertPath }, user, { security: 'none', ...extra })],
  });
}

/** Messages in the archive, counted by `stats` (a doubled message would be counted twice). */
async function archivedCount(ws: Workspace): Promise<number> {
  const r = await runCliWithin(['stats', '--json'], ws, 60_000);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { messages: number }).messages;
}

/** The JSON log records on stderr. */
function logRecords(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function proxyTo(port: number, o: Omit<ImapProxyOptions, 'targetPort'>): Promise<ImapProxy> {
  return dovecot.proxy({ targetPort: port, ...o });
}

describe('a silent server (dataTimeoutMs 0)', { concurrency: true }, () => {
  test('IMAP: a FETCH that goes silent is warned about, dropped at the internal limit, and the drain completes on a new session', async () => {
    const raws = Array.from({ length: 6 }, (_, i) => makeMessage(i, { bodyBytes: 20_000 }));
    const user = await userWith(raws);
    const served = await onServer(user);
    const proxy = await proxyTo(dovecot.imapPort, { stall: { afterClientLine: /UID FETCH .*BODY\.PEEK\[\]/, afterBytes: 30_000 } });
    const ws = imapWorkspace(proxy, user, { dataTimeoutMs: 0 });
    try {
      const r = await runCliWithin(['drain', '--json'], ws, 60_000, FAST_SILENCE);
      assert.equal(r.code, 0, r.stderr);
      const logs = logRecords(r.stderr);
      assert.ok(
        logs.some((l) => l.level === 'warn' && /no data from the server for \d+ s during UID FETCH/.test(String(l.msg ?? l.message))),
        `a warning while the FETCH waits:\n${r.stderr}`,
      );
      assert.ok(
        logs.some((l) => l.code === 'SOURCE_DATA_TIMEOUT' && /internal limit/.test(String(l.error))),
        `the session dropped at the internal limit, saying so:\n${r.stderr}`,
      );
      assert.ok(proxy.connections[0]!.stalled, 'the first session was the silent one');
      await assertArchiveHolds(ws, served, 'after a silent FETCH');
      assert.equal(await dovecot.messageCount(user.username), 0, 'mailbox empty');
    } finally {
      ws.cleanup();
    }
  });

  test('POP3: a RETR that goes silent is dropped at the internal limit and the drain completes', async () => {
    const raws = Array.from({ length: 6 }, (_, i) => makeMessage(i, { bodyBytes: 20_000 }));
    const user = await userWith(raws);
    const served = await onServer(user);
    const proxy = await proxyTo(dovecot.pop3Port, { stall: { afterClientLine: /^RETR /i, afterBytes: 5_000 } });
    const ws = pop3Workspace(proxy, user, { dataTimeoutMs: 0 });
    try {
      const r = await runCliWithin(['drain', '--json'], ws, 60_000, FAST_SILENCE);
      assert.equal(r.code, 0, r.stderr);
      const logs = logRecords(r.stderr);
      assert.ok(logs.some((l) => l.level === 'warn' && /no data from the server for \d+ s/.test(String(l.msg ?? l.message))), r.stderr);
      assert.ok(logs.some((l) => l.code === 'SOURCE_DATA_TIMEOUT' && /internal limit/.test(String(l.error))), r.stderr);
      await assertArchiveHolds(ws, served, 'after a silent RETR');
      assert.equal(await dovecot.messageCount(user.username), 0, 'maildrop empty');
    } finally {
      ws.cleanup();
    }
  });

  test('POP3: a peer that half-closed mid-RETR ends the session with an error, and the drain completes', async () => {
    const raws = Array.from({ length: 4 }, (_, i) => makeMessage(i, { bodyBytes: 20_000 }));
    const user = await userWith(raws);
    const served = await onServer(user);
    const proxy = await proxyTo(dovecot.pop3Port, { stall: { afterClientLine: /^RETR /i, afterBytes: 5_000, halfClose: true } });
    const ws = pop3Workspace(proxy, user, { dataTimeoutMs: 0 });
    try {
      // No lowered limit: the half-close itself must end the session, not a timeout.
      const r = await runCliWithin(['drain', '--json'], ws, 60_000);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(
        logRecords(r.stderr).some((l) => l.code === 'SOURCE_NETWORK' && /closed the connection/.test(String(l.error))),
        `the half-close named as the failure:\n${r.stderr}`,
      );
      await assertArchiveHolds(ws, served, 'after a half-closed RETR');
      assert.equal(await dovecot.messageCount(user.username), 0, 'maildrop empty');
    } finally {
      ws.cleanup();
    }
  });
});

describe('a link that resets every few hundred KB', { concurrency: true }, () => {
  // ~2.2 MB: larger than any one session carries.
  const big = (): Buffer => makeMessage(1000, { attachmentBytes: 1_600_000 });
  const resetEvery = (id: number): number => 200_000 + ((id * 7919) % 200_000);

  test('IMAP: a 2 MB message first in the mailbox is resumed across sessions and archived byte for byte; everything else too, none doubled', async (t) => {
    const raws = [big(), ...Array.from({ length: 20 }, (_, i) => makeMessage(i, { bodyBytes: 30_000 }))];
    const user = await userWith(raws);
    const served = await onServer(user);
    assert.equal(served.size, raws.length);
    const proxy = await proxyTo(dovecot.imapPort, { resetEvery });
    const ws = imapWorkspace(proxy, user);
    try {
      const r = await runCliWithin(['drain', '--json'], ws, 240_000);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(proxy.connections.filter((c) => c.reset).length >= 5, 'the link did reset, session after session');
      const resumes = proxy.commands(/^UID FETCH 1 \(UID BODY\.PEEK\[\]<[1-9]\d*\.\d+>\)/i);
      assert.ok(resumes.length >= 2, `UID 1 resumed from an offset: ${JSON.stringify(resumes)}`);
      t.diagnostic(`${proxy.connections.length} connections, ${proxy.connections.filter((c) => c.reset).length} reset; UID 1 resumed ${resumes.length} times: ${resumes.map((c) => /<(\d+)\./.exec(c)![1]).join(', ')}`);
      await assertArchiveHolds(ws, served, 'after a resetting link');
      assert.equal(await archivedCount(ws), raws.length, 'nothing doubled');
      assert.equal(await dovecot.messageCount(user.username), 0, 'mailbox empty');
    } finally {
      ws.cleanup();
    }
  });

  test('POP3: a message larger than the link carries is set aside (left on the server, reported) and the rest is drained', async () => {
    const bigOne = big();
    const rest = Array.from({ length: 10 }, (_, i) => makeMessage(i, { bodyBytes: 30_000 }));
    const user = await userWith([bigOne, ...rest]);
    const served = await onServer(user);
    const proxy = await proxyTo(dovecot.pop3Port, { resetEvery });
    const ws = pop3Workspace(proxy, user);
    try {
      const r = await runCliWithin(['drain', '--json'], ws, 240_000);
      assert.equal(r.code, 1, `drain says not everything was archived:\n${r.stderr}`);
      assert.match(r.stderr, /MESSAGES_NOT_ARCHIVED: 1 message could not be fetched whole/);
      const summary = JSON.parse(r.stdout.trim()) as { setAside: number; taken: number };
      assert.equal(summary.setAside, 1);
      assert.ok(logRecords(r.stderr).some((l) => /message set aside/.test(String(l.msg ?? l.message))), r.stderr);
      // As the server holds it (delivery adds headers): the one large message.
      const [bigHash] = [...served].find(([, b]) => b.length > 2_000_000)!;
      const expected = new Map([...served].filter(([h]) => h !== bigHash));
      await assertArchiveHolds(ws, expected, 'the rest archived');
      assert.equal(await archivedCount(ws), rest.length, 'nothing doubled');
      const left = await serverMessages(dovecot, user);
      assert.deepEqual(
        left.map((m) => sha256(m.source)),
        [bigHash],
        'only the set-aside message is left on the server',
      );
    } finally {
      ws.cleanup();
    }
  });

  for (const protocol of ['imap', 'pop3'] as const) {
    test(`${protocol}: progress resets the failure count: a drain that commits in every session does not give up after five failures`, async () => {
      // ~3 MB of 100 KB messages over a link resetting every 200–400 KB: a dozen sessions, each
      // committing a few messages; none completes a cycle. POP3 keeps no bytes of a broken RETR,
      // so there only commits count as progress.
      const raws = Array.from({ length: 30 }, (_, i) => makeMessage(i, { attachmentBytes: 75_000 }));
      const user = await userWith(raws);
      const served = await onServer(user);
      const proxy = await proxyTo(protocol === 'imap' ? dovecot.imapPort : dovecot.pop3Port, { resetEvery });
      const ws = protocol === 'imap' ? imapWorkspace(proxy, user) : pop3Workspace(proxy, user);
      try {
        const r = await runCliWithin(['drain', '--json'], ws, 240_000);
        assert.equal(r.code, 0, r.stderr);
        const resets = proxy.connections.filter((c) => c.reset).length;
        assert.ok(resets > 5, `more failed sessions than drain's limit of five: ${resets}`);
        await assertArchiveHolds(ws, served, 'after a dozen broken sessions');
        assert.equal(await archivedCount(ws), raws.length, 'nothing doubled');
        assert.equal(await dovecot.messageCount(user.username), 0, 'mailbox empty');
      } finally {
        ws.cleanup();
      }
    });
  }
});
