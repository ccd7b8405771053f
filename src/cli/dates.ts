/**
 * Dates given on the command line (`search --since/--before`): read strictly, so a date the
 * command cannot read is an error naming it, never a filter that silently matches nothing.
 */
import { MailsluiceError } from '../core/errors/index.js';

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * `value` as the ISO text the archive's dates compare with (`2026-01-31T08:00:00.000Z`; a bare
 * day stays `2026-01-31`, which sorts before every time of that day in UTC).
 *
 * @throws MailsluiceError `CLI_USAGE` naming the option and the value.
 */
export function parseDateOption(option: string, value: string): string {
  const day = DAY.exec(value);
  if (day) {
    const t = Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3]));
    // Date.UTC rolls 2026-02-30 over to March: a day that does not exist is refused.
    if (new Date(t).toISOString().slice(0, 10) === value) return value;
  } else if (DATE_TIME.test(value)) {
    const t = Date.parse(value);
    if (!Number.isNaN(t)) return new Date(t).toISOString();
  }
  throw new MailsluiceError('CLI_USAGE', `--${option}: cannot read ${JSON.stringify(value)} as a date; write a day (2026-01-31, UTC) or a time with its zone (2026-01-31T08:00:00Z)`);
}
