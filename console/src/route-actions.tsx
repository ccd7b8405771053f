/**
 * A route's admin actions beside its form: enable or disable it, and delete it after a
 * confirmation (an alertdialog that takes the focus; Escape or Cancel leaves it).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { deleteRoute, setRouteEnabled, type Route, type RouteWrite } from './api-routes.js';
import { rs } from './routes-strings.js';

interface Props {
  route: Route;
  etag: string | null;
  onChanged: (w: RouteWrite) => void;
  onDeleted: () => void;
  onFailure: (err: unknown) => void;
}

/** Enable/disable and delete (with its confirmation) of one route. */
export function RouteActions(props: Props) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const confirmRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (confirming) confirmRef.current?.focus();
  }, [confirming]);

  const run = async (work: () => Promise<void>): Promise<void> => {
    setBusy(true);
    try {
      await work();
    } catch (err) {
      props.onFailure(err);
    } finally {
      setBusy(false);
    }
  };
  const toggle = (): Promise<void> => run(async () => props.onChanged(await setRouteEnabled(props.route.name, !props.route.enabled, props.etag)));
  const remove = (): Promise<void> =>
    run(async () => {
      await deleteRoute(props.route.name, props.etag);
      setConfirming(false);
      props.onDeleted();
    });
  const cancel = (): void => {
    setConfirming(false);
    queueMicrotask(() => document.getElementById('delete-route')?.focus());
  };

  return (
    <div class="route-actions">
      <button type="button" id="toggle-route" disabled={busy} onClick={toggle}>
        {props.route.enabled ? rs('disable') : rs('enable')}
      </button>
      <button type="button" id="delete-route" class="danger" disabled={busy || confirming} onClick={() => setConfirming(true)}>
        {rs('delete')}
      </button>
      {confirming && (
        <div
          class="confirm"
          role="alertdialog"
          aria-labelledby="confirm-delete-title"
          aria-describedby="confirm-delete-text"
          onKeyDown={(e) => {
            if (e.key === 'Escape') cancel();
          }}
        >
          <p id="confirm-delete-title">
            <strong>
              {rs('confirmDelete')} {props.route.name}?
            </strong>
          </p>
          <p id="confirm-delete-text">{rs('confirmDeleteText')}</p>
          <button type="button" id="confirm-delete" class="danger" ref={confirmRef} disabled={busy} onClick={remove}>
            {rs('confirm')}
          </button>{' '}
          <button type="button" id="cancel-delete" onClick={cancel}>
            {rs('cancel')}
          </button>
        </div>
      )}
    </div>
  );
}
