/**
 * Placing a legal hold (admin): name, reason, a search query and/or message ids, sent as
 * `POST /api/v1/holds`. A refusal shows each problem beside its field (`aria-invalid`,
 * `aria-describedby`) from the API's `problems`, as the service words it (a query it cannot read
 * names the character).
 */
import { useState } from 'preact/hooks';
import { ApiFailure, sessionEnded } from './api.js';
import { placeHold, type Hold } from './api-holds.js';
import { hs, type HoldsKey } from './holds-strings.js';
import { failureText } from './i18n.js';

type Field = 'name' | 'reason' | 'query' | 'ids';

const FIELDS: Array<{ f: Field; label: HoldsKey; long?: boolean }> = [
  { f: 'name', label: 'nameField' },
  { f: 'reason', label: 'reasonField', long: true },
  { f: 'query', label: 'queryField' },
  { f: 'ids', label: 'idsField' },
];

/** The ids typed, or null when they are not whole numbers separated by commas. */
function idsOf(text: string): number[] | null {
  const parts = text.split(',').map((p) => p.trim()).filter((p) => p !== '');
  return parts.every((p) => /^[0-9]{1,15}$/.test(p)) ? parts.map(Number) : null;
}

export function HoldForm(props: { onPlaced: (hold: Hold) => void; onSessionEnded: () => void }) {
  const [values, setValues] = useState<Record<Field, string>>({ name: '', reason: '', query: '', ids: '' });
  const [problems, setProblems] = useState<Partial<Record<Field, string>>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const ids = idsOf(values.ids);
    if (!ids) {
      setProblems({ ids: hs('badIds') });
      setError(hs('fixFields'));
      return;
    }
    setBusy(true);
    setError(null);
    setProblems({});
    try {
      const hold = await placeHold({ name: values.name.trim(), reason: values.reason, query: values.query.trim() || null, ids });
      setValues({ name: '', reason: '', query: '', ids: '' });
      props.onPlaced(hold);
    } catch (err) {
      if (sessionEnded(err)) return props.onSessionEnded();
      const list = err instanceof ApiFailure ? (err.error.problems ?? []) : [];
      const byField: Partial<Record<Field, string>> = {};
      for (const p of list) byField[(p.field.split('.')[0] ?? p.field) as Field] ??= p.message;
      setProblems(byField);
      setError(Object.keys(byField).length > 0 ? `${hs('fixFields')} (${(err as ApiFailure).error.code})` : failureText(err));
    } finally {
      setBusy(false);
    }
  };

  const invalid = (f: Field) => (problems[f] ? { 'aria-invalid': 'true' as const, 'aria-describedby': `hold-${f}-error` } : {});

  return (
    <form id="hold-form" class="card wide hold-form" onSubmit={(e) => void submit(e)} aria-labelledby="hold-form-title">
      <h2 id="hold-form-title">{hs('placeTitle')}</h2>
      {error && (
        <p class="error" role="alert" id="hold-form-error">
          {error}
        </p>
      )}
      {FIELDS.map(({ f, label, long }) => (
        <div class="field" key={f}>
          <label for={`hold-${f}`}>{hs(label)}</label>
          {long ? (
            <textarea id={`hold-${f}`} name={f} rows={2} value={values[f]} onInput={(e) => setValues((v) => ({ ...v, [f]: e.currentTarget.value }))} {...invalid(f)} />
          ) : (
            <input id={`hold-${f}`} name={f} type="text" value={values[f]} onInput={(e) => setValues((v) => ({ ...v, [f]: e.currentTarget.value }))} {...invalid(f)} />
          )}
          {problems[f] && (
            <span id={`hold-${f}-error`} class="field-error">
              {problems[f]}
            </span>
          )}
        </div>
      ))}
      <div class="buttons">
        <button type="submit" id="hold-place" disabled={busy}>
          {busy ? hs('placing') : hs('place')}
        </button>
      </div>
    </form>
  );
}
