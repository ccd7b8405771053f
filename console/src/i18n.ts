/**
 * The console's two languages (issue 15, "Languages"): every string the console shows lives in
 * both dictionaries under the same key (the type makes a missing one a build error). The
 * browser's language chooses at first; the switch (the app's state, which renders everything again) remembers the choice in this browser.
 */
import { RU_DETAILS, RU_WITH_DETAILS, ruErrors } from './errors-ru.js';

export type Lang = 'en' | 'ru';

const en = {
  appName: 'mailsluice',
  language: 'Language',
  signInTitle: 'Sign in',
  signInHelp: 'Sign in with an API token made by `mailsluice token create`.',
  tokenLabel: 'API token',
  signIn: 'Sign in',
  signingIn: 'Signing in…',
  signOut: 'Sign out',
  tooManyAttempts: 'Too many attempts: wait a minute and try again.',
  cannotReach: 'The service does not answer.',
  signedInAs: 'Signed in as',
  dashboard: 'Dashboard',
  connections: 'Connections',
  connection: 'Connection',
  state: 'State',
  taken: 'Taken',
  backlog: 'Backlog',
  rate: 'Rate, msg/s',
  lastError: 'Last error',
  noConnections: 'No connections are configured.',
  updated: 'Updated',
  disabled: 'disabled',
  sessionExpired: 'Your session has ended: sign in again.',
  actions: 'Actions',
  runNow: 'Run now',
  runStarted: 'Started',
  testConnection: 'Test connection',
  testing: 'Testing…',
  testOf: 'Test of',
  testPassed: 'Every step passed.',
  testFailed: 'The test failed.',
  downloadLog: 'Download log',
  'state.starting': 'starting',
  'state.connecting': 'connecting',
  'state.draining': 'draining',
  'state.waiting': 'waiting',
  'state.outside-schedule': 'outside schedule',
  'state.backoff': 'backing off',
  'state.disk-full': 'disk full',
  'state.stopped': 'stopped',
  'state.error': 'error',
  'state.none': 'not running',
  navigation: 'Sections',
  navDashboard: 'Dashboard',
  navConnections: 'Connections',
  navRoutes: 'Routes',
  navDeliveries: 'Deliveries',
  navArchive: 'Archive',
  navAudit: 'Audit log',
  navAlerts: 'Alerts',
  navHolds: 'Legal holds',
  navRetention: 'Retention',
  notFoundPage: 'There is no such page.',
} as const;

export type Key = keyof typeof en;

const ru: Record<Key, string> = {
  appName: 'mailsluice',
  language: 'Язык',
  signInTitle: 'Вход',
  signInHelp: 'Войдите с API-токеном, созданным командой `mailsluice token create`.',
  tokenLabel: 'API-токен',
  signIn: 'Войти',
  signingIn: 'Вход…',
  signOut: 'Выйти',
  tooManyAttempts: 'Слишком много попыток: подождите минуту и попробуйте снова.',
  cannotReach: 'Служба не отвечает.',
  signedInAs: 'Вы вошли как',
  dashboard: 'Обзор',
  connections: 'Подключения',
  connection: 'Подключение',
  state: 'Состояние',
  taken: 'Получено',
  backlog: 'Очередь на сервере',
  rate: 'Скорость, писем/с',
  lastError: 'Последняя ошибка',
  noConnections: 'Подключения не настроены.',
  updated: 'Обновлено',
  disabled: 'отключено',
  sessionExpired: 'Сеанс завершён: войдите снова.',
  actions: 'Действия',
  runNow: 'Запустить сейчас',
  runStarted: 'Запущено',
  testConnection: 'Проверить соединение',
  testing: 'Проверка…',
  testOf: 'Проверка подключения',
  testPassed: 'Все шаги пройдены.',
  testFailed: 'Проверка не пройдена.',
  downloadLog: 'Скачать журнал',
  'state.starting': 'запуск',
  'state.connecting': 'подключение',
  'state.draining': 'получение писем',
  'state.waiting': 'ожидание',
  'state.outside-schedule': 'вне расписания',
  'state.backoff': 'пауза после ошибки',
  'state.disk-full': 'диск заполнен',
  'state.stopped': 'остановлено',
  'state.error': 'ошибка',
  'state.none': 'не запущено',
  navigation: 'Разделы',
  navDashboard: 'Обзор',
  navConnections: 'Подключения',
  navRoutes: 'Пути передачи данных',
  navDeliveries: 'Доставки',
  navArchive: 'Архив',
  navAudit: 'Журнал аудита',
  navAlerts: 'Оповещения',
  navHolds: 'Юридические удержания',
  navRetention: 'Хранение',
  notFoundPage: 'Такой страницы нет.',
};

