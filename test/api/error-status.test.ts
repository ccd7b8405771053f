/**
 * The API's one error → status mapping, and the listen failures' error map: every answer of an
 * error is `{ code, message }` with a catalogue code; a 5xx does not pass the sentence on; a port
 * in use is API_LISTEN_FAILED naming the address.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MailsluiceError, ERROR_CODES, type ErrorCode } from '../../src/core/errors/index.js';
import { errorResponse, httpStatusOf, ERROR_STATUS, mapListenError } from '../../src/api/index.js';

test('API codes have their own status; others are 503 when retryable, else 500', () => {
  const status = (code: ErrorCode): number => httpStatusOf(new MailsluiceError(code, 'x'));
  assert.equal(status('API_BAD_REQUEST'), 400);
  assert.equal(status('API_FORBIDDEN'), 403);
  assert.equal(status('API_NOT_FOUND'), 404);
  assert.equal(status('API_METHOD_NOT_ALLOWED'), 405);
  assert.equal(status('STORE_CORRUPT'), 500);
  assert.equal(status('STORE_NOT_FOUND'), 500, 'a blob the database names but the disk lacks is our failure, not the client asking for nothing');
  assert.equal(status('INTERNAL'), 500);
  assert.equal(status('STORE_WRITE_FAILED'), 503);
  for (const code of Object.keys(ERROR_STATUS)) assert.ok(code in ERROR_CODES, `${code} is a catalogue code`);
  // Every code gets a status in 400..599.
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    const s = status(code);
    assert.ok(s >= 400 && s < 600, `${code} → ${s}`);
  }
});

test('an error answer is JSON { code, message }; a 5xx hides its sentence; a 405 says what is allowed', () => {
  const forbidden = errorResponse(new MailsluiceError('API_FORBIDDEN', 'the URL expired at 2026-01-01T00:00:00.000Z'));
  assert.equal(forbidden.status, 403);
  assert.equal(forbidden.headers['Content-Type'], 'application/json; charset=utf-8');
  assert.deepEqual(JSON.parse(String(forbidden.body)), { code: 'API_FORBIDDEN', message: 'the URL expired at 2026-01-01T00:00:00.000Z' });

  const corrupt = errorResponse(new MailsluiceError('STORE_CORRUPT', 'record at /srv/mailsluice/data/blobs/pack-00000001 fails its CRC'));
  assert.equal(corrupt.status, 500);
  const body = JSON.parse(String(corrupt.body)) as { code: string; message: string };
  assert.equal(body.code, 'STORE_CORRUPT');
  assert.ok(!body.message.includes('/srv/'), 'the data directory is not shown to a receiver');

  const post = errorResponse(new MailsluiceError('API_METHOD_NOT_ALLOWED', 'POST is not allowed', { details: { allow: 'GET, HEAD' } }));
  assert.equal(post.status, 405);
  assert.equal(post.headers.Allow, 'GET, HEAD');
});

test('listen failures name the address and the reason', () => {
  const e = mapListenError(Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' }), '127.0.0.1:8025');
  assert.equal(e.code, 'API_LISTEN_FAILED');
  assert.match(e.message, /^the API cannot listen on 127\.0\.0\.1:8025: the address is already in use/);
  assert.match(mapListenError(Object.assign(new Error('x'), { code: 'EADDRNOTAVAIL' }), '10.9.9.9:8025').message, /10\.9\.9\.9:8025: this machine has no such address/);
  assert.match(mapListenError(Object.assign(new Error('x'), { code: 'EACCES' }), '127.0.0.1:80').message, /127\.0\.0\.1:80: not permitted/);
});
