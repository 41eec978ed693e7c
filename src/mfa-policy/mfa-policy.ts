import { sql, type ExpressionBuilder, type Expression, type SqlBool } from 'kysely';
import type { Database, DbOrTx } from '../db/database.js';
import { isActiveUser, type User, type UserKind } from '../directory/user.table.js';
import type { Subscription } from '../subscriptions/subscription.table.js';
import type { MfaSettings } from './mfa-settings.table.js';

/**
 * Who is MFA-enabled: ONE definition, used by login, counters and mails.
 * A user is MFA-enabled when
 *   - the firm's subscription is live (active, and now within its optional start/end), and
 *   - the user is active (staff: status active; corporation users: portal access enabled and record active), and
 *   - the configuration covers the user's kind: the case manager / vendor case manager switch,
 *     or for corp users and foreign nationals the "all corporations" switch of that kind
 *     (scope 'all') or their own corporation's switch of that kind (scope 'specific').
 */
export interface MfaPolicy {
  live: boolean;
  settings: Pick<MfaSettings, 'case_managers' | 'vendor_case_managers' | 'corporation_scope' | 'all_corp_users' | 'all_foreign_nationals'> | null;
  /** Per-corporation switches of the 'specific' list, by corporation id. */
  corporations: ReadonlyMap<string, { corp_users: number; foreign_nationals: number }>;
}

export function isSubscriptionLive(sub: Pick<Subscription, 'state' | 'starts_at' | 'ends_at'> | null | undefined, now: number): boolean {
  if (!sub || sub.state !== 'active') return false;
  if (sub.starts_at !== null && now < sub.starts_at) return false;
  if (sub.ends_at !== null && now >= sub.ends_at) return false;
  return true;
}

/** Does the configuration cover this kind (and corporation)? Ignores subscription and user state. */
export function configurationCovers(policy: Pick<MfaPolicy, 'settings' | 'corporations'>, kind: UserKind, corporationId: string | null): boolean {
  const s = policy.settings;
  if (!s) return false;
  switch (kind) {
    case 'case_manager':
      return s.case_managers === 1;
    case 'vendor_case_manager':
      return s.vendor_case_managers === 1;
    case 'corp_user':
    case 'foreign_national': {
      const field = kind === 'corp_user' ? 'corp_users' : 'foreign_nationals';
      if (s.corporation_scope === 'all') return (kind === 'corp_user' ? s.all_corp_users : s.all_foreign_nationals) === 1;
      const corp = corporationId ? policy.corporations.get(corporationId) : undefined;
      return corp?.[field] === 1;
    }
  }
}

export function isMfaEnabled(policy: MfaPolicy, user: Pick<User, 'kind' | 'corporation_id' | 'status' | 'portal_access' | 'record_state'>): boolean {
  return policy.live && isActiveUser(user) && configurationCovers(policy, user.kind, user.corporation_id);
}

/** The policy of one firm as of `now`: three small reads. */
export async function loadMfaPolicy(db: DbOrTx, firmId: string, now: number): Promise<MfaPolicy> {
  const [sub, settings, corps] = await Promise.all([
    db.selectFrom('subscriptions').select(['state', 'starts_at', 'ends_at']).where('firm_id', '=', firmId).executeTakeFirst(),
    db.selectFrom('mfa_settings').selectAll().where('firm_id', '=', firmId).executeTakeFirst(),
    db.selectFrom('mfa_corporations').select(['corporation_id', 'corp_users', 'foreign_nationals']).where('firm_id', '=', firmId).execute(),
  ]);
  return {
    live: isSubscriptionLive(sub, now),
    settings: settings ?? null,
    corporations: new Map(corps.map((c) => [c.corporation_id, c])),
  };
}

type UsersEb = ExpressionBuilder<Database, 'users'>;

/** SQL twin of isActiveUser, for counting without loading rows. */
export function activeUserSql(eb: UsersEb): Expression<SqlBool> {
  return eb.or([
    eb.and([eb('users.kind', 'in', ['case_manager', 'vendor_case_manager']), eb('users.status', '=', 'active')]),
    eb.and([
      eb('users.kind', 'in', ['corp_user', 'foreign_national']),
      eb('users.portal_access', '=', 'enabled'),
      eb('users.record_state', '=', 'active'),
    ]),
  ]);
}

/**
 * SQL twin of configurationCovers for users of one kind (the subscription and user state
 * are separate conditions). Returns false-as-SQL when nothing of that kind is covered.
 * test/mfa-policy.test.ts checks the two twins agree on every combination.
 */
export function coveredKindSql(eb: UsersEb, policy: Pick<MfaPolicy, 'settings'>, kind: UserKind): Expression<SqlBool> {
  const s = policy.settings;
  const none = sql<SqlBool>`1 = 0`;
  if (!s) return none;
  const ofKind = eb('users.kind', '=', kind);
  if (kind === 'case_manager') return s.case_managers === 1 ? ofKind : none;
  if (kind === 'vendor_case_manager') return s.vendor_case_managers === 1 ? ofKind : none;
  const field = kind === 'corp_user' ? 'corp_users' : 'foreign_nationals';
  if (s.corporation_scope === 'all') return (kind === 'corp_user' ? s.all_corp_users : s.all_foreign_nationals) === 1 ? ofKind : none;
  return eb.and([
    ofKind,
    eb.exists(
      eb
        .selectFrom('mfa_corporations')
        .select('mfa_corporations.corporation_id')
        .whereRef('mfa_corporations.corporation_id', '=', 'users.corporation_id')
        .where(`mfa_corporations.${field}`, '=', 1),
    ),
  ]);
}

export const ALL_KINDS: readonly UserKind[] = ['case_manager', 'vendor_case_manager', 'corp_user', 'foreign_national'];

/** How many active users of each kind the configuration covers (A.2.4), ignoring whether the subscription is live. */
export async function countEnabledByKind(db: DbOrTx, firmId: string, policy: Pick<MfaPolicy, 'settings'>): Promise<Record<UserKind, number>> {
  const counts = await Promise.all(
    ALL_KINDS.map(async (kind) => {
      const row = await db
        .selectFrom('users')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('users.firm_id', '=', firmId)
        .where((eb) => eb.and([activeUserSql(eb), coveredKindSql(eb, policy, kind)]))
        .executeTakeFirstOrThrow();
      return [kind, Number(row.n)] as const;
    }),
  );
  return Object.fromEntries(counts) as Record<UserKind, number>;
}
