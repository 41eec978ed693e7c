import { randomUUID } from 'node:crypto';
import type { AppContext } from '../context.js';
import { issueLink } from '../login/one-time-token.service.js';

/** The address of the first operator until they choose their own on the setup page. */
export const FIRST_OPERATOR_EMAIL = 'operator@tessera.local';

/**
 * There are no default passwords. On a database without operators this creates the first
 * one (no password) and returns a one-time setup link; while no operator has a password
 * yet, every start issues a fresh link (the previous one stops working). Returns null once
 * an operator has set a password. The insert is conditional, so two processes starting on
 * an empty database create one operator.
 */
export async function ensureOperatorSetup(ctx: AppContext): Promise<string | null> {
  const anyOperator = await ctx.db.selectFrom('operators').select('id').executeTakeFirst();
  if (!anyOperator) {
    // Two processes racing here insert the same address; the unique index keeps one.
    await ctx.db
      .insertInto('operators')
      .values({ id: randomUUID(), email: FIRST_OPERATOR_EMAIL, name: 'Operator', password_hash: null, status: 'active', created_at: ctx.clock.now() })
      .onConflict((oc) => oc.column('email').doNothing())
      .execute();
  }
  const ready = await ctx.db.selectFrom('operators').select('id').where('password_hash', 'is not', null).executeTakeFirst();
  if (ready) return null;
  return issueOperatorSetupLink(ctx);
}

/** A new setup link for the oldest operator (recovery: `npm start -- --setup-link`). */
export async function issueOperatorSetupLink(ctx: AppContext): Promise<string> {
  const op = await ctx.db.selectFrom('operators').select(['id', 'email']).orderBy('created_at').executeTakeFirstOrThrow();
  // Bound to the operator's address now: if it changes before the link is used, the link is dead.
  return issueLink(ctx, ctx.db, { purpose: 'operator_setup', operatorId: op.id, email: op.email });
}