const dictionaries: Record<Lang, Record<Key, string>> = { en, ru };

const STORED = 'mailsluice.lang';

/** The language to start in: the one chosen here before, else the browser's, else English. */
function initialLang(): Lang {
  try {
    const saved = localStorage.getItem(STORED);
    if (saved === 'en' || saved === 'ru') return saved;
  } catch {
    // storage refused (private mode): the browser's language
  }
  const wanted = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const l of wanted) {
    const base = l.toLowerCase().split('-')[0];
    if (base === 'ru') return 'ru';
    if (base === 'en') return 'en';
  }
  return 'en';
}

/** The chosen language (the app renders again when {@link setLang} changes it). */
export const lang = { value: initialLang() };

/** Chooses `l` and remembers it in this browser. */
export function setLang(l: Lang): void {
  lang.value = l;
  document.documentElement.lang = l;
  try {
    localStorage.setItem(STORED, l);
  } catch {
    // not remembered: chosen for this page only
  }
}

/** The string `key` in the chosen language. */
export function t(key: Key): string {
  return dictionaries[lang.value][key];
}

/**
 * A page's own strings in both languages: `const s = strings({ title: 'Routes' }, { title: 'Пути передачи данных' })`,
 * then `s('title')`. The Russian dictionary is typed over the English keys, so a missing one does
 * not compile; each page keeps its strings beside it (`<page>-strings.ts`).
 */
export function strings<K extends string>(en: Record<K, string>, ru: Record<K, string>): (key: K) => string {
  return (key) => (lang.value === 'ru' ? ru : en)[key];
}

/**
 * An API error as the console shows it: in Russian the catalogue's sentence by code
 * (`errors-ru.ts`, every code has one; for a code whose details matter, the service's details
 * after it), in English the API's own sentence with its details; an unknown code (a newer
 * service) shows the API's sentence in either language.
 */
export function errorText(code: string, apiMessage: string): string {
  const ru = lang.value === 'ru' ? ruErrors[code] : undefined;
  if (ru === undefined) return apiMessage;
  return RU_WITH_DETAILS.has(code) && apiMessage ? `${ru} ${RU_DETAILS}: ${apiMessage}` : ru;
}

/** A number in the chosen language's format. */
export function num(n: number, digits = 0): string {
  return new Intl.NumberFormat(lang.value, { maximumFractionDigits: digits }).format(n);
}

/** A time of day in the chosen language's format. */
export function time(d: Date): string {
  return new Intl.DateTimeFormat(lang.value, { hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(d);
}

/** A date and time in the chosen language's format. */
export function dateTime(d: Date | string): string {
  return new Intl.DateTimeFormat(lang.value, { dateStyle: 'medium', timeStyle: 'medium' }).format(typeof d === 'string' ? new Date(d) : d);
}

/** A failed API call as the console shows it: the sentence in the chosen language, then its code. */
export function failureText(err: unknown): string {
  const e = (err as { error?: { code: string; message: string; status: number } }).error;
  if (!e) return String((err as Error)?.message ?? err);
  if (e.status === 0) return t('cannotReach');
  return `${errorText(e.code, e.message)} (${e.code})`;
}
