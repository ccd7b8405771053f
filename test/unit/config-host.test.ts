/**
 * `host` is a bare host name or address: a protocol prefix (with or without `//`), a port or
 * brackets are refused by `config check` with the fix spelled out, not left to fail at DNS lookup.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkConfigText } from '../../src/config/loader.js';

function hostProblems(host: string): string[] {
  const text = `connections:\n  - name: j\n    protocol: imap\n    host: "${host}"\n    auth: { type: basic, username: u, password: p }\n`;
  return checkConfigText(text)
    .problems.filter((p) => p.path === 'connections[0].host')
    .map((p) => p.message);
}

test('host: names, IPv4 and bare IPv6 addresses are accepted', () => {
  for (const h of ['mail.example.com', 'mail', '127.0.0.1', '::1', '2001:db8::5', 'fe80::1%eth0']) assert.deepEqual(hostProblems(h), [], h);
});

test('host: a protocol prefix, a port or brackets are refused, each with the way to write it', () => {
  assert.match(hostProblems('imaps://mail.example.com')[0]!, /protocol prefix.*security: tls/);
  assert.match(hostProblems('imap:mail.example.com')[0]!, /protocol prefix/);
  assert.match(hostProblems('mail.example.com:993')[0]!, /without a port .*host: mail\.example\.com, port: 993/);
  assert.match(hostProblems('[::1]')[0]!, /without brackets here \(host: ::1\)/);
});
