/**
 * Every failure of sending through a relay as the sender's catalogue code (`PROBE_RELAY_FAILED`,
 * `ALERT_SEND_FAILED`), with a sentence that names the relay, the stage (connect, TLS, login,
 * envelope, message) and its own reply, never the password.
 */
import { MailsluiceError } from '../../core/errors/index.js';
import { relayAddress, type RelayOptions } from './nodemailer-relay-config.js';

/** The fields of a nodemailer error this map reads. */
export interface NodemailerFailure {
  code?: string;
  command?: string;
  response?: string;
  responseCode?: number;
  message?: string;
}

/** A reply or message with the password taken out, in one line, at most 300 characters. */
function clean(text: string, options: Pick<RelayOptions, 'auth'>): string {
  let t = text.replace(/\s+/g, ' ').trim();
  if (options.auth?.pass) t = t.split(options.auth.pass).join('***');
  return t.length > 300 ? `${t.slice(0, 297)}...` : t;
}

/** The stage a nodemailer error code names, as the sentence says it. */
function stageOf(code: string | undefined): string {
  switch (code) {
    case 'ECONNECTION':
    case 'EDNS':
      return 'could not connect';
    case 'ETIMEDOUT':
      return 'did not answer in time';
    case 'ESOCKET':
      return 'the connection failed';
    case 'ETLS':
      return 'the TLS handshake or STARTTLS failed';
    case 'EAUTH':
      return 'refused the login';
    case 'EENVELOPE':
      return 'refused the sender or every recipient';
    case 'EMESSAGE':
      return 'refused the message';
    case 'EPROTOCOL':
      return 'answered outside the protocol';
    default:
      return 'failed';
  }
}

/** A failed send, as the sender's code. */
export function mapRelayError(options: RelayOptions, err: unknown): MailsluiceError {
  const e = (err ?? {}) as NodemailerFailure;
  const reply = e.response ? clean(e.response, options) : e.message ? clean(e.message, options) : String(err);
  let stage = stageOf(e.code);
  // nodemailer reports a refused or unresolvable address as a socket error: say what it is.
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN/.test(reply)) stage = 'could not connect';
  // A relay that offers no STARTTLS under security: starttls is a setting to fix, said so.
  if (options.security === 'starttls' && /STARTTLS/i.test(reply) && e.code !== 'EAUTH') stage = 'did not offer STARTTLS (security: starttls requires it; use tls or none if that is what the relay speaks)';
  if (/certificate|self[- ]signed|unable to verify/i.test(reply)) stage = `presented a certificate that failed verification (set ${options.setting}.tls.ca, or tls.verify: false for a relay you trust)`;
  return new MailsluiceError(options.failure, `${options.label} ${relayAddress(options)} (${options.protocol.toUpperCase()}) ${stage}: ${reply}`, { cause: err });
}

/** Some recipients refused (the message went to the others): which, with the relay's reply. */
export function mapRejectedRecipients(options: RelayOptions, rejected: readonly string[], replies: readonly NodemailerFailure[]): MailsluiceError {
  const reply = replies.map((r) => clean(r.response ?? r.message ?? '', options)).filter(Boolean)[0] ?? '';
  return new MailsluiceError(options.failure, `${options.label} ${relayAddress(options)} (${options.protocol.toUpperCase()}) refused the recipient(s) ${rejected.join(', ')}${reply ? `: ${reply}` : ''}`, { details: { rejected: [...rejected] } });
}
