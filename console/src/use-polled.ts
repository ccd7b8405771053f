/**
 * What a live page asks the API again and again (the dashboard, the alerts): one load at a time,
 * the next asked for only `everyMs` after the last answered, so a slow service is never piled
 * on; stopped when the page goes. A 401 ends the session; another failure keeps the last value
 * shown beside the error's sentence.
 */
import { useEffect, useState } from 'preact/hooks';
import { sessionEnded } from './api.js';
import { failureText } from './i18n.js';

/** How often live pages ask again. */
export const REFRESH_MS = 2000;

/** The last value loaded, the last failure's sentence (null after a success), and when the last success was. */
export interface Polled<T> {
  value: T | null;
  error: string | null;
  at: Date | null;
}

/** Loads with `load` now and every `everyMs` after each answer while the page lives; `restart` (a changing value) loads again at once. */
export function usePolled<T>(load: () => Promise<T>, onSessionEnded: () => void, restart: unknown = 0, everyMs = REFRESH_MS): Polled<T> {
  const [state, setState] = useState<Polled<T>>({ value: null, error: null, at: null });
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const once = async (): Promise<void> => {
      try {
        const value = await load();
        if (stopped) return;
        setState({ value, error: null, at: new Date() });
      } catch (err) {
        if (stopped) return;
        if (sessionEnded(err)) return onSessionEnded();
        setState((s) => ({ ...s, error: failureText(err) }));
      }
      if (!stopped) timer = setTimeout(once, everyMs);
    };
    void once();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [restart]);
  return state;
}
