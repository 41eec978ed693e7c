import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';

/**
 * The firm's login policy for the second factor (issue 4.5, 4.7): how many consecutive
 * failures lock it and for how long, and how many days "remember this browser" lasts
 * (0 = not offered). Kept in mfa_settings beside the configuration; no row = the defaults.
 */
export interface LoginPolicy {
  lockoutThreshold: number;
  lockoutMinutes: number;
  rememberDays: number;
  /** Enrolled users may sign in with a passkey instead of the password (issue 6.5); off by default. */
  passkeysEnabled: boolean;
  /** Verified push (issue 5.4): digits of the number the user types into the app, 3 or 6. */
  pushNumberDigits: 3 | 6;
  /** Against push bombing (issue 5.7): at most this many pushes in this many minutes without a success. */
  pushMaxPerWindow: number;
  pushWindowMinutes: number;
}

export const LOGIN_POLICY_DEFAULTS: Readonly<LoginPolicy> = Object.freeze({
  lockoutThreshold: 10,
  lockoutMinutes: 15,
  rememberDays: 0,
  passkeysEnabled: false,
  pushNumberDigits: 6,
  pushMaxPerWindow: 5,
  pushWindowMinutes: 15,
});
export const LOGIN_POLICY_LIMITS = {
  lockoutThreshold: { minimum: 3, maximum: 50 },
  lockoutMinutes: { minimum: 1, maximum: 1440 },
  rememberDays: { minimum: 0, maximum: 30 },
  pushMaxPerWindow: { minimum: 1, maximum: 50 },
  pushWindowMinutes: { minimum: 1, maximum: 1440 },
} as const;

/** The settings a PUT may leave out (left out = unchanged), so that older clients keep working. */
type OptionalPolicyKey = 'passkeysEnabled' | 'pushNumberDigits' | 'pushMaxPerWindow' | 'pushWindowMinutes';
export type LoginPolicyChange = Omit<LoginPolicy, OptionalPolicyKey> & Partial<Pick<LoginPolicy, OptionalPolicyKey>>;

const DAY_MS = 86_400_000;

export async function loadLoginPolicy(db: DbOrTx, firmId: string): Promise<LoginPolicy> {
  const row = await db
    .selectFrom('mfa_settings')
    .select(['lockout_threshold', 'lockout_minutes', 'remember_days', 'passkeys_enabled', 'push_number_digits', 'push_max_per_window', 'push_window_minutes'])
    .where('firm_id', '=', firmId)
    .executeTakeFirst();
  if (!row) return { ...LOGIN_POLICY_DEFAULTS };
  return {
    lockoutThreshold: Number(row.lockout_threshold),
    lockoutMinutes: Number(row.lockout_minutes),
    rememberDays: Number(row.remember_days),
    passkeysEnabled: Number(row.passkeys_enabled) === 1,
    pushNumberDigits: Number(row.push_number_digits) === 3 ? 3 : 6,
    pushMaxPerWindow: Number(row.push_max_per_window),
    pushWindowMinutes: Number(row.push_window_minutes),
  };
}

/**
 * PUT /admin/mfa/policy: upserts the policy columns (passkeysEnabled left out = unchanged), keeping the configuration columns of an
 * existing row (a new row starts with everything switched off, as no row means). Audited
 * with what changed. Remembered browsers follow a shorter lifetime at once: 0 days forgets
 * every remembered browser of the firm, fewer days shortens the ones that would outlive it;
 * a superuser who turns the feature off or down expects it to hold for browsers already
 * remembered, not only for new ones.
 */
export async function updateLoginPolicy(
  ctx: AppContext,
  db: DbOrTx,
  actor: Actor,
  firmId: string,
  change: LoginPolicyChange,
): Promise<LoginPolicy> {
  const before = await loadLoginPolicy(db, firmId);
  const input: LoginPolicy = {
    ...change,
    passkeysEnabled: change.passkeysEnabled ?? before.passkeysEnabled,
    pushNumberDigits: change.pushNumberDigits ?? before.pushNumberDigits,
    pushMaxPerWindow: change.pushMaxPerWindow ?? before.pushMaxPerWindow,
    pushWindowMinutes: change.pushWindowMinutes ?? before.pushWindowMinutes,
  };
  const changed: Record<string, { from: number | boolean; to: number | boolean }> = {};
  for (const key of Object.keys(LOGIN_POLICY_DEFAULTS) as (keyof LoginPolicy)[]) {
    if (before[key] !== input[key]) changed[key] = { from: before[key], to: input[key] };
  }
  if (Object.keys(changed).length === 0) return before;

  const now = ctx.clock.now();
  const values = {
    lockout_threshold: input.lockoutThreshold,
    lockout_minutes: input.lockoutMinutes,
    remember_days: input.rememberDays,
    passkeys_enabled: input.passkeysEnabled ? 1 : 0,
    push_number_digits: input.pushNumberDigits,
    push_max_per_window: input.pushMaxPerWindow,
    push_window_minutes: input.pushWindowMinutes,
    updated_at: now,
  };
  await db
    .insertInto('mfa_settings')
    .values({
      firm_id: firmId,
      case_managers: 0,
      vendor_case_managers: 0,
      corporation_scope: 'all',
      all_corp_users: 0,
      all_foreign_nationals: 0,
      ...values,
    })
    .onConflict((oc) => oc.column('firm_id').doUpdateSet(values))
    .execute();

  let rememberedBrowsers: { forgotten: number } | { shortened: number } | undefined;
  if (input.rememberDays === 0) {
    const gone = await db.deleteFrom('remembered_browsers').where('firm_id', '=', firmId).executeTakeFirst();
    rememberedBrowsers = { forgotten: Number(gone.numDeletedRows) };
  } else if (input.rememberDays < before.rememberDays) {
    const lifetime = input.rememberDays * DAY_MS;
    const cut = await db
      .updateTable('remembered_browsers')
      .set((eb) => ({ expires_at: eb('created_at', '+', lifetime) }))
      .where('firm_id', '=', firmId)
      .where((eb) => eb('expires_at', '>', eb('created_at', '+', lifetime)))
      .executeTakeFirst();
    rememberedBrowsers = { shortened: Number(cut.numUpdatedRows) };
  }
  await audit(db, now, actor, {
    event: 'mfa.policy_changed',
    firmId,
    subjectType: 'firm',
    subjectId: firmId,
    details: { changed, ...(rememberedBrowsers ? { rememberedBrowsers } : {}) },
  });
  return { ...input };
}
