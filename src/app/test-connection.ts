import { MailsluiceError } from '../core/errors/index.js';
import { probeImap, type ProbeResult } from '../adapters/source-imap/index.js';
import { probePop3 } from '../adapters/source-pop3/index.js';
import { JsonlLogger } from '../adapters/logger-jsonl/index.js';
import type { ConnectionConfig } from '../config/loader.js';

/** Runs the step-by-step test for a connection's protocol. */
export async function testConnection(cfg: ConnectionConfig): Promise<ProbeResult> {
  const logger = new JsonlLogger([]);
  if (cfg.protocol === 'imap') return probeImap(cfg, logger);
  if (cfg.protocol === 'pop3') return probePop3(cfg, logger);
  const e = new MailsluiceError('SOURCE_UNSUPPORTED_PROTOCOL', `protocol ${cfg.protocol} has no source adapter in this build yet`);
  return { ok: false, steps: [{ step: 'connect', ok: false, detail: e.message, code: e.code, ms: 0 }] };
}
