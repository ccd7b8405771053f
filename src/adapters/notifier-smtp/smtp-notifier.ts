/**
 * The e-mail alert channel: a short plain-text mail per notification through an SMTP (or LMTP)
 * relay with nodemailer, loaded on the first send. A transport per send: alerts are rare, and a
 * pooled connection would sit idle on the relay between them.
 */
import type { AlertNotification } from '../../core/alerts/index.js';
import type { AlertNotifier } from '../../core/ports/alert-notifier.js';
import { relayAddress, type SmtpNotifierOptions } from './smtp-notifier-config.js';
import { mapSmtpNotifyError, mapSmtpRejected } from './smtp-error-map.js';

const EVENT_WORD: Record<AlertNotification['event'], string> = { firing: 'FIRING', reminder: 'STILL FIRING', resolved: 'RESOLVED', test: 'TEST' };

/** The subject and text of `n`'s mail. */
export function alertMail(n: AlertNotification): { subject: string; text: string } {
  const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());
  const subject = `[mailsluice] ${EVENT_WORD[n.event]} ${n.rule} (${n.kind})`;
  const text = [
    `Alert rule: ${n.rule} (${n.kind})`,
    `Event: ${n.event}`,
    `Since: ${iso(n.since)}`,
    `At: ${iso(n.at)}`,
    '',
    n.summary,
    '',
    'GET /api/v1/alerts shows every rule and its state.',
    '',
  ].join('\r\n');
  return { subject, text };
}

class SmtpNotifier implements AlertNotifier {
  readonly channel: string;
  private readonly where: string;

  constructor(private readonly o: SmtpNotifierOptions) {
    this.channel = o.name;
    this.where = `${o.relay.protocol === 'lmtp' ? 'LMTP' : 'SMTP'} relay ${relayAddress(o.relay)}`;
  }

  async send(n: AlertNotification): Promise<void> {
    const { relay } = this.o;
    const { createTransport } = await import('nodemailer');
    const transport = createTransport({
      host: relay.host,
      port: relay.port,
      secure: relay.security === 'tls',
      ignoreTLS: relay.security === 'none',
      requireTLS: relay.security === 'starttls',
      lmtp: relay.protocol === 'lmtp',
      ...(relay.auth ? { auth: { user: relay.auth.user, pass: relay.auth.pass } } : {}),
      tls: {
        rejectUnauthorized: relay.tls.verify,
        ...(relay.tls.ca !== undefined ? { ca: relay.tls.ca } : {}),
        ...(relay.tls.servername !== undefined ? { servername: relay.tls.servername } : {}),
      },
      connectionTimeout: this.o.timeoutMs,
      greetingTimeout: this.o.timeoutMs,
      socketTimeout: this.o.timeoutMs,
      logger: false,
      debug: false,
      disableFileAccess: true,
      disableUrlAccess: true,
    });
    // Every failure reaches sendMail's promise; an 'error' event without a listener would end the service.
    transport.on('error', () => undefined);
    const mail = alertMail(n);
    let info: { rejected?: unknown };
    try {
      // The envelope given as is: over LMTP a recipient may be a local user name without a domain,
      // which the To header's address parser would drop.
      info = (await transport.sendMail({ envelope: { from: this.o.from, to: [...this.o.to] }, from: this.o.from, to: [...this.o.to], subject: mail.subject, text: mail.text, headers: { 'Auto-Submitted': 'auto-generated' } })) as typeof info;
    } catch (err) {
      throw mapSmtpNotifyError(this.o.name, this.where, err);
    } finally {
      transport.close();
    }
    const rejected = Array.isArray(info.rejected) ? info.rejected.map(String) : [];
    if (rejected.length > 0) throw mapSmtpRejected(this.o.name, this.where, rejected);
  }

  async close(): Promise<void> {
    // A transport lives for one send only.
  }
}

/** The notifier of one e-mail channel. */
export function createSmtpNotifier(options: SmtpNotifierOptions): AlertNotifier {
  return new SmtpNotifier(options);
}
