import { MailsluiceError, type ErrorCode } from '../core/errors/index.js';
import { sourceEntry, type ProbeResult, type ProbeStep, type ProbeStepListener } from './source-registry.js';
import { JsonlLogger } from '../adapters/logger-jsonl/index.js';
import { accessTokensFor } from './access-tokens.js';
import type { ConnectionConfig } from '../config/loader.js';
import { downgradeRefusal, plaintextCredentialsWarning, sessionSecurity, shouldRememberTls, type TlsMemory } from '../core/connection/tls-downgrade.js';

export type { ProbeResult, ProbeStep, ProbeStepListener };

/**
 * Runs the step-by-step test for a connection's protocol, under the STARTTLS downgrade
 * protection (ADR 0016) when the archive's memory is given: a server that offered TLS before and
 * does not now fails with SOURCE_TLS_DOWNGRADE before logging in; a test whose credentials crossed
 * unencrypted passes with a warning. `onStep` is told each step as it completes (the API streams
 * them), already in the form the result holds (a downgrade's failure named as one).
 */
export async function testConnection(cfg: ConnectionConfig, memory?: TlsMemory, onStep?: ProbeStepListener): Promise<ProbeResult> {
  const logger = new JsonlLogger([]);
  const before = memory?.tlsOffered(cfg.name) ?? false;
  const guarded = { ...cfg, security: sessionSecurity(cfg.security, before) };
  const entry = sourceEntry(cfg.protocol);
  if (entry) {
    // OAuth2: a token source of the test's own, so its token step really asks the endpoint.
    const accessTokens = accessTokensFor(cfg, logger, true);
    const result = await entry.probe(guarded, logger, (step) => {
      // The probe stops at its first failure: this is the one step the refusal may rename.
      if (!step.ok && step.code) {
        const refusal = downgradeRefusal(cfg.name, cfg.security, before, new MailsluiceError(step.code as ErrorCode, step.detail));
        if (refusal instanceof MailsluiceError) Object.assign(step, { code: refusal.code, detail: refusal.message });
      }
      onStep?.(step);
    }, accessTokens ? { accessTokens } : {});
    if (result.ok && result.tls !== undefined) {
      if (memory && shouldRememberTls(cfg.security, before, result.tls)) memory.setTlsOffered(cfg.name, true);
      const warning = plaintextCredentialsWarning(cfg.name, cfg.security, cfg.auth.type, result.tls);
      if (warning) result.warnings = [...(result.warnings ?? []), warning];
    }
    return result;
  }
  const e = new MailsluiceError('SOURCE_UNSUPPORTED_PROTOCOL', `protocol ${cfg.protocol} has no source adapter in this build yet`);
  const step: ProbeStep = { step: 'connect', ok: false, detail: e.message, code: e.code, ms: 0 };
  onStep?.(step);
  return { ok: false, steps: [step] };
}
