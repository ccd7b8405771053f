import { MailsluiceError, quoteServerLine } from '../../core/errors/index.js';
import { TLS_UNTRUSTED_CODES } from '../tls-node/tls-untrusted-codes.js';
import { isPlainTextPeer, plainTextPeerSentence } from '../tls-node/tls-plain-port.js';


/** Where a POP3 failure happened, for the sentence. */
export interface Pop3ErrorContext {
  host: string;
  port: number;
}

/**
 * What the connection was doing when a socket error arrived: a reset during the TLS handshake is
 * a TLS failure (typically a plain-text port given as the TLS port), the same reset later is a
 * network failure.
 */
export type Pop3Phase = 'connect' | 'tls' | 'session';

/** `host:port` as the sentences name the server. */
export function pop3Where(ctx: Pop3ErrorContext): string {
  return `${ctx.host}:${ctx.port}`;
}


/**
 * Turns a Node socket or TLS error into a catalogue error with a sentence an operator can act on.
 * Errors that already are {@link MailsluiceError}s pass through unchanged.
 */
export function mapPop3Error(err: unknown, ctx: Pop3ErrorContext, phase: Pop3Phase = 'session'): MailsluiceError {
  if (err instanceof MailsluiceError) return err;
  const rawCode = (err as { code?: unknown } | null)?.code;
  const code = typeof rawCode === 'string' ? rawCode : '';
  const message = err instanceof Error ? err.message : String(err);
  const where = pop3Where(ctx);
  if (TLS_UNTRUSTED_CODES.has(code)) {
    return new MailsluiceError(
      'SOURCE_TLS_UNTRUSTED',
      `the certificate of POP3 server ${where} is not trusted (${code}): ${message}; give the CA in tls.ca or, for testing only, set tls.verify: false`,
      { cause: err },
    );
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NODATA' || code === 'EAI_NONAME') {
    return new MailsluiceError('SOURCE_DNS_FAILED', `cannot resolve host ${ctx.host} (${code})`, { cause: err });
  }
  if (code === 'ECONNREFUSED') {
    return new MailsluiceError('SOURCE_CONNECT_REFUSED', `POP3 server ${where} refused the connection (nothing listens there?)`, { cause: err });
  }
  if (code === 'ETIMEDOUT' && phase === 'connect') {
    return new MailsluiceError('SOURCE_CONNECT_TIMEOUT', `no connection to POP3 server ${where} within the connect timeout (${code})`, { cause: err });
  }
  if (isPlainTextPeer(err)) return new MailsluiceError('SOURCE_TLS_FAILED', plainTextPeerSentence(`POP3 server ${where}`, ctx.port), { cause: err });
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /SSL|TLS/.test(code)) {
    return new MailsluiceError('SOURCE_TLS_FAILED', `TLS with POP3 server ${where} failed (${code}): ${message}`, { cause: err });
  }
  if (phase === 'tls') {
    // The peer hung up mid-handshake: most often a plain-text port configured as the TLS port,
    // or a server that refuses our TLS version or client certificate.
    return new MailsluiceError(
      'SOURCE_TLS_FAILED',
      `TLS handshake with POP3 server ${where} failed: ${message}${code ? ` (${code})` : ''}; is ${ctx.port} really a TLS port, and do tls.minVersion and the client certificate suit the server?`,
      { cause: err },
    );
  }
  return new MailsluiceError('SOURCE_NETWORK', `connection to POP3 server ${where} failed: ${message}${code ? ` (${code})` : ''}`, { cause: err });
}

// ---------------------------------------------------------------------------------------------
// What the server did (or failed to do), named as the catalogue code an operator looks up. Every
// POP3 failure with a catalogue code is made here; the wire and the client only say which.

/** The server closed the connection (while we waited for `waitingFor`, when anything). */
export function pop3Closed(ctx: Pop3ErrorContext, waitingFor: string): MailsluiceError {
  return new MailsluiceError('SOURCE_NETWORK', `POP3 server ${pop3Where(ctx)} closed the connection${waitingFor ? ` while we waited for ${waitingFor}` : ''}`);
}

/** Nothing arrived for `limitMs` while we waited for `what`; `byOperator`: the limit is `dataTimeoutMs`. */
export function pop3Silent(ctx: Pop3ErrorContext, limitMs: number, what: string, byOperator: boolean): MailsluiceError {
  const which = byOperator ? 'no-data timeout' : "mailsluice's internal limit on a silent server, dataTimeoutMs being 0";
  return new MailsluiceError('SOURCE_DATA_TIMEOUT', `nothing arrived from POP3 server ${pop3Where(ctx)} for ${limitMs} ms while waiting for ${what} (${which}); connection dropped`);
}

