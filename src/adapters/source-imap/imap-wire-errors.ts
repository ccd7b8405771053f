/** The errors ImapWire throws besides ImapParseError: a refused command, and a session that ended. */
import type { ImapStatus } from './imap-response.js';

/** A command the server refused (tagged NO or BAD); the error map turns it into SOURCE_PROTOCOL. */
export class ImapCommandError extends Error {
  readonly responseStatus: 'NO' | 'BAD';
  readonly serverResponseCode: string | undefined;
  readonly responseText: string;
  /** The command's verb and arguments (never a secret: this loop sends no credentials). */
  readonly command: string;
  constructor(command: string, status: ImapStatus) {
    super(`${command} was refused: ${status.status}${status.code ? ` [${status.code}]` : ''} ${status.text}`.trimEnd());
    this.name = 'ImapCommandError';
    this.responseStatus = status.status === 'BAD' ? 'BAD' : 'NO';
    this.serverResponseCode = status.code;
    this.responseText = status.text;
    this.command = command;
  }
}

/** The session ended under a command, or a timeout dropped it; `code` is what the error map reads. */
export class ImapConnectionError extends Error {
  constructor(
    readonly code: 'EConnectionClosed' | 'ETIMEOUT',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ImapConnectionError';
  }
}
