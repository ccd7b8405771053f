/**
 * Schedule windows: a connection drains only inside its weekly windows, in its time zone.
 */
export type Day = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
/** A schedule as configured. */
export type Schedule = 'any-time' | { timezone: string; windows: ReadonlyArray<{ days: readonly Day[]; from: string; to: string }> };

const DAYS: Day[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

function localParts(epochMs: number, timeZone: string): { day: Day; minutes: number } {
  const fmt = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const parts = fmt.formatToParts(new Date(epochMs));
  const wd = (parts.find((p) => p.type === 'weekday')?.value ?? 'Sun').slice(0, 3).toLowerCase() as Day;
  const h = Number(parts.find((p) => p.type === 'hour')?.value ?? 0);
  const m = Number(parts.find((p) => p.type === 'minute')?.value ?? 0);
  return { day: wd, minutes: h * 60 + m };
}

function toMinutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

/**
 * Whether `epochMs` lies inside the schedule. A window whose `to` is not after `from` runs past
 * midnight into the next day (20:00–06:00 on mon covers Monday night until Tuesday 06:00).
 */
export function isWithinSchedule(schedule: Schedule, epochMs: number): boolean {
  if (schedule === 'any-time') return true;
  const { day, minutes } = localParts(epochMs, schedule.timezone);
  const yesterday = DAYS[(DAYS.indexOf(day) + 6) % 7]!;
  for (const w of schedule.windows) {
    const from = toMinutes(w.from);
    const to = toMinutes(w.to);
    if (from < to) {
      if (w.days.includes(day) && minutes >= from && minutes < to) return true;
    } else {
      if (w.days.includes(day) && minutes >= from) return true;
      if (w.days.includes(yesterday) && minutes < to) return true;
    }
  }
  return false;
}

/** Milliseconds until the schedule next opens (0 when open now), scanning minute by minute up to a week. */
export function msUntilOpen(schedule: Schedule, epochMs: number): number {
  if (isWithinSchedule(schedule, epochMs)) return 0;
  const start = Math.floor(epochMs / 60000) * 60000 + 60000;
  for (let t = start; t <= epochMs + 8 * 24 * 3600 * 1000; t += 60000) if (isWithinSchedule(schedule, t)) return t - epochMs;
  return 60 * 60 * 1000;
}
