/**
 * ImapWire, the drain's own IMAP command loop, against scripted servers: a tiny TCP server on
 * 127.0.0.1 plays the IMAP server (after imapflow's part: no greeting, no login, the mailbox is
 * selected), so a test controls every byte and how it is cut into TCP segments. Covered: tagged
 * answers and refusals, one command at a time, SEARCH/ESEARCH, FETCH bodies byte-exact however
 * they are chunked, streaming with back-pressure and early exits, flags, IDLE, the no-data
 * timeout, closes, and garbage from the server; plus the pure helpers of imap-response.ts and
 * the mailbox and flag quoting.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { PassThrough, Writable } from 'node:stream';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ImapWire, type ImapWireOptions, type WireMessage } from '../../src/adapters/source-imap/imap-wire.js';
import { ImapCommandError, ImapConnectionError } from '../../src/adapters/source-imap/imap-wire-errors.js';
import { quoteMailbox, flagList } from '../../src/adapters/source-imap/imap-command-text.js';
import { ImapParseError, LITERAL_MARK, tokenize, parseStatus, parseSearchNumbers, expandSequenceSet } from '../../src/adapters/source-imap/imap-response.js';
import { seededRandom } from '../harness/random.js';
import { ScriptedPeer } from '../harness/scripted-peer.js';

const KiB = 1024;
const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// The scripted server.

/** The server side of one scripted connection. */
class Peer extends ScriptedPeer {
  /** Waits for a tagged command whose text (after the tag) matches `re`. */
  async command(re: RegExp): Promise<{ tag: string; text: string }> {
    const l = await this.next();
    const m = l === null ? null : /^(\S+) (.*)$/.exec(l);
    if (!m || !re.test(m[2]!)) throw new Error(`scripted server expected a command ${re} but got ${JSON.stringify(l)}`);
    return { tag: m[1]!, text: m[2]! };
  }}

interface Session {
  wire: ImapWire;
  /** The client's socket (the one the wire reads). */
  client: Socket;
  peer: Peer;
  /** The script; rejects with what went wrong in it. */
  script: Promise<void>;
}

const servers: Server[] = [];
const sockets = new Set<Socket>();
const wires = new Set<ImapWire>();
after(async () => {
  for (const w of wires) w.destroy();
  for (const s of sockets) s.destroy();
  for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
});

/** A scripted server on 127.0.0.1:0, a client socket connected to it and an ImapWire on that socket. */
async function session(script: (peer: Peer) => Promise<void>, opts: Partial<ImapWireOptions> = {}): Promise<Session> {
  const server = createServer();
  servers.push(server);
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const client = connect(port, '127.0.0.1');
  sockets.add(client);
  await once(client, 'connect');
  const [sock] = await accepted;
  sockets.add(sock);
  const peer = new Peer(sock);
  const wire = new ImapWire(client, { dataTimeoutMs: 5000, where: `127.0.0.1:${port}`, ...opts });
  wires.add(wire);
  const run = (async () => script(peer))();
  run.catch(() => sock.destroy());
  return { wire, client, peer, script: run };
}

// ---------------------------------------------------------------------------------------------
// Assertions.

/** The rejection of `p`; fails when it resolves or is still pending after `ms`. */
async function rejection(p: Promise<unknown>, ms = 5000): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<'hang'>((resolve) => (timer = setTimeout(() => resolve('hang'), ms)));
  const out = await Promise.race([p.then(() => 'resolved' as const, (e: unknown) => ({ e })), hang]);
  clearTimeout(timer);
  if (out === 'hang') assert.fail(`still pending after ${ms} ms (expected a rejection)`);
  if (out === 'resolved') assert.fail('resolved, expected a rejection');
  return out.e;
}

async function rejectsAs<T extends Error>(p: Promise<unknown>, cls: abstract new (...args: never[]) => T, ms = 5000): Promise<T> {
  const e = await rejection(p, ms);
  assert.ok(e instanceof cls, `expected ${cls.name}, got ${e instanceof Error ? e.stack : String(e)}`);
  return e;
}

/** `p`'s value; fails when it is still pending after `ms` (a hang). */
async function within<T>(p: Promise<T>, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, hang]);
  } finally {
    clearTimeout(timer);
  }
}

interface Got {
  uid: number;
  body: Buffer;
  streamed: boolean;
  size: number;
  offset?: number;
  /** How many pieces a whole body came in. */
  pieces?: number;
}

/** Every message of a fetch, streams read to their end. */
async function collect(it: AsyncIterable<WireMessage>): Promise<Got[]> {
  const out: Got[] = [];
  for await (const m of it) {
    const base = { uid: m.uid, size: m.size, ...(m.offset !== undefined ? { offset: m.offset } : {}) };
    if (m.stream) {
      const parts: Buffer[] = [];
      for await (const c of m.stream) parts.push(Buffer.from(c));
      out.push({ ...base, body: Buffer.concat(parts), streamed: true });
    } else {
      assert.equal(
        m.parts.reduce((n, b) => n + b.length, 0),
        m.size,
        `the pieces of UID ${m.uid} add up to its size`,
      );
      // Pieces of a literal that spanned reads are handed on whole (to another thread): each must
      // own its memory, never be a view into a larger buffer.
      if (m.parts.length > 1) for (const b of m.parts) assert.ok(b.byteOffset === 0 && b.byteLength === b.buffer.byteLength, `a piece of UID ${m.uid} is a view`);
      out.push({ ...base, body: Buffer.concat(m.parts.map((b) => Buffer.from(b))), streamed: false, pieces: m.parts.length });
    }
  }
  return out;
}

function assertBodies(got: Got[], want: Array<{ uid: number; body: Buffer; streamed: boolean }>): void {
  assert.deepEqual(
    got.map((g) => ({ uid: g.uid, streamed: g.streamed, size: g.size, len: g.body.length })),
    want.map((w) => ({ uid: w.uid, streamed: w.streamed, size: w.body.length, len: w.body.length })),
  );
  for (let i = 0; i < want.length; i++) assert.ok(got[i]!.body.equals(want[i]!.body), `body of UID ${want[i]!.uid} differs`);
}

/** A session whose pending command died of a protocol fault: it is unusable afterwards. */
async function assertDeadAfter(s: Session, err: Error): Promise<void> {
  assert.equal(s.wire.usable, false);
  const again = await rejection(s.wire.run('NOOP'));
  assert.equal(again, err, 'a later command gets the error that ended the session');
}

// ---------------------------------------------------------------------------------------------
// Server-side building blocks.

/** `head{n}\r\n<body>tail`. */
function lit(head: string, body: Buffer, tail: string): Buffer {
  return Buffer.concat([Buffer.from(`${head}{${body.length}}\r\n`, 'latin1'), body, Buffer.from(tail, 'latin1')]);
}

