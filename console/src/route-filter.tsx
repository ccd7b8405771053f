/**
 * The route form's Фильтр (filter) and Атрибуты сообщения (message attributes): the conditions
 * of the config schema's `filter`, and its `attributes` (keep, rename, add from a header or a
 * constant; src/core/routing/route-attributes.ts).
 */
import { ATTRIBUTE_NAMES, nextKey, type AttributesForm, type FilterForm } from './route-model.js';
import { rs } from './routes-strings.js';
import { CheckField, NumberField, SelectField, TextField, type Problems } from './route-fields.js';

/** The filter's conditions (all given must hold). */
export function FilterFields(props: { filter: FilterForm; problems: Problems; disabled: boolean; onChange: (f: FilterForm) => void }) {
  const { filter: f, problems, disabled } = props;
  const set = <K extends keyof FilterForm>(k: K, v: FilterForm[K]): void => props.onChange({ ...f, [k]: v });
  const c = { problems, disabled };
  return (
    <fieldset class="filter">
      <legend>{rs('filter')}</legend>
      <p class="help">{rs('filterHelp')}</p>
      <div class="grid">
        <TextField field="filter.from" label={rs('fFrom')} value={f.from} {...c} onInput={(v) => set('from', v)} />
        <TextField field="filter.to" label={rs('fTo')} value={f.to} {...c} onInput={(v) => set('to', v)} />
        <TextField field="filter.subject" label={rs('fSubject')} value={f.subject} {...c} onInput={(v) => set('subject', v)} />
        <TextField field="filter.header.name" label={rs('fHeaderName')} value={f.headerName} {...c} onInput={(v) => set('headerName', v)} />
        <TextField field="filter.header.value" label={rs('fHeaderValue')} value={f.headerValue} {...c} onInput={(v) => set('headerValue', v)} />
        <NumberField field="filter.minSize" label={rs('fMinSize')} value={f.minSize} {...c} onInput={(v) => set('minSize', v)} />
        <NumberField field="filter.maxSize" label={rs('fMaxSize')} value={f.maxSize} {...c} onInput={(v) => set('maxSize', v)} />
        <SelectField
          field="filter.hasAttachment"
          label={rs('fHasAttachment')}
          value={f.hasAttachment}
          options={[
            ['', rs('fAttachAny')],
            ['yes', rs('fAttachYes')],
            ['no', rs('fAttachNo')],
          ]}
          {...c}
          onChange={(v) => set('hasAttachment', v as FilterForm['hasAttachment'])}
        />
        <SelectField
          field="filter.match"
          label={rs('fMatch')}
          value={f.match}
          options={[
            ['contains', rs('fContains')],
            ['regex', rs('fRegex')],
          ]}
          {...c}
          onChange={(v) => set('match', v as FilterForm['match'])}
        />
      </div>
    </fieldset>
  );
}

/** What the attribute rows need from the editor. */
type RowsProps = { attributes: AttributesForm; problems: Problems; disabled: boolean; set: (next: Partial<AttributesForm>) => void };

/** Attributes renamed: from one of the message's, to a name of the operator's. */
function RenameRows(props: RowsProps) {
  const { attributes: a, disabled, set } = props;
  const c = { problems: props.problems, disabled };
  return (
    <fieldset class="rename">
      <legend>{rs('rename')}</legend>
      {a.rename.map((r, i) => (
        <div class="row" key={r.key}>
          <SelectField
            field={`attributes.rename.${i}.from`}
            label={rs('renameFrom')}
            value={r.from}
            options={[['', '—'], ...ATTRIBUTE_NAMES.map((n) => [n, n] as const)]}
            {...c}
            onChange={(v) => set({ rename: a.rename.map((x, j) => (j === i ? { ...x, from: v } : x)) })}
          />
          <TextField
            field={`attributes.rename.${r.from || i}`}
            label={rs('renameTo')}
            value={r.to}
            {...c}
            onInput={(v) => set({ rename: a.rename.map((x, j) => (j === i ? { ...x, to: v } : x)) })}
          />
          {!disabled && (
            <button type="button" aria-label={`${rs('remove')}: ${rs('rename')} ${i + 1}`} onClick={() => set({ rename: a.rename.filter((_, j) => j !== i) })}>
              {rs('remove')}
            </button>
          )}
        </div>
      ))}
      {!disabled && (
        <button type="button" id="add-rename" onClick={() => set({ rename: [...a.rename, { key: nextKey(), from: '', to: '' }] })}>
          {rs('addRename')}
        </button>
      )}
    </fieldset>
  );
}

