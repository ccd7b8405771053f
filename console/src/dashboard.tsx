/**
 * The dashboard: what needs attention first (`attention.tsx`: connections in error or failing,
 * alerts firing), every configured connection with its state, messages taken, backlog on the
 * server, rate and last error, and the messages taken per minute of the last hour
 * (`throughput-chart.tsx`), asked of the API every 2 s (`GET /api/v1/connections`, then each
 * one's status, `GET /api/v1/alerts`, `GET /api/v1/stats/throughput`). A 401 means the session
 * ended (idle, signed out elsewhere, token revoked, a restart): the app goes back to sign-in and
 * says so.
 */
import { useRef, useState } from 'preact/hooks';
import { connectionAddress, connectionStatus, listConnections, logDownloadUrl, runNow, sessionEnded, type Connection, type ConnectionStatus } from './api.js';
import { ConnectionTestResult, useConnectionTest } from './connection-test.js';
import { failureText, num, t, time, type Key } from './i18n.js';
import { usePolled } from './use-polled.js';
import { listAlerts, type Alert } from './api-alerts.js';
import { throughput, type Throughput } from './api-stats.js';
import { AttentionPanel, attentionItems, type StatusSeen } from './attention.js';
import { ThroughputChart } from './throughput-chart.js';
import './dashboard.css';

interface Row {
  connection: Connection;
  status: StatusSeen | null;
}

/** What needs attention comes first: an error state or a last error, then the rest in configured order. */
function attentionFirst(rows: Row[]): Row[] {
  const needs = (r: Row): number => (r.status?.state === 'error' || r.status?.state === 'disk-full' ? 0 : r.status?.lastError ? 1 : 2);
  return rows.map((r, i) => ({ r, i })).sort((a, b) => needs(a.r) - needs(b.r) || a.i - b.i).map((x) => x.r);
}

function stateLabel(s: ConnectionStatus | null): string {
  const key = `state.${s?.state ?? 'none'}` as Key;
  return t(key) ?? s?.state ?? '';
}

/** One load of the dashboard: the connections with their statuses, the alerts, the last hour's throughput. */
interface Loaded {
  rows: Row[];
  alerts: Alert[];
  taken: Throughput | null;
}

async function loadDashboard(): Promise<Loaded> {
  const connections = await listConnections();
  // The alerts and the chart are read beside the statuses; either failing leaves the rest shown.
  const [statuses, alerts, taken] = await Promise.all([
    Promise.all(connections.map((c) => connectionStatus(c.name).catch(() => null))),
    listAlerts().catch(() => []),
    throughput(60).catch(() => null),
  ]);
  return { rows: attentionFirst(connections.map((connection, i) => ({ connection, status: statuses[i] ?? null }))), alerts, taken };
}

/** What an admin's button on a row did: `ok`, or the failure's sentence. */
type Outcomes = Record<string, string>;

/** One connection's row: its figures (each cell with its label for a narrow screen) and its actions. */
function ConnectionRow(props: { row: Row; admin: boolean; outcome: string | undefined; onRun: (name: string) => void; onTest: (name: string) => void }) {
  const { connection: c, status: s } = props.row;
  return (
    <tr data-connection={c.name} class={s?.lastError ? 'attention' : ''}>
      <th scope="row">
        {c.name}
        {!c.enabled && <span class="tag"> ({t('disabled')})</span>}
        <div class="sub">
          {c.protocol} {connectionAddress(c)}
        </div>
      </th>
      <td data-field="state" data-label={t('state')} data-state={s?.state ?? 'none'}>
        {stateLabel(s)}
      </td>
      <td class="num" data-field="taken" data-label={t('taken')} data-value={s?.taken ?? ''}>
        {s ? num(s.taken) : '—'}
      </td>
      <td class="num" data-field="backlog" data-label={t('backlog')} data-value={s?.backlog ?? ''}>
        {s ? num(s.backlog) : '—'}
      </td>
      <td class="num" data-field="rate" data-label={t('rate')}>
        {s ? num(s.rateLastMinute, 1) : '—'}
      </td>
      <td data-field="last-error" data-label={t('lastError')}>{s?.lastError ? `${s.lastError.code}: ${s.lastError.message}` : ''}</td>
      <td data-field="actions">
        {props.admin && (
          <>
            <button type="button" class="run-now" disabled={!c.enabled} onClick={() => props.onRun(c.name)}>
              {t('runNow')}
            </button>{' '}
            <button type="button" class="test-connection" onClick={() => props.onTest(c.name)}>
              {t('testConnection')}
            </button>{' '}
          </>
        )}
        <a class="download-log" href={logDownloadUrl(c.name)} download={`${c.name}.log`}>
          {t('downloadLog')}
        </a>{' '}
        {props.outcome && (
          <span role="status" class={props.outcome === 'ok' ? 'ok' : 'error'}>
            {props.outcome === 'ok' ? t('runStarted') : props.outcome}
          </span>
        )}
      </td>
    </tr>
  );
}

