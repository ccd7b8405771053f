/**
 * A route's admin actions beside its form: enable or disable it, and delete it after a
 * confirmation (`confirm-dialog.tsx`; Confirm has the focus, Escape or Cancel leaves it).
 */
import { useState } from 'preact/hooks';
import { ConfirmDialog } from './confirm-dialog.js';
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

  return (
    <div class="route-actions">
      <button type="button" id="toggle-route" disabled={busy} onClick={toggle}>
        {props.route.enabled ? rs('disable') : rs('enable')}
      </button>
      <button type="button" id="delete-route" class="danger" disabled={busy || confirming} onClick={() => setConfirming(true)}>
        {rs('delete')}
      </button>
      <ConfirmDialog
        open={confirming}
        id="route-delete-dialog"
        confirmId="confirm-delete"
        cancelId="cancel-delete"
        focus="confirm"
        busy={busy}
        title={`${rs('confirmDelete')} ${props.route.name}?`}
        text={rs('confirmDeleteText')}
        confirmLabel={rs('confirm')}
        cancelLabel={rs('cancel')}
        onConfirm={() => void remove()}
        onCancel={() => setConfirming(false)}
      />
    </div>
  );
}
