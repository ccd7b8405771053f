/**
 * STARTTLS downgrade protection (issue 12, item 10; ADR 0016). `security: starttls-if-available`
 * keeps its meaning (a server that never offered TLS can still be used), but once a server of a
 * connection offered TLS, a later session without it is refused before any credential is sent: a
 * man in the middle that strips STARTTLS from the capabilities would otherwise read the password.
 * Adapters report what the server offered; this module decides.
 */
import { MailsluiceError } from '../errors/index.js';

/** A connection's `security` setting. */
export type SecurityMode = 'none' | 'starttls-if-available' | 'starttls' | 'tls';

/**
 * Per connection, durably: whether a session of it ever ran over TLS under
 * `starttls-if-available` (the archive store keeps it).
 */
export interface TlsMemory {
  tlsOffered(connection: string): boolean;
  /** Records (true) or forgets (false, the operator's reset) that the server offered TLS. */
  setTlsOffered(connection: string, offered: boolean): void;
}

/** The command that forgets the memory, named by the refusal and the docs. */
export function resetTlsCommand(connection: string): string {
  return `mailsluice connection reset-tls ${connection}`;
}

/**
 * The security a session is opened with: `starttls-if-available` becomes `starttls` (required)
 * once the server offered TLS, so the adapter stops before authenticating when it is missing.
 */
export function sessionSecurity(configured: SecurityMode, offeredBefore: boolean): SecurityMode {
  return configured === 'starttls-if-available' && offeredBefore ? 'starttls' : configured;
}

/** Whether a session that opened should be remembered as having found TLS. */
export function shouldRememberTls(configured: SecurityMode, offeredBefore: boolean, tlsInUse: boolean): boolean {
  return configured === 'starttls-if-available' && !offeredBefore && tlsInUse;
}

/**
 * The refusal of a downgraded session: `err` is the adapter's failure of a session opened with
 * {@link sessionSecurity}; a missing STARTTLS where it was offered before becomes
 * `SOURCE_TLS_DOWNGRADE`, anything else stays as it is.
 */
export function downgradeRefusal(connection: string, configured: SecurityMode, offeredBefore: boolean, err: unknown): unknown {
  if (configured !== 'starttls-if-available' || !offeredBefore) return err;
  if (!(err instanceof MailsluiceError) || err.code !== 'SOURCE_STARTTLS_UNAVAILABLE') return err;
  return new MailsluiceError(
    'SOURCE_TLS_DOWNGRADE',
    `connection ${connection}: the server offered STARTTLS before and does not now, so the credentials were not sent (something on the way may be stripping it); ` +
      `if the server really stopped offering TLS, run \`${resetTlsCommand(connection)}\`, or set security: none to accept unencrypted logins`,
    { cause: err },
  );
}

/** The warning for a session whose credentials cross unencrypted; null when they do not. */
export function plaintextCredentialsWarning(connection: string, configured: SecurityMode, authType: string, tlsInUse: boolean): string | null {
  if (tlsInUse || authType === 'none' || configured === 'none') return null;
  return `connection ${connection}: the server offers no TLS, so the credentials cross the network unencrypted (security: ${configured}); set security: none to accept that explicitly, or starttls/tls to refuse it`;
}
