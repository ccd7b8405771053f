import { MailsluiceError, type ErrorCode } from '../core/errors/index.js';
import { sourceEntry, type ProbeResult } from './source-registry.js';
import { JsonlLogger } from '../adapters/logger-jsonl/index.js';
import type { ConnectionConfig } from '../config/loader.js';
import { downgradeRefusal, plaintextCredentialsWarning, sessionSecurity, shouldRememberTls, type TlsMemory } from '../core/connection/tls-downgrade.js';

/**
 * Runs the step-by-step test for a connection's protocol, under the STARTTLS downgrade
 * protection (ADR 0016) when the archive's memory is given: a server that offered TLS before and
 * does not now fails with SOURCE_TLS_DOWNGRADE before logging in; a test whose credentials crossed
 * unencrypted passes with a warning.
 */
export async function testConnection(cfg: ConnectionConfig, memory?: TlsMemory): Promise<ProbeResult> {
  const logger = new JsonlLogger([]);
  const before = memory?.tlsOffered(cfg.name) ?? false;
  const guarded = { ...cfg, security: sessionSecurity(cfg.security, before) };
  const entry = sourceEntry(cfg.protocol);
  if (entry) {
    const result = await entry.probe(guarded, logger);
    const failed = result.steps.find((s) => !s.ok);
    if (failed?.code) {
      const refusal = downgradeRefusal(cfg.name, cfg.security, before, new MailsluiceError(failed.code as ErrorCode, failed.detail));
      if (refusal instanceof MailsluiceError) Object.assign(failed, { code: refusal.code, detail: refusal.message });
    }
    if (result.ok && result.tls !== undefined) {
      if (memory && shouldRememberTls(cfg.security, before, result.tls)) memory.setTlsOffered(cfg.name, true);
      const warning = plaintextCredentialsWarning(cfg.name, cfg.security, cfg.auth.type, result.tls);
      if (warning) result.warnings = [...(result.warnings ?? []), warning];
    }
    return result;
  }
  const e = new MailsluiceError('SOURCE_UNSUPPORTED_PROTOCOL', `protocol ${cfg.protocol} has no source adapter in this build yet`);
  return { ok: false, steps: [{ step: 'connect', ok: false, detail: e.message, code: e.code, ms: 0 }] };
}
