/**
 * The Alerts page (Оповещения; issue 15): every rule of `alerts.rules` with its state (firing or
 * not, since when, last sent, last send error) as the running service last checked it, read
 * again every 5 s (`GET /api/v1/alerts`); for an admin, each rule's test (`POST …/{rule}/test`:
 * the result per channel) and its edit (`alert-form.tsx`).
 */
import { useState } from 'preact/hooks';
import { usePolled } from './use-polled.js';
import { sessionEnded } from './api.js';
import { listAlertsVersioned, testAlert, type Alert, type AlertTest } from './api-alerts.js';
import { AlertForm } from './alert-form.js';
import { as, type AlertsKey } from './alerts-strings.js';
import { fill } from './fill.js';
import { dateTime, errorText, failureText, num } from './i18n.js';
import { roleAllows, type PageProps } from './page.js';
import './alerts.css';
import { DataTable } from './data-table.js';

/** How often the rules' state is asked for again. */
const REFRESH_MS = 5000;

/** What a rule watches, in words: its threshold, then its subject. */
function settingsText(a: Alert): string {
  const order = ['minutes', 'days', 'freePercentBelow', 'connection', 'route'];
  const rank = (k: string): number => (order.includes(k) ? order.indexOf(k) : order.length);
  const parts = Object.entries(a.settings).sort(([x], [y]) => rank(x) - rank(y)).map(([k, v]) => fill(as(`setting.${k}` as AlertsKey) ?? `${k} {value}`, { value: typeof v === 'number' ? num(v, 2) : v }));
  if ((a.kind === 'connection-failing' || a.kind === 'connection-silent' || a.kind === 'certificate-expiry') && a.settings.connection === undefined) parts.push(as('everyConnection'));
  return parts.join(' · ');
}

function TestResult(props: { rule: string; result: AlertTest | 'running' | { error: string } }) {
  const r = props.result;
  const ok = typeof r === 'object' && 'results' in r ? String(r.results.every((x) => x.ok)) : '';
  return (
    <section id="alert-test-result" class="card wide" aria-live="polite" data-ok={ok} data-rule={props.rule}>
      <h2>{fill(as('testOf'), { rule: props.rule })}</h2>
      {r === 'running' && <p>{as('testing')}</p>}
      {typeof r === 'object' && 'error' in r && (
        <p class="error" role="alert">
          {r.error}
        </p>
      )}
      {typeof r === 'object' && 'results' in r && (
        <ul>
          {r.results.map((x) => (
            <li key={x.channel} data-channel={x.channel} data-ok={String(x.ok)} class={x.ok ? 'ok' : 'error'}>
              <strong>{x.channel}</strong>: {x.ok ? as('delivered') : `${as('notDelivered')} — ${x.code ? errorText(x.code, x.message ?? '') : (x.message ?? '')}`}
              {x.code && <code class="code"> {x.code}</code>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function AlertRow(props: { a: Alert; admin: boolean; onTest: () => void; onEdit: () => void }) {
  const a = props.a;
  return (
    <tr data-rule={a.rule} class={a.state === 'firing' ? 'attention' : ''}>
      <th scope="row">
        {a.rule}
        {!a.enabled && <span class="tag"> ({as('disabledRule')})</span>}
        <div class="sub">{as(`kind.${a.kind}` as AlertsKey)}</div>
      </th>
      <td data-field="state" data-label={as('state')} data-state={a.state}>
        {as(`state.${a.state}` as AlertsKey)}
        {a.since && <div class="sub">{fill(as('since'), { at: dateTime(a.since) })}</div>}
        {a.state === 'firing' && a.summary && <div class="sub">{a.summary}</div>}
      </td>
      <td data-field="settings" data-label={as('settings')}>
        {settingsText(a)}
      </td>
      <td data-field="channels" data-label={as('channels')}>
        {a.channels.join(', ')}
      </td>
      <td data-field="last-sent" data-label={as('lastSent')}>
        {a.lastSentAt ? dateTime(a.lastSentAt) : as('never')}
      </td>
      <td data-field="last-error" data-label={as('lastError')}>
        {a.lastError ? `${a.lastError.channel}: ${errorText(a.lastError.code, a.lastError.message)} (${a.lastError.code})` : ''}
      </td>
      <td data-field="actions">
        {props.admin && (
          <>
            <button type="button" class="test-alert" onClick={props.onTest}>
              {as('test')}
            </button>{' '}
            <button type="button" class="edit-alert" onClick={props.onEdit}>
              {as('edit')}
            </button>
          </>
        )}
      </td>
    </tr>
  );
}

/** The rules, one row each, with Test and Edit for an admin. */
function AlertTable(props: { alerts: Alert[]; admin: boolean; onTest: (rule: string) => void; onEdit: (rule: string) => void }) {
  return (
    <DataTable labelledBy="page-title" columns={[as('rule'), as('state'), as('settings'), as('channels'), as('lastSent'), as('lastError'), as('actions')]}>
      {props.alerts.map((a) => (
        <AlertRow key={a.rule} a={a} admin={props.admin} onTest={() => props.onTest(a.rule)} onEdit={() => props.onEdit(a.rule)} />
      ))}
    </DataTable>
  );
}

/** The Alerts page: the rules and their state, kept fresh; Test and Edit for an admin. */
export function AlertsPage(props: PageProps) {
  const admin = roleAllows(props.role, 'admin');
  const [editing, setEditing] = useState<string | null>(null);
  // The version the form's edit is made against: the file's as read when the form opened.
  const [editEtag, setEditEtag] = useState<string | null>(null);
  // A key, not a sentence: the notice follows a change of language.
  const [notice, setNotice] = useState<AlertsKey | null>(null);
  const [test, setTest] = useState<{ rule: string; result: AlertTest | 'running' | { error: string } } | null>(null);
  const [tick, setTick] = useState(0);
  const polled = usePolled(listAlertsVersioned, props.onSessionEnded, tick, REFRESH_MS);
  const alerts = polled.value?.alerts ?? null;
  const etag = polled.value?.etag ?? null;
  const error = polled.error;

  const runTest = async (rule: string): Promise<void> => {
    setTest({ rule, result: 'running' });
    try {
      setTest({ rule, result: await testAlert(rule) });
    } catch (err) {
      if (sessionEnded(err)) return props.onSessionEnded();
      setTest({ rule, result: { error: failureText(err) } });
    }
    setTick((t) => t + 1);
  };

  const editingAlert = alerts?.find((a) => a.rule === editing) ?? null;

  return (
    <section class="alerts-page" aria-labelledby="page-title">
      <h1 id="page-title">{as('title')}</h1>
      <p class="help">{as('intro')}</p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {notice && (
        <p id="alert-notice" class="ok" role="status">
          {as(notice)}
        </p>
      )}
      {alerts && alerts.length === 0 && <p>{as('none')}</p>}
      {alerts && alerts.length > 0 && (
        <AlertTable
          alerts={alerts}
          admin={admin}
          onTest={(rule) => void runTest(rule)}
          onEdit={(rule) => {
            setNotice(null);
            setEditing(rule);
            setEditEtag(etag);
          }}
        />
      )}
      {admin && editingAlert && (
        <AlertForm
          key={editingAlert.rule}
          alert={editingAlert}
          etag={editEtag}
          onSessionEnded={props.onSessionEnded}
          onDone={(message) => {
            setEditing(null);
            setNotice(message);
            setTick((t) => t + 1);
          }}
        />
      )}
      {test && <TestResult rule={test.rule} result={test.result} />}
    </section>
  );
}
