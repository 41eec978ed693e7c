// A tiny path router: history.pushState plus popstate, nothing more.
import { useEffect, useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from 'react';

const NAVIGATE_EVENT = 'tessera:navigate';

function subscribe(onChange: () => void): () => void {
  window.addEventListener('popstate', onChange);
  window.addEventListener(NAVIGATE_EVENT, onChange);
  return () => {
    window.removeEventListener('popstate', onChange);
    window.removeEventListener(NAVIGATE_EVENT, onChange);
  };
}

/** The current path without a trailing slash ("/admin/users/" -> "/admin/users"). */
export function usePath(): string {
  const path = useSyncExternalStore(subscribe, () => window.location.pathname);
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

/** Paths under which the server, not this app, answers (the OpenID Connect door). */
export const isServerPath = (to: string) => /^\/oidc\//.test(to);

let navigatedInApp = false;

/** True once the user has moved between pages without a full page load. */
export function hasNavigatedInApp(): boolean {
  return navigatedInApp;
}

/** `state` travels with the history entry (read it back with `historyState`). */
export function navigate(to: string, options: { replace?: boolean; state?: Record<string, unknown> } = {}): void {
  // A page the server answers itself (the sign-in of an application, /oidc/interaction/...):
  // loaded, not routed, so the login goes on to the application that asked for it.
  if (isServerPath(to)) {
    window.location.assign(to);
    return;
  }
  navigatedInApp = true;
  const state = options.state ?? null;
  if (options.replace) window.history.replaceState(state, '', to);
  else window.history.pushState(state, '', to);
  window.scrollTo(0, 0);
  window.dispatchEvent(new Event(NAVIGATE_EVENT));
}

/** One value of the current history entry's state (set by `navigate(to, { state })`). */
export function historyState(key: string): unknown {
  const state: unknown = window.history.state;
  return state && typeof state === 'object' ? (state as Record<string, unknown>)[key] : undefined;
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { to: string };

export function Link({ to, onClick, ...rest }: LinkProps) {
  const path = usePath();
  function handleClick(event: MouseEvent<HTMLAnchorElement>) {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  }
  return <a href={to} aria-current={path === to ? 'page' : undefined} onClick={handleClick} {...rest} />;
}

export function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, { replace: true }), [to]);
  return null;
}
