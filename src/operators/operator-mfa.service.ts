import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { AppError, notFound } from '../core/errors.js';
import { ownedBy } from '../factors/factor.js';
import { FACTORS } from '../factors/registry.js';
import { loginUrl, mailSecurityNotice } from '../notify/security-notice.js';
import { templates } from '../notify/templates.js';
import { deleteOperatorSessions } from '../sessions/session.service.js';

export interface OperatorView {
  id: string;
  email: string;
  name: string;
  status: 'active' | 'disabled';
  /** Has at least one active authenticator; one who has none enrols at the next login. */
  enrolled: boolean;
  authenticators: number;
  lockedUntil: number | null;
  createdAt: number;
}

/** Every operator (there are few), oldest first, with the state of their second factor. */
export async function listOperators(ctx: AppContext, db: DbOrTx): Promise<OperatorView[]> {
  const rows = await db
    .selectFrom('operators')
    .leftJoin('authenticators', (j) => j.onRef('authenticators.operator_id', '=', 'operators.id').on('authenticators.status', '=', 'active'))
    .select(['operators.id', 'operators.email', 'operators.name', 'operators.status', 'operators.created_at', 'operators.mfa_locked_until'])
    .select((eb) => eb.fn.count<number | string>('authenticators.id').as('n'))
    .groupBy(['operators.id', 'operators.email', 'operators.name', 'operators.status', 'operators.created_at', 'operators.mfa_locked_until'])
    .orderBy('operators.created_at')
    .orderBy('operators.id')
    .execute();
  const now = ctx.clock.now();
  return rows.map((r) => ({
    id: r.id,
    email: r.email,
    name: r.name,
    status: r.status,
    enrolled: Number(r.n) > 0,
    authenticators: Number(r.n),
    lockedUntil: r.mfa_locked_until !== null && Number(r.mfa_locked_until) > now ? Number(r.mfa_locked_until) : null,
    createdAt: Number(r.created_at),
  }));
}

/**
 * One operator resets another's second factor (a lost phone or key): every authenticator and
 * what the factors keep (backup codes) goes, the lockout is lifted, the operator's sessions
 * end, and the next login asks them to enrol again. Not for oneself (My security is there for
 * that, behind one's own second factor): otherwise a stolen session could swap the factor
 * without passing it. Audited `mfa.enrollment_reset` and mailed to the operator concerned.
 */
export async function resetOperatorFactors(ctx: AppContext, db: DbOrTx, actor: Actor & { id: string }, operatorId: string): Promise<void> {
  if (operatorId === actor.id) {
    throw new AppError('SELF_RESET');
  }
  const op = await db.selectFrom('operators').select('id').where('id', '=', operatorId).executeTakeFirst();
  if (!op) throw notFound('The operator');
  const owner = { id: op.id, firm_id: null };
  for (const factor of FACTORS) await factor.reset(db, owner);
  const removed = await db.deleteFrom('authenticators').where(ownedBy('authenticators', owner)).executeTakeFirst();
  await db.updateTable('operators').set({ mfa_failed_count: 0, mfa_locked_until: null }).where('id', '=', op.id).execute();
  await deleteOperatorSessions(db, op.id);
  await audit(db, ctx.clock.now(), actor, {
    event: 'mfa.enrollment_reset',
    firmId: null,
    subjectType: 'operator',
    subjectId: op.id,
    details: { reason: 'operator_reset', authenticatorsRemoved: Number(removed.numDeletedRows) },
  });
  await mailSecurityNotice(ctx, db, owner, {
    event: 'mfa.enrollment_reset',
    mail: (h) => templates.enrollmentReset({ name: h.name, firmName: h.firmName, reason: 'by another operator', url: loginUrl(ctx, owner) }),
  });
}
