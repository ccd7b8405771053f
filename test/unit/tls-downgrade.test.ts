/**
 * The STARTTLS downgrade policy of the core (ADR 0016), alone: which security a session is opened
 * with, when a session is remembered, which failure becomes SOURCE_TLS_DOWNGRADE, and when a
 * login crossing unencrypted is warned about.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MailsluiceError } from '../../src/core/errors/index.js';
import { downgradeRefusal, plaintextCredentialsWarning, sessionSecurity, shouldRememberTls } from '../../src/core/connection/tls-downgrade.js';

test('starttls-if-available becomes required once TLS was offered; other settings stay', () => {
  assert.equal(sessionSecurity('starttls-if-available', false), 'starttls-if-available');
  assert.equal(sessionSecurity('starttls-if-available', true), 'starttls');
  for (const s of ['none', 'starttls', 'tls'] as const) assert.equal(sessionSecurity(s, true), s);
});

test('only a first TLS session under starttls-if-available is remembered', () => {
  assert.equal(shouldRememberTls('starttls-if-available', false, true), true);
  assert.equal(shouldRememberTls('starttls-if-available', true, true), false);
  assert.equal(shouldRememberTls('starttls-if-available', false, false), false);
  assert.equal(shouldRememberTls('tls', false, true), false);
});

test('a missing STARTTLS after it was offered is SOURCE_TLS_DOWNGRADE naming the reset; anything else passes through', () => {
  const missing = new MailsluiceError('SOURCE_STARTTLS_UNAVAILABLE', 'no STARTTLS');
  const refused = downgradeRefusal('journal', 'starttls-if-available', true, missing);
  assert.ok(refused instanceof MailsluiceError);
  assert.equal(refused.code, 'SOURCE_TLS_DOWNGRADE');
  assert.equal(refused.retryable, false);
  assert.match(refused.message, /mailsluice connection reset-tls journal/);
  assert.equal(downgradeRefusal('journal', 'starttls', true, missing), missing, 'security starttls keeps its own code');
  const other = new MailsluiceError('SOURCE_AUTH_REJECTED', 'no');
  assert.equal(downgradeRefusal('journal', 'starttls-if-available', true, other), other);
});

test('a login without TLS is warned about unless security none or auth none says it is fine', () => {
  assert.match(plaintextCredentialsWarning('j', 'starttls-if-available', 'basic', false) ?? '', /credentials cross the network unencrypted/);
  assert.equal(plaintextCredentialsWarning('j', 'starttls-if-available', 'basic', true), null);
  assert.equal(plaintextCredentialsWarning('j', 'none', 'basic', false), null);
  assert.equal(plaintextCredentialsWarning('j', 'starttls-if-available', 'none', false), null);
});
