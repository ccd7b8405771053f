/**
 * The throughput of the last hour as an inline SVG drawn here (no chart library; no `style`
 * attribute anywhere: the CSP forbids inline styles, so geometry is SVG attributes and colours are
 * classes in dashboard.css): one bar per minute of the messages taken (`GET
 * /api/v1/stats/throughput`), the axes labelled in the chosen language. Its text alternative is
 * the SVG's `<title>`/`<desc>` (the total, the current minute, the peak) and a visually hidden
 * table of the minutes that took messages, per connection.
 */
import type { Throughput } from './api-stats.js';
import { ds } from './dashboard-strings.js';
import { fill } from './fill.js';
import { lang, num } from './i18n.js';

/** The drawing's own coordinates (the SVG scales to its box through `viewBox`). */
const W = 640;
const H = 210;
/** Room for the axes' labels, at the larger size a narrow screen gets (dashboard.css). */
const M = { left: 56, right: 12, top: 26, bottom: 32 };

/** A minute's start as the chosen language writes a time of day (`21:40`). */
function hhmm(ms: number): string {
  return new Intl.DateTimeFormat(lang.value, { hour: '2-digit', minute: '2-digit' }).format(new Date(ms));
}

/** Bytes in the largest unit that keeps a number above 1 (`1.2 MB`, `1,2 МБ`). */
export function bytesText(n: number): string {
  const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'] as const;
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return new Intl.NumberFormat(lang.value, { style: 'unit', unit: units[i], unitDisplay: 'short', maximumFractionDigits: i === 0 ? 0 : 1 }).format(v);
}

/** A round top for the y axis at or above `peak` (1, 2, 5 × a power of ten). */
function axisTop(peak: number): number {
  if (peak <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(peak));
  return [1, 2, 5, 10].map((f) => f * p).find((v) => v >= peak)!;
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

export function ThroughputChart(props: { data: Throughput | null; failed: boolean }) {
  const d = props.data;
  if (!d) {
    return props.failed ? <p class="error">{ds('throughputUnavailable')}</p> : null;
  }
  const from = Date.parse(d.from);
  const step = d.bucketSeconds * 1000;
  const counts = d.total.messages;
  const n = counts.length;
  const peak = Math.max(0, ...counts);
  const top = axisTop(peak);
  const total = sum(counts);
  const current = counts[n - 1] ?? 0;
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const barW = plotW / Math.max(1, n);
  const y = (v: number): number => M.top + plotH - (v / top) * plotH;
  const xTicks = [0, 15, 30, 45, n - 1].filter((i, k, all) => i >= 0 && i < n && all.indexOf(i) === k);
  const yTicks = [0, top / 2, top].filter((v, k, all) => Number.isInteger(v) && all.indexOf(v) === k);
  const desc = fill(ds('throughputDesc'), { total: num(total), minutes: num(n), current: num(current), time: hhmm(from + (n - 1) * step), peak: num(peak) });
  const active = counts.map((c, i) => ({ c, i })).filter((x) => x.c > 0);
  return (
    <figure class="throughput" aria-labelledby="throughput-title">
      <h2 id="throughput-title">{ds('throughputTitle')}</h2>
      <svg
        class="throughput-chart"
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-labelledby="throughput-svg-title throughput-svg-desc"
        data-total={total}
        data-current={current}
        data-minutes={n}
        preserveAspectRatio="xMidYMid meet"
      >
        <title id="throughput-svg-title">{ds('throughputTitle')}</title>
        <desc id="throughput-svg-desc">{desc}</desc>
        <g class="grid" aria-hidden="true">
          {yTicks.map((v) => (
            <g key={`y${v}`}>
              <line x1={M.left} x2={W - M.right} y1={y(v)} y2={y(v)} />
              <text class="axis-label" x={M.left - 6} y={y(v) + 4} text-anchor="end">
                {num(v)}
              </text>
            </g>
          ))}
          {xTicks.map((i) => (
            // The first and last labels keep inside the drawing: anchored at their outer end.
            <text key={`x${i}`} class="axis-label" x={M.left + i * barW + barW / 2} y={H - 8} text-anchor={i === 0 ? 'start' : i === n - 1 ? 'end' : 'middle'}>
              {hhmm(from + i * step)}
            </text>
          ))}
          <text class="axis-title" x={M.left} y={M.top - 8}>
            {ds('axisMessages')}
          </text>
        </g>
        <g class="bars" aria-hidden="true">
          {active.map(({ c, i }) => (
            <rect key={i} class={i === n - 1 ? 'bar current' : 'bar'} x={M.left + i * barW + 0.5} width={Math.max(1, barW - 1)} y={y(c)} height={Math.max(1, y(0) - y(c))} data-minute={i} data-count={c} />
          ))}
        </g>
      </svg>
      <figcaption>
        {fill(ds('throughputSummary'), { total: num(total), bytes: bytesText(sum(d.total.bytes)) })}{' '}
        {d.connections.map((c) => `${c.name}: ${num(sum(c.messages))}`).join(' · ')}
      </figcaption>
      <ThroughputTable data={d} rows={active.map((x) => x.i)} />
    </figure>
  );
}

/** The chart's figures as a table a screen reader can walk (hidden from sight: the chart shows them). */
function ThroughputTable(props: { data: Throughput; rows: number[] }) {
  const d = props.data;
  const from = Date.parse(d.from);
  const step = d.bucketSeconds * 1000;
  return (
    <table class="visually-hidden" id="throughput-table">
      <caption>{ds('tableCaption')}</caption>
      <thead>
        <tr>
          <th scope="col">{ds('minute')}</th>
          <th scope="col">{ds('total')}</th>
          {d.connections.map((c) => (
            <th key={c.name} scope="col">
              {c.name}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {props.rows.length === 0 && (
          <tr>
            <td colSpan={2 + d.connections.length}>{ds('noneTaken')}</td>
          </tr>
        )}
        {props.rows.map((i) => (
          <tr key={i}>
            <th scope="row">{hhmm(from + i * step)}</th>
            <td>{num(d.total.messages[i] ?? 0)}</td>
            {d.connections.map((c) => (
              <td key={c.name}>{num(c.messages[i] ?? 0)}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
