import type { Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { isStaffKind, type UserKind } from '../directory/user.table.js';
import { addMfaCorporation, changeMfaCorporation, removeMfaCorporation, updateConfiguration } from './mfa-config.service.js';
import { activeUserSql, ALL_KINDS, coveredKindSql, loadMfaPolicy } from './mfa-policy.js';
import type { MfaChange, MfaChangePreview } from './mfa.schemas.js';

/**
 * What a change of the MFA configuration would do (issue 16.3), for the page's confirmation:
 * how many users it brings under MFA or takes out, per kind, and who would be mailed. The
 * change is really made, by the same service function as the change itself (so the same
 * checks refuse it with the same errors), inside a transaction that is then rolled back:
 * the preview cannot drift from the change it describes.
 */

class RollBack extends Error {
  constructor(readonly preview: MfaChangePreview) {
    super('preview: rolled back');
  }
}

interface Covered {
  kind: UserKind;
  enrolled: boolean;
}

/** The active users the configuration covers now (whether or not the subscription is live), by id. */
async function coveredUsers(db: DbOrTx, firmId: string, now: number): Promise<Map<string, Covered>> {
  const policy = await loadMfaPolicy(db, firmId, now);
  const rows = await db
    .selectFrom('users')
    .select((eb) => [
      'users.id',
      'users.kind',
      eb.exists(eb.selectFrom('seats').select('seats.user_id').whereRef('seats.user_id', '=', 'users.id')).as('enrolled'),
    ])
    .where('users.firm_id', '=', firmId)
    .where((eb) => eb.and([activeUserSql(eb), eb.or(ALL_KINDS.map((kind) => coveredKindSql(eb, policy, kind)))]))
    .execute();
  return new Map(rows.map((r) => [r.id, { kind: r.kind, enrolled: Boolean(Number(r.enrolled)) }]));
}

const KEYS: Record<UserKind, keyof MfaChangePreview['added']['byKind']> = {
  case_manager: 'caseManagers',
  vendor_case_manager: 'vendorCaseManagers',
  corp_user: 'corpUsers',
  foreign_national: 'foreignNationals',
};

function tally(users: Covered[]) {
  const byKind = { caseManagers: 0, vendorCaseManagers: 0, corpUsers: 0, foreignNationals: 0 };
  for (const u of users) byKind[KEYS[u.kind]]++;
  return { total: users.length, byKind };
}

async function apply(ctx: AppContext, tx: DbOrTx, actor: Actor, firmId: string, change: MfaChange): Promise<void> {
  switch (change.change) {
    case 'configuration':
      return updateConfiguration(ctx, tx, actor, firmId, change.configuration);
    case 'addCorporation':
      return addMfaCorporation(ctx, tx, actor, firmId, { corporationId: change.corporationId, corpUsers: change.corpUsers, foreignNationals: change.foreignNationals });
    case 'corporationSwitches': {
      const { corporationId, change: _, ...switches } = change;
      return changeMfaCorporation(ctx, tx, actor, firmId, corporationId, switches);
    }
    case 'removeCorporation':
      return removeMfaCorporation(ctx, tx, actor, firmId, change.corporationId);
  }
}

/** POST /admin/mfa/preview. */
export async function previewMfaChange(ctx: AppContext, actor: Actor, firmId: string, change: MfaChange): Promise<MfaChangePreview> {
  const now = ctx.clock.now();
  try {
    await ctx.db.transaction().execute(async (tx) => {
      const before = await coveredUsers(tx, firmId, now);
      await apply(ctx, tx, actor, firmId, change);
      const after = await coveredUsers(tx, firmId, now);
      const live = (await loadMfaPolicy(tx, firmId, now)).live;
      const added = [...after].filter(([id]) => !before.has(id));
      const removed = [...before].filter(([id]) => !after.has(id));
      const you = actor.id !== null && after.has(actor.id) && !before.has(actor.id) && !after.get(actor.id)!.enrolled;
      throw new RollBack({
        covered: { before: before.size, after: after.size },
        added: tally(added.map(([, u]) => u)),
        removed: tally(removed.map(([, u]) => u)),
        // A.2.5: staff who are not enrolled get the invitation; corporation users are shown how at their next login.
        mailed: live ? added.filter(([, u]) => isStaffKind(u.kind) && !u.enrolled).length : 0,
        enrolledRemoved: removed.filter(([, u]) => u.enrolled).length,
        live,
        includesYou: you,
      });
    });
  } catch (err) {
    if (err instanceof RollBack) return err.preview;
    throw err;
  }
  throw new Error('unreachable: the preview transaction always rolls back');
}
