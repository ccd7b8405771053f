/**
 * NTLM as a server (IIS) checks it, written from MS-NLMP independently of the client in
 * src/adapters/ntlm-node (only the MD4 and RC4 primitives are shared, as Node's OpenSSL 3 has
 * neither): the CHALLENGE message with target information and a timestamp (2.2.1.2), and the
 * check of an AUTHENTICATE message (2.2.1.3) with an NTLMv2 response (3.3.2): the NTProofStr
 * against NTOWFv2 of the account's password, the MIC over the three messages (3.1.5.1.2), and
 * with Extended Protection the MsvAvChannelBindings value (3.1.5.2.2, RFC 5929
 * tls-server-end-point).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { md4, rc4 } from '../../../src/adapters/ntlm-node/ntlm-legacy-ciphers.js';

const SIG = Buffer.from('NTLMSSP\0', 'latin1');

/** NegotiateFlags bits the server looks at or sets (MS-NLMP 2.2.2.5). */
const F = {
  UNICODE: 0x1, OEM: 0x2, REQUEST_TARGET: 0x4, SIGN: 0x10, SEAL: 0x20, NTLM: 0x200, ALWAYS_SIGN: 0x8000,
  TARGET_TYPE_DOMAIN: 0x10000, ESS: 0x80000, TARGET_INFO: 0x800000, VERSION: 0x2000000, B128: 0x20000000,
  KEY_EXCH: 0x40000000, B56: 0x80000000,
} as const;

/** The account and server names the challenge announces. */
export interface NtlmServerIdentity {
  netbiosDomain: string;
  netbiosComputer: string;
  dnsDomain: string;
  dnsComputer: string;
}

/** A CHALLENGE sent on a socket, kept until the AUTHENTICATE comes on the same socket. */
export interface PendingChallenge {
  negotiate: Buffer;
  challenge: Buffer;
  serverChallenge: Buffer;
}

function avPairs(pairs: Array<[number, Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [id, v] of [...pairs, [0, Buffer.alloc(0)] as [number, Buffer]]) {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(id, 0);
    h.writeUInt16LE(v.length, 2);
    parts.push(h, v);
  }
  return Buffer.concat(parts);
}

