export { ImapSource, createImapSource } from './imap-source.js';
export { imapFlowOptions } from './imap-session.js';
export { toSequenceSet, toSequenceSets } from './imap-sequence-sets.js';
export { IMAP_TUNING, type ImapSourceConfig } from './imap-source-config.js';
export { mapImapError } from './imap-error-map.js';
export { probeImap, type ProbeResult, type ProbeStep, type ProbeStepListener } from './imap-probe.js';
