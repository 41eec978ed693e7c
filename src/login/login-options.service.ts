import type { AppContext } from '../context.js';
import { tooManyAttempts } from '../core/errors.js';
import { LOGIN_POLICY_DEFAULTS } from '../mfa-policy/mfa-login-policy.service.js';
import { reserveAttempt, settleAttempt, type ThrottlePolicy } from './throttle.js';

/**
 * Look-ups of a firm's sign-in options per client IP. Only answers of `passkeys: false` count
 * against it (an unknown firm looks exactly like a firm without passkeys), so guessing firm
 * names slows down after 20 misses and stops at 200 an hour, while an office whose firm allows
 * passkeys is never slowed by its own staff. An answer of `true` is what the attacker came for
 * anyway; making it free tells nothing more. Being refused here costs a user only the button:
 * the login page treats any failure as "no passkey button".
 */
export const FIRM_HINT_POLICY: ThrottlePolicy = { freeFailures: 20, baseDelayMs: 1000, maxDelayMs: 60_000, hourlyCap: 200 };

/**
 * GET /login/options?firm=slug (issue 16.9): may the login page offer "Sign in with a passkey"
 * for this firm? One query for known and unknown firms alike, and one answer for "no such
 * firm" and "passkeys not allowed", so the page learns nothing about which firms exist beyond
 * which ones invite their users to use passkeys. (The passkey sign-in itself stays open to
 * everyone and refuses alike: passkey.service.ts.)
 */
export async function firmLoginOptions(ctx: AppContext, input: { firmSlug: string; ip: string | null }): Promise<{ passkeys: boolean }> {
  const decision = await reserveAttempt(ctx.db, ctx.clock, [{ scope: 'firm_hint', key: input.ip ?? 'unknown', policy: FIRM_HINT_POLICY }]);
  if (!decision.allowed) {
    throw tooManyAttempts(Math.ceil(decision.retryAfterMs / 1000));
  }
  const row = await ctx.db
    .selectFrom('firms')
    .leftJoin('mfa_settings', 'mfa_settings.firm_id', 'firms.id')
    .select('mfa_settings.passkeys_enabled')
    .where('firms.slug', '=', input.firmSlug.trim().toLowerCase())
    .executeTakeFirst();
  // No firm, or a firm that never saved its login policy (the defaults), or one that turned passkeys off.
  const passkeys = row?.passkeys_enabled == null ? LOGIN_POLICY_DEFAULTS.passkeysEnabled : Number(row.passkeys_enabled) === 1;
  await settleAttempt(ctx.db, decision.ticket, passkeys ? 'success' : 'failure');
  return { passkeys };
}
