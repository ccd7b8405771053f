/**
 * IMAP settings, part 1: security (none, starttls-if-available, starttls, tls), certificate
 * verification, auth (disablePlain, backslash user names, wrong password) and test-connection,
 * against a real Dovecot with TLS. Each test would fail if its setting did nothing: the proxy
 * shows what went over the wire (TLS or not, LOGIN or AUTHENTICATE PLAIN), and the server state
 * is read independently of mailsluice.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { type TestUser } from '../harness/dovecot.js';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { makeWorkspace, runCli, imapConnection, type CliResult, type Workspace } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { closedPort, commandOf, type ImapProxy } from '../harness/imap-proxy.js';

const dovecot = dovecotPerFile();

async function proxy(targetPort: number): Promise<ImapProxy> {
  return dovecot.proxy({ targetPort });
}

/** A user with `n` messages in INBOX. */
async function userWith(n: number, opts: { username?: string } = {}): Promise<TestUser> {
  const user = await dovecot.createUser(opts);
  const msgs = Array.from({ length: n }, (_, i) => makeMessage(i, { bodyBytes: 2000, tag: 'security' }));
  await dovecot.deliverMany(user.username, msgs);
  return user;
}

/** Runs `drain --json` in a fresh workspace for one connection entry. */
async function drainWith(conn: Record<string, unknown>): Promise<{ r: CliResult; ws: Workspace; taken: number | undefined }> {
  const ws = makeWorkspace({ connections: [conn] });
  const r = await runCli(['drain', '--json'], ws);
  let taken: number | undefined;
  if (r.code === 0) taken = (JSON.parse(r.stdout.trim()) as { taken: number }).taken;
  return { r, ws, taken };
}

/** The one-line error main.ts prints, e.g. `mailsluice: SOURCE_AUTH_REJECTED: …`. */
function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('mailsluice: '));
}

function assertFailedWith(r: CliResult, code: string): string {
  assert.notEqual(r.code, 0, `expected a failure with ${code}; stdout: ${r.stdout}`);
  const lines = errorLines(r.stderr);
  assert.equal(lines.length, 1, `exactly one error line expected, stderr was:\n${r.stderr}`);
  assert.match(lines[0]!, new RegExp(`^mailsluice: ${code}: \\S`), r.stderr);
  return lines[0]!;
}

/** Endpoint of the proxy, shaped like the harness's Dovecot for imapConnection(). */
function via(p: ImapProxy, tlsPort = dovecot.imapsPort): { host: string; imapPort: number; imapsPort: number; caCertPath: string } {
  return { host: p.host, imapPort: p.port, imapsPort: tlsPort, caCertPath: dovecot.caCertPath };
}

