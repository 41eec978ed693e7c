import { useCallback, useEffect, useState } from 'react';
import { api, ApiError, errorMessage, isAbort } from './api';

/**
 * Loads `path` with GET (null: load nothing). Keeps the last data while reloading.
 * `replace` shows data the server sent in answer to a change, without asking again.
 */
export function useApiGet<T>(path: string | null) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    if (path === null) return;
    const controller = new AbortController();
    setLoading(true);
    api
      .get<T>(path, controller.signal)
      .then((body) => {
        setData(body);
        setError(null);
      })
      .catch((cause: unknown) => {
        if (isAbort(cause)) return;
        // A 401 is handled by the session (it sends the user to the sign-in page).
        if (cause instanceof ApiError && cause.status === 401) return;
        setError(errorMessage(cause));
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(false);
      });
    return () => controller.abort();
  }, [path, generation]);

  const reload = useCallback(() => setGeneration((n) => n + 1), []);
  const replace = useCallback((next: T) => {
    setData(next);
    setError(null);
  }, []);
  return { data, error, loading, reload, replace };
}

/** Runs one state-changing request at a time and remembers its error message. */
export function useAction() {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const run = useCallback(async <T,>(action: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> => {
    setPending(true);
    setError(null);
    try {
      return { ok: true, value: await action() };
    } catch (cause) {
      setError(errorMessage(cause));
      return { ok: false };
    } finally {
      setPending(false);
    }
  }, []);

  return { pending, error, setError, run };
}
