/**
 * Sends one message through an SMTP or LMTP relay with nodemailer: the probe message of a
 * connection test (ADR 0027), an alert's mail (ADR 0026). One connection per message, closed
 * after it: both are rare, and a pooled connection would sit idle on the relay between them.
 * The bytes go out as nodemailer's `raw` with an explicit envelope, so nothing is added to them.
 */
import { mapRejectedRecipients, mapRelayError, type NodemailerFailure } from './nodemailer-error-map.js';
import { relayAddress, type OutgoingMessage, type RelayOptions, type RelayReceipt } from './nodemailer-relay-config.js';

/**
 * Sends `message` through the relay. Resolves with what the relay accepted; rejects with
 * `options.failure` when it could not be reached, refused the login, the sender, the message or
 * any recipient (a probe or an alert that reached only some of them did not get through).
 */
export async function sendThroughRelay(options: RelayOptions, message: OutgoingMessage, signal?: AbortSignal): Promise<RelayReceipt> {
  // Loaded on use: most commands never send mail (see action-forward for the start-up cost).
  const { createTransport } = await import('nodemailer');
  const transport = createTransport({
    host: options.host,
    port: options.port,
    lmtp: options.protocol === 'lmtp',
    secure: options.security === 'tls',
    requireTLS: options.security === 'starttls',
    ignoreTLS: options.security === 'none',
    ...(options.auth ? { auth: { user: options.auth.user, pass: options.auth.pass } } : {}),
    tls: {
      rejectUnauthorized: options.tls.verify,
      ...(options.tls.ca !== undefined ? { ca: options.tls.ca } : {}),
      ...(options.tls.servername !== undefined ? { servername: options.tls.servername } : {}),
    },
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: options.timeoutMs,
    logger: false,
    debug: false,
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  transport.on('error', () => undefined);
  try {
    let info: { accepted?: unknown; rejected?: unknown; rejectedErrors?: unknown; response?: unknown };
    try {
      info = (await transport.sendMail({ envelope: { from: message.from, to: [...message.to] }, raw: Buffer.from(message.raw.buffer, message.raw.byteOffset, message.raw.byteLength), ...(signal ? { signal } : {}) })) as typeof info;
    } catch (err) {
      throw mapRelayError(options, err);
    }
    const rejected = strings(info.rejected);
    if (rejected.length > 0) throw mapRejectedRecipients(options, rejected, Array.isArray(info.rejectedErrors) ? (info.rejectedErrors as NodemailerFailure[]) : []);
    return { accepted: strings(info.accepted), response: typeof info.response === 'string' ? info.response : `accepted by ${relayAddress(options)}` };
  } finally {
    transport.close();
  }
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
