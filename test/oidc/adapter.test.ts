import { randomUUID } from 'node:crypto';
import { errors, type AdapterPayload } from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { createDatabase } from '../../src/db/database.js';
import { runHousekeeping } from '../../src/housekeeping.js';
import { ClientSourceAdapter, KyselyAdapter, OidcStorageUnavailable } from '../../src/oidc/adapter.js';
import { FIRM_METADATA, staticClients } from '../../src/oidc/clients.js';
import { startHarness, type Harness } from '../support/harness.js';

/**
 * The oidc-provider adapter contract (panva/node-oidc-provider example/my_adapter.js) on the
 * database under test (SQLite, or PostgreSQL with TESSERA_TEST_DATABASE_URL): two app instances
 * on one database, each with its own connection, as two nodes would be.
 */
describe('the oidc-provider adapter on Kysely', () => {
  const clock = new ManualClock(Date.UTC(2026, 11, 1, 9));
  let a: Harness;
  let b: Harness;
  const on = (h: Harness, model: string) => new KyselyAdapter(h.ctx.db, h.ctx.clock, model);
  const jti = () => randomUUID().replaceAll('-', '');
  const code = (grantId: string, extra: Partial<AdapterPayload> = {}): AdapterPayload => ({ jti: jti(), kind: 'AuthorizationCode', grantId, clientId: 'app', accountId: 'acc', ...extra });

  beforeAll(async () => {
    a = await startHarness({ clock });
    b = await startHarness({ clock, shared: { config: a.ctx.config.database, drop: async () => undefined }, secrets: a.ctx.secrets });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('stores a payload on one instance and finds it, unchanged, on the other', async () => {
    const payload = code('grant-1', { scope: 'openid email', nonce: 'n-ü-🔑', claims: { id_token: { acr: { essential: true } } } });
    await on(a, 'AuthorizationCode').upsert(payload.jti!, payload, 60);
    expect(await on(b, 'AuthorizationCode').find(payload.jti!)).toEqual(payload);
    // Another model with the same id is another record.
    expect(await on(b, 'AccessToken').find(payload.jti!)).toBeUndefined();
    expect(await on(b, 'AuthorizationCode').find('nope')).toBeUndefined();
  });

  it('upsert replaces the payload and the lifetime of an existing record, on either instance', async () => {
    const id = jti();
    await on(a, 'Session').upsert(id, { jti: id, uid: 'uid-1', kind: 'Session', accountId: 'first' }, 60);
    await on(b, 'Session').upsert(id, { jti: id, uid: 'uid-1', kind: 'Session', accountId: 'second' }, 3600);
    expect(await on(a, 'Session').find(id)).toMatchObject({ accountId: 'second' });
    const rows = await a.ctx.db.selectFrom('oidc_payloads').selectAll().where('id', '=', id).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.expires_at).toBe(clock.now() + 3600 * 1000);
  });

  it('finds a session by its uid and a device code by its user code', async () => {
    const id = jti();
    await on(a, 'Session').upsert(id, { jti: id, uid: 'fixed-uid', kind: 'Session' }, 60);
    expect(await on(b, 'Session').findByUid('fixed-uid')).toMatchObject({ jti: id });
    expect(await on(b, 'Session').findByUid('other-uid')).toBeUndefined();
    const device = jti();
    await on(a, 'DeviceCode').upsert(device, { jti: device, userCode: 'WDJB-MJHT', kind: 'DeviceCode' }, 60);
    expect(await on(b, 'DeviceCode').findByUserCode('WDJB-MJHT')).toMatchObject({ jti: device });
    expect(await on(b, 'AccessToken').findByUserCode('WDJB-MJHT')).toBeUndefined();
  });

  it('does not find a record past its lifetime; housekeeping deletes it; one without a lifetime stays', async () => {
    const short = jti();
    const forever = jti();
    await on(a, 'Interaction').upsert(short, { jti: short, kind: 'Interaction' }, 600);
    await on(a, 'Grant').upsert(forever, { jti: forever, kind: 'Grant' });
    clock.advance(599_000);
    expect(await on(b, 'Interaction').find(short)).toMatchObject({ jti: short });
    clock.advance(1_000);
    expect(await on(b, 'Interaction').find(short)).toBeUndefined();
    expect(await a.ctx.db.selectFrom('oidc_payloads').select('id').where('id', '=', short).executeTakeFirst()).toBeDefined();
    await runHousekeeping(b.ctx);
    expect(await a.ctx.db.selectFrom('oidc_payloads').select('id').where('id', '=', short).executeTakeFirst()).toBeUndefined();
    expect(await on(a, 'Grant').find(forever)).toMatchObject({ jti: forever });
  });

  it('consumes once: the record then says consumed; a second use is invalid_grant and revokes the grant', async () => {
    const grantId = jti();
    const first = code(grantId);
    const token = { jti: jti(), kind: 'AccessToken', grantId };
    await on(a, 'AuthorizationCode').upsert(first.jti!, first, 60);
    await on(a, 'AccessToken').upsert(token.jti, token, 600);
    await on(a, 'Grant').upsert(grantId, { jti: grantId, kind: 'Grant' }, 3600);

    await on(b, 'AuthorizationCode').consume(first.jti!);
    const consumed = await on(a, 'AuthorizationCode').find(first.jti!);
    expect(consumed?.consumed).toBe(Math.floor(clock.now() / 1000));
    // Saving it again (the provider re-saves models) never makes it usable again.
    await on(a, 'AuthorizationCode').upsert(first.jti!, first, 60);
    expect((await on(b, 'AuthorizationCode').find(first.jti!))?.consumed).toBeTruthy();

    const again = on(a, 'AuthorizationCode').consume(first.jti!);
    await expect(again).rejects.toBeInstanceOf(errors.InvalidGrant);
    await expect(again).rejects.toMatchObject({ error: 'invalid_grant', statusCode: 400 });
    // RFC 6749 4.1.2: the tokens issued from the code are revoked, and the grant with them.
    expect(await on(b, 'AccessToken').find(token.jti)).toBeUndefined();
    expect(await on(b, 'Grant').find(grantId)).toBeUndefined();
    await expect(on(a, 'AuthorizationCode').consume('never-issued')).rejects.toBeInstanceOf(errors.InvalidGrant);
  });

  it('of many consumptions racing on two instances, exactly one wins', async () => {
    const grantId = jti();
    const payload = code(grantId);
    await on(a, 'AuthorizationCode').upsert(payload.jti!, payload, 60);
    const attempts = Array.from({ length: 20 }, (_, i) => on(i % 2 ? a : b, 'AuthorizationCode').consume(payload.jti!));
    const results = await Promise.allSettled(attempts);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected' && r.reason instanceof errors.InvalidGrant)).toHaveLength(19);
  });

  it('destroy removes one record of one model', async () => {
    const id = jti();
    await on(a, 'AccessToken').upsert(id, { jti: id, kind: 'AccessToken' }, 60);
    await on(a, 'RefreshToken').upsert(id, { jti: id, kind: 'RefreshToken' }, 60);
    await on(b, 'AccessToken').destroy(id);
    expect(await on(a, 'AccessToken').find(id)).toBeUndefined();
    expect(await on(a, 'RefreshToken').find(id)).toMatchObject({ jti: id });
  });

  it('revokeByGrantId removes that model\'s records of that grant, and nothing else', async () => {
    const [g1, g2] = [jti(), jti()];
    const ids = { at1: jti(), at2: jti(), at3: jti(), rt1: jti() };
    await on(a, 'AccessToken').upsert(ids.at1, { jti: ids.at1, grantId: g1 }, 60);
    await on(a, 'AccessToken').upsert(ids.at2, { jti: ids.at2, grantId: g1 }, 60);
    await on(a, 'AccessToken').upsert(ids.at3, { jti: ids.at3, grantId: g2 }, 60);
    await on(a, 'RefreshToken').upsert(ids.rt1, { jti: ids.rt1, grantId: g1 }, 60);
    await on(b, 'AccessToken').revokeByGrantId(g1);
    expect(await on(a, 'AccessToken').find(ids.at1)).toBeUndefined();
    expect(await on(a, 'AccessToken').find(ids.at2)).toBeUndefined();
    expect(await on(a, 'AccessToken').find(ids.at3)).toMatchObject({ grantId: g2 });
    expect(await on(a, 'RefreshToken').find(ids.rt1)).toMatchObject({ grantId: g1 });
  });

  it('answers temporarily_unavailable (503) when the database cannot be reached, not a server error', async () => {
    const gone = createDatabase({ kind: 'postgres', url: 'postgres://postgres@127.0.0.1:1/none', poolSize: 1 });
    try {
      const attempt = new KyselyAdapter(gone, clock, 'Session').find('x');
      await expect(attempt).rejects.toBeInstanceOf(OidcStorageUnavailable);
      await expect(attempt).rejects.toMatchObject({ error: 'temporarily_unavailable', statusCode: 503, expose: true });
    } finally {
      await gone.destroy();
    }
  });
});

describe('the Client model', () => {
  const metadata = { client_id: 'portal', client_secret: 's3cret-s3cret-s3cret', redirect_uris: ['https://portal.example/cb'] };
  const adapter = new ClientSourceAdapter(staticClients([{ firmId: 'firm-1', metadata }]));

  it('comes from the client source, with the client\'s firm', async () => {
    expect(await adapter.find('portal')).toEqual({ ...metadata, [FIRM_METADATA]: 'firm-1' });
    expect(await adapter.find('unknown')).toBeUndefined();
  });

  it('is never a client whose metadata names another id than the one asked for', async () => {
    const confused = new ClientSourceAdapter({ findClient: async () => ({ firmId: 'firm-1', metadata }) });
    expect(await confused.find('another-client')).toBeUndefined();
  });

  it('cannot be written through the provider (clients live in the Applications registry)', async () => {
    await expect(adapter.upsert()).rejects.toThrow(/Applications registry/);
    await expect(adapter.destroy()).rejects.toThrow(/Applications registry/);
  });
});