describe('security', { concurrency: true }, () => {
  test('none: drains over the plain port and never starts TLS', async () => {
    const user = await userWith(3);
    const p = await proxy(dovecot.imapPort);
    const { r, ws, taken } = await drainWith(imapConnection(via(p), user, { security: 'none' }));
    try {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(taken, 3);
      assert.equal(await dovecot.messageCount(user.username), 0);
      assert.ok(p.connections.length >= 1);
      for (const c of p.connections) assert.equal(c.tls, false, 'security none must not start TLS');
      assert.deepEqual(p.commands(/^STARTTLS/i), [], 'security none must not send STARTTLS');
      // The session really was readable on the wire: the login and the fetch went in clear.
      assert.ok(p.commands(/^(AUTHENTICATE|LOGIN) /i).length >= 1, p.clientLines().join('\n'));
      assert.ok(p.commands(/^UID FETCH .*BODY\.PEEK\[\]/i).length >= 1);
    } finally {
      ws.cleanup();
    }
  });

  test('starttls-if-available: upgrades when the server offers STARTTLS', async () => {
    const user = await userWith(2);
    const p = await proxy(dovecot.imapPort);
    const { r, ws, taken } = await drainWith(imapConnection(via(p), user, { security: 'starttls-if-available' }));
    try {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(taken, 2);
      assert.equal(await dovecot.messageCount(user.username), 0);
      for (const c of p.connections) {
        assert.ok(c.clientLines.some((l) => /^STARTTLS$/i.test(commandOf(l))), `STARTTLS expected, got ${c.clientLines.join(' | ')}`);
        assert.equal(c.tls, true, 'the session must be upgraded to TLS');
        assert.ok(!c.clientLines.some((l) => /^(LOGIN|AUTHENTICATE)\b/i.test(commandOf(l))), 'credentials must not go in clear');
      }
    } finally {
      ws.cleanup();
    }
  });

  test('starttls (required): upgrades before logging in', async () => {
    const user = await userWith(2);
    const p = await proxy(dovecot.imapPort);
    const { r, ws, taken } = await drainWith(imapConnection(via(p), user, { security: 'starttls' }));
    try {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(taken, 2);
      for (const c of p.connections) {
        assert.equal(c.tls, true);
        assert.ok(!c.clientLines.some((l) => /^(LOGIN|AUTHENTICATE)\b/i.test(commandOf(l))));
      }
    } finally {
      ws.cleanup();
    }
  });

  test('tls: implicit TLS on the TLS port (the plain port is not even used)', async () => {
    const user = await userWith(2);
    const p = await proxy(dovecot.imapsPort);
    // Nothing listens on the plain port: if `tls` fell back to it, the drain would fail.
    const conn = imapConnection({ ...via(p, p.port), imapPort: await closedPort() }, user, { security: 'tls' });
    const { r, ws, taken } = await drainWith(conn);
    try {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(taken, 2);
      assert.equal(await dovecot.messageCount(user.username), 0);
      assert.ok(p.connections.length >= 1);
      for (const c of p.connections) {
        assert.equal(c.tls, true, 'the first client bytes must be a TLS handshake');
        assert.deepEqual(c.clientLines, [], 'nothing may go in clear');
      }
    } finally {
      ws.cleanup();
    }
  });

  for (const security of ['tls', 'starttls'] as const) {
    test(`tls.verify: ${security} without the CA fails with SOURCE_TLS_UNTRUSTED and deletes nothing`, async () => {
      const user = await userWith(2);
      const { r, ws } = await drainWith(imapConnection(dovecot, user, { security, tls: { verify: true } }));
      try {
        const line = assertFailedWith(r, 'SOURCE_TLS_UNTRUSTED');
        // A clear sentence: it names the reason and what to do.
        assert.match(line, /not trusted/i);
        assert.match(line, /tls\.ca/);
        assert.equal(await dovecot.messageCount(user.username), 2, 'nothing may be deleted');
      } finally {
        ws.cleanup();
      }
    });
  }

  test('tls.servername: the certificate is checked against that name, not the host (a wrong name fails untrusted, the right one drains)', async () => {
    const user = await userWith(2);
    const ca = { file: dovecot.caCertPath };
    // The host is 127.0.0.1, which the test certificate is valid for: only servername can fail it.
    const wrong = await drainWith(imapConnection(dovecot, user, { security: 'tls', tls: { verify: true, ca, servername: 'mail.example.com' } }));
    try {
      assertFailedWith(wrong.r, 'SOURCE_TLS_UNTRUSTED');
      assert.equal(await dovecot.messageCount(user.username), 2, 'nothing may be deleted');
    } finally {
      wrong.ws.cleanup();
    }
    const right = await drainWith(imapConnection(dovecot, user, { security: 'tls', tls: { verify: true, ca, servername: 'localhost' } }));
    try {
      assert.equal(right.r.code, 0, right.r.stderr);
      assert.equal(right.taken, 2);
    } finally {
      right.ws.cleanup();
    }
  });

  test('tls.verify: false accepts the untrusted certificate', async () => {
    const user = await userWith(2);
    const { r, ws, taken } = await drainWith(imapConnection(dovecot, user, { security: 'tls', tls: { verify: false } }));
    try {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(taken, 2);
      assert.equal(await dovecot.messageCount(user.username), 0);
    } finally {
      ws.cleanup();
    }
  });
});

