/**
 * NTLM (MS-NLMP) as a client speaks it, with no I/O: the NEGOTIATE message, the parsed CHALLENGE,
 * and the AUTHENTICATE message with an NTLMv2 response. The transports (IMAP `AUTHENTICATE NTLM`,
 * POP3 `AUTH NTLM`, later HTTP 401 for EWS) carry these bytes in base64 and decide nothing here.
 *
 * Only NTLMv2 is spoken (NTLMv1 and LM are broken and refused by any current Windows policy).
 * What a Windows client with Extended Protection sends is sent too (ADR 0043): the server's
 * timestamp with a MIC over the three messages, MsvAvChannelBindings (the MD5 of the
 * `tls-server-end-point` channel bindings, or 16 zero bytes without TLS), MsvAvTargetName (the
 * SPN) and the key exchange of a random session key (RC4, {@link rc4}). The password is used
 * only through the NT hash, which never leaves this module.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { md4, rc4 } from './ntlm-legacy-ciphers.js';

/** NEGOTIATE flags (MS-NLMP 2.2.2.5) this client uses. */
export const NTLM_FLAG = {
  UNICODE: 0x00000001,
  REQUEST_TARGET: 0x00000004,
  SIGN: 0x00000010,
  SEAL: 0x00000020,
  NTLM: 0x00000200,
  ALWAYS_SIGN: 0x00008000,
  EXTENDED_SESSIONSECURITY: 0x00080000,
  TARGET_INFO: 0x00800000,
  VERSION: 0x02000000,
  N128: 0x20000000,
  KEY_EXCH: 0x40000000,
  N56: 0x80000000,
} as const;

/**
 * What this client asks for: the set a current Windows client sends (0xe2888235). SIGN, SEAL,
 * 128/56-bit and KEY_EXCH are what Exchange and a "require 128-bit session security" policy look
 * for even when, as over IMAP, POP3 and HTTPS, no message is signed after the login.
 */
export const CLIENT_FLAGS =
  (NTLM_FLAG.UNICODE | NTLM_FLAG.REQUEST_TARGET | NTLM_FLAG.SIGN | NTLM_FLAG.SEAL | NTLM_FLAG.NTLM | NTLM_FLAG.ALWAYS_SIGN |
  NTLM_FLAG.EXTENDED_SESSIONSECURITY | NTLM_FLAG.TARGET_INFO | NTLM_FLAG.VERSION | NTLM_FLAG.N128 | NTLM_FLAG.KEY_EXCH | NTLM_FLAG.N56) >>> 0;

/** AV pair ids (MS-NLMP 2.2.2.1). */
const AV = { EOL: 0, NB_COMPUTER: 1, NB_DOMAIN: 2, DNS_COMPUTER: 3, DNS_DOMAIN: 4, FLAGS: 6, TIMESTAMP: 7, TARGET_NAME: 9, CHANNEL_BINDINGS: 10 } as const;
/** MsvAvFlags bit: the AUTHENTICATE message carries a MIC. */
const AV_FLAG_MIC = 0x2;

const SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1');

/** A malformed or unusable message from the server (the transports name the server and step). */
export class NtlmProtocolError extends Error {
  override readonly name = 'NtlmProtocolError';
}

/** The 8-byte VERSION field (debugging only, MS-NLMP 2.2.2.10): 10.0, build 0, NTLM revision 15. */
export const DEFAULT_VERSION = Buffer.from([10, 0, 0, 0, 0, 0, 0, 0x0f]);

const utf16 = (s: string): Buffer => Buffer.from(s, 'utf16le');
const hmacMd5 = (key: Uint8Array, ...parts: Uint8Array[]): Buffer => {
  const h = createHmac('md5', key);
  for (const p of parts) h.update(p);
  return h.digest();
};

/** NTOWFv2 (MS-NLMP 3.3.2): HMAC-MD5 keyed with MD4(UTF-16LE(password)) over UPPER(user) + domain. */
export function ntowfV2(user: string, domain: string, password: string): Buffer {
  return hmacMd5(md4(utf16(password)), utf16(user.toUpperCase() + domain));
}

/** The NEGOTIATE message (type 1): flags and the version, no domain or workstation (they are optional). */
export function negotiateMessage(version: Buffer = DEFAULT_VERSION): Buffer {
  const m = Buffer.alloc(40);
  SIGNATURE.copy(m, 0);
  m.writeUInt32LE(1, 8);
  m.writeUInt32LE(CLIENT_FLAGS, 12);
  // Domain and workstation fields (8 bytes each) stay empty, pointing at the end of the header.
  m.writeUInt32LE(40, 20);
  m.writeUInt32LE(40, 28);
  version.copy(m, 32);
  return m;
}

/** A parsed CHALLENGE message (type 2). */
export interface NtlmChallenge {
  /** The message as received: the MIC covers it byte for byte. */
  raw: Buffer;
  flags: number;
  serverChallenge: Buffer;
  /** The server's AV pairs, in order, without the terminating MsvAvEOL. */
  targetInfo: Array<{ id: number; value: Buffer }>;
  /** MsvAvTimestamp (FILETIME, 8 bytes) when the server sent one: then a MIC is due. */
  timestamp: Buffer | undefined;
  /** MsvAvNbDomainName, for messages (what the server calls its domain). */
  serverDomain: string | undefined;
}

