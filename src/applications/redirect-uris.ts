import { AppError } from '../core/errors.js';

/**
 * Which redirect URIs an application may register (RFC 6749 §3.1.2, OAuth 2.0 Security BCP
 * RFC 9700 §4.1, RFC 8252 for native apps). Tessera compares a requested redirect URI with the
 * registered ones exactly, as string equality, so what is registered is kept as typed.
 *
 * - https, absolute, with a host: a code sent over plain http can be read on the way.
 * - http only to the loopback interface (localhost, 127.0.0.1, [::1]): a native app or a
 *   developer's machine listening on the same device (RFC 8252 §7.3); the code never leaves it.
 * - No fragment: the authorization response must not end up in a fragment the page's scripts
 *   read, and RFC 6749 §3.1.2 forbids it.
 * - No user name or password in the URI (they would show up in logs and browser history, and
 *   make a URI look like another host's: https://bank.example@evil.example/).
 * - No wildcard (*): every URI is exact, so no other page of the host can receive a code.
 * - No backslash: browsers read it as a slash in http(s) URLs, so the URI would not mean what
 *   it shows.
 * - Private-use schemes of native apps (com.example.app:/cb) are not accepted yet: such apps use
 *   the loopback redirect instead.
 */

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Why `uri` may not be registered, or null when it may. */
export function redirectUriProblem(uri: string): string | null {
  if (!/^https?:\/\/[^/]/i.test(uri)) return 'it must be an absolute https:// URL (or http:// to localhost while developing)';
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'it is not a valid URL';
  }
  if (uri.includes('#')) return 'it must not contain a fragment (#)';
  if (uri.includes('\\')) return 'it must not contain a backslash';
  if (url.username || url.password || /^https?:\/\/[^/?]*@/i.test(uri)) return 'it must not contain a user name or password';
  if (url.hostname.includes('*')) return 'wildcards are not allowed: register each URI exactly';
  if (url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname)) return 'http:// is allowed only for localhost, 127.0.0.1 or [::1]; use https:// instead';
  return null;
}

/** Throws 400 INVALID_REDIRECT_URI naming the first URI of the list that may not be registered. */
export function checkRedirectUris(field: 'redirectUris' | 'postLogoutRedirectUris', uris: readonly string[]): void {
  for (const uri of uris) {
    const problem = redirectUriProblem(uri);
    if (problem) {
      const what = field === 'redirectUris' ? 'redirect URI' : 'post-logout redirect URI';
      throw new AppError('INVALID_REDIRECT_URI', `The ${what} ${JSON.stringify(uri.length > 120 ? `${uri.slice(0, 120)}…` : uri)} cannot be used: ${problem}.`);
    }
  }
}
