/**
 * Every EWS failure as a catalogue code with a sentence an operator can act on: socket and TLS
 * errors, HTTP answers, SOAP faults and the `ResponseCode`s of EWS. The client and the source
 * only say which; the sentences are made here.
 */
import { MailsluiceError, quoteServerLine } from '../../core/errors/index.js';
import { connectTimeoutError, mapSocketError, type HttpsServer } from '../https-node/https-socket-errors.js';
import type { HttpsPhase } from '../https-node/https-request.js';

/** Where an EWS failure happened, for the sentence. */
export interface EwsErrorContext {
  host: string;
  port: number;
  path: string;
}

/** What the request was doing when a socket error arrived (a reset in the handshake is a TLS failure). */
export type EwsPhase = HttpsPhase;

/** `https://host:port/path` as the sentences name the endpoint. */
export function ewsWhere(ctx: EwsErrorContext): string {
  const host = ctx.host.includes(':') ? `[${ctx.host}]` : ctx.host;
  return `https://${host}:${ctx.port}${ctx.path}`;
}

/** The server as the shared HTTPS pieces name it in sentences. */
function ewsServer(ctx: EwsErrorContext): HttpsServer {
  return { label: 'EWS server', host: ctx.host, port: ctx.port, setting: 'ews.url' };
}

/** A Node socket or TLS error as a catalogue error; catalogue errors pass through unchanged. */
export function mapEwsError(err: unknown, ctx: EwsErrorContext, phase: EwsPhase = 'session'): MailsluiceError {
  return mapSocketError(err, ewsServer(ctx), phase);
}

/** The connect timeout ran out connecting (`tls`: in the handshake). */
export function ewsConnectTimeout(ctx: EwsErrorContext, tls: boolean, ms: number): MailsluiceError {
  return connectTimeoutError(ewsServer(ctx), tls, ms);
}

/** Nothing arrived for `limitMs` while waiting for the answer to `what`. */
export function ewsSilent(ctx: EwsErrorContext, limitMs: number, what: string, byOperator: boolean): MailsluiceError {
  const which = byOperator ? 'no-data timeout' : "mailsluice's internal limit on a silent server, dataTimeoutMs being 0";
  return new MailsluiceError('SOURCE_DATA_TIMEOUT', `nothing arrived from EWS server ${ewsWhere(ctx)} for ${limitMs} ms while waiting for ${what} (${which}); connection dropped`);
}

/** The server closed the connection mid-answer. */
export function ewsCut(ctx: EwsErrorContext, what: string): MailsluiceError {
  return new MailsluiceError('SOURCE_NETWORK', `EWS server ${ewsWhere(ctx)} closed the connection in the middle of the answer to ${what}`);
}

/** The login of `user` by `how` was answered 401 again. */
export function ewsAuthRejected(ctx: EwsErrorContext, how: string, user: string): MailsluiceError {
  return new MailsluiceError('SOURCE_AUTH_REJECTED', `EWS server ${ewsWhere(ctx)} rejected the login of ${JSON.stringify(user)} (${how}): HTTP 401; check the username, the password and the domain`);
}

/** The server asks for a login the settings do not allow (`offered`: its WWW-Authenticate schemes). */
export function ewsAuthUnsupported(ctx: EwsErrorContext, configured: string, offered: readonly string[]): MailsluiceError {
  const list = offered.length ? offered.join(', ') : 'no scheme at all';
  return new MailsluiceError(
    'SOURCE_AUTH_UNSUPPORTED',
    `EWS server ${ewsWhere(ctx)} asks for a login and offers ${list}; auth is ${configured}, so no other scheme is tried (set auth.type to one it offers: ntlm for NTLM or Negotiate, basic for Basic)`,
  );
}

/** An HTTP status the client does not expect for `op`. */
export function ewsHttpStatus(ctx: EwsErrorContext, op: string, status: number, statusText: string): MailsluiceError {
  if (status === 404) return new MailsluiceError('SOURCE_PROTOCOL', `EWS server ${ewsWhere(ctx)} answered ${op} with HTTP 404: no EWS at this path; check ews.url (usually host/EWS/Exchange.asmx)`, { retryable: false });
  if (status === 403) return new MailsluiceError('SOURCE_AUTH_REJECTED', `EWS server ${ewsWhere(ctx)} answered ${op} with HTTP 403 Forbidden: the account may not use EWS (an EWS access policy, or SSL required)`);
  return new MailsluiceError('SOURCE_PROTOCOL', `EWS server ${ewsWhere(ctx)} answered ${op} with HTTP ${status} ${statusText}`.trim());
}

