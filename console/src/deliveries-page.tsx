/** The Deliveries page (issue 15): not built yet — a placeholder the shell links to. */
import type { PageProps } from './page.js';

export function DeliveriesPage(_props: PageProps) {
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Deliveries</h1>
    </section>
  );
}
