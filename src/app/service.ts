/**
 * The long-running service (`mailsluice start`): the pipeline (`pipeline.ts`) run `continuous`
 * over every enabled connection and route, until SIGINT/SIGTERM. The configuration file is
 * applied again without a restart on SIGHUP and when the file changes (ADR 0024). Failure stays
 * per connection; an unhandled rejection ends the process (ARCHITECTURE convention 5), which the
 * supervisor of the host restarts.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { runPipeline, type ConnectionOwnership, type RunningPipeline } from './pipeline.js';
import type { EmbeddedApp } from './embedded.js';

/**
 * How long the file must stay unchanged before it is applied: an editor (or our own atomic
 * writer) replaces it by a write and a rename, several events for one change.
 */
export const CONFIG_WATCH_DEBOUNCE_MS = 500;

/**
 * Applies `file` again through `run` whenever it changes on disk. The directory is watched, not
 * the file: a file replaced by rename is a new inode, which a watch on the old one never sees.
 */
function watchConfigFile(app: EmbeddedApp, file: string, apply: () => void): FSWatcher | null {
  const name = basename(file);
  let timer: NodeJS.Timeout | null = null;
  try {
    const watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
      if (changed !== null && changed.toString() !== name) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        apply();
      }, CONFIG_WATCH_DEBOUNCE_MS);
    });
    watcher.on('error', (err) => app.logger.warn('watching the configuration file failed: it applies on SIGHUP only', { file, error: err.message }));
    watcher.on('close', () => {
      if (timer) clearTimeout(timer);
    });
    return watcher;
  } catch (err) {
    app.logger.warn('cannot watch the configuration file: it applies on SIGHUP only', { file, error: (err as Error).message });
    return null;
  }
}

/** Runs until a termination signal; resolves after a clean stop. With an `ownership` (scale-out), only the connections held run. */
export async function runService(app: EmbeddedApp, signal?: AbortSignal, ownership?: ConnectionOwnership): Promise<void> {
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  signal?.addEventListener('abort', stop, { once: true });
  let running: RunningPipeline | null = null;
  // The reload logs what it did, or why the file was not applied; nothing more to do here.
  const apply = (): void => void running?.reload().catch(() => undefined);
  const onHangup = (): void => {
    app.logger.info('SIGHUP: applying the configuration file', { file: app.config.file });
    apply();
  };
  process.on('SIGHUP', onHangup);
  const watcher = app.config.file ? watchConfigFile(app, app.config.file, apply) : null;
  try {
    await runPipeline(app, {
      mode: 'continuous',
      connections: app.config.connections.filter((c) => c.enabled),
      routes: app.config.routes.filter((r) => r.enabled),
      signal: ac.signal,
      ...(ownership ? { ownership } : {}),
      onRunning: (run) => {
        running = run;
      },
    });
  } finally {
    watcher?.close();
    process.off('SIGHUP', onHangup);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  app.logger.info('mailsluice stopped');
}
