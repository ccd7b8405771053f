/** The e-mail alert channel (the AlertNotifier port over SMTP or LMTP with nodemailer). See README.md. */
export { createSmtpNotifier, alertMail } from './smtp-notifier.js';
export { relayAddress, type SmtpNotifierOptions } from './smtp-notifier-config.js';
export { mapSmtpNotifyError, mapSmtpRejected } from './smtp-error-map.js';
