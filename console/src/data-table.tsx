/**
 * A table as every console page draws one: in a wrapper that scrolls on a narrow screen, a
 * caption or the page's title naming it (for screen readers), one header row of column labels
 * (`scope="col"`, numbers right-aligned), and the rows the page gives.
 */
import type { ComponentChildren } from 'preact';

/** A column: its label, or `{ label, num }` for a column of numbers; `false` leaves it out. */
export type Column = string | { label: string; num: true } | false;

/** Props of {@link DataTable}. */
export interface DataTableProps {
  id?: string;
  /** Shown above the table; without one, `labelledBy` names it. */
  caption?: string;
  /** The id of the element that names the table (the page title). */
  labelledBy?: string;
  columns: Column[];
  /** The body's rows. */
  children: ComponentChildren;
}

/** The table, its header row and the rows given. */
export function DataTable(props: DataTableProps) {
  return (
    <div class="table-wrap">
      <table id={props.id} aria-labelledby={props.labelledBy}>
        {props.caption !== undefined && <caption>{props.caption}</caption>}
        <thead>
          <tr>
            {props.columns.map((c) =>
              c === false ? null : typeof c === 'string' ? (
                <th scope="col">{c}</th>
              ) : (
                <th scope="col" class="num">
                  {c.label}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}
