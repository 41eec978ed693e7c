import type { ReactNode } from 'react';
import { TopBar } from './components/TopBar';
import { AdminApplications } from './pages/AdminApplications';
import { AdminAudit } from './pages/AdminAudit';
import { AdminCorporations } from './pages/AdminCorporations';
import { AdminMfa } from './pages/AdminMfa';
import { AdminSubscriptions } from './pages/AdminSubscriptions';
import { AdminUsers } from './pages/AdminUsers';
import { Home } from './pages/Home';
import { Enroll } from './pages/Enroll';
import { DuoPrompt } from './pages/DuoPrompt';
import { EnrollLink } from './pages/EnrollLink';
import { Login } from './pages/Login';
import { MySecurity } from './pages/MySecurity';
import { OperatorAudit } from './pages/OperatorAudit';
import { OperatorFirms } from './pages/OperatorFirms';
import { OperatorOperators } from './pages/OperatorOperators';
import { OperatorOutbox } from './pages/OperatorOutbox';
import { OperatorSubscriptions } from './pages/OperatorSubscriptions';
import { SecondFactor } from './pages/SecondFactor';
import { SetPassword } from './pages/SetPassword';
import { Redirect, usePath } from './router';
import { homePath, loginPathFor, useSession, type Session } from './session';

function Loading() {
  return <p className="muted page">Loading…</p>;
}

function adminPage(path: string): ReactNode {
  switch (path) {
    case '/admin/users':
      return <AdminUsers />;
    case '/admin/corporations':
      return <AdminCorporations />;
    case '/admin/applications':
      return <AdminApplications />;
    case '/admin/subscriptions':
      return <AdminSubscriptions />;
    case '/admin/audit':
      return <AdminAudit />;
    default:
      return <AdminMfa />;
  }
}

/** Chooses the page for a path, sending visitors who may not see it to the right sign-in page. */
function route(path: string, session: Session): ReactNode {
  // An application's Universal Prompt (Duo Web SDK): second factor only, no Tessera session.
  const prompt = /^\/duo\/prompt\/([0-9a-f-]{36})$/.exec(path);
  if (prompt) return <DuoPrompt id={prompt[1]!} />;
  switch (path) {
    case '/login':
      return <Login key="user" audience="user" />;
    case '/operator/login':
      return <Login key="operator" audience="operator" />;
    case '/set-password':
      return <SetPassword />;
    // The steps of a login between password and homepage: a pending login is no session
    // yet (/me answers 401), so these pages ask the server themselves.
    case '/mfa':
      return <SecondFactor />;
    case '/enroll':
      return <Enroll />;
    case '/enroll/duo':
      return <EnrollLink />;
  }

  if (session.status === 'loading') return <Loading />;

  switch (path) {
    case '/operator':
    case '/operator/subscriptions':
    case '/operator/outbox':
    case '/operator/security':
    case '/operator/operators':
    case '/operator/audit':
      if (session.status !== 'operator') return <Redirect to="/operator/login" />;
      if (path === '/operator/audit') return <OperatorAudit />;
      if (path === '/operator/operators') return <OperatorOperators selfId={session.operator.id} />;
      if (path === '/operator/security') return <MySecurity owner={{ name: session.operator.name, email: session.operator.email, orgName: 'Tessera operators' }} base="/operator" />;
      return path === '/operator' ? <OperatorFirms /> : path === '/operator/outbox' ? <OperatorOutbox /> : <OperatorSubscriptions />;
    case '/home':
      if (session.status !== 'user') return <Redirect to={loginPathFor(path)} />;
      return <Home user={session.user} />;
    case '/me/security':
      if (session.status !== 'user') return <Redirect to={loginPathFor(path)} />;
      return <MySecurity owner={{ name: session.user.name, email: session.user.email, orgName: session.user.firm.name }} base="/me" />;
    case '/admin/users':
    case '/admin/corporations':
    case '/admin/applications':
    case '/admin/subscriptions':
    case '/admin/mfa':
    case '/admin/audit':
      if (session.status !== 'user') return <Redirect to={loginPathFor(path)} />;
      if (!session.user.isSuperuser) return <Redirect to="/home" />;
      return adminPage(path);
    default:
      return <Redirect to={homePath(session)} />;
  }
}

export function App() {
  const path = usePath();
  const { session } = useSession();
  return (
    <>
      <TopBar />
      <main className="main">{route(path, session)}</main>
    </>
  );
}
