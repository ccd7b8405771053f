/**
 * NTLM ("Windows authentication") over IMAP and POP3 against a real NTLM server: Dovecot whose
 * `ntlm` mechanism is Samba's winbind (test/harness/ntlm-dovecot.ts, domain CORP, user journal).
 * Right password drains (messages archived and gone from the server, read independently with
 * doveadm), wrong password is SOURCE_AUTH_REJECTED, no other mechanism is tried behind the
 * operator's back, and the password never crosses the wire (the proxy's capture of the client's
 * lines, base64 payloads decoded, holds it in no encoding). Not tested here: a real Exchange, and
 * channel binding enforcement (Samba behind Dovecot does not check it; see the harness).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startNtlmDovecot, NTLM_DOMAIN, NTLM_PASSWORD, NTLM_USER, type NtlmDovecot } from '../harness/ntlm-dovecot.js';
import { startImapProxy, type ImapProxy, type ImapProxyOptions } from '../harness/imap-proxy.js';
import { makeWorkspace, runCli, imapConnection, pop3Connection, type CliResult } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { connect } from 'node:net';
import { authenticateMessage, negotiateMessage, parseChallenge } from '../../src/adapters/ntlm-node/ntlm-messages.js';

let server: NtlmDovecot;
const proxies: ImapProxy[] = [];
before(async () => {
  server = await startNtlmDovecot();
});
after(async () => {
  for (const p of proxies) await p.close();
  await server?.stop();
});

async function proxy(o: ImapProxyOptions): Promise<ImapProxy> {
  const p = await startImapProxy(o);
  proxies.push(p);
  return p;
}

const ntlm = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ type: 'ntlm', username: NTLM_USER, domain: NTLM_DOMAIN, password: NTLM_PASSWORD, ...extra });

async function deliver(n: number, tag: string): Promise<void> {
  await server.dovecot.deliverMany(NTLM_USER, Array.from({ length: n }, (_, i) => makeMessage(i, { bodyBytes: 1500, tag })));
}

/** Runs `drain --json` for one connection; returns the result and how many were taken. */
async function drain(conn: Record<string, unknown>): Promise<{ r: CliResult; taken: number | undefined }> {
  const ws = makeWorkspace({ connections: [conn] });
  try {
    const r = await runCli(['drain', '--json'], ws);
    return { r, taken: r.code === 0 ? (JSON.parse(r.stdout.trim()) as { taken: number }).taken : undefined };
  } finally {
    ws.cleanup();
  }
}

function failedWith(r: CliResult, code: string): string {
  assert.notEqual(r.code, 0, `expected ${code}; stdout: ${r.stdout}`);
  const line = r.stderr.split('\n').find((l) => l.startsWith('mailsluice: '));
  assert.match(line ?? '', new RegExp(`^mailsluice: ${code}: \\S`), r.stderr);
  return line!;
}

/** Every client line, with base64 SASL payloads decoded too, must hold the password in no encoding. */
function assertPasswordNeverSent(lines: readonly string[]): void {
  assert.ok(lines.length > 0, 'the proxy saw the client');
  const needles = [Buffer.from(NTLM_PASSWORD, 'utf8'), Buffer.from(NTLM_PASSWORD, 'utf16le')];
  for (const line of lines) {
    const forms = [Buffer.from(line, 'latin1'), ...line.split(/\s+/).filter((w) => /^[A-Za-z0-9+/]{8,}={0,2}$/.test(w)).map((w) => Buffer.from(w, 'base64'))];
    for (const f of forms) for (const n of needles) assert.equal(f.indexOf(n), -1, `the password went over the wire in ${JSON.stringify(line.slice(0, 60))}`);
  }
}

/** The NTLM messages (type 1 and 3) the client sent, decoded. */
function ntlmMessages(lines: readonly string[]): Buffer[] {
  return lines.map((l) => Buffer.from(l.trim(), 'base64')).filter((b) => b.subarray(0, 8).toString('latin1') === 'NTLMSSP\0');
}

