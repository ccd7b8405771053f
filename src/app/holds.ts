/**
 * Legal holds as the commands and the API use them (issue 16, item 4; docs/legal-hold.md):
 * placing one (checked by the domain, then by the store: ids archived, query readable), releasing
 * one with a reason, and a hold as shown, with how many messages it keeps now.
 */
import type { Clock } from '../core/ports/clock.js';
import type { HoldStore } from '../core/ports/hold-store.js';
import { assertReleaseReason, holdIdsOf, holdQueryOf, holdRequestProblems, invalidHold, isActive, type HoldRequest, type LegalHold } from '../core/holds/legal-hold.js';

/** A hold as `hold show --json`, `hold list --json` and the API show it. */
export interface HoldJson {
  name: string;
  reason: string;
  query: string | null;
  ids: number[];
  placedBy: string;
  /** ISO 8601. */
  placedAt: string;
  active: boolean;
  releasedBy: string | null;
  releasedAt: string | null;
  releaseReason: string | null;
  /** How many archived messages it keeps now (0 once released). */
  heldNow: number;
}

/** What the hold use cases work on. */
export interface HoldDeps {
  holds: HoldStore;
  clock: Clock;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** `hold` as shown, counting what it keeps now when it is active. */
export async function holdJson(holds: Pick<HoldStore, 'countHeld'>, hold: LegalHold): Promise<HoldJson> {
  return {
    name: hold.name,
    reason: hold.reason,
    query: hold.query,
    ids: hold.ids,
    placedBy: hold.placedBy,
    placedAt: iso(hold.placedAt)!,
    active: isActive(hold),
    releasedBy: hold.releasedBy,
    releasedAt: iso(hold.releasedAt),
    releaseReason: hold.releaseReason,
    heldNow: isActive(hold) ? await holds.countHeld(hold) : 0,
  };
}

/** Throws `HOLD_INVALID` naming every problem of `request` the domain sees (before anything is recorded). */
export function assertHoldRequest(request: HoldRequest): void {
  const problems = holdRequestProblems(request);
  if (problems.length > 0) throw invalidHold(request.name, problems);
}

/** Places the hold `request` asks for, by `who`; the store refuses ids not archived and a query it cannot read. */
export async function placeHold(deps: HoldDeps, who: string, request: HoldRequest): Promise<HoldJson> {
  assertHoldRequest(request);
  const hold: LegalHold = {
    name: request.name,
    reason: request.reason.trim(),
    query: holdQueryOf(request),
    ids: holdIdsOf(request),
    placedBy: who,
    placedAt: deps.clock.now(),
    releasedBy: null,
    releasedAt: null,
    releaseReason: null,
  };
  await deps.holds.placeHold(hold);
  return holdJson(deps.holds, hold);
}

/** Releases hold `name` by `who` for `reason` (required); the hold stays on the record. */
export async function releaseHold(deps: HoldDeps, who: string, name: string, reason: string): Promise<HoldJson> {
  assertReleaseReason(name, reason);
  const released = await deps.holds.releaseHold(name, { by: who, at: deps.clock.now(), reason: reason.trim() });
  return holdJson(deps.holds, released);
}

/** Every active hold (with `all`, released ones too), as shown. */
export async function listHolds(holds: HoldStore, all: boolean): Promise<HoldJson[]> {
  const list = await holds.listHolds({ all });
  const shown: HoldJson[] = [];
  for (const h of list) shown.push(await holdJson(holds, h));
  return shown;
}

/** The names of the active holds that keep the message whose raw bytes are `sha256` (any of its rows). */
export async function holdsOfArchived(holds: HoldStore, heldAmong: (ids: readonly number[]) => Promise<Map<number, string[]>>, sha256: string): Promise<string[]> {
  const ids = await holds.messageIdsOf(sha256);
  const names = new Set<string>();
  for (const list of (await heldAmong(ids)).values()) for (const n of list) names.add(n);
  return [...names].sort();
}
