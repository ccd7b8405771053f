/**
 * The JSON-lines logger redacts secret-looking fields as a last line of defence, but not a
 * message's source key: operators need it to find the message a log line is about.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsonlLogger } from '../../src/adapters/logger-jsonl/index.js';

test('secret-looking fields are redacted; a source key is not', () => {
  const lines: string[] = [];
  const logger = new JsonlLogger([{ level: 'debug', stream: { write: (s: string) => lines.push(s) } }]);
  logger.error('message could not be archived', { key: 'imap:INBOX:7:3', password: 'p', clientKey: 'k', accessToken: 't', keys: ['imap:INBOX:7:4'] });
  const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(rec.key, 'imap:INBOX:7:3');
  assert.deepEqual(rec.keys, ['imap:INBOX:7:4']);
  for (const f of ['password', 'clientKey', 'accessToken']) assert.equal(rec[f], '[redacted]', f);
});
