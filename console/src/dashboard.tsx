/**
 * The dashboard: what needs attention first (`attention.tsx`: connections in error or failing,
 * alerts firing), every configured connection with its state, messages taken, backlog on the
 * server, rate and last error, and the messages taken per minute of the last hour
 * (`throughput-chart.tsx`), asked of the API every 2 s (`GET /api/v1/connections`, then each
 * one's status, `GET /api/v1/alerts`, `GET /api/v1/stats/throughput`). A 401 means the session
 * ended (idle, signed out elsewhere, token revoked, a restart): the app goes back to sign-in and
 * says so.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, connectionStatus, listConnections, logDownloadUrl, runNow, testConnection, type Connection, type ConnectionStatus, type ConnectionTest } from './api.js';
import { ConnectionTestResult } from './connection-test.js';
import { errorText, num, t, time, type Key } from './i18n.js';
import { listAlerts, type Alert } from './api-alerts.js';
import { throughput, type Throughput } from './api-stats.js';
import { AttentionPanel, attentionItems, type StatusSeen } from './attention.js';
import { ThroughputChart } from './throughput-chart.js';
import './dashboard.css';

/** How often the figures are asked for again. */
export const REFRESH_MS = 2000;

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

export function Dashboard(props: { onSessionEnded: () => void; admin: boolean }) {
  const [rows, setRows] = useState<Row[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [at, setAt] = useState<Date | null>(null);
  const [started, setStarted] = useState<Record<string, string>>({});
  const [alerts, setAlerts] = useState<Alert[] | null>(null);
  const [chart, setChart] = useState<{ data: Throughput | null; failed: boolean }>({ data: null, failed: false });
  const [test, setTest] = useState<{ name: string; result: ConnectionTest | 'running' | { error: string } } | null>(null);

  const runTest = async (name: string): Promise<void> => {
    setTest({ name, result: 'running' });
    try {
      setTest({ name, result: await testConnection(name) });
    } catch (err) {
      if (err instanceof ApiFailure && err.error.status === 401) return props.onSessionEnded();
      setTest({ name, result: { error: err instanceof ApiFailure ? `${errorText(err.error.code, err.error.message)} (${err.error.code})` : String(err) } });
    }
  };

  const run = async (name: string): Promise<void> => {
    try {
      await runNow(name);
      setStarted((s) => ({ ...s, [name]: 'ok' }));
    } catch (err) {
      if (err instanceof ApiFailure && err.error.status === 401) return props.onSessionEnded();
      setStarted((s) => ({ ...s, [name]: err instanceof ApiFailure ? `${errorText(err.error.code, err.error.message)} (${err.error.code})` : String(err) }));
    }
  };

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async (): Promise<void> => {
      try {
        const connections = await listConnections();
        // The alerts and the chart are read beside the statuses; either failing leaves the rest shown.
        const [statuses, alerts, taken] = await Promise.all([
          Promise.all(connections.map((c) => connectionStatus(c.name).catch(() => null))),
          listAlerts().catch(() => []),
          throughput(60).catch(() => null),
        ]);
        if (stopped) return;
        const all = connections.map((connection, i) => ({ connection, status: statuses[i] ?? null }));
        setRows(attentionFirst(all));
        setAlerts(alerts);
        setChart((c) => (taken ? { data: taken, failed: false } : { data: c.data, failed: true }));
        setError(null);
        setAt(new Date());
      } catch (err) {
        if (stopped) return;
        if (err instanceof ApiFailure && err.error.status === 401) {
          props.onSessionEnded();
          return;
        }
        setError(err instanceof ApiFailure && err.error.status > 0 ? errorText(err.error.code, err.error.message) : t('cannotReach'));
      }
      // The next load is asked for only after this one answered: a slow service is never piled on.
      if (!stopped) timer = setTimeout(load, REFRESH_MS);
    };
    void load();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);

  return (
    <section class="dashboard" aria-labelledby="dashboard-title">
      <h1 id="dashboard-title">{t('dashboard')}</h1>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {/* Worded at each render: a change of language shows at once. */}
      <AttentionPanel items={rows && alerts ? attentionItems(rows, alerts) : null} />
      <h2 id="connections-title">{t('connections')}</h2>
      {rows && rows.length === 0 && <p>{t('noConnections')}</p>}
      {rows && rows.length > 0 && (
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
              {rows.map(({ connection: c, status: s }) => (
                <tr key={c.name} data-connection={c.name} class={s?.lastError ? 'attention' : ''}>
                  <th scope="row">
                    {c.name}
                    {!c.enabled && <span class="tag"> ({t('disabled')})</span>}
                    <div class="sub">
                      {c.protocol} {c.host}:{c.port}
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
                        <button type="button" class="run-now" disabled={!c.enabled} onClick={() => void run(c.name)}>
                          {t('runNow')}
                        </button>{' '}
                        <button type="button" class="test-connection" onClick={() => void runTest(c.name)}>
                          {t('testConnection')}
                        </button>{' '}
                      </>
                    )}
                    <a class="download-log" href={logDownloadUrl(c.name)} download={`${c.name}.log`}>
                      {t('downloadLog')}
                    </a>{' '}
                      {started[c.name] && (
                        <span role="status" class={started[c.name] === 'ok' ? 'ok' : 'error'}>
                          {started[c.name] === 'ok' ? t('runStarted') : started[c.name]}
                        </span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {test && <ConnectionTestResult name={test.name} result={test.result} />}
      <ThroughputChart data={chart.data} failed={chart.failed} />
      {at && (
        <p class="updated" aria-live="off">
          {t('updated')} {time(at)}
        </p>
      )}
    </section>
  );
}
