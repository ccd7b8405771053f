/**
 * The outcome of each scenario response as a source applies a batch (`MailboxSource.applyResponses`):
 * shared by the IMAP, EWS and Graph sources so that every protocol reports outcomes alike.
 */
import type { ResponseOutcome, ResponseRequest } from '../ports/mailbox-source.js';

/** The outcome of each request as it is decided: failures add up, not-applicable is final. */
export class ResponseOutcomes {
  private readonly failures = new Map<string, string[]>();
  private readonly notApplicable = new Map<string, string>();

  /** Records a failure of each of `ids` (reasons of several failures are joined). */
  fail(ids: Iterable<string>, reason: string): void {
    for (const id of ids) this.failures.set(id, [...(this.failures.get(id) ?? []), reason]);
  }

  /** Records `ids` as not applicable (the message is not there); wins over failures. */
  skip(ids: Iterable<string>, reason: string): void {
    for (const id of ids) this.notApplicable.set(id, reason);
  }

  /** Whether `id` was found not applicable. */
  skipped(id: string): boolean {
    return this.notApplicable.has(id);
  }

  /** The outcome of `r`: applied unless skipped or failed. */
  of(r: ResponseRequest): ResponseOutcome {
    const na = this.notApplicable.get(r.id);
    if (na !== undefined) return { id: r.id, outcome: 'not-applicable', reason: na };
    const f = this.failures.get(r.id);
    if (f !== undefined) return { id: r.id, outcome: 'failed', reason: f.join('; ') };
    return { id: r.id, outcome: 'applied' };
  }
}
