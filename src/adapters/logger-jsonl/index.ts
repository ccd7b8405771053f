export { JsonlLogger, connectionLogLevel, type LogLevel, type LogSink } from './jsonl-logger.js';
