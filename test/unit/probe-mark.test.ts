/**
 * The probe's mark (ADR 0027): only a header whose MAC was made under the archive's probe key
 * verifies; a record or outcome is marked `Probe: true` without changing the original; the key
 * is made once, 0600, and read back the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { issueProbe, loadOrCreateProbeKey, probeVerifier, PROBE_KEY_FILE } from '../../src/app/probe-key.js';
import { markProbe, probeHeaderOf } from '../../src/core/message/probe-mark.js';
import { toParsedRecord, type ParsedRecord } from '../../src/core/message/parsed-record.js';
import type { ParseOutcome } from '../../src/core/message/parse-outcome.js';
import type { MessageAttributes } from '../../src/core/message/attributes.js';

function outcome(headers: Array<[string, string]>): ParseOutcome {
  const attributes: MessageAttributes = {
    From: null, To: [], Cc: [], Bcc: [], Subject: 's', ReceivedDate: null, GlobalMessageId: 'x@y', InReplyTo: '', References: [],
    TextBody: '', HtmlBody: '', Attachments: [], CustomHeaders: headers.map(([Name, Value]) => ({ Name, Value, ListValues: [Value] })),
  };
  return { ok: true, attributes };
}

test('a probe verifies under its own key only; any other shape or MAC does not', () => {
  const key = randomBytes(32);
  const probe = issueProbe(key);
  const verifier = probeVerifier(key);
  assert.match(probe.header, /^[0-9a-f]{24}\.[A-Za-z0-9_-]{22}$/);
  assert.equal(probe.messageId, `probe-${probe.id}@mailsluice.invalid`);
  assert.equal(verifier.issued(probe.header), true);
  assert.equal(verifier.issued(` ${probe.header} `), true, 'folding whitespace around the value');
  assert.equal(probeVerifier(randomBytes(32)).issued(probe.header), false, 'another archive’s key');
  const [id, mac] = probe.header.split('.') as [string, string];
  assert.equal(verifier.issued(`${id}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`), false, 'one character of the MAC changed');
  assert.equal(verifier.issued(`${'0'.repeat(24)}.${mac}`), false, 'another id with this MAC');
  assert.equal(verifier.issued(id), false);
  assert.equal(verifier.issued(''), false);
});

test('the header is found in an outcome and in a record, case-insensitively; marking copies', () => {
  const o = outcome([['x-mailsluice-PROBE', 'abc.def'], ['Subject', 's']]);
  assert.equal(probeHeaderOf(o), 'abc.def');
  const record = toParsedRecord(o);
  assert.equal(probeHeaderOf(record), 'abc.def');
  assert.equal(probeHeaderOf(toParsedRecord(outcome([['X-Other', 'v']]))), undefined);
  const marked = markProbe(record) as ParsedRecord;
  assert.equal((JSON.parse(marked.attributesJson) as { Probe?: boolean }).Probe, true);
  assert.equal((JSON.parse(record.attributesJson) as { Probe?: boolean }).Probe, undefined, 'the original is unchanged');
  const markedOutcome = markProbe(o) as ParseOutcome;
  assert.equal(markedOutcome.ok && markedOutcome.attributes.Probe, true);
  assert.equal(o.ok && o.attributes.Probe, undefined);
});

test('probe.key: made once, 0600, the same key read back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailsluice-probe-key-'));
  try {
    const dataDir = join(dir, 'data');
    const a = loadOrCreateProbeKey(dataDir);
    const b = loadOrCreateProbeKey(dataDir);
    assert.equal(a.length, 32);
    assert.deepEqual(a, b);
    assert.equal(statSync(join(dataDir, PROBE_KEY_FILE)).mode & 0o777, 0o600);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
