import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { audit } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { isUniqueViolation } from '../db/constraints.js';
import { AppError } from '../core/errors.js';
import { actorOf } from '../http/auth.js';
import { Email, Name, errors } from '../http/schemas.js';
import { addressChangeColumns, announceAddressChange, loginUrl, mailSecurityNotice } from '../notify/security-notice.js';
import { templates } from '../notify/templates.js';
import { deleteOperatorSessions, deleteUserSessions } from '../sessions/session.service.js';
import { lockedUser } from '../directory/user.service.js';
import { consumeToken, linkInvalid, peekToken } from './one-time-token.service.js';
import { forgetRememberedBrowsers } from '../core/remembered-browsers.js';
import { PASSWORD_MAX, checkPasswordPolicy, hashPassword } from '../core/passwords.js';

const Token = Type.String({ minLength: 22, maxLength: 22, pattern: '^[A-Za-z0-9_-]+$' });

const LinkInfo = Type.Object({
  purpose: Type.Union([Type.Literal('operator_setup'), Type.Literal('set_password')]),
  email: Type.String(),
  name: Type.String(),
  firmName: Type.Union([Type.String(), Type.Null()]),
});

const SetPasswordBody = Type.Object(
  {
    token: Token,
    // The policy gives the precise message; the schema only stops absurd sizes.
    password: Type.String({ maxLength: PASSWORD_MAX * 4 }),
    email: Type.Optional(Email),
    name: Type.Optional(Name),
  },
  { additionalProperties: false },
);

/** Whose link is this: the account it sets a password for. */
async function linkAccount(ctx: AppContext, token: string) {
  const t = await peekToken(ctx, token);
  if (t.purpose === 'operator_setup') {
    const op = await ctx.db.selectFrom('operators').selectAll().where('id', '=', t.operator_id!).executeTakeFirstOrThrow();
    return { token: t, email: op.email, name: op.name, firmName: null };
  }
  const row = await ctx.db
    .selectFrom('users')
    .innerJoin('firms', 'firms.id', 'users.firm_id')
    .select(['users.email', 'users.name', 'firms.name as firmName'])
    .where('users.id', '=', t.user_id!)
    .executeTakeFirstOrThrow();
  return { token: t, ...row };
}

export const passwordRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/password/inspect',
      {
        schema: {
          tags: ['password'],
          summary: 'Who a set-password or setup link is for',
          body: Type.Object({ token: Token }, { additionalProperties: false }),
          response: { 200: LinkInfo, ...errors(400, 403, 410) },
        },
      },
      async (request) => {
        const a = await linkAccount(ctx, request.body.token);
        return { purpose: a.token.purpose, email: a.email, name: a.name, firmName: a.firmName };
      },
    );

    app.post(
      '/password/set',
      {
        schema: {
          tags: ['password'],
          summary: 'Set a password with a one-time link (ends every session of the account)',
          body: SetPasswordBody,
          response: { 204: Type.Null(), ...errors(400, 403, 409, 410) },
        },
      },
      async (request, reply) => {
        const { token, password, email, name } = request.body;
        const account = await linkAccount(ctx, token);
        const isSetup = account.token.purpose === 'operator_setup';
        if (!isSetup && (email !== undefined || name !== undefined)) {
          throw new AppError('VALIDATION_FAILED', 'Only the first operator setup can choose an address and name.');
        }
        const newEmail = email?.trim().toLowerCase();
        checkPasswordPolicy(password, { email: newEmail ?? account.email });
        // argon2 runs outside the transaction: no database lock is held for its ~50 ms.
        const passwordHash = await hashPassword(password);
        const actor = actorOf(request);
        await ctx.db.transaction().execute(async (tx) => {
          // The user's row before the link (the lock order of user.service.ts): a link used while
          // its user's address changes waits for the change, then finds itself void.
          const peeked = account.token;
          if (peeked.user_id && !(await lockedUser(tx, peeked.firm_id!, peeked.user_id))) throw linkInvalid();
          const t = await consumeToken(ctx, tx, token);
          const now = ctx.clock.now();
          const owner = t.purpose === 'operator_setup' ? { id: t.operator_id!, firm_id: null } : { id: t.user_id!, firm_id: t.firm_id! };
          let addressChanged = false;
          if (t.purpose === 'operator_setup') {
            const before = await tx.selectFrom('operators').select(['email', 'password_hash']).where('id', '=', owner.id).executeTakeFirstOrThrow();
            addressChanged = newEmail !== undefined && newEmail !== before.email;
            // The first setup replaces the placeholder address (FIRST_OPERATOR_EMAIL) that nobody
            // receives mail at: nothing to remember or announce. A setup link of an operator who
            // already has a password (the `--setup-link` recovery) changes an address in use:
            // remembered and announced to the old address like a user's (issue 12, item 3).
            const established = before.password_hash !== null;
            const address = addressChanged ? (established ? addressChangeColumns(newEmail!, now) : { email: newEmail! }) : {};
            try {
              await tx
                .updateTable('operators')
                .set({ password_hash: passwordHash, ...address, ...(name ? { name: name.trim() } : {}) })
                .where('id', '=', owner.id)
                .execute();
            } catch (err) {
              throw isUniqueViolation(err) ? new AppError('EMAIL_TAKEN', 'Another operator already has this email address.') : err;
            }
            await deleteOperatorSessions(tx, owner.id);
            if (addressChanged && established) await announceAddressChange(ctx, tx, owner, before.email);
          } else {
            await tx.updateTable('users').set({ password_hash: passwordHash, updated_at: now }).where('id', '=', t.user_id!).execute();
            await deleteUserSessions(tx, t.user_id!);
            await forgetRememberedBrowsers(tx, t.user_id!);
          }
          const subjectType = t.purpose === 'operator_setup' ? 'operator' : 'user';
          const subjectId = t.operator_id ?? t.user_id;
          await audit(tx, now, { ...actor, type: subjectType, id: subjectId, firmId: t.firm_id }, {
            event: 'password.set',
            subjectType,
            subjectId,
            details: { via: t.purpose, ...(addressChanged ? { addressChanged } : {}) },
          });
          // Issue 12, item 3: a password set by whoever holds the link is announced, and within 7
          // days of an address change to the previous address too.
          await mailSecurityNotice(ctx, tx, owner, {
            event: 'password.set',
            mail: (h) => templates.passwordSet({ name: h.name, firmName: h.firmName, at: now, ip: actor.ip, url: loginUrl(ctx, owner) }),
          });
        });
        return reply.status(204).send(null);
      },
    );
  };
