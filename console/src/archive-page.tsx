/** The Archive page (issue 15): not built yet — a placeholder the shell links to. */
import type { PageProps } from './page.js';

export function ArchivePage(_props: PageProps) {
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Archive</h1>
    </section>
  );
}
