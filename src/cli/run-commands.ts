/**
 * `mailsluice start` and `drain`: the commands that take from the mailboxes and hold the data
 * directory (ADR 0014). Loaded only when one of them runs (main.ts): they bring in the whole
 * pipeline, the sources, the parser, the dispatcher and the API.
 */
import { drainAll, type DrainProgress } from '../app/drain.js';
import { runService } from '../app/service.js';
import { readServiceConfig } from '../app/config-file.js';
import { createEmbeddedApp } from '../app/embedded.js';
import type { Config } from '../config/loader.js';
import { drainFailures, formatProgress, formatSummary } from './drain-report.js';
import type { ParsedArgs } from './args.js';
import { configPath, holdersUmask, withApp } from './commands.js';
import { OutputClosed, type Io } from './output.js';

/** `mailsluice drain [--connection NAME]` */
export async function cmdDrain(args: ParsedArgs, io: Io): Promise<number> {
  return withApp(args, async (app, config) => {
    const progress = io.isTty && !args.options.json ? (p: DrainProgress) => io.err(`\r${formatProgress(p)}\x1b[K`) : undefined;
    const summary = await drainAll(app, {
      ...(typeof args.options.connection === 'string' ? { connection: args.options.connection } : {}),
      ...(progress ? { onProgress: progress } : {}),
    });
    if (progress) io.err('\n');
    try {
      io.out(args.options.json ? JSON.stringify(summary) + '\n' : formatSummary(summary, config.connections));
    } catch (err) {
      // Nobody reads the summary any more; the exit status still says whether all was done.
      if (!(err instanceof OutputClosed)) throw err;
    }
    // Everything else was done and the summary is printed; the exit status and a line each say
    // what was not (SPEC: non-zero on failure).
    const failures = drainFailures(summary);
    for (const e of failures) io.err(`mailsluice: ${e.code}: ${e.message}\n`);
    return failures.length > 0 ? 1 : 0;
  }, 'drain');
}

/** `mailsluice start` */
export async function cmdStart(args: ParsedArgs, io: Io): Promise<number> {
  const config = readServiceConfig(configPath(args));
  for (const w of config.warnings) io.err(`warning: ${w.path}: ${w.message}\n`);
  holdersUmask();
  if (config.mode === 'scale-out') return startWorker(config);
  const app = await createEmbeddedApp(config, { stderrLevel: 'info', holder: 'start' });
  try {
    await runService(app);
  } finally {
    await app.close();
  }
  return 0;
}

/** `mailsluice start` in scale-out mode: a worker, draining the connections whose leases it holds. */
async function startWorker(config: Config): Promise<number> {
  const { createScaleOutApp, startLeases } = await import('../app/scale-out.js');
  const app = await createScaleOutApp(config, { stderrLevel: 'info', holder: 'start' });
  try {
    app.logger.info('scale-out worker started', { worker: app.worker, schema: config.scaleOut?.postgres.schema, bucket: config.scaleOut?.s3.bucket });
    startLeases(app);
    await runService(app, undefined, app.ownership);
  } finally {
    try {
      // After the runners ended: their last fenced commits are in before the leases go.
      await app.ownership.stop();
    } finally {
      await app.close();
    }
  }
  return 0;
}
