/**
 * POP3 drains end to end through the CLI against a real Dovecot: bytes in the archive exactly as
 * the server serves them, the maildrop empty afterwards, `leave` remembering by UIDL,
 * `expungeEvery` as QUIT-and-log-in-again, and each security and login variant shown on the wire
 * by a recording proxy (plaintext sessions) or by the server's own TLS port.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type TestUser } from '../harness/dovecot.js';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { makeWorkspace, runCli, pop3Connection, type CliResult, type Workspace } from '../harness/cli.js';
import { assertArchiveHolds } from '../harness/archive.js';
import { makeMessage, journalMix, sha256 } from '../harness/messages.js';
import { serverMessages, type ImapProxy } from '../harness/imap-proxy.js';

const dovecot = dovecotPerFile();

async function proxy(): Promise<ImapProxy> {
  return dovecot.proxy({ targetPort: dovecot.pop3Port });
}

async function userWith(raws: Buffer[]): Promise<TestUser> {
  const user = await dovecot.createUser();
  await dovecot.deliverMany(user.username, raws);
  return user;
}

/** What the server holds, read over IMAP (not through the code under test), by hash. */
async function onServer(user: TestUser): Promise<Map<string, Buffer>> {
  return new Map((await serverMessages(dovecot, user)).map((m) => [sha256(m.source), m.source]));
}

async function drain(ws: Workspace): Promise<{ r: CliResult; taken: number }> {
  const r = await runCli(['drain', '--json'], ws);
  assert.equal(r.code, 0, r.stderr);
  return { r, taken: (JSON.parse(r.stdout.trim()) as { taken: number }).taken };
}

/** POP3 commands a proxied plaintext session sent (first word, upper-case). */
function verbs(p: ImapProxy): string[] {
  return p.clientLines().map((l) => l.split(' ')[0]!.toUpperCase());
}

test('pop3 drain (STLS) archives every message byte for byte, streams a large one, and empties the maildrop', async () => {
  const raws = [...journalMix(40, 10), makeMessage(99, { attachmentBytes: 3_000_000 })];
  const user = await userWith(raws);
  const served = await onServer(user);
  assert.equal(served.size, 41);
  const ws = makeWorkspace({ connections: [pop3Connection(dovecot, user)] });
  try {
    const { taken } = await drain(ws);
    assert.equal(taken, 41);
    assert.equal(await dovecot.messageCount(user.username), 0, 'maildrop must be empty');
    await assertArchiveHolds(ws, served, 'pop3 drain');
    assert.equal((await drain(ws)).taken, 0, 'a second drain finds nothing');
    const search = await runCli(['search', 'quarterly', '--json'], ws);
    assert.equal(search.code, 0, search.stderr);
    assert.equal(search.stdout.trim().split('\n').length, 41);
  } finally {
    ws.cleanup();
  }
});

test('pop3 leave keeps the mail on the server and takes only what is new, remembered by UIDL', async () => {
  const user = await userWith(Array.from({ length: 5 }, (_, i) => makeMessage(i)));
  const ws = makeWorkspace({ connections: [pop3Connection(dovecot, user, { deletePolicy: 'leave', maxMessagesPerCycle: 2 })] });
  try {
    assert.equal((await drain(ws)).taken, 5);
    assert.equal(await dovecot.messageCount(user.username), 5, 'leave removes nothing');
    await dovecot.deliverMany(user.username, [makeMessage(10), makeMessage(11)]);
    // maxMessagesPerCycle 2 below the 5 kept: without skipping what was taken, no cycle would reach the new ones.
    assert.equal((await drain(ws)).taken, 2);
    assert.equal((await drain(ws)).taken, 0);
    assert.equal(await dovecot.messageCount(user.username), 7);
    await assertArchiveHolds(ws, await onServer(user), 'leave');
  } finally {
    ws.cleanup();
  }
});

test('pop3 expungeEvery N ends the session with QUIT after every N deletions', async () => {
  const user = await userWith(Array.from({ length: 7 }, (_, i) => makeMessage(i, { bodyBytes: 500 })));
  const p = await proxy();
  const ws = makeWorkspace({ connections: [pop3Connection(dovecot, user, { port: p.port, security: 'none', expungeEvery: 3 })] });
  try {
    assert.equal((await drain(ws)).taken, 7);
    assert.equal(await dovecot.messageCount(user.username), 0);
    // Per session: the DELEs between two logins. 3 + 3 + 1 (the rest at the end of the cycle).
    const perSession: number[] = [];
    for (const c of p.connections) {
      const n = c.clientLines.filter((l) => /^DELE /i.test(l)).length;
      if (n > 0) perSession.push(n);
      assert.ok(n <= 3, `a session carried ${n} deletions`);
    }
    assert.deepEqual(perSession, [3, 3, 1]);
    for (const c of p.connections.filter((c) => c.clientLines.some((l) => /^DELE /i.test(l)))) {
      assert.equal(c.clientLines.at(-1)?.toUpperCase(), 'QUIT', 'deletions are committed by QUIT');
    }
  } finally {
    ws.cleanup();
  }
});

