/**
 * The search set's mail (issue 17, "What good looks like"): many small messages made fast and
 * deterministically, in English and Russian with real word forms (so a stem finds what an exact
 * match does not), a few senders and recipients that recur, dates over three years, an
 * attachment now and then, a word that is rare on purpose and words that are in almost every
 * message. Written as one mboxrd file, which `mailsluice import` takes in.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { seededRandom } from '../test/harness/random.js';
import { mailText } from '../test/harness/attachment-mail.js';


const EN = (
  'the of and to in is that for it as with was on be by this are from at or have an they which one you ' +
  'report quarterly budget invoice invoices invoicing meeting meetings schedule contract contracts delivery ' +
  'shipment payment payments approved approval review reviewed customer customers supplier suppliers ' +
  'project projects deadline deadlines revenue growth costs regional office offices team teams manager ' +
  'account accounts balance transfer transfers order orders pricing discount audit audits compliance ' +
  'policy policies legal request requests running runs ran forecast forecasts summary attached please ' +
  'regards thanks tomorrow yesterday week month year plan plans update updates'
).split(' ');

/** Russian lemmas with some of their forms, as people write them. */
const RU = [
  'письмо письма письму письмом письме писем письмами',
  'отчёт отчёта отчёту отчётом отчёте отчёты отчётов',
  'договор договора договору договором договоре договоры договоров',
  'счёт счёта счёту счётом счета счетов',
  'встреча встречи встрече встречу встречей встреч',
  'оплата оплаты оплате оплату оплатой',
  'поставка поставки поставке поставку поставок',
  'клиент клиента клиенту клиентом клиенты клиентов',
  'бюджет бюджета бюджету бюджетом бюджеты',
  'проект проекта проекту проектом проекты проектов',
  'согласование согласования согласованию согласованием',
  'и в на с по для что не это как от до из за',
  'пожалуйста спасибо завтра сегодня неделя месяц квартал',
].map((l) => l.split(' '));

/** An index drawn with a Zipf-like skew: low indexes (the common words) far more often. */
function zipf(r: () => number, n: number): number {
  return Math.min(n - 1, Math.floor(Math.pow(r(), 2.2) * n));
}

/** The word that only {@link RARE_EVERY}-th messages hold. */
export const RARE_WORD = 'quasarix';
/** One message in this many holds {@link RARE_WORD}. */
export const RARE_EVERY = 100_000;
/** Every this-many-th message has an attachment. */
export const ATTACHMENT_EVERY = 20;
/** The senders that recur (the bench's `from:` query names the first). */
export const SENDERS = 2_000;
/** The first sender's address. */
export const FIRST_SENDER = 'person0@corp0.example';
/** Dates run over these three years, oldest first. */
export const FIRST_DAY = Date.UTC(2023, 0, 1);
const SPAN_MS = 3 * 365 * 86_400_000;

function words(r: () => number, n: number, russian: boolean): string {
  const out: string[] = [];
  for (let k = 0; k < n; k++) {
    if (russian && r() < 0.7) {
      const lemma = RU[zipf(r, RU.length)]!;
      out.push(lemma[Math.floor(r() * lemma.length)]!);
    } else out.push(EN[zipf(r, EN.length)]!);
  }
  return out.join(' ');
}

/** Folds text into lines of about 72 characters (CRLF). */
function fold(text: string): string {
  return text.replace(/(.{1,72})(?:\s+|$)/gu, '$1\r\n');
}

/** Message `i` of `count` (its date grows with `i`), CRLF. */
export function searchMessage(i: number, count: number): string {
  const r = seededRandom(i * 2654435761 + 17);
  const russian = r() < 0.4;
  const sender = zipf(r, SENDERS);
  const to = [zipf(r, SENDERS), zipf(r, SENDERS)];
  const date = new Date(FIRST_DAY + Math.floor((i / count) * SPAN_MS));
  let body = words(r, 40 + Math.floor(r() * 80), russian);
  if (i % RARE_EVERY === 7) body += ` ${RARE_WORD}`;
  const head = [
    `From: Person ${sender} <person${sender}@corp${sender % 50}.example>`,
    `To: ${to.map((t) => `person${t}@corp${t % 50}.example`).join(', ')}`,
    ...(r() < 0.2 ? [`Cc: person${zipf(r, SENDERS)}@corp1.example`] : []),
    `Subject: =?UTF-8?B?${Buffer.from(words(r, 3 + Math.floor(r() * 4), russian)).toString('base64')}?=`,
    `Date: ${date.toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <s${i}@bench.mailsluice.invalid>`,
    'MIME-Version: 1.0',
  ];
  const attachments = i % ATTACHMENT_EVERY === 3 ? [{ name: `scan-${i}.bin`, type: 'application/octet-stream', bytes: Buffer.from(`attachment ${i} `.repeat(8)) }] : [];
  return mailText(head, fold(body), attachments, `b${i}`);
}

/**
 * Writes messages `0 … count-1` to `file` as mboxrd (LF line ends, `From ` lines quoted with
 * `>`); answers the bytes of the messages themselves (CRLF, as a mail server would keep them).
 */
export async function writeSearchMbox(file: string, count: number): Promise<number> {
  const ws = createWriteStream(file);
  let raw = 0;
  for (let i = 0; i < count; i++) {
    const m = searchMessage(i, count);
    raw += Buffer.byteLength(m);
    const lf = m.replace(/\r\n/g, '\n').replace(/^(>*From )/gm, '>$1');
    if (!ws.write(`From bench@mailsluice.invalid Thu Jan  1 00:00:00 2026\n${lf}${lf.endsWith('\n') ? '' : '\n'}\n`)) await once(ws, 'drain');
  }
  ws.end();
  await once(ws, 'finish');
  return raw;
}
