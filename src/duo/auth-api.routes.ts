import { Type, type Static } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { DuoIntegration as RegistryIntegration } from '../applications/application.lookup.js';
import type { AppContext } from '../context.js';
import type { DuoRouteModule } from './route-module.js';
import { duoIntegration } from './authenticated.js';
import { auth, authStatus, enroll, ENROLL_MAX_SECS, enrollStatus, preauth, recordCall, type DuoCall, type Who } from './auth-api.service.js';
import { DuoError, duoOk, OkEnvelope } from './envelope.js';
import { decodeFormPairs } from './form-params.js';

/**
 * Duo's Auth API v2 (Duo's documentation is the specification; the official clients' sources the
 * wire format). ping (unsigned) and check need no login rules; preauth, auth, auth_status, enroll
 * and enroll_status are answered by the authentication core through auth-api.service.ts; logo
 * answers Duo's 404 (Tessera keeps no logo).
 *
 * Parameters are strings (form or JSON bodies, query strings) checked by schema: anything else,
 * or a parameter Duo does not define, is 40002 naming it. Hidden from Tessera's OpenAPI
 * document: this door's contract is Duo's, not ours.
 */

const Time = OkEnvelope(Type.Object({ time: Type.Integer({ description: 'Unix time, seconds' }) }));
/** Neither endpoint takes a parameter. */
const NoParams = Type.Object({}, { additionalProperties: false });

/** Duo: "The URL-encoded string's total length must be less than 20,000 bytes." */
export const PUSHINFO_MAX_BYTES = 20_000;
/**
 * Tessera's limits on what else the phone shows (Duo names none): short enough to read on a
 * phone 360 px wide, long enough for a transaction's name, an address, a pushinfo key.
 */
export const SHOWN_LIMITS = { type: 100, display_username: 254, pushinfo_key: 100 } as const;

const Str = (max = 200) => Type.String({ minLength: 1, maxLength: max });
const Flag = Type.Union([Type.Literal('0'), Type.Literal('1')]);
/** Duo's optional context of a call (ipaddr, hostname): the address is audited, the host name ignored. */
const Context = {
  ipaddr: Type.Optional(Type.String({ maxLength: 45, pattern: '^[0-9A-Fa-f:.]+$' })),
  hostname: Type.Optional(Str(255)),
};
const User = { username: Type.Optional(Str(254)), user_id: Type.Optional(Str(64)) };

const PreauthParams = Type.Object(
  { ...User, ...Context, trusted_device_token: Type.Optional(Str(500)), client_supports_verified_push: Type.Optional(Flag) },
  { additionalProperties: false },
);
const AuthParams = Type.Object(
  {
    ...User,
    ...Context,
    factor: Type.Union([Type.Literal('auto'), Type.Literal('push'), Type.Literal('passcode'), Type.Literal('sms'), Type.Literal('phone')]),
    async: Type.Optional(Flag),
    device: Type.Optional(Str(64)),
    passcode: Type.Optional(Str(32)),
    // What the phone shows: loose bounds here, the exact limits with their own message in shownOf.
    pushinfo: Type.Optional(Type.String({ maxLength: 4 * PUSHINFO_MAX_BYTES })),
    type: Type.Optional(Str(4 * SHOWN_LIMITS.type)),
    display_username: Type.Optional(Str(4 * SHOWN_LIMITS.display_username)),
    txid: Type.Optional(Str(64)),
  },
  { additionalProperties: false },
);
const TxidParams = Type.Object({ txid: Str(64) }, { additionalProperties: false });
const EnrollParams = Type.Object(
  { username: Type.Optional(Str(254)), valid_secs: Type.Optional(Type.String({ pattern: '^[0-9]{1,6}$' })), bypass_codes: Type.Optional(Type.String({ pattern: '^[0-9]{1,2}$' })) },
  { additionalProperties: false },
);
const EnrollStatusParams = Type.Object({ user_id: Str(64), activation_code: Str(200) }, { additionalProperties: false });

/**
 * The application's lines for the phone (Duo's type, display_username, pushinfo), checked: an
 * oversized one is 400 40002 naming it and its limit, never cut short in silence (a cut
 * "Transfer 10,000 to ..." would show the user something the application did not send).
 */
function shownOf(p: { pushinfo?: string; type?: string; display_username?: string }) {
  const tooLong = (name: string, limit: number, unit: string, got: number) =>
    new DuoError('INVALID_PARAMETERS', `${name}: at most ${limit.toLocaleString('en')} ${unit}, got ${got.toLocaleString('en')}`);
  const bytes = p.pushinfo === undefined ? 0 : Buffer.byteLength(p.pushinfo, 'utf8');
  if (bytes >= PUSHINFO_MAX_BYTES) throw tooLong('pushinfo', PUSHINFO_MAX_BYTES - 1, 'bytes URL-encoded (Duo\'s limit)', bytes);
  const pushinfo = p.pushinfo === undefined ? [] : decodeFormPairs(p.pushinfo);
  if (pushinfo === null) throw new DuoError('INVALID_PARAMETERS', 'pushinfo: URL-encoded key=value pairs');
  const pairs = pushinfo.map(([k, v]): [string, string] => [k.trim(), v]).filter(([k]) => k !== '');
  const longKey = pairs.find(([k]) => [...k].length > SHOWN_LIMITS.pushinfo_key);
  if (longKey) throw tooLong('pushinfo key', SHOWN_LIMITS.pushinfo_key, 'characters', [...longKey[0]].length);
  const line = (name: 'type' | 'display_username', value: string | undefined) => {
    const v = value?.trim();
    if (v && [...v].length > SHOWN_LIMITS[name]) throw tooLong(name, SHOWN_LIMITS[name], 'characters', [...v].length);
    return v || undefined;
  };
  return { pushinfo: pairs, type: line('type', p.type), displayUsername: line('display_username', p.display_username) };
}

