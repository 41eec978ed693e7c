import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { LONGEST_SIGNED_TOKEN_MS } from './lifetimes.js';
import { SIGNING_ALGS, type OidcSigningKey, type SigningAlg } from './oidc.table.js';
import type { SealedColumn } from '../crypto/reseal.js';

/**
 * The OpenID Provider's signing keys: one ES256 key (used by default) and one RS256 key (for
 * older client libraries) at a time, kept in `oidc_signing_keys` with the private half sealed
 * under the master key, so that every node signs with the same keys.
 *
 * Rotation (`node dist/src/server.js --rotate-signing-keys`) makes a new pair and retires the
 * old one, in two steps that matter when several nodes serve one issuer:
 * 1. the new keys are published at once but start signing only KEY_ACTIVATION_DELAY_MS later,
 *    when every node has reloaded its keys (each does every KEY_REFRESH_MS), so a relying party
 *    never meets a kid that the JWKS of the node it asks does not list yet;
 * 2. the old keys sign until then, and stay published until the last token they may have signed
 *    has expired (publish_until), then drop out of the JWKS and are deleted by housekeeping.
 */

/** How often a running provider reloads its keys from the database (src/oidc/oidc.routes.ts). */
export const KEY_REFRESH_MS = 60_000;
/** How long after a rotation the new keys start signing: three reloads, so every node has them. */
export const KEY_ACTIVATION_DELAY_MS = 3 * KEY_REFRESH_MS;

const sealContext = (kid: string) => `oidc_signing_key:${kid}`;

/** The private halves, sealed under the master key: re-sealed after a master-key rotation (crypto/reseal.job.ts). */
export const OIDC_SIGNING_KEYS: SealedColumn = { label: 'OpenID Provider signing keys', table: 'oidc_signing_keys', id: 'kid', value: 'private_jwk', aad: sealContext };

interface NewKey {
  kid: string;
  alg: SigningAlg;
  privateJwk: JWK;
  publicJwk: JWK;
}

/** A fresh key pair of jose's making (P-256 for ES256, 2048-bit RSA for RS256), as JWKs named by their RFC 7638 thumbprint. */
async function generateKey(alg: SigningAlg): Promise<NewKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const common = { kid, alg, use: 'sig' };
  return { kid, alg, privateJwk: { ...(await exportJWK(privateKey)), ...common }, publicJwk: { ...publicJwk, ...common } };
}

function keyRow(ctx: AppContext, key: NewKey, now: number, activeFrom: number) {
  return {
    kid: key.kid,
    alg: key.alg,
    private_jwk: ctx.secrets.seal(JSON.stringify(key.privateJwk), sealContext(key.kid)),
    public_jwk: JSON.stringify(key.publicJwk),
    created_at: now,
    active_from: activeFrom,
    state: 'current' as const,
    retired_at: null,
    publish_until: null,
  };
}

/**
 * On start: a current key for each algorithm, made if there is none. Processes starting together
 * may each make one; the unique index (one current key per algorithm) keeps the first insert and
 * ignores the others, and everyone then reads the one that is there.
 */
export async function ensureSigningKeys(ctx: AppContext): Promise<void> {
  const present = new Set((await ctx.db.selectFrom('oidc_signing_keys').select('alg').where('state', '=', 'current').execute()).map((r) => r.alg));
  const missing = SIGNING_ALGS.filter((alg) => !present.has(alg));
  if (missing.length === 0) return;
  const fresh = await Promise.all(missing.map(generateKey));
  const now = ctx.clock.now();
  for (const key of fresh) {
    // No predecessor to wait for: the first keys sign at once.
    await ctx.db.insertInto('oidc_signing_keys').values(keyRow(ctx, key, now, now)).onConflict((oc) => oc.doNothing()).execute();
  }
}

export interface Rotation {
  created: { kid: string; alg: SigningAlg; activeFrom: number }[];
  retired: { kid: string; alg: SigningAlg; publishUntil: number }[];
}

