/**
 * The Legal holds page (Юридические удержания; issue 16, item 4): the active holds (name, reason,
 * query, how many ids, how many messages each keeps now, who placed it and when) and the released
 * ones kept for the record, read again every 5 s (`GET /api/v1/holds?all=true`, auditor); for an
 * admin, the form that places a hold (`hold-form.tsx`) and each active hold's release, confirmed
 * in the console's dialog with the reason asked there (`POST …/{name}/release`).
 */
import { useState } from 'preact/hooks';
import { usePolled } from './use-polled.js';
import { sessionEnded } from './api.js';
import { listHolds, releaseHold, type Hold } from './api-holds.js';
import { HoldForm } from './hold-form.js';
import { ConfirmDialog } from './confirm-dialog.js';
import { hs } from './holds-strings.js';
import { fill } from './fill.js';
import { dateTime, failureText, num } from './i18n.js';
import { roleAllows, type PageProps } from './page.js';
import './holds.css';
import { DataTable } from './data-table.js';

/** How often the holds (and what each keeps now) are asked for again. */
const REFRESH_MS = 5000;

const byAt = (at: string, who: string): string => fill(hs('byAt'), { at: dateTime(at), who });

function HoldRow(props: { h: Hold; admin: boolean; selected: boolean; onRelease: () => void }) {
  const h = props.h;
  return (
    <tr data-hold={h.name} class={props.selected ? 'selected' : ''} aria-current={props.selected ? 'true' : undefined}>
      <th scope="row">{h.name}</th>
      <td data-field="reason" data-label={hs('reason')}>
        {h.reason}
      </td>
      <td data-field="query" data-label={hs('query')}>
        {h.query ?? hs('noQuery')}
      </td>
      <td data-field="ids" data-label={hs('ids')}>
        {num(h.ids.length)}
      </td>
      {h.active ? (
        <td data-field="held-now" data-label={hs('heldNow')}>
          {num(h.heldNow)}
        </td>
      ) : null}
      <td data-field="placed" data-label={hs('placed')}>
        {byAt(h.placedAt, h.placedBy)}
      </td>
      {h.active ? (
        <td data-field="actions">
          {props.admin && (
            <button type="button" class="release-hold danger" onClick={props.onRelease}>
              {hs('release')}
            </button>
          )}
        </td>
      ) : (
        <td data-field="released" data-label={hs('releasedCol')}>
          {byAt(h.releasedAt ?? '', h.releasedBy ?? '')}: {h.releaseReason}
        </td>
      )}
    </tr>
  );
}

function HoldTable(props: { id: string; caption: string; holds: Hold[]; active: boolean; admin: boolean; selected: string | undefined; onRelease: (name: string) => void }) {
  return (
    <DataTable id={props.id} caption={props.caption} columns={[hs('name'), hs('reason'), hs('query'), hs('ids'), props.active && hs('heldNow'), hs('placed'), props.active ? hs('actions') : hs('releasedCol')]}>
      {props.holds.map((h) => (
        <HoldRow key={h.name} h={h} admin={props.admin} selected={h.name === props.selected} onRelease={() => props.onRelease(h.name)} />
      ))}
    </DataTable>
  );
}

/** The release's confirmation, asking why. */
function ReleaseDialog(props: { name: string | null; onDone: (name: string | null) => void; onSessionEnded: () => void }) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const close = (released: string | null): void => {
    setReason('');
    setError(null);
    props.onDone(released);
  };
  const confirm = async (): Promise<void> => {
    if (!props.name) return;
    setBusy(true);
    setError(null);
    try {
      await releaseHold(props.name, reason);
      close(props.name);
    } catch (err) {
      if (sessionEnded(err)) return props.onSessionEnded();
      const field = (err as { error?: { problems?: Array<{ message: string }> } }).error?.problems?.[0]?.message;
      setError(field ? `${field} (${failureText(err)})` : failureText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <ConfirmDialog
      open={props.name !== null}
      id="release-dialog"
      title={fill(hs('releaseTitle'), { name: props.name ?? '' })}
      text={
        <>
          {hs('releaseText')}
          <label class="release-reason" for="release-reason">
            {hs('releaseReason')}
          </label>
          <textarea id="release-reason" rows={2} value={reason} onInput={(e) => setReason(e.currentTarget.value)} aria-invalid={error ? 'true' : undefined} aria-describedby={error ? 'release-error' : undefined} />
          {error && (
            <span id="release-error" class="field-error" role="alert">
              {error}
            </span>
          )}
        </>
      }
      confirmLabel={busy ? hs('releasing') : hs('releaseConfirm')}
      cancelLabel={hs('cancel')}
      focus="cancel"
      busy={busy}
      onConfirm={() => void confirm()}
      onCancel={() => close(null)}
    />
  );
}

export function HoldsPage(props: PageProps) {
  const admin = roleAllows(props.role, 'admin');
  const [tick, setTick] = useState(0);
  const [releasing, setReleasing] = useState<string | null>(null);
  const [notice, setNotice] = useState<{ key: 'placedNotice' | 'releasedNotice'; name: string; n: number } | null>(null);
  const polled = usePolled(listHolds, props.onSessionEnded, tick, REFRESH_MS);
  const holds = polled.value;
  const active = holds?.filter((h) => h.active) ?? [];
  const released = holds?.filter((h) => !h.active) ?? [];

  return (
    <section class="holds-page" aria-labelledby="page-title">
      <h1 id="page-title">{hs('title')}</h1>
      <p class="help">{hs('intro')}</p>
      {polled.error && (
        <p class="error" role="alert">
          {polled.error}
        </p>
      )}
      {notice && (
        <p id="hold-notice" class="ok" role="status">
          {fill(hs(notice.key), { name: notice.name, n: num(notice.n) })}
        </p>
      )}
      {holds && (
        <>
          {active.length === 0 ? <p id="no-active-holds">{hs('none')}</p> : <HoldTable id="active-holds" caption={hs('active')} holds={active} active admin={admin} selected={props.path[0]} onRelease={setReleasing} />}
          {admin && (
            <HoldForm
              onSessionEnded={props.onSessionEnded}
              onPlaced={(h) => {
                setNotice({ key: 'placedNotice', name: h.name, n: h.heldNow });
                setTick((t) => t + 1);
              }}
            />
          )}
          {released.length === 0 ? <p>{hs('noneReleased')}</p> : <HoldTable id="released-holds" caption={hs('released')} holds={released} active={false} admin={admin} selected={props.path[0]} onRelease={() => undefined} />}
        </>
      )}
      {admin && (
        <ReleaseDialog
          name={releasing}
          onSessionEnded={props.onSessionEnded}
          onDone={(name) => {
            setReleasing(null);
            if (name) {
              setNotice({ key: 'releasedNotice', name, n: 0 });
              setTick((t) => t + 1);
            }
          }}
        />
      )}
    </section>
  );
}