describe('NTLM over IMAP', () => {
  test('right password: AUTHENTICATE NTLM (NTLMv2), drained, gone from the server, the password never on the wire', async () => {
    await deliver(3, 'ntlm-imap');
    const p = await proxy({ targetPort: server.dovecot.imapPort });
    const conn = imapConnection({ ...server.dovecot, host: p.host, imapPort: p.port }, { username: NTLM_USER, password: NTLM_PASSWORD }, { security: 'none', auth: ntlm() });
    const { r, taken } = await drain(conn);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(taken, 3);
    assert.equal(await server.dovecot.messageCount(NTLM_USER), 0, 'expunged on the server');
    const lines = p.connections.flatMap((c) => c.clientLines);
    assert.ok(lines.some((l) => / AUTHENTICATE NTLM$/i.test(l)), lines.join('\n'));
    assert.ok(!lines.some((l) => / (LOGIN|AUTHENTICATE PLAIN)\b/i.test(l)), 'no other mechanism');
    const msgs = ntlmMessages(lines);
    assert.deepEqual(msgs.map((m) => m.readUInt32LE(8)).slice(0, 2), [1, 3], 'NEGOTIATE then AUTHENTICATE');
    const auth = msgs[1]!;
    assert.ok(auth.readUInt16LE(20) > 24, 'an NTLMv2 response (longer than NTLMv1\'s 24 bytes)');
    assertPasswordNeverSent(lines);
  });

  test('CORP\\journal as the username, over STARTTLS (with the channel binding of the server certificate)', async () => {
    await deliver(2, 'ntlm-imap-tls');
    const conn = imapConnection(server.dovecot, { username: NTLM_USER, password: NTLM_PASSWORD }, { security: 'starttls', auth: { type: 'ntlm', username: `${NTLM_DOMAIN}\\${NTLM_USER}`, password: NTLM_PASSWORD } });
    const { r, taken } = await drain(conn);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(taken, 2);
    assert.equal(await server.dovecot.messageCount(NTLM_USER), 0);
  });

  test('wrong password: SOURCE_AUTH_REJECTED naming NTLM, one AUTHENTICATE NTLM and nothing else tried', async () => {
    await deliver(1, 'ntlm-imap-wrong');
    const p = await proxy({ targetPort: server.dovecot.imapPort });
    const conn = imapConnection({ ...server.dovecot, host: p.host, imapPort: p.port }, { username: NTLM_USER, password: 'x' }, { security: 'none', auth: ntlm({ password: 'wrong-password' }) });
    const { r } = await drain(conn);
    const line = failedWith(r, 'SOURCE_AUTH_REJECTED');
    assert.match(line, /NTLM/);
    const lines = p.connections.flatMap((c) => c.clientLines);
    assert.ok(!lines.some((l) => / (LOGIN|AUTHENTICATE PLAIN)\b/i.test(l)), lines.join('\n'));
    assert.equal(await server.dovecot.messageCount(NTLM_USER), 1, 'nothing taken');
    const ok = await drain(imapConnection(server.dovecot, { username: NTLM_USER, password: NTLM_PASSWORD }, { security: 'starttls', auth: ntlm() }));
    assert.equal(ok.taken, 1, ok.r.stderr);
  });

  test('a domain the server does not know: SOURCE_AUTH_REJECTED naming that domain', async () => {
    const conn = imapConnection(server.dovecot, { username: NTLM_USER, password: NTLM_PASSWORD }, { security: 'starttls', auth: ntlm({ domain: 'OTHER' }) });
    const { r } = await drain(conn);
    assert.match(failedWith(r, 'SOURCE_AUTH_REJECTED'), /domain "OTHER"/);
  });

  test('a server that does not offer AUTH=NTLM: SOURCE_AUTH_UNSUPPORTED, and no LOGIN instead', async () => {
    const p = await proxy({ targetPort: server.dovecot.imapPort, rewriteServerLine: (l) => l.replace(/ AUTH=NTLM\b/g, '') });
    const conn = imapConnection({ ...server.dovecot, host: p.host, imapPort: p.port }, { username: NTLM_USER, password: NTLM_PASSWORD }, { security: 'none', auth: ntlm() });
    const { r } = await drain(conn);
    assert.match(failedWith(r, 'SOURCE_AUTH_UNSUPPORTED'), /does not offer NTLM/);
    const lines = p.connections.flatMap((c) => c.clientLines);
    assert.ok(!lines.some((l) => / (LOGIN|AUTHENTICATE)\b/i.test(l)), lines.join('\n'));
  });

  test('test-connection names the NTLM login in its auth step, and its failure', async () => {
    const ok = makeWorkspace({ connections: [imapConnection(server.dovecot, { username: NTLM_USER, password: NTLM_PASSWORD }, { security: 'tls', auth: ntlm() })] });
    const bad = makeWorkspace({ connections: [imapConnection(server.dovecot, { username: NTLM_USER, password: NTLM_PASSWORD }, { security: 'tls', auth: ntlm({ password: 'nope' }) })] });
    try {
      const r = await runCli(['test-connection', 'journal', '--json'], ok);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const auth = (JSON.parse(r.stdout.trim()) as { steps: Array<{ step: string; ok: boolean; detail: string }> }).steps.find((s) => s.step === 'auth');
      assert.match(auth?.detail ?? '', /logged in with NTLM \(NTLMv2\) as "journal" in domain "CORP", bound to this TLS connection/);
      const f = await runCli(['test-connection', 'journal', '--json'], bad);
      const step = (JSON.parse(f.stdout.trim()) as { steps: Array<{ step: string; ok: boolean; detail: string; code?: string }> }).steps.find((s) => s.step === 'auth');
      assert.equal(step?.ok, false);
      assert.equal(step?.code, 'SOURCE_AUTH_REJECTED');
      assert.match(step?.detail ?? '', /AUTHENTICATE NTLM/);
    } finally {
      ok.cleanup();
      bad.cleanup();
    }
  });
});

