/**
 * The route form's labelled fields: each is named by its dotted path in the request body
 * (`bus`, `scenario.0.url`), which is also how the API's 400 names a problem, so the problem
 * shows beside its field (aria-invalid, aria-describedby) without a table of names.
 */
import type { ComponentChildren } from 'preact';

/** A rejected body's problems, by dotted field. */
export type Problems = ReadonlyArray<{ field: string; message: string }>;

/** The element id of the field at `field` (`scenario.0.url` → `f-scenario-0-url`). */
export const fieldId = (field: string): string => `f-${field.replace(/[^A-Za-z0-9_-]/g, '-')}`;

/** The problems of `field`, and of the items of a list typed in it (`response.addFlags.0` shows beside `response.addFlags`). */
function problemsOf(problems: Problems, field: string): string[] {
  return problems.filter((p) => p.field === field || (p.field.startsWith(`${field}.`) && /^\d+$/.test(p.field.slice(field.length + 1)))).map((p) => p.message);
}

interface Common {
  field: string;
  label: string;
  problems: Problems;
  help?: string | undefined;
  disabled?: boolean | undefined;
}

/** The described-by ids and the error paragraph of a field. */
function described(c: Common): { attrs: Record<string, string | undefined>; after: ComponentChildren } {
  const id = fieldId(c.field);
  const errors = problemsOf(c.problems, c.field);
  const ids = [errors.length > 0 ? `${id}-error` : '', c.help ? `${id}-help` : ''].filter(Boolean).join(' ');
  return {
    attrs: { 'aria-invalid': errors.length > 0 ? 'true' : undefined, 'aria-describedby': ids || undefined },
    after: (
      <>
        {c.help && (
          <small id={`${id}-help`} class="help">
            {c.help}
          </small>
        )}
        {errors.length > 0 && (
          <span id={`${id}-error`} class="error field-error">
            {errors.join(' ')}
          </span>
        )}
      </>
    ),
  };
}

/** A text (or number, URL, password) field. */
export function TextField(props: Common & { value: string; onInput: (v: string) => void; type?: 'text' | 'url' | 'password'; autocomplete?: string; readOnly?: boolean; numeric?: boolean; placeholder?: string }) {
  const id = fieldId(props.field);
  const { attrs, after } = described(props);
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <input
        id={id}
        name={props.field}
        // Preact types `type` by variant; the three used take the same attributes.
        type={(props.type ?? 'text') as 'text'}
        inputMode={props.numeric ? 'numeric' : undefined}
        value={props.value}
        placeholder={props.placeholder}
        autocomplete={props.autocomplete ?? 'off'}
        readOnly={props.readOnly}
        disabled={props.disabled}
        {...attrs}
        onInput={(e) => props.onInput((e.currentTarget as HTMLInputElement).value)}
      />
      {after}
    </div>
  );
}

/** A whole number typed as text (so a half-typed value stays; the API judges it). */
export function NumberField(props: Common & { value: string; onInput: (v: string) => void; placeholder?: string }) {
  return <TextField {...props} numeric />;
}

/** A checkbox with its label after it. */
export function CheckField(props: Common & { checked: boolean; onChange: (v: boolean) => void }) {
  const id = fieldId(props.field);
  const { attrs, after } = described(props);
  return (
    <div class="field check">
      <input id={id} name={props.field} type="checkbox" checked={props.checked} disabled={props.disabled} {...attrs} onChange={(e) => props.onChange((e.currentTarget as HTMLInputElement).checked)} />
      <label for={id}>{props.label}</label>
      {after}
    </div>
  );
}

/** A select of `options` (value, label). */
export function SelectField(props: Common & { value: string; options: ReadonlyArray<readonly [string, string]>; onChange: (v: string) => void }) {
  const id = fieldId(props.field);
  const { attrs, after } = described(props);
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <select id={id} name={props.field} value={props.value} disabled={props.disabled} {...attrs} onChange={(e) => props.onChange((e.currentTarget as HTMLSelectElement).value)}>
        {props.options.map(([v, l]) => (
          <option key={v} value={v}>
            {l}
          </option>
        ))}
      </select>
      {after}
    </div>
  );
}
