/**
 * A webhook step's extra request headers (`headers`): names, and values that are write-only like
 * secrets (an Authorization header is a credential): the API shows only that a value is set and
 * where from (an environment variable, a file, the secret store, the configuration file); left
 * empty, the value read is sent back as it was (route-model.ts), typed, it replaces it.
 */
import { nextKey, type HeaderForm } from './route-model.js';
import type { SecretShown } from './api-routes.js';
import { rs } from './routes-strings.js';
import { TextField, type Problems } from './route-fields.js';

interface Props {
  /** The step's dotted path (`scenario.0`). */
  at: string;
  title: string;
  headers: HeaderForm[];
  problems: Problems;
  disabled: boolean;
  onChange: (headers: HeaderForm[]) => void;
}

/** Where a kept value comes from, in words (its reference's name, never a value). */
export function keptText(kept: SecretShown): string {
  if ('env' in kept) return `${rs('valueFromEnv')} ${kept.env}`;
  if ('file' in kept) return `${rs('valueFromFile')} ${kept.file}`;
  if ('secret' in kept) return rs('valueStored');
  return rs('valueInFile');
}

/** The headers, each a row of name and value, added and removed with buttons. */
export function WebhookHeaders(props: Props) {
  const { at, headers, problems, disabled } = props;
  const change = (i: number, next: Partial<HeaderForm>): void => props.onChange(headers.map((h, j) => (j === i ? { ...h, ...next } : h)));
  const c = { problems, disabled };
  return (
    <fieldset class="headers">
      <legend>{rs('headers')}</legend>
      {headers.map((h, i) => {
        // A value's problem is named by its header (`scenario.0.headers.Authorization`).
        const valueField = `${at}.headers.${h.name.trim() || `#${i}`}`;
        return (
          <div class="row" key={h.key}>
            <TextField field={`${at}.headerNames.${i}`} label={`${rs('headerName')} ${i + 1}`} value={h.name} {...c} onInput={(v) => change(i, { name: v })} />
            <TextField
              field={valueField}
              label={`${rs('headerValue')} ${i + 1}`}
              type="password"
              autocomplete="new-password"
              value={h.value}
              help={h.kept ? `${keptText(h.kept)}; ${rs('valueKeep')}` : undefined}
              {...c}
              onInput={(v) => change(i, { value: v })}
            />
            {!disabled && (
              <button type="button" aria-label={`${rs('remove')}: ${rs('headerName')} ${i + 1}, ${props.title}`} onClick={() => props.onChange(headers.filter((_, j) => j !== i))}>
                {rs('remove')}
              </button>
            )}
          </div>
        );
      })}
      {!disabled && (
        <button type="button" class="add-header" aria-label={`${rs('addHeader2')}: ${props.title}`} onClick={() => props.onChange([...headers, { key: nextKey(), name: '', value: '', kept: null }])}>
          {rs('addHeader2')}
        </button>
      )}
    </fieldset>
  );
}
