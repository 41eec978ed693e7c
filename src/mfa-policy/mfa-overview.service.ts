import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { countEnabledByKind, isSubscriptionLive } from './mfa-policy.js';
import type { MfaOverview } from './mfa.schemas.js';

export type { MfaOverview } from './mfa.schemas.js';

/**
 * Everything the MFA page shows (reference A.2): subscription plan, configuration, the
 * A.2.4 counters and the A.2.7 usage. Always answers, also for a firm that never subscribed
 * (state 'not_subscribed', everything off). Pass the transaction of a change to see it.
 */
export async function getMfaOverview(ctx: AppContext, db: DbOrTx, firmId: string): Promise<MfaOverview> {
  const [sub, settings, corporations] = await Promise.all([
    db.selectFrom('subscriptions').selectAll().where('firm_id', '=', firmId).executeTakeFirst(),
    db.selectFrom('mfa_settings').selectAll().where('firm_id', '=', firmId).executeTakeFirst(),
    db
      .selectFrom('mfa_corporations')
      .innerJoin('corporations', (j) =>
        j.onRef('corporations.id', '=', 'mfa_corporations.corporation_id').onRef('corporations.firm_id', '=', 'mfa_corporations.firm_id'),
      )
      .select(['corporations.id', 'corporations.name', 'mfa_corporations.corp_users', 'mfa_corporations.foreign_nationals'])
      .where('mfa_corporations.firm_id', '=', firmId)
      .orderBy('corporations.name')
      .orderBy('corporations.id')
      .execute(),
  ]);
  const counts = await countEnabledByKind(db, firmId, { settings: settings ?? null });

  const licenceCount = sub?.licence_count ?? 0;
  const enrolled = sub?.seats_used ?? 0;
  return {
    subscription: {
      state: sub?.state ?? 'not_subscribed',
      planName: sub?.plan_name ?? null,
      licenceCount,
      startsAt: sub?.starts_at ?? null,
      endsAt: sub?.ends_at ?? null,
      requestedAt: sub?.requested_at ?? null,
      activatedAt: sub?.activated_at ?? null,
      requestedLicences: sub?.requested_licences ?? null,
      live: isSubscriptionLive(sub, ctx.clock.now()),
    },
    configuration: {
      caseManagers: settings?.case_managers === 1,
      vendorCaseManagers: settings?.vendor_case_managers === 1,
      corporationScope: settings?.corporation_scope ?? 'all',
      allCorpUsers: settings?.all_corp_users === 1,
      allForeignNationals: settings?.all_foreign_nationals === 1,
      corporations: corporations.map((c) => ({ id: c.id, name: c.name, corpUsers: c.corp_users === 1, foreignNationals: c.foreign_nationals === 1 })),
    },
    counters: {
      caseManagers: counts.case_manager,
      vendorCaseManagers: counts.vendor_case_manager,
      corpUsers: counts.corp_user,
      foreignNationals: counts.foreign_national,
    },
    usage: {
      licenceCount,
      enrolled,
      unutilised: Math.max(0, licenceCount - enrolled),
      percent: licenceCount > 0 ? Math.min(100, Math.floor((enrolled * 100) / licenceCount)) : 0,
      bypassLogins: sub?.bypass_logins ?? 0,
    },
  };
}
