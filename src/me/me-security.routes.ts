import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { actorOf, requireOperator, requireUser } from '../http/auth.js';
import { PLATFORM_NAME } from '../operators/operator-mail.js';
import { IdParams, errors } from '../http/schemas.js';
import { AuthenticatorKindSchema } from '../factors/factor.schemas.js';
import { clearRememberCookie } from '../mfa/pending-login.js';
import { forgetMyRememberedBrowsers, getMySecurity, regenerateBackupCodes, removeAuthenticator, renameAuthenticator, type Me } from './me-security.service.js';

const IntOrNull = Type.Union([Type.Integer(), Type.Null()]);

export const MyAuthenticatorSchema = Type.Object({
  id: Type.String(),
  kind: AuthenticatorKindSchema,
  label: Type.String(),
  phone: Type.Union([Type.String(), Type.Null()], { description: 'E.164 number of the device, when given' }),
  createdAt: Type.Integer(),
  lastUsedAt: IntOrNull,
});

export const RememberedBrowserSchema = Type.Object({
  browser: Type.String(),
  os: Type.String(),
  createdAt: Type.Integer(),
  expiresAt: Type.Integer(),
});

export const MySecuritySchema = Type.Object({
  mfaEnabled: Type.Boolean({ description: "The firm's MFA configuration covers this user" }),
  enrolled: Type.Boolean({ description: 'The user holds a seat (has an active authenticator)' }),
  secondFactorThisSession: Type.Boolean({ description: 'This session passed a second factor (a remembered browser may have skipped it)' }),
  stepUpRequired: Type.Boolean({
    description: 'Changes need a second factor first (403 SECOND_FACTOR_REQUIRED until then): I have an authenticator and this session passed none in the last 15 minutes',
  }),
  passkeysAllowed: Type.Boolean({ description: 'The firm allows passkey sign-in, so a passkey may be added (never for operators)' }),
  authenticators: Type.Array(MyAuthenticatorSchema),
  backupCodesRemaining: Type.Integer(),
  rememberedBrowsers: Type.Integer({ description: 'Browsers that skip the second factor ("Remember this browser")' }),
  rememberedBrowserList: Type.Array(RememberedBrowserSchema, { description: 'The newest of them (at most 20)' }),
});

const LabelBody = Type.Object({ label: Type.String({ minLength: 1, maxLength: 60, pattern: '\\S' }) }, { additionalProperties: false });
const RemoveQuery = Type.Object(
  {
    confirm: Type.Optional(Type.Boolean()),
    forgetBrowsers: Type.Optional(Type.Boolean({ description: 'Also forget my remembered browsers' })),
  },
  { additionalProperties: false },
);
const ForgottenSchema = Type.Object({ forgotten: Type.Integer({ description: 'How many remembered browsers were forgotten' }) });
const BackupCodesSchema = Type.Object({ backupCodes: Type.Array(Type.String()) });

/**
 * My security (issue 4.6), for every fully logged-in firm user under /me (operators: 403), and
 * the same for an operator's own second factor under /operator (issue 8.6: /operator/security,
 * /operator/authenticators/:id, /operator/backup-codes; requireOperator, like every operator
 * route). One set of handlers mounted twice. Adding an authenticator is the enrollment flow
 * of /mfa/enrollment from a full session.
 */
export const meSecurityRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const userMe = async (request: FastifyRequest): Promise<Me> => {
      const { user, firm } = await requireUser(ctx, request);
      return { user, firmName: firm.name, session: request.session!, actor: { ...actorOf(request), id: user.id, firmId: firm.id } };
    };
    const operatorMe = async (request: FastifyRequest): Promise<Me> => {
      const op = await requireOperator(ctx, request);
      return { user: { ...op, firm_id: null }, firmName: PLATFORM_NAME, session: request.session!, actor: { ...actorOf(request), id: op.id } };
    };
    await app.register(securityRoutes(ctx, { prefix: '/me', tags: ['my security'], me: userMe }));
    await app.register(securityRoutes(ctx, { prefix: '/operator', tags: ['operator'], me: operatorMe }));
  };

const securityRoutes =
  (ctx: AppContext, mount: { prefix: '/me' | '/operator'; tags: string[]; me: (request: FastifyRequest) => Promise<Me> }): FastifyPluginAsyncTypebox =>
  async (app) => {
    const { tags, me } = mount;
    const at = (path: string) => `${mount.prefix}${path}`;

    app.get(
      at('/security'),
      { schema: { tags, summary: 'My authenticators, backup codes and remembered browsers', response: { 200: MySecuritySchema, ...errors(401, 403) } } },
      async (request) => getMySecurity(ctx, ctx.db, await me(request)),
    );

    app.patch(
      at('/authenticators/:id'),
      {
        schema: {
          tags,
          summary: 'Rename one of my authenticators',
          params: IdParams,
          body: LabelBody,
          response: { 200: MyAuthenticatorSchema, ...errors(400, 401, 403, 404) },
        },
      },
      async (request) => {
        const who = await me(request);
        return ctx.db.transaction().execute((tx) => renameAuthenticator(ctx, tx, who, request.params.id, request.body.label));
      },
    );

    app.delete(
      at('/authenticators/:id'),
      {
        schema: {
          tags,
          summary: 'Remove one of my authenticators; the last one while MFA is enforced needs confirm=true and un-enrols me; forgetBrowsers=true also forgets my remembered browsers',
          params: IdParams,
          querystring: RemoveQuery,
          response: { 204: Type.Null(), ...errors(400, 401, 403, 404, 409) },
        },
      },
      async (request, reply) => {
        const who = await me(request);
        const { confirm, forgetBrowsers } = request.query;
        await ctx.db.transaction().execute((tx) => removeAuthenticator(ctx, tx, who, request.params.id, { confirm: confirm === true, forgetBrowsers: forgetBrowsers === true }));
        if (forgetBrowsers === true && who.user.firm_id !== null) clearRememberCookie(ctx, reply);
        return reply.status(204).send(null);
      },
    );

    // Operators are never remembered (issue 8.6): this is My security's only.
    if (mount.prefix === '/me') {
      app.delete(
        at('/remembered-browsers'),
        {
          schema: {
            tags,
            summary: 'Forget all my remembered browsers: each asks for a second factor at its next sign-in (no second factor needed: it only takes access away)',
            response: { 200: ForgottenSchema, ...errors(401, 403) },
          },
        },
        async (request, reply) => {
          const who = await me(request);
          const forgotten = await ctx.db.transaction().execute((tx) => forgetMyRememberedBrowsers(ctx, tx, who));
          // This browser's cookie names a row that is gone; take it away too.
          clearRememberCookie(ctx, reply);
          return { forgotten };
        },
      );
    }

    app.post(
      at('/backup-codes'),
      {
        schema: {
          tags,
          summary: 'A new set of backup codes, shown once; the old set stops working',
          response: { 200: BackupCodesSchema, ...errors(401, 403, 409) },
        },
      },
      async (request) => {
        const who = await me(request);
        const backupCodes = await ctx.db.transaction().execute((tx) => regenerateBackupCodes(ctx, tx, who));
        return { backupCodes };
      },
    );
  };