/** One raw IMAP AUTHENTICATE NTLM with our messages, the AUTHENTICATE message changed by `mutate`: the tagged answer. */
async function rawImapNtlm(mutate: (type3: Buffer) => void): Promise<string> {
  const sock = connect({ host: server.dovecot.host, port: server.dovecot.imapPort });
  sock.setEncoding('latin1');
  let buf = '';
  const waiters: Array<() => void> = [];
  sock.on('data', (d: string) => {
    buf += d;
    waiters.splice(0).forEach((w) => w());
  });
  const line = async (): Promise<string> => {
    for (;;) {
      const i = buf.indexOf('\r\n');
      if (i >= 0) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 2);
        return l;
      }
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  try {
    await line(); // greeting
    const negotiate = negotiateMessage();
    sock.write('a1 AUTHENTICATE NTLM\r\n');
    assert.match(await line(), /^\+/);
    sock.write(`${negotiate.toString('base64')}\r\n`);
    const challenge = parseChallenge(Buffer.from((await line()).slice(2), 'base64'));
    assert.ok(challenge.timestamp, 'Samba sends MsvAvTimestamp, so a MIC is due');
    const type3 = authenticateMessage({ negotiate, challenge, user: NTLM_USER, domain: NTLM_DOMAIN, password: NTLM_PASSWORD, certificateHash: Buffer.alloc(32, 0x5a) });
    mutate(type3);
    sock.write(`${type3.toString('base64')}\r\n`);
    return await line();
  } finally {
    sock.destroy();
  }
}

describe('what the NTLM server checks (so that passing means something)', () => {
  test('the MIC is verified: our AUTHENTICATE passes, the same with one MIC byte flipped is refused', async () => {
    assert.match(await rawImapNtlm(() => undefined), /^a1 OK/);
    assert.match(await rawImapNtlm((m) => m.writeUInt8(m.readUInt8(72) ^ 0xff, 72)), /^a1 NO/);
  });

  test('channel bindings are NOT checked by Samba behind Dovecot: any value is accepted (Exchange would check them)', async () => {
    // The bindings above were made up (a hash of 32 bytes of 0x5a, no TLS at all) and still passed.
    assert.match(await rawImapNtlm(() => undefined), /^a1 OK/);
  });
});

describe('NTLM over POP3', () => {
  test('right password: AUTH NTLM, drained and deleted, the password never on the wire', async () => {
    await deliver(2, 'ntlm-pop3');
    assert.equal(await server.dovecot.messageCount(NTLM_USER), 2, 'two messages wait');
    const p = await proxy({ targetPort: server.dovecot.pop3Port });
    const conn = pop3Connection({ ...server.dovecot, host: p.host, pop3Port: p.port }, { username: NTLM_USER, password: NTLM_PASSWORD }, { security: 'none', auth: { type: 'ntlm', username: `${NTLM_DOMAIN}\\${NTLM_USER}`, password: NTLM_PASSWORD } });
    const { r, taken } = await drain(conn);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(taken, 2);
    assert.equal(await server.dovecot.messageCount(NTLM_USER), 0);
    const lines = p.connections.flatMap((c) => c.clientLines);
    assert.ok(lines.includes('AUTH NTLM'), lines.join('\n'));
    assert.ok(!lines.some((l) => /^(USER|PASS|APOP|AUTH (PLAIN|LOGIN))\b/i.test(l)), 'no other mechanism');
    for (const c of p.connections) assert.deepEqual(ntlmMessages(c.clientLines).map((m) => m.readUInt32LE(8)), [1, 3], 'each session: NEGOTIATE, AUTHENTICATE');
    assertPasswordNeverSent(lines);
  });

  test('test-connection over implicit TLS names the NTLM login, bound to the TLS connection', async () => {
    const ws = makeWorkspace({ connections: [pop3Connection(server.dovecot, { username: NTLM_USER, password: NTLM_PASSWORD }, { security: 'tls', auth: ntlm() })] });
    try {
      const r = await runCli(['test-connection', 'journal', '--json'], ws);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const auth = (JSON.parse(r.stdout.trim()) as { steps: Array<{ step: string; detail: string }> }).steps.find((s) => s.step === 'auth');
      assert.match(auth?.detail ?? '', /logged in with NTLM \(NTLMv2\) as "journal" in domain "CORP", bound to this TLS connection \(tls-server-end-point\)/);
    } finally {
      ws.cleanup();
    }
  });

  test('wrong password over STLS: SOURCE_AUTH_REJECTED naming NTLM, the mail stays', async () => {
    await deliver(1, 'ntlm-pop3-wrong');
    const conn = pop3Connection(server.dovecot, { username: NTLM_USER, password: 'x' }, { security: 'starttls', auth: ntlm({ password: 'wrong-password' }) });
    const { r } = await drain(conn);
    assert.match(failedWith(r, 'SOURCE_AUTH_REJECTED'), /AUTH NTLM \(NTLMv2, domain "CORP"\)/);
    assert.equal(await server.dovecot.messageCount(NTLM_USER), 1);
    // Leave the mailbox empty for the next test.
    const ok = await drain(pop3Connection(server.dovecot, { username: NTLM_USER, password: NTLM_PASSWORD }, { security: 'starttls', auth: ntlm() }));
    assert.equal(ok.taken, 1, ok.r.stderr);
  });
});
