/**
 * What `drain` prints: the progress line while it runs (every stage: taken, parsed, delivered),
 * the summary at the end in words that say what happened on the server, and the one error line
 * (and exit status 1) when something was not done (SPEC "Command line": non-zero on failure).
 */
import { MailsluiceError } from '../core/errors/index.js';
import type { DrainProgress, DrainSummary } from '../app/drain.js';
import type { ConnectionConfig } from '../config/loader.js';

function mb(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/** The progress line (without the carriage return): each connection, then what came after taking. */
export function formatProgress(p: DrainProgress): string {
  const taking = p.statuses.map((x) => `${x.name}: ${x.taken} taken (${mb(x.bytes)}) ${x.state}`).join('; ');
  const parsed = `parsed ${p.index.parsed + p.index.unparsable}${p.index.unparsable > 0 ? ` (${p.index.unparsable} unparsable)` : ''}`;
  const routes = Object.values(p.deliveries);
  const delivered = routes.reduce((n, r) => n + r.delivered, 0);
  const dead = routes.reduce((n, r) => n + r.dead, 0);
  const retries = routes.reduce((n, r) => n + r.retries, 0);
  const delivering =
    routes.length > 0 ? `; delivered ${delivered}${dead > 0 ? `, ${dead} dead` : ''}${retries > 0 ? `, ${plural(retries, 'retry', 'retries')}` : ''}` : '';
  return `${taking}; ${parsed}${delivering} [${p.stage}]`;
}

/** What a connection's policy did with the messages it took, for the summary line. */
function onServer(c: DrainSummary['connections'][string], conn: ConnectionConfig | undefined): string {
  const policy = conn?.deletePolicy ?? 'delete-and-expunge';
  if (c.taken === 0) return 'nothing to take';
  switch (policy) {
    case 'leave':
      return 'left on the server (deletePolicy leave)';
    case 'mark-seen':
      return `${c.actioned} marked \\Seen and left on the server`;
    case 'move':
      return `${c.actioned} moved to ${conn?.moveTo ?? 'the moveTo folder'}`;
    case 'delete':
      return `${c.actioned} flagged \\Deleted on the server (not expunged)`;
    default:
      return `${c.actioned} removed from the server`;
  }
}

/** The summary lines `drain` prints without `--json`. */
export function formatSummary(summary: DrainSummary, connections: readonly ConnectionConfig[]): string {
  const out: string[] = [];
  // A connection that drains several folders reports as <connection>/<folder>.
  const configOf = (name: string): ConnectionConfig | undefined => connections.find((c) => c.name === name || name.startsWith(`${c.name}/`));
  for (const [name, c] of Object.entries(summary.connections)) {
    const failed = c.failed > 0 ? `, ${c.failed} could not be archived (left on the server flagged \\Seen)` : '';
    const aside = c.setAside > 0 ? `, ${c.setAside} set aside (the connection broke during each, session after session; left on the server)` : '';
    out.push(`${name}: ${plural(c.taken, 'message', 'messages')} taken (${mb(c.bytes)}), ${onServer(c, configOf(name))}${failed}${aside}`);
    const r = c.responses;
    if (r.applied + r.notApplicable + r.failed > 0) {
      const refused = r.failed > 0 ? `, ${r.failed} refused by the server (mailsluice deliveries list shows why)` : '';
      out.push(`${name}: ${r.applied} route responses applied on the server, ${r.notApplicable} not applicable (message no longer there)${refused}`);
    }
  }
  // "Nothing left to take", not "mailbox empty": with leave or mark-seen the messages stay there.
  out.push(
    `parsed ${summary.parsed}, unparsable ${summary.unparsable}; nothing left to take after ${(summary.mailboxEmptyMs / 1000).toFixed(2)} s, indexed after ${(summary.indexedMs / 1000).toFixed(2)} s`,
  );
  for (const [name, r] of Object.entries(summary.routes)) {
    const later = r.failed > 0 ? `, ${r.failed} waiting for a retry` : '';
    const dead = r.dead > 0 ? `, ${r.dead} dead-lettered (mailsluice deliveries list --state dead)` : '';
    out.push(`route ${name}: ${r.delivered} delivered${dead}${later}`);
  }
  return out.join('\n') + '\n';
}

/** `name: N, …` over the entries whose count is not 0. */
function countsOf<T>(entries: Record<string, T>, count: (t: T) => number): string {
  return Object.entries(entries)
    .filter(([, t]) => count(t) > 0)
    .map(([name, t]) => `${name}: ${count(t)}`)
    .join(', ');
}

/**
 * The failures a finished drain exits 1 with, each one line: messages that could not be archived,
 * then deliveries dead-lettered. Everything else was done and the summary printed first.
 */
export function drainFailures(summary: DrainSummary): MailsluiceError[] {
  const errors: MailsluiceError[] = [];
  if (summary.failed > 0) {
    const which = countsOf(summary.connections, (c) => c.failed);
    errors.push(
      new MailsluiceError(
        'MESSAGES_NOT_ARCHIVED',
        `${plural(summary.failed, 'message', 'messages')} could not be archived (${which}); left on the server flagged \\Seen and not taken again; the connection log names each (mailsluice logs NAME)`,
      ),
    );
  }
  if (summary.setAside > 0) {
    const which = countsOf(summary.connections, (c) => c.setAside);
    errors.push(
      new MailsluiceError(
        'MESSAGES_NOT_ARCHIVED',
        `${plural(summary.setAside, 'message', 'messages')} could not be fetched whole (${which}): the connection broke during each, session after session; left on the server untouched while the rest of the mailbox was drained; the connection log names each (mailsluice logs NAME)`,
      ),
    );
  }
  const total = Object.values(summary.routes).reduce((n, r) => n + r.dead, 0);
  if (total > 0) {
    const which = countsOf(summary.routes, (r) => r.dead);
    errors.push(
      new MailsluiceError(
        'DELIVERIES_DEAD',
        `${plural(total, 'delivery was', 'deliveries were')} dead-lettered (${which}); the messages are archived; mailsluice deliveries list --state dead shows why, and deliveries retry --all-dead queues them again`,
      ),
    );
  }
  return errors;
}
