/** The Audit page (issue 15): not built yet — a placeholder the shell links to. */
import type { PageProps } from './page.js';

export function AuditPage(_props: PageProps) {
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Audit</h1>
    </section>
  );
}
