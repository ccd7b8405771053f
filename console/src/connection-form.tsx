/**
 * The connection form: every setting of a connection (connection-fields.ts), grouped as the seed
 * screens group them, each field labelled. Create sends the connection (`POST`); edit sends a
 * JSON merge patch of the keys changed with `If-Match` (a secret only when typed: on edit the
 * secrets show empty, "unchanged unless typed"). The server's problems show beside their fields
 * (`aria-invalid`, `aria-describedby`) and in a summary (role=alert); the first invalid field
 * takes the focus. A 409 CONFIG_CONFLICT says to reload.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { RefObject } from 'preact';
import { ApiFailure, sessionEnded } from './api.js';
import { createConnection, patchConnection } from './api-connections.js';
import { buildBody, FIELDS, fieldFor, fieldId, GROUPS, NEW_VALUES, shown, type FieldDef, type Values } from './connection-fields.js';
import { cs, s, type ConnKey } from './connections-strings.js';
import { failureText } from './i18n.js';

/** One problem as the form shows it: the field it belongs to (a key of FIELDS), if any. */
interface Problem {
  key?: string;
  message: string;
}

/** Create: no `edit`. Edit: the connection's values as stored, the file's version, and its secrets held. */
export interface ConnectionFormProps {
  edit?: { name: string; values: Values; etag: string | null; secretsSet: string[] };
  /** Read-only for a role that may not change it. */
  readOnly: boolean;
  /** A note above the buttons (a save just done). */
  notice?: string | null;
  onSaved: (name: string) => void;
  /** Read the connection again (after a conflict). */
  onReload?: () => void;
  onSessionEnded: () => void;
}

function FieldInput(props: { f: FieldDef; value: string | boolean; onInput: (v: string | boolean) => void; describedBy?: string; invalid: boolean; readOnlyName: boolean }) {
  const { f } = props;
  const id = fieldId(f.key);
  const common = {
    id,
    name: f.key,
    'aria-invalid': props.invalid ? ('true' as const) : undefined,
    'aria-describedby': props.describedBy,
    'aria-required': f.required ? ('true' as const) : undefined,
  };
  const text = (e: Event): void => props.onInput((e.currentTarget as HTMLInputElement).value);
  switch (f.kind) {
    case 'checkbox':
      return <input {...common} type="checkbox" checked={props.value === true} onChange={(e) => props.onInput((e.currentTarget as HTMLInputElement).checked)} />;
    case 'select':
      return (
        <select {...common} value={String(props.value)} onChange={text}>
          {f.options!.map((o) => (
            <option key={o} value={o}>
              {cs.option(f.key, o)}
            </option>
          ))}
        </select>
      );
    case 'pem':
    case 'lines':
    case 'windows':
      return <textarea {...common} rows={f.kind === 'pem' ? 3 : 2} spellcheck={false} autocomplete="off" value={String(props.value ?? '')} onInput={text} />;
    default:
      if (f.kind === 'secret') return <input {...common} type="password" autocomplete="new-password" value={String(props.value ?? '')} onInput={text} />;
      return (
        <input
          {...common}
          type="text"
          inputMode={f.kind === 'number' ? 'numeric' : undefined}
          autocomplete="off"
          readOnly={props.readOnlyName}
          value={String(props.value ?? '')}
          onInput={text}
        />
      );
  }
}

