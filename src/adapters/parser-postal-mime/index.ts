/**
 * The postal-mime parser adapter: the MessageParser port implemented with postal-mime in a
 * pool of worker threads. See README.md and docs/adr/0002-message-parser.md.
 */
export { createPostalMimeParser, createPostalMimeAttachmentFinder, type PooledAttachmentFinder } from './postal-mime-parser.js';
export {
  defaultWorkerCount,
  resolvePostalMimeParserConfig,
  type PostalMimeParserConfig,
  type PostalMimeParserOptions,
} from './postal-mime-parser-config.js';
export { mapPostalMimeError, mapWorkerError, type MappedParseError, type ParseFailureCode } from './postal-mime-error-map.js';
export { parseToOutcome, parseOversized, parseHeadersOnly, extensionOf, type ParseToOutcomeOptions } from './postal-mime-attributes.js';
export { readJournalReport, type JournalReportParts } from './journal-unwrap.js';
export { findAttachmentContents, postalMimeAttachmentFinder, MAX_NESTED_MESSAGES } from './attachment-finder.js';
