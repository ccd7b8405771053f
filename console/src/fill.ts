/** A page's sentence with its `{name}` slots filled: `fill('Connection {name} failed', { name })`. */
export function fill(sentence: string, values: Record<string, string | number>): string {
  return sentence.replace(/\{(\w+)\}/g, (slot, key: string) => (Object.hasOwn(values, key) ? String(values[key]) : slot));
}
