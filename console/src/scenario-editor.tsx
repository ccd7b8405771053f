/**
 * The route form's Сценарий (scenario): its ordered steps, each an action with its settings
 * (config/schema.ts), added, removed and moved with buttons (keyboard-usable, each named with
 * its step). Secrets (a webhook's signing secret and header values, an SMTP password) are
 * write-only: the API shows only where a value comes from, and an empty field keeps it.
 */
import { ACTIONS, emptyStep, hiddenKeys, type ActionName, type StepForm } from './route-model.js';
import { rs } from './routes-strings.js';
import { CheckField, NumberField, SelectField, TextField, type Problems } from './route-fields.js';
import { keptText, WebhookHeaders } from './webhook-headers.js';
import type { SecretShown } from './api-routes.js';

/** The help of a write-only secret field: where the value read comes from and that empty keeps it, or `none`. */
function secretHelp(kept: unknown, none: string | undefined): string | undefined {
  return kept !== undefined && kept !== null ? `${keptText(kept as SecretShown)}; ${rs('valueKeep')}` : none;
}

interface Props {
  steps: StepForm[];
  problems: Problems;
  disabled: boolean;
  onChange: (steps: StepForm[]) => void;
}

type Set = <K extends keyof StepForm>(key: K, value: StepForm[K]) => void;

function RetryField(p: { s: StepForm; at: string; set: Set; problems: Problems; disabled: boolean }) {
  return <NumberField field={`${p.at}.maxAttempts`} label={rs('maxAttempts')} value={p.s.maxAttempts} placeholder={rs('defaultHint')} problems={p.problems} disabled={p.disabled} onInput={(v) => p.set('maxAttempts', v)} />;
}

/** The settings of one step's action. */
function StepSettings(p: { s: StepForm; at: string; title: string; set: Set; problems: Problems; disabled: boolean }) {
  const { s, at, set, problems, disabled } = p;
  const storedPass = (s.stored?.auth as { pass?: unknown } | undefined)?.pass;
  const common = { problems, disabled };
  const timeout = <NumberField field={`${at}.timeoutMs`} label={rs('timeoutMs')} value={s.timeoutMs} placeholder={rs('defaultHint')} {...common} onInput={(v) => set('timeoutMs', v)} />;
  switch (s.action) {
    case 'archive':
      return null;
    case 'webhook':
      return (
        <>
          <TextField field={`${at}.url`} label={rs('url')} type="url" value={s.url} {...common} onInput={(v) => set('url', v)} />
          {!s.unsigned && <TextField field={`${at}.secret`} label={rs('secret')} type="password" autocomplete="new-password" value={s.secret} help={secretHelp(s.stored?.secret, rs('secretNone'))} {...common} onInput={(v) => set('secret', v)} />}
          {s.stored?.secret !== undefined && <CheckField field={`${at}.unsigned`} label={rs('unsigned')} checked={s.unsigned} {...common} onChange={(v) => set('unsigned', v)} />}
          <WebhookHeaders at={at} title={p.title} headers={s.headers} {...common} onChange={(h) => set('headers', h)} />
          <RetryField {...p} />
          {timeout}
          <NumberField field={`${at}.inlineAttachmentsUpTo`} label={rs('inlineAttachmentsUpTo')} value={s.inlineAttachmentsUpTo} placeholder={rs('defaultHint')} {...common} onInput={(v) => set('inlineAttachmentsUpTo', v)} />
          <NumberField field={`${at}.pipeline`} label={rs('pipeline')} value={s.pipeline} placeholder={rs('defaultHint')} {...common} onInput={(v) => set('pipeline', v)} />
        </>
      );
    case 'script':
      return (
        <>
          <TextField field={`${at}.module`} label={rs('module')} value={s.module} {...common} onInput={(v) => set('module', v)} />
          {timeout}
          <NumberField field={`${at}.memoryMb`} label={rs('memoryMb')} value={s.memoryMb} placeholder={rs('defaultHint')} {...common} onInput={(v) => set('memoryMb', v)} />
          <RetryField {...p} />
        </>
      );
    case 'publish':
      return (
        <>
          <TextField field={`${at}.broker`} label={rs('broker')} value={s.broker} help={rs('brokerHelp')} {...common} onInput={(v) => set('broker', v)} />
          <TextField field={`${at}.subject`} label={rs('natsSubject')} value={s.subject} help={rs('natsSubjectHelp')} {...common} onInput={(v) => set('subject', v)} />
          <TextField field={`${at}.exchange`} label={rs('exchange')} value={s.exchange} help={rs('exchangeHelp')} {...common} onInput={(v) => set('exchange', v)} />
          <TextField field={`${at}.routingKey`} label={rs('routingKey')} value={s.routingKey} {...common} onInput={(v) => set('routingKey', v)} />
          <NumberField field={`${at}.inlineAttachmentsUpTo`} label={rs('inlineAttachmentsUpTo')} value={s.inlineAttachmentsUpTo} placeholder={rs('defaultHint')} {...common} onInput={(v) => set('inlineAttachmentsUpTo', v)} />
          <RetryField {...p} />
        </>
      );
    case 'forward':
      return (
        <>
          <TextField field={`${at}.to`} label={rs('to')} value={s.to} {...common} onInput={(v) => set('to', v)} />
          <TextField field={`${at}.relay`} label={rs('relay')} value={s.relay} {...common} onInput={(v) => set('relay', v)} />
          <TextField field={`${at}.from`} label={rs('from')} value={s.from} {...common} onInput={(v) => set('from', v)} />
          <CheckField field={`${at}.secure`} label={rs('secure')} checked={s.secure} {...common} onChange={(v) => set('secure', v)} />
          <CheckField field={`${at}.lmtp`} label={rs('lmtp')} checked={s.lmtp} {...common} onChange={(v) => set('lmtp', v)} />
          <TextField field={`${at}.auth.user`} label={rs('authUser')} value={s.authUser} {...common} onInput={(v) => set('authUser', v)} />
          <TextField field={`${at}.auth.pass`} label={rs('authPass')} type="password" autocomplete="new-password" value={s.authPass} help={secretHelp(storedPass, undefined)} {...common} onInput={(v) => set('authPass', v)} />
          {timeout}
          <RetryField {...p} />
        </>
      );
  }
}