/** Exactly one of username and user_id (Duo: 40002 otherwise). */
function whoOf(p: { username?: string; user_id?: string }): Who {
  if (p.username !== undefined && p.user_id === undefined) return { username: p.username };
  if (p.user_id !== undefined && p.username === undefined) return { userId: p.user_id };
  throw new DuoError('INVALID_PARAMETERS', 'username or user_id: exactly one of them');
}

/**
 * The call as the service sees it: the integration from the registry (an Auth API application;
 * a Web SDK integration's keys are refused here, 40301), the user's address the application
 * passed (ipaddr) or else the caller's, and the application's user agent.
 */
export function callOf(request: FastifyRequest, integration: RegistryIntegration, ipaddr?: string): DuoCall {
  if (integration.type !== 'duo_auth_api') throw new DuoError('FORBIDDEN', 'This integration is not an Auth API application.');
  const ua = request.headers['user-agent'];
  return {
    integration,
    actor: { type: 'system', id: null, firmId: integration.firmId, ip: ipaddr ?? request.ip, userAgent: typeof ua === 'string' ? ua : null },
    log: request.log,
  };
}

export const authApiRoutes: DuoRouteModule = {
  prefix: '/auth/v2',
  routes: (ctx: AppContext) => async (app) => {
    const time = () => duoOk({ time: Math.floor(ctx.clock.now() / 1000) });
    // The door authenticated the request against the registry's look-up (app.ts), whose integrations these are.
    const integrationOf = (request: FastifyRequest) => duoIntegration<RegistryIntegration>(request);

    // Unsigned by Duo's definition: a liveness check, also how a client learns the server's clock.
    app.get('/ping', { config: { duoUnsigned: true }, schema: { hide: true, querystring: NoParams, response: { 200: Time } } }, async () => time());

    app.get('/check', { schema: { hide: true, querystring: NoParams, response: { 200: Time } } }, async (request) => {
      const integration = integrationOf(request);
      if ('applicationId' in integration) await recordCall(ctx, callOf(request, integration), 'check');
      return time();
    });

    app.get('/logo', { schema: { hide: true, querystring: NoParams } }, async (request) => {
      await recordCall(ctx, callOf(request, integrationOf(request)), 'logo');
      // Duo: "404 No logo was found." Tessera keeps no logo for an application.
      throw new DuoError('NOT_FOUND', 'No logo was found.');
    });

    app.post('/preauth', { schema: { hide: true, body: PreauthParams } }, async (request) => {
      const p = request.body as Static<typeof PreauthParams>;
      const call = callOf(request, integrationOf(request), p.ipaddr);
      return duoOk(await preauth(ctx, call, whoOf(p), { verifiedPush: p.client_supports_verified_push === '1' }));
    });

    app.post('/auth', { schema: { hide: true, body: AuthParams } }, async (request) => {
      const p = request.body as Static<typeof AuthParams>;
      const call = callOf(request, integrationOf(request), p.ipaddr);
      // Tessera sends no SMS and places no calls: those factors are not offered (no device has the capability).
      if (p.factor === 'sms' || p.factor === 'phone') throw new DuoError('INVALID_PARAMETERS', `factor: ${p.factor} is not available`);
      const shown = shownOf(p);
      return duoOk(
        await auth(ctx, call, {
          who: whoOf(p),
          factor: p.factor,
          async: p.async === '1',
          device: p.device,
          passcode: p.passcode,
          ...shown,
          txid: p.txid,
        }),
      );
    });

    app.get('/auth_status', { schema: { hide: true, querystring: TxidParams } }, async (request) => {
      const p = request.query as Static<typeof TxidParams>;
      return duoOk(await authStatus(ctx, callOf(request, integrationOf(request)), p.txid));
    });

    app.post('/enroll', { schema: { hide: true, body: EnrollParams } }, async (request) => {
      const p = request.body as Static<typeof EnrollParams>;
      const validSecs = p.valid_secs === undefined ? undefined : Number(p.valid_secs);
      if (validSecs !== undefined && (validSecs < 1 || validSecs > ENROLL_MAX_SECS)) throw new DuoError('INVALID_PARAMETERS', `valid_secs: 1 to ${ENROLL_MAX_SECS}`);
      // Duo's bypass codes are Tessera's backup codes, issued to the user at their first enrollment in Tessera's own screens.
      if (p.bypass_codes !== undefined && p.bypass_codes !== '0') throw new DuoError('INVALID_PARAMETERS', 'bypass_codes: not issued through the Auth API');
      return duoOk(await enroll(ctx, callOf(request, integrationOf(request)), { username: p.username, validSecs }));
    });

    app.post('/enroll_status', { schema: { hide: true, body: EnrollStatusParams } }, async (request) => {
      const p = request.body as Static<typeof EnrollStatusParams>;
      return duoOk(await enrollStatus(ctx, callOf(request, integrationOf(request)), { userId: p.user_id, activationCode: p.activation_code }));
    });
  },
};
