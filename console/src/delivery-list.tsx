/**
 * Deliveries, across routes (`GET /api/v1/deliveries`, filtered by state and route) or of one
 * route (`GET /api/v1/routes/{name}/deliveries`), a keyset-cursor page at a time ("More").
 * Dead letters show their last error; an admin retries one, or every dead letter of a route.
 * While something shown is pending, the first page is read again every few seconds.
 */
import { useEffect, useState } from 'preact/hooks';
import { sessionEnded } from './api.js';
import { listDeliveries, retryDeliveries, type Delivery, type DeliveryQuery, type DeliveryState } from './api-routes.js';
import { dateTime, failureText, num } from './i18n.js';
import { ds } from './deliveries-strings.js';
import { DataTable } from './data-table.js';

interface Props {
  /** One route's own list when set and `own`; else the route the list across routes starts filtered by. */
  route?: string | undefined;
  own?: boolean;
  /** The routes to filter by (the list across routes). */
  routes?: string[];
  state?: DeliveryState | undefined;
  /** Deliveries per page (the API's default when absent). */
  limit?: number | undefined;
  admin: boolean;
  onSessionEnded: () => void;
}

const STATES: DeliveryState[] = ['pending', 'done', 'dead'];
const REFRESH_MS = 2000;

/** The message id of a delivery (`<connection>.<route>.<message id>`). */
const messageOf = (d: Delivery): string => String(d.messageId ?? d.id.split('.').pop());

function Row(props: { d: Delivery; admin: boolean; onRetry: (d: Delivery) => void }) {
  const { d } = props;
  return (
    <tr data-delivery={d.id} data-state={d.state} data-route={d.route} class={d.state === 'dead' ? 'attention' : undefined}>
      <td data-label={ds('message')} data-field="message">
        {messageOf(d)}
      </td>
      <td data-label={ds('route')} data-field="route">
        {d.route}
      </td>
      <td data-label={ds('connection')}>{d.connection}</td>
      <td data-label={ds('bus')} class="num">
        {num(d.bus)}
      </td>
      <td data-label={ds('state')} data-field="state">
        {ds(`state.${d.state}`)}
      </td>
      <td data-label={ds('step')} class="num">
        {num(d.step + 1)}
      </td>
      <td data-label={ds('attempts')} class="num" data-field="attempts">
        {num(d.attempts)}
      </td>
      <td data-label={ds('lastError')} data-field="lastError" class="last-error">
        {d.lastError ?? ''}
      </td>
      <td data-label={ds('created')}>{dateTime(d.createdAt)}</td>
      <td data-label={ds('done')}>{d.doneAt ? dateTime(d.doneAt) : ''}</td>
      {props.admin && (
        <td data-label={ds('actions')}>
          {d.state === 'dead' && (
            <button type="button" class="retry-one" aria-label={`${ds('retry')}: ${ds('message')} ${messageOf(d)}, ${d.route}`} onClick={() => props.onRetry(d)}>
              {ds('retry')}
            </button>
          )}
        </td>
      )}
    </tr>
  );
}

