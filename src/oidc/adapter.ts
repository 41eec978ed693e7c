import { createHash, timingSafeEqual } from 'node:crypto';
import { compactVerify } from 'jose';
import { errors, type Adapter, type AdapterFactory, type AdapterPayload } from 'oidc-provider';
import type { Clock } from '../clock.js';
import { isDatabaseUnavailable, type Db } from '../db/database.js';
import { APPLICATION_METADATA, FIRM_METADATA, KINDS_METADATA, type ClientSource } from './clients.js';

/**
 * oidc-provider's storage (its adapter interface, panva/node-oidc-provider example/my_adapter.js)
 * on Kysely: every model it persists — sessions, interactions, authorization codes, access and
 * refresh tokens, grants, replay records — is a row of `oidc_payloads`, on SQLite and PostgreSQL
 * alike. Nothing lives in process memory, so a code issued by one node is redeemed on another.
 */
export class KyselyAdapter implements Adapter {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    readonly model: string,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const values = {
      payload: JSON.stringify(payload),
      grant_id: typeof payload.grantId === 'string' ? payload.grantId : null,
      user_code: typeof payload.userCode === 'string' ? payload.userCode : null,
      uid: typeof payload.uid === 'string' ? payload.uid : null,
      expires_at: typeof expiresIn === 'number' && Number.isFinite(expiresIn) ? this.clock.now() + expiresIn * 1000 : null,
    };
    // One statement, so that two nodes saving the same session at once leave one row. consumed_at
    // is left alone: saving a record again never makes a used code usable again.
    await guard(() =>
      this.db
        .insertInto('oidc_payloads')
        .values({ model: this.model, id, ...values, consumed_at: null })
        .onConflict((oc) => oc.columns(['model', 'id']).doUpdateSet(values))
        .execute(),
    );
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.findWhere('id', id);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.findWhere('user_code', userCode);
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.findWhere('uid', uid);
  }

  /**
   * Marks a single-use artefact (authorization code, refresh token being rotated) used, by one
   * conditional UPDATE: of two requests redeeming the same code at once, on one node or two,
   * exactly one gets the row. oidc-provider checks `consumed` before calling this, but that read
   * and this write are apart; the loser of the race is answered `invalid_grant`, and, as RFC 6749
   * 4.1.2 asks for a code used twice (and RFC 9700 4.14.2 for a refresh token replayed), every
   * token of the grant is revoked, the winner's included.
   */
  async consume(id: string): Promise<void> {
    const won = await guard(() =>
      this.db
        .updateTable('oidc_payloads')
        .set({ consumed_at: this.clock.now() })
        .where('model', '=', this.model)
        .where('id', '=', id)
        .where('consumed_at', 'is', null)
        .returning('id')
        .executeTakeFirst(),
    );
    if (won) return;
    const row = await guard(() => this.db.selectFrom('oidc_payloads').select('grant_id').where('model', '=', this.model).where('id', '=', id).executeTakeFirst());
    if (row?.grant_id) await revokeGrant(this.db, row.grant_id);
    throw new errors.InvalidGrant(`${this.model === 'AuthorizationCode' ? 'authorization code' : this.model} already used`);
  }

  async destroy(id: string): Promise<void> {
    await guard(() => this.db.deleteFrom('oidc_payloads').where('model', '=', this.model).where('id', '=', id).execute());
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await guard(() => this.db.deleteFrom('oidc_payloads').where('model', '=', this.model).where('grant_id', '=', grantId).execute());
  }

  private async findWhere(column: 'id' | 'user_code' | 'uid', value: string): Promise<AdapterPayload | undefined> {
    const now = this.clock.now();
    const row = await guard(() =>
      this.db
        .selectFrom('oidc_payloads')
        .select(['payload', 'consumed_at'])
        .where('model', '=', this.model)
        .where(column, '=', value)
        // An expired row may still be there until housekeeping runs: it is never found.
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .executeTakeFirst(),
    );
    if (!row) return undefined;
    const payload = JSON.parse(row.payload) as AdapterPayload;
    // oidc-provider reads `consumed` (truthy) to refuse a second use; seconds, as its own timestamps.
    return row.consumed_at === null ? payload : { ...payload, consumed: Math.floor(row.consumed_at / 1000) };
  }
}

