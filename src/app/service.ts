/**
 * The long-running service (`mailsluice start`): the HTTP API, a runner per enabled connection,
 * the index and compress stages and the dispatcher, until SIGINT/SIGTERM. Failure stays per
 * connection; an unhandled rejection ends the process (ARCHITECTURE convention 5), which the
 * supervisor of the host restarts.
 */
import { runIndexStage } from '../core/archive/index-stage.js';
import { createCompressSchedule } from '../core/archive/compress-stage.js';
import { createRunners, indexStageDeps, runnersByConnection } from './runners.js';
import { assertRoutesRunnable } from './action-factory.js';
import { startDispatchThread } from './dispatch-thread.js';
import { runPausingWhileDiskFull } from './disk-full-pause.js';
import type { EmbeddedApp } from './embedded.js';
import { startApi, type RunningApi } from './api.js';
import type { RouteConfig } from '../config/schema.js';

/** Runs until a termination signal; resolves after a clean stop. */
export async function runService(app: EmbeddedApp, signal?: AbortSignal): Promise<void> {
  const routes = app.config.routes.filter((r) => r.enabled);
  assertRoutesRunnable(routes);
  // The API first: a port in use stops the service before it takes anything.
  const api = await startApi(app);
  try {
    await serve(app, routes, api, signal);
  } finally {
    await api?.close();
  }
}

async function serve(app: EmbeddedApp, routes: RouteConfig[], api: RunningApi | null, signal?: AbortSignal): Promise<void> {
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  signal?.addEventListener('abort', stop, { once: true });
  const enabled = app.config.connections.filter((c) => c.enabled);
  app.logger.info('mailsluice started', { connections: enabled.map((c) => c.name), dataDir: app.config.dataDir, ...(api ? { api: api.address } : {}) });
  const runners = createRunners(app, enabled);
  const runnerOf = runnersByConnection(runners);
  let indexError: unknown;
  // The buses, on the dispatcher's own thread (ADR 0007): every lane until the stop; an attempt
  // in flight is aborted and, not recorded done, runs again after the restart (at least once). A
  // delivery that ends with a server response wakes its connection's runner, which applies it
  // before its next cycle. The index stage hands it the bodies it needs in memory (ADR 0011).
  const thread = routes.length > 0 ? startDispatchThread(app, { routes, onWake: (connection) => runnerOf.get(connection)?.forEach((r) => r.wake()), urlSigning: api?.urlSigning }) : null;
  // A full disk pauses a stage and it tries again (disk-full-pause.ts); anything else stops us.
  const pause = (stage: string) => ({ stage, logger: app.logger, clock: app.clock, random: app.random, signal: ac.signal });
  const indexing = runPausingWhileDiskFull(
    () => runIndexStage(indexStageDeps(app, app.parser(), runners, thread?.bodies), () => ac.signal.aborted, ac.signal),
    pause('index stage'),
  ).catch((err: unknown) => {
    // The archive itself is failing (e.g. the database): stop everything and exit non-zero.
    app.logger.error('index stage failed; stopping', { error: String((err as Error)?.message ?? err) });
    indexError = err;
    ac.abort();
  });
  // Deferred compression of large bodies, by the blob store (ADR 0018), low priority: it waits
  // while a connection is draining and while messages wait to be parsed.
  const compressing = runPausingWhileDiskFull(
    () =>
      app.compactBlobs(
        createCompressSchedule({
          clock: app.clock,
          logger: app.logger,
          unparsed: () => app.store.countUnparsed(),
          busy: () => runners.some((r) => r.status.state === 'draining'),
          stopping: () => ac.signal.aborted,
        }),
        ac.signal,
      ),
    pause('compress stage'),
  ).catch((err: unknown) => {
    app.logger.error('compress stage failed; stopping', { error: String((err as Error)?.message ?? err) });
    indexError ??= err;
    ac.abort();
  });
  if (thread) ac.signal.addEventListener('abort', () => thread.abort(), { once: true });
  const dispatching = thread?.result.catch((err: unknown) => {
    app.logger.error('dispatcher failed; stopping', { error: String((err as Error)?.message ?? err) });
    indexError ??= err;
    ac.abort();
  });
  await Promise.all(runners.map((r) => r.run({ once: false, signal: ac.signal })));
  await indexing;
  await compressing;
  await dispatching;
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  if (indexError !== undefined) throw indexError;
  app.logger.info('mailsluice stopped');
}
