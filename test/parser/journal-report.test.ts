/**
 * Exchange journal reports: the pure functions of core/message/journal-report.ts on every fixture
 * of test/fixtures/journal (hand-written from Microsoft's published format, see the README there)
 * and on the tolerances the format needs; then the real worker-pool parser unwrapping the
 * fixtures (the original's attributes, Journal, Bcc, the original's byte range), the reports it
 * cannot unwrap, messages over the limits, `inspect --json`, and the shared corpus (which holds no
 * journal report, so unwrapping must leave every result there alone).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import {
  isJournalReport,
  journalBcc,
  mergeJournalEnvelopes,
  parseJournalEnvelope,
  readJournalEnvelope,
  MAX_PROBLEMS,
} from '../../src/core/message/journal-report.js';
import type { JournalEnvelope, MessageAttributes } from '../../src/core/message/attributes.js';
import { DEFAULT_PARSE_LIMITS } from '../../src/core/message/limits.js';
import type { ParseOutcome } from '../../src/core/ports/message-parser.js';
import { toParsedRecord } from '../../src/core/message/parsed-record.js';
import { createPostalMimeParser, parseToOutcome, readJournalReport } from '../../src/adapters/parser-postal-mime/index.js';
import { makeWorkspace, runCli, REPO_ROOT } from '../harness/cli.js';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'journal');
const CORPUS = path.resolve(REPO_ROOT, '..', 'shared', 'corpus');

const fixture = (name: string): Buffer => readFileSync(path.join(FIXTURES, name));

/** The decoded body of a fixture's first text/plain part (all fixture envelopes are 7bit). */
function envelopeText(name: string): string {
  const text = fixture(name).toString('utf8');
  const at = text.search(/^Content-Type: text\/plain/im);
  assert.ok(at >= 0, `${name} has a text/plain part`);
  const body = text.slice(at).search(/\r?\n\r?\n/);
  const rest = text.slice(at + body).replace(/^\r?\n\r?\n/, '');
  return rest.slice(0, rest.search(/\r?\n--/));
}

const parser = createPostalMimeParser({ workers: 2 });
after(() => parser.close());

async function parsed(raw: Buffer): Promise<Extract<ParseOutcome, { ok: true }>> {
  const o = await parser.parse(raw);
  assert.ok(o.ok, o.ok ? '' : `${o.code}: ${o.reason}`);
  return o;
}

const addresses = (list: Array<{ Address: string }> | undefined): string[] => (list ?? []).map((a) => a.Address);

// ---------------------------------------------------------------- the envelopes of the fixtures

/** What each fixture's envelope says, as SPEC's `Journal` attribute (null: not recognised). */
const ENVELOPES: Record<string, JournalEnvelope | null> = {
  'simple-to-cc-bcc.eml': {
    Sender: 'alice@contoso.example',
    Recipients: [
      { Address: 'bob@contoso.example', Kind: 'To' },
      { Address: 'carol@contoso.example', Kind: 'Cc' },
      { Address: 'dave@contoso.example', Kind: 'Bcc' },
    ],
  },
  'expanded-forwarded.eml': {
    Sender: 'mallory@contoso.example',
    Recipients: [
      { Address: 'frank@contoso.example', Kind: 'To', Expanded: 'sales@contoso.example' },
      { Address: 'grace@contoso.example', Kind: 'To', Expanded: 'sales@contoso.example' },
      { Address: 'henry@contoso.example', Kind: 'Cc', Forwarded: 'erin@contoso.example' },
      { Address: 'ivan@contoso.example', Kind: 'Bcc', Expanded: 'board@contoso.example' },
      { Address: 'judy@contoso.example', Kind: 'Bcc', Expanded: 'board@contoso.example' },
      { Address: 'partner@fabrikam.example', Kind: 'Recipient' },
    ],
  },
  'original-with-attachments.eml': {
    Sender: 'billing@fabrikam.example',
    Recipients: [
      { Address: 'bob@contoso.example', Kind: 'Recipient' },
      { Address: 'carol@contoso.example', Kind: 'Recipient' },
    ],
  },
  'on-behalf-of.eml': {
    Sender: 'assistant@contoso.example',
    Recipients: [
      { Address: 'ivan@contoso.example', Kind: 'To' },
      { Address: 'judy@contoso.example', Kind: 'To' },
    ],
    OnBehalfOf: 'ceo@contoso.example',
  },
  'malformed-no-original.eml': { Sender: 'alice@contoso.example', Recipients: [{ Address: 'bob@contoso.example', Kind: 'To' }] },
  'malformed-garbled-envelope.eml': null,
  'bifurcation-a.eml': {
    Sender: 'alice@contoso.example',
    Recipients: [
      { Address: 'bob@contoso.example', Kind: 'To' },
      { Address: 'carol@contoso.example', Kind: 'Cc' },
    ],
  },
  'bifurcation-b.eml': {
    Sender: 'alice@contoso.example',
    Recipients: [
      { Address: 'partner@fabrikam.example', Kind: 'To' },
      { Address: 'dave@contoso.example', Kind: 'Bcc' },
      { Address: 'carol@contoso.example', Kind: 'Cc' },
    ],
  },
};