/** Every record of a grant (codes, tokens of every model) and the grant itself. */
async function revokeGrant(db: Db, grantId: string): Promise<void> {
  await guard(() =>
    db
      .deleteFrom('oidc_payloads')
      .where((eb) => eb.or([eb('grant_id', '=', grantId), eb.and([eb('model', '=', 'Grant'), eb('id', '=', grantId)])]))
      .execute(),
  );
}

/** What the request being served presents as its client's secret (src/oidc/provider.ts reads it from the request). */
export interface PresentedCredential {
  /** client_secret_basic / client_secret_post: the secret itself. */
  secret?: string;
  /** client_secret_jwt: the client_assertion, a JWT signed with the secret (HMAC). */
  assertion?: string;
}

/**
 * The Client model is not stored here: clients come from the Applications registry (a
 * ClientSource), looked up on every request. oidc-provider validates what comes back.
 * Dynamic registration is off, so nothing ever writes clients through the adapter.
 */
export class ClientSourceAdapter implements Adapter {
  constructor(
    private readonly clients: ClientSource,
    private readonly presented: () => PresentedCredential | undefined = () => undefined,
  ) {}

  async find(id: string): Promise<AdapterPayload | undefined> {
    const record = await guard(() => this.clients.findClient(id));
    // The metadata's own client_id must be the one asked for: a registry bug must not hand out another client.
    if (!record || record.metadata.client_id !== id) return undefined;
    const secret = await secretFor(record.secrets, this.presented());
    return {
      ...record.metadata,
      ...(secret !== undefined ? { client_secret: secret } : {}),
      [FIRM_METADATA]: record.firmId,
      ...(record.applicationId ? { [APPLICATION_METADATA]: record.applicationId } : {}),
      ...(record.allowedKinds ? { [KINDS_METADATA]: [...record.allowedKinds] } : {}),
    } as AdapterPayload;
  }

  async upsert(): Promise<void> {
    throw new Error('clients are managed in the Applications registry, not through oidc-provider');
  }
  async findByUserCode(): Promise<undefined> {
    return undefined;
  }
  async findByUid(): Promise<undefined> {
    return undefined;
  }
  async consume(): Promise<void> {
    throw new Error('clients are not consumable');
  }
  async destroy(): Promise<void> {
    throw new Error('clients are managed in the Applications registry, not through oidc-provider');
  }
  async revokeByGrantId(): Promise<void> {}
}

/**
 * A secret rotation's grace period (issue 14 item 1): oidc-provider knows one secret per client,
 * so the client is given, for this request, the valid secret the request presents: the one equal
 * to the secret sent (basic, post; compared in constant time), or the one whose HMAC verifies
 * the client_assertion (client_secret_jwt). Anything else, and a request that presents nothing
 * (the authorization endpoint), gets the current secret, and oidc-provider's own check decides.
 */
async function secretFor(secrets: readonly string[] | undefined, presented: PresentedCredential | undefined): Promise<string | undefined> {
  if (!secrets || secrets.length < 2 || !presented) return secrets?.[0];
  if (presented.secret !== undefined) {
    const sent = createHash('sha256').update(presented.secret).digest();
    return secrets.find((s) => timingSafeEqual(createHash('sha256').update(s).digest(), sent)) ?? secrets[0];
  }
  if (presented.assertion !== undefined) {
    for (const s of secrets) {
      try {
        await compactVerify(presented.assertion, new TextEncoder().encode(s), { algorithms: ['HS256', 'HS384', 'HS512'] });
        return s;
      } catch {
        // Not signed with this one: try the next.
      }
    }
  }
  return secrets[0];
}

/** The `adapter` option of the Provider: one adapter per model, all on this database. */
export function adapterFactory(db: Db, clock: Clock, clients: ClientSource, presented?: () => PresentedCredential | undefined): AdapterFactory {
  return (model) => (model === 'Client' ? new ClientSourceAdapter(clients, presented) : new KyselyAdapter(db, clock, model));
}

/**
 * The database is away (stopped, failing over) or SQLite is locked: answered as OAuth's
 * `temporarily_unavailable` with 503 (and Retry-After, src/oidc/provider.ts), as every other
 * route answers 503 DATABASE_UNAVAILABLE, rather than as a 500 server_error.
 */
export class OidcStorageUnavailable extends errors.OIDCProviderError {
  constructor(cause: unknown) {
    super(503, 'temporarily_unavailable', { cause });
    this.expose = true;
    this.error_description = 'the service is briefly unavailable, try again in a few seconds';
  }
}

async function guard<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isDatabaseUnavailable(err)) throw new OidcStorageUnavailable(err);
    throw err;
  }
}
