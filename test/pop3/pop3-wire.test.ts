/**
 * The bounds on a wait of the POP3 wire on their own, over a loopback socket: the silence
 * warnings come every `warnEveryMs` with the silence so far, the limit ends the wait, a deadline
 * earlier than both ends it first, and a server that trickles data (each piece well within the
 * limit, all of them together far beyond it) is never a silent one. The wire keeps one timer
 * across waits, so the last case is the one a stale timer would get wrong.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { Pop3Wire } from '../../src/adapters/source-pop3/pop3-wire.js';
import { MailsluiceError } from '../../src/core/errors/index.js';

const servers: Server[] = [];
const sockets = new Set<Socket>();
after(async () => {
  for (const s of sockets) s.destroy();
  for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
});

/** A wire connected to a loopback server, and the server's end of the connection. */
async function pair(dataTimeoutMs: number, silence?: ConstructorParameters<typeof Pop3Wire>[2]): Promise<{ wire: Pop3Wire; peer: Socket }> {
  const server = createServer();
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const wire = new Pop3Wire({ host: '127.0.0.1', port: addr.port }, dataTimeoutMs, silence);
  const sock = connect({ host: '127.0.0.1', port: addr.port });
  sockets.add(sock);
  wire.attach(sock);
  await wire.waitEvent('connect', 'the TCP connection', false);
  const [peer] = await accepted;
  sockets.add(peer);
  wire.phase = 'session';
  return { wire, peer };
}

async function failure(p: Promise<unknown>): Promise<MailsluiceError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof MailsluiceError, String(err));
    return err;
  }
  assert.fail('expected a rejection');
}

describe('the bounds on a wait', { concurrency: true, timeout: 10_000 }, () => {
  test('a warning every warnEveryMs with the silence so far, then the internal limit drops the connection', async () => {
    const told: Array<[number, string]> = [];
    const { wire } = await pair(0, { limitMs: 400, warnEveryMs: 120, onSilence: (ms, what) => told.push([ms, what]) });
    const t0 = Date.now();
    const e = await failure(wire.line('the answer to STAT'));
    const took = Date.now() - t0;
    assert.equal(e.code, 'SOURCE_DATA_TIMEOUT');
    assert.match(e.message, /for 400 ms while waiting for the answer to STAT \(mailsluice's internal limit/);
    assert.deepEqual(told, [
      [120, 'the answer to STAT'],
      [240, 'the answer to STAT'],
      [360, 'the answer to STAT'],
    ]);
    assert.ok(took >= 390 && took < 2000, `took ${took} ms`);
  });

  test("the operator's dataTimeoutMs wins over the internal limit and is named as the no-data timeout", async () => {
    const { wire } = await pair(150, { limitMs: 5000, warnEveryMs: 1000 });
    const e = await failure(wire.chunk('the greeting'));
    assert.equal(e.code, 'SOURCE_DATA_TIMEOUT');
    assert.match(e.message, /for 150 ms while waiting for the greeting \(no-data timeout\)/);
  });

  test('a warning that falls on the limit gives way to it', async () => {
    const told: number[] = [];
    const { wire } = await pair(0, { limitMs: 300, warnEveryMs: 150, onSilence: (ms) => told.push(ms) });
    assert.equal((await failure(wire.chunk('the answer to NOOP'))).code, 'SOURCE_DATA_TIMEOUT');
    assert.deepEqual(told, [150]);
  });

  test('a deadline earlier than the limit ends the wait with its own error', async () => {
    const { wire } = await pair(5000);
    wire.deadline = { at: Date.now() + 150, error: (what) => new MailsluiceError('SOURCE_GREETING_INVALID', `no greeting (${what})`) };
    const e = await failure(wire.line('the greeting'));
    assert.equal(e.code, 'SOURCE_GREETING_INVALID');
    assert.equal(e.message, 'no greeting (the greeting)');
  });

  test('a server that trickles (a piece every 50 ms, 1.5 s in all, limit 600 ms) is not silent', async () => {
    const told: number[] = [];
    const { wire, peer } = await pair(0, { limitMs: 600, warnEveryMs: 400, onSilence: (ms) => told.push(ms) });
    const lines = 30;
    let sent = 0;
    const timer = setInterval(() => {
      peer.write(`line ${sent}\r\n`);
      if (++sent === lines) clearInterval(timer);
    }, 50);
    try {
      for (let i = 0; i < lines; i++) assert.equal(await wire.line('the LIST listing'), `line ${i}`);
    } finally {
      clearInterval(timer);
    }
    assert.equal(wire.failure, null);
    assert.deepEqual(told, [], 'no wait lasted a warning interval');
    // The timer armed during the trickle must still bound the next wait from its own start.
    const t0 = Date.now();
    assert.equal((await failure(wire.chunk('the answer to QUIT'))).code, 'SOURCE_DATA_TIMEOUT');
    const took = Date.now() - t0;
    assert.ok(took >= 590 && took < 3000, `took ${took} ms`);
    assert.deepEqual(told, [400]);
  });
});
