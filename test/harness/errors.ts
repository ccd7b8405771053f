/** Assertions about the errors mailsluice throws. */
import assert from 'node:assert/strict';
import { MailsluiceError, type ErrorCode } from '../../src/core/errors/index.js';

/**
 * Asserts `p` rejects with a MailsluiceError of `code` whose message matches `re` (and, with
 * `never`, does not contain that text, e.g. a password); returns the error.
 */
export async function rejectsWith(p: Promise<unknown>, code: ErrorCode, re?: RegExp, opts: { never?: string } = {}): Promise<MailsluiceError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof MailsluiceError, `expected a MailsluiceError ${code}, got ${caught instanceof Error ? caught.stack : String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (re) assert.match(caught.message, re);
  if (opts.never !== undefined) assert.ok(!caught.message.includes(opts.never), 'the secret never appears in an error');
  return caught;
}