test('every fixture is listed here, and the fixture README names each one', () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.eml')).sort();
  assert.deepEqual(files, Object.keys(ENVELOPES).sort());
  const readme = readFileSync(path.join(FIXTURES, 'README.md'), 'utf8');
  for (const f of files) assert.ok(readme.includes(f), `README.md describes ${f}`);
});

test('parseJournalEnvelope reads every fixture envelope; a garbled one is not recognised', () => {
  for (const [name, want] of Object.entries(ENVELOPES)) {
    const reading = readJournalEnvelope(envelopeText(name));
    if (want === null) {
      assert.equal(reading.recognised, false, name);
      assert.deepEqual(reading.envelope, { Sender: '', Recipients: [] }, name);
      assert.ok(reading.problems.length > 0, `${name}: the garbled lines are reported`);
      continue;
    }
    assert.equal(reading.recognised, true, name);
    assert.deepEqual(reading.problems, [], name);
    assert.deepEqual(parseJournalEnvelope(envelopeText(name)), want, name);
    assert.match(reading.messageId, /^[^<>\s]+@[^<>\s]+$/, `${name}: Message-Id without brackets`);
    assert.notEqual(reading.subject, '', name);
  }
});

test('isJournalReport: the X-MS-Journal-Report header in any case, and nothing else', async () => {
  assert.equal(isJournalReport([{ Name: 'From' }, { Name: 'X-MS-Journal-Report' }]), true);
  assert.equal(isJournalReport([{ Name: 'x-ms-journal-report' }]), true);
  assert.equal(isJournalReport([{ Name: ' X-MS-JOURNAL-REPORT ' }]), true);
  assert.equal(isJournalReport([]), false);
  // The header Exchange puts on the journaled original itself is not a report marker.
  assert.equal(isJournalReport([{ Name: 'X-MS-Exchange-Organization-Processed-By-Journaling' }, { Name: 'X-MS-Journal-Reports' }]), false);
  assert.equal(isJournalReport([{ Name: 42 as unknown as string }]), false);
  // On the report's own headers as the parser maps them (the garbled fixture is parsed as itself).
  const garbled = await parsed(fixture('malformed-garbled-envelope.eml'));
  assert.equal(isJournalReport(garbled.attributes.CustomHeaders), true);
  const original = await parsed(fixture('simple-to-cc-bcc.eml'));
  assert.equal(isJournalReport(original.attributes.CustomHeaders), false, 'the unwrapped attributes carry the original headers');
});

test('readJournalEnvelope tolerates folding, casing, spaces, name forms, 2003 lines, BOM and odd line ends', () => {
  const text = [
    '\uFEFFsender :  "Alice A" <Alice@Contoso.example>',
    'SUBJECT: Re: To: nobody',
    'message-id:<x.1@contoso.example>',
    '   TO:   bob@contoso.example,',
    '      Expanded: sales@contoso.example',
    'cc: SMTP:carol@contoso.example',
    'Bcc:dave@contoso.example',
    'Recipient: "Doe, Jane" <jane@fabrikam.example>, Forwarded: jd@fabrikam.example',
    'Recipients: r1@fabrikam.example, r2@fabrikam.example, Expanded: list@fabrikam.example',
    'To: erin@contoso.example',
    'Forwarded: old-erin@contoso.example',
    'To: bob@contoso.example',
    'to: BOB@contoso.example, Expanded: other@contoso.example',
    'On-Behalf-Of: <boss@contoso.example>',
  ].join('\r');
  const r = readJournalEnvelope(text);
  assert.deepEqual(r.problems, []);
  assert.equal(r.subject, 'Re: To: nobody');
  assert.equal(r.messageId, 'x.1@contoso.example');
  assert.deepEqual(r.envelope, {
    Sender: 'Alice@Contoso.example',
    OnBehalfOf: 'boss@contoso.example',
    Recipients: [
      // The folded Expanded joins its line; the repeated bob (any case) is listed once.
      { Address: 'bob@contoso.example', Kind: 'To', Expanded: 'sales@contoso.example' },
      { Address: 'carol@contoso.example', Kind: 'Cc' },
      { Address: 'dave@contoso.example', Kind: 'Bcc' },
      { Address: 'jane@fabrikam.example', Kind: 'Recipient', Forwarded: 'jd@fabrikam.example' },
      { Address: 'r1@fabrikam.example', Kind: 'Recipient' },
      { Address: 'r2@fabrikam.example', Kind: 'Recipient', Expanded: 'list@fabrikam.example' },
      // A redirection on a line of its own belongs to the recipient above it.
      { Address: 'erin@contoso.example', Kind: 'To', Forwarded: 'old-erin@contoso.example' },
    ],
  });
  // The same address under two kinds is two recipients.
  assert.equal(parseJournalEnvelope('To: a@x\nBcc: a@x\n').Recipients.length, 2);
});

