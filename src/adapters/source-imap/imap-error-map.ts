import { MailsluiceError } from '../../core/errors/index.js';
import { TLS_UNTRUSTED_CODES } from '../tls-node/tls-untrusted-codes.js';
import { isPlainTextPeer, plainTextPeerSentence } from '../tls-node/tls-plain-port.js';
import { ImapCommandError, ImapConnectionError } from './imap-wire-errors.js';
import type { ImapSourceConfig } from './imap-source-config.js';

/** Where the failure happened, for the sentence. */
export interface ImapErrorContext {
  host: string;
  port: number;
  mailbox?: string;
  username?: string;
  /** The connection logs in with `auth: none` (then a refused login means "a login is needed"). */
  authNone?: boolean;
}

/** The context of a connection's failures, from its settings. */
export function imapErrorContext(cfg: Pick<ImapSourceConfig, 'host' | 'port' | 'tlsPort' | 'security' | 'mailbox' | 'auth'>): ImapErrorContext & { mailbox: string } {
  return {
    host: cfg.host,
    port: cfg.security === 'tls' ? cfg.tlsPort : cfg.port,
    mailbox: cfg.mailbox,
    ...(cfg.auth.username !== undefined ? { username: cfg.auth.username } : {}),
    authNone: cfg.auth.type === 'none',
  };
}

/** The server at `where` offers no STARTTLS while the connection requires it. */
export function starttlsUnavailableError(where: string, cause?: unknown): MailsluiceError {
  return new MailsluiceError('SOURCE_STARTTLS_UNAVAILABLE', `${where} does not offer STARTTLS, and security is starttls (required)`, { cause });
}

/**
 * Turns whatever imapflow, ImapWire or the socket threw into a catalogue error with a sentence an
 * operator can act on. imapflow's errors stop here.
 */
