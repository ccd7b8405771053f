/**
 * The Audit page (issue 15; role auditor and above): the audit log, the newest first, narrowed
 * by who, action and time (`GET /api/v1/audit?order=newest`), paged with the API's cursor (More
 * adds the next page below); the filters kept in the hash query; Verify chain; for an admin, the
 * move of old records.
 */
import { useEffect, useState } from 'preact/hooks';
import { sessionEnded } from './api.js';
import { listAudit, type AuditFilters, type AuditRecord } from './api-audit.js';
import { PrunePanel, VerifyPanel } from './audit-chain.js';
import { AuditFilterForm } from './audit-filters.js';
import { AuditRecords } from './audit-records.js';
import { s } from './audit-strings.js';
import { failureText, num } from './i18n.js';
import { roleAllows, type PageProps } from './page.js';
import { currentQuery, href } from './router.js';
import './audit.css';

const FILTER_NAMES = ['who', 'action', 'since', 'until'] as const;

/** The filters the hash query names (`#/audit?who=legal`). */
function filtersOfQuery(): AuditFilters {
  const q = currentQuery();
  const f: AuditFilters = {};
  for (const k of FILTER_NAMES) {
    const v = q.get(k);
    if (v) f[k] = v;
  }
  return f;
}

/** Puts `f` into the hash query without a new history entry or a hashchange (the page stays as it is). */
function rememberFilters(f: AuditFilters): void {
  const q = new URLSearchParams();
  for (const k of FILTER_NAMES) if (f[k]) q.set(k, f[k]!);
  const query = q.toString();
  history.replaceState(null, '', `${href('audit')}${query ? `?${query}` : ''}`);
}

interface Listing {
  records: AuditRecord[];
  next: string | null;
}

export function AuditPage(props: PageProps) {
  const [filters, setFilters] = useState<AuditFilters>(filtersOfQuery);
  const [listing, setListing] = useState<Listing | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // Bumped to list again from the first page (new filters, a move of old records).
  const [generation, setGeneration] = useState(0);

  /** Loads the page after `cursor` (null: the first) and adds it to what is shown, or replaces it. */
  const load = async (f: AuditFilters, cursor: string | null, shown: AuditRecord[]): Promise<void> => {
    setBusy(true);
    try {
      const page = await listAudit(f, cursor);
      setListing({ records: [...shown, ...page.records], next: page.next });
      setError(null);
    } catch (err) {
      if (sessionEnded(err)) return props.onSessionEnded();
      setError(failureText(err));
    } finally {
      setBusy(false);
    }
  };

  useEffect(() => {
    void load(filters, null, []);
  }, [filters, generation]);

  return (
    <section aria-labelledby="page-title" class="audit-page">
      <h1 id="page-title">{s('title')}</h1>
      <p class="help">{s('intro')}</p>
      <AuditFilterForm
        initial={filters}
        busy={busy}
        onApply={(f) => {
          rememberFilters(f);
          setFilters(f);
          setGeneration((g) => g + 1);
        }}
      />
      {error && (
        <p id="audit-error" class="error" role="alert">
          {error}
        </p>
      )}
      <div aria-live="polite" aria-busy={busy ? 'true' : 'false'}>
        {listing === null ? (
          busy && <p>{s('loading')}</p>
        ) : (
          <>
            <p class="updated" id="audit-count">
              {s('shown')}: {num(listing.records.length)}
            </p>
            <AuditRecords records={listing.records} />
            {listing.next !== null && (
              <button type="button" id="audit-more" disabled={busy} onClick={() => void load(filters, listing.next, listing.records)}>
                {busy ? s('loading') : s('more')}
              </button>
            )}
          </>
        )}
      </div>
      <VerifyPanel onSessionEnded={props.onSessionEnded} />
      {roleAllows(props.role, 'admin') && <PrunePanel onSessionEnded={props.onSessionEnded} onPruned={() => setGeneration((g) => g + 1)} />}
    </section>
  );
}
