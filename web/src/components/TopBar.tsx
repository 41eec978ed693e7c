import { Link } from '../router';
import { homePath, useSession } from '../session';

export function TopBar() {
  const { session, logOut } = useSession();
  const who =
    session.status === 'user'
      ? { name: session.user.name, detail: `${session.user.email} · ${session.user.firm.name}` }
      : session.status === 'operator'
        ? { name: session.operator.name, detail: `${session.operator.email} · Operator` }
        : null;

  return (
    <header className="topbar">
      <div className="topbar-inner">
        <Link to={homePath(session)} className="brand">
          Tessera
        </Link>
        {who ? (
          <div className="topbar-user">
            <span className="topbar-who">
              <span className="topbar-name">{who.name}</span>
              <span className="topbar-detail">{who.detail}</span>
            </span>
            {session.status === 'user' ? (
              <Link to="/me/security" className="topbar-link">
                My security
              </Link>
            ) : null}
            <button type="button" className="button-secondary button-small" onClick={() => void logOut()}>
              Log out
            </button>
          </div>
        ) : null}
      </div>
    </header>
  );
}
