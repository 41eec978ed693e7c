import { useCallback, useEffect, useState } from 'react';
import { api, ApiError, errorMessage, isAbort, query, type Page as ListPage } from './api';

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

/** Rows per page of every admin list. */
export const PAGE_SIZE = 20;

/**
 * A paged, filtered list (users, corporations, firms, subscriptions, enrolled users, outbox):
 * the filters live in state, any change of filter goes back to page 1, and `paging` is what
 * DataTable wants.
 */
export function usePagedList<T, F extends Record<string, string>>(path: string, initial: F) {
  const [filters, setFilters] = useState<F & { page: number }>({ ...initial, page: 1 });
  const list = useApiGet<ListPage<T>>(`${path}${query({ ...filters, pageSize: PAGE_SIZE })}`);
  const refine = useCallback((change: Partial<F>) => setFilters((f) => ({ ...f, ...change, page: 1 })), []);
  const setPage = useCallback((page: number) => setFilters((f) => ({ ...f, page })), []);
  const paging = { page: filters.page, pageSize: PAGE_SIZE, total: list.data?.total ?? 0, onPage: setPage };
  return { filters, refine, setPage, list, paging };
}
