/**
 * The console's shell: the header (language switch, who is signed in, sign-out), the sections'
 * navigation, and the page the URL's hash names (router.ts), or the sign-in page. A reloaded
 * page asks the API whether its session still lives.
 */
import { useEffect, useState } from 'preact/hooks';
import type { ComponentType } from 'preact';
import { currentSession, signOut, type Session } from './api.js';
import { lang, setLang, t, type Key, type Lang } from './i18n.js';
import { SignIn } from './sign-in.js';
import { Dashboard } from './dashboard.js';
import { href, usePath } from './router.js';
import { roleAllows, type PageProps } from './page.js';
import { ConnectionsPage } from './connections-page.js';
import { RoutesPage } from './routes-page.js';
import { DeliveriesPage } from './deliveries-page.js';
import { ArchivePage } from './archive-page.js';
import { AuditPage } from './audit-page.js';
import { AlertsPage } from './alerts-page.js';
import { HoldsPage } from './holds-page.js';
import { RetentionPage } from './retention-page.js';

/** A section: its hash segment, its label, the role that sees it, its page. */
interface Section {
  id: string;
  label: Key;
  role: 'viewer' | 'auditor' | 'admin';
  page: ComponentType<PageProps>;
}

const DashboardPage = (p: PageProps) => <Dashboard onSessionEnded={p.onSessionEnded} admin={p.role === 'admin'} />;

/** The sections in the navigation's order; `''` is the dashboard. */
const SECTIONS: Section[] = [
  { id: '', label: 'navDashboard', role: 'viewer', page: DashboardPage },
  { id: 'connections', label: 'navConnections', role: 'viewer', page: ConnectionsPage },
  { id: 'routes', label: 'navRoutes', role: 'viewer', page: RoutesPage },
  { id: 'deliveries', label: 'navDeliveries', role: 'viewer', page: DeliveriesPage },
  { id: 'archive', label: 'navArchive', role: 'auditor', page: ArchivePage },
  { id: 'audit', label: 'navAudit', role: 'auditor', page: AuditPage },
  { id: 'alerts', label: 'navAlerts', role: 'viewer', page: AlertsPage },
  { id: 'holds', label: 'navHolds', role: 'auditor', page: HoldsPage },
  { id: 'retention', label: 'navRetention', role: 'viewer', page: RetentionPage },
];

function Nav(props: { role: string; current: string }) {
  return (
    <nav class="sections" aria-label={t('navigation')}>
      <ul>
        {SECTIONS.filter((s) => roleAllows(props.role, s.role)).map((s) => (
          <li key={s.id}>
            <a id={`nav-${s.id || 'dashboard'}`} href={href(...(s.id ? [s.id] : []))} aria-current={props.current === s.id ? 'page' : undefined}>
              {t(s.label)}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

function Page(props: { path: string[]; role: string; onSessionEnded: () => void }) {
  const [first = '', ...rest] = props.path;
  const section = SECTIONS.find((s) => s.id === first && roleAllows(props.role, s.role));
  if (!section) {
    return (
      <p class="error" role="alert">
        {t('notFoundPage')}
      </p>
    );
  }
  const P = section.page;
  return <P path={rest} role={props.role} onSessionEnded={props.onSessionEnded} />;
}

export function App() {
  const [language, setLanguage] = useState<Lang>(lang.value);
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [notice, setNotice] = useState<Key | null>(null);
  const path = usePath();

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
      {session && <Nav role={session.principal.role} current={path[0] ?? ''} />}
      <main>
        {session === undefined ? null : session ? (
          <Page key={path[0] ?? ''} path={path} role={session.principal.role} onSessionEnded={ended} />
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
