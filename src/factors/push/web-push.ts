import dns from 'node:dns';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import webpush, { type PushSubscription, type RequestOptions } from 'web-push';
import { sql, type SqlBool } from 'kysely';
import type { AppContext } from '../../context.js';
import { resealOnUse, sealedServerKeys } from '../../crypto/reseal.js';
import { SecretUnavailable } from '../../crypto/secret-box.js';

/**
 * Web Push (RFC 8030, VAPID RFC 8292) to the Tessera Authenticator, for when the app is
 * not open: the notification only says "a request is waiting" (the transaction id); the app
 * fetches the details over the signed device API, so nothing of the login goes through the
 * browser vendor's push service.
 */

const VAPID_PUBLIC = 'vapid_public_key';
const VAPID_PRIVATE = 'vapid_private_key';

/** The sealed VAPID private key (one row of server_keys, bound to its name). */
export const VAPID_PRIVATE_KEY = sealedServerKeys('Web Push (VAPID) private keys', sql<SqlBool>`${sql.ref('name')} = ${VAPID_PRIVATE}`);

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
}

interface StoredVapidKeys {
  publicKey: string;
  sealedPrivateKey: string;
}

const stored = new WeakMap<AppContext, Promise<StoredVapidKeys>>();
const opened = new WeakMap<AppContext, Promise<VapidKeys>>();

/** One promise per context, forgotten when it fails (the next call tries again). */
function once<T>(cache: WeakMap<AppContext, Promise<T>>, ctx: AppContext, make: (ctx: AppContext) => Promise<T>): Promise<T> {
  let value = cache.get(ctx);
  if (!value) {
    value = make(ctx);
    value.catch(() => cache.delete(ctx));
    cache.set(ctx, value);
  }
  return value;
}

/** The public key, for PushManager.subscribe: it is not sealed, so it is served even while the private key cannot be opened. */
export async function vapidPublicKey(ctx: AppContext): Promise<string> {
  return (await once(stored, ctx, loadOrCreate)).publicKey;
}

/**
 * The server's VAPID key pair. The private key is opened once per process and, when it was
 * sealed under a retired master key, re-sealed under the current one (key rotation, on use).
 * Throws SecretUnavailable when no configured master key opens it.
 */
export function vapidKeys(ctx: AppContext): Promise<VapidKeys> {
  return once(opened, ctx, async () => {
    const { publicKey, sealedPrivateKey } = await once(stored, ctx, loadOrCreate);
    const privateKey = ctx.secrets.open(sealedPrivateKey, VAPID_PRIVATE);
    await resealOnUse(ctx, ctx.db, VAPID_PRIVATE_KEY, VAPID_PRIVATE, sealedPrivateKey, privateKey);
    return { publicKey, privateKey: privateKey.toString() };
  });
}

/**
 * At start: the key pair made (first start) and opened, so the first push does not wait for it.
 * A private key that no configured master key opens (the key it was sealed under was removed
 * before the re-seal) does not stop the start: Web Push stays off, while the app's live stream
 * and polling still show push requests; it is logged with what to do. The keys are never
 * replaced on their own: putting the old master key back restores them, and every device's
 * subscription with them.
 */
export async function loadVapidKeysAtStart(ctx: AppContext, log: (message: string, err: unknown) => void): Promise<VapidKeys | null> {
  try {
    return await vapidKeys(ctx);
  } catch (err) {
    if (!(err instanceof SecretUnavailable)) throw err;
    log(`Web Push is off: the VAPID private key was sealed under master key ${err.keyId ?? '?'}, which is not configured (${err.reason}). Put that key back in TESSERA_RETIRED_MASTER_KEYS.`, err);
    return null;
  }
}

/**
 * The key pair as stored, made on first start. Several processes starting together each
 * propose a pair; insert-or-ignore keeps the first, and every process reads that one. The
 * private key is sealed at rest like every other secret.
 */
async function loadOrCreate(ctx: AppContext): Promise<StoredVapidKeys> {
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
  const sealedPrivateKey = rows.find((r) => r.name === VAPID_PRIVATE)?.value;
  if (!publicKey || !sealedPrivateKey) throw new Error('VAPID keys missing after insert');
  return { publicKey, sealedPrivateKey };
}

