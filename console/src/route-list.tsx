/**
 * The routes list (`#/routes`): each route's name (a link to its page), connection, bus number,
 * whether it is enabled, its description and its scenario in short; an admin is offered "New route".
 */
import { NEW_SEGMENT } from './page.js';
import { useEffect, useState } from 'preact/hooks';
import { sessionEnded } from './api.js';
import { listRoutes, type Route } from './api-routes.js';
import { failureText, num } from './i18n.js';
import { href } from './router.js';
import { scenarioSummary } from './route-model.js';
import { rs } from './routes-strings.js';
import { DataTable } from './data-table.js';

/** The routes' table. */
export function RouteList(props: { admin: boolean; onSessionEnded: () => void }) {
  const [routes, setRoutes] = useState<Route[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    listRoutes().then(setRoutes, (err) => {
      if (sessionEnded(err)) props.onSessionEnded();
      else setError(failureText(err));
    });
  }, []);
  return (
    <section aria-labelledby="page-title" class="routes-page">
      <div class="page-head">
        <h1 id="page-title">{rs('title')}</h1>
        {props.admin && (
          <a class="button" id="new-route" href={href('routes', NEW_SEGMENT)}>
            {rs('newRoute')}
          </a>
        )}
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {routes === null && !error && <p role="status">{rs('loading')}</p>}
      {routes !== null && routes.length === 0 && <p class="help">{rs('noRoutes')}</p>}
      {routes !== null && routes.length > 0 && (
        <DataTable id="routes-table" columns={[rs('name'), rs('connection'), { label: rs('bus'), num: true }, rs('enabled'), rs('description'), rs('scenario')]}>
          {routes.map((r) => (
            <tr key={r.name} data-route={r.name}>
              <td data-label={rs('name')} data-field="name">
                <a href={href('routes', r.name)}>{r.name}</a>
              </td>
              <td data-label={rs('connection')} data-field="connection">
                {r.connection}
              </td>
              <td data-label={rs('bus')} data-field="bus" class="num">
                {num(r.bus)}
              </td>
              <td data-label={rs('enabled')} data-field="enabled" data-value={String(r.enabled)}>
                {r.enabled ? rs('enabledYes') : rs('enabledNo')}
              </td>
              <td data-label={rs('description')}>{r.description}</td>
              <td data-label={rs('scenario')} data-field="scenario" class="scenario-summary">
                {scenarioSummary(r.scenario)}
              </td>
            </tr>
          ))}
        </DataTable>
      )}
    </section>
  );
}