test('readJournalEnvelope is lenient and never throws', () => {
  const r = readJournalEnvelope('Sender: a@x\nthis is prose\nX-Custom: 1\nTo:\nCc: , Expanded: dl@x\nExpanded: dl@x\nTo: has no address\n');
  assert.equal(r.recognised, true);
  assert.equal(r.envelope.Sender, 'a@x');
  assert.deepEqual(r.envelope.Recipients, []);
  assert.equal(r.problems.length, 6, r.problems.join(' | '));
  // Hostile input: never a throw, problems bounded.
  const junk = randomBytes(200_000).toString('latin1');
  const j = readJournalEnvelope(junk);
  assert.ok(j.problems.length <= MAX_PROBLEMS);
  for (const odd of ['', '\n\n\n', ':', 'To: <>', 'Sender: <<<>>>', 'To: a@x, Expanded:', 'x'.repeat(100_000), null, undefined, 17]) {
    assert.doesNotThrow(() => readJournalEnvelope(odd as string));
  }
  assert.equal(readJournalEnvelope(null as unknown as string).recognised, false);
  // Thousands of recipients (a message to a big distribution group) stay linear.
  const many = ['Sender: a@x', ...Array.from({ length: 20_000 }, (_, i) => `To: m${i}@x, Expanded: all@x`)].join('\r\n');
  const t0 = performance.now();
  assert.equal(parseJournalEnvelope(many).Recipients.length, 20_000);
  assert.ok(performance.now() - t0 < 2_000);
});

// ---------------------------------------------------------------- merging (bifurcation)

test('mergeJournalEnvelopes: the two bifurcated reports give the union, each recipient once', () => {
  const a = parseJournalEnvelope(envelopeText('bifurcation-a.eml'));
  const b = parseJournalEnvelope(envelopeText('bifurcation-b.eml'));
  const aBefore = structuredClone(a);
  const bBefore = structuredClone(b);
  const m = mergeJournalEnvelopes(a, b);
  assert.deepEqual(m, {
    Sender: 'alice@contoso.example',
    Recipients: [
      { Address: 'bob@contoso.example', Kind: 'To' },
      { Address: 'carol@contoso.example', Kind: 'Cc' },
      { Address: 'partner@fabrikam.example', Kind: 'To' },
      { Address: 'dave@contoso.example', Kind: 'Bcc' },
    ],
  });
  assert.deepEqual(a, aBefore, 'inputs are not changed');
  assert.deepEqual(b, bBefore, 'inputs are not changed');
  // Same set either way round; idempotent; the empty envelope is neutral.
  const key = (e: JournalEnvelope): string[] => e.Recipients.map((r) => `${r.Kind}:${r.Address}`).sort();
  assert.deepEqual(key(mergeJournalEnvelopes(b, a)), key(m));
  assert.deepEqual(mergeJournalEnvelopes(m, m), m);
  assert.deepEqual(mergeJournalEnvelopes(m, { Sender: '', Recipients: [] }), m);
  assert.deepEqual(mergeJournalEnvelopes({ Sender: '', Recipients: [] }, m), m);
});

test('mergeJournalEnvelopes keeps Expanded/Forwarded, dedups case-insensitively, fills Sender and OnBehalfOf', () => {
  const a: JournalEnvelope = { Sender: '', Recipients: [{ Address: 'M@x', Kind: 'To' }, { Address: 'f@x', Kind: 'Cc', Forwarded: 'orig@x' }] };
  const b: JournalEnvelope = {
    Sender: 's@x',
    OnBehalfOf: 'boss@x',
    Recipients: [
      { Address: 'm@x', Kind: 'To', Expanded: 'dl@x' },
      { Address: 'f@x', Kind: 'Cc', Forwarded: 'other@x' },
      { Address: 'm@x', Kind: 'Bcc' },
    ],
  };
  assert.deepEqual(mergeJournalEnvelopes(a, b), {
    Sender: 's@x',
    OnBehalfOf: 'boss@x',
    Recipients: [
      { Address: 'M@x', Kind: 'To', Expanded: 'dl@x' },
      { Address: 'f@x', Kind: 'Cc', Forwarded: 'orig@x' },
      { Address: 'm@x', Kind: 'Bcc' },
    ],
  });
  assert.doesNotThrow(() => mergeJournalEnvelopes({} as JournalEnvelope, null as unknown as JournalEnvelope));
});

