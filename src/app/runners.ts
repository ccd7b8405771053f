import { randomInt } from 'node:crypto';
import type { ConnectionConfig } from '../config/loader.js';
import { ConnectionRunner } from './connection-runner.js';
import type { EmbeddedApp } from './embedded.js';

/** One runner per connection, wired to the app's store, blob store, clock and logs. */
export function createRunners(app: EmbeddedApp, connections: readonly ConnectionConfig[]): ConnectionRunner[] {
  return connections.map(
    (c) =>
      new ConnectionRunner({
        config: c,
        createSource: app.createSource,
        store: app.store,
        blobStore: app.blobs,
        clock: app.clock,
        random: () => randomInt(0, 1_000_000) / 1_000_000,
        logger: app.connectionLogger(c),
        // The responses of finished deliveries, applied by the connection (the deliveries table).
        responses: app.store.bus(),
      }),
  );
}
