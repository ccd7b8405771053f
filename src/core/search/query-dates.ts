/**
 * Dates as people write them in a search query (`before:` / `after:`, docs/search.md, "Dates"):
 * each is read as a period of time in UTC, [start, end). The clock comes in as an argument, so
 * "today" is the caller's today and the module does no I/O.
 *
 * - `2024-03-05` (a day), `2024-03` (a month), `2024` (a year), ISO 8601;
 * - `05.03.2024` (a day, DD.MM.YYYY as written in Russian);
 * - `2024-03-05T10:30`, `2024-03-05T10:30:00Z`, `…+03:00` (an instant; without a zone, UTC);
 * - `today`, `yesterday`, `сегодня`, `вчера` (that day);
 * - `7d`, `2w`, `3m`, `1y`: the day that many days, weeks, calendar months or years ago.
 */

/** A period of time, UTC milliseconds, `start` inclusive and `end` exclusive (`end === start` for an instant). */
export interface DatePeriod {
  start: number;
  end: number;
  /** True for the forms read against the clock (today, 7d, …). */
  relative?: true;
}

const DAY_MS = 86_400_000;

/** Midnight UTC of the day holding `t`. */
function dayStart(t: number): number {
  return Math.floor(t / DAY_MS) * DAY_MS;
}

/** The UTC day y-m-d as a period, or null when there is no such day (2024-02-30). */
function dayOf(y: number, m: number, d: number): DatePeriod | null {
  const start = Date.UTC(y, m - 1, d);
  const back = new Date(start);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== m - 1 || back.getUTCDate() !== d) return null;
  return { start, end: start + DAY_MS };
}

/** The day `n` calendar months (or years, as 12 n months) before the day of `now`, the day of month kept where it exists (31 March − 1 month = 29 February). */
function monthsAgo(now: number, n: number): number {
  const d = new Date(now);
  const target = d.getUTCMonth() - n;
  const first = Date.UTC(d.getUTCFullYear(), target, 1);
  const lastDay = new Date(Date.UTC(d.getUTCFullYear(), target + 1, 0)).getUTCDate();
  return first + (Math.min(d.getUTCDate(), lastDay) - 1) * DAY_MS;
}

/** Words for a day relative to today, English and Russian, with how many days back. */
const RELATIVE_DAYS: Readonly<Record<string, number>> = { today: 0, yesterday: 1, 'сегодня': 0, 'вчера': 1 };

/** Years outside this range are taken for a mistake (a typo such as 20224), not a date. */
const MIN_YEAR = 1970;
const MAX_YEAR = 9999;

/**
 * The period `text` names, read at `now` (UTC milliseconds), or null when it is not a date of
 * the documented forms (the caller names the problem; see the module comment for the forms).
 */
export function parseQueryDate(text: string, now: number): DatePeriod | null {
  const s = text.trim().toLowerCase();
  const rel = RELATIVE_DAYS[s];
  if (rel !== undefined) {
    const start = dayStart(now) - rel * DAY_MS;
    return { start, end: start + DAY_MS, relative: true };
  }
  let m = /^(\d{1,4})([dwmy])$/u.exec(s);
  if (m) {
    const n = Number(m[1]);
    const unit = m[2]!;
    const start = unit === 'd' ? dayStart(now) - n * DAY_MS : unit === 'w' ? dayStart(now) - 7 * n * DAY_MS : monthsAgo(dayStart(now), unit === 'm' ? n : 12 * n);
    return { start, end: start + DAY_MS, relative: true };
  }
  const year = (y: string): number | null => {
    const v = Number(y);
    return v >= MIN_YEAR && v <= MAX_YEAR ? v : null;
  };
  if ((m = /^(\d{4})$/u.exec(s))) {
    const y = year(m[1]!);
    return y === null ? null : { start: Date.UTC(y, 0, 1), end: Date.UTC(y + 1, 0, 1) };
  }
  if ((m = /^(\d{4})-(\d{2})$/u.exec(s))) {
    const y = year(m[1]!);
    const mo = Number(m[2]);
    if (y === null || mo < 1 || mo > 12) return null;
    return { start: Date.UTC(y, mo - 1, 1), end: Date.UTC(y, mo, 1) };
  }
  if ((m = /^(\d{4})-(\d{2})-(\d{2})$/u.exec(s))) {
    const y = year(m[1]!);
    return y === null ? null : dayOf(y, Number(m[2]), Number(m[3]));
  }
  if ((m = /^(\d{1,2})\.(\d{1,2})\.(\d{4})$/u.exec(s))) {
    const y = year(m[3]!);
    return y === null ? null : dayOf(y, Number(m[2]), Number(m[1]));
  }
  if ((m = /^(\d{4})-(\d{2})-(\d{2})t(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(z|[+-]\d{2}:\d{2})?$/u.exec(s))) {
    const y = year(m[1]!);
    if (y === null || !dayOf(y, Number(m[2]), Number(m[3]))) return null;
    const [hh, mm, ss] = [Number(m[4]), Number(m[5]), Number(m[6] ?? 0)];
    if (hh > 23 || mm > 59 || ss > 59) return null;
    const zone = m[8] ?? 'z';
    const offset = zone === 'z' ? 0 : (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
    const t = Date.UTC(y, Number(m[2]) - 1, Number(m[3]), hh, mm, ss, Number((m[7] ?? '0').padEnd(3, '0'))) - offset;
    return { start: t, end: t };
  }
  return null;
}

/** The forms a date may take, as an error message lists them. */
export const DATE_FORMS = '2024-03-05, 2024-03, 2024, 05.03.2024, 2024-03-05T10:30Z, today, yesterday, сегодня, вчера, 7d, 2w, 3m, 1y';
