/**
 * A loopback port free at the moment of asking: a listener on port 0 is opened and let go. For
 * settings that must name a fixed address (the API's URLs name it), where 0 cannot be passed on;
 * another process could take the port in between, which on a test machine it does not.
 */
import { createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
