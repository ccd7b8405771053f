/**
 * A connection test's result (*Test connection*, "Проверить соединение"): each step in order,
 * passed or failed, and for the failed one its catalogue code and sentence, each step shown as
 * the service streams it (`{ partial: steps }` while it runs), on the dashboard and on the
 * connection's page alike (`useConnectionTest`).
 */
import { useState } from 'preact/hooks';
import { sessionEnded, type ConnectionTest, type TestStep } from './api.js';
import { testConnectionStreamed } from './api-connections.js';
import { errorText, failureText, num, t } from './i18n.js';

/** What the result shows: running (with the steps so far, when streamed), the whole result, or why it could not run. */
export type TestView = ConnectionTest | 'running' | { partial: TestStep[] } | { error: string };

function Steps(props: { steps: TestStep[] }) {
  return (
    <ol class="steps">
      {props.steps.map((s) => (
        <li key={s.step} data-step={s.step} data-ok={String(s.ok)} class={s.ok ? 'ok' : 'error'}>
          <span aria-hidden="true">{s.ok ? '✓ ' : '✗ '}</span>
          <strong>{s.step}</strong> ({num(s.ms)} ms): {s.ok ? s.detail : `${s.code ? errorText(s.code, s.summary ?? s.detail) : s.detail} — ${s.detail}`}
          {s.code && <code class="code"> {s.code}</code>}
        </li>
      ))}
    </ol>
  );
}

export function ConnectionTestResult(props: { name: string; result: TestView }) {
  const r = props.result;
  const running = r === 'running' || 'partial' in r;
  return (
    <section id="test-result" class="card wide" aria-live="polite" data-ok={typeof r === 'object' && 'ok' in r ? String(r.ok) : ''}>
      <h2>
        {t('testOf')} {props.name}
      </h2>
      {typeof r === 'object' && 'partial' in r && <Steps steps={r.partial} />}
      {running && <p>{t('testing')}</p>}
      {typeof r === 'object' && 'error' in r && (
        <p class="error" role="alert">
          {r.error}
        </p>
      )}
      {typeof r === 'object' && 'steps' in r && (
        <>
          <Steps steps={r.steps} />
          <p role="status" class={r.ok ? 'ok' : 'error'}>
            {r.ok ? t('testPassed') : t('testFailed')}
          </p>
        </>
      )}
    </section>
  );
}

/** The connection being tested and its result so far. */
export interface TestState {
  name: string;
  view: TestView;
}

/**
 * The last test's state and the function that tests a connection, each step shown as the
 * service streams it; a 401 ends the session through `onSessionEnded`.
 */
export function useConnectionTest(onSessionEnded: () => void): [TestState | null, (name: string) => Promise<void>] {
  const [test, setTest] = useState<TestState | null>(null);
  const run = async (name: string): Promise<void> => {
    const steps: TestStep[] = [];
    setTest({ name, view: 'running' });
    try {
      const result = await testConnectionStreamed(name, (step) => {
        steps.push(step);
        setTest({ name, view: { partial: [...steps] } });
      });
      setTest({ name, view: result });
    } catch (err) {
      if (sessionEnded(err)) return onSessionEnded();
      setTest({ name, view: { error: failureText(err) } });
    }
  };
  return [test, run];
}