/** Which wait of the connect the connect timeout ended. */
export type Pop3ConnectWait = 'connect' | 'tls' | 'greeting';

/** The connect timeout ran out during `wait`: a greeting that never came is a greeting problem. */
export function pop3ConnectTimeout(ctx: Pop3ErrorContext, wait: Pop3ConnectWait, timeoutMs: number): MailsluiceError {
  const where = pop3Where(ctx);
  if (wait === 'greeting') {
    return new MailsluiceError('SOURCE_GREETING_INVALID', `POP3 server ${where} accepted the connection but sent no greeting within the connect timeout (${timeoutMs} ms)`);
  }
  if (wait === 'tls') {
    return new MailsluiceError('SOURCE_CONNECT_TIMEOUT', `POP3 server ${where} accepted the TCP connection but the TLS handshake did not finish within the connect timeout (${timeoutMs} ms)`);
  }
  return new MailsluiceError('SOURCE_CONNECT_TIMEOUT', `no connection to POP3 server ${where} within the connect timeout (${timeoutMs} ms)`);
}

/** Connecting was aborted by `reason` (the abort signal's; a catalogue error passes through). */
export function pop3Aborted(ctx: Pop3ErrorContext, reason: unknown): MailsluiceError {
  return reason instanceof MailsluiceError ? reason : new MailsluiceError('SOURCE_NETWORK', `connecting to POP3 server ${pop3Where(ctx)} was aborted`, { cause: reason });
}

/** The first line was not `+OK`. */
export function pop3BadGreeting(ctx: Pop3ErrorContext, line: string): MailsluiceError {
  return new MailsluiceError('SOURCE_GREETING_INVALID', `POP3 server ${pop3Where(ctx)} answered ${quoteServerLine(line)} instead of a +OK greeting`);
}

/** A line longer than `maxBytes` without a line break. */
export function pop3LineTooLong(ctx: Pop3ErrorContext, maxBytes: number): MailsluiceError {
  return new MailsluiceError('SOURCE_PROTOCOL', `POP3 server ${pop3Where(ctx)} sent a response line longer than ${maxBytes} bytes without a line break; connection dropped`);
}

/** An answer to `label` that is neither `+OK` nor `-ERR`. */
export function pop3NotAStatus(ctx: Pop3ErrorContext, label: string, line: string): MailsluiceError {
  return new MailsluiceError('SOURCE_PROTOCOL', `POP3 server ${pop3Where(ctx)} answered ${label} with ${quoteServerLine(line)}, which is neither +OK nor -ERR; connection dropped`);
}

/** A STAT answer or a LIST / UIDL listing line that does not parse. */
export function pop3Malformed(ctx: Pop3ErrorContext, label: string, line: string): MailsluiceError {
  return new MailsluiceError('SOURCE_PROTOCOL', `POP3 server ${pop3Where(ctx)} sent a malformed ${label} line ${quoteServerLine(line)}; connection dropped`);
}

/** `-ERR` to a command that has no meaning of its own for -ERR. */
export function pop3Refused(ctx: Pop3ErrorContext, command: string, text: string): MailsluiceError {
  return new MailsluiceError('SOURCE_PROTOCOL', `POP3 server ${pop3Where(ctx)} refused ${command}: ${quoteServerLine(text)}`);
}

/** `-ERR` to UIDL: the drain cannot work without it, so retrying is pointless. */
export function pop3NoUidl(ctx: Pop3ErrorContext, text: string, capaLacksUidl: boolean): MailsluiceError {
  return new MailsluiceError(
    'SOURCE_PROTOCOL',
    `POP3 server ${pop3Where(ctx)} does not support UIDL (it answered -ERR ${quoteServerLine(text)}${capaLacksUidl ? ' and its CAPA does not list UIDL' : ''}); mailsluice needs UIDL to remember which messages it took`,
    { retryable: false },
  );
}

/** `-ERR` to RETR: the message is gone since the listing. */
export function pop3Vanished(ctx: Pop3ErrorContext, msgno: number, text: string): MailsluiceError {
  return new MailsluiceError('SOURCE_MESSAGE_VANISHED', `message ${msgno} is no longer on POP3 server ${pop3Where(ctx)} (RETR answered -ERR ${quoteServerLine(text)})`);
}

