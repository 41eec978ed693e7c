import type { AppContext } from '../context.js';
import { AppError } from '../core/errors.js';

/** The methods that change state: the ones a forged cross-site request would use. */
export const UNSAFE_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Defence in depth beside the CSRF token: a browser that says where a request came from
 * must say it came from our own origin. `Origin: null` (a sandboxed frame, a data: URL, a
 * cross-site redirect) is not our origin either: refused like any other.
 */
export function rejectCrossSite(ctx: AppContext, headers: Record<string, string | string[] | undefined>): void {
  const origin = headers.origin;
  const site = headers['sec-fetch-site'];
  if ((typeof origin === 'string' && origin !== ctx.config.publicUrl.origin) || site === 'cross-site') {
    throw new AppError('CSRF_INVALID', 'Requests from other sites are refused.');
  }
}
