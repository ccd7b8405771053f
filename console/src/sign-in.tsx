/**
 * Sign-in with an API token (ADR 0028): the token goes once to `POST /api/v1/session`, which sets
 * the HttpOnly cookie; the token itself is not kept. A refused token shows the API's sentence, the
 * sign-in limit (429) a sentence of ours.
 */
import { useState } from 'preact/hooks';
import { ApiFailure, signIn, type Session } from './api.js';
import { errorText, t, type Key } from './i18n.js';

export function SignIn(props: { notice: Key | null; onSignedIn: (s: Session) => void }) {
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = await signIn(token.trim());
      setToken('');
      props.onSignedIn(s);
    } catch (err) {
      const f = err instanceof ApiFailure ? err.error : null;
      if (f?.status === 429) setError(t('tooManyAttempts'));
      else if (f && f.status > 0) setError(errorText(f.code, f.message));
      else setError(t('cannotReach'));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card sign-in" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">{t('signInTitle')}</h1>
      {props.notice && (
        <p class="notice" role="status">
          {t(props.notice)}
        </p>
      )}
      <p class="help">{t('signInHelp')}</p>
      <form onSubmit={submit}>
        <label for="token">{t('tokenLabel')}</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          required
          value={token}
          aria-invalid={error ? 'true' : 'false'}
          aria-describedby={error ? 'sign-in-error' : undefined}
          onInput={(e) => setToken((e.currentTarget as HTMLInputElement).value)}
        />
        {error && (
          <p id="sign-in-error" class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" id="sign-in" disabled={busy}>
          {busy ? t('signingIn') : t('signIn')}
        </button>
      </form>
    </section>
  );
}
