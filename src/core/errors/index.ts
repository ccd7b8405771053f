export { ERROR_CODES, type ErrorCode } from './codes.js';
export { MailsluiceError, isMailsluiceError, toMailsluiceError, type MailsluiceErrorOptions } from './mailsluice-error.js';
export { quoteServerLine } from './quote-server-text.js';
