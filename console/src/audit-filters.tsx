/**
 * The Audit page's filters: who, action, and a time range (`datetime-local`, in the browser's
 * time zone, sent as ISO instants). Submitted with Enter or the Show button; Clear empties them.
 * They start as the page's hash query says (`#/audit?action=archive.search`), so a filtered view
 * can be bookmarked or sent.
 */
import { useState } from 'preact/hooks';
import type { AuditFilters } from './api-audit.js';
import { AUDIT_ACTIONS, actionLabel, s } from './audit-strings.js';

/** A `datetime-local` value as an ISO instant; empty stays empty. */
function instant(local: string): string {
  return local ? new Date(local).toISOString() : '';
}

/** An ISO instant as a `datetime-local` value in the browser's time zone; empty or unreadable: empty. */
function local(iso: string | undefined): string {
  const d = iso ? new Date(iso) : null;
  if (!d || Number.isNaN(d.getTime())) return '';
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

const value = (e: Event): string => (e.currentTarget as HTMLInputElement).value;

export function AuditFilterForm(props: { initial: AuditFilters; busy: boolean; onApply: (f: AuditFilters) => void }) {
  const [who, setWho] = useState(props.initial.who ?? '');
  const [action, setAction] = useState(props.initial.action ?? '');
  const [since, setSince] = useState(local(props.initial.since));
  const [until, setUntil] = useState(local(props.initial.until));

  const submit = (e: Event): void => {
    e.preventDefault();
    props.onApply({ who: who.trim(), action, since: instant(since), until: instant(until) });
  };
  const clear = (): void => {
    setWho('');
    setAction('');
    setSince('');
    setUntil('');
    props.onApply({});
  };

  return (
    <form id="audit-filters" class="audit-filters" onSubmit={submit} aria-labelledby="audit-filters-title">
      <h2 id="audit-filters-title">{s('filters')}</h2>
      <div class="audit-fields">
        <div>
          <label for="audit-who">{s('who')}</label>
          <input id="audit-who" type="text" maxLength={200} value={who} onInput={(e) => setWho(value(e))} autoComplete="off" />
        </div>
        <div>
          <label for="audit-action">{s('action')}</label>
          <select id="audit-action" value={action} onChange={(e) => setAction(value(e))}>
            <option value="">{s('anyAction')}</option>
            {AUDIT_ACTIONS.map((a) => (
              <option key={a} value={a}>
                {actionLabel(a)}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="audit-since">{s('since')}</label>
          <input id="audit-since" type="datetime-local" value={since} onInput={(e) => setSince(value(e))} />
        </div>
        <div>
          <label for="audit-until">{s('until')}</label>
          <input id="audit-until" type="datetime-local" value={until} onInput={(e) => setUntil(value(e))} />
        </div>
      </div>
      <div class="audit-buttons">
        <button type="submit" id="audit-apply" disabled={props.busy}>
          {s('apply')}
        </button>
        <button type="button" id="audit-clear" onClick={clear} disabled={props.busy}>
          {s('clear')}
        </button>
      </div>
    </form>
  );
}
