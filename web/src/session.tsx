import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, ApiError, onSessionEnded, resetCsrfToken, type Me, type Operator, type SessionUser } from './api';
import { navigate } from './router';

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
      next = fromMe(await api.get<Me>('/me'));
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
