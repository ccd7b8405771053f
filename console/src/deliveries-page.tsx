/**
 * The Deliveries page (`#/deliveries`, issue 15): every route's deliveries with their filters
 * (state, dead letters included; route), paged by the API's cursor; an admin retries dead
 * letters. `#/deliveries?state=dead&route=<name>&limit=50` opens it filtered, 50 a page.
 */
import { useEffect, useState } from 'preact/hooks';
import { sessionEnded } from './api.js';
import { listRoutes, type DeliveryState } from './api-routes.js';
import { roleAllows, type PageProps } from './page.js';
import { currentQuery } from './router.js';
import { DeliveryList } from './delivery-list.js';
import { ds } from './deliveries-strings.js';
import './routes.css';

const STATES: readonly string[] = ['pending', 'done', 'dead'];

/** The section: deliveries across routes, filtered as the hash's query says. */
export function DeliveriesPage(props: PageProps) {
  const [routes, setRoutes] = useState<string[]>([]);
  const q = currentQuery();
  const limit = Number(q.get('limit')) || undefined;
  const state = STATES.includes(q.get('state') ?? '') ? (q.get('state') as DeliveryState) : undefined;
  useEffect(() => {
    listRoutes().then(
      (r) => setRoutes(r.map((x) => x.name)),
      (err) => {
        // The list still works without the route names; only an ended session matters here.
        if (sessionEnded(err)) props.onSessionEnded();
      },
    );
  }, []);
  return (
    <section aria-labelledby="page-title" class="deliveries-page">
      <h1 id="page-title">{ds('title')}</h1>
      <DeliveryList routes={routes} route={q.get('route') ?? undefined} state={state} limit={limit} admin={roleAllows(props.role, 'admin')} onSessionEnded={props.onSessionEnded} />
    </section>
  );
}
