/**
 * The relay adapter: sends one message through an SMTP or LMTP relay with nodemailer (the probe
 * test's `testRelay`, ADR 0027). See README.md.
 */
export { sendThroughRelay } from './nodemailer-relay.js';
export { relayAddress, type RelayOptions, type OutgoingMessage, type RelayReceipt } from './nodemailer-relay-config.js';
export { mapRelayError, mapRejectedRecipients } from './nodemailer-error-map.js';
