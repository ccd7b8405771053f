/**
 * The Routes section (issue 15): `#/routes` lists them, `#/routes/new-` is the form of a new
 * one, `#/routes/<name>` a route's form (its actions for an admin) and its own deliveries.
 */
import type { PageProps } from './page.js';
import { NEW_SEGMENT, roleAllows } from './page.js';
import { href } from './router.js';
import { RouteList } from './route-list.js';
import { RouteFormView } from './route-form.js';
import { DeliveryList } from './delivery-list.js';
import { rs } from './routes-strings.js';
import './routes.css';

/** The section by its path: the list, a new route, or a route. */
export function RoutesPage(props: PageProps) {
  const admin = roleAllows(props.role, 'admin');
  const [first] = props.path;
  if (first === undefined) return <RouteList admin={admin} onSessionEnded={props.onSessionEnded} />;
  const name = first === NEW_SEGMENT ? null : first;
  return (
    <section aria-labelledby="page-title" class="route-page">
      <p>
        <a href={href('routes')} id="back-to-routes">
          ← {rs('backToList')}
        </a>
      </p>
      <h1 id="page-title">{name ?? rs('newTitle')}</h1>
      {/* Keyed by the name: another route's page starts from its own state. */}
      <RouteFormView key={first} name={name} admin={admin} onSessionEnded={props.onSessionEnded} />
      {name && (
        <section aria-labelledby="route-deliveries-title" class="route-deliveries">
          <h2 id="route-deliveries-title">{rs('deliveriesOf')}</h2>
          <DeliveryList key={name} route={name} own admin={admin} onSessionEnded={props.onSessionEnded} />
        </section>
      )}
    </section>
  );
}