/** What a notification carries: only that a push is waiting, and which. */
export const pushNotificationPayload = (transactionId: string) => JSON.stringify({ type: 'push', transactionId });

// --- Where a notification may go (issue 12) ----------------------------------------------------
//
// A subscription's endpoint is named by the device (anyone holding a device key), and the server
// then POSTs to it. Unchecked, that is a request from inside the operator's network to any
// address the device names (server-side request forgery): a cloud metadata service, an admin
// port on loopback, a database on the private network. So an endpoint must be:
//   - https on the default port 443 (every push service uses it), with no user name or password;
//   - a host name, or an IP literal in public unicast space (ipaddr.js's 'unicast' range: not
//     loopback, private, link-local, unique-local, carrier-grade NAT, multicast, reserved, nor an
//     IPv4-mapped or translated form of those);
//   - not a name that designates the local network: a single label (resolved through the search
//     domains), localhost and *.localhost, and *.local (mDNS), *.internal, *.home.arpa and the
//     private-use suffixes of RFC 6762 appendix G (.lan, .intranet, .corp, .private, .home).
// Names are not resolved when the subscription is stored: an answer then says nothing about the
// address connected to later (DNS rebinding). They are checked where it counts, by the lookup of
// the connection itself (publicOnlyLookup), which refuses a name with any non-public address.

const LOCAL_SUFFIXES = ['localhost', 'local', 'internal', 'home.arpa', 'lan', 'intranet', 'corp', 'private', 'home'];

/** Is this an IP address in public unicast space? (An IPv4-mapped IPv6 address is judged as its IPv4.) */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  return ipaddr.process(address).range() === 'unicast';
}

/** Why Tessera will not send to this endpoint, or null when it may. */
export function pushEndpointProblem(endpoint: string): string | null {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'not_a_url';
  }
  if (url.protocol !== 'https:') return 'not_https';
  if (url.username !== '' || url.password !== '') return 'credentials';
  if (url.port !== '') return 'port';
  // WHATWG URL parsing has already turned 0x7f.1, 2130706433 and the like into dotted IPv4.
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  if (host.startsWith('[')) return isPublicAddress(host.slice(1, -1)) ? null : 'private_address';
  if (ipaddr.IPv4.isValidFourPartDecimal(host)) return isPublicAddress(host) ? null : 'private_address';
  if (!host.includes('.')) return 'local_name';
  if (LOCAL_SUFFIXES.some((suffix) => host === suffix || host.endsWith(`.${suffix}`))) return 'local_name';
  return null;
}

/**
 * dns.lookup for the push connections, refusing a name that resolves to any non-public
 * address (all of them are checked: a name with one public and one private address is
 * refused, or the connection might pick the private one). Node calls it with `all: true`
 * when it tries the addresses in turn (autoSelectFamily), else for one address.
 */
export const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '');
    if (addresses.length === 0 || addresses.some((a) => !isPublicAddress(a.address))) {
      const refused: NodeJS.ErrnoException = new Error(`${hostname} resolves to a non-public address: no push is sent there`);
      refused.code = 'ENOTPUBLIC';
      return callback(refused, '');
    }
    if (options.all) return callback(null, addresses);
    return callback(null, addresses[0]!.address, addresses[0]!.family);
  });
};

/** The agent of every Web Push request: its connections resolve names with publicOnlyLookup. */
export const pushAgent = new https.Agent({ lookup: publicOnlyLookup });

/** A stored subscription, when it still has the shape the push services need and an endpoint Tessera may send to; else null. */
export function parseSubscription(json: string | null): PushSubscription | null {
  if (!json) return null;
  try {
    const s = JSON.parse(json) as PushSubscription;
    if (typeof s.endpoint !== 'string' || typeof s.keys?.p256dh !== 'string' || typeof s.keys?.auth !== 'string') return null;
    // Rows stored before the endpoint was checked on the way in are checked on the way out.
    return pushEndpointProblem(s.endpoint) === null ? s : null;
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
    agent: pushAgent,
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