describe('auth', { concurrency: true }, () => {
  test('disablePlain: logs in with LOGIN, never AUTHENTICATE PLAIN', async () => {
    const user = await userWith(1);
    const p = await proxy(dovecot.imapPort);
    const { r, ws, taken } = await drainWith(imapConnection(via(p), user, { security: 'none', auth: { type: 'basic', username: user.username, password: user.password, disablePlain: true } }));
    try {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(taken, 1);
      assert.ok(p.commands(/^LOGIN /i).length >= 1, `LOGIN expected; client sent:\n${p.clientLines().join('\n')}`);
      assert.deepEqual(p.commands(/^AUTHENTICATE PLAIN/i), []);
    } finally {
      ws.cleanup();
    }
  });

  test('without disablePlain: AUTHENTICATE PLAIN is used (the control)', async () => {
    const user = await userWith(1);
    const p = await proxy(dovecot.imapPort);
    const { r, ws, taken } = await drainWith(imapConnection(via(p), user, { security: 'none' }));
    try {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(taken, 1);
      assert.ok(p.commands(/^AUTHENTICATE PLAIN/i).length >= 1, p.clientLines().join('\n'));
      assert.deepEqual(p.commands(/^LOGIN /i), []);
    } finally {
      ws.cleanup();
    }
  });

  test('a user name with backslashes (dom\\juser\\J.User) is passed through intact', async () => {
    const user = await userWith(3, { username: 'dom\\juser\\J.User' });
    for (const disablePlain of [false, true]) {
      if (disablePlain) await dovecot.deliver(user.username, makeMessage(99, { tag: 'second' }));
      const { r, ws, taken } = await drainWith(imapConnection(dovecot, user, { auth: { type: 'basic', username: user.username, password: user.password, disablePlain } }));
      try {
        assert.equal(r.code, 0, r.stderr);
        assert.equal(taken, disablePlain ? 1 : 3);
        assert.equal(await dovecot.messageCount(user.username), 0);
      } finally {
        ws.cleanup();
      }
    }
  });

  test('a wrong password fails with SOURCE_AUTH_REJECTED, one line, nothing deleted', async () => {
    const user = await userWith(2);
    const { r, ws } = await drainWith(imapConnection(dovecot, { username: user.username, password: 'wrong' }));
    try {
      const line = assertFailedWith(r, 'SOURCE_AUTH_REJECTED');
      assert.ok(line.includes(user.username), 'the sentence names the user');
      assert.ok(!r.stderr.includes(user.password) && !r.stdout.includes('wrong'), 'no secret in the output');
      assert.equal(await dovecot.messageCount(user.username), 2);
    } finally {
      ws.cleanup();
    }
  });
});

interface ProbeJson {
  ok: boolean;
  messages?: number;
  steps: Array<{ step: string; ok: boolean; detail: string; code?: string; ms: number }>;
}

