/**
 * Editing one alert rule (admin): whether it is checked, its threshold, what it watches and its
 * channels, sent as a JSON merge patch of only what changed (`PATCH /api/v1/alerts/{rule}`: the
 * configuration file edited with its comments kept, applied live). A refusal shows each problem
 * beside its field (`aria-invalid`, `aria-describedby`), as `config check` words it.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure, sessionEnded } from './api.js';
import { patchAlert, type Alert } from './api-alerts.js';
import { as, type AlertsKey } from './alerts-strings.js';
import { fill } from './fill.js';
import { failureText } from './i18n.js';

/** The fields a rule of each kind has beyond `enabled` and `channels`. */
const FIELDS: Record<Alert['kind'], Array<'minutes' | 'days' | 'freePercentBelow' | 'connection' | 'route'>> = {
  'connection-failing': ['minutes', 'connection'],
  'connection-silent': ['minutes', 'connection'],
  'dead-letters': ['route'],
  'disk-space': ['freePercentBelow'],
  'certificate-expiry': ['days', 'connection'],
  'audit-chain-broken': [],
  'archive-damaged': [],
};

const NUMERIC = new Set(['minutes', 'days', 'freePercentBelow']);

type Values = Record<string, string> & { enabled: string; channels: string };

function initial(a: Alert): Values {
  const v: Values = { enabled: String(a.enabled), channels: a.channels.join(', ') };
  for (const f of FIELDS[a.kind]) v[f] = a.settings[f] === undefined ? '' : String(a.settings[f]);
  return v;
}

/** The merge patch of what the form changed: numbers as numbers, an emptied subject removed (`null`). */
function patchOf(a: Alert, before: Values, now: Values): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  if (now.enabled !== before.enabled) patch.enabled = now.enabled === 'true';
  if (now.channels !== before.channels) patch.channels = now.channels.split(',').map((c) => c.trim()).filter((c) => c !== '');
  for (const f of FIELDS[a.kind]) {
    const value = (now[f] ?? '').trim();
    if (value === (before[f] ?? '').trim()) continue;
    // A number field keeps what was typed when it is no number: the API names the problem.
    patch[f] = value === '' ? null : NUMERIC.has(f) && Number.isFinite(Number(value)) ? Number(value) : value;
  }
  return patch;
}

export function AlertForm(props: { alert: Alert; etag: string | null; onDone: (message: AlertsKey | null) => void; onSessionEnded: () => void }) {
  const a = props.alert;
  const [before] = useState(() => initial(a));
  const [values, setValues] = useState<Values>(before);
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  // Opened from a row's Edit button: the keyboard goes on in the form.
  const title = useRef<HTMLHeadingElement>(null);
  useEffect(() => title.current?.focus(), []);

  const set = (k: string, v: string): void => setValues((x) => ({ ...x, [k]: v }));

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const patch = patchOf(a, before, values);
    if (Object.keys(patch).length === 0) return props.onDone('unchanged');
    setBusy(true);
    setError(null);
    setProblems({});
    try {
      const r = await patchAlert(a.rule, patch, props.etag);
      props.onDone(r.applied ? 'saved' : 'savedNotApplied');
    } catch (err) {
      if (sessionEnded(err)) return props.onSessionEnded();
      const list = err instanceof ApiFailure ? (err.error.problems ?? []) : [];
      const byField: Record<string, string> = {};
      for (const p of list) byField[p.field.split('.')[0] ?? p.field] ??= p.message;
      setProblems(byField);
      setError(Object.keys(byField).length > 0 ? `${as('fixFields')} (${(err as ApiFailure).error.code})` : failureText(err));
    } finally {
      setBusy(false);
    }
  };

  const invalid = (f: string) => (problems[f] ? { 'aria-invalid': 'true' as const, 'aria-describedby': `alert-${f}-error` } : {});
  const problemOf = (f: string) =>
    problems[f] ? (
      <span id={`alert-${f}-error`} class="field-error">
        {problems[f]}
      </span>
    ) : null;

  return (
    <form id="alert-form" class="card wide alert-form" onSubmit={(e) => void submit(e)} aria-labelledby="alert-form-title" data-rule={a.rule}>
      <h2 id="alert-form-title" tabIndex={-1} ref={title}>
        {fill(as('editTitle'), { rule: a.rule })}
      </h2>
      {error && (
        <p class="error" role="alert" id="alert-form-error">
          {error}
        </p>
      )}
      <div class="check">
        <input id="alert-enabled" type="checkbox" checked={values.enabled === 'true'} onChange={(e) => set('enabled', String((e.currentTarget as HTMLInputElement).checked))} {...invalid('enabled')} />
        <label for="alert-enabled">{as('enabled')}</label>
        {problemOf('enabled')}
      </div>
      {FIELDS[a.kind].map((f) => (
        <div class="field" key={f}>
          <label for={`alert-${f}`}>{as(f as AlertsKey)}</label>
          {NUMERIC.has(f) ? (
            <input id={`alert-${f}`} name={f} type="number" step="any" inputMode="decimal" value={values[f] ?? ''} onInput={(e) => set(f, e.currentTarget.value)} {...invalid(f)} />
          ) : (
            <input id={`alert-${f}`} name={f} type="text" value={values[f] ?? ''} onInput={(e) => set(f, e.currentTarget.value)} {...invalid(f)} />
          )}
          {problemOf(f)}
        </div>
      ))}
      <div class="field">
        <label for="alert-channels">{as('channelsField')}</label>
        <input id="alert-channels" name="channels" type="text" value={values.channels} onInput={(e) => set('channels', (e.currentTarget as HTMLInputElement).value)} {...invalid('channels')} />
        {problemOf('channels')}
      </div>
      <div class="buttons">
        <button type="submit" id="alert-save" disabled={busy}>
          {busy ? as('saving') : as('save')}
        </button>{' '}
        <button type="button" id="alert-cancel" onClick={() => props.onDone(null)}>
          {as('cancel')}
        </button>
      </div>
    </form>
  );
}
