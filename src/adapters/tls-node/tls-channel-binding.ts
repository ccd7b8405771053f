/**
 * The `tls-server-end-point` channel binding (RFC 5929 4.1): a hash of the certificate the server
 * presented on this TLS connection, with the hash function of the certificate's own signature
 * (SHA-256 when that is MD5 or SHA-1, or unknown). NTLM puts it into the AUTHENTICATE message
 * (MsvAvChannelBindings) so a server with Extended Protection (Exchange, IIS) can tell that the
 * login was made for its own TLS connection and not relayed by a man in the middle.
 */
import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

/** Signature algorithm OIDs (DER content bytes, hex) → the hash RFC 5929 says to use. */
const SIGNATURE_HASH: Readonly<Record<string, string>> = {
  '2a864886f70d01010c': 'sha384', // sha384WithRSAEncryption
  '2a864886f70d01010d': 'sha512', // sha512WithRSAEncryption
  '2a8648ce3d040303': 'sha384', // ecdsa-with-SHA384
  '2a8648ce3d040304': 'sha512', // ecdsa-with-SHA512
  // Everything else (sha256WithRSA, ecdsa-with-SHA256, MD5/SHA-1 ones, RSASSA-PSS, EdDSA) → sha256.
};

/** Reads one DER TLV at `at`: its content's start and end. */
function tlv(der: Buffer, at: number): { start: number; end: number } {
  let len = der[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i]!;
    start += n;
  }
  if (start + len > der.length) throw new Error('truncated DER');
  return { start, end: start + len };
}

/** The hash RFC 5929 picks for a DER certificate: from its signatureAlgorithm's OID. */
export function endPointHashAlgorithm(der: Buffer): string {
  try {
    const cert = tlv(der, 0); // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
    const tbs = tlv(der, cert.start);
    const alg = tlv(der, tbs.end); // AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters }
    const oid = tlv(der, alg.start);
    return SIGNATURE_HASH[der.subarray(oid.start, oid.end).toString('hex')] ?? 'sha256';
  } catch {
    return 'sha256';
  }
}

/** The `tls-server-end-point` hash of a DER certificate. */
export function tlsServerEndPoint(der: Buffer): Buffer {
  return createHash(endPointHashAlgorithm(der)).update(der).digest();
}

/** The hash for the certificate on `socket`; undefined for a plain socket or no certificate. */
export function socketServerEndPoint(socket: unknown): Buffer | undefined {
  const s = socket as Partial<Pick<TLSSocket, 'getPeerCertificate' | 'encrypted'>> | null | undefined;
  if (!s || !s.encrypted || typeof s.getPeerCertificate !== 'function') return undefined;
  const raw = (s.getPeerCertificate(false) as { raw?: Buffer } | null)?.raw;
  return raw && raw.length > 0 ? tlsServerEndPoint(raw) : undefined;
}