/** Seeded random bytes with what a reader could mistake for protocol: CR, LF, NUL, ")", "{5}", a tagged line. */
function trickyBody(n: number, seed: number): Buffer {
  const rand = seededRandom(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  const traps = ['\r\n', '\0', ')', '{5}\r\n', '\r\nM1 OK fake\r\n', '* 9 FETCH (UID 9 BODY[] {3}\r\n', '\n', '\r', ')\r\n'];
  let at = 0;
  for (const t of traps) {
    if (at + t.length > n) break;
    b.write(t, at, 'latin1');
    at += t.length + Math.floor(n / (traps.length + 1));
  }
  if (n >= 5) b.write('{5}', n - 3, 'latin1'); // ends in what looks like a literal announcement
  return b;
}

// ---------------------------------------------------------------------------------------------

describe('imap-response: tokenize, parseStatus, parseSearchNumbers, expandSequenceSet', () => {
  test('tokenize: atoms, nested lists, quoted strings with escapes, bracketed sections as one atom', () => {
    const t = tokenize('(UID 12 FLAGS (\\Seen $Junk) BODY[HEADER.FIELDS (FROM TO)]<0> "q \\"x\\" \\\\" NIL "NIL" ())');
    assert.deepEqual(t, [['UID', '12', 'FLAGS', ['\\Seen', '$Junk'], 'BODY[HEADER.FIELDS (FROM TO)]<0>', { quoted: 'q "x" \\' }, 'NIL', { quoted: 'NIL' }, []]]);
    assert.deepEqual(tokenize(''), []);
    assert.deepEqual(tokenize('a  b'), ['a', 'b']);
  });

  test('tokenize: literal markers take the literals in order, as the same buffers', () => {
    const a = Buffer.from('first');
    const b = Buffer.from(') "not a string');
    const t = tokenize(`(UID 1 BODY[] ${LITERAL_MARK} X ${LITERAL_MARK})`, [a, b]);
    const list = t[0] as unknown[];
    assert.equal(list[3], a);
    assert.equal(list[5], b);
    assert.deepEqual(list.slice(0, 3), ['UID', '1', 'BODY[]']);
  });

  test('tokenize: unbalanced parentheses, an unterminated quote, a marker without literal are ImapParseError', () => {
    for (const bad of ['(UID 1', 'UID 1)', '((a) b', '"abc', '"abc\\', `(a ${LITERAL_MARK})`]) {
      assert.throws(() => tokenize(bad), (e: unknown) => e instanceof ImapParseError && e.code === 'ParserError', bad);
    }
  });

  test('parseStatus: status word, response code with and without arguments, text', () => {
    assert.deepEqual(parseStatus('OK [UIDVALIDITY 3857529045] UIDs valid'), { status: 'OK', code: 'UIDVALIDITY', codeArgs: '3857529045', text: 'UIDs valid' });
    assert.deepEqual(parseStatus('no [trycreate] Mailbox does not exist'), { status: 'NO', code: 'TRYCREATE', text: 'Mailbox does not exist' });
    assert.deepEqual(parseStatus('OK [READ-WRITE] SELECT completed'), { status: 'OK', code: 'READ-WRITE', text: 'SELECT completed' });
    assert.deepEqual(parseStatus('OK [ALERT]'), { status: 'OK', code: 'ALERT', text: '' });
    assert.deepEqual(parseStatus('BAD'), { status: 'BAD', text: '' });
    assert.deepEqual(parseStatus('BYE Autologout; idle for too long'), { status: 'BYE', text: 'Autologout; idle for too long' });
    assert.deepEqual(parseStatus('PREAUTH ready'), { status: 'PREAUTH', text: 'ready' });
    assert.equal(parseStatus('FETCH (UID 1)'), null);
    assert.equal(parseStatus('OKAY fine'), null);
    assert.equal(parseStatus(''), null);
  });

  test('parseSearchNumbers: numbers, none, extra spaces, a trailing MODSEQ; anything else is ImapParseError', () => {
    assert.deepEqual(parseSearchNumbers('2 84 882'), [2, 84, 882]);
    assert.deepEqual(parseSearchNumbers(''), []);
    assert.deepEqual(parseSearchNumbers(' 1  2 '), [1, 2]);
    assert.deepEqual(parseSearchNumbers('1 2 (MODSEQ 917162500)'), [1, 2]);
    assert.deepEqual(parseSearchNumbers('4294967295'), [4294967295]);
    for (const bad of ['1 x 3', '1,2', '-1', '1\t2']) assert.throws(() => parseSearchNumbers(bad), ImapParseError, bad);
  });

  test('expandSequenceSet: ranges (either way round) and single numbers; no "*", no huge ranges, no junk', () => {
    assert.deepEqual(expandSequenceSet('1:3,7'), [1, 2, 3, 7]);
    assert.deepEqual(expandSequenceSet('9'), [9]);
    assert.deepEqual(expandSequenceSet('5:3,10:10'), [3, 4, 5, 10]);
    const t0 = Date.now();
    for (const bad of ['1:*', '', '1,,2', 'a', '1:2:3', '1:20000002', '12345678901']) assert.throws(() => expandSequenceSet(bad), ImapParseError, bad);
    assert.ok(Date.now() - t0 < 1000, 'a huge range is refused before it is expanded');
  });
});

/** Decodes modified UTF-7 (RFC 3501 §5.1.3), written here independently of quoteMailbox. */
function decodeMutf7(s: string): string {
  return s.replace(/&([^-]*)-/g, (_, b64: string) => {
    if (b64 === '') return '&';
    const bytes = Buffer.from(b64.replace(/,/g, '/'), 'base64');
    let out = '';
    for (let i = 0; i + 1 < bytes.length; i += 2) out += String.fromCharCode(bytes.readUInt16BE(i));
    return out;
  });
}

describe('quoteMailbox and flagList', () => {
  test('atoms stay atoms; spaces, quotes, backslashes and wildcards make a quoted string with escapes', () => {
    assert.equal(quoteMailbox('INBOX'), 'INBOX');
    assert.equal(quoteMailbox('Archive/2024.Q1'), 'Archive/2024.Q1');
    assert.equal(quoteMailbox('Sent Items'), '"Sent Items"');
    assert.equal(quoteMailbox('say "hi"'), '"say \\"hi\\""');
    assert.equal(quoteMailbox('dom\\user'), '"dom\\\\user"');
    assert.equal(quoteMailbox('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(quoteMailbox('(x)'), '"(x)"');
    assert.equal(quoteMailbox('foo%'), '"foo%"');
    assert.equal(quoteMailbox('a*'), '"a*"');
    assert.equal(quoteMailbox('{5}'), '"{5}"');
    assert.equal(quoteMailbox(''), '""');
  });

  test('"&" is "&-"; non-ASCII is modified UTF-7 (RFC 3501 §5.1.3)', () => {
    assert.equal(quoteMailbox('R&D'), 'R&-D');
    assert.equal(quoteMailbox('&'), '&-');
    // ü = U+00FC: UTF-16BE 00 FC, base64 "APw=", padding dropped.
    assert.equal(quoteMailbox('Entwürfe'), 'Entw&APw-rfe');
    // RFC 3501's own example: 台北 and 日本語, with "," for base64's "/".
    assert.equal(quoteMailbox('~peter/mail/台北/日本語'), '~peter/mail/&U,BTFw-/&ZeVnLIqe-');
    // 中 = U+4E2D: bits 010011 100010 1101(00) = T i 0.
    assert.equal(quoteMailbox('中'), '&Ti0-');
    // 📁 = U+1F4C1, surrogates D83D DCC1: 110110 000011 110111 011100 110000 01(0000) = 2 D 3 c w Q.
    assert.equal(quoteMailbox('📁 Akten'), '"&2D3cwQ- Akten"');
    // A tab is not printable ASCII: U+0009 = 000000 000000 1001(00) = A A k.
    assert.equal(quoteMailbox('a\tb'), 'a&AAk-b');
    // Mixed runs, and an "&" right after an encoded run.
    assert.equal(quoteMailbox('Ü&Ö'), '&ANw-&-&ANY-');
  });

  test('random names round-trip through an independent modified UTF-7 decoder', () => {
    const rand = seededRandom(2024);
    const alphabet = ['a', 'Z', '0', ' ', '&', '-', '/', '.', 'ä', 'ß', '€', '台', '日', '😀', '\t', '"', '\\', '+', ','];
    for (let n = 0; n < 300; n++) {
      let name = '';
      const len = 1 + Math.floor(rand() * 12);
      for (let i = 0; i < len; i++) name += alphabet[Math.floor(rand() * alphabet.length)];
      const q = quoteMailbox(name);
      const unquoted = q.startsWith('"') ? q.slice(1, -1).replace(/\\(.)/g, '$1') : q;
      assert.match(unquoted, /^[\x20-\x7e]*$/, `only printable ASCII goes on the wire: ${JSON.stringify(q)}`);
      assert.equal(decodeMutf7(unquoted), name, JSON.stringify(q));
    }
  });

  test('CR, LF and NUL in a mailbox name are refused (they would end or break the command)', () => {
    for (const bad of ['a\r\nb', 'a\nb', 'a\rb', 'a\0b', 'INBOX\r\nM9 DELETE INBOX']) {
      assert.throws(() => quoteMailbox(bad), ImapParseError, JSON.stringify(bad));
    }
  });

  test('flagList: flag atoms in parentheses; spaces, parentheses, quotes, braces, wildcards refused', () => {
    assert.equal(flagList(['\\Seen', '$Forwarded', 'Junk']), '(\\Seen $Forwarded Junk)');
    assert.equal(flagList([]), '()');
    for (const bad of ['a b', '(x', 'x)', '"x"', '\\\\Seen', '', 'x\r\n', '{3}', '\\', '%', '\\*', 'x]']) {
      assert.throws(() => flagList(['\\Seen', bad]), ImapParseError, JSON.stringify(bad));
    }
  });
});

/** `gc()` without --expose-gc on the command line (the test runner starts the process). */
function exposeGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

// First of the suites that touch the network, so that no other test's memory is in the figures.
describe('fetch: back-pressure', { timeout: 30_000 }, () => {
  test('a 64 MiB body streamed to a slow consumer: the socket is paused, memory stays far below 64 MiB, no timeout while held back', async (t) => {
    const gc = exposeGc();
    const TOTAL = 64 * MiB;
    const BLOCK = 256 * KiB;
    const serverHash = createHash('sha256');
    const s = await session(
      async (p) => {
        const { tag } = await p.command(/^UID FETCH 61 \(UID BODY\.PEEK\[\]\)$/);
        p.send(`* 1 FETCH (UID 61 BODY[] {${TOTAL}}\r\n`);
        const block = randomBytes(BLOCK);
        for (let i = 0; i * BLOCK < TOTAL; i++) {
          const chunk = Buffer.from(block);
          chunk.writeUInt32BE(i, 0); // every block different, so a lost or repeated block shows
          serverHash.update(chunk);
          await p.write(chunk);
        }
        await p.write(Buffer.from(`)\r\n${tag} OK\r\n`));
      },
      { dataTimeoutMs: 300 },
    );
    // Dead buffers' memory is returned after the collection, not during it: let it settle.
    const settled = async (): Promise<NodeJS.MemoryUsage> => {
      gc();
      await sleep(20);
      return process.memoryUsage();
    };
    await settled();
    const base = await settled();
    let peakArrayBuffers = 0;
    let peakRss = 0;
    let pausedSeen = 0;
    let samples = 0;
    const clientHash = createHash('sha256');
    let got = 0;
    let stalled = false;
    const t0 = Date.now();
    await within(
      (async () => {
        for await (const m of s.wire.fetch('61', { streamAbove: MiB })) {
          assert.equal(m.uid, 61);
          assert.equal(m.size, TOTAL);
          assert.ok(m.stream, 'streamed');
          let sinceSample = 0;
          for await (const c of m.stream) {
            clientHash.update(c);
            got += c.length;
            sinceSample += c.length;
            if (sinceSample < MiB) continue;
            sinceSample = 0;
            samples++;
            if (s.client.isPaused()) pausedSeen++;
            const mu = await settled(); // also what makes this consumer slow
            peakArrayBuffers = Math.max(peakArrayBuffers, mu.arrayBuffers);
            peakRss = Math.max(peakRss, mu.rss);
            if (!stalled && got >= TOTAL / 2) {
              // Longer than dataTimeoutMs: the server can send nothing, yet this is no timeout.
              stalled = true;
              await sleep(1000);
            }
          }
        }
      })(),
      25_000,
    );
    await s.script;
    assert.equal(got, TOTAL);
    assert.equal(clientHash.digest('hex'), serverHash.digest('hex'), 'the 64 MiB arrived byte for byte');
    assert.ok(pausedSeen > samples / 2, `the socket was paused at ${pausedSeen} of ${samples} samples`);
    const abGrowth = (peakArrayBuffers - base.arrayBuffers) / MiB;
    const rssGrowth = (peakRss - base.rss) / MiB;
    assert.ok(abGrowth < 32, `buffers grew by ${abGrowth.toFixed(1)} MiB`);
    assert.ok(rssGrowth < 40, `rss grew by ${rssGrowth.toFixed(1)} MiB`);
    assert.ok(Date.now() - t0 > 2000, 'the consumer was slower than the server');
    t.diagnostic(`64 MiB stream: buffers +${abGrowth.toFixed(1)} MiB, rss +${rssGrowth.toFixed(1)} MiB, paused at ${pausedSeen}/${samples} samples, ${Date.now() - t0} ms`);
  });
});

describe('run: tagged answers', { concurrency: true, timeout: 15_000 }, () => {
  test('a tagged OK resolves with status, response code and text', async () => {
    const s = await session(async (p) => {
      const { tag } = await p.command(/^NOOP$/);
      p.send(`${tag} OK [READ-WRITE] NOOP completed\r\n`);
    });
    const r = await within(s.wire.run('NOOP'));
    assert.deepEqual(r, { status: { status: 'OK', code: 'READ-WRITE', text: 'NOOP completed' } });
    await s.script;
  });

  test('NO and BAD reject with ImapCommandError carrying status, code, text and the command; the session goes on', async () => {
    const store = 'UID STORE 1:3 +FLAGS.SILENT (\\Seen)';
    const s = await session(async (p) => {
      let { tag } = await p.command(/^UID STORE 1:3 \+FLAGS\.SILENT \(\\Seen\)$/);
      p.send(`${tag} NO [CANNOT] Permission denied\r\n`);
      ({ tag } = await p.command(/^XYZZY$/));
      p.send(`${tag} BAD Error in IMAP command XYZZY: Unknown command.\r\n`);
      ({ tag } = await p.command(/^NOOP$/));
      p.send(`${tag} OK done\r\n`);
    });
    const no = await rejectsAs(s.wire.run(store), ImapCommandError);
    assert.equal(no.responseStatus, 'NO');
    assert.equal(no.serverResponseCode, 'CANNOT');
    assert.equal(no.responseText, 'Permission denied');
    assert.equal(no.command, store);
    assert.match(no.message, /NO \[CANNOT\] Permission denied/);
    const bad = await rejectsAs(s.wire.run('XYZZY'), ImapCommandError);
    assert.equal(bad.responseStatus, 'BAD');
    assert.equal(bad.serverResponseCode, undefined);
    assert.equal(bad.responseText, 'Error in IMAP command XYZZY: Unknown command.');
    assert.equal(bad.command, 'XYZZY');
    assert.equal(s.wire.usable, true);
    assert.equal((await within(s.wire.run('NOOP'))).status.status, 'OK');
    await s.script;
  });

  test('commands go one at a time: the server sees the next only after it answered the last; tags are unique', async () => {
    const commands = ['NOOP', 'CHECK', 'UID STORE 5 +FLAGS.SILENT (\\Seen)', 'UID EXPUNGE 5', 'NOOP'];
    const s = await session(async (p) => {
      for (let i = 0; i < commands.length; i++) {
        const { tag } = await p.command(/./);
        await sleep(40);
        if (p.received.length !== i + 1) throw new Error(`the client sent ${JSON.stringify(p.received.slice(i + 1))} before command ${i + 1} was answered`);
        p.send(i === 2 ? `${tag} NO [CANNOT] refused\r\n` : `${tag} OK done\r\n`);
      }
    });
    const results = await within(Promise.allSettled(commands.map((c) => s.wire.run(c))));
    await s.script;
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    assert.deepEqual(s.peer.received.map((l) => l.slice(l.indexOf(' ') + 1)), commands, 'sent in the order asked');
    const tags = s.peer.received.map((l) => l.slice(0, l.indexOf(' ')));
    assert.equal(new Set(tags).size, tags.length, `unique tags: ${tags.join(' ')}`);
    for (const t of tags) assert.match(t, /^[A-Za-z0-9]+$/);
  });

  test('a tagged answer behind untagged noise, one byte per TCP write; EXISTS is reported', async () => {
    const exists: number[] = [];
    const s = await session(async (p) => {
      const { tag } = await p.command(/^NOOP$/);
      await p.sendBytewise(`* 7 EXISTS\r\n* 3 EXPUNGE\r\n* 1 RECENT\r\n* OK [HIGHESTMODSEQ 5] x\r\n* FLAGS (\\Seen \\Deleted)\r\n* CAPABILITY IMAP4rev1 IDLE\r\n* 2 FETCH (FLAGS (\\Seen))\r\n${tag} OK NOOP completed\r\n`);
    });
    s.wire.onExists = (n) => exists.push(n);
    const r = await within(s.wire.run('NOOP'));
    assert.deepEqual(r.status, { status: 'OK', text: 'NOOP completed' });
    assert.deepEqual(exists, [7]);
    await s.script;
  });
});

describe('SEARCH and ESEARCH', { concurrency: true, timeout: 15_000 }, () => {
  test('* SEARCH answers split over several lines and TCP chunks are collected in order', async () => {
    const s = await session(async (p) => {
      let { tag } = await p.command(/^NOOP$/);
      p.send(`* SEARCH 99\r\n${tag} OK\r\n`); // an answer to a command that did not search: not collected
      ({ tag } = await p.command(/^UID SEARCH UID 5:\* UNDELETED$/));
      await p.sendPieces(['* SEARCH 5 9 1', '2\r\n* SEA', 'RCH 13 \r', '\n* SEARCH\r\n* SEARCH 14 (MODSEQ 77)\r\n', `${tag} OK Search completed\r\n`]);
    });
    const [noop, search] = await within(s.wire.sequence(['NOOP', 'UID SEARCH UID 5:* UNDELETED']));
    assert.equal(noop!.search, undefined);
    assert.deepEqual(search!.search, [5, 9, 12, 13, 14]);
    await s.script;
  });

  test('a SEARCH without results gives an empty list', async () => {
    const s = await session(async (p) => {
      const { tag } = await p.command(/^UID SEARCH/);
      p.send(`* SEARCH\r\n${tag} OK\r\n`);
    });
    const [r] = await within(s.wire.sequence(['UID SEARCH UID 1:* UNDELETED']));
    assert.deepEqual(r!.search, []);
    await s.script;
  });

  test('ESEARCH (TAG "..") UID ALL 1:3,7 is expanded; another tag\'s ESEARCH and COUNT/MIN/MAX are not results', async () => {
    const s = await session(async (p) => {
      let { tag } = await p.command(/^UID SEARCH RETURN \(ALL\) UNDELETED$/);
      p.send(`* ESEARCH (TAG "X99") UID ALL 100:101\r\n* ESEARCH (TAG "${tag}") UID MIN 1 MAX 7 ALL 1:3,7 COUNT 4\r\n${tag} OK\r\n`);
      ({ tag } = await p.command(/^UID SEARCH RETURN \(ALL\) UID 500:\*$/));
      p.send(`* ESEARCH (TAG "${tag}") UID COUNT 0\r\n${tag} OK\r\n`);
    });
    const r = await within(s.wire.run('UID SEARCH RETURN (ALL) UNDELETED', { search: true }));
    assert.deepEqual(r.search, [1, 2, 3, 7]);
    const none = await within(s.wire.run('UID SEARCH RETURN (ALL) UID 500:*', { search: true }));
    assert.deepEqual(none.search, []);
    await s.script;
  });
});

/** The FETCH answer of the whole-body tests: UID before and after, flags only, NIL, an empty body. */
const B11 = Buffer.from(')');
const B12 = trickyBody(300, 12);
const B15 = trickyBody(3000, 15);
const B16 = Buffer.alloc(0);
function wholeBodyAnswer(tag: string): Buffer {
  return Buffer.concat([
    lit('* 1 FETCH (UID 11 BODY[] ', B11, ')\r\n'),
    lit('* 2 FETCH (BODY[] ', B12, ' UID 12 FLAGS (\\Seen))\r\n'),
    Buffer.from('* 3 FETCH (FLAGS (\\Seen \\Deleted))\r\n'),
    Buffer.from('* 4 FETCH (UID 14 BODY[] NIL)\r\n'),
    Buffer.from('* 9 EXPUNGE\r\n'),
    lit('* 5 FETCH (UID 15 FLAGS () BODY[] ', B15, ')\r\n'),
    lit('* 6 FETCH (UID 16 BODY[] ', B16, ')\r\n'),
    Buffer.from(`${tag} OK Fetch completed (0.001 + 0.000 secs).\r\n`),
  ]);
}
const FETCH_11_16 = /^UID FETCH 11:16 \(UID BODY\.PEEK\[\]\)$/;
function wholeBodyWant(streamAbove: number): Array<{ uid: number; body: Buffer; streamed: boolean }> {
  return [
    { uid: 11, body: B11, streamed: false },
    // The UID comes after the body: it is held whole whatever its size (the consumer needs the UID first).
    { uid: 12, body: B12, streamed: false },
    { uid: 15, body: B15, streamed: B15.length > streamAbove },
    { uid: 16, body: B16, streamed: false },
  ];
}

describe('fetch: whole bodies', { concurrency: true, timeout: 15_000 }, () => {
  for (const streamAbove of [Number.POSITIVE_INFINITY, 100]) {
    const label = streamAbove === Number.POSITIVE_INFINITY ? 'held whole' : 'above 100 bytes streamed';
    test(`all in one write (${label})`, async () => {
      const s = await session(async (p) => {
        const { tag } = await p.command(FETCH_11_16);
        p.send(wholeBodyAnswer(tag));
      });
      assertBodies(await within(collect(s.wire.fetch('11:16', { streamAbove }))), wholeBodyWant(streamAbove));
      await s.script;
    });

    test(`one byte per TCP write (${label})`, async () => {
      let answerLength = 0;
      const s = await session(async (p) => {
        const { tag } = await p.command(FETCH_11_16);
        const answer = wholeBodyAnswer(tag);
        answerLength = answer.length;
        await p.sendBytewise(answer);
      });
      let reads = 0;
      s.client.on('data', () => reads++);
      const got = await within(collect(s.wire.fetch('11:16', { streamAbove })), 10_000);
      assertBodies(got, wholeBodyWant(streamAbove));
      await s.script;
      // Held whole, the 3000-byte body came as pieces of their own (checked in collect()).
      if (streamAbove === Number.POSITIVE_INFINITY) assert.ok((got.find((g) => g.uid === 15)?.pieces ?? 0) > 1);
      assert.ok(reads > answerLength / 4, `the answer arrived in ${reads} reads for ${answerLength} bytes`);
      // And the session is fine afterwards.
      assert.equal(s.wire.usable, true);
    });
  }

  test('one byte per chunk through a plain stream pair (no TCP: every chunk boundary, deterministically)', async () => {
    const input = new PassThrough();
    const sent: string[] = [];
    let chunks = 0;
    let answerLength = 0;
    const output = new Writable({
      write(chunk: Buffer, _enc, cb) {
        const line = chunk.toString('latin1');
        sent.push(line);
        const tag = line.slice(0, line.indexOf(' '));
        const answer = wholeBodyAnswer(tag);
        answerLength = answer.length;
        setImmediate(() => {
          for (let i = 0; i < answer.length; i++) input.write(answer.subarray(i, i + 1));
        });
        cb();
      },
    });
    const wire = new ImapWire(input, { dataTimeoutMs: 0, where: 'memory' }, output);
    wires.add(wire);
    input.on('data', () => chunks++);
    assertBodies(await within(collect(wire.fetch('11:16', { streamAbove: 100 }))), wholeBodyWant(100));
    assert.equal(chunks, answerLength, 'one data event per byte');
    assert.equal(sent.length, 1);
    assert.match(sent[0]!, /^M\d+ UID FETCH 11:16 \(UID BODY\.PEEK\[\]\)\r\n$/);
  });

  test('a body as a quoted string is taken too', async () => {
    const s = await session(async (p) => {
      const { tag } = await p.command(/^UID FETCH 3 /);
      p.send(`* 1 FETCH (UID 3 BODY[] "Subject: x\\"y\\"")\r\n${tag} OK\r\n`);
    });
    const got = await within(collect(s.wire.fetch('3', { streamAbove: Number.POSITIVE_INFINITY })));
    assert.deepEqual(got.map((g) => [g.uid, g.body.toString('latin1')]), [[3, 'Subject: x"y"']]);
    await s.script;
  });

  test('a partial answer BODY[]<1024> {n} gives the offset (held whole and streamed)', async () => {
    const part = trickyBody(512, 1024);
    const s = await session(async (p) => {
      for (let i = 0; i < 2; i++) {
        const { tag } = await p.command(/^UID FETCH 42 \(UID BODY\.PEEK\[\]<1024\.512>\)$/);
        p.send(Buffer.concat([lit('* 9 FETCH (UID 42 BODY[]<1024> ', part, ')\r\n'), Buffer.from(`${tag} OK\r\n`)]));
      }
    });
    const whole = await within(collect(s.wire.fetch('42', { streamAbove: Number.POSITIVE_INFINITY, partial: { offset: 1024, length: 512 } })));
    assert.equal(whole.length, 1);
    assert.deepEqual({ uid: whole[0]!.uid, offset: whole[0]!.offset, streamed: whole[0]!.streamed }, { uid: 42, offset: 1024, streamed: false });
    assert.ok(whole[0]!.body.equals(part));
    const streamed = await within(collect(s.wire.fetch('42', { streamAbove: 100, partial: { offset: 1024, length: 512 } })));
    assert.deepEqual({ uid: streamed[0]!.uid, offset: streamed[0]!.offset, streamed: streamed[0]!.streamed }, { uid: 42, offset: 1024, streamed: true });
    assert.ok(streamed[0]!.body.equals(part));
    await s.script;
  });

  test('a FETCH with a body but no UID is a protocol error that ends the iteration', async () => {
    const s = await session(async (p) => {
      const { tag } = await p.command(/^UID FETCH 7 /);
      p.send(Buffer.concat([lit('* 1 FETCH (BODY[] ', Buffer.from('hello'), ')\r\n'), Buffer.from(`${tag} OK\r\n`)]));
    });
    const e = await rejectsAs(collect(s.wire.fetch('7', { streamAbove: Number.POSITIVE_INFINITY })), ImapParseError);
    assert.equal(e.code, 'ParserError');
    assert.match(e.message, /without a UID/);
    await assertDeadAfter(s, e);
  });

  test('a refused FETCH ends the iteration with ImapCommandError; the session goes on', async () => {
    const s = await session(async (p) => {
      let { tag } = await p.command(/^UID FETCH 1:2 /);
      p.send(`${tag} NO [SERVERBUG] Internal error\r\n`);
      ({ tag } = await p.command(/^NOOP$/));
      p.send(`${tag} OK\r\n`);
    });
    const e = await rejectsAs(collect(s.wire.fetch('1:2', { streamAbove: 10 })), ImapCommandError);
    assert.equal(e.serverResponseCode, 'SERVERBUG');
    assert.equal(e.command, 'UID FETCH 1:2 (UID BODY.PEEK[])');
    await within(s.wire.run('NOOP'));
    await s.script;
  });
});

describe('flags', { concurrency: true, timeout: 15_000 }, () => {
  test('UID FETCH 1:3 (UID FLAGS) through sequence() returns the flags of each UID', async () => {
    const s = await session(async (p) => {
      let { tag } = await p.command(/^NOOP$/);
      p.send(`* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n${tag} OK\r\n`); // not collected: NOOP asked for no flags
      ({ tag } = await p.command(/^UID FETCH 1:3 \(UID FLAGS\)$/));
      await p.sendPieces([
        '* 1 FETCH (UID 1 FLAGS (\\Seen \\Flagged))\r\n* 2 FETCH (FLAGS () UID 2)\r\n* 3 FETCH (UI',
        `D 3 FLAGS ($Forwarded \\Seen))\r\n* 4 FETCH (FLAGS (\\Deleted))\r\n* 5 EXISTS\r\n${tag} OK Fetch completed\r\n`,
      ]);
    });
    const [noop, fetched] = await within(s.wire.sequence(['NOOP', 'UID FETCH 1:3 (UID FLAGS)']));
    assert.equal(noop!.flags, undefined);
    assert.deepEqual(
      fetched!.flags,
      new Map([
        [1, ['\\Seen', '\\Flagged']],
        [2, []],
        [3, ['$Forwarded', '\\Seen']],
      ]),
    );
    await s.script;
  });

  test('sequence() stops at the first refusal and throws it', async () => {
    const s = await session(async (p) => {
      const { tag } = await p.command(/^NOOP$/);
      p.send(`${tag} BAD no\r\n`);
    });
    const e = await rejectsAs(s.wire.sequence(['NOOP', 'UID FETCH 1:3 (UID FLAGS)']), ImapCommandError);
    assert.equal(e.command, 'NOOP');
    await sleep(50);
    assert.deepEqual(s.peer.received.map((l) => l.replace(/^\S+ /, '')), ['NOOP']);
    await s.script;
  });
});

describe('fetch: streaming', { timeout: 30_000 }, () => {
  test('a body above streamAbove arrives as chunks whose concatenation is the literal', async () => {
    const big = trickyBody(MiB + 17, 21);
    const s = await session(async (p) => {
      const { tag } = await p.command(/^UID FETCH 21:22 /);
      await p.write(Buffer.concat([lit('* 1 FETCH (UID 21 BODY[] ', big, ')\r\n'), lit('* 2 FETCH (UID 22 BODY[] ', Buffer.from('hello'), ')\r\n'), Buffer.from(`${tag} OK\r\n`)]));
    });
    const seen: Array<{ uid: number; size: number; chunks: number; body: Buffer; streamed: boolean }> = [];
    for await (const m of s.wire.fetch('21:22', { streamAbove: 64 * KiB })) {
      if (m.stream) {
        assert.equal(m.parts, undefined);
        const parts: Buffer[] = [];
        for await (const c of m.stream) parts.push(Buffer.from(c));
        seen.push({ uid: m.uid, size: m.size, chunks: parts.length, body: Buffer.concat(parts), streamed: true });
      } else seen.push({ uid: m.uid, size: m.size, chunks: 1, body: Buffer.concat(m.parts), streamed: false });
    }
    assert.deepEqual(seen.map((m) => [m.uid, m.size, m.streamed]), [
      [21, big.length, true],
      [22, 5, false],
    ]);
    assert.ok(seen[0]!.chunks > 1, `${seen[0]!.chunks} chunks`);
    assert.ok(seen[0]!.body.equals(big), 'the streamed body is the literal, byte for byte');
    assert.equal(seen[1]!.body.toString(), 'hello');
    await s.script;
  });

  test('a consumer that leaves a body early (break out of its for-await) lets the rest pass; the next message and command work', async () => {
    const big = randomBytes(20 * MiB);
    const s = await session(async (p) => {
      let { tag } = await p.command(/^UID FETCH 31:32 /);
      await p.write(lit('* 1 FETCH (UID 31 BODY[] ', big, ')\r\n'));
      await p.write(Buffer.concat([lit('* 2 FETCH (UID 32 BODY[] ', Buffer.from('after'), ')\r\n'), Buffer.from(`${tag} OK\r\n`)]));
      ({ tag } = await p.command(/^NOOP$/));
      p.send(`${tag} OK\r\n`);
    });
    const got: Array<[number, string]> = [];
    let pausedWhileWaiting = false;
    await within(
      (async () => {
        for await (const m of s.wire.fetch('31:32', { streamAbove: 64 * KiB })) {
          if (m.stream) {
            for await (const c of m.stream) {
              assert.ok(c.length > 0);
              // Hold the first chunk a while: the queue fills and the socket is paused.
              await sleep(400);
              pausedWhileWaiting = s.client.isPaused();
              break;
            }
            got.push([m.uid, 'left early']);
          } else got.push([m.uid, Buffer.concat(m.parts).toString()]);
        }
      })(),
      10_000,
    );
    assert.ok(pausedWhileWaiting, 'a slow consumer pauses the socket');
    assert.deepEqual(got, [
      [31, 'left early'],
      [32, 'after'],
    ]);
    assert.equal((await within(s.wire.run('NOOP'))).status.status, 'OK');
    await s.script;
  });

  test('a consumer that stops iterating the messages before a large body comes: the rest passes, the next command works', async () => {
    const s = await session(async (p) => {
      let { tag } = await p.command(/^UID FETCH 41:43 /);
      p.send(lit('* 1 FETCH (UID 41 BODY[] ', Buffer.from('first'), ')\r\n'));
      await sleep(150);
      await p.write(lit('* 2 FETCH (UID 42 BODY[] ', randomBytes(20 * MiB), ')\r\n'));
      await p.write(Buffer.concat([lit('* 3 FETCH (UID 43 BODY[] ', Buffer.from('third'), ')\r\n'), Buffer.from(`${tag} OK\r\n`)]));
      ({ tag } = await p.command(/^NOOP$/));
      p.send(`${tag} OK\r\n`);
    });
    const uids: number[] = [];
    for await (const m of s.wire.fetch('41:43', { streamAbove: 64 * KiB })) {
      uids.push(m.uid);
      break;
    }
    assert.deepEqual(uids, [41]);
    assert.equal((await within(s.wire.run('NOOP'))).status.status, 'OK');
    await within(s.script);
  });

  test('a consumer that stops iterating while holding an unread streaming body: the rest passes, the next command works', async () => {
    const s = await session(async (p) => {
      let { tag } = await p.command(/^UID FETCH 51:52 /);
      await p.write(lit('* 1 FETCH (UID 51 BODY[] ', randomBytes(20 * MiB), ')\r\n'));
      await p.write(Buffer.concat([lit('* 2 FETCH (UID 52 BODY[] ', Buffer.from('second'), ')\r\n'), Buffer.from(`${tag} OK\r\n`)]));
      ({ tag } = await p.command(/^NOOP$/));
      p.send(`${tag} OK\r\n`);
    });
    for await (const m of s.wire.fetch('51:52', { streamAbove: 64 * KiB })) {
      assert.equal(m.uid, 51);
      assert.ok(m.stream);
      break; // e.g. the archive failed before it began to read this body
    }
    assert.equal((await within(s.wire.run('NOOP'))).status.status, 'OK');
    await within(s.script);
  });
});

describe('IDLE', { concurrency: true, timeout: 15_000 }, () => {
  test('idle() resolves on "+ idling"; EXISTS calls onExists; stop() sends DONE and resolves on the tagged OK', async () => {
    let continued = false;
    const s = await session(async (p) => {
      const { tag } = await p.command(/^IDLE$/);
      await sleep(100);
      continued = true;
      p.send('+ idling\r\n');
      await sleep(50);
      p.send('* 3 EXISTS\r\n* 1 RECENT\r\n');
      await p.expect(/^DONE$/);
      p.send(`${tag} OK Idle completed (0.001 + 10.000 secs).\r\n`);
      const next = await p.command(/^NOOP$/);
      p.send(`${next.tag} OK\r\n`);
    });
    let exists!: (n: number) => void;
    const gotExists = new Promise<number>((resolve) => (exists = resolve));
    s.wire.onExists = (n) => exists(n);
    const idling = await within(s.wire.idle());
    assert.ok(continued, 'idle() waits for the continuation request');
    assert.equal(await within(gotExists), 3);
    assert.ok(!s.peer.received.includes('DONE'), 'no DONE before stop()');
    await within(idling.stop());
    assert.equal((await idling.done).status.text, 'Idle completed (0.001 + 10.000 secs).');
    await within(s.wire.run('NOOP'));
    await s.script;
    assert.deepEqual(s.peer.received.map((l) => l.replace(/^M\d+ /, '')), ['IDLE', 'DONE', 'NOOP']);
  });

  test('an IDLE refused with NO rejects idle() with ImapCommandError; the session goes on', async () => {
    const s = await session(async (p) => {
      let { tag } = await p.command(/^IDLE$/);
      p.send(`${tag} NO IDLE not allowed now\r\n`);
      ({ tag } = await p.command(/^NOOP$/));
      p.send(`${tag} OK\r\n`);
    });
    const e = await rejectsAs(s.wire.idle(), ImapCommandError);
    assert.equal(e.responseStatus, 'NO');
    assert.equal(e.command, 'IDLE');
    await within(s.wire.run('NOOP'));
    await s.script;
  });

  test('no data timeout while idling; it applies again to the next command', async () => {
    const s = await session(
      async (p) => {
        const { tag } = await p.command(/^IDLE$/);
        p.send('+ idling\r\n');
        await p.expect(/^DONE$/);
        p.send(`${tag} OK\r\n`);
        await p.command(/^NOOP$/); // and never answered
      },
      { dataTimeoutMs: 150 },
    );
    const idling = await within(s.wire.idle());
    await sleep(600);
    assert.equal(s.wire.usable, true, 'still usable after 4 times the data timeout of silence in IDLE');
    await within(idling.stop());
    const t0 = Date.now();
    const e = await rejectsAs(s.wire.run('NOOP'), ImapConnectionError);
    assert.equal(e.code, 'ETIMEOUT');
    assert.ok(Date.now() - t0 < 1500, `${Date.now() - t0} ms`);
    await s.script;
  });

  test('a server that never answers DONE: stop() rejects with ETIMEOUT instead of hanging', async () => {
    const s = await session(
      async (p) => {
        await p.command(/^IDLE$/);
        p.send('+ idling\r\n');
        await p.expect(/^DONE$/);
      },
      { dataTimeoutMs: 200 },
    );
    const idling = await within(s.wire.idle());
    await sleep(300);
    const t0 = Date.now();
    const e = await rejectsAs(idling.stop(), ImapConnectionError, 3000);
    assert.equal(e.code, 'ETIMEOUT');
    assert.ok(Date.now() - t0 < 1500, `${Date.now() - t0} ms`);
    await s.script;
  });

  test('a server that ended IDLE by itself: stop() sends no DONE (it would be a stray command) and resolves', async () => {
    const s = await session(async (p) => {
      let { tag } = await p.command(/^IDLE$/);
      p.send('+ idling\r\n');
      await sleep(50);
      p.send(`${tag} OK Idle timed out\r\n`);
      const line = await p.next();
      // What a server answers to a stray DONE: a tagged BAD for the "tag" DONE.
      if (line === 'DONE') {
        p.send('DONE BAD Error in IMAP command received by server.\r\n');
        return;
      }
      tag = /^(\S+) NOOP$/.exec(line ?? '')?.[1] ?? '?';
      p.send(`${tag} OK\r\n`);
    });
    const idling = await within(s.wire.idle());
    await within(idling.done);
    await within(idling.stop());
    await within(s.wire.run('NOOP'));
    await s.script;
    assert.ok(!s.peer.received.includes('DONE'));
  });
});

describe('timeouts and closes', { concurrency: true, timeout: 15_000 }, () => {
  test('a server that stops answering mid-command: ETIMEOUT within about dataTimeoutMs, naming the command', async () => {
    const s = await session(
      async (p) => {
        await p.command(/^NOOP$/);
        p.send('* 4 EXISTS\r\n* OK still thin'); // then nothing
      },
      { dataTimeoutMs: 200 },
    );
    let closedWith: Error | null = null;
    let closes = 0;
    s.wire.onClose = (err) => {
      closedWith = err;
      closes++;
    };
    const t0 = Date.now();
    const e = await rejectsAs(s.wire.run('NOOP'), ImapConnectionError, 3000);
    const ms = Date.now() - t0;
    assert.equal(e.code, 'ETIMEOUT');
    assert.ok(ms >= 150 && ms < 1500, `${ms} ms`);
    assert.match(e.message, /200 ms/);
    assert.match(e.message, /NOOP/);
    assert.equal(closedWith, e);
    assert.equal(closes, 1);
    await assertDeadAfter(s, e);
    await s.script;
  });

  test('a server that stops mid-literal: the fetch iteration throws ETIMEOUT', async () => {
    const s = await session(
      async (p) => {
        await p.command(/^UID FETCH 1 /);
        p.send(Buffer.concat([Buffer.from('* 1 FETCH (UID 1 BODY[] {100}\r\n'), Buffer.alloc(10, 0x41)]));
      },
      { dataTimeoutMs: 200 },
    );
    const t0 = Date.now();
    const e = await rejectsAs(collect(s.wire.fetch('1', { streamAbove: Number.POSITIVE_INFINITY })), ImapConnectionError, 3000);
    assert.equal(e.code, 'ETIMEOUT');
    assert.ok(Date.now() - t0 < 1500);
    await s.script;
  });

  test('a slow but steady answer is no timeout; nor is silence between commands', async () => {
    const s = await session(
      async (p) => {
        let { tag } = await p.command(/^NOOP$/);
        await p.sendPieces(['* 1 EX', 'ISTS\r', '\n* OK', ' a', ' b', ' c\r\n', `${tag} OK\r\n`], 80);
        ({ tag } = await p.command(/^NOOP$/));
        p.send(`${tag} OK\r\n`);
      },
      { dataTimeoutMs: 200 },
    );
    const t0 = Date.now();
    await within(s.wire.run('NOOP'));
    assert.ok(Date.now() - t0 >= 400, 'the answer took longer than the timeout in all');
    await sleep(500);
    assert.equal(s.wire.usable, true);
    await within(s.wire.run('NOOP'));
    await s.script;
  });

  test('a close mid-literal (held whole): the fetch iteration throws EConnectionClosed; later commands too', async () => {
    const s = await session(async (p) => {
      await p.command(/^UID FETCH 1 /);
      p.send(Buffer.concat([Buffer.from('* 1 FETCH (UID 1 BODY[] {1000}\r\n'), Buffer.alloc(500, 0x42)]));
      await sleep(30);
      p.close();
    });
    const e = await rejectsAs(collect(s.wire.fetch('1', { streamAbove: Number.POSITIVE_INFINITY })), ImapConnectionError);
    assert.equal(e.code, 'EConnectionClosed');
    assert.equal(s.wire.usable, false);
    const again = await rejectsAs(s.wire.run('NOOP'), ImapConnectionError);
    assert.equal(again.code, 'EConnectionClosed');
    await s.script;
  });

  test('a close mid-literal (streamed): the body stream throws EConnectionClosed after what arrived', async () => {
    const s = await session(async (p) => {
      await p.command(/^UID FETCH 1 /);
      p.send(Buffer.concat([Buffer.from('* 1 FETCH (UID 1 BODY[] {100000}\r\n'), Buffer.alloc(5000, 0x43)]));
      await sleep(30);
      p.close();
    });
    let bytes = 0;
    const e = await rejectsAs(
      (async () => {
        for await (const m of s.wire.fetch('1', { streamAbove: 1000 })) {
          assert.ok(m.stream);
          for await (const c of m.stream) bytes += c.length;
        }
      })(),
      ImapConnectionError,
    );
    assert.equal(e.code, 'EConnectionClosed');
    assert.equal(bytes, 5000);
    await s.script;
  });

  test('a close mid-command rejects the pending command with EConnectionClosed', async () => {
    const s = await session(async (p) => {
      await p.command(/^UID SEARCH/);
      p.send('* SEARCH 1 2 3\r\n* SEA');
      await sleep(30);
      p.close();
    });
    const e = await rejectsAs(s.wire.run('UID SEARCH UID 1:*', { search: true }), ImapConnectionError);
    assert.equal(e.code, 'EConnectionClosed');
    assert.match(e.message, /closed the connection/);
    await s.script;
  });

  test('"* BYE text" then a close: the error carries the BYE text', async () => {
    const s = await session(async (p) => {
      await p.command(/^NOOP$/);
      p.send('* BYE Server shutting down for maintenance\r\n');
      await sleep(30);
      p.close();
    });
    const e = await rejectsAs(s.wire.run('NOOP'), ImapConnectionError);
    assert.equal(e.code, 'EConnectionClosed');
    assert.match(e.message, /Server shutting down for maintenance/);
    await s.script;
  });

  test('destroy() rejects the pending command and closes the socket; onClose is told once', async () => {
    const s = await session(async (p) => {
      await p.command(/^NOOP$/);
    });
    const closes: Error[] = [];
    s.wire.onClose = (err) => closes.push(err);
    const pending = s.wire.run('NOOP');
    await sleep(50);
    s.wire.destroy();
    const e = await rejectsAs(pending, ImapConnectionError);
    assert.equal(e.code, 'EConnectionClosed');
    await within(once(s.peer.sock, 'close'));
    assert.equal(closes.length, 1);
    await s.script;
  });

  test('logout(): LOGOUT, BYE and OK, then the socket is closed', async () => {
    const s = await session(async (p) => {
      const { tag } = await p.command(/^LOGOUT$/);
      p.send(`* BYE Logging out\r\n${tag} OK Logout completed.\r\n`);
    });
    await within(s.wire.logout(2000));
    assert.equal(s.wire.usable, false);
    await within(once(s.peer.sock, 'close'));
    await s.script;
  });

  test('logout() against a silent server gives up after its time limit', async () => {
    const s = await session(async (p) => {
      await p.command(/^LOGOUT$/);
    });
    const t0 = Date.now();
    await within(s.wire.logout(200));
    assert.ok(Date.now() - t0 < 1500);
    assert.equal(s.wire.usable, false);
    await s.script;
  });
});

describe('garbage from the server', { concurrency: true, timeout: 15_000 }, () => {
  /** The pending command rejects with ImapParseError (never a hang), and the session is dead. */
  async function garbage(
    answer: (tag: string) => string | Buffer,
    opts: { command?: 'NOOP' | 'fetch' | 'search'; wire?: Partial<ImapWireOptions> } = {},
  ): Promise<ImapParseError> {
    const command = opts.command ?? 'NOOP';
    const s = await session(async (p) => {
      const { tag } = await p.command(/./);
      const a = answer(tag);
      await p.write(typeof a === 'string' ? Buffer.from(a, 'latin1') : a);
    }, opts.wire);
    const p =
      command === 'fetch'
        ? collect(s.wire.fetch('1', { streamAbove: Number.POSITIVE_INFINITY }))
        : command === 'search'
          ? s.wire.run('UID SEARCH UID 1:*', { search: true })
          : s.wire.run('NOOP');
    const e = await rejectsAs(p, ImapParseError, 3000);
    assert.equal(e.code, 'ParserError');
    await assertDeadAfter(s, e);
    await s.script.catch(() => undefined);
    return e;
  }

  test('an unknown tag', async () => {
    const e = await garbage(() => 'X999 OK what\r\n');
    assert.match(e.message, /unexpected response: "X999 OK what"/);
  });

  test('a tagged line that is no status response', async () => {
    await garbage((tag) => `${tag} FETCHED fine\r\n`);
  });

  test('an unexpected continuation request', async () => {
    const e = await garbage(() => '+ go ahead\r\n');
    assert.match(e.message, /continuation/);
  });

  test('a literal larger than maxBufferedLiteral (and a huge one with the default), without allocating it', async () => {
    const e = await garbage(() => '* 1 FETCH (UID 1 BODY[] {4096}\r\n', { command: 'fetch', wire: { maxBufferedLiteral: 1024 } });
    assert.match(e.message, /4096 bytes/);
    await garbage(() => '* 1 FETCH (UID 1 BODY[] {99999999999}\r\n', { command: 'fetch' });
  });

  test('a line over maxLineBytes with no end in sight', async () => {
    const e = await garbage(() => `* OK ${'x'.repeat(100 * KiB)}`, { wire: { maxLineBytes: 1024 } });
    assert.match(e.message, /longer than 1024 bytes/);
  });

  test('a line over maxLineBytes that arrives whole in one write', async () => {
    const e = await garbage((tag) => `* OK ${'x'.repeat(5000)}\r\n${tag} OK\r\n`, { wire: { maxLineBytes: 1024 } });
    assert.match(e.message, /longer than 1024 bytes/);
  });

  test('a response that goes on with literal after literal past maxLineBytes', async () => {
    const items = Array.from({ length: 400 }, () => ' BODY[] {1}\r\nx').join('');
    await garbage((tag) => `* 1 FETCH (UID 1${items})\r\n${tag} OK\r\n`, { command: 'fetch', wire: { maxLineBytes: 1024 } });
  });

  test('unbalanced parentheses in a FETCH: one missing, one too many', async () => {
    const e = await garbage((tag) => `* 1 FETCH (UID 1 BODY[] {3}\r\nabc\r\n${tag} OK\r\n`, { command: 'fetch' });
    assert.match(e.message, /unbalanced "\("/);
    const e2 = await garbage((tag) => `* 1 FETCH (UID 1 BODY[] {3}\r\nabc))\r\n${tag} OK\r\n`, { command: 'fetch' });
    assert.match(e2.message, /unbalanced "\)"/);
  });

  test('a FETCH without its list, and one with an unterminated quoted body', async () => {
    await garbage((tag) => `* 1 FETCH UID 1\r\n${tag} OK\r\n`, { command: 'fetch' });
    await garbage((tag) => `* 1 FETCH (UID 1 BODY[] "abc)\r\n${tag} OK\r\n`, { command: 'fetch' });
  });

  test('junk in SEARCH and ESEARCH answers', async () => {
    await garbage((tag) => `* SEARCH 1 two 3\r\n${tag} OK\r\n`, { command: 'search' });
    await garbage((tag) => `* ESEARCH (TAG "${tag}") UID ALL 1:x\r\n${tag} OK\r\n`, { command: 'search' });
  });
});