// ---------------------------------------------------------------- the Bcc rule

test('journalBcc: Bcc kinds, unverified recipients the headers do not show, and the original Bcc header', () => {
  const env: JournalEnvelope = {
    Sender: 's@x',
    Recipients: [
      { Address: 'to@x', Kind: 'To' },
      { Address: 'member@x', Kind: 'To', Expanded: 'dl@x' }, // visible through the list
      { Address: 'hidden-to@x', Kind: 'To' }, // addressed To by the envelope's word, never Bcc
      { Address: 'blind@x', Kind: 'Bcc' },
      { Address: 'blind-member@x', Kind: 'Bcc', Expanded: 'board@x' },
      { Address: 'seen@x', Kind: 'Recipient' }, // in the To header
      { Address: 'fwd@x', Kind: 'Recipient', Forwarded: 'cc@x' }, // forwarded from a visible Cc
      { Address: 'via-list@x', Kind: 'Recipient', Expanded: 'dl@x' },
      { Address: 'Unseen@x', Kind: 'Recipient' },
      { Address: 'unseen@X', Kind: 'Bcc' }, // the same address again: once
    ],
  };
  const bcc = journalBcc(env, {
    To: [{ Name: 'To', Address: 'to@x' }, { Name: 'Seen', Address: 'SEEN@x' }, { Name: 'List', Address: 'dl@x' }],
    Cc: [{ Name: '', Address: 'cc@x' }],
    Bcc: [{ Name: 'Blind B', Address: 'blind@x' }, { Name: 'Header Only', Address: 'header-only@x' }],
  });
  assert.deepEqual(bcc, [
    { Name: 'Blind B', Address: 'blind@x' },
    { Name: '', Address: 'blind-member@x' },
    { Name: '', Address: 'Unseen@x' },
    { Name: 'Header Only', Address: 'header-only@x' },
  ]);
  assert.deepEqual(journalBcc({ Sender: '', Recipients: [] }, { To: [], Cc: [] }), []);
});

// ---------------------------------------------------------------- the parser adapter

/** What the real parser must give for each fixture that unwraps. */
const UNWRAPPED: Record<string, { from: string; to: string[]; cc: string[]; bcc: string[]; subject: string; id: string; attachments: string[] }> = {
  'simple-to-cc-bcc.eml': {
    from: 'alice@contoso.example',
    to: ['bob@contoso.example'],
    cc: ['carol@contoso.example'],
    bcc: ['dave@contoso.example'],
    subject: 'Quarterly numbers',
    id: 'CAF-0001.alice@contoso.example',
    attachments: [],
  },
  'expanded-forwarded.eml': {
    from: 'mallory@contoso.example',
    to: ['sales@contoso.example'],
    cc: ['erin@contoso.example'],
    // The Bcc'd board's members, and the partner Exchange could not verify and the headers do not show.
    bcc: ['ivan@contoso.example', 'judy@contoso.example', 'partner@fabrikam.example'],
    subject: 'Launch plan',
    id: 'launch-plan-2026@contoso.example',
    attachments: [],
  },
  'original-with-attachments.eml': {
    from: 'billing@fabrikam.example',
    to: ['bob@contoso.example'],
    cc: ['carol@contoso.example'],
    bcc: [],
    subject: 'Invoice 4711',
    id: 'inv-4711@mail.fabrikam.example',
    attachments: ['invoice-4711.pdf', 'lines.csv'],
  },
  'on-behalf-of.eml': {
    from: 'ceo@contoso.example',
    to: ['ivan@contoso.example', 'judy@contoso.example'],
    cc: [],
    bcc: [],
    subject: 'Board meeting moved',
    id: 'board-moved-0306@contoso.example',
    attachments: [],
  },
  'bifurcation-a.eml': {
    from: 'alice@contoso.example',
    to: ['bob@contoso.example', 'partner@fabrikam.example'],
    cc: ['carol@contoso.example'],
    bcc: [],
    subject: 'Merger (confidential)',
    id: 'merger-0309@contoso.example',
    attachments: [],
  },
  'bifurcation-b.eml': {
    from: 'alice@contoso.example',
    to: ['bob@contoso.example', 'partner@fabrikam.example'],
    cc: ['carol@contoso.example'],
    bcc: ['dave@contoso.example'],
    subject: 'Merger (confidential)',
    id: 'merger-0309@contoso.example',
    attachments: [],
  },
};

