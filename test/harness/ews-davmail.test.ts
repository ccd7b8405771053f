/**
 * The EWS simulator checked by an independent EWS client: Debian's DavMail in EWS mode (installed
 * with apt-get when missing, started and stopped by PID by test/harness/davmail.ts) logs in to the
 * simulator with Basic and with NTLM, lists its folders and serves the Inbox's messages through
 * its own IMAP port byte for byte; every EWS request DavMail sent and every answer is validated
 * against the EWS schemas (test/fixtures/ews-schema). IMAP is read with imapflow, not with mailsluice's code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import { startDavmail } from './davmail.js';
import { startEwsSimulator, type EwsSimulator, type EwsSimulatorOptions } from './ews-simulator.js';

const MESSAGES = [
  'From: Alice <alice@example.org>\r\nTo: journal@corp.example.com\r\nSubject: first\r\nMessage-ID: <1@example.org>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\nBody one\r\n',
  'From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.org>\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <2@example.org>\r\nMIME-Version: 1.0\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln & <Zürich>\r\n',
  'From: Bob <bob@example.org>\r\nSubject: with attachment\r\nMessage-ID: <3@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n' +
    `--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.alloc(3000, 7).toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n--b1--\r\n`,
];

interface Seen { folders: string[]; bodies: Buffer[] }

async function readThroughDavmail(sim: EwsSimulator, login: string): Promise<Seen> {
  const dm = await startDavmail({ ewsUrl: `https://${sim.url}`, certDer: sim.certificateDer });
  const client = new ImapFlow({ host: '127.0.0.1', port: dm.imapPort, secure: false, auth: { user: login, pass: 'journal-secret' }, logger: false });
  try {
    await client.connect();
    const folders = (await client.list()).map((f) => f.path).sort();
    const lock = await client.getMailboxLock('INBOX');
    const bodies: Buffer[] = [];
    try {
      for await (const m of client.fetch('1:*', { source: true })) bodies.push(m.source!);
    } finally {
      lock.release();
    }
    await client.logout();
    return { folders, bodies };
  } catch (e) {
    throw new Error(`DavMail could not read the simulated mailbox: ${(e as Error).message}\n--- DavMail log (tail) ---\n${(await dm.log()).slice(-6000)}`, { cause: e });
  } finally {
    client.close();
    await dm.stop();
  }
}

/** Basic validates every envelope DavMail exchanges; the others the default sample (about 0.5 s per xmllint run). */
async function simulator(opts: EwsSimulatorOptions): Promise<EwsSimulator> {
  const sim = await startEwsSimulator({ validateFirst: opts.auth?.[0] === 'Basic' ? Infinity : 3, ...opts });
  assert.ok(sim.schemaDir, 'the simulator must validate against the EWS schemas (test/fixtures/ews-schema)');
  sim.createFolder('Inbox/Journal');
  MESSAGES.forEach((m, i) => sim.add('Inbox', m, { received: new Date(Date.UTC(2026, 11, 7, 10, i)) }));
  sim.add('Inbox/Journal', MESSAGES[0]!);
  return sim;
}

for (const scheme of ['Basic', 'NTLM'] as const) {
  test(`DavMail (EWS mode, ${scheme}) lists the simulated folders and reads the Inbox byte for byte`, async () => {
    const sim = await simulator({ auth: [scheme] });
    try {
      const seen = await readThroughDavmail(sim, 'CORP\\journal');
      assert.deepEqual(seen.folders, ['Drafts', 'INBOX', 'INBOX/Journal', 'Junk', 'Sent', 'Trash', 'Unsent Messages'].sort());
      assert.deepEqual(seen.bodies.map((b) => b.toString('utf8')), MESSAGES);
      assert.ok(seen.bodies.every((b, i) => b.equals(Buffer.from(MESSAGES[i]!))));
      const ops = new Set(sim.requests.map((r) => r.operation));
      for (const op of ['GetFolder', 'ConvertId', 'FindFolder', 'FindItem', 'GetItem']) assert.ok(ops.has(op), `DavMail used ${op}`);
      assert.ok(sim.requests.every((r) => r.user === 'CORP\\journal'));
    } finally {
      await sim.stop();
    }
    assert.deepEqual(sim.validationErrors, [], 'DavMail\'s requests and the simulator\'s answers are valid against the EWS schemas');
  });
}

test('DavMail\'s NTLM (JCIFS, no channel binding) is refused when the simulator requires Extended Protection', async () => {
  const sim = await simulator({ auth: ['NTLM'], channelBinding: 'required' });
  try {
    await assert.rejects(readThroughDavmail(sim, 'CORP\\journal'), /DavMail could not read/);
    assert.ok(sim.authRefusals.some((r) => /MsvAvChannelBindings/.test(r)), sim.authRefusals.join('\n'));
    assert.deepEqual(sim.requests, []);
  } finally {
    await sim.stop();
  }
});
