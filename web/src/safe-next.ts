// Where to go after signing in. The `?next=` parameter comes from the address bar, so
// anyone can craft it: only a path on this site is followed, never another origin (an
// open redirect would let a phishing link borrow Tessera's login page).

/**
 * True when `next` is a same-site path: it starts with "/", but not with "//" or "/\"
 * (both mean "another host" to a browser), has no scheme (no ":" before the first "/"),
 * and no control characters or whitespace (browsers drop tabs and newlines from URLs,
 * so "/\t/evil.example" would become "//evil.example").
 */
export function isSameSitePath(next: string | null | undefined): next is string {
  if (typeof next !== 'string' || next.length === 0 || next.length > 2048) return false;
  if (!next.startsWith('/')) return false;
  if (next.startsWith('//') || next.startsWith('/\\')) return false;
  const firstSlash = next.indexOf('/');
  const colon = next.indexOf(':');
  if (colon !== -1 && colon < firstSlash) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f\u00a0\u1680\u2000-\u200f\u2028\u2029\u202f\u205f\u3000\ufeff]/.test(next)) return false;
  return true;
}

/** The sign-in pages themselves: going "next" to one of them after signing in would loop. */
const SIGN_IN_PATHS = ['/login', '/mfa', '/enroll', '/operator/login'];

/** `next` when it is a same-site path other than a sign-in page, else `fallback`. */
export function safeNext(next: string | null | undefined, fallback = '/home'): string {
  if (!isSameSitePath(next)) return fallback;
  const path = next.split(/[?#]/, 1)[0]!.replace(/\/+$/, '') || '/';
  return SIGN_IN_PATHS.includes(path) ? fallback : next;
}

/** The `?next=` of the current address (unchecked: pass it through `safeNext`). */
export function nextParam(): string | null {
  return new URLSearchParams(window.location.search).get('next');
}

/** `path` carrying `next` along as `?next=` (when there is one worth keeping). */
export function withNext(path: string, next: string | null | undefined): string {
  return isSameSitePath(next) ? `${path}?next=${encodeURIComponent(next)}` : path;
}