/** The scenario's steps, in order, with their buttons. */
export function ScenarioEditor(props: Props) {
  const { steps, onChange, disabled, problems } = props;
  const update = (i: number, s: StepForm): void => onChange(steps.map((x, j) => (j === i ? s : x)));
  const move = (i: number, by: -1 | 1): void => {
    const next = [...steps];
    const [s] = next.splice(i, 1);
    next.splice(i + by, 0, s!);
    onChange(next);
    // The focus follows the moved step's button, so moving again is one more key press; at the
    // top or the bottom that button is disabled, so the focus goes to the other one.
    const at = i + by;
    const same = by < 0 ? at > 0 : at < next.length - 1;
    const dir = same === by < 0 ? 'up' : 'down';
    setTimeout(() => document.getElementById(`step-${s!.key}-${dir}`)?.focus(), 0);
  };
  const scenarioProblem = problems.filter((p) => p.field === 'scenario');
  return (
    <fieldset class="scenario" id="f-scenario">
      <legend>{rs('scenario')}</legend>
      {scenarioProblem.length > 0 && <p class="error field-error">{scenarioProblem.map((p) => p.message).join(' ')}</p>}
      {steps.length === 0 && <p class="help">{rs('noSteps')}</p>}
      <ol class="steps-list">
        {steps.map((s, i) => {
          const at = `scenario.${i}`;
          const set: Set = (key, value) => update(i, { ...s, [key]: value });
          const title = `${rs('step')} ${i + 1}`;
          return (
            <li key={s.key} class="step" data-action={s.action} aria-label={title}>
              <div class="step-head">
                <SelectField
                  field={`${at}.action`}
                  label={`${title}: ${rs('action')}`}
                  value={s.action}
                  options={ACTIONS.map((a) => [a, rs(`action.${a}`)] as const)}
                  problems={problems}
                  disabled={disabled}
                  onChange={(v) => update(i, { ...emptyStep(v as ActionName), key: s.key })}
                />
                {!disabled && (
                  <div class="step-buttons">
                    <button type="button" id={`step-${s.key}-up`} disabled={i === 0} aria-label={`${rs('moveUp')}: ${title}`} onClick={() => move(i, -1)}>
                      ↑ {rs('moveUp')}
                    </button>
                    <button type="button" id={`step-${s.key}-down`} disabled={i === steps.length - 1} aria-label={`${rs('moveDown')}: ${title}`} onClick={() => move(i, 1)}>
                      ↓ {rs('moveDown')}
                    </button>
                    <button type="button" class="remove-step" aria-label={`${rs('removeStep')}: ${title}`} onClick={() => onChange(steps.filter((_, j) => j !== i))}>
                      {rs('removeStep')}
                    </button>
                  </div>
                )}
              </div>
              <div class="step-settings">
                <StepSettings s={s} at={at} title={title} set={set} problems={problems} disabled={disabled} />
                {hiddenKeys(s).length > 0 && (
                  <p class="help kept-keys">
                    {rs('keptAsWritten')}: <code>{hiddenKeys(s).join(', ')}</code>
                  </p>
                )}
              </div>
            </li>
          );
        })}
      </ol>
      {!disabled && (
        <button type="button" id="add-step" onClick={() => onChange([...steps, emptyStep('webhook')])}>
          {rs('addStep')}
        </button>
      )}
    </fieldset>
  );
}