/** Attributes added: from a header of the message or a fixed value. */
function AddedRows(props: RowsProps) {
  const { attributes: a, disabled, set } = props;
  const c = { problems: props.problems, disabled };
  return (
    <fieldset class="add">
      <legend>{rs('added')}</legend>
      {a.add.map((x, i) => {
        const change = (next: Partial<typeof x>): void => set({ add: a.add.map((y, j) => (j === i ? { ...y, ...next } : y)) });
        return (
          <div class="row" key={x.key}>
            <TextField field={`attributes.add.${i}.name`} label={rs('addName')} value={x.name} {...c} onInput={(v) => change({ name: v })} />
            <SelectField
              field={`attributes.add.${i}.source`}
              label={rs('addSource')}
              value={x.source}
              options={[
                ['header', rs('addFromHeader')],
                ['value', rs('addFromValue')],
              ]}
              {...c}
              onChange={(v) => change({ source: v as 'header' | 'value' })}
            />
            <TextField field={`attributes.add.${i}.${x.source}`} label={x.source === 'header' ? rs('addHeader') : rs('addValue')} value={x.text} {...c} onInput={(v) => change({ text: v })} />
            {!disabled && (
              <button type="button" aria-label={`${rs('remove')}: ${rs('added')} ${i + 1}`} onClick={() => set({ add: a.add.filter((_, j) => j !== i) })}>
                {rs('remove')}
              </button>
            )}
          </div>
        );
      })}
      {!disabled && (
        <button type="button" id="add-attribute" onClick={() => set({ add: [...a.add, { key: nextKey(), name: '', source: 'header', text: '' }] })}>
          {rs('addAttribute')}
        </button>
      )}
    </fieldset>
  );
}

/** The message attributes the scenario receives: keep, rename, add. */
export function AttributesEditor(props: { attributes: AttributesForm; problems: Problems; disabled: boolean; onChange: (a: AttributesForm) => void }) {
  const { attributes: a, problems, disabled } = props;
  const set = (next: Partial<AttributesForm>): void => props.onChange({ ...a, ...next });
  const c = { problems, disabled };
  const toggle = (name: string, on: boolean): void => set({ keep: on ? [...a.keep, name] : a.keep.filter((k) => k !== name) });
  const general = problems.filter((p) => p.field === 'attributes' || p.field === 'attributes.keep');
  return (
    <fieldset class="attributes">
      <legend>{rs('attributes')}</legend>
      <p class="help">{rs('attributesHelp')}</p>
      {general.length > 0 && <p class="error field-error">{general.map((p) => p.message).join(' ')}</p>}
      <CheckField field="attributes.all" label={rs('keepAll')} checked={a.all} {...c} onChange={(v) => set({ all: v })} />
      {!a.all && (
        <fieldset class="keep">
          <legend>{rs('keepLegend')}</legend>
          <div class="checks">
            {ATTRIBUTE_NAMES.map((n, i) => (
              <CheckField key={n} field={`attributes.keep.${i}`} label={n} checked={a.keep.includes(n)} {...c} onChange={(v) => toggle(n, v)} />
            ))}
          </div>
        </fieldset>
      )}
      <RenameRows attributes={a} {...c} set={set} />
      <AddedRows attributes={a} {...c} set={set} />
    </fieldset>
  );
}
