export { ImapSource, createImapSource, imapFlowOptions, toSequenceSet, toSequenceSets } from './imap-source.js';
export { IMAP_TUNING, type ImapSourceConfig } from './imap-source-config.js';
export { mapImapError } from './imap-error-map.js';
export { probeImap, type ProbeResult, type ProbeStep } from './imap-probe.js';
