/**
 * The list of connections (`#/connections`): each with its protocol, server, whether it is
 * enabled and its runner's state (`GET /api/v1/connections`, then each one's status), linked to
 * its page; an admin is offered "New connection".
 */
import { NEW_SEGMENT } from './page.js';
import { useEffect, useState } from 'preact/hooks';
import { connectionAddress, connectionStatus, listConnections, sessionEnded, type Connection, type ConnectionStatus } from './api.js';
import { href } from './router.js';
import { failureText, t, type Key } from './i18n.js';
import { s } from './connections-strings.js';
import { DataTable } from './data-table.js';

/** The state as the dashboard words it (`state.*` of i18n.ts). */
export function stateText(st: ConnectionStatus | null): string {
  return t(`state.${st?.state ?? 'none'}` as Key) ?? st?.state ?? '';
}

export function ConnectionsList(props: { admin: boolean; onSessionEnded: () => void }) {
  const [rows, setRows] = useState<Array<{ c: Connection; st: ConnectionStatus | null }> | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let gone = false;
    (async () => {
      try {
        const list = await listConnections();
        const statuses = await Promise.all(list.map((c) => connectionStatus(c.name).catch(() => null)));
        if (!gone) setRows(list.map((c, i) => ({ c, st: statuses[i] ?? null })));
      } catch (err) {
        if (sessionEnded(err)) return props.onSessionEnded();
        if (!gone) setError(failureText(err));
      }
    })();
    return () => {
      gone = true;
    };
  }, []);

  return (
    <section class="connections" aria-labelledby="page-title">
      <h1 id="page-title">{s('title')}</h1>
      {props.admin && (
        <p>
          <a id="new-connection" class="button" href={href('connections', NEW_SEGMENT)}>
            {s('newConnection')}
          </a>
        </p>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {!rows && !error && <p>{s('loading')}</p>}
      {rows && rows.length === 0 && <p>{s('none')}</p>}
      {rows && rows.length > 0 && (
        <DataTable id="connections-list" labelledBy="page-title" columns={[s('colName'), s('colProtocol'), s('colAddress'), s('colEnabled'), s('colState')]}>
          {rows.map(({ c, st }) => (
            <tr key={c.name} data-connection={c.name}>
              <th scope="row">
                <a href={href('connections', c.name)}>{c.name}</a>
              </th>
              <td data-field="protocol" data-label={s('colProtocol')}>
                {c.protocol}
              </td>
              <td data-field="address" data-label={s('colAddress')}>
                {connectionAddress(c)}
              </td>
              <td data-field="enabled" data-label={s('colEnabled')} data-value={String(c.enabled)}>
                {c.enabled ? s('yes') : s('no')}
              </td>
              <td data-field="state" data-label={s('colState')} data-state={st?.state ?? 'none'}>
                {stateText(st)}
              </td>
            </tr>
          ))}
        </DataTable>
      )}
    </section>
  );
}
