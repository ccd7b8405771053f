/**
 * A server line quoted for an error sentence: JSON-quoted (control bytes visible) and cut to
 * about 100 characters, so a server sending megabytes of garbage cannot flood a log line. Every
 * source adapter quotes what its server said this one way.
 */
export function quoteServerLine(line: string): string {
  const max = 100;
  return line.length > max ? `${JSON.stringify(line.slice(0, max))}…` : JSON.stringify(line);
}
