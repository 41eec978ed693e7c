import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, ApiError, onEnrollmentRequired, onSessionEnded, resetCsrfToken, type LoginNotice, type Me, type Operator, type SessionUser } from './api';
import { navigate } from './router';
import { nextParam, safeNext, withNext } from './safe-next';

export type Session =
  | { status: 'loading' }
  | { status: 'anonymous' }
  | { status: 'operator'; operator: Operator }
  | { status: 'user'; user: SessionUser };

interface SessionContextValue {
  session: Session;
  /** Asks the server who is signed in (after login, or on first load). */
  refresh(): Promise<Session>;
  logOut(): Promise<void>;
}

const SessionContext = createContext<SessionContextValue | null>(null);

function fromMe(me: Me): Session {
  return me.principal === 'operator'
    ? { status: 'operator', operator: me.operator }
    : { status: 'user', user: me.user };
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session>({ status: 'loading' });

  const refresh = useCallback(async (): Promise<Session> => {
    let next: Session;
    try {
      next = fromMe(await api.get('/me'));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      next = { status: 'anonymous' };
    }
    setSession(next);
    return next;
  }, []);

  const logOut = useCallback(async () => {
    const wasOperator = session.status === 'operator';
    try {
      await api.post('/logout');
    } catch {
      // Signed out either way: the session may already have ended on the server.
    }
    resetCsrfToken();
    setSession({ status: 'anonymous' });
    navigate(wasOperator ? '/operator/login' : '/login');
  }, [session.status]);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  useEffect(() => onSessionEnded(() => setSession({ status: 'anonymous' })), []);

  // The firm now requires a second factor of this superuser: enrol, then come back to this page.
  useEffect(() => onEnrollmentRequired(() => navigate(withNext('/enroll', window.location.pathname + window.location.search), { replace: true })), []);

  const value = useMemo(() => ({ session, refresh, logOut }), [session, refresh, logOut]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionContextValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession must be used inside <SessionProvider>');
  return value;
}

/** Where a signed-in principal starts. */
export function homePath(session: Session): string {
  if (session.status === 'operator') return '/operator';
  if (session.status === 'user') return '/home';
  return '/login';
}

/**
 * Ends a login that passed its last step (password, second factor, enrollment or the
 * no-licence bypass): the server issued a new session, so the CSRF token is fetched
 * again, and the user goes to the page first asked for (`?next=`) or the homepage.
 */
export function useFinishSignIn(): (notice?: LoginNotice) => Promise<void> {
  const { refresh } = useSession();
  return useCallback(
    async (notice?: LoginNotice) => {
      resetCsrfToken();
      await refresh();
      navigate(safeNext(nextParam()), { state: notice ? { notice } : undefined });
    },
    [refresh],
  );
}

/** Back to the sign-in page (a pending login expired or never existed), keeping `?next=`. */
export function signInAgain(): void {
  navigate(withNext('/login', nextParam()), { replace: true, state: { notice: 'sign_in_again' } });
}

/** The sign-in page for a page that needs a login: it brings the user back here afterwards. */
export function loginPathFor(path: string, search = window.location.search): string {
  return path === '/home' ? '/login' : withNext('/login', path + search);
}
