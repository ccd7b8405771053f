/** The Connections page (issue 15): not built yet — a placeholder the shell links to. */
import type { PageProps } from './page.js';

export function ConnectionsPage(_props: PageProps) {
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Connections</h1>
    </section>
  );
}
