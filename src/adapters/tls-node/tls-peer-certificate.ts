/**
 * When the certificate a server presented on a TLS socket expires: what the alert rule
 * `certificate-expiry` reads (through the runner's status), the same way for every source.
 */
import type { TLSSocket } from 'node:tls';

/** The peer certificate's `validTo` as ms since the epoch; undefined for a plain socket, none presented, or a date that does not parse. */
export function peerCertificateExpiry(socket: unknown): number | undefined {
  const s = socket as Partial<Pick<TLSSocket, 'getPeerCertificate' | 'encrypted'>> | null | undefined;
  if (!s || !s.encrypted || typeof s.getPeerCertificate !== 'function') return undefined;
  const cert = s.getPeerCertificate(false) as { valid_to?: string } | null;
  const at = cert?.valid_to ? Date.parse(cert.valid_to) : NaN;
  return Number.isFinite(at) ? at : undefined;
}