/** A security buffer (length, max length, offset) of `m` at `at`, bounds-checked. */
function field(m: Buffer, at: number, what: string): Buffer {
  const len = m.readUInt16LE(at);
  const off = m.readUInt32LE(at + 4);
  if (off + len > m.length) throw new NtlmProtocolError(`the NTLM challenge's ${what} points outside the message (${off}+${len} > ${m.length} bytes)`);
  return m.subarray(off, off + len);
}

/** Parses a CHALLENGE message; throws {@link NtlmProtocolError} on anything malformed. */
export function parseChallenge(raw: Buffer): NtlmChallenge {
  if (raw.length < 32 || !raw.subarray(0, 8).equals(SIGNATURE)) throw new NtlmProtocolError('the server\'s answer is not an NTLM message (no NTLMSSP signature)');
  const type = raw.readUInt32LE(8);
  if (type !== 2) throw new NtlmProtocolError(`the server sent NTLM message type ${type} where a CHALLENGE (type 2) was due`);
  const flags = raw.readUInt32LE(20);
  const serverChallenge = Buffer.from(raw.subarray(24, 32));
  const targetInfo: NtlmChallenge['targetInfo'] = [];
  if (raw.length >= 48) {
    const info = field(raw, 40, 'target information');
    for (let at = 0; at + 4 <= info.length; ) {
      const id = info.readUInt16LE(at);
      const len = info.readUInt16LE(at + 2);
      if (id === AV.EOL) break;
      if (at + 4 + len > info.length) throw new NtlmProtocolError('the NTLM challenge\'s target information has a truncated AV pair');
      targetInfo.push({ id, value: Buffer.from(info.subarray(at + 4, at + 4 + len)) });
      at += 4 + len;
    }
  }
  if ((flags & NTLM_FLAG.NTLM) === 0 && (flags & NTLM_FLAG.EXTENDED_SESSIONSECURITY) === 0) {
    throw new NtlmProtocolError('the server\'s NTLM challenge offers neither NTLM nor extended session security');
  }
  if (targetInfo.length === 0) throw new NtlmProtocolError('the server\'s NTLM challenge has no target information, which NTLMv2 needs (an NTLMv1-only server)');
  const ts = targetInfo.find((p) => p.id === AV.TIMESTAMP)?.value;
  const dom = targetInfo.find((p) => p.id === AV.NB_DOMAIN)?.value;
  return { raw, flags, serverChallenge, targetInfo, timestamp: ts?.length === 8 ? ts : undefined, serverDomain: dom ? dom.toString('utf16le') : undefined };
}

/**
 * MD5 of the `gss_channel_bindings_struct` (RFC 2744 3.11, MS-NLMP 3.1.5.1.2) whose application
 * data is `tls-server-end-point:` + the certificate hash (RFC 5929 4.1): the value of
 * MsvAvChannelBindings. Addresses are empty, as every Windows client sends them.
 */
export function channelBindingsHash(certificateHash: Buffer): Buffer {
  const appData = Buffer.concat([Buffer.from('tls-server-end-point:', 'latin1'), certificateHash]);
  const head = Buffer.alloc(20);
  head.writeUInt32LE(appData.length, 16);
  return createHash('md5').update(head).update(appData).digest();
}

/** What the AUTHENTICATE message is made from. */
export interface NtlmAuthenticateInput {
  /** The NEGOTIATE message sent (the MIC covers it). */
  negotiate: Buffer;
  challenge: NtlmChallenge;
  user: string;
  domain: string;
  password: string;
  /** The client's workstation name (informational; empty by default, as a service has none to give). */
  workstation?: string;
  /** The server certificate's `tls-server-end-point` hash (RFC 5929); undefined without TLS. */
  certificateHash?: Buffer | undefined;
  /** The SPN, e.g. `imap/mail.example.com` (MsvAvTargetName); undefined to send none. */
  targetName?: string | undefined;
  /** For the published test vectors only: fixed random values and time. */
  fixed?: { clientChallenge: Buffer; sessionKey: Buffer; time: Buffer; version: Buffer; noTargetInfoChanges?: boolean };
}

/** Now as a FILETIME (100 ns since 1601-01-01), 8 bytes little-endian. */
function fileTimeNow(): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE((BigInt(Date.now()) + 11644473600000n) * 10000n);
  return b;
}

