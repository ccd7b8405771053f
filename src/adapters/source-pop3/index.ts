export { Pop3Source, createPop3Source, pop3ClientOptions, POP3_TUNING, type Pop3SourceConfig } from './pop3-source.js';
export { Pop3Client, type Pop3ClientOptions } from './pop3-client.js';
export { probePop3 } from './pop3-probe.js';
