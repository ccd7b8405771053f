/**
 * The bound on a silent EWS server (`source-ews/ews-silence.ts`): one long-lived timer per client,
 * re-armed only when it fires, so reading an answer in many chunks sets no timer per chunk; a
 * wait silent past the limit fails, with a warning every `warnEveryMs` on the way; and, through
 * the source against a server that sends half an answer and then nothing, the drain gets
 * SOURCE_DATA_TIMEOUT naming the wait.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { Socket } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeCertificates } from '../harness/dovecot.js';
import { SilenceWatch } from '../../src/adapters/https-node/https-silence.js';
import { createEwsSource } from '../../src/adapters/source-ews/index.js';
import { MailsluiceError } from '../../src/core/errors/index.js';
import type { Logger } from '../../src/core/ports/logger.js';

const error = (limitMs: number, what: string): MailsluiceError => new MailsluiceError('SOURCE_DATA_TIMEOUT', `${what} silent for ${limitMs} ms`);

test('many short waits (an answer read in chunks) set no timer each: one timer, armed by the first, bounds them all', async () => {
  const watch = new SilenceWatch({ limitMs: 300_000, byOperator: false, warnEveryMs: 30_000, onSilence: () => assert.fail('no wait was silent') });
  const real = globalThis.setTimeout;
  let timers = 0;
  globalThis.setTimeout = ((...a: Parameters<typeof setTimeout>) => {
    timers++;
    return real(...a);
  }) as typeof setTimeout;
  try {
    // 5000 chunks (a 300 MB answer in 64 KB reads), each waited for across a turn of the event loop.
    for (let i = 0; i < 5000; i++) {
      const ticket = watch.begin('the answer to GetItem', () => assert.fail('no wait reached the limit'), error);
      await new Promise((r) => setImmediate(r));
      watch.end(ticket);
    }
    assert.equal(timers, 1, `${timers} timers for 5000 waits`);
  } finally {
    globalThis.setTimeout = real;
    watch.stop();
  }
});

test('a silent wait warns every warnEveryMs and fails at the limit; a later wait is bounded afresh', async () => {
  const warned: number[] = [];
  const watch = new SilenceWatch({ limitMs: 260, byOperator: true, warnEveryMs: 60, onSilence: (ms) => warned.push(ms) });
  // The watch's timer does not hold the process (the socket of the wait does, in the client): here nothing else would.
  const alive = setInterval(() => undefined, 1000);
  try {
    const t0 = performance.now();
    const err = await new Promise<MailsluiceError>((resolve) => watch.begin('the answer to FindItem', resolve, error));
    const took = performance.now() - t0;
    assert.ok(took >= 255 && took < 3000, `failed after ${took} ms`);
    assert.match(err.message, /the answer to FindItem silent for 260 ms/);
    // Whole steps of 60 ms, in order (a timer late under load may fold two steps into one warning).
    assert.ok(warned.length >= 2 && warned.every((ms, i) => ms % 60 === 0 && ms <= 240 && (i === 0 || ms > warned[i - 1]!)), JSON.stringify(warned));
    // The next wait starts its own count: short, it neither warns nor fails.
    warned.length = 0;
    let failed = false;
    const ticket = watch.begin('the answer to GetItem', () => (failed = true), error);
    await sleep(40);
    watch.end(ticket);
    await sleep(300);
    assert.deepEqual([failed, warned], [false, []]);
  } finally {
    clearInterval(alive);
    watch.stop();
  }
});

test('a server that sends half an answer and then nothing: SOURCE_DATA_TIMEOUT naming the wait, with warnings meanwhile', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ews-half-'));
  const c = await makeCertificates(dir);
  const [key, cert, ca] = await Promise.all([readFile(c.serverKeyPath), readFile(c.serverCertPath), readFile(c.caCertPath, 'utf8')]);
  const sockets = new Set<Socket>();
  const server = https.createServer({ key, cert }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8' });
      // The start of an answer, then silence (the connection stays open).
      res.write('<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>');
    });
  });
  server.on('connection', (s: Socket) => void sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const warnings: string[] = [];
  const logger: Logger = { debug: () => undefined, info: () => undefined, error: () => undefined, warn: (m) => void warnings.push(m), child: () => logger };
  const src = createEwsSource(
    {
      name: 'x',
      tls: { verify: true, minVersion: 'TLSv1.2', ca },
      auth: { type: 'none', disablePlain: false, apop: false },
      mailbox: 'INBOX',
      unseenOnly: false,
      idle: false,
      idleSafetyPollMs: 60000,
      deletePolicy: 'leave',
      ews: { url: `127.0.0.1:${(server.address() as { port: number }).port}/EWS/Exchange.asmx`, version: '2016' },
      connectTimeoutMs: 5000,
      dataTimeoutMs: 0,
    },
    logger,
    { silence: { limitMs: 400, warnEveryMs: 100 } },
  );
  try {
    const t0 = Date.now();
    const err = await src.open().then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof MailsluiceError, String(err));
    assert.equal(err.code, 'SOURCE_DATA_TIMEOUT');
    assert.match(err.message, /for 400 ms while waiting for the answer to GetFolder \(mailsluice's internal limit on a silent server/);
    assert.ok(Date.now() - t0 < 3000);
    assert.ok(warnings.length >= 2, `warnings: ${JSON.stringify(warnings)}`);
    assert.ok(warnings.every((w) => /while waiting for the answer to GetFolder/.test(w)), JSON.stringify(warnings));
  } finally {
    await src.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  }
});
