/**
 * NATS failures → the catalogue: a server that cannot be reached, a request that timed out, or a
 * JetStream that is off or has no such stream is `BUS_UNAVAILABLE` (retryable: the relay tries its
 * round again; nothing is marked relayed that the stream did not acknowledge). A PostgreSQL failure
 * arrives already mapped by the store's connection and passes unchanged.
 */
import { MailsluiceError } from '../../core/errors/index.js';

/** Maps any error of a NATS call made while `doing`. */
export function mapNatsError(err: unknown, servers: string, doing: string): MailsluiceError {
  if (err instanceof MailsluiceError) return err;
  const text = err instanceof Error ? err.message : String(err);
  const name = err instanceof Error ? err.name : 'Error';
  return new MailsluiceError('BUS_UNAVAILABLE', `NATS JetStream at ${servers} failed ${doing} (${name}: ${text}); it is tried again`, { cause: err, details: { servers } });
}
