/**
 * A connection's `tls` settings as the options of `node:tls`, built one way for every source that
 * speaks TLS (IMAP through imapflow, POP3 on its own client), so that a setting means the same on
 * both protocols.
 */
import type { ConnectionOptions } from 'node:tls';
import type { ConnectionConfig } from '../../config/loader.js';

/** The TLS options one connection's settings give: verification, minimum version, CA, client certificate, SNI. */
export function tlsClientOptions(tls: ConnectionConfig['tls']): ConnectionOptions & { rejectUnauthorized: boolean } {
  const out: ConnectionOptions & { rejectUnauthorized: boolean } = {
    rejectUnauthorized: tls.verify,
    minVersion: tls.minVersion,
  };
  if (tls.ca) out.ca = tls.ca;
  if (tls.clientCert) out.cert = tls.clientCert;
  if (tls.clientKey) out.key = tls.clientKey;
  if (tls.pfx) out.pfx = Buffer.from(tls.pfx, 'base64');
  if (tls.passphrase) out.passphrase = tls.passphrase;
  if (tls.servername) out.servername = tls.servername;
  return out;
}