/** The operator command: new current keys for every algorithm, the old ones retired. */
export async function rotateSigningKeys(ctx: AppContext): Promise<Rotation> {
  const fresh = await Promise.all(SIGNING_ALGS.map(generateKey));
  const now = ctx.clock.now();
  const delayedFrom = now + KEY_ACTIVATION_DELAY_MS;
  // The old key may sign until every node has switched (activation plus one reload), and its
  // last token lives LONGEST_SIGNED_TOKEN_MS.
  const publishUntil = delayedFrom + KEY_REFRESH_MS + LONGEST_SIGNED_TOKEN_MS;
  try {
    return await ctx.db.transaction().execute(async (tx) => {
      const retired = await tx
        .updateTable('oidc_signing_keys')
        .set({ state: 'retired', retired_at: now, publish_until: publishUntil })
        .where('state', '=', 'current')
        .returning(['kid', 'alg'])
        .execute();
      // A key with no predecessor (no keys yet) signs at once: there is nothing to sign meanwhile.
      const activeFrom = (alg: SigningAlg) => (retired.some((r) => r.alg === alg) ? delayedFrom : now);
      await tx.insertInto('oidc_signing_keys').values(fresh.map((key) => keyRow(ctx, key, now, activeFrom(key.alg)))).execute();
      return {
        created: fresh.map((k) => ({ kid: k.kid, alg: k.alg, activeFrom: activeFrom(k.alg) })),
        retired: retired.map((r) => ({ ...r, publishUntil })),
      };
    });
  } catch (err) {
    // Two rotations at the same moment: the unique index lets one through. Nothing of this one was written.
    throw new Error(`Signing keys were not rotated: another rotation ran at the same time (${(err as Error).message}). Run it again if a second rotation is wanted.`, { cause: err });
  }
}

/** The keys to publish now: every current key, and retired keys until their publish_until. */
export async function publishedKeys(db: DbOrTx, now: number): Promise<OidcSigningKey[]> {
  return db
    .selectFrom('oidc_signing_keys')
    .selectAll()
    .where((eb) => eb.or([eb('state', '=', 'current'), eb('publish_until', '>', now)]))
    .orderBy('created_at', 'desc')
    .orderBy('kid')
    .execute();
}

/**
 * Which key signs for an algorithm now: the newest of the keys that have started signing
 * (active_from passed), current before retired; a retired key only if it had started before it
 * was retired (a key rotated out again before its activation never signs).
 */
export function signingKeyFor(keys: OidcSigningKey[], alg: SigningAlg, now: number): OidcSigningKey | undefined {
  return keys
    .filter((k) => k.alg === alg && k.active_from <= now && (k.state === 'current' || k.active_from <= k.retired_at!))
    .sort((a, b) => (a.state === b.state ? b.active_from - a.active_from : a.state === 'current' ? -1 : 1))[0];
}

/**
 * The provider's `jwks` option (private JWKs, opened with the master key): the signing key of
 * each algorithm first — ES256 before RS256 — since oidc-provider signs with the first key of the
 * requested algorithm; then every other published key, for verification and the JWKS endpoint.
 */
export function providerJwks(ctx: AppContext, keys: OidcSigningKey[], now: number): { keys: JWK[] } {
  const signers = SIGNING_ALGS.map((alg) => signingKeyFor(keys, alg, now)).filter((k): k is OidcSigningKey => k !== undefined);
  const ordered = [...signers, ...keys.filter((k) => !signers.includes(k))];
  return { keys: ordered.map((k) => JSON.parse(ctx.secrets.open(k.private_jwk, sealContext(k.kid)).toString()) as JWK) };
}

/** Housekeeping: retired keys past publication are deleted, private halves included (nothing may sign or verify with them again). */
export async function pruneSigningKeys(ctx: AppContext): Promise<void> {
  await ctx.db.deleteFrom('oidc_signing_keys').where('state', '=', 'retired').where('publish_until', '<=', ctx.clock.now()).execute();
}
