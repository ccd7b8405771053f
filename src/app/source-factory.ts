import type { MailboxSource } from '../core/ports/mailbox-source.js';
import type { Logger } from '../core/ports/logger.js';
import { MailsluiceError } from '../core/errors/index.js';
import { createImapSource } from '../adapters/source-imap/index.js';
import { createPop3Source } from '../adapters/source-pop3/index.js';
import type { ConnectionConfig } from '../config/loader.js';

/** Builds the mailbox source adapter for a connection's protocol. */
export function createSource(cfg: ConnectionConfig, logger: Logger): MailboxSource {
  switch (cfg.protocol) {
    case 'imap':
      return createImapSource(cfg, logger);
    case 'pop3':
      return createPop3Source(cfg, logger);
    default:
      throw new MailsluiceError('SOURCE_UNSUPPORTED_PROTOCOL', `connection ${cfg.name}: protocol ${cfg.protocol} has no source adapter in this build yet`);
  }
}