test('the worker-pool parser unwraps each report: the original attributes, Journal and Bcc', async () => {
  for (const [name, want] of Object.entries(UNWRAPPED)) {
    const raw = fixture(name);
    const o = await parsed(raw);
    const a = o.attributes;
    assert.equal(a.From?.Address, want.from, name);
    assert.deepEqual(addresses(a.To), want.to, name);
    assert.deepEqual(addresses(a.Cc), want.cc, name);
    assert.deepEqual(addresses(a.Bcc), want.bcc, name);
    assert.equal(a.Subject, want.subject, name);
    assert.equal(a.GlobalMessageId, want.id, name);
    assert.deepEqual(a.Attachments.map((x) => x.Name), want.attachments, name);
    assert.deepEqual(a.Journal, ENVELOPES[name], name);
    // CustomHeaders are the original's: no journal marker, no journaling agent.
    assert.ok(!a.CustomHeaders.some((h) => /^x-ms-journal-report$/i.test(h.Name)), name);
    assert.ok(!JSON.stringify(a).includes('MicrosoftExchange329e'), `${name}: nothing of the report leaks`);
    assert.equal(o.journal?.unwrapped, true, name);
    assert.deepEqual(o.journal?.notes, [], name);
    assert.deepEqual(o.journal?.envelope, ENVELOPES[name], name);
    // The range is the original, verbatim: parsed alone it gives the same attributes.
    const range = o.journal?.original;
    assert.ok(range, `${name}: range`);
    const original = raw.subarray(range.offset, range.offset + range.length);
    assert.match(original.toString('latin1'), /^(Received|From): /, name);
    const alone = await parsed(Buffer.from(original));
    assert.equal(alone.journal, undefined);
    const { Bcc: _b, Journal: _j, From: _f, ...rest } = a;
    const { Bcc: _b2, Journal: _j2, From: _f2, ...restAlone } = alone.attributes;
    assert.deepEqual(rest, restAlone, `${name}: the range parses to the same attributes`);
  }
});

test('the unwrapped original keeps bodies and attachments; the text is not the envelope', async () => {
  const a = (await parsed(fixture('original-with-attachments.eml'))).attributes;
  assert.equal(a.TextBody.trim(), 'Please find invoice 4711 attached.');
  assert.match(a.HtmlBody, /<b>4711<\/b>/);
  const pdf = a.Attachments[0]!;
  assert.equal(pdf.ContentType, 'application/pdf');
  assert.equal(pdf.Extension, 'pdf');
  const bytes = Buffer.from(
    'JVBERi0xLjQKMSAwIG9iaiA8PCAvVHlwZSAvQ2F0YWxvZyAvUGFnZXMgMiAwIFIgPj4gZW5kb2JqCjIgMCBvYmogPDwgL1R5cGUgL1BhZ2VzIC9LaWRzIFtdIC9Db3VudCAwID4+IGVuZG9iagp0cmFpbGVyIDw8IC9Sb290IDEgMCBSID4+CiUlRU9GCg==',
    'base64',
  );
  assert.equal(pdf.Size, bytes.length);
  assert.equal(pdf.Sha256, createHash('sha256').update(bytes).digest('hex'));
  assert.deepEqual(a.Attachments[1], { ...a.Attachments[1], Name: 'lines.csv', Extension: 'csv', ContentType: 'text/csv' });
  assert.equal(a.ReceivedDate, '2026-03-05T07:15:00.000Z', "the original's Date, not the report's");
  const simple = (await parsed(fixture('simple-to-cc-bcc.eml'))).attributes;
  assert.match(simple.TextBody, /the Q1 numbers are in/);
  assert.doesNotMatch(simple.TextBody, /Sender:/);
});

test('On-Behalf-Of: From stays the original header, the envelope keeps sender and principal', async () => {
  const a = (await parsed(fixture('on-behalf-of.eml'))).attributes;
  assert.deepEqual(a.From, { Name: 'Casey Ceo', Address: 'ceo@contoso.example' });
  assert.equal(a.Journal?.Sender, 'assistant@contoso.example');
  assert.equal(a.Journal?.OnBehalfOf, 'ceo@contoso.example');
  assert.equal(a.CustomHeaders.find((h) => h.Name === 'Sender')?.Value, 'Pat Assistant <assistant@contoso.example>');
});

