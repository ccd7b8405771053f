/**
 * The Connections section (issue 15): `#/connections` lists them, `#/connections/new-` is the
 * form of a new one (admin), `#/connections/<name>` a connection's page: its status, its actions
 * (admin) and the form of every setting (read-only below admin).
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, connectionStatus, sessionEnded, type ConnectionStatus } from './api.js';
import { getConnection, type ConnectionDetail } from './api-connections.js';
import { ConnectionActions } from './connection-actions.js';
import { ConnectionForm } from './connection-form.js';
import { valuesOf } from './connection-fields.js';
import { ConnectionsList, stateText } from './connections-list.js';
import { s } from './connections-strings.js';
import { failureText, num, t } from './i18n.js';
import { NEW_SEGMENT, roleAllows, type PageProps } from './page.js';
import { href, navigate } from './router.js';
import './connections.css';

function BackLink() {
  return (
    <p class="back">
      <a href={href('connections')}>← {s('backToList')}</a>
    </p>
  );
}

function NewConnection(props: { onSessionEnded: () => void }) {
  return (
    <section class="connection" aria-labelledby="page-title">
      <BackLink />
      <h1 id="page-title">{s('newTitle')}</h1>
      <ConnectionForm readOnly={false} onSaved={(name) => navigate('connections', name)} onSessionEnded={props.onSessionEnded} />
    </section>
  );
}

function ConnectionView(props: { name: string; admin: boolean; onSessionEnded: () => void }) {
  // `loads` keys the form: every read starts it again from what is stored (a secret saved keeps the file, and its version, as it was).
  const [data, setData] = useState<{ connection: ConnectionDetail; etag: string | null; status: ConnectionStatus | null; loads: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);

  const load = async (): Promise<void> => {
    try {
      const [got, status] = await Promise.all([getConnection(props.name), connectionStatus(props.name).catch(() => null)]);
      setData((old) => ({ ...got, status, loads: (old?.loads ?? 0) + 1 }));
      setError(null);
    } catch (err) {
      if (sessionEnded(err)) return props.onSessionEnded();
      setError(err instanceof ApiFailure && err.error.status === 404 ? s('notFound') : failureText(err));
    }
  };
  useEffect(() => {
    void load();
  }, [props.name]);

  const c = data?.connection;
  return (
    <section class="connection" aria-labelledby="page-title">
      <BackLink />
      <h1 id="page-title">
        {s('editTitle')} {props.name}
      </h1>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {!data && !error && <p>{s('loading')}</p>}
      {c && (
        <>
          <p class="status-line" id="connection-status" data-state={data.status?.state ?? 'none'} data-enabled={String(c.enabled)}>
            {s('statusLine')}: {c.enabled ? stateText(data.status) : t('disabled')}
            {data.status && ` · ${t('taken')}: ${num(data.status.taken)}`}
            {data.status?.lastError && ` · ${t('lastError')}: ${data.status.lastError.code}`}
          </p>
          <ConnectionActions name={c.name} enabled={c.enabled} admin={props.admin} onChanged={() => void load()} onSessionEnded={props.onSessionEnded} />
          {c.settings && (
            <ConnectionForm
              key={data.loads}
              edit={{ name: c.name, values: valuesOf(c, c.settings), etag: data.etag, secretsSet: c.settings.secretsSet }}
              readOnly={!props.admin}
              notice={saved ? s('saved') : null}
              onSaved={() => {
                setSaved(true);
                void load();
              }}
              onReload={() => {
                setSaved(false);
                void load();
              }}
              onSessionEnded={props.onSessionEnded}
            />
          )}
        </>
      )}
    </section>
  );
}

export function ConnectionsPage(props: PageProps) {
  const admin = roleAllows(props.role, 'admin');
  const [first] = props.path;
  if (!first) return <ConnectionsList admin={admin} onSessionEnded={props.onSessionEnded} />;
  if (first === NEW_SEGMENT) {
    return admin ? (
      <NewConnection onSessionEnded={props.onSessionEnded} />
    ) : (
      <p class="error" role="alert">
        {t('notFoundPage')}
      </p>
    );
  }
  return <ConnectionView key={first} name={first} admin={admin} onSessionEnded={props.onSessionEnded} />;
}
