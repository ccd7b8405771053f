/**
 * "Errors that need attention first": the dashboard's top panel, one sentence per item in the
 * chosen language with its catalogue code: connections stopped on an error (or paused on a full
 * disk), connections failing now (a last error later than their last success), alerts firing
 * (`GET /api/v1/alerts`), then connections that had an error and work again. Nothing to show: one
 * line saying so (and no heading: the page's first heading stays the connections table's).
 */
import type { ConnectionStatus, Connection } from './api.js';
import type { Alert } from './api-alerts.js';
import { ds } from './dashboard-strings.js';
import { fill } from './fill.js';
import { dateTime, errorText } from './i18n.js';
import { href } from './router.js';

/** A connection's status with the field the panel reads beyond api.ts's type. */
export type StatusSeen = ConnectionStatus & { lastSuccessAt?: string | null };

/** One item of the panel. */
export interface AttentionItem {
  kind: 'connection' | 'alert';
  name: string;
  /** The catalogue code, when there is one. */
  code: string | null;
  /** 0 first. */
  rank: number;
  text: string;
}

const errorOf = (e: { code: string; message: string }): string => errorText(e.code, e.message);

/** A connection's item, or null when it needs none. */
function connectionItem(c: Connection, s: StatusSeen | null): AttentionItem | null {
  if (!s) return null;
  const e = s.lastError;
  const base = { kind: 'connection' as const, name: c.name, code: e?.code ?? null };
  if (s.state === 'disk-full') return { ...base, rank: 0, text: fill(ds('connectionDiskFull'), { name: c.name }) };
  if (!e) return null;
  if (s.state === 'error') return { ...base, rank: 0, text: fill(ds('connectionError'), { name: c.name, error: errorOf(e) }) };
  const failingNow = !s.lastSuccessAt || Date.parse(e.at) >= Date.parse(s.lastSuccessAt);
  return failingNow
    ? { ...base, rank: 1, text: fill(ds('connectionFailing'), { name: c.name, at: dateTime(e.at), error: errorOf(e) }) }
    : { ...base, rank: 3, text: fill(ds('connectionRecovered'), { name: c.name, at: dateTime(e.at), error: errorOf(e) }) };
}

/** What needs attention, most urgent first (configured order within a rank). */
export function attentionItems(rows: Array<{ connection: Connection; status: StatusSeen | null }>, alerts: readonly Alert[]): AttentionItem[] {
  const items: AttentionItem[] = [];
  for (const r of rows) {
    const item = connectionItem(r.connection, r.status);
    if (item) items.push(item);
  }
  for (const a of alerts) {
    if (a.state !== 'firing') continue;
    const summary = a.summary ?? a.kind;
    const text = a.since ? fill(ds('alertFiring'), { rule: a.rule, since: dateTime(a.since), summary }) : fill(ds('alertFiringNoSince'), { rule: a.rule, summary });
    items.push({ kind: 'alert', name: a.rule, code: null, rank: 2, text });
  }
  return items.map((item, i) => ({ item, i })).sort((a, b) => a.item.rank - b.item.rank || a.i - b.i).map((x) => x.item);
}

export function AttentionPanel(props: { items: AttentionItem[] | null }) {
  const items = props.items;
  if (!items) return null;
  if (items.length === 0) {
    return (
      <p id="attention" class="all-clear" data-count="0">
        {ds('allClear')}
      </p>
    );
  }
  return (
    <section id="attention" class="attention-panel" aria-labelledby="attention-title" data-count={items.length}>
      <h2 id="attention-title">{ds('attentionTitle')}</h2>
      <ul>
        {items.map((it) => (
          <li key={`${it.kind}:${it.name}`} data-attention={it.kind} data-name={it.name} data-code={it.code ?? ''} class={it.rank < 3 ? 'urgent' : ''}>
            <span class="sentence">{it.text}</span>
            {it.code && <code class="code"> {it.code}</code>}{' '}
            {it.kind === 'alert' && <a href={href('alerts')}>{ds('showAlerts')}</a>}
          </li>
        ))}
      </ul>
    </section>
  );
}
