/**
 * The route form's server responses (SPEC "A route's scenario may also return a response"):
 * what the connection does with the message on the server after the scenario succeeded
 * (`response`) and after its delivery was dead-lettered (`errorResponse`): IMAP flags to add, a
 * folder to move it to.
 */
import type { ResponseForm } from './route-model.js';
import { rs } from './routes-strings.js';
import { TextField, type Problems } from './route-fields.js';

interface Props {
  response: ResponseForm;
  errorResponse: ResponseForm;
  problems: Problems;
  disabled: boolean;
  onChange: (key: 'response' | 'errorResponse', value: ResponseForm) => void;
}

/** One response's two fields. */
function ResponseFields(p: { at: 'response' | 'errorResponse'; value: ResponseForm; problems: Problems; disabled: boolean; onChange: Props['onChange'] }) {
  const c = { problems: p.problems, disabled: p.disabled };
  return (
    <fieldset class={p.at}>
      <legend>{rs(p.at)}</legend>
      <div class="grid">
        <TextField field={`${p.at}.addFlags`} label={rs('addFlags')} value={p.value.addFlags} help={rs('addFlagsHelp')} {...c} onInput={(v) => p.onChange(p.at, { ...p.value, addFlags: v })} />
        <TextField field={`${p.at}.moveTo`} label={rs('moveTo')} value={p.value.moveTo} {...c} onInput={(v) => p.onChange(p.at, { ...p.value, moveTo: v })} />
      </div>
    </fieldset>
  );
}

/** Both responses. */
export function ResponseEditor(props: Props) {
  const general = props.problems.filter((p) => p.field === 'response' || p.field === 'errorResponse');
  return (
    <fieldset class="responses">
      <legend>{rs('responses')}</legend>
      <p class="help">{rs('responsesHelp')}</p>
      {general.length > 0 && <p class="error field-error">{general.map((p) => `${p.field}: ${p.message}`).join(' ')}</p>}
      <ResponseFields at="response" value={props.response} problems={props.problems} disabled={props.disabled} onChange={props.onChange} />
      <ResponseFields at="errorResponse" value={props.errorResponse} problems={props.problems} disabled={props.disabled} onChange={props.onChange} />
    </fieldset>
  );
}