function readAvPairs(b: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (let at = 0; at + 4 <= b.length; ) {
    const id = b.readUInt16LE(at);
    const len = b.readUInt16LE(at + 2);
    if (id === 0 || at + 4 + len > b.length) break;
    out.set(id, b.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return out;
}

/** Reads a NEGOTIATE message; undefined when it is not one. */
export function readNegotiate(m: Buffer): { flags: number } | undefined {
  if (m.length < 16 || !m.subarray(0, 8).equals(SIG) || m.readUInt32LE(8) !== 1) return undefined;
  return { flags: m.readUInt32LE(12) };
}

/** Builds the CHALLENGE answering `negotiate`: the flags it asked for that this server supports, target info with a timestamp. */
export function buildChallenge(negotiate: Buffer, id: NtlmServerIdentity): PendingChallenge {
  const asked = readNegotiate(negotiate)?.flags ?? 0;
  const supported = F.UNICODE | F.REQUEST_TARGET | F.SIGN | F.SEAL | F.NTLM | F.ALWAYS_SIGN | F.ESS | F.B128 | F.KEY_EXCH | F.B56 | F.VERSION;
  const flags = ((asked & supported) | F.UNICODE | F.NTLM | F.TARGET_TYPE_DOMAIN | F.TARGET_INFO | F.ESS) >>> 0;
  const u = (s: string): Buffer => Buffer.from(s, 'utf16le');
  const now = Buffer.alloc(8);
  now.writeBigUInt64LE((BigInt(Date.now()) + 11644473600000n) * 10000n);
  const targetName = u(id.netbiosDomain);
  const info = avPairs([[2, u(id.netbiosDomain)], [1, u(id.netbiosComputer)], [4, u(id.dnsDomain)], [3, u(id.dnsComputer)], [5, u(id.dnsDomain)], [7, now]]);
  const serverChallenge = randomBytes(8);
  const head = Buffer.alloc(56);
  SIG.copy(head, 0);
  head.writeUInt32LE(2, 8);
  head.writeUInt16LE(targetName.length, 12);
  head.writeUInt16LE(targetName.length, 14);
  head.writeUInt32LE(56, 16);
  head.writeUInt32LE(flags, 20);
  serverChallenge.copy(head, 24);
  head.writeUInt16LE(info.length, 40);
  head.writeUInt16LE(info.length, 42);
  head.writeUInt32LE(56 + targetName.length, 44);
  // Version: Windows Server 2016 (10.0 build 14393), NTLM revision 15.
  Buffer.from([10, 0, 0x39, 0x38, 0, 0, 0, 15]).copy(head, 48);
  return { negotiate, challenge: Buffer.concat([head, targetName, info]), serverChallenge };
}

/** The MsvAvChannelBindings value a client must send for a TLS server certificate (DER). */
export function expectedChannelBindings(certDer: Buffer): Buffer {
  // RFC 5929 4.1: SHA-256 for certificates signed with MD5, SHA-1 or SHA-256 (the simulator's is ECDSA-SHA256).
  const app = Buffer.concat([Buffer.from('tls-server-end-point:', 'latin1'), createHash('sha256').update(certDer).digest()]);
  // gss_channel_bindings_struct flattened (RFC 2744 3.11): both address types and lengths zero, then the application data's length and bytes.
  const lens = Buffer.alloc(20);
  lens.writeUInt32LE(app.length, 16);
  return createHash('md5').update(lens).update(app).digest();
}

/** What the server verifies an AUTHENTICATE against. */
export interface NtlmVerifyInput {
  pending: PendingChallenge;
  authenticate: Buffer;
  /** Looks up the account's password by the user and domain the message names. */
  passwordOf: (domain: string, user: string) => string | undefined;
  /** The expected MsvAvChannelBindings, when channel binding is required. */
  channelBindings: Buffer | undefined;
}

/** The outcome: the authenticated `DOMAIN\user`, or why not (for the test's diagnostics). */
export type NtlmVerdict = { ok: true; domain: string; user: string } | { ok: false; reason: string };

function securityBuffer(m: Buffer, at: number): Buffer {
  const len = m.readUInt16LE(at);
  const off = m.readUInt32LE(at + 4);
  if (off + len > m.length) throw new Error('security buffer outside the message');
  return m.subarray(off, off + len);
}

const hmac = (key: Buffer, ...parts: Buffer[]): Buffer => {
  const h = createHmac('md5', key);
  for (const p of parts) h.update(p);
  return h.digest();
};

/** Verifies an AUTHENTICATE message (NTLMv2 only; an NTLMv1 or anonymous answer is refused). */
export function verifyAuthenticate(input: NtlmVerifyInput): NtlmVerdict {
  const m = input.authenticate;
  if (m.length < 64 || !m.subarray(0, 8).equals(SIG) || m.readUInt32LE(8) !== 3) return { ok: false, reason: 'not an AUTHENTICATE message' };
  let nt: Buffer, domainB: Buffer, userB: Buffer, encKey: Buffer;
  try {
    nt = securityBuffer(m, 20);
    domainB = securityBuffer(m, 28);
    userB = securityBuffer(m, 36);
    encKey = securityBuffer(m, 52);
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  const flags = m.readUInt32LE(60);
  const text = (b: Buffer): string => (flags & F.UNICODE ? b.toString('utf16le') : b.toString('latin1'));
  const domain = text(domainB);
  const user = text(userB);
  if (nt.length <= 24) return { ok: false, reason: `NT response of ${nt.length} bytes: not NTLMv2` };
  const password = input.passwordOf(domain, user);
  if (password === undefined) return { ok: false, reason: `no account ${domain}\\${user}` };
  const key = hmac(md4(Buffer.from(password, 'utf16le')), Buffer.from(user.toUpperCase() + domain, 'utf16le'));
  const proof = nt.subarray(0, 16);
  const blob = nt.subarray(16);
  const expected = hmac(key, input.pending.serverChallenge, blob);
  if (!timingSafeEqual(proof, expected)) return { ok: false, reason: 'NTProofStr mismatch (wrong password, user or domain)' };
  // Blob: RespType, HiRespType, 6 reserved, timestamp (8), client challenge (8), 4 reserved, AV pairs.
  const av = readAvPairs(blob.subarray(28));
  const avFlags = av.get(6);
  if (avFlags && avFlags.length === 4 && avFlags.readUInt32LE(0) & 0x2) {
    if (m.length < 88) return { ok: false, reason: 'MsvAvFlags announces a MIC but the message has none' };
    const base = hmac(key, proof);
    const exported = flags & F.KEY_EXCH && encKey.length === 16 ? rc4(base, encKey) : base;
    const zeroed = Buffer.from(m);
    zeroed.fill(0, 72, 88);
    const mic = hmac(exported, input.pending.negotiate, input.pending.challenge, zeroed);
    if (!timingSafeEqual(mic, m.subarray(72, 88))) return { ok: false, reason: 'MIC mismatch' };
  }
  if (input.channelBindings) {
    const cb = av.get(10);
    if (!cb) return { ok: false, reason: 'channel binding required but MsvAvChannelBindings is absent' };
    if (!cb.equals(input.channelBindings)) return { ok: false, reason: 'MsvAvChannelBindings does not match this server certificate' };
  }
  return { ok: true, domain, user };
}