test('reports that cannot be unwrapped are parsed as themselves, ok, with the reason', async () => {
  const tnef = await parsed(fixture('malformed-no-original.eml'));
  assert.equal(tnef.journal?.unwrapped, false);
  assert.equal(tnef.journal?.original, null);
  assert.deepEqual(tnef.journal?.envelope, ENVELOPES['malformed-no-original.eml'], 'the readable envelope is still reported');
  assert.ok(tnef.journal?.notes.some((n) => /TNEF/.test(n)), tnef.journal?.notes.join(' | '));
  assert.ok(tnef.journal?.notes.some((n) => /no message\/rfc822 part/.test(n)));
  assert.equal(tnef.attributes.Journal, undefined, 'SPEC: Journal only when unwrapped');
  assert.deepEqual(tnef.attributes.Bcc, []);
  assert.equal(tnef.attributes.Subject, 'Premium journaling, TNEF original');
  assert.deepEqual(tnef.attributes.Attachments.map((x) => x.Name), ['winmail.dat']);

  const garbled = await parsed(fixture('malformed-garbled-envelope.eml'));
  assert.equal(garbled.journal?.unwrapped, false);
  assert.equal(garbled.journal?.envelope, null);
  assert.ok(garbled.journal?.notes.some((n) => /names no sender and no recipient/.test(n)));
  assert.equal(garbled.attributes.Journal, undefined);
  assert.equal(garbled.attributes.GlobalMessageId, 'JR-0006-8c9d0e1f@EXHUB01.contoso.example', "the report's own id");
  assert.deepEqual(garbled.attributes.Attachments.map((x) => x.ContentType), ['message/rfc822'], 'the original stays an attachment');
});

/** A journal report around `original` with `envelope` lines, assembled as Exchange writes one. */
function report(envelope: string[], original: Buffer | string, opts: { envelopeHeaders?: string[]; originalHeaders?: string[]; close?: boolean; eol?: string } = {}): Buffer {
  const eol = opts.eol ?? '\r\n';
  const head = [
    'From: Microsoft Exchange <journaling@contoso.example>',
    'To: journal@contoso.example',
    'Subject: report',
    'Message-ID: <report@contoso.example>',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed;',
    ' boundary="jr-synth"',
    'X-MS-Journal-Report:',
    '',
    '--jr-synth',
    ...(opts.envelopeHeaders ?? ['Content-Type: text/plain; charset="us-ascii"']),
    '',
    ...envelope,
    '',
    '--jr-synth',
    ...(opts.originalHeaders ?? ['Content-Type: message/rfc822']),
    '',
    '',
  ].join(eol);
  const tail = opts.close === false ? '' : `${eol}--jr-synth--${eol}`;
  return Buffer.concat([Buffer.from(head, 'latin1'), Buffer.isBuffer(original) ? original : Buffer.from(original, 'latin1'), Buffer.from(tail, 'latin1')]);
}

const crlf = (lines: string[]): string => lines.join('\r\n');
const ORIGINAL = crlf(['From: Alice <alice@x>', 'To: bob@x', 'Subject: hello', 'Message-ID: <orig@x>', '', 'Hi Bob.', '']);

