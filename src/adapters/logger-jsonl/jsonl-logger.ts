/**
 * The Logger port as JSON lines: one object per record, to stderr and to each connection's own
 * log file, levels per sink, secret-looking fields redacted.
 */
import { makePrivateDirSync } from '../fs-node/private-files.js';
import { appendWithRotation } from './log-rotation.js';
import { dirname } from 'node:path';
import type { Logger } from '../../core/ports/logger.js';
import { LEVEL_RANK as RANK, NOT_SECRET, SECRET_KEYS, type LogLevel, type LogSink } from './jsonl-logger-config.js';
import { dropUnwritableRecord } from './jsonl-error-map.js';

/** `fields` with the values of secret-looking names replaced (jsonl-logger-config.ts, `SECRET_KEYS`). */
function scrub(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = SECRET_KEYS.test(k) && !NOT_SECRET.has(k) ? '[redacted]' : v;
  return out;
}

/**
 * Structured JSON-lines logging to any number of sinks (stderr, a connection's own log file).
 * Secret-looking fields are redacted as a last line of defence; callers must not pass secrets.
 */
export class JsonlLogger implements Logger {
  /** The lowest level any sink takes: below it a call costs nothing (the drain logs per message). */
  private readonly floor: number;

  constructor(
    private readonly sinks: LogSink[],
    private readonly base: Record<string, unknown> = {},
  ) {
    for (const s of sinks) if (s.file) makePrivateDirSync(dirname(s.file));
    this.floor = Math.min(...sinks.map((s) => RANK[s.level]), RANK.error + 1);
  }


  private write(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (RANK[level] < this.floor) return;
    const rec = JSON.stringify({ time: new Date().toISOString(), level, msg, ...this.base, ...(fields ? scrub(fields) : {}) }) + '\n';
    for (const s of this.sinks) {
      if (RANK[level] < RANK[s.level]) continue;
      if (s.file) {
        try {
          appendWithRotation(s.file, rec, s.rotation);
        } catch (err) {
          dropUnwritableRecord(err);
        }
      } else s.stream?.write(rec);
    }
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.write('debug', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.write('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.write('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.write('error', msg, fields);
  }
  child(fields: Record<string, unknown>): Logger {
    return new JsonlLogger(this.sinks, { ...this.base, ...fields });
  }

  /** A logger writing to these sinks in addition to this one's. */
  with(extra: LogSink[], fields: Record<string, unknown> = {}): JsonlLogger {
    return new JsonlLogger([...this.sinks, ...extra], { ...this.base, ...fields });
  }
}
