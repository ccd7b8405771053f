/**
 * The JSON-lines logger: the Logger port writing to stderr and per-connection log files.
 * See README.md.
 */
export { JsonlLogger } from './jsonl-logger.js';
export { connectionLogLevel, type LogLevel, type LogSink } from './jsonl-logger-config.js';
export { appendWithRotation, type RotationPolicy } from './log-rotation.js';
