/**
 * How the POP3 client meets a server that breaks the protocol: garbage greetings and status
 * lines, endless lines, responses cut by a close, silence, refused commands at the worst moments.
 * Dovecot never does any of this, so (only) here a tiny scripted TCP server on 127.0.0.1 plays
 * the server. Every case must end in a clear catalogue error, quickly, never in a hang.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { Pop3Client, type Pop3ClientOptions } from '../../src/adapters/source-pop3/pop3-client.js';
import { MailsluiceError, type ErrorCode } from '../../src/core/errors/index.js';
import { closedPort } from '../harness/imap-proxy.js';
import { rejectsWith as rejectsWithCode } from '../harness/errors.js';
import { ScriptedPeer } from '../harness/scripted-peer.js';

const PASSWORD = 'pw-Secret-4711';

/** The server side of one scripted connection. */
class Peer extends ScriptedPeer {
  /** Greets, answers CAPA (USER, UIDL unless told otherwise), takes USER and answers PASS. */
  async login(o: { greeting?: string; capa?: string[]; passReply?: string } = {}): Promise<void> {
    this.send(`${o.greeting ?? '+OK scripted POP3 ready'}\r\n`);
    await this.expect(/^CAPA$/);
    this.send(`+OK\r\n${(o.capa ?? ['USER', 'UIDL']).map((c) => `${c}\r\n`).join('')}.\r\n`);
    await this.expect(/^USER /);
    this.send('+OK\r\n');
    await this.expect(/^PASS /);
    this.send(`${o.passReply ?? '+OK logged in'}\r\n`);
  }

}

interface Scripted {
  port: number;
  /** The scripts' peers, in accept order. */
  peers: Peer[];
  /** A script that threw (the client did something the script did not expect). */
  scriptError(): unknown;
}

const servers: Server[] = [];
const sockets = new Set<Socket>();
after(async () => {
  for (const s of sockets) s.destroy();
  for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
});