/** The connections' table, what needs attention first. */
function ConnectionTable(props: { rows: Row[]; admin: boolean; outcomes: Outcomes; onRun: (name: string) => void; onTest: (name: string) => void }) {
  return (
    <div class="table-wrap">
      <table aria-labelledby="connections-title">
        <thead>
          <tr>
            <th scope="col">{t('connection')}</th>
            <th scope="col">{t('state')}</th>
            <th scope="col" class="num">{t('taken')}</th>
            <th scope="col" class="num">{t('backlog')}</th>
            <th scope="col" class="num">{t('rate')}</th>
            <th scope="col">{t('lastError')}</th>
            <th scope="col">{t('actions')}</th>
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r) => (
            <ConnectionRow key={r.connection.name} row={r} admin={props.admin} outcome={props.outcomes[r.connection.name]} onRun={props.onRun} onTest={props.onTest} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The dashboard page. */
export function Dashboard(props: { onSessionEnded: () => void; admin: boolean }) {
  const polled = usePolled(loadDashboard, props.onSessionEnded);
  const [outcomes, setOutcomes] = useState<Outcomes>({});
  const [test, runTest] = useConnectionTest(props.onSessionEnded);
  // The chart keeps the last hour it had when a refresh of it fails (said beside it).
  const lastChart = useRef<Throughput | null>(null);
  if (polled.value?.taken) lastChart.current = polled.value.taken;

  const run = async (name: string): Promise<void> => {
    try {
      await runNow(name);
      setOutcomes((o) => ({ ...o, [name]: 'ok' }));
    } catch (err) {
      if (sessionEnded(err)) return props.onSessionEnded();
      setOutcomes((o) => ({ ...o, [name]: failureText(err) }));
    }
  };

  const rows = polled.value?.rows ?? null;
  return (
    <section class="dashboard" aria-labelledby="dashboard-title">
      <h1 id="dashboard-title">{t('dashboard')}</h1>
      {polled.error && (
        <p class="error" role="alert">
          {polled.error}
        </p>
      )}
      {/* Worded at each render: a change of language shows at once. */}
      <AttentionPanel items={polled.value ? attentionItems(polled.value.rows, polled.value.alerts) : null} />
      <h2 id="connections-title">{t('connections')}</h2>
      {rows && rows.length === 0 && <p>{t('noConnections')}</p>}
      {rows && rows.length > 0 && <ConnectionTable rows={rows} admin={props.admin} outcomes={outcomes} onRun={(n) => void run(n)} onTest={(n) => void runTest(n)} />}
      {test && <ConnectionTestResult name={test.name} result={test.view} />}
      <ThroughputChart data={lastChart.current} failed={polled.value !== null && polled.value.taken === null} />
      {polled.at && (
        <p class="updated" aria-live="off">
          {t('updated')} {time(polled.at)}
        </p>
      )}
    </section>
  );
}