/** One field: its label, input, hint and the server's problem with it. */
function Field(props: { f: FieldDef; values: Values; set: (key: string, v: string | boolean) => void; problem?: string; edit: ConnectionFormProps['edit'] }) {
  const { f, edit } = props;
  const id = fieldId(f.key);
  const secret = f.kind === 'secret' || f.kind === 'pem';
  const hint = secret && edit ? s(edit.secretsSet.includes(f.key) ? 'secretUnchanged' : 'secretEmpty') : cs.hint(f.key);
  const describedBy = [hint ? `${id}-hint` : '', props.problem ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
  const label = (
    <label for={id}>
      {cs.label(f.key)}
      {f.required && <span class="required"> {s('required')}</span>}
    </label>
  );
  const input = (
    <FieldInput f={f} value={props.values[f.key] ?? ''} onInput={(v) => props.set(f.key, v)} describedBy={describedBy} invalid={!!props.problem} readOnlyName={f.key === 'name' && !!edit} />
  );
  return (
    <div class={f.kind === 'checkbox' ? 'field check' : 'field'} data-field={f.key}>
      {f.kind === 'checkbox' ? (
        <>
          {input}
          {label}
        </>
      ) : (
        <>
          {label}
          {input}
        </>
      )}
      {hint && (
        <p id={`${id}-hint`} class="help">
          {hint}
        </p>
      )}
      {props.problem && (
        <p id={`${id}-error`} class="error field-error">
          {props.problem}
        </p>
      )}
    </div>
  );
}

/** The refused submit's summary (role=alert): a conflict to reload, or every problem by its field's label. */
function ProblemSummary(props: { problems: Problem[]; conflict: boolean; onReload: (() => void) | undefined; summary: RefObject<HTMLDivElement | null> }) {
  const labelled = (p: Problem): string => (p.key ? `${cs.label(p.key)}: ${p.message}` : p.message);
  return (
    <div id="form-errors" class="form-errors" role="alert" tabIndex={-1} ref={props.summary}>
      {props.conflict ? (
        <p class="error">
          {s('conflict')}{' '}
          {props.onReload && (
            <button type="button" id="reload-connection" onClick={props.onReload}>
              {s('reload')}
            </button>
          )}
        </p>
      ) : (
        <>
          <p class="error">{s('errorsTitle')}</p>
          <ul>
            {props.problems.map((p, i) => (
              <li key={i} data-problem={p.key ?? ''}>
                {labelled(p)}
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}

/** The settings in the seed screens' groups, each group a fieldset showing only the fields that apply. */
function FieldGroups(props: { values: Values; set: (key: string, v: string | boolean) => void; problemOf: (key: string) => string | undefined; edit: ConnectionFormProps['edit'] }) {
  return (
    <>
      {GROUPS.map((g) => {
        const fields = FIELDS.filter((f) => f.group === g && shown(f, props.values));
        if (fields.length === 0) return null;
        return (
          <fieldset key={g} class="group" data-group={g}>
            <legend>{s(`g.${g}` as ConnKey)}</legend>
            {fields.map((f) => (
              <Field key={f.key} f={f} values={props.values} set={props.set} problem={props.problemOf(f.key)} edit={props.edit} />
            ))}
          </fieldset>
        );
      })}
    </>
  );
}

export function ConnectionForm(props: ConnectionFormProps) {
  const initial = props.edit?.values;
  const [values, setValues] = useState<Values>(initial ?? NEW_VALUES);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [conflict, setConflict] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // The parent's notice (a save just done) holds until the form is changed again.
  const [touched, setTouched] = useState(false);
  const focusFirst = useRef(false);
  const summary = useRef<HTMLDivElement>(null);

  const set = (key: string, v: string | boolean): void => {
    setTouched(true);
    setValues((old) => ({ ...old, [key]: v }));
  };

  // After a refused submit: the first invalid field (in the form's order) takes the focus, else the summary.
  useEffect(() => {
    if (!focusFirst.current) return;
    focusFirst.current = false;
    const first = FIELDS.find((f) => problems.some((p) => p.key === f.key));
    const el = first ? document.getElementById(fieldId(first.key)) : summary.current;
    el?.focus();
  }, [problems, conflict]);

  const refuse = (list: Array<{ field?: string; message: string }>): void => {
    focusFirst.current = true;
    setProblems(list.map((p) => ({ ...(p.field ? { key: fieldFor(p.field, values) } : {}), message: p.field && !fieldFor(p.field, values) ? `${p.field}: ${p.message}` : p.message })));
  };

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setNote(null);
    setConflict(false);
    const built = buildBody(values, initial, (line) => s('badWindow') + line);
    if (built.problems.length) return refuse(built.problems);
    if (initial && Object.keys(built.body).length === 0) {
      setProblems([]);
      setNote(s('nothingChanged'));
      return;
    }
    setBusy(true);
    try {
      if (props.edit) await patchConnection(props.edit.name, built.body, props.edit.etag);
      else await createConnection(built.body);
      setProblems([]);
      props.onSaved(props.edit?.name ?? String(values.name).trim());
    } catch (err) {
      if (sessionEnded(err)) return props.onSessionEnded();
      const f = err instanceof ApiFailure ? err.error : null;
      if (f?.code === 'CONFIG_CONFLICT') {
        focusFirst.current = true;
        setProblems([]);
        setConflict(true);
      } else if (f?.problems?.length) refuse(f.problems);
      else refuse([{ message: failureText(err) }]);
    } finally {
      setBusy(false);
    }
  };

  const problemOf = (key: string): string | undefined => problems.find((p) => p.key === key)?.message;

  return (
    <form class="conn-form" onSubmit={submit} noValidate aria-describedby={problems.length || conflict ? 'form-errors' : undefined}>
      {(problems.length > 0 || conflict) && <ProblemSummary problems={problems} conflict={conflict} onReload={props.onReload} summary={summary} />}
      <fieldset class="all" disabled={props.readOnly}>
        <FieldGroups values={values} set={set} problemOf={problemOf} edit={props.edit} />
        {!props.readOnly && (
          <p class="form-buttons">
            <button type="submit" id="save-connection" disabled={busy}>
              {busy ? s('saving') : props.edit ? s('save') : s('create')}
            </button>{' '}
            {(note ?? (touched ? null : props.notice)) && (
              <span role="status" class="ok" id="form-status">
                {note ?? props.notice}
              </span>
            )}
          </p>
        )}
      </fieldset>
    </form>
  );
}