/** The state and route filters, Refresh, and an admin's Retry of a route's dead letters. */
function Filters(props: {
  idPrefix: string;
  own: boolean;
  admin: boolean;
  routes: string[];
  state: DeliveryState | '';
  route: string;
  onState: (s: DeliveryState | '') => void;
  onRoute: (r: string) => void;
  onRefresh: () => void;
  onRetryAll: () => void;
}) {
  return (
    <div class="filters" role="group" aria-label={ds('filters')}>
      <label for={`${props.idPrefix}-state`}>{ds('state')}</label>
      <select id={`${props.idPrefix}-state`} value={props.state} onChange={(e) => props.onState((e.currentTarget as HTMLSelectElement).value as DeliveryState | '')}>
        <option value="">{ds('anyState')}</option>
        {STATES.map((s) => (
          <option key={s} value={s}>
            {ds(`state.${s}`)}
          </option>
        ))}
      </select>
      {!props.own && (
        <>
          <label for={`${props.idPrefix}-route`}>{ds('route')}</label>
          <select id={`${props.idPrefix}-route`} value={props.route} onChange={(e) => props.onRoute((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">{ds('anyRoute')}</option>
            {[...new Set([...props.routes, ...(props.route ? [props.route] : [])])].map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </>
      )}
      <button type="button" id={`${props.idPrefix}-refresh`} onClick={props.onRefresh}>
        {ds('refresh')}
      </button>
      {props.admin && props.route && (
        <button type="button" id={`${props.idPrefix}-retry-all`} onClick={props.onRetryAll}>
          {ds('retryAll')}
        </button>
      )}
    </div>
  );
}

/** The deliveries shown, a row each. */
function Table(props: { idPrefix: string; rows: Delivery[]; admin: boolean; onRetry: (d: Delivery) => void }) {
  return (
    <DataTable id={`${props.idPrefix}-table`} columns={[ds('message'), ds('route'), ds('connection'), { label: ds('bus'), num: true }, ds('state'), { label: ds('step'), num: true }, { label: ds('attempts'), num: true }, ds('lastError'), ds('created'), ds('done'), props.admin && ds('actions')]}>
      {props.rows.map((d) => (
        <Row key={d.id} d={d} admin={props.admin} onRetry={props.onRetry} />
      ))}
    </DataTable>
  );
}

/** The deliveries a filter lists, page by page: read again while one shown is pending. */
function useDeliveryPages(query: DeliveryQuery, tick: number, failed: (err: unknown) => void, loaded: () => void) {
  const [rows, setRows] = useState<Delivery[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [again, setAgain] = useState(0);

  useEffect(() => {
    let live = true;
    listDeliveries(query).then(
      (p) => {
        if (!live) return;
        loaded();
        setRows(p.deliveries);
        setNext(p.next);
      },
      (err) => live && failed(err),
    );
    return () => {
      live = false;
    };
  }, [query.state, query.route, tick, again]);

  // Pending deliveries move on by themselves: read the first page again while one is shown (and no later page was asked for).
  const waiting = rows !== null && rows.some((d) => d.state === 'pending') && next === null;
  useEffect(() => {
    if (!waiting) return;
    const timer = setTimeout(() => setAgain((t) => t + 1), REFRESH_MS);
    return () => clearTimeout(timer);
  }, [waiting, rows]);

  const more = async (): Promise<void> => {
    try {
      const p = await listDeliveries({ ...query, cursor: next });
      setRows([...(rows ?? []), ...p.deliveries]);
      setNext(p.next);
    } catch (err) {
      failed(err);
    }
  };
  return { rows, next, more };
}

/** The filters, the table, More, and Retry for an admin. */
export function DeliveryList(props: Props) {
  const [state, setState] = useState<DeliveryState | ''>(props.state ?? '');
  const [route, setRoute] = useState(props.route ?? '');
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [tick, setTick] = useState(0);

  const failed = (err: unknown): void => {
    if (sessionEnded(err)) props.onSessionEnded();
    else setError(failureText(err));
  };
  const query = { state: state || undefined, route: route || undefined, own: props.own === true, ...(props.limit ? { limit: props.limit } : {}) };
  const { rows, next, more } = useDeliveryPages(query, tick, failed, () => setError(null));

  const retry = async (target: string, ids?: string[]): Promise<void> => {
    setNotice(null);
    try {
      const r = await retryDeliveries(target, ids);
      setNotice(`${ds('retried')} ${num(r.replayed)}`);
      setTick((t) => t + 1);
    } catch (err) {
      failed(err);
    }
  };

  const idPrefix = props.own ? 'route-deliveries' : 'deliveries';
  return (
    <div class="deliveries">
      <Filters
        idPrefix={idPrefix}
        own={props.own === true}
        admin={props.admin}
        routes={props.routes ?? []}
        state={state}
        route={route}
        onState={setState}
        onRoute={setRoute}
        onRefresh={() => setTick((t) => t + 1)}
        onRetryAll={() => void retry(route)}
      />
      {notice && (
        <p class="ok" role="status" id={`${idPrefix}-notice`}>
          {notice}
        </p>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {rows !== null && rows.length === 0 && <p class="help">{ds('none')}</p>}
      {rows !== null && rows.length > 0 && <Table idPrefix={idPrefix} rows={rows} admin={props.admin} onRetry={(x) => void retry(x.route, [x.id])} />}
      {next && (
        <button type="button" id={`${idPrefix}-more`} onClick={more}>
          {ds('more')}
        </button>
      )}
    </div>
  );
}
