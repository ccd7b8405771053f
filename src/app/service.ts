/**
 * The long-running service (`mailsluice start`): the pipeline (`pipeline.ts`) run `continuous`
 * over every enabled connection and route, until SIGINT/SIGTERM. Failure stays per connection; an
 * unhandled rejection ends the process (ARCHITECTURE convention 5), which the supervisor of the
 * host restarts.
 */
import { runPipeline } from './pipeline.js';
import type { EmbeddedApp } from './embedded.js';

/** Runs until a termination signal; resolves after a clean stop. */
export async function runService(app: EmbeddedApp, signal?: AbortSignal): Promise<void> {
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  signal?.addEventListener('abort', stop, { once: true });
  try {
    await runPipeline(app, {
      mode: 'continuous',
      connections: app.config.connections.filter((c) => c.enabled),
      routes: app.config.routes.filter((r) => r.enabled),
      signal: ac.signal,
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  app.logger.info('mailsluice stopped');
}
