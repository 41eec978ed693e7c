import type { Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { AppError, notFound } from '../core/errors.js';
import { resetEnrollment } from '../core/enrollment-reset.js';

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
  await resetEnrollment(ctx, db, actor, { id: op.id, firm_id: null }, 'operator_reset');
}
