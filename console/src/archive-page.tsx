/**
 * The Archive section (issue 15; role auditor and above): `#/archive?q=…` searches the archive
 * (archive-search.tsx), `#/archive/<archiveId>` shows one message (message-view.tsx).
 */
import { filtersOf, filtersQuery } from './api-archive.js';
import { ArchiveSearch } from './archive-search.js';
import { s } from './archive-strings.js';
import { MessageView } from './message-view.js';
import type { PageProps } from './page.js';
import { currentQuery } from './router.js';
import './archive.css';

/** The search the message view goes back to: the last one shown in this page's life. */
let lastSearch = '#/archive';

export function ArchivePage(props: PageProps) {
  const [archiveId] = props.path;
  if (archiveId) return <MessageView archiveId={archiveId} back={lastSearch} onSessionEnded={props.onSessionEnded} />;
  const filters = filtersOf(currentQuery());
  const q = filtersQuery(filters);
  lastSearch = `#/archive${q ? `?${q}` : ''}`;
  return (
    <section class="archive" aria-labelledby="page-title">
      <h1 id="page-title">{s('title')}</h1>
      <ArchiveSearch filters={filters} onSessionEnded={props.onSessionEnded} />
    </section>
  );
}
