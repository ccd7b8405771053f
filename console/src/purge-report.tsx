/**
 * A purge's report as the Retention page shows it: the last scheduled (or asked) purge, a preview
 * (dry run) and the result of Purge now alike — the counts, what each hold kept, the space given
 * back, a scheduled purge's error, and the items listed (the API lists the first 1,000 only).
 */
import type { PurgeItem, PurgeReport } from './api-retention.js';
import { sizeText } from './archive-text.js';
import { fill } from './fill.js';
import { dateTime, num } from './i18n.js';
import { rs } from './retention-strings.js';
import { DataTable } from './data-table.js';

function holdsText(holds: Record<string, number>): string {
  const names = Object.keys(holds).sort();
  return names.length === 0 ? rs('holdsNone') : names.map((n) => `${n}: ${num(holds[n] ?? 0)}`).join(', ');
}

function spaceText(space: PurgeReport['space']): string {
  // No pack rewritten: the blob store is as large as before (its compaction decides when a pack is worth it).
  if (!space || space.packsRewritten === 0) return rs('spaceNone');
  return fill(rs('spaceText'), { freed: sizeText(Math.max(0, space.bytesBefore - space.bytesAfter)), before: sizeText(space.bytesBefore), after: sizeText(space.bytesAfter) });
}

/** The report's figures as a description list, each `<dd>` named by `data-field`. */
export function PurgeFigures(props: { report: PurgeReport; id: string }) {
  const r = props.report;
  const rows: Array<[string, string, string]> = [
    ['when', rs('when'), dateTime(r.startedAt)],
    ['as-of', rs('asOf'), dateTime(r.asOf)],
    ['scanned', rs('scanned'), num(r.scanned)],
    ['expired', rs('expired'), num(r.expired)],
    ['purged', r.dryRun ? rs('wouldPurge') : rs('purged'), num(r.purged)],
    ['bytes', rs('bytes'), sizeText(r.bytesPurged)],
    ['kept-by-holds', rs('keptByHolds'), `${num(r.keptByHolds)} (${holdsText(r.holds)})`],
    ['kept-pending', rs('keptPending'), num(r.keptPending)],
  ];
  if (!r.dryRun) rows.push(['space', rs('space'), spaceText(r.space)]);
  return (
    <>
      {r.error && (
        <p class="error" role="alert" data-field="error">
          {fill(rs('failed'), { error: r.error })}
        </p>
      )}
      <dl id={props.id} class="purge-figures">
        {rows.map(([field, label, value]) => (
          <div key={field}>
            <dt>{label}</dt>
            <dd data-field={field}>{value}</dd>
          </div>
        ))}
      </dl>
    </>
  );
}

/** The messages a report lists, saying so when the API listed only the first of them. */
export function PurgeItems(props: { report: PurgeReport }) {
  const r = props.report;
  const items: PurgeItem[] = r.items ?? [];
  if (items.length === 0) return <p id="purge-no-items">{rs('noItems')}</p>;
  return (
    <>
      {items.length < r.purged && (
        <p id="purge-truncated" class="help">
          {fill(rs('truncated'), { shown: num(items.length), total: num(r.purged) })}
        </p>
      )}
      <DataTable id="purge-items" caption={r.dryRun ? rs('itemsCaption') : rs('itemsCaptionDone')} columns={[rs('id'), rs('connection'), rs('archivedAt'), rs('size'), rs('rule')]}>
        {items.map((i) => (
          <tr key={i.id} data-id={i.id}>
            <th scope="row">{i.id}</th>
            <td data-label={rs('connection')}>{i.connection}</td>
            <td data-label={rs('archivedAt')}>{dateTime(i.takenAt)}</td>
            <td data-label={rs('size')}>{sizeText(i.size)}</td>
            <td data-label={rs('rule')}>{i.rule}</td>
          </tr>
        ))}
      </DataTable>
    </>
  );
}
