/**
 * The attributes a store saves: smaller than the attributes (a header's ListValues left out where
 * it is only its Value), and read back as exactly what was saved, also from a row an older build
 * wrote with every ListValues.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSavedAttributes, savedAttributesJson } from '../../src/core/message/parsed-record.js';
import { parseToOutcome } from '../../src/adapters/parser-postal-mime/index.js';
import { DEFAULT_PARSE_LIMITS } from '../../src/core/message/limits.js';
import { loadCorpus } from '../harness/corpus.js';

test('saved attributes read back as the parse gave them, smaller; rows of older builds read as before', async () => {
  const raw = Buffer.from(
    [
      'Received: from a.example by b.example; Mon, 7 Dec 2026 08:00:00 +0000',
      'Received: from c.example by a.example; Mon, 7 Dec 2026 07:59:00 +0000',
      'From: Ann <ann@example.com>',
      'To: bob@example.com, carol@example.com',
      'Subject: Quarterly',
      'Message-ID: <q1@example.com>',
      '',
      'Body.',
      '',
    ].join('\r\n'),
  );
  const outcome = await parseToOutcome(raw, DEFAULT_PARSE_LIMITS);
  assert.ok(outcome.ok);
  const { TextBody: _t, HtmlBody: _h, ...a } = outcome.attributes;
  const saved = savedAttributesJson(a);
  assert.ok(saved.length < JSON.stringify(a).length * 0.9, `${saved.length} against ${JSON.stringify(a).length}`);
  assert.deepEqual(parseSavedAttributes(saved, 1), a);
  const received = parseSavedAttributes(saved, 1).CustomHeaders!.find((h) => h.Name === 'Received')!;
  assert.equal(received.ListValues.length, 2, 'a header seen twice keeps both values');
  // A row saved by an older build: every header with its ListValues.
  assert.deepEqual(parseSavedAttributes(JSON.stringify(a), 1), a);
  assert.deepEqual(parseSavedAttributes(null, 1), {});
  assert.throws(() => parseSavedAttributes('{', 7), /message 7/);
});

test('every parsed message of the corpus reads back from its saved attributes exactly', async () => {
  let checked = 0;
  for (const [i, raw] of loadCorpus().slice(0, 300).entries()) {
    const outcome = await parseToOutcome(raw, DEFAULT_PARSE_LIMITS);
    const a = outcome.ok ? outcome.attributes : (outcome.partial ?? {});
    assert.deepEqual(parseSavedAttributes(savedAttributesJson(a), 1), JSON.parse(JSON.stringify(a)), `corpus message ${i}`);
    checked++;
  }
  assert.ok(checked >= 300, `${checked} messages checked`);
});
