/**
 * The archive's search (`#/archive?q=…`): the filters of `GET /api/v1/messages` in a form whose
 * submission goes into the hash, so a reload, a bookmark or the back button keeps the search;
 * the hits newest first with their excerpt, a page at a time ("More" asks for the next one);
 * the export of the whole result as mbox or zip (a download of the API's export, same filters).
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, listConnections, sessionEnded } from './api.js';
import { exportUrl, filtersQuery, searchMessages, type ArchiveFilters, type SearchPage } from './api-archive.js';
import { s } from './archive-strings.js';
import { Excerpt, sizeText } from './archive-text.js';
import { dateTime, failureText, num } from './i18n.js';
import { href } from './router.js';
import { fill } from './fill.js';

/** The filters' form: every field labelled; submitting it puts the search into the hash. */
function SearchForm(props: { filters: ArchiveFilters; connections: string[]; invalid: ReadonlySet<string>; onSearch: (f: ArchiveFilters) => void }) {
  const [draft, setDraft] = useState<ArchiveFilters>(props.filters);
  // A search from the hash (back, reload, a link) shows in the form.
  useEffect(() => setDraft(props.filters), [filtersQuery(props.filters)]);
  const field = (k: keyof ArchiveFilters) => ({
    id: `archive-${k}`,
    name: k,
    value: draft[k],
    'aria-invalid': props.invalid.has(k) ? ('true' as const) : undefined,
    // The field the API refused is described by its sentence (the alert under the results' title).
    ...(props.invalid.has(k) && k !== 'q' ? { 'aria-describedby': 'archive-error' } : {}),
    onInput: (e: Event) => setDraft({ ...draft, [k]: (e.currentTarget as HTMLInputElement).value }),
  });
  const submit = (e: Event): void => {
    e.preventDefault();
    props.onSearch(draft);
  };
  const clear = (): void => props.onSearch({ q: '', from: '', to: '', since: '', until: '', hasAttachment: '', connection: '' });
  return (
    <form class="archive-search" role="search" aria-labelledby="archive-search-title" onSubmit={submit}>
      <h2 id="archive-search-title">{s('searchTitle')}</h2>
      <div class="field wide">
        <label for="archive-q">{s('query')}</label>
        <input type="search" {...field('q')} aria-describedby={props.invalid.has('q') ? 'archive-q-help archive-error' : 'archive-q-help'} autocomplete="off" />
        <span id="archive-q-help" class="help">
          {s('queryHelp')}
        </span>
      </div>
      <div class="field">
        <label for="archive-from">{s('from')}</label>
        <input type="text" {...field('from')} autocomplete="off" />
      </div>
      <div class="field">
        <label for="archive-to">{s('to')}</label>
        <input type="text" {...field('to')} autocomplete="off" />
      </div>
      <div class="field">
        <label for="archive-since">{s('since')}</label>
        <input type="date" {...field('since')} />
      </div>
      <div class="field">
        <label for="archive-until">{s('until')}</label>
        <input type="date" {...field('until')} />
      </div>
      <div class="field">
        <label for="archive-hasAttachment">{s('hasAttachment')}</label>
        <select {...field('hasAttachment')} onChange={field('hasAttachment').onInput}>
          <option value="">{s('anyAttachment')}</option>
          <option value="true">{s('withAttachment')}</option>
          <option value="false">{s('withoutAttachment')}</option>
        </select>
      </div>
      <div class="field">
        <label for="archive-connection">{s('connection')}</label>
        <select {...field('connection')} onChange={field('connection').onInput}>
          <option value="">{s('anyConnection')}</option>
          {[...new Set([...props.connections, ...(draft.connection ? [draft.connection] : [])])].map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
      </div>
      <div class="buttons">
        <button type="submit" id="archive-submit">
          {s('search')}
        </button>
        <button type="button" id="archive-clear" onClick={clear}>
          {s('clear')}
        </button>
      </div>
    </form>
  );
}

/** The API's parameter names as the form's fields (`before` is the day after `until`). */
const FIELD_OF: Record<string, keyof ArchiveFilters> = { text: 'q', from: 'from', to: 'to', since: 'since', before: 'until', hasAttachment: 'hasAttachment', connection: 'connection' };

/** The form's fields a refused search names: a query that cannot be read is the query's; a 400 names its parameters. */
function invalidFields(err: unknown): ReadonlySet<string> {
  if (!(err instanceof ApiFailure)) return new Set();
  if (err.error.code === 'SEARCH_QUERY_INVALID') return new Set(['q']);
  return new Set((err.error.problems ?? []).map((p) => FIELD_OF[p.field.split('.')[0] ?? '']).filter((f): f is keyof ArchiveFilters => f !== undefined));
}

/** The hits found so far (one page or more), with the total and the next page's cursor. */
interface Found {
  hits: SearchPage['hits'];
  total: number;
  more: boolean;
  nextCursor: string | null;
  /** While the index is being rebuilt: how far. */
  reindex?: { done: number; total: number } | undefined;
}

function Hits(props: { found: Found; query: string }) {
  return (
    <ol class="hits">
      {props.found.hits.map((h) => (
        <li key={h.archiveId} class="hit" data-archive-id={h.archiveId}>
          <h3>
            <a href={href('archive', h.archiveId)}>{h.subject.trim() || s('noSubject')}</a>
            {h.probe && <span class="tag"> ({s('probe')})</span>}
          </h3>
          <p class="meta">
            <span class="from">{h.from}</span>
            {h.date && <time dateTime={h.date}>{dateTime(h.date)}</time>}
            <span class="size">{sizeText(h.size)}</span>
            <span class="connection">{h.connection}</span>
            <span class="message-id" title={s('messageNumberHelp')}>
              {fill(s('messageNumber'), { id: h.id })}
            </span>
          </p>
          {h.excerpt && <Excerpt text={h.excerpt} query={props.query} />}
        </li>
      ))}
    </ol>
  );
}

function ExportLinks(props: { filters: ArchiveFilters }) {
  return (
    <p class="export">
      <span>{s('exportTitle')}:</span>{' '}
      <a id="export-mbox" href={exportUrl(props.filters, 'mbox')} download="mailsluice-export.mbox">
        {s('exportMbox')}
      </a>{' '}
      <a id="export-zip" href={exportUrl(props.filters, 'zip')} download="mailsluice-export.zip">
        {s('exportZip')}
      </a>
    </p>
  );
}

/** The search section: the form, then what it found. */
export function ArchiveSearch(props: { filters: ArchiveFilters; onSessionEnded: () => void }) {
  const [found, setFound] = useState<Found | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [invalid, setInvalid] = useState<ReadonlySet<string>>(new Set());
  const [connections, setConnections] = useState<string[]>([]);
  // Searching the same filters again (the hash does not change): asked for by this counter.
  const [again, setAgain] = useState(0);
  const key = filtersQuery(props.filters);

  const failed = (err: unknown): void => {
    if (sessionEnded(err)) return props.onSessionEnded();
    setError(failureText(err));
    setInvalid(invalidFields(err));
  };

  useEffect(() => {
    listConnections().then((cs) => setConnections(cs.map((c) => c.name)), () => undefined);
  }, []);

  useEffect(() => {
    let current = true;
    setBusy(true);
    setError(null);
    setInvalid(new Set());
    setFound(null);
    searchMessages(props.filters, null)
      .then((p) => current && setFound(p), (err: unknown) => current && failed(err))
      .finally(() => current && setBusy(false));
    return () => {
      current = false;
    };
  }, [key, again]);

  const search = (f: ArchiveFilters): void => {
    const q = filtersQuery(f);
    const next = `#/archive${q ? `?${q}` : ''}`;
    if (next === location.hash || (next === '#/archive' && location.hash === '')) setAgain((n) => n + 1);
    else location.hash = next;
  };

  const more = async (): Promise<void> => {
    if (!found?.nextCursor) return;
    setBusy(true);
    try {
      const p = await searchMessages(props.filters, found.nextCursor);
      setFound({ hits: [...found.hits, ...p.hits], total: p.total, more: p.more, nextCursor: p.nextCursor, reindex: p.reindex });
    } catch (err) {
      failed(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <SearchForm filters={props.filters} connections={connections} invalid={invalid} onSearch={search} />
      <section class="archive-results" aria-labelledby="archive-results-title" aria-busy={busy ? 'true' : 'false'}>
        <h2 id="archive-results-title">{s('results')}</h2>
        {error && (
          <p class="error" role="alert" id="archive-error">
            {error}
          </p>
        )}
        <p role="status" id="archive-status" data-total={found ? String(found.total) : ''}>
          {busy && !found ? s('searching') : found ? (found.total === 0 ? s('noHits') : `${s('found')}: ${found.more ? `${s('foundMore')} ` : ''}${num(found.total)}`) : ''}
        </p>
        {found?.reindex && (
          <p class="note" id="archive-reindex">
            {fill(s('reindexing'), { done: num(found.reindex.done), total: num(found.reindex.total) })}
          </p>
        )}
        {found && found.hits.length > 0 && (
          <>
            <ExportLinks filters={props.filters} />
            <Hits found={found} query={props.filters.q} />
            {found.nextCursor && (
              <button type="button" id="archive-more" onClick={() => void more()} disabled={busy}>
                {busy ? s('loading') : s('more')}
              </button>
            )}
          </>
        )}
      </section>
    </>
  );
}
