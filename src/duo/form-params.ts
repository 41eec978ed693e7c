/**
 * Duo's parameters travel as application/x-www-form-urlencoded text: in the query string of a
 * GET or DELETE, in the body of a v2 POST. One strict decoder serves both the signature check
 * and the routes, so the two can never read a request differently.
 */

export type DuoParams = Record<string, string | string[]>;

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The text of a body, or null when its bytes are not UTF-8 (never replaced by U+FFFD: the signature covers the bytes as sent). */
export function decodeUtf8(bytes: Buffer): string | null {
  try {
    return UTF8.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * The [name, value] pairs of `a=1&b=x+y&b=%C3%A9`, in order ('+' is a space). Null when a
 * %-escape is broken or the bytes are not UTF-8: such a request cannot have been signed by
 * an official client, and guessing at it would make the signature cover something else than
 * the route reads. A pair without '=' has the empty value; empty pairs (`a=1&&b=2`) are skipped.
 */
export function decodeFormPairs(text: string | Buffer): [string, string][] | null {
  const s = typeof text === 'string' ? text : decodeUtf8(text);
  if (s === null) return null;
  const pairs: [string, string][] = [];
  for (const part of s.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? '' : part.slice(eq + 1);
    try {
      // decodeURIComponent throws on a broken %-escape and on %-escaped bytes that are not UTF-8.
      pairs.push([decodeURIComponent(rawName.replace(/\+/g, ' ')), decodeURIComponent(rawValue.replace(/\+/g, ' '))]);
    } catch {
      return null;
    }
  }
  return pairs;
}

/**
 * The pairs as the routes see them: one string per name, an array for a repeated name. A
 * null-prototype object, so a parameter named `__proto__` is data, not the object's prototype.
 */
export function paramsObject(pairs: readonly (readonly [string, string])[]): DuoParams {
  const params: DuoParams = Object.create(null);
  for (const [name, value] of pairs) {
    const had = params[name];
    params[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  return params;
}
