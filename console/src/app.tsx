/**
 * The console's shell: the header (language switch, who is signed in, sign-out) and either the
 * sign-in page or the dashboard. A reloaded page asks the API whether its session still lives.
 */
import { useEffect, useState } from 'preact/hooks';
import { currentSession, signOut, type Session } from './api.js';
import { lang, setLang, t, type Key, type Lang } from './i18n.js';
import { SignIn } from './sign-in.js';
import { Dashboard } from './dashboard.js';

export function App() {
  const [language, setLanguage] = useState<Lang>(lang.value);
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [notice, setNotice] = useState<Key | null>(null);

  useEffect(() => {
    document.documentElement.lang = language;
    currentSession().then(setSession, () => setSession(null));
  }, []);

  const choose = (l: Lang): void => {
    setLang(l);
    setLanguage(l);
  };
  const ended = (): void => {
    setSession(null);
    setNotice('sessionExpired');
  };
  const leave = async (): Promise<void> => {
    await signOut().catch(() => undefined);
    setNotice(null);
    setSession(null);
  };

  return (
    <div class="shell" data-lang={language}>
      <header class="top">
        <span class="brand">{t('appName')}</span>
        <label class="lang">
          {t('language')}{' '}
          <select id="language" value={language} onChange={(e) => choose((e.currentTarget as HTMLSelectElement).value as Lang)}>
            <option value="en">English</option>
            <option value="ru">Русский</option>
          </select>
        </label>
        {session && (
          <span class="who">
            {t('signedInAs')} <strong id="principal">{session.principal.name}</strong> ({session.principal.role}){' '}
            <button type="button" id="sign-out" onClick={leave}>
              {t('signOut')}
            </button>
          </span>
        )}
      </header>
      <main>
        {session === undefined ? null : session ? (
          <Dashboard onSessionEnded={ended} admin={session.principal.role === 'admin'} />
        ) : (
          <SignIn
            notice={notice}
            onSignedIn={(s) => {
              setNotice(null);
              setSession(s);
            }}
          />
        )}
      </main>
    </div>
  );
}