test('pop3 deletions whose QUIT never arrives are rolled back by the server, and the next session finishes them without archiving again', async () => {
  const raws = Array.from({ length: 4 }, (_, i) => makeMessage(i));
  const user = await userWith(raws);
  const served = await onServer(user);
  // The first QUIT is cut on its way: the server sees a dropped session and restores every DELE.
  const p = await dovecot.proxy({ targetPort: dovecot.pop3Port, cut: { clientLine: /^QUIT$/i } });
  const ws = makeWorkspace({ connections: [pop3Connection(dovecot, user, { port: p.port, security: 'none', deletePolicy: 'delete' })] });
  try {
    const { taken } = await drain(ws);
    assert.equal(taken, 4);
    assert.equal(await dovecot.messageCount(user.username), 0, 'the retry removed them');
    const sessions = p.connections.map((c) => c.clientLines.map((l) => l.split(' ')[0]!.toUpperCase()));
    const first = sessions.findIndex((v) => v.includes('DELE'));
    assert.ok(first >= 0 && sessions[first]!.at(-1) === 'QUIT', 'the first deleting session ended in the cut QUIT');
    const later = sessions.slice(first + 1).find((v) => v.includes('DELE'));
    assert.ok(later, 'a later session deleted again');
    assert.ok(!later.includes('RETR'), 'the later session did not fetch them again: they were recognised by UIDL');
    await assertArchiveHolds(ws, served, 'after the cut QUIT');
  } finally {
    ws.cleanup();
  }
});

describe('pop3 security and login', () => {
  test('security none logs in with SASL PLAIN in plaintext; disablePlain uses AUTH LOGIN; apop uses APOP without the password', async () => {
    for (const [extra, expectVerb] of [
      [{}, 'AUTH PLAIN'],
      [{ auth: { type: 'basic', disablePlain: true } }, 'AUTH LOGIN'],
      [{ auth: { type: 'basic', apop: true } }, 'APOP'],
    ] as const) {
      const user = await userWith([makeMessage(1)]);
      const served = await onServer(user);
      const p = await proxy();
      const conn = pop3Connection(dovecot, user, { port: p.port, security: 'none' });
      const auth = { ...(conn.auth as Record<string, unknown>), ...((extra as { auth?: object }).auth ?? {}) };
      const ws = makeWorkspace({ connections: [{ ...conn, auth }] });
      try {
        assert.equal((await drain(ws)).taken, 1, JSON.stringify(extra));
        assert.ok(!p.connections.some((c) => c.tls), 'no TLS with security none');
        const lines = p.clientLines().map((l) => l.toUpperCase());
        assert.ok(lines.some((l) => l.startsWith(expectVerb)), `${expectVerb} expected, sent: ${verbs(p).join(' ')}`);
        if (expectVerb !== 'AUTH PLAIN') assert.ok(!lines.some((l) => l.startsWith('AUTH PLAIN')), 'no SASL PLAIN');
        if (expectVerb === 'APOP') assert.ok(!lines.some((l) => l.includes(user.password.toUpperCase())), 'APOP never sends the password');
        assert.equal(await dovecot.messageCount(user.username), 0);
        await assertArchiveHolds(ws, served, expectVerb);
      } finally {
        ws.cleanup();
      }
    }
  });

  test('starttls upgrades with STLS before logging in; tls talks TLS from the first byte on the POP3S port', async () => {
    const user = await userWith([makeMessage(1), makeMessage(2)]);
    const p = await proxy();
    const ws = makeWorkspace({ connections: [pop3Connection(dovecot, user, { port: p.port, security: 'starttls' })] });
    try {
      assert.equal((await drain(ws)).taken, 1 + 1);
      for (const c of p.connections) {
        assert.ok(c.tls, 'every session went to TLS');
        assert.deepEqual(c.clientLines.map((l) => l.toUpperCase()), ['CAPA', 'STLS'], 'nothing but CAPA and STLS in plaintext');
      }
    } finally {
      ws.cleanup();
    }
    const user2 = await userWith([makeMessage(3), makeMessage(4, { bodyBytes: 100 })]);
    const served2 = await onServer(user2);
    const ws2 = makeWorkspace({ connections: [pop3Connection(dovecot, user2, { port: 1, security: 'tls' })] });
    try {
      assert.equal((await drain(ws2)).taken, 2, 'implicit TLS uses tlsPort, not port (port 1 would refuse)');
      assert.equal(await dovecot.messageCount(user2.username), 0);
      await assertArchiveHolds(ws2, served2, 'pop3s');
    } finally {
      ws2.cleanup();
    }
  });

  test('a wrong password is SOURCE_AUTH_REJECTED and test-connection reports each step', async () => {
    const user = await userWith([makeMessage(1), makeMessage(2), makeMessage(3)]);
    const ok = makeWorkspace({ connections: [pop3Connection(dovecot, user)] });
    const bad = makeWorkspace({ connections: [pop3Connection(dovecot, { ...user, password: 'wrong' })] });
    try {
      const t = await runCli(['test-connection', 'journal', '--json'], ok);
      assert.equal(t.code, 0, t.stderr + t.stdout);
      const probe = JSON.parse(t.stdout.trim()) as { ok: boolean; messages: number; steps: Array<{ step: string; ok: boolean }> };
      assert.equal(probe.ok, true);
      assert.equal(probe.messages, 3);
      // With STLS the TLS step follows the plaintext greeting and CAPA, as on the wire.
      assert.deepEqual(probe.steps.map((s) => s.step), ['resolve', 'connect', 'greeting', 'capabilities', 'tls', 'auth', 'mailbox', 'count']);
      assert.ok(probe.steps.every((s) => s.ok));
      const r = await runCli(['drain', '--json'], bad);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /SOURCE_AUTH_REJECTED/);
      assert.ok(!r.stderr.includes(user.password), 'the password is never printed');
      assert.equal(await dovecot.messageCount(user.username), 3, 'nothing removed');
    } finally {
      ok.cleanup();
      bad.cleanup();
    }
  });
});