export function mapImapError(err: unknown, ctx: ImapErrorContext): MailsluiceError {
  if (err instanceof MailsluiceError) return err;
  if (err instanceof ImapCommandError) return new MailsluiceError('SOURCE_PROTOCOL', `${ctx.host}:${ctx.port}: ${err.message}`, { cause: err });
  const e = (err ?? {}) as {
    code?: string;
    message?: string;
    authenticationFailed?: boolean;
    tlsFailed?: boolean;
    responseText?: string;
    serverResponseCode?: string;
    responseStatus?: string;
  };
  const code = e.code ?? '';
  const where = `${ctx.host}:${ctx.port}`;
  const text = e.responseText || e.message || String(err);
  if (e.authenticationFailed || code === 'AUTHENTICATIONFAILED' || e.serverResponseCode === 'AUTHENTICATIONFAILED') {
    if (ctx.authNone) {
      return new MailsluiceError('SOURCE_AUTH_REJECTED', `${where} needs a login, but auth.type is none: set auth.type basic with username and password (or xoauth2)`, { cause: err });
    }
    return new MailsluiceError('SOURCE_AUTH_REJECTED', `${where} rejected the login of ${JSON.stringify(ctx.username ?? '')}: ${text}`, { cause: err });
  }
  if (TLS_UNTRUSTED_CODES.has(code)) {
    return new MailsluiceError('SOURCE_TLS_UNTRUSTED', `the certificate of ${where} is not trusted (${code}): ${e.message ?? ''}; give the CA in tls.ca or, for testing only, set tls.verify: false`, { cause: err });
  }
  if (isPlainTextPeer(err)) return new MailsluiceError('SOURCE_TLS_FAILED', plainTextPeerSentence(where, ctx.port), { cause: err });
  if (e.tlsFailed) {
    // imapflow marks a required-but-missing STARTTLS with tlsFailed and no socket error code;
    // a failed handshake carries OpenSSL's code.
    if (!code) return starttlsUnavailableError(where, err);
    return new MailsluiceError('SOURCE_TLS_FAILED', `TLS with ${where} failed: ${text}`, { cause: err });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new MailsluiceError('SOURCE_DNS_FAILED', `cannot resolve host ${ctx.host} (${code})`, { cause: err });
  if (code === 'ECONNREFUSED') return new MailsluiceError('SOURCE_CONNECT_REFUSED', `${where} refused the connection (nothing listens there?)`, { cause: err });
  if (code === 'CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return new MailsluiceError('SOURCE_CONNECT_TIMEOUT', `no connection to ${where} within the connect timeout`, { cause: err });
  if (code === 'GREETING_TIMEOUT') return new MailsluiceError('SOURCE_GREETING_INVALID', `${where} sent no IMAP greeting in time`, { cause: err });
  if (code === 'ETIMEOUT') {
    // ImapWire's own timeout names the command and which limit ended it (the operator's or the internal one).
    const why = err instanceof ImapConnectionError ? err.message : `nothing arrived from ${where} within the no-data timeout`;
    return new MailsluiceError('SOURCE_DATA_TIMEOUT', `${why}; connection dropped`, { cause: err });
  }
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /SSL|TLS/.test(code)) {
    return new MailsluiceError('SOURCE_TLS_FAILED', `TLS with ${where} failed (${code}): ${e.message ?? ''}`, { cause: err });
  }
  if (code === 'NoConnection' || code === 'EConnectionClosed' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ClosedAfterConnectText' || code === 'ClosedAfterConnectTLS') {
    return new MailsluiceError('SOURCE_NETWORK', `connection to ${where} was closed: ${text}`, { cause: err });
  }
  if (code === 'NONEXISTENT' || e.serverResponseCode === 'NONEXISTENT' || (code === 'NotFound' && ctx.mailbox)) {
    return new MailsluiceError('SOURCE_MAILBOX_NOT_FOUND', `mailbox ${JSON.stringify(ctx.mailbox ?? '')} does not exist on ${where}`, { cause: err });
  }
  if (code.startsWith('Parser') || code === 'InvalidResponse' || code === 'UnexpectedTag' || code === 'MissingTag' || e.responseStatus === 'NO' || e.responseStatus === 'BAD') {
    return new MailsluiceError('SOURCE_PROTOCOL', `${where}: ${text}`, { cause: err });
  }
  return new MailsluiceError('SOURCE_NETWORK', `IMAP error with ${where}: ${text}${code ? ` (${code})` : ''}`, { cause: err });
}

/**
 * A session's failure named by its real cause. imapflow reports a socket timeout (or TLS/socket
 * error) through its 'error' event and then fails the running command with a generic
 * "Connection not available"; given the error it emitted last (`lastClientError`), that one is
 * mapped (e.g. SOURCE_DATA_TIMEOUT) instead of a bare SOURCE_NETWORK.
 */
export function mapSessionError(err: unknown, ctx: ImapErrorContext, lastClientError: unknown): MailsluiceError {
  const code = (err as { code?: string } | null)?.code;
  if (lastClientError !== undefined && (code === 'NoConnection' || code === 'EConnectionClosed') && !(err instanceof ImapConnectionError)) {
    return mapImapError(lastClientError, ctx);
  }
  return mapImapError(err, ctx);
}

/** A failed SELECT: a mailbox the server does not know is SOURCE_MAILBOX_NOT_FOUND, anything else as {@link mapSessionError}. */
export function mapSelectError(err: unknown, ctx: ImapErrorContext & { mailbox: string }, lastClientError: unknown): MailsluiceError {
  const e = err as { serverResponseCode?: string; responseText?: string };
  if (e.serverResponseCode === 'NONEXISTENT' || /doesn't exist|does not exist|unknown mailbox|not found/i.test(e.responseText ?? '')) {
    return new MailsluiceError('SOURCE_MAILBOX_NOT_FOUND', `mailbox ${JSON.stringify(ctx.mailbox)} does not exist on ${ctx.host}:${ctx.port}`, { cause: err });
  }
  return mapSessionError(err, ctx, lastClientError);
}

/**
 * Flagging messages that failed to archive `\Seen` failed: a refusal is SOURCE_PROTOCOL with the
 * server's reason (a message left unflagged would be offered again), anything else as
 * {@link mapSessionError}.
 */
export function mapMarkSeenError(err: unknown, count: number, ctx: ImapErrorContext, lastClientError: unknown): MailsluiceError {
  if (err instanceof ImapCommandError) {
    return new MailsluiceError('SOURCE_PROTOCOL', `flagging ${count} message${count === 1 ? '' : 's'} \\Seen failed on ${ctx.host}:${ctx.port}: ${err.responseText}`, { cause: err });
  }
  return mapSessionError(err, ctx, lastClientError);
}

/** A refused command's reason, as a sentence; `what` names the command as the operator knows it. */
export function refusalReason(err: ImapCommandError, what: string, host: string): string {
  const code = err.serverResponseCode ? ` [${err.serverResponseCode}]` : '';
  return `${what} was refused by ${host}: ${err.responseStatus}${code} ${err.responseText}`.trimEnd();
}

/** The delete policy `move` could not move messages to `folder`; `reason` is the server's ({@link refusalReason}). */
export function moveRefusedError(folder: string, host: string, reason: string): MailsluiceError {
  return new MailsluiceError('SOURCE_PROTOCOL', `moving messages to ${JSON.stringify(folder)} failed on ${host}: ${reason}`);
}
