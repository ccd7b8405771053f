/**
 * The EWS simulator's server side of NTLM against MS-NLMP's own example (4.2.4, NTLMv2): the
 * spec's AUTHENTICATE message verifies under the spec's server challenge and password, and fails
 * under any other password, user or challenge. The CHALLENGE the simulator builds is checked to
 * parse as MS-NLMP 2.2.1.2 lays it out (target info with the names and a timestamp).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildChallenge, verifyAuthenticate } from './ews/ntlm-server.js';
import { hex, SPEC_AUTHENTICATE, SPEC_CHALLENGE } from './ntlm-spec-example.js';

const verify = (password: string, serverChallenge = hex('0123456789abcdef'), user = 'User') =>
  verifyAuthenticate({
    pending: { negotiate: Buffer.alloc(0), challenge: SPEC_CHALLENGE, serverChallenge },
    authenticate: SPEC_AUTHENTICATE,
    passwordOf: (d, u) => (d === 'Domain' && u.toLowerCase() === user.toLowerCase() ? password : undefined),
    channelBindings: undefined,
  });

test('the MS-NLMP 4.2.4 NTLMv2 AUTHENTICATE verifies with the spec\'s password and challenge, and only with them', () => {
  assert.deepEqual(verify('Password'), { ok: true, domain: 'Domain', user: 'User' });
  assert.deepEqual(verify('password'), { ok: false, reason: 'NTProofStr mismatch (wrong password, user or domain)' });
  assert.equal(verify('Password', hex('0123456789abcdee')).ok, false);
  assert.deepEqual(verify('Password', undefined, 'Someone'), { ok: false, reason: 'no account Domain\\User' });
  // Channel binding required: the spec's message carries none.
  const bound = verifyAuthenticate({
    pending: { negotiate: Buffer.alloc(0), challenge: SPEC_CHALLENGE, serverChallenge: hex('0123456789abcdef') },
    authenticate: SPEC_AUTHENTICATE, passwordOf: () => 'Password', channelBindings: Buffer.alloc(16, 1),
  });
  assert.deepEqual(bound, { ok: false, reason: 'channel binding required but MsvAvChannelBindings is absent' });
});

test('the CHALLENGE: signature, type 2, the flags asked for that are supported, target info with names and a timestamp', () => {
  const negotiate = hex('4e544c4d535350000100000035828ae2000000000000000000000000000000000a0000000000000f'); // NTLMSSP, type 1, 0xe28a8235
  const { challenge, serverChallenge } = buildChallenge(negotiate, { netbiosDomain: 'CORP', netbiosComputer: 'EXCH01', dnsDomain: 'corp.example.com', dnsComputer: 'exch01.corp.example.com' });
  assert.equal(challenge.subarray(0, 8).toString('latin1'), 'NTLMSSP\0');
  assert.equal(challenge.readUInt32LE(8), 2);
  assert.deepEqual(challenge.subarray(24, 32), serverChallenge);
  const flags = challenge.readUInt32LE(20);
  for (const bit of [0x1, 0x200, 0x80000, 0x800000, 0x20000000, 0x40000000, 0x80000000]) assert.ok(flags & bit, `flag ${bit.toString(16)}`);
  assert.equal(flags & 0x2, 0, 'no OEM');
  const name = challenge.subarray(challenge.readUInt32LE(16), challenge.readUInt32LE(16) + challenge.readUInt16LE(12));
  assert.equal(name.toString('utf16le'), 'CORP');
  const info = challenge.subarray(challenge.readUInt32LE(44), challenge.readUInt32LE(44) + challenge.readUInt16LE(40));
  const pairs = new Map<number, Buffer>();
  for (let at = 0; info.readUInt16LE(at) !== 0; at += 4 + info.readUInt16LE(at + 2)) pairs.set(info.readUInt16LE(at), info.subarray(at + 4, at + 4 + info.readUInt16LE(at + 2)));
  assert.equal(pairs.get(2)?.toString('utf16le'), 'CORP');
  assert.equal(pairs.get(3)?.toString('utf16le'), 'exch01.corp.example.com');
  const ts = pairs.get(7)!.readBigUInt64LE(0);
  assert.ok(Math.abs(Number(ts / 10000n - 11644473600000n) - Date.now()) < 60_000, 'the timestamp is now, as a FILETIME');
});
