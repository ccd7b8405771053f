/**
 * Every Graph failure as a catalogue code with a sentence an operator can act on: socket and TLS
 * errors (shared with EWS), HTTP answers with Graph's error object (`{ error: { code, message } }`),
 * throttling that outlasted its retries, answers that are not Graph's JSON. The client and the
 * source only say which; the sentences are made here. No sentence carries a token or a secret.
 */
import { MailsluiceError, quoteServerLine } from '../../core/errors/index.js';
import { connectTimeoutError, mapSocketError, type HttpsServer } from '../https-node/https-socket-errors.js';
import type { HttpsPhase } from '../https-node/https-request.js';

/** Where a Graph failure happened, for the sentence. */
export interface GraphErrorContext {
  host: string;
  port: number;
  /** `https://graph.microsoft.com`. */
  origin: string;
  /** `graph.mailbox`. */
  mailbox: string;
}

/** What a 404 of a request means: the mailbox, a folder, or a message gone. */
export type NotFoundMeans = 'mailbox' | 'folder' | 'message';

function server(ctx: GraphErrorContext): HttpsServer {
  return { label: 'Microsoft Graph', host: ctx.host, port: ctx.port, setting: 'graph.endpoint' };
}

/** A Node socket or TLS error as a catalogue error; catalogue errors pass through unchanged. */
export function mapGraphError(err: unknown, ctx: GraphErrorContext, phase: HttpsPhase = 'session'): MailsluiceError {
  return mapSocketError(err, server(ctx), phase);
}

/** The connect timeout ran out connecting (`tls`: in the handshake). */
export function graphConnectTimeout(ctx: GraphErrorContext, tls: boolean, ms: number): MailsluiceError {
  return connectTimeoutError(server(ctx), tls, ms);
}

/** Nothing arrived for `limitMs` while waiting for `what`. */
export function graphSilent(ctx: GraphErrorContext, limitMs: number, what: string, byOperator: boolean): MailsluiceError {
  const which = byOperator ? 'no-data timeout' : "mailsluice's internal limit on a silent server, dataTimeoutMs being 0";
  return new MailsluiceError('SOURCE_DATA_TIMEOUT', `nothing arrived from Microsoft Graph ${ctx.origin} for ${limitMs} ms while waiting for ${what} (${which}); connection dropped`);
}

/** The server closed the connection mid-answer. */
export function graphCut(ctx: GraphErrorContext, what: string): MailsluiceError {
  return new MailsluiceError('SOURCE_NETWORK', `Microsoft Graph ${ctx.origin} closed the connection in the middle of the answer to ${what}`);
}

/** An answer that is not the JSON the request expects. */
export function graphBadAnswer(ctx: GraphErrorContext, what: string, why: string): MailsluiceError {
  return new MailsluiceError('SOURCE_PROTOCOL', `Microsoft Graph ${ctx.origin} answered ${what} with something mailsluice cannot read: ${why}`);
}

/** A nextLink or deltaLink pointing away from `graph.endpoint`: not followed (the token would go with it). */
export function graphForeignLink(ctx: GraphErrorContext, what: string, link: string): MailsluiceError {
  let host = '(no URL)';
  try {
    host = new URL(link).host;
  } catch {
    // keep the placeholder
  }
  return new MailsluiceError('SOURCE_PROTOCOL', `Microsoft Graph ${ctx.origin} answered ${what} with a next page on ${host}, not on graph.endpoint; it is not followed (the token would be sent there)`);
}

/** Graph's error object of an answer's body: `{ error: { code, message } }`. */
export function graphErrorOf(body: unknown): { code: string; message: string } {
  const e = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const text = (v: unknown): string => (typeof v === 'string' ? v : '');
  return { code: text(e?.code), message: text(e?.message) };
}

/** Graph error codes that say the mailbox is not there (or not reachable over REST). */
const NO_MAILBOX = new Set(['ErrorInvalidUser', 'MailboxNotEnabledForRESTAPI', 'MailboxNotSupportedForRESTAPI', 'ErrorNonExistentMailbox', 'Request_ResourceNotFound']);

/** An HTTP answer other than success to `what`, with its error object, as a catalogue error. */
export function graphHttpError(ctx: GraphErrorContext, what: string, status: number, body: unknown, notFound: NotFoundMeans = 'message'): MailsluiceError {
  const { code, message } = graphErrorOf(body);
  const said = code || message ? ` (${[code, message ? quoteServerLine(message) : ''].filter(Boolean).join(': ')})` : '';
  const where = `Microsoft Graph ${ctx.origin}`;
  if (status === 401) {
    return new MailsluiceError('SOURCE_AUTH_REJECTED', `${where} refused the app's token for ${what} with HTTP 401${said}, also a freshly issued one; check that the app registration (graph.clientId) is in tenant graph.tenant and the token is for ${ctx.origin}`);
  }
  if (status === 403) {
    return new MailsluiceError('SOURCE_AUTH_REJECTED', `${where} denied ${what} on mailbox ${JSON.stringify(ctx.mailbox)} with HTTP 403${said}: the app needs the Mail.ReadWrite application permission with admin consent, and no application access policy may exclude the mailbox`);
  }
  if (status === 404 && (notFound === 'mailbox' || NO_MAILBOX.has(code))) {
    return new MailsluiceError('SOURCE_MAILBOX_NOT_FOUND', `${where} has no mailbox ${JSON.stringify(ctx.mailbox)} (${what}: HTTP 404${said}); graph.mailbox is the user's id or principal name, and the user needs an Exchange Online mailbox`);
  }
  if (status === 404 && notFound === 'folder') return new MailsluiceError('SOURCE_MAILBOX_NOT_FOUND', `${where} has no such folder in mailbox ${JSON.stringify(ctx.mailbox)} (${what}: HTTP 404${said})`);
  if (status === 404) return new MailsluiceError('SOURCE_MESSAGE_VANISHED', `a message is no longer in mailbox ${JSON.stringify(ctx.mailbox)} on ${where} (${what}: HTTP 404${said})`);
  if (status >= 500) return new MailsluiceError('SOURCE_PROTOCOL', `${where} failed ${what} with HTTP ${status}${said}; the next cycle tries again`, { retryable: true });
  return new MailsluiceError('SOURCE_PROTOCOL', `${where} refused ${what} with HTTP ${status}${said}`);
}

/** HTTP 429/503 that outlasted every retry. */
export function graphThrottled(ctx: GraphErrorContext, what: string, status: number, tries: number): MailsluiceError {
  return new MailsluiceError('SOURCE_PROTOCOL', `Microsoft Graph ${ctx.origin} answered ${what} with HTTP ${status} ${tries} times in a row, waiting as long as it asked each time (it is throttling the app or the mailbox); the next cycle tries again`, { retryable: true });
}
