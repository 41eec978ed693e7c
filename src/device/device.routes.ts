import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { AppError } from '../core/errors.js';
import { errors } from '../http/schemas.js';
import {
  activateDevice,
  answerTransaction,
  authenticateDevice,
  deviceStillActive,
  setWebPushSubscription,
  transactionEnd,
  transactionViews,
  type DeviceIdentity,
} from '../factors/push/device.service.js';
import { closePushHub, pushHub } from '../factors/push/push-hub.js';
import { vapidPublicKey } from '../factors/push/web-push.js';

/**
 * The device API of the Tessera Authenticator (issue 5), mounted at DEVICE_API_PREFIX by its
 * door (door.ts). No cookies, so no session and no CSRF token: every request but activation
 * and the VAPID key is authenticated by the device key's signature (device-signature.ts).
 */

const SSE_PING_MS = 25_000;
export const DEVICE_API_PREFIX = '/api/v1/device';

/** Whether a request goes to the device API (a door of its own: no cookies, signed requests). */
export const isDeviceApi = (url: string) => url.startsWith(`${DEVICE_API_PREFIX}/`);

const Jwk = Type.Object(
  {
    kty: Type.String({ maxLength: 10 }),
    crv: Type.String({ maxLength: 10 }),
    x: Type.String({ maxLength: 64 }),
    y: Type.String({ maxLength: 64 }),
    // What WebCrypto's exportKey('jwk') adds; a private member (d) is refused.
    ext: Type.Optional(Type.Boolean()),
    key_ops: Type.Optional(Type.Array(Type.String({ maxLength: 20 }), { maxItems: 4 })),
  },
  { additionalProperties: false },
);
const ActivateBody = Type.Object(
  { code: Type.String({ minLength: 1, maxLength: 100 }), publicKey: Jwk, platform: Type.Optional(Type.String({ maxLength: 100 })) },
  { additionalProperties: false },
);
const ActivateResult = Type.Object({
  deviceId: Type.String(),
  secret: Type.String(),
  period: Type.Integer(),
  digits: Type.Integer(),
  account: Type.Object({ firmName: Type.String(), userName: Type.String(), email: Type.String() }),
});
const TransactionView = Type.Object({
  id: Type.String(),
  firmName: Type.String(),
  userName: Type.String(),
  email: Type.String(),
  app: Type.String(),
  ip: Type.Union([Type.String(), Type.Null()]),
  browser: Type.String(),
  os: Type.String(),
  createdAt: Type.Integer(),
  expiresAt: Type.Integer(),
  numberDigits: Type.Integer(),
  requestType: Type.Union([Type.String(), Type.Null()], {
    description: 'What the application calls the request (Duo\'s type, e.g. "Transaction"): the app asks "Verify request" instead of "Are you signing in?"; null for a sign-in',
  }),
  displayUsername: Type.Union([Type.String(), Type.Null()], { description: "The name the application knows the user by (Duo's display_username); null if it sent none" }),
  details: Type.Array(Type.Object({ label: Type.String(), value: Type.String() }), {
    description: "The pairs the application asked the phone to show (Duo's pushinfo), in its order",
  }),
});
const TxParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });
const AnswerBody = Type.Object(
  {
    answer: Type.Union([Type.Literal('approve'), Type.Literal('deny')]),
    reason: Type.Optional(Type.Union([Type.Literal('fraud'), Type.Literal('mistake')])),
    number: Type.Optional(Type.String({ pattern: '^[0-9]{1,6}$' })),
    timestamp: Type.Integer({ minimum: 0 }),
    signature: Type.String({ maxLength: 200 }),
  },
  { additionalProperties: false },
);
const Subscription = Type.Object(
  {
    endpoint: Type.String({ minLength: 1, maxLength: 2048, pattern: '^https://' }),
    expirationTime: Type.Optional(Type.Union([Type.Number(), Type.Null()])),
    keys: Type.Object({ p256dh: Type.String({ minLength: 1, maxLength: 200 }), auth: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);
const WebPushBody = Type.Object({ subscription: Type.Union([Subscription, Type.Null()]) }, { additionalProperties: false });

const rawBodies = new WeakMap<FastifyRequest, string>();

function deviceActor(request: FastifyRequest): Actor {
  const ua = request.headers['user-agent'];
  return { type: 'anonymous', id: null, firmId: null, ip: request.ip, userAgent: typeof ua === 'string' ? ua : null };
}

const header = (request: FastifyRequest, name: string) => request.headers[name];

/** The request-signature check of every signed route (headers x-tessera-device / -timestamp / -nonce / -signature). */
function signed(ctx: AppContext, request: FastifyRequest): Promise<DeviceIdentity> {
  return authenticateDevice(ctx, deviceActor(request), {
    method: request.method,
    path: request.url,
    deviceId: header(request, 'x-tessera-device'),
    timestamp: header(request, 'x-tessera-timestamp'),
    nonce: header(request, 'x-tessera-nonce'),
    signature: header(request, 'x-tessera-signature'),
    body: rawBodies.get(request),
  });
}

/** EventSource cannot send headers: the same four values come as query parameters, and the signed path is the URL without them. */
function signedStream(ctx: AppContext, request: FastifyRequest): Promise<DeviceIdentity> {
  const url = new URL(request.url, 'http://x');
  const get = (k: string) => url.searchParams.get(k) ?? undefined;
  const values = { deviceId: get('device'), timestamp: get('ts'), nonce: get('nonce'), signature: get('sig') };
  for (const k of ['device', 'ts', 'nonce', 'sig']) url.searchParams.delete(k);
  const rest = url.searchParams.toString();
  return authenticateDevice(ctx, deviceActor(request), { method: 'GET', path: url.pathname + (rest ? `?${rest}` : ''), ...values, body: undefined });
}

export const deviceRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['device: Tessera Authenticator'];
    const streams = new Set<() => void>();

    // The body as sent is what the device signed: keep the text, then parse it.
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      const text = body as string;
      rawBodies.set(request, text);
      if (text === '') return done(null, undefined);
      try {
        done(null, JSON.parse(text));
      } catch {
        done(new AppError('MALFORMED_JSON'), undefined);
      }
    });
    // Open streams would keep the server from closing.
    app.addHook('preClose', async () => {
      for (const end of streams) end();
    });
    app.addHook('onClose', async () => closePushHub(ctx));

    app.post(
      '/activate',
      {
        schema: {
          tags,
          summary: 'Activate a device with the code of the QR code / link: its public key in, its passcode secret out; takes the seat',
          body: ActivateBody,
          response: { 200: ActivateResult, ...errors(400, 409, 410) },
        },
      },
      async (request) => activateDevice(ctx, deviceActor(request), request.body),
    );

    app.get(
      '/vapid-public-key',
      { schema: { tags, summary: 'The server\'s VAPID public key, for PushManager.subscribe', response: { 200: Type.Object({ key: Type.String() }) } } },
      async () => ({ key: await vapidPublicKey(ctx) }),
    );

    app.get(
      '/transactions',
      { schema: { tags, summary: 'The pending push requests of this device\'s user (signed)', response: { 200: Type.Object({ items: Type.Array(TransactionView) }), ...errors(401) } } },
      async (request) => ({ items: await transactionViews(ctx, await signed(ctx, request)) }),
    );

    app.post(
      '/transactions/:id/answer',
      {
        schema: {
          tags,
          summary: 'Approve (with the number shown on the login screen) or deny (fraud / mistake) a push request; signed twice',
          params: TxParams,
          body: AnswerBody,
          response: { 200: Type.Object({ status: Type.String() }), ...errors(400, 401, 404, 409) },
        },
      },
      async (request) => {
        const device = await signed(ctx, request);
        return answerTransaction(ctx, deviceActor(request), device, request.params.id, request.body);
      },
    );

    app.put(
      '/web-push',
      { schema: { tags, summary: 'Store (or clear) the app\'s Web Push subscription (signed)', body: WebPushBody, response: { ...errors(400, 401) } } },
      async (request, reply) => {
        const device = await signed(ctx, request);
        await setWebPushSubscription(ctx, device, request.body.subscription);
        return reply.status(204).send();
      },
    );

    app.get(
      '/stream',
      { schema: { tags, summary:
            'Server-sent events: `push` (a transaction view) as requests arrive, `withdrawn` ({id, reason: answered | superseded | cancelled | expired}) when one is no longer open, `ping` every 25 s (signed in the query)' } },
      async (request, reply) => {
        const device = await signedStream(ctx, request);
        reply.hijack();
        const raw = reply.raw;
        raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
        const sent = new Set<string>();
        let open = true;
        const send = (event: string, data: unknown) => {
          if (open) raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        };
        const withdrawn = new Set<string>();
        const pushOne = async (transactionId?: string) => {
          if (!open) return;
          if (!(await deviceStillActive(ctx, device))) return end();
          const views = await transactionViews(ctx, device, transactionId);
          for (const view of views) {
            if (sent.has(view.id)) continue;
            sent.add(view.id);
            send('push', view);
          }
          // A request that is no longer open (answered, superseded by a newer push, its login
          // ended another way): the app drops it at once rather than at its next poll.
          if (transactionId && views.length === 0 && !withdrawn.has(transactionId)) {
            const reason = await transactionEnd(ctx, device, transactionId);
            if (reason && !withdrawn.has(transactionId)) {
              withdrawn.add(transactionId);
              send('withdrawn', { id: transactionId, reason });
            }
          }
        };
        let unsubscribe: () => void = () => undefined;
        const ping = setInterval(() => {
          send('ping', { at: ctx.clock.now() });
          void deviceStillActive(ctx, device).then((ok) => ok || end(), () => undefined);
        }, SSE_PING_MS);
        function end() {
          if (!open) return;
          open = false;
          clearInterval(ping);
          unsubscribe();
          streams.delete(end);
          raw.end();
        }
        streams.add(end);
        raw.on('close', end);
        // The database may go away after the headers were sent: end the stream, the app reconnects.
        unsubscribe = await pushHub(ctx)
          .onUser(device.userId, (id) => void pushOne(id).catch(() => end()))
          .catch(() => (end(), () => undefined));
        if (!open) return unsubscribe();
        raw.write(': connected\n\n');
        await pushOne().catch(() => end());
      },
    );
  };