/** The AV pairs the client returns: the server's, then flags, channel bindings and target name. */
function clientTargetInfo(input: NtlmAuthenticateInput, withMic: boolean): Buffer {
  const pairs = input.challenge.targetInfo.filter((p) => p.id !== AV.FLAGS && p.id !== AV.CHANNEL_BINDINGS && p.id !== AV.TARGET_NAME);
  if (!input.fixed?.noTargetInfoChanges) {
    const serverFlags = input.challenge.targetInfo.find((p) => p.id === AV.FLAGS)?.value;
    const flags = Buffer.alloc(4);
    flags.writeUInt32LE(((serverFlags?.length === 4 ? serverFlags.readUInt32LE(0) : 0) | (withMic ? AV_FLAG_MIC : 0)) >>> 0);
    pairs.push({ id: AV.FLAGS, value: flags });
    // Without TLS there is nothing to bind to: all zeros, as Windows sends (MS-NLMP 3.1.5.1.2).
    pairs.push({ id: AV.CHANNEL_BINDINGS, value: input.certificateHash ? channelBindingsHash(input.certificateHash) : Buffer.alloc(16) });
    if (input.targetName) pairs.push({ id: AV.TARGET_NAME, value: utf16(input.targetName) });
  }
  const parts: Buffer[] = [];
  for (const p of [...pairs, { id: AV.EOL, value: Buffer.alloc(0) }]) {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(p.id, 0);
    h.writeUInt16LE(p.value.length, 2);
    parts.push(h, p.value);
  }
  return Buffer.concat(parts);
}

/**
 * The AUTHENTICATE message (type 3) with an NTLMv2 response (MS-NLMP 3.1.5.1.2, 3.3.2). With a
 * server timestamp the LMv2 response is zeros and a MIC is set; the session key is random and
 * sent RC4-wrapped (KEY_EXCH) when the server agreed to it.
 */
export function authenticateMessage(input: NtlmAuthenticateInput): Buffer {
  const { challenge } = input;
  const clientChallenge = input.fixed?.clientChallenge ?? randomBytes(8);
  const withMic = challenge.timestamp !== undefined;
  const time = challenge.timestamp ?? input.fixed?.time ?? fileTimeNow();
  const key = ntowfV2(input.user, input.domain, input.password);
  const temp = Buffer.concat([Buffer.from([1, 1, 0, 0, 0, 0, 0, 0]), time, clientChallenge, Buffer.alloc(4), clientTargetInfo(input, withMic), Buffer.alloc(4)]);
  const ntProof = hmacMd5(key, challenge.serverChallenge, temp);
  const ntResponse = Buffer.concat([ntProof, temp]);
  const lmResponse = withMic ? Buffer.alloc(24) : Buffer.concat([hmacMd5(key, challenge.serverChallenge, clientChallenge), clientChallenge]);
  const sessionBaseKey = hmacMd5(key, ntProof);
  // The flags the two sides agreed on; REQUEST_TARGET is the client's own request and stays.
  const flags = ((challenge.flags & CLIENT_FLAGS) | NTLM_FLAG.REQUEST_TARGET) >>> 0;
  let exportedKey: Buffer = sessionBaseKey;
  let encryptedKey: Buffer = Buffer.alloc(0);
  if (flags & NTLM_FLAG.KEY_EXCH) {
    exportedKey = input.fixed?.sessionKey ?? randomBytes(16);
    encryptedKey = rc4(sessionBaseKey, exportedKey);
  }
  const version = input.fixed?.version ?? DEFAULT_VERSION;
  const header = 64 + 8 + (withMic ? 16 : 0);
  const payload = [utf16(input.domain), utf16(input.user), utf16(input.workstation ?? ''), lmResponse, ntResponse, encryptedKey];
  const m = Buffer.alloc(header + payload.reduce((n, p) => n + p.length, 0));
  SIGNATURE.copy(m, 0);
  m.writeUInt32LE(3, 8);
  // Header slots in wire order: LM, NT, domain, user, workstation, key; payload in the order Windows writes it.
  const slotOf = [28, 36, 44, 12, 20, 52];
  let off = header;
  payload.forEach((p, i) => {
    const at = slotOf[i]!;
    m.writeUInt16LE(p.length, at);
    m.writeUInt16LE(p.length, at + 2);
    m.writeUInt32LE(off, at + 4);
    p.copy(m, off);
    off += p.length;
  });
  m.writeUInt32LE(flags, 60);
  version.copy(m, 64);
  if (withMic) hmacMd5(exportedKey, input.negotiate, challenge.raw, m).copy(m, 72);
  return m;
}

/**
 * Splits `DOMAIN\user` into its domain and user (the form Windows shows); a configured
 * `auth.domain` wins and leaves the username whole; a bare `user` (or a UPN `user@dns.domain`)
 * goes with an empty domain, which the server then takes as its own. Returns undefined for the
 * Exchange alias form `dom\user\alias` (ADR 0043): it names a mailbox other than the account's,
 * which a LOGIN can ask for and NTLM cannot, so it is refused rather than silently opening the
 * account's own mailbox (`config check` says so too).
 */
export function ntlmIdentity(username: string, domain: string | undefined): { user: string; domain: string } | undefined {
  const parts = username.split('\\');
  if (parts.length > 2) return undefined;
  if (domain !== undefined && domain !== '') {
    // Both given: they must agree (one domain, said twice), else the login would guess.
    if (parts.length === 1) return { user: username, domain };
    return parts[0]!.toUpperCase() === domain.toUpperCase() ? { user: parts[1]!, domain } : undefined;
  }
  if (parts.length === 1) return { user: username, domain: '' };
  return { domain: parts[0]!, user: parts[1]! };
}