/** security starttls, and CAPA (`caps`, [] without CAPA) lacks STLS. */
export function pop3NoStls(ctx: Pop3ErrorContext, caps: readonly string[]): MailsluiceError {
  return new MailsluiceError(
    'SOURCE_STARTTLS_UNAVAILABLE',
    `POP3 server ${pop3Where(ctx)} does not offer STLS (${caps.length ? `its CAPA lists ${caps.join(', ')}` : 'it does not support CAPA'}), and security is starttls (required)`,
  );
}

/** `-ERR` to STLS although CAPA listed it; `required`: security is starttls. */
export function pop3StlsRefused(ctx: Pop3ErrorContext, required: boolean, text: string): MailsluiceError {
  return new MailsluiceError(required ? 'SOURCE_STARTTLS_UNAVAILABLE' : 'SOURCE_TLS_FAILED', `POP3 server ${pop3Where(ctx)} lists STLS but refused it: ${quoteServerLine(text)}`);
}

/** Bytes between STLS's +OK and the handshake (the STARTTLS command-injection class of attacks). */
export function pop3DataAfterStls(ctx: Pop3ErrorContext): MailsluiceError {
  return new MailsluiceError('SOURCE_PROTOCOL', `POP3 server ${pop3Where(ctx)} sent data after accepting STLS and before the TLS handshake; connection dropped`);
}

/** node:tls could not load the CA, client certificate, key or passphrase (its message never holds the passphrase). */
export function pop3BadTlsSettings(ctx: Pop3ErrorContext, err: unknown): MailsluiceError {
  const msg = err instanceof Error ? err.message : String(err);
  return new MailsluiceError('SOURCE_TLS_FAILED', `the TLS settings for POP3 server ${pop3Where(ctx)} cannot be used (CA, client certificate, key or passphrase): ${msg}`, {
    cause: err,
    retryable: false,
  });
}

/** apop is on but the greeting has no `<timestamp>`. */
export function pop3NoApopStamp(ctx: Pop3ErrorContext, greeting: string): MailsluiceError {
  return new MailsluiceError(
    'SOURCE_AUTH_UNSUPPORTED',
    `apop is on but the greeting of POP3 server ${pop3Where(ctx)} carries no <timestamp>, so APOP is not possible (greeting: ${quoteServerLine(greeting)})`,
  );
}

/** CAPA offers no login these settings allow. */
export function pop3NoLogin(ctx: Pop3ErrorContext, caps: readonly string[], disablePlain: boolean, tlsOn: boolean): MailsluiceError {
  return new MailsluiceError(
    'SOURCE_AUTH_UNSUPPORTED',
    `POP3 server ${pop3Where(ctx)} offers no login mailsluice may use with these settings (CAPA: ${caps.join(', ')}${disablePlain ? '; SASL PLAIN is disabled by auth.disablePlain' : ''})${tlsOn ? '' : '; servers often allow logins only over TLS: try security starttls or tls'}`,
  );
}

/** A SASL challenge beyond what the mechanism answers. */
export function pop3ExtraChallenge(ctx: Pop3ErrorContext, label: string, line: string): MailsluiceError {
  return new MailsluiceError('SOURCE_PROTOCOL', `POP3 server ${pop3Where(ctx)} sent more ${label} challenges than the mechanism has (${quoteServerLine(line)}); connection dropped`);
}

/** The login of `user` by `how` was answered -ERR `text`. */
export function pop3LoginRejected(ctx: Pop3ErrorContext, how: string, user: string, text: string): MailsluiceError {
  // [IN-USE] (another session holds the maildrop) and [SYS/TEMP] (RFC 3206) pass with time.
  const temporary = /^\[(IN-USE|SYS\/TEMP)\]/i.test(text);
  return new MailsluiceError('SOURCE_AUTH_REJECTED', `POP3 server ${pop3Where(ctx)} rejected the login of ${JSON.stringify(user)} (${how}): ${quoteServerLine(text)}`, {
    retryable: temporary,
  });
}

/** `-ERR` to QUIT: the deletions of the session were not committed. */
export function pop3QuitRefused(ctx: Pop3ErrorContext, text: string): MailsluiceError {
  return new MailsluiceError('SOURCE_PROTOCOL', `POP3 server ${pop3Where(ctx)} answered QUIT with -ERR ${quoteServerLine(text)}: the deletions of this session were NOT committed`);
}
