/**
 * The console's pages by the URL's hash (`#/connections/journal`): a reload or a bookmark opens
 * the same page, the browser's back button works, and the server serves one file for all of them.
 */
import { useEffect, useState } from 'preact/hooks';

/** The hash's path as segments, decoded: `#/connections/a%20b` is `['connections', 'a b']`; `#/` is `[]`. */
export function currentPath(): string[] {
  const h = location.hash.replace(/^#\/?/, '').split('?')[0] ?? '';
  return h ? h.split('/').map((p) => decodeURIComponent(p)) : [];
}

/** The hash's query (`#/archive?q=invoice`) as parameters. */
export function currentQuery(): URLSearchParams {
  const q = location.hash.split('?')[1];
  return new URLSearchParams(q ?? '');
}

/** The link of a page: `href('connections', name)` is `#/connections/<name encoded>`. */
export function href(...segments: string[]): string {
  return `#/${segments.map((s) => encodeURIComponent(s)).join('/')}`;
}

/** Opens a page (`navigate('connections', name)`), adding it to the history. */
export function navigate(...segments: string[]): void {
  location.hash = href(...segments);
}

/** The current path, re-rendering on every change of the hash. */
export function usePath(): string[] {
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const changed = (): void => setPath(currentPath());
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return path;
}
