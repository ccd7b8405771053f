/**
 * The Retention page (Хранение; issue 16, items 3 and 4; docs/retention.md): the rules as
 * configured (name, keep, match, since), the default, how often the purge runs and when next,
 * and the last purge's report, read again every 10 s (`GET /api/v1/archive/retention`, viewer);
 * for an admin, Preview and Purge now (`purge-actions.tsx`).
 */
import { useState } from 'preact/hooks';
import { usePolled } from './use-polled.js';
import { getRetention, type RetentionRule, type RetentionView } from './api-retention.js';
import { PurgeActions } from './purge-actions.js';
import { PurgeFigures } from './purge-report.js';
import { rs } from './retention-strings.js';
import { fill } from './fill.js';
import { dateTime, num } from './i18n.js';
import { roleAllows, type PageProps } from './page.js';
import './retention.css';
import { DataTable } from './data-table.js';

/** How often the view (the last purge, the next) is asked for again: it changes at most once a purge. */
const REFRESH_MS = 10_000;

/** A rule's match as `connection: a, b; domain: x` (the configuration's own field names). */
function matchText(m: RetentionRule['match']): string {
  return (['connection', 'route', 'address', 'domain'] as const)
    .filter((f) => (m[f]?.length ?? 0) > 0)
    .map((f) => `${f}: ${(m[f] ?? []).join(', ')}`)
    .join('; ');
}

function RulesTable(props: { rules: RetentionRule[] }) {
  if (props.rules.length === 0) return <p id="no-rules">{rs('noRules')}</p>;
  return (
    <DataTable id="retention-rules" caption={rs('rules')} columns={[rs('name'), rs('keep'), rs('match'), rs('since')]}>
      {props.rules.map((r) => (
        <tr key={r.name} data-rule={r.name}>
          <th scope="row">{r.name}</th>
          <td data-field="keep">{r.keep}</td>
          <td data-field="match">{matchText(r.match)}</td>
          <td data-field="since">{r.since === 'received' ? rs('sinceReceived') : rs('sinceArchived')}</td>
        </tr>
      ))}
    </DataTable>
  );
}

/** The default, how often and when next. */
function Schedule(props: { view: RetentionView }) {
  const v = props.view;
  const rows: Array<[string, string, string]> = [
    ['default', rs('defaultLabel'), v.default ?? rs('forever')],
    ['every', rs('every'), fill(rs('everyHours'), { n: num(v.everyHours, 3) })],
    ['next', rs('next'), v.nextPurgeAt ? dateTime(v.nextPurgeAt) : rs('never')],
  ];
  return (
    <dl id="retention-schedule" class="purge-figures">
      {rows.map(([field, label, value]) => (
        <div key={field}>
          <dt>{label}</dt>
          <dd data-field={field}>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

export function RetentionPage(props: PageProps) {
  const admin = roleAllows(props.role, 'admin');
  const [tick, setTick] = useState(0);
  const polled = usePolled(getRetention, props.onSessionEnded, tick, REFRESH_MS);
  const view = polled.value;
  return (
    <section class="retention-page" aria-labelledby="page-title">
      <h1 id="page-title">{rs('title')}</h1>
      <p class="help">{rs('intro')}</p>
      {polled.error && (
        <p class="error" role="alert" id="retention-error">
          {polled.error}
        </p>
      )}
      {view && (
        <>
          <RulesTable rules={view.rules} />
          <Schedule view={view} />
          <section class="last-purge" aria-labelledby="last-purge-title">
            <h2 id="last-purge-title">{rs('lastTitle')}</h2>
            {view.lastPurge ? <PurgeFigures id="last-purge" report={view.lastPurge} /> : <p id="no-last-purge">{rs('noLast')}</p>}
          </section>
        </>
      )}
      {admin && <PurgeActions onSessionEnded={props.onSessionEnded} onPurged={() => setTick((t) => t + 1)} />}
    </section>
  );
}
