import type { MailboxSource, SourceRuntime } from '../core/ports/mailbox-source.js';
import type { Logger } from '../core/ports/logger.js';
import { MailsluiceError } from '../core/errors/index.js';
import { sourceEntry } from './source-registry.js';
import { accessTokensFor } from './access-tokens.js';
import type { ConnectionConfig } from '../config/loader.js';

/**
 * The bound on a silent server, when the environment lowers it: `MAILSLUICE_SILENCE_LIMIT_MS`
 * and `MAILSLUICE_SILENCE_WARN_MS` (hidden tunables for tests, not operator settings: an
 * operator bounds silence with `dataTimeoutMs`). Absent or unreadable: the adapters' own.
 */
function silenceFromEnv(env: NodeJS.ProcessEnv = process.env): SourceRuntime['silence'] {
  const limit = Number(env.MAILSLUICE_SILENCE_LIMIT_MS);
  if (!Number.isSafeInteger(limit) || limit <= 0) return undefined;
  const warn = Number(env.MAILSLUICE_SILENCE_WARN_MS);
  return { limitMs: limit, warnEveryMs: Number.isSafeInteger(warn) && warn > 0 ? warn : limit };
}

/** Builds the mailbox source adapter for a connection's protocol (the source registry's). */
export function createSource(cfg: ConnectionConfig, logger: Logger, runtime: SourceRuntime = {}): MailboxSource {
  const silence = runtime.silence ?? silenceFromEnv();
  const accessTokens = runtime.accessTokens ?? accessTokensFor(cfg, logger);
  const rt: SourceRuntime = { ...runtime, ...(silence ? { silence } : {}), ...(accessTokens ? { accessTokens } : {}) };
  const entry = sourceEntry(cfg.protocol);
  if (!entry) throw new MailsluiceError('SOURCE_UNSUPPORTED_PROTOCOL', `connection ${cfg.name}: protocol ${cfg.protocol} has no source adapter in this build yet`);
  return entry.create(cfg, logger, rt);
}
