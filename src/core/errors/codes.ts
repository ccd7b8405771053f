/**
 * The error catalogue: every error mailsluice raises has one of these stable codes.
 *
 * Codes are never renamed or reused; `docs/errors.md` is checked against this table by a test,
 * so an operator can look up any code printed in a log.
 */
export const ERROR_CODES = {
  CONFIG_INVALID: { retryable: false, summary: 'The configuration file has one or more problems; each is listed with its key path.' },
  CONFIG_NOT_FOUND: { retryable: false, summary: 'The configuration file does not exist or cannot be read.' },
  CONFIG_SECRET_UNRESOLVED: { retryable: false, summary: 'A secret given as { env } or { file } could not be resolved.' },
  CONNECTION_UNKNOWN: { retryable: false, summary: 'No connection with that system name is configured.' },
  SOURCE_DNS_FAILED: { retryable: true, summary: 'The server host name could not be resolved.' },
  SOURCE_CONNECT_REFUSED: { retryable: true, summary: 'The server refused the TCP connection (nothing listens on that port).' },
  SOURCE_CONNECT_TIMEOUT: { retryable: true, summary: 'The connection was not established within the connect timeout.' },
  SOURCE_NETWORK: { retryable: true, summary: 'The network connection failed or was cut.' },
  SOURCE_DATA_TIMEOUT: { retryable: true, summary: 'Nothing arrived from the server within the no-data timeout; the connection was dropped.' },
  SOURCE_TLS_UNTRUSTED: { retryable: false, summary: 'The server certificate failed verification (self-signed, expired, wrong host or unknown CA).' },
  SOURCE_TLS_FAILED: { retryable: true, summary: 'The TLS handshake failed.' },
  SOURCE_STARTTLS_UNAVAILABLE: { retryable: false, summary: 'security is starttls but the server does not offer STARTTLS.' },
  SOURCE_GREETING_INVALID: { retryable: true, summary: 'The server did not answer with a valid protocol greeting.' },
  SOURCE_AUTH_REJECTED: { retryable: false, summary: 'The server rejected the credentials.' },
  SOURCE_AUTH_UNSUPPORTED: { retryable: false, summary: 'The server offers no authentication mechanism mailsluice may use with these settings.' },
  SOURCE_MAILBOX_NOT_FOUND: { retryable: false, summary: 'The mailbox (folder) does not exist on the server.' },
  SOURCE_PROTOCOL: { retryable: true, summary: 'The server sent a response that breaks the protocol or refused a command.' },
  SOURCE_MESSAGE_VANISHED: { retryable: true, summary: 'A message disappeared from the server while it was being fetched.' },
  SOURCE_UNSUPPORTED_PROTOCOL: { retryable: false, summary: 'The connection protocol has no source adapter in this build.' },
  STORE_WRITE_FAILED: { retryable: true, summary: 'Writing to the archive failed (disk full, permissions, I/O error); nothing was taken from the server.' },
  STORE_CORRUPT: { retryable: false, summary: 'An archived blob failed its integrity check.' },
  STORE_NOT_FOUND: { retryable: false, summary: 'The requested archived message or blob does not exist.' },
  MESSAGES_NOT_ARCHIVED: { retryable: false, summary: 'Some messages could not be archived; with unseenOnly they were left on the server flagged \\Seen and are not taken again.' },
  PARSE_LIMIT_EXCEEDED: { retryable: false, summary: 'A message exceeded a parser limit; it is archived raw and marked unparsable.' },
  PARSE_FAILED: { retryable: false, summary: 'A message could not be parsed; it is archived raw and marked unparsable.' },
  PARSE_TIMEOUT: { retryable: false, summary: 'Parsing a message took longer than the parse time limit; it is archived raw and marked unparsable.' },
  CLI_USAGE: { retryable: false, summary: 'The command line was not understood.' },
  INPUT_NOT_FOUND: { retryable: false, summary: 'A file named on the command line does not exist or cannot be read.' },
  INTERNAL: { retryable: false, summary: 'An unexpected internal error; the cause is attached.' },
  ACTION_SCRIPT_INVALID: { retryable: false, summary: 'The script module cannot be used: it is missing, of an unsupported file type, fails to load, or exports no handle function.' },
  ACTION_SCRIPT_FAILED: { retryable: true, summary: "The script's handle threw or its promise rejected." },
  ACTION_SCRIPT_TIMEOUT: { retryable: true, summary: 'The script did not finish within its time limit, or the attempt was aborted; its worker was stopped and a fresh one takes the next message.' },
  ACTION_SCRIPT_CRASHED: { retryable: true, summary: "The script's worker thread died (out of memory or exited); a fresh worker takes the next message." },
  ACTION_SCRIPT_BAD_RESPONSE: { retryable: false, summary: 'The script returned a value that is not a valid response ({ addFlags?: string[], moveTo?: string }).' },
  ACTION_FORWARD_CONNECTION_FAILED: { retryable: true, summary: 'The forward relay could not be reached or the connection to it failed (DNS, refused, timeout, cut, TLS handshake, protocol).' },
  ACTION_FORWARD_TLS_UNTRUSTED: { retryable: false, summary: "The forward relay's certificate failed verification." },
  ACTION_FORWARD_AUTH_REJECTED: { retryable: false, summary: 'The forward relay rejected the credentials.' },
  ACTION_FORWARD_DEFERRED: { retryable: true, summary: 'The forward relay refused the message for now (4xx reply); it is sent again later.' },
  ACTION_FORWARD_REJECTED: { retryable: false, summary: 'The forward relay rejected the message, the sender or a recipient permanently (5xx reply).' },
} as const satisfies Record<string, { retryable: boolean; summary: string }>;

/** A stable error code from the catalogue. */
export type ErrorCode = keyof typeof ERROR_CODES;