describe('test-connection', { concurrency: true }, () => {
  const ALL_STEPS = ['resolve', 'connect', 'greeting', 'capabilities', 'tls', 'auth', 'mailbox', 'count'];

  test('success prints every step ok, in text and in --json', async () => {
    const user = await userWith(4);
    const ws = makeWorkspace({ connections: [imapConnection(dovecot, user, { security: 'starttls' })] });
    try {
      const text = await runCli(['test-connection', 'journal'], ws);
      assert.equal(text.code, 0, text.stderr + text.stdout);
      const lines = text.stdout.trim().split('\n');
      for (const step of ALL_STEPS) assert.ok(lines.some((l) => new RegExp(`^ok\\s+${step}\\b`).test(l)), `step ${step} ok expected:\n${text.stdout}`);
      assert.ok(!/FAIL/.test(text.stdout));
      assert.match(text.stdout, /4 messages/);

      const json = await runCli(['test-connection', 'journal', '--json'], ws);
      assert.equal(json.code, 0, json.stderr);
      const res = JSON.parse(json.stdout.trim()) as ProbeJson;
      assert.equal(res.ok, true);
      assert.equal(res.messages, 4);
      assert.deepEqual([...res.steps.map((s) => s.step)].sort(), [...ALL_STEPS].sort());
      for (const s of res.steps) {
        assert.equal(s.ok, true, JSON.stringify(s));
        assert.equal(typeof s.detail, 'string');
        assert.ok(s.detail.length > 0);
        assert.equal(typeof s.ms, 'number');
        assert.equal(s.code, undefined);
      }
      // The test only looks: nothing was taken or deleted.
      assert.equal(await dovecot.messageCount(user.username), 4);
    } finally {
      ws.cleanup();
    }
  });

  test('a wrong password fails at auth with SOURCE_AUTH_REJECTED', async () => {
    const user = await userWith(1);
    const ws = makeWorkspace({ connections: [imapConnection(dovecot, { username: user.username, password: 'nope' })] });
    try {
      const json = await runCli(['test-connection', 'journal', '--json'], ws);
      assert.notEqual(json.code, 0);
      const res = JSON.parse(json.stdout.trim()) as ProbeJson;
      assert.equal(res.ok, false);
      const last = res.steps.at(-1)!;
      assert.equal(last.step, 'auth');
      assert.equal(last.ok, false);
      assert.equal(last.code, 'SOURCE_AUTH_REJECTED');
      for (const s of res.steps.slice(0, -1)) assert.equal(s.ok, true, JSON.stringify(s));
      const text = await runCli(['test-connection', 'journal'], ws);
      assert.notEqual(text.code, 0);
      assert.match(text.stdout, /^FAIL\s+auth\b.*\[SOURCE_AUTH_REJECTED\]/m);
      assert.match(text.stdout, /failed at auth/);
    } finally {
      ws.cleanup();
    }
  });

  test('auth none against a server that needs a login fails at auth, saying a login is needed (no empty user name was sent)', async () => {
    const user = await userWith(1);
    const p = await proxy(dovecot.imapPort);
    const ws = makeWorkspace({ connections: [imapConnection({ host: p.host, imapPort: p.port, imapsPort: dovecot.imapsPort, caCertPath: dovecot.caCertPath }, user, { security: 'none', auth: { type: 'none' } })] });
    try {
      const json = await runCli(['test-connection', 'journal', '--json'], ws);
      assert.notEqual(json.code, 0);
      const res = JSON.parse(json.stdout.trim()) as ProbeJson;
      const last = res.steps.at(-1)!;
      assert.deepEqual([last.step, last.ok, last.code], ['auth', false, 'SOURCE_AUTH_REJECTED']);
      assert.match(last.detail, /needs a login, but auth\.type is none/);
      assert.deepEqual(p.commands(/^(LOGIN|AUTHENTICATE)\b/i), [], 'auth none sends no login');
      assert.equal(await dovecot.messageCount(user.username), 1);
    } finally {
      ws.cleanup();
    }
  });

  test('a closed port fails at connect with SOURCE_CONNECT_REFUSED', async () => {
    const user = await dovecot.createUser();
    const port = await closedPort();
    const ws = makeWorkspace({ connections: [imapConnection({ host: dovecot.host, imapPort: port, imapsPort: port, caCertPath: dovecot.caCertPath }, user)] });
    try {
      const json = await runCli(['test-connection', 'journal', '--json'], ws);
      assert.notEqual(json.code, 0);
      const res = JSON.parse(json.stdout.trim()) as ProbeJson;
      assert.equal(res.ok, false);
      assert.deepEqual(res.steps.map((s) => [s.step, s.ok, s.code]), [
        ['resolve', true, undefined],
        ['connect', false, 'SOURCE_CONNECT_REFUSED'],
      ]);
      assert.match(res.steps[1]!.detail, new RegExp(String(port)));
    } finally {
      ws.cleanup();
    }
  });

  test('a server that accepts the connection and never answers the TLS handshake fails at tls within connectTimeoutMs', async () => {
    const user = await dovecot.createUser();
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const ws = makeWorkspace({
      connections: [imapConnection({ host: '127.0.0.1', imapPort: port, imapsPort: port, caCertPath: dovecot.caCertPath }, user, { security: 'tls', connectTimeoutMs: 1000 })],
    });
    try {
      const t0 = Date.now();
      const json = await runCli(['test-connection', 'journal', '--json'], ws);
      assert.ok(Date.now() - t0 < 10_000, `test-connection took ${Date.now() - t0} ms`);
      assert.notEqual(json.code, 0);
      const res = JSON.parse(json.stdout.trim()) as ProbeJson;
      assert.deepEqual(res.steps.map((s) => [s.step, s.ok, s.code]), [
        ['resolve', true, undefined],
        ['connect', true, undefined],
        ['tls', false, 'SOURCE_TLS_FAILED'],
      ]);
      assert.match(res.steps[2]!.detail, /did not complete the TLS handshake within 1000 ms/);
    } finally {
      ws.cleanup();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
