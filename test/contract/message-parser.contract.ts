/**
 * The MessageParser port's contract: what every parser adapter must do, whatever it is built on.
 * An adapter's test file calls {@link runMessageParserContract} with a factory that builds a
 * parser within the given limits; each test closes the parser it made.
 *
 * - raw bytes → the attributes SPEC names (addresses, ids, date, subject, every header in order,
 *   the text of a plain message);
 * - bad mail never throws: it is an outcome (`PARSE_FAILED` or `PARSE_LIMIT_EXCEEDED`), with a reason;
 * - the limits of core/message/limits.ts: over the full-parse size or handed only a prefix, the
 *   headers as `partial`; a header block over its limit; bodies cut at `maxBodyChars`;
 *   pathological structure answered quickly;
 * - a parse over its time limit is a `PARSE_TIMEOUT` outcome;
 * - an Exchange journal report is unwrapped (the original's attributes, `Journal`, the blind copies,
 *   the original's byte range), and one that cannot be is parsed as itself with `journal.unwrapped`
 *   false;
 * - a closed parser answers with a failed outcome, it does not throw.
 *
 * What is adapter-specific (postal-mime's attachments, its worker pool, how it counts MIME parts)
 * stays in the adapter's own tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ParseLimits } from '../../src/core/message/limits.js';
import type { MessageParser, ParseOutcome } from '../../src/core/ports/message-parser.js';
import { REPO_ROOT } from '../harness/cli.js';

/** Builds a parser within `limits` (the rest default); the contract closes it. */
export type MakeParser = (limits?: Partial<ParseLimits>) => MessageParser | Promise<MessageParser>;

const crlf = (lines: string[]): Buffer => Buffer.from(lines.join('\r\n'), 'utf8');
const journalFixture = (name: string): Buffer => readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'journal', name));
const FAILURE_CODES = ['PARSE_FAILED', 'PARSE_LIMIT_EXCEEDED', 'PARSE_TIMEOUT'];

/** The attributes of an outcome that must be ok. */
function ok(o: ParseOutcome): Extract<ParseOutcome, { ok: true }> {
  assert.ok(o.ok, o.ok ? '' : `expected attributes, got ${o.code}: ${o.reason}`);
  return o;
}

/** The failure of an outcome that must have failed with `code`; every failure carries a reason. */
function failed(o: ParseOutcome, code: string): Extract<ParseOutcome, { ok: false }> {
  assert.equal(o.ok, false, `expected ${code}, got attributes`);
  assert.ok(!o.ok);
  assert.equal(o.code, code, o.reason);
  assert.ok(typeof o.reason === 'string' && o.reason.length > 0, 'a failure says why');
  return o;
}

