/**
 * Errors of `node:http`'s listening socket → catalogue codes with a sentence that names the
 * address and what to do. The only place their errno codes are looked at.
 */
import { MailsluiceError } from '../core/errors/index.js';

/** Maps a failure to listen on `address` (`host:port`). */
export function mapListenError(err: unknown, address: string): MailsluiceError {
  const code = (err as NodeJS.ErrnoException)?.code ?? '';
  const why =
    code === 'EADDRINUSE'
      ? 'the address is already in use (another mailsluice start or drain, or another program, listens there)'
      : code === 'EADDRNOTAVAIL'
        ? 'this machine has no such address'
        : code === 'EACCES' || code === 'EPERM'
          ? 'not permitted (ports below 1024 need privileges)'
          : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
            ? 'the host name does not resolve'
            : `${code || (err instanceof Error ? err.message : String(err))}`;
  return new MailsluiceError('API_LISTEN_FAILED', `the API cannot listen on ${address}: ${why}; choose another api.listen, or set api.enabled: false`, {
    cause: err,
    details: { address, errno: code },
  });
}
