import { useCallback, useEffect, useState } from 'react';
import { api, ApiError, errorMessage, isAbort, type Answer, type CallOptions, type PathOf, type Query } from './api';

type GetPath = PathOf<'get'>;
/** A GET route's path parameters and query (openapi-fetch's `params`), as the route declares them. */
type Params<P extends GetPath> = NonNullable<CallOptions<'get', P>> extends { params?: infer X } ? X : never;
/** The params argument: required when the route has path parameters, optional otherwise. */
type ParamsArg<P extends GetPath> = undefined extends CallOptions<'get', P> ? [params?: Params<P>] : [params: Params<P>];

/**
 * Loads `path` with GET (null: load nothing). Keeps the last data while reloading.
 * `replace` shows data the server sent in answer to a change, without asking again.
 */
export function useApiGet<P extends GetPath>(path: P | null, ...[params]: ParamsArg<P>) {
  const [data, setData] = useState<Answer<'get', P> | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [generation, setGeneration] = useState(0);
  // The request depends on the parameters' values, not on the object a render made.
  const paramsKey = JSON.stringify(params ?? null);

  useEffect(() => {
    if (path === null) return;
    const controller = new AbortController();
    setLoading(true);
    // P is generic here, so the call's per-route option types cannot be resolved: the
    // signature above is what callers are checked against.
    const get = api.get as (path: GetPath, options: object) => Promise<Answer<'get', P>>;
    get(path, { params, signal: controller.signal })
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
  }, [path, paramsKey, generation]);

  const reload = useCallback(() => setGeneration((n) => n + 1), []);
  const replace = useCallback((next: Answer<'get', P>) => {
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

/** A page of a list, as every list route answers it ({ items, total, page, pageSize }). */
type ListPage = { items: unknown[]; total: number };
/** The GET routes that answer a page of a list. */
type ListPath = { [P in GetPath]: Answer<'get', P> extends ListPage ? P : never }[GetPath];
/** A list's filters as the form holds them: strings, '' for "any" (left out of the query). */
type Filters<P extends ListPath> = { [K in Exclude<keyof Query<P>, 'page' | 'pageSize'>]?: string };

/**
 * A paged, filtered list (users, corporations, firms, subscriptions, enrolled users, outbox):
 * the filters live in state, any change of filter goes back to page 1, and `paging` is what
 * DataTable wants.
 */
export function usePagedList<P extends ListPath, F extends Filters<P>>(path: P, initial: F) {
  const [filters, setFilters] = useState<F & { page: number }>({ ...initial, page: 1 });
  // The filters are the form's strings ('' is left out of the query); the server validates them like any query.
  const list = (useApiGet as (path: P, params: object) => ReturnType<typeof useApiGet<P>>)(path, { query: { ...filters, pageSize: PAGE_SIZE } });
  // A ListPath answers a ListPage; TypeScript cannot see it through the generic P.
  const total = (list.data as ListPage | undefined)?.total ?? 0;
  const refine = useCallback((change: Partial<F>) => setFilters((f) => ({ ...f, ...change, page: 1 })), []);
  const setPage = useCallback((page: number) => setFilters((f) => ({ ...f, page })), []);
  const paging = { page: filters.page, pageSize: PAGE_SIZE, total, onPage: setPage };
  return { filters, refine, setPage, list, paging };
}
