/**
 * The one place where nodemailer's errors (and LMTP's per-recipient refusals) become catalogue
 * codes. Decisions rest on nodemailer's `code`, the socket's `originalCode` and the SMTP reply
 * code, never on wording. Every sentence passes through {@link redact}, so credentials cannot
 * leak even if a server echoes them.
 */
import { MailsluiceError, type ErrorCode } from '../../core/errors/index.js';
import type { ForwardActionConfig } from './forward-action-config.js';

/** The fields of a nodemailer error this map reads (nodemailer's `NodemailerError`). */
export interface NodemailerLikeError {
  code?: string | undefined;
  originalCode?: string | undefined;
  responseCode?: number | undefined;
  response?: string | undefined;
  command?: string | undefined;
  message?: string;
  rejected?: string[] | undefined;
  rejectedErrors?: NodemailerLikeError[] | undefined;
  recipient?: string | undefined;
}

type Who = Pick<ForwardActionConfig, 'route' | 'host' | 'port' | 'lmtp' | 'auth'>;

/** OpenSSL / Node verification failures: the certificate, not the network, is the problem. */
const CERT_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

/** What happened at the socket, in words, for the codes an operator meets. */
const SOCKET_WORDS: Record<string, string> = {
  ECONNREFUSED: 'refused the connection (nothing listens on that port)',
  ECONNRESET: 'reset the connection',
  EHOSTUNREACH: 'is unreachable (no route to host)',
  ENETUNREACH: 'is unreachable (network unreachable)',
  ENOTFOUND: 'has a name that does not resolve',
  EAI_AGAIN: 'has a name that could not be resolved just now',
  EPIPE: 'closed the connection while we were writing',
};

/** Replaces the password (and the forms an AUTH exchange carries it in) with `***`. */
export function redact(text: string, auth: Who['auth']): string {
  if (!auth || auth.pass === '') return text;
  const secrets = [
    auth.pass,
    Buffer.from(auth.pass).toString('base64'),
    Buffer.from(`\0${auth.user}\0${auth.pass}`).toString('base64'),
    Buffer.from(`${auth.user}\0${auth.user}\0${auth.pass}`).toString('base64'),
  ];
  let out = text;
  // Longest first: one encoding can contain another (the AUTH PLAIN token ends in the password's).
  for (const s of secrets.sort((a, b) => b.length - a.length)) if (s.length > 0) out = out.split(s).join('***');
  return out;
}

function relayName(c: Who): string {
  return `${c.lmtp ? 'LMTP' : 'SMTP'} relay ${c.host}:${c.port}`;
}

