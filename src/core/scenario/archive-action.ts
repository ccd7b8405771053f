/**
 * The `archive` scenario action: succeeds at once. Every message is archived before it is
 * routed (the archive commit comes first), so there is nothing left to do; the action exists so
 * a scenario can say so explicitly, and a route of only `archive` records its deliveries done.
 */
import type { ActionOutcome, ScenarioAction } from '../ports/scenario-action.js';

/** The one archive action; it holds nothing. */
export const archiveAction: ScenarioAction = {
  kind: 'archive',
  async run(): Promise<ActionOutcome> {
    return { ok: true };
  },
};
