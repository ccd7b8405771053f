/**
 * One route's form (`#/routes/new-`, `#/routes/<name>`): the route settings of SPEC "Route
 * settings". Create is a POST of the route as the file takes it; an edit is a PATCH of only the
 * keys changed (a JSON merge patch, arrays whole) against the version read (If-Match: a change
 * elsewhere meanwhile is a 409, told as "reload"). A 400's problems show beside their fields and
 * in a summary (role=alert) whose entries move the focus to the field.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, listConnections, sessionEnded, type Connection } from './api.js';
import { configVersion, createRoute, getRoute, patchRoute, routesAndBuses, type Route, type RouteWrite } from './api-routes.js';
import { failureText } from './i18n.js';
import { navigate } from './router.js';
import { bodyOf, emptyForm, formOf, mergePatch, type RouteForm as Form } from './route-model.js';
import { rs } from './routes-strings.js';
import { CheckField, SelectField, TextField, fieldId, type Problems } from './route-fields.js';
import { ResponseEditor } from './route-response.js';
import { ScenarioEditor } from './scenario-editor.js';
import { AttributesEditor, FilterFields } from './route-filter.js';
import { RouteActions } from './route-actions.js';

interface Props {
  /** The route's name; null for a new one. */
  name: string | null;
  admin: boolean;
  onSessionEnded: () => void;
}

type Outcome = { kind: 'ok' | 'error' | 'conflict'; text: string } | null;

/** What was read: the route (null when new), the version to edit against, the connections, the number of buses. */
interface Loaded {
  route: Route | null;
  etag: string | null;
  connections: Connection[];
  buses: number;
}

async function load(name: string | null, admin: boolean): Promise<Loaded> {
  // The version first: a change between it and the read is then a conflict, never lost.
  const etag = admin ? await configVersion() : null;
  const [route, connections, { buses }] = await Promise.all([name ? getRoute(name) : Promise.resolve(null), listConnections(), routesAndBuses()]);
  return { route, etag, connections, buses };
}