function oneLine(s: string, max = 300): string {
  const line = s.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

function make(c: Who, code: ErrorCode, sentence: string, cause: unknown, details: Record<string, unknown> = {}): MailsluiceError {
  // The cause keeps nodemailer's error for the stack; its message is redacted as well.
  if (cause instanceof Error && c.auth) cause.message = redact(cause.message, c.auth);
  return new MailsluiceError(code, redact(`forward of route "${c.route}" via ${relayName(c)}: ${sentence}.`, c.auth), {
    cause,
    details: { route: c.route, relay: `${c.host}:${c.port}`, ...details },
  });
}

/** The catalogue code for a refusal with an SMTP reply code. */
function replyCode(responseCode: number | undefined): ErrorCode {
  // 4xx (and 503, a bad command sequence that a new session fixes) may pass later; 5xx never will.
  return responseCode !== undefined && responseCode >= 500 && responseCode !== 503 ? 'ACTION_FORWARD_REJECTED' : 'ACTION_FORWARD_DEFERRED';
}

/** Maps an error from nodemailer's sendMail (or anything thrown around it). */
export function mapForwardError(c: Who, err: unknown, aborted: boolean): MailsluiceError {
  const e = (typeof err === 'object' && err !== null ? err : {}) as NodemailerLikeError;
  const code = e.code;
  const sys = e.originalCode ?? code;
  const reply = e.response ? `: ${oneLine(e.response)}` : '';
  const facts = {
    ...(code ? { nodemailerCode: code } : {}),
    ...(e.originalCode ? { socketCode: e.originalCode } : {}),
    ...(e.responseCode ? { responseCode: e.responseCode } : {}),
    ...(e.command ? { command: e.command } : {}),
  };
  if (code === 'EABORT' || aborted) {
    return make(c, 'ACTION_FORWARD_CONNECTION_FAILED', 'sending was aborted (the service is stopping or the attempt\'s time is up)', err, facts);
  }
  if (sys !== undefined && CERT_CODES.has(sys)) {
    return make(c, 'ACTION_FORWARD_TLS_UNTRUSTED', `the relay's certificate failed verification (${sys})`, err, facts);
  }
  switch (code) {
    case 'EAUTH':
    case 'ENOAUTH':
    case 'EOAUTH2':
      if (e.responseCode !== undefined && replyCode(e.responseCode) === 'ACTION_FORWARD_DEFERRED') {
        return make(c, 'ACTION_FORWARD_DEFERRED', `the relay could not check the credentials just now${reply}`, err, facts);
      }
      return make(
        c,
        'ACTION_FORWARD_AUTH_REJECTED',
        code === 'ENOAUTH' ? 'the relay asks for credentials and none are configured' : `the relay rejected the credentials of user "${c.auth?.user ?? ''}"${reply}`,
        err,
        facts,
      );
    case 'EENVELOPE':
    case 'EMESSAGE':
    case 'EREQUIRETLS':
    case 'EMAXRECIPIENTS': {
      const rejected = e.rejected && e.rejected.length > 0 ? ` (rejected: ${e.rejected.join(', ')})` : '';
      if (e.responseCode === undefined) {
        // Refused before anything was sent (an address nodemailer will not put on the wire).
        return make(c, 'ACTION_FORWARD_REJECTED', `the message could not be sent: ${oneLine(e.message ?? String(err))}${rejected}`, err, facts);
      }
      const what = e.command === 'DATA' ? 'the message' : e.command === 'MAIL FROM' ? 'the sender' : 'the recipients';
      const code2 = replyCode(e.responseCode);
      const verb = code2 === 'ACTION_FORWARD_REJECTED' ? 'rejected' : 'deferred';
      return make(c, code2, `the relay ${verb} ${what}${rejected}${reply}`, err, { ...facts, ...(e.rejected ? { rejected: e.rejected } : {}) });
    }
    case 'ETLS':
      return make(c, 'ACTION_FORWARD_CONNECTION_FAILED', `the TLS handshake with the relay failed${sys && sys !== code ? ` (${sys})` : ''}: ${oneLine(e.message ?? '')}`, err, facts);
    case 'ETIMEDOUT':
      return make(c, 'ACTION_FORWARD_CONNECTION_FAILED', 'the relay did not answer in time', err, facts);
    case 'EDNS':
      return make(c, 'ACTION_FORWARD_CONNECTION_FAILED', `the relay's name could not be resolved (${sys ?? 'DNS'})`, err, facts);
    case 'ECONFIG':
      return make(c, 'CONFIG_INVALID', `nodemailer refused the settings: ${oneLine(e.message ?? '')}`, err, facts);
    default:
      break;
  }
  if (e.responseCode !== undefined) {
    const code2 = replyCode(e.responseCode);
    return make(c, code2, `the relay ${code2 === 'ACTION_FORWARD_REJECTED' ? 'refused' : 'deferred'} a command${reply}`, err, facts);
  }
  const words = sys !== undefined ? SOCKET_WORDS[sys] : undefined;
  if (words) return make(c, 'ACTION_FORWARD_CONNECTION_FAILED', `the relay ${words}`, err, facts);
  // ECONNECTION, ESOCKET, EPROTOCOL, EPROXY, EMAXLIMIT and anything unforeseen: retrying is the
  // safe side for a delivery (a bug of ours would dead-letter it after the last attempt anyway).
  return make(c, 'ACTION_FORWARD_CONNECTION_FAILED', `the connection failed${sys ? ` (${sys})` : ''}: ${oneLine(e.message ?? String(err))}`, err, facts);
}

/**
 * Maps a send that the relay took for some recipients only (SMTP RCPT refusals, LMTP's
 * per-recipient replies after DATA). It fails the attempt: retryable when every refusal was
 * temporary, and then the retry sends to every recipient again (at least once).
 */
export function mapPartialRejection(c: Who, accepted: string[], rejected: string[], errors: NodemailerLikeError[]): MailsluiceError {
  const permanent = errors.some((e) => replyCode(e.responseCode) === 'ACTION_FORWARD_REJECTED') || errors.length === 0;
  const replies = errors
    .map((e) => `${e.recipient ?? '?'}: ${oneLine(e.response ?? e.message ?? '', 120)}`)
    .slice(0, 5)
    .join('; ');
  const sentence = `the relay ${permanent ? 'rejected' : 'deferred'} ${rejected.length} of ${accepted.length + rejected.length} recipient(s) (${rejected.join(', ')})${
    accepted.length > 0 ? `; delivered to ${accepted.join(', ')}` : ''
  }${replies ? ` — ${replies}` : ''}`;
  return make(c, permanent ? 'ACTION_FORWARD_REJECTED' : 'ACTION_FORWARD_DEFERRED', sentence, errors[0], { accepted, rejected });
}
