/**
 * Wires the STARTTLS downgrade protection (`core/connection/tls-downgrade.ts`, ADR 0016) around
 * a mailbox source: the session is opened with the security the core decides from what the
 * archive remembers, a refusal is turned into `SOURCE_TLS_DOWNGRADE`, a session that found TLS is
 * remembered, and one whose credentials crossed unencrypted is logged as a warning.
 */
import type { MailboxSource, SourceRuntime } from '../core/ports/mailbox-source.js';
import type { Logger } from '../core/ports/logger.js';
import { downgradeRefusal, plaintextCredentialsWarning, sessionSecurity, shouldRememberTls, type TlsMemory } from '../core/connection/tls-downgrade.js';
import type { ConnectionConfig } from '../config/loader.js';

/** `create`'s source for `cfg`, its `open` guarded against a STARTTLS downgrade. */
export function guardTls(
  cfg: ConnectionConfig,
  logger: Logger,
  memory: TlsMemory,
  create: (cfg: ConnectionConfig, logger: Logger, runtime?: SourceRuntime) => MailboxSource,
  runtime?: SourceRuntime,
): MailboxSource {
  const before = memory.tlsOffered(cfg.name);
  const source = create({ ...cfg, security: sessionSecurity(cfg.security, before) }, logger, runtime);
  const open = source.open.bind(source);
  // The source's own open, wrapped on the instance: the port stays as it is for every adapter.
  source.open = async (signal) => {
    let session;
    try {
      session = await open(signal);
    } catch (err) {
      throw downgradeRefusal(cfg.name, cfg.security, before, err);
    }
    if (source.tlsInUse !== undefined) {
      if (shouldRememberTls(cfg.security, before, source.tlsInUse)) memory.setTlsOffered(cfg.name, true);
      const warning = plaintextCredentialsWarning(cfg.name, cfg.security, cfg.auth.type, source.tlsInUse);
      if (warning) logger.warn(warning);
    }
    return session;
  };
  return source;
}
