export { Pop3Source, createPop3Source } from './pop3-source.js';
export { POP3_LIMITS, POP3_TUNING, pop3ClientOptions, type Pop3ClientOptions, type Pop3SourceConfig } from './pop3-source-config.js';
export { Pop3Client } from './pop3-client.js';
export { mapPop3Error } from './pop3-error-map.js';
export { probePop3 } from './pop3-probe.js';