/** The problems' summary: each one a button that takes the focus to its field. */
function ProblemSummary(props: { problems: Problems }) {
  return (
    <div class="error problems" role="alert" id="form-problems">
      <p>{rs('problems')}</p>
      <ul>
        {props.problems.map((p) => (
          <li key={p.field + p.message}>
            <button type="button" class="link" onClick={() => document.getElementById(fieldId(p.field))?.focus()}>
              <code>{p.field}</code>
            </button>{' '}
            {p.message}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** What a failed write says: a conflict to reload, else the failure's sentence. */
function outcomeOf(err: unknown): Outcome {
  return err instanceof ApiFailure && err.error.code === 'CONFIG_CONFLICT' ? { kind: 'conflict', text: rs('conflict') } : { kind: 'error', text: failureText(err) };
}

/** The last write's outcome, with Reload after a conflict. */
function OutcomeLine(props: { outcome: NonNullable<Outcome>; onReload: () => void }) {
  const o = props.outcome;
  return (
    <div class={o.kind === 'ok' ? 'ok' : 'error'} role={o.kind === 'ok' ? 'status' : 'alert'} id="form-outcome">
      {o.text}{' '}
      {o.kind === 'conflict' && (
        <button type="button" id="reload" onClick={props.onReload}>
          {rs('reload')}
        </button>
      )}
    </div>
  );
}

/** The route's settings as fields, in the seeds' order; the submit button for an admin. */
function RouteFields(props: {
  form: Form;
  set: <K extends keyof Form>(k: K, v: Form[K]) => void;
  problems: Problems;
  admin: boolean;
  editing: boolean;
  busy: boolean;
  connections: Connection[];
  buses: number;
  onSubmit: (e: Event) => void;
}) {
  const c = { problems: props.problems, disabled: !props.admin };
  const connectionOptions = props.connections.map((x) => [x.name, x.name] as const);
  if (props.form.connection && !props.connections.some((x) => x.name === props.form.connection)) connectionOptions.push([props.form.connection, props.form.connection]);
  // The buses the service runs; a number outside them (the file's bus count changed, waiting for a restart) stays offered.
  const busOptions = Array.from({ length: props.buses }, (_, i) => [String(i), String(i)] as const);
  if (!busOptions.some(([v]) => v === props.form.bus)) busOptions.push([props.form.bus, props.form.bus]);
  return (
      <form class="route-form" onSubmit={props.onSubmit} noValidate aria-labelledby="page-title">
        <fieldset class="settings">
          <legend>{rs('settings')}</legend>
          <div class="grid">
            <TextField field="name" label={rs('name')} value={props.form.name} help={props.editing ? undefined : rs('nameHelp')} readOnly={props.editing} {...c} onInput={(v) => props.set('name', v)} />
            <SelectField field="connection" label={rs('connection')} value={props.form.connection} options={connectionOptions} {...c} onChange={(v) => props.set('connection', v)} />
            <SelectField field="bus" label={rs('bus')} value={props.form.bus} options={busOptions} help={rs('busHelp')} {...c} onChange={(v) => props.set('bus', v)} />
            <CheckField field="enabled" label={rs('enabled')} checked={props.form.enabled} {...c} onChange={(v) => props.set('enabled', v)} />
          </div>
          <TextField field="description" label={rs('description')} value={props.form.description} {...c} onInput={(v) => props.set('description', v)} />
        </fieldset>
        <FilterFields filter={props.form.filter} {...c} onChange={(f) => props.set('filter', f)} />
        <AttributesEditor attributes={props.form.attributes} {...c} onChange={(a) => props.set('attributes', a)} />
        <ScenarioEditor steps={props.form.scenario} {...c} onChange={(s) => props.set('scenario', s)} />
        <ResponseEditor response={props.form.response} errorResponse={props.form.errorResponse} {...c} onChange={(k, v) => props.set(k, v)} />
        {props.admin && (
          <div class="form-buttons">
            <button type="submit" id="save-route" disabled={props.busy}>
              {props.busy ? rs('saving') : props.editing ? rs('save') : rs('create')}
            </button>
          </div>
        )}
      </form>
  );
}

/** The route (or a new one's defaults) with what its form needs, loaded when the page opens and on `reload`. */
function useLoadedRoute(name: string | null, admin: boolean, failed: (err: unknown) => boolean, reset: () => void) {
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [form, setForm] = useState<Form | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const reload = (): void => {
    reset();
    setLoadError(null);
    load(name, admin).then(
      (l) => {
        setLoaded(l);
        setForm(l.route ? formOf(l.route) : emptyForm(l.connections[0]?.name ?? ''));
      },
      (err) => {
        if (!failed(err)) setLoadError(err instanceof ApiFailure && err.error.status === 404 ? rs('notFound') : failureText(err));
      },
    );
  };
  useEffect(reload, [name]);
  return { loaded, setLoaded, form, setForm, loadError, reload };
}

/** Saves the form: nothing when it changed nothing, the changes as a merge patch of an existing route, or a new route. */
async function saveRoute(loaded: Loaded, form: Form): Promise<'unchanged' | { written: RouteWrite } | { created: string }> {
  const body = bodyOf(form);
  if (!loaded.route) {
    await createRoute(body, loaded.etag);
    return { created: String(body.name) };
  }
  const patch = mergePatch(bodyOf(formOf(loaded.route)), body);
  if (Object.keys(patch).length === 0) return 'unchanged';
  return { written: await patchRoute(loaded.route.name, patch, loaded.etag) };
}

/** The form of a new route or of an existing one (read-only for a non-admin). */
export function RouteFormView(props: Props) {
  const [problems, setProblems] = useState<Problems>([]);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const [busy, setBusy] = useState(false);

  const failed = (err: unknown): boolean => {
    if (sessionEnded(err)) props.onSessionEnded();
    return sessionEnded(err);
  };
  const { loaded, setLoaded, form, setForm, loadError, reload } = useLoadedRoute(props.name, props.admin, failed, () => {
    setOutcome(null);
    setProblems([]);
  });

  if (loadError) {
    return (
      <p class="error" role="alert">
        {loadError}
      </p>
    );
  }
  if (!loaded || !form) return <p role="status">{rs('loading')}</p>;

  const editing = loaded.route !== null;
  const disabled = !props.admin;
  const set = <K extends keyof Form>(k: K, v: Form[K]): void => setForm({ ...form, [k]: v });

  const written = (w: RouteWrite): void => {
    setLoaded({ ...loaded, route: w.route, etag: w.etag });
    setForm(formOf(w.route));
    setOutcome({ kind: 'ok', text: w.applied ? rs('saved') : rs('savedPending') });
  };

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setProblems([]);
    setOutcome(null);
    setBusy(true);
    try {
      const saved = await saveRoute(loaded, form);
      if (saved === 'unchanged') setOutcome({ kind: 'ok', text: rs('nothingChanged') });
      else if ('written' in saved) written(saved.written);
      else navigate('routes', saved.created);
    } catch (err) {
      if (failed(err)) return;
      const problems = err instanceof ApiFailure ? (err.error.problems ?? []) : [];
      if (problems.length > 0 && err instanceof ApiFailure && err.error.code !== 'CONFIG_CONFLICT') setProblems(problems);
      else setOutcome(outcomeOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      {editing && props.admin && loaded.route && (
        <RouteActions
          route={loaded.route}
          etag={loaded.etag}
          onChanged={written}
          onDeleted={() => navigate('routes')}
          onFailure={(err) => {
            if (!failed(err)) setOutcome(outcomeOf(err));
          }}
        />
      )}
      {outcome && <OutcomeLine outcome={outcome} onReload={reload} />}
      {problems.length > 0 && <ProblemSummary problems={problems} />}
      {disabled && <p class="help">{rs('readOnly')}</p>}
      <RouteFields form={form} set={set} problems={problems} admin={props.admin} editing={editing} busy={busy} connections={loaded.connections} buses={loaded.buses} onSubmit={submit} />
    </>
  );
}
