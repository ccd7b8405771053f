/**
 * What an admin does to a connection on its page: Test connection (each step as the service
 * streams it), Download log, enable/disable, run now, and delete after a confirmation
 * (`confirm-dialog.tsx`; Cancel has the focus first).
 */
import { useState } from 'preact/hooks';
import { ConfirmDialog } from './confirm-dialog.js';
import { logDownloadUrl, runNow, sessionEnded } from './api.js';
import { deleteConnection, setEnabled } from './api-connections.js';
import { ConnectionTestResult, useConnectionTest } from './connection-test.js';
import { failureText, t } from './i18n.js';
import { s } from './connections-strings.js';
import { navigate } from './router.js';

/** An admin's Test connection, Enable/Disable and Run now. */
function AdminButtons(props: { enabled: boolean; onTest: () => void; onToggle: () => void; onRunNow: () => void }) {
  return (
    <>
      <button type="button" id="test-connection" onClick={props.onTest}>
        {t('testConnection')}
      </button>{' '}
      <button type="button" id="toggle-enabled" onClick={props.onToggle}>
        {props.enabled ? s('disable') : s('enable')}
      </button>{' '}
      <button type="button" id="run-now" disabled={!props.enabled} onClick={props.onRunNow}>
        {t('runNow')}
      </button>{' '}
    </>
  );
}

/** Test connection, enable/disable, run now, Download log and delete, for one connection's page. */
export function ConnectionActions(props: { name: string; enabled: boolean; admin: boolean; onChanged: () => void; onSessionEnded: () => void }) {
  const [test, runTest] = useConnectionTest(props.onSessionEnded);
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const [confirming, setConfirming] = useState(false);

  /** Runs `action`; a failure shows as a note (a 401 ends the session). */
  const attempt = async (action: () => Promise<string | null>): Promise<void> => {
    setNote(null);
    try {
      const done = await action();
      if (done) setNote({ ok: true, text: done });
    } catch (err) {
      if (sessionEnded(err)) return props.onSessionEnded();
      setNote({ ok: false, text: failureText(err) });
    }
  };

  const remove = async (): Promise<void> => {
    setConfirming(false);
    await attempt(async () => {
      await deleteConnection(props.name);
      navigate('connections');
      return null;
    });
  };

  return (
    <section class="conn-actions" aria-labelledby="actions-title">
      <h2 id="actions-title">{s('actions')}</h2>
      <p class="buttons">
        {props.admin && (
          <AdminButtons
            enabled={props.enabled}
            onTest={() => void runTest(props.name)}
            onToggle={() =>
              void attempt(async () => {
                await setEnabled(props.name, !props.enabled);
                props.onChanged();
                return null;
              })
            }
            onRunNow={() => void attempt(async () => ((await runNow(props.name)), t('runStarted')))}
          />
        )}
        <a id="download-log" class="button" href={logDownloadUrl(props.name)} download={`${props.name}.log`}>
          {t('downloadLog')}
        </a>{' '}
        {props.admin && (
          <button type="button" id="delete-connection" class="danger" onClick={() => setConfirming(true)}>
            {s('deleteConnection')}
          </button>
        )}
      </p>
      {note && (
        <p role="status" id="action-status" class={note.ok ? 'ok' : 'error'}>
          {note.text}
        </p>
      )}
      {test && <ConnectionTestResult name={test.name} result={test.view} />}
      {props.admin && (
        <ConfirmDialog
          open={confirming}
          id="confirm-delete"
          cancelId="cancel-delete"
          confirmId="confirm-delete-button"
          focus="cancel"
          title={s('confirmTitle')}
          text={
            <>
              <strong>{props.name}</strong>: {s('confirmText')}
            </>
          }
          cancelLabel={s('cancel')}
          confirmLabel={s('confirmDelete')}
          onCancel={() => setConfirming(false)}
          onConfirm={() => void remove()}
        />
      )}
    </section>
  );
}