/** An answer that is not the SOAP the operation expects. */
export function ewsBadAnswer(ctx: EwsErrorContext, op: string, why: string): MailsluiceError {
  return new MailsluiceError('SOURCE_PROTOCOL', `EWS server ${ewsWhere(ctx)} answered ${op} with something mailsluice cannot read: ${why}`);
}

/** What the server says it runs, as a sentence part (`Exchange 15.1.2507.6 (V2017_07_11)`). */
export interface EwsServerVersion {
  major: number;
  minor: number;
  build: number;
  revision: number;
  version: string;
}

/** `15.1.2507.6` and the product it is, when known. */
export function describeServerVersion(v: EwsServerVersion | undefined): string {
  if (!v) return 'a version it did not name (no ServerVersionInfo)';
  const product =
    v.major === 8 ? (v.minor >= 1 ? 'Exchange 2007 SP1 or later' : 'Exchange 2007')
    : v.major === 14 ? (v.minor >= 3 ? 'Exchange 2010 SP3' : v.minor === 2 ? 'Exchange 2010 SP2' : v.minor === 1 ? 'Exchange 2010 SP1' : 'Exchange 2010')
    : v.major === 15 ? (v.minor >= 2 ? 'Exchange 2019' : v.minor === 1 ? 'Exchange 2016' : 'Exchange 2013')
    : `Exchange ${v.major}.${v.minor}`;
  return `${product} (${v.major}.${v.minor}.${v.build}.${v.revision}${v.version ? `, ${v.version}` : ''})`;
}

/**
 * An EWS `ResponseCode` other than NoError, for `op`, as a catalogue error. `configured` is the
 * configured `ews.version` and `server` the version the server reported (for the version refusal).
 */
export function ewsResponseError(ctx: EwsErrorContext, op: string, code: string, text: string, configured: string, server: EwsServerVersion | undefined): MailsluiceError {
  const said = text ? `: ${quoteServerLine(text)}` : '';
  const where = ewsWhere(ctx);
  switch (code) {
    case 'ErrorInvalidServerVersion':
      return new MailsluiceError(
        'SOURCE_VERSION_REFUSED',
        `EWS server ${where} refused the Exchange version asked for: ews.version is ${configured}, and the server runs ${describeServerVersion(server)}; set ews.version to the server's version or an older one it accepts`,
      );
    case 'ErrorItemNotFound':
      return new MailsluiceError('SOURCE_MESSAGE_VANISHED', `an item is no longer on EWS server ${where} (${op}: ${code})`);
    case 'ErrorFolderNotFound':
      return new MailsluiceError('SOURCE_MAILBOX_NOT_FOUND', `EWS server ${where} has no such folder (${op}: ${code}${said})`);
    case 'ErrorNonExistentMailbox':
    case 'ErrorMailboxMoveInProgress':
      return new MailsluiceError('SOURCE_MAILBOX_NOT_FOUND', `the account has no mailbox on EWS server ${where} (${op}: ${code}${said})`, { retryable: code === 'ErrorMailboxMoveInProgress' });
    case 'ErrorAccessDenied':
    case 'ErrorImpersonationDenied':
      return new MailsluiceError('SOURCE_AUTH_REJECTED', `EWS server ${where} denied the account access (${op}: ${code}${said})`);
    case 'ErrorInvalidSyncStateData':
      return new MailsluiceError('SOURCE_PROTOCOL', `EWS server ${where} refused the folder's synchronisation state even after the stored one was dropped for a full synchronisation (${op}: ${code}${said}); the next cycle tries again`, { retryable: true });
    case 'ErrorServerBusy':
      return new MailsluiceError('SOURCE_PROTOCOL', `EWS server ${where} is throttling this account (${op}: ErrorServerBusy) and stayed busy after every wait it asked for; the next cycle tries again (an Exchange throttling policy for the journal account lifts it)`, { retryable: true });
    default:
      return new MailsluiceError('SOURCE_PROTOCOL', `EWS server ${where} refused ${op}: ${code}${said}`);
  }
}

/** HTTP 503/429 that outlasted every retry. */
export function ewsThrottled(ctx: EwsErrorContext, op: string, status: number, tries: number): MailsluiceError {
  return new MailsluiceError('SOURCE_PROTOCOL', `EWS server ${ewsWhere(ctx)} answered ${op} with HTTP ${status} ${tries} times in a row, waiting as long as it asked each time; the next cycle tries again`, { retryable: true });
}
