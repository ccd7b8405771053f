/**
 * The NTLM client messages (`adapters/ntlm-node`) against published vectors: MD4 against RFC 1320's
 * test suite, RC4 against the classic "Key"/"Plaintext" vector, and the whole NTLMv2 AUTHENTICATE
 * message against MS-NLMP 4.2.4 byte for byte (with the spec's fixed client challenge, session
 * key, time and version). Then what the spec has no vector for: a server timestamp brings the MIC
 * (checked by recomputing it) and zero LMv2, the channel bindings are MD5 of the RFC 2744 struct.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { md4, rc4 } from '../../src/adapters/ntlm-node/ntlm-legacy-ciphers.js';
import { authenticateMessage, channelBindingsHash, negotiateMessage, ntlmIdentity, ntowfV2, parseChallenge, NtlmProtocolError } from '../../src/adapters/ntlm-node/ntlm-messages.js';
import { endPointHashAlgorithm, tlsServerEndPoint } from '../../src/adapters/tls-node/tls-channel-binding.js';
import { hex, SPEC_AUTHENTICATE, SPEC_CHALLENGE } from '../harness/ntlm-spec-example.js';


test('MD4 matches the RFC 1320 test suite', () => {
  const suite: Array<[string, string]> = [
    ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
    ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
    ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
    ['message digest', 'd9130a8164549fe818874806e1c7014b'],
    ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
    ['12345678901234567890123456789012345678901234567890123456789012345678901234567890', 'e33b4ddc9c38f2199c3e7b164fcc0536'],
  ];
  for (const [input, want] of suite) assert.equal(md4(Buffer.from(input, 'latin1')).toString('hex'), want, `MD4(${JSON.stringify(input)})`);
});

test('RC4 matches the "Key"/"Plaintext" vector', () => {
  assert.equal(rc4(Buffer.from('Key'), Buffer.from('Plaintext')).toString('hex'), 'bbf316e8d940af0ad3');
});

// The example's client-side choices (ntlm-spec-example.ts).
const FIXED = { clientChallenge: Buffer.alloc(8, 0xaa), sessionKey: Buffer.alloc(16, 0x55), time: Buffer.alloc(8), version: hex('0501280a0000000f') };

test('NTOWFv2 and the AUTHENTICATE message match MS-NLMP 4.2.4 byte for byte', () => {
  assert.equal(ntowfV2('User', 'Domain', 'Password').toString('hex'), '0c868a403bfd7a93a3001ef22ef02e3f');
  assert.equal(ntowfV2('USER', 'Domain', 'Password').toString('hex'), '0c868a403bfd7a93a3001ef22ef02e3f', 'the user name is case-insensitive');
  const challenge = parseChallenge(SPEC_CHALLENGE);
  assert.equal(challenge.serverChallenge.toString('hex'), '0123456789abcdef');
  assert.equal(challenge.serverDomain, 'Domain');
  assert.equal(challenge.timestamp, undefined);
  const m = authenticateMessage({
    negotiate: negotiateMessage(),
    challenge,
    user: 'User',
    domain: 'Domain',
    password: 'Password',
    workstation: 'COMPUTER',
    fixed: { ...FIXED, noTargetInfoChanges: true },
  });
  assert.equal(m.toString('hex'), SPEC_AUTHENTICATE.toString('hex'));
});

/** The spec's challenge with an MsvAvTimestamp added to its target info. */
function challengeWithTimestamp(): Buffer {
  const info = Buffer.concat([hex('02000c0044006f006d00610069006e0001000c00530065007200760065007200'), hex('07000800'), hex('0011223344556677'), hex('00000000')]);
  const head = Buffer.from(SPEC_CHALLENGE.subarray(0, 56));
  const name = SPEC_CHALLENGE.subarray(56, 68);
  head.writeUInt16LE(info.length, 40);
  head.writeUInt16LE(info.length, 42);
  head.writeUInt32LE(68, 44);
  return Buffer.concat([head, name, info]);
}

