/**
 * A connection test's result (*Test connection*, "Проверить соединение"): each step in order,
 * passed or failed, and for the failed one its catalogue code and sentence. The test runs with the
 * stored credentials through `POST …/test?wait=true`; streaming each step as it passes is the
 * next slice (the API already streams it as `text/event-stream`).
 */
import type { ConnectionTest } from './api.js';
import { errorText, num, t } from './i18n.js';

export function ConnectionTestResult(props: { name: string; result: ConnectionTest | 'running' | { error: string } }) {
  const r = props.result;
  return (
    <section id="test-result" class="card wide" aria-live="polite" data-ok={typeof r === 'object' && 'ok' in r ? String(r.ok) : ''}>
      <h2>
        {t('testOf')} {props.name}
      </h2>
      {r === 'running' && <p>{t('testing')}</p>}
      {typeof r === 'object' && 'error' in r && (
        <p class="error" role="alert">
          {r.error}
        </p>
      )}
      {typeof r === 'object' && 'steps' in r && (
        <>
          <ol class="steps">
            {r.steps.map((s) => (
              <li key={s.step} data-step={s.step} data-ok={String(s.ok)} class={s.ok ? 'ok' : 'error'}>
                <span aria-hidden="true">{s.ok ? '✓ ' : '✗ '}</span>
                <strong>{s.step}</strong> ({num(s.ms)} ms): {s.ok ? s.detail : `${s.code ? errorText(s.code, s.summary ?? s.detail) : s.detail} — ${s.detail}`}
                {s.code && <code class="code"> {s.code}</code>}
              </li>
            ))}
          </ol>
          <p role="status" class={r.ok ? 'ok' : 'error'}>
            {r.ok ? t('testPassed') : t('testFailed')}
          </p>
        </>
      )}
    </section>
  );
}