/** Registers the contract's tests for one adapter. */
export function runMessageParserContract(name: string, make: MakeParser): void {
  const withParser = (title: string, fn: (parser: MessageParser, limits: (l: Partial<ParseLimits>) => Promise<MessageParser>) => Promise<void>): void => {
    // A bound, so a parser that hangs fails the test instead of hanging the run.
    test(`${name}: ${title}`, { timeout: 60_000 }, async () => {
      const made: MessageParser[] = [];
      const build = async (l?: Partial<ParseLimits>): Promise<MessageParser> => {
        const p = await make(l);
        made.push(p);
        return p;
      };
      try {
        await fn(await build(), (l) => build(l));
      } finally {
        await Promise.all(made.map((p) => p.close()));
      }
    });
  };

  withParser('headers become the attributes SPEC names: addresses, ids, date, subject, every header in order', async (parser) => {
    const { attributes: a, journal } = ok(
      await parser.parse(
        crlf([
          'Received: from a by b; Tue, 3 Mar 2026 10:00:00 +0100',
          'From: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <jm@example.com>',
          'To: Team: ann@example.com, "Bob B" <bob@example.com>;, carol@example.com',
          'Cc: <dave@example.com>',
          'Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus',
          ' Berlin',
          'Date: Tue, 3 Mar 2026 10:15:00 +0100',
          'Message-ID: <abc.123@example.com>',
          'In-Reply-To: <prev@example.com>',
          'References: <root@example.com>',
          ' <prev@example.com>',
          'Received: from c by d; Tue, 3 Mar 2026 09:59:00 +0100',
          'X-Tag: =?UTF-8?Q?caf=C3=A9?=',
          'x-tag: second',
          '',
          'Hello',
        ]),
      ),
    );
    assert.equal(journal, undefined, 'no journal field for a message that is not a journal report');
    assert.deepEqual(a.From, { Name: 'Jürgen Müller', Address: 'jm@example.com' });
    assert.deepEqual(a.To.map((x) => x.Address), ['ann@example.com', 'bob@example.com', 'carol@example.com'], 'a group is flattened into its members');
    assert.equal(a.To[1]!.Name, 'Bob B');
    assert.deepEqual(a.Cc, [{ Name: '', Address: 'dave@example.com' }]);
    assert.deepEqual(a.Bcc, []);
    assert.equal(a.Subject, 'Grüße aus Berlin', 'unfolded and RFC 2047 decoded');
    assert.equal(a.ReceivedDate, '2026-03-03T09:15:00.000Z');
    assert.equal(a.GlobalMessageId, 'abc.123@example.com');
    assert.equal(a.InReplyTo, 'prev@example.com');
    assert.deepEqual(a.References, ['root@example.com', 'prev@example.com']);
    const names = a.CustomHeaders.map((h) => h.Name);
    assert.deepEqual(names.slice(0, 3), ['Received', 'From', 'To'], 'in order of first appearance');
    assert.equal(names.filter((n) => n.toLowerCase() === 'received').length, 1, 'a repeated header appears once');
    const received = a.CustomHeaders.find((h) => h.Name === 'Received')!;
    assert.equal(received.ListValues.length, 2);
    assert.equal(received.Value, received.ListValues[0], 'a repeated header\'s Value is its first');
    assert.equal(a.CustomHeaders.find((h) => h.Name === 'Subject')!.Value, 'Grüße aus Berlin', 'header values unfolded and RFC 2047 decoded');
    assert.deepEqual(a.CustomHeaders.find((h) => h.Name === 'X-Tag'), { Name: 'X-Tag', Value: 'café', ListValues: ['café', 'second'] }, 'named as first written, every value');
  });

  withParser('absent headers are null, "" or [], never undefined', async (parser) => {
    const { attributes: a } = ok(await parser.parse(crlf(['To: x@example.com', 'Subject: hi', '', 'body'])));
    assert.equal(a.From, null);
    assert.equal(a.ReceivedDate, null);
    assert.equal(a.GlobalMessageId, '');
    assert.equal(a.InReplyTo, '');
    assert.deepEqual(a.References, []);
    assert.deepEqual(a.Cc, []);
    assert.ok(Array.isArray(a.Attachments));
    assert.equal(typeof a.HtmlBody, 'string');
  });

  withParser('the text of a plain message is TextBody (transfer encoding and charset undone); HtmlBody is empty', async (parser) => {
    const plain = ok(await parser.parse(crlf(['From: a@example.com', 'Subject: s', '', 'Hello there,', 'second line']))).attributes;
    assert.match(plain.TextBody, /^Hello there,\r?\nsecond line/);
    assert.equal(plain.HtmlBody, '');
    const qp = ok(await parser.parse(crlf(['From: a@example.com', 'Content-Type: text/plain; charset=iso-8859-1', 'Content-Transfer-Encoding: quoted-printable', '', 'caf=E9 cr=E8me']))).attributes;
    assert.match(qp.TextBody, /^café crème/);
  });

  withParser('8-bit Latin-1 header bytes are read as Windows-1252, not replacement characters', async (parser) => {
    const raw = Buffer.concat([Buffer.from('From: '), Buffer.from('J\xfcrgen <j@example.com>\r\nSubject: Fr\xf6sche\r\n\r\nx', 'latin1')]);
    const { attributes: a } = ok(await parser.parse(raw));
    assert.equal(a.From?.Name, 'Jürgen');
    assert.equal(a.Subject, 'Frösche');
  });

  withParser('bad and hostile input is an outcome with a reason, never a throw', async (parser) => {
    const inputs: Buffer[] = [
      Buffer.alloc(0),
      Buffer.from('\0\0\0\0\0'),
      randomBytes(50_000),
      crlf(['Content-Type: multipart/mixed; boundary=z', '', '--z', 'Content-Type: text/plain', '', 'never closed']),
      crlf(['Content-Type: application/pdf', 'Content-Transfer-Encoding: base64', '', '!!!not base64 at all===@@@', '']),
      crlf(['From: <<<@@@>>>', 'Date: not a date', 'Message-ID: no brackets here', 'Subject: =?x-unknown?Q?abc?=', '', '']),
      Buffer.from('From: a@b\r\nSubject: nul \0 inside\r\n\r\nbody \0 nul'),
    ];
    for (const raw of inputs) {
      const o = await parser.parse(raw);
      if (!o.ok) {
        assert.ok(['PARSE_FAILED', 'PARSE_LIMIT_EXCEEDED'].includes(o.code), o.code);
        assert.ok(o.reason.length > 0);
      }
    }
  });

  withParser('over the full-parse size: PARSE_LIMIT_EXCEEDED with the headers as partial, whole or as a prefix', async (_p, within) => {
    const small = await within({ maxFullParseBytes: 10_000 });
    const raw = crlf(['From: big@example.com', 'Subject: big one', 'Message-ID: <big@example.com>', '', 'x'.repeat(20_000)]);
    for (const o of [await small.parse(raw), await small.parse(raw.subarray(0, 200), raw.length)]) {
      const f = failed(o, 'PARSE_LIMIT_EXCEEDED');
      assert.equal(f.partial?.Subject, 'big one');
      assert.equal(f.partial?.From?.Address, 'big@example.com');
      assert.equal(f.partial?.GlobalMessageId, 'big@example.com');
    }
  });

  withParser('a header block over maxHeaderBytes is PARSE_LIMIT_EXCEEDED', async (_p, within) => {
    const small = await within({ maxHeaderBytes: 4096 });
    const raw = Buffer.from('From: a@example.com\r\nSubject: huge\r\nX-Huge: ' + 'a'.repeat(20_000) + '\r\n\r\nbody');
    failed(await small.parse(raw), 'PARSE_LIMIT_EXCEEDED');
  });

  withParser('bodies are cut at maxBodyChars, the message still parsed', async (_p, within) => {
    const small = await within({ maxBodyChars: 1000 });
    const { attributes: a } = ok(await small.parse(crlf(['From: a@example.com', 'Subject: long', '', 'y'.repeat(5000)])));
    assert.ok(a.TextBody.length <= 1000, `TextBody has ${a.TextBody.length} characters`);
    assert.ok(a.TextBody.startsWith('y'.repeat(500)));
  });

  withParser('deep nesting and 10,000 parts are answered quickly; a limit they break is PARSE_LIMIT_EXCEEDED', async (parser) => {
    let deep = 'From: a@b\r\nSubject: deep\r\nContent-Type: multipart/mixed; boundary=d0\r\n\r\n';
    for (let i = 1; i < 2000; i++) deep += `--d${i - 1}\r\nContent-Type: multipart/mixed; boundary=d${i}\r\n\r\n`;
    let many = 'From: a@b\r\nSubject: many\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n';
    for (let i = 0; i < 10_000; i++) many += '--m\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n';
    many += '--m--\r\n';
    const start = Date.now();
    for (const raw of [deep, many]) {
      const o = await parser.parse(Buffer.from(raw));
      if (!o.ok) failed(o, 'PARSE_LIMIT_EXCEEDED');
    }
    assert.ok(Date.now() - start < 20_000, 'pathological input must not take long');
  });

  withParser('a parse over its time limit is a PARSE_TIMEOUT outcome', async (_p, within) => {
    const slow = await within({ parseTimeoutMs: 1 });
    const o = await slow.parse(crlf(['From: a@b', 'Subject: slow', 'Content-Type: text/plain', '', 'word '.repeat(2_000_000)]));
    failed(o, 'PARSE_TIMEOUT');
  });

  withParser('a journal report is unwrapped: the original attributes, Journal, the blind copies, the original range', async (parser) => {
    const raw = journalFixture('simple-to-cc-bcc.eml');
    const o = ok(await parser.parse(raw));
    const a = o.attributes;
    assert.equal(a.From?.Address, 'alice@contoso.example');
    assert.equal(a.Subject, 'Quarterly numbers');
    assert.equal(a.GlobalMessageId, 'CAF-0001.alice@contoso.example', "the original's id, not the report's");
    assert.equal(a.ReceivedDate, '2026-03-03T08:00:00.000Z', "the original's date");
    assert.deepEqual(a.To.map((x) => x.Address), ['bob@contoso.example']);
    assert.deepEqual(a.Bcc.map((x) => x.Address), ['dave@contoso.example'], 'the envelope names the blind copy');
    assert.deepEqual(a.Journal, {
      Sender: 'alice@contoso.example',
      Recipients: [
        { Address: 'bob@contoso.example', Kind: 'To' },
        { Address: 'carol@contoso.example', Kind: 'Cc' },
        { Address: 'dave@contoso.example', Kind: 'Bcc' },
      ],
    });
    assert.ok(!a.CustomHeaders.some((h) => /^x-ms-journal-report$/i.test(h.Name)), "the headers are the original's");
    assert.ok(!JSON.stringify(a).includes('MicrosoftExchange329e'), 'nothing of the report leaks');
    assert.equal(o.journal?.unwrapped, true);
    assert.deepEqual(o.journal?.envelope, a.Journal);
    const range = o.journal?.original;
    assert.ok(range, "the original's byte range is known");
    const original = Buffer.from(raw.subarray(range.offset, range.offset + range.length));
    assert.match(original.toString('latin1'), /^(Received|From): /);
    const alone = ok(await parser.parse(original));
    assert.equal(alone.journal, undefined, 'the original alone is no journal report');
    assert.equal(alone.attributes.GlobalMessageId, a.GlobalMessageId);
    assert.equal(alone.attributes.Subject, a.Subject);
  });

  withParser('a journal report that cannot be unwrapped is parsed as itself, ok, and says so', async (parser) => {
    const tnef = ok(await parser.parse(journalFixture('malformed-no-original.eml')));
    assert.equal(tnef.journal?.unwrapped, false);
    assert.equal(tnef.journal?.original, null);
    assert.ok((tnef.journal?.notes.length ?? 0) > 0, 'with the reason');
    assert.equal(tnef.attributes.Journal, undefined, 'SPEC: Journal only when unwrapped');
    assert.equal(tnef.attributes.Subject, 'Premium journaling, TNEF original');
    assert.deepEqual(tnef.attributes.Bcc, []);
    const garbled = ok(await parser.parse(journalFixture('malformed-garbled-envelope.eml')));
    assert.equal(garbled.journal?.unwrapped, false);
    assert.equal(garbled.journal?.envelope, null);
    assert.equal(garbled.attributes.Journal, undefined);
    assert.equal(garbled.attributes.GlobalMessageId, 'JR-0006-8c9d0e1f@EXHUB01.contoso.example', "the report's own id");
  });

  withParser('a closed parser answers with a failed outcome, it does not throw', async (parser) => {
    ok(await parser.parse(crlf(['From: a@b', '', 'x'])));
    await parser.close();
    const o = await parser.parse(crlf(['From: a@b', '', 'x']));
    assert.equal(o.ok, false);
    if (!o.ok) assert.ok(FAILURE_CODES.includes(o.code));
  });
}
