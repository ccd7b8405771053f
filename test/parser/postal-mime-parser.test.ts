/**
 * Unit tests of the parser adapter on small hand-written messages: the attribute mapping
 * (the attribute names are a contract), the limits, and hostile input. All go through the
 * worker pool as built, since that is what the pipeline uses.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createPostalMimeAttachmentFinder, createPostalMimeParser, mapPostalMimeError, parseToOutcome } from '../../src/adapters/parser-postal-mime/index.js';
import { DEFAULT_PARSE_LIMITS } from '../../src/core/message/limits.js';
import type { MessageAttributes } from '../../src/core/message/attributes.js';
import { toParsedRecord } from '../../src/core/message/parsed-record.js';

const parser = createPostalMimeParser({ workers: 2 });
after(() => parser.close());

const crlf = (lines: string[]): Buffer => Buffer.from(lines.join('\r\n'), 'utf8');

async function attrs(raw: Buffer): Promise<MessageAttributes> {
  const o = await parser.parse(raw);
  assert.ok(o.ok, o.ok ? '' : `${o.code}: ${o.reason}`);
  return o.attributes;
}

// Header mapping, absent headers and plain bodies: test/contract/message-parser.contract.ts, run
// against this parser by test/contract/postal-mime-parser.test.ts.

test('attachments carry name, lowercase extension, type, decoded size and sha256', async () => {
  const pdf = randomBytes(200_000); // large enough for the base64 fast path
  const png = randomBytes(1000);
  const b64 = (b: Buffer): string => (b.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
  const a = await attrs(
    crlf([
      'From: a@example.com',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: multipart/alternative; boundary="b2"',
      '',
      '--b2',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'plain body',
      '--b2',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p>html body</p>',
      '--b2--',
      '--b1',
      'Content-Type: application/pdf; name="Report.PDF"',
      'Content-Transfer-Encoding: base64',
      'Content-Disposition: attachment; filename="Report.PDF"',
      '',
      b64(pdf),
      '--b1',
      'Content-Type: image/png',
      'Content-Transfer-Encoding: base64',
      "Content-Disposition: attachment; filename*=UTF-8''%C3%BCber%20bild.png",
      '',
      b64(png),
      '--b1',
      'Content-Type: application/octet-stream',
      'Content-Disposition: attachment; filename="README"',
      '',
      'plain bytes',
      '--b1--',
      '',
    ]),
  );
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  assert.equal(a.TextBody.trim(), 'plain body');
  assert.equal(a.HtmlBody.trim(), '<p>html body</p>');
  assert.deepEqual(a.Attachments, [
    { Name: 'Report.PDF', Extension: 'pdf', ContentType: 'application/pdf', Size: pdf.length, Sha256: sha(pdf) },
    { Name: 'über bild.png', Extension: 'png', ContentType: 'image/png', Size: png.length, Sha256: sha(png) },
    { Name: 'README', Extension: '', ContentType: 'application/octet-stream', Size: 11, Sha256: sha(Buffer.from('plain bytes')) },
  ]);
});

test('the base64 fast path gives the same attributes as a plain parse', async () => {
  const data = randomBytes(300_001);
  const raw = crlf([
    'From: a@example.com',
    'Content-Type: multipart/mixed; boundary=x',
    '',
    '--x',
    'Content-Type: text/plain',
    '',
    'hi',
    '--x',
    'Content-Type: application/zip; name=a.zip',
    'Content-Transfer-Encoding: base64',
    '',
    (data.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n'),
    '--x--',
    '',
  ]);
  const fast = await parseToOutcome(raw, DEFAULT_PARSE_LIMITS);
  assert.ok(fast.ok);
  assert.equal(fast.attributes.Attachments[0]!.Sha256, createHash('sha256').update(data).digest('hex'));
  assert.equal(fast.attributes.Attachments[0]!.Size, data.length);
  assert.equal(fast.attributes.TextBody.trim(), 'hi');
});

test('an attached message/rfc822 is one attachment; its bodies do not leak into ours', async () => {
  const a = await attrs(
    crlf([
      'From: outer@example.com',
      'Subject: Fwd: inner',
      'Content-Type: multipart/mixed; boundary="o"',
      '',
      '--o',
      'Content-Type: text/plain',
      '',
      'outer text',
      '--o',
      'Content-Type: message/rfc822',
      'Content-Disposition: inline',
      '',
      'From: inner@example.com',
      'Subject: inner',
      'Content-Type: multipart/alternative; boundary="i"',
      '',
      '--i',
      'Content-Type: text/plain',
      '',
      'inner text',
      '--i',
      'Content-Type: text/html',
      '',
      '<b>inner html</b>',
      '--i--',
      '--o--',
      '',
    ]),
  );
  assert.equal(a.Subject, 'Fwd: inner');
  assert.equal(a.From?.Address, 'outer@example.com');
  assert.equal(a.TextBody.trim(), 'outer text');
  assert.doesNotMatch(a.TextBody, /inner text/);
  assert.equal(a.HtmlBody, '');
  assert.equal(a.Attachments.length, 1);
  assert.equal(a.Attachments[0]!.ContentType, 'message/rfc822');
  assert.ok(a.Attachments[0]!.Size > 50);
});

// Latin-1 header bytes, hostile input as outcomes and the full-parse size limit: the parser
// contract (test/contract/message-parser.contract.ts), run against this parser.

test('deep nesting, a huge header and 10,000 parts hit limits and do not hang', async () => {
  let deep = 'From: a@b\r\nContent-Type: multipart/mixed; boundary=d0\r\n\r\n';
  for (let i = 1; i < 2000; i++) deep += `--d${i - 1}\r\nContent-Type: multipart/mixed; boundary=d${i}\r\n\r\n`;
  const huge = Buffer.from('From: a@b\r\nX-Huge: ' + 'a'.repeat(3 * 1024 * 1024) + '\r\n\r\nbody');
  let many = 'From: a@b\r\nSubject: many\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n';
  for (let i = 0; i < 10_000; i++) many += '--m\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n';
  many += '--m--\r\n';
  const start = Date.now();
  for (const raw of [Buffer.from(deep), huge, Buffer.from(many)]) {
    const o = await parser.parse(raw);
    assert.equal(o.ok, false);
    if (!o.ok) assert.equal(o.code, 'PARSE_LIMIT_EXCEEDED', o.reason);
  }
  const manyOutcome = await parser.parse(Buffer.from(many));
  assert.ok(!manyOutcome.ok && manyOutcome.partial?.Subject === 'many', 'partial headers of the 10,000-part message');
  assert.ok(Date.now() - start < 20_000, 'pathological input must not take long');
});

test('a parse over the time limit is PARSE_TIMEOUT and the pool keeps working', async () => {
  const slow = createPostalMimeParser({ workers: 1, limits: { parseTimeoutMs: 1 } });
  try {
    const big = crlf(['From: a@b', 'Content-Type: text/plain', '', 'word '.repeat(2_000_000)]);
    const o = await slow.parse(big);
    assert.equal(o.ok, false);
    if (!o.ok) assert.equal(o.code, 'PARSE_TIMEOUT');
  } finally {
    await slow.close();
  }
  // The shared pool is unaffected and a fresh one parses normally after a timeout.
  const again = createPostalMimeParser({ workers: 1, limits: { parseTimeoutMs: 1 } });
  try {
    await again.parse(crlf(['From: a@b', '', 'word '.repeat(2_000_000)]));
  } finally {
    await again.close();
  }
  assert.ok((await parser.parse(crlf(['From: a@b', '', 'ok']))).ok);
});

test('the error map recognises postal-mime limit errors by their wording', () => {
  assert.equal(mapPostalMimeError(new Error('Maximum MIME nesting depth of 50 levels exceeded')).code, 'PARSE_LIMIT_EXCEEDED');
  assert.equal(mapPostalMimeError(new Error('Maximum header size of 2097152 bytes exceeded')).code, 'PARSE_LIMIT_EXCEEDED');
  assert.equal(mapPostalMimeError(new Error('something else')).code, 'PARSE_FAILED');
});

test('parseToRecord answers toParsedRecord(parse()) and keeps per-job time limits with jobs queued per worker', async () => {
  const msgs = Array.from({ length: 40 }, (_, i) =>
    crlf([`From: "Sender ${i}" <s${i}@example.com>`, `To: r${i}@example.com`, `Subject: n${i}`, 'Content-Type: text/html', '', `<p>body ${i}</p>`]),
  );
  const [records, outcomes] = await Promise.all([Promise.all(msgs.map((m) => parser.parseToRecord!(m))), Promise.all(msgs.map((m) => parser.parse(m)))]);
  for (let i = 0; i < msgs.length; i++) assert.deepEqual(records[i], toParsedRecord(outcomes[i]!));
  assert.equal(records[3]!.from, 'Sender 3 <s3@example.com>');
  assert.match(records[3]!.body, /body 3/);
  // One worker, a hung message between good ones: only the hung one times out, the others
  // queued behind it on the same worker are parsed by its replacement.
  const slow = createPostalMimeParser({ workers: 1, limits: { parseTimeoutMs: 300 } });
  try {
    assert.ok((await slow.parseToRecord!(msgs[0]!)).ok); // the worker is up before the clock matters
    const hung = crlf(['From: a@b', '', ...Array.from({ length: 2_000_000 }, () => 'word word word')]);
    const jobs = [msgs[0]!, hung, msgs[1]!, msgs[2]!].map((m) => slow.parseToRecord!(m));
    const got = await Promise.all(jobs);
    assert.deepEqual(got.map((r) => r.ok), [true, false, true, true]);
    assert.equal(got[1]!.error?.code, 'PARSE_TIMEOUT');
  } finally {
    await slow.close();
  }
});

test('the pooled attachment finder hands back the bytes the parse hashed, off the calling thread, under the time limit', async () => {
  const { makeMessage } = await import('../harness/messages.js');
  const raw = makeMessage(7, { bodyBytes: 2000, attachmentBytes: 300_000 });
  const o = await parser.parse(raw);
  assert.ok(o.ok && o.attributes.Attachments.length === 1, 'the fixture has one attachment');
  const listed = o.ok ? o.attributes.Attachments[0]! : undefined;
  const finder = createPostalMimeAttachmentFinder();
  try {
    const found = await finder.find(raw, new Set([listed!.Sha256, 'f'.repeat(64)]));
    assert.deepEqual([...found.keys()], [listed!.Sha256], 'the listed one is found, an unknown hash is not');
    const bytes = found.get(listed!.Sha256)!;
    assert.equal(bytes.byteLength, listed!.Size);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), listed!.Sha256);
    assert.equal(raw.byteLength > 0, true, 'the caller keeps its bytes (copied, not transferred)');
  } finally {
    await finder.close();
  }
  // A message that takes longer than the limit is an error with the parser's code, not a hang
  // and not "nothing found".
  const slow = createPostalMimeAttachmentFinder({ limits: { parseTimeoutMs: 1 } });
  try {
    const big = makeMessage(8, { bodyBytes: 2000, attachmentBytes: 8_000_000 });
    await assert.rejects(slow.find(big, new Set(['0'.repeat(64)])), (err: { code?: string }) => err.code === 'PARSE_TIMEOUT');
  } finally {
    await slow.close();
  }
});
