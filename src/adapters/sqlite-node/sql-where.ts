/**
 * The WHERE clause of a query whose filters are optional (`search`, `deliveries list`): each
 * condition is AND-ed in only when its value was given, with the value as its one parameter.
 */
export class SqlWhere {
  /** The parameters of the conditions added, in order. */
  readonly args: unknown[] = [];
  private readonly conditions: string[] = [];

  /** Adds `condition` (one `?`) with `value`, unless the value is absent (undefined, null or ''). */
  when(condition: string, value: unknown): this {
    if (value === undefined || value === null || value === '') return this;
    this.conditions.push(condition);
    this.args.push(value);
    return this;
  }

  /** Adds `condition` with its parameters `values` (one `?` each, in order). */
  withArgs(condition: string, ...values: unknown[]): this {
    this.conditions.push(condition);
    this.args.push(...values);
    return this;
  }

  /** Adds a condition without a parameter. */
  always(condition: string): this {
    this.conditions.push(condition);
    return this;
  }

  /** `WHERE a AND b`, or '' when nothing was added. */
  clause(): string {
    return this.conditions.length > 0 ? `WHERE ${this.conditions.join(' AND ')}` : '';
  }
}