test('a quoted-printable envelope in another charset and a base64-encoded original unwrap', async () => {
  const envelope = ['Sender: alice@x', 'Subject: Gr=FC=DFe', 'Message-Id: <orig@x>', 'To: bob@x', 'Bcc: a-very-long-local-part-that-was-=', 'wrapped@x'];
  const b64 = (Buffer.from(ORIGINAL).toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
  const raw = report(envelope, b64, {
    envelopeHeaders: ['Content-Type: text/plain; charset=iso-8859-1', 'Content-Transfer-Encoding: quoted-printable'],
    originalHeaders: ['Content-Type: message/rfc822', 'Content-Transfer-Encoding: base64'],
  });
  const o = await parsed(raw);
  assert.equal(o.journal?.unwrapped, true);
  assert.equal(o.journal?.original, null, 'no verbatim range for an encoded original');
  assert.ok(o.journal?.notes.some((n) => /base64/.test(n)));
  assert.equal(o.attributes.Subject, 'hello');
  assert.deepEqual(addresses(o.attributes.Bcc), ['a-very-long-local-part-that-was-wrapped@x']);
  const parts = readJournalReport(raw, DEFAULT_PARSE_LIMITS.maxHeaderBytes);
  assert.equal(parts?.envelope?.subject, 'Grüße');
});

test('LF line ends and no closing boundary still unwrap; the cut-short original has no range', async () => {
  const raw = report(['Sender: alice@x', 'To: bob@x'], ORIGINAL.replace(/\r\n/g, '\n'), { eol: '\n', close: false });
  const o = await parsed(raw);
  assert.equal(o.journal?.unwrapped, true);
  assert.equal(o.journal?.original, null);
  assert.ok(o.journal?.notes.some((n) => /closing boundary/.test(n)));
  assert.equal(o.attributes.GlobalMessageId, 'orig@x');
});

test('a journal report of a journal report is unwrapped once', async () => {
  const inner = report(['Sender: alice@x', 'To: bob@x'], ORIGINAL);
  const outer = report(['Sender: journaling@contoso.example', 'To: journal@contoso.example'], inner);
  const o = await parsed(outer);
  assert.equal(o.journal?.unwrapped, true);
  assert.equal(o.attributes.GlobalMessageId, 'report@contoso.example', 'the inner report is the original here');
  assert.deepEqual(addresses(o.attributes.To), ['journal@contoso.example']);
});

test('the original as a whole: a big base64 attachment (fast path) and a message/rfc822 of its own', async () => {
  const data = randomBytes(300_000);
  const b64 = (data.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
  const original = crlf([
    'From: alice@x',
    'To: bob@x',
    'Subject: big',
    'Message-ID: <big@x>',
    'Content-Type: multipart/mixed; boundary="o1"',
    '',
    '--o1',
    'Content-Type: text/plain',
    '',
    'see attached',
    '--o1',
    'Content-Type: application/octet-stream; name="blob.bin"',
    'Content-Transfer-Encoding: base64',
    '',
    b64,
    '--o1',
    'Content-Type: message/rfc822',
    '',
    'From: x@y',
    'Subject: forwarded',
    '',
    'inner body',
    '--o1--',
    '',
  ]);
  const raw = report(['Sender: alice@x', 'To: bob@x', 'Recipient: carol@x'], original);
  const o = await parsed(raw);
  assert.equal(o.journal?.unwrapped, true);
  const a = o.attributes;
  assert.equal(a.TextBody.trim(), 'see attached');
  assert.equal(a.Attachments.length, 2);
  assert.equal(a.Attachments[0]!.Size, data.length);
  assert.equal(a.Attachments[0]!.Sha256, createHash('sha256').update(data).digest('hex'));
  assert.equal(a.Attachments[1]!.ContentType, 'message/rfc822');
  assert.deepEqual(addresses(a.Bcc), ['carol@x']);
});

test('an original the parser cannot take falls back to the report itself, never worse', async () => {
  // The original breaks the parts limit; the report (three parts) does not.
  const limits = { ...DEFAULT_PARSE_LIMITS, maxParts: 6 };
  const many = crlf([
    'From: alice@x',
    'Message-ID: <many@x>',
    'Content-Type: multipart/mixed; boundary="m"',
    '',
    ...Array.from({ length: 8 }, (_, i) => `--m\r\nContent-Type: text/plain\r\n\r\npart ${i}`),
    '--m--',
    '',
  ]);
  const o = await parseToOutcome(report(['Sender: alice@x', 'To: bob@x'], many), limits);
  assert.ok(o.ok, o.ok ? '' : o.reason);
  assert.equal(o.journal?.unwrapped, false);
  assert.ok(o.journal?.notes.some((n) => /PARSE_LIMIT_EXCEEDED/.test(n)), o.journal?.notes.join(' | '));
  assert.equal(o.attributes.GlobalMessageId, 'report@contoso.example');
  assert.equal(o.attributes.Journal, undefined);
});

test('over the full-parse limit: the original headers, Journal and Bcc as partial (whole and prefix)', async () => {
  const raw = fixture('expanded-forwarded.eml');
  const limits = { ...DEFAULT_PARSE_LIMITS, maxFullParseBytes: 600 };
  const whole = await parseToOutcome(raw, limits);
  assert.equal(whole.ok, false);
  assert.ok(!whole.ok && whole.code === 'PARSE_LIMIT_EXCEEDED');
  const check = (o: ParseOutcome): void => {
    assert.ok(!o.ok);
    const p = o.partial as Partial<MessageAttributes>;
    assert.equal(p.From?.Address, 'mallory@contoso.example');
    assert.equal(p.GlobalMessageId, 'launch-plan-2026@contoso.example');
    assert.deepEqual(addresses(p.Bcc), ['ivan@contoso.example', 'judy@contoso.example', 'partner@fabrikam.example']);
    assert.deepEqual(p.Journal, ENVELOPES['expanded-forwarded.eml']);
    assert.equal(o.journal?.unwrapped, true);
  };
  check(whole);
  assert.ok(whole.journal?.original, 'whole bytes: the range is known');
  // The pipeline hands a message over the limit as its first bytes (the index stage reads a prefix).
  const small = createPostalMimeParser({ workers: 1, limits: { maxFullParseBytes: 600 } });
  try {
    // Up to just past the original's header block: a prefix always ends somewhere in the body.
    const prefix = raw.subarray(0, raw.indexOf('Team, the launch'));
    const o = await small.parse(Buffer.from(prefix), raw.length);
    check(o);
    assert.equal(o.journal?.original, null, 'a prefix says nothing of where the original ends');
    // A prefix that stops before the original: the report's headers, not unwrapped, and why.
    const short = await small.parse(Buffer.from(raw.subarray(0, 700)), raw.length);
    assert.ok(!short.ok);
    assert.equal(short.partial?.Subject, 'Launch plan');
    assert.equal(short.journal?.unwrapped, false);
  } finally {
    await small.close();
  }
});

test('parseToRecord: the saved record carries the original, Journal in its JSON and Bcc in `to`', async () => {
  const raw = fixture('simple-to-cc-bcc.eml');
  const record = await parser.parseToRecord!(raw);
  assert.deepEqual(record, toParsedRecord(await parser.parse(raw)));
  assert.equal(record.ok, true);
  assert.equal(record.messageId, 'CAF-0001.alice@contoso.example');
  assert.equal(record.from, 'Alice Archer <alice@contoso.example>');
  assert.match(record.to, /dave@contoso\.example/);
  const json = JSON.parse(record.attributesJson) as MessageAttributes;
  assert.deepEqual(json.Journal, ENVELOPES['simple-to-cc-bcc.eml']);
  assert.match(record.body, /the Q1 numbers are in/);
});

test('non-journal messages: no journal field, and a Bcc header is kept as it always was', async () => {
  const o = await parsed(Buffer.from(crlf(['From: a@x', 'To: b@x', 'Bcc: Hidden <h@x>', 'Subject: s', '', 'body'])));
  assert.equal(o.journal, undefined);
  assert.equal(o.attributes.Journal, undefined);
  assert.deepEqual(o.attributes.Bcc, [{ Name: 'Hidden', Address: 'h@x' }]);
  // A report marker on a message that is not multipart: parsed as itself, flagged.
  const flat = await parsed(Buffer.from(crlf(['From: a@x', 'X-MS-Journal-Report:', 'Subject: s', '', 'Sender: a@x', 'To: b@x'])));
  assert.equal(flat.journal?.unwrapped, false);
  assert.ok(flat.journal?.notes.some((n) => /not multipart/.test(n)));
  assert.equal(flat.attributes.Subject, 's');
});

test('the shared corpus holds no journal report, so unwrapping changes none of its results', () => {
  const manifest = JSON.parse(readFileSync(path.join(CORPUS, 'manifest.json'), 'utf8')) as { items: Array<{ file: string }> };
  let marked = 0;
  for (const item of manifest.items) {
    const raw = readFileSync(path.join(CORPUS, item.file));
    // Neither the reader (which decides whether to unwrap) nor a plain look finds the marker.
    assert.equal(readJournalReport(raw, DEFAULT_PARSE_LIMITS.maxHeaderBytes), undefined, item.file);
    if (/^x-ms-journal-report[ \t]*:/im.test(raw.toString('latin1', 0, Math.min(raw.length, 65_536)))) marked++;
  }
  assert.equal(marked, 0);
  assert.ok(manifest.items.length > 1000);
});

test('inspect --json prints the unwrapped attributes of a journal report', async () => {
  const ws = makeWorkspace({});
  try {
    const files = ['simple-to-cc-bcc.eml', 'malformed-garbled-envelope.eml'].map((f) => path.join(FIXTURES, f));
    const r = await runCli(['inspect', '--json', ...files], ws);
    assert.equal(r.code, 0, r.stderr);
    const [unwrapped, asIs] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as MessageAttributes);
    assert.equal(unwrapped?.From?.Address, 'alice@contoso.example');
    assert.deepEqual(addresses(unwrapped?.Bcc), ['dave@contoso.example']);
    assert.deepEqual(unwrapped?.Journal, ENVELOPES['simple-to-cc-bcc.eml']);
    assert.equal(asIs?.Subject, 'Garbled envelope');
    assert.equal(asIs?.Journal, undefined);
  } finally {
    ws.cleanup();
  }
});
