/**
 * `mailsluice verify [--repair]` as a use case (issue 16, item 5; ADR 0031): the core's
 * `verifyArchive` over the app's blob scanner and index, then for a repair `repairArchive`, which
 * queues the orphans it indexes again for the parse. Run by the command itself (no service) or by
 * the service for its control socket and API (`POST /api/v1/archive/verify`), whose running index
 * stage then parses them.
 */
import { repairArchive, verifyArchive, type VerifyReport } from '../core/archive/archive-verify.js';
import { runIndexStage } from '../core/archive/index-stage.js';
import type { BlobScanOptions } from '../core/ports/archive-check.js';
import type { ControlClient } from './control-client.js';
import { MailsluiceError } from '../core/errors/index.js';
import type { EmbeddedApp } from './embedded.js';
import { indexStageDeps, routeMatcher } from './runners.js';

/** How long `verify` waits for a reclaim run to end before it refuses (`PACKS_BUSY`). */
export const VERIFY_WAITS_FOR_RECLAIM_MS = 10 * 60_000;

/** What a run is asked. */
export interface VerifyRun extends BlobScanOptions {
  /** Index the orphan blobs again (the archive is written: audited by the caller). */
  repair?: boolean;
}

/** Reads the archive back whole and reports (and with `repair`, indexes orphans again). */
export async function runVerify(app: Pick<EmbeddedApp, 'archiveCheck' | 'clock'>, run: VerifyRun = {}): Promise<VerifyReport> {
  const { repair, ...scan } = run;
  // No reclaim run deletes a pack under the scan (ADR 0036); one running now is waited for.
  const hold = app.archiveCheck.holdPacks ? await app.archiveCheck.holdPacks(VERIFY_WAITS_FOR_RECLAIM_MS) : undefined;
  if (hold === null) throw new MailsluiceError('PACKS_BUSY', 'packs are being rewritten (reclaiming space or encrypting) for longer than verify waits: run it again later');
  let report: VerifyReport;
  try {
    report = await verifyArchive({ scanner: app.archiveCheck.scanner(), index: app.archiveCheck.index, clock: app.clock }, scan);
  } finally {
    hold?.release();
  }
  if (!repair) return report;
  return repairArchive(app.archiveCheck.index, report, app.clock.now());
}

/**
 * Without a service: parses what a repair queued (and anything a stopped drain left queued) now,
 * under the configured routes as a drain would, so a message the repair indexed is found by
 * `search` when the command returns. A repaired message's connection matches no route.
 */
export async function indexQueued(app: EmbeddedApp): Promise<void> {
  const matcher = routeMatcher(app.config.routes);
  await runIndexStage(indexStageDeps(app, app.parser(), () => false, () => matcher, undefined), () => true);
}

/** The same through a running service's control socket (`POST /api/v1/archive/verify|repair`); the service records it. */
export function verifyThroughService(service: ControlClient, repair: boolean): Promise<VerifyReport> {
  return service.json<VerifyReport>('POST', repair ? '/api/v1/archive/repair' : '/api/v1/archive/verify');
}
