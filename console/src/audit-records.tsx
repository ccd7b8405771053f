/**
 * The Audit page's list: one entry per record, the newest first, each with its action in words,
 * when (in the chosen language), who, from where, its number, and its details as a list of
 * names (in words) and values (never a secret: the service redacts them before it seals a record).
 */
import type { AuditRecord } from './api-audit.js';
import { actionLabel, detailLabel, s } from './audit-strings.js';
import { dateTime, num } from './i18n.js';

/** A detail's value as text: lists joined, nested objects as compact JSON. */
function valueText(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'boolean') return v ? s('yes') : s('no');
  if (Array.isArray(v)) return v.map(valueText).join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function Detail(props: { detail: unknown }) {
  const d = props.detail;
  if (d === null || d === undefined || (typeof d === 'object' && !Array.isArray(d) && Object.keys(d).length === 0)) {
    return <p class="help">{s('noDetail')}</p>;
  }
  if (typeof d !== 'object' || Array.isArray(d)) return <p class="audit-raw">{valueText(d)}</p>;
  return (
    <dl class="audit-detail">
      {Object.entries(d as Record<string, unknown>).map(([k, v]) => (
        <div key={k} data-key={k}>
          <dt title={k}>{detailLabel(k)}</dt>
          <dd>{valueText(v)}</dd>
        </div>
      ))}
    </dl>
  );
}

/** The records shown so far. */
export function AuditRecords(props: { records: AuditRecord[] }) {
  if (props.records.length === 0) return <p id="audit-empty">{s('empty')}</p>;
  return (
    <ol id="audit-records" class="audit-records" aria-label={s('title')}>
      {props.records.map((r) => (
        <li key={r.seq} data-seq={r.seq} data-action={r.action} data-who={r.who}>
          <h3 class="audit-action">
            {actionLabel(r.action)} <code>{r.action}</code>
          </h3>
          <dl class="audit-meta">
            <div>
              <dt>{s('at')}</dt>
              <dd>
                <time dateTime={r.at}>{dateTime(r.at)}</time>
              </dd>
            </div>
            <div>
              <dt>{s('whoShort')}</dt>
              <dd class="audit-who">{r.who}</dd>
            </div>
            <div>
              <dt>{s('origin')}</dt>
              <dd>{r.origin}</dd>
            </div>
            <div>
              <dt>{s('seq')}</dt>
              <dd>№ {num(r.seq)}</dd>
            </div>
          </dl>
          <Detail detail={r.detail} />
        </li>
      ))}
    </ol>
  );
}