/** Starts a scripted server on 127.0.0.1:0 running `script` for each connection. */
async function scripted(script: (peer: Peer) => Promise<void>): Promise<Scripted> {
  const peers: Peer[] = [];
  let error: unknown;
  const server = createServer((sock) => {
    sockets.add(sock);
    const peer = new Peer(sock);
    peers.push(peer);
    script(peer).catch((err: unknown) => {
      error ??= err;
      sock.destroy();
    });
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return { port: addr.port, peers, scriptError: () => error };
}

function options(port: number, over: Partial<Pop3ClientOptions> = {}): Pop3ClientOptions {
  return {
    host: '127.0.0.1',
    port,
    security: 'none',
    tls: { rejectUnauthorized: true },
    auth: { type: 'basic', username: 'journal', password: PASSWORD, disablePlain: false },
    connectTimeoutMs: 3000,
    dataTimeoutMs: 3000,
    ...over,
  };
}

/** The harness's assertion, plus: the password never appears in an error. */
function rejectsWith(p: Promise<unknown>, code: ErrorCode, re?: RegExp): Promise<MailsluiceError> {
  return rejectsWithCode(p, code, re, { never: PASSWORD });
}

async function drain(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

describe('greeting', { concurrency: true, timeout: 10_000 }, () => {
  test('a greeting that is not +OK is SOURCE_GREETING_INVALID quoting it', async () => {
    const s = await scripted(async (p) => p.send('HELLO\r\n'));
    const e = await rejectsWith(Pop3Client.connect(options(s.port)), 'SOURCE_GREETING_INVALID', /answered "HELLO" instead of a \+OK greeting/);
    assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${s.port}`));
    assert.equal(e.details?.step, 'greeting');
  });

  test('an -ERR greeting (server busy) is SOURCE_GREETING_INVALID', async () => {
    const s = await scripted(async (p) => p.send('-ERR too many connections\r\n'));
    await rejectsWith(Pop3Client.connect(options(s.port)), 'SOURCE_GREETING_INVALID', /"-ERR too many connections"/);
  });

  test('"+OKAY" is not a +OK greeting: status indicators are matched exactly', async () => {
    const s = await scripted(async (p) => p.send('+OKAY whatever\r\n'));
    await rejectsWith(Pop3Client.connect(options(s.port)), 'SOURCE_GREETING_INVALID', /"\+OKAY whatever"/);
  });

  test('a server that closes before greeting is SOURCE_NETWORK naming the greeting, even without timeouts', async () => {
    const s = await scripted(async (p) => p.close());
    const t0 = Date.now();
    await rejectsWith(Pop3Client.connect(options(s.port, { connectTimeoutMs: 0, dataTimeoutMs: 0 })), 'SOURCE_NETWORK', /closed the connection while we waited for the greeting/);
    assert.ok(Date.now() - t0 < 2000);
  });

  test('silence instead of a greeting: no-data timeout gives SOURCE_DATA_TIMEOUT quickly', async () => {
    const s = await scripted(async () => undefined);
    const t0 = Date.now();
    await rejectsWith(Pop3Client.connect(options(s.port, { connectTimeoutMs: 0, dataTimeoutMs: 200 })), 'SOURCE_DATA_TIMEOUT', /200 ms while waiting for the greeting/);
    const ms = Date.now() - t0;
    assert.ok(ms >= 180 && ms < 1500, `took ${ms} ms`);
  });

  test('silence instead of a greeting: the connect timeout covers the greeting', async () => {
    const s = await scripted(async () => undefined);
    const t0 = Date.now();
    const e = await rejectsWith(Pop3Client.connect(options(s.port, { connectTimeoutMs: 250, dataTimeoutMs: 0 })), 'SOURCE_GREETING_INVALID', /sent no greeting within the connect timeout \(250 ms\)/);
    assert.ok(Date.now() - t0 < 1500);
    assert.equal(e.details?.step, 'greeting');
  });

  test('a greeting line of 100 KB without a line break is SOURCE_PROTOCOL, not unbounded buffering', async () => {
    const s = await scripted(async (p) => p.send(`+OK ${'x'.repeat(100_000)}`));
    await rejectsWith(Pop3Client.connect(options(s.port)), 'SOURCE_PROTOCOL', /longer than 65536 bytes/);
  });

  test('nothing listening is SOURCE_CONNECT_REFUSED', async () => {
    const port = await closedPort();
    const e = await rejectsWith(Pop3Client.connect(options(port)), 'SOURCE_CONNECT_REFUSED', new RegExp(`127\\.0\\.0\\.1:${port} refused the connection`));
    assert.equal(e.details?.step, 'connect');
  });

  test('implicit TLS against a plain-text POP3 port is SOURCE_TLS_FAILED', async () => {
    const s = await scripted(async (p) => p.send('+OK plain text here\r\n'));
    const e = await rejectsWith(Pop3Client.connect(options(s.port, { security: 'tls' })), 'SOURCE_TLS_FAILED', /TLS/);
    assert.equal(e.details?.step, 'tls');
  });

  test('an aborted connect rejects at once and drops the connection', async () => {
    const s = await scripted(async () => undefined);
    const ac = new AbortController();
    const p = Pop3Client.connect(options(s.port, { connectTimeoutMs: 0, dataTimeoutMs: 0 }), ac.signal);
    setTimeout(() => ac.abort(), 100);
    await rejectsWith(p, 'SOURCE_NETWORK', /aborted/);
  });
});

describe('login', { concurrency: true, timeout: 10_000 }, () => {
  test('without CAPA (-ERR) the capabilities are empty and USER/PASS is used', async () => {
    const s = await scripted(async (p) => {
      p.send('+OK old server\r\n');
      await p.expect(/^CAPA$/);
      p.send('-ERR unknown command\r\n');
      await p.expect(/^USER journal$/);
      p.send('+OK\r\n');
      await p.expect(new RegExp(`^PASS ${PASSWORD}$`));
      p.send('+OK\r\n');
      await p.expect(/^QUIT$/);
      p.send('+OK bye\r\n');
    });
    const c = await Pop3Client.connect(options(s.port));
    assert.deepEqual(c.capabilities, []);
    await c.quit();
    assert.equal(s.scriptError(), undefined);
  });

  test('USER answered -ERR is SOURCE_AUTH_REJECTED with the server text, never the password', async () => {
    const s = await scripted(async (p) => {
      await p.login({ greeting: '+OK', capa: ['USER'], passReply: '-ERR [AUTH] Authentication failed.' });
    });
    const e = await rejectsWith(Pop3Client.connect(options(s.port)), 'SOURCE_AUTH_REJECTED', /rejected the login of "journal" \(USER\/PASS\): "\[AUTH\] Authentication failed\."/);
    assert.equal(e.retryable, false);
    assert.equal(e.details?.step, 'auth');
  });

  test('[IN-USE] on login is SOURCE_AUTH_REJECTED marked retryable', async () => {
    const s = await scripted(async (p) => {
      await p.login({ greeting: '+OK', capa: ['USER'], passReply: '-ERR [IN-USE] Mailbox is locked by another POP3 session' });
    });
    const e = await rejectsWith(Pop3Client.connect(options(s.port)), 'SOURCE_AUTH_REJECTED', /IN-USE/);
    assert.equal(e.retryable, true);
  });

  test('APOP without a <timestamp> in the greeting is SOURCE_AUTH_UNSUPPORTED', async () => {
    const s = await scripted(async (p) => {
      p.send('+OK no stamp here\r\n');
      await p.expect(/^CAPA$/);
      p.send('+OK\r\nUSER\r\n.\r\n');
    });
    await rejectsWith(
      Pop3Client.connect(options(s.port, { auth: { type: 'basic', username: 'journal', password: PASSWORD, disablePlain: false, apop: true } })),
      'SOURCE_AUTH_UNSUPPORTED',
      /no <timestamp>/,
    );
  });

  test('CAPA without USER and without a usable SASL mechanism is SOURCE_AUTH_UNSUPPORTED', async () => {
    const s = await scripted(async (p) => {
      p.send('+OK\r\n');
      await p.expect(/^CAPA$/);
      p.send('+OK\r\nUIDL\r\nSASL PLAIN\r\n.\r\n');
    });
    await rejectsWith(
      Pop3Client.connect(options(s.port, { auth: { type: 'basic', username: 'journal', password: PASSWORD, disablePlain: true } })),
      'SOURCE_AUTH_UNSUPPORTED',
      /offers no login .*SASL PLAIN is disabled by auth\.disablePlain.*try security starttls or tls/,
    );
  });

  test('an AUTH LOGIN server asking a third question is SOURCE_PROTOCOL', async () => {
    const s = await scripted(async (p) => {
      p.send('+OK\r\n');
      await p.expect(/^CAPA$/);
      p.send('+OK\r\nSASL LOGIN\r\n.\r\n');
      await p.expect(/^AUTH LOGIN$/);
      p.send('+ VXNlcm5hbWU6\r\n');
      await p.expect(/^am91cm5hbA==$/);
      p.send('+ UGFzc3dvcmQ6\r\n');
      await p.expect(/^[A-Za-z0-9+/=]+$/);
      p.send('+ U29tZXRoaW5nIGVsc2U6\r\n');
    });
    await rejectsWith(Pop3Client.connect(options(s.port)), 'SOURCE_PROTOCOL', /more AUTH LOGIN challenges/);
  });

  test('data after STLS +OK and before the handshake is refused (command injection)', async () => {
    const s = await scripted(async (p) => {
      p.send('+OK\r\n');
      await p.expect(/^CAPA$/);
      p.send('+OK\r\nSTLS\r\nUSER\r\n.\r\n');
      await p.expect(/^STLS$/);
      p.send('+OK Begin TLS\r\n+OK injected\r\n');
    });
    await rejectsWith(Pop3Client.connect(options(s.port, { security: 'starttls' })), 'SOURCE_PROTOCOL', /sent data after accepting STLS/);
  });

  test('security starttls against a server without STLS is SOURCE_STARTTLS_UNAVAILABLE and sends no credentials', async () => {
    const s = await scripted(async (p) => {
      p.send('+OK\r\n');
      await p.expect(/^CAPA$/);
      p.send('+OK\r\nUSER\r\nUIDL\r\n.\r\n');
      await p.next();
    });
    await rejectsWith(Pop3Client.connect(options(s.port, { security: 'starttls' })), 'SOURCE_STARTTLS_UNAVAILABLE', /does not offer STLS .*USER, UIDL.*starttls \(required\)/);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(s.peers[0]!.received, ['CAPA'], 'nothing but CAPA went over the unencrypted connection');
  });
});

describe('session', { concurrency: true, timeout: 10_000 }, () => {
  test('a garbage status line after a command is SOURCE_PROTOCOL quoting it, and the session is dead after', async () => {
    const s = await scripted(async (p) => {
      await p.login();
      await p.expect(/^STAT$/);
      p.send('HTTP/1.1 400 Bad Request\r\n');
      await p.next();
    });
    const c = await Pop3Client.connect(options(s.port));
    await rejectsWith(c.stat(), 'SOURCE_PROTOCOL', /answered STAT with "HTTP\/1\.1 400 Bad Request", which is neither \+OK nor -ERR/);
    const t0 = Date.now();
    await rejectsWith(c.noop(), 'SOURCE_PROTOCOL', /no longer usable/);
    assert.ok(Date.now() - t0 < 100, 'a dead session fails at once');
    c.close();
  });

  test('a long garbage line is quoted cut to about 100 characters', async () => {
    const s = await scripted(async (p) => {
      await p.login();
      await p.expect(/^NOOP$/);
      p.send(`${'garbage '.repeat(500)}\r\n`);
    });
    const c = await Pop3Client.connect(options(s.port));
    const e = await rejectsWith(c.noop(), 'SOURCE_PROTOCOL', /"(garbage ){12}garb"…/);
    assert.ok(e.message.length < 400, `message has ${e.message.length} characters`);
    c.close();
  });

  test('a listing cut by a close is SOURCE_NETWORK naming the listing, even without timeouts', async () => {
    const s = await scripted(async (p) => {
      await p.login();
      await p.expect(/^LIST$/);
      p.send('+OK 3 messages\r\n1 100\r\n2 200\r\n');
      p.close();
    });
    const c = await Pop3Client.connect(options(s.port, { connectTimeoutMs: 0, dataTimeoutMs: 0 }));
    await rejectsWith(c.list(), 'SOURCE_NETWORK', /closed the connection while we waited for the LIST listing/);
  });

  test('a RETR body cut by a close is SOURCE_NETWORK from the stream, even without timeouts', async () => {
    const s = await scripted(async (p) => {
      await p.login();
      await p.expect(/^RETR 1$/);
      p.send('+OK 5000 octets\r\nSubject: cut\r\n\r\nhalf a body\r\n');
      p.close();
    });
    const c = await Pop3Client.connect(options(s.port, { connectTimeoutMs: 0, dataTimeoutMs: 0 }));
    await rejectsWith(drain(c.retr(1)), 'SOURCE_NETWORK', /while we waited for the rest of message 1 \(RETR\)/);
  });

  test('a complete answer followed at once by a hang-up is still read whole', async () => {
    const s = await scripted(async (p) => {
      await p.login();
      await p.expect(/^RETR 1$/);
      p.send('+OK\r\nSubject: last words\r\n\r\n..and goodbye\r\n.\r\n');
      p.close();
    });
    const c = await Pop3Client.connect(options(s.port, { dataTimeoutMs: 0 }));
    assert.equal((await drain(c.retr(1))).toString('latin1'), 'Subject: last words\r\n\r\n.and goodbye\r\n');
    await rejectsWith(c.noop(), 'SOURCE_NETWORK', /POP3 server .* closed the connection/);
  });

  test('silence after a command: no-data timeout 200 ms gives SOURCE_DATA_TIMEOUT quickly', async () => {
    const s = await scripted(async (p) => {
      await p.login();
      await p.expect(/^STAT$/);
    });
    const c = await Pop3Client.connect(options(s.port, { dataTimeoutMs: 200 }));
    const t0 = Date.now();
    await rejectsWith(c.stat(), 'SOURCE_DATA_TIMEOUT', /for 200 ms while waiting for the answer to STAT/);
    const ms = Date.now() - t0;
    assert.ok(ms >= 180 && ms < 1500, `took ${ms} ms`);
  });

  test('silence in the middle of a RETR body gives SOURCE_DATA_TIMEOUT', async () => {
    const s = await scripted(async (p) => {
      await p.login();
      await p.expect(/^RETR 1$/);
      p.send('+OK\r\nSubject: stalled\r\n\r\nfirst line\r\n');
    });
    const c = await Pop3Client.connect(options(s.port, { dataTimeoutMs: 200 }));
    const t0 = Date.now();
    await rejectsWith(drain(c.retr(1)), 'SOURCE_DATA_TIMEOUT', /rest of message 1/);
    assert.ok(Date.now() - t0 < 1500);
  });

  test('a slow consumer is not a silent server: the no-data timeout runs only while waiting on the server', async () => {
    const body = `Subject: slow\r\n\r\n${'x'.repeat(200)}\r\n`;
    const s = await scripted(async (p) => {
      await p.login();
      await p.expect(/^RETR 1$/);
      // One chunk per write, with pauses, so the consumer sees several chunks.
      p.send(`+OK\r\n${body.slice(0, 50)}`);
      await new Promise((r) => setTimeout(r, 50));
      p.send(`${body.slice(50)}.\r\n`);
      await p.expect(/^NOOP$/);
      p.send('+OK\r\n');
    });
    const c = await Pop3Client.connect(options(s.port, { dataTimeoutMs: 150 }));
    const parts: Buffer[] = [];
    for await (const chunk of c.retr(1)) {
      parts.push(Buffer.from(chunk));
      await new Promise((r) => setTimeout(r, 400));
    }
    assert.equal(Buffer.concat(parts).toString('latin1'), body);
    await c.noop();
    c.close();
  });

  test('a malformed LIST line is SOURCE_PROTOCOL quoting it', async () => {
    const s = await scripted(async (p) => {
      await p.login();
      await p.expect(/^LIST$/);
      p.send('+OK\r\n1 100\r\ntwo hundred\r\n.\r\n');
    });
    const c = await Pop3Client.connect(options(s.port));
    await rejectsWith(c.list(), 'SOURCE_PROTOCOL', /malformed LIST line "two hundred"/);
    c.close();
  });

  test('a server without UIDL is a clear SOURCE_PROTOCOL that says why UIDL matters', async () => {
    const s = await scripted(async (p) => {
      await p.login({ greeting: '+OK', capa: ['USER', 'TOP'], passReply: '+OK' });
      await p.expect(/^UIDL$/);
      p.send('-ERR unknown command\r\n');
      await p.expect(/^NOOP$/);
      p.send('+OK\r\n');
    });
    const c = await Pop3Client.connect(options(s.port));
    const e = await rejectsWith(c.uidl(), 'SOURCE_PROTOCOL', /does not support UIDL .*CAPA does not list UIDL.*needs UIDL/);
    assert.equal(e.retryable, false);
    await c.noop();
    c.close();
  });

  test('QUIT answered -ERR rejects: deletions NOT committed', async () => {
    const s = await scripted(async (p) => {
      await p.login();
      await p.expect(/^DELE 1$/);
      p.send('+OK\r\n');
      await p.expect(/^QUIT$/);
      p.send('-ERR [SYS/TEMP] cannot update the maildrop\r\n');
    });
    const c = await Pop3Client.connect(options(s.port));
    await c.dele(1);
    await rejectsWith(c.quit(), 'SOURCE_PROTOCOL', /answered QUIT with -ERR .*NOT committed/);
    await rejectsWith(c.noop(), 'SOURCE_NETWORK', /no longer usable/);
  });

  test('a connection dropped before QUIT is answered rejects: deletions may not be committed', async () => {
    const s = await scripted(async (p) => {
      await p.login();
      await p.expect(/^QUIT$/);
      p.close();
    });
    const c = await Pop3Client.connect(options(s.port, { dataTimeoutMs: 0 }));
    await rejectsWith(c.quit(), 'SOURCE_NETWORK', /did not confirm QUIT.*may not have been committed/);
  });

  test('an -ERR to RETR is SOURCE_MESSAGE_VANISHED and the session goes on', async () => {
    const s = await scripted(async (p) => {
      await p.login();
      await p.expect(/^RETR 7$/);
      p.send('-ERR There is no message 7.\r\n');
      await p.expect(/^RETR 1$/);
      p.send('+OK\r\n..dot\r\nbody\r\n.\r\n');
    });
    const c = await Pop3Client.connect(options(s.port));
    await rejectsWith(drain(c.retr(7)), 'SOURCE_MESSAGE_VANISHED', /message 7 is no longer on POP3 server/);
    assert.equal((await drain(c.retr(1))).toString('latin1'), '.dot\r\nbody\r\n');
    c.close();
  });

  test('close() twice is harmless, and later commands reject', async () => {
    const s = await scripted(async (p) => {
      await p.login();
      await p.next();
    });
    const c = await Pop3Client.connect(options(s.port));
    c.close();
    c.close();
    await rejectsWith(c.stat(), 'SOURCE_NETWORK', /closed by mailsluice/);
    await rejectsWith(c.quit(), 'SOURCE_NETWORK', /not committed/);
  });
});
