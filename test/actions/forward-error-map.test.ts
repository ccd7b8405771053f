/**
 * The forward error map on errors shaped as nodemailer 10 makes them (code, originalCode,
 * responseCode, response, command): the branches the real-server tests cannot reach.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mapForwardError, parseRelay, redact, resolveForwardActionConfig } from '../../src/adapters/action-forward/index.js';

const c = { route: 'fwd', host: 'relay.example.test', port: 25, lmtp: false, auth: { user: 'u', pass: 'pw-123456' } };

function err(fields: Record<string, unknown>): Error {
  return Object.assign(new Error(String(fields['message'] ?? 'x')), fields);
}

test('reply codes decide: 4xx and 503 may pass later, other 5xx never will', () => {
  const cases: Array<[Record<string, unknown>, string, boolean]> = [
    [{ code: 'EENVELOPE', responseCode: 503, response: '503 5.5.1 bad sequence', command: 'RCPT TO' }, 'ACTION_FORWARD_DEFERRED', true],
    [{ code: 'EMESSAGE', responseCode: 421, response: '421 4.4.2 closing', command: 'DATA' }, 'ACTION_FORWARD_DEFERRED', true],
    [{ code: 'EMESSAGE', responseCode: 554, response: '554 5.7.1 spam', command: 'DATA' }, 'ACTION_FORWARD_REJECTED', false],
    [{ code: 'EAUTH', responseCode: 454, response: '454 4.7.0 try later', command: 'AUTH PLAIN' }, 'ACTION_FORWARD_DEFERRED', true],
    [{ code: 'EAUTH', responseCode: 535, response: '535 5.7.8 no', command: 'AUTH PLAIN' }, 'ACTION_FORWARD_AUTH_REJECTED', false],
    [{ code: 'ENOAUTH' }, 'ACTION_FORWARD_AUTH_REJECTED', false],
    [{ code: 'EENVELOPE', message: 'Invalid sender' }, 'ACTION_FORWARD_REJECTED', false],
    [{ code: 'EPROTOCOL', responseCode: 500, response: '500 what' }, 'ACTION_FORWARD_REJECTED', false],
  ];
  for (const [fields, code, retryable] of cases) {
    const e = mapForwardError(c, err(fields), false);
    assert.equal(e.code, code, JSON.stringify(fields));
    assert.equal(e.retryable, retryable, JSON.stringify(fields));
  }
});

test('network failures are retryable and say what happened; certificates are not', () => {
  const net: Array<[Record<string, unknown>, RegExp]> = [
    [{ code: 'ESOCKET', originalCode: 'ECONNRESET' }, /the relay reset the connection/],
    [{ code: 'EDNS', originalCode: 'ENOTFOUND' }, /name could not be resolved \(ENOTFOUND\)/],
    [{ code: 'ETIMEDOUT' }, /did not answer in time/],
    [{ code: 'ETLS', originalCode: 'ERR_SSL_WRONG_VERSION_NUMBER', message: 'wrong version' }, /TLS handshake with the relay failed \(ERR_SSL_WRONG_VERSION_NUMBER\)/],
    [{ code: 'ECONNECTION', message: 'Connection closed unexpectedly' }, /the connection failed \(ECONNECTION\): Connection closed unexpectedly/],
    [{}, /the connection failed/],
  ];
  for (const [fields, re] of net) {
    const e = mapForwardError(c, err(fields), false);
    assert.equal(e.code, 'ACTION_FORWARD_CONNECTION_FAILED', JSON.stringify(fields));
    assert.equal(e.retryable, true);
    assert.match(e.message, re);
  }
  const tls = mapForwardError(c, err({ code: 'ESOCKET', originalCode: 'CERT_HAS_EXPIRED' }), false);
  assert.equal(tls.code, 'ACTION_FORWARD_TLS_UNTRUSTED');
  assert.equal(tls.retryable, false);
  assert.equal(mapForwardError(c, 'a string thrown', false).code, 'ACTION_FORWARD_CONNECTION_FAILED');
});

test('redact removes the password in clear and in the base64 forms AUTH carries it in', () => {
  const plain = Buffer.from('\0u\0pw-123456').toString('base64');
  assert.equal(redact(`a pw-123456 b ${plain} c ${Buffer.from('pw-123456').toString('base64')}`, c.auth), 'a *** b *** c ***');
  assert.equal(redact('nothing', undefined), 'nothing');
  const e = mapForwardError(c, err({ code: 'EAUTH', responseCode: 535, response: '535 pw-123456' }), false);
  assert.ok(!e.message.includes('pw-123456') && !(e.cause as Error).message.includes('pw-123456'));
});

test('relay parsing and default ports', () => {
  assert.deepEqual(parseRelay('mail.example.test'), { host: 'mail.example.test', port: undefined });
  assert.deepEqual(parseRelay('10.0.0.5:2525'), { host: '10.0.0.5', port: 2525 });
  assert.deepEqual(parseRelay('[::1]:24'), { host: '::1', port: 24 });
  assert.equal(parseRelay('a:b:c'), undefined);
  const base = { route: 'r', to: ['a@example.test'], relay: 'mail.example.test' };
  assert.equal(resolveForwardActionConfig(base).port, 25);
  assert.equal(resolveForwardActionConfig({ ...base, secure: true }).port, 465);
  assert.equal(resolveForwardActionConfig({ ...base, lmtp: true }).port, 24);
  assert.equal(resolveForwardActionConfig(base).from, '', 'the null sender by default');
});
