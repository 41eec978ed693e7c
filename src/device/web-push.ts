import webpush, { type PushSubscription, type RequestOptions } from 'web-push';
import type { AppContext } from '../context.js';

/**
 * Web Push (RFC 8030, VAPID RFC 8292) to the Tessera Authenticator, for when the app is
 * not open: the notification only says "a request is waiting" (the transaction id); the app
 * fetches the details over the signed device API, so nothing of the login goes through the
 * browser vendor's push service.
 */

const VAPID_PUBLIC = 'vapid_public_key';
const VAPID_PRIVATE = 'vapid_private_key';

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
}

const cache = new WeakMap<AppContext, Promise<VapidKeys>>();

/**
 * The server's VAPID key pair, made on first start. Several processes starting together
 * each propose a pair; insert-or-ignore keeps the first, and every process reads that one.
 * The private key is sealed at rest like every other secret.
 */
export function vapidKeys(ctx: AppContext): Promise<VapidKeys> {
  let keys = cache.get(ctx);
  if (!keys) {
    keys = loadOrCreate(ctx);
    keys.catch(() => cache.delete(ctx));
    cache.set(ctx, keys);
  }
  return keys;
}

async function loadOrCreate(ctx: AppContext): Promise<VapidKeys> {
  const fresh = webpush.generateVAPIDKeys();
  const now = ctx.clock.now();
  await ctx.db.transaction().execute(async (tx) => {
    await tx
      .insertInto('server_keys')
      .values([
        { name: VAPID_PUBLIC, value: fresh.publicKey, created_at: now },
        { name: VAPID_PRIVATE, value: ctx.secrets.seal(fresh.privateKey, VAPID_PRIVATE), created_at: now },
      ])
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
  });
  const rows = await ctx.db.selectFrom('server_keys').select(['name', 'value']).where('name', 'in', [VAPID_PUBLIC, VAPID_PRIVATE]).execute();
  const publicKey = rows.find((r) => r.name === VAPID_PUBLIC)?.value;
  const sealed = rows.find((r) => r.name === VAPID_PRIVATE)?.value;
  if (!publicKey || !sealed) throw new Error('VAPID keys missing after insert');
  return { publicKey, privateKey: ctx.secrets.open(sealed, VAPID_PRIVATE).toString() };
}

/** What a notification carries: only that a push is waiting, and which. */
export const pushNotificationPayload = (transactionId: string) => JSON.stringify({ type: 'push', transactionId });

/** A stored subscription, when it still has the shape the push services need; else null. */
export function parseSubscription(json: string | null): PushSubscription | null {
  if (!json) return null;
  try {
    const s = JSON.parse(json) as PushSubscription;
    return typeof s.endpoint === 'string' && typeof s.keys?.p256dh === 'string' && typeof s.keys?.auth === 'string' ? s : null;
  } catch {
    return null;
  }
}

export type PushSender = (subscription: PushSubscription, payload: string, options: RequestOptions) => Promise<unknown>;
const defaultSender: PushSender = (s, p, o) => webpush.sendNotification(s, p, o);

/**
 * Sends the notification of one transaction to each device that subscribed. Never fatal: a
 * failure is logged; a 404/410 from the push service (the subscription is gone) clears the
 * stored subscription. Returns how many were sent.
 */
export async function sendPushNotifications(
  ctx: AppContext,
  devices: { id: string; web_push: string | null }[],
  transactionId: string,
  log: (msg: string, err?: unknown) => void,
  send: PushSender = defaultSender,
): Promise<number> {
  const targets = devices.map((d) => ({ id: d.id, subscription: parseSubscription(d.web_push) })).filter((d) => d.subscription !== null);
  if (targets.length === 0) return 0;
  const keys = await vapidKeys(ctx);
  const options: RequestOptions = {
    vapidDetails: { subject: `mailto:tessera@${ctx.config.publicUrl.hostname}`, publicKey: keys.publicKey, privateKey: keys.privateKey },
    TTL: 60,
    urgency: 'high',
    timeout: 5_000,
  };
  let sent = 0;
  await Promise.all(
    targets.map(async (t) => {
      try {
        await send(t.subscription!, pushNotificationPayload(transactionId), options);
        sent++;
      } catch (err) {
        const status = (err as { statusCode?: number }).statusCode;
        if (status === 404 || status === 410) {
          await ctx.db.updateTable('push_devices').set({ web_push: null }).where('authenticator_id', '=', t.id).execute();
        }
        log(`web push to device ${t.id} failed${status ? ` (${status})` : ''}`, err);
      }
    }),
  );
  return sent;
}