/** The AV pairs of an NTLMv2 response (after NTProofStr and the 28-byte blob header). */
function responsePairs(m: Buffer): Map<number, Buffer> {
  const ntLen = m.readUInt16LE(20);
  const nt = m.subarray(m.readUInt32LE(24), m.readUInt32LE(24) + ntLen);
  const out = new Map<number, Buffer>();
  for (let at = 16 + 28; at + 4 <= nt.length; ) {
    const id = nt.readUInt16LE(at);
    const len = nt.readUInt16LE(at + 2);
    if (id === 0) break;
    out.set(id, nt.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return out;
}

test('with a server timestamp: that time in the blob, LMv2 zeroed, MsvAvFlags says MIC, and the MIC is HMAC-MD5 over the three messages', () => {
  const negotiate = negotiateMessage();
  const raw = challengeWithTimestamp();
  const challenge = parseChallenge(raw);
  assert.equal(challenge.timestamp?.toString('hex'), '0011223344556677');
  const cert = Buffer.alloc(32, 7);
  const m = authenticateMessage({ negotiate, challenge, user: 'User', domain: 'Domain', password: 'Password', certificateHash: cert, targetName: 'imap/mail.corp.example', fixed: FIXED });
  const lm = m.subarray(m.readUInt32LE(16), m.readUInt32LE(16) + m.readUInt16LE(12));
  assert.deepEqual(lm, Buffer.alloc(24), 'LMv2 is Z(24) when a MIC is sent');
  const nt = m.subarray(m.readUInt32LE(24));
  assert.equal(nt.subarray(16 + 8, 16 + 16).toString('hex'), '0011223344556677', 'the server\'s timestamp, not ours');
  const pairs = responsePairs(m);
  assert.equal(pairs.get(6)?.readUInt32LE(0), 2, 'MsvAvFlags: MIC present');
  assert.equal(pairs.get(9)?.toString('utf16le'), 'imap/mail.corp.example');
  const struct = Buffer.concat([Buffer.alloc(16), hex('35000000'), Buffer.from('tls-server-end-point:'), cert]);
  assert.equal(pairs.get(10)?.toString('hex'), createHash('md5').update(struct).digest('hex'), 'MsvAvChannelBindings = MD5(gss_channel_bindings_struct)');
  const mic = Buffer.from(m.subarray(72, 88));
  const zeroed = Buffer.from(m);
  zeroed.fill(0, 72, 88);
  assert.equal(mic.toString('hex'), createHmac('md5', FIXED.sessionKey).update(negotiate).update(raw).update(zeroed).digest('hex'));
  // The MIC moves the payload: every field still points inside the message.
  for (const at of [12, 20, 28, 36, 44, 52]) assert.ok(m.readUInt32LE(at + 4) + m.readUInt16LE(at) <= m.length);
  assert.equal(m.readUInt32LE(28 + 4), 88, 'the payload starts after version and MIC');
});

test('without TLS the channel bindings are 16 zero bytes; the password is nowhere in the messages', () => {
  const m = authenticateMessage({ negotiate: negotiateMessage(), challenge: parseChallenge(SPEC_CHALLENGE), user: 'journal', domain: 'CORP', password: 'Secret123!' });
  assert.deepEqual(responsePairs(m).get(10), Buffer.alloc(16));
  for (const enc of ['utf8', 'utf16le'] as const) assert.equal(m.indexOf(Buffer.from('Secret123!', enc)), -1);
  assert.equal(channelBindingsHash(Buffer.alloc(0)).length, 16);
});

test('a malformed challenge is an NtlmProtocolError naming what is wrong', () => {
  assert.throws(() => parseChallenge(Buffer.from('hello')), NtlmProtocolError);
  assert.throws(() => parseChallenge(negotiateMessage()), /type 1 where a CHALLENGE/);
  const bad = Buffer.from(SPEC_CHALLENGE);
  bad.writeUInt32LE(0xffff, 44);
  assert.throws(() => parseChallenge(bad), /points outside the message/);
});

test('DOMAIN\\user splits; auth.domain wins; the alias form and two different domains are refused', () => {
  assert.deepEqual(ntlmIdentity('CORP\\journal', undefined), { domain: 'CORP', user: 'journal' });
  assert.deepEqual(ntlmIdentity('journal', 'CORP'), { domain: 'CORP', user: 'journal' });
  assert.deepEqual(ntlmIdentity('journal', undefined), { domain: '', user: 'journal' });
  assert.deepEqual(ntlmIdentity('corp\\journal', 'CORP'), { domain: 'CORP', user: 'journal' });
  assert.equal(ntlmIdentity('OTHER\\journal', 'CORP'), undefined);
  assert.equal(ntlmIdentity('dom\\juser\\J.User', undefined), undefined);
});

test('tls-server-end-point hashes with the certificate\'s signature hash, SHA-256 for SHA-256 and below', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ntlm-cert-'));
  try {
    for (const [digest, want] of [['sha256', 'sha256'], ['sha384', 'sha384'], ['sha1', 'sha256']] as const) {
      const pem = join(dir, `${digest}.pem`);
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', pem, '-subj', '/CN=localhost', '-days', '1', `-${digest}`], { stdio: 'ignore' });
      const der = Buffer.from(new X509Certificate(readFileSync(pem)).raw);
      assert.equal(endPointHashAlgorithm(der), want, `a ${digest} certificate`);
      assert.equal(tlsServerEndPoint(der).toString('hex'), createHash(want).update(der).digest('hex'));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
